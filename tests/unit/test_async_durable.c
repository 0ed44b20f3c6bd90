/* SPDX-License-Identifier: MIT */
/*
 * test_async_durable.c - the async queue against what a crash, a full
 * store and a large backlog do to it (issue 14): the queue layer over
 * the real sqlite store and the test runtime, on the injected clock.
 *
 *   crashed runs       the rows a process leaves when it died in runs
 *                      (taken, never settled) are counted as failed
 *                      attempts at the next start: a poison event ends
 *                      as RetriesExhausted (Runtime.ExitError) without
 *                      running again; after one crash it runs again at
 *                      once with ctx.attempt 2.
 *   refused final write  the store refuses the write that ends a run (at
 *                      its size limit): only the write is tried again; the
 *                      function never runs twice for it.
 *   bounded memory     10,000 events stored before the start are paged in
 *                      through take(): never more than the window in
 *                      memory, each run once.
 *   released takes     takes that started no run (throttled, stopped
 *                      first) count no attempt.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "layer_core.h"
#include "util.h"

#define HOUR_NS (3600LL * 1000000000)
#define LEASED (100LL * 365 * 24 * 3600 * 1000)	/* async.c's lease */

static const char config_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal%s }\n"
	"functions:\n"
	"  ok:\n"
	"    runtime: test\n"
	"    code: ok.txt\n"
	"    async: { max_retries: 2, backoff: { base: 1m, factor: 2, cap: 5m } }\n"
	"  echo: { runtime: test, code: echo.txt }\n"
	"  big: { runtime: test, code: big.txt }\n";

struct fixture {
	struct layer_host h;
	struct layer_core core;
	struct spur_async *async;
};

static struct spur_async *async_new(struct fixture *f)
{
	struct spur_async *a = spur_async_new(&(struct spur_async_env){
		.store = f->h.store, .store_instance = f->h.si, .outbox = f->core.ob,
		.exec = f->core.exec, .registry = &f->core.registry, .log = &f->h.log,
		.metrics = f->core.metrics,
	});
	ck_assert_ptr_nonnull(a);
	return a;
}

/* store_extra: more of the store: section (", max_size: 4MiB"). */
static void setup_with(struct fixture *f, const char *store_extra)
{
	char yaml[sizeof(config_yaml) + 128];
	snprintf(yaml, sizeof(yaml), config_yaml, store_extra);
	memset(f, 0, sizeof(*f));
	layer_clock_start();
	layer_init(&f->h);
	layer_write(&f->h, "ok.txt", "ok\n");
	layer_write(&f->h, "echo.txt", "echo\n");
	layer_write(&f->h, "big.txt", "big\n");
	ck_assert_msg(layer_config(&f->h, yaml) == 0, "%s", f->h.errors);
	layer_store_open(&f->h);
	layer_core_start(&f->core, &f->h);
	f->async = async_new(f);
}

static void setup(struct fixture *f)
{
	setup_with(f, "");
}

static void teardown(struct fixture *f)
{
	spur_async_stop(f->async);
	spur_async_free(f->async);
	layer_core_stop(&f->core, &f->h);
	layer_fini(&f->h);
	layer_clock_stop();
}

/* A row of the async queue as a process leaves it: `takes` takes (the
 * last one a lease of that process), `attempts` runs settled. */
static void put_left_behind(struct fixture *f, const char *id, const char *fn,
			    unsigned takes, unsigned attempts)
{
	char attrs[256];
	int64_t now = spur_store_now_ms();
	snprintf(attrs, sizeof(attrs),
		 "{\"function\":\"%s\",\"target\":\"%s\",\"attempts\":%u,\"hops\":0}", fn, fn, attempts);
	struct spur_store_op op = {
		.kind = SPUR_STORE_PUT,
		.msg = {
			.id = id, .queue = "async", .body = "{\"n\":1}", .body_len = 7,
			.attrs = attrs, .attrs_len = strlen(attrs), .accepted_ms = now,
			.visible_ms = takes ? now + LEASED : now, .receive_count = takes,
		},
	};
	ck_assert_int_eq(f->h.store->apply(f->h.si, &op, 1, NULL), 0);
}

static void on_key(void *ud, const char *v, size_t len)
{
	*(char **)ud = strndup(v, len);
}

static json_t *outcome(struct fixture *f, const char *id)
{
	char *v = NULL;
	f->h.store->key_get(f->h.si, "event", id, on_key, &v);
	json_t *j = v ? json_loads(v, 0, NULL) : NULL;
	free(v);
	return j;
}

struct wait_outcome {
	struct fixture *f;
	const char *id;
};

static bool has_outcome(void *ud)
{
	struct wait_outcome *w = ud;
	json_t *j = outcome(w->f, w->id);
	json_decref(j);
	return j != NULL;
}

static json_t *wait_outcome(struct fixture *f, const char *id)
{
	struct wait_outcome w = { f, id };
	ck_assert_msg(layer_wait(has_outcome, &w, 10000), "event %s never finished", id);
	return outcome(f, id);
}

static void on_msg(void *ud, const struct spur_msg *m)
{
	json_t **j = ud;
	*j = json_loadb(m->attrs, m->attrs_len, 0, NULL);
	json_object_set_new(*j, "_receive_count", json_integer(m->receive_count));
	json_object_set_new(*j, "_visible_ms", json_integer(m->visible_ms));
}

/* The stored row's attributes (plus _receive_count, _visible_ms), or NULL. */
static json_t *stored(struct fixture *f, const char *id)
{
	json_t *j = NULL;
	f->h.store->get(f->h.si, id, on_msg, &j);
	return j;
}

static int stored_int(struct fixture *f, const char *id, const char *name)
{
	json_t *j = stored(f, id);
	int n = j ? (int)json_integer_value(json_object_get(j, name)) : -1;
	json_decref(j);
	return n;
}

static const char *error_type_of(json_t *o)
{
	json_t *rec = json_object_get(o, "record");
	return json_string_value(json_object_get(json_object_get(rec, "responsePayload"), "errorType"));
}

START_TEST(three_crashed_runs_end_the_event_without_a_fourth)
{
	struct fixture f;
	setup(&f);
	/* max_retries 2: three runs, all died with their process */
	put_left_behind(&f, "11111111-1111-4111-8111-111111111111", "ok", 3, 0);
	ck_assert_int_eq(spur_async_start(f.async), 0);
	json_t *o = wait_outcome(&f, "11111111-1111-4111-8111-111111111111");
	ck_assert_str_eq(json_string_value(json_object_get(o, "condition")), "RetriesExhausted");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 3);
	ck_assert_str_eq(error_type_of(o), "Runtime.ExitError");
	json_t *rec = json_object_get(o, "record");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rec, "requestContext"),
							    "approximateInvokeCount")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "responseContext"),
							   "functionError")), "Unhandled");
	json_decref(o);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 0);	/* never ran again */
	ck_assert(layer_logged(&f.h, "3 run(s) ended with the process"));
	teardown(&f);
}
END_TEST

START_TEST(one_crashed_run_is_counted_and_the_event_runs_again_as_attempt_two)
{
	struct fixture f;
	setup(&f);
	const char *id = "22222222-2222-4222-8222-222222222222";
	put_left_behind(&f, id, "ok", 1, 0);
	ck_assert_int_eq(spur_async_start(f.async), 0);
	json_t *o = wait_outcome(&f, id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "condition")), "Success");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 2);
	json_decref(o);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	ck_assert_uint_eq(layer_runtime_attempt(f.core.rt, 0), 2);
	ck_assert(layer_logged(&f.h, "1 run(s) ended with the process"));
	teardown(&f);
}
END_TEST

START_TEST(a_take_that_started_no_run_counts_no_attempt)
{
	struct fixture f;
	setup(&f);
	const char *id = "33333333-3333-4333-8333-333333333333";
	/* taken twice: once throttled (released), once leased when the
	 * process stopped before it ran (released at stop) */
	char attrs[256];
	int64_t now = spur_store_now_ms();
	snprintf(attrs, sizeof(attrs), "{\"function\":\"ok\",\"target\":\"ok\",\"attempts\":0,"
		 "\"hops\":0,\"released\":2,\"throttles\":1}");
	struct spur_store_op op = { .kind = SPUR_STORE_PUT, .msg = {
		.id = id, .queue = "async", .body = "{}", .body_len = 2,
		.attrs = attrs, .attrs_len = strlen(attrs), .accepted_ms = now,
		.visible_ms = now, .receive_count = 2,
	} };
	ck_assert_int_eq(f.h.store->apply(f.h.si, &op, 1, NULL), 0);
	ck_assert_int_eq(spur_async_start(f.async), 0);
	json_t *o = wait_outcome(&f, id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "condition")), "Success");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 1);
	json_decref(o);
	ck_assert_uint_eq(layer_runtime_attempt(f.core.rt, 0), 1);
	ck_assert(!layer_logged(&f.h, "ended with the process"));
	teardown(&f);
}
END_TEST

struct peak {
	struct fixture *f;
	size_t n, max;
};

static bool all_ran(void *ud)
{
	struct peak *p = ud;
	size_t now = spur_async_pending(p->f->async);
	if (now > p->max)
		p->max = now;
	return layer_runtime_calls(p->f->core.rt) >= p->n && now == 0;
}

START_TEST(a_backlog_is_paged_through_a_bounded_window)
{
	struct fixture f;
	setup(&f);
	enum { N = 10000, BATCH = 500 };
	/* stored before the start, as a restart finds them */
	struct spur_store_op *ops = calloc(BATCH, sizeof(*ops));
	char (*ids)[37] = calloc(BATCH, 37);
	const char *attrs = "{\"function\":\"echo\",\"target\":\"echo\",\"attempts\":0,\"hops\":0}";
	for (int b = 0; b < N / BATCH; b++) {
		for (int i = 0; i < BATCH; i++) {
			spur_uuid(ids[i]);
			ops[i] = (struct spur_store_op){ .kind = SPUR_STORE_PUT, .msg = {
				.id = ids[i], .queue = "async", .body = "{}", .body_len = 2,
				.attrs = attrs, .attrs_len = strlen(attrs),
				.accepted_ms = spur_store_now_ms(), .visible_ms = spur_store_now_ms(),
			} };
		}
		ck_assert_int_eq(f.h.store->apply(f.h.si, ops, BATCH, NULL), 0);
	}
	free(ops);
	free(ids);
	ck_assert_int_eq(spur_async_start(f.async), 0);
	struct peak p = { &f, N, 0 };
	ck_assert_msg(layer_wait(all_ran, &p, 60000), "%zu of %d ran",
		      layer_runtime_calls(f.core.rt), N);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), N);	/* each once */
	ck_assert_uint_gt(p.max, 0);
	ck_assert_uint_le(p.max, 256);	/* the window (one per worker), not the backlog */
	teardown(&f);
}
END_TEST

/* Fill the store with 128 KiB messages of queue "fill" until it refuses;
 * how many went in. */
static int fill(struct fixture *f)
{
	static char big[128 << 10];
	memset(big, 'x', sizeof(big));
	big[0] = '"';
	big[sizeof(big) - 1] = '"';
	int n = 0;
	for (;; n++) {
		char id[37];
		spur_uuid(id);
		struct spur_store_op op = { .kind = SPUR_STORE_PUT, .msg = {
			.id = id, .queue = "fill", .body = big, .body_len = sizeof(big),
			.accepted_ms = spur_store_now_ms(), .visible_ms = spur_store_now_ms(),
		} };
		int rc = f->h.store->apply(f->h.si, &op, 1, NULL);
		if (rc == -ENOSPC)
			return n;
		ck_assert_int_eq(rc, 0);
	}
}

struct refusals {
	struct fixture *f;
	int want;
};

static bool refused_enough(void *ud)
{
	struct refusals *r = ud;
	char needle[64];
	snprintf(needle, sizeof(needle), "writing it again in %d ms", 1000 << r->want);
	layer_clock_advance(40LL * 1000000000);		/* past any settle backoff */
	spur_async_kick(r->f->async);
	return layer_logged(&r->f->h, needle);
}

START_TEST(a_refused_final_write_is_retried_and_the_run_is_not)
{
	struct fixture f;
	setup_with(&f, ", max_size: 4MiB");
	ck_assert_int_eq(spur_async_start(f.async), 0);
	ck_assert_int_gt(fill(&f), 0);
	/* room for the event (one filler out), not for its record: the
	 * answer of "big" is 1 MiB, the record holds it twice */
	struct layer_msgs msgs;
	layer_peek(&f.h, "fill", &msgs);
	ck_assert_uint_gt(msgs.n, 0);
	struct spur_store_op del = { .kind = SPUR_STORE_DELETE, .id = msgs.m[0].id };
	ck_assert_int_eq(f.h.store->apply(f.h.si, &del, 1, NULL), 0);
	layer_msgs_free(&msgs);

	char why[128], id[37];
	spur_uuid(id);
	struct spur_fn *fn = spur_registry_find(spur_registry_current(&f.core.registry), "big", 3);
	ck_assert_ptr_nonnull(fn);
	ck_assert_int_eq(spur_async_submit(f.async, fn, NULL, 0, "{}", 2, id, 0,
					   NULL, NULL, why, sizeof(why)), 0);
	ck_assert(layer_runtime_wait(f.core.rt, 1, 10000));
	/* refused three times (1 s, 2 s, 4 s): the run is not repeated */
	struct refusals r = { &f, 2 };
	if (!layer_wait(refused_enough, &r, 20000)) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "tail -c 3000 %s/core.log >&2", f.h.dir);
		(void)!system(cmd);
		ck_abort_msg("no third refusal logged");
	}
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	json_t *o = outcome(&f, id);
	ck_assert_ptr_null(o);

	/* room again: the write lands with the one run's outcome */
	/* (a purge that shares its group commit with the refused write fails
	 * with it: -ENOSPC; the next one is alone or lands first) */
	int64_t purged = -ENOSPC;
	for (int i = 0; i < 100 && purged == -ENOSPC; i++)
		purged = f.h.store->purge(f.h.si, "fill");
	ck_assert_int_gt(purged, 0);
	layer_clock_advance(60LL * 1000000000);
	spur_async_kick(f.async);
	o = wait_outcome(&f, id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "condition")), "Success");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 1);
	json_decref(o);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	ck_assert_int_eq(stored_int(&f, id, "attempts"), -1);	/* gone from the queue */
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("async_durable");
	TCase *tc = tcase_create("async_durable");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, three_crashed_runs_end_the_event_without_a_fourth);
	tcase_add_test(tc, one_crashed_run_is_counted_and_the_event_runs_again_as_attempt_two);
	tcase_add_test(tc, a_take_that_started_no_run_counts_no_attempt);
	tcase_add_test(tc, a_backlog_is_paged_through_a_bounded_window);
	tcase_add_test(tc, a_refused_final_write_is_retried_and_the_run_is_not);
	suite_add_tcase(s, tc);
	return layer_run(s);
}
