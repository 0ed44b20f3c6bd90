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

/* The built-in queues (store.h): pending async events, records on their
 * way out, records given up on. */
#define SPUR_ADMIN_QUEUE_ASYNC "async"
#define SPUR_ADMIN_QUEUE_OUTBOX "outbox"
#define SPUR_ADMIN_QUEUE_UNDELIVERABLE "undeliverable"

/* Constant-time comparison of a presented token with the configured one:
 * the time depends on neither the position of the first difference nor
 * the length of either (both are hashed first). */
bool spur_admin_token_equal(const char *given, size_t given_len, const char *want);

/* A queue the admin API serves: configured under queues:, or built in. */
bool spur_admin_queue_known(const struct spur_host *host, const char *name);

/* A reply with `body` (malloc'd, taken even on failure) and, for the
 * Lambda-compatible paths, Lambda's error name (static, or NULL) for the
 * x-amzn-ErrorType header. NULL: out of memory. */
struct spur_admin_reply *spur_admin_reply_new(unsigned status, char *body, size_t len,
					       const char *error_type);

#endif
