/* SPDX-License-Identifier: MIT */
/*
 * dest.c - ZeroMQ destinations: records out, one message per record.
 *
 *   on_success: [ "zmq+pub://tcp://127.0.0.1:5556" ]          # PUB, binds
 *   on_failure: [ "zmq+push://tcp://127.0.0.1:5557" ]         # PUSH, connects
 *               [ "zmq+push://bind:tcp://127.0.0.1:5557" ]    # PUSH, binds
 *   destinations:
 *     bus: { type: zmq, socket: pub, endpoint: "tcp://127.0.0.1:5556",
 *            topic: "spur.{function}.{condition}" }
 *     work: { type: zmq, socket: push, endpoint: "tcp://127.0.0.1:5557",
 *             bind: false, send_timeout: 2s, hwm: 100 }
 *
 * A named destination's keys are zq_named_table's, checked by the host
 * when the config is loaded: socket pub|push (default push), endpoint
 * (required), bind auto|true|false (auto: pub binds, push connects),
 * topic, send_timeout, linger and hwm (default: the zmq: section's).
 *
 * PUB sends two frames, the topic (the `topic` template, default
 * "{function}"; {function}, {version}, {condition}, {request_id}) and the
 * record JSON, so subscribers filter by function. PUSH sends one frame,
 * the record JSON.
 *
 * Delivery semantics, honestly:
 *   pub   best effort. libzmq sends to the subscribers connected right
 *         now and drops, without telling anyone, what a subscriber cannot
 *         take past its high-water mark (`hwm`), and everything when
 *         nobody is subscribed. deliver() always says OK: the record
 *         leaves the outbox as soon as libzmq has it. A subscriber that
 *         has just connected misses what was sent before its subscription
 *         reached spur (ZeroMQ's "slow joiner").
 *   push  the record waits up to `send_timeout` (ZMQ_SNDTIMEO, default
 *         1 s) for a PULL peer with room; after that deliver() says RETRY
 *         and the record stays in the outbox, retried with backoff. A
 *         connecting PUSH sets ZMQ_IMMEDIATE, so records are not queued
 *         towards a peer that is not there. OK means libzmq has queued the
 *         record for a connected peer: a record in that queue (at most
 *         `hwm`, plus TCP buffers) is lost if the peer dies or spur stops
 *         before it leaves (shutdown waits `linger` for it).
 * After one send of a batch times out, the rest of that batch is tried
 * without waiting, so a missing peer costs the outbox thread one
 * send_timeout per batch, not per record.
 *
 * Sockets are made by open() on the outbox thread (a destination is
 * opened on first use: a PUB destination binds when its first record
 * leaves) and used and closed only there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmq_priv.h"

#define ZQ_TOPIC_MAX 1024

struct zq_dest {
	struct zq *z;
	int type;			/* ZMQ_PUB or ZMQ_PUSH */
	bool bind;
	bool stalled;			/* a send of this batch timed out */
	char *endpoint;
	char *topic;
	int64_t send_timeout_ms;
	int64_t linger_ms;
	int64_t hwm;
	void *sock;
};

/* A named destination's settings, as the host parses them with the
 * table below. What a destination leaves out comes from the zmq: section
 * (struct zq_options), as for URI destinations; the host does not say
 * which keys were written, so "not set" is a value the key cannot take:
 * 0 for send_timeout and hwm (at least 1), ZQ_LINGER_UNSET for linger
 * (0 is a setting of its own). */
enum zq_socket { ZQ_SOCKET_PUB = 0, ZQ_SOCKET_PUSH };		/* "pub|push" */
enum zq_bind { ZQ_BIND_AUTO = 0, ZQ_BIND_TRUE, ZQ_BIND_FALSE };	/* "auto|true|false" */
#define ZQ_LINGER_UNSET (24LL * 60 * 60 * 1000)		/* the default "1d", past 60s */

struct zq_named {
	int socket;			/* enum zq_socket */
	char *endpoint;
	int bind;			/* enum zq_bind */
	char *topic;			/* NULL: the zmq: section's */
	int64_t send_timeout_ms;	/* 0: the zmq: section's */
	int64_t linger_ms;		/* ZQ_LINGER_UNSET: the zmq: section's */
	int64_t hwm;			/* 0: the zmq: section's */
};

static const struct spur_option zq_named_table[] = {
	{ .type = SPUR_OPT_ENUM, .name = "socket", .def = "push", .choices = "pub|push",
	  .offset = offsetof(struct zq_named, socket),
	  .description = "pub: two frames (topic, record), best effort; push: one frame, "
			 "waits send_timeout for a PULL peer, else the record is retried" },
	{ .type = SPUR_OPT_STRING, .name = "endpoint", .offset = offsetof(struct zq_named, endpoint),
	  .description = "libzmq endpoint: tcp://HOST:PORT, ipc://PATH, inproc://NAME (required)" },
	{ .type = SPUR_OPT_ENUM, .name = "bind", .def = "auto", .choices = "auto|true|false",
	  .offset = offsetof(struct zq_named, bind),
	  .description = "bind the endpoint (true) or connect to it (false); auto: pub binds, "
			 "push connects" },
	{ .type = SPUR_OPT_STRING, .name = "topic", .offset = offsetof(struct zq_named, topic),
	  .description = "pub: the topic frame; {function}, {version}, {condition}, {request_id} "
			 "(default: the zmq: section's topic)" },
	{ .type = SPUR_OPT_DURATION, .name = "send_timeout",
	  .offset = offsetof(struct zq_named, send_timeout_ms),
	  .description = "push: how long a record waits for a PULL peer (default: the zmq: "
			 "section's send_timeout)",
	  .min = 1, .max = 60000 },
	{ .type = SPUR_OPT_DURATION, .name = "linger", .def = "1d",
	  .offset = offsetof(struct zq_named, linger_ms),
	  .description = "how long queued messages may take to leave at shutdown (default: "
			 "the zmq: section's linger)",
	  .min = 0, .max = 60000 },
	{ .type = SPUR_OPT_INT, .name = "hwm", .offset = offsetof(struct zq_named, hwm),
	  .description = "high-water mark in messages (default: the zmq: section's hwm)",
	  .min = 1, .max = 1000000 },
	{ .name = NULL },
};

static const char *const template_names[] = { "function", "version", "condition", "request_id" };

/* The value of {name} for a record, or NULL when name is not known. */
static const char *template_value(const char *name, size_t n, const struct spur_record_meta *m)
{
	const char *v[] = { m ? m->function : "", m ? m->version : "",
			    m ? m->condition : "", m ? m->request_id : "" };
	for (size_t i = 0; i < sizeof(template_names) / sizeof(*template_names); i++)
		if (strlen(template_names[i]) == n && strncmp(template_names[i], name, n) == 0)
			return v[i] ? v[i] : "";
	return NULL;
}

/* Render a topic template; with meta NULL only checks it. Returns the
 * length, or -1 (unknown name or unclosed brace: *bad says where) or -2
 * (too long). */
static int render(const char *tpl, const struct spur_record_meta *meta, char *out, size_t cap,
		  const char **bad)
{
	size_t o = 0;
	for (const char *p = tpl; *p;) {
		const char *piece = p, *val;
		size_t n = 1;
		if (*p == '{') {
			const char *e = strchr(p, '}');
			if (!e || !(val = template_value(p + 1, (size_t)(e - p - 1), meta))) {
				*bad = p;
				return -1;
			}
			piece = val;
			n = strlen(val);
			p = e + 1;
		} else {
			p++;
		}
		if (o + n >= cap)
			return -2;
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

static void dest_free(struct zq_dest *d)
{
	if (!d)
		return;
	if (d->sock)
		zmq_close(d->sock);
	free(d->endpoint);
	free(d->topic);
	if (d->z)
		spur_zmq_unref(d->z);
	free(d);
}

/* zmq+pub://[bind:|connect:]ENDPOINT, zmq+push://... */
static int parse_uri(struct zq_dest *d, const char *uri, char *err, size_t errlen)
{
	const char *rest;
	if (strncmp(uri, "zmq+pub://", 10) == 0) {
		d->type = ZMQ_PUB;
		d->bind = true;
		rest = uri + 10;
	} else if (strncmp(uri, "zmq+push://", 11) == 0) {
		d->type = ZMQ_PUSH;
		d->bind = false;
		rest = uri + 11;
	} else {
		snprintf(err, errlen, "zmq destination '%s': use zmq+pub://ENDPOINT or "
			 "zmq+push://ENDPOINT, or a named destination { type: zmq, socket: pub|push, "
			 "endpoint: ENDPOINT }", uri);
		return -EINVAL;
	}
	d->endpoint = strdup(spur_zmq_endpoint(rest, &d->bind));
	return d->endpoint ? 0 : -ENOMEM;
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

/* A new destination with the zmq: section's settings; NULL on ENOMEM. */
static struct zq_dest *dest_new(struct zq *z)
{
	struct zq_dest *d = calloc(1, sizeof(*d));

	if (!d || !(d->topic = strdup(z->opt->topic ? z->opt->topic : "{function}"))) {
		free(d);
		return NULL;
	}
	spur_zmq_ref(z);
	d->z = z;
	d->send_timeout_ms = z->opt->send_timeout_ms;
	d->linger_ms = z->opt->linger_ms;
	d->hwm = z->opt->hwm;
	return d;
}

/* Check d's endpoint and topic, make its socket, bind or connect it. */
static int dest_connect(struct zq_dest *d, char *err, size_t errlen)
{
	const char *bad = NULL;
	char probe[ZQ_TOPIC_MAX];
	void *ctx;
	int rc;

	if (!strstr(d->endpoint, "://")) {
		snprintf(err, errlen, "zmq destination: '%s' is not an endpoint (tcp://HOST:PORT, "
			 "ipc://PATH, inproc://NAME)", d->endpoint);
		return -EINVAL;
	}
	if (d->type == ZMQ_PUB && render(d->topic, NULL, probe, sizeof(probe), &bad) == -1) {
		snprintf(err, errlen, "zmq destination: topic '%s': unknown template at '%.20s' "
			 "(use {function}, {version}, {condition}, {request_id})", d->topic, bad);
		return -EINVAL;
	}
	if (!(ctx = spur_zmq_context(d->z)) || !(d->sock = zmq_socket(ctx, d->type)))
		goto zfail;
	if (set_int(d->sock, ZMQ_LINGER, (int)d->linger_ms) < 0 ||
	    set_int(d->sock, ZMQ_SNDHWM, (int)d->hwm) < 0)
		goto zfail;
	if (d->type == ZMQ_PUSH &&
	    (set_int(d->sock, ZMQ_SNDTIMEO, (int)d->send_timeout_ms) < 0 ||
	     (!d->bind && set_int(d->sock, ZMQ_IMMEDIATE, 1) < 0)))
		goto zfail;
	if ((d->bind ? zmq_bind(d->sock, d->endpoint) : zmq_connect(d->sock, d->endpoint)) < 0)
		goto zfail;
	spur_log(d->z->host, SPUR_LOG_INFO, "zmq: destination %s %s (%s)",
		 d->type == ZMQ_PUB ? "pub" : "push", d->endpoint, d->bind ? "bound" : "connected");
	return 0;
zfail:
	rc = -(zmq_errno() ? zmq_errno() : EINVAL);
	snprintf(err, errlen, "zmq %s %s %s: %s", d->type == ZMQ_PUB ? "pub" : "push",
		 d->bind ? "bind" : "connect", d->endpoint, zmq_strerror(-rc));
	return rc;
}

/* zmq+pub://... and zmq+push://... (named destinations come through
 * zq_open_named(), so `options` is always NULL here). */
static int zq_open(void *instance, const char *target, const char *options, void **dest,
		   char *err, size_t errlen)
{
	struct zq_dest *d = dest_new(instance);
	int rc = -ENOMEM;

	if (!d || (rc = parse_uri(d, target, err, errlen)) < 0)
		goto fail;
	if ((rc = dest_connect(d, err, errlen)) < 0)
		goto fail;
	*dest = d;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	dest_free(d);
	return rc;
}

/* destinations: { NAME: { type: zmq, ... } }, parsed by the host with
 * zq_named_table (its strings are borrowed for the call). */
static int zq_open_named(void *instance, const char *name, const void *options, void **dest,
			 char *err, size_t errlen)
{
	const struct zq_named *s = options;
	struct zq_dest *d = NULL;
	int rc = -EINVAL;

	if (!s->endpoint || !*s->endpoint) {
		snprintf(err, errlen, "a zmq destination needs an endpoint "
			 "(endpoint: tcp://HOST:PORT, ipc://PATH)");
		goto fail;
	}
	rc = -ENOMEM;
	if (!(d = dest_new(instance)) || !(d->endpoint = strdup(s->endpoint)))
		goto fail;
	if (s->topic) {
		free(d->topic);
		if (!(d->topic = strdup(s->topic)))
			goto fail;
	}
	d->type = s->socket == ZQ_SOCKET_PUB ? ZMQ_PUB : ZMQ_PUSH;
	d->bind = s->bind == ZQ_BIND_AUTO ? d->type == ZMQ_PUB : s->bind == ZQ_BIND_TRUE;
	if (s->send_timeout_ms)
		d->send_timeout_ms = s->send_timeout_ms;
	if (s->linger_ms != ZQ_LINGER_UNSET)
		d->linger_ms = s->linger_ms;
	if (s->hwm)
		d->hwm = s->hwm;
	if ((rc = dest_connect(d, err, errlen)) < 0)
		goto fail;
	*dest = d;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	dest_free(d);
	return rc;
}

static enum spur_deliver zq_deliver(void *dest, const char *record, size_t len,
				    const struct spur_record_meta *meta, char *why, size_t whylen)
{
	struct zq_dest *d = dest;
	const char *bad;
	char topic[ZQ_TOPIC_MAX];
	int n, e;

	if (d->type == ZMQ_PUB) {
		n = render(d->topic, meta, topic, sizeof(topic), &bad);
		if (n < 0) {
			snprintf(why, whylen, "zmq pub %s: the topic is over %d bytes",
				 d->endpoint, ZQ_TOPIC_MAX);
			return SPUR_DELIVER_DROP;
		}
		/* a PUB never blocks: past the high-water mark libzmq drops */
		if (zmq_send(d->sock, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(d->sock, record, len, ZMQ_DONTWAIT) < 0)
			goto fail;
		atomic_fetch_add(&d->z->n_sent, 1);
		return SPUR_DELIVER_OK;
	}
	if (zmq_send(d->sock, record, len, d->stalled ? ZMQ_DONTWAIT : 0) < 0)
		goto fail;
	atomic_fetch_add(&d->z->n_sent, 1);
	return SPUR_DELIVER_OK;
fail:
	e = zmq_errno();
	if (e == EAGAIN) {
		d->stalled = true;
		snprintf(why, whylen, "zmq push %s: no PULL peer took the record within %lld ms",
			 d->endpoint, (long long)d->send_timeout_ms);
	} else {
		snprintf(why, whylen, "zmq %s %s: %s", d->type == ZMQ_PUB ? "pub" : "push",
			 d->endpoint, zmq_strerror(e));
	}
	atomic_fetch_add(&d->z->n_retried, 1);
	return SPUR_DELIVER_RETRY;
}

static int zq_flush(void *dest)
{
	struct zq_dest *d = dest;
	d->stalled = false;	/* the next batch waits for a peer again */
	return 0;
}

static void zq_close(void *dest)
{
	dest_free(dest);
}

const struct spur_destination spur_zmq_destination = {
	.struct_size = sizeof(struct spur_destination),
	/* "zmq" is the type of named destinations; zmq:// itself is refused */
	.scheme = "zmq+pub|zmq+push|zmq",
	.open = zq_open,
	.deliver = zq_deliver,
	.flush = zq_flush,
	.close = zq_close,
	.options = zq_named_table,
	.options_size = sizeof(struct zq_named),
	.open_named = zq_open_named,
};
