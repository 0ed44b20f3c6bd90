/* SPDX-License-Identifier: MIT */
/*
 * async.h - asynchronous invocation (SPEC §2.2): durable intake, workers,
 * retries with backoff, event age, throttling, records.
 */
#ifndef SPUR_ASYNC_H
#define SPUR_ASYNC_H

#include <stddef.h>
#include "spur/store.h"

struct spur_fn;
struct spur_outbox;
struct spur_async;
struct spur_exec;
struct spur_log;
struct spur_metrics;
struct spur_registry_ref;

/* What the async queue is built with (copied). */
struct spur_async_env {
	const struct spur_store *store;
	void *store_instance;
	struct spur_outbox *outbox;		/* where records go */
	struct spur_exec *exec;			/* where events run */
	struct spur_registry_ref *registry;	/* functions by name */
	const struct spur_log *log;
	struct spur_metrics *metrics;
};

struct spur_async *spur_async_new(const struct spur_async_env *env);
/* Load what the store holds (events accepted before a crash or a stop)
 * and start the workers. */
int spur_async_start(struct spur_async *a);
/* Stop taking work; running invocations finish; queued events stay stored. */
void spur_async_stop(struct spur_async *a);
void spur_async_free(struct spur_async *a);

/* Store one event durably (the caller answers 202 only on 0) and queue it
 * for the workers. `id` is the event id (a UUID); `hops` counts function://
 * chaining. `extra`, when not NULL, is written in the same atomic batch
 * (an idempotency key: on -EEXIST nothing is stored and `conflict` holds
 * the key's value). Returns 0, or a negative errno with the reason in why. */
int spur_async_submit(struct spur_async *a, struct spur_fn *fn, const char *qual,
		      size_t qual_len, const char *payload, size_t len, const char *id,
		      unsigned hops, const struct spur_store_op *extra,
		      struct spur_store_conflict *conflict, char *why, size_t whylen);

/* The same, with the event's W3C Trace Context (validated by the caller;
 * NULL: none; copied): stored with the event, given to every attempt, to
 * the record (requestContext.traceContext) and to its destinations. */
int spur_async_submit_traced(struct spur_async *a, struct spur_fn *fn, const char *qual,
			     size_t qual_len, const char *payload, size_t len, const char *id,
			     unsigned hops, const char *traceparent, const char *tracestate,
			     const struct spur_store_op *extra,
			     struct spur_store_conflict *conflict, char *why, size_t whylen);

/* A failure record for input that never became an event (spur_reject). */
int spur_async_reject(struct spur_async *a, struct spur_fn *fn, const char *reason,
		      const void *data, size_t len);

/* Tests: re-read the (injected) clock; events queued in memory. */
void spur_async_kick(struct spur_async *a);
size_t spur_async_pending(struct spur_async *a);

#endif
