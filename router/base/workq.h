/* SPDX-License-Identifier: MIT */
/*
 * workq.h - a work queue with timers: jobs that are ready now, and jobs
 * due at a monotonic time (retries, backoff, throttling).
 *
 * Producers push; consumer threads pop (blocking). A job pushed with a
 * due time becomes ready when the time comes: the first waiting consumer
 * sleeps until the earliest due time (or a push that is earlier), the
 * others until a job is ready: no polling, no thundering herd.
 * Times are on spur_now_ns()'s clock; spur_workq_kick() re-reads it (for
 * tests that inject and advance the clock).
 * The queue does not own what jobs point to; a job is any struct that
 * embeds struct spur_job.
 */
#ifndef SPUR_WORKQ_H
#define SPUR_WORKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spur_job {
	int64_t due_ns;			/* 0: ready */
	size_t heap_index;		/* private */
	struct spur_job *next;		/* private (ready list) */
	bool queued;			/* private (spur_workq_push_once) */
};

struct spur_workq;

struct spur_workq *spur_workq_new(void);
/* Stop: every pop returns NULL from now on; jobs still queued are left
 * to the caller (spur_workq_drain). */
void spur_workq_stop(struct spur_workq *s);
/* Hand back every queued job (ready or timed) through fn; the queue
 * stays (stopped or not). */
void spur_workq_drain(struct spur_workq *s, void (*fn)(struct spur_job *j, void *ud), void *ud);
/* Hand back every queued job (ready or timed) through fn, then free. */
void spur_workq_free(struct spur_workq *s, void (*fn)(struct spur_job *j, void *ud), void *ud);

/* Ready now (due_ns <= now) or at due_ns. */
void spur_workq_push(struct spur_workq *s, struct spur_job *j, int64_t due_ns);
/* For a job that stands for "there is work of this kind" (a refill):
 * queue j at due_ns unless it is queued already; if it is queued to run
 * later than due_ns, it runs at due_ns instead. A job pushed this way
 * must only ever be pushed this way. */
void spur_workq_push_once(struct spur_workq *s, struct spur_job *j, int64_t due_ns);
/* Block until a job is ready; NULL after stop. */
struct spur_job *spur_workq_pop(struct spur_workq *s);
/* Elastic consumers: pop, but give up (NULL) after idle_ms of waiting
 * with nothing ready (the consumer may end; a timer keeper never gives
 * up). NULL after stop too. */
struct spur_job *spur_workq_pop_idle(struct spur_workq *s, int64_t idle_ms);
/* Is there work no waiting consumer will take: more ready jobs than idle
 * consumers, or timers nobody keeps? Asked after a push, to start one. */
bool spur_workq_wants_consumer(struct spur_workq *s);
/* Up to max ready jobs without blocking beyond the first. */
size_t spur_workq_pop_batch(struct spur_workq *s, struct spur_job **out, size_t max);
/* Re-evaluate timers now (after the injected clock moved). */
void spur_workq_kick(struct spur_workq *s);
/* Jobs queued (ready + timed), for tests and metrics. */
size_t spur_workq_pending(struct spur_workq *s);

#endif
