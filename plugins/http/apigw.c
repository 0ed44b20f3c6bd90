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
 * Runs in the connection's thread; reads the request, shares nothing.
 * Cost: the event is built as a jansson tree and dumped once; the body is
 * copied into it (base64: 4/3) and the request's copy freed before the
 * dump.
 */
#include <ctype.h>
#include <inttypes.h>
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

/* --- UTF-8, base64 -------------------------------------------------------- */

/* Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF);
 * NUL bytes make it "binary" as well. */
static bool text_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* A JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD. */
static json_t *jstr(const char *s, size_t n)
{
	char *buf;
	json_t *j;
	size_t o = 0;

	if (!s)
		return json_string("");
	if (text_ok((const unsigned char *)s, n))
		return json_stringn_nocheck(s, n);
	buf = malloc(n * 3 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 0;

		if (c >= 0x80) {
			/* the longest valid sequence starting here, if any */
			for (k = 4; k >= 2; k--)
				if (i + k <= n && text_ok((const unsigned char *)s + i, k))
					break;
			if (k >= 2) {
				memcpy(buf + o, s + i, k);
				o += k;
				i += k - 1;
				continue;
			}
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else if (c == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else {
			buf[o++] = (char)c;
		}
	}
	j = json_stringn_nocheck(buf, o);
	free(buf);
	return j;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *s, size_t n, size_t *outlen)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);
	size_t o = 0, i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	*outlen = o;
	return out;
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

struct ev_build {
	json_t *headers;
	json_t *cookies;
	bool fail;
};

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct ev_build *b = cls;
	char name[256];
	size_t kl = strlen(key), vl;
	json_t *old, *v;

	(void)kind;
	if (!value)
		value = "";
	vl = strlen(value);
	if (kl >= sizeof(name))
		kl = sizeof(name) - 1;
	for (size_t i = 0; i < kl; i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[kl] = '\0';
	if (strcmp(name, "cookie") == 0) {
		/* "a=1; b=2" → ["a=1", "b=2"] */
		const char *p = value;
		while (*p) {
			const char *semi = strchr(p, ';');
			size_t n = semi ? (size_t)(semi - p) : strlen(p);
			size_t a = 0;

			while (a < n && p[a] == ' ')
				a++;
			while (n > a && p[n - 1] == ' ')
				n--;
			if (n > a && json_array_append_new(b->cookies, jstr(p + a, n - a)) < 0)
				b->fail = true;
			p = semi ? semi + 1 : p + strlen(p);
		}
		return MHD_YES;
	}
	old = json_object_get(b->headers, name);
	if (old) {
		size_t ol = json_string_length(old);
		char *cat = malloc(ol + vl + 2);

		if (!cat) {
			b->fail = true;
			return MHD_NO;
		}
		memcpy(cat, json_string_value(old), ol);
		cat[ol] = ',';
		memcpy(cat + ol + 1, value, vl);
		v = jstr(cat, ol + 1 + vl);
		free(cat);
	} else {
		v = jstr(value, vl);
	}
	if (!v || json_object_set_new(b->headers, name, v) < 0)
		b->fail = true;
	return MHD_YES;
}

/* queryStringParameters from the raw query: decoded, duplicates joined
 * with ",". NULL when there is none. */
static json_t *query_object(const char *query, bool *fail)
{
	json_t *o = json_object();
	const char *p = query;

	if (!o) {
		*fail = true;
		return NULL;
	}
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kl = eq ? (size_t)(eq - p) : n;
		char *k = NULL, *v = NULL;

		if (kl > 0) {
			k = spur_http_pct_decode(p, kl, true);
			v = eq ? spur_http_pct_decode(eq + 1, n - kl - 1, true) : strdup("");
		}
		if (k && v) {
			json_t *old = json_object_get(o, k);
			json_t *nv;

			if (old) {
				size_t ol = json_string_length(old), vl = strlen(v);
				char *cat = malloc(ol + vl + 2);
				if (cat) {
					memcpy(cat, json_string_value(old), ol);
					cat[ol] = ',';
					memcpy(cat + ol + 1, v, vl + 1);
				}
				nv = cat ? jstr(cat, ol + vl + 1) : NULL;
				free(cat);
			} else {
				nv = jstr(v, strlen(v));
			}
			/* keys must be UTF-8 for jansson: sanitise through jstr */
			json_t *ks = jstr(k, strlen(k));
			if (!nv || !ks || json_object_set_new(o, json_string_value(ks), nv) < 0)
				*fail = true;
			json_decref(ks);
		}
		free(k);
		free(v);
		p += n;
		if (*p == '&')
			p++;
	}
	if (json_object_size(o) == 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool binary_type(const char *ct)
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

char *spur_http_apigw_event(struct http_req *rq, struct MHD_Connection *c,
			    const char *method, const char *version)
{
	const struct http_route *r = rq->route;
	struct ev_build b = { .headers = json_object(), .cookies = json_array() };
	json_t *ev = NULL, *ctx = NULL, *pp = NULL, *qs = NULL;
	const char *raw = rq->raw_uri, *q, *host, *ua, *ct;
	char ip[INET6_ADDRSTRLEN + 1], tbuf[64], domain[256];
	struct timespec now;
	struct tm tm;
	int64_t epoch_ms;
	size_t plen;
	char *out = NULL;
	bool fail = false;

	if (!b.headers || !b.cookies)
		goto fail;
	if (strncasecmp(raw, "http://", 7) == 0 || strncasecmp(raw, "https://", 8) == 0) {
		const char *s = strchr(strstr(raw, "//") + 2, '/');
		raw = s ? s : "/";
	}
	q = strchr(raw, '?');
	plen = q ? (size_t)(q - raw) : strlen(raw);
	q = q ? q + 1 : "";

	MHD_get_connection_values(c, MHD_HEADER_KIND, header_cb, &b);
	if (b.fail)
		goto fail;
	qs = query_object(q, &fail);
	if (fail)
		goto fail;
	if (r->n_params) {
		pp = json_object();
		if (!pp)
			goto fail;
		for (size_t i = 0, k = 0; i < r->n_seg; i++) {
			json_t *v;

			if (r->seg[i].kind == HTTP_SEG_LITERAL)
				continue;
			v = jstr(rq->params[k], strlen(rq->params[k]));
			k++;
			if (!v || json_object_set_new(pp, r->seg[i].text, v) < 0)
				goto fail;
		}
	}

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
	epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	gmtime_r(&now.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);

	ctx = json_pack("{s:s, s:s, s:o, s:o, s:{s:s, s:o, s:s, s:s, s:o}, s:s, s:s, s:s, s:s, s:I}",
		"accountId", "000000000000",
		"apiId", "spur",
		"domainName", jstr(domain, strlen(domain)),
		"domainPrefix", jstr(domain, strcspn(domain, ".")),
		"http",
			"method", method,
			"path", jstr(raw, plen),
			"protocol", version && *version ? version : "HTTP/1.1",
			"sourceIp", ip,
			"userAgent", jstr(ua ? ua : "", ua ? strlen(ua) : 0),
		"requestId", spur_http_request_id(rq),
		"routeKey", r->route_key,
		"stage", "$default",
		"time", tbuf,
		"timeEpoch", (json_int_t)epoch_ms);
	if (!ctx)
		goto fail;
	ev = json_pack("{s:s, s:s, s:o, s:o, s:o, s:O}",
		"version", "2.0",
		"routeKey", r->route_key,
		"rawPath", jstr(raw, plen),
		"rawQueryString", jstr(q, strlen(q)),
		"headers", json_incref(b.headers),
		"requestContext", ctx);
	if (!ev)
		goto fail;
	if ((json_array_size(b.cookies) &&
	     json_object_set(ev, "cookies", b.cookies) < 0) ||
	    (qs && json_object_set(ev, "queryStringParameters", qs) < 0) ||
	    (pp && json_object_set(ev, "pathParameters", pp) < 0))
		goto fail;

	ct = spur_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (rq->len && !binary_type(ct) &&
	    text_ok((const unsigned char *)rq->body, rq->len)) {
		if (json_object_set_new(ev, "body", json_stringn_nocheck(rq->body, rq->len)) < 0 ||
		    json_object_set_new(ev, "isBase64Encoded", json_false()) < 0)
			goto fail;
	} else if (rq->len) {
		size_t el;
		char *enc = b64_encode((const unsigned char *)rq->body, rq->len, &el);

		if (!enc)
			goto fail;
		if (json_object_set_new(ev, "body", json_stringn_nocheck(enc, el)) < 0) {
			free(enc);
			goto fail;
		}
		free(enc);
		if (json_object_set_new(ev, "isBase64Encoded", json_true()) < 0)
			goto fail;
	} else if (json_object_set_new(ev, "isBase64Encoded", json_false()) < 0) {
		goto fail;
	}
	/* the body is in the event now: drop our copy early */
	free(rq->body);
	rq->body = NULL;
	rq->cap = 0;
	out = json_dumps(ev, JSON_COMPACT);
fail:
	json_decref(ctx);
	json_decref(ev);
	json_decref(pp);
	json_decref(qs);
	json_decref(b.headers);
	json_decref(b.cookies);
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
