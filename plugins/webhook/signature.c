/* SPDX-License-Identifier: MIT */
/*
 * signature.c - webhook signatures (see signature.h).
 * The schemes follow their publishers: GitHub's "Validating webhook
 * deliveries", Stripe's "Verify webhook signatures" (t=, v1=; several v1
 * while a secret rolls), and the Standard Webhooks specification
 * (standardwebhooks.com: "id.timestamp.body", base64 key after "whsec_",
 * space-separated "v1,<b64>" list). Every comparison of a secret-derived
 * value is CRYPTO_memcmp over equal lengths; only lengths and syntax,
 * which are public, decide early exits.
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "signature.h"
#include "spur/text.h"

int spur_sig_scheme_parse(const char *name, enum spur_sig_scheme *out)
{
	if (!name)
		return -EINVAL;
	if (strcmp(name, "github") == 0)
		*out = SPUR_SIG_GITHUB;
	else if (strcmp(name, "stripe") == 0)
		*out = SPUR_SIG_STRIPE;
	else if (strcmp(name, "standard-webhooks") == 0)
		*out = SPUR_SIG_STANDARD;
	else
		return -EINVAL;
	return 0;
}

const char *spur_sig_scheme_name(enum spur_sig_scheme s)
{
	switch (s) {
	case SPUR_SIG_GITHUB: return "github";
	case SPUR_SIG_STRIPE: return "stripe";
	case SPUR_SIG_STANDARD: return "standard-webhooks";
	default: return "none";
	}
}

const char *spur_sig_result_str(enum spur_sig_result r)
{
	switch (r) {
	case SPUR_SIG_OK: return "signature valid";
	case SPUR_SIG_MISSING: return "missing signature header";
	case SPUR_SIG_MALFORMED: return "malformed signature header";
	case SPUR_SIG_STALE: return "timestamp outside the 300 s tolerance";
	case SPUR_SIG_MISMATCH: return "signature does not match";
	}
	return "bad signature";
}

/* --- base64 and hex ------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t spur_sig_b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

ssize_t spur_sig_b64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_value(in[i + k])) < 0)
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (ssize_t)o;
}



/* Exactly SPUR_SIG_HMAC_LEN bytes of hex in [s, s+n) → 0, else -EINVAL. */
static int hex_decode_mac(const char *s, size_t n, unsigned char out[SPUR_SIG_HMAC_LEN])
{
	if (n != 2 * SPUR_SIG_HMAC_LEN)
		return -EINVAL;
	for (size_t i = 0; i < SPUR_SIG_HMAC_LEN; i++) {
		int hi = spur_hex_digit(s[2 * i]), lo = spur_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* --- keys and HMAC -------------------------------------------------------- */

int spur_sig_key_init(struct spur_sig_key *k, enum spur_sig_scheme s, const char *secret)
{
	size_t n = strlen(secret);
	int err = -ENOMEM;

	*k = (struct spur_sig_key){ 0 };
	k->bytes = malloc(n + 1);
	if (!k->bytes)
		goto fail;
	if (s != SPUR_SIG_STANDARD) {
		memcpy(k->bytes, secret, n);
		k->len = n;
		return 0;
	}
	if (strncmp(secret, "whsec_", 6) == 0) {
		secret += 6;
		n -= 6;
	}
	ssize_t d = spur_sig_b64_decode(secret, n, k->bytes);
	err = -EINVAL;
	if (d <= 0)
		goto fail;
	k->len = (size_t)d;
	return 0;
fail:
	spur_sig_key_fini(k);
	return err;
}

void spur_sig_key_fini(struct spur_sig_key *k)
{
	if (k->bytes) {
		OPENSSL_cleanse(k->bytes, k->len);
		free(k->bytes);
	}
	*k = (struct spur_sig_key){ 0 };
}

int spur_sig_hmac(const struct spur_sig_key *k, const void *const *parts, const size_t *lens,
		  size_t n, unsigned char out[SPUR_SIG_HMAC_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outl = 0;
	int err = -ENOMEM;

	if (!ctx)
		goto done;
	err = -EIO;
	/* an empty key is legal HMAC; OpenSSL wants a non-NULL pointer */
	if (!EVP_MAC_init(ctx, k->len ? k->bytes : (const unsigned char *)"", k->len, params))
		goto done;
	for (size_t i = 0; i < n; i++)
		if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
			goto done;
	if (!EVP_MAC_final(ctx, out, &outl, SPUR_SIG_HMAC_LEN) || outl != SPUR_SIG_HMAC_LEN)
		goto done;
	err = 0;
done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return err;
}

/* --- checking ------------------------------------------------------------- */

/* A Unix time of 1 to 19 digits → 0; else -EINVAL. */
static int parse_ts(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 18)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static bool stale(int64_t ts, int64_t now)
{
	return ts < now - SPUR_SIG_TOLERANCE_S || ts > now + SPUR_SIG_TOLERANCE_S;
}

static enum spur_sig_result verify_github(const struct spur_sig_key *k, const char *h,
					  const void *body, size_t len)
{
	unsigned char want[SPUR_SIG_HMAC_LEN], got[SPUR_SIG_HMAC_LEN];
	const void *parts[] = { body };
	size_t lens[] = { len };

	if (strncmp(h, "sha256=", 7) != 0 || hex_decode_mac(h + 7, strlen(h + 7), got) < 0)
		return SPUR_SIG_MALFORMED;
	if (spur_sig_hmac(k, parts, lens, 1, want) < 0)
		return SPUR_SIG_MISMATCH;
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0 ? SPUR_SIG_OK : SPUR_SIG_MISMATCH;
}

/* Stripe-Signature: "t=1492774577,v1=5257...,v1=...,v0=..." */
static enum spur_sig_result verify_stripe(const struct spur_sig_key *k, const char *h,
					  const void *body, size_t len, int64_t now)
{
	unsigned char want[SPUR_SIG_HMAC_LEN], got[SPUR_SIG_HMAC_LEN];
	const char *t = NULL;
	size_t tlen = 0;
	int64_t ts;
	bool any_v1 = false, match = false;

	for (const char *p = h; *p;) {
		size_t n = strcspn(p, ",");
		if (n > 3 && p[0] == 't' && p[1] == '=' && !t) {
			t = p + 2;
			tlen = n - 2;
		}
		p += n + (p[n] == ',');
	}
	if (!t || parse_ts(t, tlen, &ts) < 0)
		return SPUR_SIG_MALFORMED;
	const void *parts[] = { t, ".", body };
	size_t lens[] = { tlen, 1, len };
	if (spur_sig_hmac(k, parts, lens, 3, want) < 0)
		return SPUR_SIG_MISMATCH;
	for (const char *p = h; *p;) {
		size_t n = strcspn(p, ",");
		while (n && p[0] == ' ') {
			p++;
			n--;
		}
		if (n > 3 && strncmp(p, "v1=", 3) == 0) {
			any_v1 = true;
			if (hex_decode_mac(p + 3, n - 3, got) == 0)
				match |= CRYPTO_memcmp(want, got, sizeof(want)) == 0;
		}
		p += n + (p[n] == ',');
	}
	if (!any_v1)
		return SPUR_SIG_MALFORMED;
	/* checked after the signatures, so a stale but authentic delivery
	 * is told apart from a forged one in the log */
	if (match && stale(ts, now))
		return SPUR_SIG_STALE;
	return match ? SPUR_SIG_OK : SPUR_SIG_MISMATCH;
}

/* webhook-signature: "v1,<b64> v1,<b64> v1a,<other>" */
static enum spur_sig_result verify_standard(const struct spur_sig_key *k, const char *id,
					    const char *tss, const char *h,
					    const void *body, size_t len, int64_t now)
{
	unsigned char mac[SPUR_SIG_HMAC_LEN];
	char want[2 * SPUR_SIG_HMAC_LEN];	/* 44 chars of base64 + NUL */
	int64_t ts;
	bool match = false;

	if (parse_ts(tss, strlen(tss), &ts) < 0)
		return SPUR_SIG_MALFORMED;
	if (stale(ts, now))
		return SPUR_SIG_STALE;
	const void *parts[] = { id, ".", tss, ".", body };
	size_t lens[] = { strlen(id), 1, strlen(tss), 1, len };
	if (spur_sig_hmac(k, parts, lens, 5, mac) < 0)
		return SPUR_SIG_MISMATCH;
	size_t wl = spur_sig_b64_encode(mac, sizeof(mac), want);
	for (const char *p = h; *p;) {
		size_t n = strcspn(p, " ");
		if (n == 3 + wl && strncmp(p, "v1,", 3) == 0)
			match |= CRYPTO_memcmp(p + 3, want, wl) == 0;
		p += n;
		while (*p == ' ')
			p++;
	}
	return match ? SPUR_SIG_OK : SPUR_SIG_MISMATCH;
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

enum spur_sig_result spur_sig_verify(enum spur_sig_scheme s, const struct spur_sig_key *k,
				     spur_sig_header_fn get, void *cls,
				     const void *body, size_t len, int64_t now)
{
	const char *h, *id, *ts;

	if (!body)
		body = "";
	switch (s) {
	case SPUR_SIG_GITHUB:
		h = nonempty(get(cls, "X-Hub-Signature-256"));
		return h ? verify_github(k, h, body, len) : SPUR_SIG_MISSING;
	case SPUR_SIG_STRIPE:
		h = nonempty(get(cls, "Stripe-Signature"));
		return h ? verify_stripe(k, h, body, len, now) : SPUR_SIG_MISSING;
	case SPUR_SIG_STANDARD:
		id = nonempty(get(cls, "webhook-id"));
		ts = nonempty(get(cls, "webhook-timestamp"));
		h = nonempty(get(cls, "webhook-signature"));
		if (!id || !ts || !h)
			return SPUR_SIG_MISSING;
		return verify_standard(k, id, ts, h, body, len, now);
	default:
		return SPUR_SIG_OK;
	}
}

/* --- signing -------------------------------------------------------------- */

int spur_sig_sign(enum spur_sig_scheme s, const struct spur_sig_key *k, const char *id,
		  int64_t ts, const void *body, size_t len, char out[SPUR_SIG_MAX])
{
	unsigned char mac[SPUR_SIG_HMAC_LEN];
	char tss[24], enc[2 * SPUR_SIG_HMAC_LEN + 1];
	int err;

	if (!body)
		body = "";
	snprintf(tss, sizeof(tss), "%" PRId64, ts);
	switch (s) {
	case SPUR_SIG_GITHUB: {
		const void *parts[] = { body };
		size_t lens[] = { len };
		if ((err = spur_sig_hmac(k, parts, lens, 1, mac)) < 0)
			return err;
		spur_hex_encode(mac, sizeof(mac), enc);
		snprintf(out, SPUR_SIG_MAX, "sha256=%s", enc);
		return 0;
	}
	case SPUR_SIG_STRIPE: {
		const void *parts[] = { tss, ".", body };
		size_t lens[] = { strlen(tss), 1, len };
		if ((err = spur_sig_hmac(k, parts, lens, 3, mac)) < 0)
			return err;
		spur_hex_encode(mac, sizeof(mac), enc);
		snprintf(out, SPUR_SIG_MAX, "t=%s,v1=%s", tss, enc);
		return 0;
	}
	case SPUR_SIG_STANDARD: {
		if (!id || !*id)
			return -EINVAL;
		const void *parts[] = { id, ".", tss, ".", body };
		size_t lens[] = { strlen(id), 1, strlen(tss), 1, len };
		if ((err = spur_sig_hmac(k, parts, lens, 5, mac)) < 0)
			return err;
		spur_sig_b64_encode(mac, sizeof(mac), enc);
		snprintf(out, SPUR_SIG_MAX, "v1,%s", enc);
		return 0;
	}
	default:
		return -EINVAL;
	}
}
