/* SPDX-License-Identifier: MIT */
/*
 * admin_queues.c - the queue endpoints of the admin API (admin.c routes
 * to them after auth; see its comment for the paths):
 *
 *   GET    /admin/queues[/{name}]                 counts
 *   GET    /admin/queues/{name}/messages?n=&offset=   read, not removed
 *   POST   /admin/queues/{name}/replay[?max=&offset=] {"to": "fn[:qual]"}
 *   DELETE /admin/queues/{name}                   purge
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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "admin_priv.h"
#include "spur/text.h"
#include "async.h"
#include "function.h"
#include "queue.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "util.h"

#define PAGE 64
#define PEEK_DEFAULT 10
#define PEEK_MAX 1000

static const char *const builtin_queues[] = {
	SPUR_QUEUE_ASYNC, SPUR_QUEUE_OUTBOX, SPUR_QUEUE_UNDELIVERABLE,
};

/* --- queues ---------------------------------------------------------------------- */

bool spur_admin_queue_known(const struct spur_api *api, const char *name)
{
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(builtin_queues); i++)
		if (strcmp(name, builtin_queues[i]) == 0)
			return true;
	return spur_config_queue(api->config, name) != NULL;
}

static bool queue_worked(const char *name)
{
	return strcmp(name, SPUR_QUEUE_ASYNC) == 0 || strcmp(name, SPUR_QUEUE_OUTBOX) == 0;
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

/* Each entry gets inFlight (leased: counted as delayed) and, for a queue
 * with a dead_letter, that queue's name and depth. */
static void dead_letter_counts(struct spur_admin_call *c, json_t *list)
{
	const struct spur_config *cfg = c->api->config;
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const struct spur_queue_config *q = spur_config_queue(cfg, name);
		json_object_set(o, "inFlight", json_object_get(o, "delayed"));
		if (!q || !q->dead_letter)
			continue;
		int rc;
		json_t *dl = spur_admin_queue_stats(c, q->dead_letter, &rc);
		json_t *d = json_array_get(dl, 0);
		json_object_set_new(o, "deadLetter", json_string(q->dead_letter));
		json_object_set_new(o, "deadLettered", json_integer(
			json_integer_value(json_object_get(d, "visible")) +
			json_integer_value(json_object_get(d, "delayed"))));
		json_decref(dl);
	}
}

json_t *spur_admin_queue_stats(struct spur_admin_call *c, const char *only, int *rc)
{
	const struct spur_config *cfg = c->api->config;
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

static uint64_t queue_depth(struct spur_admin_call *c, const char *name)
{
	int rc;
	json_t *l = spur_admin_queue_stats(c, name, &rc);
	json_t *o = json_array_get(l, 0);
	uint64_t n = (uint64_t)(json_integer_value(json_object_get(o, "visible")) +
				json_integer_value(json_object_get(o, "delayed")));
	json_decref(l);
	return n;
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
	spur_rfc3339(m->accepted_ms, acc);
	spur_rfc3339(m->visible_ms, vis);
	json_t *o = json_pack("{s:s, s:o, s:o, s:I, s:s, s:s}", "id", m->id,
			      "body", json_of(m->body, m->body_len, false),
			      "attributes", json_of(m->attrs, m->attrs_len, true),
			      "receiveCount", (json_int_t)m->receive_count,
			      "acceptedAt", acc, "visibleAt", vis);
	if (!o || json_array_append_new(col->list, o) < 0)
		col->failed = true;
}

struct spur_admin_reply *spur_admin_queue_peek(struct spur_admin_call *c, const char *name,
					       const char *query)
{
	int64_t n = PEEK_DEFAULT, offset = 0;
	int got = spur_admin_query_size(query, "n", 1, INT64_MAX, &n);
	if (got < 0 || spur_admin_query_size(query, "offset", 0, INT64_MAX / 2, &offset) < 0)
		return spur_admin_reply_errorf(400, "n and offset must be whole numbers (n at least 1)");
	if (n > PEEK_MAX)
		n = PEEK_MAX;
	struct collect col = { .list = json_array() };
	if (!col.list)
		return NULL;
	int rc = c->st->peek(c->si, name, (size_t)offset, (size_t)n, peek_cb, &col);
	if (rc < 0 || col.failed) {
		json_decref(col.list);
		return spur_admin_reply_errorf(500, "could not read queue %s: %s", name,
					       spur_strerror(rc < 0 ? rc : -ENOMEM));
	}
	return spur_admin_reply_json(200, col.list);
}

struct spur_admin_reply *spur_admin_queue_purge(struct spur_admin_call *c, const char *name)
{
	if (queue_worked(name))
		return spur_admin_reply_errorf(409, "queue %s is being worked on by spur itself; "
					       "it cannot be purged", name);
	int64_t n = c->st->purge(c->si, name);
	if (n < 0)
		return spur_admin_reply_errorf(500, "could not purge queue %s: %s", name, spur_strerror((int)n));
	spur_log_write(c->api->log, SPUR_LOG_WARN, NULL,
		       "admin: queue %s purged: %lld message(s) deleted", name, (long long)n);
	return spur_admin_reply_json(200, json_pack("{s:I}", "purged", (json_int_t)n));
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

static bool replay_one(struct spur_admin_call *c, const char *queue, const struct replay_to *to,
		       const struct spur_msg *m)
{
	const struct spur_log *log = c->api->log;
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
	rc = spur_outbox_replay(to->outbox, m, why, sizeof(why));
	if (rc < 0) {
		spur_log_write(log, SPUR_LOG_WARN, NULL, "admin: replay of %s record %s: %s",
			       queue, m->id, why);
		return false;
	}
	return true;
}

/* Parse {"to": "fn[:qual]"} (or an empty body) into `to`. NULL on success. */
static struct spur_admin_reply *replay_target(struct spur_admin_call *c, const char *name,
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
			return spur_admin_reply_errorf(400, "the body must be a JSON object: {\"to\": \"fn[:qual]\"}");
		json_t *t = json_object_get(*keep, "to");
		if (t && !json_is_null(t) && !json_is_string(t))
			return spur_admin_reply_errorf(400, "\"to\" must be a string: fn[:qual]");
		target = json_string_value(t);
	}
	if (!target) {
		if (strcmp(name, SPUR_QUEUE_UNDELIVERABLE) != 0)
			return spur_admin_reply_errorf(400, "replaying queue %s needs a function: "
						       "{\"to\": \"fn[:qual]\"}", name);
		to->outbox = c->api->outbox;
		return to->outbox ? NULL : spur_admin_reply_errorf(503, "the outbox is not running");
	}
	const char *fname;
	size_t flen;
	char why[256];
	if (spur_target_parse(target, NULL, &fname, &flen, &to->qual, &to->qual_len,
				     why, sizeof(why)) < 0)
		return spur_admin_reply_errorf(400, "\"to\": %s", why);
	to->fn = spur_registry_find(spur_registry_current(c->api->registry), fname, flen);
	if (!to->fn)
		return spur_admin_reply_errorf(404, "no function named %.*s", (int)flen, fname);
	if (to->qual && !spur_fn_version(to->fn, to->qual, to->qual_len, NULL))
		return spur_admin_reply_errorf(404, "function %.*s has no version or alias %.*s", (int)flen,
					       fname, (int)to->qual_len, to->qual);
	to->async = c->api->async;
	return to->async ? NULL : spur_admin_reply_errorf(503, "asynchronous invocation is not running");
}

struct spur_admin_reply *spur_admin_queue_replay(struct spur_admin_call *c, const char *name,
						 const char *query, const char *body, size_t len)
{
	struct replay_to to = { 0 };
	json_t *keep = NULL;	/* owns the "to" string */
	struct spur_admin_reply *r = NULL;
	struct page *p = NULL;
	int64_t max = INT64_MAX, offset = 0;
	uint64_t replayed = 0, failed = 0, skip;

	if (queue_worked(name)) {
		r = spur_admin_reply_errorf(409, "queue %s is being worked on by spur itself; "
					    "it cannot be replayed", name);
		goto done;
	}
	if (spur_admin_query_size(query, "max", 1, INT64_MAX, &max) < 0 ||
	    spur_admin_query_size(query, "offset", 0, INT64_MAX / 2, &offset) < 0) {
		r = spur_admin_reply_errorf(400, "max and offset must be whole numbers (max at least 1)");
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
			spur_log_write(c->api->log, SPUR_LOG_ERROR, NULL,
				       "admin: replay of %s stopped: %s", name,
				       spur_strerror(rc < 0 ? rc : -ENOMEM));
			r = spur_admin_reply_errorf(500, "replay stopped after %llu message(s): %s",
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
	spur_log_write(c->api->log, SPUR_LOG_INFO, NULL,
		       "admin: replay of %s: %llu replayed, %llu failed", name,
		       (unsigned long long)replayed, (unsigned long long)failed);
	r = spur_admin_reply_json(200, json_pack("{s:I, s:I, s:I}", "replayed", (json_int_t)replayed,
						 "failed", (json_int_t)failed, "remaining",
						 (json_int_t)(left > skip ? left - skip : 0)));
done:
	if (p)
		page_clear(p);
	free(p);
	json_decref(keep);
	return r;
}
