/* SPDX-License-Identifier: MIT */
/*
 * version_store.h - private to version.c and version_store.c: writing the
 * registry to the store, and the write-side helpers that loading shares
 * with the API (version.c). The loading entry point, spur_versions_load(),
 * is public in version.h. Callers hold the function's lock unless said.
 */
#ifndef SPUR_VERSION_STORE_H
#define SPUR_VERSION_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "version.h"

struct spur_fn;
struct spur_function;
struct fn_view;

/* version_store.c: write the function's whole registry state, with view
 * as its future. 0, -ENOTSUP (no store), -ENOMEM, or the store's error. */
int spur_version_store_persist(struct spur_fn *fn, const struct fn_view *view);

/* version.c: a published version over stored settings and code (owned;
 * NULL with why on failure). */
struct spur_function *spur_version_make(struct spur_fn *fn, const char *number, const char *settings,
					const char *code, char *why, size_t whylen);
/* version.c: alias names are 1..128 of [a-zA-Z0-9-_], not all digits. */
bool spur_version_alias_name_ok(const char *s, char *why, size_t whylen);
/* version.c: check and resolve an alias's targets. */
int spur_version_alias_targets(struct spur_fn *fn, const struct fn_view *view,
			       const char *version, const char *extra, double weight,
			       struct spur_function **pa, struct spur_function **pb,
			       char *why, size_t whylen);
/* version.c: put an alias into a new view and publish it (persisted
 * first when persist_it). */
int spur_version_alias_store(struct spur_fn *fn, const char *name,
			     struct spur_function *a, struct spur_function *b, double weight,
			     const char *description, bool from_config, bool persist_it,
			     spur_alias_fn cb, void *ud, char *why, size_t whylen);
/* version.c: warm what an alias (or version) needs before traffic
 * reaches it (provisioned concurrency; takes no lock). */
void spur_version_warm_target(struct spur_fn *fn, const char *qual,
			      struct spur_function *a, struct spur_function *b);

#endif
