/* SPDX-License-Identifier: MIT */
/*
 * mapping_priv.h - what mapping.c and mapping_batch.c share: the queue,
 * mapping and batch structures, and the SQS-shaped batch building,
 * record filtering and batchItemFailures parsing of mapping_batch.c.
 * No other file includes this.
 */
#ifndef SPUR_MAPPING_PRIV_H
#define SPUR_MAPPING_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mapping.h"

struct spur_buf;
struct spur_counter;
struct spur_gauge;
struct spur_filter;
struct spur_queue_config;
struct spur_mapping_config;

/* A configured queue: where its pollers sleep, and its depth estimate. */
struct qstate {
	const struct spur_queue_config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC */
	uint64_t seq;			/* bumped by every wake-up */
	int64_t depth;			/* last stats() count + what was put since */
	int64_t depth_ms;		/* when stats() was read (store clock); 0: never */
};

struct mapping {
	struct spur_mappings *set;
	size_t index;
	const struct spur_mapping_config *cfg;
	struct qstate *q;
	struct spur_filter *filter;	/* NULL: no filters */
	char source_arn[256];
	atomic_bool paused;
	pthread_t *threads;
	size_t n_threads;
	struct spur_counter *batches, *records, *filtered, *failed, *redriven, *expired;
	struct spur_gauge *size, *age;
};

struct spur_mappings {
	struct spur_mappings_env env;
	const struct spur_store *st;
	void *si;
	struct spur_outbox *outbox;
	size_t n_queues;
	struct qstate *queues;
	size_t n;
	struct mapping *maps;
	atomic_bool stopping;
};

/* One taken message, copied out of the store's callback. */
struct item {
	char id[40];
	char *body;
	size_t len;
	int64_t accepted_ms;
	uint32_t receive_count;
	enum { ITEM_LIVE, ITEM_DELETE, ITEM_REDRIVE, ITEM_KEEP } fate;
};

struct batch {
	struct item *it;
	size_t n, cap;
	size_t bytes;			/* estimated payload size */
	int64_t first_ms;		/* when the first record was taken */
	char (*over)[40];		/* taken past 6 MB: released at once */
	size_t n_over, cap_over;
	bool oom;
};

/* --- mapping_batch.c ------------------------------------------------------------------ */

/* Empty `b` for the next batch (its arrays stay); free it all. */
void spur_mapping_batch_clear(struct batch *b);
void spur_mapping_batch_fini(struct batch *b);
/* The store's take() callback: copy one message into the batch `ud`
 * (past SPUR_MAPPING_MAX_BATCH_BYTES, into its `over` list). */
void spur_mapping_take_cb(void *ud, const struct spur_msg *msg);
/* Append the record of `it` in the shape of Lambda's SQS records. */
void spur_mapping_record_json(struct spur_buf *b, const struct mapping *mp,
			      const struct item *it, int64_t now);
/* Does the record pass the mapping's filters? */
bool spur_mapping_passes(const struct mapping *mp, const struct item *it, int64_t now);
/* Mark the records a batchItemFailures answer lists ITEM_KEEP; false: a
 * malformed answer or an unknown id (the whole batch failed). */
bool spur_mapping_item_failures(struct batch *b, const char *body, size_t len);
/* The RetryAttemptsExhausted record's requestPayload (malloc'd). */
char *spur_mapping_batch_info(const struct mapping *mp, const struct batch *b, int64_t now,
			      const char *request_id, size_t *len);

#endif
