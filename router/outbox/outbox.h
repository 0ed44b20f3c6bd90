/* SPDX-License-Identifier: MIT */
/*
 * outbox.h - the durable outbox: records on their way to destinations.
 *
 * A finished event's records are written to the store's "outbox" queue in
 * the same atomic batch that removes the event, so a record exists iff
 * its event is done. One outbox thread delivers them in batches through
 * destination plugins and the built-in queue:// and function://
 * destinations, retries failures with backoff, and moves what it gives up
 * on (DROP, or older than a day) to the "undeliverable" queue for replay.
 * Only a window of records is in memory; the rest wait in the store.
 */
#ifndef SPUR_OUTBOX_H
#define SPUR_OUTBOX_H

#include <stddef.h>
#include "spur/destination.h"
#include "spur/store.h"

struct spur_config;
struct spur_log;
struct spur_metrics;
struct spur_outbox;
struct spur_outbox_entry;

/* What the outbox is built with (copied). */
struct spur_outbox_env {
	const struct spur_store *store;
	void *store_instance;
	const struct spur_log *log;
	struct spur_metrics *metrics;
	const struct spur_config *config;	/* named destinations (destinations:) */
	/* The plugin destination serving a URI scheme ("file"), or NULL. */
	const struct spur_destination *(*plugin)(void *ud, const char *scheme, void **instance);
	void *plugin_ud;
};

struct spur_outbox *spur_outbox_new(const struct spur_outbox_env *env);

/* A record as a built-in destination sees it: the body and the stored
 * attributes of the outbox message (JSON: destination, function, ...). */
struct spur_outbox_record {
	const char *body;
	size_t len;
	const char *attrs;
	size_t attrs_len;
	const struct spur_record_meta *meta;
};

/* A destination served inside the core (queue://, function://, which the
 * queue layer registers): found by scheme like a plugin's, and handed the
 * part of the URI after "scheme://". At most 4, added before start. */
struct spur_outbox_builtin {
	const char *scheme;
	enum spur_deliver (*deliver)(void *ud, const char *target,
				     const struct spur_outbox_record *rec, char *why, size_t whylen);
	void *ud;
};
int spur_outbox_add_builtin(struct spur_outbox *ob, const struct spur_outbox_builtin *b);
int spur_outbox_start(struct spur_outbox *ob);
void spur_outbox_stop(struct spur_outbox *ob);
void spur_outbox_free(struct spur_outbox *ob);

/* Prepare a record for one destination: *op is the store PUT to include in
 * the caller's batch (pointing into the entry). After the batch committed,
 * spur_outbox_commit() hands the entries to the outbox thread; otherwise
 * spur_outbox_discard() frees them. */
struct spur_outbox_entry *spur_outbox_prepare(struct spur_outbox *ob, const char *dest,
					      const char *record, size_t len,
					      const struct spur_record_meta *meta,
					      struct spur_store_op *op);
void spur_outbox_commit(struct spur_outbox *ob, struct spur_outbox_entry **e, size_t n);
void spur_outbox_discard(struct spur_outbox_entry **e, size_t n);

/* Replay a record of another queue (`m`, borrowed; "undeliverable"):
 * moved to the outbox with a fresh attempt count and a fresh day before
 * it is given up again, then delivered. 0, or a negative errno with the
 * reason in why (-EINVAL: its attributes name no destination). */
int spur_outbox_replay(struct spur_outbox *ob, const struct spur_msg *m, char *why, size_t len);

/* Tests: re-read the (injected) clock; records in memory now. */
void spur_outbox_kick(struct spur_outbox *ob);
size_t spur_outbox_pending(struct spur_outbox *ob);

#endif
