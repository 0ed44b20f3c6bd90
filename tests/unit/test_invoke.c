/* SPDX-License-Identifier: MIT */
/*
 * test_invoke.c - the core invoke path: target parsing, lookup errors,
 * payload validation, reserved concurrency, warm reuse, max_uses, idle
 * reaping on an injected clock, the plugin loader's ABI checks.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "context.h"
#include "function.h"
#include "host.h"
#include "invoke.h"
#include "loader.h"
#include "util.h"

static const char *counter_lua =
	"local n = 0\n"
	"function handle(event, ctx)\n"
	"  n = n + 1\n"
	"  return { n = n, echo = event }\n"
	"end\n";

static void load_counter(struct harness *h, const char *extra)
{
	harness_init(h);
	harness_write(h, "h.lua", counter_lua);
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
		 "state_dir: var\n"
		 "log: { level: error }\n"
		 "functions:\n"
		 "  f:\n"
		 "    runtime: lua\n"
		 "    code: h.lua\n"
		 "    timeout: 2s\n"
		 "%s", extra ? extra : "");
	ck_assert_msg(harness_load_yaml(h, yaml) == 0, "%s", h->errors);
}

START_TEST(parse_target_forms)
{
	const char *n, *q;
	size_t nl, ql;
	char why[512];
	ck_assert_int_eq(spur_target_parse("hello", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_eq(nl, 5);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(spur_target_parse("hello:prod", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_eq(nl, 5);
	ck_assert_int_eq(ql, 4);
	ck_assert(strncmp(q, "prod", 4) == 0);
	ck_assert_int_eq(spur_target_parse("arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST",
						  NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert(nl == 5 && strncmp(n, "hello", 5) == 0);
	ck_assert(ql == 7 && strncmp(q, "$LATEST", 7) == 0);
	ck_assert_int_eq(spur_target_parse("000000000000:function:hello", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert(nl == 5 && !q);
	ck_assert_int_eq(spur_target_parse("hello", "7", &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert(ql == 1 && *q == '7');
	/* bad forms */
	ck_assert_int_lt(spur_target_parse("", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_lt(spur_target_parse("he llo", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_lt(spur_target_parse("hello:", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_lt(spur_target_parse("hello:a/b", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert_int_lt(spur_target_parse("hello:1", "2", &n, &nl, &q, &ql, why, sizeof(why)), 0);
	ck_assert(strstr(why, "does not match") != NULL);
	ck_assert_int_lt(spur_target_parse("arn:aws:s3:::bucket", NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
	char longname[80];
	memset(longname, 'a', 65);
	longname[65] = '\0';
	ck_assert_int_lt(spur_target_parse(longname, NULL, &n, &nl, &q, &ql, why, sizeof(why)), 0);
}
END_TEST

START_TEST(lookup_errors)
{
	struct harness h;
	load_counter(&h, NULL);
	struct spur_result *r = harness_invoke(&h, "nope", "{}");
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_NOT_FOUND);
	ck_assert_str_eq(spur_result_error_type(r), "ResourceNotFoundException");
	ck_assert(strstr(spur_result_error_message(r), "function:nope") != NULL);
	spur_result_free(r);
	r = harness_invoke(&h, "f:7", "{}");
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_NOT_FOUND);
	spur_result_free(r);
	r = harness_invoke(&h, "f:bad/q", "{}");
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_BAD_REQUEST);
	spur_result_free(r);
	r = harness_invoke(&h, "f", "{\"a\": ");
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_BAD_CONTENT);
	ck_assert_str_eq(spur_result_error_type(r), "InvalidRequestContentException");
	ck_assert(strstr(spur_result_error_message(r), "line 1") != NULL);
	spur_result_free(r);
	r = harness_invoke(&h, "f:$LATEST", NULL);	/* empty payload is {} */
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_OK);
	ck_assert_str_eq(spur_result_executed_version(r), "$LATEST");
	ck_assert(strstr(harness_body(r), "\"echo\":{}") != NULL);
	spur_result_free(r);
	harness_fini(&h);
}
END_TEST

START_TEST(warm_reuse_and_max_uses)
{
	struct harness h;
	load_counter(&h, "    max_uses: 3\n");
	const char *expect[] = { "\"n\":1", "\"n\":2", "\"n\":3", "\"n\":1", "\"n\":2" };
	for (int i = 0; i < 5; i++) {
		struct spur_result *r = harness_invoke(&h, "f", "{}");
		ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_OK);
		ck_assert_msg(strstr(harness_body(r), expect[i]), "%d: %s", i, harness_body(r));
		spur_result_free(r);
	}
	harness_fini(&h);
}
END_TEST

START_TEST(reserved_zero_throttles)
{
	struct harness h;
	load_counter(&h, "    concurrency: { reserved: 0 }\n");
	struct spur_result *r = harness_invoke(&h, "f", "{}");
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_THROTTLED);
	ck_assert_str_eq(spur_result_error_type(r), "TooManyRequestsException");
	ck_assert_int_ge(spur_result_retry_after(r), 1);
	spur_result_free(r);
	harness_fini(&h);
}
END_TEST

struct busy {
	struct harness *h;
	enum spur_status st;
};

static void *busy_invoke(void *arg)
{
	struct busy *b = arg;
	/* The main thread's quick calls may hold the slot for a moment: retry. */
	do {
		struct spur_result *r = harness_invoke(b->h, "slow", "{\"spin\": true}");
		b->st = spur_result_status(r);
		spur_result_free(r);
	} while (b->st == SPUR_STATUS_THROTTLED);
	return NULL;
}

START_TEST(reserved_one_throttles_second)
{
	struct harness h;
	harness_init(&h);
	/* The thread's invocation holds the only slot for 1.5 s; the main
	 * thread's own invocations return at once, so it keeps trying until
	 * it sees the throttle. */
	harness_write(&h, "slow.lua",
		      "function handle(e, ctx)\n"
		      "  if not e.spin then return 'quick' end\n"
		      "  local t = spur.now()\n"
		      "  while spur.now() - t < 1.5 do end\n"
		      "  return 'done'\n"
		      "end\n");
	ck_assert_msg(harness_load_yaml(&h,
		"log: { level: error }\n"
		"functions:\n"
		"  slow: { runtime: lua, code: slow.lua, timeout: 5s, concurrency: { reserved: 1 } }\n") == 0,
		"%s", h.errors);
	struct busy b = { .h = &h };
	pthread_t t;
	pthread_create(&t, NULL, busy_invoke, &b);
	bool throttled = false;
	int64_t give_up = spur_now_ns() + 5000000000LL;	/* the thread holds the slot for 1.5 s */
	while (!throttled && spur_now_ns() < give_up) {
		struct spur_result *r = harness_invoke(&h, "slow:$LATEST", "{}");
		throttled = spur_result_status(r) == SPUR_STATUS_THROTTLED;
		spur_result_free(r);
	}
	pthread_join(t, NULL);
	ck_assert(throttled);
	ck_assert_int_eq(b.st, SPUR_STATUS_OK);
	harness_fini(&h);
}
END_TEST

static int64_t fake_now;
static int64_t fake_clock(void *ud)
{
	return fake_now;
}

START_TEST(idle_contexts_reaped_on_injected_clock)
{
	struct harness h;
	load_counter(&h, "    idle_ttl: 5m\n");
	fake_now = 1000000000;
	spur_clock_inject(fake_clock, NULL);
	struct spur_result *r = harness_invoke(&h, "f", "{}");
	spur_result_free(r);
	struct spur_fn *fn = spur_registry_find(spur_host_registry(h.host), "f", 1);
	struct spur_pool *pool = spur_function_pool(spur_fn_latest(fn));
	ck_assert_int_eq(spur_pool_idle(pool), 1);
	fake_now += 299LL * 1000000000;		/* 4 min 59 s: still warm */
	int64_t next = spur_pool_reap(pool, fake_now);
	ck_assert_int_eq(spur_pool_idle(pool), 1);
	ck_assert_int_eq(next, 1000000000 + 300LL * 1000000000);
	fake_now += 1000000000;			/* 5 min: gone */
	ck_assert_int_eq(spur_pool_reap(pool, fake_now), INT64_MAX);
	ck_assert_int_eq(spur_pool_idle(pool), 0);
	r = harness_invoke(&h, "f", "{}");	/* a cold start again: counter restarts */
	ck_assert(strstr(harness_body(r), "\"n\":1") != NULL);
	spur_result_free(r);
	spur_clock_inject(NULL, NULL);
	harness_fini(&h);
}
END_TEST

START_TEST(plugin_abi_checks)
{
	const char *root = getenv("SPUR_TEST_BUILD_ROOT");
	ck_assert_ptr_nonnull(root);
	char path[1024], why[1024];
	struct spur_loaded_plugin p;
	snprintf(path, sizeof(path), "%s/tests/unit/badabi.so", root);
	ck_assert_int_lt(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "plugin ABI 99.0") != NULL, "%s", why);
	snprintf(path, sizeof(path), "%s/tests/unit/badsize.so", root);
	ck_assert_int_lt(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "smaller than ABI") != NULL, "%s", why);
	snprintf(path, sizeof(path), "%s/tests/unit/nosym.so", root);
	ck_assert_int_lt(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "not a spur plugin") != NULL, "%s", why);
	snprintf(path, sizeof(path), "%s/tests/unit/missing.so", root);
	ck_assert_int_lt(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "cannot load") != NULL, "%s", why);
	snprintf(path, sizeof(path), "%s/plugins/lua/lua.so", root);
	ck_assert_int_eq(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_str_eq(p.desc.name, "lua");
	ck_assert(p.desc.roles & SPUR_ROLE_RUNTIME);
	spur_plugin_close(&p);
	/* tables with a wider element (a later SDK): read with its stride */
	snprintf(path, sizeof(path), "%s/tests/unit/wide.so", root);
	ck_assert_int_eq(spur_plugin_open(path, &p, why, sizeof(why)), 0);
	ck_assert_str_eq(p.desc.options[0].name, "alpha");
	ck_assert_str_eq(p.desc.options[1].name, "beta");
	ck_assert_str_eq(p.desc.options[1].def, "2s");
	ck_assert_int_eq(p.desc.options[1].type, SPUR_OPT_DURATION);
	ck_assert_ptr_null(p.desc.options[2].name);
	ck_assert_str_eq(p.desc.route_options[0].name, "gamma");
	ck_assert_ptr_null(p.desc.route_options[1].name);
	spur_plugin_close(&p);
}
END_TEST

/* Attributes from a caller built with a wider struct spur_attr (a later
 * SDK): read with its attr_size stride, the traceparent reaches the run. */
START_TEST(attrs_with_a_wider_element)
{
	struct harness h;
	harness_init(&h);
	harness_write(&h, "t.lua", "function handle(e, ctx) return { tp = ctx.trace and "
		      "ctx.trace.traceparent or 'none' } end\n");
	ck_assert(harness_load_yaml(&h, "log: { level: error }\nfunctions:\n"
				    "  t: { runtime: lua, code: t.lua }\n") == 0);
	struct wide_attr {
		struct spur_attr a;
		uint64_t appended_later;
	} attrs[2] = {
		{ .a = { .name = "x-other", .value = "1", .value_len = 1 }, .appended_later = 7 },
		{ .a = { .name = "traceparent",
			 .value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			 .value_len = 55 }, .appended_later = 7 },
	};
	struct spur_invoke_args a = {
		.struct_size = sizeof(a),
		.attr_size = sizeof(attrs[0]),
		.target = "t",
		.payload = "{}",
		.payload_len = 2,
		.mode = SPUR_MODE_SYNC,
		.source = "test",
		.attrs = &attrs[0].a,
		.n_attrs = 2,
	};
	struct spur_result *r = spur_invoke(h.host, &a);
	ck_assert_int_eq(spur_result_status(r), SPUR_STATUS_OK);
	ck_assert_msg(strstr(harness_body(r), "00-4bf92f3577b34da6a3ce929d0e0e4736") != NULL, "%s",
		      harness_body(r));
	spur_result_free(r);
	harness_fini(&h);
}
END_TEST

START_TEST(check_reports_init_error)
{
	struct harness h;
	harness_init(&h);
	harness_write(&h, "bad.lua", "local x = nil\nx.y = 1\nfunction handle() end\n");
	ck_assert(harness_load_yaml(&h, "log: { level: error }\nfunctions:\n  bad: { runtime: lua, code: bad.lua }\n") == 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	ck_assert_int_eq(spur_host_check(h.host, err), 1);
	fclose(err);
	ck_assert_msg(strstr(buf, "spur.yaml:3: function 'bad': INIT failed") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "bad.lua:2:") != NULL, "%s", buf);
	free(buf);
	harness_fini(&h);
}
END_TEST

START_TEST(syntax_error_names_file_and_line)
{
	struct harness h;
	harness_init(&h);
	harness_write(&h, "syn.lua", "function handle(e)\n  return {\nend\n");
	ck_assert_int_lt(harness_load_yaml(&h, "functions:\n  syn: { runtime: lua, code: syn.lua }\n"), 0);
	ck_assert_msg(strstr(h.errors, "syn.lua:3:") != NULL, "%s", h.errors);
	harness_fini(&h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("invoke");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, parse_target_forms);
	tcase_add_test(tc, lookup_errors);
	tcase_add_test(tc, warm_reuse_and_max_uses);
	tcase_add_test(tc, reserved_zero_throttles);
	tcase_add_test(tc, reserved_one_throttles_second);
	tcase_add_test(tc, idle_contexts_reaped_on_injected_clock);
	tcase_add_test(tc, plugin_abi_checks);
	tcase_add_test(tc, attrs_with_a_wider_element);
	tcase_add_test(tc, check_reports_init_error);
	tcase_add_test(tc, syntax_error_names_file_and_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run(suite());
}
