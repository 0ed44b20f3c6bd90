/* SPDX-License-Identifier: MIT */
/*
 * lua_priv.h - what the files of the Lua runtime plugin share: the compiled
 * code object, the execution context, and the functions each file offers
 * the others (sandbox.c: state and sandbox; ljson.c: JSON <-> Lua;
 * lspur.c: the `spur` module and the ctx object; lua.c: the runtime).
 *
 * A struct spur_lua_code is built once by code_load and then only read, by any
 * number of threads. A struct spur_lua_ctx (one lua_State) is used by one
 * thread at a time; nothing here is global.
 */
#ifndef SPUR_SPUR_LUA_H
#define SPUR_SPUR_LUA_H

#include <stdbool.h>
#include <stdint.h>
#include <lua.h>

#include "spur/runtime.h"
#include "spur/text.h"

/* The largest result a handler may return (Lambda's 6 MB sync limit). */
#define SPUR_LUA_MAX_RESULT (6u * 1024 * 1024)
/* Nesting limits: encoding a Lua value, decoding JSON text in spur.json. */
#define SPUR_LUA_MAX_ENCODE_DEPTH 1000
#define SPUR_LUA_MAX_DECODE_DEPTH 2048
/* Instructions between two deadline checks of the count hook. */
#define SPUR_LUA_HOOK_COUNT 1000

/* Fixed slots at the bottom of the main thread's stack, set up once per
 * context by spur_lua_context_prepare(): the invoke path finds them
 * without a registry lookup. */
enum {
	SPUR_LUA_SLOT_MSGH = 1,	/* message handler: records the traceback */
	SPUR_LUA_SLOT_HANDLER,	/* the handler function */
	SPUR_LUA_SLOT_CTX,		/* the ctx table, reused by every invoke */
	SPUR_LUA_SLOT_ENV,		/* ctx.env */
	SPUR_LUA_SLOT_LOG,		/* ctx.log */
	SPUR_LUA_SLOT_REMAINING,	/* ctx.remaining_ms */
	SPUR_LUA_SLOT_K_ERRTYPE,	/* the interned string "errorType" */
	SPUR_LUA_SLOT_K_ERRMSG,	/* the interned string "errorMessage" */
	SPUR_LUA_SLOT_COUNT = SPUR_LUA_SLOT_K_ERRMSG,
};

/* The arguments of the protected call that runs one invocation: copies
 * of the fixed slots, since a C function sees only its own frame. */
enum {
	SPUR_LUA_ARG_HANDLER = 1,
	SPUR_LUA_ARG_CTX,
	SPUR_LUA_ARG_ENV,
	SPUR_LUA_ARG_LOG,
	SPUR_LUA_ARG_REMAINING,
	SPUR_LUA_ARG_COUNT = SPUR_LUA_ARG_REMAINING,
};

/* Registry keys (light userdata addresses are unique per process). */
extern const char spur_lua_key_array_mt;	/* metatable of JSON arrays */
extern const char spur_lua_key_loaded;	/* require's module cache */
extern const char spur_lua_key_trace;		/* last traceback string */

/* One function version's compiled code: read-only after code_load. */
struct spur_lua_code {
	char *path;		/* the code as configured (file or directory) */
	bool is_dir;		/* handler "mod.fn" is require("mod").fn */
	char *dir;		/* where require() looks: the file's dir, or path */
	char *main_file;	/* the file compiled below */
	char *module;		/* directory: the handler's module; file: NULL
				 * unless the handler was "mod.fn" */
	char *fname;		/* the handler's function name */
	char *bytecode;		/* lua_dump of main_file, with debug info */
	size_t bytecode_len;
	uint64_t memory;	/* heap limit in bytes */
	uint64_t tmp_size;	/* scratch directory limit in bytes */
};

/* One execution context. */
struct spur_lua_ctx {
	lua_State *L;
	const struct spur_lua_code *code;
	const struct spur_function *fn;
	struct spur_context *host_ctx;
	struct spur_invocation *inv;	/* the current run, or NULL */

	/* the counting allocator */
	size_t used, peak, limit;
	bool alloc_failed;	/* an allocation was refused during this run */

	/* the deadline of the current run */
	int64_t deadline_ns;
	bool timed_out;

	/* the coroutine every invoke runs in (anchored in the registry), and
	 * when the host wants it paused (0: never): the count hook yields it
	 * there and sets paused, so invoke/resume answer SPUR_RUN_YIELD */
	lua_State *co;
	int64_t yield_ns;
	bool paused;

	/* spur.tmp */
	uint64_t tmp_used;
	bool tmp_ready;
};

/* sandbox.c ---------------------------------------------------------- */
/* A new state with the counting allocator and ctx in its extra space,
 * or NULL when even that does not fit. */
lua_State *spur_lua_state_new(struct spur_lua_ctx *c);
/* The context that owns thread L. */
static inline struct spur_lua_ctx *spur_lua_ctx(lua_State *L)
{
	return *(struct spur_lua_ctx **)lua_getextraspace(L);
}
/* Protected: open our library list, bound what must be bounded, remove
 * what must not be reachable, install require, print, load, the hook. */
int spur_lua_sandbox_open(lua_State *L);	/* [-0, +0] lua_CFunction */
/* Arm the deadline for one run and reset the per-run counters. */
void spur_lua_arm(struct spur_lua_ctx *c, int64_t deadline_ns);
/* Raise the timeout error if the deadline has passed (used by the bounded
 * string and table functions). */
void spur_lua_check(lua_State *L, void *ud);	/* [-0, +0, v] */
/* require(name) as a handler sees it. */
int spur_lua_require(lua_State *L);		/* [-1, +1] lua_CFunction */

/* Read up to size bytes of fd into p (EINTR retried); how many it got. */
size_t spur_lua_read_all(int fd, char *p, size_t size);

/* ljson.c ------------------------------------------------------------ */
/* Parse JSON text and push its value; raises a Lua error on bad input. */
void spur_lua_decode(lua_State *L, const char *s, size_t len);	/* [-0, +1, e] */
/* Encode the value at idx as JSON text into a malloc()ed buffer, never
 * calling a metamethod and never raising. Returns 0 with *out and *len, or
 * -EINVAL (not encodable: message in err), -E2BIG (over max bytes), or
 * -ENOMEM. */
int spur_lua_encode(lua_State *L, int idx, size_t max, char **out,
		      size_t *len, char *err, size_t errlen);		/* [-0, +0] */
/* A JSON array of the lines of a luaL_traceback() text (header and
 * "[C]: in ?" lines dropped), malloc()ed; NULL if there is nothing. */
char *spur_lua_trace_json(const char *tb, size_t len);		/* [-0, +0] */
/* Push the shared array metatable. */
void spur_lua_push_array_mt(lua_State *L);				/* [-0, +1] */

/* lspur.c ------------------------------------------------------------ */
/* Protected: create the `spur` module, register it as global `spur` and in
 * require's cache, and build the context's fixed slots. */
int spur_lua_context_prepare(lua_State *L);	/* [-0, +SPUR_LUA_SLOT_COUNT] lua_CFunction */
/* Write one run's fields into the ctx table at SPUR_LUA_ARG_CTX (inside the
 * protected call whose arguments are laid out as SPUR_LUA_ARG_*). */
void spur_lua_ctx_update(lua_State *L, struct spur_lua_ctx *c);	/* [-0, +0, m] */
/* print(...) / ctx.log(...): tab-joined tostring of the arguments. */
int spur_lua_log(lua_State *L);		/* [-n, +0, e] lua_CFunction */

#endif
