/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - immutable copies of a function's code (see snapshot.h).
 *
 * state_dir/code/<sha256 hex>/<name> holds an immutable copy of a
 * version's code (a .lua or .so file, or a whole directory). The code is
 * copied to a temporary directory first and the COPY is hashed, then
 * renamed into place: a file rewritten during publish cannot give a
 * snapshot whose hash does not describe it. Trees are walked in sorted
 * order so the hash does not depend on readdir. Runs on the publishing
 * (API) thread under the function's lock; costs one read, one write and
 * one fsync per code file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "util.h"

struct snap {
	EVP_MD_CTX *md;
	int64_t size;
};

static int copy_file(const char *src, const char *dst, const char *rel, struct snap *sn)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	char buf[65536];
	if (in < 0)
		return -errno;
	if (dst && (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		rc = -errno;
		goto done;
	}
	EVP_DigestUpdate(sn->md, rel, strlen(rel) + 1);	/* the name is part of the code */
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto done;
		}
		if (n == 0)
			break;
		/* hash what is written, i.e. the copy, not the source */
		EVP_DigestUpdate(sn->md, buf, (size_t)n);
		sn->size += n;
		for (ssize_t off = 0; out >= 0 && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -errno;
				goto done;
			}
			off += w;
		}
	}
	if (out >= 0 && fsync(out) < 0)
		rc = -errno;
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy a tree, in sorted order so the hash does not depend on readdir. */
static int copy_tree(const char *src, const char *dst, const char *rel, struct snap *sn)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return copy_file(src, dst, rel, sn);
	if (!S_ISDIR(st.st_mode))
		return 0;	/* sockets, devices: not code */
	if (dst && mkdir(dst, 0755) < 0)
		return -errno;
	DIR *d = opendir(src);
	if (!d)
		return -errno;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **v = realloc(names, cap * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			names = v;
		}
		if (!(names[n++] = strdup(e->d_name)))
			rc = -ENOMEM;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char s2[4096], d2[4096], r2[4096];
		if (snprintf(s2, sizeof(s2), "%s/%s", src, names[i]) >= (int)sizeof(s2) ||
		    snprintf(d2, sizeof(d2), "%s/%s", dst ? dst : "", names[i]) >= (int)sizeof(d2) ||
		    snprintf(r2, sizeof(r2), "%s/%s", rel, names[i]) >= (int)sizeof(r2))
			rc = -ENAMETOOLONG;
		else
			rc = copy_tree(s2, dst ? d2 : NULL, r2, sn);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char sub[4096];
			if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < (int)sizeof(sub))
				rm_tree(sub);
		}
		if (d)
			closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

static void digest_out(EVP_MD_CTX *md, char hex[65], char b64[48])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(md, d, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	char *b = spur_base64(d, n);
	snprintf(b64, 48, "%s", b ? b : "");
	free(b);
}

int spur_snapshot_hash(const char *src, char hex[65], char b64[48], int64_t *size)
{
	struct snap sn = { .md = EVP_MD_CTX_new() };
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	if (!sn.md)
		return -ENOMEM;
	EVP_DigestInit_ex(sn.md, EVP_sha256(), NULL);
	int rc = copy_tree(src, NULL, base, &sn);	/* the same walk as a snapshot, hashing only */
	if (rc == 0)
		digest_out(sn.md, hex, b64);
	*size = sn.size;
	EVP_MD_CTX_free(sn.md);
	return rc;
}

int spur_snapshot_take(const char *state_dir, const char *src, char hex[65], char b64[48],
		       int64_t *size, char *out, size_t outlen, char *why, size_t whylen)
{
	char root[4096], tmp[4096], final[4096];
	char id[37];
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	struct snap sn = { .md = EVP_MD_CTX_new() };
	int rc = -ENOMEM;
	char dst[4096];
	spur_uuid(id);
	tmp[0] = '\0';
	if (!sn.md)
		goto fail;
	if (snprintf(root, sizeof(root), "%s/code", state_dir) >= (int)sizeof(root) - 64 ||
	    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", root, id) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", tmp, base) >= (int)sizeof(dst)) {
		rc = -ENAMETOOLONG;
		snprintf(why, whylen, "the code path is too long");
		goto fail;
	}
	if ((mkdir(root, 0755) < 0 && errno != EEXIST) || mkdir(tmp, 0755) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot make %s: %s", tmp, strerror(errno));
		goto fail;
	}
	EVP_DigestInit_ex(sn.md, EVP_sha256(), NULL);
	rc = copy_tree(src, dst, base, &sn);
	if (rc < 0) {
		snprintf(why, whylen, "cannot copy the code %s: %s", src, spur_strerror(rc));
		goto fail;
	}
	digest_out(sn.md, hex, b64);
	*size = sn.size;
	if (snprintf(final, sizeof(final), "%s/%s", root, hex) >= (int)sizeof(final) ||
	    snprintf(out, outlen, "%s/%s/%s", root, hex, base) >= (int)outlen) {
		rc = -ENAMETOOLONG;
		snprintf(why, whylen, "the code path is too long");
		goto fail;
	}
	if (rename(tmp, final) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			rc = -errno;
			snprintf(why, whylen, "cannot keep the snapshot: %s", strerror(errno));
			goto fail;
		}
		rm_tree(tmp);	/* the same code is there already */
	}
	EVP_MD_CTX_free(sn.md);
	return 0;
fail:
	if (tmp[0])
		rm_tree(tmp);
	EVP_MD_CTX_free(sn.md);
	return rc;
}
