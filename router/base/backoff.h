/* SPDX-License-Identifier: MIT */
/*
 * backoff.h - the delay before retry n (1-based): base * factor^(n-1),
 * at most cap; with jitter, uniform in [0, that] (SPEC §2.2). A pure
 * function of its arguments and a random draw; any thread.
 */
#ifndef SPUR_BACKOFF_H
#define SPUR_BACKOFF_H

#include <stdint.h>

int64_t spur_backoff_ms(int64_t base, double factor, int64_t cap, int jitter, unsigned n);

#endif
