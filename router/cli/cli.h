/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the client commands of `spur` (invoke, queue, event in cli.c;
 * publish, alias, versions in cli_lambda.c; top in top.c): they talk to a
 * running router over HTTP, like the AWS CLI does.
 */
#ifndef SPUR_CLI_H
#define SPUR_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "util.h"

/* Exit codes of SPEC §4.1. */
enum spur_exit {
	SPUR_EXIT_OK = 0,
	SPUR_EXIT_USAGE = 1,
	SPUR_EXIT_SERVER = 2,
	SPUR_EXIT_CONNECT = 3,
};

/* The answer of one HTTP call: the body and the headers the commands read. */
struct spur_cli_reply {
	struct spur_buf body;		/* spur_buf_init()ed by the caller */
	char function_error[64];	/* X-Amz-Function-Error */
	char log_result[8192];		/* X-Amz-Log-Result */
	char error_type[128];		/* x-amzn-ErrorType */
	char request_id[64];		/* x-amzn-RequestId: an async event's id */
};

/* `method` `endpoint`/`path` (path escaped by the caller, no leading '/')
 * with `body` (NULL: none) and the NULL-terminated extra `headers`; the
 * admin token goes along when set. The answer lands in r and *status.
 * SPUR_EXIT_OK, or SPUR_EXIT_CONNECT / SPUR_EXIT_USAGE after saying why
 * on stderr, prefixed "spur `cmd`:". (libcurl: the spur executable only.) */
int spur_cli_http_call(const char *cmd, const char *endpoint, const char *method,
		       const char *path, const char *body, size_t len,
		       const char *const *headers, struct spur_cli_reply *r, long *status);
/* endpoint, or the default http://127.0.0.1:8080 when NULL or empty. */
const char *spur_cli_endpoint(const char *endpoint);
/* Append s to b percent-encoded (everything but RFC 3986 unreserved). */
void spur_cli_url_escape(struct spur_buf *b, const char *s);
/* The arguments of a command that takes only -e and one operand:
 * -1 and *endpoint set, or the exit code to return (help, usage). */
int spur_cli_endpoint_and_operand(int argc, char **argv, void (*show_usage)(FILE *),
				  const char **endpoint);

int spur_cli_invoke(int argc, char **argv);
/* spur queue ls | peek | replay | purge; spur event ID (the admin API). */
int spur_cli_queue(int argc, char **argv);
int spur_cli_event(int argc, char **argv);
/* spur publish | alias | versions (the Lambda management API; cli_lambda.c). */
int spur_cli_publish(int argc, char **argv);
int spur_cli_alias(int argc, char **argv);
int spur_cli_versions(int argc, char **argv);

#endif
