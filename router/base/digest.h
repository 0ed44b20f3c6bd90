/* SPDX-License-Identifier: MIT */
/*
 * digest.h - the hashes the core takes: SHA-256 (code snapshots,
 * idempotency fingerprints) and MD5 (SQS-style message digests), as hex.
 */
#ifndef SPUR_DIGEST_H
#define SPUR_DIGEST_H

#include <stddef.h>
#include <openssl/sha.h>

struct spur_sha256 {
	SHA256_CTX ctx;
};

void spur_sha256_init(struct spur_sha256 *h);
void spur_sha256_update(struct spur_sha256 *h, const void *p, size_t n);
void spur_sha256_final(struct spur_sha256 *h, unsigned char out[32]);
/* One buffer's SHA-256 / MD5 as lower-case hex. */
void spur_sha256_hex(const void *p, size_t n, char out[65]);
void spur_md5_hex(const void *p, size_t n, char out[33]);
/* n bytes as lower-case hex (out holds 2n + 1). */
void spur_hex(const unsigned char *p, size_t n, char *out);

#endif
