/* SPDX-License-Identifier: MIT */
/*
 * invocation.c - the SDK's accessors of struct spur_invocation (the
 * runtime side of spur/runtime.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "function.h"
#include "invocation.h"
#include "result.h"
#include "util.h"

/* --- invocation accessors (runtime side) ------------------------------------ */

SPUR_API const char *spur_invocation_request_id(const struct spur_invocation *inv)
{
	return inv->request_id;
}

SPUR_API const struct spur_function *spur_invocation_function(const struct spur_invocation *inv)
{
	return inv->ver;
}

SPUR_API const char *spur_invocation_arn(const struct spur_invocation *inv)
{
	return inv->arn;
}

SPUR_API unsigned spur_invocation_attempt(const struct spur_invocation *inv)
{
	return inv->attempt;
}

SPUR_API int64_t spur_invocation_deadline_ns(const struct spur_invocation *inv)
{
	return inv->deadline_ns;
}

SPUR_API int64_t spur_invocation_yield_ns(const struct spur_invocation *inv)
{
	return inv->yield_ns;
}

SPUR_API int64_t spur_invocation_deadline_epoch_ms(const struct spur_invocation *inv)
{
	return inv->deadline_epoch_ms;
}

SPUR_API const char *spur_invocation_payload(const struct spur_invocation *inv, size_t *len)
{
	if (len)
		*len = inv->payload_len;
	return inv->payload;
}

SPUR_API void spur_invocation_log(struct spur_invocation *inv, const char *line, size_t len)
{
	struct spur_log_ctx lc = inv->logctx;
	lc.handler = true;
	spur_log_raw(inv->log, SPUR_LOG_INFO, &lc, line, len);
}

SPUR_API int spur_invocation_set_result(struct spur_invocation *inv, const char *json, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	spur_invocation_take_result(inv, copy, len);
	return 0;
}

SPUR_API void spur_invocation_take_result(struct spur_invocation *inv, char *json, size_t len)
{
	free(inv->result);
	inv->result = json;
	inv->result_len = len;
}

SPUR_API void spur_invocation_set_error(struct spur_invocation *inv, const char *type,
					const char *message, const char *stack_json)
{
	free(inv->error);
	inv->error = spur_error_json(type, message, stack_json, &inv->error_len);
	/* Into the invocation's log (and Tail), as Lambda's runtimes do. */
	struct spur_log_ctx lc = inv->logctx;
	lc.handler = true;
	spur_log_write(inv->log, SPUR_LOG_INFO, &lc, "ERROR %s: %s",
		       type ? type : "Error", message ? message : "");
}

SPUR_API void spur_invocation_set_memory_used(struct spur_invocation *inv, uint64_t bytes)
{
	if (bytes > inv->memory_used)
		inv->memory_used = bytes;
}

SPUR_API bool spur_invocation_trace(const struct spur_invocation *inv,
				    const char **traceparent, const char **tracestate)
{
	if (traceparent)
		*traceparent = inv->traceparent;
	if (tracestate)
		*tracestate = inv->traceparent ? inv->tracestate : NULL;
	return inv->traceparent != NULL;
}
