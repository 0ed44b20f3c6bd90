/* SPDX-License-Identifier: MIT */
/*
 * test_mapping.c - internal queues and the event-source mappings that
 * poll them (router/queue/mapping.c, mapping_batch.c), built with the
 * layers up to queue alone, over a real sqlite store file: messages put
 * in one batch reach the function in batches of batch_size, in order and
 * in Lambda's SQS shape; a batch window waits on the injected clock;
 * filters drop what they do not match; a failing message is received
 * again when its lease ends and is redriven to the dead-letter queue after
 * max_receive, with a RetryAttemptsExhausted record through the outbox.
 * Functions run through exec/ (real pools and contexts) in the runtime
 * "test" (layer_runtime.c). A mapping's poller sleeps on its queue's
 * condition variable, so after moving the clock the test wakes it with
 * spur_mappings_notify(), as a PUT would.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "function.h"
#include "layer_host.h"
#include "layer_core.h"
#include "mapping.h"
#include "metrics.h"
#include "outbox.h"
#include "queue.h"
#include "run.h"
#include "util.h"
#include "version.h"

#define SECOND_NS 1000000000LL

static const char config_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal }\n"
	"functions:\n"
	"  batcher: { runtime: test, code: echo.txt }\n"
	"  windowed: { runtime: test, code: echo.txt }\n"
	"  picky: { runtime: test, code: echo.txt }\n"
	"  broken: { runtime: test, code: fail.txt }\n"
	"queues:\n"
	"  batchq: {}\n"
	"  windowq: {}\n"
	"  kinds: {}\n"
	"  work: { visibility_timeout: 30s, max_receive: 2, dead_letter: dlq }\n"
	"  dlq: {}\n"
	"  exhausted: {}\n"
	"mappings:\n"
	"  - { source: queue://batchq, function: batcher, batch_size: 3, max_concurrency: 1 }\n"
	"  - { source: queue://windowq, function: windowed, batch_size: 10, batch_window: 1s,\n"
	"      max_concurrency: 1 }\n"
	"  - source: queue://kinds\n"
	"    function: picky\n"
	"    batch_size: 10\n"
	"    max_concurrency: 1\n"
	"    filters: [ { body: { kind: [ \"order\" ] } } ]\n"
	"  - source: queue://work\n"
	"    function: broken\n"
	"    batch_size: 10\n"
	"    max_concurrency: 1\n"
	"    on_failure: [ \"queue://exhausted\" ]\n";

/* What `spur serve` wires at these layers, minus async and intake. */
struct fixture {
	struct layer_host h;
	struct layer_core core;
	struct spur_mappings *maps;
	struct spur_builtin_dests builtins;
};

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	layer_clock_start();
	layer_init(&f->h);
	layer_write(&f->h, "echo.txt", "echo\n");
	layer_write(&f->h, "fail.txt", "fail\n");
	ck_assert_msg(layer_config(&f->h, config_yaml) == 0, "%s", f->h.errors);
	const struct spur_config *cfg = f->h.cfg;
	layer_store_open(&f->h);
	layer_core_start(&f->core, &f->h);
	f->maps = spur_mappings_new(&(struct spur_mappings_env){
		.store = f->h.store, .store_instance = f->h.si, .outbox = f->core.ob,
		.exec = f->core.exec, .registry = &f->core.registry, .log = &f->h.log, .metrics = f->core.metrics, .config = cfg,
	});
	ck_assert(f->core.ob && f->maps);
	f->builtins = (struct spur_builtin_dests){
		.store = f->h.store, .store_instance = f->h.si, .mappings = f->maps,
		.registry = &f->core.registry,
	};
	ck_assert_int_eq(spur_builtin_dests_add(f->core.ob, &f->builtins), 0);
	ck_assert_int_eq(spur_outbox_start(f->core.ob), 0);
}

/* The order of spur_host_free. */
static void teardown(struct fixture *f)
{
	spur_mappings_stop(f->maps);
	spur_outbox_stop(f->core.ob);	/* before the mappings its queue:// wakes go */
	spur_mappings_free(f->maps);
	layer_core_stop(&f->core, &f->h);
	layer_fini(&f->h);
	layer_clock_stop();
}

static void put(struct fixture *f, const char *queue, const char *const *bodies, size_t n,
		char (*ids)[37])
{
	size_t lens[16];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(bodies[i]);
	ck_assert_int_eq(spur_queue_put(f->maps, queue, bodies, lens, n, ids), 0);
}

/* The i-th invocation's Records (a new reference), checked to be an array. */
static json_t *records_of(struct fixture *f, size_t i)
{
	char *payload = layer_runtime_payload(f->core.rt, i);
	ck_assert_ptr_nonnull(payload);
	json_t *doc = json_loads(payload, 0, NULL);
	ck_assert_msg(doc != NULL, "not JSON: %s", payload);
	free(payload);
	json_t *records = json_incref(json_object_get(doc, "Records"));
	json_decref(doc);
	ck_assert(json_is_array(records));
	return records;
}

static const char *field(json_t *record, const char *name)
{
	return json_string_value(json_object_get(record, name));
}

struct until {
	struct fixture *f;
	const char *queue;
	size_t n;
	uint32_t receive_count;		/* each of them, when > 0 */
};

static bool queue_holds(void *ud)
{
	struct until *u = ud;
	struct layer_msgs m;
	layer_peek(&u->f->h, u->queue, &m);
	bool ok = m.n == u->n;
	for (size_t i = 0; ok && u->receive_count && i < m.n; i++)
		ok = m.m[i].receive_count == u->receive_count;
	layer_msgs_free(&m);
	return ok;
}

static void wait_queue(struct fixture *f, const char *queue, size_t n, uint32_t receive_count)
{
	struct until u = { .f = f, .queue = queue, .n = n, .receive_count = receive_count };
	ck_assert_msg(layer_wait(queue_holds, &u, 10000), "queue %s never held %zu message(s)",
		      queue, n);
}

static bool rendered(struct fixture *f, const char *line)
{
	char *text = spur_metrics_render_text(f->core.metrics, NULL);
	bool found = strstr(text, line) != NULL;
	free(text);
	return found;
}

/* --- the tests --------------------------------------------------------------------- */

START_TEST(batches_of_batch_size_in_order)
{
	struct fixture f;
	setup(&f);
	static const char *const bodies[] = { "m0", "m1", "m2", "m3", "{\"m\":4}", "m5", "m6" };
	char ids[7][37];
	put(&f, "batchq", bodies, 7, ids);
	ck_assert_int_eq(spur_mappings_start(f.maps), 0);
	ck_assert(layer_runtime_wait(f.core.rt, 3, 10000));
	wait_queue(&f, "batchq", 0, 0);			/* all deleted after success */
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "batcher"), 3);
	static const size_t sizes[] = { 3, 3, 1 };
	size_t k = 0;
	for (size_t i = 0; i < 3; i++) {
		json_t *records = records_of(&f, i);
		ck_assert_uint_eq(json_array_size(records), sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++, k++) {
			json_t *r = json_array_get(records, j);
			ck_assert_str_eq(field(r, "messageId"), ids[k]);
			ck_assert_str_eq(field(r, "body"), bodies[k]);	/* a string, as SQS's */
			ck_assert_str_eq(field(r, "eventSource"), "spur:queue");
			ck_assert_str_eq(field(r, "eventSourceARN"),
					 "arn:aws:sqs:us-east-1:000000000000:batchq");
			ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r,
					 "attributes"), "ApproximateReceiveCount")), "1");
		}
		json_decref(records);
	}
	ck_assert(rendered(&f, "spur_mapping_batches_total{mapping=\"0\",queue=\"batchq\","
			       "function=\"batcher\"} 3\n"));
	ck_assert(rendered(&f, "spur_mapping_records_total{mapping=\"0\",queue=\"batchq\","
			       "function=\"batcher\"} 7\n"));
	teardown(&f);
}
END_TEST

/* A short batch waits for its window (1 s, counted from the first record)
 * on the injected clock; the records already leased go together. */
START_TEST(a_short_batch_waits_for_its_window)
{
	struct fixture f;
	setup(&f);
	ck_assert_int_eq(spur_mappings_start(f.maps), 0);
	static const char *const one[] = { "first" }, *const two[] = { "second" };
	char ids[2][37];
	put(&f, "windowq", one, 1, &ids[0]);
	put(&f, "windowq", two, 1, &ids[1]);
	wait_queue(&f, "windowq", 2, 1);		/* both taken into the batch */
	layer_sleep_ms(50);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 0);	/* the window is open */
	layer_clock_advance(SECOND_NS);
	spur_mappings_notify(f.maps, "windowq", 0);
	ck_assert(layer_runtime_wait(f.core.rt, 1, 10000));
	json_t *records = records_of(&f, 0);
	ck_assert_uint_eq(json_array_size(records), 2);
	ck_assert_str_eq(field(json_array_get(records, 0), "messageId"), ids[0]);
	ck_assert_str_eq(field(json_array_get(records, 1), "body"), "second");
	json_decref(records);
	wait_queue(&f, "windowq", 0, 0);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	teardown(&f);
}
END_TEST

START_TEST(filters_drop_what_they_do_not_match)
{
	struct fixture f;
	setup(&f);
	static const char *const bodies[] = {
		"{\"kind\":\"order\",\"n\":1}", "{\"kind\":\"refund\",\"n\":2}", "not json at all",
		"{\"kind\":\"order\",\"n\":3}", "{\"n\":4}",
	};
	char ids[5][37];
	put(&f, "kinds", bodies, 5, ids);
	ck_assert_int_eq(spur_mappings_start(f.maps), 0);
	ck_assert(layer_runtime_wait(f.core.rt, 1, 10000));
	wait_queue(&f, "kinds", 0, 0);			/* filtered ones are deleted too */
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	json_t *records = records_of(&f, 0);
	ck_assert_uint_eq(json_array_size(records), 2);
	ck_assert_str_eq(field(json_array_get(records, 0), "messageId"), ids[0]);
	ck_assert_str_eq(field(json_array_get(records, 1), "messageId"), ids[3]);
	json_decref(records);
	ck_assert(rendered(&f, "spur_mapping_filtered_total{mapping=\"2\",queue=\"kinds\","
			       "function=\"picky\"} 3\n"));
	ck_assert(rendered(&f, "spur_mapping_records_total{mapping=\"2\",queue=\"kinds\","
			       "function=\"picky\"} 2\n"));
	teardown(&f);
}
END_TEST

/* The function fails: the message stays leased for its visibility
 * timeout (30 s on the injected clock), is received a second time, fails
 * again and, received max_receive (2) times, moves to the dead-letter
 * queue, while a RetryAttemptsExhausted record goes through the outbox to
 * queue://exhausted in the same write. */
START_TEST(redrive_to_the_dead_letter_queue)
{
	struct fixture f;
	setup(&f);
	static const char *const bodies[] = { "{\"job\":\"x\"}" };
	char id[1][37];
	put(&f, "work", bodies, 1, id);
	ck_assert_int_eq(spur_mappings_start(f.maps), 0);
	ck_assert(layer_runtime_wait(f.core.rt, 1, 10000));
	ck_assert_uint_eq(layer_runtime_attempt(f.core.rt, 0), 1);
	struct layer_msgs m;
	layer_peek(&f.h, "work", &m);
	ck_assert_uint_eq(m.n, 1);
	ck_assert_str_eq(m.m[0].id, id[0]);
	ck_assert_uint_eq(m.m[0].receive_count, 1);
	ck_assert_int_eq(m.m[0].visible_ms, spur_store_now_ms() + 30000);	/* leased */
	layer_msgs_free(&m);

	layer_clock_advance(29 * SECOND_NS);		/* the lease still holds */
	spur_mappings_notify(f.maps, "work", 0);
	layer_sleep_ms(50);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	layer_clock_advance(SECOND_NS);			/* it ends: received again */
	spur_mappings_notify(f.maps, "work", 0);
	ck_assert(layer_runtime_wait(f.core.rt, 2, 10000));
	ck_assert_uint_eq(layer_runtime_attempt(f.core.rt, 1), 2);

	wait_queue(&f, "dlq", 1, 0);
	wait_queue(&f, "work", 0, 0);
	layer_peek(&f.h, "dlq", &m);
	ck_assert_str_eq(m.m[0].id, id[0]);
	ck_assert_str_eq(m.m[0].body, bodies[0]);
	layer_msgs_free(&m);
	wait_queue(&f, "exhausted", 1, 0);
	layer_peek(&f.h, "exhausted", &m);
	json_t *rec = json_loads(m.m[0].body, 0, NULL);
	ck_assert_msg(rec != NULL, "record: %s", m.m[0].body);
	json_t *ctx = json_object_get(rec, "requestContext");
	ck_assert_str_eq(json_string_value(json_object_get(ctx, "condition")),
			 "RetryAttemptsExhausted");
	ck_assert_int_eq(json_integer_value(json_object_get(ctx, "approximateInvokeCount")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(ctx, "functionArn")),
			 "arn:aws:lambda:us-east-1:000000000000:function:broken:$LATEST");
	json_decref(rec);
	layer_msgs_free(&m);
	ck_assert(layer_logged(&f.h, "1 message(s) moved to dead-letter queue dlq after 2 receive(s)"));
	ck_assert(rendered(&f, "spur_mapping_dead_lettered_total{mapping=\"3\",queue=\"work\","
			       "function=\"broken\"} 1\n"));
	ck_assert(rendered(&f, "spur_mapping_failed_records_total{mapping=\"3\",queue=\"work\","
			       "function=\"broken\"} 2\n"));
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 2);	/* never a third time */
	teardown(&f);
}
END_TEST

START_TEST(a_put_names_a_configured_queue)
{
	struct fixture f;
	setup(&f);
	static const char *const bodies[] = { "x" };
	size_t len = 1;
	char id[1][37];
	ck_assert_int_eq(spur_queue_put(f.maps, "nosuch", bodies, &len, 1, id), -ENOENT);
	ck_assert_int_eq(spur_queue_put(NULL, "batchq", bodies, &len, 1, id), -ENODEV);
	wait_queue(&f, "batchq", 0, 0);		/* nothing was stored */
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mapping");
	TCase *tc = tcase_create("mapping");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, batches_of_batch_size_in_order);
	tcase_add_test(tc, a_short_batch_waits_for_its_window);
	tcase_add_test(tc, filters_drop_what_they_do_not_match);
	tcase_add_test(tc, redrive_to_the_dead_letter_queue);
	tcase_add_test(tc, a_put_names_a_configured_queue);
	suite_add_tcase(s, tc);
	return layer_run(s);
}
