/* SPDX-License-Identifier: MIT */
/*
 * option.c - the table-driven option walker and its value formats.
 *
 * Owns what config.c's schema and plugins' option tables share (schema.h):
 * spur_option_walk() applies defaults, parses every key of a mapping with
 * its struct spur_field, reports unknown keys with a "did you mean"
 * suggestion (Levenshtein distance <= 2, words up to 64 bytes), type and
 * range errors and missing required keys. Keys of features not built yet
 * are checked but not stored, with one warning each. Errors do not stop a
 * walk: each is written as "FILE:LINE: message" (up to MAX_ERRORS).
 *
 * Value formats (also the public spur_parse_duration/spur_parse_size):
 *   duration  "0", or one or more <digits><unit>, unit ms|s|m|h|d, summed:
 *             "250ms", "3s", "1h30m". No sign, space, fraction, or bare
 *             number ("5" could be s or ms). Overflow of int64 ms: -ERANGE.
 *   size      <digits> bytes, or <digits> KiB|MiB|GiB|TiB (powers of 1024).
 *             Decimal units (KB, MB, GB) and lower case are refused.
 *             Overflow: -ERANGE (option values must also fit int64).
 *   bool      plain true | false; int/number: unquoted ("3" is a string).
 *   enum      one word of "a|b|c", stored as its index.
 *   strlist   one scalar or a sequence of scalars; null is the empty list.
 *   paths     made absolute against the config's directory and normalised
 *             lexically ("//", "/./", "x/.."); symlinks are not resolved.
 * Defaults are parsed like values but skip range checks.
 *
 * Also owns the config's memory pool: every string and list a walk stores
 * is one calloc chained to cfg->mem, freed at once by spur_option_mem_free().
 * Runs on the loading thread; no global state.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schema.h"

#define MAX_ERRORS 50
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MS_S	INT64_C(1000)
#define MS_M	(60 * MS_S)
#define MS_H	(60 * MS_M)
#define MS_D	(24 * MS_H)

/* ---- memory pool ------------------------------------------------------ */

struct spur_config_mem {
	struct spur_config_mem *next;
	alignas(max_align_t) unsigned char data[];
};

void *spur_option_mem_alloc(struct spur_config *cfg, size_t n)
{
	struct spur_config_mem *m = calloc(1, sizeof(*m) + n);

	if (!m)
		return NULL;
	m->next = cfg->mem;
	cfg->mem = m;
	return m->data;
}

char *spur_option_mem_strdup(struct spur_config *cfg, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = spur_option_mem_alloc(cfg, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void spur_option_mem_free(struct spur_config *cfg)
{
	struct spur_config_mem *m, *next;

	for (m = cfg ? cfg->mem : NULL; m; m = next) {
		next = m->next;
		free(m);
	}
	if (cfg)
		cfg->mem = NULL;
}

/* ---- messages and "did you mean" --------------------------------------- */

__attribute__((format(printf, 4, 0)))
static void vmsg(struct spur_walk *w, int line, const char *prefix, const char *fmt,
		 va_list ap)
{
	fprintf(w->err, "%s:%d: %s", w->cfg->file, line, prefix);
	vfprintf(w->err, fmt, ap);
	fputc('\n', w->err);
}

void spur_option_report(struct spur_walk *w, int line, const char *fmt, ...)
{
	va_list ap;

	if (++w->errors > MAX_ERRORS) {
		if (w->errors == MAX_ERRORS + 1)
			fprintf(w->err, "%s: too many errors, stopping here\n", w->cfg->file);
		return;
	}
	va_start(ap, fmt);
	vmsg(w, line, "", fmt, ap);
	va_end(ap);
}

void spur_option_warn(struct spur_walk *w, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(w, line, "warning: ", fmt, ap);
	va_end(ap);
}

void spur_option_oom(struct spur_walk *w, int line)
{
	spur_option_report(w, line, "out of memory");
}

/* Levenshtein distance, for "did you mean"; long words are never close. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[65], diag, up;

	if (la > 64 || lb > 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			int best = diag + (a[i - 1] != b[j - 1]);

			up = row[j];
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

const char *spur_option_closest(const char *key, const char *const *names, size_t n)
{
	const char *best = NULL;
	int bd = 3;	/* suggest only within distance 2 */
	size_t i;

	for (i = 0; i < n; i++) {
		int d = names[i] ? edit_distance(key, names[i]) : 99;

		if (d > 0 && d < bd) {
			bd = d;
			best = names[i];
		}
	}
	return best;
}

void spur_option_unknown_key(struct spur_walk *w, const struct spur_ypair *p,
			     const struct spur_field *table)
{
	const char *names[64];
	const char *hint;
	size_t n = 0;

	for (; table->opt.name && n < COUNT(names); table++)
		names[n++] = table->opt.name;
	hint = spur_option_closest(p->key, names, n);
	if (hint)
		spur_option_report(w, p->line, "unknown key '%s' (did you mean '%s'?)", p->key, hint);
	else
		spur_option_report(w, p->line, "unknown key '%s'", p->key);
}

/* ---- value formats ------------------------------------------------------ */

static int parse_u64(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*sp = s;
	*out = v;
	return 0;
}

/* Durations: "0", or one or more <digits><unit> with unit ms, s, m, h, d
 * ("250ms", "3s", "1h30m"). No sign, no spaces, no fractions; a number
 * without a unit is refused (is "5" seconds or milliseconds?). */
SPUR_API int spur_parse_duration(const char *s, int64_t *ms)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", MS_S }, { "m", MS_M }, { "h", MS_H }, { "d", MS_D },
	};
	int64_t total = 0;
	uint64_t v;
	size_t i;
	int r;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*s) {
		if ((r = parse_u64(&s, &v)) < 0)
			return r;
		for (i = 0; i < COUNT(units); i++) {
			size_t n = strlen(units[i].unit);

			if (strncmp(s, units[i].unit, n) == 0 && (s[n] < 'a' || s[n] > 'z'))
				break;
		}
		if (i == COUNT(units))
			return -EINVAL;
		s += strlen(units[i].unit);
		if (v > (uint64_t)(INT64_MAX / units[i].ms) ||
		    (int64_t)v * units[i].ms > INT64_MAX - total)
			return -ERANGE;
		total += (int64_t)v * units[i].ms;
	}
	*ms = total;
	return 0;
}

/* Sizes: a plain number of bytes, or <digits> followed by KiB, MiB, GiB
 * or TiB (powers of 1024). Decimal units (KB, MB, GB) are refused on
 * purpose: they are ambiguous in practice. */
SPUR_API int spur_parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "", 1 }, { "KiB", 1ull << 10 }, { "MiB", 1ull << 20 },
		{ "GiB", 1ull << 30 }, { "TiB", 1ull << 40 },
	};
	uint64_t v;
	size_t i;
	int r;

	if (!s)
		return -EINVAL;
	if ((r = parse_u64(&s, &v)) < 0)
		return r;
	for (i = 0; i < COUNT(units); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*bytes = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

static const char *fmt_duration(int64_t ms, char *buf, size_t n)
{
	if (ms != 0 && ms % MS_D == 0)
		snprintf(buf, n, "%" PRId64 "d", ms / MS_D);
	else if (ms >= MS_H && ms % MS_H == 0)
		snprintf(buf, n, "%" PRId64 "h", ms / MS_H);
	else if (ms >= MS_S && ms % MS_S == 0)
		snprintf(buf, n, "%" PRId64 "s", ms / MS_S);
	else
		snprintf(buf, n, "%" PRId64 "ms", ms);
	return buf;
}

static const char *fmt_size(int64_t b, char *buf, size_t n)
{
	static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };
	int i;

	for (i = 0; i < 4 && b != 0; i++) {
		int64_t m = 1LL << (10 * (4 - i));

		if (b % m == 0) {
			snprintf(buf, n, "%" PRId64 "%s", b / m, units[i]);
			return buf;
		}
	}
	snprintf(buf, n, "%" PRId64, b);
	return buf;
}

static const char *fmt_value(enum spur_opt_type t, int64_t v, char *buf, size_t n)
{
	if (t == SPUR_OPT_DURATION)
		return fmt_duration(v, buf, n);
	if (t == SPUR_OPT_SIZE)
		return fmt_size(v, buf, n);
	snprintf(buf, n, "%" PRId64, v);
	return buf;
}

static const char *type_expects(enum spur_opt_type t)
{
	switch (t) {
	case SPUR_OPT_STRING:	return "a string";
	case SPUR_OPT_BOOL:	return "true or false";
	case SPUR_OPT_INT:	return "an integer";
	case SPUR_OPT_DOUBLE:	return "a number";
	case SPUR_OPT_DURATION:	return "a duration like 3s";
	case SPUR_OPT_SIZE:	return "a size like 64MiB";
	case SPUR_OPT_ENUM:	return "one of";
	case SPUR_OPT_STRLIST:	return "a string or a list of strings";
	}
	return "a value";
}

/* Index of `word` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word)
{
	size_t wl = strlen(word);
	const char *c = choices;
	int i = 0;

	while (c && *c) {
		const char *bar = strchr(c, '|');
		size_t l = bar ? (size_t)(bar - c) : strlen(c);

		if (l == wl && strncmp(c, word, l) == 0)
			return i;
		i++;
		c = bar ? bar + 1 : NULL;
	}
	return -1;
}

/* Remove "//", "/./" and "dir/../" from an absolute path, in place
 * (lexically: symlinks are not resolved, and the file need not exist). */
static void normalize_path(char *path)
{
	char *out = path + 1;
	const char *in = path + 1;

	for (;;) {
		size_t n = strcspn(in, "/");
		bool last = in[n] == '\0';	/* read before out may overwrite it */

		if (n == 0 || (n == 1 && in[0] == '.')) {
			/* nothing to copy */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			if (out > path + 1) {
				out--;			/* the '/' after the last part */
				while (out > path + 1 && out[-1] != '/')
					out--;
			}
		} else {
			memmove(out, in, n);
			out += n;
			*out++ = '/';
		}
		if (last)
			break;
		in += n + 1;
	}
	if (out > path + 1)
		out--;				/* no trailing '/' */
	*out = '\0';
}

static char *make_path(struct spur_walk *w, const char *p)
{
	char *abs;
	size_t n = strlen(w->cfg->dir) + strlen(p) + 2;

	abs = spur_option_mem_alloc(w->cfg, n);
	if (!abs)
		return NULL;
	if (p[0] == '/')
		memcpy(abs, p, strlen(p) + 1);
	else
		snprintf(abs, n, "%s/%s", w->cfg->dir, p);
	normalize_path(abs);
	return abs;
}

/* A string option: its extra check, or a path made absolute (and, with
 * SPUR_FIELD_EXISTS, found). */
static void parse_string(struct spur_walk *w, const struct spur_field *f, const char *text,
			 int line, void *dst)
{
	const struct spur_option *o = &f->opt;
	char *s;

	if (f->check && !f->check(text)) {
		spur_option_report(w, line, "%s: '%s' is not %s", o->name, text, f->what);
		return;
	}
	if (f->flags & SPUR_FIELD_PATH) {
		struct stat st;

		if (!*text) {
			spur_option_report(w, line, "%s: the path is empty", o->name);
			return;
		}
		s = make_path(w, text);
		if (s && (f->flags & SPUR_FIELD_EXISTS) && stat(s, &st) < 0) {
			spur_option_report(w, line, "%s: '%s' not found (%s)", o->name, text,
					   strerror(errno));
			return;
		}
	} else {
		s = dst ? spur_option_mem_strdup(w->cfg, text) : NULL;
	}
	if (dst && !s)
		spur_option_oom(w, line);
	else if (dst)
		*(char **)dst = s;
}

/* A list option written as one scalar: a list of one. */
static void parse_one_item(struct spur_walk *w, const struct spur_field *f, const char *text,
			   int line, void *dst)
{
	const struct spur_option *o = &f->opt;
	struct spur_strlist *l = dst;

	if (f->check && !f->check(text)) {
		spur_option_report(w, line, "%s: '%s' is not %s", o->name, text, f->what);
		return;
	}
	if (!l)
		return;
	l->v = spur_option_mem_alloc(w->cfg, sizeof(char *));
	if (l->v)
		l->v[0] = (f->flags & SPUR_FIELD_PATH) ? make_path(w, text)
						       : spur_option_mem_strdup(w->cfg, text);
	if (!l->v || !l->v[0]) {
		spur_option_oom(w, line);
		return;
	}
	l->n = 1;
}

/* "expected <type>, got ..." (quoted numbers and booleans said so). */
static void report_type(struct spur_walk *w, const struct spur_option *o, const char *text,
			bool quoted, int line)
{
	if (o->type == SPUR_OPT_INT && o->choices)
		spur_option_report(w, line, "%s: expected an integer or %s, got '%s'", o->name,
				   o->choices, text);
	else if (quoted && (o->type == SPUR_OPT_INT || o->type == SPUR_OPT_BOOL ||
		       o->type == SPUR_OPT_DOUBLE))
		spur_option_report(w, line, "%s: expected %s, got the quoted string \"%s\"", o->name,
				   type_expects(o->type), text);
	else
		spur_option_report(w, line, "%s: expected %s, got '%s'", o->name,
				   type_expects(o->type), text);
}

/* Parse one scalar for option `o` and write it at dst (NULL: check only).
 * Range checks are skipped for defaults: the table's author chose them. */
static void parse_scalar(struct spur_walk *w, const struct spur_field *f, const char *text,
			 bool quoted, int line, void *dst, bool is_default)
{
	const struct spur_option *o = &f->opt;
	char lo[32], hi[32];
	int64_t iv = 0;
	uint64_t uv;
	double dv;
	char *end;
	int r = 0, idx;
	bool ranged = false;

	switch (o->type) {
	case SPUR_OPT_STRING:
		parse_string(w, f, text, line, dst);
		return;
	case SPUR_OPT_BOOL:
		if (quoted || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0))
			goto bad_type;
		if (dst)
			*(bool *)dst = text[0] == 't';
		return;
	case SPUR_OPT_INT:
		if (!quoted && o->choices && choice_index(o->choices, text) >= 0) {
			if (dst)	/* a word for a computed value: -1, -2, ... */
				*(int64_t *)dst = -1 - choice_index(o->choices, text);
			return;
		}
		if (quoted || !*text || (*text != '-' && (*text < '0' || *text > '9')))
			goto bad_type;
		errno = 0;
		iv = strtoll(text, &end, 10);
		if (*end)
			goto bad_type;
		if (errno == ERANGE) {
			spur_option_report(w, line, "%s: %s is too large", o->name, text);
			return;
		}
		if (dst)
			*(int64_t *)dst = iv;
		ranged = true;
		break;
	case SPUR_OPT_DOUBLE:
		if (quoted || !*text)
			goto bad_type;
		dv = strtod(text, &end);
		if (*end || !isfinite(dv))
			goto bad_type;
		if (dst)
			*(double *)dst = dv;
		if ((o->min || o->max) && !is_default && (dv < (double)o->min || dv > (double)o->max)) {
			spur_option_report(w, line, "%s must be between %" PRId64 " and %" PRId64,
					   o->name, o->min, o->max);
		}
		return;
	case SPUR_OPT_DURATION:
		r = spur_parse_duration(text, &iv);
		if (r == -ERANGE) {
			spur_option_report(w, line, "%s: %s is too large", o->name, text);
			return;
		}
		if (r < 0)
			goto bad_type;
		if (dst)
			*(int64_t *)dst = iv;
		ranged = true;
		break;
	case SPUR_OPT_SIZE:
		r = spur_parse_size(text, &uv);
		if (r == -ERANGE || (r == 0 && uv > INT64_MAX)) {
			spur_option_report(w, line, "%s: %s is too large", o->name, text);
			return;
		}
		if (r < 0) {
			spur_option_report(w, line, "%s: expected a size like 64MiB "
					   "(bytes, KiB, MiB, GiB or TiB), got '%s'", o->name, text);
			return;
		}
		if (dst)
			*(uint64_t *)dst = uv;
		iv = (int64_t)uv;
		ranged = true;
		break;
	case SPUR_OPT_ENUM:
		idx = choice_index(o->choices, text);
		if (idx < 0) {
			spur_option_report(w, line, "%s: expected one of %s, got '%s'", o->name,
					   o->choices ? o->choices : "(none)", text);
			return;
		}
		if (dst)
			*(int *)dst = idx;
		return;
	case SPUR_OPT_STRLIST:
		parse_one_item(w, f, text, line, dst);
		return;
	}
	if (ranged && !is_default && (o->min || o->max) && (iv < o->min || iv > o->max)) {
		if (o->max == INT64_MAX)
			spur_option_report(w, line, "%s must be at least %s", o->name,
					   fmt_value(o->type, o->min, lo, sizeof(lo)));
		else
			spur_option_report(w, line, "%s must be between %s and %s", o->name,
					   fmt_value(o->type, o->min, lo, sizeof(lo)),
					   fmt_value(o->type, o->max, hi, sizeof(hi)));
	}
	return;
bad_type:
	report_type(w, o, text, quoted, line);
}

/* ---- the walker --------------------------------------------------------- */

static void *field_dst(const struct spur_walk *w, const struct spur_field *f, void *base)
{
	return (w->store && base && !f->check_only) ? (char *)base + f->opt.offset : NULL;
}

void spur_option_parse_leaf(struct spur_walk *w, const struct spur_ypair *p, void *base,
			    const struct spur_field *f)
{
	const struct spur_ynode *v = p->value;
	void *dst = field_dst(w, f, base);
	size_t i;

	if (f->opt.type == SPUR_OPT_STRLIST && v->kind == SPUR_YNODE_SEQ) {
		struct spur_strlist *l = dst;

		for (i = 0; i < v->n; i++) {
			if (v->items[i]->kind != SPUR_YNODE_SCALAR)
				spur_option_report(w, v->items[i]->line, "%s: expected a string in the list, got %s",
						   f->opt.name, spur_yaml_kind_name(v->items[i]));
			else if (f->check && !f->check(v->items[i]->text))
				spur_option_report(w, v->items[i]->line, "%s: '%s' is not %s",
						   f->opt.name, v->items[i]->text, f->what);
		}
		if (!l)
			return;
		l->n = 0;
		l->v = spur_option_mem_alloc(w->cfg, (v->n ? v->n : 1) * sizeof(char *));
		if (!l->v) {
			spur_option_oom(w, v->line);
			return;
		}
		for (i = 0; i < v->n; i++) {
			const struct spur_ynode *it = v->items[i];

			if (it->kind != SPUR_YNODE_SCALAR)
				continue;
			l->v[l->n] = (f->flags & SPUR_FIELD_PATH) ? make_path(w, it->text)
							 : spur_option_mem_strdup(w->cfg, it->text);
			if (!l->v[l->n]) {
				spur_option_oom(w, it->line);
				return;
			}
			l->n++;
		}
		return;
	}
	if (f->opt.type == SPUR_OPT_STRLIST && spur_yaml_is_null(v)) {
		if (dst)
			*(struct spur_strlist *)dst = (struct spur_strlist){ 0 };
		return;
	}
	if (v->kind != SPUR_YNODE_SCALAR) {
		const char *exp = type_expects(f->opt.type);

		if (f->opt.type == SPUR_OPT_ENUM)
			spur_option_report(w, v->line, "%s: expected one of %s, got %s", f->opt.name,
					   f->opt.choices, spur_yaml_kind_name(v));
		else
			spur_option_report(w, v->line, "%s: expected %s, got %s", f->opt.name, exp,
					   spur_yaml_kind_name(v));
		return;
	}
	if (spur_yaml_is_null(v)) {
		spur_option_report(w, v->line, "%s: a value is missing", f->opt.name);
		return;
	}
	parse_scalar(w, f, v->text, v->quoted, v->line, dst, false);
}

static void apply_defaults(struct spur_walk *w, const struct spur_field *table, void *base,
			   int line)
{
	for (; table->opt.name; table++) {
		if (table->flags & SPUR_FIELD_FUTURE)
			continue;
		if (table->kind == SPUR_FIELD_SECTION)
			apply_defaults(w, table->sub, base, line);
		else if (table->kind == SPUR_FIELD_LEAF && table->opt.def)
			parse_scalar(w, table, table->opt.def, false, line,
				     (char *)base + table->opt.offset, true);
	}
}

/* Parse mapping `n` (NULL or null: empty) with `table` into base. `line`
 * is where the mapping's owner is written, for missing keys. */
void spur_option_walk(struct spur_walk *w, const struct spur_ynode *n,
		      const struct spur_field *table, void *base, int line,
		      const char *owner, spur_field_unknown_fn on_unknown)
{
	const struct spur_field *f;
	size_t i;

	if (w->store && base)
		apply_defaults(w, table, base, line);
	if (spur_yaml_is_null(n))
		n = NULL;
	if (n && n->kind != SPUR_YNODE_MAP) {
		spur_option_report(w, n->line, "%s: expected a mapping, got %s", owner, spur_yaml_kind_name(n));
		return;
	}
	for (i = 0; n && i < n->n; i++) {
		const struct spur_ypair *p = &n->pairs[i];
		bool store = w->store;

		for (f = table; f->opt.name; f++)
			if (strcmp(f->opt.name, p->key) == 0)
				break;
		if (!f->opt.name) {
			if (!on_unknown || !on_unknown(w, p))
				spur_option_unknown_key(w, p, table);
			continue;
		}
		if ((f->flags & SPUR_FIELD_FUTURE) && w->store) {
			spur_option_warn(w, p->line, "'%s' is not implemented yet and is ignored", p->key);
			w->store = false;
		}
		switch (f->kind) {
		case SPUR_FIELD_LEAF:
			spur_option_parse_leaf(w, p, base, f);
			break;
		case SPUR_FIELD_SECTION:
			spur_option_walk(w, p->value, f->sub, base, p->line, p->key, NULL);
			break;
		case SPUR_FIELD_CUSTOM:
			f->parse(w, p, base, f);
			break;
		}
		w->store = store;
	}
	for (f = table; f->opt.name; f++)
		if ((f->flags & SPUR_FIELD_REQUIRED) && !spur_yaml_map_find(n, f->opt.name))
			spur_option_report(w, line, "%s: missing required key '%s'", owner, f->opt.name);
}

void spur_option_help(const struct spur_option *table, FILE *out)
{
	static const char *const types[] = {
		[SPUR_OPT_STRING] = "string", [SPUR_OPT_BOOL] = "bool",
		[SPUR_OPT_INT] = "integer", [SPUR_OPT_DOUBLE] = "number",
		[SPUR_OPT_DURATION] = "duration", [SPUR_OPT_SIZE] = "size",
		[SPUR_OPT_ENUM] = "enum", [SPUR_OPT_STRLIST] = "list",
	};
	char lo[32], hi[32];

	for (; table && table->name; table++) {
		const char *type = (table->type >= SPUR_OPT_STRING &&
				    table->type <= SPUR_OPT_STRLIST) ? types[table->type] : "?";

		char either[64];

		if (table->type == SPUR_OPT_INT && table->choices) {
			snprintf(either, sizeof(either), "integer|%s", table->choices);
			type = either;
		}
		fprintf(out, "  %-20s %-9s", table->name,
			table->type == SPUR_OPT_ENUM && table->choices ? table->choices : type);
		if (table->def)
			fprintf(out, " (default: %s)", table->def);
		if (table->min || table->max) {
			if (table->max == INT64_MAX)
				fprintf(out, " [>= %s]", fmt_value(table->type, table->min, lo, sizeof(lo)));
			else
				fprintf(out, " [%s .. %s]",
					fmt_value(table->type, table->min, lo, sizeof(lo)),
					fmt_value(table->type, table->max, hi, sizeof(hi)));
		}
		fprintf(out, "\n  %-20s %s\n", "", table->description ? table->description : "");
	}
}
