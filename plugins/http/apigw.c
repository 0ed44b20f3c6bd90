/* SPDX-License-Identifier: MIT */
/*
 * apigw.c - the API Gateway HTTP API v2.0 format, both ways, for routes.c.
 *
 * In: a routed request becomes a v2.0 event (JSON text, always valid):
 * version, routeKey, rawPath, rawQueryString, cookies, headers (lower-case
 * names, duplicates joined with ","), queryStringParameters,
 * pathParameters, requestContext (http.method/path/protocol/sourceIp/
 * userAgent, requestId, time, ...), and body: text when it is strict
 * UTF-8 and its Content-Type is not a binary one, else base64 with
 * isBase64Encoded. Invalid UTF-8 in metadata becomes U+FFFD.
 * Out: an answer object with statusCode becomes the HTTP response it
 * describes (headers, multiValueHeaders, cookies, body, isBase64Encoded);
 * header names and values that would break the framing are dropped.
 *
 * Runs in the thread serving the connection; reads the request, shares
 * nothing. Cost: the event is written as JSON text straight into one
 * buffer sized from the request (metadata, escaped body or its base64),
 * so building it takes one allocation, plus one scratch block only for
 * requests with very many headers or query pairs; headers and query pairs
 * are borrowed or decoded in place and sorted to join duplicates
 * (O(n log n)). The request's body copy is freed once it is in the event.
 * An answer is parsed (jansson) only when it can hold statusCode.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jansson.h>

#include "http.h"

/* --- UTF-8, JSON strings, base64 ----------------------------------------- */



/* The JSON escape of an ASCII byte: 0 when it stands for itself, else
 * the letter after the backslash ('u': \u00XX). */
static char esc_of(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\b': return 'b';
	case '\f': return 'f';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	default: return c < 0x20 ? 'u' : 0;
	}
}

/* Is the body text? Strict UTF-8 without NUL bytes. *extra: the bytes
 * its JSON escapes add. */
static bool text_ok(const unsigned char *s, size_t n, size_t *extra)
{
	size_t i = 0, x = 0;

	while (i < n) {
		unsigned char c = s[i];
		char e;

		if (c >= 0x80) {
			size_t k = spur_utf8_seq(s + i, n - i);

			if (!k)
				return false;
			i += k;
			continue;
		}
		if (c == 0)
			return false;
		e = esc_of(c);
		x += e == 'u' ? 5 : e ? 1 : 0;
		i++;
	}
	*extra = x;
	return true;
}

/* The event's text: one buffer, grown geometrically when the estimate
 * made from the request's sizes was short. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool fail;		/* out of memory: later writes do nothing */
};

static bool sb_room(struct sbuf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->fail)
		return false;
	if (b->cap - b->len >= n)
		return true;
	cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
	np = realloc(b->p, cap);
	if (!np) {
		b->fail = true;
		return false;
	}
	b->p = np;
	b->cap = cap;
	return true;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (sb_room(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

#define sb_lit(b, s) sb_put((b), "" s, sizeof(s) - 1)

/* [s, s+n) escaped for the inside of a JSON string; invalid UTF-8 and NUL
 * become U+FFFD; `lower` lower-cases ASCII letters (header names).
 * Invariant of the loop: room for one byte out per byte still to come,
 * so only escapes and replacements ask for more. */
static void sb_esc(struct sbuf *b, const char *str, size_t n, bool lower)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	if (!sb_room(b, n))
		return;
	while (i < n) {
		unsigned char c = s[i];
		char e, *o;
		size_t k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			b->p[b->len++] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
			i++;
			continue;
		}
		if (c >= 0x80 && (k = spur_utf8_seq(s + i, n - i)) != 0) {
			memcpy(b->p + b->len, s + i, k);
			b->len += k;
			i += k;
			continue;
		}
		if (!sb_room(b, 6 + n - i - 1))
			return;
		o = b->p + b->len;
		e = c < 0x80 ? esc_of(c) : 0;
		if (c >= 0x80 || c == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			b->len += 3;
		} else if (e != 'u') {
			o[0] = '\\';
			o[1] = e;
			b->len += 2;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			b->len += 6;
		}
		i++;
	}
}

/* A JSON string of arbitrary bytes (NULL: ""). */
static void sb_str(struct sbuf *b, const char *s, size_t n)
{
	sb_lit(b, "\"");
	if (s)
		sb_esc(b, s, n, false);
	sb_lit(b, "\"");
}

static void sb_cstr(struct sbuf *b, const char *s)
{
	sb_str(b, s, s ? strlen(s) : 0);
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A JSON string holding the base64 of [s, s+n). */
static void sb_base64(struct sbuf *b, const unsigned char *s, size_t n)
{
	size_t i;
	char *o;

	if (!sb_room(b, (n + 2) / 3 * 4 + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
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
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

static int b64_val(char c)
{
	const char *p;

	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Standard or URL-safe alphabet, padding optional; NULL if malformed. */
static char *b64_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n / 4 * 3 + 3);
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0;

	if (!out)
		return NULL;
	while (n && s[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*outlen = o;
	return out;
}

/* --- the v2.0 event ------------------------------------------------------ */

/* Scratch for the headers and query pairs of a usual request; larger
 * ones take one malloc(). */
#define EV_SCRATCH 4096

/* A header or a decoded query pair, borrowed; `i` keeps sorting stable. */
struct kv {
	const char *k, *v;
	size_t kl, vl, i;
};

struct hdr_list {
	struct kv *v;
	size_t n, max, bytes;
};

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct hdr_list *h = cls;
	struct kv *e;

	(void)kind;
	if (h->n == h->max)
		return MHD_NO;
	e = &h->v[h->n];
	*e = (struct kv){ .k = key, .kl = strlen(key), .v = value ? value : "", .i = h->n };
	e->vl = strlen(e->v);
	h->bytes += e->kl + e->vl;
	h->n++;
	return MHD_YES;
}

/* Header names compare without case, query keys as bytes; equal names
 * keep their order, so that duplicates join in the order they came. */
static int hdr_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int d = strcasecmp(x->k, y->k);

	return d ? d : x->i < y->i ? -1 : 1;
}

static int query_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int d = strcmp(x->k, y->k);

	return d ? d : x->i < y->i ? -1 : 1;
}

/* The query's key=value pairs, decoded into `dec` (room for the query's
 * length + 2 per pair); pairs without a key or that decode to NUL are
 * left out. Returns how many were kept. */
static size_t query_pairs(const char *p, struct kv *out, char *dec)
{
	size_t n = 0;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t kl = eq ? (size_t)(eq - p) : len;
		ssize_t dk, dv = 0;

		if (kl > 0 && (dk = spur_pct_decode(dec, kl + 1, p, kl, true)) >= 0) {
			char *v = dec + dk + 1;

			if (eq)
				dv = spur_pct_decode(v, len - kl, eq + 1, len - kl - 1, true);
			else
				*v = '\0';
			if (dv >= 0) {
				out[n] = (struct kv){ .k = dec, .kl = (size_t)dk, .v = v,
						      .vl = (size_t)dv, .i = n };
				n++;
				dec = v + dv + 1;
			}
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return n;
}

/* The members of an object of sorted pairs: duplicates (same `same`)
 * joined with ",". */
static void sb_members(struct sbuf *b, const struct kv *v, size_t n, bool lower,
		       int (*same)(const char *, const char *))
{
	for (size_t i = 0; i < n; ) {
		size_t j;

		if (i)
			sb_lit(b, ",");
		sb_lit(b, "\"");
		sb_esc(b, v[i].k, v[i].kl, lower);
		sb_lit(b, "\":\"");
		sb_esc(b, v[i].v, v[i].vl, false);
		for (j = i + 1; j < n && same(v[j].k, v[i].k) == 0; j++) {
			sb_lit(b, ",");
			sb_esc(b, v[j].v, v[j].vl, false);
		}
		sb_lit(b, "\"");
		i = j;
	}
}

/* "a=1; b=2" → "a=1","b=2" (trimmed; empty ones left out); `*first`
 * until one has been written. */
static void sb_cookies(struct sbuf *b, const char *p, bool *first)
{
	while (*p) {
		const char *semi = strchr(p, ';');
		size_t n = semi ? (size_t)(semi - p) : strlen(p);
		size_t a = 0;

		while (a < n && p[a] == ' ')
			a++;
		while (n > a && p[n - 1] == ' ')
			n--;
		if (n > a) {
			if (*first)
				sb_lit(b, "\"cookies\":[");
			else
				sb_lit(b, ",");
			*first = false;
			sb_str(b, p + a, n - a);
		}
		p = semi ? semi + 1 : p + strlen(p);
	}
}

bool spur_http_binary_type(const char *ct)
{
	static const char *const bin[] = {
		"application/octet-stream", "image/", "audio/", "video/",
		"application/zip", "application/gzip", "application/pdf",
		"application/x-protobuf", "application/protobuf", "font/",
		"application/vnd.ms-", NULL,
	};

	if (!ct)
		return false;
	for (size_t i = 0; bin[i]; i++)
		if (strncasecmp(ct, bin[i], strlen(bin[i])) == 0)
			return true;
	return false;
}

static void source_ip(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "0.0.0.0");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	}
}

/* "headers":{...}, without the cookie headers (they went to "cookies"). */
static void sb_headers(struct sbuf *b, const struct hdr_list *h)
{
	size_t i = 0, j;

	sb_lit(b, "\"headers\":{");
	while (i < h->n && strcasecmp(h->v[i].k, "cookie") < 0)
		i++;
	for (j = i; j < h->n && strcasecmp(h->v[j].k, "cookie") == 0; j++)
		;
	sb_members(b, h->v, i, true, strcasecmp);
	if (i && j < h->n)
		sb_lit(b, ",");
	sb_members(b, h->v + j, h->n - j, true, strcasecmp);
	sb_lit(b, "},");
}

/* "pathParameters":{...}, in the route's order. */
static void sb_path_params(struct sbuf *b, const struct http_route *r, const struct http_req *rq)
{
	sb_lit(b, "\"pathParameters\":{");
	for (size_t i = 0, k = 0; i < r->n_seg; i++) {
		if (r->seg[i].kind == HTTP_SEG_LITERAL)
			continue;
		if (k)
			sb_lit(b, ",");
		sb_cstr(b, r->seg[i].text);
		sb_lit(b, ":");
		sb_cstr(b, rq->params[k++]);
	}
	sb_lit(b, "},");
}

/* "requestContext":{...}: the domain from Host, the peer, the time. */
static void sb_request_context(struct sbuf *b, struct http_req *rq, struct MHD_Connection *c,
			       const char *method, const char *version, const char *raw,
			       size_t plen)
{
	const struct http_route *r = rq->route;
	const char *host, *ua;
	char ip[INET6_ADDRSTRLEN + 1], tbuf[64], domain[256], num[24];
	struct timespec now;
	struct tm tm;

	host = spur_http_header(c, MHD_HTTP_HEADER_HOST);
	snprintf(domain, sizeof(domain), "%s", host && *host ? host : "localhost");
	if (domain[0] != '[') {
		char *colon = strrchr(domain, ':');
		if (colon)
			*colon = '\0';
	}
	ua = spur_http_header(c, MHD_HTTP_HEADER_USER_AGENT);
	source_ip(c, ip, sizeof(ip));
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	snprintf(num, sizeof(num), "%" PRId64,
		 (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);

	sb_lit(b, "\"requestContext\":{\"accountId\":\"000000000000\",\"apiId\":\"spur\","
		   "\"domainName\":");
	sb_cstr(b, domain);
	sb_lit(b, ",\"domainPrefix\":");
	sb_str(b, domain, strcspn(domain, "."));
	sb_lit(b, ",\"http\":{\"method\":");
	sb_cstr(b, method);
	sb_lit(b, ",\"path\":");
	sb_str(b, raw, plen);
	sb_lit(b, ",\"protocol\":");
	sb_cstr(b, version && *version ? version : "HTTP/1.1");
	sb_lit(b, ",\"sourceIp\":");
	sb_cstr(b, ip);
	sb_lit(b, ",\"userAgent\":");
	sb_cstr(b, ua);
	sb_lit(b, "},\"requestId\":");
	sb_cstr(b, spur_http_request_id(rq));
	sb_lit(b, ",\"routeKey\":");
	sb_cstr(b, r->route_key);
	sb_lit(b, ",\"stage\":\"$default\",\"time\":");
	sb_cstr(b, tbuf);
	sb_lit(b, ",\"timeEpoch\":");
	sb_put(b, num, strlen(num));
	sb_lit(b, "},");
}

char *spur_http_apigw_event(struct http_req *rq, struct MHD_Connection *c,
			    const char *method, const char *version, size_t *len)
{
	const struct http_route *r = rq->route;
	_Alignas(max_align_t) char local[EV_SCRATCH];
	struct sbuf b = { 0 };
	struct hdr_list h = { 0 };
	struct kv *qv;
	void *scratch = NULL;
	const char *raw = rq->raw_uri, *q, *ct;
	size_t plen, qlen, nq, need, extra = 0;
	bool text, first = true;
	char *out = NULL;
	int nh;

	if (strncasecmp(raw, "http://", 7) == 0 || strncasecmp(raw, "https://", 8) == 0) {
		const char *s = strchr(strstr(raw, "//") + 2, '/');
		raw = s ? s : "/";
	}
	q = strchr(raw, '?');
	plen = q ? (size_t)(q - raw) : strlen(raw);
	q = q ? q + 1 : "";
	qlen = strlen(q);

	/* the headers (borrowed from MHD) and the decoded query pairs,
	 * sorted so that duplicates sit together */
	nh = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
	h.max = nh > 0 ? (size_t)nh : 0;
	nq = qlen ? 1 : 0;
	for (const char *p = q; (p = strchr(p, '&')); p++)
		nq++;
	need = (h.max + nq) * sizeof(struct kv) + qlen + 2 * nq;
	scratch = need <= sizeof(local) ? (void *)local : malloc(need);
	if (!scratch)
		goto fail;
	h.v = scratch;
	qv = h.v + h.max;
	if (h.max)
		MHD_get_connection_values(c, MHD_HEADER_KIND, header_cb, &h);
	qsort(h.v, h.n, sizeof(*h.v), hdr_cmp);
	nq = query_pairs(q, qv, (char *)(qv + nq));
	qsort(qv, nq, sizeof(*qv), query_cmp);

	ct = spur_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	text = rq->len && !spur_http_binary_type(ct) &&
		text_ok((const unsigned char *)rq->body, rq->len, &extra);

	/* one allocation when the request's sizes hold: the metadata, twice
	 * over for escapes and repeats, and the body as it will be written */
	b.cap = 1024 + 2 * strlen(r->route_key) + 4 * strlen(raw) + 2 * h.bytes +
		8 * h.n + (text ? rq->len + extra : (rq->len + 2) / 3 * 4);
	for (size_t i = 0; i < r->n_params; i++)
		b.cap += 2 * strlen(rq->params[i]) + 8;
	b.p = malloc(b.cap);
	if (!b.p)
		goto fail;

	sb_lit(&b, "{\"version\":\"2.0\",\"routeKey\":");
	sb_cstr(&b, r->route_key);
	sb_lit(&b, ",\"rawPath\":");
	sb_str(&b, raw, plen);
	sb_lit(&b, ",\"rawQueryString\":");
	sb_str(&b, q, qlen);
	sb_lit(&b, ",");
	for (size_t i = 0; i < h.n; i++)
		if (strcasecmp(h.v[i].k, "cookie") == 0)
			sb_cookies(&b, h.v[i].v, &first);
	if (!first)
		sb_lit(&b, "],");

	sb_headers(&b, &h);
	if (nq) {
		sb_lit(&b, "\"queryStringParameters\":{");
		sb_members(&b, qv, nq, false, strcmp);
		sb_lit(&b, "},");
	}
	if (r->n_params)
		sb_path_params(&b, r, rq);

	sb_request_context(&b, rq, c, method, version, raw, plen);

	if (text) {
		sb_lit(&b, "\"body\":");
		sb_str(&b, rq->body, rq->len);
		sb_lit(&b, ",\"isBase64Encoded\":false}");
	} else if (rq->len) {
		sb_lit(&b, "\"body\":");
		sb_base64(&b, (const unsigned char *)rq->body, rq->len);
		sb_lit(&b, ",\"isBase64Encoded\":true}");
	} else {
		sb_lit(&b, "\"isBase64Encoded\":false}");
	}
	sb_put(&b, "", 1);
	if (b.fail)
		goto fail;
	/* rq->body stays: idempotency fingerprints read the body as received */
	*len = b.len - 1;
	out = b.p;
	b.p = NULL;
fail:
	free(b.p);
	if (scratch != local)
		free(scratch);
	return out;
}

/* --- the answer ------------------------------------------------------------ */

static bool header_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

static bool header_value_ok(const char *s)
{
	return !strpbrk(s, "\r\n");
}

/* Headers MHD sets itself, or that would break the framing. */
static bool header_reserved(const char *name)
{
	return strcasecmp(name, "Content-Length") == 0 ||
	       strcasecmp(name, "Transfer-Encoding") == 0 ||
	       strcasecmp(name, "Connection") == 0 ||
	       strcasecmp(name, "Date") == 0;
}

static void add_header_value(struct MHD_Response *resp, const char *name, json_t *v)
{
	char num[64];
	const char *s = NULL;

	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)), s = num;
	else if (json_is_real(v))
		snprintf(num, sizeof(num), "%.17g", json_real_value(v)), s = num;
	else if (json_is_boolean(v))
		s = json_is_true(v) ? "true" : "false";
	if (s && header_value_ok(s))
		MHD_add_response_header(resp, name, s);
}

struct MHD_Response *spur_http_apigw_response(json_t *o, unsigned *status, bool *bad)
{
	json_t *sc = json_object_get(o, "statusCode");
	json_t *jb = json_object_get(o, "body");
	json_t *h, *mh, *ck, *v;
	struct MHD_Response *resp = NULL;
	const char *key;
	char *body = NULL;
	size_t blen = 0;
	json_int_t code = 0;

	*bad = true;
	if (json_is_integer(sc))
		code = json_integer_value(sc);
	else if (json_is_string(sc))
		code = (json_int_t)strtol(json_string_value(sc), NULL, 10);
	if (code < 100 || code > 599)
		return NULL;
	if (json_is_string(jb)) {
		const char *s = json_string_value(jb);
		size_t n = json_string_length(jb);

		if (json_is_true(json_object_get(o, "isBase64Encoded"))) {
			body = b64_decode(s, n, &blen);
			if (!body)
				return NULL;
		} else {
			body = malloc(n + 1);
			if (!body)
				return NULL;
			memcpy(body, s, n);
			blen = n;
		}
	} else if (jb && !json_is_null(jb)) {
		body = json_dumps(jb, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!body)
			return NULL;
		blen = strlen(body);
	}
	resp = MHD_create_response_from_buffer(blen, body ? body : (void *)"",
					       body ? MHD_RESPMEM_MUST_FREE :
					       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return NULL;
	}
	*bad = false;
	h = json_object_get(o, "headers");
	json_object_foreach(h, key, v) {
		if (header_name_ok(key) && !header_reserved(key))
			add_header_value(resp, key, v);
	}
	mh = json_object_get(o, "multiValueHeaders");
	json_object_foreach(mh, key, v) {
		size_t i;
		json_t *e;

		if (!header_name_ok(key) || header_reserved(key) || !json_is_array(v))
			continue;
		json_array_foreach(v, i, e)
			add_header_value(resp, key, e);
	}
	ck = json_object_get(o, "cookies");
	if (json_is_array(ck)) {
		size_t i;
		json_array_foreach(ck, i, v)
			add_header_value(resp, MHD_HTTP_HEADER_SET_COOKIE, v);
	}
	if (!MHD_get_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	*status = (unsigned)code;
	return resp;
}
