/* SPDX-License-Identifier: MIT */
/*
 * spur/common.h - what every part of the plugin SDK shares: the export
 * macro, the ABI version and the error convention.
 *
 * Errors follow libuv: a function returns 0 on success or a negative errno
 * (-ENOMEM, -EINVAL, ...); constructors return a pointer or NULL.
 * spur_strerror() names a code.
 */
#ifndef SPUR_COMMON_H
#define SPUR_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SPUR_API __attribute__((visibility("default")))
#else
#define SPUR_API
#endif

/* The plugin ABI. The host refuses a plugin of another major version and
 * accepts one of a smaller minor version (it then sees a smaller struct).
 * The minor counts the appends made since 1.0:
 *   1.1  struct spur_destination: options, options_size, open_named
 *        (named destinations' settings declared once, checked at load);
 *        spur_invocation_json() is gone: jansson's types left the SDK
 *        (no plugin called it; runtimes parse spur_invocation_payload)
 *   1.2  struct spur_plugin: route_options, function_options (a source's
 *        route keys and a runtime's function keys, declared, checked at
 *        load; the core schema names no plugin's keys)
 *   1.3  struct spur_plugin: option_size; struct spur_invoke_args:
 *        attr_size (the element sizes of the arrays a plugin hands over)
 *   1.4  struct spur_runtime: resume, SPUR_RUN_YIELD and
 *        spur_invocation_yield_ns() (a run paused on an event loop goes on
 *        on a worker); spur_invoke_start() (a source on an event loop
 *        gets its answer later, from a worker, when the run moved) */
#define SPUR_ABI_MAJOR 1
#define SPUR_ABI_MINOR 5

/* Does `p`, a struct of type T that starts with `uint32_t struct_size`
 * and was built by the other side for any minor version, carry `member`? */
#define SPUR_HAS_MEMBER(p, T, member) \
	((p) != NULL && (p)->struct_size >= offsetof(T, member) + sizeof(((T *)0)->member))

/* Log levels, for spur_log() and the log: config key. */
enum spur_log_level {
	SPUR_LOG_ERROR = 0,
	SPUR_LOG_WARN = 1,
	SPUR_LOG_INFO = 2,
	SPUR_LOG_DEBUG = 3,
};

/* A static string naming a negative errno (or "unknown error"). */
SPUR_API const char *spur_strerror(int err);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC, or the injected test
 * clock). All deadlines in the SDK are on this clock. */
SPUR_API int64_t spur_now_ns(void);
/* ABI 1.4: the same clock read cheaply (CLOCK_MONOTONIC_COARSE: up to a
 * few ms behind), for deadlines of a second or more read on every request. */
SPUR_API int64_t spur_now_coarse_ns(void);

#ifdef __cplusplus
}
#endif
#endif
