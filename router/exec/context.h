/* SPDX-License-Identifier: MIT */
/*
 * context.h - execution contexts and their per-version pools.
 *
 * A context is one live instance of one function version: the runtime's
 * state (a lua_State, a native handler's state) after INIT, plus a scratch
 * directory. A pool keeps the idle contexts of one version, most recently
 * used first, so warm starts reuse the warmest context and the coldest
 * ones age out at the tail. A pool's lock is held only to push or pop a
 * pointer: never while INIT or a handler runs.
 *
 * The reaper is one thread per router that ends contexts idle for longer
 * than their idle_ttl. It sleeps until the next expiry (or indefinitely
 * when nothing is idle, woken when a context becomes idle); it never polls.
 */
#ifndef SPUR_CONTEXT_H
#define SPUR_CONTEXT_H

#include "spur/runtime.h"

struct spur_function;
struct spur_pool;
struct spur_reaper;

struct spur_pool *spur_pool_new(struct spur_function *ver, const char *state_dir);
/* Ends every idle context. No context of the pool may be busy. */
void spur_pool_free(struct spur_pool *pool);

/* A warm context, or NULL when none is idle. */
struct spur_context *spur_pool_take(struct spur_pool *pool);
/* Give a context back after an invocation; keep=false ends it (after a
 * timeout, out of memory, a crash). Also ends it at max_uses. */
void spur_pool_put(struct spur_pool *pool, struct spur_context *ctx, bool keep);
/* Counts, for metrics and tests (approximate while busy). */
size_t spur_pool_idle(struct spur_pool *pool);
size_t spur_pool_busy(struct spur_pool *pool);

/* A cold start: make a context and run INIT with `init` (whose deadline
 * the caller set). Returns the context, or NULL with *run saying why (the
 * error is set on `init`). *run is SPUR_RUN_OK on success. */
struct spur_context *spur_context_new(struct spur_pool *pool,
				      struct spur_invocation *init, enum spur_run *run);
void spur_context_free(struct spur_context *ctx);
void *spur_context_runtime_state(const struct spur_context *ctx);
uint64_t spur_context_uses(const struct spur_context *ctx);

/* Provisioned concurrency: keep at least n idle contexts (never reaped).
 * The caller warms them (spur_exec_cold_start + spur_pool_put). */
void spur_pool_set_provisioned(struct spur_pool *pool, int n);
int spur_pool_provisioned(struct spur_pool *pool);
/* A pool whose version is gone ($LATEST replaced by a reload, a version
 * deleted): its idle contexts are reaped at once, busy ones on return. */
void spur_pool_retire(struct spur_pool *pool);
/* Cold starts so far (metrics, tests). */
uint64_t spur_pool_cold_starts(struct spur_pool *pool);

/* The idle reaper over the pools added to it (pools come and go with
 * versions and reloads; a pool stays registered until the reaper stops). */
struct spur_reaper *spur_reaper_start(void);
int spur_reaper_add(struct spur_reaper *r, struct spur_pool *pool);
void spur_reaper_stop(struct spur_reaper *r);
/* One reaping pass at time `now` (for tests with an injected clock);
 * returns the next expiry on the same clock or INT64_MAX. */
int64_t spur_pool_reap(struct spur_pool *pool, int64_t now);

#endif
