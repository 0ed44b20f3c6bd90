/* SPDX-License-Identifier: MIT */
/*
 * plugin_wide.c - a plugin whose option tables have a wider element than
 * this build's struct spur_option, as one built against a later SDK would
 * (a member appended): the loader must read them with the plugin's
 * option_size stride (test_invoke's plugin_abi_checks).
 */
#include <stdint.h>

#include "spur/plugin.h"

struct wide_option {
	struct spur_option o;
	uint64_t appended_later;	/* what a future minor might add */
};

static const struct wide_option wide_options[] = {
	{ .o = { .type = SPUR_OPT_STRING, .name = "alpha", .def = "a", .description = "first" },
	  .appended_later = 0xdeadbeef },
	{ .o = { .type = SPUR_OPT_DURATION, .name = "beta", .def = "2s", .description = "second" },
	  .appended_later = 0xdeadbeef },
	{ .o = { .name = NULL } },
};

static const struct wide_option wide_route_options[] = {
	{ .o = { .type = SPUR_OPT_BOOL, .name = "gamma", .def = "false", .description = "a key" } },
	{ .o = { .name = NULL } },
};

static int wide_init(struct spur_host *host, const void *options, void **instance)
{
	*instance = host;
	return 0;
}

static void wide_fini(void *instance)
{
}

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct wide_option),
	.name = "wide",
	.roles = SPUR_ROLE_SOURCE,
	.options = &wide_options[0].o,
	.options_size = 64,
	.init = wide_init,
	.fini = wide_fini,
	.route_options = &wide_route_options[0].o,
};
