/* SPDX-License-Identifier: MIT */
/*
 * host.c - building, starting and stopping the router (see host.h), and
 * the SDK's host accessors (spur_log, routes, readiness).
 * Runs on the main thread except the accessors, which any thread may call:
 * they read immutable state, or (readiness) take a lock that only plugins
 * reporting a state change and /readyz touch.
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
#include "context.h"
#include "metrics.h"
#include "outbox.h"
#include "version.h"
#include "yaml.h"
#include "function.h"
#include "host.h"
#include "invoke.h"
#include "mapping.h"
#include "loader.h"
#include "util.h"

struct spur_route {
	const struct spur_route_config *cfg;
};

struct ready_entry {
	const void *who;
	bool ready;
	char why[128];
};

struct spur_host {
	struct spur_config *cfg;
	struct spur_log log;
	struct spur_plugin_set *plugins;
	struct spur_registry *_Atomic registry;	/* replaced whole by a reload */
	struct spur_registry *retired_registries[64];
	size_t n_retired;
	struct spur_config *retired_configs[64];	/* functions' settings point into them */
	pthread_mutex_t reload_lock;
	struct spur_reaper *reaper;
	pthread_mutex_t pools_lock;	/* pools made before the reaper started */
	struct spur_pool **pools;
	size_t n_pools, cap_pools;
	size_t n_routes;
	struct spur_route *routes;

	/* durable state: the store plugin chosen by store.kind */
	struct spur_loaded_plugin *store_plugin;
	bool store_open;
	struct spur_outbox *outbox;
	struct spur_async *async;
	struct spur_mappings *mappings;

	struct spur_metrics *metrics;
	pthread_mutex_t ready_lock;
	size_t n_ready;
	struct ready_entry ready[32];
};

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

struct spur_host *spur_host_new(struct spur_config *cfg, FILE *err)
{
	struct spur_host *h = calloc(1, sizeof(*h));
	if (!h) {
		spur_config_free(cfg);
		return NULL;
	}
	h->cfg = cfg;
	pthread_mutex_init(&h->ready_lock, NULL);
	pthread_mutex_init(&h->pools_lock, NULL);
	pthread_mutex_init(&h->reload_lock, NULL);
	h->metrics = spur_metrics_new();
	if (!h->metrics) {
		spur_config_free(cfg);
		free(h);
		return NULL;
	}
	spur_log_init(&h->log, cfg->log_level, cfg->log_format, STDERR_FILENO);

	int rc = make_dir(cfg->state_dir);
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
	struct spur_registry *reg = spur_registry_new(h, cfg, NULL, err);
	if (!reg)
		goto fail;
	atomic_init(&h->registry, reg);
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
	spur_mappings_stop(h->mappings);
	spur_async_stop(h->async);
	spur_outbox_stop(h->outbox);
	spur_async_free(h->async);
	spur_outbox_free(h->outbox);
	spur_mappings_free(h->mappings);
	if (h->store_open)
		h->store_plugin->desc.store->close(h->store_plugin->instance);
	fini_plugins(h, true);
	spur_reaper_stop(h->reaper);
	struct spur_registry *reg = atomic_load(&h->registry);
	if (reg)	/* contexts end before their runtimes */
		spur_fn_free_all(spur_registry_all(reg));
	spur_registry_free(reg);
	for (size_t i = 0; i < h->n_retired; i++) {
		spur_registry_free(h->retired_registries[i]);
		spur_config_free(h->retired_configs[i]);
	}
	fini_plugins(h, false);
	spur_plugins_free(h->plugins);
	free(h->pools);
	free(h->routes);
	pthread_mutex_destroy(&h->ready_lock);
	pthread_mutex_destroy(&h->pools_lock);
	pthread_mutex_destroy(&h->reload_lock);
	spur_metrics_free(h->metrics);
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
	h->outbox = spur_outbox_new(h, st, si);
	h->async = h->outbox ? spur_async_new(h, st, si, h->outbox) : NULL;
	/* before the outbox starts: its queue:// deliveries wake the pollers */
	h->mappings = h->async ? spur_mappings_new(h, st, si, h->outbox) : NULL;
	if (!h->mappings)
		return -ENOMEM;
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	rc = spur_versions_load(h, err);
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

void spur_host_track_pool(struct spur_host *h, struct spur_pool *pool)
{
	pthread_mutex_lock(&h->pools_lock);
	if (h->reaper) {
		spur_reaper_add(h->reaper, pool);
	} else {
		if (h->n_pools == h->cap_pools) {
			size_t cap = h->cap_pools ? h->cap_pools * 2 : 16;
			struct spur_pool **p = realloc(h->pools, cap * sizeof(*p));
			if (p) {
				h->pools = p;
				h->cap_pools = cap;
			}
		}
		if (h->n_pools < h->cap_pools)
			h->pools[h->n_pools++] = pool;
	}
	pthread_mutex_unlock(&h->pools_lock);
}

int spur_host_start(struct spur_host *h)
{
	struct spur_reaper *reaper = spur_reaper_start();
	if (!reaper)
		return -ENOMEM;
	pthread_mutex_lock(&h->pools_lock);
	for (size_t i = 0; i < h->n_pools; i++)
		spur_reaper_add(reaper, h->pools[i]);
	h->n_pools = 0;
	h->reaper = reaper;
	pthread_mutex_unlock(&h->pools_lock);
	int rc = start_async(h);
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
		if (spur_invoke_init_once(h, spur_fn_latest(fn), why, sizeof(why)) < 0) {
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
		for (const struct spur_option *o = p->desc.options; o && o->name; o++)
			fprintf(out, "           %s.%s (%s%s%s, default %s): %s\n", p->desc.name,
				o->name, opt_type_name(o->type), o->choices ? ": " : "",
				o->choices ? o->choices : "", o->def ? o->def : "none",
				o->description ? o->description : "");
	}
}

const struct spur_runtime *spur_host_runtime(struct spur_host *h, const char *name,
					     void **instance)
{
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
	return atomic_load_explicit(&h->registry, memory_order_acquire);
}

/* Routes and plugin options are not reloaded: say so when they changed. */
static void reload_warnings(const struct spur_config *old, const struct spur_config *neu,
			    FILE *err)
{
	bool same = old->n_routes == neu->n_routes;
	for (size_t i = 0; same && i < old->n_routes; i++)
		same = strcmp(old->routes[i].kind, neu->routes[i].kind) == 0 &&
		       strcmp(old->routes[i].match, neu->routes[i].match) == 0 &&
		       strcmp(old->routes[i].target, neu->routes[i].target) == 0 &&
		       old->routes[i].mode == neu->routes[i].mode;
	if (!same)
		fprintf(err, "%s: warning: routes changed: they take effect at the next restart\n",
			neu->file);
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
	if (h->n_retired == SPUR_ARRAY_SIZE(h->retired_registries)) {
		fprintf(err, "%s: too many reloads since start: restart spur\n", cfg->file);
		goto done;
	}
	reload_warnings(h->cfg, cfg, err);
	reg = spur_registry_new(h, cfg, old, err);
	if (!reg)
		goto done;
	/* INIT every function's new $LATEST before anything is swapped */
	bool ok = true;
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		char init_why[1024];
		struct spur_function *v = spur_registry_pending(reg, i);
		if (spur_invoke_init_once(h, v ? v : spur_fn_latest(fn), init_why, sizeof(init_why)) < 0) {
			const struct spur_fn_config *c = spur_function_config(v ? v : spur_fn_latest(fn));
			fprintf(err, "%s:%d: function '%s': INIT failed: %s\n", cfg->file, c->line,
				c->name, init_why);
			ok = false;
		}
	}
	if (!ok)
		goto done;
	spur_registry_commit(reg);
	h->retired_registries[h->n_retired] = old;
	h->retired_configs[h->n_retired++] = cfg;	/* kept: $LATEST settings point into it */
	atomic_store_explicit(&h->registry, reg, memory_order_release);
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

struct spur_metrics *spur_host_metrics(struct spur_host *h)
{
	return h->metrics;
}

struct spur_async *spur_host_async(struct spur_host *h)
{
	return h->async;
}

struct spur_mappings *spur_host_mappings(struct spur_host *h)
{
	return h->mappings;
}

struct spur_outbox *spur_host_outbox(struct spur_host *h)
{
	return h->outbox;
}

const struct spur_store *spur_host_store(struct spur_host *h, void **instance)
{
	if (!h->store_open)
		return NULL;
	*instance = h->store_plugin->instance;
	return h->store_plugin->desc.store;
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

const struct spur_destination *spur_host_destination(struct spur_host *h, const char *scheme,
						     void **instance)
{
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

/* --- SDK ------------------------------------------------------------------ */

SPUR_API void spur_log(struct spur_host *host, enum spur_log_level level,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	spur_log_vwrite(&host->log, level, NULL, fmt, ap);
	va_end(ap);
}

SPUR_API bool spur_log_enabled(struct spur_host *host, enum spur_log_level level)
{
	return level <= host->log.level;
}

SPUR_API const char *spur_host_config_dir(struct spur_host *host)
{
	return host->cfg->dir;
}

SPUR_API const char *spur_host_state_dir(struct spur_host *host)
{
	return host->cfg->state_dir;
}

SPUR_API const char *spur_config_file(struct spur_host *host)
{
	return host->cfg->file;
}

SPUR_API void spur_host_set_ready(struct spur_host *host, const void *who, bool ready,
				  const char *why)
{
	pthread_mutex_lock(&host->ready_lock);
	struct ready_entry *e = NULL;
	for (size_t i = 0; i < host->n_ready; i++)
		if (host->ready[i].who == who)
			e = &host->ready[i];
	if (!e && host->n_ready < SPUR_ARRAY_SIZE(host->ready)) {
		e = &host->ready[host->n_ready++];
		e->who = who;
	}
	if (e) {
		e->ready = ready;
		snprintf(e->why, sizeof(e->why), "%s", why ? why : "not ready");
	}
	pthread_mutex_unlock(&host->ready_lock);
}

SPUR_API int spur_host_ready(struct spur_host *host, char *why, size_t len)
{
	int ready = 1;
	if (host->store_open && host->store_plugin->desc.store->writable &&
	    !host->store_plugin->desc.store->writable(host->store_plugin->instance, why, len))
		return 0;	/* disk full, queue at its depth: async intake answers 503 */
	pthread_mutex_lock(&host->ready_lock);
	for (size_t i = 0; i < host->n_ready; i++) {
		if (!host->ready[i].ready) {
			ready = 0;
			snprintf(why, len, "%s", host->ready[i].why);
			break;
		}
	}
	pthread_mutex_unlock(&host->ready_lock);
	return ready;
}

SPUR_API size_t spur_host_route_count(struct spur_host *host)
{
	return host->n_routes;
}

SPUR_API const struct spur_route *spur_host_route(struct spur_host *host, size_t i)
{
	return i < host->n_routes ? &host->routes[i] : NULL;
}

SPUR_API const char *spur_route_kind(const struct spur_route *r)
{
	return r->cfg->kind;
}

SPUR_API const char *spur_route_match(const struct spur_route *r)
{
	return r->cfg->match;
}

SPUR_API const char *spur_route_target(const struct spur_route *r)
{
	return r->cfg->target;
}

SPUR_API enum spur_mode spur_route_mode(const struct spur_route *r)
{
	return r->cfg->mode;
}

/* A scalar under a config mapping by dotted path ("verify.scheme"). */
const char *spur_host_node_option(const struct spur_ynode *n, const char *path)
{
	char part[64];
	while (n && n->kind == SPUR_YNODE_MAP) {
		size_t len = strcspn(path, ".");
		if (len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		const struct spur_ypair *p = spur_yaml_map_find(n, part);
		if (!p)
			return NULL;
		if (!path[len])
			return p->value->kind == SPUR_YNODE_SCALAR ? p->value->text : NULL;
		n = p->value;
		path += len + 1;
	}
	return NULL;
}

SPUR_API const char *spur_route_option(const struct spur_route *r, const char *key)
{
	return spur_host_node_option(r->cfg->node, key);
}

SPUR_API int spur_reject(struct spur_host *host, const struct spur_route *route,
			 const char *reason, const void *data, size_t len)
{
	const char *t = route->cfg->target;
	size_t n = strcspn(t, ":");
	if (route->cfg->queue)
		return -ENOENT;	/* a queue route: no function, no on_failure */
	struct spur_fn *fn = spur_registry_find(spur_host_registry(host), t, n);
	if (!fn || !host->async)
		return -ENOENT;
	return spur_async_reject(host->async, fn, reason, data, len);
}

const struct spur_route_config *spur_host_route_config(const struct spur_route *r)
{
	return r->cfg;
}

SPUR_API int spur_route_line(const struct spur_route *r)
{
	return r->cfg->line;
}
