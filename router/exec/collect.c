/* SPDX-License-Identifier: MIT */
/*
 * collect.c - the metrics collector of the run path: per version
 * invocations, durations, cold starts and contexts; per function running
 * calls and async event ages. Registered with the metrics registry by the
 * host; runs on the scraping thread and reads atomics only.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "context.h"
#include "function.h"
#include "metrics.h"
#include "run.h"
#include "util.h"

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
		spur_metrics_hist(w->b, "spur_invocation_duration_seconds", labels, &m->duration);
		break;
	case 2:
		spur_metrics_hist(w->b, "spur_init_duration_seconds", labels, &m->init);
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
	case 6:
		spur_buf_printf(w->b, "spur_invocations_moved_total{%s} %llu\n", labels,
				(unsigned long long)atomic_load_explicit(&m->moved,
									 memory_order_relaxed));
		break;
	}
}


/* The per-version families, concurrency and event ages of the current
 * registry (ud: the struct spur_registry_ref). */
void spur_exec_collect(void *ud, struct spur_buf *b)
{
	struct spur_registry *reg = spur_registry_current(ud);
	static const struct { const char *name, *help, *type; } per_version[] = {
		{ "spur_invocations_total", "Invocations (one per attempt) by outcome.", "counter" },
		{ "spur_invocation_duration_seconds", "Handler run time.", "histogram" },
		{ "spur_init_duration_seconds", "INIT (cold start) time.", "histogram" },
		{ "spur_cold_starts_total", "Execution contexts created.", "counter" },
		{ "spur_contexts", "Execution contexts by state.", "gauge" },
		{ "spur_provisioned_spillover_total",
		  "Cold starts on the request path of a version with provisioned contexts.",
		  "counter" },
		{ "spur_invocations_moved_total",
		  "Runs an event loop handed to a worker thread (past http.inline_budget, "
		  "or a handler that may block).", "counter" },
	};
	for (int pass = 0; pass < (int)SPUR_ARRAY_SIZE(per_version); pass++) {
		spur_metrics_header(b, per_version[pass].name, per_version[pass].help,
				    per_version[pass].type);
		for (size_t i = 0; i < spur_registry_count(reg); i++) {
			struct spur_fn *fn = spur_registry_at(reg, i);
			struct ver_walk w = { .b = b, .fn = spur_fn_name(fn), .pass = pass };
			spur_fn_each_version(fn, one_version, &w);
		}
	}
	spur_metrics_header(b, "spur_concurrent_executions", "Invocations running now.", "gauge");
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		spur_buf_printf(b, "spur_concurrent_executions{function=\"%s\"} %ld\n",
				spur_fn_name(fn), spur_fn_inflight(fn));
	}
	spur_metrics_header(b, "spur_async_event_age_seconds", "Age of async events when they end.",
			    "histogram");
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		char labels[128];
		snprintf(labels, sizeof(labels), "function=\"%s\"", spur_fn_name(fn));
		spur_metrics_hist(b, "spur_async_event_age_seconds", labels, spur_fn_event_age(fn));
	}
}
