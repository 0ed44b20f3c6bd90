/* SPDX-License-Identifier: MIT */
/*
 * workq.c - the work queue with timers (see workq.h).
 * One mutex guards a FIFO of ready jobs and a binary min-heap of timed
 * ones; it is held for O(log n) pointer moves, never while a job runs.
 * One consumer at a time is the "timer keeper": it waits until the
 * earliest due time; the rest wait for ready work.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"
#include "workq.h"
#include "spur/common.h"

struct spur_workq {
	pthread_mutex_t lock;
	pthread_cond_t ready;		/* work is ready, or stop */
	pthread_cond_t timer;		/* the keeper: an earlier due time, or stop */
	struct spur_job *head, *tail;
	struct spur_job **heap;
	size_t n_heap, cap_heap, n_ready;
	size_t n_idle;			/* consumers waiting on `ready` */
	bool keeper;			/* a consumer is keeping the timers */
	bool stopped;
};

struct spur_workq *spur_workq_new(void)
{
	struct spur_workq *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->ready, &ca);
	pthread_cond_init(&s->timer, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void spur_workq_stop(struct spur_workq *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopped = true;
	pthread_cond_broadcast(&s->ready);
	pthread_cond_broadcast(&s->timer);
	pthread_mutex_unlock(&s->lock);
}

void spur_workq_drain(struct spur_workq *s, void (*fn)(struct spur_job *j, void *ud), void *ud)
{
	pthread_mutex_lock(&s->lock);
	struct spur_job *head = s->head, **heap = s->heap;
	size_t n_heap = s->n_heap;
	s->head = s->tail = NULL;
	s->n_ready = 0;
	s->heap = NULL;
	s->n_heap = s->cap_heap = 0;
	pthread_mutex_unlock(&s->lock);
	while (head) {
		struct spur_job *j = head;
		head = j->next;
		j->queued = false;
		if (fn)
			fn(j, ud);
	}
	for (size_t i = 0; i < n_heap; i++) {
		heap[i]->queued = false;
		if (fn)
			fn(heap[i], ud);
	}
	free(heap);
}

void spur_workq_free(struct spur_workq *s, void (*fn)(struct spur_job *j, void *ud), void *ud)
{
	if (!s)
		return;
	spur_workq_drain(s, fn, ud);
	pthread_cond_destroy(&s->ready);
	pthread_cond_destroy(&s->timer);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* --- the heap (lock held) ------------------------------------------------- */

static void heap_set(struct spur_workq *s, size_t i, struct spur_job *j)
{
	s->heap[i] = j;
	j->heap_index = i;
}

static void sift_up(struct spur_workq *s, size_t i)
{
	struct spur_job *j = s->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (s->heap[parent]->due_ns <= j->due_ns)
			break;
		heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	heap_set(s, i, j);
}

static void sift_down(struct spur_workq *s, size_t i)
{
	struct spur_job *j = s->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->n_heap)
			break;
		if (c + 1 < s->n_heap && s->heap[c + 1]->due_ns < s->heap[c]->due_ns)
			c++;
		if (s->heap[c]->due_ns >= j->due_ns)
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, j);
}

static struct spur_job *heap_pop(struct spur_workq *s)
{
	struct spur_job *top = s->heap[0];
	if (--s->n_heap > 0) {
		heap_set(s, 0, s->heap[s->n_heap]);
		sift_down(s, 0);
	}
	return top;
}

static void ready_push(struct spur_workq *s, struct spur_job *j)
{
	j->queued = true;
	j->next = NULL;
	j->due_ns = 0;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->n_ready++;
}

/* Move due timers to the ready list; the next due time or INT64_MAX. */
static int64_t promote(struct spur_workq *s)
{
	int64_t now = spur_now_ns();
	while (s->n_heap && s->heap[0]->due_ns <= now)
		ready_push(s, heap_pop(s));
	return s->n_heap ? s->heap[0]->due_ns : INT64_MAX;
}

/* --- API ------------------------------------------------------------------ */

static void push_locked(struct spur_workq *s, struct spur_job *j, int64_t due_ns);

void spur_workq_push(struct spur_workq *s, struct spur_job *j, int64_t due_ns)
{
	pthread_mutex_lock(&s->lock);
	push_locked(s, j, due_ns);
	pthread_mutex_unlock(&s->lock);
}

void spur_workq_push_once(struct spur_workq *s, struct spur_job *j, int64_t due_ns)
{
	pthread_mutex_lock(&s->lock);
	if (!j->queued) {
		push_locked(s, j, due_ns);
	} else if (j->due_ns > 0 && (due_ns <= 0 || due_ns < j->due_ns)) {
		/* on the heap, due later: take it out, push it again */
		size_t i = j->heap_index;
		struct spur_job *last = s->heap[--s->n_heap];
		if (i < s->n_heap) {
			heap_set(s, i, last);
			sift_down(s, i);
			sift_up(s, last->heap_index);
		}
		push_locked(s, j, due_ns);
	}
	pthread_mutex_unlock(&s->lock);
}

static void push_locked(struct spur_workq *s, struct spur_job *j, int64_t due_ns)
{
	if (due_ns <= 0 || due_ns <= spur_now_ns()) {
		ready_push(s, j);
		pthread_cond_signal(&s->ready);
		/* fewer consumers wait for ready work than there is of it: the
		 * keeper, asleep on the timer until a retry is due, takes it
		 * (review H4: a fresh record waited behind a backoff of minutes) */
		if (s->keeper && s->n_idle < s->n_ready)
			pthread_cond_signal(&s->timer);
	} else {
		if (s->n_heap == s->cap_heap) {
			size_t cap = s->cap_heap ? s->cap_heap * 2 : 64;
			struct spur_job **h = realloc(s->heap, cap * sizeof(*h));
			if (!h) {	/* cannot wait: run it now rather than lose it */
				ready_push(s, j);
				pthread_cond_signal(&s->ready);
				return;
			}
			s->heap = h;
			s->cap_heap = cap;
		}
		j->due_ns = due_ns;
		j->queued = true;
		heap_set(s, s->n_heap++, j);
		sift_up(s, s->n_heap - 1);
		if (j->heap_index == 0)
			pthread_cond_signal(&s->timer);	/* an earlier wake-up */
		if (!s->keeper)
			pthread_cond_signal(&s->ready);	/* someone must keep the timer */
	}
}

static struct spur_job *take_ready(struct spur_workq *s)
{
	struct spur_job *j = s->head;
	s->head = j->next;
	if (!s->head)
		s->tail = NULL;
	s->n_ready--;
	j->next = NULL;
	j->queued = false;
	return j;
}

/* Wait (lock held) until a job is ready (true), or stop, or (idle_until,
 * on CLOCK_MONOTONIC, NULL: never) idle that long with nothing to do: a
 * keeper of the timers is never idle. */
static bool wait_ready_until(struct spur_workq *s, const struct timespec *idle_until)
{
	for (;;) {
		if (s->stopped)
			return false;
		int64_t next = promote(s);
		if (s->head)
			return true;
		if (next == INT64_MAX || s->keeper) {
			int rc = 0;

			s->n_idle++;
			if (idle_until)
				rc = pthread_cond_timedwait(&s->ready, &s->lock, idle_until);
			else
				pthread_cond_wait(&s->ready, &s->lock);
			s->n_idle--;
			if (rc == ETIMEDOUT) {
				promote(s);
				return s->head != NULL && !s->stopped;
			}
			continue;
		}
		s->keeper = true;
		struct timespec ts;
		spur_deadline_timespec(next, &ts);
		pthread_cond_timedwait(&s->timer, &s->lock, &ts);
		s->keeper = false;
		if (s->head || promote(s) < INT64_MAX)
			pthread_cond_signal(&s->ready);	/* hand the timer on */
	}
}

static bool wait_ready(struct spur_workq *s)
{
	return wait_ready_until(s, NULL);
}

struct spur_job *spur_workq_pop_idle(struct spur_workq *s, int64_t idle_ms)
{
	struct timespec until;

	spur_timespec_after_ms(idle_ms, &until);
	pthread_mutex_lock(&s->lock);
	struct spur_job *j = wait_ready_until(s, &until) ? take_ready(s) : NULL;
	if (j && s->head)
		pthread_cond_signal(&s->ready);
	pthread_mutex_unlock(&s->lock);
	return j;
}

bool spur_workq_wants_consumer(struct spur_workq *s)
{
	pthread_mutex_lock(&s->lock);
	bool wants = !s->stopped && (s->n_ready > s->n_idle ||
				     (s->n_heap && !s->keeper && !s->n_idle));
	pthread_mutex_unlock(&s->lock);
	return wants;
}

struct spur_job *spur_workq_pop(struct spur_workq *s)
{
	pthread_mutex_lock(&s->lock);
	struct spur_job *j = wait_ready(s) ? take_ready(s) : NULL;
	if (j && s->head)
		pthread_cond_signal(&s->ready);
	pthread_mutex_unlock(&s->lock);
	return j;
}

size_t spur_workq_pop_batch(struct spur_workq *s, struct spur_job **out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	if (wait_ready(s))
		while (n < max && s->head)
			out[n++] = take_ready(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void spur_workq_kick(struct spur_workq *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->timer);
	pthread_cond_broadcast(&s->ready);
	pthread_mutex_unlock(&s->lock);
}

size_t spur_workq_pending(struct spur_workq *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_ready + s->n_heap;
	pthread_mutex_unlock(&s->lock);
	return n;
}
