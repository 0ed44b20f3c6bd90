/* SPDX-License-Identifier: MIT */
/*
 * test_version.c - published versions and aliases (router/registry/
 * version.c, version_store.c), built with the layers up to registry
 * alone, over a real sqlite store file: publishing makes version 1 and
 * nothing new while nothing changed; weighted aliases pick by key;
 * a version an alias points to cannot be deleted; versions and aliases
 * come back in a new registry over the same file (spur_versions_load),
 * and config aliases win over the API's.
 * Contexts live in exec/, a layer above: the registry gets the test's
 * own pool ops (a pool is a record of what it was asked), and its
 * runtime "snap" only loads code (the code file's text), which is all a
 * registry does with a runtime.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "function.h"
#include "layer_host.h"
#include "metrics.h"
#include "spur/runtime.h"
#include "version.h"

/* --- the runtime: code is the file's text -------------------------------------- */

static int code_load(void *instance, const struct spur_function *fn, void **out, char *err,
		     size_t errlen)
{
	FILE *f = fopen(spur_function_code(fn), "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %s", spur_function_code(fn));
		return -ENOENT;
	}
	char *text = calloc(1, 256);
	if (text && !fgets(text, 256, f))
		text[0] = '\0';
	fclose(f);
	if (!text)
		return -ENOMEM;
	*out = text;
	(*(int *)instance)++;
	return 0;
}

static void code_free(void *instance, void *code)
{
	free(code);
	(*(int *)instance)--;
}

static enum spur_run no_context(void *instance, void *code, struct spur_context *host_ctx,
				struct spur_invocation *init, void **ctx)
{
	return SPUR_RUN_CRASH;		/* the registry never makes one */
}

static const struct spur_runtime snap_runtime = {
	.struct_size = sizeof(struct spur_runtime),
	.name = "snap",
	.code_load = code_load,
	.code_free = code_free,
	.context_new = no_context,
};

static int loaded_codes;		/* code_load - code_free: 0 when all is freed */

static const struct spur_runtime *runtime_lookup(void *ud, const char *name, void **instance)
{
	*instance = &loaded_codes;
	return strcmp(name, snap_runtime.name) == 0 ? &snap_runtime : NULL;
}

/* --- the pools: what the registry asked of each version's pool ------------------- */

struct spur_pool {
	struct spur_function *ver;
	bool retired;
	int provisioned;
};

static int live_pools;

static struct spur_pool *pool_create(void *ud, struct spur_function *ver)
{
	struct spur_pool *p = calloc(1, sizeof(*p));
	if (p) {
		p->ver = ver;
		live_pools++;
	}
	return p;
}

static void pool_destroy(void *ud, struct spur_pool *p)
{
	if (p)
		live_pools--;
	free(p);
}

static void pool_retire(void *ud, struct spur_pool *p)
{
	p->retired = true;
}

static void pool_provision(void *ud, struct spur_function *ver, int n)
{
	spur_function_pool(ver)->provisioned = n;
}

static size_t pool_idle(void *ud, struct spur_pool *p)
{
	return (size_t)p->provisioned;
}

static const struct spur_pool_ops test_pools = {
	.create = pool_create, .destroy = pool_destroy, .retire = pool_retire,
	.provision = pool_provision, .idle = pool_idle,
};

/* --- a registry over the store ------------------------------------------------- */

struct fixture {
	struct layer_host h;
	struct spur_metrics *metrics;
	struct spur_registry_env env;
	struct spur_registry *reg;
	char errors[4096];		/* what registry_new / versions_load printed */
};

static const char config_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal }\n"
	"functions:\n"
	"  f: { runtime: snap, code: f.txt }\n";

static void load_registry(struct fixture *f)
{
	f->env = (struct spur_registry_env){
		.config_file = f->h.cfg->file, .state_dir = f->h.cfg->state_dir, .log = &f->h.log,
		.metrics = f->metrics, .runtime = runtime_lookup, .pools = &test_pools,
		.store = f->h.store, .store_instance = f->h.si,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	f->reg = spur_registry_new(&f->env, f->h.cfg, NULL, err);
	int rc = f->reg ? spur_versions_load(f->reg, err) : -1;
	fclose(err);
	snprintf(f->errors, sizeof(f->errors), "%s", buf ? buf : "");
	free(buf);
	ck_assert_msg(f->reg != NULL && rc == 0, "%s", f->errors);
}

static void free_registry(struct fixture *f)
{
	spur_fn_free_all(spur_registry_all(f->reg));
	spur_registry_free(f->reg);
	f->reg = NULL;
	ck_assert_int_eq(live_pools, 0);
	ck_assert_int_eq(loaded_codes, 0);
}

static void setup(struct fixture *f, const char *yaml)
{
	memset(f, 0, sizeof(*f));
	layer_init(&f->h);
	layer_write(&f->h, "f.txt", "code one\n");
	ck_assert_msg(layer_config(&f->h, yaml) == 0, "%s", f->h.errors);
	layer_store_open(&f->h);
	f->metrics = spur_metrics_new();
	load_registry(f);
}

/* A restart: a new store instance over the same file, a new registry. */
static void restart(struct fixture *f, const char *yaml)
{
	free_registry(f);
	layer_store_close(&f->h);
	spur_config_free(f->h.cfg);
	f->h.cfg = NULL;
	ck_assert_msg(layer_config(&f->h, yaml) == 0, "%s", f->h.errors);
	layer_store_open(&f->h);
	load_registry(f);
}

static void teardown(struct fixture *f)
{
	free_registry(f);
	spur_metrics_free(f->metrics);
	layer_fini(&f->h);
}

static struct spur_fn *fn_f(struct fixture *f)
{
	struct spur_fn *fn = spur_registry_find(f->reg, "f", 1);
	ck_assert_ptr_nonnull(fn);
	return fn;
}

/* What a callback was shown. */
struct seen {
	int n;
	char version[8][16];
	char sha[8][48];
	int64_t size[8];
	char extra[16];
	double weight;
};

static void on_version(void *ud, const struct spur_version_info *v)
{
	struct seen *s = ud;
	if (s->n < 8) {
		snprintf(s->version[s->n], sizeof(s->version[0]), "%s", v->version);
		snprintf(s->sha[s->n], sizeof(s->sha[0]), "%s", v->code_sha256);
		s->size[s->n] = v->code_size;
	}
	s->n++;
}

static void on_alias(void *ud, const struct spur_alias_info *a)
{
	struct seen *s = ud;
	if (s->n < 8)
		snprintf(s->version[s->n], sizeof(s->version[0]), "%s", a->version);
	snprintf(s->extra, sizeof(s->extra), "%s", a->extra_version ? a->extra_version : "");
	s->weight = a->extra_weight;
	s->n++;
}

/* Publish and return the version shown; *created as publish said. */
static void publish(struct spur_fn *fn, bool *created, char version[16], char sha[48])
{
	struct seen s = { 0 };
	char why[512] = "";
	int rc = spur_version_publish(fn, "d", NULL, NULL, created, on_version, &s, why, sizeof(why));
	ck_assert_msg(rc == 0, "publish: %s (%s)", spur_strerror(rc), why);
	ck_assert_int_eq(s.n, 1);
	snprintf(version, 16, "%s", s.version[0]);
	if (sha)
		snprintf(sha, 48, "%s", s.sha[0]);
}

/* Two versions: "code one" is 1, "code two" is 2. */
static void publish_two(struct fixture *f)
{
	bool created;
	char v[16];
	publish(fn_f(f), &created, v, NULL);
	ck_assert_str_eq(v, "1");
	layer_write(&f->h, "f.txt", "code two\n");
	publish(fn_f(f), &created, v, NULL);
	ck_assert(created);
	ck_assert_str_eq(v, "2");
}

/* --- the tests ------------------------------------------------------------------- */

START_TEST(publish_makes_version_one_once)
{
	struct fixture f;
	setup(&f, config_yaml);
	struct spur_fn *fn = fn_f(&f);
	bool created = false;
	char v[16], sha[48], again[16], sha_again[48];
	publish(fn, &created, v, sha);
	ck_assert(created);
	ck_assert_str_eq(v, "1");
	ck_assert_uint_eq(strlen(sha), 44);		/* base64 of 32 bytes */
	publish(fn, &created, again, sha_again);	/* nothing changed */
	ck_assert(!created);
	ck_assert_str_eq(again, "1");
	ck_assert_str_eq(sha_again, sha);

	struct seen s = { 0 };
	ck_assert_int_eq(spur_version_list(fn, on_version, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.version[0], "$LATEST");
	ck_assert_str_eq(s.version[1], "1");
	ck_assert_int_eq(s.size[1], 9);			/* "code one\n" */
	/* version 1 runs its snapshot, not the file $LATEST reads */
	struct spur_function *one = spur_fn_version(fn, "1", 1, NULL);
	ck_assert_ptr_nonnull(one);
	ck_assert_str_ne(spur_function_code(one), spur_function_code(spur_fn_latest(fn)));
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s/code/", f.h.cfg->state_dir);
	ck_assert_int_eq(strncmp(spur_function_code(one), prefix, strlen(prefix)), 0);
	struct stat st;
	ck_assert_int_eq(stat(spur_function_code(one), &st), 0);

	/* new code: version 2; a stale CodeSha256 precondition is refused */
	layer_write(&f.h, "f.txt", "code two\n");
	char why[512];
	struct seen none = { 0 };
	ck_assert_int_eq(spur_version_publish(fn, NULL, sha, NULL, &created, on_version, &none,
					      why, sizeof(why)), -ESTALE);
	ck_assert_int_eq(none.n, 0);
	ck_assert_ptr_nonnull(strstr(why, "is different from current CodeSha256"));
	publish(fn, &created, v, sha_again);
	ck_assert(created);
	ck_assert_str_eq(v, "2");
	ck_assert_str_ne(sha_again, sha);
	ck_assert_int_eq(spur_version_get(fn, "3", on_version, &none), -ENOENT);
	ck_assert_ptr_null(spur_fn_version(fn, "3", 1, NULL));
	teardown(&f);
}
END_TEST

START_TEST(weighted_aliases)
{
	struct fixture f;
	setup(&f, config_yaml);
	publish_two(&f);
	struct spur_fn *fn = fn_f(&f);
	char why[512];
	struct seen s = { 0 };
	ck_assert_int_eq(spur_alias_put(fn, "live", true, "1", "2", 0.25, "canary", NULL,
					on_alias, &s, why, sizeof(why)), 0);
	ck_assert_int_eq(s.n, 1);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(spur_alias_get(fn, "live", on_alias, &s), 0);
	ck_assert_str_eq(s.version[0], "1");
	ck_assert_str_eq(s.extra, "2");
	ck_assert_double_eq(s.weight, 0.25);

	/* the pick: a quarter of the keys go to version 2, each key always the same way */
	struct spur_function *one = spur_fn_version(fn, "1", 1, NULL);
	struct spur_function *two = spur_fn_version(fn, "2", 1, NULL);
	int to_two = 0;
	for (int i = 0; i < 4000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "event-%d", i);
		struct spur_function *v = spur_fn_version(fn, "live", 4, key);
		ck_assert(v == one || v == two);
		ck_assert_ptr_eq(spur_fn_version(fn, "live", 4, key), v);
		to_two += v == two;
	}
	ck_assert_int_gt(to_two, 800);
	ck_assert_int_lt(to_two, 1200);

	/* moving it to version 2 alone */
	ck_assert_int_eq(spur_alias_put(fn, "live", false, "2", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), 0);
	for (int i = 0; i < 100; i++) {
		char key[32];
		snprintf(key, sizeof(key), "event-%d", i);
		ck_assert_ptr_eq(spur_fn_version(fn, "live", 4, key), two);
	}

	/* what is refused */
	ck_assert_int_eq(spur_alias_put(fn, "live", true, "1", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EEXIST);
	ck_assert_int_eq(spur_alias_put(fn, "other", false, "1", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -ENOENT);
	ck_assert_int_eq(spur_alias_put(fn, "w", true, "1", "2", 1.5, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "additionalVersionWeights"));
	ck_assert_int_eq(spur_alias_put(fn, "w", true, "1", "$LATEST", 0.5, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(spur_alias_put(fn, "w", true, "1", "1", 0.5, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(spur_alias_put(fn, "w", true, "9", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -ENOENT);
	ck_assert_int_eq(spur_alias_put(fn, "123", true, "1", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EINVAL);
	ck_assert_ptr_null(spur_fn_version(fn, "w", 1, "k"));	/* none of them was made */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(spur_alias_list(fn, on_alias, &s), 0);
	ck_assert_int_eq(s.n, 1);
	teardown(&f);
}
END_TEST

START_TEST(a_version_an_alias_points_to_stays)
{
	struct fixture f;
	setup(&f, config_yaml);
	publish_two(&f);
	struct spur_fn *fn = fn_f(&f);
	char why[512];
	ck_assert_int_eq(spur_alias_put(fn, "live", true, "2", "1", 0.1, NULL, NULL, NULL, NULL,
					why, sizeof(why)), 0);
	struct spur_function *one = spur_fn_version(fn, "1", 1, NULL);
	ck_assert_int_eq(spur_version_delete(fn, "1", why, sizeof(why)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(why, "aliases reference it: [live]"));
	ck_assert_int_eq(spur_version_delete(fn, "2", why, sizeof(why)), -EBUSY);
	ck_assert_ptr_eq(spur_fn_version(fn, "1", 1, NULL), one);
	ck_assert(!spur_function_pool(one)->retired);

	ck_assert_int_eq(spur_alias_delete(fn, "live", why, sizeof(why)), 0);
	ck_assert_int_eq(spur_alias_delete(fn, "live", why, sizeof(why)), -ENOENT);
	ck_assert_int_eq(spur_version_delete(fn, "1", why, sizeof(why)), 0);
	ck_assert_ptr_null(spur_fn_version(fn, "1", 1, NULL));
	ck_assert(spur_function_pool(one)->retired);	/* its contexts end */
	ck_assert_int_eq(spur_version_delete(fn, "1", why, sizeof(why)), -ENOENT);
	struct seen s = { 0 };
	ck_assert_int_eq(spur_version_list(fn, on_version, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.version[1], "2");
	teardown(&f);
}
END_TEST

/* Versions, aliases and the version counter live in the store: a new
 * registry over the same file (a restart) has them all, publishes
 * nothing new for the same code, and numbers on after a deleted one. */
START_TEST(versions_and_aliases_survive_a_restart)
{
	struct fixture f;
	setup(&f, config_yaml);
	publish_two(&f);
	char why[512], sha2[48];
	struct spur_fn *fn = fn_f(&f);
	ck_assert_int_eq(spur_alias_put(fn, "live", true, "1", "2", 0.25, "canary", NULL, NULL,
					NULL, why, sizeof(why)), 0);
	ck_assert_int_eq(spur_alias_put(fn, "old", true, "1", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), 0);
	ck_assert_int_eq(spur_alias_delete(fn, "old", why, sizeof(why)), 0);
	struct seen before = { 0 };
	ck_assert_int_eq(spur_version_list(fn, on_version, &before), 0);
	snprintf(sha2, sizeof(sha2), "%s", before.sha[2]);

	restart(&f, config_yaml);
	fn = fn_f(&f);
	struct seen s = { 0 };
	ck_assert_int_eq(spur_version_list(fn, on_version, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.version[1], "1");
	ck_assert_str_eq(s.version[2], "2");
	ck_assert_str_eq(s.sha[1], before.sha[1]);
	ck_assert_str_eq(s.sha[2], sha2);
	ck_assert_str_ne(s.sha[1], s.sha[2]);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(spur_alias_get(fn, "live", on_alias, &s), 0);
	ck_assert_str_eq(s.version[0], "1");
	ck_assert_str_eq(s.extra, "2");
	ck_assert_double_eq(s.weight, 0.25);
	ck_assert_int_eq(spur_alias_get(fn, "old", on_alias, &s), -ENOENT);
	ck_assert_ptr_nonnull(spur_fn_version(fn, "live", 4, "k"));
	/* the loaded versions run their snapshots */
	ck_assert_ptr_nonnull(strstr(spur_function_code(spur_fn_version(fn, "2", 1, NULL)),
				     "/code/"));

	bool created;
	char v[16];
	publish(fn, &created, v, NULL);			/* still "code two" */
	ck_assert(!created);
	ck_assert_str_eq(v, "2");
	ck_assert_int_eq(spur_alias_delete(fn, "live", why, sizeof(why)), 0);
	ck_assert_int_eq(spur_version_delete(fn, "2", why, sizeof(why)), 0);

	restart(&f, config_yaml);
	fn = fn_f(&f);
	ck_assert_ptr_null(spur_fn_version(fn, "2", 1, NULL));
	ck_assert_int_eq(spur_alias_get(fn, "live", on_alias, &s), -ENOENT);
	layer_write(&f.h, "f.txt", "code three\n");
	publish(fn, &created, v, NULL);
	ck_assert(created);
	ck_assert_str_eq(v, "3");			/* never 2 again */
	teardown(&f);
}
END_TEST

static const char config_aliases_yaml[] =
	"state_dir: var\n"
	"store: { sync: normal }\n"
	"functions:\n"
	"  f:\n"
	"    runtime: snap\n"
	"    code: f.txt\n"
	"    aliases: { stable: 1, split: { version: 1, weights: { 2: 0.5 } } }\n"
	"    provisioned: { stable: 2 }\n";

/* Aliases in the config are applied at every load and win: the API can
 * neither move nor delete them; provisioned contexts are asked for. */
START_TEST(config_aliases_win)
{
	struct fixture f;
	setup(&f, config_yaml);
	publish_two(&f);
	char why[512];
	ck_assert_int_eq(spur_alias_put(fn_f(&f), "stable", true, "2", NULL, 0, NULL, NULL, NULL,
					NULL, why, sizeof(why)), 0);

	restart(&f, config_aliases_yaml);
	struct spur_fn *fn = fn_f(&f);
	struct seen s = { 0 };
	ck_assert_int_eq(spur_alias_get(fn, "stable", on_alias, &s), 0);
	ck_assert_str_eq(s.version[0], "1");		/* the config's, not the API's 2 */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(spur_alias_get(fn, "split", on_alias, &s), 0);
	ck_assert_str_eq(s.extra, "2");
	ck_assert_double_eq(s.weight, 0.5);
	ck_assert_int_eq(spur_alias_put(fn, "stable", false, "2", NULL, 0, NULL, NULL, NULL, NULL,
					why, sizeof(why)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(why, "defined in the config file"));
	ck_assert_int_eq(spur_alias_delete(fn, "stable", why, sizeof(why)), -EBUSY);
	ck_assert_int_eq(spur_version_delete(fn, "1", why, sizeof(why)), -EBUSY);
	struct spur_function *one = spur_fn_version(fn, "1", 1, NULL);
	ck_assert_int_eq(spur_function_pool(one)->provisioned, 2);
	int requested = 0, ready = 0;
	ck_assert_int_eq(spur_provisioned_get(fn, "stable", &requested, &ready), 0);
	ck_assert_int_eq(requested, 2);
	ck_assert_int_eq(ready, 2);
	teardown(&f);
}
END_TEST

/* A config alias to a version the store does not have refuses the load,
 * naming the config line. */
START_TEST(a_config_alias_to_a_missing_version_fails_the_load)
{
	struct layer_host h;
	layer_init(&h);
	layer_write(&h, "f.txt", "code one\n");
	ck_assert_msg(layer_config(&h, config_aliases_yaml) == 0, "%s", h.errors);
	layer_store_open(&h);
	struct spur_metrics *metrics = spur_metrics_new();
	struct spur_registry_env env = {
		.config_file = h.cfg->file, .state_dir = h.cfg->state_dir, .log = &h.log,
		.metrics = metrics, .runtime = runtime_lookup, .pools = &test_pools,
		.store = h.store, .store_instance = h.si,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	struct spur_registry *reg = spur_registry_new(&env, h.cfg, NULL, err);
	ck_assert_ptr_nonnull(reg);
	int rc = spur_versions_load(reg, err);
	fclose(err);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(buf, "spur.yaml:7: function 'f': alias stable: Function not found") != NULL,
		      "%s", buf);
	free(buf);
	spur_fn_free_all(spur_registry_all(reg));
	spur_registry_free(reg);
	spur_metrics_free(metrics);
	layer_fini(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("version");
	TCase *tc = tcase_create("version");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, publish_makes_version_one_once);
	tcase_add_test(tc, weighted_aliases);
	tcase_add_test(tc, a_version_an_alias_points_to_stays);
	tcase_add_test(tc, versions_and_aliases_survive_a_restart);
	tcase_add_test(tc, config_aliases_win);
	tcase_add_test(tc, a_config_alias_to_a_missing_version_fails_the_load);
	suite_add_tcase(s, tc);
	return layer_run(s);
}
