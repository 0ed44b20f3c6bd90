/* SPDX-License-Identifier: MIT */
/*
 * zmq.c - the zmq plugin (libzmq): its options, the instance and its life
 * cycle. ZeroMQ sockets of both roles live here:
 *
 *   source       routes `zmq: "pull ENDPOINT"` (binds) and
 *                `zmq: "sub ENDPOINT"` (connects), source.c
 *   destination  zmq+pub://ENDPOINT (binds), zmq+push://ENDPOINT
 *                (connects) and named `type: zmq` destinations, dest.c
 *
 * An endpoint is libzmq's (tcp://127.0.0.1:5557, ipc:///run/x.sock); a
 * "bind:" or "connect:" prefix overrides the side's default.
 *
 * One libzmq context per instance, made by start() (or by the first
 * destination opened, whichever comes first). The route sockets are made
 * by start() (so a bind that fails stops the daemon with a clear message),
 * read by the receiver thread, and closed by stop() once that thread has
 * ended (linger 0: what libzmq queued but spur did not read is dropped).
 * Destination sockets are made by open() and closed by close() on the
 * outbox thread, with ZMQ_LINGER bounded by `linger`. The host finishes
 * source plugins before it closes the outbox's destinations, so the
 * context is counted: fini() drops the instance's reference and the last
 * close() ends the context (zmq_ctx_term returns at once then: every
 * socket is closed and their linger is bounded). No globals: two
 * instances have two contexts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmq_priv.h"

static const struct spur_option zq_options_table[] = {
	{ .type = SPUR_OPT_SIZE, .name = "max_message", .def = "256KiB",
	  .offset = offsetof(struct zq_options, max_message),
	  .description = "sources: largest message taken; libzmq drops a larger frame and "
			 "disconnects its sender (ZMQ_MAXMSGSIZE), a multipart message larger "
			 "in total is refused with a failure record",
	  .min = 1, .max = 256LL << 20 },
	{ .type = SPUR_OPT_DURATION, .name = "send_timeout", .def = "1s",
	  .offset = offsetof(struct zq_options, send_timeout_ms),
	  .description = "push destinations: how long a record waits for a PULL peer "
			 "(ZMQ_SNDTIMEO) before it stays in the outbox for a retry",
	  .min = 1, .max = 60000 },
	{ .type = SPUR_OPT_DURATION, .name = "linger", .def = "1s",
	  .offset = offsetof(struct zq_options, linger_ms),
	  .description = "destinations: how long messages still queued in libzmq may take "
			 "to leave at shutdown (ZMQ_LINGER)",
	  .min = 0, .max = 60000 },
	{ .type = SPUR_OPT_INT, .name = "hwm", .def = "1000",
	  .offset = offsetof(struct zq_options, hwm),
	  .description = "high-water mark in messages (ZMQ_SNDHWM, ZMQ_RCVHWM): a pub "
			 "destination drops records past it, a push destination waits",
	  .min = 1, .max = 1000000 },
	{ .type = SPUR_OPT_STRING, .name = "topic", .def = "{function}",
	  .offset = offsetof(struct zq_options, topic),
	  .description = "pub destinations: the topic frame; {function}, {version}, "
			 "{condition}, {request_id}" },
	{ .name = NULL },
};

const char *spur_zmq_endpoint(const char *s, bool *bind)
{
	if (strncmp(s, "bind:", 5) == 0) {
		*bind = true;
		return s + 5;
	}
	if (strncmp(s, "connect:", 8) == 0) {
		*bind = false;
		return s + 8;
	}
	return s;
}

void *spur_zmq_context(struct zq *z)
{
	pthread_mutex_lock(&z->lock);
	if (!z->ctx) {
		z->ctx = zmq_ctx_new();
		/* blocky off: a socket nobody sets ZMQ_LINGER on still cannot
		 * hold zmq_ctx_term() forever */
		if (z->ctx)
			zmq_ctx_set(z->ctx, ZMQ_BLOCKY, 0);
	}
	void *ctx = z->ctx;
	pthread_mutex_unlock(&z->lock);
	return ctx;
}

void spur_zmq_ref(struct zq *z)
{
	atomic_fetch_add(&z->refs, 1);
}

void spur_zmq_unref(struct zq *z)
{
	if (atomic_fetch_sub(&z->refs, 1) != 1)
		return;
	if (atomic_load(&z->n_sent) || atomic_load(&z->n_retried))
		spur_log(z->host, SPUR_LOG_INFO, "zmq: destinations closed: %lu record(s) sent, "
			 "%lu attempt(s) left for a retry", atomic_load(&z->n_sent),
			 atomic_load(&z->n_retried));
	if (z->ctx)
		zmq_ctx_term(z->ctx);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

static int zq_init(struct spur_host *host, const void *options, void **instance)
{
	struct zq *z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->host = host;
	z->opt = options;
	pthread_mutex_init(&z->lock, NULL);
	atomic_init(&z->refs, 1);
	*instance = z;
	return 0;
}

static int zq_start(void *instance)
{
	struct zq *z = instance;
	if (!spur_zmq_context(z)) {
		int e = errno ? errno : ENOMEM;
		spur_log(z->host, SPUR_LOG_ERROR, "zmq: no context: %s", zmq_strerror(e));
		return -e;
	}
	return spur_zmq_source_start(z);
}

static void zq_stop(void *instance)
{
	struct zq *z = instance;
	if (!z->running)
		return;
	spur_zmq_source_stop(z);
	spur_log(z->host, SPUR_LOG_INFO,
		 "zmq: routes stopped: %lu message(s) received, %lu stored, %lu refused, "
		 "%lu dropped at stop", atomic_load(&z->n_received), atomic_load(&z->n_stored),
		 atomic_load(&z->n_rejected), atomic_load(&z->n_dropped));
}

static void zq_fini(void *instance)
{
	struct zq *z = instance;
	if (!z)
		return;
	zq_stop(z);		/* no-op after the host's stop() */
	spur_zmq_unref(z);
}

/* The keys of a zmq route beside the core's (read with spur_route_option). */
static const struct spur_option zq_route_options[] = {
	{ .type = SPUR_OPT_STRING, .name = "topic",
	  .description = "sub routes: the subscription prefix (default: everything)" },
	{ .type = SPUR_OPT_ENUM, .name = "payload", .def = "any", .choices = "any|json",
	  .description = "json: a payload that is not JSON becomes a failure record" },
	{ .name = NULL },
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "zmq",
	.version = "0.1.0",
	.description = "ZeroMQ routes (pull, sub) and destinations (zmq+pub://, zmq+push://) (libzmq)",
	.roles = SPUR_ROLE_SOURCE | SPUR_ROLE_DESTINATION,
	.options = zq_options_table,
	.options_size = sizeof(struct zq_options),
	.init = zq_init,
	.fini = zq_fini,
	.start = zq_start,
	.stop = zq_stop,
	.destination = &spur_zmq_destination,
	.route_options = zq_route_options,
};
