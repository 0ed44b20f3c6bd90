/* SPDX-License-Identifier: MIT */
/*
 * version.h - immutable versions, aliases, concurrency settings and hot
 * reload: the registry that the Lambda management API edits (SPEC §1, §3,
 * §4.3; issue "Versions, aliases and concurrency").
 *
 * $LATEST is the function as the config and its code were last loaded.
 * spur_version_publish() snapshots it: the code is copied into a
 * content-addressed directory under state_dir (copy first, then hash the
 * copy, so a file being rewritten cannot give a torn snapshot), the
 * settings are frozen, and the version gets the next number. Publishing
 * with nothing changed returns the last version. Versions, aliases and
 * the API's concurrency settings live in the store ("registry" keys) and
 * are loaded at start; config aliases are applied at every load and win
 * over the API (README: "Which wins").
 *
 * Every call is thread-safe: readers (invocations) never wait for
 * writers; writers (the API) serialise per function.
 * Errors: -ENOENT (no such function, version, alias, code file),
 * -EEXIST (exists: 409), -EBUSY (in use: 409), -EINVAL (validation: 400,
 * why says what), -ESTALE (precondition failed: 412), else -EIO/-ENOMEM.
 */
#ifndef SPUR_VERSION_H
#define SPUR_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct spur_registry;
struct spur_fn;
struct spur_fn_config;

/* What the API shows of a version (strings borrowed for the callback). */
struct spur_version_info {
	const char *version;		/* "$LATEST", "1", ... */
	const char *code_sha256;	/* base64 of the SHA-256, as Lambda shows it */
	int64_t code_size;
	const char *description;
	const char *revision_id;
	int64_t last_modified_ms;	/* epoch ms */
	const struct spur_fn_config *settings;	/* frozen for published versions */
};

struct spur_alias_info {
	const char *name;
	const char *version;		/* primary */
	const char *extra_version;	/* NULL, or the additional version */
	double extra_weight;		/* 0..1 */
	const char *description;
	const char *revision_id;
};

typedef void (*spur_version_fn)(void *ud, const struct spur_version_info *v);
typedef void (*spur_alias_fn)(void *ud, const struct spur_alias_info *a);

/* Publish $LATEST. *created says whether a new version was made (201)
 * or the last one returned (nothing changed). expect_sha (base64) and
 * expect_revision are Lambda's CodeSha256 / RevisionId preconditions
 * (NULL: none). The new or existing version is given to fn. */
int spur_version_publish(struct spur_fn *fn, const char *description,
			 const char *expect_sha, const char *expect_revision, bool *created,
			 spur_version_fn cb, void *ud, char *why, size_t whylen);
/* $LATEST first, then published versions in order. */
int spur_version_list(struct spur_fn *fn, spur_version_fn cb, void *ud);
/* One version ("$LATEST" or a number); 0 or -ENOENT. */
int spur_version_get(struct spur_fn *fn, const char *version, spur_version_fn cb, void *ud);
/* Delete a published version: -EBUSY while an alias points to it. */
int spur_version_delete(struct spur_fn *fn, const char *version,
			char *why, size_t whylen);

/* Create (create=true: -EEXIST if it exists) or update an alias.
 * extra_version NULL means no weighted routing. The versions must be
 * published (not $LATEST when weighted); names are not all digits;
 * weights are in [0, 1]. Provisioned contexts of the new target are
 * warmed before the alias moves. */
int spur_alias_put(struct spur_fn *fn, const char *name, bool create,
		   const char *version, const char *extra_version, double extra_weight,
		   const char *description, const char *expect_revision,
		   spur_alias_fn cb, void *ud, char *why, size_t whylen);
int spur_alias_get(struct spur_fn *fn, const char *name, spur_alias_fn cb, void *ud);
int spur_alias_list(struct spur_fn *fn, spur_alias_fn cb, void *ud);
int spur_alias_delete(struct spur_fn *fn, const char *name,
		      char *why, size_t whylen);

/* Reserved concurrency: n >= 0, or -1 to remove. get: -1 when unset. */
int spur_concurrency_put(struct spur_fn *fn, long n, char *why, size_t whylen);
long spur_concurrency_get(struct spur_fn *fn);

/* Provisioned concurrency for a qualifier (an alias or a version, not
 * $LATEST): n contexts initialised now and kept warm; n = 0 removes it.
 * get: requested and ready counts; -ENOENT when none is configured. */
int spur_provisioned_put(struct spur_fn *fn, const char *qualifier,
			 int n, char *why, size_t whylen);
int spur_provisioned_get(struct spur_fn *fn, const char *qualifier, int *requested, int *ready);

/* Event invoke config (max retries 0..2 as Lambda, max age 60..21600 s);
 * a negative value leaves that setting as the config has it. */
int spur_event_config_put(struct spur_fn *fn, int max_retries,
			  int max_age_s, char *why, size_t whylen);
int spur_event_config_get(struct spur_fn *fn, int *max_retries, int *max_age_s);

/* At start, after the store opened: the published versions, API aliases
 * and settings the store holds, then the config's aliases and
 * provisioned contexts (which win). Errors go to err; -EINVAL if any. */
int spur_versions_load(struct spur_registry *reg, FILE *err);


#endif
