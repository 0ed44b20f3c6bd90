/* SPDX-License-Identifier: MIT */
/*
 * file.c - the `file` destination plugin: records as JSON lines.
 *
 * file://PATH appends one record per line to PATH (relative paths are
 * relative to the config file's directory; the directory must exist).
 * deliver() adds the line to a buffer; flush() writes the buffer with
 * O_APPEND and fsyncs once per batch, so a record counts as delivered
 * only when it is on disk. A failed write or fsync retries the batch:
 * a line may then appear twice (at least once), never half (each batch
 * is written whole; a short write is completed before fsync).
 * Runs on the host's outbox thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spur/plugin.h"

struct file_plugin {
	struct spur_host *host;
};

struct file_dest {
	struct file_plugin *plugin;
	char path[PATH_MAX];
	int fd;
	char *buf;
	size_t len, cap;
};

static int file_init(struct spur_host *host, const void *options, void **instance)
{
	struct file_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->host = host;
	*instance = p;
	return 0;
}

static void file_fini(void *instance)
{
	free(instance);
}

/* Named form: destinations: { x: { type: file, path: PATH } } */
static int file_target(const char *target, const char *options, char *out, size_t len)
{
	const char *key = "\"path\":\"";
	const char *p = options ? strstr(options, key) : NULL;
	if (!options) {
		snprintf(out, len, "%s", target);
		return 0;
	}
	if (!p)
		return -EINVAL;
	p += strlen(key);
	size_t n = strcspn(p, "\"\\");
	if (p[n] != '"' || n >= len)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int file_open(void *instance, const char *target, const char *options, void **dest,
		     char *err, size_t errlen)
{
	struct file_plugin *p = instance;
	char path[PATH_MAX];
	if (file_target(target, options, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "a file destination needs a path (destinations: NAME: { type: file, path: PATH })");
		return -EINVAL;
	}
	target = path;
	struct file_dest *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->plugin = p;
	int n = target[0] == '/' ?
		snprintf(d->path, sizeof(d->path), "%s", target) :
		snprintf(d->path, sizeof(d->path), "%s/%s", spur_host_config_dir(p->host), target);
	if (n < 0 || (size_t)n >= sizeof(d->path)) {
		snprintf(err, errlen, "file destination path too long");
		free(d);
		return -ENAMETOOLONG;
	}
	d->fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (d->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "file %s: %s", d->path, strerror(e));
		free(d);
		return -e;
	}
	*dest = d;
	return 0;
}

static enum spur_deliver file_deliver(void *dest, const char *record, size_t len,
				      const struct spur_record_meta *meta, char *why, size_t whylen)
{
	struct file_dest *d = dest;
	if (d->len + len + 1 > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		while (cap < d->len + len + 1)
			cap *= 2;
		char *b = realloc(d->buf, cap);
		if (!b) {
			snprintf(why, whylen, "out of memory");
			return SPUR_DELIVER_RETRY;
		}
		d->buf = b;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, record, len);
	d->len += len;
	d->buf[d->len++] = '\n';
	return SPUR_DELIVER_OK;
}

static int file_flush(void *dest)
{
	struct file_dest *d = dest;
	size_t off = 0;
	int rc = 0;
	while (off < d->len) {
		ssize_t w = write(d->fd, d->buf + off, d->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(d->fd) < 0)
		rc = -errno;
	if (rc < 0)
		spur_log(d->plugin->host, SPUR_LOG_WARN, "file %s: %s", d->path, strerror(-rc));
	d->len = 0;
	return rc;
}

static void file_close(void *dest)
{
	struct file_dest *d = dest;
	if (!d)
		return;
	close(d->fd);
	free(d->buf);
	free(d);
}

static const struct spur_destination file_destination = {
	.struct_size = sizeof(struct spur_destination),
	.scheme = "file",
	.open = file_open,
	.deliver = file_deliver,
	.flush = file_flush,
	.close = file_close,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.name = "file",
	.version = "0.1.0",
	.description = "file:// destination: records as JSON lines, fsynced per batch",
	.roles = SPUR_ROLE_DESTINATION,
	.init = file_init,
	.fini = file_fini,
	.destination = &file_destination,
};
