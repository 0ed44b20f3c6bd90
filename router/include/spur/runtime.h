/* SPDX-License-Identifier: MIT */
/*
 * spur/runtime.h - the runtime role: how a plugin runs handlers.
 *
 * Life cycle, all driven by the host's context pool:
 *
 *   code_load     once per function version (at load, reload, `spur check`):
 *                 read and compile the code; report syntax errors as
 *                 "FILE:LINE: message". The code object is shared,
 *                 read-only, by every context of that version and may be
 *                 used from several threads at once.
 *   context_new   a cold start: make a context and run the INIT phase
 *                 (top-level code) under init_timeout. Any thread.
 *   invoke        one invocation in that context. A context runs one
 *                 invocation at a time, but successive ones may come from
 *                 different threads.
 *   resume        (ABI 1.4, optional) go on with an invocation that
 *                 invoke (or resume) left with SPUR_RUN_YIELD, on another
 *                 thread: an event loop ran it inline, its budget ran out,
 *                 and a worker thread takes it to its end.
 *   context_free  end of the context (idle_ttl, max_uses, after a fatal
 *                 result, shutdown).
 *
 * The host passes a struct spur_invocation for INIT and for each invoke;
 * the runtime reads the event and deadline and writes the result or the
 * error through the accessors below.
 */
#ifndef SPUR_RUNTIME_H
#define SPUR_RUNTIME_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spur_function;	/* one function version: name, code, settings */
struct spur_context;	/* the host's half of an execution context */
struct spur_invocation;	/* one run (INIT or invoke) */

/* What a run came to. Anything but OK and ERROR ends the context. */
enum spur_run {
	SPUR_RUN_OK = 0,	/* result set */
	SPUR_RUN_ERROR,		/* the handler failed; error set; context reusable */
	SPUR_RUN_TIMEOUT,	/* deadline passed; the host writes the message */
	SPUR_RUN_OOM,		/* memory limit hit */
	SPUR_RUN_CRASH,		/* the context is broken (error set if known) */
	SPUR_RUN_YIELD,		/* ABI 1.4: paused at spur_invocation_yield_ns()
				 * (only where it is not 0, only by a runtime
				 * with resume): the host calls resume later,
				 * maybe from another thread */
};

struct spur_runtime {
	uint32_t struct_size;	/* sizeof(struct spur_runtime) */
	const char *name;	/* the `runtime:` value it serves: "lua" */

	/* 0 and *code, or a negative errno with the reason in err
	 * ("FILE:LINE: message" where there is a line). */
	int (*code_load)(void *instance, const struct spur_function *fn,
			 void **code, char *err, size_t errlen);
	void (*code_free)(void *instance, void *code);

	/* Make a context and run INIT. On SPUR_RUN_OK sets *ctx. Otherwise
	 * sets the error on `init` and returns what happened; no context. */
	enum spur_run (*context_new)(void *instance, void *code,
				     struct spur_context *host_ctx,
				     struct spur_invocation *init, void **ctx);
	void (*context_free)(void *instance, void *ctx);

	enum spur_run (*invoke)(void *ctx, struct spur_invocation *inv);

	/* ABI 1.4, may be NULL: continue a run paused with SPUR_RUN_YIELD.
	 * `inv` is the same invocation, maybe at another address: use this
	 * one from now on. Without resume a runtime's handlers never run on
	 * an event loop (they go to a worker thread before they start). */
	enum spur_run (*resume)(void *ctx, struct spur_invocation *inv);
};

/* --- the function version ---------------------------------------------- */
SPUR_API const char *spur_function_name(const struct spur_function *fn);
SPUR_API const char *spur_function_version(const struct spur_function *fn); /* "$LATEST", "3" */
SPUR_API const char *spur_function_code(const struct spur_function *fn);    /* absolute path */
SPUR_API const char *spur_function_handler(const struct spur_function *fn);
SPUR_API uint64_t spur_function_memory(const struct spur_function *fn);     /* bytes */
SPUR_API uint64_t spur_function_tmp_size(const struct spur_function *fn);   /* bytes */
SPUR_API int64_t spur_function_timeout_ms(const struct spur_function *fn);
SPUR_API int64_t spur_function_init_timeout_ms(const struct spur_function *fn);
/* A runtime-specific key of the function's config ("isolation"), by
 * dotted path, as its config text; NULL when absent. */
SPUR_API const char *spur_function_option(const struct spur_function *fn, const char *key);
SPUR_API size_t spur_function_env_count(const struct spur_function *fn);
/* The i-th env pair; borrowed. */
SPUR_API void spur_function_env(const struct spur_function *fn, size_t i,
				const char **key, const char **value);

/* --- the host's half of a context ------------------------------------- */
SPUR_API uint64_t spur_context_id(const struct spur_context *c);
/* The scratch directory path (Lambda's /tmp). Not created until
 * spur_context_tmp_ensure() is called; removed with the context. */
SPUR_API const char *spur_context_tmp_dir(const struct spur_context *c);
SPUR_API int spur_context_tmp_ensure(struct spur_context *c);

/* --- one run ----------------------------------------------------------- */
SPUR_API const char *spur_invocation_request_id(const struct spur_invocation *inv);
SPUR_API const struct spur_function *spur_invocation_function(const struct spur_invocation *inv);
/* The ARN as invoked, qualifier included when one was named. */
SPUR_API const char *spur_invocation_arn(const struct spur_invocation *inv);
SPUR_API unsigned spur_invocation_attempt(const struct spur_invocation *inv);	/* 1-based */
/* Deadline on spur_now_ns()'s clock, and as Unix epoch milliseconds. */
SPUR_API int64_t spur_invocation_deadline_ns(const struct spur_invocation *inv);
SPUR_API int64_t spur_invocation_deadline_epoch_ms(const struct spur_invocation *inv);
/* ABI 1.4: when a runtime with resume should pause this run (return
 * SPUR_RUN_YIELD) at the next point where it can, on spur_now_ns()'s
 * clock; 0: never (run to the end). Checked as cheaply as the deadline. */
SPUR_API int64_t spur_invocation_yield_ns(const struct spur_invocation *inv);
/* The event: raw JSON bytes (borrowed; NULL for INIT). A runtime parses
 * them with the JSON library of its choice: the SDK names none. */
SPUR_API const char *spur_invocation_payload(const struct spur_invocation *inv, size_t *len);

/* A log line written by the handler (ctx.log); the host adds time and id. */
SPUR_API void spur_invocation_log(struct spur_invocation *inv, const char *line, size_t len);
/* The result as JSON text. _take moves a malloc()ed buffer to the host. */
SPUR_API int spur_invocation_set_result(struct spur_invocation *inv, const char *json, size_t len);
SPUR_API void spur_invocation_take_result(struct spur_invocation *inv, char *json, size_t len);
/* A Lambda-style error. `stack_json` is a JSON array of strings or NULL.
 * Copies everything. */
SPUR_API void spur_invocation_set_error(struct spur_invocation *inv, const char *type,
					const char *message, const char *stack_json);
/* Peak bytes the context held during the run (REPORT's Max Memory Used). */
SPUR_API void spur_invocation_set_memory_used(struct spur_invocation *inv, uint64_t bytes);

/* The W3C Trace Context the invocation came with: `traceparent` and
 * `tracestate` from the request's HTTP headers or MQTT 5 user properties
 * (or a CloudEvent's distributed-tracing extension), validated at intake
 * (version 00, a 32-hex trace id not all zero, a 16-hex parent id not all
 * zero, 2-hex flags; lower-case). An async event keeps it for every
 * attempt and across restarts. False, with both set to NULL, when none
 * came or it was invalid; *tracestate is NULL when only a traceparent
 * came. Borrowed for the run. spur forwards the context as received: it
 * makes no span of its own, so the parent id is the caller's. */
SPUR_API bool spur_invocation_trace(const struct spur_invocation *inv,
				    const char **traceparent, const char **tracestate);

#ifdef __cplusplus
}
#endif
#endif
