/* SPDX-License-Identifier: MIT */
/*
 * host.h - the router: one config, its plugins, its functions.
 *
 * A struct spur_host is what `spur serve` runs and what plugins see as
 * their host. It owns the config, the loaded plugins and their instances,
 * the function registry with its context pools, the idle reaper and the
 * log. Built in one go by spur_host_new (config → plugins → options →
 * instances → code), started and stopped around the serving loop.
 * There is no global host: several can live in one process (tests).
 */
#ifndef SPUR_HOST_H
#define SPUR_HOST_H

#include <stdio.h>
#include "spur/plugin.h"
#include "config.h"
#include "log.h"

struct spur_registry;
struct spur_async;
struct spur_exec;

/* Build a host from a loaded config (ownership moves to the host, also on
 * failure). Errors go to `err` as FILE:LINE lines; returns NULL then. */
struct spur_host *spur_host_new(struct spur_config *cfg, FILE *err);
void spur_host_free(struct spur_host *h);

/* Start the reaper and every source plugin. */
int spur_host_start(struct spur_host *h);
/* Stop every source: no new invocations start. spur_host_free() then
 * waits for the running ones (each source's fini joins its threads). */
void spur_host_stop(struct spur_host *h);

/* `spur check`: run INIT of every function once in a throwaway context.
 * Prints FILE:LINE lines on `err`; returns the number of failures. */
int spur_host_check(struct spur_host *h, FILE *err);
/* `spur plugins`: what is loaded, with each plugin's options. */
void spur_host_list_plugins(struct spur_host *h, FILE *out);

/* Hot reload (SIGHUP, POST /admin/reload): load the config again, build
 * a new registry over it (INIT of every changed $LATEST first) and swap
 * it in whole; on any error the running config stays. 0, or < 0 with the
 * errors (FILE:LINE lines) in `why`. */
int spur_host_reload(struct spur_host *h, char *why, size_t whylen);

/* For main.c and the tests: the current registry, the async queue (NULL
 * when no store is open), the open store (NULL), the log and the config. */
struct spur_registry *spur_host_registry(struct spur_host *h);
struct spur_async *spur_host_async(struct spur_host *h);
struct spur_exec *spur_host_exec(struct spur_host *h);
const struct spur_store *spur_host_store(struct spur_host *h, void **instance);
const struct spur_log *spur_host_log(const struct spur_host *h);
const struct spur_config *spur_host_config(const struct spur_host *h);

#endif
