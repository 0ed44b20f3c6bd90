/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the sqlite store's write side: one writer thread owns the
 * write connection and commits every write in groups.
 *
 * A caller (apply, take, purge, expire; any thread) pushes a request on a
 * lock-free inbox and sleeps on a futex in the request. The writer takes
 * every pending request up to group_max operations, runs them in ONE
 * transaction, each inside a SAVEPOINT so that a failing request (a live
 * KEY_CREATE, a full queue, a missing message) rolls back alone - a
 * one-statement request needs none: SQLite undoes a failed statement -
 * takes in requests that arrived meanwhile, COMMITs once (one fsync with
 * sync: full), then marks every request of the group done and wakes the
 * first caller only; the wake spreads as a tree: request i wakes requests
 * WAKE_FANOUT*i+1 .. WAKE_FANOUT*i+WAKE_FANOUT of the group (the writer
 * writes those addresses into it before marking it done). So the writer
 * spends one syscall per group and starts the next transaction at once,
 * and the last caller of a group of n is awake after ~log2(n) context
 * switches instead of the n of a chain. Operations stay borrowed: their
 * caller is blocked until then.
 *
 * Invariants: nothing is reported done before its COMMIT returned; a
 * request either applies whole or not at all; take() results are copied
 * out inside the transaction and handed to the callback on the caller's
 * thread after the commit. When a statement fails so badly that SQLite
 * ended the transaction (disk full, I/O error), every request of the
 * group fails with that error, since none of them was committed.
 *
 * Cost: per group one BEGIN/COMMIT (one fsync) plus a SAVEPOINT pair per
 * multi-op request; per operation one cached prepared statement, no
 * allocation (take copies its rows into one growing buffer); per caller
 * one CAS to push, one CAS to announce its sleep (a caller already done
 * by then skips the futex), one futex sleep and up to WAKE_FANOUT futex
 * wakes of other callers. The writer sleeps on a
 * futex word when the inbox is empty (no polling). Callers must not call
 * while close() runs (the contract: no call follows close).
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sqlite.h"

enum req_kind { REQ_APPLY, REQ_TAKE, REQ_PURGE, REQ_EXPIRE, REQ_RELEASE_ALL };
enum { PENDING, SLEEPING, DONE };	/* sqlite_req.done */
/* Each woken caller wakes this many more (see the top). Measured on 2
 * vCPUs: 2 and 4 alike; waking all n from the writer makes its groups
 * bigger but keeps it ~3 us per waiter off the next transaction. */
#define WAKE_FANOUT 2

struct taken {
	size_t id, body, body_len, attrs, attrs_len;	/* offsets into buf */
	bool has_attrs;
	int64_t accepted_ms, visible_ms;
	uint32_t receive_count;
};

struct spur_sqlite_req {
	enum req_kind kind;
	const struct spur_store_op *ops;
	size_t n;
	struct spur_store_conflict *conflict;
	const char *queue;
	int64_t now_ms, lease_ms;
	size_t max;
	/* results */
	int rc;
	int64_t count;			/* purge, expire, take */
	int64_t next_ms;
	int64_t delta;			/* change of s->depth once committed */
	struct taken *taken;
	size_t n_taken, cap_taken;
	char *buf;
	size_t buf_len, buf_cap;
	atomic_int done;		/* a futex word: PENDING, SLEEPING, DONE */
	atomic_int *kid[WAKE_FANOUT];	/* done words this caller wakes once done */
	struct spur_sqlite_req *next;
};

/* The writer's statements, prepared once (writer thread only). */
enum {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
	ST_PUT, ST_DELETE, ST_UPDATE, ST_MOVE_FROM, ST_MOVE,
	ST_KEY_CREATE, ST_KEY_LIVE, ST_KEY_SET, ST_KEY_DELETE,
	ST_TAKE_SELECT, ST_TAKE_LEASE, ST_NEXT, ST_PURGE, ST_EXPIRE, ST_UNLEASE,
	ST_COUNT
};

static const char *const sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT req",
	[ST_RELEASE] = "RELEASE req",
	[ST_ROLLBACK_TO] = "ROLLBACK TO req",
	[ST_PUT] = "INSERT INTO messages(id, queue, body, attrs, accepted_ms, visible_ms,"
		   " receive_count, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_DELETE] = "DELETE FROM messages WHERE id = ?1 RETURNING queue",
	[ST_UPDATE] = "UPDATE messages SET visible_ms = ?2, attrs = coalesce(?3, attrs)"
		      " WHERE id = ?1",
	[ST_MOVE_FROM] = "SELECT queue FROM messages WHERE id = ?1",
	[ST_MOVE] = "UPDATE messages SET queue = ?2, visible_ms = ?3,"
		    " attrs = coalesce(?4, attrs) WHERE id = ?1",
	/* Create, or replace only an expired key (expires_ms <= 0: never). */
	[ST_KEY_CREATE] = "INSERT INTO keys(ns, key, value, expires_ms) VALUES (?1, ?2, ?3, ?4)"
			  " ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value,"
			  " expires_ms = excluded.expires_ms"
			  " WHERE keys.expires_ms > 0 AND keys.expires_ms <= ?5",
	[ST_KEY_LIVE] = "SELECT value FROM keys WHERE ns = ?1 AND key = ?2",
	[ST_KEY_SET] = "INSERT OR REPLACE INTO keys(ns, key, value, expires_ms)"
		       " VALUES (?1, ?2, ?3, ?4)",
	[ST_KEY_DELETE] = "DELETE FROM keys WHERE ns = ?1 AND key = ?2",
	[ST_TAKE_SELECT] = "SELECT rowid, id, body, attrs, accepted_ms, receive_count"
			   " FROM messages WHERE queue = ?1 AND visible_ms <= ?2"
			   " ORDER BY visible_ms, seq LIMIT ?3",
	[ST_TAKE_LEASE] = "UPDATE messages SET visible_ms = ?2, receive_count = receive_count + 1"
			  " WHERE rowid = ?1",
	[ST_NEXT] = "SELECT min(visible_ms) FROM messages WHERE queue = ?1",
	[ST_PURGE] = "DELETE FROM messages WHERE queue = ?1",
	[ST_EXPIRE] = "DELETE FROM keys WHERE expires_ms > 0 AND expires_ms <= ?1",
	[ST_UNLEASE] = "UPDATE messages SET visible_ms = ?3 WHERE queue = ?1 AND visible_ms >= ?2",
};

/* The writer's statements (one set per instance, writer thread only). */
struct spur_sqlite_writer_stmts {
	sqlite3_stmt *st[ST_COUNT];
};

static struct spur_sqlite_writer_stmts *stmts_of(struct spur_sqlite_store *s)
{
	return s->wstmts;
}

/* --- helpers ------------------------------------------------------------- */

/* Run a statement that returns no rows; 0 or -errno. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : spur_sqlite_errno(rc);
}

/* The SQLite error of a failed step (sqlite3_reset returns it). */
static int step_error(sqlite3_stmt *st, int rc)
{
	int rrc = sqlite3_reset(st);
	return spur_sqlite_errno(rrc != SQLITE_OK ? rrc : rc);
}

static void bind_text(sqlite3_stmt *st, int i, const char *p, size_t len)
{
	if (p)
		sqlite3_bind_text(st, i, p, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_blob(sqlite3_stmt *st, int i, const char *p, size_t len)
{
	sqlite3_bind_blob(st, i, p ? p : "", (int)len, SQLITE_STATIC);
}

static int64_t counted(const char *queue)
{
	return queue && !spur_sqlite_is_outbox(queue) ? 1 : 0;
}

/* Append bytes plus a NUL to r->buf; the offset, or (size_t)-1. */
static size_t buf_add(struct spur_sqlite_req *r, const void *p, size_t len)
{
	if (r->buf_len + len + 1 > r->buf_cap) {
		size_t cap = r->buf_cap ? r->buf_cap : 1024;
		while (cap < r->buf_len + len + 1)
			cap *= 2;
		char *nb = realloc(r->buf, cap);
		if (!nb)
			return (size_t)-1;
		r->buf = nb;
		r->buf_cap = cap;
	}
	size_t off = r->buf_len;
	if (len)
		memcpy(r->buf + off, p, len);
	r->buf[off + len] = '\0';
	r->buf_len += len + 1;
	return off;
}

/* --- operations ------------------------------------------------------------ */

static int key_conflict(struct spur_sqlite_store *s, const struct spur_store_op *op, size_t i,
			struct spur_store_conflict *conflict)
{
	sqlite3_stmt *st = stmts_of(s)->st[ST_KEY_LIVE];
	int rc = -EEXIST;

	if (!conflict)
		return rc;
	sqlite3_bind_text(st, 1, op->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
	conflict->op = i;
	conflict->value = NULL;
	conflict->value_len = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const void *v = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		conflict->value = malloc(len + 1);
		if (!conflict->value) {
			rc = -ENOMEM;
			goto out;
		}
		if (len)
			memcpy(conflict->value, v, len);
		conflict->value[len] = '\0';
		conflict->value_len = len;
	}
out:
	sqlite3_reset(st);
	return rc;
}

static int apply_op(struct spur_sqlite_store *s, struct spur_sqlite_req *r, size_t i, int64_t now)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);
	const struct spur_store_op *op = &r->ops[i];
	sqlite3_stmt *st;
	int rc;

	switch (op->kind) {
	case SPUR_STORE_PUT: {
		const struct spur_msg *m = &op->msg;
		if (!m->id || !m->queue)
			return -EINVAL;
		st = w->st[ST_PUT];
		sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->queue, -1, SQLITE_STATIC);
		bind_blob(st, 3, m->body, m->body_len);
		bind_text(st, 4, m->attrs, m->attrs_len);
		sqlite3_bind_int64(st, 5, m->accepted_ms);
		sqlite3_bind_int64(st, 6, m->visible_ms);
		sqlite3_bind_int64(st, 7, m->receive_count);
		sqlite3_bind_int64(st, 8, ++s->seq);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			rc = step_error(st, rc);
			if (rc == -EEXIST && r->conflict)	/* a message with this id exists */
				*r->conflict = (struct spur_store_conflict){ .op = i };
			return rc;
		}
		sqlite3_reset(st);
		r->delta += counted(m->queue);
		return 0;
	}
	case SPUR_STORE_DELETE:
		if (!op->id)
			return -EINVAL;
		st = w->st[ST_DELETE];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			r->delta -= counted((const char *)sqlite3_column_text(st, 0));
		if (rc != SQLITE_DONE)
			return step_error(st, rc);
		sqlite3_reset(st);
		return 0;
	case SPUR_STORE_UPDATE:
		if (!op->id)
			return -EINVAL;
		st = w->st[ST_UPDATE];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, op->visible_ms);
		bind_text(st, 3, op->attrs, op->attrs_len);
		if ((rc = run(st)) < 0)
			return rc;
		return sqlite3_changes(s->wdb) ? 0 : -ENOENT;
	case SPUR_STORE_MOVE:
		if (!op->id || !op->queue)
			return -EINVAL;
		st = w->st[ST_MOVE_FROM];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			rc = rc == SQLITE_DONE ? -ENOENT : step_error(st, rc);
			sqlite3_reset(st);
			return rc;
		}
		r->delta += counted(op->queue) - counted((const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		st = w->st[ST_MOVE];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->queue, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, op->visible_ms);
		bind_text(st, 4, op->attrs, op->attrs_len);
		return run(st);
	case SPUR_STORE_KEY_CREATE:
	case SPUR_STORE_KEY_SET:
		if (!op->ns || !op->key)
			return -EINVAL;
		st = w->st[op->kind == SPUR_STORE_KEY_CREATE ? ST_KEY_CREATE : ST_KEY_SET];
		sqlite3_bind_text(st, 1, op->ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
		bind_blob(st, 3, op->value, op->value_len);
		sqlite3_bind_int64(st, 4, op->expires_ms);
		if (op->kind == SPUR_STORE_KEY_CREATE)
			sqlite3_bind_int64(st, 5, now);
		if ((rc = run(st)) < 0)
			return rc;
		if (op->kind == SPUR_STORE_KEY_CREATE && sqlite3_changes(s->wdb) == 0)
			return key_conflict(s, op, i, r->conflict);
		return 0;
	case SPUR_STORE_KEY_DELETE:
		if (!op->ns || !op->key)
			return -EINVAL;
		st = w->st[ST_KEY_DELETE];
		sqlite3_bind_text(st, 1, op->ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
		return run(st);
	}
	return -EINVAL;
}

static int do_take(struct spur_sqlite_store *s, struct spur_sqlite_req *r)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);
	sqlite3_stmt *st = w->st[ST_TAKE_SELECT];
	int64_t *rowids = NULL;
	int rc;

	sqlite3_bind_text(st, 1, r->queue, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->now_ms);
	sqlite3_bind_int64(st, 3, r->max > INT64_MAX ? INT64_MAX : (int64_t)r->max);
	/* Copy the rows first: leasing moves them in the index being read. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n_taken == r->cap_taken) {
			size_t cap = r->cap_taken ? 2 * r->cap_taken : 16;
			struct taken *nt = realloc(r->taken, cap * sizeof(*nt));
			int64_t *nr = nt ? realloc(rowids, cap * sizeof(*nr)) : NULL;
			if (nt)
				r->taken = nt;
			if (!nr) {
				rc = -ENOMEM;
				goto fail;
			}
			rowids = nr;
			r->cap_taken = cap;
		}
		struct taken *t = &r->taken[r->n_taken];
		rowids[r->n_taken] = sqlite3_column_int64(st, 0);
		t->id = buf_add(r, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
		t->body_len = (size_t)sqlite3_column_bytes(st, 2);
		t->body = buf_add(r, sqlite3_column_blob(st, 2), t->body_len);
		t->has_attrs = sqlite3_column_type(st, 3) != SQLITE_NULL;
		t->attrs_len = (size_t)sqlite3_column_bytes(st, 3);
		t->attrs = buf_add(r, sqlite3_column_text(st, 3), t->attrs_len);
		if (t->id == (size_t)-1 || t->body == (size_t)-1 || t->attrs == (size_t)-1) {
			rc = -ENOMEM;
			goto fail;
		}
		t->accepted_ms = sqlite3_column_int64(st, 4);
		t->receive_count = (uint32_t)sqlite3_column_int64(st, 5) + 1;
		t->visible_ms = r->now_ms + r->lease_ms;
		r->n_taken++;
	}
	if (rc != SQLITE_DONE) {
		rc = step_error(st, rc);
		goto fail;
	}
	sqlite3_reset(st);
	st = w->st[ST_TAKE_LEASE];
	for (size_t i = 0; i < r->n_taken; i++) {
		sqlite3_bind_int64(st, 1, rowids[i]);
		sqlite3_bind_int64(st, 2, r->now_ms + r->lease_ms);
		if ((rc = run(st)) < 0)
			goto fail;
	}
	st = w->st[ST_NEXT];
	sqlite3_bind_text(st, 1, r->queue, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = step_error(st, rc);
		goto fail;
	}
	r->next_ms = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX
							       : sqlite3_column_int64(st, 0);
	r->count = (int64_t)r->n_taken;
	rc = 0;
fail:
	sqlite3_reset(st);
	free(rowids);
	if (rc < 0)
		r->n_taken = 0;
	return rc;
}

/* One request, inside its savepoint. `pending` is the depth change of the
 * group's requests before this one. */
static int run_req(struct spur_sqlite_store *s, struct spur_sqlite_req *r, int64_t now, int64_t pending)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);
	sqlite3_stmt *st;
	int rc = 0;

	r->delta = 0;
	switch (r->kind) {
	case REQ_APPLY: {
		bool puts = false;
		/* one op has no savepoint: refuse a PUT over max_depth before it */
		if (r->n == 1 && r->ops[0].kind == SPUR_STORE_PUT && s->opt->max_depth > 0 &&
		    counted(r->ops[0].msg.queue) && s->depth + pending + 1 > s->opt->max_depth)
			return -EAGAIN;
		for (size_t i = 0; i < r->n && rc == 0; i++) {
			rc = apply_op(s, r, i, now);
			puts |= r->ops[i].kind == SPUR_STORE_PUT && counted(r->ops[i].msg.queue);
		}
		if (rc == 0 && puts && s->opt->max_depth > 0 && r->delta > 0 &&
		    s->depth + pending + r->delta > s->opt->max_depth)
			rc = -EAGAIN;
		break;
	}
	case REQ_TAKE:
		rc = do_take(s, r);
		break;
	case REQ_PURGE:
		st = w->st[ST_PURGE];
		sqlite3_bind_text(st, 1, r->queue, -1, SQLITE_STATIC);
		if ((rc = run(st)) == 0) {
			r->count = sqlite3_changes64(s->wdb);
			r->delta = -r->count * counted(r->queue);
		}
		break;
	case REQ_RELEASE_ALL:
		st = w->st[ST_UNLEASE];
		sqlite3_bind_text(st, 1, r->queue, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->lease_ms);	/* after_ms */
		sqlite3_bind_int64(st, 3, r->now_ms);
		if ((rc = run(st)) == 0)
			r->count = sqlite3_changes64(s->wdb);
		break;
	case REQ_EXPIRE:
		st = w->st[ST_EXPIRE];
		sqlite3_bind_int64(st, 1, r->now_ms);
		if ((rc = run(st)) == 0)
			r->count = sqlite3_changes64(s->wdb);
		break;
	}
	if (rc < 0)
		r->delta = 0;
	return rc;
}

static void set_full(struct spur_sqlite_store *s, const char *why)
{
	pthread_mutex_lock(&s->state_lock);
	if (!s->full)
		spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: %s; refusing writes until space returns",
			 s->path, why);
	s->full = true;
	s->free_at_full = spur_sqlite_free_bytes(s);
	snprintf(s->full_why, sizeof(s->full_why), "%s (%s)", why, s->path);
	pthread_mutex_unlock(&s->state_lock);
}

static void clear_full(struct spur_sqlite_store *s)
{
	pthread_mutex_lock(&s->state_lock);
	if (s->full)
		spur_log(s->host, SPUR_LOG_INFO, "sqlite: %s: writes succeed again", s->path);
	s->full = false;
	pthread_mutex_unlock(&s->state_lock);
}

static size_t cost(const struct spur_sqlite_req *r)
{
	return r->kind == REQ_APPLY && r->n ? r->n : 1;
}

/* Move what callers pushed onto the inbox (a LIFO) to the end of the
 * writer's own FIFO. Writer thread only. */
static void refill(struct spur_sqlite_store *s)
{
	struct spur_sqlite_req *r = atomic_exchange_explicit(&s->inbox, NULL, memory_order_acquire);
	struct spur_sqlite_req *fifo = NULL;

	while (r) {			/* reverse: oldest first */
		struct spur_sqlite_req *next = r->next;
		r->next = fifo;
		fifo = r;
		r = next;
	}
	for (r = fifo; r; r = r->next) {
		*s->tail = r;
		s->tail = &r->next;
	}
}

/* Detach queued requests while they fit in *left operations (the first
 * always goes when `first`). Writer thread only. */
static struct spur_sqlite_req *detach(struct spur_sqlite_store *s, size_t *left, bool first)
{
	struct spur_sqlite_req *group = NULL, **tail = &group;

	refill(s);
	while (s->head && (first || cost(s->head) <= *left)) {
		struct spur_sqlite_req *r = s->head;
		size_t c = cost(r);
		s->head = r->next;
		*left -= c < *left ? c : *left;
		first = false;
		r->next = NULL;
		*tail = r;
		tail = &r->next;
	}
	if (!s->head)
		s->tail = &s->head;
	return group;
}

/* One request inside the open transaction: a SAVEPOINT around it unless
 * it is one statement that SQLite undoes by itself when it fails (a
 * single-op apply, purge, expire). Returns 0, or the error that ended the
 * whole transaction. */
static int exec_req(struct spur_sqlite_store *s, struct spur_sqlite_req *r, int64_t now,
		    int64_t *pending, bool *wrote)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);
	bool sp = (r->kind == REQ_APPLY && r->n > 1) || r->kind == REQ_TAKE;
	int fatal;

	if (sp && (fatal = run(w->st[ST_SAVEPOINT])) < 0)
		return fatal;
	r->rc = run_req(s, r, now, *pending);
	if (r->rc < 0 && sqlite3_get_autocommit(s->wdb))
		return r->rc;	/* SQLite ended the transaction */
	if (sp && r->rc < 0 && (fatal = run(w->st[ST_ROLLBACK_TO])) < 0)
		return fatal;
	if (sp && (fatal = run(w->st[ST_RELEASE])) < 0)
		return fatal;
	*pending += r->delta;
	*wrote |= r->rc == 0;
	return 0;
}

/* One transaction: the group, plus whatever arrives while it runs (up to
 * group_max operations), then one COMMIT. Returns the whole list. */
static struct spur_sqlite_req *run_group(struct spur_sqlite_store *s, struct spur_sqlite_req *group, size_t left)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);
	int64_t now = spur_sqlite_now_ms(s), pending = 0;
	int fatal = run(w->st[ST_BEGIN]);
	bool wrote = false;
	struct spur_sqlite_req *r = group, *last = group;

	while (fatal == 0 && r) {
		for (; r && fatal == 0; r = r->next) {
			fatal = exec_req(s, r, now, &pending, &wrote);
			last = r;
		}
		if (fatal == 0 && left > 0) {	/* late joiners share this commit */
			r = detach(s, &left, false);
			while (last->next)
				last = last->next;
			last->next = r;
		}
	}
	if (fatal == 0)
		fatal = run(w->st[ST_COMMIT]);
	if (fatal < 0) {
		if (!sqlite3_get_autocommit(s->wdb))
			run(w->st[ST_ROLLBACK]);
		if (fatal != -ENOSPC)
			spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: commit failed: %s (%s)",
				 s->path, spur_strerror(fatal), sqlite3_errmsg(s->wdb));
		for (r = group; r; r = r->next) {
			if (r->rc == 0 || r->rc == fatal) {
				r->rc = fatal;
				r->n_taken = 0;
			}
		}
	} else {
		s->commits++;
		s->depth += pending;
		atomic_store(&s->depth_seen, s->depth);
	}
	bool nospace = fatal == -ENOSPC;
	for (r = group; r; r = r->next) {
		s->batches++;
		nospace |= r->rc == -ENOSPC;
	}
	if (nospace)
		set_full(s, s->opt->max_size ? "disk full or store.max_size reached" : "disk full");
	else if (wrote)
		clear_full(s);
	return group;
}

static void *writer_main(void *arg)
{
	struct spur_sqlite_store *s = arg;

	for (;;) {
		/* Read the wake word before looking: a push after the look
		 * changes it, and the wait returns at once. */
		unsigned w = atomic_load_explicit(&s->wake, memory_order_acquire);
		refill(s);
		if (!s->head) {
			if (atomic_load(&s->stopping))
				break;
			syscall(SYS_futex, &s->wake, FUTEX_WAIT_PRIVATE, w, NULL, NULL, 0);
			continue;
		}
		size_t left = (size_t)s->opt->group_max;
		struct spur_sqlite_req *group = detach(s, &left, true);

		group = run_group(s, group, left);
		/* Mark each request done (its result is in place before, by
		 * release; `next` and its kids are read before, as a request
		 * lives on its caller's stack: a kid comes later in the list,
		 * so it is still blocked) and wake the first caller only. */
		struct spur_sqlite_req *kid = group->next;
		int root = PENDING;
		for (struct spur_sqlite_req *r = group, *next; r; r = next) {
			next = r->next;
			for (int k = 0; k < WAKE_FANOUT; k++) {
				r->kid[k] = kid ? &kid->done : NULL;
				kid = kid ? kid->next : NULL;
			}
			int was = atomic_exchange_explicit(&r->done, DONE, memory_order_acq_rel);
			if (r == group)
				root = was;
		}
		if (root == SLEEPING)
			syscall(SYS_futex, &group->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

/* Push a request on the inbox (lock-free), wake the writer if the inbox
 * was empty, and sleep on a futex in the request until it is committed. */
static int submit(struct spur_sqlite_store *s, struct spur_sqlite_req *r)
{
	struct spur_sqlite_req *old;

	if (!s->writer_running || atomic_load(&s->stopping))
		return -EBADF;
	old = atomic_load_explicit(&s->inbox, memory_order_relaxed);
	do
		r->next = old;
	while (!atomic_compare_exchange_weak_explicit(&s->inbox, &old, r, memory_order_release,
						      memory_order_relaxed));
	if (!old) {
		atomic_fetch_add_explicit(&s->wake, 1, memory_order_release);
		syscall(SYS_futex, &s->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	/* Announce the sleep, so that the writer wakes only sleepers. */
	int st = PENDING;
	if (atomic_compare_exchange_strong_explicit(&r->done, &st, SLEEPING, memory_order_acquire,
						    memory_order_acquire))
		while (atomic_load_explicit(&r->done, memory_order_acquire) != DONE)
			syscall(SYS_futex, &r->done, FUTEX_WAIT_PRIVATE, SLEEPING, NULL, NULL, 0);
	/* Pass the wake on, whether this caller slept or not. Only the
	 * addresses are used: a kid may have returned already (it saw DONE
	 * on its own), and waking a word that is no longer waited on is
	 * harmless (every futex waiter re-checks its word). */
	for (int k = 0; k < WAKE_FANOUT && r->kid[k]; k++)
		syscall(SYS_futex, r->kid[k], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return r->rc;
}

/* --- the store's write calls ---------------------------------------------- */

int spur_sqlite_apply(void *instance, const struct spur_store_op *ops, size_t n,
		      struct spur_store_conflict *conflict)
{
	struct spur_sqlite_req r = { .kind = REQ_APPLY, .ops = ops, .n = n, .conflict = conflict };

	if (n == 0)
		return 0;
	return submit(instance, &r);
}

int spur_sqlite_take(void *instance, const char *queue, int64_t now_ms, int64_t lease_ms,
		     size_t max, spur_store_msg_fn fn, void *ud, int64_t *next_ms)
{
	struct spur_sqlite_req r = { .kind = REQ_TAKE, .queue = queue, .now_ms = now_ms,
				.lease_ms = lease_ms, .max = max, .next_ms = INT64_MAX };
	int rc;

	if (!queue)
		return -EINVAL;
	if ((rc = submit(instance, &r)) < 0)
		goto out;
	for (size_t i = 0; i < r.n_taken; i++) {
		const struct taken *t = &r.taken[i];
		struct spur_msg m = {
			.id = r.buf + t->id, .queue = queue,
			.body = r.buf + t->body, .body_len = t->body_len,
			.attrs = t->has_attrs ? r.buf + t->attrs : NULL, .attrs_len = t->attrs_len,
			.accepted_ms = t->accepted_ms, .visible_ms = t->visible_ms,
			.receive_count = t->receive_count,
		};
		if (fn)
			fn(ud, &m);
	}
	rc = (int)r.n_taken;
	if (next_ms)
		*next_ms = r.next_ms;
out:
	free(r.taken);
	free(r.buf);
	return rc;
}

int64_t spur_sqlite_purge(void *instance, const char *queue)
{
	struct spur_sqlite_req r = { .kind = REQ_PURGE, .queue = queue };
	int rc;

	if (!queue)
		return -EINVAL;
	rc = submit(instance, &r);
	return rc < 0 ? rc : r.count;
}

int64_t spur_sqlite_release(void *instance, const char *queue, int64_t after_ms, int64_t now_ms)
{
	struct spur_sqlite_req r = { .kind = REQ_RELEASE_ALL, .queue = queue, .lease_ms = after_ms,
				     .now_ms = now_ms };
	int rc;

	if (!queue)
		return -EINVAL;
	rc = submit(instance, &r);
	return rc < 0 ? rc : r.count;
}

int64_t spur_sqlite_expire(void *instance, int64_t now_ms)
{
	struct spur_sqlite_req r = { .kind = REQ_EXPIRE, .now_ms = now_ms };
	int rc = submit(instance, &r);

	return rc < 0 ? rc : r.count;
}

/* --- start and stop ---------------------------------------------------------- */

int spur_sqlite_writer_start(struct spur_sqlite_store *s)
{
	struct spur_sqlite_writer_stmts *w = calloc(1, sizeof(*w));
	int rc = -ENOMEM;

	if (!w)
		goto fail;
	s->wstmts = w;
	for (int i = 0; i < ST_COUNT; i++) {
		int src = sqlite3_prepare_v3(s->wdb, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					     &w->st[i], NULL);
		if (src != SQLITE_OK) {
			spur_log(s->host, SPUR_LOG_ERROR, "sqlite: %s: cannot prepare \"%s\": %s",
				 s->path, sql[i], sqlite3_errmsg(s->wdb));
			rc = spur_sqlite_errno(src);
			goto fail;
		}
	}
	s->head = NULL;
	s->tail = &s->head;
	atomic_store(&s->inbox, NULL);
	atomic_store(&s->stopping, false);
	rc = -pthread_create(&s->writer, NULL, writer_main, s);
	if (rc < 0)
		goto fail;
	s->writer_running = true;
	return 0;
fail:
	spur_sqlite_writer_stop(s);
	return rc;
}

void spur_sqlite_writer_stop(struct spur_sqlite_store *s)
{
	struct spur_sqlite_writer_stmts *w = stmts_of(s);

	if (s->writer_running) {
		atomic_store(&s->stopping, true);
		atomic_fetch_add_explicit(&s->wake, 1, memory_order_release);
		syscall(SYS_futex, &s->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		pthread_join(s->writer, NULL);
		s->writer_running = false;
	}
	if (!w)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(w->st[i]);
	free(w);
	s->wstmts = NULL;
}
