/* SPDX-License-Identifier: MIT */
/*
 * function.c - the function registry (see function.h).
 * Built at load time from the config: for each function it finds the
 * runtime plugin, loads the code once (syntax errors surface here, as
 * FILE:LINE), and makes the $LATEST version with an empty context pool.
 * Lookups are by name over a sorted array: no lock, no allocation.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "function.h"
#include "host.h"
#include "util.h"

struct spur_function {
	struct spur_fn *fn;
	const char *version;		/* "$LATEST" */
	const struct spur_runtime *rt;
	void *rt_instance;
	void *code;
	struct spur_pool *pool;
};

struct spur_fn {
	const struct spur_fn_config *cfg;	/* borrowed from the host's config */
	char *arn;
	atomic_long inflight;
	struct spur_function latest;
};

struct spur_registry {
	size_t n;
	struct spur_fn **fns;		/* sorted by name */
};

static int by_name(const void *a, const void *b)
{
	const struct spur_fn *x = *(struct spur_fn *const *)a;
	const struct spur_fn *y = *(struct spur_fn *const *)b;
	return strcmp(x->cfg->name, y->cfg->name);
}

static void fn_free(struct spur_fn *fn)
{
	if (!fn)
		return;
	struct spur_function *v = &fn->latest;
	spur_pool_free(v->pool);
	if (v->code && v->rt->code_free)
		v->rt->code_free(v->rt_instance, v->code);
	free(fn->arn);
	free(fn);
}

static struct spur_fn *fn_new(struct spur_host *host, const struct spur_config *cfg,
			      const struct spur_fn_config *fc, FILE *err)
{
	struct spur_fn *fn = calloc(1, sizeof(*fn));
	if (!fn)
		return NULL;
	fn->cfg = fc;
	atomic_init(&fn->inflight, 0);
	struct spur_buf arn;
	spur_buf_init(&arn);
	spur_buf_printf(&arn, "arn:aws:lambda:%s:%s:function:%s",
			cfg->arn_region, cfg->arn_account, fc->name);
	fn->arn = spur_buf_steal(&arn, NULL);
	if (!fn->arn)
		goto fail;

	struct spur_function *v = &fn->latest;
	v->fn = fn;
	v->version = "$LATEST";
	v->rt = spur_host_runtime(host, fc->runtime, &v->rt_instance);
	if (!v->rt) {
		fprintf(err, "%s:%d: function '%s': no runtime plugin serves runtime '%s'\n",
			cfg->file, fc->line, fc->name, fc->runtime);
		goto fail;
	}
	char why[1024] = "";
	int rc = v->rt->code_load(v->rt_instance, v, &v->code, why, sizeof(why));
	if (rc < 0) {
		v->code = NULL;
		/* A runtime reports "FILE:LINE: msg" where it has a line. */
		if (strncmp(why, fc->code, strlen(fc->code)) == 0)
			fprintf(err, "%s\n", why);
		else
			fprintf(err, "%s:%d: function '%s': %s\n", cfg->file, fc->line,
				fc->name, why[0] ? why : spur_strerror(rc));
		goto fail;
	}
	v->pool = spur_pool_new(v, spur_host_state_dir(host));
	if (!v->pool)
		goto fail;
	return fn;
fail:
	fn_free(fn);
	return NULL;
}

struct spur_registry *spur_registry_new(struct spur_host *host,
					const struct spur_config *cfg, FILE *err)
{
	struct spur_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return NULL;
	reg->fns = calloc(cfg->n_functions ? cfg->n_functions : 1, sizeof(*reg->fns));
	if (!reg->fns)
		goto fail;
	bool ok = true;
	for (size_t i = 0; i < cfg->n_functions; i++) {
		struct spur_fn *fn = fn_new(host, cfg, &cfg->functions[i], err);
		if (!fn) {
			ok = false;	/* keep going: report every function's error */
			continue;
		}
		reg->fns[reg->n++] = fn;
	}
	if (!ok)
		goto fail;
	qsort(reg->fns, reg->n, sizeof(*reg->fns), by_name);
	return reg;
fail:
	spur_registry_free(reg);
	return NULL;
}

void spur_registry_free(struct spur_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		fn_free(reg->fns[i]);
	free(reg->fns);
	free(reg);
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
		const char *s = reg->fns[mid]->cfg->name;
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

const char *spur_fn_arn(const struct spur_fn *fn)
{
	return fn->arn;
}

struct spur_function *spur_fn_version(struct spur_fn *fn, const char *qual, size_t len)
{
	if (!qual || len == 0 || (len == 7 && memcmp(qual, "$LATEST", 7) == 0))
		return &fn->latest;
	return NULL;	/* published versions and aliases: not in this build yet */
}

int spur_fn_slot_take(struct spur_fn *fn)
{
	long limit = fn->cfg->reserved;
	if (limit < 0)
		return 0;
	if (atomic_fetch_add_explicit(&fn->inflight, 1, memory_order_acq_rel) >= limit) {
		atomic_fetch_sub_explicit(&fn->inflight, 1, memory_order_acq_rel);
		return -EBUSY;
	}
	return 0;
}

void spur_fn_slot_give(struct spur_fn *fn)
{
	if (fn->cfg->reserved >= 0)
		atomic_fetch_sub_explicit(&fn->inflight, 1, memory_order_acq_rel);
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
	return ver->fn->cfg;
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
	return fn->fn->cfg->name;
}

SPUR_API const char *spur_function_version(const struct spur_function *fn)
{
	return fn->version;
}

SPUR_API const char *spur_function_code(const struct spur_function *fn)
{
	return fn->fn->cfg->code;
}

SPUR_API const char *spur_function_handler(const struct spur_function *fn)
{
	return fn->fn->cfg->handler;
}

SPUR_API uint64_t spur_function_memory(const struct spur_function *fn)
{
	return fn->fn->cfg->memory;
}

SPUR_API uint64_t spur_function_tmp_size(const struct spur_function *fn)
{
	return fn->fn->cfg->tmp_size;
}

SPUR_API int64_t spur_function_timeout_ms(const struct spur_function *fn)
{
	return fn->fn->cfg->timeout_ms;
}

SPUR_API int64_t spur_function_init_timeout_ms(const struct spur_function *fn)
{
	return fn->fn->cfg->init_timeout_ms;
}

SPUR_API const char *spur_function_option(const struct spur_function *fn, const char *key)
{
	return spur_host_node_option(fn->fn->cfg->node, key);
}

SPUR_API size_t spur_function_env_count(const struct spur_function *fn)
{
	return fn->fn->cfg->n_env;
}

SPUR_API void spur_function_env(const struct spur_function *fn, size_t i,
				const char **key, const char **value)
{
	const struct spur_fn_config *c = fn->fn->cfg;
	*key = i < c->n_env ? c->env[i].key : NULL;
	*value = i < c->n_env ? c->env[i].value : NULL;
}
