/* SPDX-License-Identifier: MIT */
/*
 * host.c - the composition root (see host.h): builds every module with
 * the collaborators it needs (config → plugins → registry → run path →
 * front door; at start the store, the outbox, the async queue and the
 * mappings), starts and stops them in order, and reloads. Nothing here is
 * looked up at call time: the SDK's accessors are in sdk.c.
 * Runs on the main thread (reload: also a connection thread, serialized).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "async.h"
#include "host_priv.h"
#include "invoke.h"
#include "mapping.h"
#include "metrics.h"
#include "outbox.h"
#include "run.h"
#include "util.h"
#include "version.h"
#include "workers.h"
#include "yaml.h"

/* Worker threads for runs moved off event loops: at most this many at
 * once (function concurrency limits them first), each with a 1 MiB stack
 * like the HTTP threads they relieve. */
#define HOST_WORKERS_MAX 256
#define HOST_WORKER_STACK ((size_t)1 << 20)

static const struct spur_runtime *runtime_lookup(void *ud, const char *name, void **instance);
static int reload_cb(void *ud, char *why, size_t whylen);
static const struct spur_destination *plugin_destination(void *ud, const char *scheme,
							 void **instance);

/* The run path, the registry's env and the front door (spur_host_new). */
static int build_core(struct spur_host *h)
{
	struct spur_config *cfg = h->cfg;
	h->exec = spur_exec_new(&(struct spur_exec_env){
		.registry = &h->registry, .log = &h->log, .state_dir = cfg->state_dir,
		.arn_region = cfg->arn_region, .arn_account = cfg->arn_account,
	});
	/* runs that leave an event loop: threads on demand, gone after 10 s idle */
	h->workers = spur_workers_new("spur-run", HOST_WORKERS_MAX, 10000, HOST_WORKER_STACK);
	h->intake = spur_intake_new(&(struct spur_intake_env){
		.exec = h->exec, .registry = &h->registry, .log = &h->log, .metrics = h->metrics,
		.workers = h->workers,
	});
	if (!h->exec || !h->intake || !h->workers)
		return -ENOMEM;
	h->reg_env = (struct spur_registry_env){
		.config_file = cfg->file, .state_dir = cfg->state_dir, .log = &h->log,
		.metrics = h->metrics, .runtime = runtime_lookup, .runtime_ud = h,
		.pools = &spur_exec_pool_ops, .pools_ud = h->exec,
	};
	h->api = (struct spur_api){
		.registry = &h->registry, .config = cfg, .log = &h->log,
		.reload = reload_cb, .reload_ud = h,
	};
	h->depth.config = cfg;
	if (spur_metrics_add_collector(h->metrics, spur_exec_collect, &h->registry) < 0 ||
	    spur_metrics_add_collector(h->metrics, spur_queue_depth_collect, &h->depth) < 0)
		return -ENOMEM;
	return 0;
}

static int make_dir(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* store.kind from the store: section (default sqlite), and its line. */
static const char *store_kind(const struct spur_config *cfg, int *line)
{
	for (size_t i = 0; i < cfg->n_sections; i++) {
		const struct spur_plugin_section *s = &cfg->sections[i];
		if (strcmp(s->name, "store") != 0 || s->node->kind != SPUR_YNODE_MAP)
			continue;
		*line = s->line;
		const struct spur_ypair *k = spur_yaml_map_find(s->node, "kind");
		if (k && k->value->kind == SPUR_YNODE_SCALAR)
			return k->value->text;
	}
	return "sqlite";
}

/* The chosen store plugin's options live in store: (SPEC §4.2) beside
 * `kind`: parse them with the plugin's table plus a `kind` entry that
 * writes past the plugin's own block. */
static int store_options(struct spur_config *cfg, struct spur_loaded_plugin *p, FILE *err)
{
	size_t n = 0;
	while (p->desc.options && p->desc.options[n].name)
		n++;
	struct spur_option *table = calloc(n + 2, sizeof(*table));
	size_t off = (p->desc.options_size + 7) & ~(size_t)7;
	p->options = calloc(1, off + sizeof(char *));
	if (!table || !p->options) {
		free(table);
		return -ENOMEM;
	}
	if (n)
		memcpy(table, p->desc.options, n * sizeof(*table));
	table[n] = (struct spur_option){
		.type = SPUR_OPT_STRING, .name = "kind", .def = "sqlite", .offset = off,
		.description = "the store plugin: sqlite (default), nats",
	};
	int rc = spur_config_plugin_options(cfg, "store", table, p->options, err);
	free(table);
	return rc;
}

/* Is `scheme` one of the '|'-separated list? */
static bool scheme_in(const char *list, const char *scheme)
{
	size_t n = strlen(scheme);
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && strncmp(p, scheme, n) == 0)
			return true;
		p += len + (p[len] == '|');
	}
	return false;
}

/* The destination plugin whose scheme list has `scheme`, or NULL. */
static struct spur_loaded_plugin *destination_plugin(struct spur_host *h, const char *scheme)
{
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if ((p->desc.roles & SPUR_ROLE_DESTINATION) && p->desc.destination &&
		    scheme_in(p->desc.destination->scheme, scheme))
			return p;
	}
	return NULL;
}

/* Named destinations (destinations:): each type must be served by a
 * plugin of this build, and a plugin that declares its settings gets them
 * checked and parsed now, so `spur check` reports a misspelt key with its
 * line instead of the first delivery finding it. */
static int check_destinations(struct spur_host *h, FILE *err)
{
	struct spur_config *cfg = h->cfg;
	int rc = 0;
	for (size_t i = 0; i < cfg->n_dests; i++) {
		struct spur_dest_config *d = &cfg->dests[i];
		struct spur_loaded_plugin *p = destination_plugin(h, d->type);
		if (!p) {
			fprintf(err, "%s:%d: destination '%s': no destination plugin serves type '%s' in this build\n",
				cfg->file, d->line, d->name, d->type);
			rc = -EINVAL;
			continue;
		}
		const struct spur_destination *ds = p->desc.destination;
		if (!SPUR_HAS_MEMBER(ds, struct spur_destination, open_named) || !ds->options)
			continue;	/* an ABI 1.0 plugin: it checks the JSON at open */
		d->settings = calloc(1, ds->options_size ? ds->options_size : 1);
		if (!d->settings)
			return -ENOMEM;
		if (spur_config_destination_options(cfg, d, ds->options, d->settings, err) < 0)
			rc = -EINVAL;
	}
	return rc;
}

/* The source plugin named `kind`, or the runtime plugin serving `runtime`. */
static struct spur_loaded_plugin *plugin_for(struct spur_host *h, const char *kind,
					     const char *runtime)
{
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if (kind && (p->desc.roles & SPUR_ROLE_SOURCE) && strcmp(p->desc.name, kind) == 0)
			return p;
		if (runtime && (p->desc.roles & SPUR_ROLE_RUNTIME) && p->desc.runtime &&
		    strcmp(p->desc.runtime->name, runtime) == 0)
			return p;
	}
	return NULL;
}

/* The keys of routes and functions that the core left to their plugins
 * (spur_plugin.route_options, .function_options; zeroed for a plugin
 * built before ABI 1.2, which then accepts none). A route or function
 * whose plugin is not in this build is reported elsewhere. */
static int check_plugin_keys(struct spur_host *h, FILE *err)
{
	struct spur_config *cfg = h->cfg;
	int rc = 0;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct spur_route_config *r = &cfg->routes[i];
		struct spur_loaded_plugin *p = plugin_for(h, r->kind, NULL);
		char owner[64];
		snprintf(owner, sizeof(owner), "route %s", r->kind);
		if (p && spur_config_check_plugin_keys(cfg, r->node, r->line, owner, SPUR_KEYS_ROUTE,
						       p->desc.route_options, err) < 0)
			rc = -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_functions; i++) {
		const struct spur_fn_config *f = &cfg->functions[i];
		struct spur_loaded_plugin *p = plugin_for(h, NULL, f->runtime);
		if (p && spur_config_check_plugin_keys(cfg, f->node, f->line, f->name,
						       SPUR_KEYS_FUNCTION, p->desc.function_options,
						       err) < 0)
			rc = -EINVAL;
	}
	return rc;
}

struct spur_host *spur_host_new(struct spur_config *cfg, FILE *err)
{
	struct spur_host *h = calloc(1, sizeof(*h));
	if (!h) {
		spur_config_free(cfg);
		return NULL;
	}
	h->cfg = cfg;
	pthread_mutex_init(&h->ready_lock, NULL);
	pthread_mutex_init(&h->reload_lock, NULL);
	h->metrics = spur_metrics_new();
	if (!h->metrics) {
		spur_config_free(cfg);
		free(h);
		return NULL;
	}
	spur_log_init(&h->log, cfg->log_level, cfg->log_format, STDERR_FILENO);

	int rc = build_core(h);
	if (rc < 0)
		goto fail;
	rc = make_dir(cfg->state_dir);
	if (rc < 0) {
		fprintf(err, "%s: state_dir %s: %s\n", cfg->file, cfg->state_dir, spur_strerror(rc));
		goto fail;
	}
	h->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*h->routes));
	if (!h->routes)
		goto fail;
	for (size_t i = 0; i < cfg->n_routes; i++)
		h->routes[i].cfg = &cfg->routes[i];
	h->n_routes = cfg->n_routes;

	if (spur_plugins_load(&cfg->plugin_dirs, err, &h->plugins) < 0)
		goto fail;
	/* Options first, for every plugin, so one run reports every error. */
	bool ok = true;
	int kind_line = 0;
	const char *kind = store_kind(cfg, &kind_line);
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if ((p->desc.roles & SPUR_ROLE_STORE) && p->desc.store &&
		    strcmp(p->desc.store->kind, kind) == 0 && !h->store_plugin) {
			h->store_plugin = p;
			if (store_options(cfg, p, err) < 0)
				ok = false;
			continue;
		}
		p->options = calloc(1, p->desc.options_size ? p->desc.options_size : 1);
		if (!p->options)
			goto fail;
		if (p->desc.options &&
		    spur_config_plugin_options(cfg, p->desc.name, p->desc.options,
					       p->options, err) < 0)
			ok = false;
	}
	if (!h->store_plugin && kind_line) {
		fprintf(err, "%s:%d: store: no store plugin of kind '%s' in this build\n",
			cfg->file, kind_line, kind);
		ok = false;
	} else if (!h->store_plugin) {
		fprintf(err, "%s: warning: no store plugin in this build: asynchronous invocation is off\n",
			cfg->file);
	}
	if (spur_config_check_unclaimed(cfg, err) < 0)
		ok = false;
	if (check_destinations(h, err) < 0)
		ok = false;
	if (check_plugin_keys(h, err) < 0)
		ok = false;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		bool served = false;
		for (size_t j = 0; j < spur_plugins_count(h->plugins); j++) {
			struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, j);
			served |= (p->desc.roles & SPUR_ROLE_SOURCE) &&
				  strcmp(p->desc.name, cfg->routes[i].kind) == 0;
		}
		if (!served)
			fprintf(err, "%s:%d: warning: no plugin serves '%s' routes in this build; the route is ignored\n",
				cfg->file, cfg->routes[i].line, cfg->routes[i].kind);
	}
	if (!ok)
		goto fail;
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		rc = p->desc.init(h, p->options, &p->instance);
		if (rc < 0) {
			p->instance = NULL;
			fprintf(err, "%s: plugin '%s' failed to start: %s\n",
				cfg->file, p->desc.name, spur_strerror(rc));
			goto fail;
		}
	}
	struct spur_registry *reg = spur_registry_new(&h->reg_env, cfg, NULL, err);
	if (!reg)
		goto fail;
	atomic_store_explicit(&h->registry.current, reg, memory_order_release);
	return h;
fail:
	spur_host_free(h);
	return NULL;
}

static void fini_plugins(struct spur_host *h, bool sources)
{
	size_t n = h->plugins ? spur_plugins_count(h->plugins) : 0;
	for (size_t i = n; i-- > 0;) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if (!p->instance || sources != !!(p->desc.roles & SPUR_ROLE_SOURCE))
			continue;
		if (p->desc.fini)
			p->desc.fini(p->instance);
		p->instance = NULL;
	}
}

void spur_host_free(struct spur_host *h)
{
	if (!h)
		return;
	/* Sources stop taking work first (their stop drains what they
	 * started); then the async workers finish what runs; then the outbox,
	 * whose destinations may belong to source plugins (mqtt, zmq): so
	 * destinations close before any plugin's fini. Mapping pollers stop
	 * with the sources: they invoke, and write records to the outbox. */
	spur_host_stop(h);
	spur_workers_free(h->workers);	/* the sources' drain ended what they moved */
	spur_mappings_stop(h->mappings);
	spur_async_stop(h->async);
	spur_outbox_stop(h->outbox);
	spur_async_free(h->async);
	spur_outbox_free(h->outbox);
	spur_mappings_free(h->mappings);
	if (h->store_open)
		h->store_plugin->desc.store->close(h->store_plugin->instance);
	fini_plugins(h, true);
	spur_exec_stop(h->exec);
	struct spur_registry *reg = spur_registry_current(&h->registry);
	if (reg)	/* contexts end before their runtimes */
		spur_fn_free_all(spur_registry_all(reg));
	spur_registry_free(reg);
	for (size_t i = 0; i < h->n_retired; i++) {
		spur_registry_free(h->retired[i].registry);
		spur_config_free(h->retired[i].config);
	}
	free(h->retired);
	fini_plugins(h, false);
	spur_plugins_free(h->plugins);
	spur_intake_free(h->intake);
	spur_exec_free(h->exec);
	free(h->routes);
	pthread_mutex_destroy(&h->ready_lock);
	pthread_mutex_destroy(&h->reload_lock);
	spur_metrics_free(h->metrics);
	for (size_t i = 0; i < h->cfg->n_dests; i++)
		free(h->cfg->dests[i].settings);
	spur_config_free(h->cfg);
	free(h);
}

/* Open the store, resume what it holds, start the workers and the outbox. */
static int start_async(struct spur_host *h)
{
	if (!h->store_plugin)
		return 0;
	const struct spur_store *st = h->store_plugin->desc.store;
	void *si = h->store_plugin->instance;
	int rc = st->open(si);
	if (rc < 0) {
		spur_log_write(&h->log, SPUR_LOG_ERROR, NULL, "store '%s' did not open: %s",
			       st->kind, spur_strerror(rc));
		return rc;
	}
	h->store_open = true;
	h->outbox = spur_outbox_new(&(struct spur_outbox_env){
		.store = st, .store_instance = si, .log = &h->log, .metrics = h->metrics,
		.config = h->cfg, .plugin = plugin_destination, .plugin_ud = h,
	});
	h->async = !h->outbox ? NULL : spur_async_new(&(struct spur_async_env){
		.store = st, .store_instance = si, .outbox = h->outbox, .exec = h->exec,
		.registry = &h->registry, .log = &h->log, .metrics = h->metrics,
	});
	/* before the outbox starts: its queue:// deliveries wake the pollers */
	h->mappings = !h->async ? NULL : spur_mappings_new(&(struct spur_mappings_env){
		.store = st, .store_instance = si, .outbox = h->outbox, .exec = h->exec,
		.registry = &h->registry, .log = &h->log, .metrics = h->metrics, .config = h->cfg,
	});
	if (!h->mappings)
		return -ENOMEM;
	h->builtins = (struct spur_builtin_dests){
		.store = st, .store_instance = si, .mappings = h->mappings, .async = h->async,
		.registry = &h->registry,
	};
	if (spur_builtin_dests_add(h->outbox, &h->builtins) < 0)
		return -ENOMEM;
	spur_intake_attach(h->intake, st, si, h->async, h->mappings);
	h->api.store = st;
	h->api.store_instance = si;
	h->api.async = h->async;
	h->api.outbox = h->outbox;
	h->api.mappings = h->mappings;
	h->depth.store = st;
	h->depth.store_instance = si;
	h->reg_env.store = st;
	h->reg_env.store_instance = si;
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	rc = spur_versions_load(spur_registry_current(&h->registry), err);
	fclose(err);
	if (buf && *buf)
		spur_log_write(&h->log, rc < 0 ? SPUR_LOG_ERROR : SPUR_LOG_WARN, NULL, "%s", buf);
	free(buf);
	if (rc < 0)
		return rc;	/* an alias to a missing version: refuse to start */
	rc = spur_outbox_start(h->outbox);
	if (rc == 0)
		rc = spur_async_start(h->async);
	if (rc == 0)
		rc = spur_mappings_start(h->mappings);
	return rc;
}

int spur_host_start(struct spur_host *h)
{
	int rc = spur_exec_start(h->exec);
	if (rc == 0)
		rc = start_async(h);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if (!(p->desc.roles & SPUR_ROLE_SOURCE) || !p->desc.start)
			continue;
		rc = p->desc.start(p->instance);
		if (rc < 0) {
			spur_log_write(&h->log, SPUR_LOG_ERROR, NULL, "plugin '%s' did not start: %s",
				       p->desc.name, spur_strerror(rc));
			return rc;
		}
		p->started = true;
	}
	return 0;
}

void spur_host_stop(struct spur_host *h)
{
	for (size_t i = 0; h->plugins && i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if (p->started && p->desc.stop)
			p->desc.stop(p->instance);
		p->started = false;
	}
}

int spur_host_check(struct spur_host *h, FILE *err)
{
	int failures = 0;
	struct spur_registry *reg = spur_host_registry(h);
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		const struct spur_fn_config *c = spur_fn_config(fn);
		char why[2048];
		if (spur_exec_init_once(h->exec, spur_fn_latest(fn), why, sizeof(why)) < 0) {
			fprintf(err, "%s:%d: function '%s': INIT failed: %s\n",
				h->cfg->file, c->line, c->name, why);
			failures++;
		}
	}
	return failures;
}

static const char *opt_type_name(enum spur_opt_type t)
{
	switch (t) {
	case SPUR_OPT_STRING: return "string";
	case SPUR_OPT_BOOL: return "bool";
	case SPUR_OPT_INT: return "integer";
	case SPUR_OPT_DOUBLE: return "number";
	case SPUR_OPT_DURATION: return "duration";
	case SPUR_OPT_SIZE: return "size";
	case SPUR_OPT_ENUM: return "enum";
	case SPUR_OPT_STRLIST: return "list";
	}
	return "?";
}

/* One line per option: "<prefix><name> (type, default): description". */
static void list_options(FILE *out, const char *prefix, const char *prefix_name,
			 const struct spur_option *o)
{
	for (; o && o->name; o++)
		fprintf(out, "           %s%s%s (%s%s%s, default %s): %s\n", prefix, prefix_name, o->name,
			opt_type_name(o->type), o->choices ? ": " : "",
			o->choices ? o->choices : "", o->def ? o->def : "none",
			o->description ? o->description : "");
}

void spur_host_list_plugins(struct spur_host *h, FILE *out)
{
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		fprintf(out, "%-10s %-8s ABI %u.%u  roles:%s%s%s%s  %s\n", p->desc.name,
			p->desc.version ? p->desc.version : "-",
			p->desc.abi_major, p->desc.abi_minor,
			p->desc.roles & SPUR_ROLE_SOURCE ? " source" : "",
			p->desc.roles & SPUR_ROLE_RUNTIME ? " runtime" : "",
			p->desc.roles & SPUR_ROLE_DESTINATION ? " destination" : "",
			p->desc.roles & SPUR_ROLE_STORE ? " store" : "", p->path);
		if (p->desc.description)
			fprintf(out, "           %s\n", p->desc.description);
		char own[80];
		snprintf(own, sizeof(own), "%s.", p->desc.name);
		list_options(out, own, "", p->desc.options);
		list_options(out, "route key ", "", p->desc.route_options);
		list_options(out, "function key ", "", p->desc.function_options);
		if (p->desc.destination &&
		    SPUR_HAS_MEMBER(p->desc.destination, struct spur_destination, options))
			list_options(out, "destination key ", "", p->desc.destination->options);
	}
}

static const struct spur_runtime *runtime_lookup(void *ud, const char *name, void **instance)
{
	struct spur_host *h = ud;
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if ((p->desc.roles & SPUR_ROLE_RUNTIME) && p->instance &&
		    strcmp(p->desc.runtime->name, name) == 0) {
			*instance = p->instance;
			return p->desc.runtime;
		}
	}
	return NULL;
}

struct spur_registry *spur_host_registry(struct spur_host *h)
{
	return spur_registry_current(&h->registry);
}

/* A reload changes functions (code, settings, aliases, provisioned
 * concurrency) and nothing else: listeners, broker connections, the
 * store, queues, mappings, destinations and routes live as long as the
 * process. Every other top-level key that changed is named, and the
 * reload is refused. Returns how many. */
static int reload_refusals(const struct spur_config *old, const struct spur_config *neu,
			   FILE *err)
{
	const struct spur_ynode *a = spur_yaml_root(old->doc), *b = spur_yaml_root(neu->doc);
	int n = 0;
	for (size_t i = 0; b->kind == SPUR_YNODE_MAP && i < b->n; i++) {
		const struct spur_ypair *p = &b->pairs[i];
		const struct spur_ypair *was = spur_yaml_map_find(a, p->key);
		if (strcmp(p->key, "functions") == 0 || (was && spur_yaml_equal(was->value, p->value)))
			continue;
		fprintf(err, "%s:%d: '%s' %s: a reload changes functions only; restart spur to apply it\n",
			neu->file, p->line, p->key, was ? "changed" : "was added");
		n++;
	}
	for (size_t i = 0; a->kind == SPUR_YNODE_MAP && i < a->n; i++) {
		const struct spur_ypair *p = &a->pairs[i];
		if (strcmp(p->key, "functions") != 0 && !spur_yaml_map_find(b, p->key)) {
			fprintf(err, "%s: '%s' was removed: a reload changes functions only; restart spur to apply it\n",
				neu->file, p->key);
			n++;
		}
	}
	return n;
}

/* Keep what a replaced registry's versions still point into, until
 * shutdown (running calls may hold them). */
static int retire(struct spur_host *h, struct spur_registry *reg, struct spur_config *cfg)
{
	if (h->n_retired == h->cap_retired) {
		size_t cap = h->cap_retired ? h->cap_retired * 2 : 8;
		struct retired *r = realloc(h->retired, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		h->retired = r;
		h->cap_retired = cap;
	}
	h->retired[h->n_retired++] = (struct retired){ .registry = reg, .config = cfg };
	return 0;
}

static int reload_cb(void *ud, char *why, size_t whylen)
{
	return spur_host_reload(ud, why, whylen);
}

int spur_host_reload(struct spur_host *h, char *why, size_t whylen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = -EINVAL;
	pthread_mutex_lock(&h->reload_lock);
	FILE *err = open_memstream(&buf, &len);
	struct spur_registry *old = spur_host_registry(h), *reg = NULL;
	struct spur_config *cfg = spur_config_load(h->cfg->file, err);
	if (!cfg)
		goto done;
	if (reload_refusals(h->cfg, cfg, err) > 0)
		goto done;
	reg = spur_registry_new(&h->reg_env, cfg, old, err);
	if (!reg)
		goto done;
	/* INIT every function's new $LATEST before anything is swapped */
	bool ok = true;
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		char init_why[1024];
		struct spur_function *v = spur_registry_pending(reg, i);
		if (spur_exec_init_once(h->exec, v ? v : spur_fn_latest(fn), init_why,
					sizeof(init_why)) < 0) {
			const struct spur_fn_config *c = spur_function_config(v ? v : spur_fn_latest(fn));
			fprintf(err, "%s:%d: function '%s': INIT failed: %s\n", cfg->file, c->line,
				c->name, init_why);
			ok = false;
		}
	}
	if (!ok)
		goto done;
	if (retire(h, old, cfg) < 0) {	/* kept: the old $LATEST settings point into cfg */
		fprintf(err, "%s: out of memory\n", cfg->file);
		goto done;
	}
	spur_registry_commit(reg);
	atomic_store_explicit(&h->registry.current, reg, memory_order_release);
	reg = NULL;
	cfg = NULL;
	rc = 0;
	spur_log_write(&h->log, SPUR_LOG_INFO, NULL, "reloaded %s", h->cfg->file);
done:
	spur_registry_discard(reg);
	spur_config_free(cfg);
	fclose(err);
	snprintf(why, whylen, "%s", buf && *buf ? buf : rc == 0 ? "" : "the reload failed");
	if (rc < 0)
		spur_log_write(&h->log, SPUR_LOG_ERROR, NULL, "reload refused; the running config stays:\n%s", why);
	free(buf);
	pthread_mutex_unlock(&h->reload_lock);
	return rc;
}

struct spur_async *spur_host_async(struct spur_host *h)
{
	return h->async;
}

struct spur_exec *spur_host_exec(struct spur_host *h)
{
	return h->exec;
}

const struct spur_store *spur_host_store(struct spur_host *h, void **instance)
{
	if (!h->store_open)
		return NULL;
	*instance = h->store_plugin->instance;
	return h->store_plugin->desc.store;
}

static const struct spur_destination *plugin_destination(void *ud, const char *scheme,
							 void **instance)
{
	struct spur_host *h = ud;
	for (size_t i = 0; i < spur_plugins_count(h->plugins); i++) {
		struct spur_loaded_plugin *p = spur_plugins_at(h->plugins, i);
		if ((p->desc.roles & SPUR_ROLE_DESTINATION) && p->desc.destination && p->instance &&
		    scheme_in(p->desc.destination->scheme, scheme)) {
			*instance = p->instance;
			return p->desc.destination;
		}
	}
	return NULL;
}

const struct spur_log *spur_host_log(const struct spur_host *h)
{
	return &h->log;
}

const struct spur_config *spur_host_config(const struct spur_host *h)
{
	return h->cfg;
}

