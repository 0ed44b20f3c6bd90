/* SPDX-License-Identifier: MIT */
/*
 * plugin_bad.c - modules the loader must refuse, built three ways:
 * -DBAD_ABI (major 99), -DBAD_SIZE (a descriptor smaller than ABI 1.0's),
 * -DNO_SYMBOL (no spur_plugin symbol at all).
 */
#include "spur/plugin.h"

static int init(struct spur_host *host, const void *options, void **instance)
{
	*instance = (void *)1;
	return 0;
}

#if defined(NO_SYMBOL)
SPUR_API int not_a_plugin(void);
int not_a_plugin(void)
{
	return init(0, 0, 0);
}
#else
SPUR_PLUGIN_EXPORT = {
#if defined(BAD_ABI)
	.abi_major = 99,
	.struct_size = sizeof(struct spur_plugin),
#else
	.abi_major = SPUR_ABI_MAJOR,
	.struct_size = 12,
#endif
	.name = "bad",
	.init = init,
};
#endif
