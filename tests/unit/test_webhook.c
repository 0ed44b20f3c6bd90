/* SPDX-License-Identifier: MIT */
/*
 * test_webhook.c - the webhook signature schemes of plugins/webhook/
 * signature.c, which the http source verifies routes with and the http
 * destination signs with: the published test vectors (Standard Webhooks,
 * GitHub), a Stripe signature computed here with OpenSSL's one-shot HMAC,
 * tampered bodies, wrong secrets, several signatures, missing and
 * malformed headers, timestamps at and past the 300 s tolerance either
 * way, and base64. The clock is a parameter: nothing sleeps.
 */
#include <check.h>

#include "harness.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "signature.h"

/* Standard Webhooks' published vector (standard-webhooks/libraries). */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS 1614265330
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* GitHub's "Validating webhook deliveries" example. */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY "Hello, World!"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

/* Headers for spur_sig_verify: name/value pairs, case-insensitive. */
struct headers {
	const char *kv[8];
};

static const char *get(void *cls, const char *name)
{
	struct headers *h = cls;
	for (size_t i = 0; i + 1 < 8 && h->kv[i]; i += 2)
		if (strcasecmp(h->kv[i], name) == 0)
			return h->kv[i + 1];
	return NULL;
}

static enum spur_sig_result check(enum spur_sig_scheme s, const char *secret, struct headers *h,
				  const char *body, int64_t now)
{
	struct spur_sig_key k;
	ck_assert_int_eq(spur_sig_key_init(&k, s, secret), 0);
	enum spur_sig_result r = spur_sig_verify(s, &k, get, h, body, strlen(body), now);
	spur_sig_key_fini(&k);
	return r;
}

static enum spur_sig_result sw(const char *secret, const char *id, const char *ts,
			       const char *sig, const char *body, int64_t now)
{
	struct headers h = { { "webhook-id", id, "Webhook-Timestamp", ts, "WEBHOOK-SIGNATURE", sig } };
	return check(SPUR_SIG_STANDARD, secret, &h, body, now);
}

START_TEST(standard_vector)
{
	struct spur_sig_key k;
	char out[SPUR_SIG_MAX];

	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STANDARD, SW_SECRET), 0);
	ck_assert_int_eq(spur_sig_sign(SPUR_SIG_STANDARD, &k, SW_ID, SW_TS, SW_BODY,
				       strlen(SW_BODY), out), 0);
	ck_assert_str_eq(out, SW_SIG);
	spur_sig_key_fini(&k);
	ck_assert_ptr_null(k.bytes);

	ck_assert_int_eq(sw(SW_SECRET, SW_ID, "1614265330", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_OK);
	/* the secret without its prefix is the same key (as the libraries do) */
	ck_assert_int_eq(sw(SW_SECRET + 6, SW_ID, "1614265330", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_OK);
}
END_TEST

START_TEST(standard_rejects)
{
	const char *ts = "1614265330";

	/* tampered body, id, timestamp; wrong secret */
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, "{\"test\": 2432232315}", SW_TS),
			 SPUR_SIG_MISMATCH);
	ck_assert_int_eq(sw(SW_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJeK", ts, SW_SIG, SW_BODY, SW_TS),
			 SPUR_SIG_MISMATCH);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, "1614265331", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(sw("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", SW_ID, ts, SW_SIG, SW_BODY, SW_TS),
			 SPUR_SIG_MISMATCH);
	/* another version, a truncated signature, a bare one without "v1," */
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
			    SW_BODY, SW_TS), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
			    SW_BODY, SW_TS), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
			    SW_BODY, SW_TS), SPUR_SIG_MISMATCH);
	/* missing or empty headers, a timestamp that is not a number */
	ck_assert_int_eq(sw(SW_SECRET, NULL, ts, SW_SIG, SW_BODY, SW_TS), SPUR_SIG_MISSING);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, "", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_MISSING);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, "", SW_BODY, SW_TS), SPUR_SIG_MISSING);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, "16142653x0", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_MALFORMED);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, "-1614265330", SW_SIG, SW_BODY, SW_TS), SPUR_SIG_MALFORMED);
}
END_TEST

START_TEST(standard_several_and_skew)
{
	const char *ts = "1614265330";

	/* a space-separated list: one valid signature is enough, anywhere */
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts,
			    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " SW_SIG
			    " v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
			    SW_BODY, SW_TS), SPUR_SIG_OK);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts,
			    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,bm9wZQ==",
			    SW_BODY, SW_TS), SPUR_SIG_MISMATCH);
	/* 300 s either way is accepted; 301 is not */
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, SW_BODY, SW_TS + 300), SPUR_SIG_OK);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, SW_BODY, SW_TS - 300), SPUR_SIG_OK);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, SW_BODY, SW_TS + 301), SPUR_SIG_STALE);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, SW_BODY, SW_TS - 301), SPUR_SIG_STALE);
	ck_assert_int_eq(sw(SW_SECRET, SW_ID, ts, SW_SIG, SW_BODY, SW_TS + 86400), SPUR_SIG_STALE);
}
END_TEST

START_TEST(standard_secrets)
{
	struct spur_sig_key k;

	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STANDARD, "whsec_not base64!"), -EINVAL);
	ck_assert_ptr_null(k.bytes);
	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STANDARD, "whsec_"), -EINVAL);
	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STANDARD, "whsec_abc"), -EINVAL);
	/* github and stripe secrets are bytes as they are, whsec_ included */
	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STRIPE, "whsec_not base64!"), 0);
	ck_assert_uint_eq(k.len, strlen("whsec_not base64!"));
	ck_assert_int_eq(memcmp(k.bytes, "whsec_not base64!", k.len), 0);
	spur_sig_key_fini(&k);
}
END_TEST

static enum spur_sig_result gh(const char *secret, const char *sig, const char *body)
{
	struct headers h = { { "x-hub-signature-256", sig } };
	return check(SPUR_SIG_GITHUB, secret, &h, body, 0);
}

START_TEST(github_vector)
{
	struct spur_sig_key k;
	char out[SPUR_SIG_MAX];

	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_GITHUB, GH_SECRET), 0);
	ck_assert_int_eq(spur_sig_sign(SPUR_SIG_GITHUB, &k, NULL, 0, GH_BODY, strlen(GH_BODY), out), 0);
	ck_assert_str_eq(out, GH_SIG);
	spur_sig_key_fini(&k);

	ck_assert_int_eq(gh(GH_SECRET, GH_SIG, GH_BODY), SPUR_SIG_OK);
	ck_assert_int_eq(gh(GH_SECRET, GH_SIG, "Hello, World?"), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(gh(GH_SECRET, GH_SIG, "Hello, World! "), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(gh("It's a Secret to Everybody!", GH_SIG, GH_BODY), SPUR_SIG_MISMATCH);
	ck_assert_int_eq(gh(GH_SECRET, NULL, GH_BODY), SPUR_SIG_MISSING);
	/* the SHA-1 header's form, a short or non-hex digest */
	ck_assert_int_eq(gh(GH_SECRET, "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", GH_BODY),
			 SPUR_SIG_MALFORMED);
	ck_assert_int_eq(gh(GH_SECRET, "sha256=757107ea", GH_BODY), SPUR_SIG_MALFORMED);
	ck_assert_int_eq(gh(GH_SECRET, "sha256=z57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
			    GH_BODY), SPUR_SIG_MALFORMED);
	ck_assert_int_eq(gh(GH_SECRET, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
			    GH_BODY), SPUR_SIG_MALFORMED);
	/* one bit off in the last digit */
	ck_assert_int_eq(gh(GH_SECRET, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e16",
			    GH_BODY), SPUR_SIG_MISMATCH);
}
END_TEST

/* Stripe's scheme, computed independently: hex HMAC-SHA256(secret, "t.body"). */
static void stripe_hex(const char *secret, int64_t t, const char *body, char out[65])
{
	char payload[512];
	unsigned char mac[32];
	unsigned int len = 0;

	snprintf(payload, sizeof(payload), "%" PRId64 ".%s", t, body);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
				   (const unsigned char *)payload, strlen(payload), mac, &len));
	ck_assert_uint_eq(len, 32);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static enum spur_sig_result stripe(const char *secret, const char *header, const char *body,
				   int64_t now)
{
	struct headers h = { { "Stripe-Signature", header } };
	return check(SPUR_SIG_STRIPE, secret, &h, body, now);
}

START_TEST(stripe_signatures)
{
	const char *secret = "whsec_test_secret_used_as_is";
	const char *body = "{\"id\":\"evt_1\",\"object\":\"event\"}";
	const int64_t t = 1700000000;
	char hex[65], other[65], hdr[400], ours[SPUR_SIG_MAX];
	struct spur_sig_key k;

	stripe_hex(secret, t, body, hex);
	stripe_hex("another secret", t, body, other);
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s", t, hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_OK);

	/* our signer agrees */
	ck_assert_int_eq(spur_sig_key_init(&k, SPUR_SIG_STRIPE, secret), 0);
	ck_assert_int_eq(spur_sig_sign(SPUR_SIG_STRIPE, &k, NULL, t, body, strlen(body), ours), 0);
	spur_sig_key_fini(&k);
	ck_assert_str_eq(ours, hdr);

	/* a rolled secret: several v1 and a v0, one matches */
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s,v1=%s,v0=%s", t, other, hex, other);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_OK);
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s,v0=%s", t, other, hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_MISMATCH);

	/* tampered body, wrong secret, another timestamp in the header */
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s", t, hex);
	ck_assert_int_eq(stripe(secret, hdr, "{\"id\":\"evt_2\",\"object\":\"event\"}", t),
			 SPUR_SIG_MISMATCH);
	ck_assert_int_eq(stripe("whsec_test_secret_used_as_IS", hdr, body, t), SPUR_SIG_MISMATCH);
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s", t + 1, hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_MISMATCH);

	/* tolerance: 300 s either way */
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v1=%s", t, hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t + 300), SPUR_SIG_OK);
	ck_assert_int_eq(stripe(secret, hdr, body, t + 301), SPUR_SIG_STALE);
	ck_assert_int_eq(stripe(secret, hdr, body, t - 301), SPUR_SIG_STALE);

	/* malformed: no t, no v1, t not a number; missing */
	snprintf(hdr, sizeof(hdr), "v1=%s", hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_MALFORMED);
	snprintf(hdr, sizeof(hdr), "t=%" PRId64 ",v0=%s", t, hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_MALFORMED);
	snprintf(hdr, sizeof(hdr), "t=17e8,v1=%s", hex);
	ck_assert_int_eq(stripe(secret, hdr, body, t), SPUR_SIG_MALFORMED);
	ck_assert_int_eq(stripe(secret, NULL, body, t), SPUR_SIG_MISSING);
}
END_TEST

START_TEST(base64)
{
	static const struct { const char *raw, *enc; } v[] = {	/* RFC 4648 §10 */
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char enc[16];
	unsigned char dec[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_uint_eq(spur_sig_b64_encode((const unsigned char *)v[i].raw,
						      strlen(v[i].raw), enc), strlen(v[i].enc));
		ck_assert_str_eq(enc, v[i].enc);
		ck_assert_int_eq(spur_sig_b64_decode(v[i].enc, strlen(v[i].enc), dec),
				 (ssize_t)strlen(v[i].raw));
		ck_assert_int_eq(memcmp(dec, v[i].raw, strlen(v[i].raw)), 0);
	}
	ck_assert_int_lt(spur_sig_b64_decode("Zm9", 3, dec), 0);
	ck_assert_int_lt(spur_sig_b64_decode("Zm=v", 4, dec), 0);
	ck_assert_int_lt(spur_sig_b64_decode("Z===", 4, dec), 0);
	ck_assert_int_lt(spur_sig_b64_decode("Zg==Zg==", 8, dec), 0);
	ck_assert_int_lt(spur_sig_b64_decode("Zm-v", 4, dec), 0);
}
END_TEST

START_TEST(names)
{
	enum spur_sig_scheme s;

	ck_assert_int_eq(spur_sig_scheme_parse("github", &s), 0);
	ck_assert_int_eq(s, SPUR_SIG_GITHUB);
	ck_assert_int_eq(spur_sig_scheme_parse("standard-webhooks", &s), 0);
	ck_assert_int_eq(s, SPUR_SIG_STANDARD);
	ck_assert_int_eq(spur_sig_scheme_parse("svix", &s), -EINVAL);
	ck_assert_str_eq(spur_sig_scheme_name(SPUR_SIG_STRIPE), "stripe");
	ck_assert_str_eq(spur_sig_result_str(SPUR_SIG_STALE), "timestamp outside the 300 s tolerance");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("webhook");
	TCase *tc = tcase_create("signatures");
	tcase_add_test(tc, standard_vector);
	tcase_add_test(tc, standard_rejects);
	tcase_add_test(tc, standard_several_and_skew);
	tcase_add_test(tc, standard_secrets);
	tcase_add_test(tc, github_vector);
	tcase_add_test(tc, stripe_signatures);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
