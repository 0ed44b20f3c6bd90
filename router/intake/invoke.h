/* SPDX-License-Identifier: MIT */
/*
 * invoke.h - the one invoke path (spur_invoke() in the SDK) and its
 * internal helpers: one run of a resolved function, and the setters of
 * struct spur_result (its body stays in invoke.c) for idempotency.c.
 */
#ifndef SPUR_INVOKE_INTERNAL_H
#define SPUR_INVOKE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/invoke.h"

struct spur_host;
struct spur_fn;
struct spur_function;

/* Run INIT once in a throwaway context (`spur check`). 0, or -EINVAL with
 * "errorType: errorMessage" in `why`. */
int spur_invoke_init_once(struct spur_host *h, struct spur_function *ver,
			  char *why, size_t len);

/* A cold start outside any invocation: a new context of `ver` after its
 * INIT, owned by the caller (spur_context_free, or spur_pool_put into the
 * version's pool). NULL with "errorType: errorMessage" in `why`. */
struct spur_context *spur_invoke_cold_start(struct spur_host *h, struct spur_function *ver,
					    char *why, size_t len);

/* A W3C Trace Context (traceparent version 00 and its tracestate), as
 * received: spur makes no span of its own. Empty strings when absent. */
#define SPUR_TRACEPARENT_LEN 55		/* "00-<32 hex>-<16 hex>-<2 hex>" */
#define SPUR_TRACESTATE_MAX 512		/* W3C: at least 512 must be kept */
struct spur_trace {
	char parent[SPUR_TRACEPARENT_LEN + 1];
	char state[SPUR_TRACESTATE_MAX + 1];
};

/* Is [s, s+n) a valid version-00 traceparent? */
bool spur_trace_parent_valid(const char *s, size_t n);
/* The trace context of an ingress's attributes (names without case):
 * one valid `traceparent` (two or more, or an invalid one: none), and the
 * `tracestate` values joined with "," (dropped when over 512 bytes or not
 * printable ASCII). True when t->parent is set. */
bool spur_trace_from_attrs(const struct spur_attr *attrs, size_t n, struct spur_trace *t);

/* Run one stored event (async workers): `target` is "fn[:qual]", the
 * request id is the event's id, `traceparent`/`tracestate` the event's
 * trace context (NULL: none; borrowed). Always a result (NULL: out of
 * memory). */
struct spur_result *spur_invoke_event(struct spur_host *host, const char *target,
				      const char *payload, size_t len,
				      const char *request_id, unsigned attempt,
				      const char *traceparent, const char *tracestate);

/* One run of a resolved function (`qual` may be NULL): fills r with OK
 * (result or function error) or THROTTLED. */
void spur_invoke_run(struct spur_host *host, struct spur_fn *fn, struct spur_function *ver,
		     const char *qual, size_t qual_len, const char *payload, size_t payload_len,
		     unsigned attempt, bool log_tail, const struct spur_trace *trace,
		     struct spur_result *r);

/* Setters of a result being built (the getters are the SDK's). _fail sets
 * the status and the error (type: static; message: formatted) and returns
 * r; _set_body takes ownership of `body` (malloc'd, or NULL). */
struct spur_result *spur_result_fail(struct spur_result *r, enum spur_status st,
				     const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void spur_result_set_status(struct spur_result *r, enum spur_status st);
void spur_result_set_request_id(struct spur_result *r, const char *id);
void spur_result_set_body(struct spur_result *r, char *body, size_t len);
void spur_result_set_replayed(struct spur_result *r);
void spur_result_set_retry_after(struct spur_result *r, int seconds);

/* Split a FunctionName (name, name:qual, ARN, partial ARN) and an optional
 * separate qualifier. Returns 0, or -EINVAL with a message in `why`.
 * The name and qualifier point into `target` / `qualifier`. */
int spur_invoke_parse_target(const char *target, const char *qualifier,
			     const char **name, size_t *name_len,
			     const char **qual, size_t *qual_len,
			     char *why, size_t len);

#endif
