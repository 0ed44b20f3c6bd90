/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the client commands of `spur` (invoke, queue, event, publish,
 * alias, versions): they talk to a
 * running router over HTTP, like the AWS CLI does.
 */
#ifndef SPUR_CLI_H
#define SPUR_CLI_H

/* Exit codes of SPEC §4.1. */
enum spur_exit {
	SPUR_EXIT_OK = 0,
	SPUR_EXIT_USAGE = 1,
	SPUR_EXIT_SERVER = 2,
	SPUR_EXIT_CONNECT = 3,
};

int spur_cli_invoke(int argc, char **argv);
/* spur queue ls | peek | replay | purge; spur event ID (the admin API). */
int spur_cli_queue(int argc, char **argv);
int spur_cli_event(int argc, char **argv);
/* spur publish | alias | versions (the Lambda management API). */
int spur_cli_publish(int argc, char **argv);
int spur_cli_alias(int argc, char **argv);
int spur_cli_versions(int argc, char **argv);

#endif
