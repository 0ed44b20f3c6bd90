/* SPDX-License-Identifier: MIT */
/*
 * bench_store.c - intake of the sqlite store (plugins/sqlite): apply() of
 * 1-op PUT batches from 1, 8 and 64 threads with sync: full, next to the
 * "ceiling" - a plain C loop of INSERT transactions on the same schema
 * and settings (WAL, synchronous=FULL) with the group size the 64-thread
 * run reached, measured in the same run (issue 3: spur >= 0.8x ceiling).
 * The ceiling inserts the same ids as the 64 putters, in the same order
 * (64 per-thread sequences, interleaved): ids decide which index pages a
 * commit dirties, hence how many WAL frames it writes and fsyncs, so a
 * ceiling of one sequence (always the rightmost leaf) does much less work
 * per commit than the store is given. "ceiling_seq" is that one-sequence
 * loop, for reference; "-g" (the HTTP round's group) keeps it too.
 *
 *   bench_store [-g GROUP] [-c] [SECONDS] [DIR]
 *       SECONDS  per run (default 2); DIR for the database files (default a
 *                new /tmp dir, removed at the end)
 *       -g N     also measure the ceiling with groups of N inserts (scripts/bench
 *                passes the group size spur reached over HTTP: ops per commit)
 *       -c       the ceiling only (with -g): skip the plugin runs
 *
 * Prints one JSON object on stdout. Commits are read from the plugin's close
 * line; the plugin's own log goes to stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "host.h"
#include "loader.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
	struct spur_loaded_plugin p;
	struct spur_host *host;
	struct spur_config *cfg;	/* for the options block */
	void *opts;
	const struct spur_store *st;
	void *inst;
	double seconds;
	atomic_bool stop;
	atomic_uint_fast64_t ops;
};

static const char body[] = "{\"device\":\"sensor-42\",\"kind\":\"temp\",\"value\":21.5,"
			   "\"ts\":\"2026-11-27T10:00:00.000Z\"}";

/* A putter's ids: its thread number, then its own sequence. */
static atomic_uint next_thread;

static void put_id(char *id, size_t len, unsigned t, uint64_t i)
{
	snprintf(id, len, "%08x-%016llx", t, (unsigned long long)i);
}

static void *putter(void *arg)
{
	struct bench *b = arg;
	char id[64];
	unsigned t = atomic_fetch_add(&next_thread, 1);
	for (uint64_t i = 0; !atomic_load(&b->stop); i++) {
		put_id(id, sizeof(id), t, i);
		struct spur_store_op op = {
			.kind = SPUR_STORE_PUT,
			.msg = { .id = id, .queue = "async", .body = body, .body_len = sizeof(body) - 1,
				 .attrs = "{\"function\":\"f\"}", .attrs_len = 16,
				 .accepted_ms = 1, .visible_ms = 1 },
		};
		if (b->st->apply(b->inst, &op, 1, NULL) != 0) {
			fprintf(stderr, "apply failed\n");
			exit(1);
		}
		atomic_fetch_add(&b->ops, 1);
	}
	return NULL;
}

/* Open a new instance on a new file, run `threads` putters, close; the
 * commit count comes from the close line on fd 2. */
static void run_spur(struct bench *b, int threads, double *ops_s, double *commits_s)
{
	pthread_t th[64];
	char tmpl[] = "/tmp/bench-store-log-XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2);
	unsigned long long batches = 0, commits = 0;

	unlink(tmpl);
	if (b->p.desc.init(b->host, b->opts, &b->inst) < 0 || b->st->open(b->inst) < 0) {
		fprintf(stderr, "cannot open the store\n");
		exit(1);
	}
	atomic_store(&b->stop, false);
	atomic_store(&b->ops, 0);
	double t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, putter, b);
	struct timespec d = { (time_t)b->seconds, (long)((b->seconds - (time_t)b->seconds) * 1e9) };
	nanosleep(&d, NULL);
	atomic_store(&b->stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	double dt = now_s() - t0;
	dup2(fd, 2);
	b->st->close(b->inst);
	dup2(saved, 2);
	close(saved);
	b->p.desc.fini(b->inst);
	char log[4096] = "";
	ssize_t n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	log[n > 0 ? n : 0] = '\0';
	const char *line = strstr(log, "after ");
	if (!line || sscanf(line, "after %llu batches in %llu commits", &batches, &commits) != 2)
		fprintf(stderr, "no close line: %s\n", log);
	*ops_s = (double)atomic_load(&b->ops) / dt;
	*commits_s = (double)commits / dt;
}

/* The ceiling: one thread, BEGIN; `group` INSERTs; COMMIT, on a database
 * the plugin created (same schema, same pragmas). streams > 0: the ids of
 * that many putters taking turns (new thread numbers, as a new run of
 * putters would have); 0: one sequence. */
static double run_ceiling(const char *path, int group, int streams, double seconds,
			  double *commits_s)
{
	sqlite3 *db;
	sqlite3_stmt *ins, *begin, *commit;
	char id[64];
	uint64_t ops = 0, commits = 0, seq = 0;
	static unsigned run;	/* ids stay unique when a file takes a second run */

	run++;
	unsigned t0_thread = streams > 0 ? atomic_fetch_add(&next_thread, (unsigned)streams) : 0;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 " PRAGMA cache_size=-16384", NULL, NULL, NULL) != SQLITE_OK)
		exit(1);
	sqlite3_prepare_v2(db, "INSERT INTO messages(id, queue, body, attrs, accepted_ms,"
			   " visible_ms, receive_count, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			   -1, &ins, NULL);
	sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL);
	sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
	double t0 = now_s(), dt;
	while ((dt = now_s() - t0) < seconds) {
		sqlite3_step(begin);
		sqlite3_reset(begin);
		for (int i = 0; i < group; i++) {
			uint64_t k = ops + (unsigned)i;
			if (streams > 0)
				put_id(id, sizeof(id), t0_thread + (unsigned)(k % (unsigned)streams),
				       k / (unsigned)streams);
			else
				snprintf(id, sizeof(id), "c%u-%016llx", run, (unsigned long long)k);
			sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, "async", -1, SQLITE_STATIC);
			sqlite3_bind_blob(ins, 3, body, sizeof(body) - 1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 4, "{\"function\":\"f\"}", 16, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 5, 1);
			sqlite3_bind_int64(ins, 6, 1);
			sqlite3_bind_int64(ins, 7, 0);
			sqlite3_bind_int64(ins, 8, (int64_t)++seq);
			if (sqlite3_step(ins) != SQLITE_DONE)
				exit(1);
			sqlite3_reset(ins);
		}
		if (sqlite3_step(commit) != SQLITE_DONE)
			exit(1);
		sqlite3_reset(commit);
		ops += (uint64_t)group;
		commits++;
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_close(db);
	*commits_s = (double)commits / dt;
	return (double)ops / dt;
}

int main(int argc, char **argv)
{
	struct bench b = { .seconds = 2.0 };
	char dir[256] = "/tmp/bench-store-XXXXXX", path[2048], exe[1024], why[1024];
	int given_group = 0, opt;
	bool ceiling_only = false;

	while ((opt = getopt(argc, argv, "g:c")) != -1) {
		if (opt == 'g')
			given_group = atoi(optarg);
		else if (opt == 'c')
			ceiling_only = true;
		else
			return 1;
	}
	if (ceiling_only && given_group < 1) {
		fprintf(stderr, "usage: bench_store [-g GROUP] [-c] [SECONDS] [DIR]\n");
		return 1;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc > 1)
		b.seconds = atof(argv[1]);
	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else if (!mkdtemp(dir))
		return 1;
	/* the module of this build: <build>/tests/bench/bench_store -> <build>/plugins */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/../../plugins/sqlite/sqlite.so", exe);
	if (spur_plugin_open(path, &b.p, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s\n", why);
		return 1;
	}
	b.st = b.p.desc.store;

	snprintf(path, sizeof(path), "%s/spur.yaml", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "log: { level: info }\nstate_dir: %s\nstore: { sync: full }\n", dir);
	fclose(f);
	struct spur_config *cfg = spur_config_load(path, stderr);
	b.host = cfg ? spur_host_new(cfg, stderr) : NULL;
	b.cfg = spur_config_load(path, stderr);
	b.opts = calloc(1, b.p.desc.options_size + 16);
	if (!b.host || !b.cfg ||
	    spur_config_plugin_options(b.cfg, "store", b.p.desc.options, b.opts, stderr) < 0)
		return 1;
	/* each run on its own file: set `path` where the option table says */
	size_t path_off = 0;
	for (const struct spur_option *o = b.p.desc.options; o && o->name; o++)
		if (strcmp(o->name, "path") == 0)
			path_off = o->offset;
	static const int threads[] = { 1, 8, 64 };
	double ops[3] = { 0 }, commits[3] = { 0 };
	char dbname[300];
	for (int i = 0; i < 3 && (!ceiling_only || i == 0); i++) {
		snprintf(dbname, sizeof(dbname), "%s/spur-%d.db", dir, threads[i]);
		*(char **)((char *)b.opts + path_off) = dbname;
		if (ceiling_only) {	/* only the schema: open and close */
			if (b.p.desc.init(b.host, b.opts, &b.inst) < 0 || b.st->open(b.inst) < 0)
				return 1;
			b.st->close(b.inst);
			b.p.desc.fini(b.inst);
		} else {
			run_spur(&b, threads[i], &ops[i], &commits[i]);
		}
	}
	printf("{\"sync\":\"full\",\"seconds\":%.1f", b.seconds);
	if (!ceiling_only) {
		int group = commits[2] > 0 ? (int)(ops[2] / commits[2] + 0.5) : 1;
		if (group < 1)
			group = 1;
		double ceil_commits, ceiling = run_ceiling(dbname, group, threads[2], b.seconds,
							   &ceil_commits);
		double seq_commits, seq = run_ceiling(dbname, group, 0, b.seconds, &seq_commits);
		printf(",\"t1\":{\"ops_s\":%.0f,\"commits_s\":%.0f},"
		       "\"t8\":{\"ops_s\":%.0f,\"commits_s\":%.0f},"
		       "\"t64\":{\"ops_s\":%.0f,\"commits_s\":%.0f,\"group\":%d},"
		       "\"ceiling\":{\"ops_s\":%.0f,\"commits_s\":%.0f,\"group\":%d,\"streams\":%d},"
		       "\"ceiling_seq\":{\"ops_s\":%.0f,\"commits_s\":%.0f,\"group\":%d},"
		       "\"t64_vs_ceiling\":%.2f,\"t64_vs_ceiling_seq\":%.2f",
		       ops[0], commits[0], ops[1], commits[1], ops[2], commits[2], group,
		       ceiling, ceil_commits, group, threads[2], seq, seq_commits, group,
		       ceiling > 0 ? ops[2] / ceiling : 0, seq > 0 ? ops[2] / seq : 0);
	}
	if (given_group > 0) {
		double ceil_commits, ceiling = run_ceiling(dbname, given_group, 0, b.seconds,
							   &ceil_commits);
		printf(",\"ceiling_at_group\":{\"ops_s\":%.0f,\"commits_s\":%.0f,\"group\":%d}",
		       ceiling, ceil_commits, given_group);
	}
	printf("}\n");
	spur_host_free(b.host);
	spur_config_free(b.cfg);
	free(b.opts);
	free(b.p.path);
	if (argc <= 2) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
