/* SPDX-License-Identifier: MIT */
/*
 * workers.h - an elastic pool of threads for tasks that may block or run
 * long (a handler moved off an event loop, a native handler).
 *
 * Threads start on demand: a submit wakes an idle thread, or starts one
 * when none is idle and fewer than `max` run; past max, tasks wait in
 * order. A thread idle for `idle_ms` ends, so an idle daemon holds none.
 * A task is any struct that embeds struct spur_task; the pool does not
 * own it (run() usually frees it). No polling: waits are on a condition.
 */
#ifndef SPUR_WORKERS_H
#define SPUR_WORKERS_H

#include <stddef.h>
#include <stdint.h>

struct spur_task {
	void (*run)(struct spur_task *t);
	struct spur_task *next;		/* private */
};

struct spur_workers;

/* `name` names the threads (15 bytes at most); `stack` in bytes (0: the
 * system's). NULL when out of memory. */
struct spur_workers *spur_workers_new(const char *name, unsigned max, int64_t idle_ms,
				      size_t stack);
/* Queue t; 0, or -ESHUTDOWN after spur_workers_free began, or -EAGAIN
 * when no thread runs and none could be started (t is not queued). */
int spur_workers_submit(struct spur_workers *w, struct spur_task *t);
/* Threads alive now (running or idle), and tasks waiting for one. */
unsigned spur_workers_threads(struct spur_workers *w);
size_t spur_workers_waiting(struct spur_workers *w);
/* Run every task submitted so far to its end, then end the threads and
 * free the pool. */
void spur_workers_free(struct spur_workers *w);

#endif
