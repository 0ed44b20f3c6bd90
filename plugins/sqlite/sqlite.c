/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c - the "sqlite" store plugin: spur's durable state (queues,
 * outboxes, idempotency keys) in one SQLite database file in WAL mode.
 *
 * This file owns the instance, opening (and refusing) the file, and the
 * read side; writer.c owns the write side. The design:
 *
 *   - ONE writer thread holds the write connection. apply(), take(),
 *     purge() and expire() queue a request and block; the writer runs all
 *     pending requests in one transaction (a SAVEPOINT each, but for
 *     one-statement requests) and commits once, so N concurrent callers
 *     share one fsync (group commit); see writer.c.
 *     Options come from the `store:` section (store.kind: sqlite).
 *     sync: full is PRAGMA synchronous=FULL: the WAL is fsynced before
 *     apply() returns 0; normal survives a process crash, not power loss.
 *   - Reads (get, peek, key_get, stats) use read-only connections from a
 *     small pool, grown on demand up to SPUR_SQLITE_READERS: WAL lets them
 *     read the last commit while the writer writes; they never wait on it.
 *   - Schema: messages(id TEXT PRIMARY KEY, queue, body BLOB, attrs,
 *     accepted_ms, visible_ms, receive_count, seq) indexed on (queue,
 *     visible_ms, seq) - take and peek order; keys(ns, key, value,
 *     expires_ms) keyed on (ns, key); meta(k, v). The header carries
 *     PRAGMA application_id "SPUR" and user_version = schema version.
 *   - Open refuses, with a message naming the file and never writing to
 *     it: a file that is not SQLite, a database of another application
 *     (other application_id, or id 0 with tables), a newer schema, and a
 *     file failing PRAGMA quick_check. Only an empty file or empty
 *     database is initialised.
 *   - Disk full (SQLITE_FULL) fails the batch with -ENOSPC and makes
 *     writable() 0 until a commit succeeds again or the filesystem shows
 *     more free space than when it filled. max_depth (messages outside
 *     outbox queues) makes a PUT batch fail with -EAGAIN.
 *   - Expiry: a key with expires_ms <= 0 never expires; otherwise it is
 *     dead once the store clock reaches expires_ms (KEY_CREATE replaces
 *     it, key_get does not see it, expire() deletes it).
 *
 * Threads: any. Costs: open runs quick_check (reads the whole file once);
 * a read borrows a pooled connection (a mutex) and steps one cached
 * statement; callbacks see SQLite's buffers, no copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "sqlite.h"

/* The host's store clock when it has one (weak: older hosts do not). */
#pragma weak spur_store_now_ms

static const struct spur_option sqlite_options_table[] = {
	{ .type = SPUR_OPT_STRING, .name = "path", .def = "spur.db",
	  .offset = offsetof(struct spur_sqlite_options, path),
	  .description = "database file, relative to state_dir" },
	{ .type = SPUR_OPT_ENUM, .name = "sync", .def = "full", .choices = "full|normal",
	  .offset = offsetof(struct spur_sqlite_options, sync),
	  .description = "full: fsync before a write is acknowledged (survives power loss); "
			 "normal: survives a process crash only" },
	{ .type = SPUR_OPT_INT, .name = "group_max", .def = "1024",
	  .offset = offsetof(struct spur_sqlite_options, group_max),
	  .description = "operations committed together at most (group commit)",
	  .min = 1, .max = 1000000 },
	{ .type = SPUR_OPT_INT, .name = "max_depth", .def = "1000000",
	  .offset = offsetof(struct spur_sqlite_options, max_depth),
	  .description = "messages outside outboxes above which new events are refused (0: no limit)",
	  .min = 0, .max = INT64_C(1000000000000) },
	{ .type = SPUR_OPT_DURATION, .name = "busy_timeout", .def = "5s",
	  .offset = offsetof(struct spur_sqlite_options, busy_timeout_ms),
	  .description = "wait this long for a lock held by another process",
	  .min = 0, .max = 3600000 },
	{ .type = SPUR_OPT_SIZE, .name = "max_size", .def = "0",
	  .offset = offsetof(struct spur_sqlite_options, max_size),
	  .description = "largest database file (0: no limit); beyond it writes fail as on a full disk",
	  .min = 0, .max = INT64_C(1) << 50 },
	{ .name = NULL },
};

/* --- shared helpers ------------------------------------------------------ */

int64_t spur_sqlite_now_ms(struct spur_sqlite_store *s)
{
	struct timespec ts;

	if (spur_store_now_ms)
		return spur_store_now_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return s->clock_base + (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int spur_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_TOOBIG: return -E2BIG;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_MISUSE: case SQLITE_RANGE: case SQLITE_MISMATCH: return -EINVAL;
	default: return -EIO;
	}
}

uint64_t spur_sqlite_free_bytes(struct spur_sqlite_store *s)
{
	char dir[4096];
	struct statvfs sv;
	const char *slash = strrchr(s->path, '/');

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - s->path) + 1 : 1,
		 slash ? s->path : ".");
	if (statvfs(dir, &sv) < 0)
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

bool spur_sqlite_is_outbox(const char *queue)
{
	return strncmp(queue, "outbox", 6) == 0;
}

/* --- the instance -------------------------------------------------------- */

static int sqlite_init(struct spur_host *host, const void *options, void **instance)
{
	struct spur_sqlite_store *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->host = host;
	s->opt = options;
	pthread_mutex_init(&s->state_lock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->rfree, NULL);
	s->tail = &s->head;
	*instance = s;
	return 0;
}

static void store_close(void *instance);
static void reader_free(struct spur_sqlite_reader *r);

static void sqlite_fini(void *instance)
{
	struct spur_sqlite_store *s = instance;

	if (!s)
		return;
	store_close(s);
	pthread_cond_destroy(&s->rfree);
	pthread_mutex_destroy(&s->rlock);
	pthread_mutex_destroy(&s->state_lock);
	free(s);
}

/* --- opening --------------------------------------------------------------- */

static const char schema_sql[] =
	"CREATE TABLE messages ("
	" id TEXT PRIMARY KEY NOT NULL, queue TEXT NOT NULL, body BLOB NOT NULL, attrs TEXT,"
	" accepted_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL,"
	" receive_count INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);"
	"CREATE INDEX messages_visible ON messages(queue, visible_ms, seq);"
	"CREATE TABLE keys (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB,"
	" expires_ms INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
	"CREATE INDEX keys_expiry ON keys(expires_ms) WHERE expires_ms > 0;"
	"CREATE TABLE meta (k TEXT PRIMARY KEY NOT NULL, v) WITHOUT ROWID;";

/* One integer from a query; 0 or -errno. */
static int query_int(sqlite3 *db, const char *q, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Look at the file's first bytes before SQLite does: refuse what is not
 * an SQLite database or is marked as another application's. */
static int check_header(struct spur_sqlite_store *s)
{
	unsigned char h[100];
	struct stat st;
	int fd = -1, rc = 0;

	if (stat(s->path, &st) < 0 || st.st_size == 0)
		return 0;	/* new (or empty) file */
	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: cannot read %s: %s", s->path,
			 spur_strerror(rc));
		goto out;
	}
	if (read(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    memcmp(h, "SQLite format 3", 16) != 0) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s is not an SQLite database; "
			 "refusing to open it (the file is left untouched: move it away or "
			 "set store.path)", s->path);
		rc = -EINVAL;
		goto out;
	}
	uint32_t app = (uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 | h[71];
	if (app != 0 && app != SPUR_SQLITE_APP_ID) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s belongs to another application "
			 "(application_id 0x%08x, spur's is 0x%08x); refusing to open it (left "
			 "untouched)", s->path, app, SPUR_SQLITE_APP_ID);
		rc = -EINVAL;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Read-only checks through SQLite, then create or accept the schema. */
static int check_and_init(struct spur_sqlite_store *s)
{
	sqlite3 *db = s->wdb;
	int64_t app = 0, version = 0, tables = 0;
	sqlite3_stmt *st = NULL;
	int src, rc = -EINVAL;

	if ((src = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK ||
	    (src = query_int(db, "PRAGMA user_version", &version)) != SQLITE_OK ||
	    (src = query_int(db, "SELECT count(*) FROM sqlite_schema", &tables)) != SQLITE_OK) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: %s; refusing to open it (left "
			 "untouched)", s->path, sqlite3_errstr(src));
		rc = src == SQLITE_NOTADB ? -EINVAL : spur_sqlite_errno(src);
		goto fail;
	}
	if (app == 0 && tables > 0) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s is another application's SQLite "
			 "database (%lld tables, no spur application_id); refusing to open it "
			 "(left untouched)", s->path, (long long)tables);
		goto fail;
	}
	if (app != 0 && app != SPUR_SQLITE_APP_ID) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s belongs to another application "
			 "(application_id 0x%08llx); refusing to open it (left untouched)",
			 s->path, (unsigned long long)app);
		goto fail;
	}
	if (app == SPUR_SQLITE_APP_ID && version > SPUR_SQLITE_SCHEMA) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s has schema version %lld, newer than "
			 "this spur knows (%d); refusing to open it (left untouched): run a newer "
			 "spur", s->path, (long long)version, SPUR_SQLITE_SCHEMA);
		goto fail;
	}
	if (app == SPUR_SQLITE_APP_ID) {
		/* Ours: check it is sound before anything writes to it. */
		src = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
		if (src == SQLITE_OK)
			src = sqlite3_step(st);
		const char *res = src == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		if (!res || strcmp(res, "ok") != 0) {
			spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s fails PRAGMA quick_check: %s; "
				 "refusing to open it (left untouched)", s->path,
				 res ? res : sqlite3_errmsg(db));
			rc = src == SQLITE_ROW ? -EIO : spur_sqlite_errno(src);
			goto fail;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	/* Only now write: WAL mode, then the schema of a new database. */
	if ((src = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlfail;
	if (app == 0) {
		char sql[sizeof(schema_sql) + 256];
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%s"
			 "INSERT INTO meta VALUES ('schema', %d), ('created_ms', %lld);"
			 "PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT;",
			 schema_sql, SPUR_SQLITE_SCHEMA, (long long)spur_sqlite_now_ms(s),
			 SPUR_SQLITE_APP_ID, SPUR_SQLITE_SCHEMA);
		if ((src = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto sqlfail;
		}
		spur_log(s->host, SPUR_LOG_INFO, "sqlite: created %s", s->path);
	}
	return 0;
sqlfail:
	spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: %s", s->path, sqlite3_errmsg(db));
	rc = spur_sqlite_errno(src);
fail:
	sqlite3_finalize(st);
	return rc;
}

/* Settings, then what the writer keeps in memory (seq, depth). */
static int configure(struct spur_sqlite_store *s)
{
	char sql[256];
	sqlite3_stmt *st = NULL;
	int src;

	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
		 " PRAGMA cache_size=-16384;",
		 s->opt->sync == SPUR_SQLITE_SYNC_NORMAL ? "NORMAL" : "FULL");
	if ((src = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	if (s->opt->max_size) {
		int64_t page = 4096;
		query_int(s->wdb, "PRAGMA page_size", &page);
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%llu",
			 (unsigned long long)(s->opt->max_size / (uint64_t)page));
		if ((src = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
	}
	if ((src = query_int(s->wdb, "SELECT coalesce(max(seq), 0) FROM messages", &s->seq)) != SQLITE_OK)
		goto fail;
	src = sqlite3_prepare_v2(s->wdb, "SELECT queue, count(*) FROM messages GROUP BY queue",
				 -1, &st, NULL);
	s->depth = 0;
	while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		if (!spur_sqlite_is_outbox((const char *)sqlite3_column_text(st, 0)))
			s->depth += sqlite3_column_int64(st, 1);
		src = SQLITE_OK;
	}
	if (src != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	atomic_store(&s->depth_seen, s->depth);
	return 0;
fail:
	spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: %s", s->path, sqlite3_errmsg(s->wdb));
	sqlite3_finalize(st);
	return spur_sqlite_errno(src);
}

static int store_open(void *instance)
{
	struct spur_sqlite_store *s = instance;
	const char *p = s->opt->path && *s->opt->path ? s->opt->path : "spur.db";
	struct timespec rt, mt;
	int rc, src;

	if (s->opened)
		return -EALREADY;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	s->clock_base = ((int64_t)rt.tv_sec - mt.tv_sec) * 1000 + (rt.tv_nsec - mt.tv_nsec) / 1000000;
	free(s->path);
	if (p[0] == '/') {
		s->path = strdup(p);
	} else {
		const char *dir = spur_host_state_dir(s->host);
		size_t len = strlen(dir) + strlen(p) + 2;
		if ((s->path = malloc(len)))
			snprintf(s->path, len, "%s/%s", dir, p);
	}
	rc = -ENOMEM;
	if (!s->path)
		goto fail;
	if ((rc = check_header(s)) < 0)
		goto fail;
	src = sqlite3_open_v2(s->path, &s->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			      SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: cannot open %s: %s", s->path,
			 s->wdb ? sqlite3_errmsg(s->wdb) : sqlite3_errstr(src));
		rc = spur_sqlite_errno(src);
		goto fail;
	}
	sqlite3_extended_result_codes(s->wdb, 1);
	sqlite3_busy_timeout(s->wdb, (int)s->opt->busy_timeout_ms);
	if ((rc = check_and_init(s)) < 0 || (rc = configure(s)) < 0)
		goto fail;
	s->commits = s->batches = 0;
	s->full = false;
	if ((rc = spur_sqlite_writer_start(s)) < 0)
		goto fail;
	s->opened = true;
	return 0;
fail:
	sqlite3_close(s->wdb);
	s->wdb = NULL;
	return rc;
}

static void store_close(void *instance)
{
	struct spur_sqlite_store *s = instance;

	if (!s->opened)
		goto out;
	spur_sqlite_writer_stop(s);
	pthread_mutex_lock(&s->rlock);
	while (s->readers) {
		struct spur_sqlite_reader *r = s->readers;
		s->readers = r->next;
		reader_free(r);
		s->n_readers--;
	}
	pthread_mutex_unlock(&s->rlock);
	spur_log(s->host, SPUR_LOG_INFO, "sqlite: closed %s after %llu batches in %llu commits",
		 s->path, (unsigned long long)s->batches, (unsigned long long)s->commits);
	sqlite3_close(s->wdb);	/* the last connection checkpoints the WAL */
	s->wdb = NULL;
	s->opened = false;
out:
	free(s->path);
	s->path = NULL;
}

/* --- the read side ----------------------------------------------------------- */

static void reader_free(struct spur_sqlite_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->peek);
	sqlite3_finalize(r->key_get);
	sqlite3_finalize(r->stats);
	sqlite3_close(r->db);
	free(r);
}

static int reader_new(struct spur_sqlite_store *s, struct spur_sqlite_reader **out)
{
	struct spur_sqlite_reader *r = calloc(1, sizeof(*r));
	int src = SQLITE_NOMEM;

	if (!r)
		goto fail;
	src = sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(r->db, (int)s->opt->busy_timeout_ms);
#define PREP(field, q) \
	if ((src = sqlite3_prepare_v3(r->db, q, -1, SQLITE_PREPARE_PERSISTENT, &r->field, NULL)) != SQLITE_OK) \
		goto fail
	PREP(get, "SELECT id, queue, body, attrs, accepted_ms, visible_ms, receive_count"
		  " FROM messages WHERE id = ?1");
	PREP(peek, "SELECT id, queue, body, attrs, accepted_ms, visible_ms, receive_count"
		   " FROM messages WHERE queue = ?1 ORDER BY visible_ms, seq LIMIT ?2 OFFSET ?3");
	PREP(key_get, "SELECT value FROM keys WHERE ns = ?1 AND key = ?2"
		      " AND (expires_ms <= 0 OR expires_ms > ?3)");
	PREP(stats, "SELECT queue, sum(visible_ms <= ?1), sum(visible_ms > ?1)"
		    " FROM messages GROUP BY queue");
#undef PREP
	*out = r;
	return 0;
fail:
	spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: cannot open a reader: %s", s->path,
		 r && r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(src));
	reader_free(r);
	return spur_sqlite_errno(src);
}

static int reader_get(struct spur_sqlite_store *s, struct spur_sqlite_reader **out)
{
	int rc = 0;

	if (!s->opened)
		return -EBADF;
	pthread_mutex_lock(&s->rlock);
	while (!s->readers && s->n_readers >= SPUR_SQLITE_READERS)
		pthread_cond_wait(&s->rfree, &s->rlock);
	if (s->readers) {
		*out = s->readers;
		s->readers = (*out)->next;
		pthread_mutex_unlock(&s->rlock);
		return 0;
	}
	s->n_readers++;
	pthread_mutex_unlock(&s->rlock);
	if ((rc = reader_new(s, out)) < 0) {
		pthread_mutex_lock(&s->rlock);
		s->n_readers--;
		pthread_cond_signal(&s->rfree);
		pthread_mutex_unlock(&s->rlock);
	}
	return rc;
}

static void reader_put(struct spur_sqlite_store *s, struct spur_sqlite_reader *r, sqlite3_stmt *used)
{
	sqlite3_reset(used);	/* ends the read transaction: never pin the WAL */
	sqlite3_clear_bindings(used);
	pthread_mutex_lock(&s->rlock);
	r->next = s->readers;
	s->readers = r;
	pthread_cond_signal(&s->rfree);
	pthread_mutex_unlock(&s->rlock);
}

/* Rows of (id, queue, body, attrs, accepted_ms, visible_ms, receive_count). */
static int each_msg(sqlite3_stmt *st, spur_store_msg_fn fn, void *ud)
{
	int n = 0, src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *body = (const char *)sqlite3_column_text(st, 2);
		struct spur_msg m = {
			.id = (const char *)sqlite3_column_text(st, 0),
			.queue = (const char *)sqlite3_column_text(st, 1),
			.body = body ? body : "",
			.body_len = (size_t)sqlite3_column_bytes(st, 2),
			.attrs = (const char *)sqlite3_column_text(st, 3),
			.attrs_len = (size_t)sqlite3_column_bytes(st, 3),
			.accepted_ms = sqlite3_column_int64(st, 4),
			.visible_ms = sqlite3_column_int64(st, 5),
			.receive_count = (uint32_t)sqlite3_column_int64(st, 6),
		};
		if (fn)
			fn(ud, &m);
		n++;
	}
	return src == SQLITE_DONE ? n : spur_sqlite_errno(src);
}

static int store_get(void *instance, const char *id, spur_store_msg_fn fn, void *ud)
{
	struct spur_sqlite_store *s = instance;
	struct spur_sqlite_reader *r;
	int rc;

	if (!id)
		return -EINVAL;
	if ((rc = reader_get(s, &r)) < 0)
		return rc;
	sqlite3_bind_text(r->get, 1, id, -1, SQLITE_STATIC);
	rc = each_msg(r->get, fn, ud);
	reader_put(s, r, r->get);
	return rc;
}

static int store_peek(void *instance, const char *queue, size_t offset, size_t max,
		      spur_store_msg_fn fn, void *ud)
{
	struct spur_sqlite_store *s = instance;
	struct spur_sqlite_reader *r;
	int rc;

	if (!queue)
		return -EINVAL;
	if ((rc = reader_get(s, &r)) < 0)
		return rc;
	sqlite3_bind_text(r->peek, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->peek, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	sqlite3_bind_int64(r->peek, 3, offset > INT64_MAX ? INT64_MAX : (int64_t)offset);
	rc = each_msg(r->peek, fn, ud);
	reader_put(s, r, r->peek);
	return rc;
}

static int store_key_get(void *instance, const char *ns, const char *key,
			 void (*fn)(void *ud, const char *value, size_t len), void *ud)
{
	struct spur_sqlite_store *s = instance;
	struct spur_sqlite_reader *r;
	int rc, src;

	if (!ns || !key)
		return -EINVAL;
	if ((rc = reader_get(s, &r)) < 0)
		return rc;
	sqlite3_bind_text(r->key_get, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->key_get, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->key_get, 3, spur_sqlite_now_ms(s));
	src = sqlite3_step(r->key_get);
	if (src == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(r->key_get, 0);
		if (fn)
			fn(ud, v ? v : "", (size_t)sqlite3_column_bytes(r->key_get, 0));
		rc = 1;
	} else {
		rc = src == SQLITE_DONE ? 0 : spur_sqlite_errno(src);
	}
	reader_put(s, r, r->key_get);
	return rc;
}

static int store_stats(void *instance, int64_t now_ms, spur_store_stats_fn fn, void *ud)
{
	struct spur_sqlite_store *s = instance;
	struct spur_sqlite_reader *r;
	int rc, src;

	if ((rc = reader_get(s, &r)) < 0)
		return rc;
	sqlite3_bind_int64(r->stats, 1, now_ms);
	while ((src = sqlite3_step(r->stats)) == SQLITE_ROW) {
		struct spur_queue_stats qs = {
			.queue = (const char *)sqlite3_column_text(r->stats, 0),
			.visible = (uint64_t)sqlite3_column_int64(r->stats, 1),
			.delayed = (uint64_t)sqlite3_column_int64(r->stats, 2),
		};
		if (fn)
			fn(ud, &qs);
	}
	rc = src == SQLITE_DONE ? 0 : spur_sqlite_errno(src);
	reader_put(s, r, r->stats);
	return rc;
}

static int store_writable(void *instance, char *why, size_t len)
{
	struct spur_sqlite_store *s = instance;
	int ok = 1;

	if (!s->opened) {
		snprintf(why, len, "store not open");
		return 0;
	}
	pthread_mutex_lock(&s->state_lock);
	/* Space came back (someone freed 64 KiB or more): let writes try. */
	if (s->full && spur_sqlite_free_bytes(s) >= s->free_at_full + (64u << 10))
		s->full = false;
	if (s->full) {
		snprintf(why, len, "%s", s->full_why);
		ok = 0;
	}
	pthread_mutex_unlock(&s->state_lock);
	int64_t depth = atomic_load(&s->depth_seen);
	if (ok && s->opt->max_depth > 0 && depth >= s->opt->max_depth) {
		snprintf(why, len, "queues full: %lld messages (store.max_depth %lld)",
			 (long long)depth, (long long)s->opt->max_depth);
		ok = 0;
	}
	return ok;
}

static const struct spur_store sqlite_store_vtable = {
	.struct_size = sizeof(struct spur_store),
	.kind = "sqlite",
	.open = store_open,
	.close = store_close,
	.apply = spur_sqlite_apply,
	.take = spur_sqlite_take,
	.get = store_get,
	.peek = store_peek,
	.key_get = store_key_get,
	.stats = store_stats,
	.purge = spur_sqlite_purge,
	.release = spur_sqlite_release,
	.expire = spur_sqlite_expire,
	.writable = store_writable,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "sqlite",
	.version = "0.1.0",
	.description = "store: queues and idempotency keys in one SQLite file (WAL, group commit)",
	.roles = SPUR_ROLE_STORE,
	.options = sqlite_options_table,
	.options_size = sizeof(struct spur_sqlite_options),
	.init = sqlite_init,
	.fini = sqlite_fini,
	.store = &sqlite_store_vtable,
};
