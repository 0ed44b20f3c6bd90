/* SPDX-License-Identifier: MIT */
/*
 * log.c - formatting and writing log lines (see log.h).
 * Text:  2026-11-27T10:00:00.000Z INFO  [request-id] message
 * JSON:  {"time":"…","level":"info","msg":"…","request_id":"…","function":"…","version":"…"}
 * Cost: one vsnprintf into a stack buffer (heap only for long lines) and
 * one write(2) per line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *level_name[] = { "error", "warn", "info", "debug" };
static const char *level_text[] = { "ERROR", "WARN ", "INFO ", "DEBUG" };

void spur_log_init(struct spur_log *log, enum spur_log_level level,
		   enum spur_log_format format, int fd)
{
	log->level = level;
	log->format = format;
	log->fd = fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Keep only what Tail can return, so a chatty handler costs bounded memory. */
static void tail_append(struct spur_buf *t, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (n > SPUR_LOG_TAIL) {
		p += n - SPUR_LOG_TAIL;
		n = SPUR_LOG_TAIL;
	}
	if (t->len + n > 4 * SPUR_LOG_TAIL) {
		size_t keep = SPUR_LOG_TAIL;
		memmove(t->data, t->data + t->len - keep, keep);
		t->len = keep;
	}
	spur_buf_append(t, p, n);
	if (p[n - 1] != '\n')
		spur_buf_append(t, "\n", 1);
}

/* Strip one trailing newline: every line gets exactly one. */
static size_t trim(const char *msg, size_t len)
{
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	return len;
}

void spur_log_raw(const struct spur_log *log, enum spur_log_level level,
		  const struct spur_log_ctx *ctx, const char *msg, size_t len)
{
	bool emit = level <= log->level;
	if (!emit && !(ctx && ctx->tail))
		return;
	char stamp[32];
	char stack[1024];
	struct spur_buf line = SPUR_BUF_ON(stack), *out = &line;
	spur_time_rfc3339(stamp);
	len = trim(msg, len);

	if (log->format == SPUR_LOG_JSON) {
		spur_buf_printf(out, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":",
				stamp, level_name[level]);
		spur_buf_json_string(out, msg, len);
		if (ctx && ctx->request_id)
			spur_buf_printf(out, ",\"request_id\":\"%s\"", ctx->request_id);
		if (ctx && ctx->function) {
			spur_buf_puts(out, ",\"function\":");
			spur_buf_json_string(out, ctx->function, strlen(ctx->function));
		}
		if (ctx && ctx->version) {
			spur_buf_puts(out, ",\"version\":");
			spur_buf_json_string(out, ctx->version, strlen(ctx->version));
		}
		spur_buf_puts(out, "}\n");
	} else {
		spur_buf_printf(out, "%s %s ", stamp, level_text[level]);
		if (ctx && ctx->handler && ctx->request_id)
			spur_buf_printf(out, "%s\t", ctx->request_id);
		spur_buf_append(out, msg, len);
		spur_buf_puts(out, "\n");
	}
	if (!out->failed) {
		if (emit)
			write_all(log->fd, out->data, out->len);
		if (ctx && ctx->tail)
			tail_append(ctx->tail, log->format == SPUR_LOG_JSON ? msg : out->data,
				    log->format == SPUR_LOG_JSON ? len : out->len);
	}
	spur_buf_fini(out);
}

void spur_log_vwrite(const struct spur_log *log, enum spur_log_level level,
		     const struct spur_log_ctx *ctx, const char *fmt, va_list ap)
{
	if (level > log->level && !(ctx && ctx->tail))
		return;
	char msg[1024];
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(msg, sizeof(msg), fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(msg)) {
		spur_log_raw(log, level, ctx, msg, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		return;
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	spur_log_raw(log, level, ctx, big, (size_t)n);
	free(big);
}

void spur_log_write(const struct spur_log *log, enum spur_log_level level,
		    const struct spur_log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	spur_log_vwrite(log, level, ctx, fmt, ap);
	va_end(ap);
}
