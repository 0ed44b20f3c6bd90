/* SPDX-License-Identifier: MIT */
/*
 * filter.c - EventBridge-style pattern matching (see filter.h).
 *
 * Patterns are parsed once (jansson trees) and checked when the config is
 * loaded, so matching never meets a malformed pattern and never fails: it
 * walks the pattern and the event side by side. Cost: one pass over the
 * pattern per record, a few string compares per key; no allocation.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter.h"

struct spur_filter {
	size_t n;
	json_t *p[SPUR_FILTER_MAX];
};

/* --- checking ------------------------------------------------------------------- */

static int bad(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static bool is_op(const char *s)
{
	return s && (strcmp(s, "<") == 0 || strcmp(s, "<=") == 0 || strcmp(s, "=") == 0 ||
		     strcmp(s, ">") == 0 || strcmp(s, ">=") == 0);
}

static int check_numeric(const json_t *v, const char *key, char *why, size_t len)
{
	size_t n = json_array_size(v);
	if (!json_is_array(v) || (n != 2 && n != 4))
		return bad(why, len, "%s: numeric takes [op, number] or [op, number, op, number]", key);
	for (size_t i = 0; i < n; i += 2)
		if (!is_op(json_string_value(json_array_get(v, i))) ||
		    !json_is_number(json_array_get(v, i + 1)))
			return bad(why, len, "%s: numeric: expected an operator (<, <=, =, >, >=) "
				   "followed by a number", key);
	return 0;
}

/* One alternative of a leaf list. */
static int check_alt(const json_t *a, const char *key, char *why, size_t len)
{
	if (is_scalar(a))
		return 0;
	if (!json_is_object(a) || json_object_size(a) != 1)
		return bad(why, len, "%s: an alternative is a value or an object with one of prefix, "
			   "suffix, equals-ignore-case, anything-but, numeric, exists", key);
	const char *op = json_object_iter_key(json_object_iter((json_t *)a));
	const json_t *v = json_object_iter_value(json_object_iter((json_t *)a));
	if (strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0 ||
	    strcmp(op, "equals-ignore-case") == 0)
		return json_is_string(v) ? 0 : bad(why, len, "%s: %s takes a string", key, op);
	if (strcmp(op, "exists") == 0)
		return json_is_boolean(v) ? 0 : bad(why, len, "%s: exists takes true or false", key);
	if (strcmp(op, "numeric") == 0)
		return check_numeric(v, key, why, len);
	if (strcmp(op, "anything-but") == 0) {
		if (is_scalar(v))
			return 0;
		if (json_is_array(v)) {
			size_t i;
			const json_t *e;
			json_array_foreach(v, i, e)
				if (!is_scalar(e))
					return bad(why, len, "%s: anything-but: a list of values", key);
			return 0;
		}
		const char *k = json_is_object(v) && json_object_size(v) == 1 ?
			json_object_iter_key(json_object_iter((json_t *)v)) : NULL;
		if (k && (strcmp(k, "prefix") == 0 || strcmp(k, "suffix") == 0) &&
		    json_is_string(json_object_get(v, k)))
			return 0;
		return bad(why, len, "%s: anything-but takes a value, a list, {\"prefix\": s} or "
			   "{\"suffix\": s}", key);
	}
	return bad(why, len, "%s: unknown matcher '%s'", key, op);
}

static int check_object(const json_t *p, int depth, char *why, size_t len)
{
	const char *key;
	const json_t *v;
	if (depth > 16)
		return bad(why, len, "pattern nested too deeply");
	if (json_object_size(p) == 0)
		return bad(why, len, "an empty pattern");
	json_object_foreach((json_t *)p, key, v) {
		int rc = 0;
		if (json_is_object(v)) {
			rc = check_object(v, depth + 1, why, len);
		} else if (json_is_array(v)) {
			size_t i;
			const json_t *a;
			if (json_array_size(v) == 0)
				rc = bad(why, len, "%s: an empty list matches nothing", key);
			json_array_foreach(v, i, a)
				if (rc == 0)
					rc = check_alt(a, key, why, len);
		} else {
			rc = check_alt(v, key, why, len);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int spur_filter_check(const char *json, size_t len, char *why, size_t whylen)
{
	json_error_t e;
	json_t *p = json_loadb(json, len, 0, &e);
	int rc = !p ? bad(why, whylen, "not JSON: %s", e.text) :
		!json_is_object(p) ? bad(why, whylen, "a pattern is an object") :
		check_object(p, 0, why, whylen);
	json_decref(p);
	return rc;
}

/* --- matching ------------------------------------------------------------------- */

static bool same(const json_t *a, const json_t *v)
{
	if (json_is_number(a) && json_is_number(v))
		return json_number_value(a) == json_number_value(v);
	return json_equal((json_t *)a, (json_t *)v);
}

static bool starts(const char *s, const char *p)
{
	return s && strncmp(s, p, strlen(p)) == 0;
}

static bool ends(const char *s, const char *p)
{
	size_t n = s ? strlen(s) : 0, m = strlen(p);
	return s && n >= m && strcmp(s + n - m, p) == 0;
}

static bool compare(const char *op, double x, double y)
{
	return op[0] == '=' ? x == y :
		op[0] == '<' ? (op[1] ? x <= y : x < y) : (op[1] ? x >= y : x > y);
}

static bool anything_but(const json_t *arg, const json_t *v)
{
	if (json_is_object(arg)) {
		const char *k = json_object_iter_key(json_object_iter((json_t *)arg));
		const char *s = json_string_value(json_object_get(arg, k));
		const char *t = json_string_value(v);
		return t && !(k[0] == 'p' ? starts(t, s) : ends(t, s));
	}
	if (json_is_array(arg)) {
		size_t i;
		const json_t *e;
		json_array_foreach(arg, i, e)
			if (same(e, v))
				return false;
		return true;
	}
	return !same(arg, v);
}

/* One alternative against a present, non-array value. */
static bool match_value(const json_t *a, const json_t *v)
{
	if (!json_is_object(a))
		return same(a, v);
	const char *op = json_object_iter_key(json_object_iter((json_t *)a));
	const json_t *arg = json_object_iter_value(json_object_iter((json_t *)a));
	const char *s = json_string_value(v);
	switch (op[0]) {
	case 'p':
		return s && starts(s, json_string_value(arg));
	case 's':
		return s && ends(s, json_string_value(arg));
	case 'e':
		if (op[1] == 'x')	/* exists */
			return json_is_true(arg);
		return s && strcasecmp(s, json_string_value(arg)) == 0;
	case 'a':
		return anything_but(arg, v);
	case 'n': {
		if (!json_is_number(v))
			return false;
		double x = json_number_value(v);
		for (size_t i = 0; i < json_array_size(arg); i += 2)
			if (!compare(json_string_value(json_array_get(arg, i)), x,
				     json_number_value(json_array_get(arg, i + 1))))
				return false;
		return true;
	}
	}
	return false;
}

/* One alternative against a field (NULL: absent). */
static bool match_alt(const json_t *a, const json_t *v)
{
	if (json_is_object(a) && json_object_get(a, "exists"))
		return json_is_true(json_object_get(a, "exists")) == (v != NULL);
	if (!v)
		return false;
	if (json_is_array(v)) {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
			if (match_value(a, e))
				return true;
		return false;
	}
	return match_value(a, v);
}

static bool match_object(const json_t *p, const json_t *ev)
{
	const char *key;
	const json_t *pv;
	json_object_foreach((json_t *)p, key, pv) {
		const json_t *v = json_is_object(ev) ? json_object_get(ev, key) : NULL;
		bool ok = false;
		if (json_is_object(pv)) {
			ok = match_object(pv, v);
		} else if (json_is_array(pv)) {
			size_t i;
			const json_t *a;
			json_array_foreach(pv, i, a)
				if ((ok = match_alt(a, v)))
					break;
		} else {
			ok = match_alt(pv, v);
		}
		if (!ok)
			return false;
	}
	return true;
}

struct spur_filter *spur_filter_new(char *const *patterns, size_t n)
{
	struct spur_filter *f = n <= SPUR_FILTER_MAX ? calloc(1, sizeof(*f)) : NULL;
	char why[8];
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (spur_filter_check(patterns[i], strlen(patterns[i]), why, sizeof(why)) < 0 ||
		    !(f->p[f->n] = json_loads(patterns[i], 0, NULL))) {
			spur_filter_free(f);
			return NULL;
		}
		f->n++;
	}
	return f;
}

void spur_filter_free(struct spur_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->p[i]);
	free(f);
}

bool spur_filter_match(const struct spur_filter *f, const struct json_t *event)
{
	if (!f || f->n == 0)
		return true;
	for (size_t i = 0; i < f->n; i++)
		if (match_object(f->p[i], event))
			return true;
	return false;
}
