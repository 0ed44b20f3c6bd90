/* SPDX-License-Identifier: MIT */
/*
 * top.c - `spur top`: per function version rates, errors, throttles,
 * p50/p99 durations, cold starts and contexts, then queue depths, from a
 * router's GET /metrics (Prometheus text 0.0.4, parsed here: one sample
 * a line, `name{label="value",...} value [timestamp]`, # lines skipped).
 *
 * Rates are the difference of two scrapes over the time between them.
 * p50/p99 are estimated from the duration histogram's buckets the way
 * PromQL's histogram_quantile() does (linear within the bucket): over
 * the observations of the last interval when there were any, else over
 * all since the router started (marked with '*').
 * On a terminal the screen is cleared and redrawn every interval; to a
 * pipe the tables follow one another. --once scrapes twice, one interval
 * apart, prints one table and exits.
 * The HTTP call is cli.c's spur_cli_http_call(); exit codes as in cli.h.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "top.h"
#include "util.h"

#define TOP_MAX_BUCKETS 32

/* --- the Prometheus text format ------------------------------------------------ */

struct label {
	char *name, *value;
};

struct sample {
	char *name;
	struct label *labels;
	size_t n_labels;
	double value;
};

struct scrape {
	struct sample *v;
	size_t n, cap;
	double at;			/* CLOCK_MONOTONIC seconds */
};

static void sample_free(struct sample *x)
{
	for (size_t k = 0; k < x->n_labels; k++) {
		free(x->labels[k].name);
		free(x->labels[k].value);
	}
	free(x->labels);
	free(x->name);
	memset(x, 0, sizeof(*x));
}

static void scrape_free(struct scrape *s)
{
	for (size_t i = 0; i < s->n; i++)
		sample_free(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* A label value after its opening quote; *p ends after the closing one. */
static char *label_value(const char **p, const char *end)
{
	struct spur_buf b;
	spur_buf_init(&b);
	const char *s = *p;
	while (s < end && *s != '"') {
		char c = *s++;
		if (c == '\\' && s < end) {
			c = *s++;
			if (c == 'n')
				c = '\n';
		}
		spur_buf_append(&b, &c, 1);
	}
	if (s >= end || b.failed) {
		spur_buf_fini(&b);
		return NULL;
	}
	*p = s + 1;
	size_t n;
	char *out = spur_buf_steal(&b, &n);
	return out ? out : strdup("");
}

/* One sample line (no '#', not blank); -1 when it is not one. */
static int parse_line(const char *s, const char *end, struct sample *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = s;
	if (p >= end || !name_char(*p, true))
		return -1;
	while (p < end && name_char(*p, false))
		p++;
	out->name = strndup(s, (size_t)(p - s));
	if (!out->name)
		return -1;
	if (p < end && *p == '{') {
		p++;
		for (;;) {
			while (p < end && (*p == ' ' || *p == ','))
				p++;
			if (p < end && *p == '}') {
				p++;
				break;
			}
			const char *k = p;
			while (p < end && name_char(*p, p == k))
				p++;
			if (p == k || p + 1 >= end || p[0] != '=' || p[1] != '"')
				goto bad;
			struct label *l = realloc(out->labels, (out->n_labels + 1) * sizeof(*l));
			if (!l)
				goto bad;
			out->labels = l;
			l = &out->labels[out->n_labels];
			l->name = strndup(k, (size_t)(p - k));
			p += 2;
			l->value = label_value(&p, end);
			out->n_labels++;
			if (!l->name || !l->value)
				goto bad;
		}
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	char num[64];
	size_t n = 0;
	while (p < end && *p != ' ' && *p != '\t' && n < sizeof(num) - 1)
		num[n++] = *p++;
	num[n] = '\0';
	char *e;
	out->value = strtod(num, &e);
	if (!n || *e)
		goto bad;
	return 0;
bad:
	sample_free(out);
	return -1;
}

static int parse_text(const char *text, size_t len, struct scrape *out)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		if (s < le && *s != '#') {
			const char *e = le;
			if (e > s && e[-1] == '\r')
				e--;
			struct sample smp;
			if (parse_line(s, e, &smp) == 0) {
				if (out->n == out->cap) {
					size_t cap = out->cap ? out->cap * 2 : 256;
					struct sample *v = realloc(out->v, cap * sizeof(*v));
					if (!v) {
						sample_free(&smp);
						return -1;
					}
					out->v = v;
					out->cap = cap;
				}
				out->v[out->n++] = smp;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static const char *label(const struct sample *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

/* --- what is shown --------------------------------------------------------------- */

struct row {
	const char *fn, *ver;		/* borrowed from the scrape */
	double ran, err, thr, cold;	/* counters */
	double idle, busy, prov, conc;
	bool first_of_fn;
	double le[TOP_MAX_BUCKETS], cum[TOP_MAX_BUCKETS];
	int nb;
};

struct queue_row {
	const char *name;
	double depth;
	bool dlq;
};

struct view {
	struct row *rows;
	size_t n_rows;
	struct queue_row *queues;
	size_t n_queues;
	double http[5];			/* 1xx .. 5xx */
	bool has_http;
	double received, retried, dropped;
	double mqtt_connected;
	bool has_mqtt;
};

static void view_free(struct view *v)
{
	free(v->rows);
	free(v->queues);
	memset(v, 0, sizeof(*v));
}

static struct row *find_row(struct view *v, const char *fn, const char *ver, bool add)
{
	for (size_t i = 0; i < v->n_rows; i++)
		if (strcmp(v->rows[i].fn, fn) == 0 && strcmp(v->rows[i].ver, ver) == 0)
			return &v->rows[i];
	if (!add)
		return NULL;
	struct row *r = realloc(v->rows, (v->n_rows + 1) * sizeof(*r));
	if (!r)
		return NULL;
	v->rows = r;
	r = &v->rows[v->n_rows++];
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->ver = ver;
	return r;
}

static struct queue_row *find_queue(struct view *v, const char *name)
{
	for (size_t i = 0; i < v->n_queues; i++)
		if (strcmp(v->queues[i].name, name) == 0)
			return &v->queues[i];
	struct queue_row *q = realloc(v->queues, (v->n_queues + 1) * sizeof(*q));
	if (!q)
		return NULL;
	v->queues = q;
	q = &v->queues[v->n_queues++];
	memset(q, 0, sizeof(*q));
	q->name = name;
	return q;
}

static void build_view(const struct scrape *s, struct view *v)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < s->n; i++) {
		const struct sample *x = &s->v[i];
		const char *fn = label(x, "function"), *ver = label(x, "version");
		struct row *r = fn && ver ? find_row(v, fn, ver, true) : NULL;
		if (r && strcmp(x->name, "spur_invocations_total") == 0) {
			const char *o = label(x, "outcome");
			if (!o)
				continue;
			if (strcmp(o, "throttled") == 0)
				r->thr += x->value;
			else
				r->ran += x->value;
			if (strcmp(o, "error") == 0 || strcmp(o, "timeout") == 0)
				r->err += x->value;
		} else if (r && strcmp(x->name, "spur_invocation_duration_seconds_bucket") == 0) {
			const char *le = label(x, "le");
			if (le && r->nb < TOP_MAX_BUCKETS) {
				r->le[r->nb] = strtod(le, NULL);
				r->cum[r->nb++] = x->value;
			}
		} else if (r && strcmp(x->name, "spur_cold_starts_total") == 0) {
			r->cold = x->value;
		} else if (r && strcmp(x->name, "spur_contexts") == 0) {
			const char *st = label(x, "state");
			if (st && strcmp(st, "idle") == 0)
				r->idle = x->value;
			else if (st && strcmp(st, "busy") == 0)
				r->busy = x->value;
			else if (st && strcmp(st, "provisioned") == 0)
				r->prov = x->value;
		} else if (strcmp(x->name, "spur_queue_depth") == 0 ||
			   strcmp(x->name, "spur_dead_letter_depth") == 0) {
			const char *q = label(x, "queue");
			struct queue_row *qr = q ? find_queue(v, q) : NULL;
			if (qr) {
				qr->depth = x->value;
				qr->dlq |= strcmp(x->name, "spur_dead_letter_depth") == 0;
			}
		} else if (strcmp(x->name, "spur_http_requests_total") == 0) {
			const char *c = label(x, "code");
			if (c && c[0] >= '1' && c[0] <= '5') {
				v->http[c[0] - '1'] += x->value;
				v->has_http = true;
			}
		} else if (strcmp(x->name, "spur_async_events_received_total") == 0) {
			v->received += x->value;
		} else if (strcmp(x->name, "spur_async_events_retried_total") == 0) {
			v->retried += x->value;
		} else if (strcmp(x->name, "spur_async_events_dropped_total") == 0) {
			v->dropped += x->value;
		} else if (strcmp(x->name, "spur_mqtt_connected") == 0) {
			v->mqtt_connected = x->value;
			v->has_mqtt = true;
		}
	}
	/* concurrency is per function: on the function's first row */
	for (size_t i = 0; i < v->n_rows; i++) {
		bool first = true;
		for (size_t k = 0; k < i; k++)
			first &= strcmp(v->rows[k].fn, v->rows[i].fn) != 0;
		v->rows[i].first_of_fn = first;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct sample *x = &s->v[i];
		const char *fn = label(x, "function");
		if (fn && strcmp(x->name, "spur_concurrent_executions") == 0)
			for (size_t k = 0; k < v->n_rows; k++)
				if (strcmp(v->rows[k].fn, fn) == 0)
					v->rows[k].conc = x->value;
	}
}

/* The q-quantile of a cumulative histogram (le ascending, the last +Inf);
 * NAN when it holds nothing. */
static double quantile(double q, const double *le, const double *cum, int n)
{
	if (n <= 0 || cum[n - 1] <= 0)
		return NAN;
	double rank = q * cum[n - 1];
	for (int i = 0; i < n; i++) {
		if (cum[i] < rank)
			continue;
		if (isinf(le[i]))
			return i > 0 ? le[i - 1] : NAN;
		double lo = i > 0 ? le[i - 1] : 0, below = i > 0 ? cum[i - 1] : 0;
		double in = cum[i] - below;
		return in > 0 ? lo + (le[i] - lo) * (rank - below) / in : le[i];
	}
	return le[n - 1];
}

static void fmt_seconds(char *out, size_t cap, double s)
{
	if (isnan(s))
		snprintf(out, cap, "-");
	else if (s < 0.001)
		snprintf(out, cap, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(out, cap, "%.1fms", s * 1e3);
	else
		snprintf(out, cap, "%.2fs", s);
}

static void fmt_rate(char *out, size_t cap, double now, double before, double dt, bool have)
{
	if (!have || dt <= 0)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.1f", now - before > 0 ? (now - before) / dt : 0.0);
}

static void print_view(FILE *f, const char *endpoint, double interval, const struct view *cur,
		       const struct view *prev, double dt)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "spur top - %s - %s - every %gs", endpoint, when, interval);
	if (prev)
		fprintf(f, " (rates over the last %.1fs)", dt);
	fputc('\n', f);

	int wf = 8, wv = 7;
	for (size_t i = 0; i < cur->n_rows; i++) {
		if ((int)strlen(cur->rows[i].fn) > wf)
			wf = (int)strlen(cur->rows[i].fn);
		if ((int)strlen(cur->rows[i].ver) > wv)
			wv = (int)strlen(cur->rows[i].ver);
	}
	fprintf(f, "\n%-*s  %-*s  %8s %7s %7s %9s %9s %6s %5s %5s %5s %5s\n", wf, "FUNCTION", wv,
		"VERSION", "INV/s", "ERR/s", "THR/s", "P50", "P99", "COLD", "IDLE", "BUSY", "PROV",
		"CONC");
	bool lifetime = false;
	for (size_t i = 0; i < cur->n_rows; i++) {
		const struct row *r = &cur->rows[i];
		const struct row *o = prev ? find_row((struct view *)prev, r->fn, r->ver, false) : NULL;
		char inv[16], err[16], thr[16], p50[16], p99[16], conc[16] = "";
		fmt_rate(inv, sizeof(inv), r->ran, o ? o->ran : 0, dt, o != NULL);
		fmt_rate(err, sizeof(err), r->err, o ? o->err : 0, dt, o != NULL);
		fmt_rate(thr, sizeof(thr), r->thr, o ? o->thr : 0, dt, o != NULL);
		/* the last interval's observations when the buckets line up and
		 * there are some, else everything since the start */
		double win[TOP_MAX_BUCKETS];
		bool windowed = o && o->nb == r->nb && r->nb > 0;
		for (int k = 0; windowed && k < r->nb; k++) {
			windowed = r->le[k] == o->le[k] || (isinf(r->le[k]) && isinf(o->le[k]));
			win[k] = r->cum[k] - o->cum[k];
		}
		if (windowed && win[r->nb - 1] <= 0)
			windowed = false;
		const double *cum = windowed ? win : r->cum;
		fmt_seconds(p50, sizeof(p50), quantile(0.5, r->le, cum, r->nb));
		fmt_seconds(p99, sizeof(p99), quantile(0.99, r->le, cum, r->nb));
		if (!windowed && r->nb > 0 && r->cum[r->nb - 1] > 0) {
			strncat(p50, "*", sizeof(p50) - strlen(p50) - 1);
			strncat(p99, "*", sizeof(p99) - strlen(p99) - 1);
			lifetime = true;
		}
		if (r->first_of_fn)
			snprintf(conc, sizeof(conc), "%.0f", r->conc);
		fprintf(f, "%-*s  %-*s  %8s %7s %7s %9s %9s %6.0f %5.0f %5.0f %5.0f %5s\n", wf,
			r->first_of_fn ? r->fn : "", wv, r->ver, inv, err, thr, p50, p99, r->cold,
			r->idle, r->busy, r->prov, conc);
	}
	if (!cur->n_rows)
		fprintf(f, "(no functions)\n");
	if (lifetime)
		fprintf(f, "* p50/p99 since the router started (nothing ran in the last interval)\n");

	if (cur->n_queues) {
		int wq = 5;
		for (size_t i = 0; i < cur->n_queues; i++)
			if ((int)strlen(cur->queues[i].name) > wq)
				wq = (int)strlen(cur->queues[i].name);
		fprintf(f, "\n%-*s  %10s\n", wq, "QUEUE", "DEPTH");
		for (size_t i = 0; i < cur->n_queues; i++)
			fprintf(f, "%-*s  %10.0f%s\n", wq, cur->queues[i].name, cur->queues[i].depth,
				cur->queues[i].dlq ? "  dead-letter" : "");
	}
	fputc('\n', f);
	fprintf(f, "async: %.0f received, %.0f retried, %.0f dropped", cur->received, cur->retried,
		cur->dropped);
	if (cur->has_http) {
		fprintf(f, "   http:");
		for (int k = 0; k < 5; k++) {
			char rate[16];
			fmt_rate(rate, sizeof(rate), cur->http[k], prev ? prev->http[k] : 0, dt,
				 prev && prev->has_http);
			fprintf(f, " %dxx %s/s", k + 1, rate);
		}
	}
	if (cur->has_mqtt)
		fprintf(f, "   mqtt: %s", cur->mqtt_connected > 0 ? "connected" : "NOT connected");
	fputc('\n', f);
}

/* --- the command ------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* GET /metrics into out; an exit code (said why on stderr). */
static int scrape(const char *endpoint, struct scrape *out)
{
	struct spur_cli_reply r = { 0 };
	long status = 0;
	spur_buf_init(&r.body);
	memset(out, 0, sizeof(*out));
	int rc = spur_cli_http_call("top", endpoint, "GET", "metrics", NULL, 0, NULL, &r, &status);
	if (rc == SPUR_EXIT_OK && status != 200) {
		fprintf(stderr, "spur top: GET %s/metrics: HTTP %ld\n", endpoint, status);
		rc = SPUR_EXIT_SERVER;
	}
	out->at = now_s();
	if (rc == SPUR_EXIT_OK && (r.body.failed || parse_text(r.body.data ? r.body.data : "",
							      r.body.len, out) < 0)) {
		fprintf(stderr, "spur top: out of memory\n");
		rc = SPUR_EXIT_USAGE;
	}
	spur_buf_fini(&r.body);
	return rc;
}

static void top_usage(FILE *out)
{
	fputs("usage: spur top [-e URL] [--interval S] [--once]\n"
	      "  per function version: invocations, errors (error + timeout) and throttles per\n"
	      "  second, p50/p99 duration, cold starts, contexts idle/busy/provisioned and\n"
	      "  concurrent executions; then queue depths. Redrawn every S seconds.\n"
	      "  -e, --endpoint URL  router to watch (default $SPUR_ENDPOINT, else http://127.0.0.1:8080)\n"
	      "  -n, --interval S    seconds between scrapes (default 2; fractions allowed)\n"
	      "  -1, --once          scrape twice, S seconds apart, print one table and exit\n"
	      "The screen is cleared between tables only when stdout is a terminal.\n", out);
}

int spur_cli_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "interval", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("SPUR_ENDPOINT");
	double interval = 2;
	bool once = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:n:1h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'n': {
			char *end;
			interval = strtod(optarg, &end);
			if (end == optarg || *end || !(interval >= 0.05 && interval <= 3600)) {
				fprintf(stderr, "spur top: --interval takes seconds from 0.05 to 3600\n");
				return SPUR_EXIT_USAGE;
			}
			break;
		}
		case '1': once = true; break;
		case 'h': top_usage(stdout); return SPUR_EXIT_OK;
		default: top_usage(stderr); return SPUR_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		top_usage(stderr);
		return SPUR_EXIT_USAGE;
	}
	endpoint = spur_cli_endpoint(endpoint);
	bool tty = isatty(STDOUT_FILENO);
	struct scrape prev = { 0 }, cur = { 0 };
	struct view pv = { 0 }, cv = { 0 };
	bool have_prev = false;
	int rc = scrape(endpoint, &prev);
	if (rc != SPUR_EXIT_OK)
		return rc;
	build_view(&prev, &pv);
	have_prev = true;
	if (!once) {
		if (tty)
			fputs("\033[H\033[2J", stdout);
		print_view(stdout, endpoint, interval, &pv, NULL, 0);
		fflush(stdout);
	}
	for (;;) {
		sleep_s(interval);
		rc = scrape(endpoint, &cur);
		if (rc != SPUR_EXIT_OK) {
			scrape_free(&cur);
			if (once)
				break;
			/* keep watching: the router may come back */
			have_prev = false;
			continue;
		}
		build_view(&cur, &cv);
		if (tty && !once)
			fputs("\033[H\033[2J", stdout);
		else if (!once)
			fputc('\n', stdout);
		print_view(stdout, endpoint, interval, &cv, have_prev ? &pv : NULL,
			   cur.at - prev.at);
		fflush(stdout);
		view_free(&pv);
		scrape_free(&prev);
		prev = cur;
		pv = cv;
		memset(&cur, 0, sizeof(cur));
		memset(&cv, 0, sizeof(cv));
		have_prev = true;
		if (once)
			break;
	}
	view_free(&pv);
	scrape_free(&prev);
	return rc;
}
