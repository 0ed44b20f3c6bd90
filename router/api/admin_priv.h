/* SPDX-License-Identifier: MIT */
/*
 * admin_priv.h - what admin.c and admin_queues.c share: one call's API
 * and store, the reply constructors, the query-string parser, and the
 * queue endpoints admin.c routes to. No other file includes this.
 */
#ifndef SPUR_ADMIN_PRIV_H
#define SPUR_ADMIN_PRIV_H

#include <jansson.h>
#include <stdint.h>
#include "spur/plugin.h"

/* One call: the API's collaborators and the store. */
struct spur_admin_call {
	const struct spur_api *api;
	const struct spur_store *st;
	void *si;
	const char *method;
};

/* A reply with `o` as its body (reference stolen). NULL: out of memory. */
struct spur_admin_reply *spur_admin_reply_json(unsigned status, json_t *o);

/* A reply {"message": <fmt...>}. NULL: out of memory. */
struct spur_admin_reply *spur_admin_reply_errorf(unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 405, naming the methods `allowed`. */
struct spur_admin_reply *spur_admin_not_allowed(const char *method, const char *allowed);

/* ?name=N as a number in [lo, hi]: 1 found, 0 absent, -1 malformed. */
int spur_admin_query_size(const char *q, const char *name, int64_t lo, int64_t hi, int64_t *out);

/* ---- admin_queues.c --------------------------------------------------------- */

/* The known queues with their counts: built-in ones first, then the
 * configured ones in config order (only `only`, when not NULL). NULL and
 * *rc when the store failed. */
json_t *spur_admin_queue_stats(struct spur_admin_call *c, const char *only, int *rc);

/* GET /admin/queues/{name}/messages?n=&offset= */
struct spur_admin_reply *spur_admin_queue_peek(struct spur_admin_call *c, const char *name,
					       const char *query);

/* DELETE /admin/queues/{name} */
struct spur_admin_reply *spur_admin_queue_purge(struct spur_admin_call *c, const char *name);

/* POST /admin/queues/{name}/replay[?max=&offset=] */
struct spur_admin_reply *spur_admin_queue_replay(struct spur_admin_call *c, const char *name,
						 const char *query, const char *body, size_t len);

#endif
