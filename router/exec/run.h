/* SPDX-License-Identifier: MIT */
/*
 * run.h - where a function runs: one synchronous run of a resolved
 * version (concurrency slot, warm or cold context, START/END/REPORT,
 * metrics), the worker entry for stored events, INIT-once, and the pools
 * of execution contexts the registry's versions get (spur_exec_pool_ops).
 */
#ifndef SPUR_RUN_H
#define SPUR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include "function.h"
#include "result.h"
#include "trace.h"

struct spur_log;
struct spur_exec;

/* What the run path is built with (copied; the strings must outlive it). */
struct spur_exec_env {
	struct spur_registry_ref *registry;
	const struct spur_log *log;
	const char *state_dir;		/* contexts' /tmp directories live under it */
	const char *arn_region;		/* for "Function not found" messages */
	const char *arn_account;
};

struct spur_exec *spur_exec_new(const struct spur_exec_env *env);
/* Start the idle reaper over every pool made so far and from now on. */
int spur_exec_start(struct spur_exec *ex);
/* Stop the reaper (pools stay; free the registry's versions after). */
void spur_exec_stop(struct spur_exec *ex);
void spur_exec_free(struct spur_exec *ex);

/* The registry's view of execution contexts (ud: the struct spur_exec). */
extern const struct spur_pool_ops spur_exec_pool_ops;

/* A target and qualifier → the function and version of the current
 * registry, or NULL with r filled with the Lambda error. */
struct spur_function *spur_exec_resolve(struct spur_exec *ex, const char *target,
					const char *qualifier, struct spur_result *r,
					struct spur_fn **fnp, const char **qual, size_t *qual_len);

/* One run of a resolved function (`qual` may be NULL): fills r with OK
 * (result or function error) or THROTTLED. */
void spur_exec_run(struct spur_exec *ex, struct spur_fn *fn, struct spur_function *ver,
		   const char *qual, size_t qual_len, const char *payload, size_t payload_len,
		   unsigned attempt, bool log_tail, const struct spur_trace *trace,
		   struct spur_result *r);

/* spur_exec_run() for an event loop's thread (attempt 1). A runtime with
 * resume pauses the run once it has run budget_ns:
 * the paused run is returned, and spur_exec_finish() takes it to its end
 * on another thread, filling r then. NULL: the run ended here (or was
 * throttled), r is filled. The payload stays borrowed until the end. */
struct spur_exec_call;
struct spur_exec_call *spur_exec_run_inline(struct spur_exec *ex, struct spur_fn *fn,
				       struct spur_function *ver, const char *qual,
				       size_t qual_len, const char *payload, size_t payload_len,
				       bool log_tail, const struct spur_trace *trace,
				       int64_t budget_ns, struct spur_result *r);
void spur_exec_finish(struct spur_exec_call *call);
/* Can ver's handlers pause (its runtime has resume)? Those that cannot
 * must not start on an event loop. */
bool spur_exec_can_pause(struct spur_function *ver);

/* Run one stored event (async workers, mappings): `target` is
 * "fn[:qual]", the request id is the event's id, `traceparent` and
 * `tracestate` the event's trace context (NULL: none; borrowed). Always
 * a result (NULL: out of memory). */
struct spur_result *spur_exec_event(struct spur_exec *ex, const char *target,
				    const char *payload, size_t len,
				    const char *request_id, unsigned attempt,
				    const char *traceparent, const char *tracestate);

/* A cold start outside any invocation: a new context of `ver` after its
 * INIT, owned by the caller (spur_context_free, or spur_pool_put into the
 * version's pool). NULL with "errorType: errorMessage" in `why`. */
struct spur_context *spur_exec_cold_start(struct spur_exec *ex, struct spur_function *ver,
					  char *why, size_t len);

/* Run INIT once in a throwaway context (`spur check`, reload). 0, or
 * -EINVAL with "errorType: errorMessage" in `why`. */
int spur_exec_init_once(struct spur_exec *ex, struct spur_function *ver,
			char *why, size_t len);

/* The metrics collector of the run path (ud: the struct spur_registry_ref):
 * per version invocations, durations, cold starts, contexts; per function
 * running calls and async event ages (collect.c). */
struct spur_buf;
void spur_exec_collect(void *registry_ref, struct spur_buf *b);

#endif
