/* SPDX-License-Identifier: MIT */
/*
 * async.c - asynchronous invocation: from a durable 202 to a record.
 *
 *   submit   the event is PUT into the store's "async" queue (one atomic,
 *            group-committed batch); only then does the caller answer 202.
 *            The event is also queued in memory for the workers, so the
 *            common path reads nothing back from the store.
 *   workers  run each event through the same invoke path as synchronous
 *            calls, with the event id as request id and ctx.attempt.
 *            Success, or a function error past max_retries, or an event
 *            older than max_event_age, ends the event: its record goes to
 *            the outbox in the batch that deletes it. A function error
 *            before that is retried after backoff (the attempt count and
 *            next time are written first). Throttling (reserved
 *            concurrency) waits 1 s, 2 s, ... 5 min without using an
 *            attempt and without a write.
 *   restart  whatever the store holds in "async" is loaded again and run
 *            when due: an event whose worker died runs again (at least
 *            once; idempotency keys make the effect once).
 *
 * An event's W3C Trace Context (traceparent, tracestate) lives in its
 * stored attributes beside the attempt count, so every attempt, a run
 * after a restart, and the record and its destinations all carry it.
 *
 * The schedule is kept in memory on the monotonic clock (workq.c); the
 * store keeps the durable truth on the store clock. A single node owns
 * its store, so no lease is needed while running: the lease is this
 * process being alive.
 * Threads: callers of submit (HTTP, MQTT, ZeroMQ, the outbox), and up to
 * 32 worker threads (8 per core on larger machines): they mostly wait for
 * commits. Workers start when a push finds work no idle worker will take
 * (spur_workq_wants_consumer) and end after ASYNC_IDLE_MS without work,
 * so an idle daemon holds none (one stays while retries wait on timers).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async.h"
#include "backoff.h"
#include "function.h"
#include "run.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "record.h"
#include "workers.h"
#include "workq.h"
#include "util.h"
#include "version.h"

#define ASYNC_QUEUE "async"
#define EVENT_NS "event"		/* keys: the outcome of finished events */
#define EVENT_TTL_MS (24LL * 3600 * 1000)
#define THROTTLE_MIN_MS 1000
#define THROTTLE_MAX_MS (5LL * 60 * 1000)
#define RECOVER_PAGE 256
#define ASYNC_IDLE_MS 10000		/* a worker with nothing to do this long ends */

struct event {
	struct spur_job job;		/* first: the work queue hands us this pointer */
	char id[40];
	char *fn_name;
	char *target;			/* "fn" or "fn:qual" */
	char *body;
	size_t len;
	int64_t accepted_ms;
	unsigned attempts;		/* invocations that ended in a function error */
	unsigned throttles;
	unsigned hops;
	char *traceparent;		/* W3C Trace Context as received, or NULL */
	char *tracestate;
};

struct spur_async {
	struct spur_async_env env;
	const struct spur_store *store;
	void *si;
	struct spur_outbox *outbox;
	struct spur_workq *sched;
	size_t n_workers;		/* at most this many at once */
	struct spur_workers *pool;	/* their threads (spur_async_start) */
	atomic_size_t consumers;	/* workers running now */
};

/* One worker: events until it has been idle ASYNC_IDLE_MS. */
struct consumer {
	struct spur_task task;
	struct spur_async *a;
};

static void wake_workers(struct spur_async *a);

static void event_free(struct event *e)
{
	if (!e)
		return;
	free(e->fn_name);
	free(e->target);
	free(e->body);
	free(e->traceparent);
	free(e->tracestate);
	free(e);
}

static void job_free(struct spur_job *j, void *ud)
{
	event_free((struct event *)j);
}

static const struct spur_log *logger(struct spur_async *a)
{
	return a->env.log;
}

/* The event's attributes as stored: what a restart needs to go on. */
static char *attrs_json(const struct event *e, const char *last_error, size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_puts(&b, "{\"function\":");
	spur_buf_json_string(&b, e->fn_name, strlen(e->fn_name));
	spur_buf_puts(&b, ",\"target\":");
	spur_buf_json_string(&b, e->target, strlen(e->target));
	spur_buf_printf(&b, ",\"attempts\":%u,\"hops\":%u", e->attempts, e->hops);
	if (e->traceparent) {
		spur_buf_puts(&b, ",\"traceparent\":");
		spur_buf_json_string(&b, e->traceparent, strlen(e->traceparent));
	}
	if (e->tracestate) {
		spur_buf_puts(&b, ",\"tracestate\":");
		spur_buf_json_string(&b, e->tracestate, strlen(e->tracestate));
	}
	if (last_error) {
		spur_buf_puts(&b, ",\"error\":");
		spur_buf_json_string(&b, last_error, strlen(last_error));
	}
	spur_buf_puts(&b, "}");
	return spur_buf_steal(&b, len);
}

struct spur_async *spur_async_new(const struct spur_async_env *env)
{
	struct spur_async *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->env = *env;
	a->store = env->store;
	a->si = env->store_instance;
	a->outbox = env->outbox;
	a->sched = spur_workq_new();
	/* Workers mostly wait: on the commit that ends their event, on I/O
	 * of the handler. Many of them let one group commit serve many. */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	a->n_workers = cores > 4 ? (size_t)cores * 8 : 32;
	if (!a->sched) {
		spur_async_free(a);
		return NULL;
	}
	return a;
}

/* --- intake ---------------------------------------------------------------- */

int spur_async_submit(struct spur_async *a, struct spur_fn *fn, const char *qual,
		      size_t qual_len, const char *payload, size_t len, const char *id,
		      unsigned hops, const struct spur_store_op *extra,
		      struct spur_store_conflict *conflict, char *why, size_t whylen)
{
	return spur_async_submit_traced(a, fn, qual, qual_len, payload, len, id, hops, NULL, NULL,
					extra, conflict, why, whylen);
}

int spur_async_submit_traced(struct spur_async *a, struct spur_fn *fn, const char *qual,
			     size_t qual_len, const char *payload, size_t len, const char *id,
			     unsigned hops, const char *traceparent, const char *tracestate,
			     const struct spur_store_op *extra,
			     struct spur_store_conflict *conflict, char *why, size_t whylen)
{
	const struct spur_fn_config *c = spur_fn_config(fn);
	struct event *e = calloc(1, sizeof(*e));
	size_t alen = 0;
	char *attrs = NULL;
	int rc = -ENOMEM;
	if (!e)
		goto fail;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->fn_name = strdup(c->name);
	struct spur_buf t;
	spur_buf_init(&t);
	spur_buf_printf(&t, "%s%s%.*s", c->name, qual ? ":" : "", (int)qual_len, qual ? qual : "");
	e->target = spur_buf_steal(&t, NULL);
	e->body = malloc(len + 1);
	if (traceparent) {
		e->traceparent = strdup(traceparent);
		e->tracestate = tracestate ? strdup(tracestate) : NULL;
		if (!e->traceparent || (tracestate && !e->tracestate))
			goto fail;
	}
	if (!e->fn_name || !e->target || !e->body)
		goto fail;
	memcpy(e->body, payload, len);
	e->body[len] = '\0';
	e->len = len;
	e->hops = hops;
	e->accepted_ms = spur_store_now_ms();
	attrs = attrs_json(e, NULL, &alen);
	if (!attrs)
		goto fail;
	struct spur_store_op ops[2];
	size_t n = 0;
	if (extra)
		ops[n++] = *extra;
	ops[n++] = (struct spur_store_op){
		.kind = SPUR_STORE_PUT,
		.msg = {
			.id = e->id, .queue = ASYNC_QUEUE, .body = e->body, .body_len = len,
			.attrs = attrs, .attrs_len = alen, .accepted_ms = e->accepted_ms,
			.visible_ms = e->accepted_ms,
		},
	};
	rc = a->store->apply(a->si, ops, n, conflict);
	if (rc < 0)
		goto fail;
	spur_counter_add(spur_fn_counter(fn, SPUR_FN_RECEIVED), 1);
	free(attrs);
	spur_workq_push(a->sched, &e->job, 0);
	wake_workers(a);
	return 0;
fail:
	snprintf(why, whylen, "%s", rc == -ENOSPC ? "the disk is full" :
		 rc == -EAGAIN ? "the queue is at its maximum depth" :
		 rc == -EEXIST ? "the idempotency key exists" : spur_strerror(rc));
	free(attrs);
	event_free(e);
	return rc;
}

/* --- finishing ------------------------------------------------------------ */

/* The record of an ended event goes to the outbox, and the event leaves
 * the queue, in one batch. 0, or a negative errno (then nothing changed). */
static int finish_record(struct spur_async *a, struct event *e, const char *condition,
			 const struct spur_result *r, unsigned invoked,
			 const char *error, size_t error_len);

static int finish(struct spur_async *a, struct event *e, const char *condition,
		  const struct spur_result *r, unsigned invoked)
{
	return finish_record(a, e, condition, r, invoked, NULL, 0);
}

/* Input that never ran: the record carries `error` as its response. */
static int finish_with(struct spur_async *a, struct event *e, const char *condition,
		       const char *error, size_t error_len)
{
	return finish_record(a, e, condition, NULL, 0, error, error_len);
}

static int finish_record(struct spur_async *a, struct event *e, const char *condition,
			 const struct spur_result *r, unsigned invoked,
			 const char *error, size_t error_len)
{
	struct spur_fn *fn = spur_registry_find(spur_registry_current(a->env.registry), e->fn_name,
						strlen(e->fn_name));
	const struct spur_fn_config *c = fn ? spur_fn_config(fn) : NULL;
	const char *version = r ? spur_result_executed_version(r) : NULL;
	size_t rlen = 0;
	const char *rbody = r ? spur_result_body(r, &rlen) : NULL;
	char arn[512];
	snprintf(arn, sizeof(arn), "%s%s", fn ? spur_fn_arn(fn) : e->fn_name,
		 strchr(e->target, ':') ? strchr(e->target, ':') : ":$LATEST");
	struct spur_record_in in = {
		.request_id = e->id,
		.function_arn = arn,
		.condition = condition,
		.invoke_count = invoked,
		.request_payload = e->body,
		.request_len = e->len,
		.executed_version = invoked || error ? (version ? version : "$LATEST") : NULL,
		.function_error = error ? "Unhandled" : r ? spur_result_function_error(r) : NULL,
		.response_payload = error ? error : invoked ? rbody : NULL,
		.response_len = error ? error_len : invoked ? rlen : 0,
		.traceparent = e->traceparent,
		.tracestate = e->tracestate,
	};
	size_t len = 0;
	char *record = spur_record_build(&in, &len);
	const struct spur_strlist *dests = !c ? NULL :
		strcmp(condition, "Success") == 0 ? &c->on_success : &c->on_failure;
	size_t nd = dests ? dests->n : 0;
	struct spur_store_op *ops = calloc(nd + 2, sizeof(*ops));
	struct spur_outbox_entry **entries = calloc(nd ? nd : 1, sizeof(*entries));
	struct spur_buf status;
	spur_buf_init(&status);
	int rc = -ENOMEM;
	size_t n = 0, ne = 0;
	if (!record || !ops || !entries)
		goto done;
	ops[n++] = (struct spur_store_op){ .kind = SPUR_STORE_DELETE, .id = e->id };
	spur_buf_printf(&status, "{\"state\":\"done\",\"condition\":\"%s\",\"attempts\":%u,\"record\":",
			condition, invoked);
	spur_buf_append(&status, record, len);
	spur_buf_puts(&status, "}");
	if (status.failed)
		goto done;
	ops[n++] = (struct spur_store_op){
		.kind = SPUR_STORE_KEY_SET, .ns = EVENT_NS, .key = e->id,
		.value = status.data, .value_len = status.len,
		.expires_ms = spur_store_now_ms() + EVENT_TTL_MS,
	};
	struct spur_record_meta meta = {
		.struct_size = sizeof(meta), .function = e->fn_name,
		.version = version ? version : "$LATEST", .condition = condition,
		.request_id = e->id, .hops = e->hops,
		.traceparent = e->traceparent, .tracestate = e->tracestate,
	};
	for (size_t i = 0; i < nd; i++) {
		entries[ne] = spur_outbox_prepare(a->outbox, dests->v[i], record, len, &meta, &ops[n]);
		if (!entries[ne])
			goto done;
		ne++;
		n++;
	}
	rc = a->store->apply(a->si, ops, n, NULL);
	if (rc == 0) {
		if (fn)
			spur_hist_observe(spur_fn_event_age(fn),
					  (spur_store_now_ms() - e->accepted_ms) * 1000000);
		if (strcmp(condition, "Success") != 0) {
			char labels[160];
			snprintf(labels, sizeof(labels), "function=\"%s\",reason=\"%s\"", e->fn_name,
				 condition);
			spur_counter_add(spur_metrics_counter(a->env.metrics, "spur_async_events_dropped_total",
							  "Async events given up, by reason.", labels), 1);
		}
		spur_outbox_commit(a->outbox, entries, ne);
		ne = 0;
		spur_log_write(logger(a), SPUR_LOG_INFO,
			       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
			       "async event %s: %s after %u invocation(s), %zu record(s) out",
			       e->id, condition, invoked, nd);
	}
done:
	spur_outbox_discard(entries, ne);
	spur_buf_fini(&status);
	free(entries);
	free(ops);
	free(record);
	return rc;
}

int spur_async_reject(struct spur_async *a, struct spur_fn *fn, const char *reason,
		      const void *data, size_t len)
{
	const struct spur_fn_config *c = spur_fn_config(fn);
	struct event e = { .hops = 0 };
	struct spur_buf body, err;
	spur_buf_init(&body);
	spur_buf_init(&err);
	spur_uuid(e.id);
	e.fn_name = (char *)c->name;
	e.target = (char *)c->name;
	/* the input as a JSON string (invalid UTF-8 shows as U+FFFD) */
	spur_buf_json_string(&body, data ? data : "", data ? len : 0);
	e.body = body.data;
	e.len = body.len;
	e.accepted_ms = spur_store_now_ms();
	spur_buf_puts(&err, "{\"errorMessage\":");
	spur_buf_json_string(&err, reason, strlen(reason));
	spur_buf_puts(&err, ",\"errorType\":\"Spur.InvalidInput\",\"stackTrace\":[]}");
	int rc = body.failed || err.failed ? -ENOMEM :
		finish_with(a, &e, "InvalidInput", err.data, err.len);
	spur_buf_fini(&body);
	spur_buf_fini(&err);
	return rc;
}

/* --- the workers ----------------------------------------------------------- */

static void requeue_after(struct spur_async *a, struct event *e, int64_t ms)
{
	spur_workq_push(a->sched, &e->job, spur_now_ns() + ms * 1000000);
	wake_workers(a);
}

/* A function error before max_retries: write the attempt, then wait. */
static void retry_later(struct spur_async *a, struct event *e, const struct spur_fn_config *c,
			const char *error)
{
	int64_t delay = spur_backoff_ms(c->backoff_base_ms, c->backoff_factor,
					      c->backoff_cap_ms, c->backoff_jitter, e->attempts);
	size_t alen = 0;
	char *attrs = attrs_json(e, error, &alen);
	struct spur_store_op op = {
		.kind = SPUR_STORE_UPDATE, .id = e->id,
		.visible_ms = spur_store_now_ms() + delay, .attrs = attrs, .attrs_len = alen,
	};
	int rc = attrs ? a->store->apply(a->si, &op, 1, NULL) : -ENOMEM;
	struct spur_fn *fn = spur_registry_find(spur_registry_current(a->env.registry), e->fn_name,
						strlen(e->fn_name));
	if (fn)
		spur_counter_add(spur_fn_counter(fn, SPUR_FN_RETRIED), 1);
	if (rc < 0)	/* the stored attempt count lags: a restart may run it once more */
		spur_log_write(logger(a), SPUR_LOG_WARN, NULL, "async event %s: could not record attempt %u: %s",
			       e->id, e->attempts, spur_strerror(rc));
	free(attrs);
	spur_log_write(logger(a), SPUR_LOG_INFO,
		       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
		       "async event %s: attempt %u failed (%s); retry in %lld ms",
		       e->id, e->attempts, error, (long long)delay);
	requeue_after(a, e, delay);
}

static void end(struct spur_async *a, struct event *e, const char *condition,
		const struct spur_result *r, unsigned invoked)
{
	int rc = finish(a, e, condition, r, invoked);
	if (rc == 0) {
		event_free(e);
		return;
	}
	/* The store refused (disk full...): the event stays stored; try the
	 * whole event again later rather than lose its record. */
	spur_log_write(logger(a), SPUR_LOG_ERROR, NULL, "async event %s: could not store its %s record: %s; retrying in 1 s",
		       e->id, condition, spur_strerror(rc));
	requeue_after(a, e, 1000);
}

static void error_type(const struct spur_result *r, char *out, size_t len)
{
	size_t blen = 0;
	const char *body = spur_result_body(r, &blen);
	json_t *j = body ? json_loadb(body, blen, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "errorType"));
	const char *m = json_string_value(json_object_get(j, "errorMessage"));
	snprintf(out, len, "%s: %s", t ? t : "Error", m ? m : "");
	json_decref(j);
}

static void run_event(struct spur_async *a, struct event *e)
{
	struct spur_fn *fn = spur_registry_find(spur_registry_current(a->env.registry), e->fn_name,
						strlen(e->fn_name));
	if (!fn) {
		end(a, e, "RetriesExhausted", NULL, e->attempts);
		return;
	}
	const struct spur_fn_config *c = spur_fn_config(fn);
	int max_retries, max_age_s;
	spur_event_config_get(fn, &max_retries, &max_age_s);	/* the API's, else config's */
	if (spur_store_now_ms() - e->accepted_ms > (int64_t)max_age_s * 1000) {
		end(a, e, "EventAgeExceeded", NULL, e->attempts);
		return;
	}
	struct spur_result *r = spur_exec_event(a->env.exec, e->target, e->body, e->len, e->id,
						  e->attempts + 1, e->traceparent, e->tracestate);
	if (!r) {
		requeue_after(a, e, 1000);
		return;
	}
	enum spur_status st = spur_result_status(r);
	if (st == SPUR_STATUS_THROTTLED) {
		/* no attempt used: 1 s, 2 s, 4 s ... 5 min */
		int64_t ms = THROTTLE_MIN_MS << (e->throttles < 9 ? e->throttles : 9);
		e->throttles++;
		requeue_after(a, e, ms < THROTTLE_MAX_MS ? ms : THROTTLE_MAX_MS);
	} else if (st != SPUR_STATUS_OK) {
		end(a, e, "RetriesExhausted", NULL, e->attempts);	/* gone: qualifier removed */
	} else if (!spur_result_function_error(r)) {
		e->attempts++;
		end(a, e, "Success", r, e->attempts);
	} else {
		e->attempts++;
		if ((int)e->attempts > max_retries) {
			end(a, e, "RetriesExhausted", r, e->attempts);
		} else {
			char err[256];
			error_type(r, err, sizeof(err));
			retry_later(a, e, c, err);
		}
	}
	spur_result_free(r);
}

static void consumer_run(struct spur_task *t)
{
	struct spur_async *a = ((struct consumer *)t)->a;
	struct spur_job *j;

	free(t);
	while ((j = spur_workq_pop_idle(a->sched, ASYNC_IDLE_MS)))
		run_event(a, (struct event *)j);
	atomic_fetch_sub(&a->consumers, 1);
	/* it may have given up just as a push saw it idle */
	wake_workers(a);
}

/* After a push: start a worker if there is work no idle one will take. */
static void wake_workers(struct spur_async *a)
{
	while (a->pool && spur_workq_wants_consumer(a->sched)) {
		size_t n = atomic_load(&a->consumers);
		if (n >= a->n_workers)
			return;
		if (!atomic_compare_exchange_weak(&a->consumers, &n, n + 1))
			continue;
		struct consumer *c = malloc(sizeof(*c));
		if (c) {
			*c = (struct consumer){ .task.run = consumer_run, .a = a };
			if (spur_workers_submit(a->pool, &c->task) == 0)
				return;
			free(c);
		}
		atomic_fetch_sub(&a->consumers, 1);
		return;
	}
}

/* --- restart ---------------------------------------------------------------- */

struct recover {
	struct spur_async *a;
	size_t n;
	int64_t now_ms, now_ns;
};

static void recover_one(void *ud, const struct spur_msg *m)
{
	struct recover *rc = ud;
	struct event *e = calloc(1, sizeof(*e));
	json_t *attrs = m->attrs ? json_loadb(m->attrs, m->attrs_len, 0, NULL) : NULL;
	const char *fn = json_string_value(json_object_get(attrs, "function"));
	const char *target = json_string_value(json_object_get(attrs, "target"));
	const char *tp = json_string_value(json_object_get(attrs, "traceparent"));
	const char *ts = json_string_value(json_object_get(attrs, "tracestate"));
	rc->n++;
	if (!e || !fn || !target)
		goto bad;
	snprintf(e->id, sizeof(e->id), "%s", m->id);
	e->fn_name = strdup(fn);
	e->target = strdup(target);
	e->body = malloc(m->body_len + 1);
	if (tp && spur_trace_parent_valid(tp, strlen(tp))) {
		e->traceparent = strdup(tp);
		e->tracestate = ts ? strdup(ts) : NULL;
		if (!e->traceparent || (ts && !e->tracestate))
			goto bad;
	}
	if (!e->fn_name || !e->target || !e->body)
		goto bad;
	memcpy(e->body, m->body, m->body_len);
	e->body[m->body_len] = '\0';
	e->len = m->body_len;
	e->accepted_ms = m->accepted_ms;
	e->attempts = (unsigned)json_integer_value(json_object_get(attrs, "attempts"));
	e->hops = (unsigned)json_integer_value(json_object_get(attrs, "hops"));
	json_decref(attrs);
	int64_t wait = m->visible_ms - rc->now_ms;
	spur_workq_push(rc->a->sched, &e->job, wait > 0 ? rc->now_ns + wait * 1000000 : 0);
	return;
bad:
	spur_log_write(logger(rc->a), SPUR_LOG_ERROR, NULL,
		       "async event %s: unreadable attributes in the store; left there", m->id);
	json_decref(attrs);
	event_free(e);
}

int spur_async_start(struct spur_async *a)
{
	struct recover rc = { .a = a, .now_ms = spur_store_now_ms(), .now_ns = spur_now_ns() };
	size_t before;
	do {
		before = rc.n;
		int got = a->store->peek(a->si, ASYNC_QUEUE, rc.n, RECOVER_PAGE, recover_one, &rc);
		if (got < 0)
			return got;
	} while (rc.n - before == RECOVER_PAGE);
	if (rc.n)
		spur_log_write(logger(a), SPUR_LOG_INFO, NULL, "async: %zu stored event(s) resumed", rc.n);
	a->pool = spur_workers_new("spur-async", (unsigned)a->n_workers, 100, 0);
	if (!a->pool)
		return -ENOMEM;
	/* the events just resumed: as many workers as they want */
	for (size_t n = atomic_load(&a->consumers); n < a->n_workers; n++) {
		wake_workers(a);
		if (atomic_load(&a->consumers) <= n)
			break;	/* nothing more wanted, or no thread could start */
	}
	return 0;
}

void spur_async_stop(struct spur_async *a)
{
	if (!a || !a->sched)
		return;
	spur_workq_stop(a->sched);
	spur_workers_free(a->pool);	/* waits for every worker to end */
	a->pool = NULL;
}

void spur_async_free(struct spur_async *a)
{
	if (!a)
		return;
	spur_async_stop(a);
	spur_workq_free(a->sched, job_free, NULL);
	free(a);
}

void spur_async_kick(struct spur_async *a)
{
	spur_workq_kick(a->sched);
	wake_workers(a);
}

size_t spur_async_pending(struct spur_async *a)
{
	return spur_workq_pending(a->sched);
}
