/* SPDX-License-Identifier: MIT */
/*
 * version.c - the registry's write side (see version.h): publishing
 * versions, aliases, concurrency and event settings.
 *
 * Publishing copies and hashes the code (snapshot.c); every change is
 * written to the store (version_store.c) before the in-memory view
 * changes, and loading at start is version_store.c's too.
 * Writers hold the function's lock; readers never do (function.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fnpriv.h"
#include "snapshot.h"
#include "util.h"
#include "version.h"
#include "version_store.h"
#include "yaml.h"

/* --- settings as JSON -------------------------------------------------------- */

/* A YAML value as JSON: scalars as strings, as spur_function_option()
 * hands them out. */
static json_t *yaml_json(const struct spur_ynode *n)
{
	json_t *j;
	switch (n->kind) {
	case SPUR_YNODE_MAP:
		j = json_object();
		for (size_t i = 0; j && i < n->n; i++)
			json_object_set_new(j, n->pairs[i].key, yaml_json(n->pairs[i].value));
		return j;
	case SPUR_YNODE_SEQ:
		j = json_array();
		for (size_t i = 0; j && i < n->n; i++)
			json_array_append_new(j, yaml_json(n->items[i]));
		return j;
	default:
		return json_stringn(n->text ? n->text : "", n->text ? n->len : 0);
	}
}

/* The function's keys that belong to its runtime plugin (isolation: for
 * native), frozen with the version so that it runs as $LATEST did. */
static json_t *plugin_options(const struct spur_fn_config *c)
{
	if (c->options)
		return json_deep_copy(c->options);
	json_t *o = json_object();
	for (size_t i = 0; o && c->node && c->node->kind == SPUR_YNODE_MAP && i < c->node->n; i++) {
		const struct spur_ypair *p = &c->node->pairs[i];
		if (!spur_config_function_key_is_core(p->key))
			json_object_set_new(o, p->key, yaml_json(p->value));
	}
	return o;
}

static char *settings_json(const struct spur_fn_config *c)
{
	json_t *env = json_object();
	for (size_t i = 0; i < c->n_env; i++)
		json_object_set_new(env, c->env[i].key, json_string(c->env[i].value));
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			      "runtime", c->runtime, "handler", c->handler,
			      "timeout_ms", (json_int_t)c->timeout_ms,
			      "init_timeout_ms", (json_int_t)c->init_timeout_ms,
			      "memory", (json_int_t)c->memory, "tmp_size", (json_int_t)c->tmp_size,
			      "idle_ttl_ms", (json_int_t)c->idle_ttl_ms,
			      "max_uses", (json_int_t)c->max_uses, "env", env);
	json_t *opts = o ? plugin_options(c) : NULL;
	if (opts && json_object_size(opts))	/* absent when empty: old versions compare equal */
		json_object_set_new(o, "options", opts);
	else
		json_decref(opts);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

/* A frozen settings struct from JSON (owned; spur_fnpriv_cfg_free). */
static struct spur_fn_config *settings_parse(const json_t *o, const char *name, const char *code)
{
	struct spur_fn_config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->name = strdup(name);
	c->code = strdup(code);
	c->runtime = strdup(json_string_value(json_object_get(o, "runtime")) ?: "lua");
	c->handler = strdup(json_string_value(json_object_get(o, "handler")) ?: "handle");
	c->timeout_ms = json_integer_value(json_object_get(o, "timeout_ms"));
	c->init_timeout_ms = json_integer_value(json_object_get(o, "init_timeout_ms"));
	c->memory = (uint64_t)json_integer_value(json_object_get(o, "memory"));
	c->tmp_size = (uint64_t)json_integer_value(json_object_get(o, "tmp_size"));
	c->idle_ttl_ms = json_integer_value(json_object_get(o, "idle_ttl_ms"));
	c->max_uses = json_integer_value(json_object_get(o, "max_uses"));
	c->reserved = -1;
	json_t *opts = json_object_get(o, "options");
	if (json_is_object(opts))
		c->options = json_incref(opts);
	json_t *env = json_object_get(o, "env");
	c->env = calloc(json_object_size(env) + 1, sizeof(*c->env));
	const char *k;
	json_t *v;
	if (c->env)
		json_object_foreach(env, k, v) {
			c->env[c->n_env].key = strdup(k);
			c->env[c->n_env].value = strdup(json_string_value(v) ?: "");
			c->n_env++;
		}
	if (!c->name || !c->code || !c->runtime || !c->handler || !c->env) {
		spur_fnpriv_cfg_free(c);
		return NULL;
	}
	return c;
}

static void info_of(const struct spur_function *v, spur_version_fn cb, void *ud)
{
	struct spur_version_info in = {
		.version = v->version, .code_sha256 = v->code_sha, .code_size = v->code_size,
		.description = v->description ? v->description : "", .revision_id = v->revision,
		.last_modified_ms = v->modified_ms, .settings = v->cfg,
	};
	if (cb)
		cb(ud, &in);
}

static void alias_of(const struct spur_alias *a, spur_alias_fn cb, void *ud)
{
	struct spur_alias_info in = {
		.name = a->name, .version = a->primary->version,
		.extra_version = a->extra ? a->extra->version : NULL, .extra_weight = a->weight,
		.description = a->description ? a->description : "", .revision_id = a->revision,
	};
	if (cb)
		cb(ud, &in);
}

static struct spur_function *find_version(const struct fn_view *v, const char *version)
{
	for (size_t i = 0; i < v->n_versions; i++)
		if (strcmp(v->versions[i]->version, version) == 0)
			return v->versions[i];
	return NULL;
}

static struct spur_alias *find_alias(const struct fn_view *v, const char *name)
{
	for (size_t i = 0; i < v->n_aliases; i++)
		if (strcmp(v->aliases[i].name, name) == 0)
			return &v->aliases[i];
	return NULL;
}

static struct fn_view *view_of(struct spur_fn *fn)
{
	return atomic_load(&fn->view);
}

/* --- warming ----------------------------------------------------------------- */

/* Bring a version's pool to n idle contexts (provisioned concurrency):
 * exec/ does it, told through the env. */
static void warm(struct spur_function *v, int n)
{
	const struct spur_registry_env *env = v->fn->env;
	env->pools->provision(env->pools_ud, v, n);
}

static int prov_for(const struct spur_fn *fn, const char *qual)
{
	for (size_t i = 0; i < fn->n_prov; i++)
		if (strcmp(fn->prov[i].qual, qual) == 0)
			return fn->prov[i].n;
	return 0;
}

/* Warm what an alias (or version) needs before traffic reaches it. */
void spur_version_warm_target(struct spur_fn *fn, const char *qual,
			      struct spur_function *a, struct spur_function *b)
{
	int n = prov_for(fn, qual);
	if (n <= 0)
		return;
	if (a)
		warm(a, n);
	if (b)
		warm(b, n);
}

static void view_drop(struct fn_view *nv)
{
	for (size_t i = 0; i < nv->n_aliases; i++)
		free(nv->aliases[i].description);
	free(nv->aliases);
	free(nv->versions);
	free(nv);
}

/* --- publish ----------------------------------------------------------------- */

struct spur_function *spur_version_make(struct spur_fn *fn, const char *number, const char *settings,
					const char *code, char *why, size_t whylen)
{
	json_t *o = json_loads(settings, 0, NULL);
	struct spur_fn_config *cfg = o ? settings_parse(o, fn->name, code) : NULL;
	json_decref(o);
	if (!cfg) {
		snprintf(why, whylen, "unreadable settings of version %s", number);
		return NULL;
	}
	/* the function's async and idempotency settings stay the function's */
	cfg->line = fn->cfg->line;
	char *buf = NULL;
	size_t blen = 0;
	FILE *err = open_memstream(&buf, &blen);
	struct spur_function *v = spur_fnpriv_version_new(fn, number, cfg, true, err);
	fclose(err);
	if (!v) {
		snprintf(why, whylen, "%s", buf && *buf ? buf : "the version's code did not load");
		spur_fnpriv_cfg_free(cfg);
	}
	free(buf);
	if (v)
		v->settings_json = strdup(settings);
	return v;
}

int spur_version_publish(struct spur_fn *fn, const char *description,
			 const char *expect_sha, const char *expect_revision, bool *created,
			 spur_version_fn cb, void *ud, char *why, size_t whylen)
{
	char hex[65] = "", b64[48] = "", code[4096];
	int64_t size = 0;
	int rc;
	*created = false;
	pthread_mutex_lock(&fn->lock);
	struct spur_function *latest = spur_fn_latest(fn);
	struct fn_view *view = view_of(fn);
	if (expect_revision && *expect_revision && strcmp(expect_revision, latest->revision) != 0) {
		snprintf(why, whylen, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
		rc = -ESTALE;
		goto done;
	}
	rc = spur_snapshot_take(fn->env->state_dir, latest->cfg->code, hex, b64, &size, code, sizeof(code), why, whylen);
	if (rc < 0)
		goto done;
	if (expect_sha && *expect_sha && strcmp(expect_sha, b64) != 0) {
		snprintf(why, whylen, "CodeSha256 (%s) is different from current CodeSha256 in $LATEST (%s). Please try again with the CodeSha256 in $LATEST.",
			 expect_sha, b64);
		rc = -ESTALE;
		goto done;
	}
	char *settings = settings_json(latest->cfg);
	if (!settings) {
		rc = -ENOMEM;
		goto done;
	}
	struct spur_function *last = view->n_versions ? view->versions[view->n_versions - 1] : NULL;
	if (last && strcmp(last->code_hex, hex) == 0 && last->settings_json &&
	    strcmp(last->settings_json, settings) == 0) {
		free(settings);
		info_of(last, cb, ud);	/* nothing changed: the last version */
		rc = 0;
		goto done;
	}
	char number[16];
	snprintf(number, sizeof(number), "%d", fn->next_version);
	struct spur_function *v = spur_version_make(fn, number, settings, code, why, whylen);
	free(settings);
	if (!v) {
		rc = -EINVAL;
		goto done;
	}
	snprintf(v->code_hex, sizeof(v->code_hex), "%s", hex);
	snprintf(v->code_sha, sizeof(v->code_sha), "%s", b64);
	v->code_size = size;
	v->description = strdup(description ? description : "");
	struct fn_view *nv = spur_fnpriv_view_copy(view);
	if (!nv) {
		rc = -ENOMEM;
		goto drop;
	}
	nv->versions[nv->n_versions++] = v;
	fn->next_version++;
	rc = spur_version_store_persist(fn, nv);
	if (rc < 0) {
		fn->next_version--;
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
		view_drop(nv);
		goto drop;
	}
	v->next = fn->all_versions;
	fn->all_versions = v;
	spur_fnpriv_publish_view(fn, nv);
	*created = true;
	info_of(v, cb, ud);
	goto done;
drop:
	fn->env->pools->destroy(fn->env->pools_ud, v->pool);
	v->pool = NULL;
	if (v->code && v->rt->code_free)
		v->rt->code_free(v->rt_instance, v->code);
	spur_fnpriv_cfg_free(v->cfg);
	free(v->description);
	free(v->settings_json);
	free(v);
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

int spur_version_list(struct spur_fn *fn, spur_version_fn cb, void *ud)
{
	info_of(spur_fn_latest(fn), cb, ud);
	const struct fn_view *v = view_of(fn);
	for (size_t i = 0; i < v->n_versions; i++)
		info_of(v->versions[i], cb, ud);
	return 0;
}

int spur_version_get(struct spur_fn *fn, const char *version, spur_version_fn cb, void *ud)
{
	struct spur_function *v = !version || !*version || strcmp(version, "$LATEST") == 0 ?
		spur_fn_latest(fn) : find_version(view_of(fn), version);
	if (!v)
		return -ENOENT;
	info_of(v, cb, ud);
	return 0;
}

int spur_version_delete(struct spur_fn *fn, const char *version,
			char *why, size_t whylen)
{
	int rc = 0;
	pthread_mutex_lock(&fn->lock);
	struct fn_view *view = view_of(fn);
	struct spur_function *v = find_version(view, version);
	if (!v) {
		snprintf(why, whylen, "Function not found: %s:%s", fn->arn, version);
		rc = -ENOENT;
		goto done;
	}
	for (size_t i = 0; i < view->n_aliases; i++)
		if (view->aliases[i].primary == v || view->aliases[i].extra == v) {
			snprintf(why, whylen, "Unable to delete version because the following aliases reference it: [%s]",
				 view->aliases[i].name);
			rc = -EBUSY;
			goto done;
		}
	struct fn_view *nv = spur_fnpriv_view_copy(view);
	if (!nv) {
		rc = -ENOMEM;
		goto done;
	}
	size_t j = 0;
	for (size_t i = 0; i < nv->n_versions; i++)
		if (nv->versions[i] != v)
			nv->versions[j++] = nv->versions[i];
	nv->n_versions = j;
	rc = spur_version_store_persist(fn, nv);
	if (rc < 0) {
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
		view_drop(nv);
		goto done;
	}
	spur_fnpriv_publish_view(fn, nv);
	fn->env->pools->retire(fn->env->pools_ud, v->pool);
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

/* --- aliases ----------------------------------------------------------------- */

bool spur_version_alias_name_ok(const char *s, char *why, size_t whylen)
{
	size_t n = strlen(s);
	bool digits = n > 0;
	if (n == 0 || n > 128)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			goto bad;
		digits &= c >= '0' && c <= '9';
	}
	if (digits) {
		snprintf(why, whylen, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", s);
		return false;
	}
	return true;
bad:
	snprintf(why, whylen, "1 validation error detected: Value '%.130s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", s);
	return false;
}

/* Check and resolve an alias's targets (lock held). */
int spur_version_alias_targets(struct spur_fn *fn, const struct fn_view *view,
			       const char *version, const char *extra, double weight,
			       struct spur_function **pa, struct spur_function **pb,
			       char *why, size_t whylen)
{
	*pb = NULL;
	if (strcmp(version, "$LATEST") == 0) {
		if (extra) {
			snprintf(why, whylen, "$LATEST is not supported for an alias pointing to more than 1 version");
			return -EINVAL;
		}
		*pa = spur_fn_latest(fn);
	} else if (!(*pa = find_version(view, version))) {
		snprintf(why, whylen, "Function not found: %s:%s", fn->arn, version);
		return -ENOENT;
	}
	if (!extra)
		return 0;
	if (strcmp(extra, "$LATEST") == 0) {
		snprintf(why, whylen, "$LATEST is not supported for an alias pointing to more than 1 version");
		return -EINVAL;
	}
	if (!(weight >= 0.0 && weight <= 1.0)) {
		snprintf(why, whylen, "1 validation error detected: Value '%g' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]",
			 weight);
		return -EINVAL;
	}
	if (strcmp(extra, version) == 0) {
		snprintf(why, whylen, "Invalid function version %s. Function version %s is already included in routing configuration.",
			 extra, extra);
		return -EINVAL;
	}
	if (!(*pb = find_version(view, extra))) {
		snprintf(why, whylen, "Function not found: %s:%s", fn->arn, extra);
		return -ENOENT;
	}
	return 0;
}


/* Put an alias into a new view and publish it (lock held). */
int spur_version_alias_store(struct spur_fn *fn, const char *name,
			     struct spur_function *a, struct spur_function *b, double weight,
			     const char *description, bool from_config, bool persist_it,
			     spur_alias_fn cb, void *ud, char *why, size_t whylen)
{
	struct fn_view *nv = spur_fnpriv_view_copy(view_of(fn));
	if (!nv)
		return -ENOMEM;
	struct spur_alias *al = find_alias(nv, name);
	if (!al) {
		al = &nv->aliases[nv->n_aliases++];
		memset(al, 0, sizeof(*al));
		snprintf(al->name, sizeof(al->name), "%s", name);
	}
	al->primary = a;
	al->extra = b;
	al->weight = b ? weight : 0;
	al->from_config = from_config;
	if (description) {
		free(al->description);
		al->description = strdup(description);
	}
	spur_uuid(al->revision);
	if (persist_it) {
		int rc = spur_version_store_persist(fn, nv);
		if (rc < 0) {
			snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
			view_drop(nv);
			return rc;
		}
	}
	spur_version_warm_target(fn, name, a, b);	/* before traffic moves */
	spur_fnpriv_publish_view(fn, nv);
	alias_of(al, cb, ud);
	return 0;
}

int spur_alias_put(struct spur_fn *fn, const char *name, bool create,
		   const char *version, const char *extra_version, double extra_weight,
		   const char *description, const char *expect_revision,
		   spur_alias_fn cb, void *ud, char *why, size_t whylen)
{
	int rc;
	if (!spur_version_alias_name_ok(name, why, whylen))
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	struct fn_view *view = view_of(fn);
	struct spur_alias *old = find_alias(view, name);
	if (create && old) {
		snprintf(why, whylen, "Alias already exists: %s:%s", fn->arn, name);
		rc = -EEXIST;
		goto done;
	}
	if (!create && !old) {
		snprintf(why, whylen, "Alias not found: %s:%s", fn->arn, name);
		rc = -ENOENT;
		goto done;
	}
	if (old && old->from_config) {
		snprintf(why, whylen, "alias %s is defined in the config file, which wins: change it there and reload",
			 name);
		rc = -EBUSY;
		goto done;
	}
	if (old && expect_revision && *expect_revision && strcmp(expect_revision, old->revision) != 0) {
		snprintf(why, whylen, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
		rc = -ESTALE;
		goto done;
	}
	if (!version && old)
		version = old->primary->version;
	if (!version) {
		snprintf(why, whylen, "FunctionVersion is required");
		rc = -EINVAL;
		goto done;
	}
	struct spur_function *a, *b;
	rc = spur_version_alias_targets(fn, view, version, extra_version, extra_weight, &a, &b, why, whylen);
	if (rc == 0)
		rc = spur_version_alias_store(fn, name, a, b, extra_weight, description, false, true,
				 cb, ud, why, whylen);
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

int spur_alias_get(struct spur_fn *fn, const char *name, spur_alias_fn cb, void *ud)
{
	const struct spur_alias *a = find_alias(view_of(fn), name);
	if (!a)
		return -ENOENT;
	alias_of(a, cb, ud);
	return 0;
}

int spur_alias_list(struct spur_fn *fn, spur_alias_fn cb, void *ud)
{
	const struct fn_view *v = view_of(fn);
	for (size_t i = 0; i < v->n_aliases; i++)
		alias_of(&v->aliases[i], cb, ud);
	return 0;
}

int spur_alias_delete(struct spur_fn *fn, const char *name,
		      char *why, size_t whylen)
{
	int rc = 0;
	pthread_mutex_lock(&fn->lock);
	struct fn_view *view = view_of(fn);
	struct spur_alias *old = find_alias(view, name);
	if (!old) {
		snprintf(why, whylen, "Alias not found: %s:%s", fn->arn, name);
		rc = -ENOENT;
		goto done;
	}
	if (old->from_config) {
		snprintf(why, whylen, "alias %s is defined in the config file, which wins: remove it there and reload",
			 name);
		rc = -EBUSY;
		goto done;
	}
	struct fn_view *nv = spur_fnpriv_view_copy(view);
	if (!nv) {
		rc = -ENOMEM;
		goto done;
	}
	size_t j = 0;
	for (size_t i = 0; i < nv->n_aliases; i++) {
		if (strcmp(nv->aliases[i].name, name) == 0)
			free(nv->aliases[i].description);
		else
			nv->aliases[j++] = nv->aliases[i];
	}
	nv->n_aliases = j;
	rc = spur_version_store_persist(fn, nv);
	if (rc < 0) {
		view_drop(nv);
		goto done;
	}
	spur_fnpriv_publish_view(fn, nv);
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

/* --- concurrency and event settings -------------------------------------- */

int spur_concurrency_put(struct spur_fn *fn, long n, char *why, size_t whylen)
{
	pthread_mutex_lock(&fn->lock);
	long before = atomic_load(&fn->reserved);
	bool api_before = fn->reserved_from_api;
	atomic_store(&fn->reserved, n < 0 ? fn->cfg->reserved : n);
	fn->reserved_from_api = n >= 0;
	int rc = spur_version_store_persist(fn, view_of(fn));
	if (rc < 0) {
		atomic_store(&fn->reserved, before);
		fn->reserved_from_api = api_before;
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
	}
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

long spur_concurrency_get(struct spur_fn *fn)
{
	return atomic_load(&fn->reserved);
}

int spur_provisioned_put(struct spur_fn *fn, const char *qualifier,
			 int n, char *why, size_t whylen)
{
	if (!qualifier || !*qualifier || strcmp(qualifier, "$LATEST") == 0) {
		snprintf(why, whylen, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
		return -EINVAL;
	}
	int rc = 0;
	pthread_mutex_lock(&fn->lock);
	struct spur_function *a = NULL, *b = NULL;
	const struct fn_view *view = view_of(fn);
	struct spur_alias *al = find_alias((struct fn_view *)view, qualifier);
	if (al) {
		a = al->primary;
		b = al->extra;
	} else if (!(a = find_version(view, qualifier))) {
		snprintf(why, whylen, "Function not found: %s:%s", fn->arn, qualifier);
		rc = -ENOENT;
		goto done;
	}
	size_t i;
	for (i = 0; i < fn->n_prov && strcmp(fn->prov[i].qual, qualifier) != 0; i++)
		;
	if (i == fn->n_prov) {
		if (n <= 0)
			goto done;
		if (fn->n_prov == SPUR_ARRAY_SIZE(fn->prov)) {
			snprintf(why, whylen, "too many provisioned concurrency configs");
			rc = -EINVAL;
			goto done;
		}
		snprintf(fn->prov[fn->n_prov++].qual, sizeof(fn->prov[0].qual), "%s", qualifier);
	}
	fn->prov[i].n = n;
	if (n <= 0)
		fn->prov[i] = fn->prov[--fn->n_prov];
	rc = spur_version_store_persist(fn, view);
	if (rc < 0) {
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
		goto done;
	}
	if (n <= 0) {
		warm(a, 0);
		if (b)
			warm(b, 0);
	} else {
		spur_version_warm_target(fn, qualifier, a, b);
	}
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

int spur_provisioned_get(struct spur_fn *fn, const char *qualifier, int *requested, int *ready)
{
	int n = prov_for(fn, qualifier ? qualifier : "");
	if (n <= 0)
		return -ENOENT;
	struct spur_function *v = spur_fn_version(fn, qualifier, strlen(qualifier), "");
	*requested = n;
	*ready = v ? (int)fn->env->pools->idle(fn->env->pools_ud, v->pool) : 0;
	if (*ready > n)
		*ready = n;
	return 0;
}

int spur_event_config_put(struct spur_fn *fn, int max_retries,
			  int max_age_s, char *why, size_t whylen)
{
	if (max_retries > 2 || (max_age_s >= 0 && (max_age_s < 60 || max_age_s > 21600))) {
		snprintf(why, whylen, "MaximumRetryAttempts must be 0..2 and MaximumEventAgeInSeconds 60..21600");
		return -EINVAL;
	}
	pthread_mutex_lock(&fn->lock);
	int r0 = fn->event_max_retries, a0 = fn->event_max_age_s;
	if (max_retries >= 0)
		fn->event_max_retries = max_retries;
	if (max_age_s >= 0)
		fn->event_max_age_s = max_age_s;
	int rc = spur_version_store_persist(fn, view_of(fn));
	if (rc < 0) {
		fn->event_max_retries = r0;
		fn->event_max_age_s = a0;
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
	}
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

int spur_event_config_get(struct spur_fn *fn, int *max_retries, int *max_age_s)
{
	*max_retries = fn->event_max_retries >= 0 ? fn->event_max_retries : (int)fn->cfg->max_retries;
	*max_age_s = fn->event_max_age_s >= 0 ? fn->event_max_age_s :
		(int)(fn->cfg->max_event_age_ms / 1000);
	return 0;
}
