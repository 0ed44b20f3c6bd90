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
 * A URI goes to the built-in destination registered for its scheme (the
 * queue layer's queue:// and function://), else to the destination plugin
 * serving it; a bare name is a named destination of the config.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
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
#define GIVE_UP_MS (24LL * 3600 * 1000)

struct spur_outbox_entry {
	struct spur_job job;
	char id[40];
	char *dest;
	char *record;
	size_t len;
	char *attrs;
	size_t attrs_len;
	int64_t accepted_ms;
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
};

static void entry_free(struct spur_outbox_entry *e)
{
	if (!e)
		return;
	free(e->dest);
	free(e->record);
	free(e->attrs);
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
	spur_buf_printf(&b, ",\"hops\":%u,\"attempts\":%u", e->meta.hops, e->attempts);
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

struct spur_outbox_entry *spur_outbox_prepare(struct spur_outbox *ob, const char *dest,
					      const char *record, size_t len,
					      const struct spur_record_meta *meta,
					      struct spur_store_op *op)
{
	struct spur_outbox_entry *e = entry_new(NULL, dest, record, len, meta);
	if (!e)
		return NULL;
	e->attrs = entry_attrs(e, NULL, &e->attrs_len);
	if (!e->attrs) {
		entry_free(e);
		return NULL;
	}
	*op = (struct spur_store_op){
		.kind = SPUR_STORE_PUT,
		.msg = {
			.id = e->id, .queue = OUTBOX_QUEUE, .body = e->record, .body_len = len,
			.attrs = e->attrs, .attrs_len = e->attrs_len,
			.accepted_ms = e->accepted_ms, .visible_ms = e->accepted_ms,
		},
	};
	return e;
}

void spur_outbox_commit(struct spur_outbox *ob, struct spur_outbox_entry **e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		spur_workq_push(ob->sched, &e[i]->job, 0);
}

void spur_outbox_discard(struct spur_outbox_entry **e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_free(e[i]);
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
		count_delivery(ob, where[i], e->dest, res[i]);
		if (res[i] == SPUR_DELIVER_OK) {
			ops[i] = (struct spur_store_op){ .kind = SPUR_STORE_DELETE, .id = e->id };
			continue;
		}
		e->attempts++;
		size_t alen = 0;
		attrs[i] = entry_attrs(e, why[i], &alen);
		if (res[i] == SPUR_DELIVER_DROP || now - e->accepted_ms > GIVE_UP_MS) {
			ops[i] = (struct spur_store_op){
				.kind = SPUR_STORE_MOVE, .id = e->id, .queue = UNDELIVERABLE_QUEUE,
				.visible_ms = now, .attrs = attrs[i], .attrs_len = alen,
			};
			res[i] = SPUR_DELIVER_DROP;
			spur_log_write(ob->env.log, SPUR_LOG_ERROR, NULL,
				       "record %s for %s is undeliverable: %s", e->id, e->dest, why[i]);
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
	if (rc < 0)
		spur_log_write(ob->env.log, SPUR_LOG_WARN, NULL,
			       "outbox: could not settle %zu record(s): %s (they will be delivered again)",
			       n, spur_strerror(rc));
	for (size_t i = 0; i < n; i++) {
		free(attrs[i]);
		if (res[i] == SPUR_DELIVER_RETRY)
			spur_workq_push(ob->sched, &batch[i]->job, spur_now_ns() + delay[i] * 1000000);
		else
			entry_free(batch[i]);
	}
}

static void deliver_batch(struct spur_outbox *ob, struct spur_outbox_entry **batch, size_t n)
{
	enum spur_deliver res[OUTBOX_BATCH];
	char why[OUTBOX_BATCH][256];
	struct dest *where[OUTBOX_BATCH];
	for (size_t i = 0; i < n; i++) {
		struct spur_outbox_entry *e = batch[i];
		why[i][0] = '\0';
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

static void *outbox_main(void *arg)
{
	struct spur_outbox *ob = arg;
	struct spur_job *jobs[OUTBOX_BATCH];
	size_t n;
	while ((n = spur_workq_pop_batch(ob->sched, jobs, OUTBOX_BATCH)) > 0)
		deliver_batch(ob, (struct spur_outbox_entry **)jobs, n);
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

struct recover {
	struct spur_outbox *ob;
	size_t n;
	int64_t now_ms, now_ns;
};

/* An entry for a message the store already holds in "outbox" (a restart,
 * or a record replayed from "undeliverable"), or NULL when its attributes
 * are unreadable or memory is short. */
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
		e->attempts = (unsigned)json_integer_value(json_object_get(a, "attempts"));
		e->accepted_ms = m->accepted_ms;
		e->attrs = entry_attrs(e, NULL, &e->attrs_len);
	}
	json_decref(a);
	return e;
}

static void recover_one(void *ud, const struct spur_msg *m)
{
	struct recover *rc = ud;
	struct spur_outbox_entry *e = entry_from_msg(m);
	rc->n++;
	if (e) {
		int64_t wait = m->visible_ms - rc->now_ms;
		spur_workq_push(rc->ob->sched, &e->job, wait > 0 ? rc->now_ns + wait * 1000000 : 0);
	} else {
		spur_log_write(rc->ob->env.log, SPUR_LOG_ERROR, NULL,
			       "outbox record %s: unreadable attributes; left in the store", m->id);
	}
}

int spur_outbox_adopt(struct spur_outbox *ob, const struct spur_msg *m)
{
	struct spur_outbox_entry *e = entry_from_msg(m);
	if (!e)
		return m->attrs ? -ENOMEM : -EINVAL;
	/* a fresh day before it is given up again, and a fresh backoff */
	e->accepted_ms = spur_store_now_ms();
	e->attempts = 0;
	spur_workq_push(ob->sched, &e->job, 0);
	return 0;
}

int spur_outbox_start(struct spur_outbox *ob)
{
	struct recover rc = { .ob = ob, .now_ms = spur_store_now_ms(), .now_ns = spur_now_ns() };
	size_t before;
	do {
		before = rc.n;
		int got = ob->store->peek(ob->si, OUTBOX_QUEUE, rc.n, 256, recover_one, &rc);
		if (got < 0)
			return got;
	} while (rc.n - before == 256);
	if (rc.n)
		spur_log_write(ob->env.log, SPUR_LOG_INFO, NULL,
			       "outbox: %zu stored record(s) resumed", rc.n);
	if (pthread_create(&ob->thread, NULL, outbox_main, ob) != 0)
		return -EAGAIN;
	ob->started = true;
	return 0;
}

void spur_outbox_stop(struct spur_outbox *ob)
{
	if (!ob || !ob->started)
		return;
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
	spur_workq_free(ob->sched, job_free, NULL);
	free(ob);
}

void spur_outbox_kick(struct spur_outbox *ob)
{
	spur_workq_kick(ob->sched);
}
