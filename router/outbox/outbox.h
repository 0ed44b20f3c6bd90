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
 */
#ifndef SPUR_OUTBOX_H
#define SPUR_OUTBOX_H

#include <stddef.h>
#include "spur/destination.h"
#include "spur/store.h"

struct spur_host;
struct spur_outbox;
struct spur_outbox_entry;

struct spur_outbox *spur_outbox_new(struct spur_host *h, const struct spur_store *store,
				    void *store_instance);
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

/* A record the caller has just moved into the store's "outbox" queue
 * (`m` as it now stands there; borrowed): deliver it. 0, -EINVAL when its
 * attributes name no destination, -ENOMEM. */
int spur_outbox_adopt(struct spur_outbox *ob, const struct spur_msg *m);

/* Tests: re-read the (injected) clock. */
void spur_outbox_kick(struct spur_outbox *ob);

#endif
