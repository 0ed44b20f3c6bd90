/* SPDX-License-Identifier: MIT */
/*
 * loader.h - finding, checking and loading plugin modules.
 *
 * Search order (the first plugin of a name wins; later ones are skipped
 * with a warning): `plugin_dir:` from the config, $SPUR_PLUGIN_PATH
 * (colon-separated), this build's plugins when the running binary lives
 * in its build tree, then the installed plugin directory.
 * A module is refused, with a message naming the file, when dlopen fails,
 * when it has no spur_plugin symbol, when its ABI major differs, or when
 * its struct_size is smaller than ABI 1.0's descriptor.
 */
#ifndef SPUR_PLUGIN_LOADER_H
#define SPUR_PLUGIN_LOADER_H

#include <stdio.h>
#include "spur/plugin.h"

struct spur_plugin_set;

struct spur_loaded_plugin {
	struct spur_plugin desc;	/* copied: at most our struct size */
	char *path;
	void *dl;
	void *options;			/* options_size bytes, parsed from config */
	void *instance;			/* NULL until init */
	bool started;
	size_t n_owned;			/* tables copied at load (normalize_tables) */
	void *owned[5];
};

/* Load every plugin found. Refused modules are reported on `err` and make
 * the call fail (-EINVAL) after all were tried; returns 0 and *out. */
int spur_plugins_load(const struct spur_strlist *dirs, FILE *err,
		      struct spur_plugin_set **out);
void spur_plugins_free(struct spur_plugin_set *set);	/* dlclose; instances must be gone */

size_t spur_plugins_count(const struct spur_plugin_set *set);
struct spur_loaded_plugin *spur_plugins_at(struct spur_plugin_set *set, size_t i);

/* Check one module file (used by the loader and by tests). Fills `out`
 * (dl handle open) and returns 0, or -EINVAL with a message in `why`. */
int spur_plugin_open(const char *path, struct spur_loaded_plugin *out,
		     char *why, size_t len);
/* Release what spur_plugin_open made: the copied tables, the path, the
 * module (kept mapped when SPUR_NO_DLCLOSE is set, for leak reports). */
void spur_plugin_close(struct spur_loaded_plugin *p);

#endif
