/* SPDX-License-Identifier: MIT */
/*
 * outbox.c - delivering records (see outbox.h).
 *
 * One thread takes ready records in batches of up to OUTBOX_BATCH,
 * delivers each through its destination, flushes every destination it
 * used once (a file destination fsyncs there), then settles the batch in
 * one store write: delivered records are deleted, failed ones get their
 * attempt count and next time, given-up ones move to "undeliverable".
 * Destinations are opened on first use and cached by URI.
 *
 * Memory holds a window of at most OUTBOX_WINDOW records, as the async
 * queue does (async.c): a record committed while the window has room and
 * nothing older waits is PUT leased to this process (visible only after
 * it) and handed over at once; otherwise it waits in the store, and a
 * refill job take()s the oldest visible records into the free room. A
 * record that failed leaves memory until its retry is due. A restart ends
 * the previous process's leases; nothing is loaded up front, so records
 * piling up for a destination down for hours cost disk, not RAM. When the
 * settling write fails, the batch stays in memory with its outcomes and
 * only the write is tried again (delivered records are not sent twice
 * for that).
 *
 * A URI goes to the built-in destination registered for its scheme (the
 * queue layer's queue:// and function://), else to the destination plugin
 * serving it; a bare name is a named destination of the config.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "workq.h"
#include "util.h"

#define OUTBOX_QUEUE "outbox"
#define UNDELIVERABLE_QUEUE "undeliverable"
#define OUTBOX_BATCH 64
#define OUTBOX_WINDOW 128		/* records in memory at most */
#define GIVE_UP_MS (24LL * 3600 * 1000)
#define LEASE_MS (100LL * 365 * 24 * 3600 * 1000)	/* "while this process lives" */
#define LEASED_AFTER_MS (LEASE_MS / 2)
#define SETTLE_RETRY_MS 1000

struct spur_outbox_entry {
	struct spur_job job;
	struct spur_outbox *ob;
	bool leased;			/* PUT leased: handed over at commit */
	bool decided;			/* delivered (or given up); only the settle write is left */
	enum spur_deliver outcome;	/* when decided */
	char *why;			/* when decided and given up */
	char id[40];
	char *dest;
	char *record;
	size_t len;
	char *attrs;
	size_t attrs_len;
	int64_t accepted_ms;		/* the give-up clock starts here */
	unsigned attempts;
	struct spur_record_meta meta;	/* strings point into meta_* */
	char *meta_function, *meta_version, *meta_condition, *meta_request;
	char *meta_traceparent, *meta_tracestate;	/* NULL: none */
};

/* An open destination: a plugin's, or a built-in one. */
struct dest {
	char *uri;
	const struct spur_destination *ops;	/* a plugin's, or NULL */
	const struct spur_outbox_builtin *builtin;	/* or a built-in one */
	void *handle;
	char *target;				/* what follows "scheme://" */
	bool used;				/* in the current batch */
	struct spur_counter *counted[3];	/* deliveries: ok, retry, dropped (by outcome) */
	struct dest *next;
};

struct spur_outbox {
	struct spur_outbox_env env;
	const struct spur_store *store;
	void *si;
	size_t n_builtin;
	struct spur_outbox_builtin builtin[4];
	struct spur_workq *sched;
	pthread_t thread;
	bool started;
	struct dest *dests;			/* only the outbox thread touches these */
	atomic_size_t inflight;			/* records in memory */
	atomic_bool store_ready;		/* the store may hold visible records */
	atomic_bool want_room;			/* a refill found the window full */
	atomic_bool running;
	struct spur_job refill;			/* only with spur_workq_push_once */
};

static void entry_free(struct spur_outbox_entry *e)
{
	if (!e)
		return;
	free(e->dest);
	free(e->record);
	free(e->attrs);
	free(e->why);
	free(e->meta_function);
	free(e->meta_version);
	free(e->meta_condition);
	free(e->meta_request);
	free(e->meta_traceparent);
	free(e->meta_tracestate);
	free(e);
}

static void job_free(struct spur_job *j, void *ud)
{
	struct spur_outbox *ob = ud;
	if (j != &ob->refill)
		entry_free((struct spur_outbox_entry *)j);
}

static char *entry_attrs(const struct spur_outbox_entry *e, const char *error, size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_puts(&b, "{\"destination\":");
	spur_buf_json_string(&b, e->dest, strlen(e->dest));
	spur_buf_puts(&b, ",\"function\":");
	spur_buf_json_string(&b, e->meta.function, strlen(e->meta.function));
	spur_buf_puts(&b, ",\"version\":");
	spur_buf_json_string(&b, e->meta.version, strlen(e->meta.version));
	spur_buf_puts(&b, ",\"condition\":");
	spur_buf_json_string(&b, e->meta.condition, strlen(e->meta.condition));
	spur_buf_puts(&b, ",\"request_id\":");
	spur_buf_json_string(&b, e->meta.request_id, strlen(e->meta.request_id));
	spur_buf_printf(&b, ",\"hops\":%u,\"attempts\":%u,\"since_ms\":%lld", e->meta.hops,
			e->attempts, (long long)e->accepted_ms);
	if (e->meta.traceparent) {
		spur_buf_puts(&b, ",\"traceparent\":");
		spur_buf_json_string(&b, e->meta.traceparent, strlen(e->meta.traceparent));
	}
	if (e->meta.tracestate) {
		spur_buf_puts(&b, ",\"tracestate\":");
		spur_buf_json_string(&b, e->meta.tracestate, strlen(e->meta.tracestate));
	}
	if (error) {
		spur_buf_puts(&b, ",\"error\":");
		spur_buf_json_string(&b, error, strlen(error));
	}
	spur_buf_puts(&b, "}");
	return spur_buf_steal(&b, len);
}

static struct spur_outbox_entry *entry_new(const char *id, const char *dest,
					   const char *record, size_t len,
					   const struct spur_record_meta *meta)
{
	struct spur_outbox_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	if (id)
		snprintf(e->id, sizeof(e->id), "%s", id);
	else
		spur_uuid(e->id);
	e->dest = strdup(dest);
	e->record = malloc(len + 1);
	e->meta_function = strdup(meta->function ? meta->function : "");
	e->meta_version = strdup(meta->version ? meta->version : "$LATEST");
	e->meta_condition = strdup(meta->condition ? meta->condition : "");
	e->meta_request = strdup(meta->request_id ? meta->request_id : "");
	if (meta->traceparent) {
		e->meta_traceparent = strdup(meta->traceparent);
		e->meta_tracestate = meta->tracestate ? strdup(meta->tracestate) : NULL;
	}
	if (!e->dest || !e->record || !e->meta_function || !e->meta_version ||
	    !e->meta_condition || !e->meta_request ||
	    (meta->traceparent && !e->meta_traceparent) ||
	    (meta->traceparent && meta->tracestate && !e->meta_tracestate)) {
		entry_free(e);
		return NULL;
	}
	memcpy(e->record, record, len);
	e->record[len] = '\0';
	e->len = len;
	e->meta = (struct spur_record_meta){
		.struct_size = sizeof(e->meta), .function = e->meta_function,
		.version = e->meta_version, .condition = e->meta_condition,
		.request_id = e->meta_request, .hops = meta->hops,
		.traceparent = e->meta_traceparent, .tracestate = e->meta_tracestate,
	};
	e->accepted_ms = spur_store_now_ms();
	return e;
}

static void refill_at(struct spur_outbox *ob, int64_t visible_ms)
{
	int64_t wait = visible_ms - spur_store_now_ms();
	spur_workq_push_once(ob->sched, &ob->refill, wait > 0 ? spur_now_ns() + wait * 1000000 : 0);
}

/* A record leaves memory. */
static void entry_done(struct spur_outbox *ob, struct spur_outbox_entry *e)
{
	entry_free(e);
	size_t left = atomic_fetch_sub(&ob->inflight, 1) - 1;
	if (left <= OUTBOX_WINDOW / 2 && atomic_load(&ob->want_room) &&
	    atomic_exchange(&ob->want_room, false))
		refill_at(ob, 0);
}

static bool reserve(struct spur_outbox *ob)
{
	size_t cur = atomic_load(&ob->inflight);
	do {
		if (cur >= OUTBOX_WINDOW)
			return false;
	} while (!atomic_compare_exchange_weak(&ob->inflight, &cur, cur + 1));
	return true;
}

struct spur_outbox_entry *spur_outbox_prepare(struct spur_outbox *ob, const char *dest,
					      const char *record, size_t len,
					      const struct spur_record_meta *meta,
					      struct spur_store_op *op)
{
	struct spur_outbox_entry *e = entry_new(NULL, dest, record, len, meta);
	if (!e)
		return NULL;
	e->ob = ob;
	e->attrs = entry_attrs(e, NULL, &e->attrs_len);
	if (!e->attrs) {
		entry_free(e);
		return NULL;
	}
	/* straight to the outbox thread: running, room, nothing older waits */
	e->leased = atomic_load(&ob->running) && !atomic_load(&ob->store_ready) && reserve(ob);
	*op = (struct spur_store_op){
		.kind = SPUR_STORE_PUT,
		.msg = {
			.id = e->id, .queue = OUTBOX_QUEUE, .body = e->record, .body_len = len,
			.attrs = e->attrs, .attrs_len = e->attrs_len,
			.accepted_ms = e->accepted_ms,
			.visible_ms = e->leased ? e->accepted_ms + LEASE_MS : e->accepted_ms,
			.receive_count = e->leased ? 1 : 0,
		},
	};
	return e;
}

void spur_outbox_commit(struct spur_outbox *ob, struct spur_outbox_entry **e, size_t n)
{
	bool waiting = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i]->leased) {
			spur_workq_push(ob->sched, &e[i]->job, 0);
		} else {
			entry_free(e[i]);
			waiting = true;
		}
	}
	if (waiting) {
		atomic_store(&ob->store_ready, true);
		refill_at(ob, 0);
	}
}

void spur_outbox_discard(struct spur_outbox_entry **e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (e[i]->leased)
			entry_done(e[i]->ob, e[i]);
		else
			entry_free(e[i]);
	}
}

/* --- destinations --------------------------------------------------------- */

static struct dest *dest_open(struct spur_outbox *ob, const char *uri, char *why, size_t len)
{
	for (struct dest *d = ob->dests; d; d = d->next)
		if (strcmp(d->uri, uri) == 0)
			return d;
	const char *sep = strstr(uri, "://");
	const struct spur_dest_config *named = sep ? NULL :
		spur_config_destination(ob->env.config, uri);
	if (!sep && !named) {
		snprintf(why, len, "no destination named '%s'", uri);
		return NULL;
	}
	struct dest *d = calloc(1, sizeof(*d));
	if (!d || !(d->uri = strdup(uri)) || !(d->target = strdup(sep ? sep + 3 : ""))) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	const char *scheme_s = named ? named->type : uri;
	size_t slen = named ? strlen(named->type) : (size_t)(sep - uri);
	for (size_t i = 0; !named && i < ob->n_builtin; i++)
		if (strlen(ob->builtin[i].scheme) == slen &&
		    strncmp(ob->builtin[i].scheme, scheme_s, slen) == 0)
			d->builtin = &ob->builtin[i];
	if (!d->builtin) {
		char scheme[32];
		void *inst = NULL;
		snprintf(scheme, sizeof(scheme), "%.*s", (int)slen, scheme_s);
		d->ops = ob->env.plugin ? ob->env.plugin(ob->env.plugin_ud, scheme, &inst) : NULL;
		if (!d->ops) {
			snprintf(why, len, "no destination plugin serves '%s://'", scheme);
			goto fail;
		}
		/* A plugin serving several schemes ("http|https", "zmq+pub|zmq+push")
		 * gets the whole URI: the scheme is part of what it opens. */
		const char *target = named ? "" : strchr(d->ops->scheme, '|') ? uri : sep + 3;
		int rc = named && named->settings &&
			 SPUR_HAS_MEMBER(d->ops, struct spur_destination, open_named) ?
			d->ops->open_named(inst, named->name, named->settings, &d->handle, why, len) :
			d->ops->open(inst, target, named ? named->options : NULL, &d->handle, why,
				     len);
		if (rc < 0)
			goto fail;
	}
	d->next = ob->dests;
	ob->dests = d;
	return d;
fail:
	if (d) {
		free(d->uri);
		free(d->target);
	}
	free(d);
	return NULL;
}

/* --- the outbox thread ------------------------------------------------------ */

/* spur_destination_deliveries_total{destination,outcome}; label values
 * escaped. The handle is looked up once per open destination (the lookup
 * takes the metrics lock); a destination that did not open is rare. */
static void count_delivery(struct spur_outbox *ob, struct dest *d, const char *dest,
			   enum spur_deliver res)
{
	static const char *const outcome_name[] = { "ok", "retry", "dropped" };
	struct spur_counter **slot = d ? &d->counted[res] : NULL;
	if (slot && *slot) {
		spur_counter_add(*slot, 1);
		return;
	}
	const char *outcome = outcome_name[res];
	char labels[600];
	size_t o = 0;
	o += (size_t)snprintf(labels, sizeof(labels), "destination=\"");
	for (const char *p = dest; *p && o < sizeof(labels) - 40; p++) {
		if (*p == '"' || *p == '\\')
			labels[o++] = '\\';
		labels[o++] = *p == '\n' ? ' ' : *p;
	}
	snprintf(labels + o, sizeof(labels) - o, "\",outcome=\"%s\"", outcome);
	struct spur_counter *c = spur_metrics_counter(ob->env.metrics,
						   "spur_destination_deliveries_total",
						  "Record deliveries by destination and outcome.",
						  labels);
	if (slot)
		*slot = c;
	spur_counter_add(c, 1);
}

static void settle(struct spur_outbox *ob, struct spur_outbox_entry **batch,
		   struct dest **where, enum spur_deliver *res, char (*why)[256], size_t n)
{
	struct spur_store_op ops[OUTBOX_BATCH];
	char *attrs[OUTBOX_BATCH] = { 0 };
	int64_t delay[OUTBOX_BATCH] = { 0 };
	int64_t now = spur_store_now_ms();
	for (size_t i = 0; i < n; i++) {
		struct spur_outbox_entry *e = batch[i];
		if (!e->decided)
			count_delivery(ob, where[i], e->dest, res[i]);
		if (res[i] == SPUR_DELIVER_OK) {
			ops[i] = (struct spur_store_op){ .kind = SPUR_STORE_DELETE, .id = e->id };
			continue;
		}
		if (!e->decided)
			e->attempts++;
		size_t alen = 0;
		attrs[i] = entry_attrs(e, why[i], &alen);
		if (res[i] == SPUR_DELIVER_DROP || now - e->accepted_ms > GIVE_UP_MS) {
			ops[i] = (struct spur_store_op){
				.kind = SPUR_STORE_MOVE, .id = e->id, .queue = UNDELIVERABLE_QUEUE,
				.visible_ms = now, .attrs = attrs[i], .attrs_len = alen,
			};
			if (!e->decided)
				spur_log_write(ob->env.log, SPUR_LOG_ERROR, NULL,
					       "record %s for %s is undeliverable: %s", e->id, e->dest,
					       why[i]);
			res[i] = SPUR_DELIVER_DROP;
			continue;
		}
		delay[i] = spur_backoff_ms(1000, 2, 5 * 60 * 1000, 1, e->attempts);
		ops[i] = (struct spur_store_op){
			.kind = SPUR_STORE_UPDATE, .id = e->id, .visible_ms = now + delay[i],
			.attrs = attrs[i], .attrs_len = alen,
		};
		spur_log_write(ob->env.log, SPUR_LOG_WARN, NULL,
			       "record %s for %s: %s; retry %u in %lld ms", e->id, e->dest, why[i],
			       e->attempts, (long long)delay[i]);
	}
	int rc = ob->store->apply(ob->si, ops, n, NULL);
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < n; i++) {
		free(attrs[i]);
		struct spur_outbox_entry *e = batch[i];
		if (rc == 0) {
			if (res[i] == SPUR_DELIVER_RETRY && now + delay[i] < next)
				next = now + delay[i];
			entry_done(ob, e);	/* a retry waits in the store */
			continue;
		}
		/* not settled: keep what was decided, write it again later; a
		 * record to retry is simply delivered again then */
		if (res[i] != SPUR_DELIVER_RETRY && !e->decided) {
			e->decided = true;
			e->outcome = res[i];
			free(e->why);
			e->why = strdup(why[i]);
		}
		spur_workq_push(ob->sched, &e->job, spur_now_ns() + SETTLE_RETRY_MS * 1000000LL);
	}
	if (rc < 0)
		spur_log_write(ob->env.log, SPUR_LOG_WARN, NULL,
			       "outbox: could not settle %zu record(s): %s; writing it again in %d ms",
			       n, spur_strerror(rc), SETTLE_RETRY_MS);
	if (next != INT64_MAX)
		refill_at(ob, next);
}

static void deliver_batch(struct spur_outbox *ob, struct spur_outbox_entry **batch, size_t n)
{
	enum spur_deliver res[OUTBOX_BATCH];
	char why[OUTBOX_BATCH][256];
	struct dest *where[OUTBOX_BATCH];
	for (size_t i = 0; i < n; i++) {
		struct spur_outbox_entry *e = batch[i];
		why[i][0] = '\0';
		where[i] = NULL;
		if (e->decided) {	/* delivered before; its settling write failed */
			res[i] = e->outcome;
			snprintf(why[i], sizeof(why[i]), "%s", e->why ? e->why : "");
			continue;
		}
		struct dest *d = where[i] = dest_open(ob, e->dest, why[i], sizeof(why[i]));
		if (!d) {
			res[i] = SPUR_DELIVER_RETRY;
			continue;
		}
		if (d->builtin) {
			struct spur_outbox_record rec = {
				.body = e->record, .len = e->len, .attrs = e->attrs,
				.attrs_len = e->attrs_len, .meta = &e->meta,
			};
			res[i] = d->builtin->deliver(d->builtin->ud, d->target, &rec, why[i],
						     sizeof(why[i]));
		} else {
			res[i] = d->ops->deliver(d->handle, e->record, e->len, &e->meta,
						 why[i], sizeof(why[i]));
			d->used = true;
		}
	}
	/* One flush per destination; a failed flush fails its whole part of the batch. */
	for (struct dest *d = ob->dests; d; d = d->next) {
		if (!d->used)
			continue;
		d->used = false;
		int rc = d->ops->flush ? d->ops->flush(d->handle) : 0;
		if (rc == 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (where[i] == d && res[i] == SPUR_DELIVER_OK) {
				res[i] = SPUR_DELIVER_RETRY;
				snprintf(why[i], sizeof(why[i]), "flush: %s", spur_strerror(rc));
			}
	}
	settle(ob, batch, where, res, why, n);
}

static void refill_run(struct spur_outbox *ob);

static void *outbox_main(void *arg)
{
	struct spur_outbox *ob = arg;
	struct spur_job *jobs[OUTBOX_BATCH];
	size_t n;
	while ((n = spur_workq_pop_batch(ob->sched, jobs, OUTBOX_BATCH)) > 0) {
		size_t k = 0;
		bool refill = false;
		for (size_t i = 0; i < n; i++) {
			if (jobs[i] == &ob->refill)
				refill = true;
			else
				jobs[k++] = jobs[i];
		}
		if (k)
			deliver_batch(ob, (struct spur_outbox_entry **)jobs, k);
		if (refill)
			refill_run(ob);
	}
	return NULL;
}

/* --- life cycle ------------------------------------------------------------- */

struct spur_outbox *spur_outbox_new(const struct spur_outbox_env *env)
{
	struct spur_outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return NULL;
	ob->env = *env;
	ob->store = env->store;
	ob->si = env->store_instance;
	ob->sched = spur_workq_new();
	if (!ob->sched) {
		free(ob);
		return NULL;
	}
	return ob;
}

int spur_outbox_add_builtin(struct spur_outbox *ob, const struct spur_outbox_builtin *b)
{
	if (ob->started || ob->n_builtin == SPUR_ARRAY_SIZE(ob->builtin))
		return -ENOSPC;
	ob->builtin[ob->n_builtin++] = *b;
	return 0;
}

/* An entry for a message the store holds in "outbox" (taken by a refill),
 * or NULL when its attributes are unreadable or memory is short. */
static struct spur_outbox_entry *entry_from_msg(const struct spur_msg *m)
{
	json_t *a = m->attrs ? json_loadb(m->attrs, m->attrs_len, 0, NULL) : NULL;
	const char *dest = json_string_value(json_object_get(a, "destination"));
	struct spur_record_meta meta = {
		.struct_size = sizeof(meta),
		.function = json_string_value(json_object_get(a, "function")),
		.version = json_string_value(json_object_get(a, "version")),
		.condition = json_string_value(json_object_get(a, "condition")),
		.request_id = json_string_value(json_object_get(a, "request_id")),
		.hops = (unsigned)json_integer_value(json_object_get(a, "hops")),
		.traceparent = json_string_value(json_object_get(a, "traceparent")),
		.tracestate = json_string_value(json_object_get(a, "tracestate")),
	};
	struct spur_outbox_entry *e = dest ? entry_new(m->id, dest, m->body, m->body_len, &meta) : NULL;
	if (e) {
		json_t *since = json_object_get(a, "since_ms");
		e->attempts = (unsigned)json_integer_value(json_object_get(a, "attempts"));
		e->accepted_ms = json_is_integer(since) ? json_integer_value(since) : m->accepted_ms;
		e->attrs = entry_attrs(e, NULL, &e->attrs_len);
		if (!e->attrs) {
			entry_free(e);
			e = NULL;
		}
	}
	json_decref(a);
	return e;
}

struct taking {
	struct spur_outbox *ob;
	struct spur_outbox_entry *head, **tail;
};

static void taken_one(void *ud, const struct spur_msg *m)
{
	struct taking *t = ud;
	struct spur_outbox_entry *e = entry_from_msg(m);
	if (!e) {	/* left leased: visible again at the next start */
		spur_log_write(t->ob->env.log, SPUR_LOG_ERROR, NULL,
			       "outbox record %s: unreadable attributes (or no memory); left in the store",
			       m->id);
		atomic_fetch_sub(&t->ob->inflight, 1);
		return;
	}
	e->ob = t->ob;
	e->job.next = NULL;
	*t->tail = e;
	t->tail = (struct spur_outbox_entry **)&e->job.next;
}

/* Take the oldest visible records into the window's free room. */
static void refill_run(struct spur_outbox *ob)
{
	size_t room, cur = atomic_load(&ob->inflight);
	do {
		room = cur < OUTBOX_WINDOW ? OUTBOX_WINDOW - cur : 0;
	} while (room && !atomic_compare_exchange_weak(&ob->inflight, &cur, cur + room));
	if (!room) {
		atomic_store(&ob->want_room, true);
		if (atomic_load(&ob->inflight) <= OUTBOX_WINDOW / 2 &&
		    atomic_exchange(&ob->want_room, false))
			refill_at(ob, 0);
		return;
	}
	struct taking t = { .ob = ob };
	t.tail = &t.head;
	int64_t now = spur_store_now_ms(), next = INT64_MAX;
	int got = ob->store->take(ob->si, OUTBOX_QUEUE, now, LEASE_MS, room, taken_one, &t, &next);
	if (got < 0) {
		spur_log_write(ob->env.log, SPUR_LOG_ERROR, NULL, "outbox: take failed: %s; again in %d ms",
			       spur_strerror(got), SETTLE_RETRY_MS);
		got = 0;
		next = now + SETTLE_RETRY_MS;
	}
	atomic_fetch_sub(&ob->inflight, room - (size_t)got);
	for (struct spur_outbox_entry *e = t.head, *nx; e; e = nx) {
		nx = (struct spur_outbox_entry *)e->job.next;
		spur_workq_push(ob->sched, &e->job, 0);
	}
	if ((size_t)got == room) {
		atomic_store(&ob->want_room, true);
		if (atomic_load(&ob->inflight) <= OUTBOX_WINDOW / 2 &&
		    atomic_exchange(&ob->want_room, false))
			refill_at(ob, 0);
	} else if (next <= now) {
		refill_at(ob, 0);
	} else {
		atomic_store(&ob->store_ready, false);
		if (next < now + LEASED_AFTER_MS)
			refill_at(ob, next);
	}
}

int spur_outbox_replay(struct spur_outbox *ob, const struct spur_msg *m, char *why, size_t len)
{
	struct spur_outbox_entry *e = entry_from_msg(m);
	if (!e) {
		snprintf(why, len, "%s", m->attrs ? "out of memory" : "its attributes name no destination");
		return m->attrs ? -ENOMEM : -EINVAL;
	}
	/* a fresh day before it is given up again, and a fresh backoff */
	e->accepted_ms = spur_store_now_ms();
	e->attempts = 0;
	free(e->attrs);
	e->attrs = entry_attrs(e, NULL, &e->attrs_len);
	struct spur_store_op op = {
		.kind = SPUR_STORE_MOVE, .id = m->id, .queue = OUTBOX_QUEUE,
		.visible_ms = e->accepted_ms, .attrs = e->attrs, .attrs_len = e->attrs_len,
	};
	int rc = e->attrs ? ob->store->apply(ob->si, &op, 1, NULL) : -ENOMEM;
	entry_free(e);
	if (rc < 0) {
		snprintf(why, len, "%s", spur_strerror(rc));
		return rc;
	}
	atomic_store(&ob->store_ready, true);
	refill_at(ob, 0);
	return 0;
}

static void count_outbox(void *ud, const struct spur_queue_stats *s)
{
	if (strcmp(s->queue, OUTBOX_QUEUE) == 0)
		*(uint64_t *)ud += s->visible + s->delayed;
}

int spur_outbox_start(struct spur_outbox *ob)
{
	int64_t now = spur_store_now_ms();
	if (ob->store->struct_size >= offsetof(struct spur_store, release) + sizeof(ob->store->release) &&
	    ob->store->release) {	/* the previous process's leases end */
		int64_t n = ob->store->release(ob->si, OUTBOX_QUEUE, now + LEASED_AFTER_MS, now);
		if (n < 0)
			return (int)n;
	}
	uint64_t stored = 0;
	if (ob->store->stats)
		ob->store->stats(ob->si, now, count_outbox, &stored);
	if (stored)
		spur_log_write(ob->env.log, SPUR_LOG_INFO, NULL,
			       "outbox: %llu stored record(s) resumed", (unsigned long long)stored);
	atomic_store(&ob->store_ready, true);
	atomic_store(&ob->running, true);
	refill_at(ob, 0);
	if (pthread_create(&ob->thread, NULL, outbox_main, ob) != 0)
		return -EAGAIN;
	ob->started = true;
	return 0;
}

void spur_outbox_stop(struct spur_outbox *ob)
{
	if (!ob || !ob->started)
		return;
	atomic_store(&ob->running, false);
	spur_workq_stop(ob->sched);
	pthread_join(ob->thread, NULL);
	ob->started = false;
}

void spur_outbox_free(struct spur_outbox *ob)
{
	if (!ob)
		return;
	spur_outbox_stop(ob);
	while (ob->dests) {
		struct dest *d = ob->dests;
		ob->dests = d->next;
		if (d->ops && d->ops->close)
			d->ops->close(d->handle);
		free(d->uri);
		free(d->target);
		free(d);
	}
	spur_workq_free(ob->sched, job_free, ob);	/* leases end at the next start */
	free(ob);
}

void spur_outbox_kick(struct spur_outbox *ob)
{
	spur_workq_kick(ob->sched);
}

size_t spur_outbox_pending(struct spur_outbox *ob)
{
	return atomic_load(&ob->inflight);
}
