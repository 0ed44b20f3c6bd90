/* SPDX-License-Identifier: MIT */
/*
 * spur/metrics.h - counters and gauges a plugin adds to GET /metrics.
 *
 * spur_counter_get() returns the counter of one name and label set (the
 * same handle for the same pair; it lives as long as the host). Adding
 * is one relaxed atomic add: no lock, safe from any thread. The host
 * renders every counter in Prometheus text format 0.0.4 at scrape time.
 * Names follow Prometheus conventions: counters end in _total.
 * labels is the text between the braces, e.g. `code="2xx"`, or NULL.
 */
#ifndef SPUR_METRICS_H
#define SPUR_METRICS_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spur_host;
struct spur_counter;
struct spur_gauge;

SPUR_API struct spur_counter *spur_counter_get(struct spur_host *host, const char *name,
					       const char *help, const char *labels);
SPUR_API void spur_counter_add(struct spur_counter *c, uint64_t n);

SPUR_API struct spur_gauge *spur_gauge_get(struct spur_host *host, const char *name,
					   const char *help, const char *labels);
SPUR_API void spur_gauge_set(struct spur_gauge *g, int64_t v);
SPUR_API void spur_gauge_add(struct spur_gauge *g, int64_t d);

/* The whole scrape as text (malloc()ed, the caller frees). */
SPUR_API char *spur_metrics_render(struct spur_host *host, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
