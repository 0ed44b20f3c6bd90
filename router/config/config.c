/* SPDX-License-Identifier: MIT */
/*
 * config.c - the loading of struct spur_config and the core of the schema
 * of SPEC §4.2.
 *
 * Owns spur_config_load()/spur_config_free(), the core tables (top level,
 * log, arn, admin, functions, routes and the keys of features not built
 * yet), the custom kinds the generic walker cannot express (function maps,
 * env maps, routes, aliases, provisioned counts), the string checks behind
 * routes (topic filters, "METHOD /path"), the cross-check of routes (they
 * name existing functions, no duplicate binding), and plugin sections:
 * unknown top-level keys are kept and parsed later by the plugin of that
 * name (spur_config_plugin_options()); the rest become errors.
 *
 * queues:, destinations:, mappings: and the cross-checks of references
 * between sections are in config_sections.c; the table initialisers and
 * name checks both files use are in config_priv.h. The walker, value
 * formats and messages are in option.c (schema.h); YAML reading, anchors
 * and the merge key are in yaml.c. Errors do not stop a load: all are
 * written as "FILE:LINE: message", then the load fails. Strings live in
 * the config's pool; function and route arrays are plain callocs. Runs
 * once per load on the loading thread; the result is immutable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(sizeof(enum spur_log_level) == sizeof(int), "ENUM options write an int");
_Static_assert(sizeof(enum spur_log_format) == sizeof(int), "ENUM options write an int");

/* ---- custom kinds --------------------------------------------------------- */

static void parse_env(struct spur_walk *w, const struct spur_ypair *p, void *base,
		      const struct spur_field *f)
{
	const struct spur_ynode *v = p->value;
	struct spur_fn_config *fn = base;
	size_t i;

	if (spur_yaml_is_null(v))
		return;
	if (v->kind != SPUR_YNODE_MAP) {
		spur_option_report(w, v->line, "env: expected a mapping of NAME: value, got %s",
				   spur_yaml_kind_name(v));
		return;
	}
	if (w->store && !(fn->env = spur_option_mem_alloc(w->cfg, (v->n ? v->n : 1) * sizeof(*fn->env)))) {
		spur_option_oom(w, v->line);
		return;
	}
	for (i = 0; i < v->n; i++) {
		const struct spur_ypair *e = &v->pairs[i];
		const char *val = spur_yaml_is_null(e->value) ? "" : e->value->text;

		if (!is_env_name(e->key)) {
			spur_option_report(w, e->line, "env: '%s' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
					   e->key);
			continue;
		}
		if (e->value->kind != SPUR_YNODE_SCALAR) {
			spur_option_report(w, e->value->line, "env: %s: expected a string, got %s", e->key,
					   spur_yaml_kind_name(e->value));
			continue;
		}
		if (!w->store)
			continue;
		fn->env[fn->n_env] = (struct spur_env_pair){
			.key = spur_option_mem_strdup(w->cfg, e->key),
			.value = spur_option_mem_strdup(w->cfg, val),
		};
		if (!fn->env[fn->n_env].key || !fn->env[fn->n_env].value) {
			spur_option_oom(w, e->line);
			return;
		}
		fn->n_env++;
	}
}

/* A mapping of NAME -> integer (provisioned: { prod: 2 }). Checked only. */
static void check_int_map(struct spur_walk *w, const struct spur_ypair *p, void *base,
			  const struct spur_field *f)
{
	static const struct spur_field count = CHECK(SPUR_OPT_INT, "count", NULL, 0, 100000);
	const struct spur_ynode *v = p->value;
	size_t i;

	if (spur_yaml_is_null(v))
		return;
	if (v->kind != SPUR_YNODE_MAP) {
		spur_option_report(w, v->line, "%s: expected a mapping, got %s", p->key, spur_yaml_kind_name(v));
		return;
	}
	for (i = 0; i < v->n; i++) {
		struct spur_ypair q = v->pairs[i];
		struct spur_field g = count;

		g.opt.name = q.key;
		spur_option_parse_leaf(w, &q, NULL, &g);
	}
}

/* aliases: { prod: 1, canary: { version: 2, weights: { 3: 0.1 } } }. Checked only. */
static void check_aliases(struct spur_walk *w, const struct spur_ypair *p, void *base,
			  const struct spur_field *f)
{
	static const struct spur_field version = CHECK(SPUR_OPT_INT, "version", NULL, 1, INT64_MAX);
	static const struct spur_field weight = CHECK(SPUR_OPT_DOUBLE, "weight", NULL, 0, 1);
	static const struct spur_field alias_table[] = {
		CHECK(SPUR_OPT_INT, "version", "the version the alias points to", 1, INT64_MAX),
		CHECK(SPUR_OPT_DOUBLE, "weights", "VERSION: share routed to another version", 0, 1),
		END,
	};
	const struct spur_ynode *v = p->value;
	size_t i, j;

	if (spur_yaml_is_null(v))
		return;
	if (v->kind != SPUR_YNODE_MAP) {
		spur_option_report(w, v->line, "aliases: expected a mapping of alias names, got %s",
				   spur_yaml_kind_name(v));
		return;
	}
	for (i = 0; i < v->n; i++) {
		const struct spur_ypair *a = &v->pairs[i];
		const struct spur_ypair *vp, *wp;

		/* An all-digit name would read as a version number. */
		if (!is_fn_name(a->key) || !a->key[strspn(a->key, "0123456789")]) {
			spur_option_report(w, a->line, "aliases: '%s' is not a valid alias name", a->key);
			continue;
		}
		if (a->value->kind == SPUR_YNODE_SCALAR) {
			spur_option_parse_leaf(w, a, NULL, &version);
			continue;
		}
		if (a->value->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, a->value->line, "%s: expected a version number or a mapping, got %s",
					   a->key, spur_yaml_kind_name(a->value));
			continue;
		}
		for (j = 0; j < a->value->n; j++)
			if (strcmp(a->value->pairs[j].key, "version") != 0 &&
			    strcmp(a->value->pairs[j].key, "weights") != 0)
				spur_option_unknown_key(w, &a->value->pairs[j], alias_table);
		vp = spur_yaml_map_find(a->value, "version");
		if (vp)
			spur_option_parse_leaf(w, vp, NULL, &version);
		else
			spur_option_report(w, a->line, "%s: missing required key 'version'", a->key);
		wp = spur_yaml_map_find(a->value, "weights");
		if (!wp || spur_yaml_is_null(wp->value))
			continue;
		if (wp->value->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, wp->value->line, "weights: expected a mapping, got %s",
					   spur_yaml_kind_name(wp->value));
			continue;
		}
		for (j = 0; j < wp->value->n; j++) {
			const struct spur_ypair *q = &wp->value->pairs[j];

			if (!q->key[0] || q->key[strspn(q->key, "0123456789")])
				spur_option_report(w, q->line, "weights: '%s' is not a version number", q->key);
			else
				spur_option_parse_leaf(w, q, NULL, &weight);
		}
	}
}

/* ---- the schema ------------------------------------------------------------ */

/* A route while it is parsed: mode and kind are resolved afterwards. */
struct route_tmp {
	struct spur_route_config r;
	int mode;		/* -1: not given */
};

static void parse_route_match(struct spur_walk *w, const struct spur_ypair *p, void *base,
			      const struct spur_field *f);

#define FN struct spur_fn_config
/* Lambda's default: 1 min, then 2 min (factor 2, capped at 5 min). */
static const struct spur_field backoff_table[] = {
	LEAF(SPUR_OPT_DURATION, "base", "1m", FN, backoff_base_ms, "first retry delay",
	     1, 7 * MS_D),
	LEAF(SPUR_OPT_DOUBLE, "factor", "2", FN, backoff_factor, "growth per retry", 1, 10),
	LEAF(SPUR_OPT_DURATION, "cap", "5m", FN, backoff_cap_ms, "longest delay", 1, 7 * MS_D),
	LEAF(SPUR_OPT_ENUM, "jitter", "none", FN, backoff_jitter, "none | full", 0, 0,
	     .opt.choices = "none|full"),
	END,
};

static const struct spur_field async_table[] = {
	LEAF(SPUR_OPT_INT, "max_retries", "2", FN, max_retries, "retries after a function error",
	     0, 10),
	LEAF(SPUR_OPT_DURATION, "max_event_age", "6h", FN, max_event_age_ms,
	     "give up on older events", MS_S, 7 * MS_D),
	SECTION("backoff", backoff_table, "retry schedule"),
	LEAF(SPUR_OPT_STRLIST, "on_success", NULL, FN, on_success,
	     "destinations of success records", 0, 0, .check = is_destination,
	     .what = "a destination URI (file://, queue://, function://) or name"),
	LEAF(SPUR_OPT_STRLIST, "on_failure", NULL, FN, on_failure,
	     "destinations of failure records", 0, 0, .check = is_destination,
	     .what = "a destination URI (file://, queue://, function://) or name"),
	END,
};
#undef FN

#define IDEM_TABLE(name, st, m)							\
static const struct spur_field name[] = {						\
	LEAF(SPUR_OPT_STRING, "key", NULL, st, m.key, "where the key comes from", 0, 0,	\
	     .flags = SPUR_FIELD_REQUIRED, .check = is_idem_key,			\
	     .what = "a key source (header:NAME, json:/pointer, mqtt:NAME, cloudevents, webhook, payload)"), \
	LEAF(SPUR_OPT_DURATION, "ttl", "24h", st, m.ttl_ms, "how long keys are kept",	\
	     MS_S, 30 * MS_D),								\
	END,										\
}
IDEM_TABLE(fn_idempotency_table, struct spur_fn_config, idem);
IDEM_TABLE(route_idempotency_table, struct route_tmp, r.idem);

static const struct spur_field concurrency_table[] = {
	LEAF(SPUR_OPT_INT, "reserved", NULL, struct spur_fn_config, reserved,
	     "at most this many invocations at once (0 throttles all)", 0, 100000),
	CHECK(SPUR_OPT_INT, "provisioned", "contexts kept warm", 0, 100000,
	      .flags = SPUR_FIELD_FUTURE),
	END,
};

#define FN struct spur_fn_config
static const struct spur_field function_table[] = {
	LEAF(SPUR_OPT_STRING, "runtime", NULL, FN, runtime, "runtime plugin (lua, native, ...)",
	     0, 0, .flags = SPUR_FIELD_REQUIRED, .check = is_word, .what = "a runtime name"),
	LEAF(SPUR_OPT_STRING, "code", NULL, FN, code, "file or directory of the handler",
	     0, 0, .flags = SPUR_FIELD_REQUIRED | SPUR_FIELD_PATH | SPUR_FIELD_EXISTS),
	LEAF(SPUR_OPT_STRING, "handler", "handle", FN, handler, "handler name", 0, 0),
	LEAF(SPUR_OPT_DURATION, "timeout", "3s", FN, timeout_ms, "run time limit", 1, 900 * MS_S),
	LEAF(SPUR_OPT_DURATION, "init_timeout", "10s", FN, init_timeout_ms, "INIT time limit",
	     1, 900 * MS_S),
	LEAF(SPUR_OPT_SIZE, "memory", "128MiB", FN, memory, "memory limit", MIB, 16 * GIB),
	LEAF(SPUR_OPT_SIZE, "tmp_size", "512MiB", FN, tmp_size, "scratch directory limit",
	     0, 10 * GIB),
	LEAF(SPUR_OPT_DURATION, "idle_ttl", "5m", FN, idle_ttl_ms, "idle context lifetime",
	     MS_S, 7 * MS_D),
	LEAF(SPUR_OPT_INT, "max_uses", "0", FN, max_uses, "invocations per context (0: no limit)",
	     0, INT64_MAX),
	CUSTOM("env", parse_env, "environment variables"),
	SECTION("concurrency", concurrency_table, "concurrency limits"),
	CUSTOM("aliases", check_aliases, "alias names to versions"),
	CUSTOM("provisioned", check_int_map, "warm contexts per alias or version"),
	SECTION("async", async_table, "asynchronous invocation"),
	SECTION("idempotency", fn_idempotency_table, "idempotency keys"),
	CHECK(SPUR_OPT_STRING, "description", "free text", 0, 0, .flags = SPUR_FIELD_FUTURE),
	END,
};
#undef FN

#define RT struct route_tmp
static const struct spur_field route_table[] = {
	CUSTOM("http", parse_route_match, "\"METHOD /path\""),
	CUSTOM("mqtt", parse_route_match, "MQTT topic filter"),
	CUSTOM("zmq", parse_route_match, "\"pull|sub ENDPOINT\" (a ZeroMQ source socket)"),
	LEAF(SPUR_OPT_STRING, "function", NULL, RT, r.target, "fn[:qualifier]", 0, 0,
	     .check = is_target, .what = "a function name[:qualifier]"),
	{ .opt = { .type = SPUR_OPT_ENUM, .name = "mode", .offset = offsetof(RT, mode),
		   .description = "sync | async", .choices = "sync|async" } },
	SECTION("idempotency", route_idempotency_table, "idempotency keys"),
	LEAF(SPUR_OPT_STRING, "queue", NULL, RT, r.queue, "a queue (instead of a function)", 0, 0,
	     .check = is_fn_name, .what = "a queue name"),
	END,
};
#undef RT

static const struct spur_field log_table[] = {
	LEAF(SPUR_OPT_ENUM, "level", "info", struct spur_config, log_level,
	     "error | warn | info | debug", 0, 0, .opt.choices = "error|warn|info|debug"),
	LEAF(SPUR_OPT_ENUM, "format", "text", struct spur_config, log_format,
	     "text | json", 0, 0, .opt.choices = "text|json"),
	END,
};

static const struct spur_field arn_table[] = {
	LEAF(SPUR_OPT_STRING, "region", "us-east-1", struct spur_config, arn_region,
	     "ARN region", 0, 0, .check = is_region, .what = "a region name"),
	LEAF(SPUR_OPT_STRING, "account", "000000000000", struct spur_config, arn_account,
	     "ARN account", 0, 0, .check = is_account, .what = "a 12-digit account id"),
	END,
};

static const struct spur_field admin_table[] = {
	LEAF(SPUR_OPT_STRING, "token_env", "SPUR_ADMIN_TOKEN", struct spur_config,
	     admin_token_env, "variable holding the admin token", 0, 0,
	     .check = is_env_name, .what = "an environment variable name"),
	END,
};

/* A key of a function or route that the core does not know: the plugin
 * serving it (a runtime, a source) may declare it. The host checks it
 * once the plugins are loaded (spur_config_check_plugin_keys). */
static bool defer_key(struct spur_walk *w, const struct spur_ypair *p)
{
	return true;
}

static void parse_functions(struct spur_walk *w, const struct spur_ypair *p, void *base,
			    const struct spur_field *f);
static void parse_routes(struct spur_walk *w, const struct spur_ypair *p, void *base,
			 const struct spur_field *f);

static const struct spur_field top_table[] = {
	LEAF(SPUR_OPT_STRING, "state_dir", "var", struct spur_config, state_dir,
	     "durable state", 0, 0, .flags = SPUR_FIELD_PATH),
	SECTION("log", log_table, "logging"),
	LEAF(SPUR_OPT_STRLIST, "plugin_dir", NULL, struct spur_config, plugin_dirs,
	     "more plugin directories", 0, 0, .flags = SPUR_FIELD_PATH),
	SECTION("arn", arn_table, "ARN parts"),
	SECTION("admin", admin_table, "management API"),
	CUSTOM("functions", parse_functions, "functions by name"),
	CUSTOM("routes", parse_routes, "ingress bindings"),
	CUSTOM("queues", spur_config_parse_queues, "internal queues by name"),
	CUSTOM("destinations", spur_config_parse_destinations, "named destinations"),
	CUSTOM("mappings", spur_config_parse_mappings, "event-source mappings (queues polled in batches)"),
	END,
};

/* Top-level sections of features not built yet (when no plugin claims them). */
static const char *const future_sections[] = {
	"mqtt", "zmq", "nats",
};

static bool valid_topic_filter(const char *s)
{
	const char *lvl = s;

	if (!*s || strlen(s) > 65535)
		return false;
	for (;;) {
		const char *slash = strchr(lvl, '/');
		size_t n = slash ? (size_t)(slash - lvl) : strlen(lvl);

		if (memchr(lvl, '+', n) && n != 1)
			return false;
		if (memchr(lvl, '#', n) && (n != 1 || slash))
			return false;
		if (!slash)
			return true;
		lvl = slash + 1;
	}
}

static bool valid_http_match(const char *s)
{
	static const char *const methods[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
	};
	const char *sp = strchr(s, ' ');
	size_t i;

	if (!sp || sp[1] != '/' || strpbrk(sp + 1, " \t\r\n"))
		return false;
	for (i = 0; i < COUNT(methods); i++)
		if (strlen(methods[i]) == (size_t)(sp - s) && strncmp(s, methods[i], sp - s) == 0)
			return true;
	return false;
}

static void parse_route_match(struct spur_walk *w, const struct spur_ypair *p, void *base,
			      const struct spur_field *f)
{
	struct route_tmp *rt = base;
	const struct spur_ynode *v = p->value;
	bool http = strcmp(p->key, "http") == 0;
	bool zmq = strcmp(p->key, "zmq") == 0;

	if (rt->r.kind) {
		spur_option_report(w, p->line, "a route has exactly one of 'http', 'mqtt' or 'zmq'");
		return;
	}
	rt->r.kind = (char *)p->key;	/* replaced by a pool copy below */
	if (v->kind != SPUR_YNODE_SCALAR || spur_yaml_is_null(v)) {
		spur_option_report(w, v->line, "%s: expected %s, got %s", p->key,
				   http ? "\"METHOD /path\"" : zmq ? "\"pull|sub ENDPOINT\"" :
				   "a topic filter",
				   spur_yaml_is_null(v) ? "nothing" : spur_yaml_kind_name(v));
		return;
	}
	if (zmq && !(strncmp(v->text, "pull ", 5) == 0 || strncmp(v->text, "sub ", 4) == 0)) {
		spur_option_report(w, v->line, "zmq: '%s' is not \"pull ENDPOINT\" or \"sub ENDPOINT\"",
				   v->text);
		return;
	}
	if (http && !valid_http_match(v->text)) {
		spur_option_report(w, v->line, "http: '%s' is not \"METHOD /path\" (METHOD: GET, POST, PUT, "
				   "PATCH, DELETE, HEAD, OPTIONS or ANY)", v->text);
		return;
	}
	if (!http && !zmq && !valid_topic_filter(v->text)) {
		spur_option_report(w, v->line, "mqtt: '%s' is not a valid topic filter", v->text);
		return;
	}
	rt->r.kind = spur_option_mem_strdup(w->cfg, p->key);
	rt->r.match = spur_option_mem_strdup(w->cfg, v->text);
	if (!rt->r.kind || !rt->r.match)
		spur_option_oom(w, p->line);
}

/* The section's n items as a zeroed array of `size`-byte elements, or NULL
 * (reported) when the node is not of `kind`, or null/empty. */
void *spur_config_section_array(struct spur_walk *w, const struct spur_ynode *v,
				enum spur_ynode_kind kind, size_t size, const char *what)
{
	void *a;

	if (spur_yaml_is_null(v))
		return NULL;
	if (v->kind != kind) {
		spur_option_report(w, v->line, "%s, got %s", what, spur_yaml_kind_name(v));
		return NULL;
	}
	a = calloc(v->n ? v->n : 1, size);
	if (!a)
		spur_option_oom(w, v->line);
	return a;
}

bool spur_config_function_key_is_core(const char *key)
{
	for (const struct spur_field *f = function_table; f->opt.name; f++)
		if (strcmp(f->opt.name, key) == 0)
			return true;
	return false;
}

static void parse_functions(struct spur_walk *w, const struct spur_ypair *p, void *base,
			    const struct spur_field *f)
{
	struct spur_config *cfg = base;
	const struct spur_ynode *v = p->value;
	size_t i;

	cfg->functions = spur_config_section_array(w, v, SPUR_YNODE_MAP,
						   sizeof(*cfg->functions),
						   "functions: expected a mapping of function names");
	if (!cfg->functions)
		return;
	for (i = 0; i < v->n; i++) {
		const struct spur_ypair *fp = &v->pairs[i];
		struct spur_fn_config *fn = &cfg->functions[cfg->n_functions];

		if (!is_fn_name(fp->key)) {
			spur_option_report(w, fp->line, "invalid function name '%s' (1 to 64 letters, digits, "
					   "'-' or '_')", fp->key);
			continue;
		}
		*fn = (struct spur_fn_config){
			.name = spur_option_mem_strdup(cfg, fp->key),
			.line = fp->line,
			.reserved = -1,
			.node = fp->value,
		};
		if (!fn->name) {
			spur_option_oom(w, fp->line);
			return;
		}
		cfg->n_functions++;
		spur_option_walk(w, fp->value, function_table, fn, fp->line, fp->key, defer_key);
	}
}

static void parse_routes(struct spur_walk *w, const struct spur_ypair *p, void *base,
			 const struct spur_field *f)
{
	struct spur_config *cfg = base;
	const struct spur_ynode *v = p->value;
	size_t i;

	cfg->routes = spur_config_section_array(w, v, SPUR_YNODE_SEQ, sizeof(*cfg->routes),
						"routes: expected a list of routes");
	if (!cfg->routes)
		return;
	for (i = 0; i < v->n; i++) {
		const struct spur_ynode *it = v->items[i];
		struct route_tmp rt = { .r = { .line = it->line, .node = it }, .mode = -1 };

		if (it->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, it->line, "routes: expected a mapping (a route), got %s",
					   spur_yaml_kind_name(it));
			continue;
		}
		spur_option_walk(w, it, route_table, &rt, it->line, "route", defer_key);
		if (!rt.r.kind) {
			spur_option_report(w, it->line, "a route needs one of 'http', 'mqtt' or 'zmq'");
			continue;
		}
		if (!rt.r.target == !rt.r.queue) {
			spur_option_report(w, it->line, rt.r.queue ?
					   "route: 'function' and 'queue' exclude each other" :
					   "route: missing required key 'function'");
			continue;
		}
		if (rt.r.queue) {	/* what logs and plugins show as the target */
			char t[80];

			snprintf(t, sizeof(t), "queue://%s", rt.r.queue);
			if (!(rt.r.target = spur_option_mem_strdup(w->cfg, t))) {
				spur_option_oom(w, it->line);
				continue;
			}
		}
		if (rt.mode >= 0)
			rt.r.mode = rt.mode == 0 ? SPUR_MODE_SYNC : SPUR_MODE_ASYNC;
		else
			rt.r.mode = strcmp(rt.r.kind, "http") == 0 ? SPUR_MODE_SYNC : SPUR_MODE_ASYNC;
		cfg->routes[cfg->n_routes++] = rt.r;
	}
}

static bool add_section(struct spur_walk *w, const struct spur_ypair *p)
{
	static const char *const long_core[] = {
		"state_dir", "plugin_dir", "admin", "functions", "routes",
	};
	struct spur_config *cfg = w->cfg;
	struct spur_plugin_section *s;
	const char *hint = spur_option_closest(p->key, long_core, COUNT(long_core));
	size_t i;

	/* A near miss of a long core key is a typo, not a plugin's name. */
	for (i = 0; i < COUNT(future_sections); i++)
		if (strcmp(p->key, future_sections[i]) == 0)
			hint = NULL;
	if (hint && strlen(p->key) >= 5) {
		spur_option_report(w, p->line, "unknown key '%s' (did you mean '%s'?)", p->key, hint);
		return true;
	}
	s = realloc(cfg->sections, (cfg->n_sections + 1) * sizeof(*s));
	if (!s) {
		spur_option_oom(w, p->line);
		return true;
	}
	cfg->sections = s;
	s[cfg->n_sections] = (struct spur_plugin_section){
		.name = spur_option_mem_strdup(cfg, p->key),
		.line = p->line,
		.node = p->value,
	};
	if (!s[cfg->n_sections].name)
		spur_option_oom(w, p->line);
	cfg->n_sections++;
	return true;
}

/* Routes name functions that exist; no two routes bind the same thing. */
static void check_routes(struct spur_walk *w)
{
	const struct spur_config *cfg = w->cfg;
	size_t i, j;

	for (i = 0; i < cfg->n_routes; i++) {
		const struct spur_route_config *r = &cfg->routes[i];
		char name[65];
		size_t n;

		if (!r->target || !r->match)
			continue;
		n = strcspn(r->target, ":");
		if (!r->queue && n < sizeof(name)) {
			memcpy(name, r->target, n);
			name[n] = '\0';
			if (!spur_config_function(cfg, name))
				spur_option_report(w, r->line, "route %s '%s': no function named '%s'",
						   r->kind, r->match, name);
		}
		for (j = 0; j < i; j++)
			if (cfg->routes[j].match && strcmp(cfg->routes[j].kind, r->kind) == 0 &&
			    strcmp(cfg->routes[j].match, r->match) == 0) {
				spur_option_report(w, r->line, "duplicate route %s '%s' (first at line %d)",
						   r->kind, r->match, cfg->routes[j].line);
				break;
			}
	}
}

static char *config_dir(struct spur_config *cfg, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d, *abs;
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (slash && n == 0)
		return spur_option_mem_strdup(cfg, "/");
	d = malloc(n + 2);
	if (!d)
		return NULL;
	if (slash)
		memcpy(d, path, n);
	else
		d[n++] = '.';
	d[n] = '\0';
	abs = realpath(d, NULL);
	free(d);
	if (!abs)
		return NULL;
	d = spur_option_mem_strdup(cfg, abs);
	free(abs);
	return d;
}

/* ---- public ------------------------------------------------------------------ */

struct spur_config *spur_config_load(const char *path, FILE *err)
{
	struct spur_config *cfg = calloc(1, sizeof(*cfg));
	struct spur_walk w = { .cfg = cfg, .err = err, .store = true };
	const struct spur_ynode *root;

	if (!cfg || !(cfg->file = spur_option_mem_strdup(cfg, path))) {
		fprintf(err, "%s: out of memory\n", path);
		goto fail;
	}
	cfg->doc = spur_yaml_load(path, err);
	if (!cfg->doc)
		goto fail;
	cfg->dir = config_dir(cfg, path);
	if (!cfg->dir) {
		fprintf(err, "%s: cannot resolve the file's directory: %s\n", path, strerror(errno));
		goto fail;
	}
	root = spur_yaml_root(cfg->doc);
	if (root->kind != SPUR_YNODE_MAP && !spur_yaml_is_null(root)) {
		spur_option_report(&w, root->line, "expected a mapping at the top level, got %s",
				   spur_yaml_kind_name(root));
		goto fail;
	}
	spur_option_walk(&w, root, top_table, cfg, root->line, "config", add_section);
	check_routes(&w);
	spur_config_check_destinations(&w);
	spur_config_check_queues(&w);
	if (w.errors)
		goto fail;
	return cfg;
fail:
	spur_config_free(cfg);
	return NULL;
}

void spur_config_free(struct spur_config *cfg)
{
	if (!cfg)
		return;
	spur_option_mem_free(cfg);
	free(cfg->functions);
	free(cfg->routes);
	free(cfg->queues);
	free(cfg->mappings);
	free(cfg->dests);
	free(cfg->sections);
	spur_yaml_free(cfg->doc);
	free(cfg);
}

const struct spur_fn_config *spur_config_function(const struct spur_config *cfg,
						  const char *name)
{
	size_t i;

	for (i = 0; cfg && name && i < cfg->n_functions; i++)
		if (strcmp(cfg->functions[i].name, name) == 0)
			return &cfg->functions[i];
	return NULL;
}

static void skip_key(struct spur_walk *w, const struct spur_ypair *p, void *base,
		     const struct spur_field *f)
{
}

/* Walk `n` with a plugin's table (plus `skip`, a key the caller owns). */
static int walk_plugin_table(struct spur_config *cfg, const struct spur_ynode *n, int line,
			     const char *owner, const struct spur_option *table,
			     const char *skip, void *out, FILE *err)
{
	struct spur_walk w = { .cfg = cfg, .err = err, .store = true };
	size_t i, k = 0;

	while (table && table[k].name)
		k++;
	struct spur_field *fields = calloc(k + 2, sizeof(*fields));
	if (!fields) {
		fprintf(err, "%s: out of memory\n", cfg->file);
		return -ENOMEM;
	}
	for (i = 0; i < k; i++)
		fields[i] = (struct spur_field){ .opt = table[i], .kind = SPUR_FIELD_LEAF };
	if (skip)
		fields[k] = (struct spur_field){ .opt = { .name = skip }, .kind = SPUR_FIELD_CUSTOM,
						 .parse = skip_key };
	spur_option_walk(&w, n, fields, out, line, owner, NULL);
	free(fields);
	return w.errors ? -EINVAL : 0;
}

int spur_config_plugin_options(struct spur_config *cfg, const char *name,
			       const struct spur_option *table, void *out, FILE *err)
{
	struct spur_plugin_section *sec = NULL;

	for (size_t i = 0; i < cfg->n_sections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			sec = &cfg->sections[i];
	if (sec)
		sec->claimed = true;
	return walk_plugin_table(cfg, sec ? sec->node : NULL, sec ? sec->line : 1, name, table,
				 NULL, out, err);
}

int spur_config_destination_options(struct spur_config *cfg, const struct spur_dest_config *d,
				    const struct spur_option *table, void *out, FILE *err)
{
	char owner[160];
	snprintf(owner, sizeof(owner), "destination '%s'", d->name);
	return walk_plugin_table(cfg, d->node, d->line, owner, table, "type", out, err);
}

int spur_config_check_unclaimed(const struct spur_config *cfg, FILE *err)
{
	struct spur_walk w = { .cfg = (struct spur_config *)cfg, .err = err, .store = true };
	const char *names[64];
	size_t i, j, n = 0;

	for (i = 0; top_table[i].opt.name; i++)
		names[n++] = top_table[i].opt.name;
	for (i = 0; i < COUNT(future_sections); i++)
		names[n++] = future_sections[i];
	for (i = 0; i < cfg->n_sections && n < COUNT(names); i++)
		if (cfg->sections[i].claimed)
			names[n++] = cfg->sections[i].name;
	for (i = 0; i < cfg->n_sections; i++) {
		const struct spur_plugin_section *s = &cfg->sections[i];
		const char *hint;
		bool future = false;

		if (s->claimed || strcmp(s->name, "store") == 0)
			continue;	/* store: the host names the missing store plugin */
		for (j = 0; j < COUNT(future_sections); j++)
			future |= strcmp(s->name, future_sections[j]) == 0;
		if (future) {
			spur_option_warn(&w, s->line, "'%s' is not implemented yet and is ignored", s->name);
			continue;
		}
		hint = spur_option_closest(s->name, names, n);
		if (hint)
			spur_option_report(&w, s->line, "unknown key '%s' (did you mean '%s'?)", s->name, hint);
		else
			spur_option_report(&w, s->line, "unknown key '%s'", s->name);
	}
	return w.errors ? -EINVAL : 0;
}

static void skip_core_key(struct spur_walk *w, const struct spur_ypair *p, void *base,
			  const struct spur_field *f)
{
}

/* Fields for a check-only walk: the core's keys of `core` (already
 * checked: skipped here, named in hints) and a plugin's table, whose
 * dotted names ("verify.scheme") are keys of nested mappings. Freed with
 * free_fields(). */
static struct spur_field *plugin_key_fields(const struct spur_field *core,
					    const struct spur_option *ext)
{
	size_t nc = 0, ne = 0;
	while (core[nc].opt.name)
		nc++;
	while (ext && ext[ne].name)
		ne++;
	struct spur_field *f = calloc(nc + ne + 1, sizeof(*f));
	if (!f)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < nc; i++)
		f[k++] = (struct spur_field){ .opt = { .name = core[i].opt.name },
					      .kind = SPUR_FIELD_CUSTOM, .parse = skip_core_key };
	for (size_t i = 0; i < ne; i++) {
		const char *dot = strchr(ext[i].name, '.');
		if (!dot) {
			f[k++] = (struct spur_field){ .opt = ext[i], .kind = SPUR_FIELD_LEAF,
						      .check_only = true };
			continue;
		}
		size_t plen = (size_t)(dot - ext[i].name);
		struct spur_field *sec = NULL;
		for (size_t j = nc; j < k; j++)
			if (f[j].kind == SPUR_FIELD_SECTION && strlen(f[j].opt.name) == plen &&
			    strncmp(f[j].opt.name, ext[i].name, plen) == 0)
				sec = &f[j];
		if (!sec) {
			char *name = strndup(ext[i].name, plen);
			struct spur_field *sub = calloc(ne + 1, sizeof(*sub));
			if (!name || !sub) {
				free(name);
				free(sub);
				continue;
			}
			sec = &f[k++];
			*sec = (struct spur_field){ .opt = { .name = name },
						    .kind = SPUR_FIELD_SECTION, .sub = sub };
		}
		struct spur_field *sub = (struct spur_field *)sec->sub;
		size_t m = 0;
		while (sub[m].opt.name)
			m++;
		sub[m] = (struct spur_field){ .opt = ext[i], .kind = SPUR_FIELD_LEAF,
					      .check_only = true };
		sub[m].opt.name = dot + 1;
	}
	return f;
}

static void free_fields(struct spur_field *f)
{
	for (size_t i = 0; f && f[i].opt.name; i++)
		if (f[i].kind == SPUR_FIELD_SECTION) {
			free((char *)f[i].opt.name);
			free((void *)f[i].sub);
		}
	free(f);
}

int spur_config_check_plugin_keys(struct spur_config *cfg, const struct spur_ynode *n,
				  int line, const char *owner, enum spur_config_keys which,
				  const struct spur_option *ext, FILE *err)
{
	struct spur_walk w = { .cfg = cfg, .err = err, .store = false };
	struct spur_field *f = plugin_key_fields(which == SPUR_KEYS_ROUTE ? route_table :
						 function_table, ext);
	if (!f) {
		fprintf(err, "%s: out of memory\n", cfg->file);
		return -ENOMEM;
	}
	spur_option_walk(&w, n, f, NULL, line, owner, NULL);
	free_fields(f);
	return w.errors ? -EINVAL : 0;
}
