/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - immutable, content-addressed copies of a function's code
 * under state_dir/code/<sha256 hex>/<name>, and the hash that names them
 * ($LATEST's CodeSha256). The code is copied first and the copy hashed,
 * so a file rewritten meanwhile cannot give a torn snapshot.
 * Errors: a negative errno (-ENOENT: no such code file, -ENAMETOOLONG,
 * -ENOMEM, -EIO...).
 */
#ifndef SPUR_SNAPSHOT_H
#define SPUR_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>


/* The SHA-256 (hex and base64) and size of code as it is on disk, by the
 * same walk a snapshot makes ($LATEST's CodeSha256). */
int spur_snapshot_hash(const char *src, char hex[65], char b64[48], int64_t *size);

/* Snapshot the code at src: fills hex, b64, size and the snapshot's path
 * (out, outlen); on failure why says what. */
int spur_snapshot_take(const char *state_dir, const char *src, char hex[65], char b64[48],
		       int64_t *size, char *out, size_t outlen, char *why, size_t whylen);

#endif
