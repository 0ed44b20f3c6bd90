/* SPDX-License-Identifier: MIT */
/*
 * invoke_api.c - the Lambda Invoke API on the http source:
 *   POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=Q]
 *
 * Follows Lambda's wire format so the AWS CLI and SDKs work unchanged:
 * X-Amz-Invocation-Type RequestResponse | Event | DryRun, X-Amz-Log-Type
 * Tail, and on the way back X-Amz-Function-Error, X-Amz-Executed-Version,
 * X-Amz-Log-Result, x-amzn-RequestId on every response, and errors as
 * x-amzn-ErrorType + {"Type": "User"|"Service", "message": ...}.
 * The plugin does not look into the payload: the core validates it as
 * JSON (BAD_CONTENT, with jansson's line and column) and resolves the
 * name (a name, name:qualifier or an ARN).
 *
 * Runs in the connection's thread; the run blocks it (a thread per
 * connection) or, on an event loop, may move to a worker (spur_http_run).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "http.h"

unsigned spur_http_status_code(enum spur_status st)
{
	switch (st) {
	case SPUR_STATUS_OK:		return MHD_HTTP_OK;
	case SPUR_STATUS_ACCEPTED:	return MHD_HTTP_ACCEPTED;
	case SPUR_STATUS_DRYRUN_OK:	return MHD_HTTP_NO_CONTENT;
	case SPUR_STATUS_NOT_FOUND:	return MHD_HTTP_NOT_FOUND;
	case SPUR_STATUS_BAD_REQUEST:	return MHD_HTTP_BAD_REQUEST;
	case SPUR_STATUS_BAD_CONTENT:	return MHD_HTTP_BAD_REQUEST;
	case SPUR_STATUS_TOO_LARGE:	return MHD_HTTP_CONTENT_TOO_LARGE;
	case SPUR_STATUS_THROTTLED:	return MHD_HTTP_TOO_MANY_REQUESTS;
	case SPUR_STATUS_UNAVAILABLE:	return MHD_HTTP_SERVICE_UNAVAILABLE;
	case SPUR_STATUS_NOT_IMPLEMENTED: return MHD_HTTP_NOT_IMPLEMENTED;
	case SPUR_STATUS_INTERNAL:	return MHD_HTTP_INTERNAL_SERVER_ERROR;
	case SPUR_STATUS_CONFLICT:	return MHD_HTTP_CONFLICT;
	case SPUR_STATUS_MISMATCH:	return MHD_HTTP_UNPROCESSABLE_CONTENT;
	}
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static const char *default_type(enum spur_status st)
{
	switch (st) {
	case SPUR_STATUS_NOT_FOUND:	return "ResourceNotFoundException";
	case SPUR_STATUS_BAD_REQUEST:	return "InvalidParameterValueException";
	case SPUR_STATUS_BAD_CONTENT:	return "InvalidRequestContentException";
	case SPUR_STATUS_TOO_LARGE:	return "RequestTooLargeException";
	case SPUR_STATUS_THROTTLED:	return "TooManyRequestsException";
	case SPUR_STATUS_UNAVAILABLE:	return "ServiceUnavailableException";
	case SPUR_STATUS_NOT_IMPLEMENTED: return "NotImplementedException";
	default:			return "ServiceException";
	}
}

/* A Lambda error response: x-amzn-ErrorType and {"Type","message"}. */
static enum MHD_Result lambda_error(struct http_req *rq, struct MHD_Connection *c,
				    unsigned status, const char *type,
				    const char *msg, int retry_after)
{
	struct MHD_Response *r;
	json_t *o;

	o = json_pack("{s:s, s:s?}", "Type", status >= 500 ? "Service" : "User",
		      "message", msg);
	if (!o)	/* a message that is not UTF-8 */
		o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User",
			      "message", type);
	r = spur_http_json(o);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "x-amzn-ErrorType", type);
	if (retry_after > 0) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%d", retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	return spur_http_queue(rq, c, status, r);
}

/* The value of `key` in a raw query string, decoded; NULL when absent.
 * *bad is set when it is present but decodes to a NUL. */
static char *query_param(const char *query, const char *key, bool *bad)
{
	size_t kl = strlen(key);
	const char *p = query;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t klen = eq ? (size_t)(eq - p) : n;

		if (klen == kl && memcmp(p, key, kl) == 0) {
			char *v = eq ? spur_http_pct_decode(eq + 1, n - klen - 1, true) :
				strdup("");
			if (!v)
				*bad = true;
			return v;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return NULL;
}

enum MHD_Result spur_http_invoke_begin(struct http_req *rq, struct MHD_Connection *c,
				       const char *method, const char *name_raw,
				       size_t name_len, const char *query,
				       bool *queued)
{
	struct spur_http *srv = rq->srv;
	const char *type, *logt;
	bool bad = false;

	*queued = true;
	if (strcmp(method, "POST") != 0)
		return lambda_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "MethodNotAllowedException",
				    "Invoke takes POST", 0);
	rq->target = spur_http_pct_decode(name_raw, name_len, false);
	if (!rq->target)
		return lambda_error(rq, c, MHD_HTTP_BAD_REQUEST,
				    "InvalidParameterValueException",
				    "FunctionName is not a valid name", 0);
	rq->qualifier = query_param(query, "Qualifier", &bad);
	if (bad)
		return lambda_error(rq, c, MHD_HTTP_BAD_REQUEST,
				    "InvalidParameterValueException",
				    "Qualifier is not a valid qualifier", 0);

	type = spur_http_header(c, "X-Amz-Invocation-Type");
	if (!type || strcmp(type, "RequestResponse") == 0) {
		rq->mode = SPUR_MODE_SYNC;
	} else if (strcmp(type, "Event") == 0) {
		rq->mode = SPUR_MODE_ASYNC;
	} else if (strcmp(type, "DryRun") == 0) {
		rq->mode = SPUR_MODE_DRYRUN;
	} else {
		return lambda_error(rq, c, MHD_HTTP_BAD_REQUEST,
				    "InvalidParameterValueException",
				    "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun",
				    0);
	}
	logt = spur_http_header(c, "X-Amz-Log-Type");
	if (logt && strcmp(logt, "Tail") != 0 && strcmp(logt, "None") != 0)
		return lambda_error(rq, c, MHD_HTTP_BAD_REQUEST,
				    "InvalidParameterValueException",
				    "X-Amz-Log-Type must be None or Tail", 0);
	rq->log_tail = logt && strcmp(logt, "Tail") == 0 && rq->mode == SPUR_MODE_SYNC;
	rq->limit = rq->mode == SPUR_MODE_ASYNC ? srv->opt.max_async_body :
		srv->opt.max_body;
	*queued = false;
	return MHD_YES;
}

static void result_free_cb(void *cls)
{
	spur_result_free(cls);
}

/* The Invoke API's answer to a run's result (which it takes). */
static enum MHD_Result invoke_answer(struct http_req *rq, struct MHD_Connection *c,
				     struct spur_result *res)
{
	struct MHD_Response *r = NULL;
	enum spur_status st;
	const char *s, *body;
	size_t len = 0;

	if (!res)
		return lambda_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "ServiceException", "out of memory", 0);
	s = spur_result_request_id(res);
	if (s) {	/* a UUID: copied, not formatted */
		size_t n = strnlen(s, sizeof(rq->request_id) - 1);

		memcpy(rq->request_id, s, n);
		rq->request_id[n] = '\0';
	}
	st = spur_result_status(res);

	switch (st) {
	case SPUR_STATUS_OK:
		body = spur_result_body(res, &len);
		if (!body) {
			body = "null";
			len = 4;
		}
		r = MHD_create_response_from_buffer_with_free_callback_cls(
			len, (void *)body, result_free_cb, res);
		if (!r)
			break;
		/* res now belongs to r, which lives until queued */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		s = spur_result_executed_version(res);
		MHD_add_response_header(r, "X-Amz-Executed-Version", s ? s : "$LATEST");
		s = spur_result_function_error(res);
		if (s)
			MHD_add_response_header(r, "X-Amz-Function-Error", s);
		s = spur_result_log_tail(res);
		if (s && rq->log_tail)
			MHD_add_response_header(r, "X-Amz-Log-Result", s);
		spur_http_mark_replayed(r, res);
		res = NULL;
		break;
	case SPUR_STATUS_ACCEPTED:
	case SPUR_STATUS_DRYRUN_OK:
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/json");
		spur_http_mark_replayed(r, res);
		spur_result_free(res);
		res = NULL;
		break;
	case SPUR_STATUS_CONFLICT:
	case SPUR_STATUS_MISMATCH: {
		enum MHD_Result ret = spur_http_problem(rq, c, spur_http_status_code(st),
			st == SPUR_STATUS_CONFLICT ? "Idempotency-Key in use" :
						     "Idempotency-Key reused with another payload",
			spur_result_error_message(res));
		spur_result_free(res);
		return ret;
	}
	default: {
		enum MHD_Result ret;
		const char *type = spur_result_error_type(res);
		const char *msg = spur_result_error_message(res);
		int ra = (st == SPUR_STATUS_THROTTLED || st == SPUR_STATUS_UNAVAILABLE) ?
			spur_result_retry_after(res) : 0;

		if ((st == SPUR_STATUS_THROTTLED || st == SPUR_STATUS_UNAVAILABLE) && ra <= 0)
			ra = 1;
		ret = lambda_error(rq, c, spur_http_status_code(st),
				   type && *type ? type : default_type(st),
				   msg && *msg ? msg : default_type(st), ra);
		spur_result_free(res);
		return ret;
	}
	}
	if (!r) {
		spur_result_free(res);
		return MHD_NO;
	}
	MHD_add_response_header(r, "x-amzn-RequestId", spur_http_request_id(rq));
	return spur_http_queue(rq, c, spur_http_status_code(st), r);
}

enum MHD_Result spur_http_invoke_finish(struct http_req *rq, struct MHD_Connection *c)
{
	struct spur_attr attrs[HTTP_MAX_ATTRS];
	const struct spur_invoke_args args = {
		.struct_size = sizeof(struct spur_invoke_args),
		.attr_size = sizeof(struct spur_attr),
		.target = rq->target,
		.qualifier = rq->qualifier,
		.payload = rq->len ? rq->body : NULL,
		.payload_len = rq->len,
		.mode = rq->mode,
		.log_tail = rq->log_tail,
		.source = "http",
		.attrs = attrs,
		.n_attrs = spur_http_attrs(c, attrs, HTTP_MAX_ATTRS),
	};
	struct spur_result *res;

	if (!spur_http_run(rq, c, &args, invoke_answer, &res))
		return MHD_YES;		/* answered when the worker is done */
	return invoke_answer(rq, c, res);
}
