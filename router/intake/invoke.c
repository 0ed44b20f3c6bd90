/* SPDX-License-Identifier: MIT */
/*
 * invoke.c - the front door (see invoke.h): where every ingress's call
 * enters the core. Runs on the caller's thread; no lock, one allocation
 * (the result). A synchronous call runs in exec/run.c; the keyed flows of
 * SPEC §5 are in idempotency.c. An event loop calls spur_intake_start()
 * instead: a run that outlives its inline budget, or one that may block
 * (a runtime without resume, a keyed call), goes on on a worker thread
 * (one allocation more, on that path only).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "config.h"
#include "idempotency.h"
#include "intake_priv.h"
#include "json.h"
#include "mapping.h"
#include "metrics.h"
#include "run.h"
#include "util.h"
#include "workers.h"

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

/* A synchronous call, up to the run. */
struct pre_run {
	struct spur_fn *fn;
	struct spur_function *ver;
	const char *qual;
	size_t qual_len;
	const char *payload;
	size_t payload_len;
	struct spur_trace trace;
	struct spur_idem id;
	int keyed;
};

/* Everything up to the run: true when r is the answer (an error, 202,
 * DryRun), false when a sync run is due, described by p. */
static bool answered_before_run(struct spur_intake *in, const struct spur_invoke_args *args,
				const struct spur_route_config *route, struct spur_result *r,
				struct pre_run *p)
{
	if (route && route->queue) {
		to_queue(in, args, route->queue, r);
		return true;
	}
	p->ver = spur_exec_resolve(in->env.exec, args->target, args->qualifier, r, &p->fn,
				   &p->qual, &p->qual_len);
	if (!p->ver)
		return true;
	if (args->mode == SPUR_MODE_DRYRUN) {
		r->status = SPUR_STATUS_DRYRUN_OK;
		return true;
	}
	p->payload = args->payload_len ? args->payload : "{}";
	p->payload_len = args->payload_len ? args->payload_len : 2;
	struct spur_json_error jerr;
	if (spur_json_check(p->payload, p->payload_len, &jerr) < 0) {
		spur_result_fail(r, SPUR_STATUS_BAD_CONTENT, "InvalidRequestContentException",
				 "Could not parse request body into json: %s at line %d column %d",
				 jerr.text, jerr.line, jerr.column);
		return true;
	}
	bool has_attrs = args->struct_size >= offsetof(struct spur_invoke_args, n_attrs) +
					      sizeof(args->n_attrs);
	spur_trace_from_attrs(has_attrs ? args->attrs : NULL, has_attrs ? args->n_attrs : 0,
			      &p->trace);
	p->keyed = spur_idem_prepare(in, p->fn, args, route, p->payload, p->payload_len,
				     &p->id, r);
	if (p->keyed < 0)
		return true;
	if (p->keyed && !in->async)
		p->keyed = 0;	/* no store: keys cannot be kept (logged at start) */
	if (args->mode != SPUR_MODE_ASYNC)
		return false;
	struct spur_async *a = in->async;
	if (!a) {
		spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
				 "asynchronous invocation needs a store; none is open");
		return true;
	}
	if (p->keyed) {
		spur_idem_submit(in, p->fn, p->qual, p->qual_len, p->payload, p->payload_len,
				 &p->id, &p->trace, r);
		return true;
	}
	char why[256];
	int rc = spur_async_submit_traced(a, p->fn, p->qual, p->qual_len, p->payload,
					  p->payload_len, r->request_id, 0,
					  p->trace.parent[0] ? p->trace.parent : NULL,
					  p->trace.state[0] ? p->trace.state : NULL,
					  NULL, NULL, why, sizeof(why));
	if (rc == 0) {
		r->status = SPUR_STATUS_ACCEPTED;
		return true;
	}
	r->retry_after = 1;
	spur_result_fail(r, SPUR_STATUS_UNAVAILABLE, "ServiceException",
			 "the event was not stored: %s", why);
	return true;
}

struct spur_result *spur_intake_invoke(struct spur_intake *in, const struct spur_invoke_args *args,
				       const struct spur_route_config *route)
{
	struct spur_result *r = spur_result_new();
	struct pre_run p;
	if (!r || answered_before_run(in, args, route, r, &p))
		return r;
	if (p.keyed)
		spur_idem_run(in, p.fn, p.ver, p.qual, p.qual_len, p.payload, p.payload_len,
			      &p.id, args->log_tail, &p.trace, r);
	else
		spur_exec_run(in->env.exec, p.fn, p.ver, p.qual, p.qual_len, p.payload,
			      p.payload_len, 1, args->log_tail, &p.trace, r);
	return r;
}

/* --- calls from an event loop ------------------------------------------------- */

/* What a worker takes over from an event loop: a paused run (call), or
 * a whole call that must not start on the loop (args, copied). */
struct handoff {
	struct spur_task task;
	struct spur_intake *in;
	spur_invoke_done_fn *done;
	void *cookie;
	struct spur_exec_call *call;
	struct spur_result *r;			/* call's result */
	const struct spur_route_config *route;
	struct spur_invoke_args args;		/* call == NULL: a copy */
	char copy[];				/* its attributes and strings */
};

static void handoff_run(struct spur_task *t)
{
	struct handoff *h = (struct handoff *)t;
	struct spur_result *r = h->r;

	if (h->call)
		spur_exec_finish(h->call);
	else
		r = spur_intake_invoke(h->in, &h->args, h->route);
	h->done(h->cookie, r);
	free(h);
}

static char *copy_str(char **at, const char *s, size_t n)
{
	char *d = *at;
	memcpy(d, s, n);
	d[n] = '\0';
	*at += n + 1;
	return d;
}

/* A handoff with a copy of args (payload and raw_body stay borrowed). */
static struct handoff *handoff_copy(const struct spur_invoke_args *args)
{
	size_t n_attrs = args->attrs ? args->n_attrs : 0;
	size_t size = sizeof(struct handoff) + n_attrs * sizeof(struct spur_attr);
	const char *strs[3] = { args->target, args->qualifier, args->source };
	for (int i = 0; i < 3; i++)
		size += strs[i] ? strlen(strs[i]) + 1 : 0;
	for (size_t i = 0; i < n_attrs; i++)
		size += strlen(args->attrs[i].name) + 1 + args->attrs[i].value_len + 1;
	struct handoff *h = malloc(size);
	if (!h)
		return NULL;
	*h = (struct handoff){ .args = *args };
	struct spur_attr *attrs = (struct spur_attr *)h->copy;
	char *at = (char *)(attrs + n_attrs);
	const char **dst[3] = { &h->args.target, &h->args.qualifier, &h->args.source };
	for (int i = 0; i < 3; i++)
		if (strs[i])
			*dst[i] = copy_str(&at, strs[i], strlen(strs[i]));
	for (size_t i = 0; i < n_attrs; i++) {
		attrs[i].name = copy_str(&at, args->attrs[i].name, strlen(args->attrs[i].name));
		attrs[i].value = copy_str(&at, args->attrs[i].value, args->attrs[i].value_len);
		attrs[i].value_len = args->attrs[i].value_len;
	}
	h->args.attrs = n_attrs ? attrs : NULL;
	h->args.n_attrs = n_attrs;
	h->args.attr_size = sizeof(struct spur_attr);
	return h;
}

bool spur_intake_start(struct spur_intake *in, const struct spur_invoke_args *args,
		       const struct spur_route_config *route, int64_t budget_ns,
		       spur_invoke_done_fn *done, void *cookie, struct spur_result **now)
{
	struct spur_result *r = spur_result_new();
	struct pre_run p;
	struct handoff *h;

	*now = r;
	if (!r)
		return true;
	if (!in->env.workers) {
		spur_result_free(r);
		*now = spur_intake_invoke(in, args, route);
		return true;
	}
	/* what waits for the store (an async event, a queue message: the 202
	 * comes after its commit) goes to a worker at once: a loop blocked on
	 * each fsync would also leave each commit with one event, where
	 * workers waiting side by side share one */
	if (args->mode == SPUR_MODE_ASYNC || (route && route->queue)) {
		spur_result_free(r);
		*now = NULL;
		if (!(h = handoff_copy(args))) {
			*now = spur_intake_invoke(in, args, route);
			return true;
		}
		goto submit;
	}
	if (answered_before_run(in, args, route, r, &p))
		return true;
	if (!p.keyed && spur_exec_can_pause(p.ver)) {
		struct spur_exec_call *call = spur_exec_run_inline(in->env.exec, p.fn, p.ver, p.qual,
							      p.qual_len, p.payload, p.payload_len,
							      args->log_tail, &p.trace, budget_ns, r);
		if (!call)
			return true;	/* it ended on the loop */
		h = calloc(1, sizeof(*h));
		if (h) {
			*h = (struct handoff){ .call = call, .r = r };
		} else {
			spur_exec_finish(call);	/* no memory to hand it over */
			return true;
		}
	} else {
		/* native, process isolation, keyed: may block, so nothing of it
		 * runs on the loop; the worker starts it again from a copy */
		spur_result_free(r);
		*now = NULL;
		h = handoff_copy(args);
		if (!h) {
			*now = spur_intake_invoke(in, args, route);
			return true;
		}
		atomic_fetch_add_explicit(&spur_function_metrics(p.ver)->moved, 1,
					  memory_order_relaxed);
	}
submit:
	h->task.run = handoff_run;
	h->in = in;
	h->route = route;
	h->done = done;
	h->cookie = cookie;
	if (spur_workers_submit(in->env.workers, &h->task) < 0) {
		/* no worker (stopping, or none could start): finish here */
		if (h->call)
			spur_exec_finish(h->call);
		else
			r = spur_intake_invoke(in, &h->args, route);
		*now = h->call ? h->r : r;
		free(h);
		return true;
	}
	*now = NULL;
	return false;
}
