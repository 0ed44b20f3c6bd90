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
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zq.h"

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
		spur_zq_unref(d->z);
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
	d->endpoint = strdup(spur_zq_endpoint(rest, &d->bind));
	return d->endpoint ? 0 : -ENOMEM;
}

static int duration_ms(json_t *v, int64_t *ms)
{
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return 0;
	}
	return json_is_string(v) ? spur_parse_duration(json_string_value(v), ms) : -EINVAL;
}

/* { socket: pub|push, endpoint, bind, topic, send_timeout, linger, hwm } */
static int parse_named(struct zq_dest *d, const char *options, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(options, JSON_REJECT_DUPLICATES, &je), *v;
	const char *key, *sock = NULL;
	bool bind_set = false;
	int rc = -EINVAL;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "zmq destination: settings are not an object");
		goto out;
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "socket") == 0 && json_is_string(v)) {
			sock = json_string_value(v);
		} else if (strcmp(key, "endpoint") == 0 && json_is_string(v)) {
			free(d->endpoint);
			if (!(d->endpoint = strdup(json_string_value(v)))) {
				rc = -ENOMEM;
				goto out;
			}
		} else if (strcmp(key, "bind") == 0 && json_is_boolean(v)) {
			d->bind = json_is_true(v);
			bind_set = true;
		} else if (strcmp(key, "topic") == 0 && json_is_string(v)) {
			free(d->topic);
			if (!(d->topic = strdup(json_string_value(v)))) {
				rc = -ENOMEM;
				goto out;
			}
		} else if (strcmp(key, "send_timeout") == 0) {
			if (duration_ms(v, &d->send_timeout_ms) < 0 || d->send_timeout_ms < 1 ||
			    d->send_timeout_ms > 60000) {
				snprintf(err, errlen, "zmq destination: send_timeout: expected a "
					 "duration from 1ms to 60s");
				goto out;
			}
		} else if (strcmp(key, "linger") == 0) {
			if (duration_ms(v, &d->linger_ms) < 0 || d->linger_ms < 0 ||
			    d->linger_ms > 60000) {
				snprintf(err, errlen, "zmq destination: linger: expected a duration "
					 "from 0 to 60s");
				goto out;
			}
		} else if (strcmp(key, "hwm") == 0 && json_is_integer(v) &&
			   json_integer_value(v) >= 1 && json_integer_value(v) <= 1000000) {
			d->hwm = json_integer_value(v);
		} else {
			snprintf(err, errlen, "zmq destination: '%s' is unknown or of the wrong type "
				 "(socket: pub|push, endpoint: string, bind: bool, topic: string, "
				 "send_timeout: duration, linger: duration, hwm: 1..1000000)", key);
			goto out;
		}
	}
	if (!sock || (strcmp(sock, "pub") != 0 && strcmp(sock, "push") != 0)) {
		snprintf(err, errlen, "zmq destination: needs socket: pub or socket: push");
		goto out;
	}
	d->type = strcmp(sock, "pub") == 0 ? ZMQ_PUB : ZMQ_PUSH;
	if (!bind_set)
		d->bind = d->type == ZMQ_PUB;
	if (!d->endpoint) {
		snprintf(err, errlen, "zmq destination: needs an endpoint (tcp://HOST:PORT, ipc://PATH)");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

static int zq_open(void *instance, const char *target, const char *options, void **dest,
		   char *err, size_t errlen)
{
	struct zq *z = instance;
	struct zq_dest *d = calloc(1, sizeof(*d));
	const char *bad = NULL;
	char probe[ZQ_TOPIC_MAX];
	void *ctx;
	int rc = -ENOMEM;

	if (!d || !(d->topic = strdup(z->opt->topic ? z->opt->topic : "{function}"))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	spur_zq_ref(z);
	d->z = z;
	d->send_timeout_ms = z->opt->send_timeout_ms;
	d->linger_ms = z->opt->linger_ms;
	d->hwm = z->opt->hwm;
	rc = options ? parse_named(d, options, err, errlen) : parse_uri(d, target, err, errlen);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!strstr(d->endpoint, "://")) {
		snprintf(err, errlen, "zmq destination: '%s' is not an endpoint (tcp://HOST:PORT, "
			 "ipc://PATH, inproc://NAME)", d->endpoint);
		rc = -EINVAL;
		goto fail;
	}
	if (d->type == ZMQ_PUB && render(d->topic, NULL, probe, sizeof(probe), &bad) == -1) {
		snprintf(err, errlen, "zmq destination: topic '%s': unknown template at '%.20s' "
			 "(use {function}, {version}, {condition}, {request_id})", d->topic, bad);
		rc = -EINVAL;
		goto fail;
	}
	if (!(ctx = spur_zq_context(z)) || !(d->sock = zmq_socket(ctx, d->type)))
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
	spur_log(z->host, SPUR_LOG_INFO, "zmq: destination %s %s (%s)",
		 d->type == ZMQ_PUB ? "pub" : "push", d->endpoint, d->bind ? "bound" : "connected");
	*dest = d;
	return 0;
zfail:
	rc = -(zmq_errno() ? zmq_errno() : EINVAL);
	snprintf(err, errlen, "zmq %s %s %s: %s", d->type == ZMQ_PUB ? "pub" : "push",
		 d->bind ? "bind" : "connect", d->endpoint, zmq_strerror(-rc));
fail:
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

const struct spur_destination spur_zq_destination = {
	.struct_size = sizeof(struct spur_destination),
	/* "zmq" is the type of named destinations; zmq:// itself is refused */
	.scheme = "zmq+pub|zmq+push|zmq",
	.open = zq_open,
	.deliver = zq_deliver,
	.flush = zq_flush,
	.close = zq_close,
};
