/* SPDX-License-Identifier: MIT */
/*
 * cloudevents.c - CloudEvents 1.0 on http routes (the HTTP protocol
 * binding and the JSON event format), for routes.c.
 *
 * A routed request is a CloudEvent when its Content-Type is
 * application/cloudevents+json (structured: the body is the event),
 * application/cloudevents-batch+json (batch: a JSON array of events, one
 * invocation each), or when it carries ce-specversion (binary: the
 * attributes are the ce-* headers, percent-decoded, Content-Type is
 * datacontenttype, the body is the data). Another
 * application/cloudevents+FORMAT answers 415. The handler's event is the
 * CloudEvent in its JSON form: attributes as top-level members, `data`
 * the JSON value when the data is JSON, a string when it is text, and
 * `data_base64` when it is binary (structured events go on as sent).
 * specversion "1.0", id, source and type are required and non-empty; a
 * missing or malformed one, a header that decodes to invalid UTF-8 or to
 * NUL, an attribute name that is not [a-z0-9]+, or JSON data that does
 * not parse answers 400 {"message"} naming it. Nothing runs then.
 *
 * Idempotency (`key: cloudevents`, router/idempotency.c) reads source and
 * id: in binary mode from the ce-source and ce-id headers, in structured
 * and batch mode from the event's JSON: the raw body given with each
 * event is that event's own text, and ce-* headers are not passed along
 * (the HTTP binding says they do not apply there). An event's
 * `traceparent` / `tracestate` attributes (the distributed tracing
 * extension) stand for the W3C headers when the request has none.
 *
 * Answers: one event is answered as any route (routes.c). A batch: sync
 * → 200 and a JSON array with one slot per event, in order: the
 * handler's answer as it is (not read as an API Gateway response), or
 * {"statusCode": N, "message": ...} for an event that failed as a single
 * one would have with N; async → 202 {"eventIds": [...]}, or, when an
 * event cannot be stored, its error status with {"message", "eventIds"}
 * listing the events stored before it (the rest were not tried).
 *
 * Runs in the thread serving the connection. Costs: one jansson parse
 * (validation only: the event handed on is the body's own text, never a
 * re-encoding of it) for structured and batch bodies; in binary mode one
 * parse of a JSON body and one buffer for the event. Batch events run
 * one after the other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "http.h"

#define CE_PREFIX "application/cloudevents"
#define CE_STRUCTURED CE_PREFIX "+json"
#define CE_BATCH CE_PREFIX "-batch+json"
#define WHY_MAX 320

static const char *const required[] = { "specversion", "id", "source", "type" };

/* --- media types ------------------------------------------------------------ */

/* The media type of a Content-Type value, without parameters and spaces. */
static size_t media_type(const char *ct, const char **mt)
{
	size_t n;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	*mt = ct;
	return n;
}

static bool media_is(const char *mt, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(mt, want, n) == 0;
}

/* JSON data: application/json, text/json, or any type with +json. */
static bool json_media(const char *ct)
{
	const char *mt;
	size_t n;

	if (!ct)
		return false;
	n = media_type(ct, &mt);
	return media_is(mt, n, "application/json") || media_is(mt, n, "text/json") ||
	       (n > 5 && strncasecmp(mt + n - 5, "+json", 5) == 0);
}

enum http_ce_mode spur_http_ce_mode(struct MHD_Connection *c)
{
	const char *ct = spur_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t pl = strlen(CE_PREFIX);

	if (ct) {
		const char *mt;
		size_t n = media_type(ct, &mt);

		if (media_is(mt, n, CE_STRUCTURED))
			return HTTP_CE_STRUCTURED;
		if (media_is(mt, n, CE_BATCH))
			return HTTP_CE_BATCH;
		if (n >= pl && strncasecmp(mt, CE_PREFIX, pl) == 0 &&
		    (n == pl || mt[pl] == '+' || mt[pl] == '-'))
			return HTTP_CE_UNSUPPORTED;
	}
	return spur_http_header(c, "ce-specversion") ? HTTP_CE_BINARY : HTTP_CE_NONE;
}

/* --- attributes ------------------------------------------------------------- */

/* CloudEvents 1.0 §2: lower-case ASCII letters and digits. */
static bool attr_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* The required attributes of an event (binary: from headers, so always
 * strings); 0 or -EINVAL with the 400's message. */
static int check_required(json_t *ev, bool binary, char *why, size_t whylen)
{
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		json_t *v = json_object_get(ev, required[i]);

		if (!v || json_is_null(v)) {
			if (binary)
				snprintf(why, whylen, "missing required CloudEvents attribute '%s' "
					 "(header ce-%s)", required[i], required[i]);
			else
				snprintf(why, whylen, "missing required CloudEvents attribute '%s'",
					 required[i]);
			return -EINVAL;
		}
		if (!json_is_string(v) || json_string_length(v) == 0) {
			snprintf(why, whylen, "CloudEvents attribute '%s' must be a non-empty string",
				 required[i]);
			return -EINVAL;
		}
	}
	if (strcmp(json_string_value(json_object_get(ev, "specversion")), "1.0") != 0) {
		snprintf(why, whylen, "unsupported CloudEvents specversion '%.40s' (spur reads 1.0)",
			 json_string_value(json_object_get(ev, "specversion")));
		return -EINVAL;
	}
	return 0;
}

/* A structured event (JSON format §3): the required attributes, names,
 * attribute types, and at most one of data and data_base64. */
static int check_event(json_t *ev, char *why, size_t whylen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(ev)) {
		snprintf(why, whylen, "a CloudEvent in JSON is an object");
		return -EINVAL;
	}
	if (check_required(ev, false, why, whylen) < 0)
		return -EINVAL;
	json_object_foreach(ev, k, v) {
		if (strcmp(k, "data") == 0)
			continue;
		if (strcmp(k, "data_base64") == 0) {
			if (!json_is_string(v)) {
				snprintf(why, whylen, "data_base64 must be a string");
				return -EINVAL;
			}
			if (json_object_get(ev, "data")) {
				snprintf(why, whylen, "a CloudEvent has data or data_base64, not both");
				return -EINVAL;
			}
			continue;
		}
		if (!attr_name_ok(k, strlen(k))) {
			snprintf(why, whylen, "'%.64s' is not a CloudEvents attribute name "
				 "(lower-case letters and digits)", k);
			return -EINVAL;
		}
		if (json_is_object(v) || json_is_array(v)) {
			snprintf(why, whylen, "CloudEvents attribute '%.64s' must be a string, "
				 "a number or a boolean", k);
			return -EINVAL;
		}
	}
	return 0;
}

/* --- binary mode ------------------------------------------------------------ */

struct bin {
	json_t *attrs;		/* from the ce-* headers, decoded */
	int err;		/* 0, -EINVAL (why) or -ENOMEM */
	char why[WHY_MAX];
};

static enum MHD_Result bin_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct bin *b = cls;
	char name[64], *dec;
	ssize_t dl;

	(void)kind;
	if (b->err || key_size < 3 || strncasecmp(key, "ce-", 3) != 0)
		return MHD_YES;
	if (key_size - 3 >= sizeof(name))
		goto bad_name;
	for (size_t i = 3; i < key_size; i++)
		name[i - 3] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
	name[key_size - 3] = '\0';
	if (!attr_name_ok(name, key_size - 3) || strcmp(name, "data") == 0)
		goto bad_name;
	if (json_object_get(b->attrs, name)) {
		snprintf(b->why, sizeof(b->why), "header ce-%s is given twice", name);
		b->err = -EINVAL;
		return MHD_NO;
	}
	dec = malloc(value_size + 1);
	if (!dec) {
		b->err = -ENOMEM;
		return MHD_NO;
	}
	/* HTTP binding §3.1.3.2: values are percent-encoded, '+' is itself */
	dl = spur_pct_decode(dec, (value ? value_size : 0) + 1, value ? value : "",
			     value ? value_size : 0, false);
	if (dl < 0 || !spur_utf8_valid(dec, (size_t)dl)) {
		snprintf(b->why, sizeof(b->why), "header ce-%s: %s after percent-decoding", name,
			 dl < 0 ? "a NUL byte" : "invalid UTF-8");
		b->err = -EINVAL;
	} else if (json_object_set_new(b->attrs, name, json_stringn(dec, (size_t)dl)) < 0) {
		b->err = -ENOMEM;
	}
	free(dec);
	return b->err ? MHD_NO : MHD_YES;
bad_name:
	snprintf(b->why, sizeof(b->why), "header %.*s: not a CloudEvents attribute name "
		 "(lower-case letters and digits after ce-)", (int)(key_size < 80 ? key_size : 80), key);
	b->err = -EINVAL;
	return MHD_NO;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *s, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The binary-mode event as JSON text (malloc()ed), or NULL with *err:
 * -EINVAL (why: the 400) or -ENOMEM. */
static char *binary_event(struct http_req *rq, struct MHD_Connection *c, size_t *len,
			  int *err, char *why, size_t whylen)
{
	struct bin b = { .attrs = json_object() };
	const char *ct = spur_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	json_t *ev = json_object(), *v;
	char *head = NULL, *out = NULL, *enc = NULL;
	const char *k;
	size_t hl;

	*err = -ENOMEM;
	if (!b.attrs || !ev)
		goto done;
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, bin_header, &b);
	if (b.err) {
		*err = b.err;
		snprintf(why, whylen, "%s", b.why);
		goto done;
	}
	*err = -EINVAL;
	if (check_required(b.attrs, true, why, whylen) < 0)
		goto done;
	*err = -ENOMEM;
	/* the required ones first, then the others as they came */
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (json_object_set(ev, required[i], json_object_get(b.attrs, required[i])) < 0)
			goto done;
	json_object_foreach(b.attrs, k, v)
		if (!json_object_get(ev, k) && json_object_set(ev, k, v) < 0)
			goto done;
	if (ct && strcmp(ct, "") != 0 && json_object_set_new(ev, "datacontenttype",
							     json_string(ct)) < 0) {
		/* a Content-Type that is not UTF-8 */
		*err = -EINVAL;
		snprintf(why, whylen, "Content-Type is not valid UTF-8");
		goto done;
	}
	if (rq->len && json_media(ct)) {
		/* one JSON value, checked, then spliced in as it came */
		json_error_t je;
		json_t *data = json_loadb(rq->body, rq->len, JSON_DECODE_ANY |
					  JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);

		if (!data) {
			*err = -EINVAL;
			snprintf(why, whylen, "the body is not valid JSON (Content-Type %.80s): "
				 "%s at line %d column %d", ct, je.text, je.line, je.column);
			goto done;
		}
		json_decref(data);
		head = json_dumps(ev, JSON_COMPACT);
		hl = head ? strlen(head) : 0;
		if (hl < 2 || !(out = malloc(hl + rq->len + 10)))
			goto done;
		memcpy(out, head, hl - 1);	/* without the closing brace */
		memcpy(out + hl - 1, ",\"data\":", 8);
		memcpy(out + hl + 7, rq->body, rq->len);
		memcpy(out + hl + 7 + rq->len, "}", 2);
		*len = hl + 8 + rq->len;
	} else {
		if (rq->len && !spur_http_binary_type(ct) && !memchr(rq->body, 0, rq->len) &&
		    spur_utf8_valid(rq->body, rq->len)) {
			if (json_object_set_new(ev, "data", json_stringn(rq->body, rq->len)) < 0)
				goto done;
		} else if (rq->len) {
			enc = base64((const unsigned char *)rq->body, rq->len);
			if (!enc || json_object_set_new(ev, "data_base64", json_string(enc)) < 0)
				goto done;
		}
		out = json_dumps(ev, JSON_COMPACT);
		if (!out)
			goto done;
		*len = strlen(out);
	}
	*err = 0;
done:
	free(head);
	free(enc);
	json_decref(ev);
	json_decref(b.attrs);
	return out;
}

/* --- invoking ----------------------------------------------------------------- */

/* The request's headers as invoke attributes. For a structured or batch
 * event (doc) the ce-* headers are left out; the event's own traceparent
 * and tracestate (or, in binary mode, ce-traceparent / ce-tracestate)
 * are added when no traceparent header came. */
static size_t event_attrs(struct MHD_Connection *c, json_t *doc, struct spur_attr *out,
			  size_t max)
{
	size_t n = spur_http_attrs(c, out, max - 2), k = 0;
	const char *tp = NULL, *ts = NULL;
	bool have = false;

	for (size_t i = 0; i < n; i++) {
		const char *name = out[i].name;

		if (strcasecmp(name, "traceparent") == 0)
			have = true;
		if (strncasecmp(name, "ce-", 3) == 0) {
			if (strcasecmp(name, "ce-traceparent") == 0)
				tp = out[i].value;
			else if (strcasecmp(name, "ce-tracestate") == 0)
				ts = out[i].value;
			if (doc)
				continue;
		}
		out[k++] = out[i];
	}
	if (doc) {
		tp = json_string_value(json_object_get(doc, "traceparent"));
		ts = json_string_value(json_object_get(doc, "tracestate"));
	}
	if (!have && tp) {
		out[k++] = (struct spur_attr){ .name = "traceparent", .value = tp,
					       .value_len = strlen(tp) };
		if (ts)
			out[k++] = (struct spur_attr){ .name = "tracestate", .value = ts,
						       .value_len = strlen(ts) };
	}
	return k;
}

/* A growing answer buffer; `fail` after running out of memory. */
struct obuf {
	char *p;
	size_t len, cap;
	bool fail;
};

static void put(struct obuf *o, const char *s, size_t n)
{
	if (o->fail)
		return;
	if (o->cap - o->len < n + 1) {
		size_t cap = o->cap * 2 > o->len + n + 1 ? o->cap * 2 : o->len + n + 256;
		char *np = realloc(o->p, cap);

		if (!np) {
			o->fail = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* {"statusCode": status, "message": msg}, or the same with eventIds. */
static void put_failure(struct obuf *o, unsigned status, const char *msg, json_t *ids)
{
	json_t *j = json_pack("{s:i, s:s}", "statusCode", (int)status, "message",
			      msg && *msg ? msg : "error");
	char *s;

	if (j && ids)
		json_object_set(j, "eventIds", ids);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s)
		put(o, s, strlen(s));
	else
		o->fail = true;
	free(s);
	json_decref(j);
}

/* One event of a batch: its slot of the sync answer. */
static void put_result(struct http_req *rq, struct obuf *o, struct spur_result *res)
{
	enum spur_status st = spur_result_status(res);
	const char *body;
	size_t len = 0;

	if (st != SPUR_STATUS_OK) {
		put_failure(o, spur_http_status_code(st), spur_result_error_message(res), NULL);
		return;
	}
	body = spur_result_body(res, &len);
	if (spur_result_function_error(res)) {
		spur_log(rq->srv->host, SPUR_LOG_WARN, "route '%s' (%s): function error %s: %.300s",
			 rq->route->route_key, spur_result_request_id(res),
			 spur_result_function_error(res), body ? body : "");
		put_failure(o, MHD_HTTP_BAD_GATEWAY, "Internal Server Error", NULL);
		return;
	}
	if (body && len)
		put(o, body, len);
	else
		put(o, "null", 4);
}

struct item {
	const char *text;	/* the event's JSON text, a span of the body */
	size_t len;
	json_t *doc;		/* parsed: attributes for the checks and the trace */
};

static bool ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Split a batch body into its events, each checked. 0, -EINVAL (why) or
 * -ENOMEM; the items are the caller's to free (also on failure). */
static int split_batch(const char *body, size_t len, struct item **items, size_t *n,
		       char *why, size_t whylen)
{
	const char *p = body, *end = body + len;
	size_t cap = 0;

	*items = NULL;
	*n = 0;
	while (p < end && ws(*p))
		p++;
	if (p == end || *p != '[')
		goto not_array;
	for (p++; p < end && ws(*p); p++)
		;
	if (p < end && *p == ']') {
		p++;
	} else {
		for (;;) {
			json_error_t je;
			json_t *doc = json_loadb(p, (size_t)(end - p), JSON_DISABLE_EOF_CHECK |
						 JSON_DECODE_INT_AS_REAL, &je);
			char sub[WHY_MAX - 40];

			if (!doc) {
				snprintf(why, whylen, "event %zu of the batch: %s", *n + 1, je.text);
				return -EINVAL;
			}
			if (*n == cap) {
				struct item *ni = realloc(*items, (cap ? 2 * cap : 8) * sizeof(*ni));

				if (!ni) {
					json_decref(doc);
					return -ENOMEM;
				}
				*items = ni;
				cap = cap ? 2 * cap : 8;
			}
			(*items)[(*n)++] = (struct item){ .text = p, .len = (size_t)je.position,
							  .doc = doc };
			if (check_event(doc, sub, sizeof(sub)) < 0) {
				snprintf(why, whylen, "event %zu of the batch: %s", *n, sub);
				return -EINVAL;
			}
			for (p += je.position; p < end && ws(*p); p++)
				;
			if (p < end && *p == ',') {
				for (p++; p < end && ws(*p); p++)
					;
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			goto not_array;
		}
	}
	while (p < end && ws(*p))
		p++;
	if (p == end)
		return 0;
not_array:
	snprintf(why, whylen, "a CloudEvents batch is a JSON array of events");
	return -EINVAL;
}

static enum MHD_Result batch_finish(struct http_req *rq, struct MHD_Connection *c)
{
	struct spur_attr attrs[HTTP_MAX_ATTRS];
	struct obuf o = { 0 };
	struct item *items = NULL;
	json_t *ids = NULL;
	enum MHD_Result ret;
	bool async = rq->route->mode == SPUR_MODE_ASYNC;
	unsigned status = async ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK;
	char why[WHY_MAX];
	size_t n = 0;
	int err;

	err = split_batch(rq->len ? rq->body : "", rq->len, &items, &n, why, sizeof(why));
	if (err < 0) {
		ret = err == -EINVAL ? spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL, "%s", why)
				     : spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
						       "out of memory");
		goto done;
	}
	ids = json_array();
	if (!ids)
		goto oom;
	if (!async)
		put(&o, "[", 1);
	for (size_t i = 0; i < n && !o.fail; i++) {
		struct spur_result *res = spur_http_route_invoke(
			rq, items[i].text, items[i].len, items[i].text, items[i].len, attrs,
			event_attrs(c, items[i].doc, attrs, HTTP_MAX_ATTRS));
		enum spur_status st = res ? spur_result_status(res) : SPUR_STATUS_INTERNAL;

		if (!async) {
			if (i)
				put(&o, ",", 1);
			if (res)
				put_result(rq, &o, res);
			else
				put_failure(&o, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
		} else if (st == SPUR_STATUS_ACCEPTED) {
			if (json_array_append_new(ids, json_string(spur_result_request_id(res))) < 0)
				o.fail = true;
		} else {
			/* not stored: say which were, and leave the rest untried */
			status = spur_http_status_code(st);
			put_failure(&o, status, res ? spur_result_error_message(res) :
				    "out of memory", ids);
			spur_result_free(res);
			break;
		}
		spur_result_free(res);
	}
	if (async && status == MHD_HTTP_ACCEPTED) {
		json_t *a = json_pack("{s:O}", "eventIds", ids);
		char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;

		o.len = 0;
		if (s)
			put(&o, s, strlen(s));
		else
			o.fail = true;
		free(s);
		json_decref(a);
	} else if (!async) {
		put(&o, "]", 1);
	}
	if (o.fail)
		goto oom;
	{
		struct MHD_Response *r = spur_http_response(o.p, o.len);

		o.p = NULL;
		ret = r ? spur_http_queue(rq, c, status, r) : MHD_NO;
	}
	goto done;
oom:
	ret = spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
done:
	for (size_t i = 0; i < n; i++)
		json_decref(items[i].doc);
	free(items);
	json_decref(ids);
	free(o.p);
	return ret;
}

enum MHD_Result spur_http_ce_finish(struct http_req *rq, struct MHD_Connection *c,
				    enum http_ce_mode mode)
{
	struct spur_attr attrs[HTTP_MAX_ATTRS];
	enum MHD_Result ret;
	const char *body = rq->len ? rq->body : "";
	char why[WHY_MAX];
	json_t *doc = NULL;
	char *event = NULL;
	size_t len = 0, na;
	int err;

	if (mode == HTTP_CE_UNSUPPORTED)
		return spur_http_error(rq, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
				       "unsupported CloudEvents format: spur reads %s and %s",
				       CE_STRUCTURED, CE_BATCH);
	if (mode == HTTP_CE_BATCH)
		return batch_finish(rq, c);
	if (mode == HTTP_CE_BINARY) {
		event = binary_event(rq, c, &len, &err, why, sizeof(why));
		if (!event)
			return err == -EINVAL ?
				spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL, "%s", why) :
				spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
						"out of memory");
		na = event_attrs(c, NULL, attrs, HTTP_MAX_ATTRS);
		rq->event = event;	/* freed with the request: a worker may read it */
		return spur_http_route_run(rq, c, event, len, body, rq->len, attrs, na);
	}
	/* structured: the body is the event, handed on as it is */
	{
		json_error_t je;

		doc = json_loadb(body, rq->len, JSON_DECODE_INT_AS_REAL, &je);
		if (!doc)
			return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL,
					       "the body is not a CloudEvent in JSON: %s at line %d "
					       "column %d", je.text, je.line, je.column);
	}
	if (check_event(doc, why, sizeof(why)) < 0) {
		json_decref(doc);
		return spur_http_error(rq, c, MHD_HTTP_BAD_REQUEST, NULL, "%s", why);
	}
	na = event_attrs(c, doc, attrs, HTTP_MAX_ATTRS);
	ret = spur_http_route_run(rq, c, body, rq->len, body, rq->len, attrs, na);
	json_decref(doc);	/* after the start: attrs borrow its trace strings */
	return ret;
}
