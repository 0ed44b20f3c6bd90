/* SPDX-License-Identifier: MIT */
/*
 * harness.c - a real router over a temporary directory (see harness.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <check.h>

#include "harness.h"
#include "config.h"
#include "host.h"

void harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/spur-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
}

void harness_write(struct harness *h, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", h->dir, name);
	for (char *p = path + strlen(h->dir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

int harness_load(struct harness *h)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/spur.yaml", h->dir);
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);
	struct spur_config *cfg = spur_config_load(path, err);
	if (cfg)
		h->host = spur_host_new(cfg, err);
	fclose(err);
	snprintf(h->errors, sizeof(h->errors), "%s", buf ? buf : "");
	free(buf);
	return h->host ? 0 : -1;
}

int harness_load_yaml(struct harness *h, const char *yaml)
{
	harness_write(h, "spur.yaml", yaml);
	return harness_load(h);
}

int harness_start(struct harness *h)
{
	return spur_host_start(h->host);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void harness_fini(struct harness *h)
{
	spur_host_free(h->host);
	h->host = NULL;
	nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct spur_result *harness_invoke(struct harness *h, const char *target, const char *payload)
{
	struct spur_invoke_args a = {
		.struct_size = sizeof(a),
		.target = target,
		.payload = payload,
		.payload_len = payload ? strlen(payload) : 0,
		.mode = SPUR_MODE_SYNC,
		.source = "test",
	};
	struct spur_result *r = spur_invoke(h->host, &a);
	ck_assert_ptr_nonnull(r);
	return r;
}

const char *harness_body(const struct spur_result *r)
{
	const char *b = spur_result_body(r, NULL);
	return b ? b : "";
}

int harness_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
