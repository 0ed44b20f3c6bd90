/* SPDX-License-Identifier: MIT */
/*
 * fsync_count.c - an LD_PRELOAD shim for scripts/bench: counts the
 * fdatasync()/fsync() calls a process makes on SQLite WAL files ("*-wal"),
 * i.e. its commits with synchronous=FULL (plus one per checkpoint), and
 * writes "wal_syncs N other_syncs M" to $SPUR_BENCH_FSYNC_OUT at exit.
 *
 * It lets the async-intake scenario learn spur's group size (events per
 * commit) while spur runs at log level warn: the store's own close line is
 * an INFO line, and INFO also logs START/END/REPORT per event (~10% of
 * the intake on 2 cores). Cost per call: one readlink and one atomic add.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong wal_syncs, other_syncs;

static void count(int fd)
{
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n > 4 && memcmp(path + n - 4, "-wal", 4) == 0)
		atomic_fetch_add(&wal_syncs, 1);
	else
		atomic_fetch_add(&other_syncs, 1);
}

__attribute__((visibility("default"))) int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	count(fd);
	return real(fd);
}

__attribute__((visibility("default"))) int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	count(fd);
	return real(fd);
}

__attribute__((destructor)) static void report(void)
{
	const char *out = getenv("SPUR_BENCH_FSYNC_OUT");
	FILE *f = out ? fopen(out, "w") : NULL;
	if (!f)
		return;
	fprintf(f, "wal_syncs %lu other_syncs %lu\n", (unsigned long)atomic_load(&wal_syncs),
		(unsigned long)atomic_load(&other_syncs));
	fclose(f);
}
