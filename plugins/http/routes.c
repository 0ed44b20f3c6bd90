/* SPDX-License-Identifier: MIT */
/*
 * routes.c - `http:` routes: "METHOD /path/{param}/{proxy+}" → a function.
 *
 * At start() the config's http routes are compiled into segment lists
 * (literal, {name} = one segment, {name+} = the rest). A request takes
 * the most specific route that matches its path (literal before {param}
 * before {greedy+}, segment by segment; a method before ANY; then config
 * order). Its body and metadata become an API Gateway HTTP API v2.0 event
 * (apigw.c), given to spur_invoke(); a CloudEvents request (ce-specversion,
 * or a CloudEvents content type) becomes the CloudEvent instead
 * (cloudevents.c), which comes back here to invoke and answer.
 * Sync routes map the handler's answer back as API Gateway does: an object
 * with statusCode is a response (headers, multiValueHeaders, cookies,
 * body, isBase64Encoded), anything else is sent as JSON with 200, and a
 * function error is 502 {"message":"Internal Server Error"}. Only an
 * answer that is an object and holds the text "statusCode" is parsed;
 * the others go out as the handler's bytes, neither parsed nor copied. Async routes
 * answer 202 {"eventId": ...} once the core has stored the event.
 *
 * The compiled table is read-only while the daemons run; matching runs in
 * the thread serving the connection and costs two allocations: one scratch block
 * (decoded segments and ranks) and one for the request's parameters.
 */
#include <errno.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "http.h"

/* --- compiling ------------------------------------------------------------ */

static void route_fini(struct http_route *r)
{
	spur_http_verify_fini(r);
	for (size_t i = 0; i < r->n_seg; i++)
		free(r->seg[i].text);
	free(r->seg);
	free(r->method);
	free(r->route_key);
	free(r->target);
}

void spur_http_routes_free(struct spur_http *srv)
{
	for (size_t i = 0; i < srv->n_routes; i++)
		route_fini(&srv->routes[i]);
	free(srv->routes);
	srv->routes = NULL;
	srv->n_routes = 0;
}

/* Split a path's part after the leading '/' on '/'. "/" has no segment;
 * "/a/" has two ("a", ""). Calls fn(segment, len) for each. */
static size_t count_segments(const char *p, size_t n)
{
	size_t k = 1;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '/';
	return k;
}

static int compile_one(struct spur_http *srv, const struct spur_route *sr,
		       struct http_route *r)
{
	const char *match = spur_route_match(sr);
	const char *sp, *path, *p;
	size_t plen;
	int err = -EINVAL;

	*r = (struct http_route){ .mode = spur_route_mode(sr), .line = spur_route_line(sr),
				  .handle = sr };
	if (!match || !spur_route_target(sr))
		goto bad;
	sp = strchr(match, ' ');
	if (!sp || sp == match)
		goto bad;
	for (p = match; p < sp; p++)
		if (!isupper((unsigned char)*p))
			goto bad;
	path = sp;
	while (*path == ' ')
		path++;
	if (*path != '/')
		goto bad;
	err = -ENOMEM;
	if ((size_t)(sp - match) != 3 || memcmp(match, "ANY", 3) != 0) {
		r->method = strndup(match, (size_t)(sp - match));
		if (!r->method)
			goto fail;
	}
	r->route_key = strdup(match);
	r->target = strdup(spur_route_target(sr));
	if (!r->route_key || !r->target)
		goto fail;
	path++;
	plen = strlen(path);
	r->n_seg = count_segments(path, plen);
	r->seg = calloc(r->n_seg ? r->n_seg : 1, sizeof(*r->seg));
	if (!r->seg)
		goto fail;
	p = path;
	for (size_t i = 0; i < r->n_seg; i++) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct http_seg *s = &r->seg[i];

		if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
			bool greedy = n >= 3 && p[n - 2] == '+';
			size_t nl = n - 2 - (greedy ? 1 : 0);

			err = -EINVAL;
			if (nl == 0 || memchr(p + 1, '{', nl) || memchr(p + 1, '}', nl) ||
			    (greedy && i + 1 != r->n_seg))
				goto bad;
			err = -ENOMEM;
			s->kind = greedy ? HTTP_SEG_GREEDY : HTTP_SEG_PARAM;
			s->text = strndup(p + 1, nl);
			r->n_params++;
		} else {
			err = -EINVAL;
			if (memchr(p, '{', n) || memchr(p, '}', n))
				goto bad;
			err = -ENOMEM;
			s->kind = HTTP_SEG_LITERAL;
			s->text = strndup(p, n);
		}
		if (!s->text)
			goto fail;
		p += n + 1;
	}
	err = spur_http_verify_compile(srv, sr, r);
	if (err < 0)
		goto fail;
	return 0;
bad:
	spur_log(srv->host, SPUR_LOG_ERROR,
		 "%s:%d: http route '%s': expected \"METHOD /path\" with {name} or a final {name+}",
		 spur_config_file(srv->host) ? spur_config_file(srv->host) : "config",
		 spur_route_line(sr), match ? match : "");
fail:
	route_fini(r);
	*r = (struct http_route){ 0 };
	return err;
}

int spur_http_routes_compile(struct spur_http *srv)
{
	size_t n = spur_host_route_count(srv->host);
	int err = 0;

	srv->routes = calloc(n ? n : 1, sizeof(*srv->routes));
	if (!srv->routes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct spur_route *sr = spur_host_route(srv->host, i);
		const char *kind = sr ? spur_route_kind(sr) : NULL;

		if (!kind || strcmp(kind, "http") != 0)
			continue;
		err = compile_one(srv, sr, &srv->routes[srv->n_routes]);
		if (err < 0)
			goto fail;
		srv->n_routes++;
	}
	return 0;
fail:
	spur_http_routes_free(srv);
	return err;
}

/* --- matching ------------------------------------------------------------- */

/* Does route r match the decoded segments? Fills a specificity key (one
 * rank per segment: 0 literal, 1 param, 2 greedy). */
static bool route_matches(const struct http_route *r, char **segs, size_t n,
			  char *rank)
{
	size_t i;

	for (i = 0; i < r->n_seg; i++) {
		const struct http_seg *s = &r->seg[i];

		if (s->kind == HTTP_SEG_GREEDY) {
			if (i >= n)
				return false;
			rank[i] = '2';
			rank[i + 1] = '\0';
			return true;
		}
		if (i >= n)
			return false;
		if (s->kind == HTTP_SEG_PARAM) {
			if (!segs[i][0])
				return false;
			rank[i] = '1';
		} else {
			if (strcmp(s->text, segs[i]) != 0)
				return false;
			rank[i] = '0';
		}
	}
	rank[i] = '\0';
	return i == n;
}

/* The request's parameters of route r: one block holding the pointers
 * and the strings. segs[] are the decoded segments; a greedy parameter
 * is the raw rest of the path decoded as one. */
static int take_params(struct http_req *rq, const struct http_route *r,
		       char **segs, const char *path, size_t path_len)
{
	size_t np = r->n_params ? r->n_params : 1;
	char **params = malloc(np * sizeof(char *) + path_len + np + 1);
	char *o = (char *)(params + np);
	size_t k = 0;

	if (!params)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_seg; i++) {
		if (r->seg[i].kind == HTTP_SEG_PARAM) {
			size_t n = strlen(segs[i]);

			memcpy(o, segs[i], n + 1);
			params[k++] = o;
			o += n + 1;
		} else if (r->seg[i].kind == HTTP_SEG_GREEDY) {
			const char *q = path + 1;
			long n;

			for (size_t g = 0; g < i; g++)
				q = (const char *)memchr(q, '/', (size_t)(path + path_len - q)) + 1;
			n = spur_pct_decode(o, (size_t)(path + path_len - q) + 1, q,
					    (size_t)(path + path_len - q), false);
			if (n < 0) {
				free(params);
				return -EINVAL;
			}
			params[k++] = o;
			o += n + 1;
		}
	}
	rq->route = r;
	rq->params = params;
	return 0;
}

int spur_http_routes_match(struct http_req *rq, const char *method,
			   const char *path, size_t path_len)
{
	struct spur_http *srv = rq->srv;
	const struct http_route *best = NULL;
	char **segs, *rank, *best_rank, *dec;
	void *scratch;
	const char *p;
	size_t n;
	bool path_known = false;
	int err;

	if (path_len == 0 || path[0] != '/')
		return -ENOENT;
	p = path + 1;
	n = count_segments(p, path_len - 1);
	/* one block: segment pointers, two rank keys, the decoded segments */
	scratch = malloc((n + 1) * sizeof(*segs) + 2 * (n + 2) + path_len + 1);
	if (!scratch)
		return -ENOMEM;
	segs = scratch;
	rank = (char *)(segs + n + 1);
	best_rank = rank + n + 2;
	dec = best_rank + n + 2;
	for (size_t i = 0; i < n; i++) {
		const char *end = memchr(p, '/', (size_t)(path + path_len - p));
		size_t len = end ? (size_t)(end - p) : (size_t)(path + path_len - p);
		long dl = spur_pct_decode(dec, len + 1, p, len, false);

		if (dl < 0) {
			err = -EINVAL;
			goto done;
		}
		segs[i] = dec;
		dec += dl + 1;
		p += len + 1;
	}
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct http_route *r = &srv->routes[i];
		int cmp;

		if (r->n_seg > n + 1 || !route_matches(r, segs, n, rank))
			continue;
		path_known = true;
		if (r->method && strcmp(r->method, method) != 0)
			continue;
		if (best) {
			cmp = strcmp(rank, best_rank);
			if (cmp > 0 || (cmp == 0 && (best->method || !r->method)))
				continue;
		}
		best = r;
		memcpy(best_rank, rank, strlen(rank) + 1);
	}
	if (!best)
		err = path_known ? -EPERM : -ENOENT;
	else
		err = take_params(rq, best, segs, path, path_len);
done:
	free(scratch);
	return err;
}

/* --- invoking ------------------------------------------------------------ */

static void result_free_cb(void *cls)
{
	spur_result_free(cls);
}

static enum MHD_Result route_status_error(struct http_req *rq, struct MHD_Connection *c,
					  struct spur_result *res, enum spur_status st)
{
	const char *msg = spur_result_error_message(res);
	const char *type = spur_result_error_type(res);
	unsigned status = spur_http_status_code(st);
	struct MHD_Response *r;
	json_t *o;

	o = json_pack("{s:s}", "message", msg && *msg ? msg : type && *type ? type : "error");
	if (!o)
		o = json_pack("{s:s}", "message", "error");
	r = spur_http_json(o);
	if (!r)
		return MHD_NO;
	if (st == SPUR_STATUS_THROTTLED || st == SPUR_STATUS_UNAVAILABLE) {
		char ra[24];
		int secs = spur_result_retry_after(res);

		snprintf(ra, sizeof(ra), "%d", secs > 0 ? secs : 1);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	return spur_http_queue(rq, c, status, r);
}

static struct spur_invoke_args route_args(struct http_req *rq, const void *payload,
					  size_t len, const void *raw, size_t raw_len,
					  const struct spur_attr *attrs, size_t n_attrs)
{
	const struct http_route *route = rq->route;

	return (struct spur_invoke_args){
		.struct_size = sizeof(struct spur_invoke_args),
		.attr_size = sizeof(struct spur_attr),
		.target = route->target,
		.qualifier = NULL,
		.payload = payload,
		.payload_len = len,
		.mode = route->mode == SPUR_MODE_ASYNC ? SPUR_MODE_ASYNC : SPUR_MODE_SYNC,
		.log_tail = false,
		.source = "http",
		.attrs = attrs,
		.n_attrs = n_attrs,
		.route = route->handle,
		.raw_body = raw ? raw : "",
		.raw_body_len = raw_len,
	};
}

struct spur_result *spur_http_route_invoke(struct http_req *rq, const void *payload,
					   size_t len, const void *raw, size_t raw_len,
					   const struct spur_attr *attrs, size_t n_attrs)
{
	const struct spur_invoke_args args = route_args(rq, payload, len, raw, raw_len,
							attrs, n_attrs);

	return spur_invoke(rq->srv->host, &args);
}

enum MHD_Result spur_http_route_run(struct http_req *rq, struct MHD_Connection *c,
				    const void *payload, size_t len, const void *raw,
				    size_t raw_len, const struct spur_attr *attrs, size_t n_attrs)
{
	const struct spur_invoke_args args = route_args(rq, payload, len, raw, raw_len,
							attrs, n_attrs);
	struct spur_result *res;

	if (!spur_http_run(rq, c, &args, spur_http_route_answer, &res))
		return MHD_YES;		/* answered when the worker is done */
	return spur_http_route_answer(rq, c, res);
}

enum MHD_Result spur_http_route_finish(struct http_req *rq, struct MHD_Connection *c,
				       const char *method, const char *version)
{
	struct spur_attr attrs[HTTP_MAX_ATTRS];
	enum MHD_Result ret = MHD_NO;
	enum http_ce_mode ce;
	size_t event_len = 0;

	if (!spur_http_verify(rq, c, &ret))	/* 401/500: nothing runs, nothing stored */
		return ret;
	ce = spur_http_ce_mode(c);
	if (ce != HTTP_CE_NONE)		/* the event is the CloudEvent (cloudevents.c) */
		return spur_http_ce_finish(rq, c, ce);
	rq->event = spur_http_apigw_event(rq, c, method, version, &event_len);
	if (!rq->event)
		return spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "out of memory");
	return spur_http_route_run(rq, c, rq->event, event_len, rq->body, rq->len, attrs,
				   spur_http_attrs(c, attrs, HTTP_MAX_ATTRS));
}

enum MHD_Result spur_http_route_answer(struct http_req *rq, struct MHD_Connection *c,
				       struct spur_result *res)
{
	const struct http_route *route = rq->route;
	struct MHD_Response *r = NULL;
	enum MHD_Result ret = MHD_NO;
	enum spur_status st;
	const char *body, *fe;
	size_t len = 0, ws;
	json_t *j = NULL;

	if (!res)
		return spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "out of memory");
	st = spur_result_status(res);

	if (st == SPUR_STATUS_ACCEPTED) {
		r = spur_http_json(json_pack("{s:s}", "eventId", spur_result_request_id(res)));
		if (!r)
			goto done;
		spur_http_mark_replayed(r, res);
		ret = spur_http_queue(rq, c, MHD_HTTP_ACCEPTED, r);
		goto done;
	}
	if (st == SPUR_STATUS_CONFLICT || st == SPUR_STATUS_MISMATCH) {
		ret = spur_http_problem(rq, c, spur_http_status_code(st),
			st == SPUR_STATUS_CONFLICT ? "Idempotency-Key in use" :
						     "Idempotency-Key reused with another payload",
			spur_result_error_message(res));
		goto done;
	}
	if (st != SPUR_STATUS_OK) {
		ret = route_status_error(rq, c, res, st);
		goto done;
	}
	body = spur_result_body(res, &len);
	fe = spur_result_function_error(res);
	if (fe) {
		spur_log(rq->srv->host, SPUR_LOG_WARN,
			 "route '%s' (%s): function error %s: %.300s",
			 route->route_key, spur_result_request_id(res), fe,
			 body ? body : "");
		ret = spur_http_error(rq, c, MHD_HTTP_BAD_GATEWAY, NULL,
				      "Internal Server Error");
		goto done;
	}
	if (!body) {
		body = "null";
		len = 4;
	}
	/* only an object with a "statusCode" key can be a response: any other
	 * answer (most of them) goes out as it is, unparsed. An encoder that
	 * wrote the key with \u escapes would be taken for a plain answer. */
	for (ws = 0; ws < len && strchr(" \t\r\n", body[ws]) && body[ws]; ws++)
		;
	if (ws < len && body[ws] == '{' &&
	    memmem(body + ws, len - ws, "\"statusCode\"", 12))
		j = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (json_is_object(j) && json_object_get(j, "statusCode")) {
		unsigned status = 200;
		bool bad = false;

		r = spur_http_apigw_response(j, &status, &bad);
		if (!r) {
			if (bad)
				spur_log(rq->srv->host, SPUR_LOG_WARN,
					 "route '%s' (%s): malformed response (statusCode)",
					 route->route_key, spur_result_request_id(res));
			ret = spur_http_error(rq, c, MHD_HTTP_BAD_GATEWAY, NULL,
					      "Internal Server Error");
			goto done;
		}
		spur_http_mark_replayed(r, res);
		ret = spur_http_queue(rq, c, status, r);
		goto done;
	}
	/* the answer as it is: the response takes over res, no copy */
	r = MHD_create_response_from_buffer_with_free_callback_cls(
		len, (void *)body, result_free_cb, res);
	if (!r)
		goto done;
	spur_http_mark_replayed(r, res);
	res = NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = spur_http_queue(rq, c, MHD_HTTP_OK, r);
done:
	json_decref(j);
	spur_result_free(res);
	return ret;
}
