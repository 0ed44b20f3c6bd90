/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the admin API under /admin/: who may call it, and the queue
 * and event endpoints.
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
 * Replay runs each message again: a record in "undeliverable" goes back
 * to the outbox (the store MOVE, then the outbox thread is told);
 * otherwise the message body becomes a new async event of `to`, stored
 * in the same atomic batch that deletes the message (a crash replays it
 * either not at all or once, never loses it). "async" and "outbox" are being
 * worked on by their own threads and cannot be replayed or purged.
 *
 * Threads: any caller thread (the HTTP source's); no state of its own.
 * Cost: reads page through the store PAGE messages at a time; a replay
 * writes (and, with sync: full, fsyncs) once per message.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin.h"
#include "version.h"
#include "async.h"
#include "function.h"
#include "host.h"
#include "invoke.h"
#include "json.h"
#include "lambda_api.h"
#include "log.h"
#include "mapping.h"
#include "outbox.h"
#include "util.h"

#define PAGE 64
#define PEEK_DEFAULT 10
#define PEEK_MAX 1000
#define EVENT_NS "event"		/* async.c: outcomes of finished events */
#define MAX_SEGMENT 256
#define INTAKE_BATCH_MAX 10000

struct spur_admin_reply {
	unsigned status;
	char *body;
	size_t len;
	const char *error_type;		/* static: x-amzn-ErrorType, or NULL */
};

/* One call: the host and its store. */
struct call {
	struct spur_host *host;
	const struct spur_store *st;
	void *si;
	const char *method;
};

static const char *const builtin_queues[] = {
	SPUR_ADMIN_QUEUE_ASYNC, SPUR_ADMIN_QUEUE_OUTBOX, SPUR_ADMIN_QUEUE_UNDELIVERABLE,
};

/* --- replies ---------------------------------------------------------------- */

/* A reply with `o` as its body (reference stolen). NULL: out of memory. */
static struct spur_admin_reply *reply_json(unsigned status, json_t *o)
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

static struct spur_admin_reply *reply_error(unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct spur_admin_reply *reply_error(unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s}", "message", msg);
	if (!o)		/* not UTF-8 (a name from the path): say it without it */
		o = json_pack("{s:s}", "message", "bad request");
	return reply_json(status, o);
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

/* ?name=N as a number in [lo, hi]: 1 found, 0 absent, -1 malformed. */
static int query_size(const char *q, const char *name, int64_t lo, int64_t hi, int64_t *out)
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

static void refused(struct call *c, unsigned status, const char *path, bool loopback,
		    const char *why)
{
	spur_log_write(spur_host_log(c->host), SPUR_LOG_WARN, NULL,
		       "admin: %s %.200s from a %s peer refused (%u): %s", c->method, path,
		       loopback ? "loopback" : "remote", status, why);
}

/* NULL when the caller may go on, else the refusal to send. */
static struct spur_admin_reply *authorize(struct call *c, const char *path, const char *query,
					  const char *authorization, bool loopback)
{
	const struct spur_config *cfg = spur_host_config(c->host);
	const char *var = cfg->admin_token_env;
	const char *token = var && *var ? getenv(var) : NULL;
	struct query_cred qc = { .token = token && *token ? token : NULL };

	if (query_each(query, cred_cb, &qc)) {
		refused(c, 401, path, loopback, "credentials in the query string");
		return reply_error(401, "credentials are not accepted in the query string; "
				   "send Authorization: Bearer <token>");
	}
	if (!qc.token) {
		if (loopback)
			return NULL;
		refused(c, 403, path, loopback, "no admin token is configured");
		return reply_error(403, "no admin token is configured ($%s): only loopback "
				   "clients may use the admin API", var && *var ? var : "SPUR_ADMIN_TOKEN");
	}
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
		refused(c, 401, path, loopback, authorization ? "not a bearer token" : "no token");
		return reply_error(401, "missing bearer token (Authorization: Bearer <token>)");
	}
	const char *given = authorization + 7;
	while (*given == ' ')
		given++;
	if (!spur_admin_token_equal(given, strlen(given), qc.token)) {
		refused(c, 401, path, loopback, "wrong token");
		return reply_error(401, "invalid token");
	}
	return NULL;
}

/* --- queues ---------------------------------------------------------------------- */

bool spur_admin_queue_known(const struct spur_host *host, const char *name)
{
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(builtin_queues); i++)
		if (strcmp(name, builtin_queues[i]) == 0)
			return true;
	return spur_config_queue(spur_host_config(host), name) != NULL;
}

static bool queue_worked(const char *name)
{
	return strcmp(name, SPUR_ADMIN_QUEUE_ASYNC) == 0 || strcmp(name, SPUR_ADMIN_QUEUE_OUTBOX) == 0;
}

static json_t *queue_entry(json_t *list, const char *name)
{
	json_t *o = json_pack("{s:s, s:I, s:I}", "name", name, "visible", (json_int_t)0,
			      "delayed", (json_int_t)0);
	if (o && json_array_append_new(list, o) < 0)
		return NULL;
	return o;
}

static void stats_cb(void *ud, const struct spur_queue_stats *s)
{
	json_t *list = ud;
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "name")), s->queue) == 0) {
			json_object_set_new(o, "visible", json_integer((json_int_t)s->visible));
			json_object_set_new(o, "delayed", json_integer((json_int_t)s->delayed));
		}
	}
}

static json_t *queue_stats(struct call *c, const char *only, int *rc);

/* Each entry gets inFlight (leased: counted as delayed) and, for a queue
 * with a dead_letter, that queue's name and depth. */
static void dead_letter_counts(struct call *c, json_t *list)
{
	const struct spur_config *cfg = spur_host_config(c->host);
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const struct spur_queue_config *q = spur_config_queue(cfg, name);
		json_object_set(o, "inFlight", json_object_get(o, "delayed"));
		if (!q || !q->dead_letter)
			continue;
		int rc;
		json_t *dl = queue_stats(c, q->dead_letter, &rc);
		json_t *d = json_array_get(dl, 0);
		json_object_set_new(o, "deadLetter", json_string(q->dead_letter));
		json_object_set_new(o, "deadLettered", json_integer(
			json_integer_value(json_object_get(d, "visible")) +
			json_integer_value(json_object_get(d, "delayed"))));
		json_decref(dl);
	}
}

/* The known queues with their counts: built-in ones first, then the
 * configured ones in config order. NULL and *rc when the store failed. */
static json_t *queue_stats(struct call *c, const char *only, int *rc)
{
	const struct spur_config *cfg = spur_host_config(c->host);
	json_t *list = json_array();
	*rc = -ENOMEM;
	if (!list)
		return NULL;
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(builtin_queues); i++)
		if ((!only || strcmp(only, builtin_queues[i]) == 0) &&
		    !queue_entry(list, builtin_queues[i]))
			goto fail;
	for (size_t i = 0; i < cfg->n_queues; i++) {
		const char *name = cfg->queues[i].name;
		bool builtin = false;
		for (size_t k = 0; k < SPUR_ARRAY_SIZE(builtin_queues); k++)
			builtin |= strcmp(name, builtin_queues[k]) == 0;
		if (!builtin && (!only || strcmp(only, name) == 0) && !queue_entry(list, name))
			goto fail;
	}
	*rc = c->st->stats(c->si, spur_store_now_ms(), stats_cb, list);
	if (*rc < 0)
		goto fail;
	dead_letter_counts(c, list);
	return list;
fail:
	json_decref(list);
	return NULL;
}

static uint64_t queue_depth(struct call *c, const char *name)
{
	int rc;
	json_t *l = queue_stats(c, name, &rc);
	json_t *o = json_array_get(l, 0);
	uint64_t n = (uint64_t)(json_integer_value(json_object_get(o, "visible")) +
				json_integer_value(json_object_get(o, "delayed")));
	json_decref(l);
	return n;
}

static void rfc3339(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* A JSON value for stored JSON text; text that does not parse stays a string. */
static json_t *json_of(const char *s, size_t n, bool object)
{
	if (!s)
		return object ? json_object() : json_null();
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY, NULL);
	return v ? v : json_stringn_nocheck(s, n);
}

struct collect {
	json_t *list;
	bool failed;
};

static void peek_cb(void *ud, const struct spur_msg *m)
{
	struct collect *col = ud;
	char acc[32], vis[32];
	rfc3339(m->accepted_ms, acc);
	rfc3339(m->visible_ms, vis);
	json_t *o = json_pack("{s:s, s:o, s:o, s:I, s:s, s:s}", "id", m->id,
			      "body", json_of(m->body, m->body_len, false),
			      "attributes", json_of(m->attrs, m->attrs_len, true),
			      "receiveCount", (json_int_t)m->receive_count,
			      "acceptedAt", acc, "visibleAt", vis);
	if (!o || json_array_append_new(col->list, o) < 0)
		col->failed = true;
}

static struct spur_admin_reply *queue_peek(struct call *c, const char *name, const char *query)
{
	int64_t n = PEEK_DEFAULT, offset = 0;
	int got = query_size(query, "n", 1, INT64_MAX, &n);
	if (got < 0 || query_size(query, "offset", 0, INT64_MAX / 2, &offset) < 0)
		return reply_error(400, "n and offset must be whole numbers (n at least 1)");
	if (n > PEEK_MAX)
		n = PEEK_MAX;
	struct collect col = { .list = json_array() };
	if (!col.list)
		return NULL;
	int rc = c->st->peek(c->si, name, (size_t)offset, (size_t)n, peek_cb, &col);
	if (rc < 0 || col.failed) {
		json_decref(col.list);
		return reply_error(500, "could not read queue %s: %s", name,
				   spur_strerror(rc < 0 ? rc : -ENOMEM));
	}
	return reply_json(200, col.list);
}

static struct spur_admin_reply *queue_purge(struct call *c, const char *name)
{
	if (queue_worked(name))
		return reply_error(409, "queue %s is being worked on by spur itself; it cannot be purged", name);
	int64_t n = c->st->purge(c->si, name);
	if (n < 0)
		return reply_error(500, "could not purge queue %s: %s", name, spur_strerror((int)n));
	spur_log_write(spur_host_log(c->host), SPUR_LOG_WARN, NULL,
		       "admin: queue %s purged: %lld message(s) deleted", name, (long long)n);
	return reply_json(200, json_pack("{s:I}", "purged", (json_int_t)n));
}

/* --- replay ---------------------------------------------------------------------- */

/* A page of messages, copied out of the store's callback. */
struct page {
	struct spur_msg m[PAGE];
	size_t n;
	bool failed;
};

static void page_cb(void *ud, const struct spur_msg *m)
{
	struct page *p = ud;
	if (p->n >= PAGE)
		return;
	struct spur_msg *d = &p->m[p->n];
	*d = *m;
	d->id = strdup(m->id);
	d->queue = strdup(m->queue);
	d->body = malloc(m->body_len + 1);
	d->attrs = m->attrs ? malloc(m->attrs_len + 1) : NULL;
	p->n++;
	if (!d->id || !d->queue || !d->body || (m->attrs && !d->attrs)) {
		p->failed = true;
		return;
	}
	memcpy((char *)d->body, m->body, m->body_len);
	((char *)d->body)[m->body_len] = '\0';
	if (m->attrs) {
		memcpy((char *)d->attrs, m->attrs, m->attrs_len);
		((char *)d->attrs)[m->attrs_len] = '\0';
	}
}

static void page_clear(struct page *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free((char *)p->m[i].id);
		free((char *)p->m[i].queue);
		free((char *)p->m[i].body);
		free((char *)p->m[i].attrs);
	}
	p->n = 0;
	p->failed = false;
}

/* Where a replay sends messages: a function, or back to the outbox. */
struct replay_to {
	struct spur_async *async;	/* with fn */
	struct spur_fn *fn;
	const char *qual;
	size_t qual_len;
	struct spur_outbox *outbox;	/* without fn: undeliverable → outbox */
};

static bool replay_one(struct call *c, const char *queue, const struct replay_to *to,
		       const struct spur_msg *m)
{
	const struct spur_log *log = spur_host_log(c->host);
	char why[256];
	int rc;
	if (to->fn) {
		struct spur_json_error jerr;
		char id[37];
		if (spur_json_check(m->body, m->body_len, &jerr) < 0) {
			spur_log_write(log, SPUR_LOG_WARN, NULL, "admin: replay of %s message %s: "
				       "its body is not JSON (%s); left in the queue", queue, m->id, jerr.text);
			return false;
		}
		spur_uuid(id);
		/* the new event and the message's removal: one atomic batch */
		struct spur_store_op del = { .kind = SPUR_STORE_DELETE, .id = m->id };
		rc = spur_async_submit(to->async, to->fn, to->qual, to->qual_len, m->body,
				       m->body_len, id, 0, &del, NULL, why, sizeof(why));
		if (rc < 0) {
			spur_log_write(log, SPUR_LOG_WARN, NULL, "admin: replay of %s message %s: %s; "
				       "left in the queue", queue, m->id, why);
			return false;
		}
		spur_log_write(log, SPUR_LOG_INFO, &(struct spur_log_ctx){ .request_id = id },
			       "admin: %s message %s replayed as async event %s", queue, m->id, id);
		return true;
	}
	int64_t now = spur_store_now_ms();
	struct spur_store_op op = {
		.kind = SPUR_STORE_MOVE, .id = m->id, .queue = SPUR_ADMIN_QUEUE_OUTBOX, .visible_ms = now,
	};
	rc = c->st->apply(c->si, &op, 1, NULL);
	if (rc < 0) {
		spur_log_write(log, SPUR_LOG_WARN, NULL, "admin: replay of %s record %s: %s",
			       queue, m->id, spur_strerror(rc));
		return false;
	}
	struct spur_msg moved = *m;
	moved.queue = SPUR_ADMIN_QUEUE_OUTBOX;
	moved.visible_ms = now;
	rc = spur_outbox_adopt(to->outbox, &moved);
	if (rc < 0) {	/* in the outbox now; a restart tries it again */
		spur_log_write(log, SPUR_LOG_WARN, NULL, "admin: record %s moved to the outbox but "
			       "not delivered now: %s", m->id, spur_strerror(rc));
		return false;
	}
	return true;
}

/* Parse {"to": "fn[:qual]"} (or an empty body) into `to`. NULL on success. */
static struct spur_admin_reply *replay_target(struct call *c, const char *name,
					      const char *body, size_t len,
					      struct replay_to *to, json_t **keep)
{
	size_t i = 0;
	while (i < len && strchr(" \t\r\n", body[i]))
		i++;
	const char *target = NULL;
	if (i < len) {
		*keep = json_loadb(body, len, 0, NULL);
		if (!json_is_object(*keep))
			return reply_error(400, "the body must be a JSON object: {\"to\": \"fn[:qual]\"}");
		json_t *t = json_object_get(*keep, "to");
		if (t && !json_is_null(t) && !json_is_string(t))
			return reply_error(400, "\"to\" must be a string: fn[:qual]");
		target = json_string_value(t);
	}
	if (!target) {
		if (strcmp(name, SPUR_ADMIN_QUEUE_UNDELIVERABLE) != 0)
			return reply_error(400, "replaying queue %s needs a function: {\"to\": \"fn[:qual]\"}",
					   name);
		to->outbox = spur_host_outbox(c->host);
		return to->outbox ? NULL : reply_error(503, "the outbox is not running");
	}
	const char *fname;
	size_t flen;
	char why[256];
	if (spur_invoke_parse_target(target, NULL, &fname, &flen, &to->qual, &to->qual_len,
				     why, sizeof(why)) < 0)
		return reply_error(400, "\"to\": %s", why);
	to->fn = spur_registry_find(spur_host_registry(c->host), fname, flen);
	if (!to->fn)
		return reply_error(404, "no function named %.*s", (int)flen, fname);
	if (to->qual && !spur_fn_version(to->fn, to->qual, to->qual_len, NULL))
		return reply_error(404, "function %.*s has no version or alias %.*s", (int)flen,
				   fname, (int)to->qual_len, to->qual);
	to->async = spur_host_async(c->host);
	return to->async ? NULL : reply_error(503, "asynchronous invocation is not running");
}

static struct spur_admin_reply *queue_replay(struct call *c, const char *name, const char *query,
					     const char *body, size_t len)
{
	struct replay_to to = { 0 };
	json_t *keep = NULL;	/* owns the "to" string */
	struct spur_admin_reply *r = NULL;
	struct page *p = NULL;
	int64_t max = INT64_MAX, offset = 0;
	uint64_t replayed = 0, failed = 0, skip;

	if (queue_worked(name)) {
		r = reply_error(409, "queue %s is being worked on by spur itself; it cannot be replayed", name);
		goto done;
	}
	if (query_size(query, "max", 1, INT64_MAX, &max) < 0 ||
	    query_size(query, "offset", 0, INT64_MAX / 2, &offset) < 0) {
		r = reply_error(400, "max and offset must be whole numbers (max at least 1)");
		goto done;
	}
	if ((r = replay_target(c, name, body, len, &to, &keep)))
		goto done;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto done;
	/* What is there now, and no more: a replay whose records come back
	 * into this queue must not go round for ever. */
	uint64_t depth = queue_depth(c, name);
	uint64_t budget = depth > (uint64_t)offset ? depth - (uint64_t)offset : 0;
	if ((uint64_t)max < budget)
		budget = (uint64_t)max;
	skip = (uint64_t)offset;
	while (replayed + failed < budget) {
		uint64_t want = budget - replayed - failed;
		int rc = c->st->peek(c->si, name, (size_t)skip, want < PAGE ? (size_t)want : PAGE,
				     page_cb, p);
		if (rc < 0 || p->failed) {
			spur_log_write(spur_host_log(c->host), SPUR_LOG_ERROR, NULL,
				       "admin: replay of %s stopped: %s", name,
				       spur_strerror(rc < 0 ? rc : -ENOMEM));
			r = reply_error(500, "replay stopped after %llu message(s): %s",
					(unsigned long long)replayed, spur_strerror(rc < 0 ? rc : -ENOMEM));
			goto done;
		}
		if (p->n == 0)
			break;
		for (size_t i = 0; i < p->n; i++) {
			if (replay_one(c, name, &to, &p->m[i])) {
				replayed++;	/* it left the queue */
			} else {
				failed++;
				skip++;		/* it stays where it was */
			}
		}
		page_clear(p);
	}
	uint64_t left = queue_depth(c, name);
	spur_log_write(spur_host_log(c->host), SPUR_LOG_INFO, NULL,
		       "admin: replay of %s: %llu replayed, %llu failed", name,
		       (unsigned long long)replayed, (unsigned long long)failed);
	r = reply_json(200, json_pack("{s:I, s:I, s:I}", "replayed", (json_int_t)replayed,
				      "failed", (json_int_t)failed, "remaining",
				      (json_int_t)(left > skip ? left - skip : 0)));
done:
	if (p)
		page_clear(p);
	free(p);
	json_decref(keep);
	return r;
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
	if (strcmp(m->queue, SPUR_ADMIN_QUEUE_ASYNC) != 0)
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

static struct spur_admin_reply *event_get(struct call *c, const char *id)
{
	struct found f = { 0 };
	json_t *o = NULL;
	if (strlen(id) > 64 || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
		return reply_error(404, "no event %.64s (event ids are UUIDs)", id);
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
		return reply_error(404, "no event %s (unknown, or finished more than a day ago)", id);
	}
	json_decref(f.attrs);
	json_decref(f.value);
	if (rc < 0)
		return reply_error(500, "could not read event %s: %s", id, spur_strerror(rc));
	return reply_json(200, o);
}

/* --- mappings --------------------------------------------------------------------- */

static struct spur_admin_reply *not_allowed(const char *method, const char *allowed);

static struct spur_admin_reply *mappings_route(struct call *c, char (*seg)[MAX_SEGMENT], size_t n)
{
	struct spur_mappings *m = spur_host_mappings(c->host);
	if (n == 1) {
		if (strcmp(c->method, "GET") != 0)
			return not_allowed(c->method, "GET");
		json_t *l = spur_mappings_describe(m);
		return l ? reply_json(200, l) : NULL;
	}
	char *end;
	unsigned long i = strtoul(seg[1], &end, 10);
	if (n != 3 || *end || end == seg[1] ||
	    (strcmp(seg[2], "pause") != 0 && strcmp(seg[2], "resume") != 0))
		return reply_error(404, "no admin endpoint /admin/mappings/%s%s%s", seg[1],
				   n > 2 ? "/" : "", n > 2 ? seg[2] : "");
	if (strcmp(c->method, "POST") != 0)
		return not_allowed(c->method, "POST");
	if (spur_mappings_pause(m, i, seg[2][0] == 'p') < 0)
		return reply_error(404, "no mapping %lu", i);
	return reply_json(200, json_pack("{s:I, s:s}", "index", (json_int_t)i, "state",
					 seg[2][0] == 'p' ? "paused" : "enabled"));
}

/* --- queue intake (ingress: no admin token) ---------------------------------------- */

static struct spur_admin_reply *put_reply(struct spur_host *host, const char *queue, int rc)
{
	if (rc == -EAGAIN)
		return reply_error(503, "queue %s is at its maximum depth; retry later", queue);
	if (rc == -ENOSPC)
		return reply_error(503, "the disk is full; retry later");
	if (rc == -ENODEV)
		return reply_error(503, "no store is open");
	if (rc == -ENOENT)
		return reply_error(404, "no queue named %s", queue);
	spur_log_write(spur_host_log(host), SPUR_LOG_WARN, NULL, "queue %s: intake failed: %s",
		       queue, spur_strerror(rc));
	return reply_error(500, "queue %s: %s", queue, spur_strerror(rc));
}

static struct spur_admin_reply *intake_batch(struct spur_host *host, const char *queue,
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
		r = reply_error(400, "the body must be a JSON array of 1 to %d message bodies",
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
	int rc = spur_queue_put(host, queue, bodies, lens, n, ids);
	if (rc < 0) {
		r = put_reply(host, queue, rc);
		goto done;
	}
	json_t *list = json_array();
	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, json_string(ids[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	r = list ? reply_json(200, json_pack("{s:o}", "MessageIds", list)) : NULL;
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
static struct spur_admin_reply *queue_intake(struct spur_host *host, const char *method,
					     const char *path, const char *body, size_t len)
{
	char name[MAX_SEGMENT];
	const char *s = path + strlen("/queues/");
	const char *slash = strchr(s, '/');
	if (!slash || spur_pct_decode(name, sizeof(name), s, (size_t)(slash - s), false) <= 0)
		return reply_error(404, "no endpoint %.200s (POST /queues/{name}/messages)", path);
	bool batch = strcmp(slash, "/messages/batch") == 0;
	if (!batch && strcmp(slash, "/messages") != 0)
		return reply_error(404, "no endpoint %.200s (POST /queues/{name}/messages[/batch])", path);
	if (strcmp(method, "POST") != 0)
		return not_allowed(method, "POST");
	if (!spur_config_queue(spur_host_config(host), name))
		return reply_error(404, "no queue named %s", name);
	if (batch)
		return intake_batch(host, name, body, len);
	char id[37];
	int rc = spur_queue_send(host, name, body, len, id);
	return rc < 0 ? put_reply(host, name, rc) :
		reply_json(200, json_pack("{s:s}", "MessageId", id));
}

/* --- dispatch -------------------------------------------------------------------- */

static struct spur_admin_reply *not_allowed(const char *method, const char *allowed)
{
	return reply_error(405, "method %s not allowed here (allowed: %s)", method, allowed);
}

static struct spur_admin_reply *route(struct call *c, const char *path, const char *query,
				      const char *body, size_t len)
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
			return reply_error(404, "no admin endpoint %.200s", path);
		if (spur_pct_decode(seg[n], sizeof(seg[n]), s, sl, false) <= 0)
			return reply_error(400, "malformed path");
		n++;
		p = s + sl;
	}
	if (n >= 1 && strcmp(seg[0], "queues") == 0) {
		if (n == 1) {
			if (strcmp(m, "GET") != 0)
				return not_allowed(m, "GET");
			int rc;
			json_t *l = queue_stats(c, NULL, &rc);
			return l ? reply_json(200, l) :
				reply_error(500, "could not count queues: %s", spur_strerror(rc));
		}
		const char *name = seg[1];
		if (n > 3 || (n == 3 && strcmp(seg[2], "messages") != 0 && strcmp(seg[2], "replay") != 0))
			return reply_error(404, "no admin endpoint %.200s", path);
		if (!spur_admin_queue_known(c->host, name))
			return reply_error(404, "no queue named %s", name);
		if (n == 2) {
			if (strcmp(m, "DELETE") == 0)
				return queue_purge(c, name);
			if (strcmp(m, "GET") != 0)
				return not_allowed(m, "GET, DELETE");
			int rc;
			json_t *l = queue_stats(c, name, &rc);
			json_t *o = json_incref(json_array_get(l, 0));
			json_decref(l);
			return o ? reply_json(200, o) :
				reply_error(500, "could not count queue %s: %s", name, spur_strerror(rc));
		}
		if (strcmp(seg[2], "messages") == 0)
			return strcmp(m, "GET") == 0 ? queue_peek(c, name, query) : not_allowed(m, "GET");
		return strcmp(m, "POST") == 0 ? queue_replay(c, name, query, body, len) :
			not_allowed(m, "POST");
	}
	if (n == 1 && strcmp(seg[0], "reload") == 0) {
		if (strcmp(m, "POST") != 0)
			return not_allowed(m, "POST");
		char why[8192];
		if (spur_host_reload(c->host, why, sizeof(why)) < 0)
			return reply_error(400, "reload refused; the running config stays: %s", why);
		return reply_json(200, json_pack("{s:s, s:s}", "status", "reloaded",
						  "warnings", why));
	}
	if (n == 2 && strcmp(seg[0], "events") == 0)
		return strcmp(m, "GET") == 0 ? event_get(c, seg[1]) : not_allowed(m, "GET");
	if (n >= 1 && strcmp(seg[0], "mappings") == 0)
		return mappings_route(c, seg, n);
	return reply_error(404, "no admin endpoint %.200s", path);
}

SPUR_API struct spur_admin_reply *spur_admin_handle(struct spur_host *host, const char *method,
						     const char *path, const char *query,
						     const char *body, size_t len,
						     const char *authorization, bool loopback_peer)
{
	struct call c = { .host = host, .method = method ? method : "GET" };
	struct spur_admin_reply *r;
	if (path && strncmp(path, "/queues/", 8) == 0)	/* ingress, authorized as such */
		return queue_intake(host, c.method, path, body ? body : "", len);
	bool lambda = path && spur_lambda_api_path(path);
	if (!path || (!lambda && (strncmp(path, "/admin", 6) != 0 || (path[6] && path[6] != '/'))))
		return reply_error(404, "not an admin path");
	if ((r = authorize(&c, path, query, authorization, loopback_peer)))
		return r;
	if (lambda)	/* the Lambda management API: same auth as /admin/ */
		return spur_lambda_api_handle(host, c.method, path, query, body, len);
	c.st = spur_host_store(host, &c.si);
	if (!c.st)
		return reply_error(503, "no store is open: the admin API needs one (store:, state_dir)");
	return route(&c, path, query, body, len);
}
