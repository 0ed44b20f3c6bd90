/* SPDX-License-Identifier: MIT */
/*
 * text.c - the SDK's text helpers (spur/text.h): the one copy of UTF-8
 * validation, hex, percent-decoding and RFC 3339 formatting that the core
 * and the plugins share.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "spur/text.h"

SPUR_API size_t spur_utf8_seq(const void *p, size_t n)
{
	const unsigned char *s = p;
	if (n == 0)
		return 0;
	unsigned c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

SPUR_API bool spur_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0, k; i < n; i += k) {
		k = s[i] < 0x80 ? 1 : spur_utf8_seq(s + i, n - i);
		if (!k)
			return false;
	}
	return true;
}

SPUR_API int spur_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

SPUR_API void spur_hex_encode(const void *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *in = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

SPUR_API long spur_pct_decode(char *out, size_t cap, const char *s, size_t n, bool plus)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		char c = s[i];
		if (c == '%' && i + 2 < n && (hi = spur_hex_digit(s[i + 1])) >= 0 &&
		    (lo = spur_hex_digit(s[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && c == '+') {
			c = ' ';
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (cap == 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}

SPUR_API void spur_rfc3339(int64_t epoch_ms, char out[SPUR_RFC3339_LEN])
{
	time_t secs = (time_t)(epoch_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, SPUR_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, SPUR_RFC3339_LEN - n, ".%03dZ", (int)(epoch_ms % 1000));
}
