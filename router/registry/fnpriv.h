/* SPDX-License-Identifier: MIT */
/*
 * fnpriv.h - the bodies of struct spur_fn and struct spur_function,
 * shared by function.c (the registry, lookups: the read side) and
 * version.c + version_store.c (publish, aliases, persistence: the write
 * side). No other file includes this.
 */
#ifndef SPUR_FNPRIV_H
#define SPUR_FNPRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include "function.h"
#include "metrics.h"

struct spur_function {
	struct spur_fn *fn;
	char version[16];		/* "$LATEST", "1", ... */
	struct spur_fn_config *cfg;	/* settings */
	bool owns_cfg;			/* frozen copy (published, or a reload's $LATEST) */
	const struct spur_runtime *rt;
	void *rt_instance;
	void *code;
	struct spur_pool *pool;
	char code_sha[48];		/* base64 SHA-256 of the code snapshot */
	char code_hex[65];
	int64_t code_size;
	char *description;
	char revision[40];
	int64_t modified_ms;
	char *settings_json;		/* what publish compares, and what the store keeps */
	struct spur_inv_metrics metrics;
	struct spur_function *next;	/* every version of the function, for shutdown */
};

struct spur_alias {
	char name[129];
	struct spur_function *primary;
	struct spur_function *extra;	/* or NULL */
	double weight;
	char *description;
	char revision[40];
	bool from_config;		/* config aliases are applied at each load and win */
};

/* What readers see; replaced whole by writers. */
struct fn_view {
	size_t n_versions;
	struct spur_function **versions;	/* published, ascending */
	size_t n_aliases;
	struct spur_alias *aliases;
	struct fn_view *retired;	/* older views, freed at shutdown */
};

struct spur_fn {
	const struct spur_fn_config *cfg;	/* of the current $LATEST */
	char *name;
	char *arn;
	atomic_long inflight;
	atomic_long reserved;		/* -1: none; the API's value wins over config */
	bool reserved_from_api;
	int event_max_retries;		/* -1: config's */
	int event_max_age_s;
	struct spur_function *_Atomic latest;
	struct fn_view *_Atomic view;
	pthread_mutex_t lock;		/* writers */
	int next_version;
	const struct spur_registry_env *env;
	struct spur_hist event_age;	/* async events, when they end */
	struct spur_counter *_Atomic counters[SPUR_FN_COUNTERS];	/* made on first use */
	struct spur_function *all_versions;	/* every version object, for shutdown */
	struct spur_fn *all_next;		/* every function ever made */
	/* provisioned concurrency by qualifier (alias or version) */
	size_t n_prov;
	struct { char qual[129]; int n; } prov[16];
};

/* function.c: make a version object over settings and code. */
struct spur_function *spur_fnpriv_version_new(struct spur_fn *fn,
					      const char *version, struct spur_fn_config *cfg,
					      bool owns_cfg, FILE *err);
void spur_fnpriv_publish_view(struct spur_fn *fn, struct fn_view *v);
struct fn_view *spur_fnpriv_view_copy(const struct fn_view *v);
void spur_fnpriv_cfg_free(struct spur_fn_config *c);

#endif
