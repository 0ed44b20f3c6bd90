/* SPDX-License-Identifier: MIT */
/*
 * webhook.c - the HTTP destination: records POSTed to a URL (libcurl).
 *
 * http://URL and https://URL destinations, or named ones:
 *   hook: { type: http, url: "https://example.org/hook",
 *           signing: standard-webhooks, secret_env: HOOK_SECRET,
 *           format: json | cloudevents | cloudevents-binary,
 *           connect_timeout: 5s, timeout: 15s, allow_private: false }
 * whose keys the host checks with webhook_settings when the config is
 * loaded; a missing url, a URL that is not http(s) and signing without
 * secret_env (or the reverse) are refused when the destination opens.
 * The body is the record (application/json), or a CloudEvent: structured
 * (application/cloudevents+json, the record as `data`) or binary (ce-*
 * headers, the record as the body); the type is spur.invocation.success
 * or spur.invocation.failure. Standard Webhooks signing adds webhook-id
 * (derived from the record's request id, condition and the URL, so every
 * retry of one record carries the same id), webhook-timestamp (fresh per
 * attempt) and webhook-signature "v1,<base64 HMAC-SHA256>". A record whose
 * event came with a W3C Trace Context carries its traceparent and
 * tracestate headers, as received (spur adds no span).
 *
 * Answers: 2xx delivered; 408, 429, 5xx, timeouts and connection errors
 * RETRY (the record stays in the outbox, retried with backoff); other
 * 3xx and 4xx DROP (undeliverable, kept for replay). Redirects are not
 * followed and proxies from the environment are not used, so the address
 * checked is the address spoken to.
 *
 * Refused addresses (unless allow_private: true), checked on every address
 * curl is about to connect to (CURLOPT_OPENSOCKETFUNCTION, after its own
 * resolution, so a DNS name cannot smuggle one in): link-local
 * 169.254.0.0/16 and fe80::/10 (cloud metadata endpoints), and spur's own
 * admin API, recognised as a path /admin or /admin/... on a loopback or
 * unspecified address (the plugin cannot know the http plugin's listen
 * addresses; an admin listener on another interface is not recognised).
 *
 * deliver() runs on the host's outbox thread only, one request at a time
 * per destination, each bounded by connect_timeout and timeout; it never
 * runs on a thread that runs handlers. One curl handle per destination
 * keeps its connection alive between records.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "signature.h"
#include "spur/plugin.h"

#define RESP_KEEP 160		/* bytes of an error answer kept for the reason */

enum webhook_format { FORMAT_JSON = 0, FORMAT_CE, FORMAT_CE_BINARY };
enum webhook_signing { SIGNING_NONE = 0, SIGNING_STANDARD };

/* A destination's settings: a named one's as the host parses them with
 * the table below, a URI destination's the table's defaults (uri_conf). */
struct webhook_conf {
	char *url;
	int signing;			/* enum webhook_signing */
	char *secret_env;
	int format;			/* enum webhook_format */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	bool allow_private;
};

static const struct spur_option webhook_settings[] = {
	{ .type = SPUR_OPT_STRING, .name = "url", .offset = offsetof(struct webhook_conf, url),
	  .description = "http:// or https:// URL to POST records to (required)" },
	{ .type = SPUR_OPT_ENUM, .name = "signing", .def = "none", .choices = "none|standard-webhooks",
	  .offset = offsetof(struct webhook_conf, signing),
	  .description = "standard-webhooks: webhook-id, webhook-timestamp and webhook-signature "
			 "headers, with the secret of secret_env" },
	{ .type = SPUR_OPT_STRING, .name = "secret_env",
	  .offset = offsetof(struct webhook_conf, secret_env),
	  .description = "environment variable holding the whsec_<base64> signing secret "
			 "(with signing only)" },
	{ .type = SPUR_OPT_ENUM, .name = "format", .def = "json",
	  .choices = "json|cloudevents|cloudevents-binary",
	  .offset = offsetof(struct webhook_conf, format),
	  .description = "the body: the record, or a CloudEvent (structured or binary)" },
	{ .type = SPUR_OPT_DURATION, .name = "connect_timeout", .def = "5s",
	  .offset = offsetof(struct webhook_conf, connect_timeout_ms),
	  .description = "TCP and TLS connect limit", .min = 1, .max = 300000 },
	{ .type = SPUR_OPT_DURATION, .name = "timeout", .def = "15s",
	  .offset = offsetof(struct webhook_conf, timeout_ms),
	  .description = "limit of a whole request", .min = 1, .max = 900000 },
	{ .type = SPUR_OPT_BOOL, .name = "allow_private", .def = "false",
	  .offset = offsetof(struct webhook_conf, allow_private),
	  .description = "allow link-local addresses and spur's own admin API" },
	{ .name = NULL },
};

/* http://... and https://... destinations: the table's defaults. */
static const struct webhook_conf uri_conf = {
	.signing = SIGNING_NONE,
	.format = FORMAT_JSON,
	.connect_timeout_ms = 5000,
	.timeout_ms = 15000,
	.allow_private = false,
};

struct webhook_plugin {
	struct spur_host *host;
};

struct webhook_dest {
	struct webhook_plugin *p;
	struct webhook_conf conf;
	char *display;			/* scheme://host[:port]/path, no query or user */
	bool admin_path;		/* the path is /admin or /admin/... */
	struct spur_sig_key key;
	CURL *curl;
	/* per attempt */
	bool refused;
	char refused_why[160];
	char resp[RESP_KEEP + 1];
	size_t resp_len;
};

/* --- address checks (on the outbox thread, inside curl_easy_perform) ----- */

static bool v4_link_local(uint32_t a) { return (a >> 16) == 0xa9fe; }		/* 169.254/16 */
static bool v4_loopback(uint32_t a) { return (a >> 24) == 127 || a == 0; }	/* 127/8, 0.0.0.0 */

/* Why this address is refused, or NULL. */
static const char *refused_address(const struct webhook_dest *d, const struct sockaddr *sa)
{
	bool link_local = false, loopback = false;

	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		link_local = v4_link_local(a);
		loopback = v4_loopback(a);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			uint32_t v4;
			memcpy(&v4, a->s6_addr + 12, 4);
			link_local = v4_link_local(ntohl(v4));
			loopback = v4_loopback(ntohl(v4));
		} else {
			link_local = IN6_IS_ADDR_LINKLOCAL(a);		/* fe80::/10 */
			loopback = IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a);
		}
	} else {
		return "not an IP address";
	}
	if (link_local)
		return "is link-local";
	if (loopback && d->admin_path)
		return "is a loopback address and the path is spur's admin API";
	return NULL;
}

static curl_socket_t open_socket(void *cls, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct webhook_dest *d = cls;
	const char *why = d->conf.allow_private ? NULL : refused_address(d, &a->addr);

	if (why) {
		char ip[INET6_ADDRSTRLEN] = "?";
		const void *raw = a->family == AF_INET6 ?
			(const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr :
			(const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
		inet_ntop(a->family, raw, ip, sizeof(ip));
		d->refused = true;
		snprintf(d->refused_why, sizeof(d->refused_why),
			 "refused: %s %s (allow_private: true allows it)", ip, why);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	struct webhook_dest *d = cls;
	size_t len = size * n, room = RESP_KEEP - d->resp_len;

	if (room) {
		size_t k = len < room ? len : room;
		memcpy(d->resp + d->resp_len, data, k);
		d->resp_len += k;
		d->resp[d->resp_len] = '\0';
	}
	return len;	/* read and dropped: a big answer costs no memory */
}

/* --- open / close --------------------------------------------------------- */

static bool is_admin_path(const char *p)
{
	while (p[0] == '/' && p[1] == '/')
		p++;
	return strncmp(p, "/admin", 6) == 0 && (p[6] == '\0' || p[6] == '/');
}

/* Parse the URL: http(s) only; the display form and the admin flag. */
static int url_check(struct webhook_dest *d, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *dpath = NULL;
	int rc = -ENOMEM;

	if (!u)
		goto done;
	rc = -EINVAL;
	if (curl_url_set(u, CURLUPART_URL, d->conf.url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &dpath, CURLU_URLDECODE) != CURLUE_OK) {
		snprintf(err, errlen, "http destination: '%s' is not a valid URL", d->conf.url);
		goto done;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "http destination: '%s': only http:// and https://", d->conf.url);
		goto done;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	rc = -ENOMEM;
	size_t n = strlen(scheme) + strlen(host) + (port ? strlen(port) : 0) + strlen(path) + 8;
	d->display = malloc(n);
	if (!d->display)
		goto done;
	snprintf(d->display, n, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "", path);
	d->admin_path = is_admin_path(path) || is_admin_path(dpath);
	rc = 0;
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(dpath);
	curl_url_cleanup(u);
	return rc;
}

static void webhook_close(void *dest)
{
	struct webhook_dest *d = dest;

	if (!d)
		return;
	if (d->curl)
		curl_easy_cleanup(d->curl);
	spur_sig_key_fini(&d->key);
	free(d->conf.url);
	free(d->conf.secret_env);
	free(d->display);
	free(d);
}

/* A destination POSTing to `url` with settings `conf` (strings copied;
 * conf->url is not read). */
static int dest_open(struct webhook_plugin *p, const char *url, const struct webhook_conf *conf,
		     void **dest, char *err, size_t errlen)
{
	struct webhook_dest *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->p = p;
	d->conf = *conf;
	d->conf.url = strdup(url);
	d->conf.secret_env = conf->secret_env ? strdup(conf->secret_env) : NULL;
	if (!d->conf.url || (conf->secret_env && !d->conf.secret_env))
		goto fail;
	if ((rc = url_check(d, err, errlen)) < 0)
		goto fail;
	if (d->conf.signing == SIGNING_STANDARD) {
		const char *secret = getenv(d->conf.secret_env);
		rc = -EINVAL;
		if (!secret || !*secret) {
			snprintf(err, errlen, "http destination %s: signing secret variable %s is not set",
				 d->display, d->conf.secret_env);
			goto fail;
		}
		rc = spur_sig_key_init(&d->key, SPUR_SIG_STANDARD, secret);
		if (rc < 0) {
			snprintf(err, errlen, "http destination %s: %s does not hold a whsec_<base64> secret",
				 d->display, d->conf.secret_env);
			goto fail;
		}
	}
	rc = -ENOMEM;
	d->curl = curl_easy_init();
	if (!d->curl)
		goto fail;
	if (curl_easy_setopt(d->curl, CURLOPT_URL, d->conf.url) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)d->conf.connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, (long)d->conf.timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_OPENSOCKETDATA, d) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, d) != CURLE_OK ||
	    curl_easy_setopt(d->curl, CURLOPT_USERAGENT, "spur/0.1.0") != CURLE_OK) {
		snprintf(err, errlen, "http destination %s: libcurl refused an option", d->display);
		rc = -EINVAL;
		goto fail;
	}
	*dest = d;
	return 0;
fail:
	if (rc == -ENOMEM && !*err)
		snprintf(err, errlen, "out of memory");
	webhook_close(d);
	return rc;
}

/* http://URL and https://URL: a plugin of several schemes gets the whole
 * URI (destination.h). Named destinations come through
 * webhook_open_named(), so `options` is always NULL here. */
static int webhook_open(void *instance, const char *target, const char *options, void **dest,
			char *err, size_t errlen)
{
	return dest_open(instance, target, &uri_conf, dest, err, errlen);
}

/* destinations: { NAME: { type: http, url, ... } }, parsed by the host
 * with webhook_settings (its strings are borrowed for the call). What the
 * table cannot say is checked here, at the first record. */
static int webhook_open_named(void *instance, const char *name, const void *options,
			      void **dest, char *err, size_t errlen)
{
	const struct webhook_conf *c = options;
	bool has_secret = c->secret_env && *c->secret_env;

	if (!c->url || !*c->url) {
		snprintf(err, errlen, "an http destination needs a url (url: https://HOST/PATH)");
		return -EINVAL;
	}
	if (c->signing == SIGNING_STANDARD && !has_secret) {
		snprintf(err, errlen, "http destination: signing: standard-webhooks needs "
			 "secret_env (the variable holding the whsec_... secret)");
		return -EINVAL;
	}
	if (c->signing == SIGNING_NONE && has_secret) {
		snprintf(err, errlen, "http destination: secret_env is set but signing is none: "
			 "add signing: standard-webhooks, or remove secret_env");
		return -EINVAL;
	}
	return dest_open(instance, c->url, c, dest, err, errlen);
}

/* --- deliver -------------------------------------------------------------- */

/* "msg_" + 32 hex of SHA-256(request id, condition, URL): the same for
 * every attempt of one record to one URL, different across records and
 * URLs. Without a request id the record's own bytes stand in for it. */
static int message_id(const struct webhook_dest *d, const char *record, size_t len,
		       const struct spur_record_meta *m, char out[40])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	static const char hx[] = "0123456789abcdef";
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	if (m && m->request_id && *m->request_id) {
		ok = ok && EVP_DigestUpdate(ctx, m->request_id, strlen(m->request_id) + 1);
		if (m->condition)
			ok = ok && EVP_DigestUpdate(ctx, m->condition, strlen(m->condition) + 1);
	} else {
		ok = ok && EVP_DigestUpdate(ctx, record, len);
	}
	ok = ok && EVP_DigestUpdate(ctx, d->conf.url, strlen(d->conf.url));
	ok = ok && EVP_DigestFinal_ex(ctx, h, &hl) && hl >= 16;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOMEM;
	memcpy(out, "msg_", 4);
	for (size_t i = 0; i < 16; i++) {
		out[4 + 2 * i] = hx[h[i] >> 4];
		out[5 + 2 * i] = hx[h[i] & 15];
	}
	out[36] = '\0';
	return 0;
}

/* The CloudEvent attributes of a record (a new object), or NULL. */
static json_t *ce_attrs(const char *record, size_t len, const struct spur_record_meta *m,
			const char *id)
{
	json_t *r = json_loadb(record, len, 0, NULL);
	const char *arn = json_string_value(json_object_get(json_object_get(r, "requestContext"),
							    "functionArn"));
	const char *time_s = json_string_value(json_object_get(r, "timestamp"));
	bool ok = m && m->condition && strcmp(m->condition, "Success") == 0;
	json_t *a = json_pack("{s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", id,
			      "source", arn ? arn : "spur",
			      "type", ok ? "spur.invocation.success" : "spur.invocation.failure");

	if (a && m && m->function)
		json_object_set_new(a, "subject", json_string(m->function));
	if (a && time_s)
		json_object_set_new(a, "time", json_string(time_s));
	json_decref(r);
	return a;
}

/* Structured mode: the attributes and "data": the record, as it is. */
static char *ce_structured(json_t *attrs, const char *record, size_t len, size_t *out_len)
{
	json_object_set_new(attrs, "datacontenttype", json_string("application/json"));
	char *head = json_dumps(attrs, JSON_COMPACT);
	size_t hl = head ? strlen(head) : 0;
	char *body = hl >= 2 ? malloc(hl + len + 10) : NULL;

	if (body) {
		memcpy(body, head, hl - 1);	/* without the closing brace */
		memcpy(body + hl - 1, ",\"data\":", 8);
		memcpy(body + hl + 7, record, len);
		body[hl + 7 + len] = '}';
		*out_len = hl + 8 + len;
	}
	free(head);
	return body;
}

static struct curl_slist *add_header(struct curl_slist *l, bool *ok, const char *name,
				     const char *value)
{
	char line[640];	/* a 512-byte tracestate fits */
	struct curl_slist *n;

	if (!*ok || !value || strpbrk(value, "\r\n"))	/* never split a header */
		return l;
	snprintf(line, sizeof(line), "%s: %s", name, value);
	n = curl_slist_append(l, line);
	if (!n)
		*ok = false;
	return n ? n : l;
}

static enum spur_deliver classify(struct webhook_dest *d, CURLcode cc, char *why, size_t whylen)
{
	long status = 0;

	if (cc != CURLE_OK) {
		if (d->refused) {
			snprintf(why, whylen, "%s: %s", d->display, d->refused_why);
			return SPUR_DELIVER_DROP;
		}
		snprintf(why, whylen, "%s: %s", d->display, curl_easy_strerror(cc));
		switch (cc) {
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
			return SPUR_DELIVER_DROP;
		default:	/* timeouts, resolution, connection, TLS: maybe later */
			return SPUR_DELIVER_RETRY;
		}
	}
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return SPUR_DELIVER_OK;
	for (size_t i = 0; i < d->resp_len; i++)	/* printable for the log */
		if ((unsigned char)d->resp[i] < 0x20 || (unsigned char)d->resp[i] == 0x7f)
			d->resp[i] = ' ';
	snprintf(why, whylen, "%s answered HTTP %ld%s%.120s", d->display, status,
		 d->resp_len ? ": " : "", d->resp);
	if (status == 408 || status == 429 || status >= 500)
		return SPUR_DELIVER_RETRY;
	return SPUR_DELIVER_DROP;
}

static enum spur_deliver webhook_deliver(void *dest, const char *record, size_t len,
					 const struct spur_record_meta *meta,
					 char *why, size_t whylen)
{
	struct webhook_dest *d = dest;
	struct curl_slist *h = NULL;
	json_t *attrs = NULL;
	char *envelope = NULL;
	const char *body = record;
	size_t body_len = len;
	char id[40], sig[SPUR_SIG_MAX], ts[24];
	bool ok = true;
	enum spur_deliver res = SPUR_DELIVER_RETRY;
	CURLcode cc;

	if (message_id(d, record, len, meta, id) < 0)
		goto oom;
	if (d->conf.format != FORMAT_JSON) {
		attrs = ce_attrs(record, len, meta, id);
		if (!attrs)
			goto oom;
	}
	if (d->conf.format == FORMAT_CE) {
		envelope = ce_structured(attrs, record, len, &body_len);
		if (!envelope)
			goto oom;
		body = envelope;
		h = add_header(h, &ok, "Content-Type", "application/cloudevents+json");
	} else {
		h = add_header(h, &ok, "Content-Type", "application/json");
	}
	if (d->conf.format == FORMAT_CE_BINARY) {
		const char *k;
		json_t *v;
		json_object_foreach(attrs, k, v) {
			char name[64];
			snprintf(name, sizeof(name), "ce-%s", k);
			h = add_header(h, &ok, name, json_string_value(v));
		}
	}
	if (SPUR_RECORD_META_HAS(meta, tracestate) && meta->traceparent) {
		/* the event's trace context, forwarded as received */
		h = add_header(h, &ok, "traceparent", meta->traceparent);
		if (meta->tracestate)
			h = add_header(h, &ok, "tracestate", meta->tracestate);
	}
	h = add_header(h, &ok, "Expect", "");	/* no 100-continue round trip */
	if (d->conf.signing == SIGNING_STANDARD) {
		int64_t now = (int64_t)time(NULL);
		if (spur_sig_sign(SPUR_SIG_STANDARD, &d->key, id, now, body, body_len, sig) < 0)
			goto oom;
		snprintf(ts, sizeof(ts), "%" PRId64, now);
		h = add_header(h, &ok, "webhook-id", id);
		h = add_header(h, &ok, "webhook-timestamp", ts);
		h = add_header(h, &ok, "webhook-signature", sig);
	}
	if (!ok)
		goto oom;
	d->refused = false;
	d->resp_len = 0;
	d->resp[0] = '\0';
	curl_easy_setopt(d->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(d->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(d->curl);
	res = classify(d, cc, why, whylen);
	curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, NULL);
	goto done;
oom:
	snprintf(why, whylen, "%s: out of memory", d->display);
done:
	curl_slist_free_all(h);
	free(envelope);
	json_decref(attrs);
	OPENSSL_cleanse(sig, sizeof(sig));
	return res;
}

static int webhook_flush(void *dest)
{
	return 0;	/* every deliver() was one whole request */
}

/* --- plugin --------------------------------------------------------------- */

static int webhook_init(struct spur_host *host, const void *options, void **instance)
{
	struct webhook_plugin *p;

	/* thread-safe and reference-counted in libcurl >= 7.84 */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		spur_log(host, SPUR_LOG_ERROR, "webhook: libcurl initialisation failed");
		return -EIO;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	p->host = host;
	*instance = p;
	return 0;
}

static void webhook_fini(void *instance)
{
	if (!instance)
		return;
	free(instance);
	curl_global_cleanup();
}

static const struct spur_destination webhook_destination = {
	.struct_size = sizeof(struct spur_destination),
	.scheme = "http|https",
	.open = webhook_open,
	.deliver = webhook_deliver,
	.flush = webhook_flush,
	.close = webhook_close,
	.options = webhook_settings,
	.options_size = sizeof(struct webhook_conf),
	.open_named = webhook_open_named,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "webhook",
	.version = "0.1.0",
	.description = "http:// and https:// destination: records POSTed as JSON or CloudEvents, "
		       "optionally signed (Standard Webhooks), libcurl",
	.roles = SPUR_ROLE_DESTINATION,
	.init = webhook_init,
	.fini = webhook_fini,
	.destination = &webhook_destination,
};
