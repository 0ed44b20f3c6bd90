/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the client commands: `spur invoke` (the Invoke API), `spur
 * queue` and `spur event` (the admin API under /admin/); `spur publish`,
 * `spur alias` and `spur versions` (the Lambda management API) are in
 * cli_lambda.c. Each is one or a few HTTP calls with libcurl through
 * spur_cli_http_call() (cli.h; `spur top` in top.c uses it too).
 * The endpoint is -e URL, else $SPUR_ENDPOINT, else http://127.0.0.1:8080.
 * $SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.
 * Exit codes: 0 success, 1 usage, 2 the server or the function answered
 * with an error, 3 cannot connect.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct spur_cli_reply *r = ud;
	return spur_buf_append(&r->body, p, size * n) < 0 ? 0 : size * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t k = strlen(name);
	if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	const char *v = line + k + 1;
	size_t vn = n - k - 1;
	while (vn && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n'))
		vn--;
	if (vn >= cap)
		vn = cap - 1;
	memcpy(out, v, vn);
	out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct spur_cli_reply *r = ud;
	header_value(p, size * n, "X-Amz-Function-Error", r->function_error, sizeof(r->function_error));
	header_value(p, size * n, "X-Amz-Log-Result", r->log_result, sizeof(r->log_result));
	header_value(p, size * n, "x-amzn-ErrorType", r->error_type, sizeof(r->error_type));
	header_value(p, size * n, "x-amzn-RequestId", r->request_id, sizeof(r->request_id));
	return size * n;
}

static int unbase64(const char *in, struct spur_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	for (const char *p = in; *p && *p != '='; p++) {
		const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *q = strchr(tbl, *p);
		if (!q)
			return -1;
		acc = acc << 6 | (uint32_t)(q - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char c = (char)(acc >> bits);
			spur_buf_append(out, &c, 1);
		}
	}
	return 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct spur_buf b;
	spur_buf_init(&b);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		spur_buf_append(&b, chunk, n);
	fclose(f);
	return spur_buf_steal(&b, len);
}

/* --- one HTTP call ------------------------------------------------------------ */

const char *spur_cli_endpoint(const char *endpoint)
{
	return endpoint && *endpoint ? endpoint : "http://127.0.0.1:8080";
}

/* See cli.h. */
void spur_cli_url_escape(struct spur_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			spur_buf_append(b, s, 1);
		else
			spur_buf_printf(b, "%%%02X", c);
	}
}

/* See cli.h. */
int spur_cli_http_call(const char *cmd, const char *endpoint, const char *method,
		       const char *path, const char *body, size_t len,
		       const char *const *headers, struct spur_cli_reply *r, long *status)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct spur_buf url, auth;
	int rc = SPUR_EXIT_USAGE;
	spur_buf_init(&url);
	spur_buf_init(&auth);
	if (!curl)
		goto done;
	spur_buf_printf(&url, "%s%s%s", endpoint,
			endpoint[strlen(endpoint) - 1] == '/' ? "" : "/", path);
	if (body)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	for (size_t i = 0; headers && headers[i]; i++)
		hdr = curl_slist_append(hdr, headers[i]);
	const char *token = getenv("SPUR_ADMIN_TOKEN");
	if (token && *token) {
		spur_buf_printf(&auth, "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth.data);
	}
	if (url.failed || auth.failed)
		goto done;
	curl_easy_setopt(curl, CURLOPT_URL, url.data);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		fprintf(stderr, "spur %s: cannot reach %s: %s\n", cmd, endpoint, curl_easy_strerror(cc));
		rc = SPUR_EXIT_CONNECT;
		goto done;
	}
	*status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	rc = SPUR_EXIT_OK;
done:
	if (rc == SPUR_EXIT_USAGE)
		fprintf(stderr, "spur %s: out of memory\n", cmd);
	curl_slist_free_all(hdr);
	if (curl)
		curl_easy_cleanup(curl);
	spur_buf_fini(&url);
	spur_buf_fini(&auth);
	return rc;
}

/* --- spur invoke --------------------------------------------------------------- */

static void usage(FILE *out)
{
	fputs("usage: spur invoke [-e URL] FN[:QUAL] [--payload JSON | --payload @FILE] [--async] [--log]\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "  -p, --payload JSON  the event; @FILE reads it from a file (default {})\n"
	      "  --async             invoke asynchronously (X-Amz-Invocation-Type: Event)\n"
	      "  --log               print the invocation's log tail to stderr\n", out);
}

int spur_cli_invoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "payload", required_argument, NULL, 'p' },
		{ "async", no_argument, NULL, 'a' },
		{ "log", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("SPUR_ENDPOINT");
	const char *payload_arg = "{}";
	bool async = false, log = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'p': payload_arg = optarg; break;
		case 'a': async = true; break;
		case 'l': log = true; break;
		case 'h': usage(stdout); return SPUR_EXIT_OK;
		default: usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return SPUR_EXIT_USAGE;
	}
	endpoint = spur_cli_endpoint(endpoint);

	int rc;
	char *payload = NULL;
	size_t payload_len;
	if (payload_arg[0] == '@') {
		payload = read_file(payload_arg + 1, &payload_len);
		if (!payload) {
			fprintf(stderr, "spur invoke: cannot read %s\n", payload_arg + 1);
			return SPUR_EXIT_USAGE;
		}
	} else {
		payload = strdup(payload_arg);
		payload_len = strlen(payload_arg);
	}

	struct spur_cli_reply r = { 0 };
	spur_buf_init(&r.body);
	struct spur_buf path;
	spur_buf_init(&path);
	spur_buf_puts(&path, "2015-03-31/functions/");
	spur_cli_url_escape(&path, argv[optind]);
	spur_buf_puts(&path, "/invocations");
	const char *headers[] = {
		async ? "X-Amz-Invocation-Type: Event" : "X-Amz-Invocation-Type: RequestResponse",
		log ? "X-Amz-Log-Type: Tail" : NULL,
		NULL,
	};
	long status = 0;
	rc = !payload || path.failed ? SPUR_EXIT_USAGE :
		spur_cli_http_call("invoke", endpoint, "POST", path.data, payload, payload_len,
				   headers, &r, &status);
	spur_buf_fini(&path);
	if (rc != SPUR_EXIT_OK)
		goto done;
	if (log && r.log_result[0]) {
		struct spur_buf text;
		spur_buf_init(&text);
		if (unbase64(r.log_result, &text) == 0 && text.len)
			fwrite(text.data, 1, text.len, stderr);
		spur_buf_fini(&text);
	}
	if (r.body.len) {
		fwrite(r.body.data, 1, r.body.len, stdout);
		fputc('\n', stdout);
	} else if (async && status == 202) {	/* stored: say which event (spur event ID) */
		bool id_ok = r.request_id[0] &&
			strspn(r.request_id, "0123456789abcdef-") == strlen(r.request_id);
		if (id_ok)
			printf("{\"StatusCode\":202,\"EventId\":\"%s\"}\n", r.request_id);
		else
			printf("{\"StatusCode\":202}\n");
	}
	if (status >= 300) {
		fprintf(stderr, "spur invoke: HTTP %ld %s\n", status, r.error_type);
		rc = SPUR_EXIT_SERVER;
	} else if (r.function_error[0]) {
		fprintf(stderr, "spur invoke: function error (%s)\n", r.function_error);
		rc = SPUR_EXIT_SERVER;
	} else {
		rc = SPUR_EXIT_OK;
	}
done:
	spur_buf_fini(&r.body);
	free(payload);
	return rc;
}

/* --- spur queue, spur event: the admin API -------------------------------------- */

/* An answer of 300 or more: say what the server said; SPUR_EXIT_SERVER. */
static int server_error(const char *cmd, long status, const struct spur_cli_reply *r)
{
	json_t *o = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(o, "message"));
	fprintf(stderr, "spur %s: HTTP %ld: %s\n", cmd, status,
		msg ? msg : r->body.len ? r->body.data : "(no message)");
	json_decref(o);
	return SPUR_EXIT_SERVER;
}

/* One admin call whose answer must be JSON; *out is the parsed answer. */
static int admin_call(const char *cmd, const char *endpoint, const char *method,
		      const char *path, const char *body, json_t **out)
{
	struct spur_cli_reply r = { 0 };
	long status = 0;
	spur_buf_init(&r.body);
	int rc = spur_cli_http_call(cmd, endpoint, method, path, body, body ? strlen(body) : 0,
				    NULL, &r, &status);
	if (rc == SPUR_EXIT_OK && status >= 300)
		rc = server_error(cmd, status, &r);
	if (rc == SPUR_EXIT_OK) {
		*out = r.body.len ? json_loadb(r.body.data, r.body.len, JSON_DECODE_ANY, NULL) : NULL;
		if (!*out) {
			fprintf(stderr, "spur %s: the server's answer is not JSON\n", cmd);
			rc = SPUR_EXIT_SERVER;
		}
	}
	spur_buf_fini(&r.body);
	return rc;
}

static void queue_usage(FILE *out)
{
	fputs("usage: spur queue [-e URL] ls\n"
	      "       spur queue [-e URL] peek NAME [-n N]\n"
	      "       spur queue [-e URL] replay NAME [--to FN[:QUAL]]\n"
	      "       spur queue [-e URL] purge NAME\n"
	      "  ls       every queue: visible messages, in flight (leased or delayed), and the\n"
	      "           depth of its dead-letter queue\n"
	      "  peek     the first N messages (default 10, at most 1000) as JSON lines,\n"
	      "           without removing them\n"
	      "  replay   run each message again: records of 'undeliverable' go back to\n"
	      "           their destinations; other messages become async events of FN\n"
	      "           (--to, required then). Shows progress when stderr is a terminal.\n"
	      "  purge    delete every message of the queue\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "$SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.\n", out);
}

static int queue_ls(const char *endpoint)
{
	json_t *list = NULL;
	int rc = admin_call("queue", endpoint, "GET", "admin/queues", NULL, &list);
	if (rc != SPUR_EXIT_OK)
		return rc;
	size_t i, width = 4;
	json_t *q;
	json_array_foreach(list, i, q) {
		const char *name = json_string_value(json_object_get(q, "name"));
		if (name && strlen(name) > width)
			width = strlen(name);
	}
	printf("%-*s  %10s  %10s  %s\n", (int)width, "NAME", "VISIBLE", "IN-FLIGHT", "DEAD-LETTER");
	json_array_foreach(list, i, q) {
		const char *name = json_string_value(json_object_get(q, "name"));
		const char *dl = json_string_value(json_object_get(q, "deadLetter"));
		printf("%-*s  %10lld  %10lld  ", (int)width, name ? name : "?",
		       (long long)json_integer_value(json_object_get(q, "visible")),
		       (long long)json_integer_value(json_object_get(q, "delayed")));
		if (dl)
			printf("%lld (%s)\n",
			       (long long)json_integer_value(json_object_get(q, "deadLettered")), dl);
		else
			printf("-\n");
	}
	json_decref(list);
	return SPUR_EXIT_OK;
}

static int queue_peek(const char *endpoint, const char *name, long n)
{
	struct spur_buf path;
	json_t *list = NULL;
	spur_buf_init(&path);
	spur_buf_puts(&path, "admin/queues/");
	spur_cli_url_escape(&path, name);
	spur_buf_printf(&path, "/messages?n=%ld", n);
	int rc = path.failed ? SPUR_EXIT_USAGE :
		admin_call("queue", endpoint, "GET", path.data, NULL, &list);
	spur_buf_fini(&path);
	if (rc != SPUR_EXIT_OK)
		return rc;
	size_t i;
	json_t *m;
	json_array_foreach(list, i, m) {
		char *line = json_dumps(m, JSON_COMPACT);
		if (line)
			puts(line);
		free(line);
	}
	json_decref(list);
	return SPUR_EXIT_OK;
}

#define REPLAY_PAGE 100

/* On a terminal, replay page by page and show the count as it grows;
 * otherwise one call. Messages that fail stay at the head of the queue:
 * the next page starts after them (offset). */
static int queue_replay(const char *endpoint, const char *name, const char *to)
{
	bool progress = isatty(STDERR_FILENO);
	json_t *req = to ? json_pack("{s:s}", "to", to) : json_object();
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	uint64_t replayed = 0, failed = 0, total = 0;
	bool first = true;
	int rc = SPUR_EXIT_USAGE;
	json_decref(req);
	if (!body) {
		fprintf(stderr, "spur queue: out of memory\n");
		return rc;
	}
	for (;;) {
		struct spur_buf path;
		json_t *ans = NULL;
		spur_buf_init(&path);
		spur_buf_puts(&path, "admin/queues/");
		spur_cli_url_escape(&path, name);
		spur_buf_puts(&path, "/replay");
		if (progress)
			spur_buf_printf(&path, "?max=%d&offset=%llu", REPLAY_PAGE,
					(unsigned long long)failed);
		rc = path.failed ? SPUR_EXIT_USAGE :
			admin_call("queue", endpoint, "POST", path.data, body, &ans);
		spur_buf_fini(&path);
		if (rc != SPUR_EXIT_OK)
			break;
		uint64_t r = (uint64_t)json_integer_value(json_object_get(ans, "replayed"));
		uint64_t f = (uint64_t)json_integer_value(json_object_get(ans, "failed"));
		uint64_t left = (uint64_t)json_integer_value(json_object_get(ans, "remaining"));
		json_decref(ans);
		if (first)	/* what was there at the start, and no more */
			total = r + f + left;
		first = false;
		replayed += r;
		failed += f;
		if (progress)
			fprintf(stderr, "\rreplayed %llu…", (unsigned long long)replayed);
		if (!progress || r + f == 0 || left == 0 || replayed + failed >= total)
			break;
	}
	if (progress && !first)
		fputc('\n', stderr);
	free(body);
	if (rc != SPUR_EXIT_OK)
		return rc;
	printf("replayed %llu message(s) of %s, %llu failed\n", (unsigned long long)replayed,
	       name, (unsigned long long)failed);
	if (failed) {
		fprintf(stderr, "spur queue: %llu message(s) could not be replayed and stay in %s "
			"(see the router's log)\n", (unsigned long long)failed, name);
		return SPUR_EXIT_SERVER;
	}
	return SPUR_EXIT_OK;
}

static int queue_purge(const char *endpoint, const char *name)
{
	struct spur_buf path;
	json_t *ans = NULL;
	spur_buf_init(&path);
	spur_buf_puts(&path, "admin/queues/");
	spur_cli_url_escape(&path, name);
	int rc = path.failed ? SPUR_EXIT_USAGE :
		admin_call("queue", endpoint, "DELETE", path.data, NULL, &ans);
	spur_buf_fini(&path);
	if (rc != SPUR_EXIT_OK)
		return rc;
	printf("purged %lld message(s) of %s\n",
	       (long long)json_integer_value(json_object_get(ans, "purged")), name);
	json_decref(ans);
	return SPUR_EXIT_OK;
}

int spur_cli_queue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("SPUR_ENDPOINT");
	const char *to = NULL;
	long n = 10;
	bool n_given = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 't': to = optarg; break;
		case 'n': {
			char *end;
			n = strtol(optarg, &end, 10);
			n_given = true;
			if (*end || end == optarg || n < 1 || n > 1000) {
				fprintf(stderr, "spur queue: -n takes a number from 1 to 1000\n");
				return SPUR_EXIT_USAGE;
			}
			break;
		}
		case 'h': queue_usage(stdout); return SPUR_EXIT_OK;
		default: queue_usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	endpoint = spur_cli_endpoint(endpoint);
	const char *sub = optind < argc ? argv[optind] : NULL;
	int args = argc - optind - 1;	/* after the subcommand */
	const char *name = args >= 1 ? argv[optind + 1] : NULL;
	if (sub && strcmp(sub, "ls") == 0 && args == 0 && !to && !n_given)
		return queue_ls(endpoint);
	if (sub && strcmp(sub, "peek") == 0 && args == 1 && !to)
		return queue_peek(endpoint, name, n);
	if (sub && strcmp(sub, "replay") == 0 && args == 1 && !n_given)
		return queue_replay(endpoint, name, to);
	if (sub && strcmp(sub, "purge") == 0 && args == 1 && !to && !n_given)
		return queue_purge(endpoint, name);
	queue_usage(stderr);
	return SPUR_EXIT_USAGE;
}

/* See cli.h. */
int spur_cli_endpoint_and_operand(int argc, char **argv, void (*show_usage)(FILE *),
				  const char **endpoint)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	*endpoint = getenv("SPUR_ENDPOINT");
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': *endpoint = optarg; break;
		case 'h': show_usage(stdout); return SPUR_EXIT_OK;
		default: show_usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		show_usage(stderr);
		return SPUR_EXIT_USAGE;
	}
	*endpoint = spur_cli_endpoint(*endpoint);
	return -1;
}

static void event_usage(FILE *out)
{
	fputs("usage: spur event [-e URL] EVENT-ID\n"
	      "  the state (queued, retrying, done), attempts, last error, condition and\n"
	      "  record of one async event, as JSON\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "$SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.\n", out);
}

int spur_cli_event(int argc, char **argv)
{
	const char *endpoint;
	int done = spur_cli_endpoint_and_operand(argc, argv, event_usage, &endpoint);
	if (done >= 0)
		return done;
	struct spur_buf path;
	json_t *ans = NULL;
	spur_buf_init(&path);
	spur_buf_puts(&path, "admin/events/");
	spur_cli_url_escape(&path, argv[optind]);
	int rc = path.failed ? SPUR_EXIT_USAGE :
		admin_call("event", endpoint, "GET", path.data, NULL, &ans);
	spur_buf_fini(&path);
	if (rc != SPUR_EXIT_OK)
		return rc;
	char *text = json_dumps(ans, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text)
		puts(text);
	free(text);
	json_decref(ans);
	return SPUR_EXIT_OK;
}
