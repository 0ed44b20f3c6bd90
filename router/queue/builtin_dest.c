/* SPDX-License-Identifier: MIT */
/*
 * builtin_dest.c - the destinations the core serves itself, registered
 * with the outbox like a plugin's (see queue.h):
 *
 *   queue://NAME            the record becomes a message of that queue
 *   function://NAME[:QUAL]  an async invoke with the record as payload;
 *                           chains end after SPUR_MAX_HOPS hops, so a
 *                           cycle cannot run forever
 *
 * Both run on the outbox thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "async.h"
#include "function.h"
#include "mapping.h"
#include "outbox.h"
#include "queue.h"
#include "util.h"

#define SPUR_MAX_HOPS 16

static enum spur_deliver deliver_queue(void *ud, const char *target,
				       const struct spur_outbox_record *rec, char *why, size_t len)
{
	struct spur_builtin_dests *b = ud;
	char id[37];
	spur_uuid(id);
	int64_t now = spur_store_now_ms();
	struct spur_store_op op = {
		.kind = SPUR_STORE_PUT,
		.msg = {
			.id = id, .queue = target, .body = rec->body, .body_len = rec->len,
			.attrs = rec->attrs, .attrs_len = rec->attrs_len,
			.accepted_ms = now, .visible_ms = now,
		},
	};
	int rc = b->store->apply(b->store_instance, &op, 1, NULL);
	if (rc < 0) {
		snprintf(why, len, "queue %s: %s", target, spur_strerror(rc));
		return SPUR_DELIVER_RETRY;
	}
	spur_mappings_notify(b->mappings, target, 1);
	return SPUR_DELIVER_OK;
}

static enum spur_deliver deliver_function(void *ud, const char *target,
					  const struct spur_outbox_record *rec, char *why,
					  size_t len)
{
	struct spur_builtin_dests *b = ud;
	const struct spur_record_meta *meta = rec->meta;
	if (meta->hops + 1 >= SPUR_MAX_HOPS) {
		snprintf(why, len, "function:// chain of %u hops: stopped (a cycle?)", meta->hops + 1);
		return SPUR_DELIVER_DROP;
	}
	const char *colon = strchr(target, ':');
	size_t nlen = colon ? (size_t)(colon - target) : strlen(target);
	struct spur_fn *fn = spur_registry_find(spur_registry_current(b->registry), target, nlen);
	if (!fn || !b->async) {
		snprintf(why, len, "function %.*s is not available", (int)nlen, target);
		return SPUR_DELIVER_RETRY;
	}
	char id[37];
	spur_uuid(id);
	/* the chained event goes on with the trace of the one it follows */
	int rc = spur_async_submit_traced(b->async, fn, colon ? colon + 1 : NULL,
					  colon ? strlen(colon + 1) : 0, rec->body, rec->len, id,
					  meta->hops + 1, meta->traceparent, meta->tracestate,
					  NULL, NULL, why, len);
	return rc < 0 ? SPUR_DELIVER_RETRY : SPUR_DELIVER_OK;
}

int spur_builtin_dests_add(struct spur_outbox *ob, struct spur_builtin_dests *b)
{
	int rc = spur_outbox_add_builtin(ob, &(struct spur_outbox_builtin){
		.scheme = "queue", .deliver = deliver_queue, .ud = b,
	});
	if (rc == 0)
		rc = spur_outbox_add_builtin(ob, &(struct spur_outbox_builtin){
			.scheme = "function", .deliver = deliver_function, .ud = b,
		});
	return rc;
}
