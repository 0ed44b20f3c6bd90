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
};

void spur_hist_observe(struct spur_hist *h, int64_t ns);

struct spur_metrics;
struct spur_metrics *spur_metrics_new(void);
void spur_metrics_free(struct spur_metrics *m);

/* The async event age histogram (one for all functions, by function). */
struct spur_hist *spur_metrics_event_age(struct spur_host *host, const char *function);

#endif
