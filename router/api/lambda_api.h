/* SPDX-License-Identifier: MIT */
/*
 * lambda_api.h - the Lambda management API subset of SPEC §4.3
 * (functions, versions, aliases, concurrency, provisioned concurrency,
 * event invoke config), on Lambda's wire format so that `aws lambda ...
 * --endpoint-url` works. spur_admin_handle() authorizes the call exactly
 * like /admin/ and then hands it here.
 */
#ifndef SPUR_LAMBDA_API_H
#define SPUR_LAMBDA_API_H

#include <stdbool.h>
#include <stddef.h>

struct spur_api;
struct spur_admin_reply;

/* A management path: /2015-03-31/functions[/...] (but not the Invoke
 * API's .../{name}/invocations), /2017-10-31/functions/...,
 * /2019-09-25/functions/..., /2019-09-30/functions/... (raw path). */
bool spur_lambda_api_path(const char *path);

/* Serve one authorized call. `path` is raw (percent-encoded), `query`
 * the raw query string or NULL. Always a reply (NULL: out of memory);
 * errors carry Lambda's error name (spur_admin_reply_error_type()). */
struct spur_admin_reply *spur_lambda_api_handle(const struct spur_api *api, const char *method,
						const char *path, const char *query,
						const char *body, size_t len);

#endif
