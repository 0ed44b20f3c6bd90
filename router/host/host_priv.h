/* SPDX-License-Identifier: MIT */
/*
 * host_priv.h - struct spur_host, shared by the composition root
 * (host.c) and the SDK's host accessors (sdk.c).
 */
#ifndef SPUR_HOST_PRIV_H
#define SPUR_HOST_PRIV_H

#include <pthread.h>
#include <stdbool.h>

#include "admin.h"
#include "function.h"
#include "host.h"
#include "loader.h"
#include "queue.h"

struct spur_route {
	const struct spur_route_config *cfg;
};

struct ready_entry {
	const void *who;
	bool ready;
	char why[128];
};

struct spur_host {
	struct spur_config *cfg;
	struct spur_log log;
	struct spur_plugin_set *plugins;
	struct spur_metrics *metrics;

	/* what can run, and where: the registry is replaced whole by a reload */
	struct spur_registry_ref registry;
	struct spur_registry_env reg_env;
	struct retired { struct spur_registry *registry; struct spur_config *config; } *retired;
	size_t n_retired, cap_retired;	/* what reloads replaced, freed at shutdown */
	pthread_mutex_t reload_lock;
	struct spur_exec *exec;
	struct spur_intake *intake;
	struct spur_workers *workers;	/* runs moved off event loops */
	struct spur_api api;

	size_t n_routes;
	struct spur_route *routes;

	/* durable state: the store plugin chosen by store.kind */
	struct spur_loaded_plugin *store_plugin;
	bool store_open;
	struct spur_outbox *outbox;
	struct spur_async *async;
	struct spur_mappings *mappings;
	struct spur_builtin_dests builtins;
	struct spur_queue_depth depth;

	pthread_mutex_t ready_lock;
	size_t n_ready;
	struct ready_entry ready[32];
};

#endif
