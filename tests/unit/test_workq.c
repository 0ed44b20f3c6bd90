/* SPDX-License-Identifier: MIT */
/*
 * test_workq.c - the work queue with timers (router/base/workq.c), built
 * with the base layer alone: FIFO order of ready jobs, due order of timed
 * ones, nothing popped before the injected clock reaches its due time,
 * kick() waking a consumer that sleeps on a timer, pop_batch limits, stop
 * waking blocked consumers, free handing every job back.
 * Timers run on an injected clock: an hour of waiting costs nothing.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"
#include "workq.h"

#define HOUR_NS (3600LL * 1000000000)

struct job {
	struct spur_job job;		/* first: the queue hands back this pointer */
	int n;
	int handed_back;
};

static int64_t fake_ns;

static int64_t fake_clock(void *ud)
{
	return __atomic_load_n(&fake_ns, __ATOMIC_SEQ_CST);
}

static void clock_at(int64_t ns)
{
	__atomic_store_n(&fake_ns, ns, __ATOMIC_SEQ_CST);
	spur_clock_inject(fake_clock, NULL);
}

static void clock_advance(int64_t ns)
{
	__atomic_add_fetch(&fake_ns, ns, __ATOMIC_SEQ_CST);
}

static int64_t now(void)
{
	return __atomic_load_n(&fake_ns, __ATOMIC_SEQ_CST);
}

static int n_of(struct spur_job *j)
{
	return ((struct job *)j)->n;
}

/* A consumer thread: one pop, and what it got. */
struct consumer {
	struct spur_workq *q;
	pthread_t thread;
	struct spur_job *got;
	int done;			/* atomic */
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	c->got = spur_workq_pop(c->q);
	__atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void consumer_start(struct consumer *c, struct spur_workq *q)
{
	c->q = q;
	c->got = NULL;
	c->done = 0;
	ck_assert_int_eq(pthread_create(&c->thread, NULL, consume, c), 0);
}

/* Join within `ms` of real time, or fail: the pop did not return. */
static void consumer_join(struct consumer *c, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000 + 1;
	ck_assert_msg(pthread_timedjoin_np(c->thread, NULL, &ts) == 0,
		      "a blocked pop did not return");
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000 };
	nanosleep(&ts, NULL);
}

START_TEST(ready_jobs_pop_in_fifo_order)
{
	struct spur_workq *q = spur_workq_new();
	struct job j[5];
	for (int i = 0; i < 5; i++) {
		j[i] = (struct job){ .n = i };
		spur_workq_push(q, &j[i].job, 0);
	}
	ck_assert_uint_eq(spur_workq_pending(q), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(n_of(spur_workq_pop(q)), i);
	ck_assert_uint_eq(spur_workq_pending(q), 0);
	/* a due time already passed is ready now, behind those already ready */
	clock_at(10 * HOUR_NS);
	spur_workq_push(q, &j[0].job, 0);
	spur_workq_push(q, &j[1].job, now() - 1);
	spur_workq_push(q, &j[2].job, now());
	ck_assert_int_eq(n_of(spur_workq_pop(q)), 0);
	ck_assert_int_eq(n_of(spur_workq_pop(q)), 1);
	ck_assert_int_eq(n_of(spur_workq_pop(q)), 2);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

START_TEST(timed_jobs_pop_in_due_order)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	static const int due_s[] = { 30, 10, 50, 20, 40 };
	struct job j[5];
	for (int i = 0; i < 5; i++) {
		j[i] = (struct job){ .n = due_s[i] };
		spur_workq_push(q, &j[i].job, now() + due_s[i] * 1000000000LL);
	}
	ck_assert_uint_eq(spur_workq_pending(q), 5);
	clock_advance(60LL * 1000000000);
	struct spur_job *out[8];
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 8), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(n_of(out[i]), (i + 1) * 10);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

/* push_once: a job queued once however often it is pushed; a push due
 * sooner moves it earlier (out of the heap's middle), a later one does
 * not; after its pop it can be queued again. */
START_TEST(push_once_queues_once_and_only_moves_earlier)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job j[4], once = { .n = 99 };
	for (int i = 0; i < 4; i++) {
		j[i] = (struct job){ .n = (i + 1) * 10 };
		spur_workq_push(q, &j[i].job, now() + (i + 1) * 10 * 1000000000LL);
	}
	spur_workq_push_once(q, &once.job, now() + 100 * 1000000000LL);
	spur_workq_push_once(q, &once.job, now() + 200 * 1000000000LL);	/* later: kept at 100 s */
	ck_assert_uint_eq(spur_workq_pending(q), 5);
	spur_workq_push_once(q, &once.job, now() + 25 * 1000000000LL);	/* sooner: 25 s */
	ck_assert_uint_eq(spur_workq_pending(q), 5);
	clock_advance(26LL * 1000000000);
	struct spur_job *out[8];
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 8), 3);
	ck_assert_int_eq(n_of(out[0]), 10);
	ck_assert_int_eq(n_of(out[1]), 20);
	ck_assert_int_eq(n_of(out[2]), 99);
	spur_workq_push_once(q, &once.job, 0);		/* popped: queued again, ready */
	spur_workq_push_once(q, &once.job, 0);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 8), 1);
	ck_assert_int_eq(n_of(out[0]), 99);
	clock_advance(100LL * 1000000000);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 8), 2);
	ck_assert_int_eq(n_of(out[0]), 30);
	ck_assert_int_eq(n_of(out[1]), 40);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

/* pop_batch takes every ready job (up to max) after promoting the due
 * ones, and does not wait for more: a ready marker pushed first makes each
 * pop return at once, and shows whether the timed job came with it. */
START_TEST(not_popped_before_its_due_time)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job later = { .n = 99 }, marker = { .n = 1 };
	struct spur_job *out[4];
	spur_workq_push(q, &later.job, now() + HOUR_NS);

	spur_workq_push(q, &marker.job, 0);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 4), 1);
	ck_assert_int_eq(n_of(out[0]), 1);

	clock_advance(HOUR_NS - 1);		/* one nanosecond early */
	spur_workq_push(q, &marker.job, 0);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 4), 1);
	ck_assert_int_eq(n_of(out[0]), 1);
	ck_assert_uint_eq(spur_workq_pending(q), 1);

	clock_advance(1);			/* due */
	spur_workq_push(q, &marker.job, 0);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 4), 2);
	ck_assert_int_eq(n_of(out[0]), 1);
	ck_assert_int_eq(n_of(out[1]), 99);
	ck_assert_uint_eq(spur_workq_pending(q), 0);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

/* A consumer keeping a timer an hour away (on the real clock it would
 * sleep that long) returns the job once the injected clock reaches it
 * and kick() makes it look again. */
START_TEST(kick_wakes_a_consumer_sleeping_on_a_timer)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job later = { .n = 7 };
	spur_workq_push(q, &later.job, now() + HOUR_NS);
	struct consumer c;
	consumer_start(&c, q);
	sleep_ms(20);				/* let it block on the timer */
	ck_assert_int_eq(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST), 0);
	clock_advance(HOUR_NS);
	spur_workq_kick(q);
	consumer_join(&c, 5000);
	ck_assert_ptr_nonnull(c.got);
	ck_assert_int_eq(n_of(c.got), 7);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

/* Review H4: the one consumer keeps the timer of a job due in an hour; a
 * ready job pushed then must not wait for that hour (it did: a ready push
 * signalled only `ready`, and nobody waited there). */
START_TEST(a_ready_push_wakes_the_timer_keeper)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job later = { .n = 7 }, now_job = { .n = 8 };
	spur_workq_push(q, &later.job, now() + HOUR_NS);
	struct consumer c;
	consumer_start(&c, q);
	for (int i = 0; i < 5000 && spur_workq_wants_consumer(q); i++)
		sleep_ms(1);			/* until it keeps the timer */
	ck_assert(!spur_workq_wants_consumer(q));
	spur_workq_push(q, &now_job.job, 0);
	consumer_join(&c, 5000);
	ck_assert_ptr_nonnull(c.got);
	ck_assert_int_eq(n_of(c.got), 8);
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

START_TEST(pop_batch_takes_at_most_max)
{
	struct spur_workq *q = spur_workq_new();
	struct job j[7];
	for (int i = 0; i < 7; i++) {
		j[i] = (struct job){ .n = i };
		spur_workq_push(q, &j[i].job, 0);
	}
	struct spur_job *out[8] = { 0 };
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 3), 3);
	ck_assert_int_eq(n_of(out[0]), 0);
	ck_assert_int_eq(n_of(out[2]), 2);
	ck_assert_uint_eq(spur_workq_pending(q), 4);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 1), 1);
	ck_assert_int_eq(n_of(out[0]), 3);
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 8), 3);
	ck_assert_int_eq(n_of(out[0]), 4);
	ck_assert_int_eq(n_of(out[2]), 6);
	ck_assert_uint_eq(spur_workq_pending(q), 0);
	spur_workq_free(q, NULL, NULL);
}
END_TEST

/* Two consumers block, one on an empty queue and one keeping a timer;
 * stop returns NULL to both, and to every pop after it, queued jobs or not. */
START_TEST(stop_wakes_blocked_pops)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job later = { .n = 1 }, ready = { .n = 2 };
	spur_workq_push(q, &later.job, now() + HOUR_NS);
	struct consumer a, b;
	consumer_start(&a, q);
	consumer_start(&b, q);
	sleep_ms(20);				/* let both block */
	ck_assert_int_eq(__atomic_load_n(&a.done, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST), 0);
	spur_workq_stop(q);
	consumer_join(&a, 5000);
	consumer_join(&b, 5000);
	ck_assert_ptr_null(a.got);
	ck_assert_ptr_null(b.got);
	spur_workq_push(q, &ready.job, 0);
	ck_assert_ptr_null(spur_workq_pop(q));
	struct spur_job *out[2];
	ck_assert_uint_eq(spur_workq_pop_batch(q, out, 2), 0);
	ck_assert_uint_eq(spur_workq_pending(q), 2);	/* left to the caller */
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

static void hand_back(struct spur_job *j, void *ud)
{
	((struct job *)j)->handed_back++;
	(*(int *)ud)++;
}

START_TEST(free_hands_back_every_job)
{
	clock_at(10 * HOUR_NS);
	struct spur_workq *q = spur_workq_new();
	struct job j[6];
	for (int i = 0; i < 6; i++) {
		j[i] = (struct job){ .n = i };
		/* three ready, three timed */
		spur_workq_push(q, &j[i].job, i % 2 ? now() + (i + 1) * HOUR_NS : 0);
	}
	ck_assert_uint_eq(spur_workq_pending(q), 6);
	int count = 0;
	spur_workq_free(q, hand_back, &count);
	ck_assert_int_eq(count, 6);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(j[i].handed_back, 1);
	spur_workq_free(NULL, hand_back, &count);	/* a no-op */
	ck_assert_int_eq(count, 6);
	spur_clock_inject(NULL, NULL);
}
END_TEST

/* Elastic consumers (async workers): an idle pop gives up, a queued job
 * is still taken, and wants_consumer says when a push needs a new one. */
START_TEST(idle_pop_gives_up_and_wants_consumer_says_when)
{
	struct spur_workq *q = spur_workq_new();
	struct job a = { .n = 1 }, b = { .n = 2 };

	clock_at(HOUR_NS);
	ck_assert(!spur_workq_wants_consumer(q));		/* nothing queued */
	ck_assert_ptr_null(spur_workq_pop_idle(q, 5));		/* idle 5 ms: gives up */
	spur_workq_push(q, &a.job, 0);
	ck_assert(spur_workq_wants_consumer(q));		/* ready, nobody waiting */
	ck_assert_int_eq(n_of(spur_workq_pop_idle(q, 5)), 1);
	ck_assert(!spur_workq_wants_consumer(q));
	spur_workq_push(q, &b.job, now() + HOUR_NS);
	ck_assert(spur_workq_wants_consumer(q));		/* a timer nobody keeps */
	spur_workq_stop(q);
	ck_assert(!spur_workq_wants_consumer(q));
	ck_assert_ptr_null(spur_workq_pop_idle(q, 5));
	spur_workq_free(q, NULL, NULL);
	spur_clock_inject(NULL, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workq");
	TCase *tc = tcase_create("workq");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ready_jobs_pop_in_fifo_order);
	tcase_add_test(tc, timed_jobs_pop_in_due_order);
	tcase_add_test(tc, push_once_queues_once_and_only_moves_earlier);
	tcase_add_test(tc, not_popped_before_its_due_time);
	tcase_add_test(tc, kick_wakes_a_consumer_sleeping_on_a_timer);
	tcase_add_test(tc, a_ready_push_wakes_the_timer_keeper);
	tcase_add_test(tc, pop_batch_takes_at_most_max);
	tcase_add_test(tc, stop_wakes_blocked_pops);
	tcase_add_test(tc, free_hands_back_every_job);
	tcase_add_test(tc, idle_pop_gives_up_and_wants_consumer_says_when);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
