/* SPDX-License-Identifier: MIT */
/*
 * idempotency.h - idempotency keys (SPEC §5): where a key comes from,
 * whether it is valid, the payload's fingerprint, and the stored states.
 *
 * A key lives in the store's "idem" namespace as "<function>\n<key>" with
 * a JSON value:
 *   {"state":"running","fp":…}                      a sync call holds it (until its deadline)
 *   {"state":"done","fp":…,"version":…,"body":…}     a sync call's stored answer
 *   {"state":"accepted","fp":…,"event":…}            an async event was stored for it
 * fp is the SHA-256 of the payload, hex.
 *
 * The flows that use a key (spur_idem_prepare, _run, _submit) are called by
 * spur_invoke() in invoke.c, on the caller's thread.
 */
#ifndef SPUR_IDEMPOTENCY_H
#define SPUR_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "spur/invoke.h"
#include "config.h"

#define SPUR_IDEM_NS "idem"
#define SPUR_IDEM_KEY_MAX 255

struct spur_intake;
struct spur_fn;
struct spur_function;
struct spur_counter;
struct spur_trace;

/* One call's key, filled by spur_idem_prepare(); on the caller's stack. */
struct spur_idem {
	struct spur_counter *replays;
	char scoped[64 + 1 + SPUR_IDEM_KEY_MAX + 1];	/* "<function>\n<key>" */
	char fp[65];
	int64_t ttl_ms;
};

/* The configuration that applies: the route's when it names a key source,
 * else the function's; NULL when neither does. */
const struct spur_idem_config *spur_idem_config(const struct spur_fn_config *fn,
						const struct spur_route_config *route);

/* Read the key for this call into `out` (NUL-terminated; at most
 * SPUR_IDEM_KEY_MAX bytes). 1: a key; 0: the call carries none (it runs
 * without idempotency); -EINVAL: a key that is not 1-255 printable ASCII
 * characters (why says so: a 400). */
int spur_idem_key(const struct spur_idem_config *ic, const struct spur_attr *attrs, size_t n,
		  const char *payload, size_t len, char out[SPUR_IDEM_KEY_MAX + 1],
		  char *why, size_t whylen);

/* SHA-256 of the payload, 64 hex digits + NUL. */
void spur_idem_fingerprint(const char *payload, size_t len, char out[65]);

/* The key of an invocation (its route's or function's source, read from
 * the raw body when there is one). 1 and `id` filled when the call has a
 * key; 0 when not; -1 with r set to the 400 when the key is invalid. */
int spur_idem_prepare(struct spur_intake *in, struct spur_fn *fn,
		      const struct spur_invoke_args *args, const struct spur_route_config *route,
		      const char *payload, size_t len, struct spur_idem *id, struct spur_result *r);

/* A sync call with a key: hold the key while running (it expires at the
 * handler's deadline), keep the answer of a success, drop the key after a
 * function error so that a retry runs again. A key met again: replay,
 * 409 or 422. Fills r. */
void spur_idem_run(struct spur_intake *in, struct spur_fn *fn, struct spur_function *ver,
		   const char *qual, size_t qual_len, const char *payload, size_t len,
		   const struct spur_idem *id, bool log_tail, const struct spur_trace *trace,
		   struct spur_result *r);

/* An async event with a key: the key and the event in one atomic batch;
 * a key met again replays the first event's id (or 422). Returns r. */
struct spur_result *spur_idem_submit(struct spur_intake *in, struct spur_fn *fn,
				     const char *qual, size_t qual_len,
				     const char *payload, size_t len,
				     const struct spur_idem *id, const struct spur_trace *trace,
				     struct spur_result *r);

#endif
