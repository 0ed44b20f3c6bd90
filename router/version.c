/* SPDX-License-Identifier: MIT */
/*
 * version.c - the registry's write side (see version.h): publishing code
 * snapshots, aliases, concurrency settings, persistence in the store.
 *
 * Snapshots: state_dir/code/<sha256 hex>/<name> holds an immutable copy
 * of a version's code (a .lua or .so file, or a whole directory). The
 * code is copied to a temporary directory first and the COPY is hashed,
 * then renamed into place: a file rewritten during publish cannot give a
 * snapshot whose hash does not describe it.
 * Persistence: one store key per function (namespace "registry") holds
 * its versions, API aliases and settings as JSON; each change writes it
 * whole, durably, before the in-memory view changes.
 * Writers hold the function's lock; readers never do (function.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "fnpriv.h"
#include "host.h"
#include "invoke.h"
#include "util.h"
#include "version.h"
#include "yaml.h"

#define REGISTRY_NS "registry"

/* --- code snapshots -------------------------------------------------------- */

struct snap {
	EVP_MD_CTX *md;
	int64_t size;
};

static int copy_file(const char *src, const char *dst, const char *rel, struct snap *sn)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	char buf[65536];
	if (in < 0)
		return -errno;
	if (dst && (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		rc = -errno;
		goto done;
	}
	EVP_DigestUpdate(sn->md, rel, strlen(rel) + 1);	/* the name is part of the code */
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto done;
		}
		if (n == 0)
			break;
		/* hash what is written, i.e. the copy, not the source */
		EVP_DigestUpdate(sn->md, buf, (size_t)n);
		sn->size += n;
		for (ssize_t off = 0; out >= 0 && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -errno;
				goto done;
			}
			off += w;
		}
	}
	if (out >= 0 && fsync(out) < 0)
		rc = -errno;
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy a tree, in sorted order so the hash does not depend on readdir. */
static int copy_tree(const char *src, const char *dst, const char *rel, struct snap *sn)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return copy_file(src, dst, rel, sn);
	if (!S_ISDIR(st.st_mode))
		return 0;	/* sockets, devices: not code */
	if (dst && mkdir(dst, 0755) < 0)
		return -errno;
	DIR *d = opendir(src);
	if (!d)
		return -errno;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **v = realloc(names, cap * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			names = v;
		}
		if (!(names[n++] = strdup(e->d_name)))
			rc = -ENOMEM;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char s2[4096], d2[4096], r2[4096];
		if (snprintf(s2, sizeof(s2), "%s/%s", src, names[i]) >= (int)sizeof(s2) ||
		    snprintf(d2, sizeof(d2), "%s/%s", dst ? dst : "", names[i]) >= (int)sizeof(d2) ||
		    snprintf(r2, sizeof(r2), "%s/%s", rel, names[i]) >= (int)sizeof(r2))
			rc = -ENAMETOOLONG;
		else
			rc = copy_tree(s2, dst ? d2 : NULL, r2, sn);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char sub[4096];
			if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < (int)sizeof(sub))
				rm_tree(sub);
		}
		if (d)
			closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

static void digest_out(EVP_MD_CTX *md, char hex[65], char b64[48])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(md, d, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	char *b = spur_base64(d, n);
	snprintf(b64, 48, "%s", b ? b : "");
	free(b);
}

int spur_version_hash_code(const char *src, char hex[65], char b64[48], int64_t *size)
{
	struct snap sn = { .md = EVP_MD_CTX_new() };
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	if (!sn.md)
		return -ENOMEM;
	EVP_DigestInit_ex(sn.md, EVP_sha256(), NULL);
	int rc = copy_tree(src, NULL, base, &sn);	/* the same walk as a snapshot, hashing only */
	if (rc == 0)
		digest_out(sn.md, hex, b64);
	*size = sn.size;
	EVP_MD_CTX_free(sn.md);
	return rc;
}

/* Snapshot the code at src: fills hex, b64, size and the snapshot's path. */
static int snapshot(struct spur_host *h, const char *src, char hex[65], char b64[48],
		    int64_t *size, char *out, size_t outlen, char *why, size_t whylen)
{
	char root[4096], tmp[4096], final[4096];
	char id[37];
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	struct snap sn = { .md = EVP_MD_CTX_new() };
	int rc = -ENOMEM;
	char dst[4096];
	spur_uuid(id);
	tmp[0] = '\0';
	if (!sn.md)
		goto fail;
	if (snprintf(root, sizeof(root), "%s/code", spur_host_state_dir(h)) >= (int)sizeof(root) - 64 ||
	    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", root, id) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", tmp, base) >= (int)sizeof(dst)) {
		rc = -ENAMETOOLONG;
		snprintf(why, whylen, "the code path is too long");
		goto fail;
	}
	if ((mkdir(root, 0755) < 0 && errno != EEXIST) || mkdir(tmp, 0755) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot make %s: %s", tmp, strerror(errno));
		goto fail;
	}
	EVP_DigestInit_ex(sn.md, EVP_sha256(), NULL);
	rc = copy_tree(src, dst, base, &sn);
	if (rc < 0) {
		snprintf(why, whylen, "cannot copy the code %s: %s", src, spur_strerror(rc));
		goto fail;
	}
	digest_out(sn.md, hex, b64);
	*size = sn.size;
	if (snprintf(final, sizeof(final), "%s/%s", root, hex) >= (int)sizeof(final) ||
	    snprintf(out, outlen, "%s/%s/%s", root, hex, base) >= (int)outlen) {
		rc = -ENAMETOOLONG;
		snprintf(why, whylen, "the code path is too long");
		goto fail;
	}
	if (rename(tmp, final) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			rc = -errno;
			snprintf(why, whylen, "cannot keep the snapshot: %s", strerror(errno));
			goto fail;
		}
		rm_tree(tmp);	/* the same code is there already */
	}
	EVP_MD_CTX_free(sn.md);
	return 0;
fail:
	if (tmp[0])
		rm_tree(tmp);
	EVP_MD_CTX_free(sn.md);
	return rc;
}

/* --- settings as JSON -------------------------------------------------------- */

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
static int persist(struct spur_host *h, struct spur_fn *fn, const struct fn_view *view)
{
	void *si;
	const struct spur_store *st = spur_host_store(h, &si);
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

/* Bring a version's pool to n idle contexts (provisioned concurrency). */
static void warm(struct spur_host *h, struct spur_function *v, int n)
{
	spur_pool_set_provisioned(v->pool, n);
	char why[256];
	for (int have = (int)spur_pool_idle(v->pool); have < n; have++) {
		struct spur_context *c = spur_invoke_cold_start(h, v, why, sizeof(why));
		if (!c) {
			spur_log_write(spur_host_log(h), SPUR_LOG_WARN, NULL,
				       "provisioned context of %s:%s did not start: %s",
				       v->fn->name, v->version, why);
			return;
		}
		spur_pool_put(v->pool, c, true);
	}
}

static int prov_for(const struct spur_fn *fn, const char *qual)
{
	for (size_t i = 0; i < fn->n_prov; i++)
		if (strcmp(fn->prov[i].qual, qual) == 0)
			return fn->prov[i].n;
	return 0;
}

/* Warm what an alias (or version) needs before traffic reaches it. */
static void warm_target(struct spur_host *h, struct spur_fn *fn, const char *qual,
			struct spur_function *a, struct spur_function *b)
{
	int n = prov_for(fn, qual);
	if (n <= 0)
		return;
	if (a)
		warm(h, a, n);
	if (b)
		warm(h, b, n);
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

static struct spur_function *make_version(struct spur_host *h, struct spur_fn *fn,
					  const char *number, const char *settings,
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
	struct spur_function *v = spur_fnpriv_version_new(h, fn, number, cfg, true, err);
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

int spur_version_publish(struct spur_host *h, struct spur_fn *fn, const char *description,
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
	rc = snapshot(h, latest->cfg->code, hex, b64, &size, code, sizeof(code), why, whylen);
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
	struct spur_function *v = make_version(h, fn, number, settings, code, why, whylen);
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
	rc = persist(h, fn, nv);
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
	spur_pool_free(v->pool);
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

int spur_version_delete(struct spur_host *h, struct spur_fn *fn, const char *version,
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
	rc = persist(h, fn, nv);
	if (rc < 0) {
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
		view_drop(nv);
		goto done;
	}
	spur_fnpriv_publish_view(fn, nv);
	spur_pool_retire(v->pool);
done:
	pthread_mutex_unlock(&fn->lock);
	return rc;
}

/* --- aliases ----------------------------------------------------------------- */

static bool alias_name_ok(const char *s, char *why, size_t whylen)
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
static int alias_targets(struct spur_fn *fn, const struct fn_view *view, const char *version,
			 const char *extra, double weight, struct spur_function **pa,
			 struct spur_function **pb, char *why, size_t whylen)
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
static int alias_store(struct spur_host *h, struct spur_fn *fn, const char *name,
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
		int rc = persist(h, fn, nv);
		if (rc < 0) {
			snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
			view_drop(nv);
			return rc;
		}
	}
	warm_target(h, fn, name, a, b);	/* before traffic moves */
	spur_fnpriv_publish_view(fn, nv);
	alias_of(al, cb, ud);
	return 0;
}

int spur_alias_put(struct spur_host *h, struct spur_fn *fn, const char *name, bool create,
		   const char *version, const char *extra_version, double extra_weight,
		   const char *description, const char *expect_revision,
		   spur_alias_fn cb, void *ud, char *why, size_t whylen)
{
	int rc;
	if (!alias_name_ok(name, why, whylen))
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
	rc = alias_targets(fn, view, version, extra_version, extra_weight, &a, &b, why, whylen);
	if (rc == 0)
		rc = alias_store(h, fn, name, a, b, extra_weight, description, false, true,
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

int spur_alias_delete(struct spur_host *h, struct spur_fn *fn, const char *name,
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
	rc = persist(h, fn, nv);
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

int spur_concurrency_put(struct spur_host *h, struct spur_fn *fn, long n, char *why, size_t whylen)
{
	pthread_mutex_lock(&fn->lock);
	long before = atomic_load(&fn->reserved);
	bool api_before = fn->reserved_from_api;
	atomic_store(&fn->reserved, n < 0 ? fn->cfg->reserved : n);
	fn->reserved_from_api = n >= 0;
	int rc = persist(h, fn, view_of(fn));
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

int spur_provisioned_put(struct spur_host *h, struct spur_fn *fn, const char *qualifier,
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
	rc = persist(h, fn, view);
	if (rc < 0) {
		snprintf(why, whylen, "the registry could not be stored: %s", spur_strerror(rc));
		goto done;
	}
	if (n <= 0) {
		spur_pool_set_provisioned(a->pool, 0);
		if (b)
			spur_pool_set_provisioned(b->pool, 0);
	} else {
		warm_target(h, fn, qualifier, a, b);
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
	*ready = v ? (int)spur_pool_idle(v->pool) : 0;
	if (*ready > n)
		*ready = n;
	return 0;
}

int spur_event_config_put(struct spur_host *h, struct spur_fn *fn, int max_retries,
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
	int rc = persist(h, fn, view_of(fn));
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

/* --- loading ----------------------------------------------------------------- */

struct got {
	char *value;
};

static void on_value(void *ud, const char *v, size_t len)
{
	((struct got *)ud)->value = strndup(v, len);
}

/* The stored state of one function (versions, API aliases, settings). */
static int load_fn(struct spur_host *h, struct spur_fn *fn, const struct spur_store *st,
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
			make_version(h, fn, number, settings, code, why, sizeof(why)) : NULL;
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
		if (!name || !ver || alias_targets(fn, view_of(fn), ver, extra,
						   json_real_value(json_object_get(x, "weight")),
						   &a, &b, why, sizeof(why)) < 0) {
			fprintf(err, "function %s: alias %s dropped: %s\n", fn->name,
				name ? name : "?", name ? why : "unreadable");
			continue;
		}
		alias_store(h, fn, name, a, b, json_real_value(json_object_get(x, "weight")),
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
static int apply_config(struct spur_host *h, struct spur_fn *fn, FILE *err)
{
	const struct spur_config *conf = spur_host_config(h);
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
					conf->file, w->line, p->key);
				rc = -EINVAL;
				continue;
			}
		}
		struct spur_function *a, *b;
		if (!version || !alias_name_ok(p->key, why, sizeof(why)) ||
		    alias_targets(fn, view_of(fn), version, extra, weight, &a, &b, why, sizeof(why)) < 0) {
			fprintf(err, "%s:%d: function '%s': alias %s: %s\n", conf->file, p->line,
				fn->name, p->key, version ? why : "needs a version");
			rc = -EINVAL;
			continue;
		}
		pthread_mutex_lock(&fn->lock);
		alias_store(h, fn, p->key, a, b, weight, NULL, true, false, NULL, NULL,
			    why, sizeof(why));
		pthread_mutex_unlock(&fn->lock);
	}
	const struct spur_ypair *pv = node && node->kind == SPUR_YNODE_MAP ?
		spur_yaml_map_find(node, "provisioned") : NULL;
	for (size_t i = 0; pv && pv->value->kind == SPUR_YNODE_MAP && i < pv->value->n; i++) {
		const struct spur_ypair *p = &pv->value->pairs[i];
		char why[256];
		int n = (int)strtol(p->value->text ?: "0", NULL, 10);
		if (spur_provisioned_put(h, fn, p->key, n, why, sizeof(why)) < 0) {
			fprintf(err, "%s:%d: function '%s': provisioned %s: %s\n", conf->file, p->line,
				fn->name, p->key, why);
			rc = -EINVAL;
		}
	}
	return rc;
}

int spur_versions_load(struct spur_host *h, FILE *err)
{
	void *si;
	const struct spur_store *st = spur_host_store(h, &si);
	struct spur_registry *reg = spur_host_registry(h);
	int rc = 0;
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		struct spur_fn *fn = spur_registry_at(reg, i);
		if (st && load_fn(h, fn, st, si, err) < 0)
			rc = -EINVAL;
		if (apply_config(h, fn, err) < 0)
			rc = -EINVAL;
		for (size_t j = 0; j < fn->n_prov; j++)
			warm_target(h, fn, fn->prov[j].qual,
				    spur_fn_version(fn, fn->prov[j].qual, strlen(fn->prov[j].qual), ""),
				    NULL);
	}
	return rc;
}
