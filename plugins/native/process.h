/* SPDX-License-Identifier: MIT */
/*
 * process.h - `isolation: process`: one worker process per execution
 * context (see process.c).
 */
#ifndef SPUR_NATIVE_PROCESS_H
#define SPUR_NATIVE_PROCESS_H

#include "spur/runtime.h"
#include "native.h"

struct native_proc;

/* What a worker is started with; borrowed. */
struct native_spawn {
	const char *worker;		/* the spur-native-worker executable */
	const char *path;		/* the handler */
	char *const *envp;		/* the worker's environment */
	const char *const *env;		/* the function's env, for the event */
	uint64_t memory, tmp_size;
};

/* Load and check the handler in a throw-away worker, so that the router
 * never maps an isolated handler. 0, or -EINVAL with "PATH: reason". */
int spur_native_proc_check(const struct native_spawn *s, int64_t timeout_ms,
			   char *why, size_t len);

/* Start a worker and run INIT in it. SPUR_RUN_OK means the worker
 * answered: *rc and `a` hold what init() did, and *out is set even when
 * that answer is a failure (free it). Otherwise the worker is gone
 * (TIMEOUT, or CRASH with the error set on `init`) and *out is NULL. */
enum spur_run spur_native_proc_new(const struct native_spawn *s,
				   const struct spur_handler_event *ev,
				   struct spur_invocation *init, struct native_answer *a,
				   int *rc, struct native_proc **out);

/* One invocation. SPUR_RUN_OK: *rc and `a` hold what handle() did.
 * Otherwise the worker is gone (killed at the deadline: TIMEOUT; died:
 * CRASH with a Runtime.ExitError set on `inv`). */
enum spur_run spur_native_proc_run(struct native_proc *p, const struct spur_handler_event *ev,
				   struct spur_invocation *inv, struct native_answer *a,
				   int *rc);

/* Ask the worker to run fini() and exit; kill it if it does not within a
 * grace period. free(NULL) is a no-op. */
void spur_native_proc_free(struct native_proc *p);

#endif
