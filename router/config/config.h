/* SPDX-License-Identifier: MIT */
/*
 * config.h - the configuration file, validated once into typed structs.
 *
 * spur_config_load() reads one YAML (or JSON) file with libyaml, checks it
 * against the schema of SPEC §4.2 and fills struct spur_config. Every error
 * is "FILE:LINE: message". Unknown keys are errors; keys that belong to
 * features not built yet are accepted with a warning saying they are
 * ignored. Top-level keys that are neither core keys nor future keys are
 * kept as plugin sections, to be parsed by the option table of the plugin
 * with that name once plugins are loaded (spur_config_plugin_options()).
 *
 * Relative paths are made absolute against the config file's directory.
 * A loaded config is immutable and owned by one struct spur_config.
 */
#ifndef SPUR_CONFIG_H
#define SPUR_CONFIG_H

#include <stdio.h>
#include "spur/option.h"
#include "spur/invoke.h"
#include "log.h"

struct spur_ynode;	/* yaml.h */

struct spur_env_pair {
	char *key;
	char *value;
};

/* idempotency: (SPEC §5) */
struct spur_idem_config {
	char *key;			/* the key source; NULL: none */
	int64_t ttl_ms;			/* default 24h */
};

struct json_t;

struct spur_fn_config {
	char *name;
	int line;			/* where the function is defined */
	char *runtime;			/* "lua", "native", ... */
	char *code;			/* absolute path */
	char *handler;			/* default "handle" */
	int64_t timeout_ms;		/* default 3s, 1ms .. 900s */
	int64_t init_timeout_ms;	/* default 10s */
	uint64_t memory;		/* default 128MiB */
	uint64_t tmp_size;		/* default 512MiB */
	int64_t idle_ttl_ms;		/* default 5m */
	int64_t max_uses;		/* 0 = unlimited */
	int64_t reserved;		/* concurrency.reserved; -1 = unlimited */
	size_t n_env;
	struct spur_env_pair *env;

	/* async: (SPEC §2.2) */
	int64_t max_retries;		/* default 2, 0 .. 10 */
	int64_t max_event_age_ms;	/* default 6h, 1s .. 7d */
	int64_t backoff_base_ms;	/* default 1m */
	double backoff_factor;		/* default 2 */
	int64_t backoff_cap_ms;		/* default 5m */
	int backoff_jitter;		/* 0 none, 1 full */
	struct spur_strlist on_success;	/* destination URIs or names */
	struct spur_strlist on_failure;
	struct spur_idem_config idem;
	const struct spur_ynode *node;	/* the function's mapping: plugin-specific keys */
	/* a published version's plugin-specific keys, frozen at publish (a
	 * JSON object; node is NULL then); NULL for a config function */
	struct json_t *options;
};

/* A named destination (destinations: in config). */
struct spur_dest_config {
	char *name;
	int line;
	char *type;			/* the plugin scheme: mqtt, http, zmq, file */
	char *options;			/* the other keys as a JSON object text */
	const struct spur_ynode *node;	/* the entry's mapping (borrowed from the document) */
	void *settings;			/* parsed by the plugin's table at load, or NULL */
};

/* A named internal queue (queues: in config), with SQS semantics. */
struct spur_queue_config {
	char *name;
	int line;
	int64_t visibility_timeout_ms;	/* lease of a received message; default 30s */
	int64_t max_receive;		/* receives before redrive; 0 = never */
	char *dead_letter;		/* queue for redriven messages, or NULL */
	int64_t retention_ms;		/* messages older are dropped; default 4d */
	int64_t max_depth;		/* messages held at most; 0 = no limit */
};

/* An event-source mapping (mappings: in config, SPEC §2.3). */
struct spur_mapping_config {
	int line;
	char *source;			/* "queue://NAME" as written */
	char *queue;			/* NAME */
	char *function;			/* "fn[:qual]" */
	int64_t batch_size;		/* 1 .. 10000, default 10 */
	int64_t batch_window_ms;	/* 0 .. 300s, default 0 */
	int64_t max_concurrency;	/* parallel batches, default 2 */
	bool report_batch_item_failures;
	bool enabled;			/* default true */
	struct spur_strlist filters;	/* EventBridge patterns as JSON object texts (<= 5) */
	struct spur_strlist on_failure;	/* destinations of RetryAttemptsExhausted records */
};

struct spur_route_config {
	int line;
	char *kind;			/* "http", "mqtt", ... */
	char *match;			/* "POST /hooks/x" or a topic filter */
	char *target;			/* "fn[:qual]"; "queue://NAME" for a queue route */
	char *queue;			/* `queue: NAME` instead of a function, or NULL */
	enum spur_mode mode;		/* http default sync, mqtt default async */
	struct spur_idem_config idem;	/* overrides the function's when key is set */
	const struct spur_ynode *node;	/* the route's mapping: source-specific keys */
};

/* A top-level section handed to a plugin's option table. */
struct spur_plugin_section {
	char *name;
	int line;
	const struct spur_ynode *node;	/* borrowed from the config's document */
	bool claimed;			/* set when a loaded plugin parsed it */
};

struct spur_config {
	char *file;			/* as given */
	char *dir;			/* absolute directory of the file */
	char *state_dir;		/* absolute; default "<dir>/var" */
	enum spur_log_level log_level;	/* default info */
	enum spur_log_format log_format;
	struct spur_strlist plugin_dirs;	/* absolute */
	char *arn_region;		/* default us-east-1 */
	char *arn_account;		/* default 000000000000 */
	char *admin_token_env;		/* default SPUR_ADMIN_TOKEN */

	size_t n_functions;
	struct spur_fn_config *functions;
	size_t n_routes;
	struct spur_route_config *routes;
	size_t n_queues;
	struct spur_queue_config *queues;
	size_t n_mappings;
	struct spur_mapping_config *mappings;
	size_t n_dests;
	struct spur_dest_config *dests;
	char *store_kind;		/* store.kind, default "sqlite" */
	size_t n_sections;
	struct spur_plugin_section *sections;

	struct spur_ydoc *doc;		/* keeps the sections' nodes alive */
	struct spur_config_mem *mem;	/* private: owns every string and list above */
};

/* Load and validate. On failure returns NULL and writes one or more
 * "FILE:LINE: message" lines to `err` (warnings go there too, prefixed
 * "FILE:LINE: warning: ", also on success). */
struct spur_config *spur_config_load(const char *path, FILE *err);
void spur_config_free(struct spur_config *cfg);

const struct spur_fn_config *spur_config_function(const struct spur_config *cfg,
						  const char *name);
const struct spur_queue_config *spur_config_queue(const struct spur_config *cfg,
						  const char *name);
const struct spur_dest_config *spur_config_destination(const struct spur_config *cfg,
						       const char *name);

/* Parse a plugin's options from the section named `name` (absent: all
 * defaults) into `out` (options_size bytes, zeroed by the caller), using the
 * plugin's table. Marks the section claimed. Returns 0, or -EINVAL after
 * writing "FILE:LINE: message" lines to `err`. Strings written into `out`
 * are owned by the config and live as long as it does. */
int spur_config_plugin_options(struct spur_config *cfg, const char *name,
			       const struct spur_option *table, void *out, FILE *err);

/* Parse a named destination's keys (all but `type`) with its plugin's
 * table into `out`; errors name the config line. 0 or -EINVAL. */
int spur_config_destination_options(struct spur_config *cfg, const struct spur_dest_config *d,
				    const struct spur_option *table, void *out, FILE *err);

/* The keys of a route or a function that the core left to the plugin
 * serving it: walk the mapping `n` with the core's keys (skipped: checked
 * at load) and the plugin's table `ext` (check only; "a.b" names key b of
 * a nested mapping a; NULL: the plugin adds none). Unknown keys, types and
 * ranges are FILE:LINE errors. 0 or -EINVAL. */
enum spur_config_keys { SPUR_KEYS_ROUTE, SPUR_KEYS_FUNCTION };
int spur_config_check_plugin_keys(struct spur_config *cfg, const struct spur_ynode *n,
				  int line, const char *owner, enum spur_config_keys which,
				  const struct spur_option *ext, FILE *err);

/* After all plugins parsed their sections: an error for each section that
 * no plugin claimed ("FILE:LINE: unknown key 'x'"). Returns 0 or -EINVAL. */
int spur_config_check_unclaimed(const struct spur_config *cfg, FILE *err);

/* Print an option table as help text (name, type, default, description).
 * Defined in option.c, beside the walker that reads the same tables. */
void spur_option_help(const struct spur_option *table, FILE *out);

/* Is `key` one of the function keys the core itself reads (timeout, env,
 * async, ...)? The others belong to the function's runtime plugin. */
bool spur_config_function_key_is_core(const char *key);

#endif
