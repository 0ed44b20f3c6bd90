/* SPDX-License-Identifier: MIT */
/*
 * config_priv.h - what config.c and config_sections.c share: the unit
 * constants and the LEAF/CHECK/SECTION/CUSTOM/END initialisers of the
 * schema tables, the string checks behind those tables (static inline,
 * so every table points at a private copy and nothing is exported), and
 * the section parsers and cross-checks config.c calls. No other file
 * includes this.
 */
#ifndef SPUR_CONFIG_PRIV_H
#define SPUR_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "schema.h"

#define MS_S	INT64_C(1000)
#define MS_D	(24 * 60 * 60 * MS_S)
#define MIB	(INT64_C(1024) * 1024)
#define GIB	(1024 * MIB)

/* ---- checks for strings ------------------------------------------------- */

static inline bool all_of(const char *s, const char *extra, size_t maxlen)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || (extra && strchr(extra, *s))))
			return false;
	return n > 0 && n <= maxlen;
}

static inline bool is_fn_name(const char *s)
{
	return all_of(s, "_-", 64);
}

static inline bool is_word(const char *s)
{
	return all_of(s, "_-.", 64);
}

static inline bool is_env_name(const char *s)
{
	return all_of(s, "_", 255) && !(s[0] >= '0' && s[0] <= '9');
}

static inline bool is_region(const char *s)
{
	return all_of(s, "-", 64);
}

static inline bool is_account(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n == 12;
}

/* "name", "name:$LATEST", "name:7", "name:alias" */
static inline bool is_target(const char *s)
{
	const char *colon = strchr(s, ':');
	char name[65];
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	if (n == 0 || n > 64)
		return false;
	memcpy(name, s, n);
	name[n] = '\0';
	if (!is_fn_name(name))
		return false;
	if (!colon)
		return true;
	return strcmp(colon + 1, "$LATEST") == 0 || all_of(colon + 1, "_-", 128);
}

/* A destination: file://PATH, queue://NAME, function://NAME[:QUAL], or a
 * scheme served by a destination plugin (checked when plugins load), or a
 * name from destinations: (later). */
static inline bool is_destination(const char *s)
{
	const char *sep = strstr(s, "://");

	if (!sep)
		return is_word(s);
	if (sep == s || !sep[3])
		return false;
	if (strncmp(s, "function://", 11) == 0)
		return is_target(s + 11);
	if (strncmp(s, "queue://", 8) == 0)
		return is_fn_name(s + 8);
	return true;
}

static inline bool is_idem_key(const char *s)
{
	return strcmp(s, "cloudevents") == 0 || strcmp(s, "webhook") == 0 ||
	       strcmp(s, "payload") == 0 ||
	       (strncmp(s, "header:", 7) == 0 && s[7]) ||
	       (strncmp(s, "mqtt:", 5) == 0 && s[5]) ||
	       strncmp(s, "json:/", 6) == 0;
}

/* ---- table initialisers ------------------------------------------------- */

#define LEAF(t, n, d, st, m, desc, lo, hi, ...) {				\
	.opt = { .type = (t), .name = (n), .def = (d), .offset = offsetof(st, m), \
		 .description = (desc), .min = (lo), .max = (hi) },		\
	.kind = SPUR_FIELD_LEAF, __VA_ARGS__ }
/* A key that is only checked (nothing stores it yet). */
#define CHECK(t, n, desc, lo, hi, ...) {					\
	.opt = { .type = (t), .name = (n), .description = (desc),		\
		 .min = (lo), .max = (hi) },					\
	.kind = SPUR_FIELD_LEAF, .check_only = true, __VA_ARGS__ }
#define SECTION(n, table, desc, ...) {						\
	.opt = { .name = (n), .description = (desc) },				\
	.kind = SPUR_FIELD_SECTION, .sub = (table), __VA_ARGS__ }
#define CUSTOM(n, fn, desc, ...) {						\
	.opt = { .name = (n), .description = (desc) },				\
	.kind = SPUR_FIELD_CUSTOM, .parse = (fn), __VA_ARGS__ }
#define END { .opt = { .name = NULL } }

/* ---- shared by the two files ------------------------------------------- */

/* config.c: the section's n items as a zeroed array of `size`-byte
 * elements, or NULL (reported) when the node is not of `kind`, or
 * null/empty. */
void *spur_config_section_array(struct spur_walk *w, const struct spur_ynode *v,
				enum spur_ynode_kind kind, size_t size, const char *what);

/* config_sections.c: the custom kinds of queues:, destinations: and mappings:. */
void spur_config_parse_queues(struct spur_walk *w, const struct spur_ypair *p, void *base,
			      const struct spur_field *f);
void spur_config_parse_destinations(struct spur_walk *w, const struct spur_ypair *p,
				    void *base, const struct spur_field *f);
void spur_config_parse_mappings(struct spur_walk *w, const struct spur_ypair *p, void *base,
				const struct spur_field *f);
/* config_sections.c: after the walk, destination lists of functions name
 * what exists; and dead_letter queues, mappings and route queues. */
void spur_config_check_destinations(struct spur_walk *w);
void spur_config_check_queues(struct spur_walk *w);

#endif
