/* SPDX-License-Identifier: MIT */
/*
 * lambda_json.c - the JSON of the Lambda management API (lambda_api.c):
 * the shapes it replies with, in Lambda's member names
 * (FunctionConfiguration, AliasConfiguration, provisioned concurrency and
 * event invoke configs), and the readers of request body members.
 * Pure translation of version.h's records; no state of its own apart
 * from the cached machine architecture.
 *
 * Threads: any caller thread.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "config.h"
#include "function.h"
#include "lambda_json.h"
#include "spur/text.h"
#include "version.h"

/* Lambda's LastModified form: RFC 3339 with "+0000" for "Z". */
static void iso8601(int64_t ms, char out[40])
{
	spur_rfc3339(ms, out);
	snprintf(out + strlen(out) - 1, 6, "+0000");
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *arch(void)
{
	static char m[16];
	struct utsname u;
	if (!m[0]) {
		const char *a = uname(&u) == 0 && (strcmp(u.machine, "aarch64") == 0 ||
						   strcmp(u.machine, "arm64") == 0) ? "arm64" : "x86_64";
		snprintf(m, sizeof(m), "%s", a);
	}
	return m;
}

static const char *lambda_runtime(const char *rt)
{
	if (!rt || strcmp(rt, "lua") == 0)
		return "lua5.4";
	if (strcmp(rt, "native") == 0)
		return "provided";
	return rt;
}

/* The function's ARN, qualified by `qual` unless NULL or "". */
static json_t *arn_of(struct spur_fn *fn, const char *qual)
{
	const char *arn = spur_fn_arn(fn);
	if (!qual || !*qual)
		return json_string(arn);
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s:%s", arn, qual);
	return json_string(buf);
}

/* Lambda's FunctionConfiguration of one version; arn_qual qualifies the
 * FunctionArn (NULL: unqualified). */
static json_t *fn_configuration(const struct spur_config *cfg, struct spur_fn *fn,
				const struct spur_version_info *v, const char *arn_qual)
{
	const struct spur_fn_config *fc = v->settings ? v->settings : spur_fn_config(fn);
	char lm[40], role[128], handler[512];
	const char *code = fc->code ? fc->code : "";
	const char *base = strrchr(code, '/') ? strrchr(code, '/') + 1 : code;
	const char *dot = strrchr(base, '.');
	int64_t tmo = (fc->timeout_ms + 999) / 1000;

	iso8601(v->last_modified_ms, lm);
	snprintf(role, sizeof(role), "arn:aws:iam::%s:role/spur", cfg->arn_account);
	snprintf(handler, sizeof(handler), "%.*s.%s", dot && dot != base ? (int)(dot - base) :
		 (int)strlen(base), base, fc->handler ? fc->handler : "handle");
	json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s,"
			      " s:s, s:s, s:s, s:s, s:[s], s:{s:I}, s:{s:s}}",
			      "FunctionName", spur_fn_name(fn),
			      "FunctionArn", arn_of(fn, arn_qual),
			      "Runtime", lambda_runtime(fc->runtime),
			      "Role", role,
			      "Handler", handler,
			      "CodeSize", (json_int_t)v->code_size,
			      "Description", v->description ? v->description : "",
			      "Timeout", (json_int_t)(tmo < 1 ? 1 : tmo),
			      "MemorySize", (json_int_t)(fc->memory >> 20),
			      "LastModified", lm,
			      "CodeSha256", v->code_sha256 ? v->code_sha256 : "",
			      "Version", v->version,
			      "RevisionId", v->revision_id ? v->revision_id : "",
			      "State", "Active",
			      "LastUpdateStatus", "Successful",
			      "PackageType", "Zip",
			      "Architectures", arch(),
			      "EphemeralStorage", "Size", (json_int_t)(fc->tmp_size >> 20),
			      "TracingConfig", "Mode", "PassThrough");
	if (o && fc->n_env) {
		json_t *vars = json_object();
		for (size_t i = 0; vars && i < fc->n_env; i++)
			json_object_set_new(vars, fc->env[i].key, json_string(fc->env[i].value));
		json_object_set_new(o, "Environment", json_pack("{s:o}", "Variables", vars));
	}
	return o;
}

static json_t *alias_configuration(struct spur_fn *fn, const struct spur_alias_info *a)
{
	json_t *o = json_pack("{s:o, s:s, s:s, s:s, s:s}", "AliasArn", arn_of(fn, a->name),
			      "Name", a->name, "FunctionVersion", a->version,
			      "Description", a->description ? a->description : "",
			      "RevisionId", a->revision_id ? a->revision_id : "");
	if (o && a->extra_version)
		json_object_set_new(o, "RoutingConfig",
				    json_pack("{s:{s:f}}", "AdditionalVersionWeights",
					      a->extra_version, a->extra_weight));
	return o;
}

void spur_lambda_version_cb(void *ud, const struct spur_version_info *v)
{
	struct spur_lambda_collect *c = ud;
	const char *q = NULL;
	if (c->list)
		q = strcmp(v->version, "$LATEST") != 0 || c->qualified_latest ? v->version : NULL;
	else if (c->arn_qual)
		q = strcmp(c->arn_qual, "-") == 0 ? v->version : c->arn_qual;
	json_t *o = fn_configuration(c->cfg, c->fn, v, q);
	if (c->list)
		json_array_append_new(c->list, o);
	else if (!c->one)
		c->one = o;
	else
		json_decref(o);
}

void spur_lambda_alias_cb(void *ud, const struct spur_alias_info *a)
{
	struct spur_lambda_collect *c = ud;
	if (c->only_version && strcmp(a->version, c->only_version) != 0 &&
	    !(a->extra_version && strcmp(a->extra_version, c->only_version) == 0))
		return;
	json_t *o = alias_configuration(c->fn, a);
	snprintf(c->version, sizeof(c->version), "%s", a->version);
	if (c->list)
		json_array_append_new(c->list, o);
	else if (!c->one)
		c->one = o;
	else
		json_decref(o);
}

json_t *spur_lambda_provisioned_shape(struct spur_fn *fn, const char *qual, int requested,
				      int ready, bool with_arn)
{
	char lm[40];
	iso8601(now_ms(), lm);
	json_t *o = json_pack("{s:i, s:i, s:i, s:s, s:s}",
			      "RequestedProvisionedConcurrentExecutions", requested,
			      "AvailableProvisionedConcurrentExecutions", ready,
			      "AllocatedProvisionedConcurrentExecutions", ready,
			      "Status", ready >= requested ? "READY" : "IN_PROGRESS",
			      "LastModified", lm);
	if (o && with_arn)
		json_object_set_new(o, "FunctionArn", arn_of(fn, qual));
	return o;
}

struct pc_list {
	struct spur_fn *fn;
	json_t *list;
};

static void pc_one(struct pc_list *l, const char *qual)
{
	int requested = 0, ready = 0;
	if (strcmp(qual, "$LATEST") == 0 ||
	    spur_provisioned_get(l->fn, qual, &requested, &ready) < 0)
		return;
	json_array_append_new(l->list, spur_lambda_provisioned_shape(l->fn, qual, requested,
								     ready, true));
}

static void pc_version_cb(void *ud, const struct spur_version_info *v)
{
	pc_one(ud, v->version);
}

static void pc_alias_cb(void *ud, const struct spur_alias_info *a)
{
	pc_one(ud, a->name);
}

json_t *spur_lambda_provisioned_list(struct spur_fn *fn)
{
	struct pc_list l = { .fn = fn, .list = json_array() };
	if (!l.list)
		return NULL;
	spur_version_list(fn, pc_version_cb, &l);
	spur_alias_list(fn, pc_alias_cb, &l);
	return l.list;
}

json_t *spur_lambda_event_config_shape(struct spur_fn *fn, const char *qual)
{
	int retries = -1, age = -1;
	spur_event_config_get(fn, &retries, &age);
	json_t *o = json_pack("{s:o, s:f}", "FunctionArn",
			      arn_of(fn, qual[0] ? qual : "$LATEST"),
			      "LastModified", (double)now_ms() / 1000.0);
	if (o && retries >= 0)
		json_object_set_new(o, "MaximumRetryAttempts", json_integer(retries));
	if (o && age >= 0)
		json_object_set_new(o, "MaximumEventAgeInSeconds", json_integer(age));
	if (o)
		json_object_set_new(o, "DestinationConfig", json_pack("{s:{}, s:{}}", "OnSuccess",
								       "OnFailure"));
	return o;
}

/* A string member: 0 absent/null, 1 found, -1 not a string. */
int spur_lambda_member_str(json_t *body, const char *key, const char **out)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 1;
}

int spur_lambda_member_int(json_t *body, const char *key, json_int_t *out)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 1;
}
