/* SPDX-License-Identifier: MIT */
/*
 * admin.h - spur's own admin API under /admin/ (SPEC §4.3): queues and
 * events. The entry point is spur_admin_handle() in the SDK
 * (spur/plugin.h), called by the HTTP source for every /admin/ request;
 * this header adds what the core and its tests share.
 */
#ifndef SPUR_ADMIN_H
#define SPUR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/plugin.h"
#include "spur/store.h"

struct spur_async;
struct spur_config;
struct spur_log;
struct spur_mappings;
struct spur_outbox;
struct spur_registry_ref;

/* What the admin and Lambda APIs work with, owned by the host. The
 * durable half is NULL until the store opens (before any source starts). */
struct spur_api {
	struct spur_registry_ref *registry;
	const struct spur_config *config;
	const struct spur_log *log;
	/* POST /admin/reload: 0, or < 0 with the errors in why */
	int (*reload)(void *ud, char *why, size_t whylen);
	void *reload_ud;
	const struct spur_store *store;
	void *store_instance;
	struct spur_async *async;
	struct spur_outbox *outbox;
	struct spur_mappings *mappings;
};

/* One request of the admin API (/admin/...), the Lambda management API
 * (/2015-03-31/...) or queue intake (/queues/...): spur_admin_handle()
 * of the SDK forwards here. Always a reply but on out of memory. */
struct spur_admin_reply *spur_api_handle(const struct spur_api *api, const char *method,
					 const char *path, const char *query,
					 const char *body, size_t len,
					 const char *authorization, bool loopback_peer);

/* Constant-time comparison of a presented token with the configured one:
 * the time depends on neither the position of the first difference nor
 * the length of either (both are hashed first). */
bool spur_admin_token_equal(const char *given, size_t given_len, const char *want);

/* A queue the admin API serves: configured under queues:, or built in. */
bool spur_admin_queue_known(const struct spur_api *api, const char *name);

/* A reply with `body` (malloc'd, taken even on failure) and, for the
 * Lambda-compatible paths, Lambda's error name (static, or NULL) for the
 * x-amzn-ErrorType header. NULL: out of memory. */
struct spur_admin_reply *spur_admin_reply_new(unsigned status, char *body, size_t len,
					       const char *error_type);

#endif
