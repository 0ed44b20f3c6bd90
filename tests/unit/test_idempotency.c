/* SPDX-License-Identifier: MIT */
/*
 * test_idempotency.c - idempotency keys (router/intake/idempotency.c),
 * built with the layers up to intake alone: where a key is read from
 * (headers, MQTT properties, JSON pointers, CloudEvents, webhooks, the
 * payload), what a valid key is, payload fingerprints, which config
 * applies; then the keyed flows through the front door
 * (spur_intake_invoke) over a real sqlite store: a sync answer replayed,
 * 409 while a call holds the key, 422 for another payload, a function
 * error dropping the key, the ttl on the injected clock; an async event
 * stored once with its key, replayed with the first event id, run once.
 * Functions run in the runtime "test" (layer_runtime.c) through exec/.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "config.h"
#include "function.h"
#include "idempotency.h"
#include "invoke.h"
#include "layer_host.h"
#include "layer_core.h"
#include "metrics.h"
#include "outbox.h"
#include "run.h"
#include "spur/invoke.h"
#include "util.h"
#include "version.h"

#define HOUR_NS (3600LL * 1000000000)

/* --- where a key comes from (no store) -------------------------------------------- */

struct keyed {
	int rc;
	char key[SPUR_IDEM_KEY_MAX + 1];
	char why[256];
};

static struct keyed key_of(const char *source, const struct spur_attr *attrs, size_t n,
			   const char *payload)
{
	struct spur_idem_config ic = { .key = (char *)source };
	struct keyed k = { 0 };
	k.rc = spur_idem_key(&ic, attrs, n, payload, payload ? strlen(payload) : 0, k.key,
			     k.why, sizeof(k.why));
	return k;
}

static struct keyed header_key(const char *name, const char *value, size_t len)
{
	struct spur_attr a = { .name = name, .value = value, .value_len = len };
	return key_of("header:Idempotency-Key", &a, 1, "{}");
}

START_TEST(keys_from_headers_and_properties)
{
	struct keyed k = header_key("idempotency-key", "abc", 3);	/* any case */
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "abc");
	k = header_key("Idempotency-Key", "\"abc\"", 5);		/* quoted: the same key */
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "abc");
	k = header_key("Idempotency-Key", "x-1", 0);		/* value_len 0: strlen */
	ck_assert_str_eq(k.key, "x-1");
	k = header_key("Other-Header", "abc", 3);		/* no key: runs unkeyed */
	ck_assert_int_eq(k.rc, 0);
	ck_assert_int_eq(key_of("header:Idempotency-Key", NULL, 0, "{}").rc, 0);

	char longest[SPUR_IDEM_KEY_MAX + 2];
	memset(longest, 'k', sizeof(longest));
	k = header_key("Idempotency-Key", longest, SPUR_IDEM_KEY_MAX);
	ck_assert_int_eq(k.rc, 1);
	ck_assert_uint_eq(strlen(k.key), SPUR_IDEM_KEY_MAX);
	k = header_key("Idempotency-Key", longest, SPUR_IDEM_KEY_MAX + 1);
	ck_assert_int_eq(k.rc, -EINVAL);
	ck_assert_str_eq(k.why, "the idempotency key must be 1 to 255 characters long");
	k = header_key("Idempotency-Key", "\"\"", 2);
	ck_assert_int_eq(k.rc, -EINVAL);
	k = header_key("Idempotency-Key", "k\x01", 2);
	ck_assert_int_eq(k.rc, -EINVAL);
	ck_assert_str_eq(k.why, "the idempotency key must be printable ASCII (byte 0x01 at 1)");
	k = header_key("Idempotency-Key", "k\xc3\xa9", 3);
	ck_assert_int_eq(k.rc, -EINVAL);
	k = header_key("Idempotency-Key", "k1\0x", 4);		/* a NUL inside */
	ck_assert_int_eq(k.rc, -EINVAL);
	ck_assert_str_eq(k.why, "the idempotency key contains a NUL byte");

	struct spur_attr prop = { .name = "request-id", .value = "m-9" };
	k = key_of("mqtt:request-id", &prop, 1, "{}");
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "m-9");
	ck_assert_int_eq(key_of("mqtt:other", &prop, 1, "{}").rc, 0);
}
END_TEST

START_TEST(keys_from_json_pointers)
{
	struct keyed k = key_of("json:/order/id", NULL, 0, "{\"order\":{\"id\":\"A-7\"}}");
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "A-7");
	k = key_of("json:/order/id", NULL, 0, "{\"order\":{\"id\":42}}");	/* as written */
	ck_assert_str_eq(k.key, "42");
	k = key_of("json:/a~1b/~0k", NULL, 0, "{\"a/b\":{\"~k\":\"esc\"}}");	/* RFC 6901 */
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "esc");
	k = key_of("json:/items/1", NULL, 0, "{\"items\":[\"x\",\"y\"]}");
	ck_assert_str_eq(k.key, "y");
	ck_assert_int_eq(key_of("json:/items/2", NULL, 0, "{\"items\":[\"x\",\"y\"]}").rc, 0);
	ck_assert_int_eq(key_of("json:/order/id", NULL, 0, "{\"order\":{}}").rc, 0);
	ck_assert_int_eq(key_of("json:/order", NULL, 0, "{\"order\":{\"id\":1}}").rc, 0);
	ck_assert_int_eq(key_of("json:/n", NULL, 0, "{\"n\":1.5}").rc, 0);
	ck_assert_int_eq(key_of("json:/order/id", NULL, 0, "not json").rc, 0);
	k = key_of("json:/id", NULL, 0, "{\"id\":\"bad\\u0007\"}");
	ck_assert_int_eq(k.rc, -EINVAL);
}
END_TEST

START_TEST(keys_from_cloudevents_webhooks_and_the_payload)
{
	struct spur_attr ce[] = { { .name = "ce-source", .value = "/shop" },
				  { .name = "ce-id", .value = "e-1" } };
	struct keyed k = key_of("cloudevents", ce, 2, "{}");
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "/shop e-1");
	k = key_of("cloudevents", NULL, 0, "{\"source\":\"/shop\",\"id\":\"e-2\",\"data\":{}}");
	ck_assert_str_eq(k.key, "/shop e-2");		/* structured mode */
	ck_assert_int_eq(key_of("cloudevents", ce, 1, "{\"id\":\"e-3\"}").rc, 0);

	struct spur_attr std = { .name = "Webhook-Id", .value = "msg_1" };
	ck_assert_str_eq(key_of("webhook", &std, 1, "{}").key, "msg_1");
	struct spur_attr gh = { .name = "X-GitHub-Delivery", .value = "d-7" };
	ck_assert_str_eq(key_of("webhook", &gh, 1, "{}").key, "d-7");
	struct spur_attr stripe = { .name = "Stripe-Signature", .value = "t=1,v1=ab" };
	k = key_of("webhook", &stripe, 1, "{\"id\":\"evt_9\",\"type\":\"charge\"}");
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, "evt_9");
	ck_assert_int_eq(key_of("webhook", NULL, 0, "{\"id\":\"evt_9\"}").rc, 0);

	char fp[65];
	static const char body[] = "{\"a\":1}";
	spur_idem_fingerprint(body, strlen(body), fp);
	k = key_of("payload", NULL, 0, body);
	ck_assert_int_eq(k.rc, 1);
	ck_assert_str_eq(k.key, fp);
	ck_assert_int_eq(key_of("nonsense", NULL, 0, body).rc, 0);
}
END_TEST

START_TEST(fingerprints_are_sha256_hex)
{
	char fp[65];
	spur_idem_fingerprint("", 0, fp);
	ck_assert_str_eq(fp, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	spur_idem_fingerprint("abc", 3, fp);
	ck_assert_str_eq(fp, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	char other[65];
	spur_idem_fingerprint("abd", 3, other);
	ck_assert_str_ne(fp, other);
	spur_idem_fingerprint("a\0c", 3, other);	/* every byte counts */
	ck_assert_str_ne(other, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

/* --- the keyed flows through the front door ------------------------------------------ */

static const char config_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal }\n"
	"functions:\n"
	"  pay:\n"
	"    runtime: test\n"
	"    code: ok.txt\n"
	"    idempotency: { key: \"header:Idempotency-Key\", ttl: 1h }\n"
	"  flaky:\n"
	"    runtime: test\n"
	"    code: fail.txt\n"
	"    idempotency: { key: \"header:Idempotency-Key\" }\n"
	"  plain: { runtime: test, code: echo.txt }\n"
	"routes:\n"
	"  - http: \"POST /hooks/orders\"\n"
	"    function: plain\n"
	"    idempotency: { key: \"json:/id\" }\n";

/* What `spur serve` wires below the API, without its sources. */
struct fixture {
	struct layer_host h;
	struct layer_core core;
	struct spur_async *async;
	struct spur_intake *in;
};

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	layer_clock_start();
	layer_init(&f->h);
	layer_write(&f->h, "ok.txt", "ok\n");
	layer_write(&f->h, "fail.txt", "fail\n");
	layer_write(&f->h, "echo.txt", "echo\n");
	ck_assert_msg(layer_config(&f->h, config_yaml) == 0, "%s", f->h.errors);
	layer_store_open(&f->h);
	layer_core_start(&f->core, &f->h);
	f->async = spur_async_new(&(struct spur_async_env){
		.store = f->h.store, .store_instance = f->h.si, .outbox = f->core.ob,
		.exec = f->core.exec, .registry = &f->core.registry, .log = &f->h.log, .metrics = f->core.metrics,
	});
	f->in = spur_intake_new(&(struct spur_intake_env){
		.exec = f->core.exec, .registry = &f->core.registry, .log = &f->h.log, .metrics = f->core.metrics,
	});
	ck_assert(f->core.ob && f->async && f->in);
	spur_intake_attach(f->in, f->h.store, f->h.si, f->async, NULL);
}

static void teardown(struct fixture *f)
{
	spur_async_stop(f->async);
	spur_async_free(f->async);
	spur_intake_free(f->in);
	layer_core_stop(&f->core, &f->h);
	layer_fini(&f->h);
	layer_clock_stop();
}

/* One call with an Idempotency-Key header (key NULL: none). */
static struct spur_result *call(struct fixture *f, const char *fn, enum spur_mode mode,
				const char *key, const char *payload)
{
	struct spur_attr attr = { .name = "Idempotency-Key", .value = key };
	struct spur_invoke_args a = {
		.struct_size = sizeof(a), .target = fn, .payload = payload,
		.payload_len = strlen(payload), .mode = mode, .source = "test",
		.attrs = key ? &attr : NULL, .n_attrs = key ? 1 : 0,
	};
	struct spur_result *r = spur_intake_invoke(f->in, &a, NULL);
	ck_assert_ptr_nonnull(r);
	return r;
}

static void expect(struct spur_result *r, enum spur_status status, bool replayed,
		   const char *error_type)
{
	ck_assert_msg(spur_result_status(r) == status, "status %d (%s: %s), want %d",
		      spur_result_status(r), spur_result_error_type(r) ?: "-",
		      spur_result_error_message(r) ?: "-", status);
	ck_assert_int_eq(spur_result_replayed(r), replayed);
	if (error_type)
		ck_assert_str_eq(spur_result_error_type(r), error_type);
	spur_result_free(r);
}

static void on_value(void *ud, const char *v, size_t len)
{
	*(char **)ud = strndup(v, len);
}

/* The stored value of a function's key (malloc()ed), or NULL. */
static char *stored(struct fixture *f, const char *fn, const char *key)
{
	char scoped[320], *v = NULL;
	snprintf(scoped, sizeof(scoped), "%s\n%s", fn, key);
	f->h.store->key_get(f->h.si, SPUR_IDEM_NS, scoped, on_value, &v);
	return v;
}

static bool rendered(struct fixture *f, const char *line)
{
	char *text = spur_metrics_render_text(f->core.metrics, NULL);
	bool found = strstr(text, line) != NULL;
	free(text);
	return found;
}

START_TEST(which_config_applies)
{
	struct fixture f;
	setup(&f);
	const struct spur_config *cfg = f.h.cfg;
	const struct spur_fn_config *pay = spur_config_function(cfg, "pay");
	const struct spur_fn_config *plain = spur_config_function(cfg, "plain");
	const struct spur_fn_config *flaky = spur_config_function(cfg, "flaky");
	ck_assert_str_eq(spur_idem_config(pay, NULL)->key, "header:Idempotency-Key");
	ck_assert_int_eq(spur_idem_config(pay, NULL)->ttl_ms, 3600 * 1000);
	ck_assert_int_eq(spur_idem_config(flaky, NULL)->ttl_ms, 24 * 3600 * 1000);	/* default */
	ck_assert_ptr_null(spur_idem_config(plain, NULL));
	ck_assert_uint_eq(cfg->n_routes, 1);
	ck_assert_str_eq(spur_idem_config(plain, &cfg->routes[0])->key, "json:/id");
	ck_assert_str_eq(spur_idem_config(pay, &cfg->routes[0])->key, "json:/id");	/* route wins */
	teardown(&f);
}
END_TEST

START_TEST(sync_answers_are_replayed)
{
	struct fixture f;
	setup(&f);
	struct spur_result *r = call(&f, "pay", SPUR_MODE_SYNC, "k1", "{\"amount\":5}");
	ck_assert_str_eq(spur_result_body(r, NULL), "{\"ok\":true}");
	expect(r, SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 1);
	char *v = stored(&f, "pay", "k1");
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(strstr(v, "\"state\":\"done\""));
	ck_assert_ptr_nonnull(strstr(v, "\"body\":{\"ok\":true}"));
	free(v);

	r = call(&f, "pay", SPUR_MODE_SYNC, "k1", "{\"amount\":5}");	/* a retry */
	ck_assert_str_eq(spur_result_body(r, NULL), "{\"ok\":true}");
	expect(r, SPUR_STATUS_OK, true, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 1);	/* did not run */
	expect(call(&f, "pay", SPUR_MODE_SYNC, "k1", "{\"amount\":6}"), SPUR_STATUS_MISMATCH,
	       false, "IdempotencyKeyMismatch");
	expect(call(&f, "pay", SPUR_MODE_SYNC, "k2", "{\"amount\":6}"), SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 2);
	/* keys are per function: plain has no key source and runs every time */
	expect(call(&f, "plain", SPUR_MODE_SYNC, "k1", "{}"), SPUR_STATUS_OK, false, NULL);
	expect(call(&f, "plain", SPUR_MODE_SYNC, "k1", "{}"), SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "plain"), 2);
	expect(call(&f, "pay", SPUR_MODE_SYNC, NULL, "{}"), SPUR_STATUS_OK, false, NULL);
	expect(call(&f, "pay", SPUR_MODE_SYNC, "bad\x01key", "{}"), SPUR_STATUS_BAD_REQUEST, false,
	       "InvalidParameterValueException");
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 3);
	ck_assert(rendered(&f, "spur_idempotent_replays_total{function=\"pay\"} 1\n"));

	/* kept for the ttl (1 h), on the injected clock */
	layer_clock_advance(HOUR_NS - 1000000);
	expect(call(&f, "pay", SPUR_MODE_SYNC, "k1", "{\"amount\":5}"), SPUR_STATUS_OK, true, NULL);
	layer_clock_advance(2000000);
	expect(call(&f, "pay", SPUR_MODE_SYNC, "k1", "{\"amount\":5}"), SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 4);
	teardown(&f);
}
END_TEST

START_TEST(a_held_key_is_409_and_an_error_drops_it)
{
	struct fixture f;
	setup(&f);
	/* a call holding the key right now (another connection's) */
	static const char payload[] = "{\"amount\":7}";
	char fp[65], running[128], scoped[64];
	spur_idem_fingerprint(payload, strlen(payload), fp);
	snprintf(running, sizeof(running), "{\"state\":\"running\",\"fp\":\"%s\"}", fp);
	snprintf(scoped, sizeof(scoped), "pay\nbusy");
	struct spur_store_op op = {
		.kind = SPUR_STORE_KEY_CREATE, .ns = SPUR_IDEM_NS, .key = scoped,
		.value = running, .value_len = strlen(running),
		.expires_ms = spur_store_now_ms() + 3000,
	};
	ck_assert_int_eq(f.h.store->apply(f.h.si, &op, 1, NULL), 0);
	expect(call(&f, "pay", SPUR_MODE_SYNC, "busy", payload), SPUR_STATUS_CONFLICT, false,
	       "IdempotencyKeyInProgress");
	expect(call(&f, "pay", SPUR_MODE_SYNC, "busy", "{}"), SPUR_STATUS_MISMATCH, false,
	       "IdempotencyKeyMismatch");
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 0);
	/* the hold ends at its deadline: then the key is free */
	layer_clock_advance(3001LL * 1000000);
	expect(call(&f, "pay", SPUR_MODE_SYNC, "busy", payload), SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "pay"), 1);

	/* a function error keeps nothing: the retry runs again */
	struct spur_result *r = call(&f, "flaky", SPUR_MODE_SYNC, "f1", "{}");
	ck_assert_str_eq(spur_result_function_error(r), "Unhandled");
	expect(r, SPUR_STATUS_OK, false, NULL);
	ck_assert_ptr_null(stored(&f, "flaky", "f1"));
	r = call(&f, "flaky", SPUR_MODE_SYNC, "f1", "{}");
	ck_assert_str_eq(spur_result_function_error(r), "Unhandled");
	expect(r, SPUR_STATUS_OK, false, NULL);
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "flaky"), 2);
	teardown(&f);
}
END_TEST

struct events {
	struct fixture *f;
	size_t n;
};

static void count_msg(void *ud, const struct spur_msg *m)
{
	((struct events *)ud)->n++;
}

static size_t stored_events(struct fixture *f)
{
	struct events e = { .f = f };
	ck_assert_int_ge(f->h.store->peek(f->h.si, "async", 0, 64, count_msg, &e), 0);
	return e.n;
}

/* The key and the event in one write: a retried submit is the first
 * event (202, the same id, replayed), stored once, and after a restart
 * run once. */
START_TEST(async_events_are_stored_once_per_key)
{
	struct fixture f;
	setup(&f);
	struct spur_result *r = call(&f, "pay", SPUR_MODE_ASYNC, "a1", "{\"n\":1}");
	char first[37];
	snprintf(first, sizeof(first), "%s", spur_result_request_id(r));
	expect(r, SPUR_STATUS_ACCEPTED, false, NULL);
	ck_assert_uint_eq(stored_events(&f), 1);
	char *v = stored(&f, "pay", "a1");
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(strstr(v, "\"state\":\"accepted\""));
	ck_assert_ptr_nonnull(strstr(v, first));
	free(v);

	r = call(&f, "pay", SPUR_MODE_ASYNC, "a1", "{\"n\":1}");
	ck_assert_str_eq(spur_result_request_id(r), first);
	expect(r, SPUR_STATUS_ACCEPTED, true, NULL);
	expect(call(&f, "pay", SPUR_MODE_ASYNC, "a1", "{\"n\":2}"), SPUR_STATUS_MISMATCH, false,
	       "IdempotencyKeyMismatch");
	ck_assert_uint_eq(stored_events(&f), 1);
	ck_assert_uint_eq(spur_async_pending(f.async), 0);	/* not started: only stored */
	ck_assert(rendered(&f, "spur_idempotent_replays_total{function=\"pay\"} 1\n"));

	/* a restart: the workers of a new async queue find one event and run it */
	spur_async_free(f.async);
	f.async = spur_async_new(&(struct spur_async_env){
		.store = f.h.store, .store_instance = f.h.si, .outbox = f.core.ob, .exec = f.core.exec,
		.registry = &f.core.registry, .log = &f.h.log, .metrics = f.core.metrics,
	});
	ck_assert_ptr_nonnull(f.async);
	spur_intake_attach(f.in, f.h.store, f.h.si, f.async, NULL);
	ck_assert_int_eq(spur_async_start(f.async), 0);
	ck_assert(layer_logged(&f.h, "async: 1 stored event(s) resumed"));
	ck_assert(layer_runtime_wait(f.core.rt, 1, 10000));
	char *payload = layer_runtime_payload(f.core.rt, 0);
	ck_assert_str_eq(payload, "{\"n\":1}");
	free(payload);
	/* the key still answers with the first event's id */
	r = call(&f, "pay", SPUR_MODE_ASYNC, "a1", "{\"n\":1}");
	ck_assert_str_eq(spur_result_request_id(r), first);
	expect(r, SPUR_STATUS_ACCEPTED, true, NULL);
	layer_sleep_ms(20);
	ck_assert_uint_eq(layer_runtime_calls(f.core.rt), 1);
	teardown(&f);
}
END_TEST

/* A route's key is read from the body as received, and the fingerprint
 * is of that body, not of the envelope the source built around it. */
START_TEST(a_route_keys_on_the_raw_body)
{
	struct fixture f;
	setup(&f);
	static const char raw[] = "{\"id\":\"order-1\",\"total\":3}";
	const char *envelopes[] = { "{\"body\":\"...\",\"requestTime\":\"10:00:00\"}",
				    "{\"body\":\"...\",\"requestTime\":\"10:00:05\"}" };
	for (int i = 0; i < 2; i++) {
		struct spur_invoke_args a = {
			.struct_size = sizeof(a), .target = "plain", .payload = envelopes[i],
			.payload_len = strlen(envelopes[i]), .mode = SPUR_MODE_SYNC,
			.source = "http", .raw_body = raw, .raw_body_len = strlen(raw),
		};
		struct spur_result *r = spur_intake_invoke(f.in, &a, &f.h.cfg->routes[0]);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(spur_result_body(r, NULL), envelopes[0]);	/* the first answer */
		expect(r, SPUR_STATUS_OK, i == 1, NULL);
	}
	ck_assert_uint_eq(layer_runtime_calls_of(f.core.rt, "plain"), 1);
	char *v = stored(&f, "plain", "order-1");
	char fp[65];
	spur_idem_fingerprint(raw, strlen(raw), fp);
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(strstr(v, fp));
	free(v);
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idempotency");
	TCase *keys = tcase_create("keys");
	tcase_add_test(keys, keys_from_headers_and_properties);
	tcase_add_test(keys, keys_from_json_pointers);
	tcase_add_test(keys, keys_from_cloudevents_webhooks_and_the_payload);
	tcase_add_test(keys, fingerprints_are_sha256_hex);
	suite_add_tcase(s, keys);
	TCase *flows = tcase_create("flows");
	tcase_set_timeout(flows, 60);
	tcase_add_test(flows, which_config_applies);
	tcase_add_test(flows, sync_answers_are_replayed);
	tcase_add_test(flows, a_held_key_is_409_and_an_error_drops_it);
	tcase_add_test(flows, async_events_are_stored_once_per_key);
	tcase_add_test(flows, a_route_keys_on_the_raw_body);
	suite_add_tcase(s, flows);
	return layer_run(s);
}
