/* SPDX-License-Identifier: MIT */
/*
 * zmq_priv.h - what the files of the zmq plugin share: the instance, its
 * options, and the entry points of source.c (routes: pull and sub
 * sockets, one receiver thread) and dest.c (records out: zmq+pub:// and
 * zmq+push://). zmq.c owns the options, the libzmq context and the life
 * cycle; see its top comment for who closes what.
 */
#ifndef SPUR_ZMQ_H
#define SPUR_ZMQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <zmq.h>

#include "spur/plugin.h"

struct zq_options {
	uint64_t max_message;		/* sources: ZMQ_MAXMSGSIZE and the multipart total */
	int64_t send_timeout_ms;	/* push destinations: ZMQ_SNDTIMEO */
	int64_t linger_ms;		/* destinations: ZMQ_LINGER at close */
	int64_t hwm;			/* ZMQ_SNDHWM / ZMQ_RCVHWM, in messages */
	char *topic;			/* pub destinations: the topic frame template */
};

struct zq_route;			/* source.c: one route's socket */

struct zq {
	struct spur_host *host;
	const struct zq_options *opt;

	/* The context is shared by the receiver thread and the destination
	 * sockets of the outbox thread; it ends with the last reference (the
	 * instance holds one, every open destination one). */
	pthread_mutex_t lock;		/* guards ctx creation */
	void *ctx;
	atomic_int refs;

	/* source.c, touched by start()/stop() and the receiver thread */
	struct zq_route *routes;
	size_t n_routes;
	void *ctl_tx;			/* stop() writes here (inproc PAIR) ... */
	void *ctl_rx;			/* ... the receiver thread polls this */
	pthread_t thread;
	bool running;

	atomic_ulong n_received, n_stored, n_rejected, n_dropped;	/* sources */
	atomic_ulong n_sent, n_retried;					/* destinations */
};

/* zmq.c */
void *spur_zmq_context(struct zq *z);	/* created on first use; NULL (errno) on failure */
void spur_zmq_ref(struct zq *z);
void spur_zmq_unref(struct zq *z);
/* "bind:" / "connect:" prefix of an endpoint: sets *bind, returns the rest. */
const char *spur_zmq_endpoint(const char *s, bool *bind);

/* source.c */
int spur_zmq_source_start(struct zq *z);
void spur_zmq_source_stop(struct zq *z);

/* dest.c */
extern const struct spur_destination spur_zmq_destination;

#endif
