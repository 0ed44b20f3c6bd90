/* SPDX-License-Identifier: MIT */
/*
 * trace.c - W3C Trace Context validation (see trace.h).
 * https://www.w3.org/TR/trace-context/ §3.2 (traceparent), §3.3 (tracestate).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trace.h"

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

void spur_trace_from_strings(struct spur_trace *t, const char *parent, const char *state)
{
	*t = (struct spur_trace){ .parent = "" };
	if (parent && spur_trace_parent_valid(parent, strlen(parent))) {
		memcpy(t->parent, parent, SPUR_TRACEPARENT_LEN);
		snprintf(t->state, sizeof(t->state), "%s", state ? state : "");
	}
}
