/* SPDX-License-Identifier: MIT */
/*
 * yaml.c - load a YAML (or JSON) file into the spur_ynode tree of yaml.h.
 *
 * Drives libyaml's event parser (yaml_parser_parse) and builds the tree by
 * recursive descent, one C frame per nesting level (bounded by
 * SPUR_YAML_MAX_DEPTH). Anchors are recorded when their node is complete;
 * an alias is replaced by a deep copy, counted against SPUR_YAML_MAX_NODES.
 * So an alias must follow its complete anchor (a recursive alias fails as
 * "unknown anchor"), a later anchor of the same name wins, and a copy keeps
 * the original's line numbers. The merge key "<<" is not special: it stays
 * an ordinary key, which the config then rejects as unknown.
 * Syntax errors stop the load; duplicate keys and bad strings are reported
 * and the load goes on, so that one run names them all, then fails.
 * Runs on the caller's thread; no global state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
/* router/yaml.h shadows libyaml's <yaml.h> on the include path (meson puts
 * router/ there): SPUR_YAML_LIBYAML asks it to #include_next libyaml's. */
#define SPUR_YAML_LIBYAML
#include <yaml.h>
#include "yaml.h"

#define MAX_FILE_SIZE (16u << 20)

struct spur_ydoc {
	struct spur_ynode *root;
};

struct anchor {
	char *name;
	const struct spur_ynode *node;
};

struct loader {
	yaml_parser_t parser;
	const char *name;
	const char *text;		/* the input, for hints */
	size_t len;
	FILE *err;
	int errors;
	size_t nodes;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	struct spur_ynode retired;	/* key nodes, freed after the load */
};

static const char empty[] = "";

static void node_free(struct spur_ynode *n)
{
	size_t i;

	if (!n)
		return;
	if (n->kind == SPUR_YNODE_SCALAR) {
		free((char *)n->text);
	} else if (n->kind == SPUR_YNODE_MAP) {
		for (i = 0; i < n->n; i++) {
			free((char *)n->pairs[i].key);
			node_free(n->pairs[i].value);
		}
		free(n->pairs);
	} else {
		for (i = 0; i < n->n; i++)
			node_free(n->items[i]);
		free(n->items);
	}
	free(n);
}

__attribute__((format(printf, 3, 4)))
static void report(struct loader *L, int line, const char *fmt, ...)
{
	va_list ap;

	L->errors++;
	fprintf(L->err, "%s:%d: ", L->name, line);
	va_start(ap, fmt);
	vfprintf(L->err, fmt, ap);
	va_end(ap);
	fputc('\n', L->err);
}

static void parser_error(struct loader *L)
{
	const yaml_parser_t *p = &L->parser;
	const char *problem = p->problem ? p->problem : "cannot parse the file";
	int line = (int)p->problem_mark.line + 1;
	const char *hint = "";

	if (p->error == YAML_MEMORY_ERROR) {
		report(L, line, "out of memory");
		return;
	}
	if (p->error == YAML_READER_ERROR)
		line = (int)p->mark.line + 1;
	else if (p->problem_mark.index < L->len && L->text[p->problem_mark.index] == '\t')
		hint = "; YAML does not allow tabs for indentation";
	if (p->context)
		report(L, line, "%s (%s at line %d)%s", problem, p->context,
		       (int)p->context_mark.line + 1, hint);
	else
		report(L, line, "%s%s", problem, hint);
}

static int next_event(struct loader *L, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&L->parser, ev)) {
		parser_error(L);
		return -EINVAL;
	}
	return 0;
}

static struct spur_ynode *node_new(struct loader *L, enum spur_ynode_kind kind,
				   const yaml_mark_t *mark)
{
	struct spur_ynode *n;

	if (++L->nodes > SPUR_YAML_MAX_NODES) {
		report(L, (int)mark->line + 1, "the document has more than %d nodes",
		       SPUR_YAML_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		report(L, (int)mark->line + 1, "out of memory");
		return NULL;
	}
	*n = (struct spur_ynode){
		.kind = kind,
		.line = (int)mark->line + 1,
		.col = (int)mark->column + 1,
		.text = kind == SPUR_YNODE_SCALAR ? NULL : empty,
	};
	return n;
}

static int node_push(struct spur_ynode *n, struct spur_ynode *item,
		     const char *key, int line, int col)
{
	if (n->kind == SPUR_YNODE_MAP) {
		struct spur_ypair *p = realloc(n->pairs, (n->n + 1) * sizeof(*p));

		if (!p)
			return -ENOMEM;
		n->pairs = p;
		p[n->n++] = (struct spur_ypair){
			.key = key, .line = line, .col = col, .value = item,
		};
	} else {
		struct spur_ynode **v = realloc(n->items, (n->n + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		n->items = v;
		v[n->n++] = item;
	}
	return 0;
}

/* A deep copy of an anchored node for an alias; lines stay the original's. */
static struct spur_ynode *node_copy(struct loader *L, const struct spur_ynode *src,
				    const yaml_mark_t *mark)
{
	struct spur_ynode *n = node_new(L, src->kind, mark);
	size_t i;

	if (!n)
		return NULL;
	n->line = src->line;
	n->col = src->col;
	if (src->kind == SPUR_YNODE_SCALAR) {
		char *t = malloc(src->len + 1);

		if (!t)
			goto fail;
		memcpy(t, src->text, src->len + 1);
		n->text = t;
		n->len = src->len;
		n->quoted = src->quoted;
		return n;
	}
	for (i = 0; i < src->n; i++) {
		const struct spur_ypair *p = src->kind == SPUR_YNODE_MAP ? &src->pairs[i] : NULL;
		struct spur_ynode *c = node_copy(L, p ? p->value : src->items[i], mark);
		char *key = NULL;

		if (!c)
			goto fail;
		if (p && !(key = strdup(p->key))) {
			node_free(c);
			goto fail;
		}
		if (node_push(n, c, key, p ? p->line : 0, p ? p->col : 0) < 0) {
			free(key);
			node_free(c);
			goto fail;
		}
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static int anchor_add(struct loader *L, const yaml_char_t *name,
		      const struct spur_ynode *node)
{
	if (!name)
		return 0;
	if (L->n_anchors == L->cap_anchors) {
		size_t cap = L->cap_anchors ? 2 * L->cap_anchors : 8;
		struct anchor *a = realloc(L->anchors, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		L->anchors = a;
		L->cap_anchors = cap;
	}
	L->anchors[L->n_anchors].name = strdup((const char *)name);
	if (!L->anchors[L->n_anchors].name)
		return -ENOMEM;
	L->anchors[L->n_anchors++].node = node;
	return 0;
}

static const struct spur_ynode *anchor_find(const struct loader *L, const char *name)
{
	size_t i;

	/* A later anchor of the same name overrides an earlier one. */
	for (i = L->n_anchors; i-- > 0;)
		if (strcmp(L->anchors[i].name, name) == 0)
			return L->anchors[i].node;
	return NULL;
}

static int load_node(struct loader *L, yaml_event_t *ev, int depth,
		     struct spur_ynode **out);

static int load_scalar(struct loader *L, yaml_event_t *ev, struct spur_ynode **out)
{
	struct spur_ynode *n = node_new(L, SPUR_YNODE_SCALAR, &ev->start_mark);
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	char *t;

	if (!n)
		return -ENOMEM;
	t = malloc(len + 1);
	if (!t) {
		node_free(n);
		return -ENOMEM;
	}
	memcpy(t, ev->data.scalar.value, len);
	t[len] = '\0';
	n->text = t;
	n->len = len;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    (tag && strcmp(tag, YAML_STR_TAG) == 0);
	if (memchr(t, '\0', len))
		report(L, n->line, "a string contains a NUL byte");
	*out = n;
	return anchor_add(L, ev->data.scalar.anchor, n);
}

static int load_collection(struct loader *L, yaml_event_t *ev, int depth,
			   struct spur_ynode **out)
{
	bool is_map = ev->type == YAML_MAPPING_START_EVENT;
	yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	struct spur_ynode *n = NULL, *key = NULL, *value = NULL;
	yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
				     : ev->data.sequence_start.anchor;
	yaml_event_t e;
	char *keytext;
	int r = -EINVAL;

	if (depth >= SPUR_YAML_MAX_DEPTH) {
		report(L, (int)ev->start_mark.line + 1,
		       "nesting deeper than %d levels", SPUR_YAML_MAX_DEPTH);
		goto fail;
	}
	n = node_new(L, is_map ? SPUR_YNODE_MAP : SPUR_YNODE_SEQ, &ev->start_mark);
	if (!n)
		goto fail;
	for (;;) {
		if ((r = next_event(L, &e)) < 0)
			goto fail;
		if (e.type == end) {
			yaml_event_delete(&e);
			break;
		}
		if (!is_map) {
			if ((r = load_node(L, &e, depth + 1, &value)) < 0)
				goto fail;
			if ((r = node_push(n, value, NULL, 0, 0)) < 0)
				goto fail;
			value = NULL;
			continue;
		}
		if ((r = load_node(L, &e, depth + 1, &key)) < 0)
			goto fail;
		if ((r = next_event(L, &e)) < 0)
			goto fail;
		if ((r = load_node(L, &e, depth + 1, &value)) < 0)
			goto fail;
		if (key->kind != SPUR_YNODE_SCALAR)
			report(L, key->line, "a mapping key must be a string, not %s",
			       spur_yaml_kind_name(key));
		else if (spur_yaml_map_find(n, key->text))
			report(L, key->line, "duplicate key '%s'", key->text);
		/* On an error above the pair is kept anyway: the document is
		 * thrown away at the end, and anchors may point into it. */
		keytext = strdup(key->kind == SPUR_YNODE_SCALAR ? key->text : "");
		if (!keytext) {
			r = -ENOMEM;
			goto fail;
		}
		if ((r = node_push(n, value, keytext, key->line, key->col)) < 0) {
			free(keytext);
			goto fail;
		}
		value = NULL;
		/* The key node may carry an anchor: it lives until the end. */
		if ((r = node_push(&L->retired, key, NULL, 0, 0)) < 0)
			goto fail;
		key = NULL;
	}
	*out = n;
	r = anchor_add(L, anchor, n);	/* before the event (and its anchor) goes */
	yaml_event_delete(ev);
	return r;
fail:
	if (r == -ENOMEM && !L->errors)
		report(L, (int)ev->start_mark.line + 1, "out of memory");
	yaml_event_delete(ev);
	node_free(key);
	node_free(value);
	node_free(n);
	return r < 0 ? r : -EINVAL;
}

/* Consumes *ev. On success *out is the new node (owned by the caller). */
static int load_node(struct loader *L, yaml_event_t *ev, int depth,
		     struct spur_ynode **out)
{
	const struct spur_ynode *target;
	int r = -EINVAL;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		r = load_scalar(L, ev, out);
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		return load_collection(L, ev, depth, out);
	case YAML_ALIAS_EVENT:
		target = anchor_find(L, (const char *)ev->data.alias.anchor);
		if (!target) {
			report(L, (int)ev->start_mark.line + 1,
			       "unknown anchor '%s' (an alias must follow its complete anchor)",
			       (const char *)ev->data.alias.anchor);
			break;
		}
		*out = node_copy(L, target, &ev->start_mark);
		r = *out ? 0 : -ENOMEM;
		break;
	default:
		report(L, (int)ev->start_mark.line + 1, "unexpected YAML event");
		break;
	}
	yaml_event_delete(ev);
	return r;
}

const char *spur_yaml_kind_name(const struct spur_ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case SPUR_YNODE_MAP:
		return "a mapping";
	case SPUR_YNODE_SEQ:
		return "a list";
	default:
		return "a string";
	}
}

const struct spur_ypair *spur_yaml_map_find(const struct spur_ynode *n, const char *key)
{
	size_t i;

	if (!n || n->kind != SPUR_YNODE_MAP)
		return NULL;
	for (i = 0; i < n->n; i++)
		if (strcmp(n->pairs[i].key, key) == 0)
			return &n->pairs[i];
	return NULL;
}

bool spur_yaml_is_null(const struct spur_ynode *n)
{
	if (!n)
		return true;
	if (n->kind != SPUR_YNODE_SCALAR || n->quoted)
		return false;
	return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
	       strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

const struct spur_ynode *spur_yaml_root(const struct spur_ydoc *doc)
{
	return doc->root;
}

void spur_yaml_free(struct spur_ydoc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc);
}

static void loader_fini(struct loader *L, bool parser_ready)
{
	size_t i;

	for (i = 0; i < L->n_anchors; i++)
		free(L->anchors[i].name);
	free(L->anchors);
	for (i = 0; i < L->retired.n; i++)
		node_free(L->retired.items[i]);
	free(L->retired.items);
	if (parser_ready)
		yaml_parser_delete(&L->parser);
}

struct spur_ydoc *spur_yaml_load_string(const char *name, const char *text,
					size_t len, FILE *err)
{
	struct loader L = {
		.name = name,
		.text = text,
		.len = len,
		.err = err,
		.retired = { .kind = SPUR_YNODE_SEQ, .text = empty },
	};
	struct spur_ydoc *doc = calloc(1, sizeof(*doc));
	yaml_event_t ev;
	bool parser_ready = false;

	if (!doc || !yaml_parser_initialize(&L.parser)) {
		report(&L, 1, "out of memory");
		goto fail;
	}
	parser_ready = true;
	yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, len);

	if (next_event(&L, &ev) < 0)		/* STREAM-START */
		goto fail;
	yaml_event_delete(&ev);
	if (next_event(&L, &ev) < 0)
		goto fail;
	if (ev.type == YAML_STREAM_END_EVENT) {
		/* No document at all (empty, or comments only): {} */
		yaml_mark_t m = ev.start_mark;

		yaml_event_delete(&ev);
		m.line = 0;
		m.column = 0;
		doc->root = node_new(&L, SPUR_YNODE_MAP, &m);
		if (!doc->root)
			goto fail;
		goto done;
	}
	yaml_event_delete(&ev);			/* DOCUMENT-START */
	if (next_event(&L, &ev) < 0 || load_node(&L, &ev, 0, &doc->root) < 0)
		goto fail;
	if (next_event(&L, &ev) < 0)		/* DOCUMENT-END */
		goto fail;
	yaml_event_delete(&ev);
	if (next_event(&L, &ev) < 0)
		goto fail;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		report(&L, (int)ev.start_mark.line + 1,
		       "more than one document in the file (only one is allowed)");
	yaml_event_delete(&ev);
done:
	if (L.errors)
		goto fail;
	loader_fini(&L, parser_ready);
	return doc;
fail:
	loader_fini(&L, parser_ready);
	spur_yaml_free(doc);
	return NULL;
}

struct spur_ydoc *spur_yaml_load(const char *path, FILE *err)
{
	struct spur_ydoc *doc = NULL;
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, got;

	if (!f) {
		fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		goto out;
	}
	buf = malloc(MAX_FILE_SIZE + 1);
	if (!buf) {
		fprintf(err, "%s: out of memory\n", path);
		goto out;
	}
	while ((got = fread(buf + len, 1, MAX_FILE_SIZE + 1 - len, f)) > 0)
		len += got;
	if (ferror(f)) {
		fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
		goto out;
	}
	if (len > MAX_FILE_SIZE) {
		fprintf(err, "%s: the file is larger than %u MiB\n", path, MAX_FILE_SIZE >> 20);
		goto out;
	}
	doc = spur_yaml_load_string(path, buf, len, err);
out:
	free(buf);
	if (f)
		fclose(f);
	return doc;
}

/* A scalar under a config mapping by dotted path ("verify.scheme"). */
const char *spur_yaml_path(const struct spur_ynode *n, const char *path)
{
	char part[64];
	while (n && n->kind == SPUR_YNODE_MAP) {
		size_t len = strcspn(path, ".");
		if (len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		const struct spur_ypair *p = spur_yaml_map_find(n, part);
		if (!p)
			return NULL;
		if (!path[len])
			return p->value->kind == SPUR_YNODE_SCALAR ? p->value->text : NULL;
		n = p->value;
		path += len + 1;
	}
	return NULL;
}

bool spur_yaml_equal(const struct spur_ynode *a, const struct spur_ynode *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->n != b->n)
		return false;
	switch (a->kind) {
	case SPUR_YNODE_SCALAR:
		return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
	case SPUR_YNODE_MAP:
		for (size_t i = 0; i < a->n; i++)
			if (strcmp(a->pairs[i].key, b->pairs[i].key) != 0 ||
			    !spur_yaml_equal(a->pairs[i].value, b->pairs[i].value))
				return false;
		return true;
	case SPUR_YNODE_SEQ:
		for (size_t i = 0; i < a->n; i++)
			if (!spur_yaml_equal(a->items[i], b->items[i]))
				return false;
		return true;
	}
	return false;
}
