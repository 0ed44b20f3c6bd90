/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - counting and GET /metrics (see metrics.h).
 *
 * Series that plugins (and the core, for rare events) register live in
 * one list, each an individually allocated atomic, so a handle stays
 * valid forever and adding to it is one relaxed atomic add. Per-version
 * invocation counters and histograms live in the version object itself
 * (function.c) and are read at scrape time.
 * Threads: any thread counts; the HTTP connection thread of a scrape
 * renders.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "context.h"
#include "function.h"
#include "host.h"
#include "metrics.h"
#include "util.h"

static const double bucket_le[SPUR_HIST_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60,
};

enum series_kind { SERIES_COUNTER, SERIES_GAUGE };

struct series {
	char *name, *help, *labels;
	enum series_kind kind;
	_Atomic int64_t value;
	struct series *next;
};

struct spur_metrics {
	pthread_mutex_t lock;		/* registration and scrape only */
	struct series *head, *tail;
};

struct spur_metrics *spur_metrics_new(void)
{
	struct spur_metrics *m = calloc(1, sizeof(*m));
	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void spur_metrics_free(struct spur_metrics *m)
{
	if (!m)
		return;
	struct series *s = m->head;
	while (s) {
		struct series *next = s->next;
		free(s->name);
		free(s->help);
		free(s->labels);
		free(s);
		s = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void spur_hist_observe(struct spur_hist *h, int64_t ns)
{
	double s = (double)ns / 1e9;
	for (int i = 0; i < SPUR_HIST_BUCKETS; i++)
		if (s <= bucket_le[i]) {
			atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
			break;
		}
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(ns > 0 ? ns / 1000 : 0),
				  memory_order_relaxed);
}

static struct series *series_get(struct spur_host *host, const char *name, const char *help,
				 const char *labels, enum series_kind kind)
{
	struct spur_metrics *m = spur_host_metrics(host);
	if (!m || !name)
		return NULL;
	labels = labels ? labels : "";
	pthread_mutex_lock(&m->lock);
	struct series *s;
	for (s = m->head; s; s = s->next)
		if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->name = strdup(name);
		s->help = strdup(help ? help : name);
		s->labels = strdup(labels);
		s->kind = kind;
		if (!s->name || !s->help || !s->labels) {
			free(s->name);
			free(s->help);
			free(s->labels);
			free(s);
			s = NULL;
		} else {
			/* series of one name stay together, for one HELP/TYPE */
			struct series *after = NULL;
			for (struct series *t = m->head; t; t = t->next)
				if (strcmp(t->name, name) == 0)
					after = t;
			if (after) {
				s->next = after->next;
				after->next = s;
				if (m->tail == after)
					m->tail = s;
			} else {
				if (m->tail)
					m->tail->next = s;
				else
					m->head = s;
				m->tail = s;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	return s;
}

SPUR_API struct spur_counter *spur_counter_get(struct spur_host *host, const char *name,
					       const char *help, const char *labels)
{
	return (struct spur_counter *)series_get(host, name, help, labels, SERIES_COUNTER);
}

SPUR_API void spur_counter_add(struct spur_counter *c, uint64_t n)
{
	if (c)
		atomic_fetch_add_explicit(&((struct series *)c)->value, (int64_t)n,
					  memory_order_relaxed);
}

SPUR_API struct spur_gauge *spur_gauge_get(struct spur_host *host, const char *name,
					   const char *help, const char *labels)
{
	return (struct spur_gauge *)series_get(host, name, help, labels, SERIES_GAUGE);
}

SPUR_API void spur_gauge_set(struct spur_gauge *g, int64_t v)
{
	if (g)
		atomic_store_explicit(&((struct series *)g)->value, v, memory_order_relaxed);
}

SPUR_API void spur_gauge_add(struct spur_gauge *g, int64_t d)
{
	if (g)
		atomic_fetch_add_explicit(&((struct series *)g)->value, d, memory_order_relaxed);
}

/* --- rendering --------------------------------------------------------------- */

static void header(struct spur_buf *b, const char *name, const char *help, const char *type)
{
	spur_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(struct spur_buf *b, const char *name, const char *labels,
		 const struct spur_hist *h)
{
	uint64_t cum = 0;
	for (int i = 0; i < SPUR_HIST_BUCKETS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		spur_buf_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bucket_le[i],
				(unsigned long long)cum);
	}
	uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
	spur_buf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
			(unsigned long long)(count > cum ? count : cum));
	spur_buf_printf(b, "%s_sum{%s} %.6f\n", name, labels,
			(double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	spur_buf_printf(b, "%s_count{%s} %llu\n", name, labels,
			(unsigned long long)(count > cum ? count : cum));
}

static const char *outcome_name[SPUR_OUTCOME_COUNT] = { "success", "error", "timeout", "throttled" };

struct ver_walk {
	struct spur_buf *b;
	const char *fn;
	int pass;
};

static void one_version(void *ud, struct spur_function *v)
{
	struct ver_walk *w = ud;
	struct spur_inv_metrics *m = spur_function_metrics(v);
	struct spur_pool *p = spur_function_pool(v);
	char labels[256];
	snprintf(labels, sizeof(labels), "function=\"%s\",version=\"%s\"", w->fn,
		 spur_function_version(v));
	switch (w->pass) {
	case 0:
		for (int o = 0; o < SPUR_OUTCOME_COUNT; o++)
			spur_buf_printf(w->b, "spur_invocations_total{%s,outcome=\"%s\"} %llu\n", labels,
					outcome_name[o],
					(unsigned long long)atomic_load_explicit(&m->outcome[o],
										 memory_order_relaxed));
		break;
	case 1:
		hist(w->b, "spur_invocation_duration_seconds", labels, &m->duration);
		break;
	case 2:
		hist(w->b, "spur_init_duration_seconds", labels, &m->init);
		break;
	case 3:
		spur_buf_printf(w->b, "spur_cold_starts_total{%s} %llu\n", labels,
				(unsigned long long)spur_pool_cold_starts(p));
		break;
	case 4: {
		size_t idle = spur_pool_idle(p);
		int prov = spur_pool_provisioned(p);
		spur_buf_printf(w->b, "spur_contexts{%s,state=\"idle\"} %zu\n", labels, idle);
		spur_buf_printf(w->b, "spur_contexts{%s,state=\"busy\"} %zu\n", labels, spur_pool_busy(p));
		spur_buf_printf(w->b, "spur_contexts{%s,state=\"provisioned\"} %d\n", labels, prov);
		break;
	}
	case 5:
		spur_buf_printf(w->b, "spur_provisioned_spillover_total{%s} %llu\n", labels,
				(unsigned long long)atomic_load_explicit(&m->spillover,
									 memory_order_relaxed));
		break;
	}
}

struct stats_walk {
	struct spur_buf *b;
	const struct spur_config *cfg;
	bool dlq_pass;
	const char **known;		/* built-in, configured and dead-letter queues */
	bool *seen;			/* known[i] reported by the store this pass */
	size_t n_known;
};

static bool is_dead_letter(const struct spur_config *cfg, const char *queue)
{
	for (size_t i = 0; i < cfg->n_functions; i++)
		for (size_t j = 0; j < cfg->functions[i].on_failure.n; j++) {
			const char *d = cfg->functions[i].on_failure.v[j];
			if (strncmp(d, "queue://", 8) == 0 && strcmp(d + 8, queue) == 0)
				return true;
		}
	return false;
}

static void one_queue(void *ud, const struct spur_queue_stats *s)
{
	struct stats_walk *w = ud;
	for (size_t i = 0; i < w->n_known; i++)
		if (strcmp(w->known[i], s->queue) == 0)
			w->seen[i] = true;
	if (w->dlq_pass && !is_dead_letter(w->cfg, s->queue))
		return;
	spur_buf_printf(w->b, "%s{queue=\"%s\"} %llu\n",
			w->dlq_pass ? "spur_dead_letter_depth" : "spur_queue_depth", s->queue,
			(unsigned long long)(s->visible + s->delayed));
}

static void add_known(struct stats_walk *w, const char *name)
{
	for (size_t i = 0; i < w->n_known; i++)
		if (strcmp(w->known[i], name) == 0)
			return;
	w->known[w->n_known++] = name;
}

/* One pass over the store's counts; then 0 for the known queues that
 * hold nothing (the store reports only queues with messages), so that
 * dashboards see every queue from the start. */
static void queue_pass(struct stats_walk *w, const struct spur_store *st, void *si, bool dlq)
{
	w->dlq_pass = dlq;
	if (w->seen)
		memset(w->seen, 0, w->n_known * sizeof(*w->seen));
	st->stats(si, spur_store_now_ms(), one_queue, w);
	for (size_t i = 0; i < w->n_known; i++)
		if (!w->seen[i] && (!dlq || is_dead_letter(w->cfg, w->known[i])))
			spur_buf_printf(w->b, "%s{queue=\"%s\"} 0\n",
					dlq ? "spur_dead_letter_depth" : "spur_queue_depth",
					w->known[i]);
}

SPUR_API char *spur_metrics_render(struct spur_host *host, size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	struct spur_registry *reg = spur_host_registry(host);
	static const struct { const char *name, *help, *type; } per_version[] = {
		{ "spur_invocations_total", "Invocations (one per attempt) by outcome.", "counter" },
		{ "spur_invocation_duration_seconds", "Handler run time.", "histogram" },
		{ "spur_init_duration_seconds", "INIT (cold start) time.", "histogram" },
		{ "spur_cold_starts_total", "Execution contexts created.", "counter" },
		{ "spur_contexts", "Execution contexts by state.", "gauge" },
		{ "spur_provisioned_spillover_total",
		  "Cold starts on the request path of a version with provisioned contexts.",
		  "counter" },
	};
	for (int pass = 0; pass < (int)SPUR_ARRAY_SIZE(per_version); pass++) {
		header(&b, per_version[pass].name, per_version[pass].help, per_version[pass].type);
		for (size_t i = 0; i < spur_registry_count(reg); i++) {
			struct spur_fn *fn = spur_registry_at(reg, i);
			struct ver_walk w = { .b = &b, .fn = spur_fn_name(fn), .pass = pass };
			spur_fn_each_version(fn, one_version, &w);
		}
	}
	header(&b, "spur_concurrent_executions", "Invocations running now.", "gauge");
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		spur_buf_printf(&b, "spur_concurrent_executions{function=\"%s\"} %ld\n",
				spur_fn_name(fn), spur_fn_inflight(fn));
	}
	header(&b, "spur_async_event_age_seconds", "Age of async events when they end.", "histogram");
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		char labels[128];
		snprintf(labels, sizeof(labels), "function=\"%s\"", spur_fn_name(fn));
		hist(&b, "spur_async_event_age_seconds", labels, spur_fn_event_age(fn));
	}
	void *si;
	const struct spur_store *st = spur_host_store(host, &si);
	if (st && st->stats) {
		const struct spur_config *cfg = spur_host_config(host);
		static const char *const builtin[] = {
			SPUR_ADMIN_QUEUE_ASYNC, SPUR_ADMIN_QUEUE_OUTBOX, SPUR_ADMIN_QUEUE_UNDELIVERABLE,
		};
		size_t cap = SPUR_ARRAY_SIZE(builtin) + cfg->n_queues;
		for (size_t i = 0; i < cfg->n_functions; i++)
			cap += cfg->functions[i].on_failure.n;
		struct stats_walk w = {
			.b = &b, .cfg = cfg,
			.known = calloc(cap, sizeof(*w.known)),
			.seen = calloc(cap, sizeof(*w.seen)),
		};
		if (!w.known || !w.seen) {	/* out of memory: what the store reports only */
			free(w.known);
			free(w.seen);
			w.known = NULL;
			w.seen = NULL;
		} else {
			for (size_t i = 0; i < SPUR_ARRAY_SIZE(builtin); i++)
				add_known(&w, builtin[i]);
			for (size_t i = 0; i < cfg->n_queues; i++)
				add_known(&w, cfg->queues[i].name);
			for (size_t i = 0; i < cfg->n_functions; i++)
				for (size_t j = 0; j < cfg->functions[i].on_failure.n; j++) {
					const char *d = cfg->functions[i].on_failure.v[j];
					if (strncmp(d, "queue://", 8) == 0)
						add_known(&w, d + 8);
				}
		}
		header(&b, "spur_queue_depth", "Messages held per queue.", "gauge");
		queue_pass(&w, st, si, false);
		header(&b, "spur_dead_letter_depth", "Messages in dead-letter queues.", "gauge");
		queue_pass(&w, st, si, true);
		free(w.known);
		free(w.seen);
	}
	struct spur_metrics *m = spur_host_metrics(host);
	pthread_mutex_lock(&m->lock);
	const char *last = NULL;
	for (struct series *s = m->head; s; s = s->next) {
		if (!last || strcmp(last, s->name) != 0)
			header(&b, s->name, s->help, s->kind == SERIES_COUNTER ? "counter" : "gauge");
		last = s->name;
		if (s->labels[0])
			spur_buf_printf(&b, "%s{%s} %lld\n", s->name, s->labels,
					(long long)atomic_load_explicit(&s->value, memory_order_relaxed));
		else
			spur_buf_printf(&b, "%s %lld\n", s->name,
					(long long)atomic_load_explicit(&s->value, memory_order_relaxed));
	}
	pthread_mutex_unlock(&m->lock);
	return spur_buf_steal(&b, len);
}
