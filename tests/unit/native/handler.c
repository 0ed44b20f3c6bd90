/* SPDX-License-Identifier: MIT */
/*
 * native/handler.c - fixture handlers for test_native.c, built against
 * spur/handler.h alone, one shared module per variant:
 *   native_counter   a warm counter; the payload {"do": "..."} picks a
 *                    misbehaviour: error, fail, segv, abort, exit, loop,
 *                    leak, late, badjson, null, log
 *   native_badabi    abi_major 2
 *   native_badsize   a descriptor smaller than ABI 1.0's
 *   native_nosym     no spur_handler symbol
 *   native_initfail  init() fails with ConfigError
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spur/handler.h"

static int *volatile nowhere;	/* NULL, unknown to the optimiser */

struct state {
	long count;
	int inits;
};

static int init(void **state, const struct spur_handler_event *ev,
		struct spur_handler_out *out)
{
	struct state *s;

#ifdef INIT_FAIL
	(void)state;
	(void)ev;
	return spur_handler_out_error(out, "ConfigError", "no config"), -EINVAL;
#endif
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	if (ev->payload != NULL || ev->tmp_dir == NULL)
		return spur_handler_out_error(out, "Bad", "INIT has a payload"), -EINVAL;
	s->inits = 1;
	*state = s;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

/* Whether the payload asks for `what`: {"do":"what"}. */
static int wants(const struct spur_handler_event *ev, const char *what)
{
	char key[64];

	snprintf(key, sizeof(key), "\"do\":\"%s\"", what);
	return strstr(ev->payload, key) != NULL;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int handle(void *state, const struct spur_handler_event *ev,
		  struct spur_handler_out *out)
{
	struct state *s = state;
	const char *greeting = spur_handler_getenv(ev, "GREETING");
	char buf[1024];
	int n;

	if (ev->payload[ev->payload_len] != '\0')
		return spur_handler_out_error(out, "Bad", "payload not NUL-terminated"), -EINVAL;
	s->count++;
	if (wants(ev, "error"))
		return spur_handler_out_error(out, "ValidationError", "temp missing"), -EINVAL;
	if (wants(ev, "fail"))
		return -EIO;
	if (wants(ev, "segv"))
		*nowhere = 1;
	if (wants(ev, "abort"))
		abort();
	if (wants(ev, "exit"))
		exit(3);
	if (wants(ev, "loop"))
		for (volatile long i = 0;; i++)
			;
	if (wants(ev, "leak")) {
		for (;;) {
			char *p = malloc(1 << 20);

			if (p == NULL)
				return -ENOMEM;
			memset(p, 1, 1 << 20);
		}
	}
	if (wants(ev, "late")) {
		while (now_ms() <= ev->deadline_ms + 20)
			usleep(5000);
	}
	if (wants(ev, "badjson"))
		return spur_handler_out_result(out, "{not json", 9) == -EINVAL ? 0 : -EPROTO;
	if (wants(ev, "null"))
		return 0;
	if (wants(ev, "log")) {
		spur_handler_out_log(out, "first line\n", 11);
		spur_handler_out_log(out, "second line", 11);
	}
	n = snprintf(buf, sizeof(buf),
		     "{\"count\":%ld,\"pid\":%ld,\"inits\":%d,\"greeting\":\"%s\","
		     "\"request_id\":\"%s\",\"function\":\"%s\",\"version\":\"%s\","
		     "\"attempt\":%u,\"deadline_ms\":%lld,\"tmp\":\"%s\",\"len\":%zu}",
		     s->count, (long)getpid(), s->inits, greeting ? greeting : "",
		     ev->request_id, ev->function_name, ev->function_version,
		     ev->attempt, (long long)ev->deadline_ms, ev->tmp_dir, ev->payload_len);
	return spur_handler_out_result(out, buf, (size_t)n);
}

#ifndef NO_SYMBOL
SPUR_HANDLER_EXPORT = {
#ifdef BAD_ABI
	.abi_major = 2,
#else
	.abi_major = SPUR_HANDLER_ABI_MAJOR,
#endif
	.abi_minor = SPUR_HANDLER_ABI_MINOR,
#ifdef BAD_SIZE
	.struct_size = 12,
#else
	.struct_size = sizeof(struct spur_handler),
#endif
	.name = "fixture",
	.init = init,
	.handle = handle,
	.fini = fini,
};
#else
/* A descriptor under another name: a valid library, but not a handler. */
SPUR_HANDLER_VISIBLE extern const struct spur_handler not_the_handler;
const struct spur_handler not_the_handler = {
	.abi_major = SPUR_HANDLER_ABI_MAJOR,
	.struct_size = sizeof(struct spur_handler),
	.init = init,
	.handle = handle,
	.fini = fini,
};
#endif
