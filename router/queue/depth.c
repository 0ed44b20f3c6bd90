/* SPDX-License-Identifier: MIT */
/*
 * depth.c - the metrics collector of the queues: spur_queue_depth and
 * spur_dead_letter_depth for every queue, from the store's counts (see
 * queue.h). Runs on the scraping thread.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "queue.h"
#include "util.h"

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

void spur_queue_depth_collect(void *ud, struct spur_buf *b)
{
	const struct spur_queue_depth *qd = ud;
	const struct spur_store *st = qd->store;
	void *si = qd->store_instance;
	const struct spur_config *cfg = qd->config;
	if (!st || !st->stats)
		return;
	static const char *const builtin[] = {
		SPUR_QUEUE_ASYNC, SPUR_QUEUE_OUTBOX, SPUR_QUEUE_UNDELIVERABLE,
	};
	size_t cap = SPUR_ARRAY_SIZE(builtin) + cfg->n_queues;
	for (size_t i = 0; i < cfg->n_functions; i++)
		cap += cfg->functions[i].on_failure.n;
	struct stats_walk w = {
		.b = b, .cfg = cfg,
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
	spur_metrics_header(b, "spur_queue_depth", "Messages held per queue.", "gauge");
	queue_pass(&w, st, si, false);
	spur_metrics_header(b, "spur_dead_letter_depth", "Messages in dead-letter queues.", "gauge");
	queue_pass(&w, st, si, true);
	free(w.known);
	free(w.seen);
}
