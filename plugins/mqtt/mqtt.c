/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - the mqtt plugin: one libmosquitto client per `mqtt:` section,
 * shared by the source role (routes, ingress.c) and the destination role
 * (mqtt://TOPIC and `type: mqtt`, egress.c). This file owns the options,
 * the connection and its life cycle. Without an `mqtt:` section (no url)
 * the plugin connects nowhere and reports itself ready.
 *
 * Session: MQTT 5 by default (3.1.1 when configured), clean start off and
 * a Session Expiry Interval (session_expiry, default 1 h), so QoS 1
 * messages wait at the broker while spur is down. CONNECT also carries a
 * Maximum Packet Size of max_payload + 4 KiB, so the broker drops larger
 * messages instead of making libmosquitto allocate them (it allocates
 * whatever a PUBLISH announces); payloads between max_payload and that
 * bound arrive and are refused by ingress.c (a failure record).
 *
 * Threads. One network thread of ours runs the connection with poll() on
 * mosquitto_socket() and an eventfd of ours (wake_fd), calling
 * mosquitto_loop_read(), mosquitto_loop_write() and mosquitto_loop_misc()
 * itself, with mosquitto_threaded_set(true) so that calls from other
 * threads (publishes from the outbox thread and the sync workers) only
 * queue packets; they then write wake_fd. Doing the loop ourselves buys
 * three things: the ack window below, reconnects with full jitter (AWS
 * Architecture Blog, "Exponential Backoff And Jitter", 2015: sleep
 * rand(0, min(cap, base * 2^n)), floored at reconnect_min), and no error
 * ends the thread (loop_forever returns for good after an auth, TLS or
 * DNS error; spur must keep retrying while the daemon runs). Every
 * libmosquitto callback (connect, disconnect, message, publish, subscribe)
 * runs on that thread, and none blocks it. /readyz follows the connection
 * through spur_host_set_ready().
 *
 * The ack window. libmosquitto 2.0.11 queues the PUBACK of a QoS 1
 * message before it calls the message callback (send__puback() ->
 * packet__queue(), which writes nothing in threaded mode); only
 * mosquitto_loop_write() puts queued packets on the wire (checked against
 * a fake broker: no PUBACK in 2.5 s of loop_read/loop_misc alone). The
 * callback does not store: it builds the event and hands it to a pool of
 * submitter threads (ingress.c), whose concurrent stores the sqlite store
 * group-commits. The network thread calls mosquitto_loop_write() only
 * while every message handed over has been collected back, i.e. its
 * commit returned; while some wait and packets are queued, it does not
 * read the socket either, so what arrives meanwhile is read in one burst
 * afterwards and shares the next commits (the broker's in-flight window,
 * receive_maximum, bounds a burst). So no PUBACK is written before the
 * commit of its event, and the commits are shared: a crash before the
 * commit leaves the PUBACK unwritten and the broker redelivers; no
 * acknowledged message is lost (tests/integration/test_mqtt.py measures
 * it over 20 kill -9s). A crash between the commit and the PUBACK write
 * gives a redelivery of a stored message (at least once); see ingress.c
 * for how redeliveries are dropped. A message that cannot be stored shuts
 * the socket down before anything more is written. The queue is shared,
 * so destination publishes and PINGREQs also wait for the commits in
 * flight (one group commit, milliseconds).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>
#include <mqtt_protocol.h>

#include "mqtt.h"

#define MQ_PACKET_SLACK 4096		/* topic + properties beside the payload */
#define MQ_JOIN_MS 5000
#define MQ_READ_BURST 4096		/* packets read before looking at commits */
#define MQ_MAX_OUTSTANDING 4096		/* messages waiting for commits (QoS 0 has no quota) */

static const struct spur_option mq_options_table[] = {
	{ .type = SPUR_OPT_STRING, .name = "url", .offset = offsetof(struct mq_options, url),
	  .description = "broker: mqtt://host[:port] (1883) or mqtts://host[:port] (8883)" },
	{ .type = SPUR_OPT_STRING, .name = "client_id", .def = "spur",
	  .offset = offsetof(struct mq_options, client_id),
	  .description = "MQTT client id; the persistent session is keyed by it (unique per node)" },
	{ .type = SPUR_OPT_ENUM, .name = "protocol", .def = "5", .choices = "5|3.1.1",
	  .offset = offsetof(struct mq_options, protocol),
	  .description = "MQTT version; request/response routes need 5" },
	{ .type = SPUR_OPT_STRING, .name = "username", .offset = offsetof(struct mq_options, username),
	  .description = "user name sent in CONNECT" },
	{ .type = SPUR_OPT_STRING, .name = "password_env",
	  .offset = offsetof(struct mq_options, password_env),
	  .description = "environment variable holding the password" },
	{ .type = SPUR_OPT_STRING, .name = "ca_file", .offset = offsetof(struct mq_options, ca_file),
	  .description = "CA certificates (PEM) for mqtts://; default: the system's" },
	{ .type = SPUR_OPT_STRING, .name = "cert_file", .offset = offsetof(struct mq_options, cert_file),
	  .description = "client certificate (PEM), with key_file" },
	{ .type = SPUR_OPT_STRING, .name = "key_file", .offset = offsetof(struct mq_options, key_file),
	  .description = "client private key (PEM)" },
	{ .type = SPUR_OPT_DURATION, .name = "keepalive", .def = "30s",
	  .offset = offsetof(struct mq_options, keepalive_ms),
	  .description = "MQTT keepalive", .min = 5000, .max = 65535000 },
	{ .type = SPUR_OPT_DURATION, .name = "session_expiry", .def = "1h",
	  .offset = offsetof(struct mq_options, session_expiry_ms),
	  .description = "how long the broker keeps the session (and queues QoS 1 messages) "
			 "while spur is away; 0: none (MQTT 5)",
	  .min = 0, .max = 4294967295LL * 1000 },
	{ .type = SPUR_OPT_SIZE, .name = "max_payload", .def = "256KiB",
	  .offset = offsetof(struct mq_options, max_payload),
	  .description = "largest message payload taken; larger ones are dropped by the broker "
			 "(MQTT 5 Maximum Packet Size) or refused with a failure record",
	  .min = 1, .max = 256LL << 20 },
	{ .type = SPUR_OPT_DURATION, .name = "reconnect_min", .def = "250ms",
	  .offset = offsetof(struct mq_options, reconnect_min_ms),
	  .description = "shortest wait before a reconnect", .min = 1, .max = 3600000 },
	{ .type = SPUR_OPT_DURATION, .name = "reconnect_max", .def = "30s",
	  .offset = offsetof(struct mq_options, reconnect_max_ms),
	  .description = "longest wait before a reconnect (exponential backoff, full jitter)",
	  .min = 1, .max = 3600000 },
	{ .type = SPUR_OPT_INT, .name = "workers", .def = "4",
	  .offset = offsetof(struct mq_options, workers),
	  .description = "threads answering request/response (sync) messages", .min = 1, .max = 256 },
	{ .type = SPUR_OPT_INT, .name = "receive_maximum", .def = "100",
	  .offset = offsetof(struct mq_options, receive_maximum),
	  .description = "QoS 1/2 messages the broker may have in flight towards spur",
	  .min = 1, .max = 65535 },
	{ .type = SPUR_OPT_DURATION, .name = "flush_timeout", .def = "5s",
	  .offset = offsetof(struct mq_options, flush_timeout_ms),
	  .description = "how long a destination batch waits for its PUBACKs before it is retried",
	  .min = 10, .max = 600000 },
	{ .name = NULL },
};

/* --- options -------------------------------------------------------------- */

/* mqtt://host[:port], mqtts://..., [v6]:port. */
static int parse_url(struct mq *m, const char *url)
{
	const char *p;
	size_t n;

	if (strncmp(url, "mqtt://", 7) == 0) {
		p = url + 7;
		m->port = 1883;
	} else if (strncmp(url, "mqtts://", 8) == 0) {
		p = url + 8;
		m->port = 8883;
		m->tls = true;
	} else {
		return -EINVAL;
	}
	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (!e)
			return -EINVAL;
		n = (size_t)(e - p - 1);
		if (n == 0 || n >= sizeof(m->host_name))
			return -EINVAL;
		memcpy(m->host_name, p + 1, n);
		m->host_name[n] = '\0';
		p = e + 1;
	} else {
		n = strcspn(p, ":/");
		if (n == 0 || n >= sizeof(m->host_name))
			return -EINVAL;
		memcpy(m->host_name, p, n);
		m->host_name[n] = '\0';
		p += n;
	}
	if (*p == ':') {
		char *end;
		long port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port < 1 || port > 65535)
			return -EINVAL;
		m->port = (int)port;
		p = end;
	}
	if (*p == '/')
		p++;
	return *p ? -EINVAL : 0;
}

/* A path relative to the config directory; malloc()ed. */
static char *config_path(struct mq *m, const char *path)
{
	char *out;
	if (!path)
		return NULL;
	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&out, "%s/%s", spur_host_config_dir(m->host), path) < 0)
		return NULL;
	return out;
}

/* --- the connection -------------------------------------------------------- */

static void log_failure(struct mq *m, int err, const char *what)
{
	bool loud;
	pthread_mutex_lock(&m->lock);
	m->failures++;
	loud = m->failures == 1 || err != m->last_error || (m->failures & (m->failures - 1)) == 0;
	m->last_error = err;
	pthread_mutex_unlock(&m->lock);
	if (loud)
		spur_log(m->host, SPUR_LOG_WARN,
			 "mqtt: broker %s:%d: %s (attempt %u; retrying with backoff, /readyz is false)",
			 m->host_name, m->port, what, m->failures);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
		       const mosquitto_property *props)
{
	struct mq *m = obj;
	char what[256];

	if (rc != 0) {
		snprintf(what, sizeof(what), "connection refused: %s%s",
			 m->v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc),
			 rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED ||
			 (!m->v5 && (rc == 4 || rc == 5)) ?
			 " (check mqtt.username and the variable named by mqtt.password_env)" : "");
		log_failure(m, 1000 + rc, what);
		return;
	}
	for (size_t i = 0; i < m->n_subs; i++) {
		struct mq_sub *s = &m->subs[i];
		mosquitto_property *sp = NULL;
		int src;
		if (m->v5) {
			/* the subscription identifier maps a message back to its routes;
			 * retained messages only for a new subscription, not at every
			 * reconnect */
			mosquitto_property_add_varint(&sp, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
						      (uint32_t)(i + 1));
			src = mosquitto_subscribe_v5(mosq, NULL, s->filter, s->qos,
						     MQTT_SUB_OPT_SEND_RETAIN_NEW, sp);
			mosquitto_property_free_all(&sp);
		} else {
			src = mosquitto_subscribe(mosq, NULL, s->filter, s->qos);
		}
		if (src != MOSQ_ERR_SUCCESS)
			spur_log(m->host, SPUR_LOG_ERROR, "mqtt: cannot subscribe to %s: %s",
				 s->filter, mosquitto_strerror(src));
	}
	pthread_mutex_lock(&m->lock);
	m->connected = true;
	spur_gauge_set(m->g_connected, 1);
	m->session_up = true;
	m->failures = 0;
	m->last_error = 0;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	spur_host_set_ready(m->host, m, true, NULL);
	spur_log(m->host, SPUR_LOG_INFO, "mqtt: connected to %s:%d as %s (MQTT %s, session %s, %zu subscription(s))",
		 m->host_name, m->port, m->opt->client_id, m->v5 ? "5" : "3.1.1",
		 (flags & 1) ? "resumed" : "new", m->n_subs);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
			  const mosquitto_property *props)
{
	struct mq *m = obj;
	bool was, stopping;
	pthread_mutex_lock(&m->lock);
	was = m->connected;
	stopping = m->stopping;
	m->connected = false;
	spur_gauge_set(m->g_connected, 0);
	m->generation++;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	spur_host_set_ready(m->host, m, false, "mqtt broker not connected");
	if (was && !stopping)
		spur_log(m->host, SPUR_LOG_WARN, "mqtt: lost the connection to %s:%d (%s); reconnecting",
			 m->host_name, m->port, m->v5 && rc >= 0x80 && rc < 256 ?
			 mosquitto_reason_string(rc) : mosquitto_strerror(rc));
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted,
			 const mosquitto_property *props)
{
	struct mq *m = obj;
	for (int i = 0; i < n; i++)
		if (granted[i] >= 0x80)
			spur_log(m->host, SPUR_LOG_ERROR,
				 "mqtt: the broker refused a subscription: %s (check its ACL)",
				 mosquitto_reason_string(granted[i]));
}

static bool is_stopping(struct mq *m)
{
	pthread_mutex_lock(&m->lock);
	bool s = m->stopping;
	pthread_mutex_unlock(&m->lock);
	return s;
}

static int connect_once(struct mq *m)
{
	mosquitto_property *props = NULL;
	int keepalive = (int)(m->opt->keepalive_ms / 1000);
	int rc;

	if (!m->v5)
		return mosquitto_connect_bind(m->mosq, m->host_name, m->port, keepalive, NULL);
	uint64_t maxpkt = m->opt->max_payload + MQ_PACKET_SLACK;
	if (maxpkt > 268435455)
		maxpkt = 268435455;
	mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
				     (uint32_t)(m->opt->session_expiry_ms / 1000));
	mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, (uint32_t)maxpkt);
	rc = mosquitto_connect_bind_v5(m->mosq, m->host_name, m->port, keepalive, NULL, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/* Sleep before the next attempt: full jitter, floored; false when stopping. */
static bool backoff_wait(struct mq *m)
{
	int64_t cap = m->opt->reconnect_min_ms;
	uint64_t r = 0;
	struct timespec ts;
	unsigned n;

	pthread_mutex_lock(&m->lock);
	n = m->failures;
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < n && cap < m->opt->reconnect_max_ms; i++)
		cap *= 2;
	if (cap > m->opt->reconnect_max_ms)
		cap = m->opt->reconnect_max_ms;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)spur_now_ns();
	int64_t delay = (int64_t)(r % (uint64_t)(cap + 1));
	if (delay < m->opt->reconnect_min_ms)
		delay = m->opt->reconnect_min_ms;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += delay / 1000;
	ts.tv_nsec += (delay % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	while (!m->stopping && pthread_cond_timedwait(&m->cond, &m->lock, &ts) != ETIMEDOUT)
		;
	bool go = !m->stopping;
	pthread_mutex_unlock(&m->lock);
	return go;
}

/* Read every packet the socket has (each PUBLISH runs the message
 * callback, which hands its stores to the submitters), up to a bound. */
static int read_burst(struct mq *m)
{
	int one = 1;
	for (int i = 0; i < MQ_READ_BURST; i++) {
		int rc = mosquitto_loop_read(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return rc;
		struct pollfd p = { .fd = mosquitto_socket(m->mosq), .events = POLLIN };
		if (m->outstanding >= MQ_MAX_OUTSTANDING || p.fd < 0 || poll(&p, 1, 0) <= 0)
			break;
	}
	/* ACK at once (Linux clears this after a while): a broker without
	 * TCP_NODELAY (mosquitto's default) holds its next small packets, the
	 * PUBACKs a destination flush waits for, until our delayed ACK */
	int fd = mosquitto_socket(m->mosq);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	return MOSQ_ERR_SUCCESS;
}

/* One connection, until it ends (an error) or spur stops. libmosquitto
 * only queues packets (threaded mode); mosquitto_loop_write() is the only
 * call that puts them on the wire, and it runs only while no message
 * handed to the submitters is waiting for its commit, so no PUBACK leaves
 * before the commit that holds its event. While some are waiting and
 * packets are queued, the socket is not read either: what arrives
 * meanwhile is read in one burst afterwards and shares the next commit. */
static int run_connection(struct mq *m)
{
	int rc = MOSQ_ERR_SUCCESS;
	while (!is_stopping(m)) {
		int fd = mosquitto_socket(m->mosq);
		if (fd < 0)
			return MOSQ_ERR_NO_CONN;
		spur_mqtt_collect(m);
		bool clear = m->outstanding == 0;
		if (clear && mosquitto_want_write(m->mosq) &&
		    (rc = mosquitto_loop_write(m->mosq, 1)) != MOSQ_ERR_SUCCESS)
			return rc;
		bool want_write = mosquitto_want_write(m->mosq);
		bool may_read = clear || (!want_write && m->outstanding < MQ_MAX_OUTSTANDING);
		struct pollfd p[2] = {
			{ .fd = fd, .events = (short)((may_read ? POLLIN : 0) |
						      (clear && want_write ? POLLOUT : 0)) },
			{ .fd = m->wake_fd, .events = POLLIN },
		};
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			return MOSQ_ERR_ERRNO;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    (rc = read_burst(m)) != MOSQ_ERR_SUCCESS)
			return rc;
		if ((rc = mosquitto_loop_misc(m->mosq)) != MOSQ_ERR_SUCCESS)
			return rc;
	}
	return rc;
}

/* Stopping: once every message handed over is collected, write the
 * queued PUBACKs and a DISCONNECT; else write nothing (the broker
 * redelivers what was not acknowledged). */
static void goodbye(struct mq *m)
{
	if (!spur_mqtt_drain(m)) {
		int fd = mosquitto_socket(m->mosq);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		return;
	}
	mosquitto_disconnect(m->mosq);
	for (int i = 0; i < 20 && mosquitto_want_write(m->mosq); i++) {
		struct pollfd p = { .fd = mosquitto_socket(m->mosq), .events = POLLOUT };
		if (p.fd < 0 || poll(&p, 1, 50) < 0 ||
		    mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
			break;
	}
}

static void *net_main(void *arg)
{
	struct mq *m = arg;
	char what[256];

	while (!is_stopping(m)) {
		pthread_mutex_lock(&m->lock);
		m->session_up = false;
		pthread_mutex_unlock(&m->lock);
		int rc = connect_once(m);
		if (rc == MOSQ_ERR_SUCCESS) {
			rc = run_connection(m);
			if (is_stopping(m))
				break;
			if (rc != MOSQ_ERR_CONN_REFUSED) {	/* refusals were logged by on_connect */
				pthread_mutex_lock(&m->lock);
				bool counted = m->session_up;
				pthread_mutex_unlock(&m->lock);
				if (!counted) {
					snprintf(what, sizeof(what), "%s", mosquitto_strerror(rc));
					log_failure(m, rc, what);
				}
			}
		} else {
			snprintf(what, sizeof(what), "cannot connect: %s",
				 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
			log_failure(m, rc == MOSQ_ERR_ERRNO ? -errno : rc, what);
		}
		on_disconnect(m->mosq, m, 0, NULL);	/* idempotent: readiness and waiters */
		/* every message of this connection collected before the next one,
		 * so that their redeliveries meet the de-dup ring */
		if (!spur_mqtt_drain(m) || !backoff_wait(m))
			break;
	}
	/* stopping: say goodbye (the session stays at the broker) */
	goodbye(m);
	return NULL;
}

/* --- life cycle --------------------------------------------------------- */

static void mq_fini(void *instance);

static int build_subs(struct mq *m)
{
	size_t n = spur_host_route_count(m->host);
	m->subs = calloc(n ? n : 1, sizeof(*m->subs));
	if (!m->subs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct spur_route *r = spur_host_route(m->host, i);
		const char *match = spur_route_match(r), *share, *qos;
		char *filter;
		struct mq_sub *s = NULL;

		if (strcmp(spur_route_kind(r), "mqtt") != 0)
			continue;
		if (!m->v5 && spur_route_mode(r) == SPUR_MODE_SYNC)
			spur_log(m->host, SPUR_LOG_WARN,
				 "mqtt: route at line %d is sync (request/response), which needs MQTT 5; "
				 "with protocol 3.1.1 its results are not published",
				 spur_route_line(r));
		share = spur_route_option(r, "share");
		qos = spur_route_option(r, "qos");
		if (share && (!*share || strpbrk(share, "/+#"))) {
			spur_log(m->host, SPUR_LOG_ERROR,
				 "%s:%d: share: '%s' is not a group name (no '/', '+' or '#')",
				 spur_config_file(m->host), spur_route_line(r), share);
			return -EINVAL;
		}
		if (share ? asprintf(&filter, "$share/%s/%s", share, match) < 0 :
			    !(filter = strdup(match)))
			return -ENOMEM;
		for (size_t j = 0; j < m->n_subs; j++)
			if (strcmp(m->subs[j].filter, filter) == 0)
				s = &m->subs[j];
		if (s) {
			free(filter);
			spur_log(m->host, SPUR_LOG_INFO,
				 "mqtt: routes share the subscription %s; each runs once per message",
				 s->filter);
		} else {
			s = &m->subs[m->n_subs++];
			s->filter = filter;
			s->match = match;
			s->qos = qos ? atoi(qos) : 1;
		}
		const struct spur_route **rs = realloc(s->routes, (s->n_routes + 1) * sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		s->routes = rs;
		s->routes[s->n_routes++] = r;
		if (qos && atoi(qos) > s->qos)
			s->qos = atoi(qos);
	}
	for (size_t i = 0; i < m->n_subs; i++)
		for (size_t j = i + 1; j < m->n_subs; j++)
			if (spur_mqtt_filters_overlap(m->subs[i].match, m->subs[j].match))
				spur_log(m->host, SPUR_LOG_WARN,
					 "mqtt: topic filters %s and %s overlap: a message matching both "
					 "runs each route once", m->subs[i].filter, m->subs[j].filter);
	return 0;
}

static int mq_init(struct spur_host *host, const void *options, void **instance)
{
	const struct mq_options *o = options;
	struct mq *m = calloc(1, sizeof(*m));
	char *ca = NULL, *cert = NULL, *key = NULL;
	pthread_condattr_t ca_attr;
	int rc = -ENOMEM;

	if (!m)
		return -ENOMEM;
	m->host = host;
	m->opt = o;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca_attr);
	pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca_attr);
	pthread_cond_init(&m->jobs_cond, NULL);
	pthread_condattr_destroy(&ca_attr);
	pthread_mutex_init(&m->store_lock, NULL);
	pthread_cond_init(&m->store_cond, NULL);
	m->wake_fd = -1;
	*instance = m;
	if (!o->url) {
		size_t n = spur_host_route_count(host);
		for (size_t i = 0; i < n; i++)
			if (strcmp(spur_route_kind(spur_host_route(host, i)), "mqtt") == 0) {
				spur_log(host, SPUR_LOG_WARN,
					 "mqtt: the route at line %d is ignored: there is no mqtt: section "
					 "(mqtt: { url: mqtt://HOST:PORT })",
					 spur_route_line(spur_host_route(host, i)));
			}
		return 0;	/* idle: no broker, always ready */
	}
	m->v5 = o->protocol == 0;
	if (parse_url(m, o->url) < 0) {
		spur_log(host, SPUR_LOG_ERROR,
			 "mqtt.url: '%s' is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", o->url);
		rc = -EINVAL;
		goto fail;
	}
	if (o->password_env) {
		const char *pw = getenv(o->password_env);
		if (!pw) {
			spur_log(host, SPUR_LOG_ERROR, "mqtt.password_env: the variable %s is not set",
				 o->password_env);
			rc = -EINVAL;
			goto fail;
		}
		if (!(m->password = strdup(pw)))
			goto fail;
	}
	if (m->password && !o->username) {
		spur_log(host, SPUR_LOG_ERROR, "mqtt: password_env needs a username");
		rc = -EINVAL;
		goto fail;
	}
	if (!o->cert_file != !o->key_file) {
		spur_log(host, SPUR_LOG_ERROR, "mqtt: cert_file and key_file go together");
		rc = -EINVAL;
		goto fail;
	}
	if (o->reconnect_max_ms < o->reconnect_min_ms) {
		spur_log(host, SPUR_LOG_ERROR, "mqtt: reconnect_max is shorter than reconnect_min");
		rc = -EINVAL;
		goto fail;
	}
	mosquitto_lib_init();	/* no lib_cleanup: it would tear down OpenSSL for everyone */
	m->mosq = mosquitto_new(o->client_id, false, m);
	if (!m->mosq) {
		spur_log(host, SPUR_LOG_ERROR, "mqtt: cannot make a client: %s", strerror(errno));
		rc = -errno;
		goto fail;
	}
	mosquitto_threaded_set(m->mosq, true);
	m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	spur_mqtt_metrics_init(m);
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     m->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (m->v5)
		mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, (int)o->receive_maximum);
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (o->username && mosquitto_username_pw_set(m->mosq, o->username, m->password) != 0)
		goto fail;
	if (m->tls || o->ca_file) {
		ca = config_path(m, o->ca_file);
		cert = config_path(m, o->cert_file);
		key = config_path(m, o->key_file);
		if (!ca)
			mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		int trc = mosquitto_tls_set(m->mosq, ca, ca ? NULL : "/etc/ssl/certs", cert, key, NULL);
		if (trc != MOSQ_ERR_SUCCESS) {
			spur_log(host, SPUR_LOG_ERROR, "mqtt: TLS files: %s (ca_file %s, cert_file %s, key_file %s)",
				 trc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(trc),
				 ca ? ca : "-", cert ? cert : "-", key ? key : "-");
			rc = -EINVAL;
			goto fail;
		}
	}
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, spur_mqtt_on_message);
	mosquitto_publish_v5_callback_set(m->mosq, spur_mqtt_on_publish);
	mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
	spur_host_set_ready(host, m, false, "mqtt broker not connected");
	free(ca);
	free(cert);
	free(key);
	return 0;
fail:
	free(ca);
	free(cert);
	free(key);
	mq_fini(m);
	*instance = NULL;
	return rc;
}

static int mq_start(void *instance)
{
	struct mq *m = instance;
	int rc;

	if (!m->mosq)
		return 0;
	if ((rc = build_subs(m)) < 0 || (rc = spur_mqtt_workers_start(m)) < 0)
		return rc;
	if ((rc = pthread_create(&m->net, NULL, net_main, m)) != 0)
		return -rc;
	m->started = true;
	return 0;
}

static void mq_stop(void *instance)
{
	struct mq *m = instance;
	struct timespec ts;

	if (!m->mosq || !m->started)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	spur_mqtt_wake(m);		/* the network thread sees `stopping` */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += MQ_JOIN_MS / 1000;
	if (pthread_timedjoin_np(m->net, NULL, &ts) != 0) {
		/* stuck in a TCP connect to an unreachable host */
		pthread_cancel(m->net);
		pthread_join(m->net, NULL);
	}
	m->started = false;
	spur_mqtt_workers_stop(m);
	spur_log(m->host, SPUR_LOG_INFO,
		 "mqtt: stopped: %lu message(s) received, %lu stored, %lu redelivery(ies) dropped, "
		 "%lu refused, %lu oversized, %lu request(s) answered, %lu record(s) published",
		 atomic_load(&m->n_received), atomic_load(&m->n_stored),
		 atomic_load(&m->n_duplicates), atomic_load(&m->n_rejected),
		 atomic_load(&m->n_oversized), atomic_load(&m->n_requests),
		 atomic_load(&m->n_published));
}

static void mq_fini(void *instance)
{
	struct mq *m = instance;
	if (!m)
		return;
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	for (size_t i = 0; i < m->n_subs; i++) {
		free(m->subs[i].filter);
		free(m->subs[i].routes);
	}
	free(m->subs);
	free(m->pending);
	free(m->password);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	pthread_cond_destroy(&m->cond);
	pthread_cond_destroy(&m->jobs_cond);
	pthread_cond_destroy(&m->store_cond);
	pthread_mutex_destroy(&m->store_lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The keys of an mqtt route beside the core's (read with spur_route_option). */
static const struct spur_option mq_route_options[] = {
	/* Not 2: libmosquitto sends PUBREC before spur sees a QoS 2 message,
	 * so a crash in that window would lose what the broker counts as
	 * delivered. QoS 1 and an idempotency key give exactly-once effects. */
	{ .type = SPUR_OPT_INT, .name = "qos", .def = "1", .min = 0, .max = 1,
	  .description = "the subscription's QoS: 0 or 1 (2 is refused: libmosquitto acknowledges "
			 "a QoS 2 message before spur can store it; use 1 and an idempotency key)" },
	{ .type = SPUR_OPT_STRING, .name = "share",
	  .description = "shared subscription group: $share/<group>/<filter>" },
	{ .type = SPUR_OPT_ENUM, .name = "payload", .def = "any", .choices = "any|json",
	  .description = "json: a payload that is not JSON becomes a failure record" },
	{ .name = NULL },
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "mqtt",
	.version = "0.1.0",
	.description = "MQTT routes (async and MQTT 5 request/response) and the mqtt:// destination (libmosquitto)",
	.roles = SPUR_ROLE_SOURCE | SPUR_ROLE_DESTINATION,
	.options = mq_options_table,
	.options_size = sizeof(struct mq_options),
	.init = mq_init,
	.fini = mq_fini,
	.start = mq_start,
	.stop = mq_stop,
	.destination = &spur_mqtt_destination,
	.route_options = mq_route_options,
};
