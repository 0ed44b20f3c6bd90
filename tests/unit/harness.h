/* SPDX-License-Identifier: MIT */
/*
 * harness.h - a real router for unit tests: a temporary directory with a
 * config file and handler files, a struct spur_host built from them with
 * this build's plugins, and helpers to invoke and read results.
 * No mocks: the same code path as `spur serve`, minus the sources' start().
 */
#ifndef SPUR_TEST_HARNESS_H
#define SPUR_TEST_HARNESS_H

#include <stddef.h>
#include "spur/invoke.h"

struct spur_host;

struct harness {
	char dir[256];			/* the temporary directory */
	struct spur_host *host;
	char errors[8192];		/* what config/plugin loading printed */
};

/* Make a temporary directory (removed by harness_fini). */
void harness_init(struct harness *h);
/* Write `text` to dir/name (creating subdirectories). */
void harness_write(struct harness *h, const char *name, const char *text);
/* Load dir/spur.yaml (written by the caller) into h->host.
 * Returns 0, or -1 with the messages in h->errors. */
int harness_load(struct harness *h);
/* Write spur.yaml with `yaml` and load it. */
int harness_load_yaml(struct harness *h, const char *yaml);
/* Start what `spur serve` starts: the store, async workers, the outbox,
 * the sources (give the config an http listen of 127.0.0.1:0). */
int harness_start(struct harness *h);
void harness_fini(struct harness *h);

/* Invoke sync and return the result (caller frees with spur_result_free). */
struct spur_result *harness_invoke(struct harness *h, const char *target, const char *payload);
/* The body of a result as a NUL-terminated string (borrowed). */
const char *harness_body(const struct spur_result *r);

/* Run a suite the way every test main() does: the exit status. */
struct Suite;
int harness_run(struct Suite *suite);

#endif
