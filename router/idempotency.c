/* SPDX-License-Identifier: MIT */
/*
 * idempotency.c - reading idempotency keys (see idempotency.h).
 * Sources: header:NAME (the IETF Idempotency-Key header; a quoted and an
 * unquoted value are the same key), json:/pointer into the payload,
 * mqtt:NAME (an MQTT 5 user property), cloudevents (source + id),
 * webhook (webhook-id, X-GitHub-Delivery, or the Stripe event's id) and
 * payload (the SHA-256 of the body). Called once per invocation that has
 * a key source configured; nothing here allocates except the json:
 * source, which parses the payload.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "idempotency.h"

const struct spur_idem_config *spur_idem_config(const struct spur_fn_config *fn,
						const struct spur_route_config *route)
{
	if (route && route->idem.key)
		return &route->idem;
	if (fn && fn->idem.key)
		return &fn->idem;
	return NULL;
}

void spur_idem_fingerprint(const char *payload, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(payload, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static const struct spur_attr *find_attr(const struct spur_attr *attrs, size_t n, const char *name)
{
	for (size_t i = 0; attrs && i < n; i++)
		if (attrs[i].name && strcasecmp(attrs[i].name, name) == 0)
			return &attrs[i];
	return NULL;
}

/* Check and copy a key; strips one pair of surrounding double quotes. */
static int accept_key(const char *v, size_t len, char *out, char *why, size_t whylen)
{
	if (memchr(v, '\0', len)) {
		snprintf(why, whylen, "the idempotency key contains a NUL byte");
		return -EINVAL;
	}
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (len == 0 || len > SPUR_IDEM_KEY_MAX) {
		snprintf(why, whylen, "the idempotency key must be 1 to %d characters long", SPUR_IDEM_KEY_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c > 0x7e) {
			snprintf(why, whylen, "the idempotency key must be printable ASCII (byte 0x%02x at %zu)",
				 c, i);
			return -EINVAL;
		}
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 1;
}

static int from_attr(const struct spur_attr *attrs, size_t n, const char *name,
		     char *out, char *why, size_t whylen)
{
	const struct spur_attr *a = find_attr(attrs, n, name);
	if (!a || !a->value)
		return 0;
	return accept_key(a->value, a->value_len ? a->value_len : strlen(a->value), out, why, whylen);
}

/* A JSON value as key text: a string as is, a number as written. */
static int from_json(json_t *v, char *out, char *why, size_t whylen)
{
	char num[64];
	if (json_is_string(v))
		return accept_key(json_string_value(v), json_string_length(v), out, why, whylen);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return accept_key(num, strlen(num), out, why, whylen);
	}
	return 0;
}

/* RFC 6901 pointer, with ~0 and ~1 escapes. */
static json_t *pointer(json_t *root, const char *p)
{
	json_t *cur = root;
	if (*p == '\0')
		return root;
	if (*p != '/')
		return NULL;
	while (cur && *p == '/') {
		char tok[256];
		size_t n = 0;
		for (p++; *p && *p != '/' && n < sizeof(tok) - 1; p++) {
			if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
				tok[n++] = p[1] == '0' ? '~' : '/';
				p++;
			} else {
				tok[n++] = *p;
			}
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);
			cur = *tok && !*end ? json_array_get(cur, i) : NULL;
		} else {
			cur = NULL;
		}
	}
	return cur;
}

int spur_idem_key(const struct spur_idem_config *ic, const struct spur_attr *attrs, size_t n,
		  const char *payload, size_t len, char out[SPUR_IDEM_KEY_MAX + 1],
		  char *why, size_t whylen)
{
	const char *src = ic->key;
	if (strncmp(src, "header:", 7) == 0 || strncmp(src, "mqtt:", 5) == 0)
		return from_attr(attrs, n, strchr(src, ':') + 1, out, why, whylen);
	if (strcmp(src, "payload") == 0) {
		spur_idem_fingerprint(payload, len, out);
		return 1;
	}
	if (strcmp(src, "webhook") == 0) {
		int rc = from_attr(attrs, n, "webhook-id", out, why, whylen);
		if (rc == 0)
			rc = from_attr(attrs, n, "x-github-delivery", out, why, whylen);
		if (rc != 0 || !find_attr(attrs, n, "stripe-signature"))
			return rc;
		src = "json:/id";	/* a Stripe event: its id */
	}
	if (strcmp(src, "cloudevents") == 0) {
		const struct spur_attr *s = find_attr(attrs, n, "ce-source");
		const struct spur_attr *i = find_attr(attrs, n, "ce-id");
		char both[2 * SPUR_IDEM_KEY_MAX + 2];
		if (s && i) {
			snprintf(both, sizeof(both), "%s %s", s->value, i->value);
			return accept_key(both, strlen(both), out, why, whylen);
		}
		json_t *j = json_loadb(payload, len, JSON_DECODE_ANY, NULL);
		const char *js = json_string_value(json_object_get(j, "source"));
		const char *ji = json_string_value(json_object_get(j, "id"));
		int rc = 0;
		if (js && ji) {
			snprintf(both, sizeof(both), "%s %s", js, ji);
			rc = accept_key(both, strlen(both), out, why, whylen);
		}
		json_decref(j);
		return rc;
	}
	if (strncmp(src, "json:", 5) == 0) {
		json_t *j = json_loadb(payload, len, JSON_DECODE_ANY, NULL);
		int rc = j ? from_json(pointer(j, src + 5), out, why, whylen) : 0;
		json_decref(j);
		return rc;
	}
	return 0;
}
