/* SPDX-License-Identifier: MIT */
/*
 * sdk.c - every SPUR_API call a plugin makes on its struct spur_host: the
 * log, config paths, readiness, routes, spur_invoke, spur_reject, queue
 * sends, admin requests and metrics. Each one forwards to the module that
 * does the work; like Mosquitto's plugin_public.c, the calls plugins make
 * live in one file.
 * Any thread: they read immutable state, or (readiness) take a lock that
 * only plugins reporting a state change and /readyz touch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "host_priv.h"
#include "invoke.h"
#include "mapping.h"
#include "metrics.h"
#include "util.h"
#include "yaml.h"

SPUR_API void spur_log(struct spur_host *host, enum spur_log_level level,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	spur_log_vwrite(&host->log, level, NULL, fmt, ap);
	va_end(ap);
}

SPUR_API bool spur_log_enabled(struct spur_host *host, enum spur_log_level level)
{
	return level <= host->log.level;
}

SPUR_API const char *spur_host_config_dir(struct spur_host *host)
{
	return host->cfg->dir;
}

SPUR_API const char *spur_host_state_dir(struct spur_host *host)
{
	return host->cfg->state_dir;
}

SPUR_API const char *spur_config_file(struct spur_host *host)
{
	return host->cfg->file;
}

SPUR_API void spur_host_set_ready(struct spur_host *host, const void *who, bool ready,
				  const char *why)
{
	pthread_mutex_lock(&host->ready_lock);
	struct ready_entry *e = NULL;
	for (size_t i = 0; i < host->n_ready; i++)
		if (host->ready[i].who == who)
			e = &host->ready[i];
	if (!e && host->n_ready < SPUR_ARRAY_SIZE(host->ready)) {
		e = &host->ready[host->n_ready++];
		e->who = who;
	}
	if (e) {
		e->ready = ready;
		snprintf(e->why, sizeof(e->why), "%s", why ? why : "not ready");
	}
	pthread_mutex_unlock(&host->ready_lock);
}

SPUR_API int spur_host_ready(struct spur_host *host, char *why, size_t len)
{
	int ready = 1;
	if (host->store_open && host->store_plugin->desc.store->writable &&
	    !host->store_plugin->desc.store->writable(host->store_plugin->instance, why, len))
		return 0;	/* disk full, queue at its depth: async intake answers 503 */
	pthread_mutex_lock(&host->ready_lock);
	for (size_t i = 0; i < host->n_ready; i++) {
		if (!host->ready[i].ready) {
			ready = 0;
			snprintf(why, len, "%s", host->ready[i].why);
			break;
		}
	}
	pthread_mutex_unlock(&host->ready_lock);
	return ready;
}

SPUR_API size_t spur_host_route_count(struct spur_host *host)
{
	return host->n_routes;
}

SPUR_API const struct spur_route *spur_host_route(struct spur_host *host, size_t i)
{
	return i < host->n_routes ? &host->routes[i] : NULL;
}

SPUR_API const char *spur_route_kind(const struct spur_route *r)
{
	return r->cfg->kind;
}

SPUR_API const char *spur_route_match(const struct spur_route *r)
{
	return r->cfg->match;
}

SPUR_API const char *spur_route_target(const struct spur_route *r)
{
	return r->cfg->target;
}

SPUR_API enum spur_mode spur_route_mode(const struct spur_route *r)
{
	return r->cfg->mode;
}

SPUR_API const char *spur_route_option(const struct spur_route *r, const char *key)
{
	return spur_yaml_path(r->cfg->node, key);
}

SPUR_API int spur_reject(struct spur_host *host, const struct spur_route *route,
			 const char *reason, const void *data, size_t len)
{
	const char *t = route->cfg->target;
	size_t n = strcspn(t, ":");
	if (route->cfg->queue)
		return -ENOENT;	/* a queue route: no function, no on_failure */
	struct spur_fn *fn = spur_registry_find(spur_registry_current(&host->registry), t, n);
	if (!fn || !host->async)
		return -ENOENT;
	return spur_async_reject(host->async, fn, reason, data, len);
}

SPUR_API int spur_route_line(const struct spur_route *r)
{
	return r->cfg->line;
}

/* ABI 1.0's struct spur_attr, the stride of a caller that names none. */
#define ATTR_SIZE_1_0 (offsetof(struct spur_attr, value_len) + sizeof(size_t))

/* args as this build lays them out: the caller's own when it is (no
 * copy), else a copy in *a with its attributes re-laid in *attrs (the
 * caller frees it). False when out of memory. */
static bool native_args(const struct spur_invoke_args *args, struct spur_invoke_args *a,
			struct spur_attr **attrs, const struct spur_invoke_args **out)
{
	bool has_attrs = args->struct_size >= offsetof(struct spur_invoke_args, n_attrs) +
					       sizeof(args->n_attrs);
	size_t stride = SPUR_HAS_MEMBER(args, struct spur_invoke_args, attr_size) &&
			args->attr_size ? args->attr_size : ATTR_SIZE_1_0;
	*attrs = NULL;
	*out = args;
	if (!has_attrs || !args->attrs || !args->n_attrs || stride == sizeof(struct spur_attr))
		return true;
	/* attributes of another layout: read with the caller's stride */
	*attrs = calloc(args->n_attrs, sizeof(**attrs));
	if (!*attrs)
		return false;
	for (size_t i = 0; i < args->n_attrs; i++)
		memcpy(&(*attrs)[i], (const char *)args->attrs + i * stride,
		       stride < sizeof(**attrs) ? stride : sizeof(**attrs));
	memset(a, 0, sizeof(*a));
	memcpy(a, args, args->struct_size < sizeof(*a) ? args->struct_size : sizeof(*a));
	a->struct_size = sizeof(*a);
	a->attrs = *attrs;
	a->attr_size = sizeof(**attrs);
	*out = a;
	return true;
}

static const struct spur_route_config *args_route(const struct spur_invoke_args *args)
{
	bool has_route = args->struct_size >= offsetof(struct spur_invoke_args, route) +
					       sizeof(args->route);
	return has_route && args->route ? args->route->cfg : NULL;
}

SPUR_API struct spur_result *spur_invoke(struct spur_host *host,
					 const struct spur_invoke_args *args)
{
	struct spur_invoke_args copy;
	const struct spur_invoke_args *a;
	struct spur_attr *attrs;
	if (!native_args(args, &copy, &attrs, &a))
		return NULL;
	struct spur_result *r = spur_intake_invoke(host->intake, a, args_route(args));
	free(attrs);
	return r;
}

SPUR_API bool spur_invoke_start(struct spur_host *host, const struct spur_invoke_args *args,
				int64_t budget_ns, spur_invoke_done_fn *done, void *cookie,
				struct spur_result **now)
{
	struct spur_invoke_args copy;
	const struct spur_invoke_args *a;
	struct spur_attr *attrs;
	if (!native_args(args, &copy, &attrs, &a)) {
		*now = NULL;
		return true;
	}
	/* the intake copies the attributes it keeps, so ours go now */
	bool ended = spur_intake_start(host->intake, a, args_route(args), budget_ns, done,
				       cookie, now);
	free(attrs);
	return ended;
}

SPUR_API int spur_queue_send(struct spur_host *host, const char *queue, const void *body,
			     size_t len, char id_out[37])
{
	const char *b = body ? body : "";
	char ids[1][37];
	int rc = spur_queue_put(host->mappings, queue, &b, &len, 1, ids);
	if (rc == 0 && id_out)
		memcpy(id_out, ids[0], 37);
	return rc;
}

SPUR_API struct spur_admin_reply *spur_admin_handle(struct spur_host *host, const char *method,
						     const char *path, const char *query,
						     const char *body, size_t len,
						     const char *authorization, bool loopback_peer)
{
	return spur_api_handle(&host->api, method, path, query, body, len, authorization,
			       loopback_peer);
}

SPUR_API struct spur_counter *spur_counter_get(struct spur_host *host, const char *name,
					       const char *help, const char *labels)
{
	return spur_metrics_counter(host->metrics, name, help, labels);
}

SPUR_API struct spur_gauge *spur_gauge_get(struct spur_host *host, const char *name,
					   const char *help, const char *labels)
{
	return spur_metrics_gauge(host->metrics, name, help, labels);
}

SPUR_API char *spur_metrics_render(struct spur_host *host, size_t *len)
{
	return spur_metrics_render_text(host->metrics, len);
}
