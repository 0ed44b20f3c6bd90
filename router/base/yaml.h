/* SPDX-License-Identifier: MIT */
/*
 * yaml.h - a YAML (or JSON) file as a small tree of nodes with line numbers.
 *
 * spur_yaml_load() reads one file with libyaml's event parser and builds a
 * tree of scalars, mappings and sequences; every node and every mapping key
 * keeps its 1-based line and column so that the config checker can say
 * "FILE:LINE: message". The tree is plain data owned by one struct
 * spur_ydoc and is immutable once loaded; any thread may read it.
 *
 * Rules beyond plain libyaml:
 *   - exactly one document (an empty file is one empty mapping);
 *   - a mapping key is a scalar, and a key appears once per mapping
 *     ("FILE:LINE: duplicate key 'x'");
 *   - anchors and aliases are resolved: an alias becomes a copy of the
 *     anchored node (lines are those of the original). An alias may only
 *     name a node that is complete, so recursive aliases fail as "unknown
 *     anchor"; copies count against a node budget (SPUR_YAML_MAX_NODES) so
 *     that "billion laughs" documents are refused. The merge key "<<" is not
 *     special: it is an ordinary key (and the config rejects it as unknown);
 *   - tags are ignored, except that "!!str" marks a scalar as quoted;
 *   - nesting deeper than SPUR_YAML_MAX_DEPTH and NUL bytes inside strings
 *     are refused.
 * Cost: one allocation per node and per string; the whole file is in memory.
 */
/* Only yaml.c wants libyaml's own header, whose name this file shadows. */
#if defined(SPUR_YAML_LIBYAML) && !defined(SPUR_YAML_LIBYAML_INCLUDED)
#define SPUR_YAML_LIBYAML_INCLUDED
#include_next <yaml.h>
#endif

#ifndef SPUR_YAML_H
#define SPUR_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SPUR_YAML_MAX_DEPTH 64
#define SPUR_YAML_MAX_NODES 200000

enum spur_ynode_kind {
	SPUR_YNODE_SCALAR = 0,
	SPUR_YNODE_MAP,
	SPUR_YNODE_SEQ,
};

struct spur_ynode;

struct spur_ypair {
	const char *key;		/* NUL-terminated, never NULL */
	int line, col;			/* of the key, 1-based */
	struct spur_ynode *value;
};

struct spur_ynode {
	enum spur_ynode_kind kind;
	int line, col;			/* 1-based */
	/* SPUR_YNODE_SCALAR */
	const char *text;		/* NUL-terminated, never NULL */
	size_t len;
	bool quoted;			/* written '...', "...", |, > or !!str */
	/* SPUR_YNODE_MAP: n pairs in file order; SPUR_YNODE_SEQ: n items */
	size_t n;
	struct spur_ypair *pairs;
	struct spur_ynode **items;
};

struct spur_ydoc;

/* Load `path`. On failure returns NULL after writing "FILE:LINE: message"
 * lines (FILE as given) to `err`. Caller frees with spur_yaml_free(). */
struct spur_ydoc *spur_yaml_load(const char *path, FILE *err);
/* The same from memory; `name` stands for FILE in messages. */
struct spur_ydoc *spur_yaml_load_string(const char *name, const char *text,
					size_t len, FILE *err);
void spur_yaml_free(struct spur_ydoc *doc);

/* The document's root node (borrowed; never NULL). */
const struct spur_ynode *spur_yaml_root(const struct spur_ydoc *doc);

/* The pair whose key is `key` in a mapping, or NULL (also if n is not a
 * mapping). Borrowed. */
const struct spur_ypair *spur_yaml_map_find(const struct spur_ynode *n, const char *key);
/* A plain (unquoted) empty, "~" or "null" scalar. */
bool spur_yaml_is_null(const struct spur_ynode *n);
/* "a string", "a mapping", "a list": for messages. */
const char *spur_yaml_kind_name(const struct spur_ynode *n);

/* Do a and b hold the same tree (kinds, scalar texts, keys in order)?
 * Lines and quoting do not count. NULLs are equal only to each other. */
bool spur_yaml_equal(const struct spur_ynode *a, const struct spur_ynode *b);

/* A scalar under a mapping by dotted path ("verify.scheme"), or NULL. */
const char *spur_yaml_path(const struct spur_ynode *n, const char *path);

#endif
