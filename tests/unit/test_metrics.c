/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the metrics registry and its Prometheus text
 * (router/base/metrics.c), built with the base layer alone: one handle
 * per name and label set, HELP/TYPE once per family with its series kept
 * together, collectors run in order before the series and at most 8 of
 * them, cumulative histogram buckets whose +Inf is the count.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

/* How many times `needle` occurs in `s`. */
static int occurrences(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The line of `text` that starts with `prefix`, as a value (-1: none). */
static double sample(const char *text, const char *prefix)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, strlen(prefix)) == 0 && p[strlen(prefix)] == ' ')
			return strtod(p + strlen(prefix) + 1, NULL);
	return -1;
}

START_TEST(same_name_and_labels_same_handle)
{
	struct spur_metrics *m = spur_metrics_new();
	struct spur_counter *a = spur_metrics_counter(m, "jobs_total", "Jobs.", "kind=\"a\"");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(spur_metrics_counter(m, "jobs_total", "other help", "kind=\"a\""), a);
	struct spur_counter *b = spur_metrics_counter(m, "jobs_total", "Jobs.", "kind=\"b\"");
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	struct spur_counter *none = spur_metrics_counter(m, "jobs_total", "Jobs.", NULL);
	ck_assert_ptr_ne(none, a);
	ck_assert_ptr_eq(spur_metrics_counter(m, "jobs_total", "Jobs.", ""), none);
	ck_assert_ptr_ne((void *)spur_metrics_counter(m, "other_total", "O.", "kind=\"a\""),
			 (void *)a);
	struct spur_gauge *g = spur_metrics_gauge(m, "depth", "Depth.", "q=\"x\"");
	ck_assert_ptr_eq(spur_metrics_gauge(m, "depth", "Depth.", "q=\"x\""), g);
	/* counting through either lookup adds to the one series */
	spur_counter_add(a, 2);
	spur_counter_add(spur_metrics_counter(m, "jobs_total", NULL, "kind=\"a\""), 3);
	char *text = spur_metrics_render_text(m, NULL);
	ck_assert_double_eq(sample(text, "jobs_total{kind=\"a\"}"), 5);
	ck_assert_double_eq(sample(text, "jobs_total{kind=\"b\"}"), 0);
	free(text);
	ck_assert_ptr_null(spur_metrics_counter(m, NULL, "h", NULL));
	spur_counter_add(NULL, 1);		/* no-ops */
	spur_gauge_set(NULL, 1);
	spur_metrics_free(m);
	spur_metrics_free(NULL);
}
END_TEST

START_TEST(prometheus_text_one_header_per_family)
{
	struct spur_metrics *m = spur_metrics_new();
	spur_counter_add(spur_metrics_counter(m, "req_total", "Requests.", "code=\"2xx\""), 3);
	struct spur_gauge *g = spur_metrics_gauge(m, "inflight", "Running now.", NULL);
	spur_gauge_set(g, 10);
	spur_gauge_add(g, -15);
	/* registered after the gauge, rendered with its own family */
	spur_counter_add(spur_metrics_counter(m, "req_total", "Requests.", "code=\"5xx\""), 4);
	size_t len = 0;
	char *text = spur_metrics_render_text(m, &len);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_int_eq(occurrences(text, "# HELP req_total Requests.\n"), 1);
	ck_assert_int_eq(occurrences(text, "# TYPE req_total counter\n"), 1);
	ck_assert_int_eq(occurrences(text, "# HELP inflight Running now.\n"), 1);
	ck_assert_int_eq(occurrences(text, "# TYPE inflight gauge\n"), 1);
	ck_assert_ptr_nonnull(strstr(text, "req_total{code=\"2xx\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "req_total{code=\"5xx\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(text, "\ninflight -5\n"));	/* no braces without labels */
	/* both req_total series come before the next family's header */
	ck_assert(strstr(text, "req_total{code=\"5xx\"}") < strstr(text, "# HELP inflight"));
	ck_assert(strstr(text, "# TYPE req_total") < strstr(text, "req_total{code=\"2xx\"}"));
	free(text);
	spur_metrics_free(m);
}
END_TEST

struct calls {
	int n;
	char order[16];
};

static void collect_a(void *ud, struct spur_buf *b)
{
	struct calls *c = ud;
	c->order[c->n++] = 'a';
	spur_metrics_header(b, "a_depth", "From collector a.", "gauge");
	spur_buf_puts(b, "a_depth 1\n");
}

static void collect_b(void *ud, struct spur_buf *b)
{
	struct calls *c = ud;
	c->order[c->n++] = 'b';
	spur_metrics_header(b, "b_depth", "From collector b.", "gauge");
	spur_buf_puts(b, "b_depth 2\n");
}

START_TEST(collectors_run_in_order_before_the_series)
{
	struct spur_metrics *m = spur_metrics_new();
	struct calls c = { 0 };
	spur_counter_add(spur_metrics_counter(m, "series_total", "A series.", NULL), 1);
	ck_assert_int_eq(spur_metrics_add_collector(m, collect_b, &c), 0);
	ck_assert_int_eq(spur_metrics_add_collector(m, collect_a, &c), 0);
	char *text = spur_metrics_render_text(m, NULL);
	ck_assert_int_eq(c.n, 2);
	ck_assert_int_eq(c.order[0], 'b');
	ck_assert_int_eq(c.order[1], 'a');
	const char *b = strstr(text, "# HELP b_depth From collector b.\n# TYPE b_depth gauge\nb_depth 2\n");
	const char *a = strstr(text, "# HELP a_depth From collector a.\n# TYPE a_depth gauge\na_depth 1\n");
	const char *series = strstr(text, "# HELP series_total");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(series);
	ck_assert(b < a);
	ck_assert(a < series);
	free(text);
	/* every scrape runs them again */
	text = spur_metrics_render_text(m, NULL);
	ck_assert_int_eq(c.n, 4);
	free(text);
	spur_metrics_free(m);
}
END_TEST

static void collect_count(void *ud, struct spur_buf *b)
{
	(*(int *)ud)++;
}

START_TEST(the_ninth_collector_is_refused)
{
	struct spur_metrics *m = spur_metrics_new();
	int ran = 0;
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(spur_metrics_add_collector(m, collect_count, &ran), 0);
	ck_assert_int_eq(spur_metrics_add_collector(m, collect_count, &ran), -ENOSPC);
	ck_assert_int_eq(spur_metrics_add_collector(m, collect_count, &ran), -ENOSPC);
	free(spur_metrics_render_text(m, NULL));
	ck_assert_int_eq(ran, 8);
	spur_metrics_free(m);
}
END_TEST

/* Observations of 0.5 ms, 3 ms (twice), 0.2 s, 2 s and 120 s (past the
 * last bucket, 60 s): each bucket counts what is at most its bound, so
 * they never decrease, and +Inf and _count are all six. */
START_TEST(histogram_buckets_are_cumulative)
{
	struct spur_hist h = { 0 };
	static const int64_t ms[] = { 0, 3, 3, 200, 2000, 120000 };
	spur_hist_observe(&h, 500000);		/* 0.5 ms */
	for (size_t i = 1; i < SPUR_ARRAY_SIZE(ms); i++)
		spur_hist_observe(&h, ms[i] * 1000000);
	struct spur_buf b;
	spur_buf_init(&b);
	spur_metrics_header(&b, "lat_seconds", "Latency.", "histogram");
	spur_metrics_hist(&b, "lat_seconds", "fn=\"f\"", &h);
	const char *text = b.data;
	ck_assert_int_eq(occurrences(text, "# TYPE lat_seconds histogram\n"), 1);
	ck_assert_int_eq(occurrences(text, "lat_seconds_bucket{"), SPUR_HIST_BUCKETS + 1);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"0.001\"}"), 1);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"0.0025\"}"), 1);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"0.005\"}"), 3);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"0.25\"}"), 4);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"2.5\"}"), 5);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"60\"}"), 5);
	ck_assert_double_eq(sample(text, "lat_seconds_bucket{fn=\"f\",le=\"+Inf\"}"), 6);
	ck_assert_double_eq(sample(text, "lat_seconds_count{fn=\"f\"}"), 6);
	ck_assert_double_eq_tol(sample(text, "lat_seconds_sum{fn=\"f\"}"), 122.2065, 1e-6);
	/* never decreasing, bucket by bucket */
	double last = 0;
	int buckets = 0;
	for (const char *p = strstr(text, "lat_seconds_bucket{"); p;
	     p = strstr(p + 1, "lat_seconds_bucket{")) {
		double v = strtod(strchr(p, ' ') + 1, NULL);
		ck_assert_double_ge(v, last);
		last = v;
		buckets++;
	}
	ck_assert_int_eq(buckets, SPUR_HIST_BUCKETS + 1);
	ck_assert_double_eq(last, 6);
	spur_buf_fini(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, same_name_and_labels_same_handle);
	tcase_add_test(tc, prometheus_text_one_header_per_family);
	tcase_add_test(tc, collectors_run_in_order_before_the_series);
	tcase_add_test(tc, the_ninth_collector_is_refused);
	tcase_add_test(tc, histogram_buckets_are_cumulative);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
