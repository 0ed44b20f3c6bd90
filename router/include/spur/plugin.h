/* SPDX-License-Identifier: MIT */
/*
 * spur/plugin.h - the plugin descriptor and the host API that plugins call.
 *
 * A plugin is a shared module that exports exactly one symbol,
 * SPUR_PLUGIN_SYMBOL, a const struct spur_plugin. Its first three fields
 * (abi_major, abi_minor, struct_size) never move: the host reads them first,
 * refuses another major version, and never reads past struct_size.
 * The struct is append-only: new fields go at the end with a minor bump.
 *
 * A plugin has no globals: init() returns an instance, and two instances of
 * one plugin work side by side. It sees the host through opaque handles and
 * the SPUR_API accessor functions below, never through core structs.
 *
 * Roles:
 *   source       brings events in (http, mqtt, zmq): start() and stop(),
 *                and it calls spur_invoke() for each event.
 *   runtime      runs handlers (lua, native): the struct spur_runtime table.
 *   destination  takes records out (issue-level roles added in later minors)
 *   store        keeps durable state (sqlite, nats)
 */
#ifndef SPUR_PLUGIN_H
#define SPUR_PLUGIN_H

#include "spur/common.h"
#include "spur/option.h"
#include "spur/invoke.h"
#include "spur/runtime.h"
#include "spur/store.h"
#include "spur/destination.h"
#include "spur/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPUR_PLUGIN_SYMBOL "spur_plugin"

enum spur_role {
	SPUR_ROLE_SOURCE = 1u << 0,
	SPUR_ROLE_RUNTIME = 1u << 1,
	SPUR_ROLE_DESTINATION = 1u << 2,
	SPUR_ROLE_STORE = 1u << 3,
};

struct spur_host;	/* the router, as a plugin sees it */

struct spur_plugin {
	uint32_t abi_major;		/* SPUR_ABI_MAJOR */
	uint32_t abi_minor;		/* SPUR_ABI_MINOR */
	uint32_t struct_size;		/* sizeof(struct spur_plugin) */

	const char *name;		/* also the top-level config key of its options */
	const char *version;
	const char *description;
	uint32_t roles;			/* enum spur_role bits */

	/* Options: parsed by the host from the config section named after the
	 * plugin into a zeroed block of options_size bytes, then given to init().
	 * Terminated by an entry with name == NULL. May be NULL. */
	const struct spur_option *options;
	size_t options_size;

	/* Make an instance. `options` is borrowed for the call; copy what you
	 * keep (or keep pointers: the host keeps the block alive until fini).
	 * Returns 0 and sets *instance, or a negative errno after logging why. */
	int (*init)(struct spur_host *host, const void *options, void **instance);
	/* Release an instance; called after stop(). */
	void (*fini)(void *instance);

	/* Source role: begin taking events / stop taking new events. stop()
	 * returns once no new invocation can start from this source; calls
	 * already inside spur_invoke() may still be running. Optional. */
	int (*start)(void *instance);
	void (*stop)(void *instance);

	/* Runtime role: NULL unless roles has SPUR_ROLE_RUNTIME. */
	const struct spur_runtime *runtime;
	/* Store role: NULL unless roles has SPUR_ROLE_STORE. */
	const struct spur_store *store;
	/* Destination role: NULL unless roles has SPUR_ROLE_DESTINATION. */
	const struct spur_destination *destination;

	/* ABI 1.2: keys this plugin adds to other parts of the config,
	 * beside the core's, checked at load like `options` (unknown keys,
	 * types, ranges, enum choices: FILE:LINE errors of spur check and
	 * spur serve). `offset` is unused: read the values as text with
	 * spur_route_option() and spur_function_option(). A dotted name
	 * ("verify.scheme") is a key of a nested mapping. NULL: none.
	 *   route_options     a source's keys on its routes (mqtt: qos, share)
	 *   function_options  a runtime's keys on its functions (native:
	 *                     isolation) */
	const struct spur_option *route_options;
	const struct spur_option *function_options;

	/* ABI 1.3: sizeof(struct spur_option) as this plugin was built, for
	 * every option table it hands over (options, route_options,
	 * function_options, its destination's options); the host reads the
	 * tables with that stride, so appending a member to struct spur_option
	 * does not misread older plugins. 0: ABI 1.0's size. */
	uint32_t option_size;
};

/* Use once per plugin, at file scope:
 *   SPUR_PLUGIN_EXPORT = { .abi_major = SPUR_ABI_MAJOR, ... };          */
#define SPUR_PLUGIN_EXPORT \
	SPUR_API extern const struct spur_plugin spur_plugin; \
	const struct spur_plugin spur_plugin

/* --- host services for plugins ------------------------------------------ */

/* Log a line attributed to the plugin. */
SPUR_API void spur_log(struct spur_host *host, enum spur_log_level level,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
SPUR_API bool spur_log_enabled(struct spur_host *host, enum spur_log_level level);

/* The directory that relative paths in the config are relative to, and the
 * state directory (absolute). Borrowed; valid for the instance's life. */
SPUR_API const char *spur_host_config_dir(struct spur_host *host);
SPUR_API const char *spur_host_state_dir(struct spur_host *host);

/* Readiness (/readyz). A plugin that needs something external (a broker)
 * reports whether it has it, keyed by its instance; the host is ready when
 * every reporter is. `why` is copied. */
SPUR_API void spur_host_set_ready(struct spur_host *host, const void *instance,
				  bool ready, const char *why /* may be NULL */);
/* 1 when ready; else 0 and why[] (a buffer of `len` bytes) says what is
 * missing. */
SPUR_API int spur_host_ready(struct spur_host *host, char *why, size_t len);

/* The routes of the config, for source plugins. A route names its ingress
 * by kind ("http", "mqtt", ...) and a kind-specific match string
 * ("POST /hooks/{id}", "sensors/+/temp"). */
struct spur_route;
SPUR_API size_t spur_host_route_count(struct spur_host *host);
SPUR_API const struct spur_route *spur_host_route(struct spur_host *host, size_t i);
SPUR_API const char *spur_route_kind(const struct spur_route *r);
SPUR_API const char *spur_route_match(const struct spur_route *r);
SPUR_API const char *spur_route_target(const struct spur_route *r);	/* "fn[:qual]" */
SPUR_API enum spur_mode spur_route_mode(const struct spur_route *r);
SPUR_API int spur_route_line(const struct spur_route *r);	/* config line, for messages */
/* A source-specific key of the route ("qos", "share", "payload",
 * "verify.scheme", by dotted path) as its config text, or NULL when
 * absent. The config checked its type. */
SPUR_API const char *spur_route_option(const struct spur_route *r, const char *key);

/* An input a source cannot turn into an event (a payload that is not JSON
 * on a `payload: json` route, an oversized message): the host writes a
 * failure record (condition "InvalidInput", the reason as the error) to
 * the route's function's on_failure destinations, so it ends in the
 * dead-letter queue instead of being redelivered forever. `data` is kept
 * as a string (base64 when it is not UTF-8). 0 or a negative errno. */
SPUR_API int spur_reject(struct spur_host *host, const struct spur_route *route,
			 const char *reason, const void *data, size_t len);
SPUR_API const char *spur_config_file(struct spur_host *host);

/* Put one message (`len` bytes of `body`, any bytes; borrowed) into the
 * configured queue `queue` (queues: in config), durably, and wake the
 * mappings polling it. id_out (37 bytes, may be NULL) receives the
 * message id. 0; -ENOENT no such queue; -EAGAIN the queue is at its
 * max_depth (answer 503 / retry later); -ENOSPC disk full; -ENODEV no
 * store is open; -EIO; -ENOMEM. */
SPUR_API int spur_queue_send(struct spur_host *host, const char *queue, const void *body,
			     size_t len, char id_out[37]);

/* --- the admin API (SPEC §4.3: /admin/...) --------------------------------
 * A source that serves HTTP hands every request under /admin/ to the core
 * and writes back what it answers. The core checks the credentials
 * (admin.token_env: "Authorization: Bearer <token>", compared in constant
 * time; none configured: loopback peers only) and serves the queues and
 * events endpoints. It may block for a while (a replay of a long queue).
 * Requests under /queues/ (queue intake: POST /queues/{name}/messages[/batch])
 * go here too; they are ingress and need no admin token. A 503 answer
 * (a queue at its max_depth, a full disk) should carry Retry-After.
 * `path` is the raw request path ("/admin/queues/dlq/messages", still
 * percent-encoded), `query` the raw query string without '?' (or NULL),
 * `authorization` the Authorization header value (or NULL); all borrowed
 * for the call. Always returns a reply (NULL only when out of memory);
 * the caller frees it with spur_admin_reply_free(). */
struct spur_admin_reply;
SPUR_API struct spur_admin_reply *spur_admin_handle(struct spur_host *host, const char *method,
						     const char *path, const char *query,
						     const char *body, size_t len,
						     const char *authorization /* header value or NULL */,
						     bool loopback_peer);
SPUR_API void spur_admin_reply_free(struct spur_admin_reply *r);
/* The HTTP status code (200, 401, 404, ...). */
SPUR_API unsigned spur_admin_reply_status(const struct spur_admin_reply *r);
/* The body (JSON text; errors are {"message": ...}). Borrowed. */
SPUR_API const char *spur_admin_reply_body(const struct spur_admin_reply *r, size_t *len);
/* "application/json". Borrowed. */
SPUR_API const char *spur_admin_reply_content_type(const struct spur_admin_reply *r);
/* Lambda's error name for an error of the Lambda management API
 * ("ResourceNotFoundException", ...), to send as x-amzn-ErrorType; NULL
 * otherwise. Borrowed (static). */
SPUR_API const char *spur_admin_reply_error_type(const struct spur_admin_reply *r);

#ifdef __cplusplus
}
#endif
#endif
