/* SPDX-License-Identifier: MIT */
/*
 * spur/text.h - small text helpers the host exports, so that the core and
 * every plugin share one copy: strict UTF-8, hex digits, percent-decoding
 * and RFC 3339 timestamps. Any thread; none allocates.
 */
#ifndef SPUR_TEXT_H
#define SPUR_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The length (1 to 4) of the strict UTF-8 sequence at s, reading at most
 * n bytes, or 0 when none starts there: no overlong forms, no surrogates,
 * nothing past U+10FFFF, no truncated sequence (RFC 3629 §3). */
SPUR_API size_t spur_utf8_seq(const void *s, size_t n);
/* Is [s, s+n) strict UTF-8? */
SPUR_API bool spur_utf8_valid(const void *s, size_t n);

/* The value of a hex digit (either case), or -1. */
SPUR_API int spur_hex_digit(char c);
/* n bytes as 2n lower-case hex digits and a NUL (out: 2n + 1 bytes). */
SPUR_API void spur_hex_encode(const void *in, size_t n, char *out);

/* Percent-decode [s, s+n) into out (cap bytes, NUL-terminated); with
 * `plus`, '+' is a space (form encoding). A '%' not followed by two hex
 * digits stands for itself. Returns the decoded length, or -1 when the
 * result would not fit or would hold a NUL byte. */
SPUR_API long spur_pct_decode(char *out, size_t cap, const char *s, size_t n, bool plus);

/* epoch_ms as RFC 3339 UTC with milliseconds: "2026-12-03T23:06:06.123Z". */
#define SPUR_RFC3339_LEN 32
SPUR_API void spur_rfc3339(int64_t epoch_ms, char out[SPUR_RFC3339_LEN]);

#ifdef __cplusplus
}
#endif
#endif
