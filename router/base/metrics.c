/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - counting and GET /metrics (see metrics.h).
 *
 * Series that plugins (and the core, for rare events) register live in
 * one list, each an individually allocated atomic, so a handle stays
 * valid forever and adding to it is one relaxed atomic add. What lives
 * elsewhere (per-version counters in the version objects, queue depths
 * in the store) is rendered by collectors that its layer registers:
 * this file walks nothing but its own list.
 * Threads: any thread counts; the HTTP connection thread of a scrape
 * renders.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

struct collector {
	spur_metrics_collect_fn fn;
	void *ud;
};

struct spur_metrics {
	pthread_mutex_t lock;		/* registration and scrape only */
	struct series *head, *tail;
	size_t n_collectors;
	struct collector collectors[8];
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

static struct series *series_get(struct spur_metrics *m, const char *name, const char *help,
				 const char *labels, enum series_kind kind)
{
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

struct spur_counter *spur_metrics_counter(struct spur_metrics *m, const char *name,
					  const char *help, const char *labels)
{
	return (struct spur_counter *)series_get(m, name, help, labels, SERIES_COUNTER);
}

SPUR_API void spur_counter_add(struct spur_counter *c, uint64_t n)
{
	if (c)
		atomic_fetch_add_explicit(&((struct series *)c)->value, (int64_t)n,
					  memory_order_relaxed);
}

struct spur_gauge *spur_metrics_gauge(struct spur_metrics *m, const char *name,
				      const char *help, const char *labels)
{
	return (struct spur_gauge *)series_get(m, name, help, labels, SERIES_GAUGE);
}

int spur_metrics_add_collector(struct spur_metrics *m, spur_metrics_collect_fn fn, void *ud)
{
	int rc = -ENOSPC;
	pthread_mutex_lock(&m->lock);
	if (m->n_collectors < SPUR_ARRAY_SIZE(m->collectors)) {
		m->collectors[m->n_collectors++] = (struct collector){ .fn = fn, .ud = ud };
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
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

void spur_metrics_header(struct spur_buf *b, const char *name, const char *help, const char *type)
{
	spur_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void spur_metrics_hist(struct spur_buf *b, const char *name, const char *labels,
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

char *spur_metrics_render_text(struct spur_metrics *m, size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_collectors; i++)
		m->collectors[i].fn(m->collectors[i].ud, &b);
	const char *last = NULL;
	for (struct series *s = m->head; s; s = s->next) {
		if (!last || strcmp(last, s->name) != 0)
			spur_metrics_header(&b, s->name, s->help,
					    s->kind == SERIES_COUNTER ? "counter" : "gauge");
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
