/* SPDX-License-Identifier: MIT */
/*
 * intake_priv.h - struct spur_intake, shared by the front door
 * (invoke.c) and the keyed flows (idempotency.c).
 */
#ifndef SPUR_INTAKE_PRIV_H
#define SPUR_INTAKE_PRIV_H

#include "invoke.h"

struct spur_intake {
	struct spur_intake_env env;
	/* the durable half: set once by spur_intake_attach (NULL: no store) */
	const struct spur_store *store;
	void *store_instance;
	struct spur_async *async;
	struct spur_mappings *mappings;
};

#endif
