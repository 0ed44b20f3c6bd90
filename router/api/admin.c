/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the admin API under /admin/: who may call it, the replies,
 * the dispatch of every path, and the event, reload and mapping
 * endpoints. The queue endpoints (counts, peek, replay, purge) live in
 * admin_queues.c, which admin.c routes to after auth.
 *
 *   auth     admin.token_env names a variable; when it is set and not
 *            empty, every call needs "Authorization: Bearer <token>",
 *            compared in constant time. Unset: loopback peers only.
 *            Credentials in the query string are refused even when
 *            right (they end up in logs and browser histories). Every
 *            refusal is logged, without what was presented.
 *   GET    /admin/queues                          counts of every known queue
 *   GET    /admin/queues/{name}                   counts of one queue
 *   GET    /admin/queues/{name}/messages?n=&offset=   read, not removed
 *   POST   /admin/queues/{name}/replay[?max=&offset=] {"to": "fn[:qual]"}
 *   DELETE /admin/queues/{name}                   purge
 *   POST   /admin/reload                          reload the config
 *   GET    /admin/events/{id}                     an async event's state
 *   GET    /admin/mappings                        event-source mappings and their state
 *   POST   /admin/mappings/{i}/pause | resume     stop / start polling
 *
 * Queue intake is served here too but is ingress, not management (like
 * the Invoke API): no admin token.
 *   POST   /queues/{name}/messages                the body is one message → {"MessageId"}
 *   POST   /queues/{name}/messages/batch          a JSON array of bodies → {"MessageIds"}
 *          (a string element is the body itself, anything else its JSON text);
 *          a queue at its max_depth answers 503 (the HTTP source adds Retry-After)
 *
 * Threads: any caller thread (the HTTP source's); no state of its own.
 * Cost: an event lookup is one or two store reads; the queue endpoints'
 * costs are in admin_queues.c.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "admin_priv.h"
#include "config.h"
#include "version.h"
#include "queue.h"
#include "lambda_api.h"
#include "log.h"
#include "mapping.h"
#include "util.h"

#define MAX_SEGMENT 256
#define EVENT_NS "event"		/* async.c: outcomes of finished events */
#define INTAKE_BATCH_MAX 10000

struct spur_admin_reply {
	unsigned status;
	char *body;
	size_t len;
	const char *error_type;		/* static: x-amzn-ErrorType, or NULL */
};

/* --- replies ---------------------------------------------------------------- */

struct spur_admin_reply *spur_admin_reply_json(unsigned status, json_t *o)
{
	struct spur_admin_reply *r = calloc(1, sizeof(*r));
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(o);
	if (!r || !s) {
		free(r);
		free(s);
		return NULL;
	}
	r->status = status;
	r->body = s;
	r->len = strlen(s);
	return r;
}

struct spur_admin_reply *spur_admin_reply_errorf(unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s}", "message", msg);
	if (!o)		/* not UTF-8 (a name from the path): say it without it */
		o = json_pack("{s:s}", "message", "bad request");
	return spur_admin_reply_json(status, o);
}

struct spur_admin_reply *spur_admin_reply_new(unsigned status, char *body, size_t len,
					       const char *error_type)
{
	struct spur_admin_reply *r = body ? calloc(1, sizeof(*r)) : NULL;
	if (!r) {
		free(body);
		return NULL;
	}
	r->status = status;
	r->body = body;
	r->len = len;
	r->error_type = error_type;
	return r;
}

SPUR_API const char *spur_admin_reply_error_type(const struct spur_admin_reply *r)
{
	return r->error_type;
}

SPUR_API void spur_admin_reply_free(struct spur_admin_reply *r)
{
	if (!r)
		return;
	free(r->body);
	free(r);
}

SPUR_API unsigned spur_admin_reply_status(const struct spur_admin_reply *r)
{
	return r->status;
}

SPUR_API const char *spur_admin_reply_body(const struct spur_admin_reply *r, size_t *len)
{
	if (len)
		*len = r->len;
	return r->body;
}

SPUR_API const char *spur_admin_reply_content_type(const struct spur_admin_reply *r)
{
	(void)r;
	return "application/json";
}

/* --- small parsing helpers -------------------------------------------------- */


/* Call fn for each name=value pair of a raw query string (decoded).
 * Stops and returns true when fn does. */
static bool query_each(const char *q, bool (*fn)(void *ud, const char *name, const char *value),
		       void *ud)
{
	char name[MAX_SEGMENT], value[1024];
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		size_t nl = eq ? (size_t)(eq - q) : n;
		if (n && spur_pct_decode(name, sizeof(name), q, nl, true) >= 0 &&
		    spur_pct_decode(value, sizeof(value), eq ? eq + 1 : q + n,
			       eq ? n - nl - 1 : 0, true) >= 0 && fn(ud, name, value))
			return true;
		q = amp ? amp + 1 : NULL;
	}
	return false;
}

struct param {
	const char *name;
	char value[64];
	bool found;
};

static bool param_cb(void *ud, const char *name, const char *value)
{
	struct param *p = ud;
	if (strcmp(name, p->name) != 0)
		return false;
	snprintf(p->value, sizeof(p->value), "%s", value);
	p->found = true;
	return true;
}

int spur_admin_query_size(const char *q, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
	struct param p = { .name = name };
	if (!query_each(q, param_cb, &p))
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(p.value, &end, 10);
	if (errno || end == p.value || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 1;
}

/* --- auth ---------------------------------------------------------------------- */

bool spur_admin_token_equal(const char *given, size_t given_len, const char *want)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)given, given_len, a);
	SHA256((const unsigned char *)want, strlen(want), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

struct query_cred {
	const char *token;	/* the configured token, or NULL */
};

/* A query parameter that carries (or looks meant to carry) credentials. */
static bool cred_cb(void *ud, const char *name, const char *value)
{
	const struct query_cred *qc = ud;
	static const char *const names[] = {
		"auth", "authorization", "bearer", "key", "apikey", "api_key", "api-key",
		"password", "secret",
	};
	if (strcasestr(name, "token"))
		return true;
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(names); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return qc->token && spur_admin_token_equal(value, strlen(value), qc->token);
}

static void refused(struct spur_admin_call *c, unsigned status, const char *path, bool loopback,
		    const char *why)
{
	spur_log_write(c->api->log, SPUR_LOG_WARN, NULL,
		       "admin: %s %.200s from a %s peer refused (%u): %s", c->method, path,
		       loopback ? "loopback" : "remote", status, why);
}

/* NULL when the caller may go on, else the refusal to send. */
static struct spur_admin_reply *authorize(struct spur_admin_call *c, const char *path,
					  const char *query, const char *authorization,
					  bool loopback)
{
	const struct spur_config *cfg = c->api->config;
	const char *var = cfg->admin_token_env;
	const char *token = var && *var ? getenv(var) : NULL;
	struct query_cred qc = { .token = token && *token ? token : NULL };

	if (query_each(query, cred_cb, &qc)) {
		refused(c, 401, path, loopback, "credentials in the query string");
		return spur_admin_reply_errorf(401, "credentials are not accepted in the query string; "
					       "send Authorization: Bearer <token>");
	}
	if (!qc.token) {
		if (loopback)
			return NULL;
		refused(c, 403, path, loopback, "no admin token is configured");
		return spur_admin_reply_errorf(403, "no admin token is configured ($%s): only loopback "
					       "clients may use the admin API", var && *var ? var : "SPUR_ADMIN_TOKEN");
	}
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
		refused(c, 401, path, loopback, authorization ? "not a bearer token" : "no token");
		return spur_admin_reply_errorf(401, "missing bearer token (Authorization: Bearer <token>)");
	}
	const char *given = authorization + 7;
	while (*given == ' ')
		given++;
	if (!spur_admin_token_equal(given, strlen(given), qc.token)) {
		refused(c, 401, path, loopback, "wrong token");
		return spur_admin_reply_errorf(401, "invalid token");
	}
	return NULL;
}

/* --- events -------------------------------------------------------------------- */

struct found {
	bool in_async;
	json_t *attrs;
	json_t *value;
};

static void event_msg_cb(void *ud, const struct spur_msg *m)
{
	struct found *f = ud;
	if (strcmp(m->queue, SPUR_QUEUE_ASYNC) != 0)
		return;
	f->in_async = true;
	f->attrs = m->attrs ? json_loadb(m->attrs, m->attrs_len, 0, NULL) : NULL;
}

static void event_key_cb(void *ud, const char *value, size_t len)
{
	struct found *f = ud;
	f->value = json_loadb(value, len, 0, NULL);
}

/* "errorType: errorMessage" of a failed record, or NULL. */
static json_t *record_error(json_t *record)
{
	json_t *resp = json_object_get(record, "responsePayload");
	const char *t = json_string_value(json_object_get(resp, "errorType"));
	const char *m = json_string_value(json_object_get(resp, "errorMessage"));
	if (!json_string_value(json_object_get(json_object_get(record, "responseContext"),
					       "functionError")) || (!t && !m))
		return json_null();
	char buf[512];
	snprintf(buf, sizeof(buf), "%s: %s", t ? t : "Error", m ? m : "");
	json_t *s = json_string(buf);
	return s ? s : json_null();
}

static struct spur_admin_reply *event_get(struct spur_admin_call *c, const char *id)
{
	struct found f = { 0 };
	json_t *o = NULL;
	if (strlen(id) > 64 || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
		return spur_admin_reply_errorf(404, "no event %.64s (event ids are UUIDs)", id);
	int rc = c->st->get(c->si, id, event_msg_cb, &f);
	if (rc >= 0 && f.in_async) {
		json_int_t attempts = json_integer_value(json_object_get(f.attrs, "attempts"));
		json_t *err = json_object_get(f.attrs, "error");
		o = json_pack("{s:s, s:s, s:I, s:O, s:n, s:n}", "id", id,
			      "state", attempts ? "retrying" : "queued", "attempts", attempts,
			      "lastError", err ? err : json_null(), "condition", "record");
	} else if (rc >= 0 && (rc = c->st->key_get(c->si, EVENT_NS, id, event_key_cb, &f)) == 1 &&
		   f.value) {
		json_t *record = json_object_get(f.value, "record");
		json_t *cond = json_object_get(f.value, "condition");
		const char *state = json_string_value(json_object_get(f.value, "state"));
		o = json_pack("{s:s, s:s, s:I, s:o, s:O, s:O}", "id", id,
			      "state", state ? state : "done",
			      "attempts", json_integer_value(json_object_get(f.value, "attempts")),
			      "lastError", record_error(record),
			      "condition", cond ? cond : json_null(),
			      "record", record ? record : json_null());
	} else if (rc >= 0) {
		json_decref(f.attrs);
		json_decref(f.value);
		return spur_admin_reply_errorf(404, "no event %s (unknown, or finished more than a day ago)", id);
	}
	json_decref(f.attrs);
	json_decref(f.value);
	if (rc < 0)
		return spur_admin_reply_errorf(500, "could not read event %s: %s", id, spur_strerror(rc));
	return spur_admin_reply_json(200, o);
}

/* --- mappings --------------------------------------------------------------------- */


static struct spur_admin_reply *mappings_route(struct spur_admin_call *c,
					       char (*seg)[MAX_SEGMENT], size_t n)
{
	struct spur_mappings *m = c->api->mappings;
	if (n == 1) {
		if (strcmp(c->method, "GET") != 0)
			return spur_admin_not_allowed(c->method, "GET");
		json_t *l = spur_mappings_describe(m);
		return l ? spur_admin_reply_json(200, l) : NULL;
	}
	char *end;
	unsigned long i = strtoul(seg[1], &end, 10);
	if (n != 3 || *end || end == seg[1] ||
	    (strcmp(seg[2], "pause") != 0 && strcmp(seg[2], "resume") != 0))
		return spur_admin_reply_errorf(404, "no admin endpoint /admin/mappings/%s%s%s", seg[1],
					       n > 2 ? "/" : "", n > 2 ? seg[2] : "");
	if (strcmp(c->method, "POST") != 0)
		return spur_admin_not_allowed(c->method, "POST");
	if (spur_mappings_pause(m, i, seg[2][0] == 'p') < 0)
		return spur_admin_reply_errorf(404, "no mapping %lu", i);
	return spur_admin_reply_json(200, json_pack("{s:I, s:s}", "index", (json_int_t)i, "state",
						    seg[2][0] == 'p' ? "paused" : "enabled"));
}

/* --- queue intake (ingress: no admin token) ---------------------------------------- */

static struct spur_admin_reply *put_reply(const struct spur_api *api, const char *queue, int rc)
{
	if (rc == -EAGAIN)
		return spur_admin_reply_errorf(503, "queue %s is at its maximum depth; retry later", queue);
	if (rc == -ENOSPC)
		return spur_admin_reply_errorf(503, "the disk is full; retry later");
	if (rc == -ENODEV)
		return spur_admin_reply_errorf(503, "no store is open");
	if (rc == -ENOENT)
		return spur_admin_reply_errorf(404, "no queue named %s", queue);
	spur_log_write(api->log, SPUR_LOG_WARN, NULL, "queue %s: intake failed: %s",
		       queue, spur_strerror(rc));
	return spur_admin_reply_errorf(500, "queue %s: %s", queue, spur_strerror(rc));
}

static struct spur_admin_reply *intake_batch(const struct spur_api *api, const char *queue,
					     const char *body, size_t len)
{
	json_error_t e;
	json_t *a = json_loadb(body, len, 0, &e);
	struct spur_admin_reply *r = NULL;
	size_t n = json_array_size(a);
	const char **bodies = NULL;
	size_t *lens = NULL;
	char **owned = NULL;
	char (*ids)[37] = NULL;
	if (!json_is_array(a) || n == 0 || n > INTAKE_BATCH_MAX) {
		r = spur_admin_reply_errorf(400, "the body must be a JSON array of 1 to %d message bodies",
					    INTAKE_BATCH_MAX);
		goto done;
	}
	bodies = calloc(n, sizeof(*bodies));
	lens = calloc(n, sizeof(*lens));
	owned = calloc(n, sizeof(*owned));
	ids = calloc(n, sizeof(*ids));
	if (!bodies || !lens || !owned || !ids)
		goto done;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		if (json_is_string(v)) {
			bodies[i] = json_string_value(v);
			lens[i] = json_string_length(v);
		} else {
			if (!(owned[i] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
				goto done;
			bodies[i] = owned[i];
			lens[i] = strlen(owned[i]);
		}
	}
	int rc = spur_queue_put(api->mappings, queue, bodies, lens, n, ids);
	if (rc < 0) {
		r = put_reply(api, queue, rc);
		goto done;
	}
	json_t *list = json_array();
	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, json_string(ids[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	r = list ? spur_admin_reply_json(200, json_pack("{s:o}", "MessageIds", list)) : NULL;
done:
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	free(bodies);
	free(lens);
	free(ids);
	json_decref(a);
	return r;
}

/* POST /queues/{name}/messages[/batch] */
static struct spur_admin_reply *queue_intake(const struct spur_api *api, const char *method,
					     const char *path, const char *body, size_t len)
{
	char name[MAX_SEGMENT];
	const char *s = path + strlen("/queues/");
	const char *slash = strchr(s, '/');
	if (!slash || spur_pct_decode(name, sizeof(name), s, (size_t)(slash - s), false) <= 0)
		return spur_admin_reply_errorf(404, "no endpoint %.200s (POST /queues/{name}/messages)", path);
	bool batch = strcmp(slash, "/messages/batch") == 0;
	if (!batch && strcmp(slash, "/messages") != 0)
		return spur_admin_reply_errorf(404, "no endpoint %.200s "
					       "(POST /queues/{name}/messages[/batch])", path);
	if (strcmp(method, "POST") != 0)
		return spur_admin_not_allowed(method, "POST");
	if (!spur_config_queue(api->config, name))
		return spur_admin_reply_errorf(404, "no queue named %s", name);
	if (batch)
		return intake_batch(api, name, body, len);
	char id[37];
	char ids[1][37];
	const char *b = body;
	int rc = spur_queue_put(api->mappings, name, &b, &len, 1, ids);
	memcpy(id, ids[0], sizeof(ids[0]));
	return rc < 0 ? put_reply(api, name, rc) :
		spur_admin_reply_json(200, json_pack("{s:s}", "MessageId", id));
}

/* --- dispatch -------------------------------------------------------------------- */

struct spur_admin_reply *spur_admin_not_allowed(const char *method, const char *allowed)
{
	return spur_admin_reply_errorf(405, "method %s not allowed here (allowed: %s)", method, allowed);
}

static struct spur_admin_reply *route(struct spur_admin_call *c, const char *path,
				      const char *query, const char *body, size_t len)
{
	char seg[4][MAX_SEGMENT];
	size_t n = 0;
	const char *m = c->method;
	const char *p = path + strlen("/admin");

	/* segments after /admin, decoded; a trailing slash is ignored */
	while (*p == '/' && p[1]) {
		const char *s = p + 1, *e = strchr(s, '/');
		size_t sl = e ? (size_t)(e - s) : strlen(s);
		if (sl == 0 || n == SPUR_ARRAY_SIZE(seg))
			return spur_admin_reply_errorf(404, "no admin endpoint %.200s", path);
		if (spur_pct_decode(seg[n], sizeof(seg[n]), s, sl, false) <= 0)
			return spur_admin_reply_errorf(400, "malformed path");
		n++;
		p = s + sl;
	}
	if (n >= 1 && strcmp(seg[0], "queues") == 0) {
		if (n == 1) {
			if (strcmp(m, "GET") != 0)
				return spur_admin_not_allowed(m, "GET");
			int rc;
			json_t *l = spur_admin_queue_stats(c, NULL, &rc);
			return l ? spur_admin_reply_json(200, l) :
				spur_admin_reply_errorf(500, "could not count queues: %s", spur_strerror(rc));
		}
		const char *name = seg[1];
		if (n > 3 || (n == 3 && strcmp(seg[2], "messages") != 0 && strcmp(seg[2], "replay") != 0))
			return spur_admin_reply_errorf(404, "no admin endpoint %.200s", path);
		if (!spur_admin_queue_known(c->api, name))
			return spur_admin_reply_errorf(404, "no queue named %s", name);
		if (n == 2) {
			if (strcmp(m, "DELETE") == 0)
				return spur_admin_queue_purge(c, name);
			if (strcmp(m, "GET") != 0)
				return spur_admin_not_allowed(m, "GET, DELETE");
			int rc;
			json_t *l = spur_admin_queue_stats(c, name, &rc);
			json_t *o = json_incref(json_array_get(l, 0));
			json_decref(l);
			return o ? spur_admin_reply_json(200, o) :
				spur_admin_reply_errorf(500, "could not count queue %s: %s", name, spur_strerror(rc));
		}
		if (strcmp(seg[2], "messages") == 0)
			return strcmp(m, "GET") == 0 ? spur_admin_queue_peek(c, name, query) :
				spur_admin_not_allowed(m, "GET");
		return strcmp(m, "POST") == 0 ? spur_admin_queue_replay(c, name, query, body, len) :
			spur_admin_not_allowed(m, "POST");
	}
	if (n == 1 && strcmp(seg[0], "reload") == 0) {
		if (strcmp(m, "POST") != 0)
			return spur_admin_not_allowed(m, "POST");
		char why[8192];
		if (c->api->reload(c->api->reload_ud, why, sizeof(why)) < 0)
			return spur_admin_reply_errorf(400, "reload refused; the running config stays: %s", why);
		return spur_admin_reply_json(200, json_pack("{s:s, s:s}", "status", "reloaded",
						  "warnings", why));
	}
	if (n == 2 && strcmp(seg[0], "events") == 0)
		return strcmp(m, "GET") == 0 ? event_get(c, seg[1]) : spur_admin_not_allowed(m, "GET");
	if (n >= 1 && strcmp(seg[0], "mappings") == 0)
		return mappings_route(c, seg, n);
	return spur_admin_reply_errorf(404, "no admin endpoint %.200s", path);
}

struct spur_admin_reply *spur_api_handle(const struct spur_api *api, const char *method,
					 const char *path, const char *query,
					 const char *body, size_t len,
					 const char *authorization, bool loopback_peer)
{
	struct spur_admin_call c = { .api = api, .method = method ? method : "GET" };
	struct spur_admin_reply *r;
	if (path && strncmp(path, "/queues/", 8) == 0)	/* ingress, authorized as such */
		return queue_intake(api, c.method, path, body ? body : "", len);
	bool lambda = path && spur_lambda_api_path(path);
	if (!path || (!lambda && (strncmp(path, "/admin", 6) != 0 || (path[6] && path[6] != '/'))))
		return spur_admin_reply_errorf(404, "not an admin path");
	if ((r = authorize(&c, path, query, authorization, loopback_peer)))
		return r;
	if (lambda)	/* the Lambda management API: same auth as /admin/ */
		return spur_lambda_api_handle(api, c.method, path, query, body, len);
	c.st = api->store;
	c.si = api->store_instance;
	if (!c.st)
		return spur_admin_reply_errorf(503, "no store is open: the admin API needs one "
					       "(store:, state_dir)");
	return route(&c, path, query, body, len);
}
