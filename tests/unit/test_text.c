/* SPDX-License-Identifier: MIT */
/*
 * test_text.c - the SDK's text helpers (base/text.c, spur/text.h), the
 * one copy the core and the plugins share: strict UTF-8 at its edges,
 * hex, percent-decoding with its refusals, RFC 3339.
 */
#include <check.h>
#include <string.h>

#include "harness.h"
#include "spur/text.h"

START_TEST(utf8_edges)
{
	static const struct { const char *s; size_t n; bool ok; } cases[] = {
		{ "plain", 5, true },
		{ "\xc3\xa9", 2, true },			/* é */
		{ "\xe2\x82\xac", 3, true },			/* € */
		{ "\xf0\x9f\x98\x80", 4, true },		/* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, true },		/* U+10FFFF, the last */
		{ "\xc0\xaf", 2, false },			/* overlong '/' */
		{ "\xe0\x80\xaf", 3, false },			/* overlong, 3 bytes */
		{ "\xed\xa0\x80", 3, false },			/* a surrogate */
		{ "\xf4\x90\x80\x80", 4, false },		/* past U+10FFFF */
		{ "\xe2\x82", 2, false },			/* truncated */
		{ "\x80", 1, false },				/* a lone continuation */
		{ "a\0b", 3, true },				/* NUL is valid UTF-8 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(spur_utf8_valid(cases[i].s, cases[i].n) == cases[i].ok,
			      "case %zu", i);
	ck_assert_uint_eq(spur_utf8_seq("\xe2\x82\xac", 3), 3);
	ck_assert_uint_eq(spur_utf8_seq("\xe2\x82\xac", 2), 0);
	ck_assert_uint_eq(spur_utf8_seq("", 0), 0);
}
END_TEST

START_TEST(hex)
{
	char out[9];
	spur_hex_encode("\x00\x7f\xab\xff", 4, out);
	ck_assert_str_eq(out, "007fabff");
	ck_assert_int_eq(spur_hex_digit('F'), 15);
	ck_assert_int_eq(spur_hex_digit('a'), 10);
	ck_assert_int_eq(spur_hex_digit('g'), -1);
}
END_TEST

START_TEST(percent)
{
	char out[16];
	ck_assert_int_eq(spur_pct_decode(out, sizeof(out), "a%20b+c", 7, false), 5);
	ck_assert_str_eq(out, "a b+c");
	ck_assert_int_eq(spur_pct_decode(out, sizeof(out), "a%20b+c", 7, true), 5);
	ck_assert_str_eq(out, "a b c");
	ck_assert_int_eq(spur_pct_decode(out, sizeof(out), "100%", 4, false), 4);
	ck_assert_str_eq(out, "100%");				/* a bare % stays */
	ck_assert_int_eq(spur_pct_decode(out, sizeof(out), "%zz", 3, false), 3);
	ck_assert_int_eq(spur_pct_decode(out, sizeof(out), "a%00b", 5, false), -1);	/* NUL */
	ck_assert_int_eq(spur_pct_decode(out, 4, "abcd", 4, false), -1);	/* no room */
	ck_assert_int_eq(spur_pct_decode(out, 5, "abcd", 4, false), 4);
}
END_TEST

START_TEST(rfc3339)
{
	char out[SPUR_RFC3339_LEN];
	spur_rfc3339(1796338000123LL, out);
	ck_assert_str_eq(out, "2026-12-03T22:46:40.123Z");
	spur_rfc3339(0, out);
	ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("text");
	tcase_add_test(tc, utf8_edges);
	tcase_add_test(tc, hex);
	tcase_add_test(tc, percent);
	tcase_add_test(tc, rfc3339);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
