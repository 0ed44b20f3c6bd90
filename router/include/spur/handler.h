/* SPDX-License-Identifier: MIT */
/*
 * spur/handler.h - the native handler ABI: a handler written in C (or
 * anything with a C ABI) as a shared object.
 *
 * The object exports one const struct spur_handler named
 * SPUR_HANDLER_SYMBOL. The `native` runtime plugin checks abi_major and
 * struct_size exactly as the plugin loader does, and refuses a mismatch
 * with a message naming the file.
 *
 *   init    once per execution context (the INIT phase): returns the
 *           context's state in *state (NULL is fine). May fail.
 *   handle  one invocation: reads the event (JSON bytes, borrowed for the
 *           call) and writes the response or an error through `out`.
 *           `deadline_ms` is the Unix epoch millisecond at which the
 *           invocation times out. Called for one event at a time per
 *           context, possibly from different threads.
 *   fini    end of the context; frees the state.
 *
 * Ownership: every pointer the host passes is borrowed for the call.
 * Responses are copied by the host (spur_handler_out_*), so a handler may
 * answer from its own stack or static storage.
 */
#ifndef SPUR_HANDLER_H
#define SPUR_HANDLER_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPUR_HANDLER_SYMBOL "spur_handler"
#define SPUR_HANDLER_ABI_MAJOR 1
#define SPUR_HANDLER_ABI_MINOR 0

struct spur_handler_out;	/* where handle() writes its answer */

struct spur_handler_event {
	uint32_t struct_size;
	const char *payload;		/* JSON text, not NUL-terminated */
	size_t payload_len;
	const char *request_id;
	const char *function_name;
	const char *function_version;
	const char *invoked_arn;
	unsigned attempt;		/* 1-based */
	int64_t deadline_ms;		/* Unix epoch ms */
	const char *tmp_dir;		/* the context's scratch directory */
};

struct spur_handler {
	uint32_t abi_major;		/* SPUR_HANDLER_ABI_MAJOR */
	uint32_t abi_minor;
	uint32_t struct_size;		/* sizeof(struct spur_handler) */
	const char *name;
	/* 0, or a negative errno after spur_handler_out_error(). */
	int (*init)(void **state, struct spur_handler_out *out);
	/* 0 after spur_handler_out_result(), or a negative errno after
	 * spur_handler_out_error(). */
	int (*handle)(void *state, const struct spur_handler_event *ev,
		      struct spur_handler_out *out);
	void (*fini)(void *state);
};

#define SPUR_HANDLER_EXPORT \
	SPUR_API extern const struct spur_handler spur_handler; \
	const struct spur_handler spur_handler

/* Provided by the native runtime, resolved when the handler is loaded. */
SPUR_API int spur_handler_out_result(struct spur_handler_out *out,
				     const char *json, size_t len);
SPUR_API int spur_handler_out_error(struct spur_handler_out *out, const char *type,
				    const char *message);
SPUR_API void spur_handler_out_log(struct spur_handler_out *out, const char *line,
				   size_t len);

#ifdef __cplusplus
}
#endif
#endif
