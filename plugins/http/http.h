/* SPDX-License-Identifier: MIT */
/*
 * http.h - what the files of the http source plugin share (internal:
 * never installed, never seen by the core).
 *
 * http.c owns the instance (struct spur_http: options, the compiled
 * routes) and one struct http_req per HTTP request, from the request line
 * (MHD's URI log callback) to MHD_OPTION_NOTIFY_COMPLETED. listen.c owns
 * the MHD daemons, one struct http_conn per TCP connection and the header
 * watchdog thread. reply.c builds and queues the responses all of them
 * send. invoke_api.c serves the Lambda Invoke API, routes.c the
 * configured routes, verify.c their signature checks, apigw.c their
 * API Gateway HTTP API v2.0 events and answers, cloudevents.c the
 * CloudEvents a route may receive instead. Requests run in the MHD
 * thread serving their connection: its own thread (`threads: 0`) or one
 * of `threads` epoll event loops (the default), whose slow runs finish on
 * a worker thread (spur_http_run); the instance is read-only while
 * the daemons run, so requests share no lock: a connection's deadline is
 * an atomic, and the watchdog's list lock is taken only when a connection
 * opens or closes.
 */
#ifndef SPUR_HTTP_PLUGIN_H
#define SPUR_HTTP_PLUGIN_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <jansson.h>
#include "spur/plugin.h"
#include "spur/text.h"
#include "signature.h"	/* plugins/webhook's signature library */

/* The `http:` config section, filled by the host from the option table. */
struct http_options {
	struct spur_strlist listen;	/* "host:port", "[v6]:port", ":port" */
	uint64_t max_body;		/* sync body limit (bytes) */
	uint64_t max_async_body;	/* async (Event) body limit */
	int64_t connection_timeout_ms;	/* idle limit per connection */
	int64_t request_timeout_ms;	/* headers + body must arrive within */
	int64_t max_connections;
	int64_t max_connections_per_ip;	/* 0 = off */
	int64_t threads;		/* 0: a thread per connection; N: event loops
					 * (-1 in the config: auto, one per core) */
	int64_t inline_budget_ms;	/* event loops: a Lua run longer than this
					 * moves to a worker thread */
};

enum http_seg_kind {
	HTTP_SEG_LITERAL = 0,	/* "hooks" */
	HTTP_SEG_PARAM,		/* "{id}": one segment */
	HTTP_SEG_GREEDY,	/* "{proxy+}": the rest, at least one segment */
};

struct http_seg {
	enum http_seg_kind kind;
	char *text;		/* literal text or parameter name */
};

/* One `http:` route of the config, compiled at start(). */
struct http_route {
	char *method;		/* "POST", or NULL for ANY */
	char *route_key;	/* "POST /hooks/{id}" as configured */
	char *target;		/* "fn[:qual]" */
	enum spur_mode mode;
	int line;
	const struct spur_route *handle;	/* the host's route, passed back on invoke */
	size_t n_seg;
	struct http_seg *seg;
	size_t n_params;	/* PARAM + GREEDY segments */
	/* verify: (verify.c); SPUR_SIG_NONE when the route has none */
	enum spur_sig_scheme verify;
	char *verify_env;		/* the variable named by secret_env */
	struct spur_sig_key verify_key;	/* .bytes NULL: unset or unusable */
};

/* One TCP connection, for the header watchdog (listen.c). Its thread
 * writes deadline_ns; the watchdog reads it and clears it when it fires.
 * prev/next belong to srv->wlock. */
struct http_conn {
	int fd;
	_Atomic int64_t deadline_ns;	/* 0: not watched right now */
	struct http_conn *prev, *next;
};

/* One daemon's own state: its open connections, counted for the pool
 * mode's connection limit (one atomic per connection, never per request). */
struct http_listener {
	struct spur_http *srv;
	atomic_long n_conns;
};

/* The plugin instance. */
struct spur_http {
	struct spur_host *host;
	struct http_options opt;
	struct MHD_Daemon **daemons;
	size_t n_daemons;
	struct http_route *routes;
	size_t n_routes;
	atomic_bool stopping;
	/* spur_http_requests_total{code="1xx".."5xx"}: handles made at init */
	struct spur_counter *requests[6];
	/* requests past their first callback and not yet completed: stop()
	 * waits for this to reach 0 (the drain). One atomic per request. */
	atomic_long inflight;
	pthread_mutex_t drain_lock;
	pthread_cond_t drained;
	/* libmicrohttpd's log, at most HTTP_LOG_PER_SEC lines a second */
	atomic_llong log_sec;
	atomic_uint log_count, log_dropped;
	/* the header watchdog (listen.c): closes connections whose request
	 * line and headers trickle in past request_timeout (MHD only knows
	 * idleness). wlock guards conns and wstop, never a request. */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	pthread_t wthread;
	bool wstarted, wstop;
	struct http_conn *conns;
	struct http_listener *listeners;	/* one per daemon */
	/* when the watchdog will next look (INT64_MAX: not before a signal);
	 * an arm earlier than this signals wcond, a later one does nothing */
	_Atomic int64_t wplanned;
};

/* What a request turned out to address, decided at the first callback. */
enum http_kind {
	HTTP_KIND_NONE = 0,	/* not classified yet, or plain errors */
	HTTP_KIND_INVOKE,	/* the Lambda Invoke API */
	HTTP_KIND_ROUTE,	/* a configured route */
	HTTP_KIND_HEALTH,	/* GET /healthz */
	HTTP_KIND_READY,	/* GET /readyz */
	HTTP_KIND_METRICS,	/* GET /metrics */
	HTTP_KIND_ADMIN,	/* /admin/...: the core's admin API */
};

/* A run handed to a worker (spur_invoke_start), as the loop and the
 * worker see it: the loop suspends the connection, the worker leaves the
 * result and resumes it, whichever comes second does the resume. */
enum http_run {
	HTTP_RUN_HERE = 0,	/* no run moved */
	HTTP_RUN_MOVED,		/* a worker has it; the loop has not suspended yet */
	HTTP_RUN_SUSPENDED,	/* ... and the connection is suspended */
	HTTP_RUN_DONE,		/* the worker left moved_result */
};

struct http_req;
typedef enum MHD_Result http_answer_fn(struct http_req *rq, struct MHD_Connection *c,
				       struct spur_result *res);

/* One HTTP request; the MHD per-request context. One allocation with its
 * raw_uri; params is one more (pointers and strings in one block). */
struct http_req {
	struct spur_http *srv;
	char *raw_uri;			/* request-target as received (inline) */
	int64_t start_ns;		/* request line seen */
	int64_t deadline_ns;		/* start + request_timeout */
	bool started;			/* first access callback done */
	bool counted;			/* counted in srv->inflight */
	enum http_kind kind;
	uint64_t limit;			/* body limit for this request */
	char *body;
	size_t len, cap;
	char request_id[40];		/* our id for errors before invoke */

	/* HTTP_KIND_INVOKE */
	char *target;			/* decoded FunctionName */
	char *qualifier;		/* ?Qualifier=, or NULL */
	enum spur_mode mode;
	bool log_tail;

	/* HTTP_KIND_ROUTE */
	const struct http_route *route;
	char **params;			/* route->n_params decoded values; one block */

	/* a run on a worker (spur_http_run) */
	_Atomic int run;		/* enum http_run */
	struct MHD_Connection *conn;
	http_answer_fn *answer;		/* how its result is answered */
	struct spur_result *moved_result;
	char *event;			/* its payload, when built here: kept to the end */
};

/* --- reply.c: responses shared by both APIs ----------------------------- */

/* A response around `body` (malloc()ed; moves to MHD, freed here on
 * failure), Content-Type application/json. NULL when out of memory. */
struct MHD_Response *spur_http_response(char *body, size_t len);
/* The same around a jansson value, which it takes (decref'ed here, also
 * when it is NULL: json_pack failed). NULL when out of memory. */
struct MHD_Response *spur_http_json(json_t *o);
/* Add the headers every response of this request carries, queue `resp`
 * with `status` and drop our reference. MHD_NO: drop the connection. */
enum MHD_Result spur_http_queue(struct http_req *rq, struct MHD_Connection *c,
				unsigned status, struct MHD_Response *resp);
/* An error response with a JSON body: {"message": ...} for routes and
 * plain paths, Lambda's {"Type","message"} + x-amzn-ErrorType for the
 * Invoke API. `type` is the Lambda exception name (Invoke API only). */
enum MHD_Result spur_http_error(struct http_req *rq, struct MHD_Connection *c,
				unsigned status, const char *type,
				const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The JSON body of that error (malloc()ed, *len bytes), also written by
 * hand mid-body (http.c's reject_now). `type` is unused here (the header
 * carries it). NULL when out of memory. */
char *spur_http_error_body(struct http_req *rq, unsigned status, const char *type,
			   const char *msg, size_t *len);
/* Our request id (a UUID v4), made on first use. */
const char *spur_http_request_id(struct http_req *rq);
/* Percent-decode [s, s+n) into a new string; `plus` turns '+' into ' '.
 * NULL when out of memory or when it decodes to a NUL byte. */
char *spur_http_pct_decode(const char *s, size_t n, bool plus);
/* A request header (the first one), or NULL. */
const char *spur_http_header(struct MHD_Connection *c, const char *name);
/* The request's headers as invoke attributes (idempotency keys, webhook
 * ids): up to max, in out; how many. Sizes are MHD's, so a NUL inside a
 * value is visible to the core's checks. No allocation. */
#define HTTP_MAX_ATTRS 128
size_t spur_http_attrs(struct MHD_Connection *c, struct spur_attr *out, size_t max);
/* A 409 or 422 as RFC 9457 problem details (application/problem+json). */
enum MHD_Result spur_http_problem(struct http_req *rq, struct MHD_Connection *c,
				  unsigned status, const char *title, const char *detail);
/* Idempotent-Replayed: true on a replayed answer. */
void spur_http_mark_replayed(struct MHD_Response *r, const struct spur_result *res);

/* --- http.c: request intake ---------------------------------------------- */

/* The MHD callbacks listen.c registers. */
enum MHD_Result spur_http_on_access(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version, const char *upload_data,
				    size_t *upload_data_size, void **con_cls);
void *spur_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void spur_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe);
void spur_http_on_log(void *cls, const char *fmt, va_list ap);

/* Run args for rq. True: the run ended on this thread, *res is its result
 * (NULL: out of memory), answer it now. False: it went on on a worker; the
 * connection is suspended until the worker is done, and the access
 * callback then answers through `answer`: return MHD_YES meanwhile.
 * args' payload and raw_body must live until the request ends (rq->body,
 * rq->event). Thread-per-connection mode always runs here. */
bool spur_http_run(struct http_req *rq, struct MHD_Connection *c,
		   const struct spur_invoke_args *args, http_answer_fn *answer,
		   struct spur_result **res);

/* --- listen.c: daemons and the header watchdog --------------------------- */

/* The watchdog's lock and condition; _fini after _stop. */
void spur_http_listen_init(struct spur_http *srv);
void spur_http_listen_fini(struct spur_http *srv);
/* Check every `listen` address; logs the first bad one, -EINVAL. */
int spur_http_listen_check(struct spur_http *srv);
/* Start the watchdog and one daemon per address; undoes all on failure. */
int spur_http_listen_start(struct spur_http *srv);
/* Close the listening sockets; connections go on. */
void spur_http_listen_quiesce(struct spur_http *srv);
/* Stop the daemons (joins connection threads), then the watchdog. */
void spur_http_listen_stop(struct spur_http *srv);
/* Watch this connection until `deadline` (spur_now_ns() clock; 0: stop
 * watching). Lock-free; signals the watchdog only when the deadline is
 * earlier than the one it sleeps toward. */
void spur_http_conn_arm(struct spur_http *srv, struct MHD_Connection *c,
			int64_t deadline);

/* --- invoke_api.c --------------------------------------------------------- */

/* At the first callback, for /2015-03-31/functions/{name}/invocations:
 * validate the method and headers, fill rq (target, qualifier, mode,
 * limit). Returns MHD_YES to go on reading the body, or the result of the
 * error response it queued (then rq->kind stays INVOKE, *queued = true). */
enum MHD_Result spur_http_invoke_begin(struct http_req *rq, struct MHD_Connection *c,
				       const char *method, const char *name_raw,
				       size_t name_len, const char *query,
				       bool *queued);
/* Whole body received: run the invocation and queue its answer. */
enum MHD_Result spur_http_invoke_finish(struct http_req *rq, struct MHD_Connection *c);
/* Map a result's status onto an HTTP status code. */
unsigned spur_http_status_code(enum spur_status st);

/* --- routes.c ----------------------------------------------------------- */

/* Compile the config's http routes into srv->routes; logs and returns
 * -EINVAL for a malformed match string. */
int spur_http_routes_compile(struct spur_http *srv);
void spur_http_routes_free(struct spur_http *srv);
/* Find the route for (method, raw path). Returns 0 and sets rq->route and
 * rq->params; -ENOENT when no route has that path; -EPERM when some has it
 * but not for this method; -EINVAL for a path that decodes to NUL;
 * -ENOMEM. */
int spur_http_routes_match(struct http_req *rq, const char *method,
			   const char *path, size_t path_len);
/* Whole body received: build the v2.0 event (or the CloudEvent), invoke,
 * map the answer. */
enum MHD_Result spur_http_route_finish(struct http_req *rq, struct MHD_Connection *c,
				       const char *method, const char *version);
/* Invoke the route's function with an event built for it; `raw` is what
 * idempotency keys and fingerprints read (the body as received). Always a
 * result; NULL only when out of memory. */
struct spur_result *spur_http_route_invoke(struct http_req *rq, const void *payload,
					   size_t len, const void *raw, size_t raw_len,
					   const struct spur_attr *attrs, size_t n_attrs);
/* The route's answer to a result (takes res; NULL answers 500). */
/* Run one event on rq's route and answer it: now, or once a worker is
 * done (spur_http_run). payload and raw must live until the request ends. */
enum MHD_Result spur_http_route_run(struct http_req *rq, struct MHD_Connection *c,
				    const void *payload, size_t len, const void *raw,
				    size_t raw_len, const struct spur_attr *attrs, size_t n_attrs);
enum MHD_Result spur_http_route_answer(struct http_req *rq, struct MHD_Connection *c,
				       struct spur_result *res);

/* --- verify.c: signature checks of routes -------------------------------- */

/* At compile: read the route's verify.scheme and the secret from the
 * variable verify.secret_env (an unset one is logged, not fatal). 0,
 * -EINVAL (logged) or -ENOMEM. */
int spur_http_verify_compile(struct spur_http *srv, const struct spur_route *sr,
			     struct http_route *r);
void spur_http_verify_fini(struct http_route *r);
/* Whole body received, before the event is built: true when the route
 * needs no signature or the signature is valid; else false after
 * queuing 401 (bad or missing signature, timestamp skew) or 500 (secret
 * unset), whose result is in *ret. */
bool spur_http_verify(struct http_req *rq, struct MHD_Connection *c, enum MHD_Result *ret);

/* --- apigw.c: the API Gateway HTTP API v2.0 format ----------------------- */

struct json_t;
/* The v2.0 event of a routed request as JSON text (malloc()ed,
 * NUL-terminated, *len bytes), or NULL when out of memory. Frees rq->body
 * once it is in the event. */
char *spur_http_apigw_event(struct http_req *rq, struct MHD_Connection *c,
			    const char *method, const char *version, size_t *len);
/* An answer object with statusCode → the HTTP response it describes, or
 * NULL (with *bad when it is malformed rather than out of memory). */
struct MHD_Response *spur_http_apigw_response(struct json_t *o, unsigned *status,
					      bool *bad);
/* Is a body of this Content-Type binary (base64 in events), whatever its bytes? */
bool spur_http_binary_type(const char *content_type);

/* --- cloudevents.c: CloudEvents 1.0 on routes (HTTP binding, JSON format) - */

enum http_ce_mode {
	HTTP_CE_NONE = 0,	/* not a CloudEvent: an API Gateway event */
	HTTP_CE_BINARY,		/* ce-specversion header: attributes in ce-* headers */
	HTTP_CE_STRUCTURED,	/* application/cloudevents+json */
	HTTP_CE_BATCH,		/* application/cloudevents-batch+json */
	HTTP_CE_UNSUPPORTED,	/* application/cloudevents+<another format>: 415 */
};

/* Which mode a routed request is in (its headers only). */
enum http_ce_mode spur_http_ce_mode(struct MHD_Connection *c);
/* Whole body received, signature checked: build the event(s), invoke,
 * answer (400 naming what is wrong with the event). */
enum MHD_Result spur_http_ce_finish(struct http_req *rq, struct MHD_Connection *c,
				    enum http_ce_mode mode);

#endif
