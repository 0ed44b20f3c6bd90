/* SPDX-License-Identifier: MIT */
/*
 * async.c - asynchronous invocation: from a durable 202 to a record.
 *
 * The store's "async" queue is the queue; memory holds only a window of
 * events leased to this process, so a backlog of
 * millions costs disk, not RAM, and a restart reads nothing up front.
 * The window is one event per worker.
 *
 *   submit   the event is PUT into the store (one atomic, group-committed
 *            batch); only then does the caller answer 202. When a worker
 *            is free and the store holds no older visible event, the PUT
 *            leases it at birth (receive_count 1, visible only when this
 *            process is gone) and the event goes straight to a worker
 *            with the body the caller gave: the common path writes once
 *            and reads nothing back. Otherwise it waits in the store.
 *   refill   a job on the work queue (at most one queued): take() leases
 *            up to the window's free room of the oldest visible events,
 *            bodies and attributes with them, in one write. It runs when
 *            a PUT stored a waiting event, when a retry or a throttled
 *            event comes due (the earliest visible time take() reports),
 *            and when the window has room again after it was full.
 *   workers  run each event through the same invoke path as synchronous
 *            calls, with the event id as request id and ctx.attempt.
 *            Success, or a function error past max_retries, or an event
 *            older than max_event_age, ends the event: its record goes to
 *            the outbox in the batch that deletes it. A function error
 *            before that writes the attempt count and the next time, and
 *            the event leaves memory until then. Throttling (reserved
 *            concurrency) does the same after 1 s, 2 s, ... 5 min without
 *            using an attempt.
 *   attempts receive_count counts the takes; attrs count the takes that
 *            started no run ("released": throttled, stopped before it ran)
 *            and the runs that ended ("attempts"). A take that finds more
 *            takes than those two explain finds runs that started and
 *            never ended: the process died in them (a native handler's
 *            segfault, a kill -9, a watchdog). Each counts as a failed
 *            attempt (Runtime.ExitError), so a poison event ends as
 *            RetriesExhausted after max_retries + 1 runs, however often
 *            it takes the daemon down; with retries left it runs again at
 *            once (no backoff: most deaths are not the event's fault).
 *            The lease and this count are one write: nothing can run
 *            before its start is durable. An event leased but still
 *            waiting for a worker when the process died counts too: the
 *            window (one per worker) keeps that rare.
 *   settle   the write that ends an attempt (a record and the delete, or
 *            the retry's count and time) is decided once: if the store
 *            refuses it (disk full), the event stays in memory and only
 *            the write is tried again, 1 s, 2 s, ... 30 s; it never runs
 *            again for that.
 *   restart  leases of the previous process end (release()): its events
 *            are visible again and the next takes count what it left.
 *   stop     events in memory not started are released in one write.
 *
 * An event's W3C Trace Context (traceparent, tracestate) lives in its
 * stored attributes beside the attempt count, so every attempt, a run
 * after a restart, and the record and its destinations all carry it.
 *
 * Times: the store clock for what is stored, the monotonic clock (workq.c)
 * for the refill's timer. A single node owns its store: a lease is "until
 * this process ends" (LEASE_MS), ended at the next start.
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
#define ASYNC_IDLE_MS 10000		/* a worker with nothing to do this long ends */
#define LEASE_MS (100LL * 365 * 24 * 3600 * 1000)	/* "while this process lives" */
#define LEASED_AFTER_MS (LEASE_MS / 2)	/* visible this far ahead: a lease */
#define WINDOW_PER_WORKER 1	/* leased ~ started: few are blamed for a crash */
#define SETTLE_MIN_MS 1000
#define SETTLE_MAX_MS 30000
#define STORE_RETRY_MS 1000		/* after a failed take() */

/* What ends an attempt, decided once; written until the store takes it. */
enum settle_kind { SETTLE_NONE, SETTLE_FINISH, SETTLE_RETRY };

/* The outcome of an ended event: what its record says. */
struct outcome {
	const char *condition;		/* static */
	unsigned invoked;
	char *version;			/* executed version, or NULL ($LATEST) */
	char *function_error;		/* "Unhandled", "Handled", or NULL */
	char *response;			/* the record's responsePayload, or NULL */
	size_t response_len;
	bool owned;			/* the strings are ours (else borrowed) */
};

/* An event leased to this process: in memory from its take (or its
 * leased PUT) until its settling write landed. One allocation. */
struct event {
	struct spur_job job;		/* first: the work queue hands us this pointer */
	char id[40];
	const char *fn_name;		/* these point into mem[] */
	const char *target;		/* "fn" or "fn:qual" */
	const char *body;
	size_t len;
	const char *traceparent;	/* W3C Trace Context as received, or NULL */
	const char *tracestate;
	int64_t accepted_ms;
	unsigned attempts;		/* runs that ended (function errors, crashes) */
	unsigned released;		/* takes that started no run */
	unsigned throttles;
	unsigned hops;
	unsigned crashed;		/* runs found to have died (this take) */
	enum settle_kind settle;	/* a decided write the store refused */
	unsigned settle_tries;
	struct outcome out;		/* SETTLE_FINISH */
	int64_t retry_visible_ms;	/* SETTLE_RETRY */
	char *error;			/* the last error (attrs), or NULL */
	char mem[];
};

struct spur_async {
	struct spur_async_env env;
	const struct spur_store *store;
	void *si;
	struct spur_outbox *outbox;
	struct spur_workq *sched;
	size_t n_workers;		/* at most this many at once */
	size_t window;			/* events in memory at most */
	struct spur_workers *pool;	/* their threads (spur_async_start) */
	atomic_size_t consumers;	/* workers running now */
	atomic_size_t inflight;		/* events in memory (leased to us) */
	atomic_bool store_ready;	/* the store may hold visible events */
	atomic_bool want_room;		/* a refill found the window full */
	atomic_bool running;		/* started and not stopping */
	struct spur_job refill;		/* pushed only with spur_workq_push_once */
	struct spur_counter *crashed;	/* spur_async_runs_crashed_total */
};

/* One worker: events until it has been idle ASYNC_IDLE_MS. */
struct consumer {
	struct spur_task task;
	struct spur_async *a;
};

static void wake_workers(struct spur_async *a);

static void outcome_fini(struct outcome *o)
{
	if (o->owned) {
		free(o->version);
		free(o->function_error);
		free(o->response);
	}
	*o = (struct outcome){ 0 };
}

static void event_free(struct event *e)
{
	if (!e)
		return;
	outcome_fini(&e->out);
	free(e->error);
	free(e);
}

/* An event with copies of its strings (tp, ts may be NULL). */
static struct event *event_new(const char *id, const char *fn, const char *target,
			       size_t target_len, const char *body, size_t len,
			       const char *tp, const char *ts)
{
	size_t fl = strlen(fn) + 1, tpl = tp ? strlen(tp) + 1 : 0, tsl = ts ? strlen(ts) + 1 : 0;
	struct event *e = malloc(sizeof(*e) + fl + target_len + 1 + len + 1 + tpl + tsl);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	char *p = e->mem;
	e->fn_name = memcpy(p, fn, fl);
	p += fl;
	e->target = memcpy(p, target, target_len);
	p[target_len] = '\0';
	p += target_len + 1;
	e->body = memcpy(p, body, len);
	p[len] = '\0';
	e->len = len;
	p += len + 1;
	if (tp) {
		e->traceparent = memcpy(p, tp, tpl);
		p += tpl;
	}
	if (ts)
		e->tracestate = memcpy(p, ts, tsl);
	return e;
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
	if (e->released)
		spur_buf_printf(&b, ",\"released\":%u", e->released);
	if (e->throttles)
		spur_buf_printf(&b, ",\"throttles\":%u", e->throttles);
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
	a->window = a->n_workers * WINDOW_PER_WORKER;
	if (env->metrics)
		a->crashed = spur_metrics_counter(env->metrics, "spur_async_runs_crashed_total",
						  "Async runs found, at their next take, to have "
						  "died with the process (counted as failed attempts).", "");
	if (!a->sched) {
		spur_async_free(a);
		return NULL;
	}
	return a;
}

static struct spur_fn *find_fn(struct spur_async *a, const char *name)
{
	return spur_registry_find(spur_registry_current(a->env.registry), name, strlen(name));
}

/* The store clock's time ms from now, on the work queue's clock. */
static int64_t due_ns_of(int64_t visible_ms)
{
	int64_t wait = visible_ms - spur_store_now_ms();
	return wait > 0 ? spur_now_ns() + wait * 1000000 : 0;
}

static void refill_at(struct spur_async *a, int64_t visible_ms)
{
	spur_workq_push_once(a->sched, &a->refill, due_ns_of(visible_ms));
	wake_workers(a);
}

/* An event leaves memory (its write landed, or it was never kept). */
static void event_done(struct spur_async *a, struct event *e)
{
	event_free(e);
	size_t left = atomic_fetch_sub(&a->inflight, 1) - 1;
	if (left <= a->window / 2 && atomic_load(&a->want_room) &&
	    atomic_exchange(&a->want_room, false))
		refill_at(a, 0);
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

/* Room for one more event in memory: reserve it. */
static bool reserve(struct spur_async *a, size_t n)
{
	size_t cur = atomic_load(&a->inflight);
	do {
		if (cur + n > a->window)
			return false;
	} while (!atomic_compare_exchange_weak(&a->inflight, &cur, cur + n));
	return true;
}

int spur_async_submit_traced(struct spur_async *a, struct spur_fn *fn, const char *qual,
			     size_t qual_len, const char *payload, size_t len, const char *id,
			     unsigned hops, const char *traceparent, const char *tracestate,
			     const struct spur_store_op *extra,
			     struct spur_store_conflict *conflict, char *why, size_t whylen)
{
	const struct spur_fn_config *c = spur_fn_config(fn);
	char target[512];
	int tl = snprintf(target, sizeof(target), "%s%s%.*s", c->name, qual ? ":" : "",
			  (int)qual_len, qual ? qual : "");
	size_t alen = 0;
	char *attrs = NULL;
	int rc = -ENOMEM;
	/* straight to a worker: running, room, and nothing older waits */
	bool leased = atomic_load(&a->running) && !atomic_load(&a->store_ready) && reserve(a, 1);
	struct event *e = tl < 0 || (size_t)tl >= sizeof(target) ? NULL :
		event_new(id, c->name, target, (size_t)tl, payload, len, traceparent, tracestate);
	if (!e)
		goto fail;
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
			.visible_ms = leased ? e->accepted_ms + LEASE_MS : e->accepted_ms,
			.receive_count = leased ? 1 : 0,
		},
	};
	rc = a->store->apply(a->si, ops, n, conflict);
	if (rc < 0)
		goto fail;
	spur_counter_add(spur_fn_counter(fn, SPUR_FN_RECEIVED), 1);
	free(attrs);
	if (leased) {
		spur_workq_push(a->sched, &e->job, 0);
		wake_workers(a);
	} else {
		event_free(e);
		atomic_store(&a->store_ready, true);
		refill_at(a, 0);
	}
	return 0;
fail:
	snprintf(why, whylen, "%s", rc == -ENOSPC ? "the disk is full" :
		 rc == -EAGAIN ? "the queue is at its maximum depth" :
		 rc == -EEXIST ? "the idempotency key exists" : spur_strerror(rc));
	if (rc != -EEXIST && a->env.metrics) {
		char labels[200];
		snprintf(labels, sizeof(labels), "function=\"%s\",reason=\"%s\"", c->name,
			 rc == -ENOSPC ? "disk_full" : rc == -EAGAIN ? "max_depth" : "store_error");
		spur_counter_add(spur_metrics_counter(a->env.metrics, "spur_async_events_refused_total",
						      "Async events not accepted (503), by reason.",
						      labels), 1);
	}
	free(attrs);
	if (leased)
		event_done(a, e);
	else
		event_free(e);
	return rc;
}

/* --- settling ------------------------------------------------------------- */

/* The record of an ended event goes to the outbox, and the event leaves
 * the queue, in one batch. 0, or a negative errno (then nothing changed). */
static int write_finish(struct spur_async *a, const struct event *e, const struct outcome *o)
{
	struct spur_fn *fn = find_fn(a, e->fn_name);
	const struct spur_fn_config *c = fn ? spur_fn_config(fn) : NULL;
	char arn[512];
	snprintf(arn, sizeof(arn), "%s%s", fn ? spur_fn_arn(fn) : e->fn_name,
		 strchr(e->target, ':') ? strchr(e->target, ':') : ":$LATEST");
	bool ran = o->invoked || o->function_error;
	struct spur_record_in in = {
		.request_id = e->id,
		.function_arn = arn,
		.condition = o->condition,
		.invoke_count = o->invoked,
		.request_payload = e->body,
		.request_len = e->len,
		.executed_version = ran ? (o->version ? o->version : "$LATEST") : NULL,
		.function_error = o->function_error,
		.response_payload = o->response,
		.response_len = o->response_len,
		.traceparent = e->traceparent,
		.tracestate = e->tracestate,
	};
	size_t len = 0;
	char *record = spur_record_build(&in, &len);
	const struct spur_strlist *dests = !c ? NULL :
		strcmp(o->condition, "Success") == 0 ? &c->on_success : &c->on_failure;
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
			o->condition, o->invoked);
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
		.version = o->version ? o->version : "$LATEST", .condition = o->condition,
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
		if (strcmp(o->condition, "Success") != 0) {
			char labels[160];
			snprintf(labels, sizeof(labels), "function=\"%s\",reason=\"%s\"", e->fn_name,
				 o->condition);
			spur_counter_add(spur_metrics_counter(a->env.metrics, "spur_async_events_dropped_total",
							  "Async events given up, by reason.", labels), 1);
		}
		spur_outbox_commit(a->outbox, entries, ne);
		ne = 0;
		spur_log_write(logger(a), SPUR_LOG_INFO,
			       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
			       "async event %s: %s after %u invocation(s), %zu record(s) out",
			       e->id, o->condition, o->invoked, nd);
	}
done:
	spur_outbox_discard(entries, ne);
	spur_buf_fini(&status);
	free(entries);
	free(ops);
	free(record);
	return rc;
}

/* Write the attributes and the next visible time; the event leaves
 * memory until then. */
static int write_update(struct spur_async *a, const struct event *e, int64_t visible_ms,
			const char *error)
{
	size_t alen = 0;
	char *attrs = attrs_json(e, error, &alen);
	struct spur_store_op op = {
		.kind = SPUR_STORE_UPDATE, .id = e->id,
		.visible_ms = visible_ms, .attrs = attrs, .attrs_len = alen,
	};
	int rc = attrs ? a->store->apply(a->si, &op, 1, NULL) : -ENOMEM;
	free(attrs);
	return rc;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = s ? malloc(n + 1) : NULL;
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Keep what an outcome borrows (from a result about to be freed). */
static int outcome_keep(struct outcome *o)
{
	if (o->owned)
		return 0;
	struct outcome k = { .condition = o->condition, .invoked = o->invoked, .owned = true,
			     .response_len = o->response_len };
	k.version = o->version ? strdup(o->version) : NULL;
	k.function_error = o->function_error ? strdup(o->function_error) : NULL;
	k.response = dup_n(o->response, o->response_len);
	if ((o->version && !k.version) || (o->function_error && !k.function_error) ||
	    (o->response && !k.response)) {
		/* the record loses what could not be kept, never points at freed memory */
		outcome_fini(&k);
		*o = (struct outcome){ .condition = o->condition, .invoked = o->invoked, .owned = true };
		return -ENOMEM;
	}
	*o = k;
	return 0;
}

/* Try the decided write; on a refusal keep the event and try only the
 * write again later. */
static void settle(struct spur_async *a, struct event *e)
{
	int rc = e->settle == SETTLE_FINISH ? write_finish(a, e, &e->out) :
		write_update(a, e, e->retry_visible_ms, e->error);
	if (rc == 0) {
		int64_t visible = e->settle == SETTLE_RETRY ? e->retry_visible_ms : 0;
		event_done(a, e);
		if (visible)
			refill_at(a, visible);
		return;
	}
	if (e->settle == SETTLE_FINISH)
		outcome_keep(&e->out);	/* what it borrows goes with the result */
	int64_t ms = SETTLE_MIN_MS << (e->settle_tries < 5 ? e->settle_tries : 5);
	e->settle_tries++;
	if (ms > SETTLE_MAX_MS)
		ms = SETTLE_MAX_MS;
	spur_log_write(logger(a), SPUR_LOG_ERROR,
		       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
		       "async event %s: the store refused its %s write: %s; writing it again in %lld ms "
		       "(it does not run again)", e->id,
		       e->settle == SETTLE_FINISH ? e->out.condition : "retry", spur_strerror(rc),
		       (long long)ms);
	spur_workq_push(a->sched, &e->job, spur_now_ns() + ms * 1000000);
	wake_workers(a);
}

static void end(struct spur_async *a, struct event *e, const char *condition,
		const struct spur_result *r, unsigned invoked)
{
	size_t rlen = 0;
	const char *rbody = r && invoked ? spur_result_body(r, &rlen) : NULL;
	const char *version = r ? spur_result_executed_version(r) : NULL;
	e->settle = SETTLE_FINISH;
	e->out = (struct outcome){
		.condition = condition, .invoked = invoked,
		.version = (char *)version,
		.function_error = r ? (char *)spur_result_function_error(r) : NULL,
		.response = (char *)rbody, .response_len = rlen,
	};
	settle(a, e);	/* copies what it borrows from r before r goes */
}

/* An event that ends with `error` (a Lambda error object) as its response:
 * input that never ran, or a run that died with the process. */
static void end_with(struct spur_async *a, struct event *e, const char *condition,
		     unsigned invoked, const char *error, size_t error_len)
{
	e->settle = SETTLE_FINISH;
	e->out = (struct outcome){
		.condition = condition, .invoked = invoked, .function_error = "Unhandled",
		.response = (char *)error, .response_len = error_len,
	};
	settle(a, e);
}

int spur_async_reject(struct spur_async *a, struct spur_fn *fn, const char *reason,
		      const void *data, size_t len)
{
	const struct spur_fn_config *c = spur_fn_config(fn);
	struct spur_buf body, err;
	char id[37];
	spur_buf_init(&body);
	spur_buf_init(&err);
	spur_uuid(id);
	/* the input as a JSON string (invalid UTF-8 shows as U+FFFD) */
	spur_buf_json_string(&body, data ? data : "", data ? len : 0);
	spur_buf_puts(&err, "{\"errorMessage\":");
	spur_buf_json_string(&err, reason, strlen(reason));
	spur_buf_puts(&err, ",\"errorType\":\"Spur.InvalidInput\",\"stackTrace\":[]}");
	int rc = -ENOMEM;
	struct event *e = body.failed || err.failed ? NULL :
		event_new(id, c->name, c->name, strlen(c->name), body.data, body.len, NULL, NULL);
	if (e) {
		e->accepted_ms = spur_store_now_ms();
		struct outcome o = {
			.condition = "InvalidInput", .function_error = "Unhandled",
			.response = err.data, .response_len = err.len,
		};
		/* never stored as an event: nothing to delete but harmless */
		rc = write_finish(a, e, &o);
		event_free(e);
	}
	spur_buf_fini(&body);
	spur_buf_fini(&err);
	return rc;
}

/* --- the workers ----------------------------------------------------------- */

/* Leave memory until visible_ms, counting a take that started no run
 * (throttled, or the daemon stopping); kept in memory if the store
 * refuses, to be run again later. */
static void release_until(struct spur_async *a, struct event *e, int64_t visible_ms)
{
	e->released++;
	int rc = write_update(a, e, visible_ms, e->error);
	if (rc == 0) {
		event_done(a, e);
		refill_at(a, visible_ms);
		return;
	}
	e->released--;
	spur_workq_push(a->sched, &e->job, due_ns_of(visible_ms));
	wake_workers(a);
}

/* A function error before max_retries: write the attempt, then wait. */
static void retry_later(struct spur_async *a, struct event *e, const struct spur_fn_config *c,
			const char *error)
{
	int64_t delay = spur_backoff_ms(c->backoff_base_ms, c->backoff_factor,
					      c->backoff_cap_ms, c->backoff_jitter, e->attempts);
	struct spur_fn *fn = find_fn(a, e->fn_name);
	if (fn)
		spur_counter_add(spur_fn_counter(fn, SPUR_FN_RETRIED), 1);
	free(e->error);
	e->error = strdup(error);
	e->settle = SETTLE_RETRY;
	e->retry_visible_ms = spur_store_now_ms() + delay;
	spur_log_write(logger(a), SPUR_LOG_INFO,
		       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
		       "async event %s: attempt %u failed (%s); retry in %lld ms",
		       e->id, e->attempts, error, (long long)delay);
	settle(a, e);
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

/* The take found runs that died with the process: failed attempts. Past
 * max_retries the event ends (true); otherwise it runs now (false), with
 * no backoff: most deaths are the daemon's (kill -9, OOM), not the
 * event's, and the count alone stops a poison event. */
static bool settle_crashed(struct spur_async *a, struct event *e, int max_retries)
{
	spur_counter_add(a->crashed, e->crashed);
	spur_log_write(logger(a), SPUR_LOG_WARN,
		       &(struct spur_log_ctx){ .request_id = e->id, .function = e->fn_name },
		       "async event %s: %u run(s) ended with the process; counted as failed "
		       "attempt(s) (%u of %d retries used)", e->id, e->crashed,
		       e->attempts > 0 ? e->attempts - 1 : 0, max_retries);
	e->crashed = 0;
	if ((int)e->attempts <= max_retries)
		return false;
	char err[256];
	int n = snprintf(err, sizeof(err),
			 "{\"errorMessage\":\"RequestId: %s Error: the process ended during "
			 "the invocation\",\"errorType\":\"Runtime.ExitError\"}", e->id);
	end_with(a, e, "RetriesExhausted", e->attempts, err, (size_t)n);
	return true;
}

static void run_event(struct spur_async *a, struct event *e)
{
	if (e->settle != SETTLE_NONE) {		/* only its write is left */
		settle(a, e);
		return;
	}
	struct spur_fn *fn = find_fn(a, e->fn_name);
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
	if (e->crashed && settle_crashed(a, e, max_retries))
		return;
	struct spur_result *r = spur_exec_event(a->env.exec, e->target, e->body, e->len, e->id,
						  e->attempts + 1, e->traceparent, e->tracestate);
	if (!r) {	/* could not start (out of memory): later, no attempt used */
		release_until(a, e, spur_store_now_ms() + 1000);
		return;
	}
	enum spur_status st = spur_result_status(r);
	if (st == SPUR_STATUS_THROTTLED) {
		/* no attempt used: 1 s, 2 s, 4 s ... 5 min */
		int64_t ms = THROTTLE_MIN_MS << (e->throttles < 9 ? e->throttles : 9);
		e->throttles++;
		release_until(a, e, spur_store_now_ms() + (ms < THROTTLE_MAX_MS ? ms : THROTTLE_MAX_MS));
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

/* --- the refill: take from the store --------------------------------------- */

struct taking {
	struct spur_async *a;
	struct event *head, **tail;
	size_t n;
};

/* One taken message: an event in memory, its crashed runs counted. */
static void taken_one(void *ud, const struct spur_msg *m)
{
	struct taking *t = ud;
	json_t *attrs = m->attrs ? json_loadb(m->attrs, m->attrs_len, 0, NULL) : NULL;
	const char *fn = json_string_value(json_object_get(attrs, "function"));
	const char *target = json_string_value(json_object_get(attrs, "target"));
	const char *tp = json_string_value(json_object_get(attrs, "traceparent"));
	const char *ts = json_string_value(json_object_get(attrs, "tracestate"));
	const char *err = json_string_value(json_object_get(attrs, "error"));
	struct event *e = NULL;
	t->n++;
	if (!fn || !target)
		goto bad;
	if (tp && !spur_trace_parent_valid(tp, strlen(tp)))
		tp = ts = NULL;
	e = event_new(m->id, fn, target, strlen(target), m->body ? m->body : "", m->body_len,
		      tp, tp ? ts : NULL);
	if (!e || (err && !(e->error = strdup(err))))
		goto bad;
	e->accepted_ms = m->accepted_ms;
	e->attempts = (unsigned)json_integer_value(json_object_get(attrs, "attempts"));
	e->hops = (unsigned)json_integer_value(json_object_get(attrs, "hops"));
	e->released = (unsigned)json_integer_value(json_object_get(attrs, "released"));
	e->throttles = (unsigned)json_integer_value(json_object_get(attrs, "throttles"));
	/* takes before this one that neither started no run nor ended one */
	int64_t started = (int64_t)m->receive_count - 1 - e->released;
	if (started > (int64_t)e->attempts) {
		e->crashed = (unsigned)(started - e->attempts);
		e->attempts += e->crashed;
	}
	json_decref(attrs);
	e->job.next = NULL;
	*t->tail = e;
	t->tail = (struct event **)&e->job.next;
	return;
bad:
	/* left leased: it stays in the store (visible again at the next
	 * start) and takes no slot in memory */
	spur_log_write(logger(t->a), SPUR_LOG_ERROR, NULL,
		       "async event %s: unreadable attributes in the store (or no memory); left there",
		       m->id);
	json_decref(attrs);
	event_free(e);
	atomic_fetch_sub(&t->a->inflight, 1);
}

static void refill_run(struct spur_async *a)
{
	size_t room = 0;
	size_t cur = atomic_load(&a->inflight);
	do {	/* reserve what is free */
		room = cur < a->window ? a->window - cur : 0;
	} while (room && !atomic_compare_exchange_weak(&a->inflight, &cur, cur + room));
	if (!room) {
		atomic_store(&a->want_room, true);
		/* an event may have left between the check and the flag */
		if (atomic_load(&a->inflight) <= a->window / 2 && atomic_exchange(&a->want_room, false))
			refill_at(a, 0);
		return;
	}
	struct taking t = { .a = a };
	t.tail = &t.head;
	int64_t now = spur_store_now_ms(), next = INT64_MAX;
	int got = a->store->take(a->si, ASYNC_QUEUE, now, LEASE_MS, room, taken_one, &t, &next);
	if (got < 0) {
		spur_log_write(logger(a), SPUR_LOG_ERROR, NULL, "async: take failed: %s; again in %d ms",
			       spur_strerror(got), STORE_RETRY_MS);
		got = 0;
		next = now + STORE_RETRY_MS;
	}
	atomic_fetch_sub(&a->inflight, room - (size_t)got);
	for (struct event *e = t.head, *nx; e; e = nx) {
		nx = (struct event *)e->job.next;
		spur_workq_push(a->sched, &e->job, 0);
		wake_workers(a);	/* a worker per event, up to n_workers */
	}
	if ((size_t)got == room) {		/* full: more may wait */
		atomic_store(&a->want_room, true);
		if (atomic_load(&a->inflight) <= a->window / 2 && atomic_exchange(&a->want_room, false))
			refill_at(a, 0);
	} else if (next <= now) {		/* visible meanwhile */
		refill_at(a, 0);
	} else {
		atomic_store(&a->store_ready, false);
		if (next < now + LEASED_AFTER_MS)	/* a retry or throttled event */
			refill_at(a, next);
	}
	wake_workers(a);
}

static void consumer_run(struct spur_task *t)
{
	struct spur_async *a = ((struct consumer *)t)->a;
	struct spur_job *j;

	free(t);
	while ((j = spur_workq_pop_idle(a->sched, ASYNC_IDLE_MS))) {
		if (j == &a->refill)
			refill_run(a);
		else
			run_event(a, (struct event *)j);
	}
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

/* --- start and stop ---------------------------------------------------------- */

static void count_async(void *ud, const struct spur_queue_stats *s)
{
	if (strcmp(s->queue, ASYNC_QUEUE) == 0)
		*(uint64_t *)ud += s->visible + s->delayed;
}

int spur_async_start(struct spur_async *a)
{
	int64_t now = spur_store_now_ms();
	bool can_release = a->store->struct_size >= offsetof(struct spur_store, release) +
						    sizeof(a->store->release) && a->store->release;
	if (can_release) {	/* the previous process's leases end */
		int64_t n = a->store->release(a->si, ASYNC_QUEUE, now + LEASED_AFTER_MS, now);
		if (n < 0)
			return (int)n;
	}
	uint64_t stored = 0;
	if (a->store->stats)
		a->store->stats(a->si, now, count_async, &stored);
	if (stored)
		spur_log_write(logger(a), SPUR_LOG_INFO, NULL, "async: %llu stored event(s) resumed",
			       (unsigned long long)stored);
	a->pool = spur_workers_new("spur-async", (unsigned)a->n_workers, 100, 0);
	if (!a->pool)
		return -ENOMEM;
	atomic_store(&a->store_ready, true);
	atomic_store(&a->running, true);
	refill_at(a, 0);
	return 0;
}

/* At stop, what is in memory: a decided write is tried once more; an
 * event not started goes back to the store, visible now. */
static void release_job(struct spur_job *j, void *ud)
{
	struct spur_async *a = ud;
	if (j == &a->refill)
		return;
	struct event *e = (struct event *)j;
	int rc;
	if (e->settle == SETTLE_FINISH) {
		rc = write_finish(a, e, &e->out);
	} else if (e->settle == SETTLE_RETRY) {
		rc = write_update(a, e, e->retry_visible_ms, e->error);
	} else {
		e->released++;
		rc = write_update(a, e, spur_store_now_ms(), e->error);
	}
	if (rc < 0)
		spur_log_write(logger(a), SPUR_LOG_WARN, NULL,
			       "async event %s: not released at stop (%s): the next start counts "
			       "its take as a failed attempt", e->id, spur_strerror(rc));
	event_free(e);
	atomic_fetch_sub(&a->inflight, 1);
}

void spur_async_stop(struct spur_async *a)
{
	if (!a || !a->sched)
		return;
	atomic_store(&a->running, false);
	spur_workq_stop(a->sched);
	spur_workers_free(a->pool);	/* waits for every worker to end */
	a->pool = NULL;
	spur_workq_drain(a->sched, release_job, a);
}

void spur_async_free(struct spur_async *a)
{
	if (!a)
		return;
	spur_async_stop(a);
	if (a->sched)	/* pushed after the stop's drain */
		spur_workq_free(a->sched, release_job, a);
	free(a);
}

void spur_async_kick(struct spur_async *a)
{
	spur_workq_kick(a->sched);
	wake_workers(a);
}

size_t spur_async_pending(struct spur_async *a)
{
	return atomic_load(&a->inflight);
}
