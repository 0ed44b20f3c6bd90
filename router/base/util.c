/* SPDX-License-Identifier: MIT */
/*
 * util.c - buffers, ids, base64, clocks (see util.h).
 * Thread-safe: the uuid generator is per thread, seeded from getrandom().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sys/random.h>

#include "util.h"
#include "spur/store.h"

void spur_buf_init(struct spur_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void spur_buf_fini(struct spur_buf *b)
{
	if (!b->borrowed)
		free(b->data);
	memset(b, 0, sizeof(*b));
}

int spur_buf_reserve(struct spur_buf *b, size_t extra)
{
	if (b->failed)
		return -ENOMEM;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	char *p = b->borrowed ? malloc(cap) : realloc(b->data, cap);
	if (!p)
		goto fail;
	if (b->borrowed && b->len)
		memcpy(p, b->data, b->len);
	b->borrowed = false;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = true;
	return -ENOMEM;
}

int spur_buf_append(struct spur_buf *b, const void *p, size_t n)
{
	if (spur_buf_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int spur_buf_puts(struct spur_buf *b, const char *s)
{
	return spur_buf_append(b, s, strlen(s));
}

int spur_buf_printf(struct spur_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || spur_buf_reserve(b, (size_t)n) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}


int spur_buf_json_string(struct spur_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	if (spur_buf_reserve(b, n + 2) < 0)
		return -ENOMEM;
	b->data[b->len++] = '"';
	size_t start = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		size_t ul = c >= 0x80 ? spur_utf8_seq(u + i, n - i) : 1;
		if (c >= 0x80 && ul > 0) {
			i += ul;
			continue;
		}
		spur_buf_append(b, s + start, i - start);
		char esc[7] = { '\\', 0 };
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c >= 0x80) {	/* invalid UTF-8: U+FFFD */
				memcpy(esc + 1, "ufffd", 5);
				break;
			}
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			break;
		}
		spur_buf_append(b, esc, strlen(esc));
		i++;
		start = i;
	}
	spur_buf_append(b, s + start, n - start);
	return spur_buf_append(b, "\"", 1);
}

char *spur_buf_steal(struct spur_buf *b, size_t *len)
{
	if (b->borrowed && spur_buf_reserve(b, b->cap) < 0) {
		memset(b, 0, sizeof(*b));
		return NULL;
	}
	char *p = b->data;
	if (len)
		*len = b->len;
	if (!p && !b->failed)
		p = calloc(1, 1);
	if (b->failed) {
		free(p);
		p = NULL;
	}
	memset(b, 0, sizeof(*b));
	return p;
}

/* xoshiro256** (Blackman & Vigna, public domain description), per thread. */
static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	if (!rng_seeded) {
		if (getrandom(rng, sizeof(rng), 0) != (ssize_t)sizeof(rng)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			rng[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ull;
			rng[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ull;
			rng[2] = (uint64_t)(uintptr_t)&rng;
			rng[3] = 0x94d049bb133111ebull;
		}
		rng_seeded = true;
	}
	uint64_t r = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
	rng[2] ^= rng[0];
	rng[3] ^= rng[1];
	rng[1] ^= rng[2];
	rng[0] ^= rng[3];
	rng[2] ^= t;
	rng[3] = rotl(rng[3], 45);
	return r;
}

/* A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random
 * bits. Ids made close in time sort close together, so the store's index
 * grows at its end instead of touching a random page per insert. */
void spur_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	uint64_t ms = (uint64_t)spur_epoch_ms(), a = rng_next(), c = rng_next();
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	memcpy(b + 6, &a, 2);
	memcpy(b + 8, &c, 8);
	b[6] = (b[6] & 0x0f) | 0x70;
	b[8] = (b[8] & 0x3f) | 0x80;
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
}

char *spur_base64(const void *p, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *s = p;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

void spur_time_rfc3339(char out[32])
{
	spur_rfc3339(spur_epoch_ms(), out);
}

int64_t spur_epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static spur_clock_fn clock_fn;
static void *clock_ud;

static void store_anchor(void);

void spur_clock_inject(spur_clock_fn fn, void *ud)
{
	clock_ud = ud;
	clock_fn = fn;
	store_anchor();	/* the store clock goes on from here, on the new clock */
}

/* The injected clock, or `id` in nanoseconds. */
static inline int64_t now_on(clockid_t id)
{
	if (clock_fn)
		return clock_fn(clock_ud);
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

SPUR_API int64_t spur_now_ns(void)
{
	return now_on(CLOCK_MONOTONIC);
}

SPUR_API int64_t spur_now_coarse_ns(void)
{
	return now_on(CLOCK_MONOTONIC_COARSE);
}

void spur_timespec_after_ms(int64_t ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* The store clock: the wall clock at the first call, then monotonic, so
 * a wall-clock step while running moves no stored time. */
static int64_t store_anchor_ms, store_anchor_ns;
static pthread_once_t store_anchor_once = PTHREAD_ONCE_INIT;

static void store_anchor(void)
{
	store_anchor_ms = spur_epoch_ms();
	store_anchor_ns = spur_now_ns();
}

SPUR_API int64_t spur_store_now_ms(void)
{
	pthread_once(&store_anchor_once, store_anchor);
	return store_anchor_ms + (spur_now_ns() - store_anchor_ns) / 1000000;
}

SPUR_API const char *spur_strerror(int err)
{
	if (err >= 0)
		return "success";
	return strerror(-err);
}

void spur_deadline_timespec(int64_t due_ns, struct timespec *ts)
{
	int64_t wait = due_ns - spur_now_ns();
	clock_gettime(CLOCK_MONOTONIC, ts);
	if (wait < 0)
		wait = 0;
	int64_t ns = ts->tv_nsec + wait % 1000000000;
	ts->tv_sec += wait / 1000000000 + ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}



char *spur_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}
