/* SPDX-License-Identifier: MIT */
/*
 * util.h - small pieces every core module uses: a growable byte buffer,
 * request ids, base64, time formatting, the injectable clock.
 * Nothing here allocates behind the caller's back except spur_buf.
 */
#ifndef SPUR_UTIL_H
#define SPUR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "spur/common.h"
#include "spur/text.h"

#define SPUR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifdef NDEBUG
#define spur_assert(x) ((void)0)
#else
#include <assert.h>
#define spur_assert(x) assert(x)
#endif

/* A growable byte buffer; always NUL-terminated when len > 0. */
struct spur_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;		/* an allocation failed; further appends are no-ops */
	bool borrowed;		/* data is caller storage (a stack array): copy on growth */
};

/* A buffer over caller storage that moves to the heap only if outgrown. */
#define SPUR_BUF_ON(array) { .data = (array), .cap = sizeof(array), .borrowed = true }

void spur_buf_init(struct spur_buf *b);
void spur_buf_fini(struct spur_buf *b);
int spur_buf_reserve(struct spur_buf *b, size_t extra);
int spur_buf_append(struct spur_buf *b, const void *p, size_t n);
int spur_buf_puts(struct spur_buf *b, const char *s);
int spur_buf_printf(struct spur_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes included). */
int spur_buf_json_string(struct spur_buf *b, const char *s, size_t n);
/* Give the buffer away (caller frees); the buf is reset. */
char *spur_buf_steal(struct spur_buf *b, size_t *len);

/* A time-ordered random (v7) UUID, 36 characters + NUL. Per-thread
 * generator: no lock. */
void spur_uuid(char out[37]);

/* Base64 (RFC 4648, with padding). Returns a malloc()ed string or NULL. */
char *spur_base64(const void *p, size_t n);

/* The wall clock as RFC 3339 with milliseconds in UTC: 2026-11-27T10:00:00.000Z */
void spur_time_rfc3339(char out[32]);
int64_t spur_epoch_ms(void);

/* Test clock injection: when set, spur_now_ns() returns fn(ud). */
typedef int64_t (*spur_clock_fn)(void *ud);
void spur_clock_inject(spur_clock_fn fn, void *ud);

/* A due time on spur_now_ns()'s clock (which tests inject) as an absolute
 * CLOCK_MONOTONIC time, for pthread_cond_timedwait on such a condvar. */
struct timespec;
void spur_deadline_timespec(int64_t due_ns, struct timespec *ts);
/* CLOCK_MONOTONIC now + ms, for condition variables on that clock (real
 * time: idle timeouts, never the injected clock). */
void spur_timespec_after_ms(int64_t ms, struct timespec *ts);

/* Percent-decode [s, s+n) into out (cap bytes); `plus` turns '+' into
 * ' ' (query strings). The length, or -1 when it does not fit or decodes
 * to a NUL byte. */
#include <sys/types.h>

/* Duplicate or NULL. */
char *spur_strdup(const char *s);

#endif
