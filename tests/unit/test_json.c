/* SPDX-License-Identifier: MIT */
/*
 * test_json.c - the JSON checker: every row of BAD_INPUTS' JSON table,
 * positions of errors, and agreement with jansson (which parses what the
 * checker passes) over valid and invalid documents.
 */
#include <check.h>

#include "harness.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int check_str(const char *s, struct spur_json_error *e)
{
	return spur_json_check(s, strlen(s), e);
}

static const char *valid[] = {
	"{}", "[]", "0", "-0", "1.5", "-1e10", "1E+2", "2e-400", "\"\"", "true", "false", "null",
	" { \"a\" : [1, 2, {\"b\": null}], \"c\": \"\\u00e9\\n\\\"\" } ",
	"[\"\\ud83d\\ude00\"]", "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"",
	"9223372036854775807", "-9223372036854775808", "[[[[]]]]", "{\"a\":{\"b\":{}}}",
	"\"\\/\\b\\f\\r\\t\"", "1.7976931348623157e308",
};

static const char *invalid[] = {
	"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "1.", ".5",
	"1e", "-", "+1", "tru", "nul", "NaN", "Infinity", "1e400", "-1e400",
	"9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
	"{} x", "[] []", "\xef\xbb\xbf{}", "\"\x01\"", "\"a\tb\"", "\"\\x\"", "\"\\u12\"",
	"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
	"\"\xed\xa0\x80\"", "\"\xff\"", "\"\xc3\"", "\"abc", "'a'", "[1]]",
};

START_TEST(accepts_valid)
{
	struct spur_json_error e;
	for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++) {
		ck_assert_msg(check_str(valid[i], &e) == 0, "%s: %s", valid[i], e.text);
		json_t *j = json_loads(valid[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		ck_assert_msg(j != NULL, "jansson refuses what we pass: %s", valid[i]);
		json_decref(j);
	}
}
END_TEST

START_TEST(rejects_invalid)
{
	struct spur_json_error e;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
		ck_assert_msg(check_str(invalid[i], &e) < 0, "accepted: %s", invalid[i]);
		ck_assert(e.line >= 1 && e.column >= 1 && e.text[0]);
		json_t *j = json_loads(invalid[i], JSON_DECODE_ANY, NULL);
		ck_assert_msg(j == NULL, "jansson accepts what we refuse: %s", invalid[i]);
	}
}
END_TEST

START_TEST(positions)
{
	struct spur_json_error e;
	ck_assert_int_lt(check_str("{\n  \"a\": 1,\n  \"b\": tru\n}", &e), 0);
	ck_assert_int_eq(e.line, 3);
	ck_assert_int_eq(e.column, 8);
	ck_assert_int_lt(check_str("[1, 2] garbage", &e), 0);
	ck_assert_str_eq(e.text, "end of file expected");
	ck_assert_int_eq(e.column, 8);
	ck_assert_int_lt(check_str("1e400", &e), 0);
	ck_assert_str_eq(e.text, "real number overflow");
	ck_assert_int_lt(check_str("99999999999999999999", &e), 0);
	ck_assert_str_eq(e.text, "too big integer");
}
END_TEST

static char *nested(size_t depth)
{
	char *s = malloc(depth * 2 + 1);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[depth * 2] = '\0';
	return s;
}

START_TEST(depth_limit)
{
	struct spur_json_error e;
	char *ok = nested(SPUR_JSON_MAX_DEPTH);
	ck_assert_int_eq(check_str(ok, &e), 0);
	free(ok);
	char *deep = nested(100000);	/* BAD_INPUTS: 100,000 deep → 400, no stack */
	ck_assert_int_lt(check_str(deep, &e), 0);
	ck_assert_str_eq(e.text, "maximum parsing depth reached");
	ck_assert_int_eq(e.column, SPUR_JSON_MAX_DEPTH + 1);
	free(deep);
	char obj[64 * 8 + 8] = "";
	for (int i = 0; i < 64; i++)
		strcat(obj, "{\"k\":");
	strcat(obj, "1");
	for (int i = 0; i < 64; i++)
		strcat(obj, "}");
	ck_assert_int_eq(check_str(obj, &e), 0);
}
END_TEST

START_TEST(nul_bytes)
{
	struct spur_json_error e;
	ck_assert_int_eq(check_str("\"a\\u0000b\"", &e), 0);
	ck_assert_int_lt(spur_json_check("\"a\0b\"", 5, &e), 0);	/* a raw NUL is a control character */
	ck_assert_int_lt(spur_json_check("{}\0", 3, &e), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("check");
	tcase_add_test(tc, accepts_valid);
	tcase_add_test(tc, rejects_invalid);
	tcase_add_test(tc, positions);
	tcase_add_test(tc, depth_limit);
	tcase_add_test(tc, nul_bytes);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
