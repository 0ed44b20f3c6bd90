/* SPDX-License-Identifier: MIT */
/*
 * backoff.c - exponential backoff with optional full jitter (backoff.h).
 */
#include <stdlib.h>

#include "backoff.h"
#include "util.h"

int64_t spur_backoff_ms(int64_t base, double factor, int64_t cap, int jitter, unsigned n)
{
	double d = (double)base;
	for (unsigned i = 1; i < n && d < (double)cap; i++)
		d *= factor;
	int64_t ms = d > (double)cap ? cap : (int64_t)d;
	if (jitter && ms > 0) {
		/* full jitter: rand(0, min(cap, base * factor^n)), after AWS's
		 * "Exponential Backoff And Jitter" (Brooker, 2015) */
		char u[37];
		spur_uuid(u);
		ms = (int64_t)(strtoull(u + 24, NULL, 16) % (uint64_t)(ms + 1));
	}
	return ms;
}
