/* SPDX-License-Identifier: MIT */
/*
 * result.h - struct spur_result, what one invocation answers: built by
 * the run path and the front door, read through the SDK's getters
 * (spur/invoke.h). The body is here because intake/ fills it too.
 */
#ifndef SPUR_RESULT_H
#define SPUR_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include "spur/invoke.h"

struct spur_result {
	enum spur_status status;
	char request_id[37];
	char *body;
	size_t body_len;
	const char *function_error;
	const char *version;		/* static or owned by the registry */
	char *log_tail;
	const char *error_type;
	char *error_message;
	int retry_after;
	bool replayed;
};

/* A new result with a fresh request id (NULL: out of memory). */
struct spur_result *spur_result_new(void);

/* Setters of a result being built. _fail sets the status and the error
 * (type: static; message: formatted) and returns r; _set_body takes
 * ownership of `body` (malloc'd, or NULL). */
struct spur_result *spur_result_fail(struct spur_result *r, enum spur_status st,
				     const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void spur_result_set_status(struct spur_result *r, enum spur_status st);
void spur_result_set_request_id(struct spur_result *r, const char *id);
void spur_result_set_body(struct spur_result *r, char *body, size_t len);
void spur_result_set_replayed(struct spur_result *r);
void spur_result_set_retry_after(struct spur_result *r, int seconds);

/* The Lambda error object {"errorMessage","errorType","stackTrace"} as
 * JSON (malloc()ed); stack_json is used when it is a valid JSON array. */
char *spur_error_json(const char *type, const char *message, const char *stack_json,
		      size_t *len);

#endif
