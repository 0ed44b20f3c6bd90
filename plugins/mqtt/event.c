/* SPDX-License-Identifier: MIT */
/*
 * event.c - what a message says: its properties, the handler's event
 * (SPEC §4.4) built from them, and the redelivery digest and ring; plus
 * the small helpers the plugin shares (UTF-8, base64, filter overlap).
 * Used by ingress.c on the network thread.
 *
 * The event: {topic, payload, qos, retain, properties: {contentType,
 * userProperties, responseTopic, correlationData, messageExpiry}}. The
 * payload is the decoded value when it is JSON, else a string; bytes that
 * are not UTF-8 are given as base64 with "payloadEncoding": "base64".
 * correlationData is base64. userProperties is an object; a name that
 * repeats gets an array of its values. User properties are also passed as
 * invoke attributes, so the idempotency source mqtt:NAME reads them.
 *
 * Redeliveries. libmosquitto 2.0.11 does not tell the callback the DUP
 * flag, so a redelivery is recognised by what the broker must keep
 * identical when it resends a QoS 1/2 message: its packet identifier and
 * its content. After an event is stored, a 64-bit digest of (packet id,
 * topic, payload, correlation data, response topic, content type, user
 * properties) is remembered in a ring of MQ_DEDUP_SLOTS entries for
 * MQ_DEDUP_TTL_MS; a message whose digest is there is dropped and counted.
 * A new message can only collide if the broker has cycled through its
 * 65,535 packet identifiers within the ring (4,096 messages) and repeats
 * the content exactly, which it cannot: identifiers are handed out in
 * order. The ring lives in memory: a message stored just before a crash
 * whose PUBACK was not yet written comes again after the restart and runs
 * again (at least once; an idempotency key, e.g. mqtt:NAME, makes that
 * once). A digest is remembered when the message comes back stored, and
 * every message of a connection has come back before the next connection
 * starts (spur_mqtt_drain), so a redelivery always meets it. Runs on the
 * network thread only; no lock.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <mqtt_protocol.h>

#include "mqtt.h"

/* --- small helpers ------------------------------------------------------- */


char *spur_mqtt_base64(const void *data, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Could one topic match both filters? Level by level: + matches a level,
 * # the rest. */
bool spur_mqtt_filters_overlap(const char *a, const char *b)
{
	for (;;) {
		size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
		if ((na == 1 && *a == '#') || (nb == 1 && *b == '#'))
			return true;
		if (!((na == 1 && *a == '+') || (nb == 1 && *b == '+') ||
		      (na == nb && memcmp(a, b, na) == 0)))
			return false;
		a += na;
		b += nb;
		if (!*a || !*b)
			return !*a && !*b;
		a++;
		b++;
	}
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	/* length-delimit every field so that ("ab","c") != ("a","bc") */
	for (int i = 0; i < 8; i++) {
		h ^= (n >> (i * 8)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int64_t now_ms(void)
{
	return spur_now_ns() / 1000000;
}

bool spur_mqtt_dedup_seen(struct mq *m, uint64_t d)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < MQ_DEDUP_SLOTS; i++) {
		struct mq_dedup_slot *s = &m->dedup[(d + i) % MQ_DEDUP_SLOTS];
		if (s->digest == 0)
			return false;
		if (s->digest == d && now - s->at_ms < MQ_DEDUP_TTL_MS)
			return true;
		if (i >= 8)
			return false;	/* short probe: the ring is a cache, not a set */
	}
	return false;
}

void spur_mqtt_dedup_remember(struct mq *m, uint64_t d)
{
	int64_t now = now_ms();
	struct mq_dedup_slot *best = NULL;
	for (size_t i = 0; i < 8; i++) {
		struct mq_dedup_slot *s = &m->dedup[(d + i) % MQ_DEDUP_SLOTS];
		if (s->digest == 0 || s->digest == d || now - s->at_ms >= MQ_DEDUP_TTL_MS) {
			best = s;
			break;
		}
		if (!best || s->at_ms < best->at_ms)
			best = s;
	}
	best->digest = d ? d : 1;
	best->at_ms = now;
}

/* --- what the message says -------------------------------------------- */


void spur_mqtt_in_fini(struct mq_in *in)
{
	free(in->content_type);
	free(in->response_topic);
	free(in->corr);
	for (size_t i = 0; i < 2 * in->n_attrs; i++)
		free(in->attr_strs[i]);
	free(in->attr_strs);
	free(in->attrs);
	json_decref(in->payload);
	free(in->event);
}

int spur_mqtt_read_props(struct mq_in *in)
{
	const mosquitto_property *p;
	size_t cap = 0;

	mosquitto_property_read_string(in->props, MQTT_PROP_CONTENT_TYPE, &in->content_type, false);
	mosquitto_property_read_string(in->props, MQTT_PROP_RESPONSE_TOPIC, &in->response_topic, false);
	mosquitto_property_read_binary(in->props, MQTT_PROP_CORRELATION_DATA, &in->corr,
				       &in->corr_len, false);
	in->has_expiry = mosquitto_property_read_int32(in->props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
						       &in->expiry, false) != NULL;
	for (p = in->props; p; ) {
		char *name = NULL, *value = NULL;
		p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value,
							p != in->props);
		if (!p)
			break;
		if (in->n_attrs == cap) {
			cap = cap ? 2 * cap : 4;
			struct spur_attr *a = realloc(in->attrs, cap * sizeof(*a));
			char **s = a ? realloc(in->attr_strs, 2 * cap * sizeof(*s)) : NULL;
			if (a)
				in->attrs = a;
			if (!s) {
				free(name);
				free(value);
				return -ENOMEM;
			}
			in->attr_strs = s;
		}
		in->attr_strs[2 * in->n_attrs] = name;
		in->attr_strs[2 * in->n_attrs + 1] = value;
		in->attrs[in->n_attrs] = (struct spur_attr){
			.name = name, .value = value, .value_len = strlen(value),
		};
		in->n_attrs++;
	}
	return 0;
}

static json_t *str_or_empty(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_string("");
}

int spur_mqtt_build_event(struct mq *m, struct mq_in *in)
{
	const struct mosquitto_message *msg = in->msg;
	json_t *ev = json_object(), *props = json_object(), *up = json_object();
	int rc = -ENOMEM;

	if (!ev || !props || !up)
		goto out;
	json_object_set_new(ev, "topic", str_or_empty(msg->topic));
	in->utf8 = spur_utf8_valid(msg->payload, (size_t)msg->payloadlen);
	if (in->utf8 && msg->payloadlen > 0)
		in->payload = json_loadb(msg->payload, (size_t)msg->payloadlen,
					 JSON_DECODE_ANY, NULL);
	if (in->payload) {
		json_object_set(ev, "payload", in->payload);
	} else if (in->utf8) {
		json_t *s = json_stringn(msg->payload ? msg->payload : "", (size_t)msg->payloadlen);
		if (!s) {	/* a NUL inside: keep it exact */
			in->utf8 = false;
		} else {
			json_object_set_new(ev, "payload", s);
		}
	}
	if (!in->utf8) {
		char *b = spur_mqtt_base64(msg->payload, (size_t)msg->payloadlen);
		if (!b)
			goto out;
		json_object_set_new(ev, "payload", json_string(b));
		json_object_set_new(ev, "payloadEncoding", json_string("base64"));
		free(b);
	}
	json_object_set_new(ev, "qos", json_integer(msg->qos));
	json_object_set_new(ev, "retain", json_boolean(msg->retain));
	if (in->content_type)
		json_object_set_new(props, "contentType", str_or_empty(in->content_type));
	for (size_t i = 0; i < in->n_attrs; i++) {
		const char *k = in->attrs[i].name;
		json_t *v = str_or_empty(in->attrs[i].value), *old = json_object_get(up, k);
		if (!old) {
			json_object_set_new(up, k, v);
		} else if (json_is_array(old)) {
			json_array_append_new(old, v);
		} else {
			json_t *a = json_array();
			json_array_append(a, old);
			json_array_append_new(a, v);
			json_object_set_new(up, k, a);
		}
	}
	json_object_set(props, "userProperties", up);
	if (in->response_topic)
		json_object_set_new(props, "responseTopic", str_or_empty(in->response_topic));
	if (in->corr) {
		char *b = spur_mqtt_base64(in->corr, in->corr_len);
		if (!b)
			goto out;
		json_object_set_new(props, "correlationData", json_string(b));
		free(b);
	}
	if (in->has_expiry)
		json_object_set_new(props, "messageExpiry", json_integer(in->expiry));
	json_object_set(ev, "properties", props);
	in->event = json_dumps(ev, JSON_COMPACT);
	if (!in->event)
		goto out;
	in->event_len = strlen(in->event);
	rc = 0;
out:
	json_decref(up);
	json_decref(props);
	json_decref(ev);
	return rc;
}

uint64_t spur_mqtt_digest(const struct mq_in *in)
{
	const struct mosquitto_message *msg = in->msg;
	uint64_t h = 0xcbf29ce484222325ULL;
	uint16_t mid = (uint16_t)msg->mid;
	h = fnv(h, &mid, sizeof(mid));
	h = fnv(h, msg->topic, strlen(msg->topic));
	h = fnv(h, msg->payload, (size_t)msg->payloadlen);
	h = fnv(h, in->corr, in->corr ? in->corr_len : 0);
	h = fnv(h, in->response_topic, in->response_topic ? strlen(in->response_topic) : 0);
	h = fnv(h, in->content_type, in->content_type ? strlen(in->content_type) : 0);
	for (size_t i = 0; i < in->n_attrs; i++) {
		h = fnv(h, in->attrs[i].name, strlen(in->attrs[i].name));
		h = fnv(h, in->attrs[i].value, in->attrs[i].value_len);
	}
	return h;
}
