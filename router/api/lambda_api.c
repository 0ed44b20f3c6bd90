/* SPDX-License-Identifier: MIT */
/*
 * lambda_api.c - the Lambda management API subset (SPEC §4.3), on
 * Lambda's wire format: its paths, JSON member names, status codes and
 * error names (x-amzn-ErrorType + {"Type": "User", "message": ...}), so
 * that `aws lambda ... --endpoint-url`, boto3 and the JS SDK work.
 *
 *   GET    /2015-03-31/functions/                       ListFunctions
 *   GET    /2015-03-31/functions/{fn}[?Qualifier=]      GetFunction
 *   GET    /2015-03-31/functions/{fn}/configuration     GetFunctionConfiguration
 *   DELETE /2015-03-31/functions/{fn}?Qualifier=N       DeleteFunction (a version)
 *   POST   /2015-03-31/functions/{fn}/versions          PublishVersion
 *   GET    /2015-03-31/functions/{fn}/versions          ListVersionsByFunction
 *   POST   /2015-03-31/functions/{fn}/aliases           CreateAlias
 *   GET    /2015-03-31/functions/{fn}/aliases           ListAliases
 *   GET|PUT|DELETE /2015-03-31/functions/{fn}/aliases/{a}   Get/Update/DeleteAlias
 *   PUT|GET|DELETE /2017-10-31|2019-09-30/functions/{fn}/concurrency
 *   PUT|GET|DELETE /2019-09-30/functions/{fn}/provisioned-concurrency?Qualifier=Q
 *   GET    /2019-09-30/functions/{fn}/provisioned-concurrency?List=ALL
 *   PUT|POST|GET|DELETE /2019-09-25/functions/{fn}/event-invoke-config
 *   GET    /2019-09-25/functions/{fn}/event-invoke-config/list
 *
 * {fn} is percent-decoded and may be a name, name:qualifier, or a full or
 * partial ARN, as Lambda accepts. The registry itself (version.h) does
 * the work; this file only translates. Errors of version.h map to Lambda's
 * names: -ENOENT 404 ResourceNotFoundException, -EEXIST/-EBUSY 409
 * ResourceConflictException, -EINVAL 400 InvalidParameterValueException
 * (ValidationException for a value outside a member's constraints, as
 * Lambda's request validation says it), -ESTALE 412
 * PreconditionFailedException, else 500 ServiceException.
 *
 * Request dispatch and the handlers live here; the JSON shapes Lambda
 * replies with (FunctionConfiguration, AliasConfiguration, ...) and the
 * body member readers are in lambda_json.c.
 *
 * Threads: any caller thread; no state of its own.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "admin.h"
#include "config.h"
#include "function.h"
#include "lambda_api.h"
#include "lambda_json.h"
#include "util.h"
#include "version.h"

#define MAX_SEGMENT 512
#define MAX_SEGMENTS 5

#define E_NOT_FOUND "ResourceNotFoundException"
#define E_CONFLICT "ResourceConflictException"
#define E_PARAM "InvalidParameterValueException"
#define E_VALIDATION "ValidationException"
#define E_PRECONDITION "PreconditionFailedException"
#define E_SERVICE "ServiceException"
#define E_CONTENT "InvalidRequestContentException"
#define E_UNKNOWN "UnknownOperationException"
#define E_PC_NOT_FOUND "ProvisionedConcurrencyConfigNotFoundException"

static const char *const prefixes[] = {
	"/2015-03-31/functions", "/2017-10-31/functions", "/2019-09-25/functions",
	"/2019-09-30/functions",
};

/* --- replies ------------------------------------------------------------------ */

static struct spur_admin_reply *reply(unsigned status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s ? spur_admin_reply_new(status, s, strlen(s), NULL) : NULL;
}

static struct spur_admin_reply *reply_empty(unsigned status)
{
	return spur_admin_reply_new(status, strdup(""), 0, NULL);
}

static struct spur_admin_reply *fail(unsigned status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct spur_admin_reply *fail(unsigned status, const char *type, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User",
			      "message", msg);
	if (!o)		/* not UTF-8 (a name from the path) */
		o = json_pack("{s:s, s:s}", "Type", "User", "message", "invalid request");
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s ? spur_admin_reply_new(status, s, strlen(s), type) : NULL;
}

/* A version.h error as Lambda says it. */
static struct spur_admin_reply *fail_rc(int rc, const char *why, const char *fallback)
{
	const char *m = why && *why ? why : fallback;
	switch (rc) {
	case -ENOENT:
		return fail(404, E_NOT_FOUND, "%s", m);
	case -EEXIST:
	case -EBUSY:
		return fail(409, E_CONFLICT, "%s", m);
	case -EINVAL:
		return fail(400, strstr(m, "validation error") ? E_VALIDATION : E_PARAM, "%s", m);
	case -ESTALE:
		return fail(412, E_PRECONDITION, "%s", m);
	default:
		return fail(500, E_SERVICE, "%s%s%s", m, *m ? ": " : "", spur_strerror(rc));
	}
}

/* --- request parsing ------------------------------------------------------------ */


/* The decoded value of ?name= (first one); false when absent. */
static bool query_get(const char *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		if (kl == nl && memcmp(q, name, nl) == 0)
			return spur_pct_decode(out, cap, eq ? eq + 1 : q + n, eq ? n - kl - 1 : 0, true) >= 0;
		q = amp ? amp + 1 : NULL;
	}
	return false;
}

bool spur_lambda_api_path(const char *path)
{
	static const char inv[] = "/invocations";
	for (size_t i = 0; i < SPUR_ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(path, prefixes[i], pl) != 0 || (path[pl] && path[pl] != '/'))
			continue;
		if (i == 0) {	/* the Invoke API stays with the HTTP source */
			size_t n = strlen(path);
			const char *name = path + pl + 1;
			if (path[pl] && n > strlen(inv) && strcmp(path + n - strlen(inv), inv) == 0 &&
			    !memchr(name, '/', (size_t)(path + n - strlen(inv) - name)))
				return false;
		}
		return true;
	}
	return false;
}

/* One call. */
struct req {
	const struct spur_api *api;
	const struct spur_config *cfg;
	const char *method;
	const char *query;
	json_t *body;			/* {} when there was none */
	struct spur_fn *fn;
	char name[MAX_SEGMENT];		/* the function name alone */
	char qual[MAX_SEGMENT];		/* the qualifier: from the name or ?Qualifier=, or "" */
	char why[512];
};

static bool is_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static bool name_chars_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n >= 1 && n <= max &&
		strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* Resolve {fn} (decoded) and ?Qualifier= into r->fn, r->name, r->qual. */
static struct spur_admin_reply *find_fn(struct req *r, const char *target)
{
	char q[MAX_SEGMENT] = "";
	const char *name, *qual;
	size_t nl, ql;
	bool has_q = query_get(r->query, "Qualifier", q, sizeof(q));
	if (spur_target_parse(target, has_q ? q : NULL, &name, &nl, &qual, &ql,
				     r->why, sizeof(r->why)) < 0)
		return fail(400, E_VALIDATION, "%s", r->why);
	snprintf(r->name, sizeof(r->name), "%.*s", (int)nl, name);
	snprintf(r->qual, sizeof(r->qual), "%.*s", qual ? (int)ql : 0, qual ? qual : "");
	r->fn = spur_registry_find(spur_registry_current(r->api->registry), name, nl);
	if (!r->fn)
		return fail(404, E_NOT_FOUND, "Function not found: arn:aws:lambda:%s:%s:function:%s",
			    r->cfg->arn_region, r->cfg->arn_account, r->name);
	return NULL;
}

/* Endpoints whose FunctionName takes no qualifier. */
static struct spur_admin_reply *no_qualifier(struct req *r)
{
	if (!r->qual[0])
		return NULL;
	return fail(400, E_PARAM, "This operation does not take a qualifier (got %s:%s); "
		    "name the function alone", r->name, r->qual);
}

/* --- shapes ------------------------------------------------------------------------ */

/* The configuration of r->qual (a version, $LATEST or an alias). */
static struct spur_admin_reply *qualified_configuration(struct req *r, json_t **out)
{
	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn };
	const char *q = r->qual[0] ? r->qual : "$LATEST";
	int rc;
	if (strcmp(q, "$LATEST") == 0 || is_digits(q)) {
		c.arn_qual = strcmp(q, "$LATEST") == 0 && !r->qual[0] ? NULL : "-";
		rc = spur_version_get(r->fn, q, spur_lambda_version_cb, &c);
	} else {
		struct spur_lambda_collect a = { .cfg = r->cfg, .fn = r->fn };
		rc = spur_alias_get(r->fn, q, spur_lambda_alias_cb, &a);
		json_decref(a.one);
		c.arn_qual = q;
		if (rc >= 0)
			rc = spur_version_get(r->fn, a.version, spur_lambda_version_cb, &c);
	}
	if (rc < 0 || !c.one) {
		json_decref(c.one);
		if (rc == -ENOENT || (rc >= 0 && !c.one))
			return fail(404, E_NOT_FOUND, "Function not found: %s:%s",
				    spur_fn_arn(r->fn), q);
		return fail_rc(rc, NULL, "could not read the function");
	}
	*out = c.one;
	return NULL;
}

/* --- body members --------------------------------------------------------------- */


static struct spur_admin_reply *bad_type(const char *key, const char *want)
{
	return fail(400, E_VALIDATION, "1 validation error detected: Value at '%s' failed to "
		    "satisfy constraint: Member must be %s", key, want);
}

/* --- operations ----------------------------------------------------------------- */

static struct spur_admin_reply *list_functions(struct req *r)
{
	char fv[16] = "";
	query_get(r->query, "FunctionVersion", fv, sizeof(fv));
	if (fv[0] && strcmp(fv, "ALL") != 0)
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%s' at "
			    "'functionVersion' failed to satisfy constraint: Member must satisfy "
			    "enum value set: [ALL]", fv);
	const struct spur_registry *reg = spur_registry_current(r->api->registry);
	struct spur_lambda_collect c = { .cfg = r->cfg, .list = json_array() };
	if (!c.list)
		return NULL;
	for (size_t i = 0; i < spur_registry_count(reg); i++) {
		c.fn = spur_registry_at(reg, i);
		int rc = fv[0] ? spur_version_list(c.fn, spur_lambda_version_cb, &c) :
			spur_version_get(c.fn, "$LATEST", spur_lambda_version_cb, &c);
		if (rc < 0 && rc != -ENOENT) {
			json_decref(c.list);
			return fail_rc(rc, NULL, "could not list functions");
		}
	}
	r->fn = NULL;
	return reply(200, json_pack("{s:o}", "Functions", c.list));
}

static struct spur_admin_reply *get_function(struct req *r, bool config_only)
{
	json_t *conf = NULL;
	struct spur_admin_reply *e = qualified_configuration(r, &conf);
	if (e)
		return e;
	if (config_only)
		return reply(200, conf);
	json_t *o = json_pack("{s:o, s:{s:s, s:s}}", "Configuration", conf,
			      "Code", "RepositoryType", "S3", "Location", "");
	long n = spur_concurrency_get(r->fn);
	if (o && n >= 0)
		json_object_set_new(o, "Concurrency", json_pack("{s:I}", "ReservedConcurrentExecutions",
								(json_int_t)n));
	return reply(200, o);
}

static struct spur_admin_reply *delete_function(struct req *r)
{
	if (!r->qual[0] || strcmp(r->qual, "$LATEST") == 0)
		return fail(400, E_PARAM, "spur does not delete functions defined in config: "
			    "remove %s from the config file and reload; DeleteFunction here deletes "
			    "a published version (--qualifier N)", r->name);
	if (!is_digits(r->qual))
		return fail(400, E_PARAM, "Deletion of aliases is not supported via DeleteFunction "
			    "(use DeleteAlias): %s", r->qual);
	int rc = spur_version_delete(r->fn, r->qual, r->why, sizeof(r->why));
	if (rc < 0)
		return fail_rc(rc, r->why, "could not delete the version");
	return reply_empty(204);
}

static struct spur_admin_reply *publish_version(struct req *r)
{
	const char *desc = NULL, *sha = NULL, *rev = NULL;
	if (spur_lambda_member_str(r->body, "Description", &desc) < 0)
		return bad_type("description", "a string");
	if (spur_lambda_member_str(r->body, "CodeSha256", &sha) < 0)
		return bad_type("codeSha256", "a string");
	if (spur_lambda_member_str(r->body, "RevisionId", &rev) < 0)
		return bad_type("revisionId", "a string");
	if (desc && strlen(desc) > 256)
		return fail(400, E_VALIDATION, "1 validation error detected: Value at 'description' "
			    "failed to satisfy constraint: Member must have length less than or equal to 256");
	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn, .arn_qual = "-" };
	bool created = false;
	int rc = spur_version_publish(r->fn, desc, sha, rev, &created, spur_lambda_version_cb, &c,
				      r->why, sizeof(r->why));
	if (rc < 0) {
		json_decref(c.one);
		return fail_rc(rc, r->why, "could not publish a version");
	}
	/* Lambda answers 201 with the existing version when nothing changed. */
	return c.one ? reply(201, c.one) : fail(500, E_SERVICE, "the published version vanished");
}

static struct spur_admin_reply *list_versions(struct req *r)
{
	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn, .list = json_array(),
					 .qualified_latest = true };
	if (!c.list)
		return NULL;
	int rc = spur_version_list(r->fn, spur_lambda_version_cb, &c);
	if (rc < 0) {
		json_decref(c.list);
		return fail_rc(rc, NULL, "could not list the versions");
	}
	return reply(200, json_pack("{s:o}", "Versions", c.list));
}

static struct spur_admin_reply *check_alias_name(const char *name)
{
	if (!name_chars_ok(name, 128) || is_digits(name))
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%.200s' at 'name' "
			    "failed to satisfy constraint: Member must satisfy regular expression "
			    "pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", name);
	return NULL;
}

static struct spur_admin_reply *check_version(const char *v)
{
	if (strcmp(v, "$LATEST") != 0 && (!is_digits(v) || strlen(v) > 1024))
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%.200s' at "
			    "'functionVersion' failed to satisfy constraint: Member must satisfy "
			    "regular expression pattern: (\\$LATEST|[0-9]+)", v);
	return NULL;
}

/* RoutingConfig {AdditionalVersionWeights: {"V": W}}: *present says
 * whether the member was there; extra NULL when the map is empty. */
static struct spur_admin_reply *routing_config(json_t *body, bool *present, const char **extra,
					       double *weight)
{
	json_t *rc = json_object_get(body, "RoutingConfig");
	*present = rc && !json_is_null(rc);
	*extra = NULL;
	*weight = 0;
	if (!*present)
		return NULL;
	if (!json_is_object(rc))
		return bad_type("routingConfig", "an object");
	json_t *w = json_object_get(rc, "AdditionalVersionWeights");
	if (!w || json_is_null(w))
		return NULL;
	if (!json_is_object(w))
		return bad_type("routingConfig.additionalVersionWeights", "a map");
	const char *k;
	json_t *v;
	json_object_foreach(w, k, v) {
		if (!is_digits(k) || strlen(k) > 1024)
			return fail(400, E_VALIDATION, "1 validation error detected: Value '%.200s' at "
				    "'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
				    "Map keys must satisfy constraint: [Member must satisfy regular "
				    "expression pattern: [0-9]+]", k);
		double d = json_number_value(v);
		if (!json_is_number(v) || !(d >= 0.0 && d <= 1.0))
			return fail(400, E_VALIDATION, "1 validation error detected: Value '{%s=%g}' at "
				    "'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
				    "Map value must satisfy constraint: [Member must have value less than "
				    "or equal to 1.0, Member must have value greater than or equal to 0.0, "
				    "Member must not be null]", k, json_is_number(v) ? d : NAN);
	}
	if (json_object_size(w) > 1)
		return fail(400, E_PARAM, "Number of items in AdditionalVersionWeights cannot be "
			    "greater than 1");
	json_object_foreach(w, k, v) {
		*extra = k;
		*weight = json_number_value(v);
	}
	return NULL;
}

static struct spur_admin_reply *put_alias(struct req *r, const char *name, bool create)
{
	const char *version = NULL, *desc = NULL, *rev = NULL, *extra = NULL, *body_name = NULL;
	double weight = 0;
	bool has_routing;
	struct spur_admin_reply *e;
	int got;

	if (spur_lambda_member_str(r->body, "Name", &body_name) < 0)
		return bad_type("name", "a string");
	if (create) {
		if (!body_name)
			return fail(400, E_VALIDATION, "1 validation error detected: Value null at "
				    "'name' failed to satisfy constraint: Member must not be null");
		name = body_name;
	}
	if ((e = check_alias_name(name)))
		return e;
	if ((got = spur_lambda_member_str(r->body, "FunctionVersion", &version)) < 0)
		return bad_type("functionVersion", "a string");
	if (create && !version)
		return fail(400, E_VALIDATION, "1 validation error detected: Value null at "
			    "'functionVersion' failed to satisfy constraint: Member must not be null");
	if (version && (e = check_version(version)))
		return e;
	if (spur_lambda_member_str(r->body, "Description", &desc) < 0)
		return bad_type("description", "a string");
	if (spur_lambda_member_str(r->body, "RevisionId", &rev) < 0)
		return bad_type("revisionId", "a string");
	if ((e = routing_config(r->body, &has_routing, &extra, &weight)))
		return e;

	/* UpdateAlias: what is not given stays as it is. */
	struct spur_lambda_collect cur = { .cfg = r->cfg, .fn = r->fn };
	char cur_version[64] = "", cur_extra[64] = "", cur_desc[512] = "";
	double cur_weight = 0;
	if (!create) {
		int rc = spur_alias_get(r->fn, name, spur_lambda_alias_cb, &cur);
		if (rc < 0 || !cur.one) {
			json_decref(cur.one);
			if (rc == -ENOENT || rc >= 0)
				return fail(404, E_NOT_FOUND, "Alias not found: %s:%s",
					    spur_fn_arn(r->fn), name);
			return fail_rc(rc, NULL, "could not read the alias");
		}
		snprintf(cur_version, sizeof(cur_version), "%s",
			 json_string_value(json_object_get(cur.one, "FunctionVersion")));
		const char *d = json_string_value(json_object_get(cur.one, "Description"));
		snprintf(cur_desc, sizeof(cur_desc), "%s", d ? d : "");
		json_t *w = json_object_get(json_object_get(cur.one, "RoutingConfig"),
					    "AdditionalVersionWeights");
		const char *k;
		json_t *v;
		json_object_foreach(w, k, v) {
			snprintf(cur_extra, sizeof(cur_extra), "%s", k);
			cur_weight = json_number_value(v);
		}
		json_decref(cur.one);
		if (!version)
			version = cur_version;
		if (!desc)
			desc = cur_desc;
		if (!has_routing && cur_extra[0]) {
			extra = cur_extra;
			weight = cur_weight;
		}
	}
	if (extra && strcmp(version, "$LATEST") == 0)
		return fail(400, E_PARAM, "$LATEST is not supported for an alias pointing to more "
			    "than 1 version");

	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn };
	int rc = spur_alias_put(r->fn, name, create, version, extra, weight, desc, rev,
				spur_lambda_alias_cb, &c, r->why, sizeof(r->why));
	if (rc < 0) {
		json_decref(c.one);
		if (rc == -ENOENT && !r->why[0])
			return fail(404, E_NOT_FOUND, "Function not found: %s:%s", spur_fn_arn(r->fn),
				    version);
		return fail_rc(rc, r->why, create ? "could not create the alias" :
			       "could not update the alias");
	}
	return c.one ? reply(create ? 201 : 200, c.one) :
		fail(500, E_SERVICE, "the alias vanished");
}

static struct spur_admin_reply *get_alias(struct req *r, const char *name)
{
	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn };
	int rc = spur_alias_get(r->fn, name, spur_lambda_alias_cb, &c);
	if (rc < 0 || !c.one) {
		json_decref(c.one);
		if (rc == -ENOENT || rc >= 0)
			return fail(404, E_NOT_FOUND, "Alias not found: %s:%s", spur_fn_arn(r->fn), name);
		return fail_rc(rc, NULL, "could not read the alias");
	}
	return reply(200, c.one);
}

static struct spur_admin_reply *list_aliases(struct req *r)
{
	char fv[64];
	struct spur_lambda_collect c = { .cfg = r->cfg, .fn = r->fn, .list = json_array() };
	if (!c.list)
		return NULL;
	if (query_get(r->query, "FunctionVersion", fv, sizeof(fv)) && fv[0])
		c.only_version = fv;
	int rc = spur_alias_list(r->fn, spur_lambda_alias_cb, &c);
	if (rc < 0) {
		json_decref(c.list);
		return fail_rc(rc, NULL, "could not list the aliases");
	}
	return reply(200, json_pack("{s:o}", "Aliases", c.list));
}

static struct spur_admin_reply *delete_alias(struct req *r, const char *name)
{
	int rc = spur_alias_delete(r->fn, name, r->why, sizeof(r->why));
	if (rc < 0) {
		if (rc == -ENOENT && !r->why[0])
			return fail(404, E_NOT_FOUND, "Alias not found: %s:%s", spur_fn_arn(r->fn), name);
		return fail_rc(rc, r->why, "could not delete the alias");
	}
	return reply_empty(204);
}

static struct spur_admin_reply *concurrency(struct req *r)
{
	const char *m = r->method;
	if (strcmp(m, "GET") == 0) {
		long n = spur_concurrency_get(r->fn);
		return reply(200, n >= 0 ? json_pack("{s:I}", "ReservedConcurrentExecutions",
						     (json_int_t)n) : json_object());
	}
	if (strcmp(m, "DELETE") == 0) {
		int rc = spur_concurrency_put(r->fn, -1, r->why, sizeof(r->why));
		return rc < 0 ? fail_rc(rc, r->why, "could not remove the reserved concurrency") :
			reply_empty(204);
	}
	json_int_t n;
	int got = spur_lambda_member_int(r->body, "ReservedConcurrentExecutions", &n);
	if (got < 0)
		return bad_type("reservedConcurrentExecutions", "an integer");
	if (got == 0)
		return fail(400, E_VALIDATION, "1 validation error detected: Value null at "
			    "'reservedConcurrentExecutions' failed to satisfy constraint: Member must "
			    "not be null");
	if (n < 0 || n > 1000000)
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%lld' at "
			    "'reservedConcurrentExecutions' failed to satisfy constraint: Member must "
			    "have value greater than or equal to 0", (long long)n);
	int rc = spur_concurrency_put(r->fn, (long)n, r->why, sizeof(r->why));
	if (rc < 0)
		return fail_rc(rc, r->why, "could not set the reserved concurrency");
	return reply(200, json_pack("{s:I}", "ReservedConcurrentExecutions", n));
}


static struct spur_admin_reply *provisioned(struct req *r)
{
	const char *m = r->method;
	const char *q = r->qual;
	char list[16];
	if (!q[0] && strcmp(m, "GET") == 0 && query_get(r->query, "List", list, sizeof(list))) {
		json_t *pcs = spur_lambda_provisioned_list(r->fn);
		if (!pcs)
			return NULL;
		return reply(200, json_pack("{s:o}", "ProvisionedConcurrencyConfigs", pcs));
	}
	if (!q[0])
		return fail(400, E_VALIDATION, "1 validation error detected: Value null at 'qualifier' "
			    "failed to satisfy constraint: Member must not be null");
	if (strcmp(q, "$LATEST") == 0)
		return fail(400, E_PARAM, "Provisioned Concurrency Configs cannot be applied to "
			    "unpublished function versions.");
	int requested = 0, ready = 0, rc;
	if (strcmp(m, "GET") == 0) {
		rc = spur_provisioned_get(r->fn, q, &requested, &ready);
		if (rc == -ENOENT)
			return fail(404, E_PC_NOT_FOUND, "No Provisioned Concurrency Config found for "
				    "this function");
		if (rc < 0)
			return fail_rc(rc, NULL, "could not read the provisioned concurrency");
		return reply(200, spur_lambda_provisioned_shape(r->fn, q, requested, ready, false));
	}
	if (strcmp(m, "DELETE") == 0) {
		if (spur_provisioned_get(r->fn, q, &requested, &ready) == -ENOENT)
			return fail(404, E_PC_NOT_FOUND, "No Provisioned Concurrency Config found for "
				    "this function");
		rc = spur_provisioned_put(r->fn, q, 0, r->why, sizeof(r->why));
		return rc < 0 ? fail_rc(rc, r->why, "could not remove the provisioned concurrency") :
			reply_empty(204);
	}
	json_int_t n;
	int got = spur_lambda_member_int(r->body, "ProvisionedConcurrentExecutions", &n);
	if (got < 0)
		return bad_type("provisionedConcurrentExecutions", "an integer");
	if (got == 0 || n < 1 || n > 100000)
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%lld' at "
			    "'provisionedConcurrentExecutions' failed to satisfy constraint: Member "
			    "must have value greater than or equal to 1", got ? (long long)n : 0LL);
	rc = spur_provisioned_put(r->fn, q, (int)n, r->why, sizeof(r->why));
	if (rc < 0)
		return fail_rc(rc, r->why, "could not set the provisioned concurrency");
	if (spur_provisioned_get(r->fn, q, &requested, &ready) < 0) {
		requested = (int)n;
		ready = 0;
	}
	return reply(202, spur_lambda_provisioned_shape(r->fn, q, requested, ready, false));
}


static struct spur_admin_reply *event_invoke_config(struct req *r, bool list)
{
	const char *m = r->method;
	if (r->qual[0] && strcmp(r->qual, "$LATEST") != 0 && !spur_fn_version(r->fn, r->qual,
									      strlen(r->qual), NULL))
		return fail(404, E_NOT_FOUND, "Function not found: %s:%s", spur_fn_arn(r->fn), r->qual);
	if (list)
		return strcmp(m, "GET") == 0 ?
			reply(200, json_pack("{s:[o]}", "FunctionEventInvokeConfigs",
					     spur_lambda_event_config_shape(r->fn, r->qual))) :
			fail(405, E_UNKNOWN, "method %s not allowed here (allowed: GET)", m);
	if (strcmp(m, "GET") == 0)
		return reply(200, spur_lambda_event_config_shape(r->fn, r->qual));
	if (strcmp(m, "DELETE") == 0) {
		int rc = spur_event_config_put(r->fn, -1, -1, r->why, sizeof(r->why));
		return rc < 0 ? fail_rc(rc, r->why, "could not reset the event invoke config") :
			reply_empty(204);
	}
	json_int_t retries = -1, age = -1;
	if (spur_lambda_member_int(r->body, "MaximumRetryAttempts", &retries) < 0)
		return bad_type("maximumRetryAttempts", "an integer");
	if (spur_lambda_member_int(r->body, "MaximumEventAgeInSeconds", &age) < 0)
		return bad_type("maximumEventAgeInSeconds", "an integer");
	json_t *dc = json_object_get(r->body, "DestinationConfig");
	if (dc && !json_is_null(dc) && (!json_is_object(dc) ||
	    json_object_size(json_object_get(dc, "OnSuccess")) ||
	    json_object_size(json_object_get(dc, "OnFailure"))))
		return fail(400, E_PARAM, "spur takes destinations from its config (async: "
			    "on_success / on_failure), not from DestinationConfig");
	if (json_object_get(r->body, "MaximumRetryAttempts") && (retries < 0 || retries > 2))
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%lld' at "
			    "'maximumRetryAttempts' failed to satisfy constraint: Member must have "
			    "value less than or equal to 2", (long long)retries);
	if (json_object_get(r->body, "MaximumEventAgeInSeconds") && (age < 60 || age > 21600))
		return fail(400, E_VALIDATION, "1 validation error detected: Value '%lld' at "
			    "'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have "
			    "value %s", (long long)age, age < 60 ? "greater than or equal to 60" :
			    "less than or equal to 21600");
	int rc = spur_event_config_put(r->fn, (int)retries, (int)age, r->why,
				       sizeof(r->why));
	if (rc < 0)
		return fail_rc(rc, r->why, "could not set the event invoke config");
	return reply(200, spur_lambda_event_config_shape(r->fn, r->qual));
}

/* --- dispatch ------------------------------------------------------------------------ */

static struct spur_admin_reply *not_allowed(const char *m, const char *allowed)
{
	return fail(405, E_UNKNOWN, "method %s not allowed here (allowed: %s)", m, allowed);
}

static bool is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

static struct spur_admin_reply *route(struct req *r, int api, char seg[][MAX_SEGMENT], size_t n,
				      const char *path)
{
	const char *m = r->method;
	struct spur_admin_reply *e;
	const char *sub = n >= 2 ? seg[1] : NULL;

	if (n == 0) {
		if (api != 0)
			return fail(404, E_UNKNOWN, "no operation at %.200s", path);
		return is(m, "GET") ? list_functions(r) : not_allowed(m, "GET");
	}
	if ((e = find_fn(r, seg[0])))
		return e;
	if (api == 0 && n == 1) {
		if (is(m, "GET"))
			return get_function(r, false);
		if (is(m, "DELETE"))
			return delete_function(r);
		return not_allowed(m, "GET, DELETE");
	}
	if (api == 0 && n == 2 && strcmp(sub, "configuration") == 0)
		return is(m, "GET") ? get_function(r, true) : not_allowed(m, "GET");
	if (api == 0 && n == 2 && strcmp(sub, "versions") == 0) {
		if ((e = no_qualifier(r)))
			return e;
		if (is(m, "POST"))
			return publish_version(r);
		return is(m, "GET") ? list_versions(r) : not_allowed(m, "GET, POST");
	}
	if (api == 0 && (n == 2 || n == 3) && strcmp(sub, "aliases") == 0) {
		if ((e = no_qualifier(r)))
			return e;
		if (n == 2) {
			if (is(m, "POST"))
				return put_alias(r, NULL, true);
			return is(m, "GET") ? list_aliases(r) : not_allowed(m, "GET, POST");
		}
		if (is(m, "GET"))
			return get_alias(r, seg[2]);
		if (is(m, "PUT"))
			return put_alias(r, seg[2], false);
		if (is(m, "DELETE"))
			return delete_alias(r, seg[2]);
		return not_allowed(m, "GET, PUT, DELETE");
	}
	if ((api == 1 || api == 3) && n == 2 && strcmp(sub, "concurrency") == 0) {
		if ((e = no_qualifier(r)))
			return e;
		if (is(m, "GET") || is(m, "PUT") || is(m, "DELETE"))
			return concurrency(r);
		return not_allowed(m, "GET, PUT, DELETE");
	}
	if (api == 3 && n == 2 && strcmp(sub, "provisioned-concurrency") == 0) {
		if (is(m, "GET") || is(m, "PUT") || is(m, "DELETE"))
			return provisioned(r);
		return not_allowed(m, "GET, PUT, DELETE");
	}
	if (api == 2 && n == 2 && strcmp(sub, "event-invoke-config") == 0) {
		if (is(m, "GET") || is(m, "PUT") || is(m, "POST") || is(m, "DELETE"))
			return event_invoke_config(r, false);
		return not_allowed(m, "GET, PUT, POST, DELETE");
	}
	if (api == 2 && n == 3 && strcmp(sub, "event-invoke-config") == 0 &&
	    strcmp(seg[2], "list") == 0)
		return event_invoke_config(r, true);
	return fail(404, E_UNKNOWN, "no operation at %.200s", path);
}

struct spur_admin_reply *spur_lambda_api_handle(const struct spur_api *api, const char *method,
						const char *path, const char *query,
						const char *body, size_t len)
{
	struct req r = { .api = api, .cfg = api->config, .method = method,
			 .query = query };
	char seg[MAX_SEGMENTS][MAX_SEGMENT];
	size_t n = 0;
	int which = -1;

	for (size_t i = 0; i < SPUR_ARRAY_SIZE(prefixes) && which < 0; i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(path, prefixes[i], pl) == 0 && (!path[pl] || path[pl] == '/'))
			which = (int)i;
	}
	if (which < 0)
		return fail(404, E_UNKNOWN, "no operation at %.200s", path);
	/* segments after .../functions, decoded; a trailing slash is ignored */
	const char *p = path + strlen(prefixes[which]);
	while (*p == '/' && p[1]) {
		const char *s = p + 1, *e = strchr(s, '/');
		size_t sl = e ? (size_t)(e - s) : strlen(s);
		if (sl == 0 || n == MAX_SEGMENTS)
			return fail(404, E_UNKNOWN, "no operation at %.200s", path);
		if (spur_pct_decode(seg[n], sizeof(seg[n]), s, sl, false) <= 0)
			return fail(400, E_VALIDATION, "malformed path");
		n++;
		p = s + sl;
	}

	size_t i = 0;
	while (i < len && strchr(" \t\r\n", body[i]))
		i++;
	if (i < len) {
		json_error_t jerr;
		r.body = json_loadb(body, len, 0, &jerr);
		if (!json_is_object(r.body)) {
			json_decref(r.body);
			return fail(400, E_CONTENT, "Could not parse request body into json: %s",
				    jerr.text);
		}
	} else {
		r.body = json_object();
		if (!r.body)
			return NULL;
	}
	struct spur_admin_reply *out = route(&r, which, seg, n, path);
	json_decref(r.body);
	return out;
}
