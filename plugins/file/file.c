/* SPDX-License-Identifier: MIT */
/*
 * file.c - the `file` destination plugin: records as JSON lines.
 *
 * file://PATH appends one record per line to PATH (relative paths are
 * relative to the config file's directory; the directory must exist), and
 * so does a named destination { type: file, path: PATH }, whose keys the
 * host checks with file_settings_table when the config is loaded.
 * deliver() adds the line to a buffer; flush() writes the buffer with
 * O_APPEND and fsyncs once per batch, so a record counts as delivered
 * only when it is on disk. A failed write or fsync retries the batch:
 * a line may then appear twice (at least once); a short write is
 * completed before fsync. Only a crash can leave half a line (kill -9
 * stops a write() between pages): that batch was not acknowledged, so its
 * records are written again, and the torn line (the file does not end
 * with a newline) is ended before the next batch, so that they stand on
 * lines of their own.
 * Runs on the host's outbox thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spur/plugin.h"

struct file_plugin {
	struct spur_host *host;
};

/* A named destination's settings, as the host parses them. */
struct file_settings {
	char *path;
};

static const struct spur_option file_settings_table[] = {
	{ .type = SPUR_OPT_STRING, .name = "path", .offset = offsetof(struct file_settings, path),
	  .description = "the file records are appended to, one JSON line each; relative to "
			 "the config file's directory (required)" },
	{ .name = NULL },
};

struct file_dest {
	struct file_plugin *plugin;
	char path[PATH_MAX];
	int fd;
	char *buf;
	size_t len, cap;
	bool torn;		/* the file ends inside a line: end it first */
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

/* Does the file end inside a line (its last byte is not a newline)? The
 * descriptor is opened read-write for this one pread. */
static bool ends_torn(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char last;
	return size > 0 && pread(fd, &last, 1, size - 1) == 1 && last != '\n';
}

/* write() all of [p, p+n); 0 or -errno. */
static int write_all(int fd, const char *p, size_t n, size_t *done)
{
	*done = 0;
	while (*done < n) {
		ssize_t w = write(fd, p + *done, n - *done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		*done += (size_t)w;
	}
	return 0;
}

/* Open `path` (absolute, or relative to the config file's directory). */
static int open_path(struct file_plugin *p, const char *path, void **dest, char *err,
		     size_t errlen)
{
	struct file_dest *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM, n;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	d->plugin = p;
	n = path[0] == '/' ? snprintf(d->path, sizeof(d->path), "%s", path) :
		snprintf(d->path, sizeof(d->path), "%s/%s", spur_host_config_dir(p->host), path);
	if (n < 0 || (size_t)n >= sizeof(d->path)) {
		snprintf(err, errlen, "file destination path too long");
		rc = -ENAMETOOLONG;
		goto fail;
	}
	d->fd = open(d->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (d->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "file %s: %s", d->path, strerror(-rc));
		goto fail;
	}
	d->torn = ends_torn(d->fd);
	*dest = d;
	return 0;
fail:
	free(d);
	return rc;
}

/* file://PATH. Named destinations come through file_open_named(), so
 * `options` is always NULL here. */
static int file_open(void *instance, const char *target, const char *options, void **dest,
		     char *err, size_t errlen)
{
	return open_path(instance, target, dest, err, errlen);
}

/* destinations: { NAME: { type: file, path: PATH } }, parsed by the host
 * with file_settings_table (its strings are borrowed for the call). */
static int file_open_named(void *instance, const char *name, const void *options, void **dest,
			   char *err, size_t errlen)
{
	const struct file_settings *s = options;

	if (!s->path || !*s->path) {
		snprintf(err, errlen, "a file destination needs a path "
			 "(path: FILE, relative to the config file's directory)");
		return -EINVAL;
	}
	return open_path(instance, s->path, dest, err, errlen);
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
	if (d->torn && d->len && (rc = write_all(d->fd, "\n", 1, &off)) == 0)
		d->torn = false;
	if (rc == 0 && (rc = write_all(d->fd, d->buf, d->len, &off)) < 0 && off > 0)
		d->torn = d->buf[off - 1] != '\n';	/* the retry must start a new line */
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
	.options = file_settings_table,
	.options_size = sizeof(struct file_settings),
	.open_named = file_open_named,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "file",
	.version = "0.1.0",
	.description = "file:// destination: records as JSON lines, fsynced per batch",
	.roles = SPUR_ROLE_DESTINATION,
	.init = file_init,
	.fini = file_fini,
	.destination = &file_destination,
};
