/* SPDX-License-Identifier: MIT */
/*
 * run.c - one run of a function (see run.h):
 *
 *   reserve a concurrency slot → take a warm context (or cold-start one,
 *   INIT timed) → START → run under the deadline → END + REPORT → give
 *   the context back (or end it after a timeout, out of memory, a crash,
 *   max_uses) → count it in the version's metrics.
 *
 * Runs on the caller's thread (a connection thread for HTTP, an async
 * worker). Takes no global lock: the registry is a snapshot behind an
 * atomic pointer, the slot is one atomic, the pool lock is held for a
 * pointer swap. Allocations per call: the result and the handler's output.
 * Also the pools' life as the registry sees it (spur_exec_pool_ops): made
 * with each version, tracked by the idle reaper, warmed for provisioned
 * concurrency.
 */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "invocation.h"
#include "log.h"
#include "metrics.h"
#include "run.h"
#include "util.h"

struct spur_exec {
	struct spur_exec_env env;
	pthread_mutex_t lock;		/* pools made before the reaper started */
	struct spur_reaper *reaper;
	struct spur_pool **pools;
	size_t n_pools, cap_pools;
};

struct spur_exec *spur_exec_new(const struct spur_exec_env *env)
{
	struct spur_exec *ex = calloc(1, sizeof(*ex));
	if (!ex)
		return NULL;
	ex->env = *env;
	pthread_mutex_init(&ex->lock, NULL);
	return ex;
}

int spur_exec_start(struct spur_exec *ex)
{
	struct spur_reaper *reaper = spur_reaper_start();
	if (!reaper)
		return -ENOMEM;
	pthread_mutex_lock(&ex->lock);
	for (size_t i = 0; i < ex->n_pools; i++)
		spur_reaper_add(reaper, ex->pools[i]);
	ex->n_pools = 0;
	ex->reaper = reaper;
	pthread_mutex_unlock(&ex->lock);
	return 0;
}

void spur_exec_stop(struct spur_exec *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	struct spur_reaper *reaper = ex->reaper;
	ex->reaper = NULL;
	pthread_mutex_unlock(&ex->lock);
	spur_reaper_stop(reaper);
}

void spur_exec_free(struct spur_exec *ex)
{
	if (!ex)
		return;
	spur_exec_stop(ex);
	pthread_mutex_destroy(&ex->lock);
	free(ex->pools);
	free(ex);
}

/* --- pools, as the registry sees them ------------------------------------------ */

static struct spur_pool *pool_create(void *ud, struct spur_function *ver)
{
	struct spur_exec *ex = ud;
	struct spur_pool *pool = spur_pool_new(ver, ex->env.state_dir);
	if (!pool)
		return NULL;
	pthread_mutex_lock(&ex->lock);
	if (ex->reaper) {
		spur_reaper_add(ex->reaper, pool);
	} else {
		if (ex->n_pools == ex->cap_pools) {
			size_t cap = ex->cap_pools ? ex->cap_pools * 2 : 16;
			struct spur_pool **p = realloc(ex->pools, cap * sizeof(*p));
			if (p) {
				ex->pools = p;
				ex->cap_pools = cap;
			}
		}
		if (ex->n_pools < ex->cap_pools)
			ex->pools[ex->n_pools++] = pool;
	}
	pthread_mutex_unlock(&ex->lock);
	return pool;
}

static void pool_destroy(void *ud, struct spur_pool *pool)
{
	struct spur_exec *ex = ud;
	pthread_mutex_lock(&ex->lock);	/* not yet handed to the reaper */
	for (size_t i = 0; i < ex->n_pools; i++)
		if (ex->pools[i] == pool)
			ex->pools[i] = ex->pools[--ex->n_pools];
	pthread_mutex_unlock(&ex->lock);
	spur_pool_free(pool);
}

static void pool_retire(void *ud, struct spur_pool *pool)
{
	spur_pool_retire(pool);
}

/* Bring a version's pool to n idle contexts (provisioned concurrency). */
static void pool_provision(void *ud, struct spur_function *ver, int n)
{
	struct spur_exec *ex = ud;
	struct spur_pool *pool = spur_function_pool(ver);
	spur_pool_set_provisioned(pool, n);
	char why[256];
	for (int have = (int)spur_pool_idle(pool); have < n; have++) {
		struct spur_context *c = spur_exec_cold_start(ex, ver, why, sizeof(why));
		if (!c) {
			spur_log_write(ex->env.log, SPUR_LOG_WARN, NULL,
				       "provisioned context of %s:%s did not start: %s",
				       spur_function_name(ver), spur_function_version(ver), why);
			return;
		}
		spur_pool_put(pool, c, true);
	}
}

static size_t pool_idle(void *ud, struct spur_pool *pool)
{
	return spur_pool_idle(pool);
}

const struct spur_pool_ops spur_exec_pool_ops = {
	.create = pool_create,
	.destroy = pool_destroy,
	.retire = pool_retire,
	.provision = pool_provision,
	.idle = pool_idle,
};

/* --- one run ------------------------------------------------------------------- */

static void inv_fini(struct spur_invocation *inv)
{
	free(inv->result);
	free(inv->error);
	inv->result = inv->error = NULL;
}

/* REPORT's figures. */
struct timing {
	int64_t start, init_ns;
	bool cold;
};

static void report(const struct spur_invocation *inv, const struct spur_fn_config *c,
		   const struct timing *t, enum spur_run run, int64_t end)
{
	double ms = (double)(end - t->start) / 1e6;
	unsigned long long mb = (inv->memory_used + (1u << 20) - 1) >> 20;
	char init[64] = "";
	if (t->cold)
		snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", (double)t->init_ns / 1e6);
	spur_log_write(inv->log, SPUR_LOG_INFO, &inv->logctx, "END RequestId: %s",
		       inv->request_id);
	spur_log_write(inv->log, SPUR_LOG_INFO, &inv->logctx,
		       "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld ms\tMemory Size: %llu MB\tMax Memory Used: %llu MB%s%s",
		       inv->request_id, ms, (long long)(ms + 0.999999),
		       (unsigned long long)(c->memory >> 20), mb, init,
		       run == SPUR_RUN_TIMEOUT ? "\tStatus: timeout" :
		       run == SPUR_RUN_OOM ? "\tStatus: error\tError Type: Runtime.OutOfMemory" : "");
}

/* A fatal run without a message from the runtime gets the host's. */
static void default_error(struct spur_invocation *inv, enum spur_run run,
			  const struct spur_fn_config *c)
{
	if (run == SPUR_RUN_TIMEOUT) {
		char msg[96];
		snprintf(msg, sizeof(msg), "Task timed out after %.2f seconds",
			 (double)c->timeout_ms / 1000.0);
		free(inv->error);
		inv->error = NULL;
		spur_invocation_set_error(inv, "Sandbox.Timedout", msg, NULL);
	} else if (!inv->error) {
		spur_invocation_set_error(inv, run == SPUR_RUN_OOM ? "Runtime.OutOfMemory" :
					  run == SPUR_RUN_CRASH ? "Runtime.ExitError" : "Error",
					  run == SPUR_RUN_OOM ? "memory limit exceeded" :
					  run == SPUR_RUN_CRASH ? "the runtime context failed" :
					  "the handler failed", NULL);
	}
}

static struct spur_context *cold_start(struct spur_pool *pool, struct spur_invocation *inv,
				       const struct spur_fn_config *c, struct timing *t,
				       enum spur_run *run)
{
	struct spur_invocation init = *inv;
	init.result = init.error = NULL;
	init.traceparent = init.tracestate = NULL;	/* INIT belongs to no request */
	init.payload = NULL;
	init.payload_len = 0;
	int64_t t0 = spur_now_ns();
	init.deadline_ns = t0 + c->init_timeout_ms * 1000000;
	init.deadline_epoch_ms = spur_epoch_ms() + c->init_timeout_ms;
	struct spur_context *ctx = spur_context_new(pool, &init, run);
	t->cold = true;
	t->init_ns = spur_now_ns() - t0;
	if (!ctx) {
		if (*run == SPUR_RUN_TIMEOUT) {
			char msg[96];
			snprintf(msg, sizeof(msg), "INIT timed out after %.2f seconds",
				 (double)c->init_timeout_ms / 1000.0);
			free(init.error);
			init.error = NULL;
			spur_invocation_set_error(&init, "Runtime.InitTimeout", msg, NULL);
		} else {
			default_error(&init, *run == SPUR_RUN_OK ? SPUR_RUN_CRASH : *run, c);
		}
		inv->error = init.error;
		inv->error_len = init.error_len;
		init.error = NULL;
	}
	inv->memory_used = init.memory_used;
	inv_fini(&init);
	return ctx;
}

struct spur_function *spur_exec_resolve(struct spur_exec *ex, const char *target,
					const char *qualifier, struct spur_result *r,
					struct spur_fn **fnp, const char **qual, size_t *qual_len)
{
	const char *name;
	size_t name_len;
	char why[512];
	if (spur_target_parse(target, qualifier, &name, &name_len,
				     qual, qual_len, why, sizeof(why)) < 0) {
		spur_result_fail(r, SPUR_STATUS_BAD_REQUEST, "ValidationException", "%s", why);
		return NULL;
	}
	struct spur_fn *fn = spur_registry_find(spur_registry_current(ex->env.registry), name,
						name_len);
	if (!fn) {
		spur_result_fail(r, SPUR_STATUS_NOT_FOUND, "ResourceNotFoundException",
				 "Function not found: arn:aws:lambda:%s:%s:function:%.*s%s%.*s",
				 ex->env.arn_region, ex->env.arn_account, (int)name_len, name,
				 *qual ? ":" : "", (int)*qual_len, *qual ? *qual : "");
		return NULL;
	}
	struct spur_function *ver = spur_fn_version(fn, *qual, *qual_len, r->request_id);
	if (!ver) {
		spur_result_fail(r, SPUR_STATUS_NOT_FOUND, "ResourceNotFoundException",
				 "Function not found: %s:%.*s", spur_fn_arn(fn), (int)*qual_len, *qual);
		return NULL;
	}
	r->version = spur_function_version(ver);
	*fnp = fn;
	return ver;
}

/* One run in progress: on the caller's stack for a run that ends where it
 * began, moved to the heap (call_move) when a paused run changes thread. */
struct spur_exec_call {
	struct spur_exec *ex;
	struct spur_fn *fn;
	struct spur_function *ver;
	const struct spur_fn_config *c;
	struct spur_inv_metrics *m;
	struct spur_pool *pool;
	struct spur_context *ctx;
	const struct spur_runtime *rt;
	void *rt_instance;
	struct spur_result *r;
	struct spur_invocation inv;
	struct timing t;
	enum spur_run cold;		/* why the cold start failed (no ctx) */
	bool log_tail;
	struct spur_buf tail;
	struct spur_trace trace;	/* a moved call's own copy */
	char arn[400];
};

/* Take a slot and a context, log START. False: throttled (r filled). */
static bool call_begin(struct spur_exec_call *k, struct spur_exec *ex, struct spur_fn *fn,
		       struct spur_function *ver, const char *qual, size_t qual_len,
		       const char *payload, size_t payload_len, unsigned attempt,
		       bool log_tail, const struct spur_trace *trace, struct spur_result *r)
{
	k->m = spur_function_metrics(ver);
	if (spur_fn_slot_take(fn) < 0) {
		atomic_fetch_add_explicit(&k->m->outcome[SPUR_OUTCOME_THROTTLED], 1,
					  memory_order_relaxed);
		r->retry_after = 1;
		spur_result_fail(r, SPUR_STATUS_THROTTLED, "TooManyRequestsException",
				 "Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded)");
		return false;
	}
	k->ex = ex;
	k->fn = fn;
	k->ver = ver;
	k->r = r;
	k->c = spur_function_config(ver);	/* the version's own */
	k->log_tail = log_tail;
	if (qual)	/* the ARN as invoked; unqualified, the function's own */
		snprintf(k->arn, sizeof(k->arn), "%s:%.*s", spur_fn_arn(fn), (int)qual_len, qual);
	spur_buf_init(&k->tail);
	k->inv = (struct spur_invocation){
		.log = ex->env.log,
		.ver = ver,
		.request_id = r->request_id,
		.arn = qual ? k->arn : spur_fn_arn(fn),
		.attempt = attempt,
		.payload = payload,
		.payload_len = payload_len,
		.traceparent = trace && trace->parent[0] ? trace->parent : NULL,
		.tracestate = trace && trace->parent[0] && trace->state[0] ? trace->state : NULL,
		.logctx = {
			.request_id = r->request_id,
			.function = k->c->name,
			.version = r->version,
			.tail = log_tail ? &k->tail : NULL,
		},
	};
	k->t = (struct timing){ .start = spur_now_ns() };
	k->pool = spur_function_pool(ver);
	k->ctx = spur_pool_take(k->pool);
	if (!k->ctx && spur_pool_provisioned(k->pool) > 0)	/* provisioned spillover */
		atomic_fetch_add_explicit(&k->m->spillover, 1, memory_order_relaxed);
	enum spur_run outcome = SPUR_RUN_OK;
	if (!k->ctx)
		k->ctx = cold_start(k->pool, &k->inv, k->c, &k->t, &outcome);
	spur_log_write(k->inv.log, SPUR_LOG_INFO, &k->inv.logctx,
		       "START RequestId: %s Version: %s", r->request_id, r->version);
	k->rt = spur_function_runtime(ver, &k->rt_instance, NULL);
	if (k->ctx) {
		int64_t now = k->t.cold ? spur_now_ns() : k->t.start;	/* one read when warm */
		k->inv.ctx = k->ctx;
		k->inv.deadline_ns = now + k->c->timeout_ms * 1000000;
		k->inv.deadline_epoch_ms = spur_epoch_ms() + k->c->timeout_ms;
	}
	k->cold = outcome;
	return true;
}

static bool can_resume(const struct spur_runtime *rt)
{
	return SPUR_HAS_MEMBER(rt, struct spur_runtime, resume) && rt->resume;
}

/* END + REPORT, metrics, the context back, the answer into r. */
static void call_end(struct spur_exec_call *k, enum spur_run outcome)
{
	struct spur_invocation *inv = &k->inv;
	struct spur_result *r = k->r;

	int64_t end = spur_now_ns();

	if (outcome != SPUR_RUN_OK)
		default_error(inv, outcome, k->c);
	report(inv, k->c, &k->t, outcome, end);
	spur_hist_observe(&k->m->duration, end - k->t.start - (k->t.cold ? k->t.init_ns : 0));
	if (k->t.cold)
		spur_hist_observe(&k->m->init, k->t.init_ns);
	atomic_fetch_add_explicit(&k->m->outcome[outcome == SPUR_RUN_OK ? SPUR_OUTCOME_SUCCESS :
						 outcome == SPUR_RUN_TIMEOUT ? SPUR_OUTCOME_TIMEOUT :
						 SPUR_OUTCOME_ERROR], 1, memory_order_relaxed);
	if (k->ctx)
		spur_pool_put(k->pool, k->ctx, outcome == SPUR_RUN_OK || outcome == SPUR_RUN_ERROR);
	if (outcome == SPUR_RUN_OOM)
		malloc_trim(0);	/* hand a memory bomb's pages back to the system */
	spur_fn_slot_give(k->fn);

	r->status = SPUR_STATUS_OK;
	if (outcome == SPUR_RUN_OK) {
		r->body = inv->result ? inv->result : strdup("null");
		r->body_len = inv->result ? inv->result_len : 4;
		inv->result = NULL;
	} else {
		r->function_error = "Unhandled";
		r->body = inv->error;
		r->body_len = inv->error_len;
		inv->error = NULL;
	}
	if (k->log_tail) {
		size_t off = k->tail.len > SPUR_LOG_TAIL ? k->tail.len - SPUR_LOG_TAIL : 0;
		r->log_tail = spur_base64(k->tail.data ? k->tail.data + off : "", k->tail.len - off);
	}
	spur_buf_fini(&k->tail);
	inv_fini(inv);
	if (!r->body)
		spur_result_fail(r, SPUR_STATUS_INTERNAL, "ServiceException", "out of memory");
}

/* Run (or go on with) the invocation until it ends or pauses. */
static enum spur_run call_step(struct spur_exec_call *k, bool first)
{
	if (!k->ctx)
		return k->cold;	/* the cold start failed */
	void *state = spur_context_runtime_state(k->ctx);
	enum spur_run run = first ? k->rt->invoke(state, &k->inv) : k->rt->resume(state, &k->inv);
	if (run == SPUR_RUN_YIELD && !k->inv.yield_ns)
		run = SPUR_RUN_CRASH;	/* paused when it was told not to */
	return run;
}

/* The call, moved to the heap so that it can change thread; the strings
 * and buffers it points to move with it. NULL when out of memory. */
static struct spur_exec_call *call_move(const struct spur_exec_call *k)
{
	struct spur_exec_call *n = malloc(sizeof(*n));
	if (!n)
		return NULL;
	*n = *k;
	if (k->inv.arn == k->arn)
		n->inv.arn = n->arn;
	n->inv.logctx.tail = n->log_tail ? &n->tail : NULL;
	snprintf(n->trace.parent, sizeof(n->trace.parent), "%s", k->inv.traceparent ?: "");
	snprintf(n->trace.state, sizeof(n->trace.state), "%s", k->inv.tracestate ?: "");
	n->inv.traceparent = k->inv.traceparent ? n->trace.parent : NULL;
	n->inv.tracestate = k->inv.tracestate ? n->trace.state : NULL;
	return n;
}

void spur_exec_run(struct spur_exec *ex, struct spur_fn *fn, struct spur_function *ver,
		   const char *qual, size_t qual_len, const char *payload, size_t payload_len,
		   unsigned attempt, bool log_tail, const struct spur_trace *trace,
		   struct spur_result *r)
{
	struct spur_exec_call k;
	if (call_begin(&k, ex, fn, ver, qual, qual_len, payload, payload_len, attempt,
		       log_tail, trace, r))
		call_end(&k, call_step(&k, true));
}

bool spur_exec_can_pause(struct spur_function *ver)
{
	return can_resume(spur_function_runtime(ver, NULL, NULL));
}

struct spur_exec_call *spur_exec_run_inline(struct spur_exec *ex, struct spur_fn *fn,
				       struct spur_function *ver, const char *qual,
				       size_t qual_len, const char *payload, size_t payload_len,
				       bool log_tail, const struct spur_trace *trace,
				       int64_t budget_ns, struct spur_result *r)
{
	struct spur_exec_call k;
	if (!call_begin(&k, ex, fn, ver, qual, qual_len, payload, payload_len, 1, log_tail,
			trace, r))
		return NULL;
	/* the budget counts from the run's start (a cold start's INIT too) */
	k.inv.yield_ns = can_resume(k.rt) ? k.t.start + (budget_ns > 0 ? budget_ns : 1) : 0;
	enum spur_run run = call_step(&k, true);
	if (run != SPUR_RUN_YIELD) {
		call_end(&k, run);
		return NULL;
	}
	struct spur_exec_call *moved = call_move(&k);
	if (!moved) {	/* no memory to move it: finish here */
		k.inv.yield_ns = 0;
		call_end(&k, call_step(&k, false));
		return NULL;
	}
	atomic_fetch_add_explicit(&moved->m->moved, 1, memory_order_relaxed);
	return moved;
}

void spur_exec_finish(struct spur_exec_call *k)
{
	k->inv.yield_ns = 0;	/* to the end now */
	call_end(k, call_step(k, false));
	free(k);
}

struct spur_result *spur_exec_event(struct spur_exec *ex, const char *target,
				    const char *payload, size_t len,
				    const char *request_id, unsigned attempt,
				    const char *traceparent, const char *tracestate)
{
	struct spur_result *r = spur_result_new();
	if (!r)
		return NULL;
	snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
	struct spur_fn *fn;
	const char *qual;
	size_t qual_len;
	struct spur_function *ver = spur_exec_resolve(ex, target, NULL, r, &fn, &qual, &qual_len);
	struct spur_trace trace;
	spur_trace_from_strings(&trace, traceparent, tracestate);
	if (ver)
		spur_exec_run(ex, fn, ver, qual, qual_len, payload, len, attempt, false,
				&trace, r);
	return r;
}

struct spur_context *spur_exec_cold_start(struct spur_exec *ex, struct spur_function *ver,
					  char *why, size_t len)
{
	char id[37];
	spur_uuid(id);
	const struct spur_fn_config *c = spur_function_config(ver);
	struct spur_invocation inv = {
		.log = ex->env.log,
		.ver = ver,
		.request_id = id,
		.arn = spur_fn_arn(spur_function_fn(ver)),
		.attempt = 1,
		.logctx = { .request_id = id, .function = c->name, .version = "$LATEST" },
	};
	struct timing t = { .start = spur_now_ns() };
	enum spur_run run;
	struct spur_context *ctx = cold_start(spur_function_pool(ver), &inv, c, &t, &run);
	if (!ctx) {
		json_t *e = inv.error ? json_loadb(inv.error, inv.error_len, 0, NULL) : NULL;
		snprintf(why, len, "%s: %s",
			 json_string_value(json_object_get(e, "errorType")) ?: "Error",
			 json_string_value(json_object_get(e, "errorMessage")) ?: "INIT failed");
		json_decref(e);
	}
	inv_fini(&inv);
	return ctx;
}

int spur_exec_init_once(struct spur_exec *ex, struct spur_function *ver,
			char *why, size_t len)
{
	struct spur_context *ctx = spur_exec_cold_start(ex, ver, why, len);
	if (!ctx)
		return -EINVAL;
	spur_context_free(ctx);
	return 0;
}

