/* SPDX-License-Identifier: MIT */
/*
 * invoke.c - the one invoke path every ingress shares.
 *
 *   resolve target and qualifier (alias pick by request id) → check the
 *   payload (json.c, no allocation) → idempotency key, if configured →
 *   async: store the event (async.c) and answer 202 | sync: reserve a
 *   concurrency slot → take a warm context (or cold-start one, INIT
 *   timed) → START → run under the deadline → END + REPORT → give the
 *   context back (or end it after a timeout, out of memory, a crash,
 *   max_uses) → count it (metrics.c).
 *
 * Runs on the caller's thread (a connection thread for HTTP). Takes no
 * global lock: the registry is a snapshot behind an atomic pointer, the
 * concurrency slot is one atomic, the pool lock is held for a pointer
 * swap. Allocations per call: the result and the handler's output.
 * Also owns struct spur_invocation and struct spur_result with their
 * accessors (the SDK's, and the internal setters of invoke.h). The
 * idempotent flows of SPEC §5 are in idempotency.c, which runs a keyed
 * call through spur_invoke_run().
 */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "context.h"
#include "function.h"
#include "host.h"
#include "async.h"
#include "idempotency.h"
#include "invoke.h"
#include "json.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "util.h"

struct spur_invocation {
	const struct spur_log *log;
	struct spur_function *ver;
	struct spur_context *ctx;
	const char *request_id;
	const char *arn;
	unsigned attempt;
	int64_t deadline_ns;
	int64_t deadline_epoch_ms;
	const char *payload;
	size_t payload_len;
	json_t *json;			/* parsed on demand: spur_invocation_json() */
	char *result;
	size_t result_len;
	char *error;			/* the Lambda error object, JSON */
	size_t error_len;
	uint64_t memory_used;
	struct spur_log_ctx logctx;
	const char *traceparent;	/* W3C Trace Context, or NULL; borrowed */
	const char *tracestate;
};

struct spur_result {
	enum spur_status status;
	char request_id[37];
	char *body;
	size_t body_len;
	const char *function_error;
	const char *version;		/* static or owned by the registry */
	char *log_tail;
	const char *error_type;
	char *error_message;
	int retry_after;
	bool replayed;
};

/* --- names ------------------------------------------------------------- */

/* 1..max characters of [A-Za-z0-9_-]: Lambda's names and qualifiers. */
static bool word_ok(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool name_ok(const char *s, size_t n)
{
	return word_ok(s, n, 64);
}

static bool qual_ok(const char *s, size_t n)
{
	return (n == 7 && memcmp(s, "$LATEST", 7) == 0) || word_ok(s, n, 128);
}

int spur_invoke_parse_target(const char *target, const char *qualifier,
			     const char **name, size_t *name_len,
			     const char **qual, size_t *qual_len,
			     char *why, size_t len)
{
	const char *s = target ? target : "";
	/* arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUAL] or
	 * ACCOUNT:function:NAME[:QUAL]: skip to what follows "function:". */
	const char *f = strstr(s, ":function:");
	if (strncmp(s, "arn:", 4) == 0) {
		if (!f || strncmp(strchr(s + 4, ':') ? strchr(s + 4, ':') : "", ":lambda:", 8) != 0) {
			snprintf(why, len, "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy constraint: not a Lambda function ARN", s);
			return -EINVAL;
		}
		s = f + 10;
	} else if (f) {
		s = f + 10;
	}
	const char *colon = strchr(s, ':');
	*name = s;
	*name_len = colon ? (size_t)(colon - s) : strlen(s);
	*qual = colon ? colon + 1 : NULL;
	*qual_len = colon ? strlen(colon + 1) : 0;
	if (!name_ok(*name, *name_len)) {
		snprintf(why, len, "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}", target ? target : "");
		return -EINVAL;
	}
	if (*qual && !qual_ok(*qual, *qual_len)) {
		snprintf(why, len, "1 validation error detected: Value '%.200s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: $LATEST|[a-zA-Z0-9-_]{1,128}", *qual);
		return -EINVAL;
	}
	if (qualifier && *qualifier) {
		size_t ql = strlen(qualifier);
		if (!qual_ok(qualifier, ql)) {
			snprintf(why, len, "1 validation error detected: Value '%.200s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: $LATEST|[a-zA-Z0-9-_]{1,128}", qualifier);
			return -EINVAL;
		}
		if (*qual && (ql != *qual_len || memcmp(qualifier, *qual, ql) != 0)) {
			snprintf(why, len, "The derived qualifier from the function name does not match the specified qualifier.");
			return -EINVAL;
		}
		*qual = qualifier;
		*qual_len = ql;
	}
	return 0;
}

/* --- W3C Trace Context ----------------------------------------------------- */

/* n lower-case hex digits, not all zero when `nonzero`. */
static bool hex_ok(const char *s, size_t n, bool nonzero)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		any |= s[i] != '0';
	}
	return any || !nonzero;
}

/* "00-" trace-id "-" parent-id "-" flags (W3C Trace Context, level 1 §3.2). */
bool spur_trace_parent_valid(const char *s, size_t n)
{
	return n == SPUR_TRACEPARENT_LEN && memcmp(s, "00-", 3) == 0 && s[35] == '-' &&
	       s[52] == '-' && hex_ok(s + 3, 32, true) && hex_ok(s + 36, 16, true) &&
	       hex_ok(s + 53, 2, false);
}

bool spur_trace_from_attrs(const struct spur_attr *attrs, size_t n, struct spur_trace *t)
{
	const struct spur_attr *parent = NULL;
	size_t sl = 0;
	bool state_ok = true;
	*t = (struct spur_trace){ .parent = "" };
	for (size_t i = 0; attrs && i < n; i++) {
		const struct spur_attr *a = &attrs[i];
		size_t vl = a->value ? strlen(a->value) : 0;
		if (!a->name || !a->value)
			continue;
		if (strcasecmp(a->name, "traceparent") == 0) {
			if (parent) {	/* two of them: ambiguous, so none (§3.2.2) */
				t->state[0] = '\0';
				return false;
			}
			parent = a;
		} else if (strcasecmp(a->name, "tracestate") == 0 && vl) {
			/* several headers are one list, joined with "," (§3.3.1.1) */
			if (sl + (sl ? 1 : 0) + vl > SPUR_TRACESTATE_MAX || a->value_len > vl) {
				state_ok = false;
				continue;
			}
			for (size_t k = 0; k < vl; k++)
				state_ok &= a->value[k] >= 0x20 && a->value[k] < 0x7f;
			if (sl)
				t->state[sl++] = ',';
			memcpy(t->state + sl, a->value, vl);
			sl += vl;
		}
	}
	if (!parent || parent->value_len > SPUR_TRACEPARENT_LEN ||
	    !spur_trace_parent_valid(parent->value, strlen(parent->value))) {
		t->state[0] = '\0';
		return false;
	}
	memcpy(t->parent, parent->value, SPUR_TRACEPARENT_LEN);
	t->state[state_ok ? sl : 0] = '\0';
	return true;
}

/* --- results ------------------------------------------------------------ */

static struct spur_result *result_new(void)
{
	struct spur_result *r = calloc(1, sizeof(*r));
	if (r)
		spur_uuid(r->request_id);
	return r;
}

struct spur_result *spur_result_fail(struct spur_result *r, enum spur_status st,
				     const char *type, const char *fmt, ...)
{
	r->status = st;
	r->error_type = type;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&r->error_message, fmt, ap) < 0)
		r->error_message = NULL;
	va_end(ap);
	return r;
}

void spur_result_set_status(struct spur_result *r, enum spur_status st)
{
	r->status = st;
}

void spur_result_set_request_id(struct spur_result *r, const char *id)
{
	snprintf(r->request_id, sizeof(r->request_id), "%s", id);
}

void spur_result_set_body(struct spur_result *r, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
}

void spur_result_set_replayed(struct spur_result *r)
{
	r->replayed = true;
}

void spur_result_set_retry_after(struct spur_result *r, int seconds)
{
	r->retry_after = seconds;
}

/* The Lambda error object. */
static char *error_json(const char *type, const char *message, const char *stack_json,
			size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_puts(&b, "{\"errorMessage\":");
	spur_buf_json_string(&b, message ? message : "", message ? strlen(message) : 0);
	spur_buf_puts(&b, ",\"errorType\":");
	spur_buf_json_string(&b, type ? type : "Error", type ? strlen(type) : 5);
	spur_buf_puts(&b, ",\"stackTrace\":");
	struct spur_json_error jerr;
	bool stack_ok = stack_json && stack_json[0] == '[' &&
			spur_json_check(stack_json, strlen(stack_json), &jerr) == 0;
	spur_buf_puts(&b, stack_ok ? stack_json : "[]");
	spur_buf_puts(&b, "}");
	return spur_buf_steal(&b, len);
}

/* --- the invocation handle ------------------------------------------------ */

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
		   const struct timing *t, enum spur_run run)
{
	double ms = (double)(spur_now_ns() - t->start) / 1e6;
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

/* A target and qualifier → the function and version, or NULL with r
 * filled with the error. */
static struct spur_function *resolve(struct spur_host *host, const char *target,
				     const char *qualifier, struct spur_result *r,
				     struct spur_fn **fnp, const char **qual, size_t *qual_len)
{
	const char *name;
	size_t name_len;
	char why[512];
	if (spur_invoke_parse_target(target, qualifier, &name, &name_len,
				     qual, qual_len, why, sizeof(why)) < 0) {
		spur_result_fail(r, SPUR_STATUS_BAD_REQUEST, "ValidationException", "%s", why);
		return NULL;
	}
	const struct spur_config *cfg = spur_host_config(host);
	struct spur_fn *fn = spur_registry_find(spur_host_registry(host), name, name_len);
	if (!fn) {
		spur_result_fail(r, SPUR_STATUS_NOT_FOUND, "ResourceNotFoundException",
				 "Function not found: arn:aws:lambda:%s:%s:function:%.*s%s%.*s",
				 cfg->arn_region, cfg->arn_account, (int)name_len, name,
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

void spur_invoke_run(struct spur_host *host, struct spur_fn *fn, struct spur_function *ver,
		     const char *qual, size_t qual_len, const char *payload, size_t payload_len,
		     unsigned attempt, bool log_tail, const struct spur_trace *trace,
		     struct spur_result *r)
{
	struct spur_inv_metrics *m = spur_function_metrics(ver);
	if (spur_fn_slot_take(fn) < 0) {
		atomic_fetch_add_explicit(&m->outcome[SPUR_OUTCOME_THROTTLED], 1, memory_order_relaxed);
		r->retry_after = 1;
		spur_result_fail(r, SPUR_STATUS_THROTTLED, "TooManyRequestsException",
				 "Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded)");
		return;
	}

	const struct spur_fn_config *c = spur_function_config(ver);	/* the version's own */
	char arn[400];
	snprintf(arn, sizeof(arn), "%s%s%.*s", spur_fn_arn(fn), qual ? ":" : "",
		 (int)qual_len, qual ? qual : "");
	struct spur_buf tail;
	spur_buf_init(&tail);
	struct spur_invocation inv = {
		.log = spur_host_log(host),
		.ver = ver,
		.request_id = r->request_id,
		.arn = arn,
		.attempt = attempt,
		.payload = payload,
		.payload_len = payload_len,
		.traceparent = trace && trace->parent[0] ? trace->parent : NULL,
		.tracestate = trace && trace->parent[0] && trace->state[0] ? trace->state : NULL,
		.logctx = {
			.request_id = r->request_id,
			.function = c->name,
			.version = r->version,
			.tail = log_tail ? &tail : NULL,
		},
	};
	struct timing t = { .start = spur_now_ns() };
	enum spur_run outcome = SPUR_RUN_OK;
	struct spur_pool *pool = spur_function_pool(ver);
	struct spur_context *ctx = spur_pool_take(pool);
	if (!ctx && spur_pool_provisioned(pool) > 0)	/* provisioned concurrency spillover */
		atomic_fetch_add_explicit(&m->spillover, 1, memory_order_relaxed);
	if (!ctx)
		ctx = cold_start(pool, &inv, c, &t, &outcome);
	spur_log_write(inv.log, SPUR_LOG_INFO, &inv.logctx, "START RequestId: %s Version: %s",
		       r->request_id, r->version);
	if (ctx) {
		void *rt_instance;
		const struct spur_runtime *rt = spur_function_runtime(ver, &rt_instance, NULL);
		inv.ctx = ctx;
		inv.deadline_ns = spur_now_ns() + c->timeout_ms * 1000000;
		inv.deadline_epoch_ms = spur_epoch_ms() + c->timeout_ms;
		outcome = rt->invoke(spur_context_runtime_state(ctx), &inv);
	}
	if (outcome != SPUR_RUN_OK)
		default_error(&inv, outcome, c);
	report(&inv, c, &t, outcome);
	spur_hist_observe(&m->duration, spur_now_ns() - t.start - (t.cold ? t.init_ns : 0));
	if (t.cold)
		spur_hist_observe(&m->init, t.init_ns);
	atomic_fetch_add_explicit(&m->outcome[outcome == SPUR_RUN_OK ? SPUR_OUTCOME_SUCCESS :
					      outcome == SPUR_RUN_TIMEOUT ? SPUR_OUTCOME_TIMEOUT :
					      SPUR_OUTCOME_ERROR], 1, memory_order_relaxed);
	if (ctx)
		spur_pool_put(pool, ctx, outcome == SPUR_RUN_OK || outcome == SPUR_RUN_ERROR);
	if (outcome == SPUR_RUN_OOM)
		malloc_trim(0);	/* hand a memory bomb's pages back to the system */
	spur_fn_slot_give(fn);
	json_decref(inv.json);

	r->status = SPUR_STATUS_OK;
	if (outcome == SPUR_RUN_OK) {
		r->body = inv.result ? inv.result : strdup("null");
		r->body_len = inv.result ? inv.result_len : 4;
		inv.result = NULL;
	} else {
		r->function_error = "Unhandled";
		r->body = inv.error;
		r->body_len = inv.error_len;
		inv.error = NULL;
	}
	if (log_tail) {
		size_t off = tail.len > SPUR_LOG_TAIL ? tail.len - SPUR_LOG_TAIL : 0;
		r->log_tail = spur_base64(tail.data ? tail.data + off : "", tail.len - off);
	}
	spur_buf_fini(&tail);
	inv_fini(&inv);
	if (!r->body)
		spur_result_fail(r, SPUR_STATUS_INTERNAL, "ServiceException", "out of memory");
}

/* A route with `queue:`: the body as received (else the payload) becomes
 * one message of that queue; the answer is ACCEPTED with its id. */
static struct spur_result *to_queue(struct spur_host *host, const struct spur_invoke_args *args,
				    const char *queue, struct spur_result *r)
{
	bool has_raw = args->struct_size >= offsetof(struct spur_invoke_args, raw_body_len) +
					    sizeof(args->raw_body_len) && args->raw_body;
	const char *body = has_raw ? args->raw_body : args->payload ? args->payload : "";
	size_t len = has_raw ? args->raw_body_len : args->payload ? args->payload_len : 0;
	char id[37];
	if (args->mode == SPUR_MODE_DRYRUN) {
		r->status = SPUR_STATUS_DRYRUN_OK;
		return r;
	}
	int rc = spur_queue_put(host, queue, &body, &len, 1, &id);
	if (rc == 0) {
		snprintf(r->request_id, sizeof(r->request_id), "%s", id);
		r->status = SPUR_STATUS_ACCEPTED;
		return r;
	}
	r->retry_after = 1;
	return spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException", "queue %s: %s",
				queue, rc == -EAGAIN ? "at its maximum depth" :
				rc == -ENOSPC ? "the disk is full" :
				rc == -ENODEV ? "no store is open" : spur_strerror(rc));
}

SPUR_API struct spur_result *spur_invoke(struct spur_host *host,
					 const struct spur_invoke_args *args)
{
	struct spur_result *r = result_new();
	if (!r)
		return NULL;
	if (args->struct_size >= offsetof(struct spur_invoke_args, route) + sizeof(args->route) &&
	    args->route && spur_host_route_config(args->route)->queue)
		return to_queue(host, args, spur_host_route_config(args->route)->queue, r);
	struct spur_fn *fn;
	const char *qual;
	size_t qual_len;
	struct spur_function *ver = resolve(host, args->target, args->qualifier, r, &fn,
					    &qual, &qual_len);
	if (!ver)
		return r;
	if (args->mode == SPUR_MODE_DRYRUN) {
		r->status = SPUR_STATUS_DRYRUN_OK;
		return r;
	}
	const char *payload = args->payload_len ? args->payload : "{}";
	size_t payload_len = args->payload_len ? args->payload_len : 2;
	struct spur_json_error jerr;
	if (spur_json_check(payload, payload_len, &jerr) < 0)
		return spur_result_fail(r, SPUR_STATUS_BAD_CONTENT, "InvalidRequestContentException",
					"Could not parse request body into json: %s at line %d column %d",
					jerr.text, jerr.line, jerr.column);
	struct spur_trace trace;
	bool has_attrs = args->struct_size >= offsetof(struct spur_invoke_args, n_attrs) +
					      sizeof(args->n_attrs);
	spur_trace_from_attrs(has_attrs ? args->attrs : NULL, has_attrs ? args->n_attrs : 0, &trace);
	struct spur_idem id;
	int keyed = spur_idem_prepare(host, fn, args, payload, payload_len, &id, r);
	if (keyed < 0)
		return r;
	if (keyed && !spur_host_async(host))
		keyed = 0;	/* no store: keys cannot be kept (logged at start) */
	if (args->mode == SPUR_MODE_ASYNC) {
		struct spur_async *a = spur_host_async(host);
		if (!a)
			return spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
						"asynchronous invocation needs a store; none is open");
		if (keyed)
			return spur_idem_submit(host, fn, qual, qual_len, payload, payload_len, &id,
						&trace, r);
		char why[256];
		int rc = spur_async_submit_traced(a, fn, qual, qual_len, payload, payload_len,
						  r->request_id, 0,
						  trace.parent[0] ? trace.parent : NULL,
						  trace.state[0] ? trace.state : NULL,
						  NULL, NULL, why, sizeof(why));
		if (rc == 0) {
			r->status = SPUR_STATUS_ACCEPTED;
			return r;
		}
		r->retry_after = 1;
		return spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
					"the event was not stored: %s", why);
	}
	if (keyed)
		spur_idem_run(host, fn, ver, qual, qual_len, payload, payload_len, &id,
			      args->log_tail, &trace, r);
	else
		spur_invoke_run(host, fn, ver, qual, qual_len, payload, payload_len, 1,
				args->log_tail, &trace, r);
	return r;
}

struct spur_result *spur_invoke_event(struct spur_host *host, const char *target,
				      const char *payload, size_t len,
				      const char *request_id, unsigned attempt,
				      const char *traceparent, const char *tracestate)
{
	struct spur_result *r = result_new();
	if (!r)
		return NULL;
	snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
	struct spur_fn *fn;
	const char *qual;
	size_t qual_len;
	struct spur_function *ver = resolve(host, target, NULL, r, &fn, &qual, &qual_len);
	struct spur_trace trace = { .parent = "" };
	if (traceparent && spur_trace_parent_valid(traceparent, strlen(traceparent))) {
		memcpy(trace.parent, traceparent, SPUR_TRACEPARENT_LEN);
		snprintf(trace.state, sizeof(trace.state), "%s", tracestate ? tracestate : "");
	}
	if (ver)
		spur_invoke_run(host, fn, ver, qual, qual_len, payload, len, attempt, false,
				&trace, r);
	return r;
}

struct spur_context *spur_invoke_cold_start(struct spur_host *h, struct spur_function *ver,
					    char *why, size_t len)
{
	char id[37];
	spur_uuid(id);
	const struct spur_fn_config *c = spur_function_config(ver);
	struct spur_invocation inv = {
		.log = spur_host_log(h),
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

int spur_invoke_init_once(struct spur_host *h, struct spur_function *ver,
			  char *why, size_t len)
{
	struct spur_context *ctx = spur_invoke_cold_start(h, ver, why, len);
	if (!ctx)
		return -EINVAL;
	spur_context_free(ctx);
	return 0;
}

/* --- result accessors ------------------------------------------------------ */

SPUR_API void spur_result_free(struct spur_result *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->log_tail);
	free(r->error_message);
	free(r);
}

SPUR_API enum spur_status spur_result_status(const struct spur_result *r)
{
	return r->status;
}

SPUR_API const char *spur_result_request_id(const struct spur_result *r)
{
	return r->request_id;
}

SPUR_API const char *spur_result_body(const struct spur_result *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body;
}

SPUR_API const char *spur_result_function_error(const struct spur_result *r)
{
	return r->function_error;
}

SPUR_API const char *spur_result_executed_version(const struct spur_result *r)
{
	return r->version;
}

SPUR_API const char *spur_result_log_tail(const struct spur_result *r)
{
	return r->log_tail;
}

SPUR_API const char *spur_result_error_type(const struct spur_result *r)
{
	return r->error_type;
}

SPUR_API const char *spur_result_error_message(const struct spur_result *r)
{
	return r->error_message ? r->error_message : "";
}

SPUR_API bool spur_result_replayed(const struct spur_result *r)
{
	return r->replayed;
}

SPUR_API int spur_result_retry_after(const struct spur_result *r)
{
	return r->retry_after;
}

/* --- invocation accessors (runtime side) ------------------------------------ */

SPUR_API const char *spur_invocation_request_id(const struct spur_invocation *inv)
{
	return inv->request_id;
}

SPUR_API const struct spur_function *spur_invocation_function(const struct spur_invocation *inv)
{
	return inv->ver;
}

SPUR_API const char *spur_invocation_arn(const struct spur_invocation *inv)
{
	return inv->arn;
}

SPUR_API unsigned spur_invocation_attempt(const struct spur_invocation *inv)
{
	return inv->attempt;
}

SPUR_API int64_t spur_invocation_deadline_ns(const struct spur_invocation *inv)
{
	return inv->deadline_ns;
}

SPUR_API int64_t spur_invocation_deadline_epoch_ms(const struct spur_invocation *inv)
{
	return inv->deadline_epoch_ms;
}

SPUR_API const char *spur_invocation_payload(const struct spur_invocation *inv, size_t *len)
{
	if (len)
		*len = inv->payload_len;
	return inv->payload;
}

SPUR_API const struct json_t *spur_invocation_json(const struct spur_invocation *inv)
{
	if (!inv->json && inv->payload) {
		/* Checked at intake, so this parse succeeds; done at most once,
		 * and only for runtimes that want a tree. */
		struct spur_invocation *mut = (struct spur_invocation *)inv;
		mut->json = json_loadb(inv->payload, inv->payload_len,
				       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	}
	return inv->json;
}

SPUR_API void spur_invocation_log(struct spur_invocation *inv, const char *line, size_t len)
{
	struct spur_log_ctx lc = inv->logctx;
	lc.handler = true;
	spur_log_raw(inv->log, SPUR_LOG_INFO, &lc, line, len);
}

SPUR_API int spur_invocation_set_result(struct spur_invocation *inv, const char *json, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	spur_invocation_take_result(inv, copy, len);
	return 0;
}

SPUR_API void spur_invocation_take_result(struct spur_invocation *inv, char *json, size_t len)
{
	free(inv->result);
	inv->result = json;
	inv->result_len = len;
}

SPUR_API void spur_invocation_set_error(struct spur_invocation *inv, const char *type,
					const char *message, const char *stack_json)
{
	free(inv->error);
	inv->error = error_json(type, message, stack_json, &inv->error_len);
	/* Into the invocation's log (and Tail), as Lambda's runtimes do. */
	struct spur_log_ctx lc = inv->logctx;
	lc.handler = true;
	spur_log_write(inv->log, SPUR_LOG_INFO, &lc, "ERROR %s: %s",
		       type ? type : "Error", message ? message : "");
}

SPUR_API void spur_invocation_set_memory_used(struct spur_invocation *inv, uint64_t bytes)
{
	if (bytes > inv->memory_used)
		inv->memory_used = bytes;
}

SPUR_API bool spur_invocation_trace(const struct spur_invocation *inv,
				    const char **traceparent, const char **tracestate)
{
	if (traceparent)
		*traceparent = inv->traceparent;
	if (tracestate)
		*tracestate = inv->traceparent ? inv->tracestate : NULL;
	return inv->traceparent != NULL;
}
