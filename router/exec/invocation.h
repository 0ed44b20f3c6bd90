/* SPDX-License-Identifier: MIT */
/*
 * invocation.h - struct spur_invocation, the handle a runtime gets for
 * one INIT or one invoke: built on the run path's stack (run.c), read
 * and answered through the SDK's accessors (invocation.c).
 */
#ifndef SPUR_INVOCATION_H
#define SPUR_INVOCATION_H

#include <stdint.h>
#include "spur/runtime.h"
#include "log.h"

struct spur_context;

struct spur_invocation {
	const struct spur_log *log;
	struct spur_function *ver;
	struct spur_context *ctx;
	const char *request_id;
	const char *arn;
	unsigned attempt;
	int64_t deadline_ns;
	int64_t deadline_epoch_ms;
	int64_t yield_ns;		/* pause here (SPUR_RUN_YIELD); 0: never */
	const char *payload;
	size_t payload_len;
	char *result;
	size_t result_len;
	char *error;			/* the Lambda error object, JSON */
	size_t error_len;
	uint64_t memory_used;
	struct spur_log_ctx logctx;
	const char *traceparent;	/* W3C Trace Context, or NULL; borrowed */
	const char *tracestate;
};

#endif
