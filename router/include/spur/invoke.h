/* SPDX-License-Identifier: MIT */
/*
 * spur/invoke.h - the one invoke path, as sources call it.
 *
 * Every ingress (HTTP Invoke API, HTTP routes, MQTT, ZeroMQ, the CLI) turns
 * what it received into a struct spur_invoke_args and calls spur_invoke().
 * The call resolves the qualifier, applies concurrency limits, takes a warm
 * execution context or makes one, runs the handler under its timeout and
 * memory limit, and returns a result the source maps to its wire format.
 * It blocks the calling thread for the handler's run (sync mode).
 * It takes no global lock.
 */
#ifndef SPUR_INVOKE_H
#define SPUR_INVOKE_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spur_host;
struct spur_result;

enum spur_mode {
	SPUR_MODE_SYNC = 0,	/* RequestResponse */
	SPUR_MODE_ASYNC = 1,	/* Event */
	SPUR_MODE_DRYRUN = 2,	/* DryRun: resolve and authorise only */
};

/* What happened, as a source needs to map it (HTTP status in brackets). */
enum spur_status {
	SPUR_STATUS_OK = 0,		/* handler ran; see spur_result_function_error() [200] */
	SPUR_STATUS_ACCEPTED,		/* async: stored durably [202] */
	SPUR_STATUS_DRYRUN_OK,		/* [204] */
	SPUR_STATUS_NOT_FOUND,		/* no such function or qualifier [404] */
	SPUR_STATUS_BAD_REQUEST,	/* malformed name or qualifier, bad key [400] */
	SPUR_STATUS_BAD_CONTENT,	/* payload is not valid JSON [400] */
	SPUR_STATUS_TOO_LARGE,		/* payload over the mode's limit [413] */
	SPUR_STATUS_THROTTLED,		/* concurrency limit reached [429] */
	SPUR_STATUS_UNAVAILABLE,	/* store cannot take writes, draining [503] */
	SPUR_STATUS_NOT_IMPLEMENTED,	/* a mode this build does not serve yet [501] */
	SPUR_STATUS_INTERNAL,		/* spur's own failure [500] */
	SPUR_STATUS_CONFLICT,		/* idempotency key in use by a running call [409] */
	SPUR_STATUS_MISMATCH,		/* idempotency key used with another payload [422] */
};

/* Transport metadata an ingress passes along: HTTP headers (names
 * lower-case), MQTT user properties. Idempotency keys, webhook ids and
 * CloudEvents attributes are read from here. Borrowed for the call. */
struct spur_attr {
	const char *name;
	const char *value;
	size_t value_len;		/* may exceed strlen(value): a NUL inside */
};

struct spur_route;

struct spur_invoke_args {
	uint32_t struct_size;		/* sizeof(struct spur_invoke_args) */
	const char *target;		/* "fn", "fn:qual" or an ARN; borrowed */
	const char *qualifier;		/* a separate qualifier (?Qualifier=), or NULL */
	const void *payload;		/* JSON bytes; borrowed; NULL/0 means {} */
	size_t payload_len;
	enum spur_mode mode;
	bool log_tail;			/* collect the last 4 KB of log lines */
	const char *source;		/* "http", "mqtt", ... for logs and metrics */
	const struct spur_attr *attrs;	/* may be NULL */
	size_t n_attrs;
	const struct spur_route *route;	/* the route that matched, or NULL */
	/* When payload is an envelope the source built (an API Gateway event,
	 * an MQTT event), the body as received: idempotency fingerprints and
	 * json:/payload key sources read this, so a retried request matches. */
	const void *raw_body;
	size_t raw_body_len;
	/* ABI 1.3: sizeof(struct spur_attr) as the caller was built: attrs
	 * are read with this stride. 0: ABI 1.0's size. */
	uint32_t attr_size;
};

/* Run one invocation. Always returns a result (NULL only when out of
 * memory); the caller frees it with spur_result_free(). */
SPUR_API struct spur_result *spur_invoke(struct spur_host *host,
					 const struct spur_invoke_args *args);
SPUR_API void spur_result_free(struct spur_result *r);

/* ABI 1.4: spur_invoke() for a source that serves many requests on one
 * thread (an event loop). A Lua handler runs inline until it ends or has
 * run for budget_ns; then it pauses and a worker thread takes it to its
 * end. Handlers that may block (native, `isolation: process`) and keyed
 * sync calls go to a worker before they start.
 * True: the call ended here and *now is the result (NULL: out of memory).
 * False: it goes on on a worker, which calls done(cookie, result) once,
 * when it ends (result NULL: out of memory). args->payload and raw_body
 * must stay valid until then; everything else args points to is copied
 * when needed. */
typedef void spur_invoke_done_fn(void *cookie, struct spur_result *r);
SPUR_API bool spur_invoke_start(struct spur_host *host, const struct spur_invoke_args *args,
				int64_t budget_ns, spur_invoke_done_fn *done, void *cookie,
				struct spur_result **now);

SPUR_API enum spur_status spur_result_status(const struct spur_result *r);
/* The request id (a UUID), always set. */
SPUR_API const char *spur_result_request_id(const struct spur_result *r);
/* SPUR_STATUS_OK: the handler's JSON result, or the Lambda error object
 * {"errorMessage","errorType","stackTrace"} when it failed. Borrowed. */
SPUR_API const char *spur_result_body(const struct spur_result *r, size_t *len);
/* NULL on success, else "Unhandled" (or "Handled"). */
SPUR_API const char *spur_result_function_error(const struct spur_result *r);
/* "$LATEST", "1", ...: the version that ran (or would run, for DryRun). */
SPUR_API const char *spur_result_executed_version(const struct spur_result *r);
/* Base64 of the last 4 KB of log lines, when args.log_tail; else NULL. */
SPUR_API const char *spur_result_log_tail(const struct spur_result *r);
/* For statuses other than OK: a Lambda exception name
 * ("ResourceNotFoundException") and a human message. */
SPUR_API const char *spur_result_error_type(const struct spur_result *r);
SPUR_API const char *spur_result_error_message(const struct spur_result *r);
/* True when the answer is a stored one, replayed for an idempotency key
 * (HTTP: Idempotent-Replayed: true). */
SPUR_API bool spur_result_replayed(const struct spur_result *r);
/* Seconds after which a THROTTLED / UNAVAILABLE caller may retry. */
SPUR_API int spur_result_retry_after(const struct spur_result *r);

#ifdef __cplusplus
}
#endif
#endif
