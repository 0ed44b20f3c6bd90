/* SPDX-License-Identifier: MIT */
/*
 * json.h - checking JSON text without building it.
 *
 * spur_json_check() decides whether a payload is one valid JSON value
 * (RFC 8259) under spur's limits, in one pass, without allocating:
 * nesting at most SPUR_JSON_MAX_DEPTH, strings valid UTF-8 (no overlong
 * forms, no lone surrogates, escaped or raw), no raw control characters,
 * integers within int64, reals finite, no BOM, nothing after the value.
 * Those are the rules jansson applies too, so a checked payload always
 * parses there (with JSON_ALLOW_NUL: "\u0000" is accepted).
 */
#ifndef SPUR_JSON_H
#define SPUR_JSON_H

#include <stddef.h>

#define SPUR_JSON_MAX_DEPTH 2048

struct spur_json_error {
	int line, column;		/* 1-based, of the offending byte */
	char text[96];
};

/* 0, or -EINVAL with `err` filled. */
int spur_json_check(const char *s, size_t n, struct spur_json_error *err);

#endif
