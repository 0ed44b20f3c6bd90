/* SPDX-License-Identifier: MIT */
/*
 * version_store.c - the registry in the store (see version_store.h):
 * writing a function's versions, API aliases and settings, and loading
 * them at start, then applying the config's aliases and provisioned
 * contexts (which win over the API's).
 *
 * One store key per function (namespace "registry") holds its versions,
 * API aliases and settings as JSON; each change writes it whole, durably,
 * before the in-memory view changes. Writers hold the function's lock;
 * loading runs once at start, before traffic.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fnpriv.h"
#include "spur/store.h"
#include "util.h"
#include "version.h"
#include "version_store.h"
#include "yaml.h"

#define REGISTRY_NS "registry"

static struct fn_view *view_of(struct spur_fn *fn)
{
	return atomic_load(&fn->view);
}

/* --- persistence ------------------------------------------------------------- */

static json_t *alias_json(const struct spur_alias *a)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", a->name, "version", a->primary->version,
			      "description", a->description ? a->description : "",
			      "revision", a->revision);
	if (o && a->extra) {
		json_object_set_new(o, "extra", json_string(a->extra->version));
		json_object_set_new(o, "weight", json_real(a->weight));
	}
	return o;
}

/* Write the function's whole registry state, with `view` as its future. */
int spur_version_store_persist(struct spur_fn *fn, const struct fn_view *view)
{
	const struct spur_store *st = fn->env->store;
	void *si = fn->env->store_instance;
	if (!st)
		return -ENOTSUP;
	json_t *versions = json_array(), *aliases = json_array(), *prov = json_object();
	for (size_t i = 0; i < view->n_versions; i++) {
		const struct spur_function *v = view->versions[i];
		json_array_append_new(versions, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s}",
			"version", v->version, "sha", v->code_sha, "hex", v->code_hex,
			"size", (json_int_t)v->code_size, "description", v->description ? v->description : "",
			"revision", v->revision, "modified", (json_int_t)v->modified_ms,
			"code", v->cfg->code, "settings", v->settings_json ? v->settings_json : "{}"));
	}
	for (size_t i = 0; i < view->n_aliases; i++)
		if (!view->aliases[i].from_config)
			json_array_append_new(aliases, alias_json(&view->aliases[i]));
	for (size_t i = 0; i < fn->n_prov; i++)
		json_object_set_new(prov, fn->prov[i].qual, json_integer(fn->prov[i].n));
	json_t *doc = json_pack("{s:i, s:o, s:o, s:o, s:i, s:i}", "next", fn->next_version,
				"versions", versions, "aliases", aliases, "provisioned", prov,
				"event_max_retries", fn->event_max_retries,
				"event_max_age_s", fn->event_max_age_s);
	if (doc && fn->reserved_from_api)
		json_object_set_new(doc, "reserved", json_integer(atomic_load(&fn->reserved)));
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	struct spur_store_op op = {
		.kind = SPUR_STORE_KEY_SET, .ns = REGISTRY_NS, .key = fn->name,
		.value = text, .value_len = strlen(text), .expires_ms = INT64_MAX / 2,
	};
	int rc = st->apply(si, &op, 1, NULL);
	free(text);
	return rc;
}

/* --- loading ----------------------------------------------------------------- */

struct got {
	char *value;
};

static void on_value(void *ud, const char *v, size_t len)
{
	((struct got *)ud)->value = strndup(v, len);
}

/* The stored state of one function (versions, API aliases, settings). */
static int load_fn(struct spur_fn *fn, const struct spur_store *st,
		   void *si, FILE *err)
{
	struct got g = { 0 };
	if (st->key_get(si, REGISTRY_NS, fn->name, on_value, &g) != 1)
		return 0;	/* nothing published yet */
	json_t *doc = json_loads(g.value, 0, NULL);
	free(g.value);
	if (!doc) {
		fprintf(err, "registry of %s: unreadable; left as it is\n", fn->name);
		return -EINVAL;
	}
	int rc = 0;
	struct fn_view *nv = spur_fnpriv_view_copy(view_of(fn));
	json_t *vs = json_object_get(doc, "versions"), *x;
	size_t i;
	nv->versions = realloc(nv->versions, (json_array_size(vs) + 1) * sizeof(*nv->versions));
	json_array_foreach(vs, i, x) {
		char why[1024];
		const char *number = json_string_value(json_object_get(x, "version"));
		const char *settings = json_string_value(json_object_get(x, "settings"));
		const char *code = json_string_value(json_object_get(x, "code"));
		struct spur_function *v = number && settings && code ?
			spur_version_make(fn, number, settings, code, why, sizeof(why)) : NULL;
		if (!v) {
			fprintf(err, "function %s: version %s did not load: %s\n", fn->name,
				number ? number : "?", number ? why : "unreadable entry");
			rc = -EINVAL;
			continue;
		}
		snprintf(v->code_sha, sizeof(v->code_sha), "%s",
			 json_string_value(json_object_get(x, "sha")) ?: "");
		snprintf(v->code_hex, sizeof(v->code_hex), "%s",
			 json_string_value(json_object_get(x, "hex")) ?: "");
		snprintf(v->revision, sizeof(v->revision), "%s",
			 json_string_value(json_object_get(x, "revision")) ?: "");
		v->code_size = json_integer_value(json_object_get(x, "size"));
		v->modified_ms = json_integer_value(json_object_get(x, "modified"));
		v->description = strdup(json_string_value(json_object_get(x, "description")) ?: "");
		v->next = fn->all_versions;
		fn->all_versions = v;
		nv->versions[nv->n_versions++] = v;
	}
	fn->next_version = (int)json_integer_value(json_object_get(doc, "next"));
	if (fn->next_version < 1)
		fn->next_version = (int)nv->n_versions + 1;
	spur_fnpriv_publish_view(fn, nv);
	json_t *as = json_object_get(doc, "aliases");
	json_array_foreach(as, i, x) {
		char why[256];
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *ver = json_string_value(json_object_get(x, "version"));
		const char *extra = json_string_value(json_object_get(x, "extra"));
		struct spur_function *a, *b;
		if (!name || !ver || spur_version_alias_targets(fn, view_of(fn), ver, extra,
						   json_real_value(json_object_get(x, "weight")),
						   &a, &b, why, sizeof(why)) < 0) {
			fprintf(err, "function %s: alias %s dropped: %s\n", fn->name,
				name ? name : "?", name ? why : "unreadable");
			continue;
		}
		spur_version_alias_store(fn, name, a, b, json_real_value(json_object_get(x, "weight")),
			    json_string_value(json_object_get(x, "description")), false, false,
			    NULL, NULL, why, sizeof(why));
	}
	json_t *r = json_object_get(doc, "reserved");
	if (json_is_integer(r)) {
		atomic_store(&fn->reserved, (long)json_integer_value(r));
		fn->reserved_from_api = true;
	}
	fn->event_max_retries = json_is_integer(json_object_get(doc, "event_max_retries")) ?
		(int)json_integer_value(json_object_get(doc, "event_max_retries")) : -1;
	fn->event_max_age_s = json_is_integer(json_object_get(doc, "event_max_age_s")) ?
		(int)json_integer_value(json_object_get(doc, "event_max_age_s")) : -1;
	const char *q;
	json_object_foreach(json_object_get(doc, "provisioned"), q, x) {
		if (fn->n_prov < SPUR_ARRAY_SIZE(fn->prov)) {
			snprintf(fn->prov[fn->n_prov].qual, sizeof(fn->prov[0].qual), "%s", q);
			fn->prov[fn->n_prov++].n = (int)json_integer_value(x);
		}
	}
	json_decref(doc);
	return rc;
}

/* Config aliases and provisioned settings, applied at every load; they
 * win over the API's. Errors name the config line. */
static int apply_config(struct spur_fn *fn, FILE *err)
{
	const char *file = fn->env->config_file;
	const struct spur_ynode *node = fn->cfg->node;
	const struct spur_ypair *al = node && node->kind == SPUR_YNODE_MAP ?
		spur_yaml_map_find(node, "aliases") : NULL;
	int rc = 0;
	for (size_t i = 0; al && al->value->kind == SPUR_YNODE_MAP && i < al->value->n; i++) {
		const struct spur_ypair *p = &al->value->pairs[i];
		const char *version = NULL, *extra = NULL;
		double weight = 0;
		char why[512];
		if (p->value->kind == SPUR_YNODE_SCALAR) {
			version = p->value->text;
		} else if (p->value->kind == SPUR_YNODE_MAP) {
			const struct spur_ypair *v = spur_yaml_map_find(p->value, "version");
			const struct spur_ypair *w = spur_yaml_map_find(p->value, "weights");
			version = v && v->value->kind == SPUR_YNODE_SCALAR ? v->value->text : NULL;
			if (w && w->value->kind == SPUR_YNODE_MAP && w->value->n == 1) {
				extra = w->value->pairs[0].key;
				weight = strtod(w->value->pairs[0].value->text ?: "0", NULL);
			} else if (w && w->value->kind == SPUR_YNODE_MAP && w->value->n > 1) {
				fprintf(err, "%s:%d: alias %s: at most one additional version\n",
					file, w->line, p->key);
				rc = -EINVAL;
				continue;
			}
		}
		struct spur_function *a, *b;
		if (!version || !spur_version_alias_name_ok(p->key, why, sizeof(why)) ||
		    spur_version_alias_targets(fn, view_of(fn), version, extra, weight, &a, &b, why, sizeof(why)) < 0) {
			fprintf(err, "%s:%d: function '%s': alias %s: %s\n", file, p->line,
				fn->name, p->key, version ? why : "needs a version");
			rc = -EINVAL;
			continue;
		}
		pthread_mutex_lock(&fn->lock);
		spur_version_alias_store(fn, p->key, a, b, weight, NULL, true, false, NULL, NULL,
			    why, sizeof(why));
		pthread_mutex_unlock(&fn->lock);
	}
	const struct spur_ypair *pv = node && node->kind == SPUR_YNODE_MAP ?
		spur_yaml_map_find(node, "provisioned") : NULL;
	for (size_t i = 0; pv && pv->value->kind == SPUR_YNODE_MAP && i < pv->value->n; i++) {
		const struct spur_ypair *p = &pv->value->pairs[i];
		char why[256];
		int n = (int)strtol(p->value->text ?: "0", NULL, 10);
		if (spur_provisioned_put(fn, p->key, n, why, sizeof(why)) < 0) {
			fprintf(err, "%s:%d: function '%s': provisioned %s: %s\n", file, p->line,
				fn->name, p->key, why);
			rc = -EINVAL;
		}
	}
	return rc;
}

int spur_versions_load(struct spur_registry *reg, FILE *err)
{
	int rc = 0;
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		const struct spur_store *st = fn->env->store;
		void *si = fn->env->store_instance;
		if (st && load_fn(fn, st, si, err) < 0)
			rc = -EINVAL;
		if (apply_config(fn, err) < 0)
			rc = -EINVAL;
		for (size_t j = 0; j < fn->n_prov; j++)
			spur_version_warm_target(fn, fn->prov[j].qual,
				    spur_fn_version(fn, fn->prov[j].qual, strlen(fn->prov[j].qual), ""),
				    NULL);
	}
	return rc;
}
