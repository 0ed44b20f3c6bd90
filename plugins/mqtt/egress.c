/* SPDX-License-Identifier: MIT */
/*
 * egress.c - the mqtt destination: records out as MQTT messages, on the
 * connection of mqtt.c.
 *
 *   mqtt://TOPIC-TEMPLATE              QoS 1, not retained
 *   destinations: NAME: { type: mqtt, topic: TEMPLATE, qos: 0|1|2, retain: BOOL }
 *
 * A named destination's keys are mq_named_table's, checked by the host
 * when the config is loaded; the template's placeholders and the broker
 * are checked when the destination opens, with its first record.
 *
 * The template may use {function}, {version}, {condition} and
 * {request_id}. A rendered topic that is not a valid topic name (empty,
 * an empty level, '+' or '#', a leading '$', over 65,535 bytes, not UTF-8)
 * makes that record undeliverable (DROP, with the reason); the rest of
 * the batch goes on. Each message carries content type application/json
 * and the user properties function, version and condition (MQTT 5), and
 * traceparent / tracestate when the event came with a trace context.
 *
 * deliver() publishes at once (libmosquitto queues the packet for the
 * network thread) and notes the packet id; flush() waits, at most
 * flush_timeout, until the broker has acknowledged every QoS 1/2 publish
 * of the batch (on_publish). Only then does the outbox delete the records.
 * While the broker is away deliver() answers RETRY and flush() fails, so
 * records wait in the durable outbox and go out after the reconnect. A
 * batch cut by a disconnect is sent again whole (libmosquitto may also
 * resend its own copy after the reconnect): at least once.
 * Threads: deliver/flush on the outbox thread; on_publish on the network
 * thread (which never blocks on a commit, so PUBACKs are seen as they
 * arrive); both under the instance lock. deliver() wakes the network
 * thread to write the publish; that write waits, like every write, for
 * the commits of the messages read before it (mqtt.c, the ack window).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mqtt_protocol.h>

#include "mqtt.h"

struct mq_dest {
	struct mq *m;
	char *tmpl;
	int qos;
	bool retain;
	bool in_batch;
	unsigned generation;		/* of the connection the batch went out on */
	size_t n_failed;		/* publishes of this batch that failed at once */
};

/* A named destination's settings, as the host parses them. */
struct mq_named {
	char *topic;
	int64_t qos;
	bool retain;
};

static const struct spur_option mq_named_table[] = {
	{ .type = SPUR_OPT_STRING, .name = "topic", .offset = offsetof(struct mq_named, topic),
	  .description = "topic template: {function}, {version}, {condition}, {request_id} "
			 "(required)" },
	{ .type = SPUR_OPT_INT, .name = "qos", .def = "1", .offset = offsetof(struct mq_named, qos),
	  .description = "0: at most once; 1, 2: the batch waits for the broker's "
			 "acknowledgements", .min = 0, .max = 2 },
	{ .type = SPUR_OPT_BOOL, .name = "retain", .def = "false",
	  .offset = offsetof(struct mq_named, retain),
	  .description = "publish with the retain flag" },
	{ .name = NULL },
};

static const char *const placeholders[] = { "function", "version", "condition", "request_id" };

/* Check a template's placeholders; 0 or -EINVAL with the reason. */
static int check_template(const char *t, char *err, size_t errlen)
{
	if (!*t) {
		snprintf(err, errlen, "an mqtt destination needs a topic (mqtt://TOPIC or topic: TOPIC)");
		return -EINVAL;
	}
	for (const char *p = t; (p = strchr(p, '{')); ) {
		const char *e = strchr(p, '}');
		bool known = false;
		if (!e) {
			snprintf(err, errlen, "mqtt topic template '%s': '{' without '}'", t);
			return -EINVAL;
		}
		for (size_t i = 0; i < sizeof(placeholders) / sizeof(*placeholders); i++)
			if ((size_t)(e - p - 1) == strlen(placeholders[i]) &&
			    strncmp(p + 1, placeholders[i], (size_t)(e - p - 1)) == 0)
				known = true;
		if (!known) {
			snprintf(err, errlen, "mqtt topic template '%s': unknown placeholder %.*s "
				 "(use {function}, {version}, {condition}, {request_id})",
				 t, (int)(e - p + 1), p);
			return -EINVAL;
		}
		p = e + 1;
	}
	return 0;
}

/* The topic for one record, or NULL with the reason. Caller frees. */
static char *render(const char *t, const struct spur_record_meta *meta, char *why, size_t whylen)
{
	size_t cap = strlen(t) + 256, len = 0;
	char *out = malloc(cap);
	if (!out) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	for (const char *p = t; *p; ) {
		const char *v = NULL;
		size_t skip = 1;
		if (*p == '{') {
			const char *e = strchr(p, '}');
			size_t n = (size_t)(e - p - 1);
			skip = n + 2;
			v = n == 8 && !strncmp(p + 1, "function", 8) ? meta->function :
			    n == 7 && !strncmp(p + 1, "version", 7) ? meta->version :
			    n == 9 && !strncmp(p + 1, "condition", 9) ? meta->condition :
			    meta->request_id;
			if (!v)
				v = "";
		}
		size_t add = v ? strlen(v) : 1;
		if (len + add + 1 > cap) {
			cap = 2 * (len + add + 1);
			char *o = realloc(out, cap);
			if (!o) {
				free(out);
				snprintf(why, whylen, "out of memory");
				return NULL;
			}
			out = o;
		}
		memcpy(out + len, v ? v : p, add);
		len += add;
		p += skip;
	}
	out[len] = '\0';

	const char *bad = NULL;
	if (len == 0)
		bad = "it is empty";
	else if (len > 65535)
		bad = "it is longer than 65,535 bytes";
	else if (strpbrk(out, "+#"))
		bad = "it contains a wildcard ('+' or '#')";
	else if (out[0] == '$')
		bad = "it starts with '$' (reserved for the broker)";
	else if (out[0] == '/' || out[len - 1] == '/' || strstr(out, "//"))
		bad = "it has an empty level";
	else if (!spur_utf8_valid(out, len))
		bad = "it is not UTF-8";
	if (bad) {
		snprintf(why, whylen, "topic template '%s' rendered '%.200s', which is not a valid "
			 "topic name: %s", t, out, bad);
		free(out);
		return NULL;
	}
	return out;
}

static void mq_close(void *dest);

/* A destination publishing to template `tmpl` (copied); 0 or -errno. */
static int dest_open(struct mq *m, const char *tmpl, int qos, bool retain, void **dest,
		     char *err, size_t errlen)
{
	struct mq_dest *d = NULL;
	int rc = -EINVAL;

	if (!m->mosq) {
		snprintf(err, errlen, "mqtt destinations need a broker: add an mqtt: section "
			 "(mqtt: { url: mqtt://HOST:PORT })");
		goto fail;
	}
	if ((rc = check_template(tmpl, err, errlen)) < 0)
		goto fail;
	rc = -ENOMEM;
	if (!(d = calloc(1, sizeof(*d))))
		goto oom;
	d->m = m;
	d->qos = qos;
	d->retain = retain;
	if (!(d->tmpl = strdup(tmpl)))
		goto oom;
	*dest = d;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	mq_close(d);
	return rc;
}

/* mqtt://TOPIC-TEMPLATE: QoS 1, not retained (named destinations come
 * through mq_open_named(), so `options` is always NULL here). */
static int mq_open(void *instance, const char *target, const char *options, void **dest,
		   char *err, size_t errlen)
{
	return dest_open(instance, target, 1, false, dest, err, errlen);
}

/* destinations: { NAME: { type: mqtt, topic, qos, retain } }, parsed by
 * the host with mq_named_table (its strings are borrowed for the call). */
static int mq_open_named(void *instance, const char *name, const void *options, void **dest,
			 char *err, size_t errlen)
{
	const struct mq_named *s = options;

	if (!s->topic) {
		snprintf(err, errlen, "an mqtt destination needs a topic (topic: TEMPLATE)");
		return -EINVAL;
	}
	return dest_open(instance, s->topic, (int)s->qos, s->retain, dest, err, errlen);
}

static enum spur_deliver mq_deliver(void *dest, const char *record, size_t len,
				    const struct spur_record_meta *meta, char *why, size_t whylen)
{
	struct mq_dest *d = dest;
	struct mq *m = d->m;
	mosquitto_property *props = NULL;
	enum spur_deliver res = SPUR_DELIVER_OK;
	int mid = 0, rc;
	bool queued = false;
	char *topic = render(d->tmpl, meta, why, whylen);

	if (!topic)
		return strstr(why, "out of memory") ? SPUR_DELIVER_RETRY : SPUR_DELIVER_DROP;
	if (m->v5) {
		mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
		mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "function",
						   meta->function ? meta->function : "");
		mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "version",
						   meta->version ? meta->version : "");
		mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "condition",
						   meta->condition ? meta->condition : "");
		if (SPUR_RECORD_META_HAS(meta, tracestate) && meta->traceparent)
			mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
							   "traceparent", meta->traceparent);
		if (SPUR_RECORD_META_HAS(meta, tracestate) && meta->tracestate)
			mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
							   "tracestate", meta->tracestate);
	}
	pthread_mutex_lock(&m->lock);
	if (!m->connected) {
		snprintf(why, whylen, "mqtt broker %s:%d not connected", m->host_name, m->port);
		res = SPUR_DELIVER_RETRY;
		goto out;
	}
	if (!d->in_batch) {
		d->in_batch = true;
		d->generation = m->generation;
		d->n_failed = 0;
	}
	if (d->qos > 0 && m->n_pending == m->cap_pending) {
		size_t cap = m->cap_pending ? 2 * m->cap_pending : 64;
		struct mq_pending *p = realloc(m->pending, cap * sizeof(*p));
		if (!p) {
			snprintf(why, whylen, "out of memory");
			res = SPUR_DELIVER_RETRY;
			goto out;
		}
		m->pending = p;
		m->cap_pending = cap;
	}
	/* under the lock, so that on_publish cannot see the PUBACK before the
	 * packet id is noted */
	rc = mosquitto_publish_v5(m->mosq, &mid, topic, (int)len, record, d->qos, d->retain, props);
	if (rc == MOSQ_ERR_SUCCESS) {
		queued = true;
		if (d->qos > 0)
			m->pending[m->n_pending++] = (struct mq_pending){ .mid = mid, .owner = d };
	} else if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET) {
		snprintf(why, whylen, "record of %zu bytes is over the broker's maximum packet size", len);
		res = SPUR_DELIVER_DROP;
	} else {
		snprintf(why, whylen, "mqtt publish to %s: %s", topic, mosquitto_strerror(rc));
		res = SPUR_DELIVER_RETRY;
	}
out:
	pthread_mutex_unlock(&m->lock);
	if (queued)
		spur_mqtt_wake(m);	/* the network thread writes it */
	mosquitto_property_free_all(&props);
	free(topic);
	return res;
}

void spur_mqtt_on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
			const mosquitto_property *props)
{
	struct mq *m = obj;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_pending; i++) {
		if (m->pending[i].mid == mid && !m->pending[i].done) {
			m->pending[i].done = true;
			m->pending[i].rc = reason;
			pthread_cond_broadcast(&m->cond);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* Forget this destination's publishes; how many were acknowledged, failed. */
static void settle(struct mq *m, struct mq_dest *d, size_t *acked, size_t *failed)
{
	size_t o = 0;
	for (size_t i = 0; i < m->n_pending; i++) {
		if (m->pending[i].owner != d) {
			m->pending[o++] = m->pending[i];
			continue;
		}
		if (m->pending[i].done && m->pending[i].rc < 0x80)
			(*acked)++;
		else
			(*failed)++;
	}
	m->n_pending = o;
}

static bool all_done(struct mq *m, struct mq_dest *d)
{
	for (size_t i = 0; i < m->n_pending; i++)
		if (m->pending[i].owner == d && !m->pending[i].done)
			return false;
	return true;
}

static int mq_flush(void *dest)
{
	struct mq_dest *d = dest;
	struct mq *m = d->m;
	struct timespec ts;
	size_t acked = 0, failed = 0;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += m->opt->flush_timeout_ms / 1000;
	ts.tv_nsec += (m->opt->flush_timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	if (!d->in_batch) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	while (!all_done(m, d) && m->generation == d->generation && !m->stopping)
		if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) == ETIMEDOUT)
			break;
	bool cut = m->generation != d->generation;
	settle(m, d, &acked, &failed);
	d->in_batch = false;
	pthread_mutex_unlock(&m->lock);
	atomic_fetch_add(&m->n_published, acked);
	spur_counter_add(m->c_out, acked);
	if (failed) {
		rc = cut ? -ENOTCONN : -ETIMEDOUT;
		spur_log(m->host, SPUR_LOG_WARN,
			 "mqtt: %zu of %zu record(s) to %s not acknowledged by the broker (%s); "
			 "the batch is sent again", failed, acked + failed, d->tmpl,
			 cut ? "connection lost" : "refused or timed out");
	}
	return rc;
}

static void mq_close(void *dest)
{
	struct mq_dest *d = dest;
	size_t a = 0, f = 0;
	if (!d)
		return;
	pthread_mutex_lock(&d->m->lock);
	settle(d->m, d, &a, &f);
	pthread_mutex_unlock(&d->m->lock);
	free(d->tmpl);
	free(d);
}

const struct spur_destination spur_mqtt_destination = {
	.struct_size = sizeof(struct spur_destination),
	.scheme = "mqtt",
	.open = mq_open,
	.deliver = mq_deliver,
	.flush = mq_flush,
	.close = mq_close,
	.options = mq_named_table,
	.options_size = sizeof(struct mq_named),
	.open_named = mq_open_named,
};
