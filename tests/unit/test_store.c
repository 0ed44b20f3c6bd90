/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the sqlite store plugin (plugins/sqlite) through its
 * struct spur_store, on real SQLite files in the harness's temporary
 * directory: messages, leases, keys, group commit under concurrency,
 * reopen, kill -9 durability, foreign files, disk full.
 * The module is loaded with spur_plugin_open() from this build and its
 * options come from a real config section parsed by its option table.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "loader.h"
#include "spur/plugin.h"

struct fx {
	struct harness h;
	struct spur_loaded_plugin p;
	struct spur_config *cfg;
	void *opts;
	void *inst;
	const struct spur_store *st;
	char db[512];
};

/* A host over `yaml` (a log section and a store: section) and the
 * plugin's options parsed from it; the store is not opened. */
static void fx_init(struct fx *f, const char *yaml)
{
	char path[1024], why[1024];
	const char *root = getenv("SPUR_TEST_BUILD_ROOT");

	memset(f, 0, sizeof(*f));
	harness_init(&f->h);
	ck_assert_msg(harness_load_yaml(&f->h, yaml) == 0, "%s", f->h.errors);
	ck_assert_ptr_nonnull(root);
	snprintf(path, sizeof(path), "%s/plugins/sqlite/sqlite.so", root);
	ck_assert_msg(spur_plugin_open(path, &f->p, why, sizeof(why)) == 0, "%s", why);
	ck_assert_str_eq(f->p.desc.name, "sqlite");
	ck_assert(f->p.desc.roles & SPUR_ROLE_STORE);
	f->st = f->p.desc.store;
	ck_assert_ptr_nonnull(f->st);
	ck_assert_str_eq(f->st->kind, "sqlite");
	snprintf(path, sizeof(path), "%s/spur.yaml", f->h.dir);
	f->cfg = spur_config_load(path, stderr);
	ck_assert_ptr_nonnull(f->cfg);
	f->opts = calloc(1, f->p.desc.options_size);
	ck_assert_int_eq(spur_config_plugin_options(f->cfg, "store", f->p.desc.options,
						    f->opts, stderr), 0);
	snprintf(f->db, sizeof(f->db), "%s/var/spur.db", f->h.dir);
}

/* A new instance, opened: 0 or the open error. */
static int fx_open(struct fx *f)
{
	ck_assert_int_eq(f->p.desc.init(f->h.host, f->opts, &f->inst), 0);
	int rc = f->st->open(f->inst);
	if (rc < 0) {
		f->p.desc.fini(f->inst);
		f->inst = NULL;
	}
	return rc;
}

static void fx_close(struct fx *f)
{
	if (!f->inst)
		return;
	f->st->close(f->inst);
	f->p.desc.fini(f->inst);
	f->inst = NULL;
}

static void fx_fini(struct fx *f)
{
	fx_close(f);
	free(f->opts);
	spur_config_free(f->cfg);
	free(f->p.path);
	harness_fini(&f->h);
}

#define YAML_DEFAULT "log: { level: error }\nstore: { sync: full }\n"

static struct spur_store_op put_op(const char *id, const char *queue, const char *body,
				   int64_t visible)
{
	return (struct spur_store_op){
		.kind = SPUR_STORE_PUT,
		.msg = { .id = id, .queue = queue, .body = body, .body_len = strlen(body),
			 .accepted_ms = 1000, .visible_ms = visible },
	};
}

static int put(struct fx *f, const char *id, const char *queue, const char *body, int64_t visible)
{
	struct spur_store_op op = put_op(id, queue, body, visible);
	return f->st->apply(f->inst, &op, 1, NULL);
}

/* Collects messages seen by a callback. */
struct seen {
	int n;
	char ids[64][64];
	char bodies[64][64];
	char attrs[64][64];
	char queues[64][32];
	uint32_t counts[64];
	int64_t visible[64];
};

static void see(void *ud, const struct spur_msg *m)
{
	struct seen *s = ud;
	if (s->n >= 64)
		return;
	snprintf(s->ids[s->n], 64, "%s", m->id);
	snprintf(s->bodies[s->n], 64, "%.*s", (int)m->body_len, m->body);
	snprintf(s->attrs[s->n], 64, "%s", m->attrs ? m->attrs : "(null)");
	snprintf(s->queues[s->n], 32, "%s", m->queue);
	s->counts[s->n] = m->receive_count;
	s->visible[s->n] = m->visible_ms;
	s->n++;
}

static bool has(struct fx *f, const char *id)
{
	struct seen s = { 0 };
	return f->st->get(f->inst, id, see, &s) == 1 && s.n == 1;
}

/* Run `fn` with fd 2 going to a file; return what was written (free it). */
static char *capture_stderr(void (*fn)(struct fx *), struct fx *f)
{
	char tmpl[] = "/tmp/spur-store-log-XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2);
	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	dup2(fd, 2);
	fn(f);
	dup2(saved, 2);
	close(saved);
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(pread(fd, buf, (size_t)len, 0), len);
	close(fd);
	return buf;
}

/* --- messages ---------------------------------------------------------------- */

START_TEST(put_take_lease)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "m1", "async", "{\"a\":1}", 1000), 0);
	ck_assert_int_eq(put(&f, "m2", "async", "{\"a\":2}", 1000), 0);
	ck_assert_int_eq(put(&f, "m3", "async", "{\"a\":3}", 2000), 0);
	ck_assert_int_eq(put(&f, "o1", "other", "{}", 0), 0);

	struct seen s = { 0 };
	int64_t next = 0;
	ck_assert_int_eq(f.st->take(f.inst, "async", 5000, 100, 2, see, &s, &next), 2);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.ids[0], "m1");
	ck_assert_str_eq(s.ids[1], "m2");
	ck_assert_str_eq(s.bodies[0], "{\"a\":1}");
	ck_assert_uint_eq(s.counts[0], 1);
	ck_assert_int_eq(s.visible[0], 5100);
	ck_assert_int_eq(next, 2000);

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->take(f.inst, "async", 5000, 100, 10, see, &s, &next), 1);
	ck_assert_str_eq(s.ids[0], "m3");
	ck_assert_int_eq(next, 5100);
	/* Leased: nothing visible until the lease passes. */
	ck_assert_int_eq(f.st->take(f.inst, "async", 5099, 100, 10, see, &s, &next), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->take(f.inst, "async", 5100, 1000, 10, see, &s, &next), 3);
	ck_assert_str_eq(s.ids[0], "m1");
	ck_assert_uint_eq(s.counts[0], 2);
	ck_assert_uint_eq(s.counts[2], 2);
	ck_assert_int_eq(next, 6100);
	/* The reads see the lease. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->get(f.inst, "m2", see, &s), 1);
	ck_assert_uint_eq(s.counts[0], 2);
	ck_assert_int_eq(s.visible[0], 6100);
	ck_assert_int_eq(f.st->get(f.inst, "nope", see, &s), 0);
	ck_assert_int_eq(f.st->take(f.inst, "empty", 5000, 100, 10, see, &s, &next), 0);
	ck_assert_int_eq(next, INT64_MAX);
	/* A duplicate id fails its batch. */
	ck_assert_int_eq(put(&f, "m1", "async", "{}", 0), -EEXIST);
	fx_fini(&f);
}
END_TEST

START_TEST(visible_order_and_peek)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	/* Inserted out of visible order; equal times keep insertion order. */
	ck_assert_int_eq(put(&f, "c", "q", "3", 300), 0);
	ck_assert_int_eq(put(&f, "a", "q", "1", 100), 0);
	ck_assert_int_eq(put(&f, "d", "q", "4", 300), 0);
	ck_assert_int_eq(put(&f, "b", "q", "2", 200), 0);
	struct seen s = { 0 };
	ck_assert_int_eq(f.st->peek(f.inst, "q", 0, 10, see, &s), 4);
	ck_assert_str_eq(s.ids[0], "a");
	ck_assert_str_eq(s.ids[1], "b");
	ck_assert_str_eq(s.ids[2], "c");
	ck_assert_str_eq(s.ids[3], "d");
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->peek(f.inst, "q", 1, 2, see, &s), 2);
	ck_assert_str_eq(s.ids[0], "b");
	ck_assert_str_eq(s.ids[1], "c");
	/* take follows the same order */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->take(f.inst, "q", 1000, 10, 10, see, &s, NULL), 4);
	ck_assert_str_eq(s.ids[0], "a");
	ck_assert_str_eq(s.ids[3], "d");
	fx_fini(&f);
}
END_TEST

START_TEST(delete_update_move)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "m1", "async", "{}", 0), 0);
	ck_assert_int_eq(put(&f, "m2", "async", "{}", 0), 0);

	struct spur_store_op up = { .kind = SPUR_STORE_UPDATE, .id = "m1", .visible_ms = 777,
				    .attrs = "{\"attempt\":2}", .attrs_len = 13 };
	ck_assert_int_eq(f.st->apply(f.inst, &up, 1, NULL), 0);
	struct seen s = { 0 };
	ck_assert_int_eq(f.st->get(f.inst, "m1", see, &s), 1);
	ck_assert_int_eq(s.visible[0], 777);
	ck_assert_str_eq(s.attrs[0], "{\"attempt\":2}");
	up.attrs = NULL;	/* keeps them */
	up.visible_ms = 888;
	ck_assert_int_eq(f.st->apply(f.inst, &up, 1, NULL), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->get(f.inst, "m1", see, &s), 1);
	ck_assert_int_eq(s.visible[0], 888);
	ck_assert_str_eq(s.attrs[0], "{\"attempt\":2}");
	up.id = "absent";
	ck_assert_int_eq(f.st->apply(f.inst, &up, 1, NULL), -ENOENT);

	struct spur_store_op mv = { .kind = SPUR_STORE_MOVE, .id = "m2", .queue = "dlq",
				    .visible_ms = 5 };
	ck_assert_int_eq(f.st->apply(f.inst, &mv, 1, NULL), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->peek(f.inst, "async", 0, 10, see, &s), 1);
	ck_assert_int_eq(f.st->peek(f.inst, "dlq", 0, 10, see, &s), 1);
	ck_assert_str_eq(s.ids[1], "m2");
	ck_assert_str_eq(s.queues[1], "dlq");

	struct spur_store_op del[2] = {
		{ .kind = SPUR_STORE_DELETE, .id = "m1" },
		{ .kind = SPUR_STORE_DELETE, .id = "never-there" },
	};
	ck_assert_int_eq(f.st->apply(f.inst, del, 2, NULL), 0);
	ck_assert(!has(&f, "m1"));
	ck_assert(has(&f, "m2"));
	fx_fini(&f);
}
END_TEST

/* --- keys ------------------------------------------------------------------------ */

static void see_value(void *ud, const char *v, size_t len)
{
	snprintf(ud, 64, "%.*s", (int)len, v);
}

START_TEST(key_create_conflict_rolls_back)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	int64_t far = INT64_C(1) << 50;
	struct spur_store_op b1[2] = {
		{ .kind = SPUR_STORE_KEY_CREATE, .ns = "fn", .key = "k1", .value = "evt-1",
		  .value_len = 5, .expires_ms = far },
		put_op("e1", "async", "{}", 0),
	};
	struct spur_store_conflict c = { 0 };
	ck_assert_int_eq(f.st->apply(f.inst, b1, 2, &c), 0);
	struct spur_store_op b2[3] = {
		put_op("e2", "async", "{}", 0),
		{ .kind = SPUR_STORE_KEY_SET, .ns = "fn", .key = "other", .value = "x", .value_len = 1 },
		{ .kind = SPUR_STORE_KEY_CREATE, .ns = "fn", .key = "k1", .value = "evt-2",
		  .value_len = 5, .expires_ms = far },
	};
	ck_assert_int_eq(f.st->apply(f.inst, b2, 3, &c), -EEXIST);
	ck_assert_uint_eq(c.op, 2);
	ck_assert_uint_eq(c.value_len, 5);
	ck_assert_str_eq(c.value, "evt-1");
	free(c.value);
	/* nothing of the failed batch was applied */
	ck_assert(has(&f, "e1"));
	ck_assert(!has(&f, "e2"));
	char v[64] = "";
	ck_assert_int_eq(f.st->key_get(f.inst, "fn", "other", see_value, v), 0);
	ck_assert_int_eq(f.st->key_get(f.inst, "fn", "k1", see_value, v), 1);
	ck_assert_str_eq(v, "evt-1");
	/* without a conflict struct it still fails */
	ck_assert_int_eq(f.st->apply(f.inst, b2, 3, NULL), -EEXIST);
	/* KEY_DELETE then create works */
	struct spur_store_op kd = { .kind = SPUR_STORE_KEY_DELETE, .ns = "fn", .key = "k1" };
	ck_assert_int_eq(f.st->apply(f.inst, &kd, 1, NULL), 0);
	ck_assert_int_eq(f.st->apply(f.inst, b2, 3, &c), 0);
	ck_assert_int_eq(f.st->key_get(f.inst, "fn", "k1", see_value, v), 1);
	ck_assert_str_eq(v, "evt-2");
	fx_fini(&f);
}
END_TEST

START_TEST(expired_keys)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	int64_t past = 1000, far = INT64_C(1) << 50;
	struct spur_store_op k[3] = {
		{ .kind = SPUR_STORE_KEY_SET, .ns = "n", .key = "old", .value = "v1", .value_len = 2,
		  .expires_ms = past },
		{ .kind = SPUR_STORE_KEY_SET, .ns = "n", .key = "old2", .value = "v", .value_len = 1,
		  .expires_ms = past },
		{ .kind = SPUR_STORE_KEY_SET, .ns = "n", .key = "forever", .value = "f", .value_len = 1,
		  .expires_ms = 0 },
	};
	ck_assert_int_eq(f.st->apply(f.inst, k, 3, NULL), 0);
	char v[64] = "";
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "old", see_value, v), 0);
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "forever", see_value, v), 1);
	/* KEY_CREATE on an expired key replaces it */
	struct spur_store_op kc = { .kind = SPUR_STORE_KEY_CREATE, .ns = "n", .key = "old",
				    .value = "v2", .value_len = 2, .expires_ms = far };
	struct spur_store_conflict c = { 0 };
	ck_assert_int_eq(f.st->apply(f.inst, &kc, 1, &c), 0);
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "old", see_value, v), 1);
	ck_assert_str_eq(v, "v2");
	/* a key that never expires conflicts */
	kc.key = "forever";
	ck_assert_int_eq(f.st->apply(f.inst, &kc, 1, &c), -EEXIST);
	ck_assert_str_eq(c.value, "f");
	free(c.value);
	/* expire() drops only the dead: old2 */
	ck_assert_int_eq(f.st->expire(f.inst, 5000), 1);
	ck_assert_int_eq(f.st->expire(f.inst, 5000), 0);
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "forever", see_value, v), 1);
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "old", see_value, v), 1);
	fx_fini(&f);
}
END_TEST

/* --- stats, purge, depth ---------------------------------------------------------- */

struct qstats {
	int n;
	char q[8][32];
	uint64_t visible[8], delayed[8];
};

static void see_stats(void *ud, const struct spur_queue_stats *s)
{
	struct qstats *q = ud;
	snprintf(q->q[q->n], 32, "%s", s->queue);
	q->visible[q->n] = s->visible;
	q->delayed[q->n++] = s->delayed;
}

START_TEST(stats_and_purge)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "a1", "a", "{}", 100), 0);
	ck_assert_int_eq(put(&f, "a2", "a", "{}", 200), 0);
	ck_assert_int_eq(put(&f, "a3", "a", "{}", 9000), 0);
	ck_assert_int_eq(put(&f, "b1", "b", "{}", 100), 0);
	struct qstats q = { 0 };
	ck_assert_int_eq(f.st->stats(f.inst, 1000, see_stats, &q), 0);
	ck_assert_int_eq(q.n, 2);
	ck_assert_str_eq(q.q[0], "a");
	ck_assert_uint_eq(q.visible[0], 2);
	ck_assert_uint_eq(q.delayed[0], 1);
	ck_assert_uint_eq(q.visible[1], 1);
	ck_assert_int_eq(f.st->purge(f.inst, "a"), 3);
	ck_assert_int_eq(f.st->purge(f.inst, "a"), 0);
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(f.st->stats(f.inst, 1000, see_stats, &q), 0);
	ck_assert_int_eq(q.n, 1);
	ck_assert_str_eq(q.q[0], "b");
	char why[256];
	ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 1);
	fx_fini(&f);
}
END_TEST

START_TEST(max_depth_refuses)
{
	struct fx f;
	fx_init(&f, "log: { level: error }\nstore: { max_depth: 2 }\n");
	ck_assert_int_eq(fx_open(&f), 0);
	char why[256];
	ck_assert_int_eq(put(&f, "1", "async", "{}", 0), 0);
	ck_assert_int_eq(put(&f, "2", "async", "{}", 0), 0);
	ck_assert_int_eq(put(&f, "3", "async", "{}", 0), -EAGAIN);
	ck_assert(!has(&f, "3"));
	ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "max_depth") != NULL, "%s", why);
	ck_assert_int_eq(put(&f, "r1", "outbox", "{}", 0), 0);	/* outboxes not counted */
	/* a DELETE + PUT (a retry re-enqueued) keeps the depth */
	struct spur_store_op swap[2] = {
		{ .kind = SPUR_STORE_DELETE, .id = "1" }, put_op("4", "async", "{}", 0),
	};
	ck_assert_int_eq(f.st->apply(f.inst, swap, 2, NULL), 0);
	/* the depth is counted again at open */
	fx_close(&f);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "5", "async", "{}", 0), -EAGAIN);
	ck_assert_int_eq(f.st->purge(f.inst, "async"), 2);
	ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 1);
	ck_assert_int_eq(put(&f, "5", "async", "{}", 0), 0);
	fx_fini(&f);
}
END_TEST

/* --- concurrency: group commit ------------------------------------------------------ */

#define THREADS 32
#define PER_THREAD 40

struct worker {
	struct fx *f;
	int t;
	int failures;
};

static void *put_many(void *arg)
{
	struct worker *w = arg;
	char id[64];
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(id, sizeof(id), "t%d-%d", w->t, i);
		if (put(w->f, id, "async", "{\"x\":1}", 0) != 0)
			w->failures++;
	}
	return NULL;
}

static void concurrent_run(struct fx *f)
{
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .f = f, .t = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, put_many, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	struct qstats q = { 0 };
	ck_assert_int_eq(f->st->stats(f->inst, 1000, see_stats, &q), 0);
	ck_assert_uint_eq(q.visible[0], THREADS * PER_THREAD);
	fx_close(f);
}

START_TEST(group_commit_under_concurrency)
{
	struct fx f;
	fx_init(&f, "log: { level: info }\nstore: { sync: full }\n");
	ck_assert_int_eq(fx_open(&f), 0);
	char *log = capture_stderr(concurrent_run, &f);
	const char *line = strstr(log, "after ");
	unsigned long long batches = 0, commits = 0;
	ck_assert_msg(line && sscanf(line, "after %llu batches in %llu commits", &batches, &commits) == 2,
		      "%s", log);
	ck_assert_uint_eq(batches, THREADS * PER_THREAD);
	ck_assert_msg(commits * 2 < batches, "%llu commits for %llu batches", commits, batches);
	free(log);
	/* durable across reopen: a new instance sees everything */
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert(has(&f, "t0-0"));
	ck_assert(has(&f, "t31-39"));
	fx_fini(&f);
}
END_TEST

START_TEST(durable_across_reopen)
{
	struct fx f;
	fx_init(&f, "log: { level: error }\nstore: { sync: normal }\n");
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "x1", "q", "body-1", 50), 0);
	struct spur_store_op k = { .kind = SPUR_STORE_KEY_SET, .ns = "n", .key = "k",
				   .value = "val", .value_len = 3 };
	ck_assert_int_eq(f.st->apply(f.inst, &k, 1, NULL), 0);
	fx_close(&f);
	ck_assert_int_eq(fx_open(&f), 0);
	struct seen s = { 0 };
	ck_assert_int_eq(f.st->get(f.inst, "x1", see, &s), 1);
	ck_assert_str_eq(s.bodies[0], "body-1");
	ck_assert_str_eq(s.attrs[0], "(null)");
	char v[64];
	ck_assert_int_eq(f.st->key_get(f.inst, "n", "k", see_value, v), 1);
	ck_assert_str_eq(v, "val");
	/* seq continues after reopen: a new message with the same visible
	 * time comes after the old one */
	ck_assert_int_eq(put(&f, "x2", "q", "body-2", 50), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(f.st->peek(f.inst, "q", 0, 10, see, &s), 2);
	ck_assert_str_eq(s.ids[0], "x1");
	ck_assert_str_eq(s.ids[1], "x2");
	fx_fini(&f);
}
END_TEST

/* --- kill -9 ---------------------------------------------------------------------- */

struct child_arg {
	struct fx *f;
	int fd, t, round;
};

static void *child_put(void *arg)
{
	struct child_arg *a = arg;
	char id[64], line[80];
	for (int i = 0;; i++) {
		snprintf(id, sizeof(id), "r%d-t%d-%d", a->round, a->t, i);
		if (put(a->f, id, "async", "{\"crash\":true}", 0) != 0)
			_exit(3);
		int n = snprintf(line, sizeof(line), "%s\n", id);
		if (write(a->fd, line, (size_t)n) != n)
			_exit(4);
	}
	return NULL;
}

START_TEST(kill9_keeps_acknowledged)
{
	struct fx f;
	fx_init(&f, "log: { level: error }\nstore: { sync: full }\n");
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	ck_assert_int_eq(fx_open(&f), 0);	/* create it once */
	fx_close(&f);
	size_t total = 0;
	for (int round = 0; round < 20; round++) {
		int fds[2];
		ck_assert_int_eq(pipe(fds), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			if (fx_open(&f) != 0)
				_exit(2);
			pthread_t th[4];
			struct child_arg a[4];
			for (int t = 0; t < 4; t++) {
				a[t] = (struct child_arg){ .f = &f, .fd = fds[1], .t = t, .round = round };
				pthread_create(&th[t], NULL, child_put, &a[t]);
			}
			pause();
			_exit(0);
		}
		close(fds[1]);
		/* the kill lands at a random point after the first acknowledged
		 * write (waiting for it, not for a fixed time: a loaded machine
		 * may take longer than the delay to open the store at all) */
		size_t cap = 1 << 16, len = 0;
		char *acked = malloc(cap);
		ssize_t r;
		while (!memchr(acked, '\n', len) &&
		       (r = read(fds[0], acked + len, cap - len - 1)) > 0)
			len += (size_t)r;
		struct timespec d = { 0, (rand() % 45) * 1000000L };
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		/* everything the child wrote before it died was acknowledged */
		while ((r = read(fds[0], acked + len, cap - len - 1)) > 0) {
			len += (size_t)r;
			if (cap - len < 4096)
				acked = realloc(acked, cap *= 2);
		}
		acked[len] = '\0';
		close(fds[0]);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited %d", WEXITSTATUS(status));
		ck_assert_int_eq(fx_open(&f), 0);
		for (char *save, *id = strtok_r(acked, "\n", &save); id; id = strtok_r(NULL, "\n", &save)) {
			ck_assert_msg(has(&f, id), "round %d: acknowledged %s lost", round, id);
			total++;
		}
		fx_close(&f);
		free(acked);
	}
	ck_assert_uint_gt(total, 0);
	fx_fini(&f);
}
END_TEST

/* --- foreign files ----------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	rewind(fp);
	char *b = malloc(*len + 1);
	ck_assert_uint_eq(fread(b, 1, *len, fp), *len);
	fclose(fp);
	return b;
}

static void write_file(const char *path, const void *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(p, 1, len, fp), len);
	fclose(fp);
}

static int open_rc;
static void try_open(struct fx *f)
{
	open_rc = fx_open(f);
}

/* Opening must fail, say `msg`, and leave the file as it was. */
static void refused(struct fx *f, const char *msg)
{
	size_t before_len, after_len;
	char *before = slurp(f->db, &before_len);
	char *log = capture_stderr(try_open, f);
	ck_assert_int_lt(open_rc, 0);
	ck_assert_msg(strstr(log, msg) != NULL, "wanted \"%s\" in: %s", msg, log);
	ck_assert_msg(strstr(log, "refusing") != NULL, "%s", log);
	char *after = slurp(f->db, &after_len);
	ck_assert_uint_eq(before_len, after_len);
	ck_assert(memcmp(before, after, before_len) == 0);
	free(before);
	free(after);
	free(log);
}

static void patch_be32(const char *path, long off, uint32_t v)
{
	int fd = open(path, O_WRONLY);
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };
	ck_assert_int_eq(pwrite(fd, b, 4, off), 4);
	close(fd);
}

START_TEST(foreign_files_refused)
{
	struct fx f;
	fx_init(&f, YAML_DEFAULT);
	char garbage[4096];
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)("not a database "[i % 15] ^ (i & 7));
	write_file(f.db, garbage, sizeof(garbage));
	refused(&f, "is not an SQLite database");
	write_file(f.db, "SQLite", 6);	/* short */
	refused(&f, "is not an SQLite database");

	/* a real database of ours, then made another application's */
	unlink(f.db);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert_int_eq(put(&f, "m", "q", "{}", 0), 0);
	fx_close(&f);
	patch_be32(f.db, 68, 0x12345678);	/* application_id */
	refused(&f, "belongs to another application");
	patch_be32(f.db, 68, 0);		/* no id, but tables */
	refused(&f, "another application's SQLite database");
	patch_be32(f.db, 68, 0x53505552);
	patch_be32(f.db, 60, 99);		/* user_version: a newer schema */
	refused(&f, "schema version 99");
	patch_be32(f.db, 60, 1);
	ck_assert_int_eq(fx_open(&f), 0);
	ck_assert(has(&f, "m"));
	fx_fini(&f);
}
END_TEST

/* --- disk full --------------------------------------------------------------------- */

START_TEST(disk_full_then_recovers)
{
	struct fx f;
	char dir[512], filler[600], yaml[1024], why[256];
	harness_init(&f.h);	/* only for a directory name */
	snprintf(dir, sizeof(dir), "%s/small", f.h.dir);
	mkdir(dir, 0755);
	/* A 1 MiB tmpfs in a mount namespace of this test process (gone when
	 * it exits, even on failure); SPUR_TEST_NO_TMPFS=1 tests the other way. */
	bool tmpfs = !getenv("SPUR_TEST_NO_TMPFS") && unshare(CLONE_NEWNS) == 0 &&
		     mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
		     mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0;
	if (tmpfs)
		snprintf(yaml, sizeof(yaml), "log: { level: error }\nstore: { path: %s/spur.db }\n", dir);
	else	/* not allowed to mount: cap the file instead */
		snprintf(yaml, sizeof(yaml), "log: { level: error }\nstore: { max_size: 96KiB }\n");
	struct harness keep = f.h;
	fx_init(&f, yaml);
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	if (tmpfs) {
		static char junk[256 * 1024];
		write_file(filler, junk, sizeof(junk));
	}
	ck_assert_int_eq(fx_open(&f), 0);
	static char body[8193];
	memset(body, 'x', sizeof(body) - 1);
	char id[32];
	int i, rc = 0;
	for (i = 0; i < 1000 && rc == 0; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		rc = put(&f, id, "async", body, 0);
	}
	ck_assert_int_eq(rc, -ENOSPC);
	int filled = i - 1;	/* m0 .. m(filled-1) were acknowledged */
	ck_assert_int_gt(filled, 2);
	ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "disk full") != NULL, "%s", why);
	ck_assert(has(&f, "m0"));
	ck_assert(!has(&f, id));
	/* space returns */
	if (tmpfs) {
		ck_assert_int_eq(unlink(filler), 0);
		ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 1);
	} else {
		struct spur_store_op del[3] = {
			{ .kind = SPUR_STORE_DELETE, .id = "m0" }, { .kind = SPUR_STORE_DELETE, .id = "m1" },
			{ .kind = SPUR_STORE_DELETE, .id = "m2" },
		};
		ck_assert_int_eq(f.st->apply(f.inst, del, 3, NULL), 0);
	}
	ck_assert_int_eq(put(&f, "after", "async", "{}", 0), 0);
	ck_assert_int_eq(f.st->writable(f.inst, why, sizeof(why)), 1);
	ck_assert(has(&f, "after"));
	fx_close(&f);
	if (tmpfs)
		umount2(dir, MNT_DETACH);
	fx_fini(&f);
	harness_fini(&keep);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("sqlite");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, put_take_lease);
	tcase_add_test(tc, visible_order_and_peek);
	tcase_add_test(tc, delete_update_move);
	tcase_add_test(tc, key_create_conflict_rolls_back);
	tcase_add_test(tc, expired_keys);
	tcase_add_test(tc, stats_and_purge);
	tcase_add_test(tc, max_depth_refuses);
	tcase_add_test(tc, group_commit_under_concurrency);
	tcase_add_test(tc, durable_across_reopen);
	tcase_add_test(tc, kill9_keeps_acknowledged);
	tcase_add_test(tc, foreign_files_refused);
	tcase_add_test(tc, disk_full_then_recovers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run(suite());
}
