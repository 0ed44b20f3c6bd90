/* SPDX-License-Identifier: MIT */
/*
 * layer_core.h - what `spur serve` wires below the queue layer, for the
 * suites of the queue and intake layers: a registry over the test runtime
 * (layer_runtime.h) and the store of a layer_host, its run path (exec)
 * and the outbox, with a metrics registry. The suite adds its own layer
 * on top (mappings, async queue, intake) and stops it first.
 */
#ifndef SPUR_TEST_LAYER_CORE_H
#define SPUR_TEST_LAYER_CORE_H

#include "function.h"
#include "layer_host.h"
#include "layer_runtime.h"

struct spur_exec;
struct spur_metrics;
struct spur_outbox;

struct layer_core {
	struct layer_runtime *rt;
	struct spur_metrics *metrics;
	struct spur_registry_ref registry;
	struct spur_registry_env env;
	struct spur_exec *exec;
	struct spur_outbox *ob;		/* built, not started */
};

/* Over h (config loaded, store open): the registry (versions loaded),
 * exec started, the outbox built. Check assertions on failure. */
void layer_core_start(struct layer_core *c, struct layer_host *h);
/* The rest of spur_host_free's order: the outbox, the store, exec, the
 * registry's functions. Stop and free the suite's own layer first. */
void layer_core_stop(struct layer_core *c, struct layer_host *h);

#endif
