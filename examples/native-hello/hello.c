/* SPDX-License-Identifier: MIT */
/*
 * examples/native-hello/hello.c - the quickstart's hello handler in C.
 * It needs spur/handler.h and nothing else:
 *
 *   cc -shared -fPIC -O2 -I router/include -o hello.so examples/native-hello/hello.c
 *
 * init() runs once per execution context (INIT, a cold start) and makes
 * the context's state; `invocations` then survives from one warm
 * invocation to the next, exactly like the Lua quickstart's upvalue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/handler.h"

struct hello {
	unsigned long invocations;
};

static int hello_init(void **state, const struct spur_handler_event *ev,
		      struct spur_handler_out *out)
{
	struct hello *h = calloc(1, sizeof(*h));

	(void)ev;
	(void)out;
	if (h == NULL)
		return -ENOMEM;
	*state = h;
	return 0;
}

/* Append s to buf as the body of a JSON string (quotes not included). */
static size_t json_escape(char *buf, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(buf + n, cap - n, "\\%c", c);
		else if (c < 0x20)
			n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return n;
}

static int hello_handle(void *state, const struct spur_handler_event *ev,
			struct spur_handler_out *out)
{
	struct hello *h = state;
	const char *greeting = spur_handler_getenv(ev, "GREETING");
	char word[128], body[512], line[64];
	int n;

	h->invocations++;
	json_escape(word, sizeof(word), greeting != NULL ? greeting : "hello");
	n = snprintf(line, sizeof(line), "invocation %lu", h->invocations);
	spur_handler_out_log(out, line, (size_t)n);
	n = snprintf(body, sizeof(body),
		     "{\"message\":\"%s, world!\",\"invocations\":%lu,\"request_id\":\"%s\"}",
		     word, h->invocations, ev->request_id);
	if (n < 0 || (size_t)n >= sizeof(body))
		return spur_handler_out_error(out, "HelloError", "response too long"), -E2BIG;
	/* Copied by spur: answering from the stack is fine. */
	return spur_handler_out_result(out, body, (size_t)n);
}

static void hello_fini(void *state)
{
	free(state);
}

SPUR_HANDLER_EXPORT = {
	.abi_major = SPUR_HANDLER_ABI_MAJOR,
	.abi_minor = SPUR_HANDLER_ABI_MINOR,
	.struct_size = sizeof(struct spur_handler),
	.name = "hello",
	.init = hello_init,
	.handle = hello_handle,
	.fini = hello_fini,
};
