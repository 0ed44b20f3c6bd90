/* SPDX-License-Identifier: MIT */
/*
 * abi.c - the handler ABI, spur's side: loading and checking a handler's
 * descriptor, and the struct spur_handler_out a handler answers through.
 * Linked into both the plugin (in-process handlers) and the worker
 * (isolation: process), so a handler sees the same answers either way.
 * An answer copies what it is given; the result is checked to be one JSON
 * value (one parse, ~1 us per small response).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "native.h"

int spur_native_open(const char *path, void **dlp, struct spur_handler *desc,
		     char *why, size_t len)
{
	const struct spur_handler *d;
	void *dl;

	memset(desc, 0, sizeof(*desc));
	*dlp = NULL;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		snprintf(why, len, "%s: cannot load: %s", path, dlerror());
		return -EINVAL;
	}
	d = dlsym(dl, SPUR_HANDLER_SYMBOL);
	if (d == NULL) {
		snprintf(why, len, "%s: not a spur native handler (no '%s' symbol)",
			 path, SPUR_HANDLER_SYMBOL);
		goto fail;
	}
	if (d->abi_major != SPUR_HANDLER_ABI_MAJOR) {
		snprintf(why, len, "%s: handler ABI %u.%u, but this spur speaks handler "
			 "ABI %d.%d: rebuild the handler against this spur's spur/handler.h",
			 path, d->abi_major, d->abi_minor, SPUR_HANDLER_ABI_MAJOR,
			 SPUR_HANDLER_ABI_MINOR);
		goto fail;
	}
	if (d->struct_size < NATIVE_HANDLER_MIN_SIZE) {
		snprintf(why, len, "%s: handler descriptor is %u bytes, smaller than "
			 "handler ABI %d.0's %zu", path, d->struct_size,
			 SPUR_HANDLER_ABI_MAJOR, (size_t)NATIVE_HANDLER_MIN_SIZE);
		goto fail;
	}
	memcpy(desc, d, d->struct_size < sizeof(*desc) ? d->struct_size : sizeof(*desc));
	if (desc->handle == NULL) {
		snprintf(why, len, "%s: handler descriptor has no handle()", path);
		goto fail;
	}
	*dlp = dl;
	return 0;
fail:
	memset(desc, 0, sizeof(*desc));
	dlclose(dl);
	return -EINVAL;
}

/* --- the answer ---------------------------------------------------------- */

/* A copy of at most `max` bytes of s, cut on a UTF-8 boundary. */
static char *bounded_copy(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

static void drop(struct native_answer *a)
{
	free(a->result);
	free(a->type);
	free(a->message);
	a->result = a->type = a->message = NULL;
	a->result_len = 0;
	a->kind = NATIVE_NONE;
}

static int set_error(struct native_answer *a, const char *type, const char *message)
{
	char *t = bounded_copy(type != NULL && *type != '\0' ? type : "Error", NATIVE_MAX_TYPE);
	char *m = bounded_copy(message != NULL ? message : "", NATIVE_MAX_MESSAGE);

	drop(a);
	if (t == NULL || m == NULL) {
		free(t);
		free(m);
		a->oom = true;
		return -ENOMEM;
	}
	a->type = t;
	a->message = m;
	a->kind = NATIVE_ERROR;
	return 0;
}

static int out_error(struct spur_handler_out *out, const char *type, const char *message)
{
	return set_error((struct native_answer *)out, type, message);
}

static int out_result(struct spur_handler_out *out, const char *json, size_t len)
{
	struct native_answer *a = (struct native_answer *)out;
	json_error_t jerr;
	json_t *v;
	char msg[300];
	char *copy;

	if (len > NATIVE_MAX_RESULT) {
		snprintf(msg, sizeof(msg), "Response payload size exceeded maximum allowed "
			 "payload size (%u bytes).", NATIVE_MAX_RESULT);
		set_error(a, "Function.ResponseSizeTooLarge", msg);
		return -E2BIG;
	}
	if (json == NULL && len > 0)
		return -EINVAL;
	v = json_loadb(json != NULL ? json : "", len, JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		if (strstr(jerr.text, "out of memory") != NULL) {
			a->oom = true;
			return -ENOMEM;
		}
		snprintf(msg, sizeof(msg), "Unable to marshal response: not one JSON "
			 "value: %s (at byte %d)", jerr.text, jerr.position);
		set_error(a, "Runtime.MarshalError", msg);
		return -EINVAL;
	}
	json_decref(v);
	copy = malloc(len + 1);
	if (copy == NULL) {
		a->oom = true;
		return -ENOMEM;
	}
	memcpy(copy, json, len);
	copy[len] = '\0';
	drop(a);
	a->result = copy;
	a->result_len = len;
	a->kind = NATIVE_RESULT;
	return 0;
}

static void out_log(struct spur_handler_out *out, const char *line, size_t len)
{
	struct native_answer *a = (struct native_answer *)out;

	if (line == NULL)
		return;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > NATIVE_MAX_LOG)
		len = NATIVE_MAX_LOG;
	a->log_line(a, line, len);
}

void spur_native_answer_init(struct native_answer *a,
			     void (*log_line)(struct native_answer *, const char *, size_t),
			     void *log_ud)
{
	memset(a, 0, sizeof(*a));
	a->pub.struct_size = sizeof(a->pub);
	a->pub.result = out_result;
	a->pub.error = out_error;
	a->pub.log = out_log;
	a->log_line = log_line;
	a->log_ud = log_ud;
}

void spur_native_answer_reset(struct native_answer *a)
{
	drop(a);
	a->oom = false;
}
