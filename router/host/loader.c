/* SPDX-License-Identifier: MIT */
/*
 * loader.c - the plugin loader (see loader.h).
 * Runs once at start (and at `spur check`); nothing here is on a hot path.
 * The descriptor is copied into a zeroed struct of the host's size, reading
 * no more than the plugin's struct_size, so a plugin built against an older
 * minor version sees NULL for the callbacks it does not know.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "util.h"

#ifndef SPUR_BUILD_ROOT
#define SPUR_BUILD_ROOT ""
#endif
#ifndef SPUR_PLUGIN_DIR
#define SPUR_PLUGIN_DIR "/usr/local/lib/spur"
#endif

/* ABI 1.0's descriptor ends with the runtime pointer. */
#define SPUR_PLUGIN_MIN_SIZE \
	(offsetof(struct spur_plugin, runtime) + sizeof(((struct spur_plugin *)0)->runtime))

/* The sizes of the role tables at ABI 1.0: a plugin built for 1.0 has
 * at least these; members appended since are read only when its
 * struct_size covers them (SPUR_HAS_MEMBER). */
#define SIZE_UPTO(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#define RUNTIME_MIN_SIZE SIZE_UPTO(struct spur_runtime, invoke)
#define STORE_MIN_SIZE SIZE_UPTO(struct spur_store, writable)
#define DESTINATION_MIN_SIZE SIZE_UPTO(struct spur_destination, close)

/* What is wrong with a descriptor's role tables, or NULL: every role has
 * its table, of at least the 1.0 size, with the callbacks the host calls
 * without looking (optional ones are checked at each use). */
static const char *role_problem(const struct spur_plugin *d)
{
	const struct spur_runtime *rt = d->runtime;
	const struct spur_store *st = d->store;
	const struct spur_destination *ds = d->destination;
	if ((d->roles & SPUR_ROLE_RUNTIME) &&
	    (!rt || rt->struct_size < RUNTIME_MIN_SIZE || !rt->name || !rt->code_load ||
	     !rt->context_new || !rt->invoke || !rt->context_free))
		return "runtime role without a complete struct spur_runtime";
	if ((d->roles & SPUR_ROLE_STORE) &&
	    (!st || st->struct_size < STORE_MIN_SIZE || !st->kind || !st->open || !st->close ||
	     !st->apply || !st->take || !st->get || !st->peek || !st->key_get || !st->stats ||
	     !st->purge))
		return "store role without a complete struct spur_store";
	if ((d->roles & SPUR_ROLE_DESTINATION) &&
	    (!ds || ds->struct_size < DESTINATION_MIN_SIZE || !ds->scheme || !ds->open ||
	     !ds->deliver))
		return "destination role without a complete struct spur_destination";
	if ((d->roles & SPUR_ROLE_DESTINATION) &&
	    SPUR_HAS_MEMBER(ds, struct spur_destination, open_named) &&
	    !ds->options != !ds->open_named)
		return "destination declares options without open_named (or the reverse)";
	return NULL;
}

/* ABI 1.0's struct spur_option, the stride of a plugin that names none. */
#define OPTION_SIZE_1_0 SIZE_UPTO(struct spur_option, choices)

/* A table of `stride`-byte elements as host-sized ones: each element's
 * first min(stride, ours) bytes, the rest zero, up to the NULL name. */
static struct spur_option *copy_table(const struct spur_option *t, size_t stride)
{
	size_t n = 0;
	while (((const struct spur_option *)((const char *)t + n * stride))->name)
		n++;
	struct spur_option *c = calloc(n + 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++)
		memcpy(&c[i], (const char *)t + i * stride,
		       stride < sizeof(*c) ? stride : sizeof(*c));
	return c;
}

/* Read every option table of the plugin with the stride it was built
 * with (spur_plugin.option_size), into host-owned copies when that is
 * not ours. With the stride ours (every plugin so far) nothing is copied. */
static int normalize_tables(struct spur_loaded_plugin *p)
{
	size_t stride = p->desc.option_size ? p->desc.option_size : OPTION_SIZE_1_0;
	if (stride == sizeof(struct spur_option))
		return 0;
	const struct spur_option **tables[] = {
		&p->desc.options, &p->desc.route_options, &p->desc.function_options,
	};
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(tables); i++) {
		if (!*tables[i])
			continue;
		struct spur_option *c = copy_table(*tables[i], stride);
		if (!c)
			return -ENOMEM;
		p->owned[p->n_owned++] = c;
		*tables[i] = c;
	}
	const struct spur_destination *d = p->desc.destination;
	if (d && SPUR_HAS_MEMBER(d, struct spur_destination, options) && d->options) {
		struct spur_destination *dc = calloc(1, sizeof(*dc));
		struct spur_option *c = dc ? copy_table(d->options, stride) : NULL;
		if (!c) {
			free(dc);
			return -ENOMEM;
		}
		memcpy(dc, d, d->struct_size < sizeof(*dc) ? d->struct_size : sizeof(*dc));
		dc->options = c;
		p->owned[p->n_owned++] = c;
		p->owned[p->n_owned++] = dc;
		p->desc.destination = dc;
	}
	return 0;
}

struct spur_plugin_set {
	size_t n, cap;
	struct spur_loaded_plugin *v;
};

int spur_plugin_open(const char *path, struct spur_loaded_plugin *out,
		     char *why, size_t len)
{
	memset(out, 0, sizeof(*out));
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(why, len, "%s: cannot load: %s", path, dlerror());
		return -EINVAL;
	}
	const struct spur_plugin *d = dlsym(dl, SPUR_PLUGIN_SYMBOL);
	if (!d) {
		snprintf(why, len, "%s: not a spur plugin (no '%s' symbol)",
			 path, SPUR_PLUGIN_SYMBOL);
		goto fail;
	}
	if (d->abi_major != SPUR_ABI_MAJOR) {
		snprintf(why, len, "%s: plugin ABI %u.%u, but this spur speaks ABI %d.%d: rebuild the plugin",
			 path, d->abi_major, d->abi_minor, SPUR_ABI_MAJOR, SPUR_ABI_MINOR);
		goto fail;
	}
	if (d->struct_size < SPUR_PLUGIN_MIN_SIZE) {
		snprintf(why, len, "%s: descriptor is %u bytes, smaller than ABI %d.0's %zu",
			 path, d->struct_size, SPUR_ABI_MAJOR, (size_t)SPUR_PLUGIN_MIN_SIZE);
		goto fail;
	}
	memcpy(&out->desc, d, d->struct_size < sizeof(out->desc) ? d->struct_size
								 : sizeof(out->desc));
	if (!out->desc.name || !out->desc.init) {
		snprintf(why, len, "%s: descriptor lacks a name or init()", path);
		goto fail;
	}
	if (normalize_tables(out) < 0) {
		snprintf(why, len, "%s: out of memory", path);
		goto fail;
	}
	const char *role = role_problem(&out->desc);
	if (role) {
		snprintf(why, len, "%s: %s", path, role);
		goto fail;
	}
	out->dl = dl;
	out->path = strdup(path);
	if (!out->path) {
		snprintf(why, len, "%s: out of memory", path);
		goto fail;
	}
	return 0;
fail:
	for (size_t k = 0; k < out->n_owned; k++)
		free(out->owned[k]);
	dlclose(dl);
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

static struct spur_loaded_plugin *find(struct spur_plugin_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].desc.name, name) == 0)
			return &set->v[i];
	return NULL;
}

static int add_file(struct spur_plugin_set *set, const char *path, FILE *err)
{
	struct spur_loaded_plugin p;
	char why[PATH_MAX + 256];
	if (spur_plugin_open(path, &p, why, sizeof(why)) < 0) {
		fprintf(err, "%s\n", why);
		return -EINVAL;
	}
	if (find(set, p.desc.name)) {
		dlclose(p.dl);
		free(p.path);
		return 0;	/* an earlier directory already gave this plugin */
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct spur_loaded_plugin *v = realloc(set->v, cap * sizeof(*v));
		if (!v) {
			dlclose(p.dl);
			free(p.path);
			return -ENOMEM;
		}
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = p;
	return 0;
}

static bool is_module(const char *name)
{
	size_t n = strlen(name);
	return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* Every *.so in dir; with `nested`, in each dir/<sub>/ (a build tree). */
static int scan(struct spur_plugin_set *set, const char *dir, bool nested, FILE *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;	/* a missing directory is not an error */
	int rc = 0;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || (!nested && !is_module(e->d_name)))
			continue;
		char **v = realloc(names, (n + 1) * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			break;
		}
		names = v;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	/* Sorted, so the load order does not depend on the file system. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (names[i] && names[j] && strcmp(names[i], names[j]) > 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		char path[PATH_MAX];
		if (nested) {
			snprintf(path, sizeof(path), "%s/%s/%s.so", dir, names[i], names[i]);
			if (access(path, R_OK) == 0 && add_file(set, path, err) < 0)
				rc = -EINVAL;
		} else {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (add_file(set, path, err) < 0)
				rc = -EINVAL;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static bool running_from_build_tree(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t root = strlen(SPUR_BUILD_ROOT);
	if (n <= 0 || root == 0)
		return false;
	exe[n] = '\0';
	return strncmp(exe, SPUR_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

int spur_plugins_load(const struct spur_strlist *dirs, FILE *err,
		      struct spur_plugin_set **out)
{
	struct spur_plugin_set *set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; dirs && i < dirs->n; i++)
		if (scan(set, dirs->v[i], false, err) < 0)
			rc = -EINVAL;
	const char *env = getenv("SPUR_PLUGIN_PATH");
	if (env && *env) {
		char *copy = strdup(env), *save = NULL;
		for (char *p = copy ? strtok_r(copy, ":", &save) : NULL; p;
		     p = strtok_r(NULL, ":", &save))
			if (scan(set, p, false, err) < 0)
				rc = -EINVAL;
		free(copy);
	}
	if (running_from_build_tree() &&
	    scan(set, SPUR_BUILD_ROOT "/plugins", true, err) < 0)
		rc = -EINVAL;
	if (scan(set, SPUR_PLUGIN_DIR, false, err) < 0)
		rc = -EINVAL;
	if (rc < 0) {
		spur_plugins_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

void spur_plugin_close(struct spur_loaded_plugin *p)
{
	if (p->dl && !getenv("SPUR_NO_DLCLOSE"))
		dlclose(p->dl);
	free(p->path);
	free(p->options);
	for (size_t k = 0; k < p->n_owned; k++)
		free(p->owned[k]);
	memset(p, 0, sizeof(*p));
}

void spur_plugins_free(struct spur_plugin_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		spur_plugin_close(&set->v[i]);
	free(set->v);
	free(set);
}

size_t spur_plugins_count(const struct spur_plugin_set *set)
{
	return set->n;
}

struct spur_loaded_plugin *spur_plugins_at(struct spur_plugin_set *set, size_t i)
{
	return i < set->n ? &set->v[i] : NULL;
}
