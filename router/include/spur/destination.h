/* SPDX-License-Identifier: MIT */
/*
 * spur/destination.h - the destination role: where records go.
 *
 * A record (SPEC §6) leaves spur through the durable outbox: the host
 * takes records from it in batches, calls deliver() for each record of a
 * batch bound for one destination, then flush() once, and only then
 * removes the delivered records from the outbox. A record whose delivery
 * says RETRY stays, and is tried again with backoff; DROP makes it
 * undeliverable (kept for replay).
 *
 *   open     one destination per target: the text after "scheme://" of a
 *            destination URI ("file:///var/ok.jsonl" → "/var/ok.jsonl",
 *            made absolute against the config directory by the plugin;
 *            a plugin whose `scheme` lists several gets the whole URI,
 *            "zmq+push://tcp://127.0.0.1:5557", so it knows which one),
 *            or, for a named destination of `destinations:` whose `type`
 *            is this plugin's scheme and that has no `options` table (a
 *            plugin of ABI 1.0), target "" and `options`: that
 *            destination's settings as a JSON object text (everything but
 *            `type`, e.g. {"topic":"alerts/{function}","qos":1}).
 *   open_named  (ABI 1.1) a named destination whose settings the host has
 *            parsed with the plugin's `options` table: unknown keys, bad
 *            types and ranges are FILE:LINE errors of `spur check` and
 *            `spur serve`, before anything is delivered. `options` is a
 *            block of options_size bytes laid out as the table says; its
 *            strings live as long as the config.
 *   deliver  one record (JSON text, borrowed for the call). May buffer.
 *   flush    make everything delivered since the last flush durable or
 *            sent; 0, or a negative errno (then the whole batch retries).
 *   close    release.
 *
 * deliver and flush for one destination are never called concurrently;
 * they run on the host's outbox thread, never on a thread that runs
 * handlers.
 */
#ifndef SPUR_DESTINATION_H
#define SPUR_DESTINATION_H

#include "spur/common.h"
#include "spur/option.h"

#ifdef __cplusplus
extern "C" {
#endif

enum spur_deliver {
	SPUR_DELIVER_OK = 0,
	SPUR_DELIVER_RETRY,	/* temporary: try again later */
	SPUR_DELIVER_DROP,	/* permanent: keep as undeliverable */
};

/* What a record is about, for templates and headers. Borrowed. */
struct spur_record_meta {
	uint32_t struct_size;
	const char *function;
	const char *version;
	const char *condition;		/* "Success", "RetriesExhausted", "EventAgeExceeded" */
	const char *request_id;		/* the event id */
	unsigned hops;			/* function:// chain length so far */
	/* Appended (check with SPUR_RECORD_META_HAS): the W3C Trace Context
	 * the event came with, as received (no span of spur's own), or NULL.
	 * Destinations forward them: http as the traceparent / tracestate
	 * headers, mqtt as user properties of those names. */
	const char *traceparent;
	const char *tracestate;
};

/* Does `m` (built by a host of any minor version) carry `field`? */
#define SPUR_RECORD_META_HAS(m, field) \
	((m) != NULL && (m)->struct_size >= offsetof(struct spur_record_meta, field) + \
	 sizeof((m)->field))

struct spur_destination {
	uint32_t struct_size;		/* sizeof(struct spur_destination) */
	const char *scheme;		/* "file", or several: "http|https" */

	int (*open)(void *instance, const char *target, const char *options /* JSON or NULL */,
		    void **dest, char *err, size_t errlen);
	enum spur_deliver (*deliver)(void *dest, const char *record, size_t len,
				     const struct spur_record_meta *meta,
				     char *why, size_t whylen);
	int (*flush)(void *dest);
	void (*close)(void *dest);

	/* ABI 1.1 (the host checks struct_size): named destinations. A table
	 * ending with a NULL name, and the open that takes its parsed block;
	 * both or neither. */
	const struct spur_option *options;
	size_t options_size;
	int (*open_named)(void *instance, const char *name, const void *options,
			  void **dest, char *err, size_t errlen);
};

#ifdef __cplusplus
}
#endif
#endif
