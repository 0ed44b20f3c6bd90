/* SPDX-License-Identifier: MIT */
/*
 * test_workers.c - the elastic thread pool (router/base/workers.c), built
 * with the base layer alone: every task submitted runs exactly once, no
 * more threads than max run (the rest wait in order), idle threads end so
 * that an idle pool holds none, threads start again on demand, and free
 * runs what is still queued before it returns.
 * Waits are for events (a count reaching a value), never fixed sleeps.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "workers.h"

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int inside;
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
static atomic_int ran;

struct task {
	struct spur_task task;
	bool wait_at_gate;
	int order, *log, *log_len;
};

static void task_run(struct spur_task *t)
{
	struct task *k = (struct task *)t;

	if (k->wait_at_gate) {
		pthread_mutex_lock(&gate.lock);
		gate.inside++;
		pthread_cond_broadcast(&gate.cond);
		while (!gate.open)
			pthread_cond_wait(&gate.cond, &gate.lock);
		if (k->log)
			k->log[(*k->log_len)++] = k->order;
		pthread_mutex_unlock(&gate.lock);
	}
	atomic_fetch_add(&ran, 1);
}

static void gate_reset(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = false;
	gate.inside = 0;
	pthread_mutex_unlock(&gate.lock);
	atomic_store(&ran, 0);
}

static void gate_wait_inside(int n)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.inside < n)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Wait (up to 10 s) for the pool's thread count to reach n. */
static bool threads_reach(struct spur_workers *w, unsigned n)
{
	struct timespec pause = { 0, 2000000 };

	for (int i = 0; i < 5000; i++) {
		if (spur_workers_threads(w) == n)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

START_TEST(every_task_runs_once)
{
	enum { N = 1000 };
	struct spur_workers *w = spur_workers_new("t-once", 4, 1000, 0);
	struct task *ts = calloc(N, sizeof(*ts));

	gate_reset();
	for (int i = 0; i < N; i++) {
		ts[i].task.run = task_run;
		ck_assert_int_eq(spur_workers_submit(w, &ts[i].task), 0);
		ck_assert_uint_le(spur_workers_threads(w), 4);
	}
	spur_workers_free(w);	/* runs what is queued first */
	ck_assert_int_eq(atomic_load(&ran), N);
	free(ts);
}
END_TEST

START_TEST(max_threads_then_fifo)
{
	enum { N = 10 };
	struct spur_workers *w = spur_workers_new("t-max", 3, 60000, 0);
	struct task ts[N] = { 0 };
	int log[N], log_len = 0;

	gate_reset();
	for (int i = 0; i < N; i++) {
		ts[i] = (struct task){ .task.run = task_run, .wait_at_gate = true,
				       .order = i, .log = i >= 3 ? log : NULL, .log_len = &log_len };
		ck_assert_int_eq(spur_workers_submit(w, &ts[i].task), 0);
	}
	gate_wait_inside(3);
	ck_assert_uint_eq(spur_workers_threads(w), 3);
	ck_assert_uint_eq(spur_workers_waiting(w), N - 3);
	gate_open();
	spur_workers_free(w);
	ck_assert_int_eq(atomic_load(&ran), N);
	ck_assert_int_eq(log_len, N - 3);
	/* one thread at a time takes the queue's head: with 3 threads the
	 * waiting tasks start in submit order (they finish in any order) */
	for (int i = 0; i < log_len; i++)
		ck_assert_int_ge(log[i], 3);
}
END_TEST

START_TEST(idle_threads_end_and_come_back)
{
	struct spur_workers *w = spur_workers_new("t-idle", 8, 20, 0);
	struct task ts[4] = { 0 };

	gate_reset();
	for (int i = 0; i < 4; i++) {
		ts[i] = (struct task){ .task.run = task_run, .wait_at_gate = true };
		ck_assert_int_eq(spur_workers_submit(w, &ts[i].task), 0);
	}
	gate_wait_inside(4);
	ck_assert_uint_eq(spur_workers_threads(w), 4);
	gate_open();
	ck_assert(threads_reach(w, 0));		/* idle 20 ms: every thread ended */
	ck_assert_int_eq(atomic_load(&ran), 4);
	ts[0] = (struct task){ .task.run = task_run };
	ck_assert_int_eq(spur_workers_submit(w, &ts[0].task), 0);
	spur_workers_free(w);
	ck_assert_int_eq(atomic_load(&ran), 5);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_task_runs_once);
	tcase_add_test(tc, max_threads_then_fifo);
	tcase_add_test(tc, idle_threads_end_and_come_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
