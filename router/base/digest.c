/* SPDX-License-Identifier: MIT */
/*
 * digest.c - SHA-256 and MD5 through libcrypto's digest functions.
 *
 * These are OpenSSL's SHA256_* and MD5 (deprecated as an API in 3.0, kept
 * through 3.x), not EVP: the first EVP digest of a process initialises the
 * provider framework, about 2 MiB of RSS that an idle daemon would carry
 * for one hash of its code at start. The hash code is the same.
 */
#define OPENSSL_API_COMPAT 0x10101000L	/* SHA256_Init, MD5 without deprecation warnings */
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "digest.h"

void spur_sha256_init(struct spur_sha256 *h)
{
	SHA256_Init(&h->ctx);
}

void spur_sha256_update(struct spur_sha256 *h, const void *p, size_t n)
{
	SHA256_Update(&h->ctx, p, n);
}

void spur_sha256_final(struct spur_sha256 *h, unsigned char out[32])
{
	SHA256_Final(out, &h->ctx);
}

void spur_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void spur_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];

	SHA256(p, n, md);
	spur_hex(md, sizeof(md), out);
}

void spur_md5_hex(const void *p, size_t n, char out[33])
{
	unsigned char md[16];

	MD5(p, n, md);
	spur_hex(md, sizeof(md), out);
}
