/* SPDX-License-Identifier: MIT */
/*
 * test_filter.c - EventBridge-style patterns (filter.c): each matcher,
 * nesting, arrays in events, OR across patterns, and the checks that
 * refuse malformed patterns at config load.
 */
#include <check.h>

#include "harness.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

/* Does `event` match the patterns (a NULL-terminated list)? */
static bool match(const char *event, const char *const *patterns)
{
	size_t n = 0;
	while (patterns[n])
		n++;
	struct spur_filter *f = spur_filter_new((char *const *)patterns, n);
	ck_assert_msg(f != NULL, "pattern refused: %s", n ? patterns[0] : "");
	json_t *ev = json_loads(event, 0, NULL);
	ck_assert_msg(ev != NULL, "bad test event: %s", event);
	bool ok = spur_filter_match(f, ev);
	json_decref(ev);
	spur_filter_free(f);
	return ok;
}

static bool m1(const char *event, const char *pattern)
{
	const char *p[] = { pattern, NULL };
	return match(event, p);
}

START_TEST(exact_values)
{
	const char *p = "{\"body\":{\"kind\":[\"order\",\"refund\"]}}";
	ck_assert(m1("{\"body\":{\"kind\":\"order\"}}", p));
	ck_assert(m1("{\"body\":{\"kind\":\"refund\",\"x\":1}}", p));
	ck_assert(!m1("{\"body\":{\"kind\":\"Order\"}}", p));
	ck_assert(!m1("{\"body\":{}}", p));
	ck_assert(!m1("{\"body\":\"order\"}", p));
	/* a lone scalar is a list of one; numbers compare by value */
	ck_assert(m1("{\"body\":{\"n\":5.0}}", "{\"body\":{\"n\":5}}"));
	ck_assert(m1("{\"body\":{\"ok\":true}}", "{\"body\":{\"ok\":[true]}}"));
	ck_assert(!m1("{\"body\":{\"ok\":\"true\"}}", "{\"body\":{\"ok\":[true]}}"));
	ck_assert(m1("{\"body\":{\"v\":null}}", "{\"body\":{\"v\":[null]}}"));
	ck_assert(!m1("{\"body\":{}}", "{\"body\":{\"v\":[null]}}"));
	/* an array in the event matches when one element does */
	ck_assert(m1("{\"body\":{\"tags\":[\"a\",\"b\"]}}", "{\"body\":{\"tags\":[\"b\"]}}"));
	ck_assert(!m1("{\"body\":{\"tags\":[\"a\",\"c\"]}}", "{\"body\":{\"tags\":[\"b\"]}}"));
	/* a string body matched as a string */
	ck_assert(m1("{\"body\":\"hello\"}", "{\"body\":[\"hello\"]}"));
}
END_TEST

START_TEST(prefix_suffix_case)
{
	ck_assert(m1("{\"a\":\"order-17\"}", "{\"a\":[{\"prefix\":\"order-\"}]}"));
	ck_assert(!m1("{\"a\":\"refund-17\"}", "{\"a\":[{\"prefix\":\"order-\"}]}"));
	ck_assert(!m1("{\"a\":17}", "{\"a\":[{\"prefix\":\"1\"}]}"));
	ck_assert(m1("{\"a\":\"photo.png\"}", "{\"a\":[{\"suffix\":\".png\"}]}"));
	ck_assert(!m1("{\"a\":\"png\"}", "{\"a\":[{\"suffix\":\".png\"}]}"));
	ck_assert(m1("{\"a\":\"ORDER\"}", "{\"a\":[{\"equals-ignore-case\":\"order\"}]}"));
}
END_TEST

START_TEST(anything_but)
{
	const char *p = "{\"a\":[{\"anything-but\":[\"x\",\"y\"]}]}";
	ck_assert(m1("{\"a\":\"z\"}", p));
	ck_assert(!m1("{\"a\":\"x\"}", p));
	ck_assert(!m1("{}", p));	/* absent fields do not match */
	ck_assert(m1("{\"a\":1}", "{\"a\":[{\"anything-but\":2}]}"));
	ck_assert(!m1("{\"a\":2}", "{\"a\":[{\"anything-but\":2}]}"));
	ck_assert(m1("{\"a\":\"abc\"}", "{\"a\":[{\"anything-but\":{\"prefix\":\"x\"}}]}"));
	ck_assert(!m1("{\"a\":\"xbc\"}", "{\"a\":[{\"anything-but\":{\"prefix\":\"x\"}}]}"));
}
END_TEST

START_TEST(numeric)
{
	const char *p = "{\"n\":[{\"numeric\":[\">\",0,\"<=\",5]}]}";
	ck_assert(m1("{\"n\":5}", p));
	ck_assert(m1("{\"n\":0.5}", p));
	ck_assert(!m1("{\"n\":0}", p));
	ck_assert(!m1("{\"n\":5.01}", p));
	ck_assert(!m1("{\"n\":\"3\"}", p));
	ck_assert(m1("{\"n\":3}", "{\"n\":[{\"numeric\":[\"=\",3]}]}"));
	ck_assert(m1("{\"n\":[9,3]}", "{\"n\":[{\"numeric\":[\"<\",4]}]}"));
}
END_TEST

START_TEST(exists)
{
	ck_assert(m1("{\"a\":{\"b\":1}}", "{\"a\":{\"b\":[{\"exists\":true}]}}"));
	ck_assert(!m1("{\"a\":{}}", "{\"a\":{\"b\":[{\"exists\":true}]}}"));
	ck_assert(m1("{\"a\":{}}", "{\"a\":{\"b\":[{\"exists\":false}]}}"));
	ck_assert(m1("{}", "{\"a\":{\"b\":[{\"exists\":false}]}}"));
	ck_assert(!m1("{\"a\":{\"b\":null}}", "{\"a\":{\"b\":[{\"exists\":false}]}}"));
}
END_TEST

START_TEST(and_or)
{
	const char *both = "{\"body\":{\"kind\":[\"order\"],\"n\":[{\"numeric\":[\">\",10]}]},"
			   "\"attributes\":{\"ApproximateReceiveCount\":[\"1\"]}}";
	ck_assert(m1("{\"body\":{\"kind\":\"order\",\"n\":11},\"attributes\":{\"ApproximateReceiveCount\":\"1\"}}", both));
	ck_assert(!m1("{\"body\":{\"kind\":\"order\",\"n\":11},\"attributes\":{\"ApproximateReceiveCount\":\"2\"}}", both));
	ck_assert(!m1("{\"body\":{\"kind\":\"order\",\"n\":1},\"attributes\":{\"ApproximateReceiveCount\":\"1\"}}", both));
	const char *any[] = { "{\"k\":[\"a\"]}", "{\"k\":[\"b\"]}", "{\"j\":[{\"exists\":true}]}", NULL };
	ck_assert(match("{\"k\":\"a\"}", any));
	ck_assert(match("{\"k\":\"b\"}", any));
	ck_assert(match("{\"k\":\"c\",\"j\":0}", any));
	ck_assert(!match("{\"k\":\"c\"}", any));
	const char *none[] = { NULL };
	ck_assert(match("{}", none));	/* no patterns: everything passes */
}
END_TEST

START_TEST(checks)
{
	static const char *const bad[] = {
		"[]", "{}", "not json", "{\"a\":[]}", "{\"a\":[{\"prefix\":1}]}",
		"{\"a\":[{\"numeric\":[\">\"]}]}", "{\"a\":[{\"numeric\":[\"!\",1]}]}",
		"{\"a\":[{\"numeric\":[\">\",\"1\"]}]}", "{\"a\":[{\"exists\":\"yes\"}]}",
		"{\"a\":[{\"wildcard\":\"*\"}]}", "{\"a\":[{\"prefix\":\"a\",\"suffix\":\"b\"}]}",
		"{\"a\":[{\"anything-but\":{\"numeric\":[\">\",1]}}]}", "{\"a\":[[1]]}",
	};
	char why[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		why[0] = '\0';
		ck_assert_msg(spur_filter_check(bad[i], strlen(bad[i]), why, sizeof(why)) < 0,
			      "accepted: %s", bad[i]);
		ck_assert_msg(why[0], "no reason for %s", bad[i]);
	}
	const char *good = "{\"body\":{\"kind\":[\"order\",{\"prefix\":\"o-\"}],\"n\":[{\"numeric\":[\">=\",1]}]}}";
	ck_assert_int_eq(spur_filter_check(good, strlen(good), why, sizeof(why)), 0);
	const char *six[] = { good, good, good, good, good, good };
	ck_assert(spur_filter_new((char *const *)six, 6) == NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, exact_values);
	tcase_add_test(tc, prefix_suffix_case);
	tcase_add_test(tc, anything_but);
	tcase_add_test(tc, numeric);
	tcase_add_test(tc, exists);
	tcase_add_test(tc, and_or);
	tcase_add_test(tc, checks);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
