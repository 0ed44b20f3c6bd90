/* SPDX-License-Identifier: MIT */
/*
 * hello_plugin.c - a plugin written the way a third party writes one:
 * against the installed SDK alone (`#include "spur/plugin.h"`, found
 * through `pkg-config --cflags spur`), outside spur's source tree.
 * tests/sdk/check_sdk.sh builds it from a `meson install --destdir` tree
 * and loads it with `spur plugins`.
 *
 * It is the `hello` destination: hello://NAME counts the records it is
 * given and logs one line per flush; records above `max_record` bytes are
 * dropped (kept as undeliverable by the host).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/plugin.h"

struct hello_opts {
	char *greeting;
	uint64_t max_record;
	bool quiet;
};

static const struct spur_option hello_options[] = {
	{
		.type = SPUR_OPT_STRING,
		.name = "greeting",
		.def = "hello",
		.offset = offsetof(struct hello_opts, greeting),
		.description = "the word each flush's log line starts with",
	},
	{
		.type = SPUR_OPT_SIZE,
		.name = "max_record",
		.def = "64KiB",
		.offset = offsetof(struct hello_opts, max_record),
		.description = "larger records are dropped",
		.min = 1,
		.max = 6 * 1024 * 1024,
	},
	{
		.type = SPUR_OPT_BOOL,
		.name = "quiet",
		.def = "false",
		.offset = offsetof(struct hello_opts, quiet),
		.description = "log nothing at flush",
	},
	{ .name = NULL },
};

struct hello_plugin {
	struct spur_host *host;
	const struct hello_opts *opts;	/* kept alive by the host until fini */
};

struct hello_dest {
	struct hello_plugin *plugin;
	char name[64];
	struct spur_counter *records;
	uint64_t pending;
};

static int hello_init(struct spur_host *host, const void *options, void **instance)
{
	struct hello_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->host = host;
	p->opts = options;
	spur_log(host, SPUR_LOG_DEBUG, "hello: ready (greeting '%s')", p->opts->greeting);
	*instance = p;
	return 0;
}

static void hello_fini(void *instance)
{
	free(instance);
}

static int hello_open(void *instance, const char *target, const char *options, void **dest,
		      char *err, size_t errlen)
{
	struct hello_plugin *p = instance;
	if (options) {
		snprintf(err, errlen, "hello: named destinations take no settings");
		return -EINVAL;
	}
	if (!target[0] || strlen(target) >= sizeof(((struct hello_dest *)0)->name)) {
		snprintf(err, errlen, "hello: want hello://NAME (1 to 63 characters)");
		return -EINVAL;
	}
	struct hello_dest *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->plugin = p;
	snprintf(d->name, sizeof(d->name), "%s", target);
	d->records = spur_counter_get(p->host, "spur_hello_records_total",
				      "Records the hello destination took.", NULL);
	*dest = d;
	return 0;
}

static enum spur_deliver hello_deliver(void *dest, const char *record, size_t len,
				       const struct spur_record_meta *meta, char *why,
				       size_t whylen)
{
	struct hello_dest *d = dest;
	(void)record;
	if (len > d->plugin->opts->max_record) {
		snprintf(why, whylen, "record of %zu bytes over max_record", len);
		return SPUR_DELIVER_DROP;
	}
	/* Fields appended in later minors are read only when the host has them. */
	if (SPUR_RECORD_META_HAS(meta, traceparent) && meta->traceparent)
		spur_log(d->plugin->host, SPUR_LOG_DEBUG, "%s: traced record (%s)", d->name,
			 meta->traceparent);
	d->pending++;
	return SPUR_DELIVER_OK;
}

static int hello_flush(void *dest)
{
	struct hello_dest *d = dest;
	if (d->records)
		spur_counter_add(d->records, d->pending);
	if (!d->plugin->opts->quiet)
		spur_log(d->plugin->host, SPUR_LOG_INFO, "%s, %s: %llu records",
			 d->plugin->opts->greeting, d->name, (unsigned long long)d->pending);
	d->pending = 0;
	return 0;
}

static void hello_close(void *dest)
{
	free(dest);
}

static const struct spur_destination hello_destination = {
	.struct_size = sizeof(struct spur_destination),
	.scheme = "hello",
	.open = hello_open,
	.deliver = hello_deliver,
	.flush = hello_flush,
	.close = hello_close,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.name = "hello",
	.version = "1.2.3",
	.description = "out-of-tree SDK example: hello://NAME counts records",
	.roles = SPUR_ROLE_DESTINATION,
	.options = hello_options,
	.options_size = sizeof(struct hello_opts),
	.init = hello_init,
	.fini = hello_fini,
	.destination = &hello_destination,
};
