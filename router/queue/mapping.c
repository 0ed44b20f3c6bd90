/* SPDX-License-Identifier: MIT */
/*
 * mapping.c - internal queues (SQS semantics) and the event-source
 * mappings that poll them in batches (see mapping.h, SPEC §2.3).
 *
 *   intake   spur_queue_put() PUTs messages in one atomic batch after a
 *            max_depth check (a stats() snapshot at most DEPTH_FRESH_MS
 *            old plus what was put since), then wakes the queue's pollers.
 *   pollers  max_concurrency threads per mapping. Each takes up to
 *            batch_size visible messages under the queue's
 *            visibility_timeout (the lease), and while the batch is short
 *            and its batch_window (counted from the first record) is not
 *            over, sleeps until the window ends, the next message becomes
 *            visible (take()'s next_ms) or a PUT wakes it: no busy polling.
 *            A batch stops growing at 6 MB.
 *   a batch  records past `retention` are deleted; records received more
 *            than max_receive times (a crash, a long run) are redriven
 *            without running; records no filter matches are deleted and
 *            counted. The rest go to the function as {"Records": [...]},
 *            in the shape of Lambda's SQS records. Success deletes them;
 *            with report_batch_item_failures only the listed
 *            itemIdentifiers stay (a malformed answer or an unknown id
 *            fails the batch); a function error or a throttle fails the
 *            batch. A failed record stays leased until its visibility
 *            timeout ends and is then received again, unless it has been
 *            received max_receive times: then it is MOVEd to the queue's
 *            dead_letter queue and, when the mapping has on_failure
 *            destinations, a RetryAttemptsExhausted record describing the
 *            batch goes to the outbox in the same atomic write.
 *   pause    an admin call (or enabled: false) parks the pollers on the
 *            queue's condition variable; resume wakes them.
 *
 * At least once: a message leaves its queue only by a write made after
 * the function answered (or after it was filtered, expired or redriven);
 * a kill -9 leaves leased messages in the store, visible again when their
 * lease ends. Mappings and queue settings are read at start (a reload does
 * not change them).
 * Threads: the pollers, and any thread calling intake / notify / pause.
 * Cost per batch: one take() write per wake-up, one settling write, one
 * JSON document of the records; filters parse bodies only when present.
 * The records' SQS shape, the filter check and the batchItemFailures
 * answer are in mapping_batch.c; the structures in mapping_priv.h.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "function.h"
#include "run.h"
#include "log.h"
#include "mapping.h"
#include "mapping_priv.h"
#include "metrics.h"
#include "outbox.h"
#include "record.h"
#include "util.h"

#define DEPTH_FRESH_MS 200		/* max_depth: how old a depth count may be */
#define IDLE_WAIT_MS (60 * 1000)	/* an empty queue: look again this often anyway */
#define STORE_RETRY_MS 1000		/* after a failed take() */

/* --- queues ---------------------------------------------------------------------- */

static struct qstate *queue_find(struct spur_mappings *m, const char *name)
{
	for (size_t i = 0; m && name && i < m->n_queues; i++)
		if (strcmp(m->queues[i].cfg->name, name) == 0)
			return &m->queues[i];
	return NULL;
}

static void wake(struct qstate *q)
{
	pthread_mutex_lock(&q->lock);
	q->seq++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void spur_mappings_notify(struct spur_mappings *m, const char *queue, size_t added)
{
	struct qstate *q = queue_find(m, queue);
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->seq++;
	q->depth += (int64_t)added;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct depth_count {
	const char *queue;
	int64_t n;
};

static void depth_cb(void *ud, const struct spur_queue_stats *s)
{
	struct depth_count *d = ud;
	if (strcmp(s->queue, d->queue) == 0)
		d->n = (int64_t)(s->visible + s->delayed);
}

/* Would n more messages pass the queue's max_depth? */
static bool depth_allows(struct spur_mappings *m, struct qstate *q, size_t n)
{
	if (q->cfg->max_depth <= 0)
		return true;
	int64_t now = spur_store_now_ms();
	pthread_mutex_lock(&q->lock);
	bool stale = q->depth_ms == 0 || now - q->depth_ms > DEPTH_FRESH_MS;
	pthread_mutex_unlock(&q->lock);
	if (stale) {
		struct depth_count d = { .queue = q->cfg->name };
		if (m->st->stats(m->si, now, depth_cb, &d) >= 0) {
			pthread_mutex_lock(&q->lock);
			q->depth = d.n;
			q->depth_ms = now;
			pthread_mutex_unlock(&q->lock);
		}
	}
	pthread_mutex_lock(&q->lock);
	bool ok = q->depth + (int64_t)n <= q->cfg->max_depth;
	pthread_mutex_unlock(&q->lock);
	return ok;
}

int spur_queue_put(struct spur_mappings *m, const char *queue, const char *const *bodies,
		   const size_t *lens, size_t n, char (*ids)[37])
{
	struct qstate *q = queue_find(m, queue);
	if (!m)
		return -ENODEV;
	if (!q)
		return -ENOENT;
	if (n == 0)
		return 0;
	if (!depth_allows(m, q, n))
		return -EAGAIN;
	struct spur_store_op *ops = calloc(n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	int64_t now = spur_store_now_ms();
	for (size_t i = 0; i < n; i++) {
		spur_uuid(ids[i]);
		ops[i] = (struct spur_store_op){
			.kind = SPUR_STORE_PUT,
			.msg = {
				.id = ids[i], .queue = q->cfg->name, .body = bodies[i],
				.body_len = lens[i], .accepted_ms = now, .visible_ms = now,
			},
		};
	}
	int rc = m->st->apply(m->si, ops, n, NULL);
	free(ops);
	if (rc == 0)
		spur_mappings_notify(m, q->cfg->name, n);
	return rc;
}

/* --- taking a batch ------------------------------------------------------------------ */

/* Messages taken past the size cap become visible again at once. */
static void release_over(struct mapping *mp, struct batch *b)
{
	struct spur_mappings *m = mp->set;
	int64_t now = spur_store_now_ms();
	for (size_t i = 0; i < b->n_over; i++) {
		struct spur_store_op op = { .kind = SPUR_STORE_UPDATE, .id = b->over[i], .visible_ms = now };
		m->st->apply(m->si, &op, 1, NULL);	/* failing that, the lease ends by itself */
	}
}

static bool halted(struct mapping *mp)
{
	return atomic_load(&mp->set->stopping) || atomic_load(&mp->paused);
}

/* Sleep until `until` (store clock), a wake-up of the queue after `seq`,
 * a pause or the stop. */
static void wait_until(struct mapping *mp, uint64_t seq, int64_t until)
{
	struct qstate *q = mp->q;
	int64_t wait_ms = until - spur_store_now_ms();
	if (wait_ms <= 0)
		return;
	struct timespec ts;
	spur_deadline_timespec(spur_now_ns() + wait_ms * 1000000, &ts);
	pthread_mutex_lock(&q->lock);
	while (q->seq == seq && !halted(mp))
		if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&q->lock);
}

/* Fill `b` as SPEC §2.3 says: until batch_size, 6 MB, or the window's end. */
static void gather(struct mapping *mp, struct batch *b)
{
	struct spur_mappings *m = mp->set;
	const struct spur_mapping_config *c = mp->cfg;
	struct qstate *q = mp->q;
	size_t want = (size_t)c->batch_size;
	while (!halted(mp)) {
		pthread_mutex_lock(&q->lock);
		uint64_t seq = q->seq;
		pthread_mutex_unlock(&q->lock);
		int64_t now = spur_store_now_ms(), next = INT64_MAX;
		int got = m->st->take(m->si, q->cfg->name, now, q->cfg->visibility_timeout_ms,
				      want - b->n, spur_mapping_take_cb, b, &next);
		if (b->n_over) {
			release_over(mp, b);
			return;
		}
		if (got < 0) {
			spur_log_write(m->env.log, SPUR_LOG_WARN, NULL,
				       "mapping %zu (%s): take failed: %s; again in %d ms", mp->index,
				       c->source, spur_strerror(got), STORE_RETRY_MS);
			if (b->n)
				return;
			wait_until(mp, seq, now + STORE_RETRY_MS);
			continue;
		}
		if (b->n && !b->first_ms)
			b->first_ms = now;
		if (b->n >= want || b->oom)
			return;
		int64_t until;
		if (b->n) {
			if (c->batch_window_ms == 0 || now >= b->first_ms + c->batch_window_ms)
				return;
			until = b->first_ms + c->batch_window_ms;
		} else {
			until = now + IDLE_WAIT_MS;
		}
		if (next < until)
			until = next > now ? next : now + 1;
		wait_until(mp, seq, until);
	}
}

/* --- running a batch -------------------------------------------------------------------- */

struct invoked {
	struct spur_result *r;		/* NULL: never ran (all filtered) or no memory */
	const char *request_id;
};

/* One write: deletes, redrives (with their record) in one batch. A batch
 * the store refuses whole (a message purged meanwhile: MOVE -ENOENT) is
 * applied op by op. */
static void settle(struct mapping *mp, struct batch *b, const struct invoked *inv, int64_t now)
{
	struct spur_mappings *m = mp->set;
	const struct spur_mapping_config *c = mp->cfg;
	const struct spur_log *log = m->env.log;
	size_t n_redrive = 0, nd = c->on_failure.n, n = 0, ne = 0;
	for (size_t i = 0; i < b->n; i++)
		n_redrive += b->it[i].fate == ITEM_REDRIVE;
	struct spur_store_op *ops = calloc(b->n + nd + 1, sizeof(*ops));
	struct spur_outbox_entry **entries = calloc(nd + 1, sizeof(*entries));
	size_t *entry_op = calloc(nd + 1, sizeof(*entry_op));
	char *record = NULL, *info = NULL;
	if (!ops || !entries || !entry_op) {
		spur_log_write(log, SPUR_LOG_ERROR, NULL, "mapping %zu: out of memory settling a batch; "
			       "its records come back when their lease ends", mp->index);
		goto done;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->it[i];
		if (it->fate == ITEM_DELETE)
			ops[n++] = (struct spur_store_op){ .kind = SPUR_STORE_DELETE, .id = it->id };
		else if (it->fate == ITEM_REDRIVE)
			ops[n++] = (struct spur_store_op){
				.kind = SPUR_STORE_MOVE, .id = it->id, .queue = mp->q->cfg->dead_letter,
				.visible_ms = now,
			};
	}
	if (n_redrive && nd) {
		char rid[37];
		const char *request_id = inv->request_id;
		if (!request_id) {
			spur_uuid(rid);
			request_id = rid;
		}
		size_t ilen = 0, rlen = 0, blen = 0;
		info = spur_mapping_batch_info(mp, b, now, request_id, &ilen);
		const char *colon = strchr(c->function, ':');
		size_t flen = colon ? (size_t)(colon - c->function) : strlen(c->function);
		struct spur_fn *fn = spur_registry_find(spur_registry_current(m->env.registry), c->function, flen);
		char arn[512];
		snprintf(arn, sizeof(arn), "%s%s", fn ? spur_fn_arn(fn) : c->function,
			 colon ? colon : ":$LATEST");
		const char *version = inv->r ? spur_result_executed_version(inv->r) : NULL;
		const char *rbody = inv->r ? spur_result_body(inv->r, &blen) : NULL;
		uint32_t count = 0;
		for (size_t i = 0; i < b->n; i++)
			if (b->it[i].fate == ITEM_REDRIVE && b->it[i].receive_count > count)
				count = b->it[i].receive_count;
		struct spur_record_in in = {
			.request_id = request_id,
			.function_arn = arn,
			.condition = "RetryAttemptsExhausted",
			.invoke_count = count,
			.request_payload = info,
			.request_len = ilen,
			.executed_version = version ? version : "$LATEST",
			.function_error = inv->r && spur_result_function_error(inv->r) ?
				spur_result_function_error(inv->r) : "Unhandled",
			.response_payload = rbody,
			.response_len = rbody ? blen : 0,
		};
		record = info ? spur_record_build(&in, &rlen) : NULL;
		struct spur_record_meta meta = {
			.struct_size = sizeof(meta), .function = fn ? spur_fn_name(fn) : "",
			.version = version ? version : "$LATEST", .condition = "RetryAttemptsExhausted",
			.request_id = request_id,
		};
		for (size_t d = 0; record && d < nd; d++) {
			entries[ne] = spur_outbox_prepare(m->outbox, c->on_failure.v[d], record, rlen,
							  &meta, &ops[n]);
			if (!entries[ne])
				break;
			entry_op[ne++] = n++;
		}
		if (!record || ne < nd)
			spur_log_write(log, SPUR_LOG_ERROR, NULL, "mapping %zu: out of memory: the "
				       "RetryAttemptsExhausted record of batch %s is lost",
				       mp->index, request_id);
	}
	if (n == 0)
		goto done;
	int rc = m->st->apply(m->si, ops, n, NULL);
	if (rc == 0) {
		spur_outbox_commit(m->outbox, entries, ne);
		ne = 0;
	} else {
		/* op by op: what still exists settles; the records go with their own write */
		size_t e = 0;
		for (size_t i = 0; i < n; i++) {
			int one = m->st->apply(m->si, &ops[i], 1, NULL);
			if (e < ne && entry_op[e] == i) {
				if (one == 0)
					spur_outbox_commit(m->outbox, &entries[e], 1);
				else
					spur_outbox_discard(&entries[e], 1);
				entries[e++] = NULL;
			}
		}
		ne = 0;
		spur_log_write(log, SPUR_LOG_WARN, NULL, "mapping %zu: settling a batch of %zu write(s) "
			       "failed whole (%s); applied one by one", mp->index, n, spur_strerror(rc));
	}
	if (n_redrive) {
		spur_counter_add(mp->redriven, n_redrive);
		spur_mappings_notify(m, mp->q->cfg->dead_letter, n_redrive);
		spur_log_write(log, SPUR_LOG_WARN, NULL, "mapping %zu (%s): %zu message(s) moved to "
			       "dead-letter queue %s after %lld receive(s)", mp->index, c->source,
			       n_redrive, mp->q->cfg->dead_letter, (long long)mp->q->cfg->max_receive);
	}
done:
	spur_outbox_discard(entries, ne);
	free(entries);
	free(entry_op);
	free(ops);
	free(record);
	free(info);
}

static void run_batch(struct mapping *mp, struct batch *b)
{
	struct spur_mappings *m = mp->set;
	const struct spur_mapping_config *c = mp->cfg;
	const struct spur_queue_config *qc = mp->q->cfg;
	const struct spur_log *log = m->env.log;
	int64_t now = spur_store_now_ms(), oldest = now;
	size_t live = 0, filtered = 0, expired = 0;
	uint32_t attempt = 1;
	struct invoked inv = { 0 };
	char rid[37];
	struct spur_buf p;
	spur_buf_init(&p);

	/* triage: what never reaches the function */
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->it[i];
		it->fate = ITEM_LIVE;
		if (now - it->accepted_ms > qc->retention_ms) {
			it->fate = ITEM_DELETE;
			expired++;
		} else if (qc->max_receive > 0 && it->receive_count > (uint32_t)qc->max_receive) {
			it->fate = ITEM_REDRIVE;
		} else if (!spur_mapping_passes(mp, it, now)) {
			it->fate = ITEM_DELETE;
			filtered++;
		} else {
			live++;
			attempt = it->receive_count > attempt ? it->receive_count : attempt;
			oldest = it->accepted_ms < oldest ? it->accepted_ms : oldest;
		}
	}
	spur_counter_add(mp->filtered, filtered);
	spur_counter_add(mp->expired, expired);
	if (live == 0)
		goto settle;

	spur_buf_reserve(&p, b->bytes + 32);
	spur_buf_puts(&p, "{\"Records\":[");
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->it[i].fate != ITEM_LIVE)
			continue;
		spur_buf_puts(&p, k++ ? "," : "");
		spur_mapping_record_json(&p, mp, &b->it[i], now);
	}
	spur_buf_puts(&p, "]}");
	spur_uuid(rid);
	inv.request_id = rid;
	spur_counter_add(mp->batches, 1);
	spur_counter_add(mp->records, live);
	spur_gauge_set(mp->size, (int64_t)live);
	spur_gauge_set(mp->age, now - oldest);
	inv.r = p.failed ? NULL : spur_exec_event(m->env.exec, c->function, p.data, p.len, rid, attempt,
							    NULL, NULL);

	/* the outcome */
	const char *why = NULL;
	enum spur_status st = inv.r ? spur_result_status(inv.r) : SPUR_STATUS_INTERNAL;
	size_t blen = 0;
	const char *body = inv.r ? spur_result_body(inv.r, &blen) : NULL;
	if (!inv.r)
		why = "out of memory";
	else if (st == SPUR_STATUS_THROTTLED)
		why = "throttled";
	else if (st != SPUR_STATUS_OK)
		why = spur_result_error_message(inv.r);
	else if (spur_result_function_error(inv.r))
		why = "function error";
	else if (c->report_batch_item_failures && !spur_mapping_item_failures(b, body, blen))
		why = "malformed batchItemFailures answer (or an unknown itemIdentifier)";
	size_t failed = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->it[i];
		if (it->fate == ITEM_LIVE && why)
			it->fate = ITEM_KEEP;
		if (it->fate == ITEM_LIVE) {
			it->fate = ITEM_DELETE;
		} else if (it->fate == ITEM_KEEP) {
			failed++;
			/* received max_receive times: no further lease is waited for */
			if (qc->max_receive > 0 && it->receive_count >= (uint32_t)qc->max_receive)
				it->fate = ITEM_REDRIVE;
		}
	}
	spur_counter_add(mp->failed, failed);
	if (why)
		spur_log_write(log, SPUR_LOG_WARN, &(struct spur_log_ctx){ .request_id = rid },
			       "mapping %zu (%s): batch %s of %zu record(s) failed: %s", mp->index,
			       c->source, rid, live, why);
	else if (failed)
		spur_log_write(log, SPUR_LOG_INFO, &(struct spur_log_ctx){ .request_id = rid },
			       "mapping %zu (%s): batch %s: %zu of %zu record(s) reported failed",
			       mp->index, c->source, rid, failed, live);
settle:
	settle(mp, b, &inv, now);
	spur_result_free(inv.r);
	spur_buf_fini(&p);
}

static void *poller_main(void *arg)
{
	struct mapping *mp = arg;
	struct qstate *q = mp->q;
	struct batch b = { 0 };
	while (!atomic_load(&mp->set->stopping)) {
		pthread_mutex_lock(&q->lock);
		while (atomic_load(&mp->paused) && !atomic_load(&mp->set->stopping))
			pthread_cond_wait(&q->cond, &q->lock);
		pthread_mutex_unlock(&q->lock);
		gather(mp, &b);
		if (b.n)
			run_batch(mp, &b);
		spur_mapping_batch_clear(&b);
	}
	spur_mapping_batch_fini(&b);
	return NULL;
}

/* --- life cycle and admin -------------------------------------------------------------- */

static struct spur_counter *counter(struct mapping *mp, const char *name, const char *help)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "mapping=\"%zu\",queue=\"%s\",function=\"%s\"", mp->index,
		 mp->q->cfg->name, mp->cfg->function);
	return spur_metrics_counter(mp->set->env.metrics, name, help, labels);
}

static struct spur_gauge *gauge(struct mapping *mp, const char *name, const char *help)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "mapping=\"%zu\",queue=\"%s\",function=\"%s\"", mp->index,
		 mp->q->cfg->name, mp->cfg->function);
	return spur_metrics_gauge(mp->set->env.metrics, name, help, labels);
}

struct spur_mappings *spur_mappings_new(const struct spur_mappings_env *env)
{
	const struct spur_config *cfg = env->config;
	struct spur_mappings *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->env = *env;
	m->st = env->store;
	m->si = env->store_instance;
	m->outbox = env->outbox;
	atomic_init(&m->stopping, false);
	m->queues = calloc(cfg->n_queues ? cfg->n_queues : 1, sizeof(*m->queues));
	m->maps = calloc(cfg->n_mappings ? cfg->n_mappings : 1, sizeof(*m->maps));
	if (!m->queues || !m->maps)
		goto fail;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (; m->n_queues < cfg->n_queues; m->n_queues++) {
		struct qstate *q = &m->queues[m->n_queues];
		q->cfg = &cfg->queues[m->n_queues];
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->cond, &ca);
	}
	pthread_condattr_destroy(&ca);
	for (; m->n < cfg->n_mappings; m->n++) {
		struct mapping *mp = &m->maps[m->n];
		mp->set = m;
		mp->index = m->n;
		mp->cfg = &cfg->mappings[m->n];
		mp->q = queue_find(m, mp->cfg->queue);
		atomic_init(&mp->paused, !mp->cfg->enabled);
		if (!mp->q)
			goto fail;	/* the config checked it */
		if (mp->cfg->filters.n &&
		    !(mp->filter = spur_filter_new(mp->cfg->filters.v, mp->cfg->filters.n)))
			goto fail;
		snprintf(mp->source_arn, sizeof(mp->source_arn), "arn:aws:sqs:%s:%s:%s",
			 cfg->arn_region, cfg->arn_account, mp->q->cfg->name);
		mp->threads = calloc((size_t)mp->cfg->max_concurrency, sizeof(*mp->threads));
		if (!mp->threads)
			goto fail;
		mp->batches = counter(mp, "spur_mapping_batches_total", "Batches a mapping invoked its function with.");
		mp->records = counter(mp, "spur_mapping_records_total", "Records sent in batches (their sum of batch sizes).");
		mp->filtered = counter(mp, "spur_mapping_filtered_total", "Records no filter matched: deleted without invoking.");
		mp->failed = counter(mp, "spur_mapping_failed_records_total", "Records of failed batches or reported as batch item failures.");
		mp->redriven = counter(mp, "spur_mapping_dead_lettered_total", "Records moved to the dead-letter queue after max_receive receives.");
		mp->expired = counter(mp, "spur_mapping_expired_total", "Records older than the queue's retention, deleted.");
		mp->size = gauge(mp, "spur_mapping_batch_size", "Records in the last batch.");
		mp->age = gauge(mp, "spur_mapping_batch_age_ms", "Age of the oldest record of the last batch when it was sent, ms.");
	}
	return m;
fail:
	spur_mappings_free(m);
	return NULL;
}

int spur_mappings_start(struct spur_mappings *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct mapping *mp = &m->maps[i];
		for (; mp->n_threads < (size_t)mp->cfg->max_concurrency; mp->n_threads++)
			if (pthread_create(&mp->threads[mp->n_threads], NULL, poller_main, mp) != 0)
				return -EAGAIN;
		spur_log_write(m->env.log, SPUR_LOG_INFO, NULL,
			       "mapping %zu: %s -> %s (batch %lld, window %lld ms, %zu poller(s))%s", i,
			       mp->cfg->source, mp->cfg->function, (long long)mp->cfg->batch_size,
			       (long long)mp->cfg->batch_window_ms, mp->n_threads,
			       atomic_load(&mp->paused) ? ", paused" : "");
	}
	return 0;
}

void spur_mappings_stop(struct spur_mappings *m)
{
	if (!m)
		return;
	atomic_store(&m->stopping, true);
	for (size_t i = 0; i < m->n_queues; i++)
		wake(&m->queues[i]);
	for (size_t i = 0; i < m->n; i++) {
		for (size_t t = 0; t < m->maps[i].n_threads; t++)
			pthread_join(m->maps[i].threads[t], NULL);
		m->maps[i].n_threads = 0;
	}
}

void spur_mappings_free(struct spur_mappings *m)
{
	if (!m)
		return;
	spur_mappings_stop(m);
	for (size_t i = 0; i < m->n; i++) {
		spur_filter_free(m->maps[i].filter);
		free(m->maps[i].threads);
	}
	for (size_t i = 0; i < m->n_queues; i++) {
		pthread_mutex_destroy(&m->queues[i].lock);
		pthread_cond_destroy(&m->queues[i].cond);
	}
	free(m->maps);
	free(m->queues);
	free(m);
}

int spur_mappings_pause(struct spur_mappings *m, size_t i, bool paused)
{
	if (!m || i >= m->n)
		return -ENOENT;
	struct mapping *mp = &m->maps[i];
	if (atomic_exchange(&mp->paused, paused) != paused)
		spur_log_write(m->env.log, SPUR_LOG_INFO, NULL, "mapping %zu (%s -> %s): %s",
			       i, mp->cfg->source, mp->cfg->function, paused ? "paused" : "resumed");
	wake(mp->q);
	return 0;
}

json_t *spur_mappings_describe(struct spur_mappings *m)
{
	json_t *list = json_array();
	for (size_t i = 0; m && list && i < m->n; i++) {
		const struct mapping *mp = &m->maps[i];
		const struct spur_mapping_config *c = mp->cfg;
		json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:s}",
				      "index", (json_int_t)i, "source", c->source,
				      "function", c->function, "batchSize", (json_int_t)c->batch_size,
				      "batchWindowMs", (json_int_t)c->batch_window_ms,
				      "maxConcurrency", (json_int_t)c->max_concurrency,
				      "reportBatchItemFailures", c->report_batch_item_failures,
				      "filters", (json_int_t)c->filters.n,
				      "state", atomic_load(&mp->paused) ? "paused" : "enabled");
		if (!o || json_array_append_new(list, o) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}
