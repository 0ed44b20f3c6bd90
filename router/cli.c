/* SPDX-License-Identifier: MIT */
/*
 * cli.c - `spur invoke`: one Invoke API call with libcurl.
 * The endpoint is -e URL, else $SPUR_ENDPOINT, else http://127.0.0.1:8080.
 * $SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.
 * Exit codes: 0 success, 1 usage, 2 the server or the function answered
 * with an error, 3 cannot connect.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "util.h"

struct reply {
	struct spur_buf body;
	char function_error[64];
	char log_result[8192];
	char error_type[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
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
	struct reply *r = ud;
	header_value(p, size * n, "X-Amz-Function-Error", r->function_error, sizeof(r->function_error));
	header_value(p, size * n, "X-Amz-Log-Result", r->log_result, sizeof(r->log_result));
	header_value(p, size * n, "x-amzn-ErrorType", r->error_type, sizeof(r->error_type));
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
	if (!endpoint || !*endpoint)
		endpoint = "http://127.0.0.1:8080";

	int rc = SPUR_EXIT_USAGE;
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

	CURL *curl = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct reply r = { 0 };
	spur_buf_init(&r.body);
	if (!curl)
		goto done;
	char *fn = curl_easy_escape(curl, argv[optind], 0);
	struct spur_buf url;
	spur_buf_init(&url);
	spur_buf_printf(&url, "%s%s2015-03-31/functions/%s/invocations", endpoint,
			endpoint[strlen(endpoint) - 1] == '/' ? "" : "/", fn);
	curl_free(fn);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, async ? "X-Amz-Invocation-Type: Event"
					   : "X-Amz-Invocation-Type: RequestResponse");
	if (log)
		hdr = curl_slist_append(hdr, "X-Amz-Log-Type: Tail");
	const char *token = getenv("SPUR_ADMIN_TOKEN");
	struct spur_buf auth;
	spur_buf_init(&auth);
	if (token && *token) {
		spur_buf_printf(&auth, "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth.data);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url.data);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload_len);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(curl);
	spur_buf_fini(&url);
	spur_buf_fini(&auth);
	if (cc != CURLE_OK) {
		fprintf(stderr, "spur invoke: cannot reach %s: %s\n", endpoint, curl_easy_strerror(cc));
		rc = SPUR_EXIT_CONNECT;
		goto done;
	}
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
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
	curl_slist_free_all(hdr);
	if (curl)
		curl_easy_cleanup(curl);
	spur_buf_fini(&r.body);
	free(payload);
	return rc;
}
