/* SPDX-License-Identifier: MIT */
/*
 * bench_context.c - cold start and memory of execution contexts, next to a
 * bare Lua state running the same code (what scripts/bench reports).
 *
 *   bench_context [N]   N contexts held at once for the RSS figure (default 10000)
 *
 * Prints one JSON object: cold start (context + INIT of a 20-line handler)
 * median and p99 in microseconds, the bare luaL_newstate + load + run
 * figure, and RSS per idle context vs per bare state.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "config.h"
#include "context.h"
#include "function.h"
#include "host.h"
#include "run.h"
#include "util.h"

static const char *handler20 =
	"local counter = 0\n"
	"local cache = {}\n"
	"local function clamp(v, lo, hi)\n"
	"  if v < lo then return lo end\n"
	"  if v > hi then return hi end\n"
	"  return v\n"
	"end\n"
	"local function key(e)\n"
	"  return tostring(e.device) .. ':' .. tostring(e.kind)\n"
	"end\n"
	"function handle(event, ctx)\n"
	"  counter = counter + 1\n"
	"  local k = key(event)\n"
	"  local v = clamp(tonumber(event.value) or 0, 0, 100)\n"
	"  cache[k] = v\n"
	"  return { key = k, value = v, seen = counter,\n"
	"           alert = v > 90 }\n"
	"end\n"
	"local units = { 'C', 'F', 'K' }\n"
	"local default_unit = units[1]\n";

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static long rss_spur(struct spur_host *host, struct spur_function *ver, int n)
{
	char why[512];
	struct spur_context **held = calloc((size_t)n, sizeof(*held));
	long before = rss_kib();
	for (int i = 0; i < n; i++)
		held[i] = spur_exec_cold_start(spur_host_exec(host), ver, why, sizeof(why));
	return rss_kib() - before;
}

static long rss_bare(struct spur_host *host, struct spur_function *ver, int n)
{
	lua_State **bare = calloc((size_t)n, sizeof(*bare));
	long before = rss_kib();
	for (int i = 0; i < n; i++) {
		bare[i] = luaL_newstate();
		luaL_openlibs(bare[i]);
		luaL_loadbuffer(bare[i], handler20, strlen(handler20), "h");
		lua_pcall(bare[i], 0, 0, 0);
	}
	return rss_kib() - before;
}

static long in_child(long (*fn)(struct spur_host *, struct spur_function *, int),
		     struct spur_host *host, struct spur_function *ver, int n)
{
	int fd[2];
	long kib = -1;
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		kib = fn(host, ver, n);
		if (write(fd[1], &kib, sizeof(kib)) != sizeof(kib))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (read(fd[0], &kib, sizeof(kib)) != sizeof(kib))
		kib = -1;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return kib;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double us(int64_t ns)
{
	return (double)ns / 1000.0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	int rounds = 2000;
	char dir[] = "/tmp/spur-bench-XXXXXX", path[256];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/h.lua", dir);
	FILE *f = fopen(path, "w");
	fputs(handler20, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/spur.yaml", dir);
	f = fopen(path, "w");
	fputs("state_dir: var\nlog: { level: error }\n"
	      "functions:\n  f: { runtime: lua, code: h.lua, memory: 8MiB }\n", f);
	fclose(f);
	struct spur_config *cfg = spur_config_load(path, stderr);
	struct spur_host *host = cfg ? spur_host_new(cfg, stderr) : NULL;
	if (!host)
		return 1;
	struct spur_function *ver = spur_fn_latest(spur_registry_find(spur_host_registry(host), "f", 1));
	char why[512];

	double *t = calloc((size_t)rounds, sizeof(*t));
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = spur_now_ns();
		struct spur_context *c = spur_exec_cold_start(spur_host_exec(host), ver, why, sizeof(why));
		t[i] = us(spur_now_ns() - t0);
		spur_context_free(c);
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp);
	double spur_p50 = t[rounds / 2], spur_p99 = t[rounds * 99 / 100];

	/* The bare figure: new state, open the same libraries, load, run. */
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = spur_now_ns();
		lua_State *L = luaL_newstate();
		luaL_openlibs(L);
		if (luaL_loadbuffer(L, handler20, strlen(handler20), "h") != LUA_OK ||
		    lua_pcall(L, 0, 0, 0) != LUA_OK)
			return 1;
		t[i] = us(spur_now_ns() - t0);
		lua_close(L);
	}
	qsort(t, (size_t)rounds, sizeof(*t), cmp);
	double bare_p50 = t[rounds / 2], bare_p99 = t[rounds * 99 / 100];

	/* Each RSS figure in its own child, so neither side reuses pages
	 * the other freed. */
	long spur_rss = in_child(rss_spur, host, ver, n);
	long bare_rss = in_child(rss_bare, NULL, NULL, n);

	printf("{\"cold_start_us_p50\": %.1f, \"cold_start_us_p99\": %.1f, "
	       "\"bare_lua_us_p50\": %.1f, \"bare_lua_us_p99\": %.1f, "
	       "\"contexts\": %d, \"rss_per_context_kib\": %.1f, \"rss_per_bare_state_kib\": %.1f}\n",
	       spur_p50, spur_p99, bare_p50, bare_p99, n,
	       (double)spur_rss / n, (double)bare_rss / n);
	free(t);
	spur_host_free(host);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	return system(path) == 0 ? 0 : 1;
}
