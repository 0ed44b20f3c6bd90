/* SPDX-License-Identifier: MIT */
/*
 * filter.h - EventBridge-style event patterns, as Lambda applies them to
 * the records of an event-source mapping (SPEC §2.3).
 *
 * A pattern is a JSON object whose keys name fields of the event. A value
 * that is an object descends into the field of that name; any other value
 * is a list of alternatives (a lone scalar is a list of one), and the field
 * matches when one alternative does:
 *
 *   "x"  5  true  null               the value itself (numbers by value)
 *   {"prefix": "ab"}  {"suffix": "yz"}  {"equals-ignore-case": "Ab"}
 *   {"anything-but": v | [v, ...] | {"prefix": "ab"} | {"suffix": "yz"}}
 *   {"numeric": [">", 0, "<=", 5]}   one or two comparisons, ANDed
 *   {"exists": true | false}
 *
 * An event field that is an array matches when one of its elements does.
 * All keys of a pattern must match (AND); a set of patterns matches when
 * one of them does (OR). Absent fields match only {"exists": false}.
 * Threads: any; a struct spur_filter is read-only after spur_filter_new().
 */
#ifndef SPUR_FILTER_H
#define SPUR_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#define SPUR_FILTER_MAX 5	/* patterns per mapping, as Lambda allows */

struct spur_filter;
struct json_t;

/* Is `json` (one pattern, JSON object text) well formed? 0, or -EINVAL
 * with a message in `why`. */
int spur_filter_check(const char *json, size_t len, char *why, size_t whylen);

/* A set of n patterns (JSON texts, each passed spur_filter_check), ORed.
 * n == 0 matches everything. NULL on a bad pattern or no memory. */
struct spur_filter *spur_filter_new(char *const *patterns, size_t n);
void spur_filter_free(struct spur_filter *f);

/* Does `event` (borrowed) match one of the patterns? */
bool spur_filter_match(const struct spur_filter *f, const struct json_t *event);

#endif
