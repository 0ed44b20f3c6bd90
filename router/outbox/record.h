/* SPDX-License-Identifier: MIT */
/*
 * record.h - the record of a finished asynchronous invocation (SPEC §6),
 * in Lambda's shape and field names, so tools that read Lambda
 * destination records read spur's.
 */
#ifndef SPUR_RECORD_H
#define SPUR_RECORD_H

#include <stddef.h>

struct spur_record_in {
	const char *request_id;		/* the event id */
	const char *function_arn;	/* qualified as invoked: ...:function:f:$LATEST */
	const char *condition;		/* Success | RetriesExhausted | EventAgeExceeded */
	unsigned invoke_count;		/* approximateInvokeCount; 0: never ran */
	const char *request_payload;	/* JSON text (checked at intake) */
	size_t request_len;
	const char *executed_version;	/* NULL when it never ran */
	const char *function_error;	/* NULL on success, else "Unhandled" */
	const char *response_payload;	/* JSON text or NULL */
	size_t response_len;
	/* spur's extension: requestContext.traceContext, when the event came
	 * with a W3C Trace Context (NULL: none) */
	const char *traceparent;
	const char *tracestate;
};

/* A malloc()ed JSON record, or NULL when out of memory. */
char *spur_record_build(const struct spur_record_in *in, size_t *len);

#endif
