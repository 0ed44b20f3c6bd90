/* SPDX-License-Identifier: MIT */
/*
 * function.h - the function registry: named functions and their versions.
 *
 * A struct spur_fn is a named function: its ARN, its reserved-concurrency
 * counter, its $LATEST and its published versions and aliases. A struct
 * spur_function is one version: frozen settings, the runtime and its
 * loaded code, and the pool of execution contexts.
 *
 * Readers (every invocation) take no lock: the registry array, a
 * function's $LATEST and its view (versions + aliases) are immutable
 * snapshots behind atomic pointers. Writers (the management API, reload)
 * build a new snapshot under the function's lock and publish it; old
 * snapshots and versions stay allocated until shutdown, since an
 * invocation may still be using them (they are small).
 */
#ifndef SPUR_FUNCTION_H
#define SPUR_FUNCTION_H

#include <stdio.h>
#include "spur/runtime.h"
#include "config.h"

#include <stdatomic.h>

struct spur_pool;
struct spur_fn;
struct spur_function;
struct spur_registry;
struct spur_log;
struct spur_metrics;
struct spur_store;
struct json_t;

/* Execution contexts as the registry sees them. exec/ implements these
 * (the registry sits below it and never calls it by name): a version gets
 * its pool when it is made, gives it back when it is freed or replaced,
 * and asks for provisioned contexts (n = 0 releases them). */
struct spur_pool_ops {
	struct spur_pool *(*create)(void *ud, struct spur_function *ver);
	void (*destroy)(void *ud, struct spur_pool *pool);
	void (*retire)(void *ud, struct spur_pool *pool);
	void (*provision)(void *ud, struct spur_function *ver, int n);
	size_t (*idle)(void *ud, struct spur_pool *pool);
};

/* What a registry is built with, once, by the host; it outlives every
 * registry made from it (reloads make new registries over the same env).
 * The store is set when it opens, before spur_versions_load. */
struct spur_registry_env {
	const char *config_file;	/* for FILE:LINE errors */
	const char *state_dir;		/* code snapshots live under <state_dir>/code */
	const struct spur_log *log;
	struct spur_metrics *metrics;
	const struct spur_runtime *(*runtime)(void *ud, const char *name, void **instance);
	void *runtime_ud;
	const struct spur_pool_ops *pools;
	void *pools_ud;
	const struct spur_store *store;	/* NULL: nothing is persisted */
	void *store_instance;
};

/* The registry in use: a reload swaps it whole. Lookups load it once per
 * call (acquire); the registries it replaced stay valid until shutdown. */
struct spur_registry_ref {
	struct spur_registry *_Atomic current;
};

static inline struct spur_registry *spur_registry_current(struct spur_registry_ref *ref)
{
	return atomic_load_explicit(&ref->current, memory_order_acquire);
}

/* Build the registry of a config (new functions, or existing ones of
 * `previous` given a new $LATEST: a reload). Every function's code is
 * loaded; errors go to err as FILE:LINE lines and NULL is returned. */
struct spur_registry *spur_registry_new(const struct spur_registry_env *env,
					const struct spur_config *cfg,
					const struct spur_registry *previous, FILE *err);
/* Make `reg` current for the functions it shares with the registry it was
 * built from: their new $LATEST replaces the old one (which retires). */
void spur_registry_commit(struct spur_registry *reg);
/* The new $LATEST a reload made for the i-th function (NULL for a
 * function new in this registry: its $LATEST is already current). */
struct spur_function *spur_registry_pending(const struct spur_registry *reg, size_t i);
/* Free a registry that was never committed (a failed reload), with the
 * $LATEST versions it made. */
void spur_registry_discard(struct spur_registry *reg);
/* Free the array only (functions live on in the host's list). */
void spur_registry_free(struct spur_registry *reg);
/* Free every function ever made (shutdown). */
void spur_fn_free_all(struct spur_fn *all);
struct spur_fn *spur_registry_all(const struct spur_registry *reg);

size_t spur_registry_count(const struct spur_registry *reg);
struct spur_fn *spur_registry_at(const struct spur_registry *reg, size_t i);
struct spur_fn *spur_registry_find(const struct spur_registry *reg,
				   const char *name, size_t len);

const struct spur_fn_config *spur_fn_config(const struct spur_fn *fn);
const char *spur_fn_name(const struct spur_fn *fn);
const char *spur_fn_arn(const struct spur_fn *fn);	/* unqualified */
/* A version by qualifier: NULL/"" or "$LATEST", a version number, or an
 * alias (a weighted alias picks by a hash of pick_key, so one event id
 * always gets one version). NULL when there is no such qualifier. */
struct spur_function *spur_fn_version(struct spur_fn *fn, const char *qual, size_t len,
				      const char *pick_key);
struct spur_function *spur_fn_latest(struct spur_fn *fn);

/* Reserved concurrency: take a slot (0) or -EBUSY when at the limit. */
int spur_fn_slot_take(struct spur_fn *fn);
void spur_fn_slot_give(struct spur_fn *fn);

/* Metrics: $LATEST and every published version; running calls; ages. */
void spur_fn_each_version(struct spur_fn *fn, void (*cb)(void *ud, struct spur_function *v),
			  void *ud);
long spur_fn_inflight(struct spur_fn *fn);
enum spur_fn_counter {
	SPUR_FN_RECEIVED,	/* spur_async_events_received_total */
	SPUR_FN_RETRIED,	/* spur_async_events_retried_total */
	SPUR_FN_COUNTERS,
};
struct spur_counter *spur_fn_counter(struct spur_fn *fn, enum spur_fn_counter which);
struct spur_hist *spur_fn_event_age(struct spur_fn *fn);
struct spur_inv_metrics *spur_function_metrics(struct spur_function *ver);

struct spur_fn *spur_function_fn(const struct spur_function *ver);
struct spur_pool *spur_function_pool(const struct spur_function *ver);
/* The version's settings (frozen for a published version). */
const struct spur_fn_config *spur_function_config(const struct spur_function *ver);
const struct spur_runtime *spur_function_runtime(const struct spur_function *ver,
						 void **instance, void **code);

/* Split a FunctionName (name, name:qual, ARN, partial ARN) and an optional
 * separate qualifier (target.c). Returns 0, or -EINVAL with a message in
 * `why` worded as Lambda's ValidationException. */
int spur_target_parse(const char *target, const char *qualifier,
		      const char **name, size_t *name_len,
		      const char **qual, size_t *qual_len,
		      char *why, size_t len);

#endif
