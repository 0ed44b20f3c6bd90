/* SPDX-License-Identifier: MIT */
/*
 * log.h - the router's log: text for people, JSON lines for machines.
 *
 * Each line is built in a per-call buffer and written with one write(2),
 * so lines from many threads never interleave and no lock is taken.
 * An invocation's lines (START, handler lines, END, REPORT) carry its
 * request id, function and version, and are also copied into the
 * invocation's tail buffer when the caller asked for X-Amz-Log-Type: Tail.
 */
#ifndef SPUR_LOG_H
#define SPUR_LOG_H

#include <stdarg.h>
#include "spur/common.h"

enum spur_log_format { SPUR_LOG_TEXT = 0, SPUR_LOG_JSON = 1 };

struct spur_log {
	enum spur_log_level level;
	enum spur_log_format format;
	int fd;
};

/* Who a line is about; every field may be NULL. */
struct spur_log_ctx {
	const char *request_id;
	const char *function;
	const char *version;
	struct spur_buf *tail;	/* append the formatted line here too */
	bool handler;		/* a handler's own line: text form gets "<request id>\t" */
};

/* The size of Lambda's Tail: the last 4 KB of an invocation's lines. */
#define SPUR_LOG_TAIL 4096

void spur_log_init(struct spur_log *log, enum spur_log_level level,
		   enum spur_log_format format, int fd);
void spur_log_write(const struct spur_log *log, enum spur_log_level level,
		    const struct spur_log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void spur_log_vwrite(const struct spur_log *log, enum spur_log_level level,
		     const struct spur_log_ctx *ctx, const char *fmt, va_list ap);
/* A line whose text is given as is (handler output). */
void spur_log_raw(const struct spur_log *log, enum spur_log_level level,
		  const struct spur_log_ctx *ctx, const char *msg, size_t len);

#endif
