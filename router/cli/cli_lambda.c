/* SPDX-License-Identifier: MIT */
/*
 * cli_lambda.c - `spur publish`, `spur alias` and `spur versions`: the
 * Lambda management API (versions and aliases of a function), its answers
 * printed as tables. The HTTP call, the endpoint and the exit codes are
 * those of cli.c (cli.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* --- spur publish, spur alias, spur versions: the Lambda management API ------------ */

/* One call of the Lambda management API: *out is the parsed answer (NULL
 * for an empty one, a 204). An error answer is said on stderr with its
 * Lambda error name: SPUR_EXIT_SERVER. *status, when given, gets the status
 * (and then a 404 is left to the caller: SPUR_EXIT_OK, *out the error). */
static int lambda_call(const char *cmd, const char *endpoint, const char *method,
		       const char *path, json_t *req, json_t **out, long *status_out)
{
	struct spur_cli_reply r = { 0 };
	long status = 0;
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	*out = NULL;
	spur_buf_init(&r.body);
	if (req && !body) {
		fprintf(stderr, "spur %s: out of memory\n", cmd);
		return SPUR_EXIT_USAGE;
	}
	int rc = spur_cli_http_call(cmd, endpoint, method, path, body, body ? strlen(body) : 0,
				    NULL, &r, &status);
	free(body);
	if (rc == SPUR_EXIT_OK) {
		*out = r.body.len ? json_loadb(r.body.data, r.body.len, JSON_DECODE_ANY, NULL) : NULL;
		if (status_out)
			*status_out = status;
		if (status >= 300 && !(status_out && status == 404)) {
			const char *msg = json_string_value(json_object_get(*out, "message"));
			fprintf(stderr, "spur %s: %s%s(HTTP %ld) %s\n", cmd, r.error_type,
				r.error_type[0] ? " " : "", status,
				msg ? msg : r.body.len ? r.body.data : "(no message)");
			json_decref(*out);
			*out = NULL;
			rc = SPUR_EXIT_SERVER;
		} else if (r.body.len && !*out) {
			fprintf(stderr, "spur %s: the server's answer is not JSON\n", cmd);
			rc = SPUR_EXIT_SERVER;
		}
	}
	spur_buf_fini(&r.body);
	return rc;
}

/* "2015-03-31/functions/FN[/rest]" with FN escaped. */
static char *fn_path(const char *fn, const char *rest, const char *tail)
{
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_puts(&b, "2015-03-31/functions/");
	spur_cli_url_escape(&b, fn);
	if (rest)
		spur_buf_puts(&b, rest);
	if (tail)
		spur_cli_url_escape(&b, tail);
	size_t n;
	return b.failed ? (spur_buf_fini(&b), NULL) : spur_buf_steal(&b, &n);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* "2=25%" of an alias's RoutingConfig, or "-". */
static void routing_text(json_t *alias, char *out, size_t cap)
{
	json_t *w = json_object_get(json_object_get(alias, "RoutingConfig"),
				    "AdditionalVersionWeights");
	const char *k;
	json_t *v;
	size_t n = 0;
	out[0] = '\0';
	json_object_foreach(w, k, v)
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s=%g%%", n ? "," : "",
				      k, json_number_value(v) * 100);
	if (!out[0])
		snprintf(out, cap, "-");
}

/* The table of aliases. */
static void print_aliases(json_t *list)
{
	size_t i, wn = 5, wv = 7;
	json_t *a;
	json_array_foreach(list, i, a) {
		if (strlen(jstr(a, "Name")) > wn)
			wn = strlen(jstr(a, "Name"));
		if (strlen(jstr(a, "FunctionVersion")) > wv)
			wv = strlen(jstr(a, "FunctionVersion"));
	}
	printf("%-*s  %-*s  %-16s  %s\n", (int)wn, "ALIAS", (int)wv, "VERSION", "ROUTING",
	       "DESCRIPTION");
	json_array_foreach(list, i, a) {
		char routing[128];
		routing_text(a, routing, sizeof(routing));
		printf("%-*s  %-*s  %-16s  %s\n", (int)wn, jstr(a, "Name"), (int)wv,
		       jstr(a, "FunctionVersion"), routing, jstr(a, "Description"));
	}
}

static void publish_usage(FILE *out)
{
	fputs("usage: spur publish [-e URL] FN [--description TEXT]\n"
	      "  publish FN's $LATEST (its code and settings as last loaded) as a new\n"
	      "  immutable version; with nothing changed since the last version, that\n"
	      "  version is returned instead of a new one\n"
	      "  -d, --description TEXT  the version's description\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "$SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.\n", out);
}

/* The highest published version number in a ListVersionsByFunction answer. */
static long last_version(json_t *ans)
{
	long max = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(ans, "Versions"), i, v) {
		long n = strtol(jstr(v, "Version"), NULL, 10);
		if (n > max)
			max = n;
	}
	return max;
}

int spur_cli_publish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("SPUR_ENDPOINT");
	const char *desc = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'd': desc = optarg; break;
		case 'h': publish_usage(stdout); return SPUR_EXIT_OK;
		default: publish_usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		publish_usage(stderr);
		return SPUR_EXIT_USAGE;
	}
	endpoint = spur_cli_endpoint(endpoint);
	const char *fn = argv[optind];
	char *vpath = fn_path(fn, "/versions", NULL);
	json_t *before = NULL, *ans = NULL, *req = desc ? json_pack("{s:s}", "Description", desc) :
		json_object();
	int rc = vpath && req ? SPUR_EXIT_OK : SPUR_EXIT_USAGE;
	if (rc == SPUR_EXIT_OK)
		rc = lambda_call("publish", endpoint, "GET", vpath, NULL, &before, NULL);
	if (rc == SPUR_EXIT_OK)
		rc = lambda_call("publish", endpoint, "POST", vpath, req, &ans, NULL);
	if (rc == SPUR_EXIT_OK) {
		const char *v = jstr(ans, "Version");
		bool fresh = strtol(v, NULL, 10) > last_version(before);
		printf("%-8s  %-7s  %-44s  %-28s  %s\n", "FUNCTION", "VERSION", "CODE SHA256",
		       "LAST MODIFIED", "DESCRIPTION");
		printf("%-8s  %-7s  %-44s  %-28s  %s\n", jstr(ans, "FunctionName"), v,
		       jstr(ans, "CodeSha256"), jstr(ans, "LastModified"), jstr(ans, "Description"));
		if (!fresh)
			printf("nothing changed since version %s: no new version\n", v);
	}
	if (rc == SPUR_EXIT_USAGE && !(vpath && req))
		fprintf(stderr, "spur publish: out of memory\n");
	json_decref(before);
	json_decref(ans);
	json_decref(req);
	free(vpath);
	return rc;
}

static void versions_usage(FILE *out)
{
	fputs("usage: spur versions [-e URL] FN\n"
	      "  FN's $LATEST and published versions, with the aliases that point to them\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "$SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.\n", out);
}

int spur_cli_versions(int argc, char **argv)
{
	const char *endpoint;
	int done = spur_cli_endpoint_and_operand(argc, argv, versions_usage, &endpoint);
	if (done >= 0)
		return done;
	char *vpath = fn_path(argv[optind], "/versions", NULL);
	char *apath = fn_path(argv[optind], "/aliases", NULL);
	json_t *vers = NULL, *als = NULL;
	int rc = vpath && apath ? SPUR_EXIT_OK : SPUR_EXIT_USAGE;
	if (rc == SPUR_EXIT_OK)
		rc = lambda_call("versions", endpoint, "GET", vpath, NULL, &vers, NULL);
	if (rc == SPUR_EXIT_OK)
		rc = lambda_call("versions", endpoint, "GET", apath, NULL, &als, NULL);
	if (rc == SPUR_EXIT_OK) {
		size_t i, k;
		json_t *v, *a;
		printf("%-7s  %-44s  %9s  %-28s  %-20s  %s\n", "VERSION", "CODE SHA256", "SIZE",
		       "LAST MODIFIED", "ALIASES", "DESCRIPTION");
		json_array_foreach(json_object_get(vers, "Versions"), i, v) {
			const char *ver = jstr(v, "Version");
			char names[256] = "";
			size_t n = 0;
			json_array_foreach(json_object_get(als, "Aliases"), k, a) {
				json_t *w = json_object_get(json_object_get(a, "RoutingConfig"),
							    "AdditionalVersionWeights");
				json_t *extra = json_object_get(w, ver);
				if (strcmp(jstr(a, "FunctionVersion"), ver) == 0)
					n += (size_t)snprintf(names + n, n < sizeof(names) ?
							      sizeof(names) - n : 0, "%s%s",
							      n ? "," : "", jstr(a, "Name"));
				else if (extra)
					n += (size_t)snprintf(names + n, n < sizeof(names) ?
							      sizeof(names) - n : 0, "%s%s(%g%%)",
							      n ? "," : "", jstr(a, "Name"),
							      json_number_value(extra) * 100);
			}
			printf("%-7s  %-44s  %9lld  %-28s  %-20s  %s\n", ver, jstr(v, "CodeSha256"),
			       (long long)json_integer_value(json_object_get(v, "CodeSize")),
			       jstr(v, "LastModified"), names[0] ? names : "-", jstr(v, "Description"));
		}
	}
	if (rc == SPUR_EXIT_USAGE && !(vpath && apath))
		fprintf(stderr, "spur versions: out of memory\n");
	json_decref(vers);
	json_decref(als);
	free(vpath);
	free(apath);
	return rc;
}

static void alias_usage(FILE *out)
{
	fputs("usage: spur alias [-e URL] set FN ALIAS VERSION [--weight VERSION=W]\n"
	      "       spur alias [-e URL] ls FN\n"
	      "       spur alias [-e URL] rm FN ALIAS\n"
	      "  set   point ALIAS of FN at VERSION (created when it does not exist);\n"
	      "        --weight sends the fraction W (0..1) of events to another version\n"
	      "  ls    the aliases of FN\n"
	      "  rm    delete ALIAS of FN\n"
	      "  -e, --endpoint URL  router to call (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "$SPUR_ADMIN_TOKEN, when set, is sent as a bearer token.\n", out);
}

static int alias_set(const char *endpoint, const char *fn, const char *name,
		     const char *version, const char *weight)
{
	json_t *weights = json_object();
	if (weight) {
		const char *eq = strchr(weight, '=');
		char *end = NULL;
		double w = eq ? strtod(eq + 1, &end) : 0;
		char ver[64];
		if (!eq || eq == weight || (size_t)(eq - weight) >= sizeof(ver) || !end ||
		    end == eq + 1 || *end) {
			fprintf(stderr, "spur alias: --weight takes VERSION=W (W a fraction such as 0.25)\n");
			json_decref(weights);
			return SPUR_EXIT_USAGE;
		}
		snprintf(ver, sizeof(ver), "%.*s", (int)(eq - weight), weight);
		json_object_set_new(weights, ver, json_real(w));
	}
	json_t *req = json_pack("{s:s, s:{s:o}}", "FunctionVersion", version, "RoutingConfig",
				"AdditionalVersionWeights", weights);
	char *apath = fn_path(fn, "/aliases/", name);
	char *cpath = fn_path(fn, "/aliases", NULL);
	json_t *cur = NULL, *ans = NULL;
	long status = 0;
	int rc = req && apath && cpath ? SPUR_EXIT_OK : SPUR_EXIT_USAGE;
	if (rc == SPUR_EXIT_OK)
		rc = lambda_call("alias", endpoint, "GET", apath, NULL, &cur, &status);
	if (rc == SPUR_EXIT_OK && status == 404) {
		const char *msg = json_string_value(json_object_get(cur, "message"));
		if (msg && strncmp(msg, "Alias not found", 15) != 0) {	/* no such function */
			fprintf(stderr, "spur alias: ResourceNotFoundException (HTTP 404) %s\n", msg);
			rc = SPUR_EXIT_SERVER;
		} else {
			json_object_set_new(req, "Name", json_string(name));
			rc = lambda_call("alias", endpoint, "POST", cpath, req, &ans, NULL);
		}
	} else if (rc == SPUR_EXIT_OK) {
		rc = lambda_call("alias", endpoint, "PUT", apath, req, &ans, NULL);
	}
	if (rc == SPUR_EXIT_OK) {
		json_t *one = json_pack("[O]", ans);
		print_aliases(one);
		json_decref(one);
	}
	if (rc == SPUR_EXIT_USAGE)
		fprintf(stderr, "spur alias: out of memory\n");
	json_decref(cur);
	json_decref(ans);
	json_decref(req);
	free(apath);
	free(cpath);
	return rc;
}

int spur_cli_alias(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "weight", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("SPUR_ENDPOINT");
	const char *weight = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'w': weight = optarg; break;
		case 'h': alias_usage(stdout); return SPUR_EXIT_OK;
		default: alias_usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	endpoint = spur_cli_endpoint(endpoint);
	const char *sub = optind < argc ? argv[optind] : NULL;
	int args = argc - optind - 1;
	char **a = argv + optind + 1;
	if (sub && strcmp(sub, "set") == 0 && args == 3)
		return alias_set(endpoint, a[0], a[1], a[2], weight);
	if (sub && strcmp(sub, "ls") == 0 && args == 1 && !weight) {
		char *path = fn_path(a[0], "/aliases", NULL);
		json_t *ans = NULL;
		int rc = path ? lambda_call("alias", endpoint, "GET", path, NULL, &ans, NULL) :
			SPUR_EXIT_USAGE;
		if (rc == SPUR_EXIT_OK)
			print_aliases(json_object_get(ans, "Aliases"));
		json_decref(ans);
		free(path);
		return rc;
	}
	if (sub && strcmp(sub, "rm") == 0 && args == 2 && !weight) {
		char *path = fn_path(a[0], "/aliases/", a[1]);
		json_t *ans = NULL;
		int rc = path ? lambda_call("alias", endpoint, "DELETE", path, NULL, &ans, NULL) :
			SPUR_EXIT_USAGE;
		if (rc == SPUR_EXIT_OK)
			printf("deleted alias %s of %s\n", a[1], a[0]);
		json_decref(ans);
		free(path);
		return rc;
	}
	alias_usage(stderr);
	return SPUR_EXIT_USAGE;
}
