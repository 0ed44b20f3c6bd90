/* SPDX-License-Identifier: MIT */
/*
 * source.c - ZeroMQ routes: messages in, events out.
 *
 *   routes:
 *     - zmq: "pull tcp://127.0.0.1:5557"     # binds (PUSH peers connect)
 *       function: orders
 *     - zmq: "sub tcp://127.0.0.1:5556"      # connects to a PUB that binds
 *       topic: "sensors."                    # subscription prefix; default: all
 *       function: sensors
 *       payload: json                        # refuse what is not JSON
 *
 * "bind:" / "connect:" before the endpoint overrides the default side.
 * One socket per route, made by start() (a bind that fails is an error at
 * start), and one receiver thread per plugin instance: it waits in
 * zmq_poll() on every route socket plus an inproc PAIR that stop() writes
 * to, so it sleeps until a message or the stop arrives (no timed loop).
 *
 * A message (all frames of a multipart message: libzmq delivers them
 * together) becomes one event. The last frame is the payload; with two or
 * more frames the first is the topic (PUB/SUB convention). The event is the
 * payload itself when the payload is JSON, else
 *   {"topic": "<first frame>" | null, "payload": "<payload as a string>"}
 * with "payloadEncoding": "base64" (and the payload in base64) when it is
 * not UTF-8. The topic also goes along as the invoke attribute zmq-topic.
 * Routes are async by default: the event is stored (one group commit)
 * before the next message is read. A `mode: sync` route runs the handler
 * on the receiver thread and discards its result (there is no reply path),
 * holding up the other routes of the instance meanwhile.
 *
 * Refusals, each a failure record (spur_reject: condition InvalidInput, to
 * the function's on_failure, e.g. a dead-letter queue) and a log line:
 * on a `payload: json` route a payload that is not JSON; a multipart
 * message over max_message in total; what the invoke path refuses (no
 * such function, a payload over its limit). A frame over max_message
 * never arrives: libzmq drops it and disconnects its sender
 * (ZMQ_MAXMSGSIZE), so nothing records it.
 *
 * Back-pressure and loss. ZeroMQ has no acknowledgement: a message that
 * libzmq has handed to spur is spur's. While the store cannot take events
 * (503 conditions, throttling) the receiver retries with backoff (50 ms
 * doubling to 2 s) and reads nothing else, so libzmq queues up to `hwm`
 * messages, and then PUSH peers block and a PUB drops. A message still
 * being retried when spur stops is dropped and counted; messages libzmq
 * has queued but spur has not read are lost at stop (linger 0).
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmq_priv.h"

#define ZQ_BATCH 32			/* messages read per socket per poll round */
#define ZQ_REJECT_KEEP 1024		/* bytes of an oversized message kept in its record */
#define ZQ_WAIT_MIN_MS 50
#define ZQ_WAIT_MAX_MS 2000
#define ZQ_INTERNAL_TRIES 5

struct zq_route {
	const struct spur_route *r;
	int type;			/* ZMQ_PULL or ZMQ_SUB */
	bool bind;
	bool json_only;
	char *endpoint;
	void *sock;
};

/* What the receiver thread polls: the control socket first, then one
 * item per route. Made by start(), freed by stop(). */
static zmq_pollitem_t *poll_items(struct zq *z)
{
	zmq_pollitem_t *items = calloc(z->n_routes + 1, sizeof(*items));
	if (!items)
		return NULL;
	items[0] = (zmq_pollitem_t){ .socket = z->ctl_rx, .events = ZMQ_POLLIN };
	for (size_t i = 0; i < z->n_routes; i++)
		items[i + 1] = (zmq_pollitem_t){ .socket = z->routes[i].sock, .events = ZMQ_POLLIN };
	return items;
}

static const char base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*o++ = base64_chars[v >> 18 & 63];
		*o++ = base64_chars[v >> 12 & 63];
		*o++ = i + 1 < n ? base64_chars[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? base64_chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* A JSON string of bytes that are UTF-8, else NULL. */
static json_t *utf8_string(const void *p, size_t n)
{
	return json_stringn(n ? p : "", n);
}

/* true when stop() has written to the control socket within `ms`. */
static bool wait_stop(struct zq *z, long ms)
{
	zmq_pollitem_t it = { .socket = z->ctl_rx, .events = ZMQ_POLLIN };
	return zmq_poll(&it, 1, ms) > 0;
}

static void reject(struct zq *z, struct zq_route *rt, const char *reason,
		   const void *data, size_t len)
{
	spur_log(z->host, SPUR_LOG_WARN, "zmq: refused a message on %s for %s (route at line %d): %s",
		 rt->endpoint, spur_route_target(rt->r), spur_route_line(rt->r), reason);
	atomic_fetch_add(&z->n_rejected, 1);
	int rc = spur_reject(z->host, rt->r, reason, data, len);
	if (rc < 0 && rc != -ENOENT)	/* -ENOENT: no function or store to record it in */
		spur_log(z->host, SPUR_LOG_ERROR, "zmq: could not record the refusal: %s",
			 spur_strerror(rc));
}

/* Give one event to the invoke path. 0 done (stored, run or refused with
 * a record), 1 stop requested while waiting to retry. */
static int deliver_event(struct zq *z, struct zq_route *rt, const char *event, size_t len,
			 const void *raw, size_t raw_len, const struct spur_attr *attrs,
			 size_t n_attrs)
{
	const struct spur_invoke_args a = {
		.struct_size = sizeof(a),
		.attr_size = sizeof(struct spur_attr),
		.target = spur_route_target(rt->r),
		.payload = event,
		.payload_len = len,
		.mode = spur_route_mode(rt->r),
		.source = "zmq",
		.attrs = attrs,
		.n_attrs = n_attrs,
		.route = rt->r,
		.raw_body = raw,
		.raw_body_len = raw_len,
	};
	long wait = ZQ_WAIT_MIN_MS;
	for (int internal = 0;;) {
		struct spur_result *res = spur_invoke(z->host, &a);
		enum spur_status st = res ? spur_result_status(res) : SPUR_STATUS_INTERNAL;
		char why[512];

		switch (st) {
		case SPUR_STATUS_ACCEPTED:
		case SPUR_STATUS_OK:
			atomic_fetch_add(&z->n_stored, 1);
			if (st == SPUR_STATUS_OK && spur_result_function_error(res))
				spur_log(z->host, SPUR_LOG_WARN, "zmq: %s (sync) failed: %s",
					 spur_route_target(rt->r), spur_result_body(res, NULL));
			spur_result_free(res);
			return 0;
		case SPUR_STATUS_INTERNAL:
			if (++internal >= ZQ_INTERNAL_TRIES)
				goto refuse;
			/* fall through */
		case SPUR_STATUS_UNAVAILABLE:
		case SPUR_STATUS_THROTTLED:
			spur_result_free(res);
			if (wait_stop(z, wait)) {
				atomic_fetch_add(&z->n_dropped, 1);
				spur_log(z->host, SPUR_LOG_WARN, "zmq: stopping: a message for %s "
					 "that could not be stored yet is dropped",
					 spur_route_target(rt->r));
				return 1;
			}
			wait = wait * 2 > ZQ_WAIT_MAX_MS ? ZQ_WAIT_MAX_MS : wait * 2;
			continue;
		default:
		refuse:
			snprintf(why, sizeof(why), "%s: %s",
				 res ? spur_result_error_type(res) : "ServiceException",
				 res ? spur_result_error_message(res) : "out of memory");
			spur_result_free(res);
			reject(z, rt, why, raw, raw_len);
			return 0;
		}
	}
}

/* One received message: its topic frame (or NULL) and its payload. */
static int take(struct zq *z, struct zq_route *rt, const zmq_msg_t *topic_msg,
		const zmq_msg_t *payload_msg, size_t frames, size_t total)
{
	const char *data = zmq_msg_data((zmq_msg_t *)payload_msg);
	size_t len = zmq_msg_size((zmq_msg_t *)payload_msg);
	const char *topic = topic_msg ? zmq_msg_data((zmq_msg_t *)topic_msg) : NULL;
	size_t topic_len = topic_msg ? zmq_msg_size((zmq_msg_t *)topic_msg) : 0;
	char why[256];
	json_t *ev = NULL, *t = NULL;
	char *text = NULL, *b64 = NULL;
	int rc = 0;

	if (total > z->opt->max_message) {
		snprintf(why, sizeof(why), "message of %zu bytes in %zu frames is over "
			 "zmq.max_message (%llu bytes); the record keeps its first %d bytes",
			 total, frames, (unsigned long long)z->opt->max_message, ZQ_REJECT_KEEP);
		reject(z, rt, why, data, len < ZQ_REJECT_KEEP ? len : ZQ_REJECT_KEEP);
		return 0;
	}
	json_t *j = len ? json_loadb(data, len, JSON_DECODE_ANY, NULL) : NULL;
	bool is_json = j != NULL;
	json_decref(j);
	json_t *s = is_json ? NULL : utf8_string(data, len);
	if (!is_json && rt->json_only) {
		reject(z, rt, s ? "payload is not JSON" : "payload is not UTF-8 (so not JSON)",
		       data, len);
		goto out;
	}

	struct spur_attr attr = { .name = "zmq-topic" };
	if (topic && (t = utf8_string(topic, topic_len)) != NULL)
		attr = (struct spur_attr){ .name = "zmq-topic", .value = json_string_value(t),
					   .value_len = topic_len };

	const char *event = data;
	size_t event_len = len;
	if (!is_json) {
		ev = json_object();
		if (!ev)
			goto oom;
		if (!topic)
			json_object_set_new(ev, "topic", json_null());
		else if (t)
			json_object_set(ev, "topic", t);
		else if ((b64 = base64((const unsigned char *)topic, topic_len)) != NULL) {
			json_object_set_new(ev, "topic", json_string(b64));
			json_object_set_new(ev, "topicEncoding", json_string("base64"));
			free(b64);
			b64 = NULL;
		}
		if (s) {
			json_object_set(ev, "payload", s);
		} else {
			if (!(b64 = base64((const unsigned char *)data, len)))
				goto oom;
			json_object_set_new(ev, "payload", json_string(b64));
			json_object_set_new(ev, "payloadEncoding", json_string("base64"));
		}
		if (!(text = json_dumps(ev, JSON_COMPACT)))
			goto oom;
		event = text;
		event_len = strlen(text);
	}
	rc = deliver_event(z, rt, event, event_len, data, len, t ? &attr : NULL, t ? 1 : 0);
	goto out;
oom:
	reject(z, rt, "out of memory building the event", data,
	       len < ZQ_REJECT_KEEP ? len : ZQ_REJECT_KEEP);
out:
	json_decref(s);
	json_decref(t);
	json_decref(ev);
	free(text);
	free(b64);
	return rc;
}

/* Read one message from a route socket if one is there: 1 read, 0 none,
 * -1 stop requested. */
static int read_one(struct zq *z, struct zq_route *rt)
{
	zmq_msg_t first, last;
	size_t frames = 1, total;
	int rc;

	zmq_msg_init(&first);
	if (zmq_msg_recv(&first, rt->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&first);
		return 0;
	}
	zmq_msg_init(&last);
	total = zmq_msg_size(&first);
	/* the other frames are already here: libzmq delivers a message whole */
	for (bool more = zmq_msg_more(&first); more;) {
		zmq_msg_t part;
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, rt->sock, 0) < 0) {
			zmq_msg_close(&part);
			break;
		}
		frames++;
		total += zmq_msg_size(&part);
		more = zmq_msg_more(&part);
		zmq_msg_move(&last, &part);
		zmq_msg_close(&part);
	}
	atomic_fetch_add(&z->n_received, 1);
	rc = frames > 1 ? take(z, rt, &first, &last, frames, total) :
			  take(z, rt, NULL, &first, frames, total);
	zmq_msg_close(&first);
	zmq_msg_close(&last);
	return rc ? -1 : 1;
}

static void *receiver_main(void *arg)
{
	struct zq *z = arg;
	zmq_pollitem_t *items = poll_items(z);

	while (items) {
		if (zmq_poll(items, (int)z->n_routes + 1, -1) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			spur_log(z->host, SPUR_LOG_ERROR, "zmq: poll: %s; routes stop taking messages",
				 zmq_strerror(zmq_errno()));
			break;
		}
		if (items[0].revents & ZMQ_POLLIN)
			break;
		for (size_t i = 0; i < z->n_routes; i++) {
			if (!(items[i + 1].revents & ZMQ_POLLIN))
				continue;
			for (int k = 0; k < ZQ_BATCH; k++) {
				int rc = read_one(z, &z->routes[i]);
				if (rc < 0)
					goto out;
				if (rc == 0)
					break;
			}
		}
	}
	if (!items)
		spur_log(z->host, SPUR_LOG_ERROR, "zmq: out of memory; routes take no messages");
out:
	free(items);
	return NULL;
}

static void close_all(struct zq *z)
{
	for (size_t i = 0; i < z->n_routes; i++) {
		if (z->routes[i].sock)
			zmq_close(z->routes[i].sock);
		free(z->routes[i].endpoint);
	}
	free(z->routes);
	z->routes = NULL;
	z->n_routes = 0;
	if (z->ctl_rx)
		zmq_close(z->ctl_rx);
	if (z->ctl_tx)
		zmq_close(z->ctl_tx);
	z->ctl_rx = z->ctl_tx = NULL;
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

/* Make, configure and bind/connect one route's socket. */
static int open_route(struct zq *z, const struct spur_route *r, struct zq_route *rt)
{
	const char *m = spur_route_match(r);
	const char *topic = spur_route_option(r, "topic");
	const char *payload = spur_route_option(r, "payload");
	int64_t max = (int64_t)z->opt->max_message;

	rt->r = r;
	rt->type = strncmp(m, "sub ", 4) == 0 ? ZMQ_SUB : ZMQ_PULL;
	rt->bind = rt->type == ZMQ_PULL;
	rt->json_only = payload && strcmp(payload, "json") == 0;
	m += rt->type == ZMQ_SUB ? 4 : 5;
	m += strspn(m, " \t");
	if (!(rt->endpoint = strdup(spur_zmq_endpoint(m, &rt->bind))))
		return -ENOMEM;
	if (topic && rt->type != ZMQ_SUB)
		spur_log(z->host, SPUR_LOG_WARN, "zmq: route at line %d: 'topic' applies to sub "
			 "routes only; ignored", spur_route_line(r));
	if (!(rt->sock = zmq_socket(z->ctx, rt->type)))
		goto fail;
	if (set_int(rt->sock, ZMQ_LINGER, 0) < 0 ||
	    set_int(rt->sock, ZMQ_RCVHWM, (int)z->opt->hwm) < 0 ||
	    zmq_setsockopt(rt->sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) < 0)
		goto fail;
	if (rt->type == ZMQ_SUB &&
	    zmq_setsockopt(rt->sock, ZMQ_SUBSCRIBE, topic ? topic : "", topic ? strlen(topic) : 0) < 0)
		goto fail;
	if ((rt->bind ? zmq_bind(rt->sock, rt->endpoint) : zmq_connect(rt->sock, rt->endpoint)) < 0)
		goto fail;
	spur_log(z->host, SPUR_LOG_INFO, "zmq: %s %s (%s) -> %s", rt->type == ZMQ_SUB ? "sub" : "pull",
		 rt->endpoint, rt->bind ? "bound" : "connected", spur_route_target(r));
	return 0;
fail:;
	int e = zmq_errno();
	spur_log(z->host, SPUR_LOG_ERROR, "zmq: route at line %d: %s %s: %s", spur_route_line(r),
		 rt->bind ? "bind" : "connect", rt->endpoint, zmq_strerror(e));
	return -(e ? e : EINVAL);
}

int spur_zmq_source_start(struct zq *z)
{
	size_t n = 0, count = spur_host_route_count(z->host);
	char ctl[64];
	sigset_t all, old;
	int rc;

	for (size_t i = 0; i < count; i++)
		if (strcmp(spur_route_kind(spur_host_route(z->host, i)), "zmq") == 0)
			n++;
	if (n == 0 || z->running)
		return 0;
	if (!(z->routes = calloc(n, sizeof(*z->routes))))
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const struct spur_route *r = spur_host_route(z->host, i);
		if (strcmp(spur_route_kind(r), "zmq") != 0)
			continue;
		rc = open_route(z, r, &z->routes[z->n_routes++]);
		if (rc < 0)
			goto fail;
	}
	/* the stop channel: unique per instance, so two instances never meet */
	snprintf(ctl, sizeof(ctl), "inproc://spur-zmq-stop-%p", (void *)z);
	if (!(z->ctl_rx = zmq_socket(z->ctx, ZMQ_PAIR)) || zmq_bind(z->ctl_rx, ctl) < 0 ||
	    !(z->ctl_tx = zmq_socket(z->ctx, ZMQ_PAIR)) || zmq_connect(z->ctl_tx, ctl) < 0 ||
	    set_int(z->ctl_rx, ZMQ_LINGER, 0) < 0 || set_int(z->ctl_tx, ZMQ_LINGER, 0) < 0) {
		rc = -(zmq_errno() ? zmq_errno() : EINVAL);
		spur_log(z->host, SPUR_LOG_ERROR, "zmq: stop channel: %s", zmq_strerror(-rc));
		goto fail;
	}
	/* signals belong to the main thread: the receiver blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&z->thread, NULL, receiver_main, z);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		spur_log(z->host, SPUR_LOG_ERROR, "zmq: no receiver thread: %s", spur_strerror(rc));
		goto fail;
	}
	z->running = true;
	return 0;
fail:
	close_all(z);
	return rc;
}

void spur_zmq_source_stop(struct zq *z)
{
	if (!z->running)
		return;
	/* DONTWAIT: if the thread ended on its own, nobody reads this */
	zmq_send(z->ctl_tx, "", 0, ZMQ_DONTWAIT);
	pthread_join(z->thread, NULL);
	z->running = false;
	close_all(z);
}
