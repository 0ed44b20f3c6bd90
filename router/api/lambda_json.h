/* SPDX-License-Identifier: MIT */
/*
 * lambda_json.h - private to the Lambda management API: the JSON shapes
 * of lambda_json.c, shared with the request handlers of lambda_api.c.
 */
#ifndef SPUR_LAMBDA_JSON_H
#define SPUR_LAMBDA_JSON_H

#include <jansson.h>
#include <stdbool.h>

struct spur_config;
struct spur_fn;
struct spur_version_info;
struct spur_alias_info;

/* What spur_lambda_version_cb() / spur_lambda_alias_cb() collect, as
 * FunctionConfiguration / AliasConfiguration of `fn`. */
struct spur_lambda_collect {
	const struct spur_config *cfg;
	struct spur_fn *fn;
	json_t *list;		/* array, or NULL: keep the first in one */
	json_t *one;
	const char *arn_qual;	/* for one: the ARN's qualifier; "-": the version's */
	bool qualified_latest;	/* lists: $LATEST qualified too */
	const char *only_version;	/* ListAliases ?FunctionVersion= */
	char version[64];	/* alias: its primary version */
};

/* Callbacks of spur_version_get/list and spur_alias_get/list; `ud` is a
 * struct spur_lambda_collect. */
void spur_lambda_version_cb(void *ud, const struct spur_version_info *v);
void spur_lambda_alias_cb(void *ud, const struct spur_alias_info *a);

/* A ProvisionedConcurrencyConfig of `qual`; with_arn adds FunctionArn. */
json_t *spur_lambda_provisioned_shape(struct spur_fn *fn, const char *qual, int requested,
				      int ready, bool with_arn);

/* Every provisioned concurrency config of fn (versions, then aliases);
 * NULL: out of memory. */
json_t *spur_lambda_provisioned_list(struct spur_fn *fn);

/* The FunctionEventInvokeConfig of fn, its ARN qualified by qual
 * ("": $LATEST). */
json_t *spur_lambda_event_config_shape(struct spur_fn *fn, const char *qual);

/* A body member: 0 absent/null, 1 found (*out set), -1 of another type. */
int spur_lambda_member_str(json_t *body, const char *key, const char **out);
int spur_lambda_member_int(json_t *body, const char *key, json_int_t *out);

#endif
