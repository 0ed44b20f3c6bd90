/* SPDX-License-Identifier: MIT */
/*
 * invoke.c - the front door (see invoke.h): where every ingress's call
 * enters the core. Runs on the caller's thread; no lock, one allocation
 * (the result). A synchronous call runs in exec/run.c; the keyed flows of
 * SPEC §5 are in idempotency.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "config.h"
#include "idempotency.h"
#include "intake_priv.h"
#include "json.h"
#include "mapping.h"
#include "run.h"
#include "util.h"

struct spur_intake *spur_intake_new(const struct spur_intake_env *env)
{
	struct spur_intake *in = calloc(1, sizeof(*in));
	if (in)
		in->env = *env;
	return in;
}

void spur_intake_free(struct spur_intake *in)
{
	free(in);
}

void spur_intake_attach(struct spur_intake *in, const struct spur_store *store,
			void *store_instance, struct spur_async *async,
			struct spur_mappings *mappings)
{
	in->store = store;
	in->store_instance = store_instance;
	in->async = async;
	in->mappings = mappings;
}

/* A route with `queue:`: the body as received (else the payload) becomes
 * one message of that queue; the answer is ACCEPTED with its id. */
static struct spur_result *to_queue(struct spur_intake *in, const struct spur_invoke_args *args,
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
	int rc = spur_queue_put(in->mappings, queue, &body, &len, 1, &id);
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

struct spur_result *spur_intake_invoke(struct spur_intake *in, const struct spur_invoke_args *args,
				       const struct spur_route_config *route)
{
	struct spur_result *r = spur_result_new();
	if (!r)
		return NULL;
	if (route && route->queue)
		return to_queue(in, args, route->queue, r);
	struct spur_fn *fn;
	const char *qual;
	size_t qual_len;
	struct spur_function *ver = spur_exec_resolve(in->env.exec, args->target, args->qualifier,
						      r, &fn, &qual, &qual_len);
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
	int keyed = spur_idem_prepare(in, fn, args, route, payload, payload_len, &id, r);
	if (keyed < 0)
		return r;
	if (keyed && !in->async)
		keyed = 0;	/* no store: keys cannot be kept (logged at start) */
	if (args->mode == SPUR_MODE_ASYNC) {
		struct spur_async *a = in->async;
		if (!a)
			return spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
						"asynchronous invocation needs a store; none is open");
		if (keyed)
			return spur_idem_submit(in, fn, qual, qual_len, payload, payload_len, &id,
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
		spur_idem_run(in, fn, ver, qual, qual_len, payload, payload_len, &id,
			      args->log_tail, &trace, r);
	else
		spur_exec_run(in->env.exec, fn, ver, qual, qual_len, payload, payload_len, 1,
			      args->log_tail, &trace, r);
	return r;
}

