/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the config module: schema, defaults, every kind of error
 * with its exact line, plugin option tables, and the duration and size
 * parsers. Each test writes real files into its own mkdtemp() directory.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

static char tdir[256];
static char cfgpath[300];
static char *errtext;		/* what the last load wrote to `err` */
static size_t errlen;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/spur-test-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	snprintf(cfgpath, sizeof(cfgpath), "%s/spur.yaml", tdir);
	errtext = NULL;
}

static void teardown(void)
{
	nftw(tdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(errtext);
	errtext = NULL;
}

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Write spur.yaml (and a handler file hello.lua) and load it. */
static struct spur_config *load(const char *yaml)
{
	struct spur_config *cfg;
	FILE *err;

	write_file("hello.lua", "function handle(e) return e end\n");
	write_file("spur.yaml", yaml);
	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &errlen);
	ck_assert_ptr_nonnull(err);
	cfg = spur_config_load(cfgpath, err);
	fclose(err);
	return cfg;
}

/* The error output contains "<cfgpath>:<line>: <msg>" as a whole line. */
static void assert_line(int line, const char *msg)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s:%d: %s\n", cfgpath, line, msg);
	ck_assert_msg(errtext && strstr(errtext, want),
		      "expected \"%s\" in:\n%s", want, errtext ? errtext : "(nothing)");
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void load_fails_with(const char *yaml, int line, const char *msg)
{
	struct spur_config *cfg = load(yaml);

	ck_assert_msg(cfg == NULL, "load should fail; output:\n%s", errtext);
	assert_line(line, msg);
}

/* Keys of functions and routes beyond the core's belong to the plugin
 * serving them (a runtime, a source): the host checks them once the
 * plugins of this build are loaded, as `spur check` does. */
static void host_fails_with(const char *yaml, int line, const char *msg)
{
	struct harness h;
	char want[1024];

	harness_init(&h);
	harness_write(&h, "hello.lua", "function handle(e) return e end\n");
	ck_assert_msg(harness_load_yaml(&h, yaml) != 0, "load should fail; output:\n%s", h.errors);
	snprintf(want, sizeof(want), "%s/spur.yaml:%d: %s\n", h.dir, line, msg);
	ck_assert_msg(strstr(h.errors, want), "expected \"%s\" in:\n%s", want, h.errors);
	harness_fini(&h);
}

#define FN_HEAD "functions:\n  hello:\n    runtime: lua\n    code: hello.lua\n"

/* ---- valid configs ------------------------------------------------------ */

START_TEST(full_valid)
{
	struct spur_config *cfg;
	const struct spur_fn_config *fn;
	char want[600];

	write_file("other.lua", "x = 1\n");
	cfg = load(
		"# a full config\n"
		"state_dir: /var/lib/spur\n"
		"log: { level: debug, format: json }\n"
		"plugin_dir: [ plugins, /opt//spur/./x/.., ../up/ ]\n"
		"arn: { region: eu-west-1, account: \"123456789012\" }\n"
		"admin:\n"
		"  token_env: MY_TOKEN\n"
		"http:\n"
		"  listen: 127.0.0.1:8080\n"
		"functions:\n"
		"  hello:\n"
		"    runtime: lua\n"
		"    code: hello.lua\n"
		"    handler: main.handle\n"
		"    timeout: 250ms\n"
		"    init_timeout: 1m\n"
		"    memory: 64MiB\n"
		"    tmp_size: 0\n"
		"    idle_ttl: 1h\n"
		"    max_uses: 100\n"
		"    env: { GREETING: \"hi\", _X1: 5 }\n"
		"    concurrency: { reserved: 10 }\n"
		"  other-fn_2:\n"
		"    runtime: native\n"
		"    code: ./other.lua\n"
		"routes:\n"
		"  - http: \"POST /hooks/github\"\n"
		"    function: hello\n"
		"  - http: \"GET /x\"\n"
		"    function: other-fn_2:$LATEST\n"
		"    mode: async\n"
		"  - mqtt: \"sensors/+/temperature\"\n"
		"    function: hello:7\n"
		"  - mqtt: \"a/#\"\n"
		"    function: hello:prod\n"
		"    mode: sync\n");
	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_str_eq(errtext, "");
	ck_assert_str_eq(cfg->file, cfgpath);
	ck_assert_str_eq(cfg->state_dir, "/var/lib/spur");
	ck_assert_int_eq(cfg->log_level, SPUR_LOG_DEBUG);
	ck_assert_int_eq(cfg->log_format, SPUR_LOG_JSON);
	ck_assert_uint_eq(cfg->plugin_dirs.n, 3);
	snprintf(want, sizeof(want), "%s/plugins", cfg->dir);
	ck_assert_str_eq(cfg->plugin_dirs.v[0], want);
	ck_assert_str_eq(cfg->plugin_dirs.v[1], "/opt/spur");
	/* ../up is the config dir's sibling: same parent, lexically. */
	snprintf(want, sizeof(want), "%s", cfg->dir);
	strcpy(strrchr(want, '/'), "/up");
	ck_assert_str_eq(cfg->plugin_dirs.v[2], want);
	ck_assert_str_eq(cfg->arn_region, "eu-west-1");
	ck_assert_str_eq(cfg->arn_account, "123456789012");
	ck_assert_str_eq(cfg->admin_token_env, "MY_TOKEN");

	ck_assert_uint_eq(cfg->n_functions, 2);
	fn = spur_config_function(cfg, "hello");
	ck_assert_ptr_nonnull(fn);
	ck_assert_int_eq(fn->line, 11);
	ck_assert_str_eq(fn->runtime, "lua");
	snprintf(want, sizeof(want), "%s/hello.lua", cfg->dir);
	ck_assert_str_eq(fn->code, want);
	ck_assert_str_eq(fn->handler, "main.handle");
	ck_assert_int_eq(fn->timeout_ms, 250);
	ck_assert_int_eq(fn->init_timeout_ms, 60000);
	ck_assert_uint_eq(fn->memory, 64ull << 20);
	ck_assert_uint_eq(fn->tmp_size, 0);
	ck_assert_int_eq(fn->idle_ttl_ms, 3600000);
	ck_assert_int_eq(fn->max_uses, 100);
	ck_assert_int_eq(fn->reserved, 10);
	ck_assert_uint_eq(fn->n_env, 2);
	ck_assert_str_eq(fn->env[0].key, "GREETING");
	ck_assert_str_eq(fn->env[0].value, "hi");
	ck_assert_str_eq(fn->env[1].key, "_X1");
	ck_assert_str_eq(fn->env[1].value, "5");
	fn = spur_config_function(cfg, "other-fn_2");
	ck_assert_ptr_nonnull(fn);
	ck_assert_str_eq(fn->runtime, "native");
	snprintf(want, sizeof(want), "%s/other.lua", cfg->dir);
	ck_assert_str_eq(fn->code, want);
	ck_assert_ptr_null(spur_config_function(cfg, "nope"));

	ck_assert_uint_eq(cfg->n_routes, 4);
	ck_assert_str_eq(cfg->routes[0].kind, "http");
	ck_assert_str_eq(cfg->routes[0].match, "POST /hooks/github");
	ck_assert_str_eq(cfg->routes[0].target, "hello");
	ck_assert_int_eq(cfg->routes[0].mode, SPUR_MODE_SYNC);
	ck_assert_int_eq(cfg->routes[0].line, 27);
	ck_assert_int_eq(cfg->routes[1].mode, SPUR_MODE_ASYNC);
	ck_assert_str_eq(cfg->routes[1].target, "other-fn_2:$LATEST");
	ck_assert_str_eq(cfg->routes[2].kind, "mqtt");
	ck_assert_str_eq(cfg->routes[2].match, "sensors/+/temperature");
	ck_assert_int_eq(cfg->routes[2].mode, SPUR_MODE_ASYNC);
	ck_assert_int_eq(cfg->routes[3].mode, SPUR_MODE_SYNC);

	ck_assert_uint_eq(cfg->n_sections, 1);
	ck_assert_str_eq(cfg->sections[0].name, "http");
	ck_assert_int_eq(cfg->sections[0].line, 8);
	ck_assert(!cfg->sections[0].claimed);
	spur_config_free(cfg);
}
END_TEST

START_TEST(defaults)
{
	struct spur_config *cfg = load(FN_HEAD);
	const struct spur_fn_config *fn;
	char want[600];

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	snprintf(want, sizeof(want), "%s/var", cfg->dir);
	ck_assert_str_eq(cfg->state_dir, want);
	ck_assert(cfg->dir[0] == '/');
	ck_assert_int_eq(cfg->log_level, SPUR_LOG_INFO);
	ck_assert_int_eq(cfg->log_format, SPUR_LOG_TEXT);
	ck_assert_uint_eq(cfg->plugin_dirs.n, 0);
	ck_assert_str_eq(cfg->arn_region, "us-east-1");
	ck_assert_str_eq(cfg->arn_account, "000000000000");
	ck_assert_str_eq(cfg->admin_token_env, "SPUR_ADMIN_TOKEN");
	ck_assert_uint_eq(cfg->n_routes, 0);
	ck_assert_uint_eq(cfg->n_sections, 0);
	fn = spur_config_function(cfg, "hello");
	ck_assert_ptr_nonnull(fn);
	ck_assert_str_eq(fn->handler, "handle");
	ck_assert_int_eq(fn->timeout_ms, 3000);
	ck_assert_int_eq(fn->init_timeout_ms, 10000);
	ck_assert_uint_eq(fn->memory, 128ull << 20);
	ck_assert_uint_eq(fn->tmp_size, 512ull << 20);
	ck_assert_int_eq(fn->idle_ttl_ms, 300000);
	ck_assert_int_eq(fn->max_uses, 0);
	ck_assert_int_eq(fn->reserved, -1);
	ck_assert_uint_eq(fn->n_env, 0);
	spur_config_free(cfg);

	/* An empty file is an empty config. */
	cfg = load("# nothing here\n");
	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_uint_eq(cfg->n_functions, 0);
	ck_assert_int_eq(cfg->log_level, SPUR_LOG_INFO);
	spur_config_free(cfg);
}
END_TEST

START_TEST(json_form)
{
	struct spur_config *cfg = load(
		"{\n"
		"  \"log\": {\"level\": \"warn\"},\n"
		"  \"functions\": {\n"
		"    \"hello\": {\"runtime\": \"lua\", \"code\": \"hello.lua\",\n"
		"               \"timeout\": \"5s\", \"max_uses\": 3,\n"
		"               \"env\": {\"A\": \"b\"}}\n"
		"  },\n"
		"  \"routes\": [ {\"http\": \"PUT /p\", \"function\": \"hello\"} ]\n"
		"}\n");

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_int_eq(cfg->log_level, SPUR_LOG_WARN);
	ck_assert_int_eq(spur_config_function(cfg, "hello")->timeout_ms, 5000);
	ck_assert_int_eq(spur_config_function(cfg, "hello")->max_uses, 3);
	ck_assert_str_eq(spur_config_function(cfg, "hello")->env[0].value, "b");
	ck_assert_uint_eq(cfg->n_routes, 1);
	ck_assert_str_eq(cfg->routes[0].match, "PUT /p");
	spur_config_free(cfg);

	/* Duplicate keys in JSON are caught too, with their line. */
	load_fails_with("{\n  \"log\": {\"level\": \"warn\",\n  \"level\": \"info\"}\n}\n",
			3, "duplicate key 'level'");
}
END_TEST

START_TEST(anchors_and_documents)
{
	struct spur_config *cfg = load(
		"functions:\n"
		"  a:\n"
		"    runtime: lua\n"
		"    code: hello.lua\n"
		"    env: &common { K: v }\n"
		"  b:\n"
		"    runtime: lua\n"
		"    code: hello.lua\n"
		"    env: *common\n");

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_uint_eq(spur_config_function(cfg, "b")->n_env, 1);
	ck_assert_str_eq(spur_config_function(cfg, "b")->env[0].value, "v");
	spur_config_free(cfg);

	load_fails_with("a: &x [ 1, *x ]\n", 1,
			"unknown anchor 'x' (an alias must follow its complete anchor)");
	load_fails_with(FN_HEAD "---\nlog: {}\n", 5,
			"more than one document in the file (only one is allowed)");
	load_fails_with("- 1\n- 2\n", 1, "expected a mapping at the top level, got a list");
}
END_TEST

/* ---- errors, each with its line ------------------------------------------ */

START_TEST(unknown_key_suggests)
{
	host_fails_with(FN_HEAD "    timout: 5s\n", 5,
			"unknown key 'timout' (did you mean 'timeout'?)");
	host_fails_with(FN_HEAD "routes:\n  - http: \"POST /x\"\n    function: hello\n    fucntion: x\n",
			8, "unknown key 'fucntion' (did you mean 'function'?)");
	host_fails_with(FN_HEAD "routes:\n  - mqtt: a\n    function: hello\n    qoss: 1\n", 8,
			"unknown key 'qoss' (did you mean 'qos'?)");
	host_fails_with(FN_HEAD "routes:\n  - http: \"POST /x\"\n    function: hello\n    qos: 1\n",
			8, "unknown key 'qos'");	/* an mqtt key, not an http one */
	host_fails_with(FN_HEAD "routes:\n  - http: \"POST /x\"\n    function: hello\n"
			"    verify: { scheme: gitlab, secret_env: S }\n", 8,
			"scheme: expected one of github|stripe|standard-webhooks, got 'gitlab'");
	load_fails_with(FN_HEAD "    async:\n      max_retires: 2\n", 6,
			"unknown key 'max_retires' (did you mean 'max_retries'?)");
	load_fails_with("log:\n  level: info\n  colour: true\n", 3, "unknown key 'colour'");
	/* A near miss of a long core key is not taken for a plugin section. */
	load_fails_with("functons:\n  x: {}\n", 1,
			"unknown key 'functons' (did you mean 'functions'?)");
}
END_TEST

START_TEST(wrong_type)
{
	load_fails_with("log: 5\n", 1, "log: expected a mapping, got a string");
	load_fails_with(FN_HEAD "    timeout: [ 1s ]\n", 5,
			"timeout: expected a duration like 3s, got a list");
	load_fails_with(FN_HEAD "    max_uses: many\n", 5,
			"max_uses: expected an integer, got 'many'");
	load_fails_with(FN_HEAD "    max_uses: \"5\"\n", 5,
			"max_uses: expected an integer, got the quoted string \"5\"");
	load_fails_with("functions: [ a ]\n", 1,
			"functions: expected a mapping of function names, got a list");
	load_fails_with("routes: { a: 1 }\n", 1, "routes: expected a list of routes, got a mapping");
	load_fails_with("log: { level: loud }\n", 1,
			"level: expected one of error|warn|info|debug, got 'loud'");
	load_fails_with("arn: { account: 12345 }\n", 1,
			"account: '12345' is not a 12-digit account id");
	load_fails_with(FN_HEAD "    env: { 9LIVES: x }\n", 5,
			"env: '9LIVES' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	load_fails_with(FN_HEAD "    handler:\n", 5, "handler: a value is missing");
}
END_TEST

START_TEST(out_of_range)
{
	load_fails_with(FN_HEAD "    timeout: 901s\n", 5, "timeout must be between 1ms and 900s");
	load_fails_with(FN_HEAD "    timeout: 0\n", 5, "timeout must be between 1ms and 900s");
	load_fails_with(FN_HEAD "    memory: 512KiB\n", 5, "memory must be between 1MiB and 16GiB");
	load_fails_with(FN_HEAD "    tmp_size: 11GiB\n", 5, "tmp_size must be between 0 and 10GiB");
	load_fails_with(FN_HEAD "    idle_ttl: 8d\n", 5, "idle_ttl must be between 1s and 7d");
	load_fails_with(FN_HEAD "    max_uses: -1\n", 5, "max_uses must be at least 0");
	load_fails_with(FN_HEAD "    concurrency:\n      reserved: 100001\n", 6,
			"reserved must be between 0 and 100000");
	load_fails_with(FN_HEAD "    async: { max_retries: 11 }\n", 5,
			"max_retries must be between 0 and 10");
}
END_TEST

START_TEST(bad_duration_and_size)
{
	load_fails_with(FN_HEAD "    timeout: 3x\n", 5,
			"timeout: expected a duration like 3s, got '3x'");
	load_fails_with(FN_HEAD "    init_timeout: 5\n", 5,
			"init_timeout: expected a duration like 3s, got '5'");
	load_fails_with(FN_HEAD "    timeout: 99999999999999999999s\n", 5,
			"timeout: 99999999999999999999s is too large");
	load_fails_with(FN_HEAD "    memory: 64MB\n", 5,
			"memory: expected a size like 64MiB (bytes, KiB, MiB, GiB or TiB), got '64MB'");
}
END_TEST

START_TEST(duplicate_key)
{
	load_fails_with(FN_HEAD "    timeout: 1s\n    timeout: 2s\n", 6, "duplicate key 'timeout'");
	/* Two functions of one name are two duplicate keys. */
	load_fails_with(FN_HEAD "  hello:\n    runtime: lua\n", 5, "duplicate key 'hello'");
}
END_TEST

START_TEST(route_errors)
{
	load_fails_with(FN_HEAD "routes:\n  - http: \"POST /x\"\n    function: nope\n", 6,
			"route http 'POST /x': no function named 'nope'");
	load_fails_with(FN_HEAD "routes:\n  - http: \"FETCH /x\"\n    function: hello\n", 6,
			"http: 'FETCH /x' is not \"METHOD /path\" (METHOD: GET, POST, PUT, PATCH, "
			"DELETE, HEAD, OPTIONS or ANY)");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET x\"\n    function: hello\n", 6,
			"http: 'GET x' is not \"METHOD /path\" (METHOD: GET, POST, PUT, PATCH, "
			"DELETE, HEAD, OPTIONS or ANY)");
	load_fails_with(FN_HEAD "routes:\n  - function: hello\n", 6,
			"a route needs one of 'http', 'mqtt' or 'zmq'");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET /a\"\n    mqtt: a/b\n    function: hello\n",
			7, "a route has exactly one of 'http', 'mqtt' or 'zmq'");
	load_fails_with(FN_HEAD "routes:\n  - mqtt: \"a/#/b\"\n    function: hello\n", 6,
			"mqtt: 'a/#/b' is not a valid topic filter");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET /a\"\n", 6,
			"route: missing required key 'function'");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET /a\"\n    function: \"hello:\"\n", 7,
			"function: 'hello:' is not a function name[:qualifier]");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET /a\"\n    function: hello\n"
			"    mode: later\n", 8, "mode: expected one of sync|async, got 'later'");
	load_fails_with(FN_HEAD "routes:\n  - http: \"GET /a\"\n    function: hello\n"
			"  - http: \"GET /a\"\n    function: hello\n", 8,
			"duplicate route http 'GET /a' (first at line 6)");
}
END_TEST

START_TEST(function_errors)
{
	load_fails_with("functions:\n  hello:\n    runtime: lua\n    code: missing.lua\n", 4,
			"code: 'missing.lua' not found (No such file or directory)");
	load_fails_with("functions:\n  bad.name:\n    runtime: lua\n    code: hello.lua\n", 2,
			"invalid function name 'bad.name' (1 to 64 letters, digits, '-' or '_')");
	load_fails_with("functions:\n  hello:\n    code: hello.lua\n", 2,
			"hello: missing required key 'runtime'");
	load_fails_with("functions:\n  hello:\n", 2, "hello: missing required key 'code'");
	load_fails_with("functions:\n  hello:\n    runtime: \"l u a\"\n    code: hello.lua\n", 3,
			"runtime: 'l u a' is not a runtime name");
}
END_TEST

START_TEST(yaml_syntax_error)
{
	struct spur_config *cfg = load(FN_HEAD "    env: { A: b\n    timeout: 3s\n");

	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(errtext, cfgpath) == errtext, "%s", errtext);
	ck_assert_int_eq(count_lines(errtext), 1);
	/* libyaml notices the unclosed flow mapping where the next key starts. */
	{
		char want[400];

		snprintf(want, sizeof(want), "%s:6: ", cfgpath);
		ck_assert_msg(strncmp(errtext, want, strlen(want)) == 0, "%s", errtext);
	}
	load_fails_with("log:\n  level: info\n level: warn\n", 3,
			"did not find expected key (while parsing a block mapping at line 1)");
	load_fails_with("log:\n  level: info\n\tformat: json\n", 3,
			"found a tab character that violates indentation (while scanning a plain "
			"scalar at line 2); YAML does not allow tabs for indentation");
}
END_TEST

START_TEST(yaml_limits)
{
	/* "Billion laughs": aliases are copies, and copies count. */
	load_fails_with("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
			"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", 6,
			"the document has more than 200000 nodes");
	load_fails_with("log:\n  level: \"in\\0fo\"\n", 2, "a string contains a NUL byte");
	load_fails_with("? [a]\n: 1\n", 1, "a mapping key must be a string, not a list");
	{
		char deep[300];
		int i;

		for (i = 0; i < 100; i++)
			deep[i] = '[';
		deep[100] = '\0';
		load_fails_with(deep, 1, "nesting deeper than 64 levels");
	}
}
END_TEST

START_TEST(all_errors_reported)
{
	struct spur_config *cfg = load(
		"log: { level: loud }\n"		/* 1 */
		"functions:\n"
		"  hello:\n"
		"    runtime: lua\n"
		"    code: hello.lua\n"
		"    timeout: 1000s\n"			/* 6 */
		"    memroy: 1GiB\n"			/* 7 */
		"routes:\n"
		"  - http: \"GET /x\"\n"		/* 9 */
		"    function: ghost\n");
	ck_assert_ptr_null(cfg);
	assert_line(1, "level: expected one of error|warn|info|debug, got 'loud'");
	assert_line(6, "timeout must be between 1ms and 900s");
	assert_line(9, "route http 'GET /x': no function named 'ghost'");
	/* 'memroy' is left to the runtime's keys, checked by the host */
	ck_assert_int_eq(count_lines(errtext), 3);
}
END_TEST

START_TEST(future_keys_warn)
{
	struct spur_config *cfg = load(
		FN_HEAD
		"    aliases: { prod: 1, canary: { version: 2, weights: { 3: 0.1 } } }\n"	/* 5 */
		"    provisioned: { prod: 2 }\n"
		"    async:\n"
		"      max_retries: 2\n"
		"      backoff: { base: 1m, factor: 2, cap: 5m, jitter: none }\n"
		"      on_failure: [ \"queue://dlq\" ]\n"
		"    idempotency: { key: \"header:Idempotency-Key\", ttl: 24h }\n"	/* 11 */
		"    concurrency: { reserved: 1, provisioned: 2 }\n"
		"queues: { dlq: {} }\n"
		"routes:\n"
		"  - mqtt: \"s/+/t\"\n"
		"    function: hello\n"
		"    qos: 1\n"							/* 17 */
		"    verify: { scheme: github, secret_env: GH_SECRET }\n");
	char want[600];

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	(void)want;
	ck_assert_msg(!strstr(errtext, "'aliases' is not implemented"), "%s", errtext);
	ck_assert_msg(!strstr(errtext, "'async' is not implemented"), "%s", errtext);
	assert_line(12, "warning: 'provisioned' is not implemented yet and is ignored");
	ck_assert_msg(!strstr(errtext, "'qos' is not implemented"), "%s", errtext);
	ck_assert_msg(!strstr(errtext, "'verify' is not implemented"), "%s", errtext);
	ck_assert_int_eq(count_lines(errtext), 1);
	ck_assert_int_eq(spur_config_function(cfg, "hello")->reserved, 1);
	ck_assert_int_eq(cfg->routes[0].mode, SPUR_MODE_ASYNC);
	spur_config_free(cfg);

	/* Their contents are still checked. */
	load_fails_with(FN_HEAD "    async:\n      backoff: { jitter: some }\n", 6,
			"jitter: expected one of none|full, got 'some'");
	load_fails_with(FN_HEAD "    async:\n      bogus: 1\n", 6, "unknown key 'bogus'");
	load_fails_with(FN_HEAD "    idempotency: { key: cookie }\n", 5,
			"key: 'cookie' is not a key source (header:NAME, json:/pointer, mqtt:NAME, "
			"cloudevents, webhook, payload)");
	load_fails_with(FN_HEAD "    aliases: { prod: { version: 0 } }\n", 5,
			"version must be at least 1");
	host_fails_with(FN_HEAD "routes:\n  - mqtt: a\n    function: hello\n    qos: 2\n", 8,
			"qos must be between 0 and 1");	/* QoS 2: see plugins/mqtt */
}
END_TEST

/* ---- plugin options -------------------------------------------------------- */

struct test_opts {
	char *name;
	bool flag;
	int64_t count;
	int64_t wait_ms;
	uint64_t max_body;
	int kind;
	struct spur_strlist listen;
	double ratio;
	char *unset;
};

static const struct spur_option test_table[] = {
	{ .type = SPUR_OPT_STRING, .name = "name", .def = "spur",
	  .offset = offsetof(struct test_opts, name), .description = "a name" },
	{ .type = SPUR_OPT_BOOL, .name = "flag", .def = "true",
	  .offset = offsetof(struct test_opts, flag), .description = "a flag" },
	{ .type = SPUR_OPT_INT, .name = "count", .def = "4",
	  .offset = offsetof(struct test_opts, count), .description = "a count",
	  .min = 1, .max = 10 },
	{ .type = SPUR_OPT_DURATION, .name = "wait", .def = "2s",
	  .offset = offsetof(struct test_opts, wait_ms), .description = "a wait",
	  .min = 1, .max = 60000 },
	{ .type = SPUR_OPT_SIZE, .name = "max_body", .def = "6MiB",
	  .offset = offsetof(struct test_opts, max_body), .description = "a size",
	  .min = 1024, .max = 1 << 30 },
	{ .type = SPUR_OPT_ENUM, .name = "kind", .def = "b",
	  .offset = offsetof(struct test_opts, kind), .description = "a kind",
	  .choices = "a|b|c" },
	{ .type = SPUR_OPT_STRLIST, .name = "listen", .def = "127.0.0.1:8080",
	  .offset = offsetof(struct test_opts, listen), .description = "addresses" },
	{ .type = SPUR_OPT_DOUBLE, .name = "ratio", .def = "0.5",
	  .offset = offsetof(struct test_opts, ratio), .description = "a ratio" },
	{ .type = SPUR_OPT_STRING, .name = "unset",
	  .offset = offsetof(struct test_opts, unset), .description = "no default" },
	{ .name = NULL },
};

static int plugin_opts(struct spur_config *cfg, const char *name, struct test_opts *o)
{
	FILE *err;
	int r;

	memset(o, 0, sizeof(*o));
	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &errlen);
	r = spur_config_plugin_options(cfg, name, test_table, o, err);
	fclose(err);
	return r;
}

START_TEST(plugin_options_parse)
{
	struct spur_config *cfg = load(
		"tp:\n"
		"  name: other\n"
		"  flag: false\n"
		"  count: 10\n"
		"  wait: 250ms\n"
		"  max_body: 1MiB\n"
		"  kind: c\n"
		"  listen: [ \"0.0.0.0:1\", \"[::1]:2\" ]\n"
		"  ratio: 1.25\n");
	struct test_opts o;

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_int_eq(plugin_opts(cfg, "tp", &o), 0);
	ck_assert_str_eq(errtext, "");
	ck_assert_str_eq(o.name, "other");
	ck_assert(!o.flag);
	ck_assert_int_eq(o.count, 10);
	ck_assert_int_eq(o.wait_ms, 250);
	ck_assert_uint_eq(o.max_body, 1 << 20);
	ck_assert_int_eq(o.kind, 2);
	ck_assert_uint_eq(o.listen.n, 2);
	ck_assert_str_eq(o.listen.v[1], "[::1]:2");
	ck_assert(o.ratio == 1.25);
	ck_assert_ptr_null(o.unset);
	ck_assert(cfg->sections[0].claimed);

	/* Absent section: every default. */
	ck_assert_int_eq(plugin_opts(cfg, "absent", &o), 0);
	ck_assert_str_eq(o.name, "spur");
	ck_assert(o.flag);
	ck_assert_int_eq(o.count, 4);
	ck_assert_int_eq(o.wait_ms, 2000);
	ck_assert_uint_eq(o.max_body, 6 << 20);
	ck_assert_int_eq(o.kind, 1);
	ck_assert_uint_eq(o.listen.n, 1);
	ck_assert_str_eq(o.listen.v[0], "127.0.0.1:8080");
	ck_assert(o.ratio == 0.5);
	spur_config_free(cfg);
}
END_TEST

START_TEST(plugin_options_errors)
{
	struct spur_config *cfg = load(
		"tp:\n"
		"  count: 11\n"
		"  wait: 2m\n"
		"  max_body: 10\n"
		"  kind: d\n"
		"  flag: yes\n"
		"  nmae: x\n"
		"  listen: { a: 1 }\n");
	struct test_opts o;

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_int_eq(plugin_opts(cfg, "tp", &o), -EINVAL);
	assert_line(2, "count must be between 1 and 10");
	assert_line(3, "wait must be between 1ms and 60s");
	assert_line(4, "max_body must be between 1KiB and 1GiB");
	assert_line(5, "kind: expected one of a|b|c, got 'd'");
	assert_line(6, "flag: expected true or false, got 'yes'");
	assert_line(7, "unknown key 'nmae' (did you mean 'name'?)");
	assert_line(8, "listen: expected a string or a list of strings, got a mapping");
	ck_assert_int_eq(count_lines(errtext), 7);
	spur_config_free(cfg);

	cfg = load("tp: [ 1 ]\n");
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(plugin_opts(cfg, "tp", &o), -EINVAL);
	assert_line(1, "tp: expected a mapping, got a list");
	spur_config_free(cfg);
}
END_TEST

START_TEST(unclaimed_sections)
{
	struct spur_config *cfg = load(
		"mqtt:\n  url: mqtt://x\n"	/* 1 */
		"htp:\n  listen: x\n"		/* 3 */
		"http:\n  listen: y\n"		/* 5 */
		"mystery: 1\n");		/* 7 */
	struct test_opts o;
	FILE *err;
	int r;

	ck_assert_msg(cfg != NULL, "load failed:\n%s", errtext);
	ck_assert_uint_eq(cfg->n_sections, 4);
	ck_assert_int_eq(plugin_opts(cfg, "http", &o), 0);
	ck_assert_str_eq(o.listen.v[0], "y");
	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &errlen);
	r = spur_config_check_unclaimed(cfg, err);
	fclose(err);
	ck_assert_int_eq(r, -EINVAL);
	assert_line(1, "warning: 'mqtt' is not implemented yet and is ignored");
	assert_line(3, "unknown key 'htp' (did you mean 'http'?)");
	assert_line(7, "unknown key 'mystery'");
	ck_assert_int_eq(count_lines(errtext), 3);
	spur_config_free(cfg);

	cfg = load("store: { kind: sqlite }\n");
	ck_assert_ptr_nonnull(cfg);
	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &errlen);
	ck_assert_int_eq(spur_config_check_unclaimed(cfg, err), 0);
	fclose(err);
	ck_assert_int_eq(count_lines(errtext), 0);	/* the host checks store: */
	spur_config_free(cfg);
}
END_TEST

START_TEST(option_help)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	spur_option_help(test_table, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "max_body"));
	ck_assert_ptr_nonnull(strstr(out, "(default: 6MiB)"));
	ck_assert_ptr_nonnull(strstr(out, "[1KiB .. 1GiB]"));
	ck_assert_ptr_nonnull(strstr(out, "a|b|c"));
	ck_assert_ptr_nonnull(strstr(out, "addresses"));
	free(out);
}
END_TEST

/* ---- parsers ------------------------------------------------------------------ */

START_TEST(duration_parser)
{
	int64_t ms = -7;

	ck_assert_int_eq(spur_parse_duration("0", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(spur_parse_duration("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(spur_parse_duration("3s", &ms), 0);
	ck_assert_int_eq(ms, 3000);
	ck_assert_int_eq(spur_parse_duration("5m", &ms), 0);
	ck_assert_int_eq(ms, 300000);
	ck_assert_int_eq(spur_parse_duration("6h", &ms), 0);
	ck_assert_int_eq(ms, 21600000);
	ck_assert_int_eq(spur_parse_duration("1d", &ms), 0);
	ck_assert_int_eq(ms, 86400000);
	ck_assert_int_eq(spur_parse_duration("1h30m", &ms), 0);
	ck_assert_int_eq(ms, 5400000);
	ck_assert_int_eq(spur_parse_duration("0s", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ms = 42;
	ck_assert_int_eq(spur_parse_duration("", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("5", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("-1s", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("+1s", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("1.5s", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration(" 1s", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("1s ", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("1sec", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("1msx", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration("s", &ms), -EINVAL);
	ck_assert_int_eq(spur_parse_duration(NULL, &ms), -EINVAL);
	ck_assert_int_eq(ms, 42);
	ck_assert_int_eq(spur_parse_duration("9223372036854775807ms", &ms), 0);
	ck_assert_int_eq(ms, INT64_MAX);
	ck_assert_int_eq(spur_parse_duration("9223372036854775808ms", &ms), -ERANGE);
	ck_assert_int_eq(spur_parse_duration("106751991167301d", &ms), -ERANGE);
	ck_assert_int_eq(spur_parse_duration("99999999999999999999999s", &ms), -ERANGE);
	ck_assert_int_eq(spur_parse_duration("9223372036854775000ms1s", &ms), -ERANGE);
}
END_TEST

START_TEST(size_parser)
{
	uint64_t b = 7;

	ck_assert_int_eq(spur_parse_size("0", &b), 0);
	ck_assert_uint_eq(b, 0);
	ck_assert_int_eq(spur_parse_size("1000", &b), 0);
	ck_assert_uint_eq(b, 1000);
	ck_assert_int_eq(spur_parse_size("512KiB", &b), 0);
	ck_assert_uint_eq(b, 512 * 1024);
	ck_assert_int_eq(spur_parse_size("64MiB", &b), 0);
	ck_assert_uint_eq(b, 64ull << 20);
	ck_assert_int_eq(spur_parse_size("1GiB", &b), 0);
	ck_assert_uint_eq(b, 1ull << 30);
	ck_assert_int_eq(spur_parse_size("2TiB", &b), 0);
	ck_assert_uint_eq(b, 2ull << 40);
	b = 9;
	ck_assert_int_eq(spur_parse_size("", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("64MB", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("64mib", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("64 MiB", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("-1", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("1.5GiB", &b), -EINVAL);
	ck_assert_int_eq(spur_parse_size("MiB", &b), -EINVAL);
	ck_assert_uint_eq(b, 9);
	ck_assert_int_eq(spur_parse_size("18446744073709551615", &b), 0);
	ck_assert_uint_eq(b, UINT64_MAX);
	ck_assert_int_eq(spur_parse_size("18446744073709551616", &b), -ERANGE);
	ck_assert_int_eq(spur_parse_size("16777216TiB", &b), -ERANGE);
	ck_assert_int_eq(spur_parse_size("16777215TiB", &b), 0);
}
END_TEST

START_TEST(missing_file)
{
	FILE *err;
	char want[400];

	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &errlen);
	ck_assert_ptr_null(spur_config_load("/nonexistent/spur.yaml", err));
	fclose(err);
	snprintf(want, sizeof(want), "/nonexistent/spur.yaml: cannot open: %s\n", strerror(ENOENT));
	ck_assert_str_eq(errtext, want);
	spur_config_free(NULL);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, full_valid);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, json_form);
	tcase_add_test(tc, anchors_and_documents);
	tcase_add_test(tc, unknown_key_suggests);
	tcase_add_test(tc, wrong_type);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, bad_duration_and_size);
	tcase_add_test(tc, duplicate_key);
	tcase_add_test(tc, route_errors);
	tcase_add_test(tc, function_errors);
	tcase_add_test(tc, yaml_syntax_error);
	tcase_add_test(tc, yaml_limits);
	tcase_add_test(tc, all_errors_reported);
	tcase_add_test(tc, future_keys_warn);
	tcase_add_test(tc, plugin_options_parse);
	tcase_add_test(tc, plugin_options_errors);
	tcase_add_test(tc, unclaimed_sections);
	tcase_add_test(tc, option_help);
	tcase_add_test(tc, duration_parser);
	tcase_add_test(tc, size_parser);
	tcase_add_test(tc, missing_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
