/* SPDX-License-Identifier: MIT */
/*
 * layer_runtime.h - a real in-process runtime for the suites that run
 * functions without the host (queue and intake layers): runtime "test".
 *
 * A function's code file holds one word that says what its handler does:
 *   echo   answers the payload it got
 *   ok     answers {"ok":true}
 *   fail   fails with errorType "TestError"
 *   big    answers a JSON string of 1 MiB
 * Every invoke is recorded (function, payload, attempt), so a test can
 * assert on what ran; calls come from whatever thread the core runs them
 * on (a mapping's poller, the caller of spur_exec_run).
 */
#ifndef SPUR_TEST_LAYER_RUNTIME_H
#define SPUR_TEST_LAYER_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

struct spur_runtime;
struct layer_runtime;

struct layer_runtime *layer_runtime_new(void);
void layer_runtime_free(struct layer_runtime *rt);

/* The registry env's runtime lookup (ud: the struct layer_runtime). */
const struct spur_runtime *layer_runtime_lookup(void *ud, const char *name, void **instance);

/* Invocations so far, of every function. */
size_t layer_runtime_calls(struct layer_runtime *rt);
/* Invocations of one function. */
size_t layer_runtime_calls_of(struct layer_runtime *rt, const char *function);
/* The payload of the i-th invocation (malloc()ed copy; NULL past the end). */
char *layer_runtime_payload(struct layer_runtime *rt, size_t i);
unsigned layer_runtime_attempt(struct layer_runtime *rt, size_t i);
/* Wait (real time, at most ms) until n invocations were recorded. */
bool layer_runtime_wait(struct layer_runtime *rt, size_t n, int ms);

#endif
