/* SPDX-License-Identifier: MIT */
/*
 * test_outbox.c - delivering records (router/outbox/), built with the
 * layers up to outbox alone, over a real sqlite store file: a committed
 * record reaches a built-in destination; RETRY waits out its backoff on
 * the injected clock; DROP moves the record to "undeliverable"; records
 * the store already holds are delivered after a restart; a destination
 * that nothing serves fails with a message naming it; deliveries are
 * counted in the metrics text.
 * The destination is a built-in one registered by the test ("test://"),
 * the way the queue layer registers queue:// and function://; its target
 * says how it answers: ok, flaky (RETRY while retries_left), drop.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "layer_host.h"
#include "metrics.h"
#include "outbox.h"
#include "util.h"

#define MAX_GOT 16

/* The test's built-in destination: what it was handed, in order. */
struct sink {
	pthread_mutex_t lock;
	size_t n;
	struct {
		char target[64];
		char *body;
		char *attrs;
	} got[MAX_GOT];
	int retries_left;		/* "flaky": RETRY this many times, then OK */
	size_t total;			/* every delivery, also past MAX_GOT */
};

static enum spur_deliver sink_deliver(void *ud, const char *target,
				      const struct spur_outbox_record *rec, char *why, size_t len)
{
	struct sink *s = ud;
	enum spur_deliver res = SPUR_DELIVER_OK;
	pthread_mutex_lock(&s->lock);
	s->total++;
	if (s->n < MAX_GOT) {
		snprintf(s->got[s->n].target, sizeof(s->got[0].target), "%s", target);
		s->got[s->n].body = strndup(rec->body, rec->len);
		s->got[s->n].attrs = strndup(rec->attrs, rec->attrs_len);
		s->n++;
	}
	if (strcmp(target, "drop") == 0) {
		snprintf(why, len, "mailbox gone");
		res = SPUR_DELIVER_DROP;
	} else if (strcmp(target, "flaky") == 0 && s->retries_left > 0) {
		s->retries_left--;
		snprintf(why, len, "busy, try later");
		res = SPUR_DELIVER_RETRY;
	}
	pthread_mutex_unlock(&s->lock);
	return res;
}

static size_t sink_count(struct sink *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The plugin lookup of the env: no plugin serves anything here; it
 * remembers the schemes it was asked for. */
struct asked {
	pthread_mutex_t lock;
	char schemes[256];
};

static const struct spur_destination *no_plugin(void *ud, const char *scheme, void **instance)
{
	struct asked *a = ud;
	pthread_mutex_lock(&a->lock);
	size_t o = strlen(a->schemes);
	snprintf(a->schemes + o, sizeof(a->schemes) - o, "%s;", scheme);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

struct fixture {
	struct layer_host h;
	struct spur_metrics *metrics;
	struct spur_outbox *ob;
	struct sink sink;
	struct asked asked;
};

static const char config_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal }\n"
	"destinations:\n"
	"  ghost: { type: pigeon }\n";

static struct spur_outbox *outbox_new(struct fixture *f)
{
	struct spur_outbox *ob = spur_outbox_new(&(struct spur_outbox_env){
		.store = f->h.store, .store_instance = f->h.si, .log = &f->h.log,
		.metrics = f->metrics, .config = f->h.cfg, .plugin = no_plugin,
		.plugin_ud = &f->asked,
	});
	ck_assert_ptr_nonnull(ob);
	ck_assert_int_eq(spur_outbox_add_builtin(ob, &(struct spur_outbox_builtin){
		.scheme = "test", .deliver = sink_deliver, .ud = &f->sink }), 0);
	return ob;
}

/* A store over a fresh directory, on the injected clock; the outbox is
 * made (not started) unless `outbox` is false. */
static void setup(struct fixture *f, bool outbox)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->sink.lock, NULL);
	pthread_mutex_init(&f->asked.lock, NULL);
	layer_clock_start();
	layer_init(&f->h);
	ck_assert_msg(layer_config(&f->h, config_yaml) == 0, "%s", f->h.errors);
	layer_store_open(&f->h);
	f->metrics = spur_metrics_new();
	if (outbox)
		f->ob = outbox_new(f);
}

static void teardown(struct fixture *f)
{
	spur_outbox_free(f->ob);
	spur_metrics_free(f->metrics);
	layer_fini(&f->h);
	layer_clock_stop();
	for (size_t i = 0; i < f->sink.n; i++) {
		free(f->sink.got[i].body);
		free(f->sink.got[i].attrs);
	}
	pthread_mutex_destroy(&f->sink.lock);
	pthread_mutex_destroy(&f->asked.lock);
}

static const struct spur_record_meta meta = {
	.struct_size = sizeof(meta), .function = "f", .version = "$LATEST",
	.condition = "Success", .request_id = "11111111-2222-4333-8444-555555555555",
};

/* What a finishing event does: its record joins the event's store batch,
 * and goes to the outbox thread once that committed. The record's id. */
static void send(struct fixture *f, const char *dest, const char *record, char id[40])
{
	struct spur_store_op op;
	struct spur_outbox_entry *e = spur_outbox_prepare(f->ob, dest, record, strlen(record),
							  &meta, &op);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(op.msg.queue, "outbox");
	snprintf(id, 40, "%s", op.msg.id);
	ck_assert_int_eq(f->h.store->apply(f->h.si, &op, 1, NULL), 0);
	spur_outbox_commit(f->ob, &e, 1);
}

/* --- what the tests wait for (other threads' progress, in real time) --- */

struct until {
	struct fixture *f;
	const char *queue;
	size_t n;
	const char *needle;		/* in the first message's attrs */
};

static bool sink_has(void *ud)
{
	struct until *u = ud;
	return sink_count(&u->f->sink) >= u->n;
}

static bool queue_has(void *ud)
{
	struct until *u = ud;
	struct layer_msgs m;
	layer_peek(&u->f->h, u->queue, &m);
	bool ok = m.n == u->n;
	for (size_t i = 0; ok && u->needle && i < m.n; i++)
		ok = strstr(m.m[i].attrs, u->needle) != NULL;
	layer_msgs_free(&m);
	return ok;
}

static void wait_sink(struct fixture *f, size_t n)
{
	struct until u = { .f = f, .n = n };
	ck_assert_msg(layer_wait(sink_has, &u, 10000), "the destination got %zu record(s), not %zu",
		      sink_count(&f->sink), n);
}

/* Wait until `queue` holds n messages, each with `needle` in its attrs. */
static void wait_queue(struct fixture *f, const char *queue, size_t n, const char *needle)
{
	struct until u = { .f = f, .queue = queue, .n = n, .needle = needle };
	if (layer_wait(queue_has, &u, 10000))
		return;
	struct layer_msgs m;
	layer_peek(&f->h, queue, &m);
	ck_assert_msg(0, "queue %s: %zu message(s) (first attrs %s), want %zu with %s", queue, m.n,
		      m.n ? m.m[0].attrs : "-", n, needle ? needle : "anything");
}

static bool rendered(struct fixture *f, const char *line)
{
	char *text = spur_metrics_render_text(f->metrics, NULL);
	bool found = strstr(text, line) != NULL;
	free(text);
	return found;
}

/* --- the tests --------------------------------------------------------------- */

START_TEST(a_committed_record_is_delivered)
{
	struct fixture f;
	setup(&f, true);
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	char id[40];
	send(&f, "test://ok", "{\"n\":1}", id);
	wait_sink(&f, 1);
	ck_assert_str_eq(f.sink.got[0].target, "ok");
	ck_assert_str_eq(f.sink.got[0].body, "{\"n\":1}");
	ck_assert_ptr_nonnull(strstr(f.sink.got[0].attrs, "\"destination\":\"test://ok\""));
	ck_assert_ptr_nonnull(strstr(f.sink.got[0].attrs, "\"function\":\"f\""));
	ck_assert_ptr_nonnull(strstr(f.sink.got[0].attrs, "\"condition\":\"Success\""));
	wait_queue(&f, "outbox", 0, NULL);		/* settled: deleted */
	ck_assert(rendered(&f, "# TYPE spur_destination_deliveries_total counter\n"));
	ck_assert(rendered(&f, "spur_destination_deliveries_total{destination=\"test://ok\","
			       "outcome=\"ok\"} 1\n"));
	ck_assert_uint_eq(sink_count(&f.sink), 1);	/* once */
	teardown(&f);
}
END_TEST

START_TEST(retry_waits_for_its_backoff)
{
	struct fixture f;
	setup(&f, true);
	f.sink.retries_left = 1;
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	char id[40];
	send(&f, "test://flaky", "{\"n\":2}", id);
	wait_sink(&f, 1);
	/* settled as a retry: attempt 1 and the reason, visible after the
	 * backoff, rand(0, 1 s) for attempt 1 (full jitter); a backoff of 0
	 * (one draw in 1001) retries at once, before we can look */
	struct until retried = { .f = &f, .queue = "outbox", .n = 1, .needle = "\"attempts\":1" };
	struct until twice = { .f = &f, .n = 2 };
	for (int i = 0; i < 10000 && !queue_has(&retried) && !sink_has(&twice); i++)
		layer_sleep_ms(1);
	ck_assert(layer_logged(&f.h, "busy, try later; retry 1 in"));
	struct layer_msgs m;
	layer_peek(&f.h, "outbox", &m);
	if (!sink_has(&twice)) {
		ck_assert_uint_eq(m.n, 1);
		ck_assert_str_eq(m.m[0].id, id);
		ck_assert_ptr_nonnull(strstr(m.m[0].attrs, "\"attempts\":1"));
		ck_assert_ptr_nonnull(strstr(m.m[0].attrs, "\"error\":\"busy, try later\""));
		int64_t backoff = m.m[0].visible_ms - spur_store_now_ms();
		ck_assert_int_ge(backoff, 0);
		ck_assert_int_le(backoff, 1000);
		if (backoff > 0) {
			/* the clock stands still: no second attempt, however long we wait */
			layer_sleep_ms(50);
			spur_outbox_kick(f.ob);
			layer_sleep_ms(20);
			ck_assert_uint_eq(sink_count(&f.sink), 1);
		}
		layer_clock_advance(backoff * 1000000);
		spur_outbox_kick(f.ob);
	}
	layer_msgs_free(&m);
	wait_sink(&f, 2);
	ck_assert_str_eq(f.sink.got[1].body, "{\"n\":2}");
	wait_queue(&f, "outbox", 0, NULL);
	ck_assert(rendered(&f, "spur_destination_deliveries_total{destination=\"test://flaky\","
			       "outcome=\"retry\"} 1\n"));
	ck_assert(rendered(&f, "spur_destination_deliveries_total{destination=\"test://flaky\","
			       "outcome=\"ok\"} 1\n"));
	teardown(&f);
}
END_TEST

START_TEST(drop_moves_the_record_to_undeliverable)
{
	struct fixture f;
	setup(&f, true);
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	char id[40];
	send(&f, "test://drop", "{\"n\":3}", id);
	wait_queue(&f, "undeliverable", 1, "\"error\":\"mailbox gone\"");
	struct layer_msgs m;
	layer_peek(&f.h, "undeliverable", &m);
	ck_assert_str_eq(m.m[0].id, id);
	ck_assert_str_eq(m.m[0].body, "{\"n\":3}");
	ck_assert_ptr_nonnull(strstr(m.m[0].attrs, "\"destination\":\"test://drop\""));
	ck_assert_ptr_nonnull(strstr(m.m[0].attrs, "\"attempts\":1"));
	layer_msgs_free(&m);
	wait_queue(&f, "outbox", 0, NULL);
	ck_assert_uint_eq(sink_count(&f.sink), 1);	/* never tried again */
	ck_assert(layer_logged(&f.h, "is undeliverable: mailbox gone"));
	ck_assert(rendered(&f, "spur_destination_deliveries_total{destination=\"test://drop\","
			       "outcome=\"dropped\"} 1\n"));
	teardown(&f);
}
END_TEST

/* A run stored records and died before its outbox thread had them (and
 * one record was waiting for a retry); the next run, over the same file,
 * delivers them all, the waiting one when its time comes. */
START_TEST(stored_records_are_delivered_after_a_restart)
{
	struct fixture f;
	setup(&f, false);
	struct spur_outbox *first = outbox_new(&f);
	struct spur_store_op ops[3];
	struct spur_outbox_entry *e[2];
	e[0] = spur_outbox_prepare(first, "test://ok", "{\"n\":10}", 8, &meta, &ops[0]);
	e[1] = spur_outbox_prepare(first, "test://ok", "{\"n\":11}", 8, &meta, &ops[1]);
	ck_assert(e[0] && e[1]);
	static const char waiting_attrs[] =
		"{\"destination\":\"test://ok\",\"function\":\"f\",\"version\":\"$LATEST\","
		"\"condition\":\"Success\",\"request_id\":\"r\",\"hops\":0,\"attempts\":1}";
	int64_t now = spur_store_now_ms();
	ops[2] = (struct spur_store_op){
		.kind = SPUR_STORE_PUT,
		.msg = { .id = "22222222-2222-4333-8444-555555555555", .queue = "outbox",
			 .body = "{\"n\":12}", .body_len = 8,
			 .attrs = waiting_attrs, .attrs_len = strlen(waiting_attrs),
			 .accepted_ms = now, .visible_ms = now + 10 * 60 * 1000 },
	};
	ck_assert_int_eq(f.h.store->apply(f.h.si, ops, 3, NULL), 0);
	spur_outbox_discard(e, 2);		/* the crash: never committed */
	spur_outbox_free(first);
	ck_assert_uint_eq(sink_count(&f.sink), 0);

	layer_store_close(&f.h);		/* the restart */
	layer_store_open(&f.h);
	f.ob = outbox_new(&f);
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	wait_sink(&f, 2);
	ck_assert(layer_logged(&f.h, "outbox: 3 stored record(s) resumed"));
	bool saw10 = false, saw11 = false;
	for (size_t i = 0; i < 2; i++) {
		saw10 |= strcmp(f.sink.got[i].body, "{\"n\":10}") == 0;
		saw11 |= strcmp(f.sink.got[i].body, "{\"n\":11}") == 0;
	}
	ck_assert(saw10 && saw11);
	wait_queue(&f, "outbox", 1, "\"attempts\":1");	/* the waiting one is left */
	layer_sleep_ms(20);
	ck_assert_uint_eq(sink_count(&f.sink), 2);
	layer_clock_advance(10LL * 60 * 1000000000);
	spur_outbox_kick(f.ob);
	wait_sink(&f, 3);
	ck_assert_str_eq(f.sink.got[2].body, "{\"n\":12}");
	wait_queue(&f, "outbox", 0, NULL);
	teardown(&f);
}
END_TEST

/* A named destination whose type no plugin serves, and a name the config
 * does not have: each record retries with the reason in its attributes
 * and in the log. */
struct peak {
	struct fixture *f;
	size_t want, max;
};

static bool all_delivered(void *ud)
{
	struct peak *p = ud;
	size_t now = spur_outbox_pending(p->f->ob);
	if (now > p->max)
		p->max = now;
	pthread_mutex_lock(&p->f->sink.lock);
	bool done = p->f->sink.total >= p->want;
	pthread_mutex_unlock(&p->f->sink.lock);
	return done && now == 0;
}

/* Issue 14: records waiting in the store (a restart, a destination that
 * was down) are paged through a window, not loaded: 3,000 records, never
 * more than the window in memory, each delivered once. */
START_TEST(a_backlog_of_records_is_paged_through_a_window)
{
	struct fixture f;
	setup(&f, true);
	enum { N = 3000, BATCH = 300 };
	const char *attrs = "{\"destination\":\"test://count\",\"function\":\"f\","
			    "\"version\":\"$LATEST\",\"condition\":\"Success\","
			    "\"request_id\":\"r\",\"hops\":0,\"attempts\":0}";
	struct spur_store_op ops[BATCH];
	char ids[BATCH][37];
	for (int b = 0; b < N / BATCH; b++) {
		for (int i = 0; i < BATCH; i++) {
			spur_uuid(ids[i]);
			ops[i] = (struct spur_store_op){ .kind = SPUR_STORE_PUT, .msg = {
				.id = ids[i], .queue = "outbox", .body = "{}", .body_len = 2,
				.attrs = attrs, .attrs_len = strlen(attrs),
				.accepted_ms = spur_store_now_ms(), .visible_ms = spur_store_now_ms(),
			} };
		}
		ck_assert_int_eq(f.h.store->apply(f.h.si, ops, BATCH, NULL), 0);
	}
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	struct peak p = { &f, N, 0 };
	ck_assert_msg(layer_wait(all_delivered, &p, 60000), "%zu of %d delivered", f.sink.total, N);
	ck_assert_uint_eq(f.sink.total, N);
	ck_assert_uint_gt(p.max, 0);
	ck_assert_uint_le(p.max, 128);		/* OUTBOX_WINDOW, not the backlog */
	struct layer_msgs left;
	layer_peek(&f.h, "outbox", &left);
	ck_assert_uint_eq(left.n, 0);
	layer_msgs_free(&left);
	teardown(&f);
}
END_TEST

START_TEST(a_destination_nothing_serves_says_why)
{
	struct fixture f;
	setup(&f, true);
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	char ghost[40], nowhere[40];
	send(&f, "ghost", "{\"n\":4}", ghost);
	wait_queue(&f, "outbox", 1, "\"error\":\"no destination plugin serves 'pigeon://'\"");
	send(&f, "nowhere", "{\"n\":5}", nowhere);
	wait_queue(&f, "outbox", 2, "\"error\":\"no destination ");
	struct layer_msgs m;
	layer_peek(&f.h, "outbox", &m);
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(m.m[i].id, nowhere) == 0)
			ck_assert_ptr_nonnull(strstr(m.m[i].attrs,
						     "\"error\":\"no destination named 'nowhere'\""));
		else
			ck_assert_str_eq(m.m[i].id, ghost);
	layer_msgs_free(&m);
	pthread_mutex_lock(&f.asked.lock);
	/* the named one's type (once per attempt), nothing for a name without one */
	ck_assert_int_eq(strncmp(f.asked.schemes, "pigeon;", 7), 0);
	for (const char *p = f.asked.schemes; *p; p += 7)
		ck_assert_int_eq(strncmp(p, "pigeon;", 7), 0);
	pthread_mutex_unlock(&f.asked.lock);
	ck_assert_uint_eq(sink_count(&f.sink), 0);
	ck_assert(layer_logged(&f.h, "for ghost: no destination plugin serves 'pigeon://'; retry 1"));
	ck_assert(layer_logged(&f.h, "for nowhere: no destination named 'nowhere'; retry 1"));
	teardown(&f);
}
END_TEST

START_TEST(at_most_four_builtins_before_start)
{
	struct fixture f;
	setup(&f, true);			/* "test" is the first */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spur_outbox_add_builtin(f.ob, &(struct spur_outbox_builtin){
			.scheme = "more", .deliver = sink_deliver, .ud = &f.sink }), 0);
	ck_assert_int_eq(spur_outbox_add_builtin(f.ob, &(struct spur_outbox_builtin){
		.scheme = "fifth", .deliver = sink_deliver, .ud = &f.sink }), -ENOSPC);
	teardown(&f);
	setup(&f, true);
	ck_assert_int_eq(spur_outbox_start(f.ob), 0);
	ck_assert_int_eq(spur_outbox_add_builtin(f.ob, &(struct spur_outbox_builtin){
		.scheme = "late", .deliver = sink_deliver, .ud = &f.sink }), -ENOSPC);
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("outbox");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_committed_record_is_delivered);
	tcase_add_test(tc, retry_waits_for_its_backoff);
	tcase_add_test(tc, drop_moves_the_record_to_undeliverable);
	tcase_add_test(tc, stored_records_are_delivered_after_a_restart);
	tcase_add_test(tc, a_destination_nothing_serves_says_why);
	tcase_add_test(tc, at_most_four_builtins_before_start);
	tcase_add_test(tc, a_backlog_of_records_is_paged_through_a_window);
	suite_add_tcase(s, tc);
	return layer_run(s);
}
