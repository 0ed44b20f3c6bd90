/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - a handler's lua_State: the counting allocator, the library
 * list, the deadline hook and everything that keeps handler code inside
 * its context.
 *
 * Invariants, for every state made here:
 *  - every byte comes from alloc(), which refuses to go past the function's
 *    memory limit (Lua then raises LUA_ERRMEM);
 *  - only base (without dofile, loadfile), string (without dump), table,
 *    math, utf8 and coroutine are open; load() compiles text only; require()
 *    reads modules from the code directory only;
 *  - no handler object can get a __gc finalizer or a __close metamethod
 *    (setmetatable refuses both and the debug library is absent), and the
 *    string metatable is protected;
 *  - no C function reachable from Lua loops without calling
 *    spur_lua_check(): the count hook covers Lua code, pattern.c covers
 *    find/match/gmatch/gsub/rep, and the table functions below check every
 *    CHECK_EVERY elements (a __len of 2^62 would otherwise spin in C).
 * After the deadline the hook fires on every instruction, so each pcall that
 * catches the timeout is interrupted again at once, up to the top; xpcall
 * skips the handler's message handler then (it would run with hooks off).
 * Runs on whichever thread owns the context; no globals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_priv.h"
#include "pattern.h"

#define CHECK_EVERY 1024u
#define MAX_MODULE_NAME 200

const char spur_lua_key_array_mt;
const char spur_lua_key_loaded;
const char spur_lua_key_trace;

static const char TIMEOUT_MSG[] = "Task timed out";

/* --- memory ------------------------------------------------------------- */

static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct spur_lua_ctx *c = ud;
	void *p;

	if (ptr == NULL)
		osize = 0;	/* osize is a type tag then */
	if (nsize == 0) {
		free(ptr);
		c->used -= osize;
		return NULL;
	}
	if (nsize > osize && nsize - osize > c->limit - c->used) {
		c->alloc_failed = true;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (p == NULL) {
		c->alloc_failed = true;
		return NULL;
	}
	c->used = c->used - osize + nsize;
	if (c->used > c->peak)
		c->peak = c->used;
	return p;
}

lua_State *spur_lua_state_new(struct spur_lua_ctx *c)
{
	lua_State *L = lua_newstate(alloc, c);

	if (L != NULL) {
		*(struct spur_lua_ctx **)lua_getextraspace(L) = c;
		/* most of what an invoke makes (the event, the result) dies with
		 * it: young objects are collected without a full mark */
		lua_gc(L, LUA_GCGEN, 0, 0);
	}
	return L;
}

/* --- time --------------------------------------------------------------- */

static void hook(lua_State *L, lua_Debug *ar);

/* [-0, +0, v] After the deadline: mark the run, make the hook fire on every
 * instruction of this thread, and raise. */
static void timeout(lua_State *L, struct spur_lua_ctx *c)
{
	c->timed_out = true;
	lua_sethook(L, hook, LUA_MASKCOUNT, 1);
	lua_pushstring(L, TIMEOUT_MSG);
	lua_error(L);
}

/* [-0, +0, v] The count hook: the deadline first; then the host's pause
 * time, only in the run's own coroutine (a coroutine of the handler's
 * would see its resume return early) and only where Lua can yield (not
 * under a C function such as table.sort's comparator: it pauses at the
 * next check that can). */
static void hook(lua_State *L, lua_Debug *ar)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	int64_t now = spur_now_ns();

	(void)ar;
	if (c->timed_out || now >= c->deadline_ns)
		timeout(L, c);
	if (c->yield_ns && now >= c->yield_ns && L == c->co && lua_isyieldable(L)) {
		c->yield_ns = 0;
		c->paused = true;
		lua_yield(L, 0);
	}
}

/* [-0, +0, v] */
void spur_lua_check(lua_State *L, void *ud)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);

	(void)ud;
	if (c->timed_out || spur_now_ns() >= c->deadline_ns)
		timeout(L, c);
}

void spur_lua_arm(struct spur_lua_ctx *c, int64_t deadline_ns)
{
	c->deadline_ns = deadline_ns;
	c->timed_out = false;
	c->alloc_failed = false;
	c->peak = c->used;
	c->yield_ns = 0;
	c->paused = false;
	lua_sethook(c->L, hook, LUA_MASKCOUNT, SPUR_LUA_HOOK_COUNT);
	if (c->co)
		lua_sethook(c->co, hook, LUA_MASKCOUNT, SPUR_LUA_HOOK_COUNT);
}

/* [-0, +0, v] Count one unit of a C loop; check the deadline now and then. */
static inline void tick(lua_State *L, unsigned *n)
{
	if ((++*n % CHECK_EVERY) == 0)
		spur_lua_check(L, NULL);
}

/* --- base library replacements ------------------------------------------ */

/* [-n, +r, e] The stock function a replacement wraps (upvalue 1), called
 * with the replacement's arguments; its results. */
static int call_original(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* [-(2|1), +1, e] setmetatable(t, mt) that refuses finalizers (hooks do
 * not run in them; a __gc added later marks nothing for finalization) and
 * __close (a __close added later is harmless too: see sb_wrapped). */
static int sb_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc finalizers are "
					  "not allowed in spur handlers");
		lua_pushliteral(L, "__close");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __close metamethods are "
					  "not allowed in spur handlers");
		lua_pop(L, 2);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/* [-n, +(1|2), e] load(chunk [, chunkname [, mode [, env]]]) with mode
 * forced to "t": a precompiled (binary) chunk is refused. The stock load
 * is upvalue 1; env keeps its meaning (absent vs nil). */
static int sb_load(lua_State *L)
{
	if (lua_gettop(L) < 3)
		lua_settop(L, 3);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	return call_original(L);
}

/* [-1, +1, e] The message handler xpcall really installs (upvalue 1 is the
 * handler's own). An error raised by the count hook leaves hooks disabled
 * until the next pcall boundary, so a Lua message handler called for the
 * timeout would run unhooked and could loop forever: after the deadline
 * the error object is passed through without calling it. */
static int xp_msgh(lua_State *L)
{
	if (spur_lua_ctx(L)->timed_out)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* [-0, +(1|2|n)] Continuation of xpcall (also its normal end), as in Lua's lbaselib. */
static int xp_finish(lua_State *L, int status, lua_KContext extra)
{
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

/* [-(n), +(1..), e] xpcall(f, msgh, ...) with msgh wrapped by xp_msgh. */
static int sb_xpcall(lua_State *L)
{
	int n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, xp_msgh, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);	/* first result if no errors */
	lua_pushvalue(L, 1);	/* function */
	lua_rotate(L, 3, 2);	/* move them below the arguments */
	status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, xp_finish);
	return xp_finish(L, status, 2);
}

/* --- bounded table functions ------------------------------------------- */
/* Same contracts and messages as Lua 5.4's table library, for tables (the
 * sandbox has no userdata with table metamethods). */

/* [-0, +0, e] */
static lua_Integer getn(lua_State *L, int idx)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	return luaL_len(L, idx);
}

/* [-(2|3), +0, e] table.insert(t, [pos,] v) */
static int tb_insert(lua_State *L)
{
	lua_Integer e = luaL_intop(+, getn(L, 1), 1);	/* first empty slot */
	lua_Integer pos, i;
	unsigned n = 0;

	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
			      "position out of bounds");
		for (i = e; i > pos; i--) {
			tick(L, &n);
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i);
		}
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos);
	return 0;
}

/* [-(1|2), +1, e] table.remove(t [, pos]) */
static int tb_remove(lua_State *L)
{
	lua_Integer size = getn(L, 1);
	lua_Integer pos = luaL_optinteger(L, 2, size);
	unsigned n = 0;

	if (pos != size)
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2,
			      "position out of bounds");
	lua_geti(L, 1, pos);
	for (; pos < size; pos++) {
		tick(L, &n);
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	return 1;
}

/* [-(4|5), +1, e] table.move(a1, f, e, t [, a2]) */
static int tb_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2);
	lua_Integer e = luaL_checkinteger(L, 3);
	lua_Integer t = luaL_checkinteger(L, 4);
	int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
	lua_Integer i, cnt;
	unsigned n = 0;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, tt, LUA_TTABLE);
	if (e >= f) {
		luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3,
			      "too many elements to move");
		cnt = e - f + 1;
		luaL_argcheck(L, t <= LUA_MAXINTEGER - cnt + 1, 4,
			      "destination wrap around");
		if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
			for (i = 0; i < cnt; i++) {
				tick(L, &n);
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		} else {
			for (i = cnt - 1; i >= 0; i--) {
				tick(L, &n);
				lua_geti(L, 1, f + i);
				lua_seti(L, tt, t + i);
			}
		}
	}
	lua_pushvalue(L, tt);
	return 1;
}

/* [-0, +0, e] Append t[i] (at stack 1) to b. */
static void addfield(lua_State *L, luaL_Buffer *b, lua_Integer i)
{
	lua_geti(L, 1, i);
	if (!lua_isstring(L, -1))
		luaL_error(L, "invalid value (at index %I) in table for 'concat'",
			   (LUAI_UACINT)i);
	luaL_addvalue(b);
}

/* [-(1..4), +1, e] table.concat(t [, sep [, i [, j]]]) */
static int tb_concat(lua_State *L)
{
	luaL_Buffer b;
	size_t lsep;
	lua_Integer last = getn(L, 1);
	const char *sep = luaL_optlstring(L, 2, "", &lsep);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	unsigned n = 0;

	last = luaL_optinteger(L, 4, last);
	luaL_buffinit(L, &b);
	for (; i < last; i++) {
		tick(L, &n);
		addfield(L, &b, i);
		luaL_addlstring(&b, sep, lsep);
	}
	if (i == last)
		addfield(L, &b, i);
	luaL_pushresult(&b);
	return 1;
}

/* [-0, +0, e] t[a] < t[b], by the comparator at 2 or by '<'. */
static int sort_less(lua_State *L, lua_Integer a, lua_Integer b)
{
	int r;

	if (!lua_isnil(L, 2)) {
		lua_pushvalue(L, 2);
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		lua_call(L, 2, 1);
		r = lua_toboolean(L, -1);
		lua_pop(L, 1);
	} else {
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		r = lua_compare(L, -2, -1, LUA_OPLT);
		lua_pop(L, 2);
	}
	return r;
}

/* [-0, +0, e] */
static void sort_swap(lua_State *L, lua_Integer a, lua_Integer b)
{
	lua_geti(L, 1, a);
	lua_geti(L, 1, b);
	lua_seti(L, 1, a);
	lua_seti(L, 1, b);
}

/* [-0, +0, e] Restore the heap property below root, in t[1..end]. */
static void sift(lua_State *L, lua_Integer root, lua_Integer end, unsigned *n)
{
	lua_Integer child;

	while ((child = 2 * root) <= end) {
		tick(L, n);
		if (child < end && sort_less(L, child, child + 1))
			child++;
		if (!sort_less(L, root, child))
			break;
		sort_swap(L, root, child);
		root = child;
	}
}

/* [-(1|2), +0, e] table.sort(t [, comp]): a heapsort, so that no
 * comparator, however inconsistent, makes it run past the table. */
static int tb_sort(lua_State *L)
{
	lua_Integer len = getn(L, 1), i;
	unsigned n = 0;

	luaL_argcheck(L, len < INT32_MAX, 1, "array too big");
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 2);
	for (i = len / 2; i >= 1; i--)
		sift(L, i, len, &n);
	for (i = len; i > 1; i--) {
		sort_swap(L, 1, i);
		sift(L, 1, i - 1, &n);
	}
	return 0;
}

static const luaL_Reg table_bounded[] = {
	{"insert", tb_insert},
	{"remove", tb_remove},
	{"move", tb_move},
	{"concat", tb_concat},
	{"sort", tb_sort},
	{NULL, NULL},
};

/* --- require ------------------------------------------------------------ */

/* 0 when name is a.b.c with components of [A-Za-z0-9_-] only: no "..", no
 * '/', nothing absolute, nothing empty. */
static int module_name_ok(const char *name, size_t len)
{
	size_t i, comp = 0;

	if (len == 0 || len > MAX_MODULE_NAME)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		if (ch == '.') {
			if (comp == 0)
				return -EINVAL;
			comp = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '_' || ch == '-') {
			comp++;
		} else {
			return -EINVAL;
		}
	}
	return comp ? 0 : -EINVAL;
}

/* [-0, +1, e] Read a regular file into a string; nil when it is absent.
 * The buffer (which may raise) is made before the file is opened, so no
 * descriptor can leak. */
static void push_file(lua_State *L, const char *path)
{
	luaL_Buffer b;
	struct stat st;
	size_t got = 0, size;
	char *p;
	int fd;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		lua_pushnil(L);
		return;
	}
	size = (size_t)st.st_size;
	p = luaL_buffinitsize(L, &b, size + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = spur_lua_read_all(fd, p, size);
		close(fd);
	}
	luaL_pushresultsize(&b, got);
}

size_t spur_lua_read_all(int fd, char *p, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t r = read(fd, p + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* [-0, +1, e] Push the loader for module `name`, or raise. */
static void find_module(lua_State *L, struct spur_lua_ctx *c, const char *name)
{
	const struct spur_lua_code *code = c->code;
	const char *rel, *path, *src;
	size_t len;
	int i;

	if (code->module != NULL && code->is_dir &&
	    strcmp(name, code->module) == 0) {
		if (luaL_loadbufferx(L, code->bytecode, code->bytecode_len,
				     code->main_file, "b") != LUA_OK)
			lua_error(L);
		return;
	}
	rel = luaL_gsub(L, name, ".", "/");
	for (i = 0; i < 2; i++) {
		path = lua_pushfstring(L, i == 0 ? "%s/%s.lua" : "%s/%s/init.lua",
				       code->dir, rel);
		push_file(L, path);
		if (!lua_isnil(L, -1))
			break;
		lua_pop(L, 2);
	}
	if (i == 2)
		luaL_error(L, "module '%s' not found in the function's code "
			   "directory", name);
	src = lua_tolstring(L, -1, &len);
	if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) {
		src += 3;
		len -= 3;
	}
	if (len > 0 && src[0] == '#') {	/* a #! line: keep its newline */
		while (len > 0 && src[0] != '\n') {
			src++;
			len--;
		}
	}
	lua_pushfstring(L, "@%s", path);
	if (luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t") != LUA_OK)
		lua_error(L);
	lua_replace(L, -4);	/* the chunk over rel */
	lua_pop(L, 2);
}

/* [-1, +1, e] */
int spur_lua_require(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);

	lua_settop(L, 1);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &spur_lua_key_loaded);	/* 2 */
	lua_pushvalue(L, 1);
	if (lua_rawget(L, 2) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	if (module_name_ok(name, len) != 0)
		return luaL_error(L, "module '%s': names are a.b.c made of "
				  "letters, digits, '_' and '-'", name);
	find_module(L, c, name);
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, -2);
	lua_rawset(L, 2);
	return 1;
}

/* --- O(n) C functions on long strings check the deadline ------------------- */
/* The count hook looks at the clock every 1000 VM instructions, and one
 * instruction can be a call of string.upper on 100 MiB (tens of ms): a
 * loop of them outran a 1 s timeout by many seconds (review H2). These
 * run the deadline check first when their first argument is a string of
 * CHECKED_LEN bytes or more, so a run overshoots by one call at most. */
#define CHECKED_LEN 65536

/* [-n, +(r), e] The C function in upvalue 1 (a library function that
 * uses no upvalue of its own), called in this frame after the check. */
static int sb_checked(lua_State *L)
{
	lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(1));
	size_t len = 0;

	if (lua_type(L, 1) == LUA_TSTRING && (lua_tolstring(L, 1, &len), len >= CHECKED_LEN))
		spur_lua_check(L, NULL);
	return f(L);
}

/* [-0, +0, e] Wrap the named functions of the library table at the top. */
static void check_long(lua_State *L, const char *const *names)
{
	for (; *names; names++) {
		if (lua_getfield(L, -1, *names) != LUA_TFUNCTION || !lua_iscfunction(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushcclosure(L, sb_checked, 1);
		lua_setfield(L, -2, *names);
	}
}

/* [-0, +0, e] */
static void open_checked(lua_State *L)
{
	static const char *const string_fns[] = { "upper", "lower", "reverse", "byte", "sub",
						  "format", "unpack", NULL };
	static const char *const utf8_fns[] = { "len", "codepoint", "offset", "codes", NULL };

	lua_getglobal(L, LUA_STRLIBNAME);
	check_long(L, string_fns);
	lua_pop(L, 1);
	lua_getglobal(L, LUA_UTF8LIBNAME);
	check_long(L, utf8_fns);
	lua_pop(L, 1);
}

/* [-(0|1|2), +1, e] collectgarbage: "count" and "step" only. A full
 * collection of a large heap cannot be interrupted, and "stop" would
 * outlive the invocation in a warm context. */
static int sb_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");

	if (strcmp(opt, "count") != 0 && strcmp(opt, "step") != 0)
		return luaL_error(L, "collectgarbage(\"%s\") is not allowed in spur handlers "
				  "(\"count\" and \"step\" are)", opt);
	return call_original(L);
}

/* --- coroutines that die by the timeout are never closed ------------------ */
/* Closing a coroutine (coroutine.close, the reset coroutine.wrap does when
 * its body fails) runs its pending __close handlers with the hook state
 * the coroutine died with; one killed by the count hook died with hooks
 * off, so a __close loop would run for ever (security review C1: it needs
 * no __close at setmetatable time, one added to the metatable afterwards
 * is enough). After the timeout nothing is closed: the run is over and
 * its context is ended without closing its coroutines. */

/* [-n, +(r|1), e] The function coroutine.wrap returns: resume upvalue 1
 * with the arguments, answer its results or raise its error. */
static int sb_wrapped(lua_State *L)
{
	lua_State *co = lua_tothread(L, lua_upvalueindex(1));
	int narg = lua_gettop(L), nres = 0, status;

	if (lua_status(co) == LUA_OK && lua_gettop(co) == 0)
		return luaL_error(L, "cannot resume dead coroutine");
	if (!lua_checkstack(co, narg))
		return luaL_error(L, "too many arguments to resume");
	lua_xmove(L, co, narg);
	status = lua_resume(co, L, narg, &nres);
	if (status == LUA_OK || status == LUA_YIELD) {
		if (!lua_checkstack(L, nres + 1))
			return luaL_error(L, "too many results to resume");
		lua_xmove(co, L, nres);
		return nres;
	}
	lua_xmove(co, L, 1);	/* the error */
	if (!spur_lua_ctx(L)->timed_out)
		lua_resetthread(co);	/* its __close handlers run, hooks on */
	if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
		luaL_where(L, 1);
		lua_insert(L, -2);
		lua_concat(L, 2);
	}
	return lua_error(L);
}

/* [-1, +1, m] coroutine.wrap(f) */
static int sb_wrap(lua_State *L)
{
	lua_State *co;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	co = lua_newthread(L);
	lua_pushvalue(L, 1);
	lua_xmove(L, co, 1);
	lua_pushcclosure(L, sb_wrapped, 1);
	return 1;
}

/* [-1, +(1|2), e] coroutine.close(co): the stock one (upvalue 1), but
 * not once the run has timed out. */
static int sb_close(lua_State *L)
{
	spur_lua_check(L, NULL);	/* timed out: raises the timeout again */
	return call_original(L);
}

/* [-0, +0, e] The coroutine library with wrap and close replaced. */
static void open_coroutine(lua_State *L)
{
	lua_getglobal(L, LUA_COLIBNAME);
	lua_pushcfunction(L, sb_wrap);
	lua_setfield(L, -2, "wrap");
	lua_getfield(L, -1, "close");
	lua_pushcclosure(L, sb_close, 1);
	lua_setfield(L, -2, "close");
	lua_pop(L, 1);
}

/* --- opening ------------------------------------------------------------ */

static const luaL_Reg libs[] = {
	{LUA_GNAME, luaopen_base},
	{LUA_STRLIBNAME, luaopen_string},
	{LUA_TABLIBNAME, luaopen_table},
	{LUA_MATHLIBNAME, luaopen_math},
	{LUA_UTF8LIBNAME, luaopen_utf8},
	{LUA_COLIBNAME, luaopen_coroutine},
	{NULL, NULL},
};

/* [-0, +0, e] Set t[name] = nil in the table at idx. */
static void unset(lua_State *L, int idx, const char *name)
{
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	lua_setfield(L, idx, name);
}

/* [-0, +0, e] The string library: no dump, bounded patterns and rep, and a
 * protected metatable for string values. */
static void open_string(lua_State *L, struct spur_lua_ctx *c)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	unset(L, -1, "dump");
	spur_pattern_install(L, lua_absindex(L, -1), spur_lua_check, c);
	lua_pop(L, 1);

	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);
}

/* [-0, +0, e] The base library: our setmetatable, load, print, require. */
static void open_base(lua_State *L)
{
	lua_pushglobaltable(L);
	unset(L, -1, "dofile");
	unset(L, -1, "loadfile");
	lua_pushcfunction(L, sb_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	lua_getfield(L, -1, "collectgarbage");
	lua_pushcclosure(L, sb_collectgarbage, 1);
	lua_setfield(L, -2, "collectgarbage");
	lua_pushcfunction(L, sb_xpcall);
	lua_setfield(L, -2, "xpcall");
	lua_getfield(L, -1, "load");
	lua_pushcclosure(L, sb_load, 1);
	lua_setfield(L, -2, "load");
	lua_pushcfunction(L, spur_lua_log);
	lua_setfield(L, -2, "print");
	lua_pushcfunction(L, spur_lua_require);
	lua_setfield(L, -2, "require");
	lua_pop(L, 1);
}

/* [-0, +0, m] */
int spur_lua_sandbox_open(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	const luaL_Reg *lib;

	for (lib = libs; lib->func != NULL; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	open_base(L);
	open_string(L, c);
	open_checked(L);
	open_coroutine(L);
	lua_getglobal(L, LUA_TABLIBNAME);
	luaL_setfuncs(L, table_bounded, 0);
	lua_pop(L, 1);

	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_loaded);
	return 0;
}
