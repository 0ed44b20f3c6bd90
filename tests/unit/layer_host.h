/* SPDX-License-Identifier: MIT */
/*
 * layer_host.h - what the layer suites share: a temporary directory, a
 * config loaded from YAML written there, the sqlite store plugin of this
 * build, the injected clock, and a test-owned struct spur_host that
 * answers the SDK calls a plugin makes (spur_log, spur_host_state_dir,
 * spur_host_config_dir) without linking the host layer.
 *
 * A layer suite links only its layer and the layers below it; the store
 * plugin is dlopen()ed as the loader does, so its undefined SDK symbols
 * resolve against the test executable (built with export_dynamic).
 * The plugin's log lines are kept in a buffer and the core's log goes to
 * a file in the directory; layer_logged() searches both.
 * Any thread may log; everything else runs on the test's thread.
 */
#ifndef SPUR_TEST_LAYER_HOST_H
#define SPUR_TEST_LAYER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "spur/store.h"

struct spur_config;
struct spur_host;
struct spur_plugin;
struct Suite;

struct layer_host {
	char dir[256];			/* the temporary directory (removed by layer_fini) */
	char errors[8192];		/* what spur_config_load printed */
	struct spur_config *cfg;	/* NULL until layer_config */
	struct spur_log log;		/* the core's log: <dir>/core.log, every level */
	struct spur_host *host;		/* what the plugin sees */
	/* the store, once layer_store_open succeeded */
	void *dl;
	const struct spur_plugin *plugin;
	void *options;			/* the plugin's option block */
	void *si;			/* its instance */
	const struct spur_store *store;
};

void layer_init(struct layer_host *h);
/* Write `text` to <dir>/<name>. */
void layer_write(struct layer_host *h, const char *name, const char *text);
/* Write <dir>/spur.yaml and load it into h->cfg (its state_dir made).
 * 0, or -1 with the messages in h->errors. */
int layer_config(struct layer_host *h, const char *yaml);
/* Load plugins/sqlite/sqlite.so of this build, parse its options from the
 * config's store: section, init and open it over <state_dir>. Again after
 * layer_store_close: a new instance over the same file (a restart). */
void layer_store_open(struct layer_host *h);
void layer_store_close(struct layer_host *h);
/* Close the store, free the config, remove the directory. */
void layer_fini(struct layer_host *h);

/* Did the plugin or the core log a line containing `needle`? */
bool layer_logged(struct layer_host *h, const char *needle);

/* The store's messages of one queue, in visible order (at most 64);
 * layer_msgs_free releases them. */
struct layer_msg {
	char *id, *body, *attrs;
	int64_t visible_ms;
	uint32_t receive_count;
};
struct layer_msgs {
	size_t n;
	struct layer_msg m[64];
};
void layer_peek(struct layer_host *h, const char *queue, struct layer_msgs *out);
void layer_msgs_free(struct layer_msgs *out);

/* The injected clock: starts at 1000 h, moves only when told to. */
void layer_clock_start(void);
void layer_clock_advance(int64_t ns);
void layer_clock_stop(void);

/* Poll (1 ms real sleeps, at most `ms`) until fn(ud) holds: for what
 * other threads do, never for a timer (the clock is injected). */
bool layer_wait(bool (*fn)(void *ud), void *ud, int ms);
void layer_sleep_ms(int ms);

/* Run a suite the way every main() does: the exit status. */
int layer_run(struct Suite *suite);

#endif
