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
 */
#ifndef SPUR_IDEMPOTENCY_H
#define SPUR_IDEMPOTENCY_H

#include <stddef.h>
#include "spur/invoke.h"
#include "config.h"

#define SPUR_IDEM_NS "idem"
#define SPUR_IDEM_KEY_MAX 255

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

#endif
