/* SPDX-License-Identifier: MIT */
/*
 * result.c - struct spur_result: its setters (result.h) and the SDK's
 * getters (spur/invoke.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "result.h"
#include "util.h"

struct spur_result *spur_result_new(void)
{
	struct spur_result *r = calloc(1, sizeof(*r));
	if (r)
		spur_uuid(r->request_id);
	return r;
}

struct spur_result *spur_result_fail(struct spur_result *r, enum spur_status st,
				     const char *type, const char *fmt, ...)
{
	r->status = st;
	r->error_type = type;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&r->error_message, fmt, ap) < 0)
		r->error_message = NULL;
	va_end(ap);
	return r;
}

void spur_result_set_status(struct spur_result *r, enum spur_status st)
{
	r->status = st;
}

void spur_result_set_request_id(struct spur_result *r, const char *id)
{
	snprintf(r->request_id, sizeof(r->request_id), "%s", id);
}

void spur_result_set_body(struct spur_result *r, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
}

void spur_result_set_replayed(struct spur_result *r)
{
	r->replayed = true;
}

void spur_result_set_retry_after(struct spur_result *r, int seconds)
{
	r->retry_after = seconds;
}

char *spur_error_json(const char *type, const char *message, const char *stack_json,
			size_t *len)
{
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_puts(&b, "{\"errorMessage\":");
	spur_buf_json_string(&b, message ? message : "", message ? strlen(message) : 0);
	spur_buf_puts(&b, ",\"errorType\":");
	spur_buf_json_string(&b, type ? type : "Error", type ? strlen(type) : 5);
	spur_buf_puts(&b, ",\"stackTrace\":");
	struct spur_json_error jerr;
	bool stack_ok = stack_json && stack_json[0] == '[' &&
			spur_json_check(stack_json, strlen(stack_json), &jerr) == 0;
	spur_buf_puts(&b, stack_ok ? stack_json : "[]");
	spur_buf_puts(&b, "}");
	return spur_buf_steal(&b, len);
}

/* --- result accessors ------------------------------------------------------ */

SPUR_API void spur_result_free(struct spur_result *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->log_tail);
	free(r->error_message);
	free(r);
}

SPUR_API enum spur_status spur_result_status(const struct spur_result *r)
{
	return r->status;
}

SPUR_API const char *spur_result_request_id(const struct spur_result *r)
{
	return r->request_id;
}

SPUR_API const char *spur_result_body(const struct spur_result *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body;
}

SPUR_API const char *spur_result_function_error(const struct spur_result *r)
{
	return r->function_error;
}

SPUR_API const char *spur_result_executed_version(const struct spur_result *r)
{
	return r->version;
}

SPUR_API const char *spur_result_log_tail(const struct spur_result *r)
{
	return r->log_tail;
}

SPUR_API const char *spur_result_error_type(const struct spur_result *r)
{
	return r->error_type;
}

SPUR_API const char *spur_result_error_message(const struct spur_result *r)
{
	return r->error_message ? r->error_message : "";
}

SPUR_API bool spur_result_replayed(const struct spur_result *r)
{
	return r->replayed;
}

SPUR_API int spur_result_retry_after(const struct spur_result *r)
{
	return r->retry_after;
}

