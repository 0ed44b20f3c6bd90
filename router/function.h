/* SPDX-License-Identifier: MIT */
/*
 * function.h - the function registry: named functions and their versions.
 *
 * A struct spur_fn is a named function (settings from the config, its ARN,
 * its reserved-concurrency counter). A struct spur_function is one version
 * of it ($LATEST for now; published versions arrive with the registry in
 * the store): the runtime that runs it, the loaded code, and the pool of
 * execution contexts. The registry is built once per config load and is
 * read-only afterwards, so lookups take no lock.
 */
#ifndef SPUR_FUNCTION_H
#define SPUR_FUNCTION_H

#include <stdio.h>
#include "spur/runtime.h"
#include "config.h"

struct spur_host;
struct spur_pool;
struct spur_fn;
struct spur_registry;

struct spur_registry *spur_registry_new(struct spur_host *host,
					const struct spur_config *cfg, FILE *err);
void spur_registry_free(struct spur_registry *reg);

size_t spur_registry_count(const struct spur_registry *reg);
struct spur_fn *spur_registry_at(const struct spur_registry *reg, size_t i);
struct spur_fn *spur_registry_find(const struct spur_registry *reg,
				   const char *name, size_t len);

const struct spur_fn_config *spur_fn_config(const struct spur_fn *fn);
const char *spur_fn_arn(const struct spur_fn *fn);	/* unqualified */
/* A version by qualifier ("$LATEST", "3", an alias), or NULL. */
struct spur_function *spur_fn_version(struct spur_fn *fn, const char *qual, size_t len);

/* Reserved concurrency: take a slot (0) or -EBUSY when at the limit. */
int spur_fn_slot_take(struct spur_fn *fn);
void spur_fn_slot_give(struct spur_fn *fn);

struct spur_fn *spur_function_fn(const struct spur_function *ver);
struct spur_pool *spur_function_pool(const struct spur_function *ver);
const struct spur_fn_config *spur_function_config(const struct spur_function *ver);
const struct spur_runtime *spur_function_runtime(const struct spur_function *ver,
						 void **instance, void **code);

#endif
