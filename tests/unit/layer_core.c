/* SPDX-License-Identifier: MIT */
/*
 * layer_core.c - the registry, run path and outbox of a layer suite
 * (see layer_core.h), wired as host.c wires them.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "layer_core.h"
#include "metrics.h"
#include "outbox.h"
#include "run.h"
#include "version.h"

void layer_core_start(struct layer_core *c, struct layer_host *h)
{
	const struct spur_config *cfg = h->cfg;
	c->rt = layer_runtime_new();
	c->metrics = spur_metrics_new();
	c->exec = spur_exec_new(&(struct spur_exec_env){
		.registry = &c->registry, .log = &h->log, .state_dir = cfg->state_dir,
		.arn_region = cfg->arn_region, .arn_account = cfg->arn_account,
	});
	ck_assert(c->rt && c->metrics && c->exec);
	c->env = (struct spur_registry_env){
		.config_file = cfg->file, .state_dir = cfg->state_dir, .log = &h->log,
		.metrics = c->metrics, .runtime = layer_runtime_lookup, .runtime_ud = c->rt,
		.pools = &spur_exec_pool_ops, .pools_ud = c->exec,
		.store = h->store, .store_instance = h->si,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	struct spur_registry *reg = spur_registry_new(&c->env, cfg, NULL, err);
	int rc = reg ? spur_versions_load(reg, err) : -1;
	fclose(err);
	ck_assert_msg(reg && rc == 0, "%s", buf ? buf : "");
	free(buf);
	atomic_store(&c->registry.current, reg);
	ck_assert_int_eq(spur_exec_start(c->exec), 0);
	c->ob = spur_outbox_new(&(struct spur_outbox_env){
		.store = h->store, .store_instance = h->si, .log = &h->log,
		.metrics = c->metrics, .config = cfg,
	});
	ck_assert_ptr_nonnull(c->ob);
}

void layer_core_stop(struct layer_core *c, struct layer_host *h)
{
	spur_outbox_stop(c->ob);
	spur_outbox_free(c->ob);
	layer_store_close(h);
	spur_exec_stop(c->exec);
	struct spur_registry *reg = spur_registry_current(&c->registry);
	spur_fn_free_all(spur_registry_all(reg));
	spur_registry_free(reg);
	spur_exec_free(c->exec);
	layer_runtime_free(c->rt);
	spur_metrics_free(c->metrics);
}
