/* SPDX-License-Identifier: MIT */
/*
 * record.c - builds the JSON record of SPEC §6. The payloads are inserted
 * as they are: both were checked JSON when they entered spur (the request
 * at intake, the response from the runtime's encoder or the host's own
 * error object), so no parse happens here. One buffer per record.
 * requestContext.traceContext {traceparent, tracestate} is spur's
 * extension (SPEC §6 has no such field; Lambda's records neither): the
 * W3C Trace Context the event came with, present only when it came.
 */
#include <string.h>

#include "record.h"
#include "util.h"

char *spur_record_build(const struct spur_record_in *in, size_t *len)
{
	char stamp[32];
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_reserve(&b, 512 + in->request_len + in->response_len);
	spur_time_rfc3339(stamp);
	spur_buf_printf(&b, "{\"version\":\"1.0\",\"timestamp\":\"%s\",\"requestContext\":{\"requestId\":", stamp);
	spur_buf_json_string(&b, in->request_id, strlen(in->request_id));
	spur_buf_puts(&b, ",\"functionArn\":");
	spur_buf_json_string(&b, in->function_arn, strlen(in->function_arn));
	spur_buf_puts(&b, ",\"condition\":");
	spur_buf_json_string(&b, in->condition, strlen(in->condition));
	spur_buf_printf(&b, ",\"approximateInvokeCount\":%u", in->invoke_count);
	if (in->traceparent) {	/* spur's extension, not in Lambda's records */
		spur_buf_puts(&b, ",\"traceContext\":{\"traceparent\":");
		spur_buf_json_string(&b, in->traceparent, strlen(in->traceparent));
		if (in->tracestate) {
			spur_buf_puts(&b, ",\"tracestate\":");
			spur_buf_json_string(&b, in->tracestate, strlen(in->tracestate));
		}
		spur_buf_puts(&b, "}");
	}
	spur_buf_puts(&b, "},\"requestPayload\":");
	if (in->request_payload && in->request_len)
		spur_buf_append(&b, in->request_payload, in->request_len);
	else
		spur_buf_puts(&b, "null");
	if (in->executed_version) {
		spur_buf_puts(&b, ",\"responseContext\":{\"statusCode\":200,\"executedVersion\":");
		spur_buf_json_string(&b, in->executed_version, strlen(in->executed_version));
		if (in->function_error) {
			spur_buf_puts(&b, ",\"functionError\":");
			spur_buf_json_string(&b, in->function_error, strlen(in->function_error));
		}
		spur_buf_puts(&b, "},\"responsePayload\":");
		if (in->response_payload && in->response_len)
			spur_buf_append(&b, in->response_payload, in->response_len);
		else
			spur_buf_puts(&b, "null");
	}
	spur_buf_puts(&b, "}");
	return spur_buf_steal(&b, len);
}
