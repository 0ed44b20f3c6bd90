/* SPDX-License-Identifier: MIT */
/*
 * spur/store.h - the store role: where durable state lives.
 *
 * The model is deliberately small, so that an embedded database (sqlite)
 * and a replicated log (NATS JetStream) can both implement it:
 *
 *   messages  in named queues: the async queue of each function
 *             ("async"), the outbox ("outbox"), dead-letter and user
 *             queues. A message has an id, a body (JSON text), attributes
 *             (a JSON object the core owns: function, attempt, last error,
 *             ...), the time it was first accepted, the time it becomes
 *             visible, and a receive count. take() leases visible
 *             messages: they become invisible until the lease ends, so a
 *             message whose worker died is taken again (at least once).
 *             JetStream: a stream per queue, ack / nak-with-delay.
 *   keys      in namespaces, with an expiry: idempotency keys.
 *             JetStream: a key-value bucket with create-if-absent.
 *
 * Writes go through apply(): a batch of operations applied atomically and
 * durably (with sync: full, fsynced) before it returns 0. The store
 * commits concurrent batches together (group commit), so many callers
 * share one fsync. A create-only key that exists fails the whole batch
 * with -EEXIST and reports the existing value: "put the idempotency key
 * and enqueue the event" is one atomic step.
 *
 * Times are milliseconds on the store clock (spur_store_now_ms()): the
 * Unix epoch at start, then advancing with CLOCK_MONOTONIC, so a wall
 * clock step while running moves no timer, and stored times stay
 * meaningful across a restart.
 *
 * Every call may come from any thread. Strings and buffers passed in are
 * borrowed for the call; those passed to callbacks are borrowed for the
 * callback.
 */
#ifndef SPUR_STORE_H
#define SPUR_STORE_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The store clock (see above). */
SPUR_API int64_t spur_store_now_ms(void);

struct spur_msg {
	const char *id;			/* unique; a UUID */
	const char *queue;
	const char *body;		/* JSON text */
	size_t body_len;
	const char *attrs;		/* JSON object text, or NULL for {} */
	size_t attrs_len;
	int64_t accepted_ms;		/* first accepted: the event's age counts from here */
	int64_t visible_ms;		/* not taken before this */
	uint32_t receive_count;		/* times taken so far */
};

enum spur_store_op_kind {
	SPUR_STORE_PUT = 1,		/* msg: a new message */
	SPUR_STORE_DELETE,		/* id: a message (done); absent is fine */
	SPUR_STORE_UPDATE,		/* id: set visible_ms and, if attrs, the attributes */
	SPUR_STORE_MOVE,		/* id: to queue `queue`, visible at visible_ms, attrs if given */
	SPUR_STORE_KEY_CREATE,		/* ns/key: create with value, expires_ms; -EEXIST if live */
	SPUR_STORE_KEY_SET,		/* ns/key: create or replace */
	SPUR_STORE_KEY_DELETE,		/* ns/key */
};

struct spur_store_op {
	enum spur_store_op_kind kind;
	struct spur_msg msg;		/* PUT */
	const char *id;			/* DELETE, UPDATE, MOVE */
	const char *queue;		/* MOVE */
	int64_t visible_ms;		/* UPDATE, MOVE */
	const char *attrs;		/* UPDATE, MOVE: NULL keeps them */
	size_t attrs_len;
	const char *ns, *key;		/* KEY_* */
	const char *value;		/* KEY_CREATE, KEY_SET */
	size_t value_len;
	int64_t expires_ms;		/* KEY_CREATE, KEY_SET */
};

/* What apply() learnt: on -EEXIST, which op failed and the live value. */
struct spur_store_conflict {
	size_t op;			/* index of the KEY_CREATE that failed */
	char *value;			/* malloc()ed copy of the existing value; caller frees */
	size_t value_len;
};

typedef void (*spur_store_msg_fn)(void *ud, const struct spur_msg *m);

struct spur_queue_stats {
	const char *queue;
	uint64_t visible;		/* ready to take */
	uint64_t delayed;		/* waiting for visible_ms (leased, or backing off) */
};
typedef void (*spur_store_stats_fn)(void *ud, const struct spur_queue_stats *s);

struct spur_store {
	uint32_t struct_size;		/* sizeof(struct spur_store) */
	const char *kind;		/* the `store.kind` it serves: "sqlite" */

	/* Open the store (state_dir and options come from the host and the
	 * plugin's options); refuse a corrupt or foreign file with a clear
	 * message rather than ever wiping it. 0 or a negative errno. */
	int (*open)(void *instance);
	/* Flush and close; no call follows. */
	void (*close)(void *instance);

	/* Atomic, durable batch (see above). 0, -EEXIST (conflict filled if
	 * non-NULL), -ENOSPC (disk full: nothing applied), -EIO, -ENOMEM. */
	int (*apply)(void *instance, const struct spur_store_op *ops, size_t n,
		     struct spur_store_conflict *conflict);

	/* Lease up to `max` messages of `queue` visible at now_ms, oldest
	 * visible first: each gets receive_count + 1 and becomes invisible
	 * until now_ms + lease_ms; fn sees it after that (receive_count
	 * already incremented). Sets *next_ms to the earliest visible_ms
	 * still in the queue after the take (INT64_MAX when empty).
	 * Returns how many were taken, or a negative errno. */
	int (*take)(void *instance, const char *queue, int64_t now_ms, int64_t lease_ms,
		    size_t max, spur_store_msg_fn fn, void *ud, int64_t *next_ms);

	/* Read without leasing: one message by id (1 found, 0 not), or up to
	 * `max` messages of a queue from `offset` in visible order. */
	int (*get)(void *instance, const char *id, spur_store_msg_fn fn, void *ud);
	int (*peek)(void *instance, const char *queue, size_t offset, size_t max,
		    spur_store_msg_fn fn, void *ud);
	/* A live key's value (1 found, 0 not or expired). */
	int (*key_get)(void *instance, const char *ns, const char *key,
		       void (*fn)(void *ud, const char *value, size_t len), void *ud);
	/* Per-queue counts, every queue that has messages. */
	int (*stats)(void *instance, int64_t now_ms, spur_store_stats_fn fn, void *ud);
	/* Delete every message of a queue; how many, or a negative errno. */
	int64_t (*purge)(void *instance, const char *queue);
	/* Drop expired keys; how many. Called now and then by the host. */
	int64_t (*expire)(void *instance, int64_t now_ms);
	/* 1 when writes can be taken now, else 0 and why (disk full, ...). */
	int (*writable)(void *instance, char *why, size_t len);

	/* Since ABI 1.5 (check struct_size): every message of `queue` whose
	 * visible_ms is at or past after_ms becomes visible at now_ms; how
	 * many, or a negative errno. A single node leases for good (a lease
	 * far in the future: the lease is the process being alive) and ends
	 * the leases of its previous life with this at start. */
	int64_t (*release)(void *instance, const char *queue, int64_t after_ms, int64_t now_ms);
};

#ifdef __cplusplus
}
#endif
#endif
