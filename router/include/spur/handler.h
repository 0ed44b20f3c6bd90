/* SPDX-License-Identifier: MIT */
/*
 * spur/handler.h - the native handler ABI: a handler written in C (or
 * anything with a C ABI) as a shared object, run by the `native` runtime.
 * A handler needs this header and nothing else: it links against no spur
 * library, and every service spur offers it comes through a table of
 * function pointers (struct spur_handler_out), never through a symbol the
 * loader would have to resolve.
 *
 * The object exports one const struct spur_handler named
 * SPUR_HANDLER_SYMBOL (use SPUR_HANDLER_EXPORT). The runtime refuses,
 * naming the file, an object without that symbol, one of another
 * abi_major, and one whose struct_size is smaller than ABI 1.0's. It
 * accepts a smaller abi_minor and never reads past struct_size.
 * The structs are append-only: new fields go at the end with a minor bump.
 *
 *   init    once per execution context (the INIT phase, a cold start):
 *           sets *state to the context's state (NULL is fine). `ev` has
 *           no payload (payload NULL, payload_len 0); its deadline is the
 *           INIT deadline (init_timeout). Optional (NULL: state is NULL).
 *   handle  one invocation: reads `ev` and answers through `out`.
 *           Required. Called for one event at a time per context, but
 *           successive calls may come from different threads, and calls
 *           for different contexts run at the same time.
 *   fini    end of the context (idle_ttl, max_uses, shutdown, a failed
 *           INIT after init() set a state): frees the state. Optional.
 *
 * Return values: init and handle return 0, or a negative errno. The
 * answer is what was written through `out` last:
 *   - an error (spur_handler_out_error) makes the invocation fail with
 *     that errorType and errorMessage, whatever the return value;
 *   - otherwise a negative return fails it ("Error", the errno's name);
 *     -ENOMEM counts as running out of memory: the context is replaced;
 *   - otherwise the result (spur_handler_out_result) is the response,
 *     or JSON `null` when none was written.
 *
 * Ownership: every pointer spur passes (ev and all it points to, out) is
 * borrowed for the call only. Everything written through `out` is copied
 * before the call returns, so a handler may answer from its stack or from
 * static storage. The state is the handler's: spur only hands it back.
 *
 * State: keep it in *state, not in static variables. Under the default
 * isolation (in-process) every context of every function that loads the
 * same file shares the object's statics, in the router's own process.
 *
 * Isolation (the function's `isolation:` setting):
 *   in-process  (default) the object is loaded into the router: fastest,
 *               but trusted: a crash takes the router down, and the
 *               timeout cannot interrupt a running handle() (a handler
 *               that loops forever hangs its worker thread; one that
 *               returns late gets the timeout error).
 *   process     each context is a child process kept warm across
 *               invocations. A crash, abort(), exit() or a runaway loop
 *               ends only that child (killed with SIGKILL at the
 *               deadline); the invocation fails with a Lambda-style
 *               error and the next one starts a new context. `memory`
 *               limits the child's address space beyond the loaded code
 *               (RLIMIT_AS, so malloc() returns NULL), `tmp_size` the
 *               size of each file it writes (RLIMIT_FSIZE). Its stdout
 *               and stderr are the router's stderr; its environment is
 *               the function's `env` plus PATH.
 */
#ifndef SPUR_HANDLER_H
#define SPUR_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPUR_HANDLER_SYMBOL "spur_handler"
#define SPUR_HANDLER_ABI_MAJOR 1
#define SPUR_HANDLER_ABI_MINOR 0

/* One invocation (or the INIT phase), as spur gives it to the handler. */
struct spur_handler_event {
	uint32_t struct_size;		/* sizeof(struct spur_handler_event) as spur built it */
	const char *payload;		/* the event as JSON text, NUL-terminated; NULL for INIT */
	size_t payload_len;		/* its length in bytes, without the NUL */
	const char *request_id;
	const char *function_name;
	const char *function_version;	/* "$LATEST", "3" */
	const char *invoked_arn;	/* the ARN as invoked, qualifier included */
	unsigned attempt;		/* 1-based; > 1 for async retries */
	int64_t deadline_ms;		/* Unix epoch ms at which the run times out */
	const char *tmp_dir;		/* the context's scratch directory (exists) */
	/* The function's `env:` as "KEY=VALUE" strings, NULL-terminated. The
	 * router's own environment is not the function's: use this (or
	 * spur_handler_getenv()) rather than getenv(). */
	const char *const *env;
};

/* Where init() and handle() write their answer and log lines. The table is
 * filled by spur; call it through the inline helpers below. */
struct spur_handler_out {
	uint32_t struct_size;		/* sizeof(struct spur_handler_out) as spur built it */
	/* The response: `len` bytes of JSON text (no NUL needed). Copied.
	 * 0; -EINVAL when it is not one JSON value (Runtime.MarshalError) or
	 * -E2BIG when it is larger than 6 MiB (Function.ResponseSizeTooLarge):
	 * the invocation then fails with that error unless the handler writes
	 * another answer; -ENOMEM. */
	int (*result)(struct spur_handler_out *out, const char *json, size_t len);
	/* A Lambda-style error: `type` becomes errorType ("Error" when NULL),
	 * `message` errorMessage (may be NULL). Copied. Returns 0 or -ENOMEM. */
	int (*error)(struct spur_handler_out *out, const char *type, const char *message);
	/* One line of the invocation's log (a trailing newline is dropped).
	 * Copied; lines beyond 64 KiB are cut. */
	void (*log)(struct spur_handler_out *out, const char *line, size_t len);
};

struct spur_handler {
	uint32_t abi_major;		/* SPUR_HANDLER_ABI_MAJOR */
	uint32_t abi_minor;		/* SPUR_HANDLER_ABI_MINOR */
	uint32_t struct_size;		/* sizeof(struct spur_handler) */
	const char *name;		/* for messages; may be NULL */
	int (*init)(void **state, const struct spur_handler_event *ev,
		    struct spur_handler_out *out);
	int (*handle)(void *state, const struct spur_handler_event *ev,
		      struct spur_handler_out *out);
	void (*fini)(void *state);
};

/* Use once per handler, at file scope:
 *   SPUR_HANDLER_EXPORT = { .abi_major = SPUR_HANDLER_ABI_MAJOR, ... };  */
#if defined(__GNUC__)
#define SPUR_HANDLER_VISIBLE __attribute__((visibility("default")))
#else
#define SPUR_HANDLER_VISIBLE
#endif
#define SPUR_HANDLER_EXPORT \
	SPUR_HANDLER_VISIBLE extern const struct spur_handler spur_handler; \
	const struct spur_handler spur_handler

static inline int spur_handler_out_result(struct spur_handler_out *out,
					  const char *json, size_t len)
{
	return out->result(out, json, len);
}

static inline int spur_handler_out_error(struct spur_handler_out *out,
					 const char *type, const char *message)
{
	return out->error(out, type, message);
}

static inline void spur_handler_out_log(struct spur_handler_out *out,
					const char *line, size_t len)
{
	out->log(out, line, len);
}

/* The value of `key` in ev->env, or NULL. Borrowed from ev. */
static inline const char *spur_handler_getenv(const struct spur_handler_event *ev,
					      const char *key)
{
	const char *const *e;
	size_t n;

	for (n = 0; key[n] != '\0'; n++)
		;
	for (e = ev->env; e != NULL && *e != NULL; e++) {
		size_t i;

		for (i = 0; i < n && (*e)[i] == key[i]; i++)
			;
		if (i == n && (*e)[n] == '=')
			return *e + n + 1;
	}
	return NULL;
}

#ifdef __cplusplus
}
#endif
#endif
