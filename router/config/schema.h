/* SPDX-License-Identifier: MIT */
/*
 * schema.h - the table-driven option walker shared by config.c,
 * config_sections.c and option.c.
 * Internal to the router: plugins see only the public spur/option.h.
 *
 * A leaf setting is a struct spur_option (the SDK's own type) wrapped in a
 * struct spur_field that adds nested sections, custom kinds and flags.
 * option.c implements the walker, the value parsers, the messages and the
 * config's memory pool; config.c and config_sections.c hold the schema
 * tables of SPEC §4.2 and the custom kinds (functions, routes, env,
 * aliases; queues, destinations, mappings).
 *
 * Everything here runs on the loading thread, inside one config load or
 * one spur_config_plugin_options() call; a struct spur_walk lives on the
 * stack of that call.
 */
#ifndef SPUR_SCHEMA_H
#define SPUR_SCHEMA_H

#include <stdarg.h>
#include <stdbool.h>
#include "config.h"
#include "yaml.h"

struct spur_walk;
struct spur_field;

/* A custom kind: parse pair `p` into base (checks only when !w->store). */
typedef void (*spur_field_parse_fn)(struct spur_walk *w, const struct spur_ypair *p,
				    void *base, const struct spur_field *f);
/* Extra validity check of a string value. */
typedef bool (*spur_field_check_fn)(const char *s);
/* A key no field names: return true when handled (else "unknown key"). */
typedef bool (*spur_field_unknown_fn)(struct spur_walk *w, const struct spur_ypair *p);

enum spur_field_kind {
	SPUR_FIELD_LEAF = 0,	/* opt.type says how */
	SPUR_FIELD_SECTION,	/* a mapping parsed with `sub`, into the same base */
	SPUR_FIELD_CUSTOM,	/* parse() does it */
};

#define SPUR_FIELD_REQUIRED	0x1u	/* error when absent */
#define SPUR_FIELD_FUTURE	0x2u	/* not implemented yet: warn, check, don't store */
#define SPUR_FIELD_PATH		0x4u	/* string(s) made absolute against the config dir */
#define SPUR_FIELD_EXISTS	0x8u	/* ... and the path must exist */

struct spur_field {
	struct spur_option opt;
	enum spur_field_kind kind;
	unsigned flags;
	const struct spur_field *sub;	/* SPUR_FIELD_SECTION; ends with a NULL name */
	spur_field_parse_fn parse;	/* SPUR_FIELD_CUSTOM */
	spur_field_check_fn check;	/* strings: extra validity check */
	const char *what;		/* ... described: "an environment variable name" */
	bool check_only;		/* validated, never stored (opt.offset is meaningless) */
};

struct spur_walk {
	struct spur_config *cfg;	/* borrowed: file and dir for messages and paths */
	FILE *err;			/* borrowed */
	int errors;
	bool store;			/* false inside not-implemented-yet keys */
};

/* ---- the config's memory pool (option.c) ---- */

/* Zeroed memory owned by cfg until spur_option_mem_free(cfg); NULL on OOM. */
void *spur_option_mem_alloc(struct spur_config *cfg, size_t n);
char *spur_option_mem_strdup(struct spur_config *cfg, const char *s);
void spur_option_mem_free(struct spur_config *cfg);

/* ---- messages: "FILE:LINE: message" on w->err ---- */

/* An error; counts in w->errors, stops printing after a limit. */
__attribute__((format(printf, 3, 4)))
void spur_option_report(struct spur_walk *w, int line, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
void spur_option_warn(struct spur_walk *w, int line, const char *fmt, ...);
void spur_option_oom(struct spur_walk *w, int line);

/* The name in names[0..n) within edit distance 2 of key (not equal), or NULL. */
const char *spur_option_closest(const char *key, const char *const *names, size_t n);
/* "unknown key 'x' (did you mean 'y'?)" against the names of `table`. */
void spur_option_unknown_key(struct spur_walk *w, const struct spur_ypair *p,
			     const struct spur_field *table);

/* ---- the walker ---- */

/* Parse the value of one leaf field into base + f->opt.offset (base NULL
 * or !w->store: check only). */
void spur_option_parse_leaf(struct spur_walk *w, const struct spur_ypair *p, void *base,
			    const struct spur_field *f);
/* Parse mapping `n` (NULL or null: empty) with `table` into base: defaults
 * first, then each key, then missing required keys. `line` and `owner`
 * name the mapping's owner in messages; on_unknown may claim other keys. */
void spur_option_walk(struct spur_walk *w, const struct spur_ynode *n,
		      const struct spur_field *table, void *base, int line,
		      const char *owner, spur_field_unknown_fn on_unknown);

#endif
