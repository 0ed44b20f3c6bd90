/* SPDX-License-Identifier: MIT */
/*
 * workers.c - the elastic thread pool of workers.h.
 *
 * One mutex guards the task list and the counts; it is held for a list
 * push or pop, never while a task runs. A submit signals only when a
 * thread is idle and starts a thread only when none is, so a burst of n
 * tasks costs at most n thread starts and no wake-up storm. A thread that
 * ends leaves its handle in `ended`; the next submit (or free) joins it,
 * so that no thread of the pool outlives spur_workers_free() even by the
 * few instructions of its exit (a detached thread still exiting when the
 * process ends trips LeakSanitizer's thread suspension).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "workers.h"

struct spur_workers {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a task was queued, or stopping */
	pthread_cond_t gone;		/* a thread ended */
	struct spur_task *head, *tail;
	size_t waiting;
	pthread_t *ended;		/* threads that returned, not joined yet */
	size_t n_ended, cap_ended;
	unsigned threads, idle, max;
	int64_t idle_ms;
	size_t stack;
	bool stopping;
	char name[16];
};

/* Under lock: the next task, or NULL when this thread should end. */
static struct spur_task *next_task(struct spur_workers *w)
{
	struct timespec until;
	bool timed_out = false;

	spur_timespec_after_ms(w->idle_ms, &until);
	while (!w->head && !w->stopping && !timed_out) {
		w->idle++;
		timed_out = pthread_cond_timedwait(&w->work, &w->lock, &until) == ETIMEDOUT;
		w->idle--;
	}
	struct spur_task *t = w->head;
	if (t) {
		w->head = t->next;
		if (!w->head)
			w->tail = NULL;
		w->waiting--;
	}
	return t;
}

static void *worker_main(void *arg)
{
	struct spur_workers *w = arg;

	pthread_setname_np(pthread_self(), w->name);
	pthread_mutex_lock(&w->lock);
	for (struct spur_task *t; (t = next_task(w));) {
		pthread_mutex_unlock(&w->lock);
		t->run(t);
		pthread_mutex_lock(&w->lock);
	}
	w->ended[w->n_ended++] = pthread_self();	/* start_thread made room */
	w->threads--;
	pthread_cond_broadcast(&w->gone);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Join the threads that have ended (lock not held). */
static void join_ended(pthread_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pthread_join(v[i], NULL);
}

/* Under lock: take up to max ended threads, to join after unlocking. */
static size_t take_ended(struct spur_workers *w, pthread_t *out, size_t max)
{
	size_t n = w->n_ended < max ? w->n_ended : max;

	if (n == 0)	/* ended may still be NULL */
		return 0;
	w->n_ended -= n;
	memcpy(out, w->ended + w->n_ended, n * sizeof(*out));
	return n;
}

struct spur_workers *spur_workers_new(const char *name, unsigned max, int64_t idle_ms,
				      size_t stack)
{
	struct spur_workers *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->gone, NULL);
	w->max = max ? max : 1;
	w->idle_ms = idle_ms > 0 ? idle_ms : 1;
	w->stack = stack;
	snprintf(w->name, sizeof(w->name), "%s", name ? name : "spur-worker");
	return w;
}

/* Under lock: start one more thread; false when the system refused. The
 * list of ended threads always has room for every thread alive. */
static bool start_thread(struct spur_workers *w)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (w->threads + w->n_ended + 1 > w->cap_ended) {
		size_t cap = w->cap_ended ? 2 * w->cap_ended : 8;
		pthread_t *v = realloc(w->ended, cap * sizeof(*v));

		if (!v)
			return false;
		w->ended = v;
		w->cap_ended = cap;
	}
	pthread_attr_init(&attr);
	if (w->stack)
		pthread_attr_setstacksize(&attr, w->stack);
	rc = pthread_create(&t, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return false;
	w->threads++;
	return true;
}

int spur_workers_submit(struct spur_workers *w, struct spur_task *t)
{
	pthread_t done[16];
	size_t n_done;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	n_done = take_ended(w, done, 16);	/* join what ended since, a few at a time */
	if (w->stopping) {
		rc = -ESHUTDOWN;
		goto out;
	}
	/* a thread for it: an idle one, else a new one while under max */
	if (w->idle <= w->waiting && w->threads < w->max && !start_thread(w) && !w->threads) {
		rc = -EAGAIN;
		goto out;
	}
	t->next = NULL;
	if (w->tail)
		w->tail->next = t;
	else
		w->head = t;
	w->tail = t;
	w->waiting++;
	if (w->idle)
		pthread_cond_signal(&w->work);
out:
	pthread_mutex_unlock(&w->lock);
	join_ended(done, n_done);
	return rc;
}

unsigned spur_workers_threads(struct spur_workers *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned n = w->threads;
	pthread_mutex_unlock(&w->lock);
	return n;
}

size_t spur_workers_waiting(struct spur_workers *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->waiting;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void spur_workers_free(struct spur_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;	/* threads run what is queued, then end */
	pthread_cond_broadcast(&w->work);
	while (w->threads)
		pthread_cond_wait(&w->gone, &w->lock);
	pthread_mutex_unlock(&w->lock);
	join_ended(w->ended, w->n_ended);	/* every thread has returned */
	free(w->ended);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->gone);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
