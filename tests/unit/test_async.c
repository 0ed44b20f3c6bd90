/* SPDX-License-Identifier: MIT */
/*
 * test_async.c - asynchronous invocation on an injected clock: hours of
 * backoff in milliseconds, retries exhausted into a dead-letter queue,
 * event age, throttling without attempts, backoff arithmetic. A real
 * router with the sqlite store in a temporary directory.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "async.h"
#include "backoff.h"
#include "harness.h"
#include "host.h"
#include "util.h"

#define HOUR_NS (3600LL * 1000000000)

static int64_t fake_ns;
static int64_t fake_clock(void *ud)
{
	return __atomic_load_n(&fake_ns, __ATOMIC_SEQ_CST);
}

static void advance(struct harness *h, int64_t ns)
{
	__atomic_add_fetch(&fake_ns, ns, __ATOMIC_SEQ_CST);
	spur_async_kick(spur_host_async(h->host));
}

static void real_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000 };
	nanosleep(&ts, NULL);
}

struct found {
	json_t *attrs;
	char *value;
};

static void on_msg(void *ud, const struct spur_msg *m)
{
	struct found *f = ud;
	f->attrs = json_loadb(m->attrs, m->attrs_len, 0, NULL);
}

static void on_key(void *ud, const char *v, size_t len)
{
	struct found *f = ud;
	f->value = strndup(v, len);
}

/* The stored attempt count of a pending event, or -1 when it is not pending. */
static int stored_attempts(struct harness *h, const char *id)
{
	void *si;
	const struct spur_store *st = spur_host_store(h->host, &si);
	struct found f = { 0 };
	if (st->get(si, id, on_msg, &f) != 1)
		return -1;
	int n = (int)json_integer_value(json_object_get(f.attrs, "attempts"));
	json_decref(f.attrs);
	return n;
}

/* The outcome of a finished event (malloc()ed JSON), or NULL. */
static char *outcome(struct harness *h, const char *id)
{
	void *si;
	const struct spur_store *st = spur_host_store(h->host, &si);
	struct found f = { 0 };
	st->key_get(si, "event", id, on_key, &f);
	return f.value;
}

/* Real-time polling for what the workers do with the injected time: the
 * attempt is stored, in the write that sets the retry's time (only then
 * may the test move the clock), and the event has left memory. */
static void wait_attempts(struct harness *h, const char *id, int want)
{
	/* up to 20 s: a loaded CI machine fsyncs slowly */
	for (int i = 0; i < 10000 && stored_attempts(h, id) != want; i++)
		real_sleep_ms(2);
	ck_assert_msg(stored_attempts(h, id) == want, "stored attempts %d, want %d (%zu in memory)",
		      stored_attempts(h, id), want, spur_async_pending(spur_host_async(h->host)));
	for (int i = 0; i < 10000 && spur_async_pending(spur_host_async(h->host)) > 0; i++)
		real_sleep_ms(2);
	ck_assert_int_eq(spur_async_pending(spur_host_async(h->host)), 0);
}

/* A stored attribute of a pending event, or -1. */
static int stored_attr(struct harness *h, const char *id, const char *name)
{
	void *si;
	const struct spur_store *st = spur_host_store(h->host, &si);
	struct found f = { 0 };
	if (st->get(si, id, on_msg, &f) != 1)
		return -1;
	int n = (int)json_integer_value(json_object_get(f.attrs, name));
	json_decref(f.attrs);
	return n;
}

static char *wait_outcome(struct harness *h, const char *id)
{
	char *o = NULL;
	for (int i = 0; i < 10000 && !(o = outcome(h, id)); i++)
		real_sleep_ms(2);
	ck_assert_msg(o != NULL, "event %s never finished", id);
	return o;
}

static void submit(struct harness *h, const char *fn, const char *payload, char id[37])
{
	struct spur_invoke_args a = {
		.struct_size = sizeof(a), .target = fn, .payload = payload,
		.payload_len = strlen(payload), .mode = SPUR_MODE_ASYNC, .source = "test",
	};
	struct spur_result *r = spur_invoke(h->host, &a);
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_ACCEPTED);
	snprintf(id, 37, "%s", spur_result_request_id(r));
	spur_result_free(r);
}

static void start(struct harness *h, const char *functions)
{
	char yaml[4096];
	__atomic_store_n(&fake_ns, 1000 * HOUR_NS, __ATOMIC_SEQ_CST);
	spur_clock_inject(fake_clock, NULL);
	harness_init(h);
	harness_write(h, "fail.lua", "function handle(e, ctx) error('no: ' .. ctx.attempt) end\n");
	harness_write(h, "ok.lua", "function handle(e, ctx) return { attempt = ctx.attempt } end\n");
	snprintf(yaml, sizeof(yaml),
		 "state_dir: var\nlog: { level: error }\nhttp: { listen: \"127.0.0.1:0\" }\n"
		 "queues: { dlq: {} }\nfunctions:\n%s", functions);
	ck_assert_msg(harness_load_yaml(h, yaml) == 0, "%s", h->errors);
	ck_assert_int_eq(harness_start(h), 0);
}

static void stop(struct harness *h)
{
	harness_fini(h);
	spur_clock_inject(NULL, NULL);
}

START_TEST(hours_of_backoff_in_milliseconds)
{
	struct harness h;
	start(&h,
	      "  f:\n    runtime: lua\n    code: fail.lua\n"
	      "    async: { max_retries: 2, max_event_age: 7d, backoff: { base: 1h, factor: 2, cap: 5h },\n"
	      "             on_failure: [ \"queue://dlq\" ] }\n");
	char id[37];
	submit(&h, "f", "{\"k\":1}", id);
	wait_attempts(&h, id, 1);		/* attempt 1 ran at once and failed */
	advance(&h, HOUR_NS - 1000000);		/* just before the first retry */
	real_sleep_ms(50);
	ck_assert_int_eq(stored_attempts(&h, id), 1);
	advance(&h, 1000000);			/* 1 h: attempt 2 */
	wait_attempts(&h, id, 2);
	advance(&h, 2 * HOUR_NS);		/* then 2 h: attempt 3, the last */
	char *o = wait_outcome(&h, id);
	json_t *j = json_loads(o, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "condition")), "RetriesExhausted");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 3);
	json_t *rec = json_object_get(j, "record");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rec, "requestContext"),
							    "approximateInvokeCount")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "responseContext"),
							   "functionError")), "Unhandled");
	json_decref(j);
	free(o);
	ck_assert_int_eq(stored_attempts(&h, id), -1);	/* gone from the queue */
	stop(&h);
}
END_TEST

START_TEST(event_age_exceeded)
{
	struct harness h;
	start(&h,
	      "  f:\n    runtime: lua\n    code: fail.lua\n"
	      "    async: { max_retries: 2, max_event_age: 1h, backoff: { base: 2h, factor: 2, cap: 5h } }\n");
	char id[37];
	submit(&h, "f", "{}", id);
	wait_attempts(&h, id, 1);
	advance(&h, 2 * HOUR_NS);
	char *o = wait_outcome(&h, id);
	json_t *j = json_loads(o, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "condition")), "EventAgeExceeded");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 1);
	json_decref(j);
	free(o);
	stop(&h);
}
END_TEST

START_TEST(throttled_events_use_no_attempt)
{
	struct harness h;
	start(&h,
	      "  f:\n    runtime: lua\n    code: ok.lua\n    concurrency: { reserved: 0 }\n"
	      "    async: { max_event_age: 7d }\n");
	char id[37];
	submit(&h, "f", "{}", id);
	/* each throttled take is written back (the event leaves memory) after
	 * 1 s, 2 s, 4 s ..., and none of them is an attempt */
	for (int i = 0; i < 15000 && stored_attr(&h, id, "throttles") < 3; i++) {
		advance(&h, 10LL * 1000000000);
		real_sleep_ms(2);
	}
	ck_assert_int_ge(stored_attr(&h, id, "throttles"), 3);
	ck_assert_int_eq(stored_attempts(&h, id), 0);
	ck_assert_ptr_null(outcome(&h, id));
	stop(&h);
}
END_TEST

START_TEST(success_record)
{
	struct harness h;
	start(&h,
	      "  f:\n    runtime: lua\n    code: ok.lua\n"
	      "    async: { on_success: [ \"queue://dlq\" ] }\n");
	char id[37];
	submit(&h, "f", "{\"hello\":\"world\"}", id);
	char *o = wait_outcome(&h, id);
	json_t *j = json_loads(o, 0, NULL);
	json_t *rec = json_object_get(j, "record");
	ck_assert_str_eq(json_string_value(json_object_get(j, "condition")), "Success");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "requestPayload"), "hello")), "world");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rec, "responsePayload"), "attempt")), 1);
	ck_assert_ptr_null(json_object_get(json_object_get(rec, "responseContext"), "functionError"));
	ck_assert(strstr(json_string_value(json_object_get(json_object_get(rec, "requestContext"), "functionArn")),
			 ":function:f:$LATEST") != NULL);
	json_decref(j);
	free(o);
	stop(&h);
}
END_TEST

START_TEST(backoff_arithmetic)
{
	/* Lambda's default: 1 min, then 2 min; capped */
	ck_assert_int_eq(spur_backoff_ms(60000, 2, 300000, 0, 1), 60000);
	ck_assert_int_eq(spur_backoff_ms(60000, 2, 300000, 0, 2), 120000);
	ck_assert_int_eq(spur_backoff_ms(60000, 2, 300000, 0, 3), 240000);
	ck_assert_int_eq(spur_backoff_ms(60000, 2, 300000, 0, 4), 300000);
	ck_assert_int_eq(spur_backoff_ms(60000, 2, 300000, 0, 40), 300000);
	for (int i = 0; i < 100; i++) {
		int64_t j = spur_backoff_ms(60000, 2, 300000, 1, 3);
		ck_assert(j >= 0 && j <= 240000);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("async");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, backoff_arithmetic);
	tcase_add_test(tc, hours_of_backoff_in_milliseconds);
	tcase_add_test(tc, event_age_exceeded);
	tcase_add_test(tc, throttled_events_use_no_attempt);
	tcase_add_test(tc, success_record);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
