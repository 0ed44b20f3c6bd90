/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - what spur counts, and GET /metrics (Prometheus text 0.0.4).
 *
 * Counting never takes a lock: every counter is an atomic updated with a
 * relaxed add by whichever thread counts; histograms are fixed bucket
 * arrays of such atomics. A scrape reads them all (briefly locking only
 * the list of plugin-registered series) and renders the text.
 */
#ifndef SPUR_METRICS_INTERNAL_H
#define SPUR_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include "spur/metrics.h"

#define SPUR_HIST_BUCKETS 14

/* Buckets in seconds: 1 ms .. 60 s, then +Inf. */
struct spur_hist {
	_Atomic uint64_t bucket[SPUR_HIST_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

enum spur_outcome {
	SPUR_OUTCOME_SUCCESS = 0,
	SPUR_OUTCOME_ERROR,
	SPUR_OUTCOME_TIMEOUT,
	SPUR_OUTCOME_THROTTLED,
	SPUR_OUTCOME_COUNT,
};

/* Per function version. */
struct spur_inv_metrics {
	_Atomic uint64_t outcome[SPUR_OUTCOME_COUNT];
	struct spur_hist duration;
	struct spur_hist init;
	_Atomic uint64_t spillover;	/* request-path cold starts with provisioned > 0 */
	_Atomic uint64_t moved;		/* runs an event loop handed to a worker */
};

void spur_hist_observe(struct spur_hist *h, int64_t ns);

struct spur_buf;
struct spur_metrics;
struct spur_metrics *spur_metrics_new(void);
void spur_metrics_free(struct spur_metrics *m);

/* The series of one name and label set: the same handle for the same
 * pair, valid as long as `m` (what the SDK's spur_counter_get returns). */
struct spur_counter *spur_metrics_counter(struct spur_metrics *m, const char *name,
					  const char *help, const char *labels);
struct spur_gauge *spur_metrics_gauge(struct spur_metrics *m, const char *name,
				      const char *help, const char *labels);

/* A collector appends whole metric families (HELP, TYPE, samples) at
 * scrape time, for state that lives in its own module. Collectors run in
 * the order they were added, under the registry's lock, before the
 * registered series; at most 8. 0 or -ENOSPC. */
typedef void (*spur_metrics_collect_fn)(void *ud, struct spur_buf *out);
int spur_metrics_add_collector(struct spur_metrics *m, spur_metrics_collect_fn fn, void *ud);

/* The whole scrape in Prometheus text format 0.0.4 (malloc()ed). */
char *spur_metrics_render_text(struct spur_metrics *m, size_t *len);

/* For collectors: a family's HELP and TYPE lines; a histogram's samples. */
void spur_metrics_header(struct spur_buf *b, const char *name, const char *help,
			 const char *type);
void spur_metrics_hist(struct spur_buf *b, const char *name, const char *labels,
		       const struct spur_hist *h);

#endif
