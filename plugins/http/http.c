/* SPDX-License-Identifier: MIT */
/*
 * http.c - the http source plugin: its options and life cycle, request
 * intake and limits, /healthz and /readyz. The daemons and the header
 * watchdog are in listen.c, the responses in reply.c, the Invoke API in
 * invoke_api.c, the routes in routes.c and apigw.c. Requests under
 * /admin/ and the Lambda management API (/2015-03-31/functions/... but
 * .../invocations, /2017-10-31/, /2019-09-25/, /2019-09-30/functions/...)
 * go whole to the core (spur_admin_handle), with their Authorization
 * header and whether the peer is a loopback address; the core decides who
 * may call it.
 *
 * Threads: the MHD callbacks here run in the thread serving the
 * connection, its own or an event loop (listen.c, `threads`). On its own
 * thread a request's handler runs inline through spur_invoke(); on a loop
 * through spur_invoke_start(), and a run that moves to a worker leaves
 * the connection suspended until the worker resumes it (spur_http_run).
 * Nothing here takes a lock: the instance is read-only while the daemons
 * run, arming the watchdog is lock-free, and a moved run's hand-back is
 * one atomic. The drain (stop) counts requests, not threads, so it waits
 * for suspended connections too and is the same in both modes.
 *
 * Limits, checked at the first access callback (before any body byte is
 * read): framing (Content-Length with Transfer-Encoding, two different
 * Content-Lengths, codings other than chunked → 400), the request deadline
 * (request_timeout from the request line → 408) and Content-Length over
 * the body limit (→ 413; MHD then closes without reading the body). While
 * the body arrives, chunked bodies are counted and refused at the byte
 * that passes the limit, and the deadline is checked on every piece.
 * libmicrohttpd 0.9.75 can queue a response only at the first and the
 * last callback, so those mid-body answers are written to the socket by
 * hand (reject_now) before MHD is told to close the connection. Header
 * size (431), URL size (414) and malformed chunks (400) are MHD's own.
 *
 * Cost: one allocation per request for its context and URI, its body
 * once (preallocated from Content-Length, else grown geometrically), plus
 * the invocation's payload and result.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <jansson.h>

#include "http.h"

#define HTTP_DRAIN_MS 1000		/* lingering close after reject_now */
#define HTTP_DRAIN_MAX ((size_t)64 << 20)
#define HTTP_LOG_PER_SEC 20u

static const struct spur_option http_options_table[] = {
	{ .type = SPUR_OPT_STRLIST, .name = "listen", .def = "127.0.0.1:8080",
	  .offset = offsetof(struct http_options, listen),
	  .description = "addresses to serve: host:port, [v6]:port or :port (all); several allowed" },
	{ .type = SPUR_OPT_SIZE, .name = "max_body", .def = "6MiB",
	  .offset = offsetof(struct http_options, max_body),
	  .description = "largest request body for synchronous calls (larger: 413)",
	  .min = 1, .max = (int64_t)1 << 30 },
	{ .type = SPUR_OPT_SIZE, .name = "max_async_body", .def = "1MiB",
	  .offset = offsetof(struct http_options, max_async_body),
	  .description = "largest request body for asynchronous calls (larger: 413)",
	  .min = 1, .max = (int64_t)1 << 30 },
	{ .type = SPUR_OPT_DURATION, .name = "connection_timeout", .def = "30s",
	  .offset = offsetof(struct http_options, connection_timeout_ms),
	  .description = "close a connection idle this long (slow clients)",
	  .min = 1000, .max = 86400000 },
	{ .type = SPUR_OPT_DURATION, .name = "request_timeout", .def = "30s",
	  .offset = offsetof(struct http_options, request_timeout_ms),
	  .description = "a request's headers and body must arrive within this (else 408)",
	  .min = 1, .max = 86400000 },
	{ .type = SPUR_OPT_INT, .name = "max_connections", .def = "1024",
	  .offset = offsetof(struct http_options, max_connections),
	  .description = "connections served at once per listener; more are closed at accept",
	  .min = 1, .max = 1000000 },
	{ .type = SPUR_OPT_INT, .name = "max_connections_per_ip", .def = "0",
	  .offset = offsetof(struct http_options, max_connections_per_ip),
	  .description = "connections at once from one address (0: no limit)",
	  .min = 0, .max = 1000000 },
	{ .type = SPUR_OPT_INT, .name = "threads", .def = "auto", .choices = "auto",
	  .offset = offsetof(struct http_options, threads),
	  .description = "auto: one event loop per core; N: N event loops per listener "
			 "(each serves many connections; Lua handlers run inline until "
			 "inline_budget, then move to a worker thread; native handlers "
			 "always run on workers); 0: one thread per connection",
	  .min = 0, .max = 256 },
	{ .type = SPUR_OPT_DURATION, .name = "inline_budget", .def = "2ms",
	  .offset = offsetof(struct http_options, inline_budget_ms),
	  .description = "event loops: how long a Lua handler runs on the loop before it "
			 "pauses and a worker thread takes it to its end (0: at its first "
			 "check, every 1000 instructions)",
	  .min = 0, .max = 60000 },
	{ .name = NULL },
};

/* --- MHD callbacks ------------------------------------------------------- */

/* One log line per libmicrohttpd message, rate-limited so that a flood
 * (10,000 connections over the limit) cannot flood the log in turn. */
void spur_http_on_log(void *cls, const char *fmt, va_list ap)
{
	struct spur_http *srv = cls;
	long long sec = (long long)(spur_now_ns() / 1000000000);
	long long cur = atomic_load(&srv->log_sec);
	char line[512], *html;
	size_t n;

	if (cur != sec && atomic_compare_exchange_strong(&srv->log_sec, &cur, sec)) {
		unsigned dropped = atomic_exchange(&srv->log_dropped, 0);

		atomic_store(&srv->log_count, 0);
		if (dropped)
			spur_log(srv->host, SPUR_LOG_WARN,
				 "libmicrohttpd: %u more messages suppressed", dropped);
	}
	if (atomic_fetch_add(&srv->log_count, 1) >= HTTP_LOG_PER_SEC) {
		atomic_fetch_add(&srv->log_dropped, 1);
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	html = strstr(line, " ('<html>");	/* MHD quotes its HTML error page */
	if (html)
		snprintf(html, sizeof(line) - (size_t)(html - line), ")");
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n)
		spur_log(srv->host, SPUR_LOG_WARN, "libmicrohttpd: %s", line);
}

static struct http_req *req_new(struct spur_http *srv, const char *uri)
{
	size_t ul = strlen(uri ? uri : "/");
	struct http_req *rq = calloc(1, sizeof(*rq) + ul + 1);

	if (!rq)
		return NULL;
	rq->srv = srv;
	rq->raw_uri = (char *)(rq + 1);
	memcpy(rq->raw_uri, uri ? uri : "/", ul + 1);
	rq->start_ns = spur_now_coarse_ns();	/* deadlines of 1 ms and up: coarse will do */
	rq->deadline_ns = rq->start_ns + srv->opt.request_timeout_ms * 1000000;
	return rq;
}

/* A request leaves the drain count; the last one out during a stop
 * wakes stop(). */
static void req_uncount(struct http_req *rq)
{
	struct spur_http *srv = rq->srv;

	if (!rq->counted)
		return;
	rq->counted = false;
	if (atomic_fetch_sub(&srv->inflight, 1) == 1 && atomic_load(&srv->stopping)) {
		pthread_mutex_lock(&srv->drain_lock);
		pthread_cond_broadcast(&srv->drained);
		pthread_mutex_unlock(&srv->drain_lock);
	}
}

static void req_free(struct http_req *rq)
{
	if (!rq)
		return;
	req_uncount(rq);
	free(rq->params);
	free(rq->target);
	free(rq->qualifier);
	free(rq->body);
	free(rq->event);
	free(rq);
}

/* The request line has arrived: the request's clock starts here. */
void *spur_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_req *rq = req_new(cls, uri);

	if (rq)
		spur_http_conn_arm(rq->srv, c, rq->deadline_ns);
	return rq;
}

void spur_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct spur_http *srv = cls;

	(void)toe;
	/* kept alive: the next request has an idle period, then its own time */
	spur_http_conn_arm(srv, c, spur_now_coarse_ns() + (srv->opt.connection_timeout_ms +
						    srv->opt.request_timeout_ms) * 1000000);
	req_free(*con_cls);
	*con_cls = NULL;
}

/* Framing that libmicrohttpd 0.9.75 accepts but that smuggles requests
 * past proxies: both Content-Length and Transfer-Encoding, several
 * different Content-Lengths, or a coding other than chunked. And header
 * forms it lets through: a name that is not an RFC 9110 token (it keeps
 * "Transfer-Encoding : chunked" as a name with a trailing space), a name
 * that only starts with transfer-encoding or content-length (it glues an
 * obs-folded line onto the name: "transfer-encodingchunked") (chaos D10).
 * A NUL inside a value cannot be told here: MHD hands the value cut at it. */
struct framing {
	const char *cl;
	int n_te;
	bool cl_differs, te_bad;
	bool bad_name;
};

static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch))))
			return false;
	}
	return true;
}

/* Does `name` start with `what` (case-insensitive) without being it? */
static bool extends(const char *name, size_t n, const char *what)
{
	size_t w = strlen(what);

	return n > w && strncasecmp(name, what, w) == 0;
}

static enum MHD_Result framing_cb(void *cls, enum MHD_ValueKind kind,
				  const char *key, size_t key_size,
				  const char *value, size_t value_size)
{
	struct framing *f = cls;

	(void)kind;
	(void)value_size;
	if (!value)
		value = "";
	if (!is_token(key, key_size) || extends(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	    extends(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH))
		f->bad_name = true;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->cl && strcmp(f->cl, value) != 0)
			f->cl_differs = true;
		if (!f->cl)
			f->cl = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_te++;
		if (strcasecmp(value, "chunked") != 0)
			f->te_bad = true;
	}
	return MHD_YES;
}

/* Answer now, in the middle of a body, where MHD cannot queue: write the
 * response ourselves, half-close, drain what the client still sends for a
 * moment (so the close does not reset the answer away), then have MHD
 * close the connection. */
static enum MHD_Result reject_now(struct http_req *rq, struct MHD_Connection *c,
				  unsigned status, const char *reason,
				  const char *type, const char *msg)
{
	const union MHD_ConnectionInfo *ci;
	char head[512], scratch[16384];
	char *body = NULL;
	size_t blen = 0, drained = 0;
	int64_t until;
	int fd, n;

	spur_log(rq->srv->host, SPUR_LOG_INFO, "%s: %u %s (mid-body), closing",
		 rq->raw_uri, status, msg);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		goto fail;
	fd = ci->connect_fd;
	body = spur_http_error_body(rq, status, type, msg, &blen);
	if (!body)
		goto fail;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %u %s\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		     "%s%s%s%s%s%s\r\n",
		     status, reason, blen,
		     rq->kind == HTTP_KIND_INVOKE ? "x-amzn-RequestId: " : "",
		     rq->kind == HTTP_KIND_INVOKE ? spur_http_request_id(rq) : "",
		     rq->kind == HTTP_KIND_INVOKE ? "\r\n" : "",
		     rq->kind == HTTP_KIND_INVOKE && type ? "x-amzn-ErrorType: " : "",
		     rq->kind == HTTP_KIND_INVOKE && type ? type : "",
		     rq->kind == HTTP_KIND_INVOKE && type ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		goto fail;
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n ||
	    send(fd, body, blen, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)blen)
		goto fail;
	shutdown(fd, SHUT_WR);
	until = spur_now_ns() + (int64_t)HTTP_DRAIN_MS * 1000000;
	while (drained < HTTP_DRAIN_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (until - spur_now_ns()) / 1000000;
		ssize_t got;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		got = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (got <= 0)
			break;
		drained += (size_t)got;
	}
fail:
	free(body);
	return MHD_NO;
}

static bool deadline_passed(const struct http_req *rq)
{
	return spur_now_coarse_ns() > rq->deadline_ns;
}

/* Split the raw request-target into path and query. */
static void split_target(const char *uri, const char **path, size_t *plen,
			 const char **query)
{
	const char *q;

	/* absolute-form: http://host/path */
	if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
		const char *p = strchr(strstr(uri, "//") + 2, '/');
		uri = p ? p : "/";
	}
	q = strchr(uri, '?');
	*path = uri;
	*plen = q ? (size_t)(q - uri) : strlen(uri);
	*query = q ? q + 1 : "";
}

static bool path_is(const char *path, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(path, lit, len) == 0;
}

/* GET /healthz (process up) and GET /readyz (the host's readiness). */
static enum MHD_Result serve_health(struct http_req *rq, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	char why[256] = "";
	unsigned status = MHD_HTTP_OK;
	json_t *o;

	if (rq->kind == HTTP_KIND_METRICS) {
		size_t len = 0;
		char *text = spur_metrics_render(rq->srv->host, &len);
		if (!text)
			return MHD_NO;
		r = spur_http_response(text, len);
		if (!r)
			return MHD_NO;
		MHD_del_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; version=0.0.4; charset=utf-8");
		return spur_http_queue(rq, c, MHD_HTTP_OK, r);
	}
	if (rq->kind == HTTP_KIND_HEALTH) {
		o = json_pack("{s:s}", "status", "ok");
	} else if (spur_host_ready(rq->srv->host, why, sizeof(why)) == 1) {
		o = json_pack("{s:s}", "status", "ready");
	} else {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		o = json_pack("{s:s, s:s}", "status", "not ready",
			      "reason", why[0] ? why : "not ready");
	}
	r = spur_http_json(o);
	return r ? spur_http_queue(rq, c, status, r) : MHD_NO;
}

/* Whether the peer is 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z). */
static bool peer_is_loopback(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* The Lambda management API (functions, versions, aliases, concurrency,
 * event invoke config): the core answers it like /admin/... The Invoke
 * API (/2015-03-31/functions/{name}/invocations) is not part of it. */
static bool lambda_management_path(const char *path, size_t plen)
{
	static const char *const pre[] = {
		"/2015-03-31/functions", "/2017-10-31/functions", "/2019-09-25/functions",
		"/2019-09-30/functions",
	};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
		size_t n = strlen(pre[i]);

		if (plen >= n && memcmp(path, pre[i], n) == 0 && (plen == n || path[n] == '/'))
			return true;
	}
	return false;
}

/* /admin/... and the Lambda management API: the core answers; we carry
 * its reply, with x-amzn-ErrorType when it names a Lambda error. */
static enum MHD_Result serve_admin(struct http_req *rq, struct MHD_Connection *c,
				   const char *method)
{
	const char *path, *query;
	size_t plen;
	struct spur_admin_reply *ar;
	struct MHD_Response *r;
	const char *body;
	size_t blen;
	unsigned status;
	const char *etype;
	char *copy, *p;

	split_target(rq->raw_uri, &path, &plen, &query);
	p = strndup(path, plen);
	if (!p)
		return MHD_NO;
	ar = spur_admin_handle(rq->srv->host, method, p, query, rq->body ? rq->body : "",
			       rq->len, spur_http_header(c, MHD_HTTP_HEADER_AUTHORIZATION),
			       peer_is_loopback(c));
	free(p);
	if (!ar)
		return MHD_NO;
	body = spur_admin_reply_body(ar, &blen);
	status = spur_admin_reply_status(ar);
	etype = spur_admin_reply_error_type(ar);	/* static */
	copy = malloc(blen + 1);
	if (copy)
		memcpy(copy, body, blen);
	spur_admin_reply_free(ar);
	if (!copy)
		return MHD_NO;
	r = spur_http_response(copy, blen);
	if (r && etype)		/* the Lambda management API */
		MHD_add_response_header(r, "x-amzn-ErrorType", etype);
	if (r && status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (r && status == MHD_HTTP_SERVICE_UNAVAILABLE)	/* a full queue, a full disk */
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return spur_http_queue(rq, c, status, r);
}

/* The first callback: headers are in, no body byte has been read. Decide
 * what the request addresses and whether to read its body at all. */
static enum MHD_Result first_call(struct http_req *rq, struct MHD_Connection *c,
				  const char *method)
{
	struct spur_http *srv = rq->srv;
	struct framing f = { 0 };
	static const char inv_pre[] = "/2015-03-31/functions/";
	static const char inv_suf[] = "/invocations";
	const size_t lp = sizeof(inv_pre) - 1, ls = sizeof(inv_suf) - 1;
	const char *path, *query;
	size_t plen;
	uint64_t clen = 0;
	bool queued = false;
	int err;

	rq->started = true;
	spur_http_conn_arm(srv, c, 0);	/* headers are in; the body is timed below */
	/* Count first, then look: either stop() sees this request in the
	 * count, or this request sees the stop (both sequentially consistent). */
	atomic_fetch_add(&srv->inflight, 1);
	rq->counted = true;
	if (atomic_load(&srv->stopping)) {
		req_uncount(rq);
		return spur_http_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
				       "server is shutting down");
	}
	if (deadline_passed(rq))
		return spur_http_error(rq, c, MHD_HTTP_REQUEST_TIMEOUT, NULL,
				       "request headers not received within %" PRId64 " ms",
				       srv->opt.request_timeout_ms);

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, framing_cb, &f);
	if (f.bad_name)
		return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
				       "malformed header name (not a token, or a folded line)");

	if (f.cl && f.n_te)
		return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
				       "both Content-Length and Transfer-Encoding");
	if (f.cl_differs)
		return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
				       "conflicting Content-Length headers");
	if (f.n_te > 1 || f.te_bad)
		return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
				       "unsupported Transfer-Encoding (only chunked)");
	if (f.cl) {
		char *end;

		errno = 0;
		clen = strtoull(f.cl, &end, 10);
		if (errno || end == f.cl)
			clen = UINT64_MAX;
	}

	split_target(rq->raw_uri, &path, &plen, &query);
	if (path_is(path, plen, "/healthz") || path_is(path, plen, "/readyz") ||
	    path_is(path, plen, "/metrics")) {
		rq->kind = path_is(path, plen, "/metrics") ? HTTP_KIND_METRICS :
			   plen == 8 ? HTTP_KIND_HEALTH : HTTP_KIND_READY;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return spur_http_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
					       "method %s not allowed", method);
		rq->limit = srv->opt.max_body;	/* a body is read and ignored */
	} else if ((plen >= 6 && memcmp(path, "/admin", 6) == 0 &&
		    (plen == 6 || path[6] == '/')) ||
		   (plen > 8 && memcmp(path, "/queues/", 8) == 0)) {
		/* the core answers; /queues/ is intake, which it authorizes as such */
		rq->kind = HTTP_KIND_ADMIN;
		rq->limit = srv->opt.max_body;
	} else if (plen > lp + ls && memcmp(path, inv_pre, lp) == 0 &&
	    memcmp(path + plen - ls, inv_suf, ls) == 0 &&
	    !memchr(path + lp, '/', plen - lp - ls)) {
		enum MHD_Result ret;

		rq->kind = HTTP_KIND_INVOKE;
		ret = spur_http_invoke_begin(rq, c, method, path + lp, plen - lp - ls,
					     query, &queued);
		if (queued)
			return ret;
	} else if (lambda_management_path(path, plen)) {
		rq->kind = HTTP_KIND_ADMIN;	/* the core's Lambda management API */
		rq->limit = srv->opt.max_body;
	} else {
		err = spur_http_routes_match(rq, method, path, plen);
		if (err == -ENOENT)
			return spur_http_error(rq, c, MHD_HTTP_NOT_FOUND, NULL, "Not Found");
		if (err == -EPERM)
			return spur_http_error(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
					       "method %s not allowed here", method);
		if (err == -EINVAL)
			return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
					       "malformed path");
		if (err < 0)
			return MHD_NO;
		rq->kind = HTTP_KIND_ROUTE;
		rq->limit = rq->route->mode == SPUR_MODE_ASYNC ?
			srv->opt.max_async_body : srv->opt.max_body;
	}

	if (clen > rq->limit)
		return spur_http_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE,
				       "RequestTooLargeException",
				       "Request must be smaller than %" PRIu64 " bytes for the %s operation",
				       rq->limit, rq->kind == HTTP_KIND_INVOKE ?
				       "InvokeFunction" : "route");
	if (clen > 0) {
		rq->body = malloc((size_t)clen + 1);
		if (!rq->body)
			return MHD_NO;
		rq->cap = (size_t)clen + 1;
	}
	/* An idle body may not outlast the request deadline. */
	if (f.cl || f.n_te) {
		int64_t left = (rq->deadline_ns - spur_now_coarse_ns()) / 1000000;
		int64_t ms = left < srv->opt.connection_timeout_ms ? left :
			srv->opt.connection_timeout_ms;
		unsigned secs = (unsigned)((ms + 999) / 1000);

		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
					  secs ? secs : 1u);
	}
	return MHD_YES;
}

static int body_append(struct http_req *rq, const char *data, size_t n)
{
	if (rq->len + n + 1 > rq->cap) {
		size_t cap = rq->cap ? rq->cap : 4096;
		char *nb;

		while (cap < rq->len + n + 1)
			cap *= 2;
		if (cap > rq->limit + 1)
			cap = (size_t)rq->limit + 1;
		nb = realloc(rq->body, cap);
		if (!nb)
			return -ENOMEM;
		rq->body = nb;
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
	rq->body[rq->len] = '\0';
	return 0;
}

enum MHD_Result spur_http_on_access(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version, const char *upload_data,
				    size_t *upload_data_size, void **con_cls)
{
	struct spur_http *srv = cls;
	struct http_req *rq = *con_cls;

	(void)url;
	if (!rq) {	/* the URI callback could not allocate */
		rq = req_new(srv, url);
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
	}
	if (!rq->started)
		return first_call(rq, c, method);

	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (deadline_passed(rq))
			return reject_now(rq, c, MHD_HTTP_REQUEST_TIMEOUT,
					  "Request Timeout", NULL,
					  "request body not received in time");
		if (rq->len + n > rq->limit)
			return reject_now(rq, c, MHD_HTTP_CONTENT_TOO_LARGE,
					  "Content Too Large", "RequestTooLargeException",
					  "request body over the limit");
		if (body_append(rq, upload_data, n) < 0)
			return MHD_NO;
		return MHD_YES;
	}

	/* resumed: the run that went to a worker is done; its time was the
	 * handler's (its timeout), not the request's */
	if (atomic_load(&rq->run) == HTTP_RUN_DONE && rq->answer) {
		http_answer_fn *answer = rq->answer;

		rq->answer = NULL;
		return answer(rq, c, rq->moved_result);
	}
	/* the whole request is in */
	if (deadline_passed(rq))
		return spur_http_error(rq, c, MHD_HTTP_REQUEST_TIMEOUT, NULL,
				       "request not received within %" PRId64 " ms",
				       srv->opt.request_timeout_ms);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
				  (unsigned)((srv->opt.connection_timeout_ms + 999) / 1000));
	if (rq->kind == HTTP_KIND_HEALTH || rq->kind == HTTP_KIND_READY ||
	    rq->kind == HTTP_KIND_METRICS)
		return serve_health(rq, c);
	if (rq->kind == HTTP_KIND_INVOKE)
		return spur_http_invoke_finish(rq, c);
	if (rq->kind == HTTP_KIND_ADMIN)
		return serve_admin(rq, c, method);
	return spur_http_route_finish(rq, c, method, version);
}

/* --- runs that leave the loop ------------------------------------------------ */

/* The worker's half: leave the result, resume the connection if the loop
 * already suspended it (else the loop sees DONE and resumes it itself). */
static void run_done(void *cookie, struct spur_result *res)
{
	struct http_req *rq = cookie;

	rq->moved_result = res;
	if (atomic_exchange(&rq->run, HTTP_RUN_DONE) == HTTP_RUN_SUSPENDED)
		MHD_resume_connection(rq->conn);
}

bool spur_http_run(struct http_req *rq, struct MHD_Connection *c,
		   const struct spur_invoke_args *args, http_answer_fn *answer,
		   struct spur_result **res)
{
	struct spur_http *srv = rq->srv;
	int expect = HTTP_RUN_MOVED;

	if (srv->opt.threads == 0) {	/* this connection's own thread may block */
		*res = spur_invoke(srv->host, args);
		return true;
	}
	rq->conn = c;
	rq->answer = answer;
	atomic_store(&rq->run, HTTP_RUN_MOVED);	/* before the worker can see it */
	if (spur_invoke_start(srv->host, args, srv->opt.inline_budget_ms * 1000000,
			      run_done, rq, res)) {
		atomic_store(&rq->run, HTTP_RUN_HERE);
		rq->answer = NULL;
		return true;
	}
	MHD_suspend_connection(c);
	if (!atomic_compare_exchange_strong(&rq->run, &expect, HTTP_RUN_SUSPENDED))
		MHD_resume_connection(c);	/* the worker was faster */
	return false;
}

/* --- plugin life cycle ---------------------------------------------------- */

/* The cores this process may run on (taskset, cgroup cpusets): one event
 * loop each. */
static int64_t cores_available(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

static int http_init(struct spur_host *host, const void *options, void **instance)
{
	const struct http_options *o = options;
	struct spur_http *srv;
	int err;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->host = host;
	srv->opt = *o;	/* strings stay the host's until fini */
	if (srv->opt.threads < 0)	/* auto */
		srv->opt.threads = cores_available();
	atomic_init(&srv->stopping, false);
	atomic_init(&srv->inflight, 0);
	for (int k = 1; k <= 5; k++) {
		char labels[16];
		snprintf(labels, sizeof(labels), "code=\"%dxx\"", k);
		srv->requests[k] = spur_counter_get(host, "spur_http_requests_total",
						    "HTTP responses by status class.", labels);
	}
	pthread_mutex_init(&srv->drain_lock, NULL);
	pthread_cond_init(&srv->drained, NULL);
	atomic_init(&srv->log_sec, 0);
	atomic_init(&srv->log_count, 0u);
	atomic_init(&srv->log_dropped, 0u);
	spur_http_listen_init(srv);
	err = spur_http_listen_check(srv);
	if (err < 0)
		goto fail;
	err = spur_http_routes_compile(srv);
	if (err < 0)
		goto fail;
	*instance = srv;
	return 0;
fail:
	spur_http_routes_free(srv);
	spur_http_listen_fini(srv);
	pthread_cond_destroy(&srv->drained);
	pthread_mutex_destroy(&srv->drain_lock);
	free(srv);
	return err;
}

static int http_start(void *instance)
{
	struct spur_http *srv = instance;

	atomic_store(&srv->stopping, false);
	return spur_http_listen_start(srv);
}

/* The drain: listeners close; new requests on kept-alive connections get
 * 503; returns once every request already begun has been answered (each
 * is bounded by request_timeout and its function's timeout). */
static void http_stop(void *instance)
{
	struct spur_http *srv = instance;

	atomic_store(&srv->stopping, true);
	spur_http_listen_quiesce(srv);
	pthread_mutex_lock(&srv->drain_lock);
	while (atomic_load(&srv->inflight) > 0)
		pthread_cond_wait(&srv->drained, &srv->drain_lock);
	pthread_mutex_unlock(&srv->drain_lock);
}

static void http_fini(void *instance)
{
	struct spur_http *srv = instance;

	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	spur_http_listen_stop(srv);
	spur_http_routes_free(srv);
	spur_http_listen_fini(srv);
	pthread_cond_destroy(&srv->drained);
	pthread_mutex_destroy(&srv->drain_lock);
	free(srv);
}

/* The keys of an http route beside the core's (read with spur_route_option). */
static const struct spur_option http_route_options[] = {
	{ .type = SPUR_OPT_ENUM, .name = "verify.scheme", .choices = "github|stripe|standard-webhooks",
	  .description = "the webhook signature to check" },
	{ .type = SPUR_OPT_STRING, .name = "verify.secret_env",
	  .description = "the environment variable holding the secret" },
	{ .name = NULL },
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "http",
	.version = "0.1.0",
	.description = "HTTP source: Lambda Invoke API, webhook routes, admin API, health (libmicrohttpd)",
	.roles = SPUR_ROLE_SOURCE,
	.options = http_options_table,
	.options_size = sizeof(struct http_options),
	.init = http_init,
	.fini = http_fini,
	.start = http_start,
	.stop = http_stop,
	.route_options = http_route_options,
};
