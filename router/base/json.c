/* SPDX-License-Identifier: MIT */
/*
 * json.c - a non-allocating JSON checker (see json.h).
 * An explicit stack of container kinds (2 bits would do; a byte is
 * simpler) replaces recursion, so hostile nesting costs no C stack.
 * Cost: one pass, a few instructions per byte; strtod only for reals with
 * an exponent or over 308 integer digits (the ones that could overflow).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "spur/text.h"

struct scan {
	const unsigned char *s, *p, *end;
	struct spur_json_error *err;
};

static int fail(struct scan *sc, const char *what)
{
	int line = 1, col = 1;
	for (const unsigned char *q = sc->s; q < sc->p && q < sc->end; q++) {
		if (*q == '\n')
			line++, col = 1;
		else
			col++;
	}
	sc->err->line = line;
	sc->err->column = col;
	snprintf(sc->err->text, sizeof(sc->err->text), "%s", what);
	return -EINVAL;
}

static void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' ||
				   *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}


static int string(struct scan *sc)
{
	sc->p++;	/* the opening quote */
	while (sc->p < sc->end) {
		unsigned c = *sc->p;
		if (c == '"') {
			sc->p++;
			return 0;
		}
		if (c < 0x20)
			return fail(sc, "control character in string");
		if (c >= 0x80) {
			size_t n = spur_utf8_seq(sc->p, (size_t)(sc->end - sc->p));
			if (!n)
				return fail(sc, "invalid UTF-8 in string");
			sc->p += n;
			continue;
		}
		if (c != '\\') {
			sc->p++;
			continue;
		}
		if (sc->end - sc->p < 2)
			break;
		switch (sc->p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			sc->p += 2;
			continue;
		case 'u':
			break;
		default:
			return fail(sc, "invalid escape in string");
		}
		unsigned u, lo;
		if (sc->end - sc->p < 6 || hex4(sc->p + 2, &u) < 0)
			return fail(sc, "invalid \\u escape");
		if (u >= 0xdc00 && u <= 0xdfff)
			return fail(sc, "lone low surrogate in \\u escape");
		if (u >= 0xd800 && u <= 0xdbff) {
			if (sc->end - sc->p < 12 || sc->p[6] != '\\' || sc->p[7] != 'u' ||
			    hex4(sc->p + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				return fail(sc, "lone high surrogate in \\u escape");
			sc->p += 6;
		}
		sc->p += 6;
	}
	return fail(sc, "unterminated string");
}

static int number(struct scan *sc)
{
	const unsigned char *start = sc->p;
	bool real = false;
	if (*sc->p == '-')
		sc->p++;
	if (sc->p >= sc->end || !(*sc->p >= '0' && *sc->p <= '9'))
		return fail(sc, "invalid number");
	if (*sc->p == '0') {
		sc->p++;
	} else {
		while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			sc->p++;
	}
	size_t int_digits = (size_t)(sc->p - start) - (*start == '-');
	bool exponent = false;
	if (sc->p < sc->end && *sc->p == '.') {
		real = true;
		sc->p++;
		if (sc->p >= sc->end || !(*sc->p >= '0' && *sc->p <= '9'))
			return fail(sc, "invalid number: digits expected after '.'");
		while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			sc->p++;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		real = true;
		exponent = true;
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (sc->p >= sc->end || !(*sc->p >= '0' && *sc->p <= '9'))
			return fail(sc, "invalid number: digits expected in exponent");
		while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			sc->p++;
	}
	size_t n = (size_t)(sc->p - start);
	if (!real) {
		/* within int64: at most 19 digits, and compare at 19 */
		bool neg = *start == '-';
		const unsigned char *d = start + neg;
		size_t digits = n - neg;
		const char *max = neg ? "9223372036854775808" : "9223372036854775807";
		if (digits > 19 || (digits == 19 && memcmp(d, max, 19) > 0)) {
			sc->p = start;
			return fail(sc, "too big integer");
		}
		return 0;
	}
	if (!exponent && int_digits <= 308)
		return 0;	/* below 1e308 whatever its fraction: finite, no strtod */
	char stack[128], *buf = n < sizeof(stack) ? stack : malloc(n + 1);
	if (!buf)
		return fail(sc, "out of memory");
	memcpy(buf, start, n);
	buf[n] = '\0';
	errno = 0;
	double v = strtod(buf, NULL);
	if (buf != stack)
		free(buf);
	if (isinf(v)) {
		sc->p = start;
		return fail(sc, "real number overflow");
	}
	return 0;
}

/* An object member's key and its colon. */
static int member_key(struct scan *sc, const char *expected)
{
	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != '"')
		return fail(sc, expected);
	int rc = string(sc);
	if (rc < 0)
		return rc;
	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != ':')
		return fail(sc, "':' expected");
	sc->p++;
	return 0;
}

static int literal(struct scan *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return fail(sc, "invalid token");
	sc->p += n;
	return 0;
}

int spur_json_check(const char *s, size_t n, struct spur_json_error *err)
{
	struct scan sc = {
		.s = (const unsigned char *)s, .p = (const unsigned char *)s,
		.end = (const unsigned char *)s + n, .err = err,
	};
	char stack[SPUR_JSON_MAX_DEPTH];	/* '{' or '[' per open container */
	int depth = 0;
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		return fail(&sc, "byte order mark is not allowed");
	/* Each round reads one value, then closes what it can. */
	for (;;) {
		skip_ws(&sc);
		if (sc.p >= sc.end)
			return fail(&sc, depth ? "unexpected end of input" : "no value");
		int rc = 0;
		switch (*sc.p) {
		case '{':
		case '[':
			if (depth == SPUR_JSON_MAX_DEPTH)
				return fail(&sc, "maximum parsing depth reached");
			stack[depth++] = (char)*sc.p;
			sc.p++;
			skip_ws(&sc);
			if (sc.p < sc.end && *sc.p == (stack[depth - 1] == '{' ? '}' : ']')) {
				sc.p++;
				depth--;
				break;	/* an empty container is a complete value */
			}
			if (stack[depth - 1] == '{' &&
			    (rc = member_key(&sc, "string or '}' expected")) < 0)
				return rc;
			continue;	/* now read the first member's value */
		case '"': rc = string(&sc); break;
		case 't': rc = literal(&sc, "true", 4); break;
		case 'f': rc = literal(&sc, "false", 5); break;
		case 'n': rc = literal(&sc, "null", 4); break;
		default:
			if (*sc.p == '-' || (*sc.p >= '0' && *sc.p <= '9'))
				rc = number(&sc);
			else
				return fail(&sc, "invalid token");
		}
		if (rc < 0)
			return rc;
		/* A value is complete: close containers or go to the next member. */
		for (;;) {
			skip_ws(&sc);
			if (depth == 0) {
				if (sc.p != sc.end)
					return fail(&sc, "end of file expected");
				return 0;
			}
			char open = stack[depth - 1];
			if (sc.p >= sc.end)
				return fail(&sc, "unexpected end of input");
			if (*sc.p == (open == '{' ? '}' : ']')) {
				sc.p++;
				depth--;
				continue;
			}
			if (*sc.p != ',')
				return fail(&sc, open == '{' ? "',' or '}' expected" : "',' or ']' expected");
			sc.p++;
			if (open == '{' && (rc = member_key(&sc, "string expected")) < 0)
				return rc;
			break;	/* read the next value */
		}
	}
}
