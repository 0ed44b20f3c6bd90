/* SPDX-License-Identifier: MIT */
/*
 * signature.h - webhook signatures: HMAC-SHA256 in the three schemes of
 * SPEC §4.3, for the http source (verifying inbound deliveries) and the
 * webhook destination (signing outbound ones). Internal to the plugins:
 * built as a static library so tests/unit/test_webhook.c links it.
 *
 *   github             X-Hub-Signature-256: sha256=<hex HMAC(secret, body)>
 *                      (the secret is used as-is)
 *   stripe             Stripe-Signature: t=<unix>,v1=<hex HMAC(secret,
 *                      "t.body")>[,v1=...]; one v1 must match (the secret,
 *                      "whsec_..." included, is used as-is)
 *   standard-webhooks  webhook-id, webhook-timestamp, webhook-signature:
 *                      "v1,<base64 HMAC(key, "id.ts.body")>" separated by
 *                      spaces, one must match; key = base64 of the secret
 *                      after its "whsec_" prefix
 *
 * Timestamps (stripe, standard-webhooks) more than SPUR_SIG_TOLERANCE_S
 * seconds away from now, either way, are refused. Comparisons run in
 * constant time (CRYPTO_memcmp). Pure functions, any thread; a check
 * costs one pass of HMAC over the body, no copy of it.
 */
#ifndef SPUR_WEBHOOK_SIGNATURE_H
#define SPUR_WEBHOOK_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPUR_SIG_TOLERANCE_S 300
#define SPUR_SIG_HMAC_LEN 32
/* room for any header value spur_sig_sign() writes */
#define SPUR_SIG_MAX 128

enum spur_sig_scheme {
	SPUR_SIG_NONE = 0,
	SPUR_SIG_GITHUB,
	SPUR_SIG_STRIPE,
	SPUR_SIG_STANDARD,	/* Standard Webhooks */
};

/* The outcome of a check (not an error: its own enum, OK = 0). */
enum spur_sig_result {
	SPUR_SIG_OK = 0,
	SPUR_SIG_MISSING,	/* a header is absent or empty */
	SPUR_SIG_MALFORMED,	/* a header does not parse */
	SPUR_SIG_STALE,		/* the timestamp is outside the tolerance */
	SPUR_SIG_MISMATCH,	/* no signature matches */
};

/* A secret ready for HMAC: the bytes of the secret (github, stripe) or
 * the base64-decoded key (standard-webhooks). Wiped by _fini. */
struct spur_sig_key {
	unsigned char *bytes;
	size_t len;
};

/* "github" | "stripe" | "standard-webhooks" → 0 and *out; else -EINVAL. */
int spur_sig_scheme_parse(const char *name, enum spur_sig_scheme *out);
const char *spur_sig_scheme_name(enum spur_sig_scheme s);
/* "missing signature header", "bad signature", ... for logs and 401s. */
const char *spur_sig_result_str(enum spur_sig_result r);

/* Make the key of `secret` (borrowed) for scheme s. 0; -EINVAL when a
 * Standard Webhooks secret is not base64 (after an optional "whsec_")
 * or decodes to nothing; -ENOMEM. The key is zeroed on failure. */
int spur_sig_key_init(struct spur_sig_key *k, enum spur_sig_scheme s, const char *secret);
void spur_sig_key_fini(struct spur_sig_key *k);

/* HMAC-SHA256 of the concatenation of n parts. 0 or -ENOMEM/-EIO. */
int spur_sig_hmac(const struct spur_sig_key *k, const void *const *parts, const size_t *lens,
		  size_t n, unsigned char out[SPUR_SIG_HMAC_LEN]);

/* Base64 (standard alphabet, padded). encode: writes 4*ceil(n/3)+1
 * bytes, returns the length. decode: strict (padding required, no
 * spaces); the length written or -EINVAL; `out` needs 3*(len/4) bytes. */
size_t spur_sig_b64_encode(const unsigned char *in, size_t n, char *out);
ssize_t spur_sig_b64_decode(const char *in, size_t len, unsigned char *out);

/* Request headers by name (case-insensitive in HTTP); NULL when absent. */
typedef const char *(*spur_sig_header_fn)(void *cls, const char *name);

/* Check a delivery of scheme s: its headers through get(cls, name), the
 * raw body, now in Unix seconds. */
enum spur_sig_result spur_sig_verify(enum spur_sig_scheme s, const struct spur_sig_key *k,
				     spur_sig_header_fn get, void *cls,
				     const void *body, size_t len, int64_t now);

/* Sign as a sender of scheme s would, into out (SPUR_SIG_MAX bytes):
 *   github             "sha256=<hex>"            (id, ts unused)
 *   stripe             "t=<ts>,v1=<hex>"         (id unused)
 *   standard-webhooks  "v1,<base64>"             (the webhook-signature value)
 * 0, or -ENOMEM/-EIO/-EINVAL. */
int spur_sig_sign(enum spur_sig_scheme s, const struct spur_sig_key *k, const char *id,
		  int64_t ts, const void *body, size_t len, char out[SPUR_SIG_MAX]);

#endif
