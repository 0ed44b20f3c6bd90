/* SPDX-License-Identifier: MIT */
/*
 * ljson.c - JSON <-> Lua in C, for the event, the result and spur.json
 * (whose Lua functions live in lspur.c).
 *
 * Mapping (documented for handler authors):
 *   object          table with string keys
 *   array           table 1..n with the shared array metatable (protected;
 *                   getmetatable() says "spur.json.array"), so [] and [null]
 *                   come back out as arrays
 *   null            spur.json.null (a light userdata); nil encodes as null
 *   integer / real  Lua integer / float (floats print as 1.0, never as 1)
 *   string          Lua string (UTF-8 checked both ways)
 * Encoding a table: the array metatable, or keys exactly 1..n (n > 0), make
 * an array; otherwise an object whose keys are strings or integers (written
 * as their decimal text); any other key, a function, a thread, a non-null
 * userdata, NaN or infinity, invalid UTF-8, a cycle or nesting deeper than
 * SPUR_LUA_MAX_ENCODE_DEPTH is an error. An empty plain table is {}.
 *
 * The encoder never calls a metamethod and never raises, so the invoke path
 * runs it unprotected; it writes into one malloc()ed buffer bounded by its
 * caller. The decoders raise Lua errors and run inside lua_pcall. Recursion
 * is bounded by the depth limits and guarded with lua_checkstack.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_priv.h"

/* --- UTF-8 ------------------------------------------------------------- */


/* --- encoder ------------------------------------------------------------ */

/* The tables being encoded (the path from the root), for the cycle check:
 * the first ENC_NEAR levels in an array (scanned: most values are shallow,
 * and no allocation), the deeper ones in an open-addressing set of
 * pointers made when first needed, so a check costs at most ENC_NEAR
 * compares and one probe however deep the path (a scan of the whole path
 * let a shared DAG under a deep chain cost a compare per level per leaf). */
#define ENC_NEAR 16
#define ENC_SET_SIZE 2048	/* a power of two, > 2 * SPUR_LUA_MAX_ENCODE_DEPTH */
/* Values between two looks at the clock. */
#define ENC_CHECK_EVERY 4096

struct enc {
	lua_State *L;
	char *buf;
	size_t len, cap, max;
	int err;
	char *msg;
	size_t msglen;
	int depth;
	unsigned visits;	/* values encoded, for the deadline check */
	int64_t deadline_ns;	/* the run's: past it, -ETIMEDOUT */
	const void *near[ENC_NEAR];
	const void **far;	/* ENC_SET_SIZE slots, or NULL */
};

static size_t slot_of(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 53) & (ENC_SET_SIZE - 1);
}

/* Add p at depth e->depth; 1, 0 when it is on the path already (a
 * cycle), -ENOMEM. */
static int path_add(struct enc *e, const void *p)
{
	int n = e->depth < ENC_NEAR ? e->depth : ENC_NEAR;

	for (int k = 0; k < n; k++)
		if (e->near[k] == p)
			return 0;
	if (e->depth < ENC_NEAR) {
		e->near[e->depth] = p;
		return 1;
	}
	if (!e->far && !(e->far = calloc(ENC_SET_SIZE, sizeof(*e->far))))
		return -ENOMEM;
	size_t i = slot_of(p);
	for (; e->far[i]; i = (i + 1) & (ENC_SET_SIZE - 1))
		if (e->far[i] == p)
			return 0;
	e->far[i] = p;
	return 1;
}

/* Remove p, added at depth e->depth (linear probing: move back what the
 * hole would cut off from its home slot). */
static void path_remove(struct enc *e, const void *p)
{
	if (e->depth < ENC_NEAR)
		return;		/* the array slot is overwritten by the next */
	size_t i = slot_of(p), j;
	while (e->far[i] != p)
		i = (i + 1) & (ENC_SET_SIZE - 1);
	e->far[i] = NULL;
	for (j = (i + 1) & (ENC_SET_SIZE - 1); e->far[j]; j = (j + 1) & (ENC_SET_SIZE - 1)) {
		size_t home = slot_of(e->far[j]);

		/* home cyclically in (i, j]: it is still found from there */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		e->far[i] = e->far[j];
		e->far[j] = NULL;
		i = j;
	}
}

static int fail(struct enc *e, int err, const char *msg)
{
	if (e->err == 0) {
		e->err = err;
		snprintf(e->msg, e->msglen, "%s", msg);
	}
	return err;
}

static int grow(struct enc *e, size_t need)
{
	size_t cap = e->cap ? e->cap : 256;
	char *p;

	if (need > e->max)
		return fail(e, -E2BIG, "result too large");
	while (cap < need)
		cap *= 2;
	if (cap > e->max + 64)
		cap = e->max + 64;
	p = realloc(e->buf, cap);
	if (p == NULL)
		return fail(e, -ENOMEM, "out of memory encoding the result");
	e->buf = p;
	e->cap = cap;
	return 0;
}

static inline int put(struct enc *e, const char *s, size_t n)
{
	if (e->len + n > e->cap && grow(e, e->len + n) != 0)
		return e->err;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return 0;
}

static int put_string(struct enc *e, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};

	if (put(e, "\"", 1) != 0)
		return e->err;
	while (p < end) {
		run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run && put(e, (const char *)run, (size_t)(p - run)) != 0)
			return e->err;
		if (p == end)
			break;
		if (*p >= 0x80) {
			size_t k = spur_utf8_seq(p, (size_t)(end - (p)));

			if (k == 0)
				return fail(e, -EINVAL, "string is not valid UTF-8");
			if (put(e, (const char *)p, k) != 0)
				return e->err;
			p += k;
			continue;
		}
		switch (*p) {
		case '"': put(e, "\\\"", 2); break;
		case '\\': put(e, "\\\\", 2); break;
		case '\n': put(e, "\\n", 2); break;
		case '\r': put(e, "\\r", 2); break;
		case '\t': put(e, "\\t", 2); break;
		case '\b': put(e, "\\b", 2); break;
		case '\f': put(e, "\\f", 2); break;
		default:
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			put(e, esc, 6);
		}
		if (e->err)
			return e->err;
		p++;
	}
	return put(e, "\"", 1);
}

/* Shortest of %.14g / %.17g that reads back as d; integral values keep a
 * ".0" so that a float stays a float through a round trip. */
static int fmt_float(char *out, size_t size, double d)
{
	int n = snprintf(out, size, "%.14g", d);

	if (strtod(out, NULL) != d)
		n = snprintf(out, size, "%.17g", d);
	if (strspn(out, "-0123456789") == (size_t)n) {
		out[n++] = '.';
		out[n++] = '0';
		out[n] = '\0';
	}
	return n;
}

/* [-0, +0] */
static int put_number(struct enc *e, int idx)
{
	char tmp[48];
	int n;
	int isint;
	lua_Integer i = lua_tointegerx(e->L, idx, &isint);

	if (lua_isinteger(e->L, idx) && isint) {
		n = snprintf(tmp, sizeof(tmp), "%lld", (long long)i);
	} else {
		double d = (double)lua_tonumber(e->L, idx);

		if (isnan(d) || isinf(d))
			return fail(e, -EINVAL, "cannot encode NaN or infinity");
		n = fmt_float(tmp, sizeof(tmp), d);
	}
	return put(e, tmp, (size_t)n);
}

static int encode_value(struct enc *e, int idx);

/* [-0, +0] Is the table at idx marked as a JSON array? */
static int is_array_mt(lua_State *L, int idx)
{
	int r;

	if (!lua_getmetatable(L, idx))
		return 0;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &spur_lua_key_array_mt);
	r = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return r;
}

/* 1 when the keys of the table at idx are exactly 1..n with n > 0, 0 when
 * not, or an error for keys JSON cannot name. */
/* [-0, +0] */
static int classify(struct enc *e, int idx, lua_Integer *n)
{
	lua_State *L = e->L;
	lua_Integer count = 0, max = 0;
	int seq = 1;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);

			count++;
			if (k <= 0)
				seq = 0;
			else if (k > max)
				max = k;
		} else if (lua_type(L, -1) == LUA_TSTRING) {
			seq = 0;
		} else {
			int t = lua_type(L, -1);

			lua_pop(L, 1);
			return fail(e, -EINVAL, t == LUA_TNUMBER ?
				    "table key is a non-integer number" :
				    "table key is neither a string nor an integer");
		}
	}
	*n = max;
	return seq && count > 0 && max == count;
}

/* [-0, +0] */
static int encode_array(struct enc *e, int idx, lua_Integer n)
{
	lua_Integer i;

	if (put(e, "[", 1) != 0)
		return e->err;
	for (i = 1; i <= n; i++) {
		if (i > 1 && put(e, ",", 1) != 0)
			return e->err;
		lua_rawgeti(e->L, idx, i);
		encode_value(e, lua_gettop(e->L));
		lua_pop(e->L, 1);
		if (e->err)
			return e->err;
	}
	return put(e, "]", 1);
}

/* [-0, +0] */
static int encode_object(struct enc *e, int idx)
{
	lua_State *L = e->L;
	int first = 1;

	if (put(e, "{", 1) != 0)
		return e->err;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (!first)
			put(e, ",", 1);
		first = 0;
		if (lua_type(L, -2) == LUA_TSTRING) {
			size_t kl;
			const char *k = lua_tolstring(L, -2, &kl);

			put_string(e, k, kl);
		} else {	/* an integer: classify() refused the rest */
			char tmp[32];
			int n = snprintf(tmp, sizeof(tmp), "\"%lld\"",
					 (long long)lua_tointeger(L, -2));

			put(e, tmp, (size_t)n);
		}
		put(e, ":", 1);
		if (e->err == 0)
			encode_value(e, lua_gettop(L));
		lua_pop(L, 1);
		if (e->err) {
			lua_pop(L, 1);
			return e->err;
		}
	}
	return put(e, "}", 1);
}

/* [-0, +0] */
static int encode_table(struct enc *e, int idx)
{
	const void *self = lua_topointer(e->L, idx);
	lua_Integer n = 0;
	int r;

	if (e->depth >= SPUR_LUA_MAX_ENCODE_DEPTH)
		return fail(e, -EINVAL, "nesting deeper than 1000 levels");
	if (!lua_checkstack(e->L, 8))
		return fail(e, -ENOMEM, "out of memory encoding the result");
	if ((r = path_add(e, self)) <= 0)
		return r < 0 ? fail(e, -ENOMEM, "out of memory encoding the result") :
			fail(e, -EINVAL, "table contains a cycle");
	e->depth++;
	if (is_array_mt(e->L, idx)) {
		r = encode_array(e, idx, (lua_Integer)lua_rawlen(e->L, idx));
	} else {
		r = classify(e, idx, &n);
		if (r > 0)
			r = encode_array(e, idx, n);
		else if (r == 0)
			r = encode_object(e, idx);
	}
	e->depth--;
	path_remove(e, self);
	return r < 0 ? r : e->err;
}

/* [-0, +0] */
static int encode_value(struct enc *e, int idx)
{
	char msg[64];

	if (++e->visits % ENC_CHECK_EVERY == 0 && e->deadline_ns &&
	    spur_now_ns() >= e->deadline_ns)
		return fail(e, -ETIMEDOUT, "the deadline passed while encoding");
	switch (lua_type(e->L, idx)) {
	case LUA_TNIL:
		return put(e, "null", 4);
	case LUA_TBOOLEAN:
		return lua_toboolean(e->L, idx) ? put(e, "true", 4) : put(e, "false", 5);
	case LUA_TNUMBER:
		return put_number(e, idx);
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(e->L, idx, &n);

		return put_string(e, s, n);
	}
	case LUA_TTABLE:
		return encode_table(e, idx);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(e->L, idx) == NULL)
			return put(e, "null", 4);
		/* fall through */
	default:
		snprintf(msg, sizeof(msg), "cannot encode a %s value",
			 lua_typename(e->L, lua_type(e->L, idx)));
		return fail(e, -EINVAL, msg);
	}
}

/* [-0, +0] */
int spur_lua_encode(lua_State *L, int idx, size_t max, char **out,
		      size_t *len, char *err, size_t errlen)
{
	struct enc *e = malloc(sizeof(*e));
	int top = lua_gettop(L), r;

	if (e == NULL) {
		snprintf(err, errlen, "out of memory encoding the result");
		return -ENOMEM;
	}
	e->L = L;
	e->buf = NULL;
	e->len = e->cap = 0;
	e->max = max;
	e->err = 0;
	e->msg = err;
	e->msglen = errlen;
	e->depth = 0;
	e->visits = 0;
	e->far = NULL;
	e->deadline_ns = spur_lua_ctx(L)->deadline_ns;
	r = encode_value(e, lua_absindex(L, idx));
	if (r == 0)
		r = put(e, "", 1) == 0 ? 0 : e->err;	/* room for a NUL */
	lua_settop(L, top);
	if (r != 0) {
		free(e->buf);
		goto out;
	}
	e->buf[--e->len] = '\0';
	*out = e->buf;
	*len = e->len;
out:
	free(e->far);
	free(e);
	return r;
}

#define MAX_TRACE_LINES 64

char *spur_lua_trace_json(const char *tb, size_t len)
{
	char msg[64];
	struct enc e = {.max = 1u << 20, .msg = msg, .msglen = sizeof(msg)};
	const char *p = tb, *end = tb + len, *nl;
	int lines = 0;

	put(&e, "[", 1);
	for (; p < end && lines < MAX_TRACE_LINES && e.err == 0; p = nl + 1) {
		const unsigned char *q;
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		while (p < nl && (*p == '\t' || *p == ' '))
			p++;
		n = (size_t)(nl - p);
		if (n == 0 || (n == 16 && memcmp(p, "stack traceback:", 16) == 0) ||
		    (n == 9 && memcmp(p, "[C]: in ?", 9) == 0))
			continue;
		for (q = (const unsigned char *)p; q < (const unsigned char *)nl; ) {
			size_t k = spur_utf8_seq(q, (size_t)((const unsigned char *)nl - q));

			if (k == 0)
				break;
			q += k;
		}
		if (q != (const unsigned char *)nl)
			continue;	/* not UTF-8: leave the line out */
		if (lines++ > 0)
			put(&e, ",", 1);
		put_string(&e, p, n);
	}
	put(&e, "]", 2);	/* with its NUL */
	if (e.err != 0 || lines == 0) {
		free(e.buf);
		return NULL;
	}
	return e.buf;
}

/* --- the array marker ------------------------------------------------------ */

/* [-0, +1] */
void spur_lua_push_array_mt(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &spur_lua_key_array_mt);
}

/* --- JSON text -> Lua ---------------------------------------------------- */

/* Bytes of input between two looks at the clock: megabytes of blanks or
 * of one string cannot outrun the deadline. */
#define DEC_CHECK_BYTES 65536
/* dec_fail counts lines this far at most; past it, it names the byte. */
#define DEC_LINE_SCAN ((size_t)1 << 20)

struct dec {
	lua_State *L;
	const char *start, *p, *end;
	const char *check_at;	/* look at the clock when p passes this */
	int depth;
};

/* [-0, +0, v] The deadline, once per DEC_CHECK_BYTES of input. */
static inline void dec_tick(struct dec *d)
{
	if (d->p >= d->check_at) {
		d->check_at = d->p + DEC_CHECK_BYTES;
		spur_lua_check(d->L, NULL);
	}
}

/* [-0, +0, v] */
static void dec_fail(struct dec *d, const char *what)
{
	const char *q;
	int line = 1, col = 1;

	if ((size_t)(d->p - d->start) > DEC_LINE_SCAN)	/* no O(n) rescan of a huge text */
		luaL_error(d->L, "invalid JSON: %s at byte %zu", what, (size_t)(d->p - d->start));
	for (q = d->start; q < d->p; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	luaL_error(d->L, "invalid JSON: %s at line %d, column %d", what, line, col);
}

static void skip_ws(struct dec *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' ||
				 *d->p == '\n' || *d->p == '\r'))
		if (++d->p >= d->check_at)
			dec_tick(d);
}

static int hex4(const char *s)
{
	int v = 0, i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* [-0, +0, v] One \u escape (and its low surrogate) at d->p, into b. */
static void dec_unicode(struct dec *d, luaL_Buffer *b)
{
	char out[4];
	long cp;
	int hi = 0, lo = 0;

	if (d->end - d->p < 6 || (hi = hex4(d->p + 2)) < 0)
		dec_fail(d, "bad \\u escape");
	d->p += 6;
	cp = hi;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		dec_fail(d, "lone surrogate");
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (d->end - d->p < 6 || d->p[0] != '\\' || d->p[1] != 'u' ||
		    (lo = hex4(d->p + 2)) < 0xDC00 || lo > 0xDFFF)
			dec_fail(d, "lone surrogate");
		d->p += 6;
		cp = 0x10000 + ((long)(hi - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp < 0x80) {
		luaL_addchar(b, (char)cp);
		return;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		luaL_addlstring(b, out, 2);
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		luaL_addlstring(b, out, 3);
	} else {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		luaL_addlstring(b, out, 4);
	}
}

/* [-0, +1, v] The string at d->p (on its opening quote). */
static void dec_string(struct dec *d)
{
	const unsigned char *p = (const unsigned char *)++d->p;
	const unsigned char *end = (const unsigned char *)d->end;
	luaL_Buffer b;
	size_t k;

	/* fast path: no escapes */
	while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
		if ((const char *)p >= d->check_at) {
			d->check_at = (const char *)p + DEC_CHECK_BYTES;
			spur_lua_check(d->L, NULL);
		}
		if (*p < 0x80) {
			p++;
		} else if ((k = spur_utf8_seq(p, (size_t)(end - (p)))) != 0) {
			p += k;
		} else {
			d->p = (const char *)p;
			dec_fail(d, "invalid UTF-8");
		}
	}
	if (p < end && *p == '"') {
		lua_pushlstring(d->L, d->p, (size_t)((const char *)p - d->p));
		d->p = (const char *)p + 1;
		return;
	}
	luaL_buffinit(d->L, &b);
	luaL_addlstring(&b, d->p, (size_t)((const char *)p - d->p));
	d->p = (const char *)p;
	for (;;) {
		if (d->p >= d->end)
			dec_fail(d, "unterminated string");
		dec_tick(d);
		p = (const unsigned char *)d->p;
		if (*p == '"')
			break;
		if (*p < 0x20)
			dec_fail(d, "control character in string");
		if (*p == '\\') {
			char c = d->p + 1 < d->end ? d->p[1] : 0;
			const char *rep = NULL;

			switch (c) {
			case '"': rep = "\""; break;
			case '\\': rep = "\\"; break;
			case '/': rep = "/"; break;
			case 'b': rep = "\b"; break;
			case 'f': rep = "\f"; break;
			case 'n': rep = "\n"; break;
			case 'r': rep = "\r"; break;
			case 't': rep = "\t"; break;
			case 'u': dec_unicode(d, &b); continue;
			default: dec_fail(d, "bad escape");
			}
			luaL_addchar(&b, rep[0]);
			d->p += 2;
			continue;
		}
		k = *p < 0x80 ? 1 : spur_utf8_seq(p, (size_t)(end - (p)));
		if (k == 0)
			dec_fail(d, "invalid UTF-8");
		luaL_addlstring(&b, d->p, k);
		d->p += k;
	}
	d->p++;
	luaL_pushresult(&b);
}

/* [-0, +(0|1)] A plain decimal [-]ddd.ddd of at most 15 significant
 * digits, pushed without strtod: its digits as an integer and 10^k are
 * both exact doubles, so one division rounds correctly (Clinger's fast
 * path). False (nothing pushed) for anything else. */
static bool fast_real(struct dec *d, const char *s, const char *q)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
					1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	const char *c = s + (*s == '-');
	long long m = 0;
	int digits = 0, frac = -1;

	for (; c < q; c++) {
		if (*c == '.') {
			frac = 0;
			continue;
		}
		if (*c < '0' || *c > '9' || ++digits > 15)
			return false;	/* an exponent, or too many digits */
		m = m * 10 + (*c - '0');
		if (frac >= 0)
			frac++;
	}
	if (frac < 0)
		return false;
	double v = (double)m / pow10[frac];
	d->p = q;
	lua_pushnumber(d->L, (lua_Number)(*s == '-' ? -v : v));
	return true;
}

/* [-0, +1, v] */
static void dec_number(struct dec *d)
{
	const char *s = d->p, *q = d->p;
	char tmp[128];
	int is_int = 1;
	double v;

	if (q < d->end && *q == '-')
		q++;
	if (q < d->end && *q == '0')
		q++;
	else if (q < d->end && *q >= '1' && *q <= '9')
		while (q < d->end && *q >= '0' && *q <= '9')
			q++;
	else
		dec_fail(d, "bad number");
	if (q < d->end && *q == '.') {
		is_int = 0;
		if (++q >= d->end || *q < '0' || *q > '9')
			dec_fail(d, "bad number");
		while (q < d->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < d->end && (*q == 'e' || *q == 'E')) {
		is_int = 0;
		q++;
		if (q < d->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= d->end || *q < '0' || *q > '9')
			dec_fail(d, "bad number");
		while (q < d->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (!is_int && fast_real(d, s, q))
		return;
	if (is_int && q - s <= 18) {	/* fits in 63 bits: no copy, no strtoll */
		const char *c = s + (*s == '-');
		long long i = 0;

		for (; c < q; c++)
			i = i * 10 + (*c - '0');
		d->p = q;
		lua_pushinteger(d->L, (lua_Integer)(*s == '-' ? -i : i));
		return;
	}
	if ((size_t)(q - s) >= sizeof(tmp))
		dec_fail(d, "number too long");
	memcpy(tmp, s, (size_t)(q - s));
	tmp[q - s] = '\0';
	d->p = q;
	if (is_int) {
		char *endp;
		long long i;

		errno = 0;
		i = strtoll(tmp, &endp, 10);
		if (errno == 0) {
			lua_pushinteger(d->L, (lua_Integer)i);
			return;
		}
	}
	v = strtod(tmp, NULL);
	if (isinf(v))
		dec_fail(d, "number out of range");
	lua_pushnumber(d->L, (lua_Number)v);
}

static void dec_value(struct dec *d);

/* Members (pairs) or elements a container keeps on the Lua stack before
 * they go into its table: the table is made with the exact size when they
 * all fit (no rehash as it grows), and filled in batches past that. */
#define DEC_BATCH 32

/* [-(2n|n), +0] Move the n pending members (pairs: keys and values) or
 * elements above the table at `t` into it; *next is the next index. */
static void dec_flush(lua_State *L, int t, int n, bool pairs, lua_Integer *next)
{
	int base = lua_gettop(L) - (pairs ? 2 * n : n);

	for (int k = 1; k <= n; k++) {
		if (pairs) {
			lua_pushvalue(L, base + 2 * k - 1);
			lua_pushvalue(L, base + 2 * k);
			lua_rawset(L, t);
		} else {
			lua_pushvalue(L, base + k);
			lua_rawseti(L, t, ++*next);
		}
	}
	lua_settop(L, base);
}

/* [-0, +1] Make the table below the n pending members; its index. */
static int dec_table(lua_State *L, int n, bool pairs, int size)
{
	int below = pairs ? 2 * n : n;

	lua_createtable(L, pairs ? 0 : size, pairs ? size : 0);
	lua_insert(L, -below - 1);
	return lua_gettop(L) - below;
}

/* [-0, +1, v] */
static void dec_container(struct dec *d, char close)
{
	lua_State *L = d->L;
	bool pairs = close == '}';
	lua_Integer next = 0;
	int t = 0, n = 0;	/* t: the table once made (0: not yet); n: pending */

	if (++d->depth > SPUR_LUA_MAX_DECODE_DEPTH)
		dec_fail(d, "nesting too deep");
	luaL_checkstack(L, 2 * DEC_BATCH + 8, "JSON nesting too deep");
	d->p++;
	skip_ws(d);
	if (d->p < d->end && *d->p == close) {
		d->p++;
	} else {
		for (;;) {
			if (pairs) {
				if (d->p >= d->end || *d->p != '"')
					dec_fail(d, "expected a string key");
				dec_string(d);
				skip_ws(d);
				if (d->p >= d->end || *d->p != ':')
					dec_fail(d, "expected ':'");
				d->p++;
				skip_ws(d);
			}
			dec_value(d);
			if (++n == DEC_BATCH) {	/* a big one: the table now, then batches */
				if (!t)
					t = dec_table(L, n, pairs, 2 * DEC_BATCH);
				dec_flush(L, t, n, pairs, &next);
				n = 0;
			}
			skip_ws(d);
			if (d->p < d->end && *d->p == ',') {
				d->p++;
				skip_ws(d);
				continue;
			}
			if (d->p < d->end && *d->p == close)
				break;
			dec_fail(d, pairs ? "expected ',' or '}'" : "expected ',' or ']'");
		}
		d->p++;
	}
	if (!t)		/* everything pending: the exact size */
		t = dec_table(L, n, pairs, n);
	dec_flush(L, t, n, pairs, &next);
	if (!pairs) {
		spur_lua_push_array_mt(L);
		lua_setmetatable(L, t);
	}
	d->depth--;
}

/* [-0, +1, v] */
static void dec_literal(struct dec *d, const char *word, size_t n)
{
	if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
		dec_fail(d, "unexpected character");
	d->p += n;
}

/* [-0, +1, v] */
static void dec_value(struct dec *d)
{
	if (d->p >= d->end)
		dec_fail(d, "unexpected end of input");
	dec_tick(d);
	switch (*d->p) {
	case '{': dec_container(d, '}'); break;
	case '[': dec_container(d, ']'); break;
	case '"': dec_string(d); break;
	case 't': dec_literal(d, "true", 4); lua_pushboolean(d->L, 1); break;
	case 'f': dec_literal(d, "false", 5); lua_pushboolean(d->L, 0); break;
	case 'n': dec_literal(d, "null", 4); lua_pushlightuserdata(d->L, NULL); break;
	default:
		if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9'))
			dec_number(d);
		else
			dec_fail(d, "unexpected character");
	}
}

/* [-0, +1, v] */
void spur_lua_decode(lua_State *L, const char *s, size_t len)
{
	struct dec d = {.L = L, .start = s, .p = s, .end = s + len,
			.check_at = s + DEC_CHECK_BYTES, .depth = 0};

	skip_ws(&d);
	dec_value(&d);
	skip_ws(&d);
	if (d.p != d.end)
		dec_fail(&d, "trailing characters");
}
