/* SPDX-License-Identifier: MIT */
/*
 * sqlite.h - what the two halves of the sqlite store share: the instance
 * (options, the write side owned by writer.c, the reader pool owned by
 * sqlite.c) and the few calls between them.
 * Internal to plugins/sqlite; nothing here is exported from the module.
 */
#ifndef SPUR_SQLITE_H
#define SPUR_SQLITE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "spur/plugin.h"

#define SPUR_SQLITE_APP_ID 0x53505552	/* "SPUR" in the header's application_id */
#define SPUR_SQLITE_SCHEMA 1		/* PRAGMA user_version this build writes */
#define SPUR_SQLITE_READERS 16		/* read connections at most (grown on demand) */

enum { SPUR_SQLITE_SYNC_FULL = 0, SPUR_SQLITE_SYNC_NORMAL = 1 };

/* The options block, parsed by the host from the `store:` section
 * (store.kind: sqlite) with this plugin's table. */
struct spur_sqlite_options {
	char *path;			/* relative to state_dir */
	int sync;			/* SPUR_SQLITE_SYNC_* */
	int64_t group_max;		/* ops per commit at most */
	int64_t max_depth;		/* messages outside outboxes; 0: no limit */
	int64_t busy_timeout_ms;
	uint64_t max_size;		/* database size cap in bytes; 0: none */
};

/* One read-only connection and its cached statements. */
struct spur_sqlite_reader {
	sqlite3 *db;
	sqlite3_stmt *get, *peek, *key_get, *stats;
	struct spur_sqlite_reader *next;	/* free list */
};

struct spur_sqlite_req;
struct spur_sqlite_writer_stmts;

struct spur_sqlite_store {
	struct spur_host *host;
	const struct spur_sqlite_options *opt;
	char *path;			/* absolute */
	int64_t clock_base;		/* fallback store clock: epoch ms - monotonic ms */
	bool opened;

	/* write side (writer.c): the connection belongs to the writer thread */
	sqlite3 *wdb;
	struct spur_sqlite_writer_stmts *wstmts;
	pthread_t writer;
	bool writer_running;
	_Atomic(struct spur_sqlite_req *) inbox;	/* callers push here (LIFO) */
	atomic_uint wake;		/* futex word: the writer sleeps on it when idle */
	atomic_bool stopping;
	struct spur_sqlite_req *head, **tail;	/* the writer's FIFO (writer only) */
	int64_t seq;			/* last seq given to a PUT (writer only) */
	int64_t depth;			/* messages outside outboxes (writer only) */
	atomic_int_fast64_t depth_seen;	/* a copy for writable() */
	uint64_t commits, batches;	/* writer only; logged at close */

	/* disk full / queue full state, for writable() */
	pthread_mutex_t state_lock;
	bool full;
	uint64_t free_at_full;		/* filesystem bytes free when it filled */
	char full_why[256];

	/* read side (sqlite.c) */
	pthread_mutex_t rlock;
	pthread_cond_t rfree;
	struct spur_sqlite_reader *readers;	/* free list */
	int n_readers;
};

/* The store clock (spur_store_now_ms() when the host has it). */
int64_t spur_sqlite_now_ms(struct spur_sqlite_store *s);
/* 0, or a negative errno for an SQLite result code. */
int spur_sqlite_errno(int rc);
/* Filesystem bytes available under the database's directory. */
uint64_t spur_sqlite_free_bytes(struct spur_sqlite_store *s);

/* writer.c: start the writer over s->wdb (prepares its statements). */
int spur_sqlite_writer_start(struct spur_sqlite_store *s);
/* Drain the queue, stop and join the writer, finalize its statements. */
void spur_sqlite_writer_stop(struct spur_sqlite_store *s);

int spur_sqlite_apply(void *instance, const struct spur_store_op *ops, size_t n,
		      struct spur_store_conflict *conflict);
int spur_sqlite_take(void *instance, const char *queue, int64_t now_ms, int64_t lease_ms,
		     size_t max, spur_store_msg_fn fn, void *ud, int64_t *next_ms);
int64_t spur_sqlite_purge(void *instance, const char *queue);
int64_t spur_sqlite_expire(void *instance, int64_t now_ms);
int64_t spur_sqlite_release(void *instance, const char *queue, int64_t after_ms, int64_t now_ms);

/* True for the outbox queues, which max_depth does not count. */
bool spur_sqlite_is_outbox(const char *queue);

#endif
