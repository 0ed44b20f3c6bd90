/* SPDX-License-Identifier: MIT */
/*
 * mapping.h - internal queues with SQS semantics and the event-source
 * mappings that poll them (SPEC §2.3).
 *
 * Messages enter a configured queue by spur_queue_put() (POST
 * /queues/{name}/messages, routes with `queue:`, spur_queue_send() of the
 * SDK) or by the queue:// destination (outbox.c); whoever commits a PUT
 * calls spur_mappings_notify() so that pollers sleeping on that queue wake
 * at once instead of polling. Each mapping runs max_concurrency poller
 * threads that take() batches under the queue's visibility timeout and
 * invoke the mapping's function with {"Records": [...]} (Lambda's SQS
 * shape); see mapping.c for the rules.
 */
#ifndef SPUR_MAPPING_H
#define SPUR_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/store.h"

struct spur_config;
struct spur_exec;
struct spur_log;
struct spur_metrics;
struct spur_outbox;
struct spur_mappings;
struct spur_registry_ref;
struct json_t;

/* What the queues and mappings are built with (copied). */
struct spur_mappings_env {
	const struct spur_store *store;
	void *store_instance;
	struct spur_outbox *outbox;		/* RetryAttemptsExhausted records */
	struct spur_exec *exec;			/* where batches run */
	struct spur_registry_ref *registry;
	const struct spur_log *log;
	struct spur_metrics *metrics;
	const struct spur_config *config;	/* queues: and mappings: */
};

#define SPUR_MAPPING_MAX_BATCH_BYTES (6u * 1024 * 1024)	/* Lambda's payload limit */

struct spur_mappings *spur_mappings_new(const struct spur_mappings_env *env);
/* Start the pollers of every mapping (enabled ones poll at once). */
int spur_mappings_start(struct spur_mappings *m);
/* Stop and join the pollers; a batch being run finishes first. */
void spur_mappings_stop(struct spur_mappings *m);
void spur_mappings_free(struct spur_mappings *m);

/* Wake the pollers of `queue` (after a PUT into it committed). Any thread;
 * a queue nobody polls costs a lookup. */
void spur_mappings_notify(struct spur_mappings *m, const char *queue, size_t added);

/* Pause (true) or resume (false) mapping i. 0, or -ENOENT. */
int spur_mappings_pause(struct spur_mappings *m, size_t i, bool paused);
/* The mappings with their state and counters, as a new JSON array. */
struct json_t *spur_mappings_describe(struct spur_mappings *m);

/* Put n messages (bodies borrowed; any bytes) into configured queue
 * `queue` in one atomic, durable batch and wake its pollers. ids[i]
 * receives each message id. 0; -ENOENT no such queue; -EAGAIN the queue
 * is at its max_depth; -ENOSPC the disk is full; -EIO; -ENOMEM. */
int spur_queue_put(struct spur_mappings *m, const char *queue, const char *const *bodies,
		   const size_t *lens, size_t n, char (*ids)[37]);

#endif
