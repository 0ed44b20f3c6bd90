/* SPDX-License-Identifier: MIT */
/*
 * spur/option.h - declarative option tables (after Fluent Bit's config_map).
 *
 * One table drives parsing, validation, defaults and help text: nothing
 * parses an option by hand beside it. Each entry writes its value at
 * `offset` in the plugin's options block:
 *
 *   type              C type at offset     config form
 *   SPUR_OPT_STRING   char *               scalar
 *   SPUR_OPT_BOOL     bool                 true | false
 *   SPUR_OPT_INT      int64_t              integer in [min, max], or one
 *                                          word of `choices` ("auto"),
 *                                          stored as -1 (-2, ... for more)
 *   SPUR_OPT_DOUBLE   double               number
 *   SPUR_OPT_DURATION int64_t (ms)         250ms, 3s, 5m, 6h, 1d   in [min, max] ms
 *   SPUR_OPT_SIZE     uint64_t (bytes)     512KiB, 64MiB, 1GiB, 1000 in [min, max]
 *   SPUR_OPT_ENUM     int (index)          one word of `choices` ("a|b|c")
 *   SPUR_OPT_STRLIST  struct spur_strlist  scalar or sequence of scalars
 *
 * Strings are owned by the host and live until the plugin's fini().
 * `def` is the default written in config syntax (NULL: none, zero value).
 * A min == max == 0 means no range check.
 */
#ifndef SPUR_OPTION_H
#define SPUR_OPTION_H

#include "spur/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum spur_opt_type {
	SPUR_OPT_STRING = 1,
	SPUR_OPT_BOOL,
	SPUR_OPT_INT,
	SPUR_OPT_DOUBLE,
	SPUR_OPT_DURATION,
	SPUR_OPT_SIZE,
	SPUR_OPT_ENUM,
	SPUR_OPT_STRLIST,
};

struct spur_strlist {
	size_t n;
	char **v;
};

struct spur_option {
	enum spur_opt_type type;
	const char *name;
	const char *def;
	size_t offset;
	const char *description;
	int64_t min, max;
	const char *choices;	/* SPUR_OPT_ENUM: "text|json"; SPUR_OPT_INT: words
				 * taken for -1, -2, ... ("auto") */
};

/* Parse a duration ("3s") into milliseconds / a size ("64MiB") into bytes.
 * Return 0 or -EINVAL (-ERANGE on overflow). */
SPUR_API int spur_parse_duration(const char *s, int64_t *ms);
SPUR_API int spur_parse_size(const char *s, uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
