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

#include "../unit/harness.h"
#include "context.h"
#include "function.h"
#include "host.h"
#include "invoke.h"
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
	struct harness h;
	harness_init(&h);
	harness_write(&h, "h.lua", handler20);
	if (harness_load_yaml(&h, "log: { level: error }\nfunctions:\n  f: { runtime: lua, code: h.lua, memory: 8MiB }\n") < 0) {
		fprintf(stderr, "%s", h.errors);
		return 1;
	}
	struct spur_function *ver = spur_fn_version(spur_registry_find(spur_host_registry(h.host), "f", 1), NULL, 0);
	char why[512];

	double *t = calloc((size_t)rounds, sizeof(*t));
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = spur_now_ns();
		struct spur_context *c = spur_invoke_cold_start(h.host, ver, why, sizeof(why));
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

	struct spur_context **held = calloc((size_t)n, sizeof(*held));
	long before = rss_kib();
	for (int i = 0; i < n; i++)
		held[i] = spur_invoke_cold_start(h.host, ver, why, sizeof(why));
	long spur_rss = rss_kib() - before;
	for (int i = 0; i < n; i++)
		spur_context_free(held[i]);

	lua_State **bare = calloc((size_t)n, sizeof(*bare));
	before = rss_kib();
	for (int i = 0; i < n; i++) {
		bare[i] = luaL_newstate();
		luaL_openlibs(bare[i]);
		luaL_loadbuffer(bare[i], handler20, strlen(handler20), "h");
		lua_pcall(bare[i], 0, 0, 0);
	}
	long bare_rss = rss_kib() - before;
	for (int i = 0; i < n; i++)
		lua_close(bare[i]);

	printf("{\"cold_start_us_p50\": %.1f, \"cold_start_us_p99\": %.1f, "
	       "\"bare_lua_us_p50\": %.1f, \"bare_lua_us_p99\": %.1f, "
	       "\"contexts\": %d, \"rss_per_context_kib\": %.1f, \"rss_per_bare_state_kib\": %.1f}\n",
	       spur_p50, spur_p99, bare_p50, bare_p99, n,
	       (double)spur_rss / n, (double)bare_rss / n);
	free(t);
	free(held);
	free(bare);
	harness_fini(&h);
	return 0;
}
