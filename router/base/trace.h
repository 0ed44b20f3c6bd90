/* SPDX-License-Identifier: MIT */
/*
 * trace.h - W3C Trace Context: a traceparent (version 00) and its
 * tracestate, as received from an ingress; spur makes no span of its own.
 */
#ifndef SPUR_TRACE_H
#define SPUR_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/invoke.h"

#define SPUR_TRACEPARENT_LEN 55		/* "00-<32 hex>-<16 hex>-<2 hex>" */
#define SPUR_TRACESTATE_MAX 512		/* W3C: at least 512 must be kept */

/* Empty strings when absent. */
struct spur_trace {
	char parent[SPUR_TRACEPARENT_LEN + 1];
	char state[SPUR_TRACESTATE_MAX + 1];
};

/* Is [s, s+n) a valid version-00 traceparent? */
bool spur_trace_parent_valid(const char *s, size_t n);
/* The trace context of an ingress's attributes (names without case):
 * false, and an empty t, when there is no valid traceparent. */
bool spur_trace_from_attrs(const struct spur_attr *attrs, size_t n, struct spur_trace *t);
/* t from a stored event's strings (NULL: none). */
void spur_trace_from_strings(struct spur_trace *t, const char *parent, const char *state);

#endif
