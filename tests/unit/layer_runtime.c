/* SPDX-License-Identifier: MIT */
/*
 * layer_runtime.c - runtime "test" (see layer_runtime.h): code_load reads
 * the code file's word, contexts are empty, invoke answers as the word
 * says and records the call under a mutex; a condition variable tells
 * waiting tests a call was recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layer_runtime.h"
#include "spur/runtime.h"

enum behaviour { ECHO, OK, FAIL, BIG };
#define BIG_ANSWER (1 << 20)	/* bytes of "big"'s answer: a JSON string */

struct code {
	enum behaviour what;
	char function[65];
};

struct call {
	char function[65];
	char *payload;
	unsigned attempt;
};

struct layer_runtime {
	pthread_mutex_t lock;
	pthread_cond_t called;
	struct call *calls;
	size_t n, cap;
};

static int code_load(void *instance, const struct spur_function *fn, void **out, char *err,
		     size_t errlen)
{
	char word[16] = "";
	FILE *f = fopen(spur_function_code(fn), "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", spur_function_code(fn), strerror(errno));
		return -ENOENT;
	}
	int got = fscanf(f, "%15s", word);
	fclose(f);
	struct code *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (got == 1 && strcmp(word, "echo") == 0)
		c->what = ECHO;
	else if (got == 1 && strcmp(word, "ok") == 0)
		c->what = OK;
	else if (got == 1 && strcmp(word, "fail") == 0)
		c->what = FAIL;
	else if (got == 1 && strcmp(word, "big") == 0)
		c->what = BIG;
	else {
		snprintf(err, errlen, "%s: not echo, ok, fail or big", spur_function_code(fn));
		free(c);
		return -EINVAL;
	}
	snprintf(c->function, sizeof(c->function), "%s", spur_function_name(fn));
	*out = c;
	return 0;
}

static void code_free(void *instance, void *code)
{
	free(code);
}

/* A context is the runtime and the code it runs. */
struct context {
	struct layer_runtime *rt;
	const struct code *code;
};

static enum spur_run context_new(void *instance, void *code, struct spur_context *host_ctx,
				 struct spur_invocation *init, void **out)
{
	struct context *c = malloc(sizeof(*c));
	if (!c)
		return SPUR_RUN_CRASH;
	c->rt = instance;
	c->code = code;
	*out = c;
	return SPUR_RUN_OK;
}

static void context_free(void *instance, void *ctx)
{
	free(ctx);
}

static void record(struct layer_runtime *rt, const char *function, const char *payload,
		   size_t len, unsigned attempt)
{
	pthread_mutex_lock(&rt->lock);
	if (rt->n == rt->cap) {
		size_t cap = rt->cap ? rt->cap * 2 : 16;
		struct call *c = realloc(rt->calls, cap * sizeof(*c));
		if (!c)
			abort();	/* a test cannot go on without its record */
		rt->calls = c;
		rt->cap = cap;
	}
	struct call *c = &rt->calls[rt->n++];
	snprintf(c->function, sizeof(c->function), "%s", function);
	c->payload = strndup(payload ? payload : "", len);
	c->attempt = attempt;
	pthread_cond_broadcast(&rt->called);
	pthread_mutex_unlock(&rt->lock);
}

static enum spur_run invoke(void *ctx, struct spur_invocation *inv)
{
	struct context *c = ctx;
	size_t len = 0;
	const char *payload = spur_invocation_payload(inv, &len);
	record(c->rt, c->code->function, payload, len, spur_invocation_attempt(inv));
	switch (c->code->what) {
	case ECHO:
		return spur_invocation_set_result(inv, payload, len) == 0 ? SPUR_RUN_OK : SPUR_RUN_CRASH;
	case OK:
		return spur_invocation_set_result(inv, "{\"ok\":true}", 11) == 0 ? SPUR_RUN_OK
										 : SPUR_RUN_CRASH;
	case FAIL:
		spur_invocation_set_error(inv, "TestError", "told to fail", NULL);
		return SPUR_RUN_ERROR;
	case BIG: {
		char *big = malloc(BIG_ANSWER);
		if (!big)
			return SPUR_RUN_CRASH;
		memset(big, 'b', BIG_ANSWER);
		big[0] = big[BIG_ANSWER - 1] = '"';
		int rc = spur_invocation_set_result(inv, big, BIG_ANSWER);
		free(big);
		return rc == 0 ? SPUR_RUN_OK : SPUR_RUN_CRASH;
	}
	}
	return SPUR_RUN_CRASH;
}

static const struct spur_runtime test_runtime = {
	.struct_size = sizeof(struct spur_runtime),
	.name = "test",
	.code_load = code_load,
	.code_free = code_free,
	.context_new = context_new,
	.context_free = context_free,
	.invoke = invoke,
};

struct layer_runtime *layer_runtime_new(void)
{
	struct layer_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	pthread_mutex_init(&rt->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rt->called, &ca);
	pthread_condattr_destroy(&ca);
	return rt;
}

void layer_runtime_free(struct layer_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n; i++)
		free(rt->calls[i].payload);
	free(rt->calls);
	pthread_cond_destroy(&rt->called);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

const struct spur_runtime *layer_runtime_lookup(void *ud, const char *name, void **instance)
{
	if (strcmp(name, test_runtime.name) != 0)
		return NULL;
	*instance = ud;
	return &test_runtime;
}

size_t layer_runtime_calls(struct layer_runtime *rt)
{
	pthread_mutex_lock(&rt->lock);
	size_t n = rt->n;
	pthread_mutex_unlock(&rt->lock);
	return n;
}

size_t layer_runtime_calls_of(struct layer_runtime *rt, const char *function)
{
	size_t n = 0;
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < rt->n; i++)
		n += strcmp(rt->calls[i].function, function) == 0;
	pthread_mutex_unlock(&rt->lock);
	return n;
}

char *layer_runtime_payload(struct layer_runtime *rt, size_t i)
{
	pthread_mutex_lock(&rt->lock);
	char *p = i < rt->n ? strdup(rt->calls[i].payload) : NULL;
	pthread_mutex_unlock(&rt->lock);
	return p;
}

unsigned layer_runtime_attempt(struct layer_runtime *rt, size_t i)
{
	pthread_mutex_lock(&rt->lock);
	unsigned a = i < rt->n ? rt->calls[i].attempt : 0;
	pthread_mutex_unlock(&rt->lock);
	return a;
}

bool layer_runtime_wait(struct layer_runtime *rt, size_t n, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&rt->lock);
	int rc = 0;
	while (rt->n < n && rc == 0)
		rc = pthread_cond_timedwait(&rt->called, &rt->lock, &ts);
	bool ok = rt->n >= n;
	pthread_mutex_unlock(&rt->lock);
	return ok;
}
