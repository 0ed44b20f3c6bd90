/* SPDX-License-Identifier: MIT */
/*
 * idempotency.c - idempotency keys (SPEC §5; the stored states are in
 * idempotency.h): reading a call's key, and the keyed flows of
 * spur_invoke().
 * Sources: header:NAME (the IETF Idempotency-Key header; a quoted and an
 * unquoted value are the same key), json:/pointer into the payload,
 * mqtt:NAME (an MQTT 5 user property), cloudevents (source + id),
 * webhook (webhook-id, X-GitHub-Delivery, or the Stripe event's id) and
 * payload (the SHA-256 of the body). Reading allocates nothing except for
 * the json: source, which parses the payload.
 * Flows: a sync call holds its key in the store while it runs (through
 * spur_exec_run()) and keeps a success's answer; an async event is
 * stored with its key in one atomic batch; a key met again is replayed,
 * or answered 409/422. Runs on the caller's thread; one store write
 * before and one after a keyed sync run.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "async.h"
#include "function.h"
#include "intake_priv.h"
#include "idempotency.h"
#include "run.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

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

/* --- the keyed flows of spur_invoke() ------------------------------------ */

/* A key's stored value met again: replay, 409 or 422 (SPEC §5's table). */
static struct spur_result *existing(struct spur_result *r, const struct spur_idem *id,
				    const struct spur_store_conflict *c, bool async)
{
	json_t *v = c->value ? json_loadb(c->value, c->value_len, 0, NULL) : NULL;
	const char *state = json_string_value(json_object_get(v, "state"));
	const char *fp = json_string_value(json_object_get(v, "fp"));
	const char *event = json_string_value(json_object_get(v, "event"));
	json_t *body = json_object_get(v, "body");
	if (fp && strcmp(fp, id->fp) != 0) {
		spur_result_fail(r, SPUR_STATUS_MISMATCH, "IdempotencyKeyMismatch",
				 "this idempotency key was used with a different payload");
	} else if (async && event) {
		spur_counter_add(id->replays, 1);
		spur_result_set_request_id(r, event);
		spur_result_set_status(r, SPUR_STATUS_ACCEPTED);
		spur_result_set_replayed(r);
	} else if (!async && state && strcmp(state, "done") == 0 && body) {
		char *dump = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		spur_result_set_body(r, dump, dump ? strlen(dump) : 0);
		spur_result_set_status(r, dump ? SPUR_STATUS_OK : SPUR_STATUS_INTERNAL);
		spur_result_set_replayed(r);
		spur_counter_add(id->replays, 1);
	} else {
		spur_result_fail(r, SPUR_STATUS_CONFLICT, "IdempotencyKeyInProgress",
				 "a request with this idempotency key is still being processed");
	}
	json_decref(v);
	return r;
}

static int idem_apply(struct spur_intake *in, struct spur_store_op *op, size_t n,
		      struct spur_store_conflict *c)
{
	const struct spur_store *st = in->store;
	return st ? st->apply(in->store_instance, op, n, c) : -ENOTSUP;
}

void spur_idem_run(struct spur_intake *in, struct spur_fn *fn, struct spur_function *ver,
		   const char *qual, size_t qual_len, const char *payload, size_t len,
		   const struct spur_idem *id, bool log_tail, const struct spur_trace *trace,
		   struct spur_result *r)
{
	const struct spur_fn_config *c = spur_function_config(ver);
	char running[128];
	snprintf(running, sizeof(running), "{\"state\":\"running\",\"fp\":\"%s\"}", id->fp);
	struct spur_store_op op = {
		.kind = SPUR_STORE_KEY_CREATE, .ns = SPUR_IDEM_NS, .key = id->scoped,
		.value = running, .value_len = strlen(running),
		.expires_ms = spur_store_now_ms() + c->timeout_ms + c->init_timeout_ms,
	};
	struct spur_store_conflict conflict = { 0 };
	int rc = idem_apply(in, &op, 1, &conflict);
	if (rc == -EEXIST) {
		existing(r, id, &conflict, false);
		free(conflict.value);
		return;
	}
	if (rc < 0) {
		spur_result_set_retry_after(r, 1);
		spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
				 "idempotency keys cannot be stored now: %s", spur_strerror(rc));
		return;
	}
	spur_exec_run(in->env.exec, fn, ver, qual, qual_len, payload, len, 1, log_tail, trace, r);
	struct spur_buf done;
	spur_buf_init(&done);
	if (spur_result_status(r) == SPUR_STATUS_OK && !spur_result_function_error(r)) {
		const char *version = spur_result_executed_version(r);
		size_t body_len;
		const char *body = spur_result_body(r, &body_len);
		spur_buf_printf(&done, "{\"state\":\"done\",\"fp\":\"%s\",\"version\":", id->fp);
		spur_buf_json_string(&done, version, strlen(version));
		spur_buf_puts(&done, ",\"body\":");
		spur_buf_append(&done, body, body_len);
		spur_buf_puts(&done, "}");
		op = (struct spur_store_op){
			.kind = SPUR_STORE_KEY_SET, .ns = SPUR_IDEM_NS, .key = id->scoped,
			.value = done.data, .value_len = done.len,
			.expires_ms = spur_store_now_ms() + id->ttl_ms,
		};
	} else {
		op = (struct spur_store_op){ .kind = SPUR_STORE_KEY_DELETE, .ns = SPUR_IDEM_NS,
					     .key = id->scoped };
	}
	if (done.failed || idem_apply(in, &op, 1, NULL) < 0)
		spur_log_write(in->env.log, SPUR_LOG_WARN, NULL,
			       "idempotency key of %s was not updated; it expires by itself",
			       spur_result_request_id(r));
	spur_buf_fini(&done);
}

struct spur_result *spur_idem_submit(struct spur_intake *in, struct spur_fn *fn,
				     const char *qual, size_t qual_len,
				     const char *payload, size_t len,
				     const struct spur_idem *id, const struct spur_trace *trace,
				     struct spur_result *r)
{
	char accepted[192];
	snprintf(accepted, sizeof(accepted), "{\"state\":\"accepted\",\"fp\":\"%s\",\"event\":\"%s\"}",
		 id->fp, spur_result_request_id(r));
	struct spur_store_op op = {
		.kind = SPUR_STORE_KEY_CREATE, .ns = SPUR_IDEM_NS, .key = id->scoped,
		.value = accepted, .value_len = strlen(accepted),
		.expires_ms = spur_store_now_ms() + id->ttl_ms,
	};
	struct spur_store_conflict conflict = { 0 };
	char why[256];
	int rc = spur_async_submit_traced(in->async, fn, qual, qual_len, payload, len,
					  spur_result_request_id(r), 0,
					  trace->parent[0] ? trace->parent : NULL,
					  trace->state[0] ? trace->state : NULL, &op, &conflict,
					  why, sizeof(why));
	if (rc == -EEXIST) {
		existing(r, id, &conflict, true);
		free(conflict.value);
		return r;
	}
	if (rc == 0) {
		spur_result_set_status(r, SPUR_STATUS_ACCEPTED);
		return r;
	}
	spur_result_set_retry_after(r, 1);
	return spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
				"the event was not stored: %s", why);
}

int spur_idem_prepare(struct spur_intake *in, struct spur_fn *fn,
		      const struct spur_invoke_args *args, const struct spur_route_config *route,
		      const char *payload, size_t len, struct spur_idem *id, struct spur_result *r)
{
	bool has_extras = args->struct_size >= offsetof(struct spur_invoke_args, route) +
						sizeof(args->route);
	bool has_raw = args->struct_size >= offsetof(struct spur_invoke_args, raw_body_len) +
					    sizeof(args->raw_body_len) && args->raw_body;
	if (has_raw) {	/* the body as received, not the envelope around it */
		payload = args->raw_body;
		len = args->raw_body_len;
	}
	const struct spur_idem_config *ic = spur_idem_config(spur_fn_config(fn), route);
	if (!ic)
		return 0;
	char key[SPUR_IDEM_KEY_MAX + 1], why[256];
	int k = spur_idem_key(ic, has_extras ? args->attrs : NULL, has_extras ? args->n_attrs : 0,
			      payload, len, key, why, sizeof(why));
	if (k < 0) {
		spur_result_fail(r, SPUR_STATUS_BAD_REQUEST, "InvalidParameterValueException", "%s",
				 why);
		return -1;
	}
	if (k == 0)
		return 0;
	snprintf(id->scoped, sizeof(id->scoped), "%s\n%s", spur_fn_config(fn)->name, key);
	char labels[96];
	snprintf(labels, sizeof(labels), "function=\"%s\"", spur_fn_name(fn));
	id->replays = spur_metrics_counter(in->env.metrics, "spur_idempotent_replays_total",
				       "Answers and events replayed for an idempotency key.", labels);
	spur_idem_fingerprint(payload, len, id->fp);
	id->ttl_ms = ic->ttl_ms;
	return 1;
}
