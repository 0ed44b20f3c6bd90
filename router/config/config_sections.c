/* SPDX-License-Identifier: MIT */
/*
 * config_sections.c - the queues:, destinations: and mappings: sections of
 * SPEC §4.2 (SQS-style queues, named destinations kept as a type plus
 * their options as JSON text, event-source mappings with their filters)
 * and the cross-checks after the walk that follow references between
 * sections: function on_success/on_failure and mapping on_failure lists,
 * dead_letter queues, mapping sources and functions, route queues. Also
 * the lookups spur_config_queue() and spur_config_destination().
 *
 * config.c owns the load, the top-level table that dispatches here, and
 * the function and route schema; config_priv.h holds what both share.
 * Errors are reported as "FILE:LINE: message" and do not stop the load.
 * Strings live in the config's pool; the queue, destination and mapping
 * arrays are plain callocs freed by spur_config_free(). Runs once per
 * load on the loading thread.
 */
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"
#include "filter.h"
#include "json.h"
#include "util.h"

/* queues: NAME: { ... } (SQS semantics; SPEC §2.3) */
#define QC struct spur_queue_config
static const struct spur_field queue_table[] = {
	LEAF(SPUR_OPT_DURATION, "visibility_timeout", "30s", QC, visibility_timeout_ms,
	     "lease of a received message", 1, 12 * 3600 * MS_S),
	LEAF(SPUR_OPT_INT, "max_receive", "0", QC, max_receive,
	     "receives before redrive to dead_letter (0: never)", 0, 1000),
	LEAF(SPUR_OPT_STRING, "dead_letter", NULL, QC, dead_letter,
	     "queue for redriven messages", 0, 0, .check = is_fn_name, .what = "a queue name"),
	LEAF(SPUR_OPT_DURATION, "retention", "4d", QC, retention_ms,
	     "how long messages are kept", MS_S, 14 * MS_D),
	LEAF(SPUR_OPT_INT, "max_depth", "100000", QC, max_depth,
	     "messages held at most (0: no limit); above it intake answers 503", 0, INT64_MAX),
	END,
};
#undef QC

/* "queue://NAME" */
static bool is_queue_source(const char *s)
{
	return strncmp(s, "queue://", 8) == 0 && is_fn_name(s + 8);
}

static void parse_filters(struct spur_walk *w, const struct spur_ypair *p, void *base,
			  const struct spur_field *f);

#define MC struct spur_mapping_config
static const struct spur_field mapping_table[] = {
	LEAF(SPUR_OPT_STRING, "source", NULL, MC, source, "queue://NAME", 0, 0,
	     .flags = SPUR_FIELD_REQUIRED, .check = is_queue_source, .what = "queue://NAME"),
	LEAF(SPUR_OPT_STRING, "function", NULL, MC, function, "fn[:qualifier]", 0, 0,
	     .flags = SPUR_FIELD_REQUIRED, .check = is_target, .what = "a function name[:qualifier]"),
	LEAF(SPUR_OPT_INT, "batch_size", "10", MC, batch_size, "records per batch at most",
	     1, 10000),
	LEAF(SPUR_OPT_DURATION, "batch_window", "0", MC, batch_window_ms,
	     "gather records this long before invoking", 0, 300 * MS_S),
	LEAF(SPUR_OPT_INT, "max_concurrency", "2", MC, max_concurrency, "batches in parallel",
	     1, 1000),
	LEAF(SPUR_OPT_BOOL, "report_batch_item_failures", "false", MC, report_batch_item_failures,
	     "honour {\"batchItemFailures\": [...]}", 0, 0),
	LEAF(SPUR_OPT_BOOL, "enabled", "true", MC, enabled, "poll (false: paused)", 0, 0),
	CUSTOM("filters", parse_filters, "EventBridge-style patterns, OR-ed (up to 5)"),
	LEAF(SPUR_OPT_STRLIST, "on_failure", NULL, MC, on_failure,
	     "destinations of RetryAttemptsExhausted records", 0, 0, .check = is_destination,
	     .what = "a destination URI (file://, queue://, function://) or name"),
	END,
};
#undef MC

void spur_config_parse_queues(struct spur_walk *w, const struct spur_ypair *p, void *base,
			      const struct spur_field *f)
{
	struct spur_config *cfg = base;
	const struct spur_ynode *v = p->value;
	size_t i;

	cfg->queues = spur_config_section_array(w, v, SPUR_YNODE_MAP, sizeof(*cfg->queues),
						"queues: expected a mapping of queue names");
	if (!cfg->queues)
		return;
	for (i = 0; i < v->n; i++) {
		const struct spur_ypair *qp = &v->pairs[i];

		if (!is_fn_name(qp->key) || strcmp(qp->key, "async") == 0 ||
		    strcmp(qp->key, "outbox") == 0 || strcmp(qp->key, "undeliverable") == 0) {
			spur_option_report(w, qp->line, "invalid queue name '%s' (1 to 64 letters, digits, "
					   "'-' or '_'; async, outbox and undeliverable are spur's own)",
					   qp->key);
			continue;
		}
		cfg->queues[cfg->n_queues] = (struct spur_queue_config){
			.name = spur_option_mem_strdup(cfg, qp->key),
			.line = qp->line,
		};
		spur_option_walk(w, qp->value, queue_table, &cfg->queues[cfg->n_queues], qp->line,
				 qp->key, NULL);
		cfg->n_queues++;
	}
}

/* A YAML value as JSON text: plain scalars that read as JSON numbers,
 * booleans or null stay so; everything else is a string. */
static void yaml_to_json(const struct spur_ynode *n, struct spur_buf *b)
{
	size_t i;

	if (n->kind == SPUR_YNODE_MAP) {
		spur_buf_puts(b, "{");
		for (i = 0; i < n->n; i++) {
			if (i)
				spur_buf_puts(b, ",");
			spur_buf_json_string(b, n->pairs[i].key, strlen(n->pairs[i].key));
			spur_buf_puts(b, ":");
			yaml_to_json(n->pairs[i].value, b);
		}
		spur_buf_puts(b, "}");
	} else if (n->kind == SPUR_YNODE_SEQ) {
		spur_buf_puts(b, "[");
		for (i = 0; i < n->n; i++) {
			if (i)
				spur_buf_puts(b, ",");
			yaml_to_json(n->items[i], b);
		}
		spur_buf_puts(b, "]");
	} else if (spur_yaml_is_null(n)) {
		spur_buf_puts(b, "null");
	} else {
		struct spur_json_error e;
		const char *t = n->text;
		bool raw = !n->quoted && (strcmp(t, "true") == 0 || strcmp(t, "false") == 0 ||
					  ((t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) &&
					   spur_json_check(t, strlen(t), &e) == 0));
		if (raw)
			spur_buf_puts(b, t);
		else
			spur_buf_json_string(b, t, strlen(t));
	}
}

void spur_config_parse_destinations(struct spur_walk *w, const struct spur_ypair *p,
				    void *base, const struct spur_field *f)
{
	struct spur_config *cfg = base;
	const struct spur_ynode *v = p->value;
	size_t i, j;

	cfg->dests = spur_config_section_array(w, v, SPUR_YNODE_MAP,
					       sizeof(*cfg->dests),
					       "destinations: expected a mapping of destination names");
	if (!cfg->dests)
		return;
	for (i = 0; i < v->n; i++) {
		const struct spur_ypair *dp = &v->pairs[i];
		const struct spur_ynode *d = dp->value;
		const struct spur_ypair *type = d->kind == SPUR_YNODE_MAP ?
			spur_yaml_map_find(d, "type") : NULL;
		struct spur_buf opts;

		if (!is_word(dp->key) || strchr(dp->key, '.') || strchr(dp->key, ':')) {
			spur_option_report(w, dp->line, "invalid destination name '%s'", dp->key);
			continue;
		}
		if (d->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, d->line, "destination '%s': expected a mapping, got %s",
					   dp->key, spur_yaml_kind_name(d));
			continue;
		}
		if (!type || type->value->kind != SPUR_YNODE_SCALAR || !is_word(type->value->text)) {
			spur_option_report(w, dp->line, "destination '%s': missing or invalid 'type' (mqtt, http, zmq, file, ...)",
					   dp->key);
			continue;
		}
		spur_buf_init(&opts);
		spur_buf_puts(&opts, "{");
		for (j = 0; j < d->n; j++) {
			if (strcmp(d->pairs[j].key, "type") == 0)
				continue;
			if (opts.len > 1)
				spur_buf_puts(&opts, ",");
			spur_buf_json_string(&opts, d->pairs[j].key, strlen(d->pairs[j].key));
			spur_buf_puts(&opts, ":");
			yaml_to_json(d->pairs[j].value, &opts);
		}
		spur_buf_puts(&opts, "}");
		cfg->dests[cfg->n_dests] = (struct spur_dest_config){
			.name = spur_option_mem_strdup(cfg, dp->key),
			.line = dp->line,
			.type = spur_option_mem_strdup(cfg, type->value->text),
			.node = d,
			.options = opts.failed ? NULL : spur_option_mem_strdup(cfg, opts.data),
		};
		spur_buf_fini(&opts);
		if (!cfg->dests[cfg->n_dests].options)
			spur_option_oom(w, dp->line);
		cfg->n_dests++;
	}
}

/* filters: a list of up to SPUR_FILTER_MAX patterns, kept as JSON text. */
static void parse_filters(struct spur_walk *w, const struct spur_ypair *p, void *base,
			  const struct spur_field *f)
{
	struct spur_mapping_config *mc = base;
	const struct spur_ynode *v = p->value;
	size_t i;

	if (spur_yaml_is_null(v))
		return;
	if (v->kind != SPUR_YNODE_SEQ) {
		spur_option_report(w, v->line, "filters: expected a list of patterns, got %s",
				   spur_yaml_kind_name(v));
		return;
	}
	if (v->n > SPUR_FILTER_MAX) {
		spur_option_report(w, v->line, "filters: %zu patterns; at most %d", v->n, SPUR_FILTER_MAX);
		return;
	}
	if (w->store && !(mc->filters.v = spur_option_mem_alloc(w->cfg, (v->n + 1) * sizeof(char *)))) {
		spur_option_oom(w, v->line);
		return;
	}
	for (i = 0; i < v->n; i++) {
		struct spur_buf b;
		char why[256];

		spur_buf_init(&b);
		yaml_to_json(v->items[i], &b);
		if (b.failed) {
			spur_option_oom(w, v->items[i]->line);
		} else if (v->items[i]->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, v->items[i]->line, "filters: a pattern is a mapping, got %s",
					   spur_yaml_kind_name(v->items[i]));
		} else if (spur_filter_check(b.data, b.len, why, sizeof(why)) < 0) {
			spur_option_report(w, v->items[i]->line, "filters: %s", why);
		} else if (w->store) {
			mc->filters.v[mc->filters.n] = spur_option_mem_strdup(w->cfg, b.data);
			if (!mc->filters.v[mc->filters.n])
				spur_option_oom(w, v->items[i]->line);
			else
				mc->filters.n++;
		}
		spur_buf_fini(&b);
	}
}

void spur_config_parse_mappings(struct spur_walk *w, const struct spur_ypair *p, void *base,
				const struct spur_field *f)
{
	struct spur_config *cfg = base;
	const struct spur_ynode *v = p->value;
	size_t i;

	cfg->mappings = spur_config_section_array(w, v, SPUR_YNODE_SEQ, sizeof(*cfg->mappings),
						  "mappings: expected a list of mappings");
	if (!cfg->mappings)
		return;
	for (i = 0; i < v->n; i++) {
		const struct spur_ynode *it = v->items[i];
		struct spur_mapping_config *mc = &cfg->mappings[cfg->n_mappings];

		if (it->kind != SPUR_YNODE_MAP) {
			spur_option_report(w, it->line, "mappings: expected a mapping, got %s",
					   spur_yaml_kind_name(it));
			continue;
		}
		*mc = (struct spur_mapping_config){ .line = it->line };
		spur_option_walk(w, it, mapping_table, mc, it->line, "mapping", NULL);
		if (mc->source && strncmp(mc->source, "queue://", 8) == 0)
			mc->queue = mc->source + 8;
		cfg->n_mappings++;
	}
}

/* The function a "fn[:qual]" target names exists. */
static bool target_exists(const struct spur_config *cfg, const char *target)
{
	char name[65];
	size_t n = strcspn(target, ":");

	if (n >= sizeof(name))
		return false;
	memcpy(name, target, n);
	name[n] = '\0';
	return spur_config_function(cfg, name) != NULL;
}

/* queue:// and function:// destinations of one list name what exists. */
static void check_dest_list(struct spur_walk *w, int line, const char *owner, const char *what,
			    const struct spur_strlist *list)
{
	const struct spur_config *cfg = w->cfg;

	for (size_t j = 0; j < list->n; j++) {
		const char *d = list->v[j];

		if (!strstr(d, "://") && !spur_config_destination(cfg, d))
			spur_option_report(w, line, "%s: %s: no destination named '%s' in destinations:",
					   owner, what, d);
		if (strncmp(d, "queue://", 8) == 0 && !spur_config_queue(cfg, d + 8))
			spur_option_report(w, line, "%s: %s: no queue named '%s' in queues:",
					   owner, what, d + 8);
		if (strncmp(d, "function://", 11) == 0 && !target_exists(cfg, d + 11))
			spur_option_report(w, line, "%s: %s: no function named '%.*s'", owner, what,
					   (int)strcspn(d + 11, ":"), d + 11);
	}
}

void spur_config_check_destinations(struct spur_walk *w)
{
	const struct spur_config *cfg = w->cfg;
	char owner[96];

	for (size_t i = 0; i < cfg->n_functions; i++) {
		const struct spur_fn_config *fn = &cfg->functions[i];

		snprintf(owner, sizeof(owner), "function '%s'", fn->name);
		check_dest_list(w, fn->line, owner, "on_success", &fn->on_success);
		check_dest_list(w, fn->line, owner, "on_failure", &fn->on_failure);
	}
}

/* dead_letter queues exist; mappings read queues and call functions that exist. */
void spur_config_check_queues(struct spur_walk *w)
{
	const struct spur_config *cfg = w->cfg;

	for (size_t i = 0; i < cfg->n_queues; i++) {
		const struct spur_queue_config *q = &cfg->queues[i];

		if (!q->dead_letter && q->max_receive > 0)
			spur_option_report(w, q->line, "queue '%s': max_receive needs dead_letter (where "
					   "redriven messages go)", q->name);
		if (!q->dead_letter)
			continue;
		if (strcmp(q->dead_letter, q->name) == 0)
			spur_option_report(w, q->line, "queue '%s': dead_letter names the queue itself",
					   q->name);
		else if (!spur_config_queue(cfg, q->dead_letter))
			spur_option_report(w, q->line, "queue '%s': dead_letter: no queue named '%s' in queues:",
					   q->name, q->dead_letter);
		if (q->max_receive == 0)
			spur_option_warn(w, q->line, "queue '%s': dead_letter without max_receive: "
					 "messages are never redriven", q->name);
	}
	for (size_t i = 0; i < cfg->n_mappings; i++) {
		const struct spur_mapping_config *m = &cfg->mappings[i];

		if (m->queue && !spur_config_queue(cfg, m->queue))
			spur_option_report(w, m->line, "mapping: source: no queue named '%s' in queues:",
					   m->queue);
		if (m->function && !target_exists(cfg, m->function))
			spur_option_report(w, m->line, "mapping: no function named '%.*s'",
					   (int)strcspn(m->function, ":"), m->function);
		check_dest_list(w, m->line, "mapping", "on_failure", &m->on_failure);
	}
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct spur_route_config *r = &cfg->routes[i];

		if (r->queue && !spur_config_queue(cfg, r->queue))
			spur_option_report(w, r->line, "route %s '%s': no queue named '%s' in queues:",
					   r->kind, r->match ? r->match : "", r->queue);
	}
}

/* ---- public ------------------------------------------------------------------ */

const struct spur_dest_config *spur_config_destination(const struct spur_config *cfg,
						       const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_dests; i++)
		if (strcmp(cfg->dests[i].name, name) == 0)
			return &cfg->dests[i];
	return NULL;
}

const struct spur_queue_config *spur_config_queue(const struct spur_config *cfg,
						  const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_queues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return &cfg->queues[i];
	return NULL;
}
