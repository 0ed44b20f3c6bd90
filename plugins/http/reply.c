/* SPDX-License-Identifier: MIT */
/*
 * reply.c - the http source's responses and small request helpers, shared
 * by http.c, invoke_api.c, routes.c, apigw.c, verify.c and cloudevents.c:
 * JSON responses and their common headers (spur_http_queue), error
 * bodies (Lambda's {"Type","message"} for the Invoke API, {"message"}
 * elsewhere), RFC 9457 problem details, Idempotent-Replayed, request ids,
 * percent-decoding, header lookup and the headers as invoke attributes.
 *
 * Threads and cost: called in the thread serving the request; no lock, no
 * state beyond the request's own. A response is one allocation for its
 * body (moved to MHD) plus MHD's.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>

#include "http.h"

const char *spur_http_request_id(struct http_req *rq)
{
	uint8_t b[16];

	if (rq->request_id[0])
		return rq->request_id;
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t t = (uint64_t)spur_now_ns() ^ (uint64_t)(uintptr_t)rq;
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)(i * 131);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(rq->request_id, sizeof(rq->request_id),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return rq->request_id;
}



char *spur_http_pct_decode(const char *s, size_t n, bool plus)
{
	char *out = malloc(n + 1);

	if (out && spur_pct_decode(out, n + 1, s, n, plus) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

struct attr_walk {
	struct spur_attr *out;
	size_t n, max;
};

static enum MHD_Result attr_cb(void *cls, enum MHD_ValueKind kind, const char *key,
			       size_t key_size, const char *value, size_t value_size)
{
	struct attr_walk *w = cls;

	if (w->n == w->max)
		return MHD_NO;
	w->out[w->n++] = (struct spur_attr){ .name = key, .value = value ? value : "",
					     .value_len = value ? value_size : 0 };
	return MHD_YES;
}

size_t spur_http_attrs(struct MHD_Connection *c, struct spur_attr *out, size_t max)
{
	struct attr_walk w = { .out = out, .max = max };

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, attr_cb, &w);
	return w.n;
}

enum MHD_Result spur_http_problem(struct http_req *rq, struct MHD_Connection *c,
				  unsigned status, const char *title, const char *detail)
{
	struct MHD_Response *r = spur_http_json(json_pack("{s:s, s:s, s:i, s:s}", "type",
		"about:blank", "title", title, "status", (int)status, "detail", detail ? detail : title));

	if (!r)
		return MHD_NO;
	MHD_del_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
	return spur_http_queue(rq, c, status, r);
}

void spur_http_mark_replayed(struct MHD_Response *r, const struct spur_result *res)
{
	if (r && spur_result_replayed(res))
		MHD_add_response_header(r, "Idempotent-Replayed", "true");
}

const char *spur_http_header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

struct MHD_Response *spur_http_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s ? spur_http_response(s, strlen(s)) : NULL;
}

struct MHD_Response *spur_http_response(char *body, size_t len)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return r;
}

enum MHD_Result spur_http_queue(struct http_req *rq, struct MHD_Connection *c,
				unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (rq->kind == HTTP_KIND_INVOKE &&
	    !MHD_get_response_header(resp, "x-amzn-RequestId"))
		MHD_add_response_header(resp, "x-amzn-RequestId", spur_http_request_id(rq));
	if (atomic_load(&rq->srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (status >= 100 && status < 600)
		spur_counter_add(rq->srv->requests[status / 100], 1);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (spur_log_enabled(rq->srv->host, SPUR_LOG_DEBUG))
		spur_log(rq->srv->host, SPUR_LOG_DEBUG, "%s -> %u",
			 rq->raw_uri ? rq->raw_uri : "?", status);
	return ret;
}

char *spur_http_error_body(struct http_req *rq, unsigned status, const char *type,
			  const char *msg, size_t *len)
{
	json_t *o;
	char *s;

	if (rq->kind == HTTP_KIND_INVOKE)
		o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User",
			      "message", msg);
	else
		o = json_pack("{s:s}", "message", msg);
	(void)type;
	if (!o) {
		/* msg was not UTF-8: say what happened without it */
		o = json_pack("{s:s}", "message", "error");
		if (!o)
			return NULL;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s)
		*len = strlen(s);
	return s;
}

enum MHD_Result spur_http_error(struct http_req *rq, struct MHD_Connection *c,
				unsigned status, const char *type,
				const char *fmt, ...)
{
	char msg[512];
	struct MHD_Response *r;
	va_list ap;
	size_t len = 0;
	char *body;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	body = spur_http_error_body(rq, status, type, msg, &len);
	if (!body)
		return MHD_NO;
	r = spur_http_response(body, len);
	if (!r)
		return MHD_NO;
	if (rq->kind == HTTP_KIND_INVOKE && type)
		MHD_add_response_header(r, "x-amzn-ErrorType", type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && rq->kind != HTTP_KIND_ROUTE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					rq->kind == HTTP_KIND_INVOKE ? "POST" : "GET, HEAD");
	return spur_http_queue(rq, c, status, r);
}
