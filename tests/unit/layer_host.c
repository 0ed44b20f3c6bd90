/* SPDX-License-Identifier: MIT */
/*
 * layer_host.c - the test-owned host of the layer suites (see
 * layer_host.h): the SDK calls a plugin makes, the sqlite store loaded
 * from this build's plugins, a temporary directory and the clock.
 * The SDK functions are defined here for a struct spur_host of our own,
 * because the host layer, which defines them for the router, is not
 * linked into a layer suite.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "layer_host.h"
#include "spur/plugin.h"
#include "util.h"

struct spur_host {
	struct layer_host *owner;
	pthread_mutex_t lock;		/* lines: plugins log from their threads */
	struct spur_buf lines;		/* what plugins logged, one line each */
};

/* --- the SDK calls a plugin makes ------------------------------------------------ */

SPUR_API void spur_log(struct spur_host *host, enum spur_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&host->lock);
	spur_buf_printf(&host->lines, "%d %s\n", (int)level, msg);
	pthread_mutex_unlock(&host->lock);
}

SPUR_API bool spur_log_enabled(struct spur_host *host, enum spur_log_level level)
{
	return true;
}

SPUR_API const char *spur_host_config_dir(struct spur_host *host)
{
	return host->owner->cfg ? host->owner->cfg->dir : host->owner->dir;
}

SPUR_API const char *spur_host_state_dir(struct spur_host *host)
{
	return host->owner->cfg ? host->owner->cfg->state_dir : host->owner->dir;
}

/* --- the directory and the config ---------------------------------------------- */

void layer_init(struct layer_host *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/spur-layer-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
	char path[512];
	snprintf(path, sizeof(path), "%s/core.log", h->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	spur_log_init(&h->log, SPUR_LOG_DEBUG, SPUR_LOG_TEXT, fd);
	h->host = calloc(1, sizeof(*h->host));
	ck_assert_ptr_nonnull(h->host);
	h->host->owner = h;
	pthread_mutex_init(&h->host->lock, NULL);
	spur_buf_init(&h->host->lines);
}

void layer_write(struct layer_host *h, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", h->dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

int layer_config(struct layer_host *h, const char *yaml)
{
	char path[512];
	layer_write(h, "spur.yaml", yaml);
	snprintf(path, sizeof(path), "%s/spur.yaml", h->dir);
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	h->cfg = spur_config_load(path, err);
	fclose(err);
	snprintf(h->errors, sizeof(h->errors), "%s", buf ? buf : "");
	free(buf);
	if (!h->cfg)
		return -1;
	if (mkdir(h->cfg->state_dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* --- the store plugin ----------------------------------------------------------- */

void layer_store_open(struct layer_host *h)
{
	ck_assert_msg(h->cfg != NULL, "layer_config first");
	if (!h->dl) {
		const char *root = getenv("SPUR_TEST_BUILD_ROOT");
		char path[1024];
		ck_assert_msg(root != NULL, "SPUR_TEST_BUILD_ROOT is not set");
		snprintf(path, sizeof(path), "%s/plugins/sqlite/sqlite.so", root);
		h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		ck_assert_msg(h->dl != NULL, "%s: %s", path, dlerror());
		h->plugin = dlsym(h->dl, SPUR_PLUGIN_SYMBOL);
		ck_assert_msg(h->plugin != NULL, "%s: no %s symbol", path, SPUR_PLUGIN_SYMBOL);
		ck_assert_int_eq(h->plugin->abi_major, SPUR_ABI_MAJOR);
		ck_assert(h->plugin->roles & SPUR_ROLE_STORE);
		ck_assert_ptr_nonnull(h->plugin->store);
	}
	h->options = calloc(1, h->plugin->options_size ? h->plugin->options_size : 1);
	ck_assert_ptr_nonnull(h->options);
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	int rc = spur_config_plugin_options(h->cfg, "store", h->plugin->options, h->options, err);
	fclose(err);
	ck_assert_msg(rc == 0, "store options: %s", buf ? buf : "");
	free(buf);
	ck_assert_int_eq(h->plugin->init(h->host, h->options, &h->si), 0);
	h->store = h->plugin->store;
	rc = h->store->open(h->si);
	ck_assert_msg(rc == 0, "the store did not open: %s", spur_strerror(rc));
}

void layer_store_close(struct layer_host *h)
{
	if (!h->store)
		return;
	h->store->close(h->si);
	h->plugin->fini(h->si);
	h->store = NULL;
	h->si = NULL;
	free(h->options);
	h->options = NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void layer_fini(struct layer_host *h)
{
	layer_store_close(h);
	if (h->dl && !getenv("SPUR_NO_DLCLOSE"))
		dlclose(h->dl);
	h->dl = NULL;
	spur_config_free(h->cfg);
	h->cfg = NULL;
	close(h->log.fd);
	spur_buf_fini(&h->host->lines);
	pthread_mutex_destroy(&h->host->lock);
	free(h->host);
	h->host = NULL;
	nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- what the tests read -------------------------------------------------------- */

bool layer_logged(struct layer_host *h, const char *needle)
{
	pthread_mutex_lock(&h->host->lock);
	bool found = h->host->lines.data && strstr(h->host->lines.data, needle);
	pthread_mutex_unlock(&h->host->lock);
	if (found)
		return true;
	char path[512], *text = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/core.log", h->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	ssize_t n = getdelim(&text, &len, '\0', f);	/* the whole file */
	fclose(f);
	found = n > 0 && strstr(text, needle);
	free(text);
	return found;
}

static void peek_one(void *ud, const struct spur_msg *m)
{
	struct layer_msgs *out = ud;
	if (out->n == SPUR_ARRAY_SIZE(out->m))
		return;
	out->m[out->n++] = (struct layer_msg){
		.id = strdup(m->id),
		.body = strndup(m->body, m->body_len),
		.attrs = m->attrs ? strndup(m->attrs, m->attrs_len) : strdup("{}"),
		.visible_ms = m->visible_ms,
		.receive_count = m->receive_count,
	};
}

void layer_peek(struct layer_host *h, const char *queue, struct layer_msgs *out)
{
	out->n = 0;
	int rc = h->store->peek(h->si, queue, 0, SPUR_ARRAY_SIZE(out->m), peek_one, out);
	ck_assert_msg(rc >= 0, "peek %s: %s", queue, spur_strerror(rc));
}

void layer_msgs_free(struct layer_msgs *out)
{
	for (size_t i = 0; i < out->n; i++) {
		free(out->m[i].id);
		free(out->m[i].body);
		free(out->m[i].attrs);
	}
	out->n = 0;
}

/* --- the clock ------------------------------------------------------------------ */

static int64_t fake_ns;

static int64_t fake_clock(void *ud)
{
	return __atomic_load_n(&fake_ns, __ATOMIC_SEQ_CST);
}

void layer_clock_start(void)
{
	__atomic_store_n(&fake_ns, 1000LL * 3600 * 1000000000, __ATOMIC_SEQ_CST);
	spur_clock_inject(fake_clock, NULL);
}

void layer_clock_advance(int64_t ns)
{
	__atomic_add_fetch(&fake_ns, ns, __ATOMIC_SEQ_CST);
}

void layer_clock_stop(void)
{
	spur_clock_inject(NULL, NULL);
}

void layer_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

bool layer_wait(bool (*fn)(void *ud), void *ud, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (fn(ud))
			return true;
		layer_sleep_ms(1);
	}
	return fn(ud);
}

int layer_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
