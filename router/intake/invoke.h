/* SPDX-License-Identifier: MIT */
/*
 * invoke.h - where an event ENTERS the core: the one front door every
 * ingress shares (spur_invoke() of the SDK forwards here).
 *
 *   resolve target and qualifier (alias pick by request id) → check the
 *   payload (no allocation) → idempotency key, if configured →
 *   async: store the event and answer 202 | queue route: one message of
 *   the queue, 202 | sync: run it (exec/run.c) and answer.
 */
#ifndef SPUR_INTAKE_INVOKE_H
#define SPUR_INTAKE_INVOKE_H

#include "spur/invoke.h"
#include "spur/store.h"

struct spur_async;
struct spur_exec;
struct spur_intake;
struct spur_log;
struct spur_mappings;
struct spur_metrics;
struct spur_registry_ref;
struct spur_route_config;
struct spur_workers;

/* What the front door is built with (copied). */
struct spur_intake_env {
	struct spur_exec *exec;
	struct spur_registry_ref *registry;
	const struct spur_log *log;
	struct spur_metrics *metrics;
	struct spur_workers *workers;	/* where runs leave an event loop for */
};

struct spur_intake *spur_intake_new(const struct spur_intake_env *env);
void spur_intake_free(struct spur_intake *in);

/* The durable half, once the store is open (before the sources start);
 * without it async calls, queue routes and idempotency keys answer 503
 * or run unkeyed, as documented. */
void spur_intake_attach(struct spur_intake *in, const struct spur_store *store,
			void *store_instance, struct spur_async *async,
			struct spur_mappings *mappings);

/* One invocation; `route` is the config of the route it came by, or
 * NULL. Always a result but on out of memory. Any thread. */
struct spur_result *spur_intake_invoke(struct spur_intake *in, const struct spur_invoke_args *args,
				       const struct spur_route_config *route);

/* spur_intake_invoke() from an event loop's thread. True: the call ended
 * here, *now is the answer (NULL: out of memory). False: it goes on on a
 * worker, which calls done(cookie, answer) when it ends; args' payload
 * and raw_body stay borrowed until then (the rest is copied). What moves:
 * a run still going after budget_ns (a runtime with resume), and before they
 * start, runs that may block (no resume: native, process isolation),
 * keyed sync calls, and whatever waits for a store commit (async events,
 * queue routes). */
bool spur_intake_start(struct spur_intake *in, const struct spur_invoke_args *args,
		       const struct spur_route_config *route, int64_t budget_ns,
		       spur_invoke_done_fn *done, void *cookie, struct spur_result **now);

#endif
