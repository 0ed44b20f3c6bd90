/* SPDX-License-Identifier: MIT */
/*
 * function.c - the function registry, the read side (see function.h):
 * building functions and their $LATEST from a config, lookups by name
 * and qualifier, the SDK's function accessors. Publishing, aliases and
 * persistence are version.c's.
 *
 * Cost on the invoke path: a binary search over a sorted array, one
 * atomic load of the function's view, a linear look at its (few)
 * versions or aliases; no lock, no allocation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "fnpriv.h"
#include "snapshot.h"
#include "util.h"
#include "version.h"
#include "yaml.h"

struct spur_registry {
	size_t n;
	struct spur_fn **fns;			/* sorted by name */
	struct spur_function **pending;		/* new $LATEST per function, until commit */
	struct spur_fn *all;			/* every function made by this registry or before */
};

static int by_name(const void *a, const void *b)
{
	const struct spur_fn *x = *(struct spur_fn *const *)a;
	const struct spur_fn *y = *(struct spur_fn *const *)b;
	return strcmp(x->name, y->name);
}

void spur_fnpriv_cfg_free(struct spur_fn_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->runtime);
	free(c->code);
	free(c->handler);
	for (size_t i = 0; i < c->n_env; i++) {
		free(c->env[i].key);
		free(c->env[i].value);
	}
	free(c->env);
	json_decref(c->options);
	for (size_t i = 0; i < c->on_success.n; i++)
		free(c->on_success.v[i]);
	free(c->on_success.v);
	for (size_t i = 0; i < c->on_failure.n; i++)
		free(c->on_failure.v[i]);
	free(c->on_failure.v);
	free(c->idem.key);
	free(c);
}

static void version_free(struct spur_function *v)
{
	const struct spur_registry_env *env = v->fn->env;
	if (v->pool)
		env->pools->destroy(env->pools_ud, v->pool);
	if (v->code && v->rt->code_free)
		v->rt->code_free(v->rt_instance, v->code);
	if (v->owns_cfg)
		spur_fnpriv_cfg_free(v->cfg);
	free(v->description);
	free(v->settings_json);
	free(v);
}

struct spur_function *spur_fnpriv_version_new(struct spur_fn *fn, const char *version,
					      struct spur_fn_config *cfg, bool owns_cfg, FILE *err)
{
	const struct spur_registry_env *env = fn->env;
	struct spur_function *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->fn = fn;
	v->cfg = cfg;
	v->owns_cfg = owns_cfg;
	snprintf(v->version, sizeof(v->version), "%s", version);
	spur_uuid(v->revision);
	v->modified_ms = spur_epoch_ms();
	v->rt = env->runtime(env->runtime_ud, cfg->runtime, &v->rt_instance);
	if (!v->rt) {
		fprintf(err, "%s:%d: function '%s': no runtime plugin serves runtime '%s'\n",
			env->config_file, cfg->line, cfg->name, cfg->runtime);
		goto fail;
	}
	char why[1024] = "";
	int rc = v->rt->code_load(v->rt_instance, v, &v->code, why, sizeof(why));
	if (rc < 0) {
		v->code = NULL;
		/* A runtime reports "FILE:LINE: msg" where it has a line. */
		if (strncmp(why, cfg->code, strlen(cfg->code)) == 0)
			fprintf(err, "%s\n", why);
		else
			fprintf(err, "%s:%d: function '%s': %s\n", env->config_file, cfg->line,
				cfg->name, why[0] ? why : spur_strerror(rc));
		goto fail;
	}
	if (!owns_cfg)	/* $LATEST: CodeSha256 of the code as loaded */
		spur_snapshot_hash(cfg->code, v->code_hex, v->code_sha, &v->code_size);
	v->pool = env->pools->create(env->pools_ud, v);
	if (!v->pool)
		goto fail;
	return v;
fail:
	v->owns_cfg = false;	/* the caller still owns cfg on failure */
	version_free(v);
	return NULL;
}

static struct spur_fn *fn_new(const struct spur_registry_env *env, const struct spur_config *cfg,
			      const struct spur_fn_config *fc)
{
	struct spur_fn *fn = calloc(1, sizeof(*fn));
	if (!fn)
		return NULL;
	fn->env = env;
	fn->cfg = fc;
	fn->name = strdup(fc->name);
	atomic_init(&fn->inflight, 0);
	atomic_init(&fn->reserved, fc->reserved);
	fn->event_max_retries = fn->event_max_age_s = -1;
	pthread_mutex_init(&fn->lock, NULL);
	fn->next_version = 1;
	struct spur_buf arn;
	spur_buf_init(&arn);
	spur_buf_printf(&arn, "arn:aws:lambda:%s:%s:function:%s",
			cfg->arn_region, cfg->arn_account, fc->name);
	fn->arn = spur_buf_steal(&arn, NULL);
	struct fn_view *v = calloc(1, sizeof(*v));
	if (!fn->name || !fn->arn || !v) {
		free(v);
		free(fn->name);
		free(fn->arn);
		free(fn);
		return NULL;
	}
	atomic_init(&fn->view, v);
	return fn;
}

static void fn_free(struct spur_fn *fn)
{
	struct spur_function *v = fn->all_versions;
	while (v) {
		struct spur_function *next = v->next;
		version_free(v);
		v = next;
	}
	struct fn_view *view = atomic_load(&fn->view);
	while (view) {
		struct fn_view *older = view->retired;
		for (size_t i = 0; i < view->n_aliases; i++)
			free(view->aliases[i].description);
		free(view->aliases);
		free(view->versions);
		free(view);
		view = older;
	}
	pthread_mutex_destroy(&fn->lock);
	free(fn->name);
	free(fn->arn);
	free(fn);
}

void spur_fn_free_all(struct spur_fn *all)
{
	while (all) {
		struct spur_fn *next = all->all_next;
		fn_free(all);
		all = next;
	}
}

static void adopt(struct spur_fn *fn, struct spur_function *v)
{
	v->next = fn->all_versions;
	fn->all_versions = v;
}

struct spur_registry *spur_registry_new(const struct spur_registry_env *env,
					const struct spur_config *cfg,
					const struct spur_registry *previous, FILE *err)
{
	struct spur_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return NULL;
	size_t n = cfg->n_functions ? cfg->n_functions : 1;
	reg->fns = calloc(n, sizeof(*reg->fns));
	reg->pending = calloc(n, sizeof(*reg->pending));
	reg->all = previous ? previous->all : NULL;
	if (!reg->fns || !reg->pending)
		goto fail;
	bool ok = true;
	for (size_t i = 0; i < cfg->n_functions; i++) {
		const struct spur_fn_config *fc = &cfg->functions[i];
		struct spur_fn *fn = previous ? spur_registry_find(previous, fc->name, strlen(fc->name)) : NULL;
		bool fresh = !fn;
		if (fresh && !(fn = fn_new(env, cfg, fc))) {
			ok = false;
			continue;
		}
		struct spur_function *v = spur_fnpriv_version_new(fn, "$LATEST",
								  (struct spur_fn_config *)fc, false, err);
		if (!v) {
			ok = false;	/* keep going: report every function's error */
			if (fresh)
				fn_free(fn);
			continue;
		}
		if (fresh) {
			atomic_init(&fn->latest, v);
			adopt(fn, v);
			fn->all_next = reg->all;
			reg->all = fn;
		} else {
			reg->pending[reg->n] = v;	/* swapped in at commit */
		}
		reg->fns[reg->n++] = fn;
	}
	if (!ok)
		goto fail;
	/* sort fns and pending together */
	for (size_t i = 1; i < reg->n; i++)
		for (size_t j = i; j > 0 && by_name(&reg->fns[j - 1], &reg->fns[j]) > 0; j--) {
			struct spur_fn *t = reg->fns[j];
			reg->fns[j] = reg->fns[j - 1];
			reg->fns[j - 1] = t;
			struct spur_function *p = reg->pending[j];
			reg->pending[j] = reg->pending[j - 1];
			reg->pending[j - 1] = p;
		}
	return reg;
fail:
	spur_registry_discard(reg);
	return NULL;
}

void spur_registry_commit(struct spur_registry *reg)
{
	for (size_t i = 0; i < reg->n; i++) {
		struct spur_function *v = reg->pending[i];
		if (!v)
			continue;
		struct spur_fn *fn = reg->fns[i];
		pthread_mutex_lock(&fn->lock);
		struct spur_function *old = atomic_exchange(&fn->latest, v);
		fn->cfg = v->cfg;
		if (!fn->reserved_from_api)
			atomic_store(&fn->reserved, v->cfg->reserved);
		adopt(fn, v);
		pthread_mutex_unlock(&fn->lock);
		fn->env->pools->retire(fn->env->pools_ud, old->pool);
		reg->pending[i] = NULL;
	}
}

void spur_registry_discard(struct spur_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->pending && reg->pending[i])
			version_free(reg->pending[i]);
	free(reg->pending);
	free(reg->fns);
	free(reg);
}

void spur_registry_free(struct spur_registry *reg)
{
	if (!reg)
		return;
	free(reg->pending);
	free(reg->fns);
	free(reg);
}

struct spur_function *spur_registry_pending(const struct spur_registry *reg, size_t i)
{
	return i < reg->n ? reg->pending[i] : NULL;
}

struct spur_fn *spur_registry_all(const struct spur_registry *reg)
{
	return reg->all;
}

size_t spur_registry_count(const struct spur_registry *reg)
{
	return reg->n;
}

struct spur_fn *spur_registry_at(const struct spur_registry *reg, size_t i)
{
	return i < reg->n ? reg->fns[i] : NULL;
}

struct spur_fn *spur_registry_find(const struct spur_registry *reg,
				   const char *name, size_t len)
{
	size_t lo = 0, hi = reg->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *s = reg->fns[mid]->name;
		int c = strncmp(s, name, len);
		if (c == 0 && s[len] != '\0')
			c = 1;
		if (c == 0)
			return reg->fns[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct spur_fn_config *spur_fn_config(const struct spur_fn *fn)
{
	return fn->cfg;
}

const char *spur_fn_name(const struct spur_fn *fn)
{
	return fn->name;
}

const char *spur_fn_arn(const struct spur_fn *fn)
{
	return fn->arn;
}

struct spur_function *spur_fn_latest(struct spur_fn *fn)
{
	return atomic_load_explicit(&fn->latest, memory_order_acquire);
}

/* FNV-1a of the key onto [0, 1): the same event id, the same pick. */
static double pick_point(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	/* FNV-1a's top bits hardly depend on the last bytes, and a UUIDv7
	 * request id starts with the time: without this finaliser (the
	 * 64-bit mixer of MurmurHash3) requests of the same millisecond
	 * went to the same side and the split drifted from its weight */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (double)(h >> 11) / (double)(1ull << 53);
}

struct spur_function *spur_fn_version(struct spur_fn *fn, const char *qual, size_t len,
				      const char *pick_key)
{
	if (!qual || len == 0 || (len == 7 && memcmp(qual, "$LATEST", 7) == 0))
		return spur_fn_latest(fn);
	const struct fn_view *v = atomic_load_explicit(&fn->view, memory_order_acquire);
	bool digits = true;
	for (size_t i = 0; i < len; i++)
		digits &= qual[i] >= '0' && qual[i] <= '9';
	if (digits) {
		for (size_t i = 0; i < v->n_versions; i++)
			if (strlen(v->versions[i]->version) == len &&
			    memcmp(v->versions[i]->version, qual, len) == 0)
				return v->versions[i];
		return NULL;
	}
	for (size_t i = 0; i < v->n_aliases; i++) {
		const struct spur_alias *a = &v->aliases[i];
		if (strlen(a->name) != len || memcmp(a->name, qual, len) != 0)
			continue;
		if (a->extra && pick_point(pick_key) < a->weight)
			return a->extra;
		return a->primary;
	}
	return NULL;
}

int spur_fn_slot_take(struct spur_fn *fn)
{
	/* counted for every function: concurrent executions (and a limit set
	 * by the API while calls run stays exact) */
	long limit = atomic_load_explicit(&fn->reserved, memory_order_relaxed);
	long before = atomic_fetch_add_explicit(&fn->inflight, 1, memory_order_acq_rel);
	if (limit >= 0 && before >= limit) {
		atomic_fetch_sub_explicit(&fn->inflight, 1, memory_order_acq_rel);
		return -EBUSY;
	}
	return 0;
}

void spur_fn_slot_give(struct spur_fn *fn)
{
	/* a limit set while this call ran is fine: the count stays exact */
	atomic_fetch_sub_explicit(&fn->inflight, 1, memory_order_acq_rel);
}

void spur_fnpriv_publish_view(struct spur_fn *fn, struct fn_view *v)
{
	struct fn_view *old = atomic_load(&fn->view);
	v->retired = old;
	atomic_store_explicit(&fn->view, v, memory_order_release);
}

struct fn_view *spur_fnpriv_view_copy(const struct fn_view *v)
{
	struct fn_view *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->versions = calloc(v->n_versions + 1, sizeof(*c->versions));
	c->aliases = calloc(v->n_aliases + 1, sizeof(*c->aliases));
	if (!c->versions || !c->aliases) {
		free(c->versions);
		free(c->aliases);
		free(c);
		return NULL;
	}
	if (v->n_versions)	/* a function with no published version has none to copy */
		memcpy(c->versions, v->versions, v->n_versions * sizeof(*c->versions));
	c->n_versions = v->n_versions;
	for (size_t i = 0; i < v->n_aliases; i++) {
		c->aliases[i] = v->aliases[i];
		c->aliases[i].description = spur_strdup(v->aliases[i].description);
	}
	c->n_aliases = v->n_aliases;
	return c;
}

void spur_fn_each_version(struct spur_fn *fn, void (*cb)(void *ud, struct spur_function *v),
			  void *ud)
{
	cb(ud, spur_fn_latest(fn));
	const struct fn_view *v = atomic_load_explicit(&fn->view, memory_order_acquire);
	for (size_t i = 0; i < v->n_versions; i++)
		cb(ud, v->versions[i]);
}

struct spur_counter *spur_fn_counter(struct spur_fn *fn, enum spur_fn_counter which)
{
	static const struct { const char *name, *help; } info[SPUR_FN_COUNTERS] = {
		{ "spur_async_events_received_total", "Async events accepted (stored)." },
		{ "spur_async_events_retried_total", "Async attempts that failed and were retried." },
	};
	struct spur_counter *c = atomic_load_explicit(&fn->counters[which], memory_order_acquire);
	if (!c) {	/* the lookup is idempotent: a race stores the same handle */
		char labels[96];
		snprintf(labels, sizeof(labels), "function=\"%s\"", fn->name);
		c = spur_metrics_counter(fn->env->metrics, info[which].name, info[which].help, labels);
		atomic_store_explicit(&fn->counters[which], c, memory_order_release);
	}
	return c;
}

long spur_fn_inflight(struct spur_fn *fn)
{
	return atomic_load_explicit(&fn->inflight, memory_order_relaxed);
}

struct spur_hist *spur_fn_event_age(struct spur_fn *fn)
{
	return &fn->event_age;
}

struct spur_inv_metrics *spur_function_metrics(struct spur_function *ver)
{
	return &ver->metrics;
}

struct spur_fn *spur_function_fn(const struct spur_function *ver)
{
	return ver->fn;
}

struct spur_pool *spur_function_pool(const struct spur_function *ver)
{
	return ver->pool;
}

const struct spur_fn_config *spur_function_config(const struct spur_function *ver)
{
	return ver->cfg;
}

const struct spur_runtime *spur_function_runtime(const struct spur_function *ver,
						 void **instance, void **code)
{
	if (instance)
		*instance = ver->rt_instance;
	if (code)
		*code = ver->code;
	return ver->rt;
}

/* --- SDK accessors ------------------------------------------------------ */

SPUR_API const char *spur_function_name(const struct spur_function *fn)
{
	return fn->fn->name;
}

SPUR_API const char *spur_function_version(const struct spur_function *fn)
{
	return fn->version;
}

SPUR_API const char *spur_function_code(const struct spur_function *fn)
{
	return fn->cfg->code;
}

SPUR_API const char *spur_function_handler(const struct spur_function *fn)
{
	return fn->cfg->handler;
}

SPUR_API uint64_t spur_function_memory(const struct spur_function *fn)
{
	return fn->cfg->memory;
}

SPUR_API uint64_t spur_function_tmp_size(const struct spur_function *fn)
{
	return fn->cfg->tmp_size;
}

SPUR_API int64_t spur_function_timeout_ms(const struct spur_function *fn)
{
	return fn->cfg->timeout_ms;
}

SPUR_API int64_t spur_function_init_timeout_ms(const struct spur_function *fn)
{
	return fn->cfg->init_timeout_ms;
}

SPUR_API const char *spur_function_option(const struct spur_function *fn, const char *key)
{
	if (fn->cfg->node || !fn->cfg->options)
		return spur_yaml_path(fn->cfg->node, key);
	/* a published version: its frozen options, by the same dotted path */
	const json_t *j = fn->cfg->options;
	char part[128];
	for (const char *k = key; j;) {
		size_t n = strcspn(k, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, k, n);
		part[n] = '\0';
		j = json_object_get(j, part);
		if (!k[n])
			return json_string_value(j);
		k += n + 1;
	}
	return NULL;
}

SPUR_API size_t spur_function_env_count(const struct spur_function *fn)
{
	return fn->cfg->n_env;
}

SPUR_API void spur_function_env(const struct spur_function *fn, size_t i,
				const char **key, const char **value)
{
	const struct spur_fn_config *c = fn->cfg;
	*key = i < c->n_env ? c->env[i].key : NULL;
	*value = i < c->n_env ? c->env[i].value : NULL;
}
