/* SPDX-License-Identifier: MIT */
/*
 * queue.h - the queue layer's pieces the host wires in: the built-in
 * queue:// and function:// destinations (builtin_dest.c) and the queue
 * depth collector of GET /metrics (depth.c).
 */
#ifndef SPUR_QUEUE_H
#define SPUR_QUEUE_H

#include "spur/store.h"

/* The store's built-in queues. */
#define SPUR_QUEUE_ASYNC "async"
#define SPUR_QUEUE_OUTBOX "outbox"
#define SPUR_QUEUE_UNDELIVERABLE "undeliverable"

struct spur_async;
struct spur_buf;
struct spur_config;
struct spur_mappings;
struct spur_outbox;
struct spur_registry_ref;

/* What queue:// and function:// deliver with; owned by the caller and
 * alive as long as the outbox. */
struct spur_builtin_dests {
	const struct spur_store *store;
	void *store_instance;
	struct spur_mappings *mappings;		/* woken after a queue:// put */
	struct spur_async *async;		/* function:// events */
	struct spur_registry_ref *registry;
};

/* Register both with the outbox (before it starts). 0 or -ENOSPC. */
int spur_builtin_dests_add(struct spur_outbox *ob, struct spur_builtin_dests *b);

/* The depth collector's state (ud of spur_queue_depth_collect). */
struct spur_queue_depth {
	const struct spur_store *store;	/* NULL: nothing to report */
	void *store_instance;
	const struct spur_config *config;
};
void spur_queue_depth_collect(void *ud, struct spur_buf *b);

#endif
