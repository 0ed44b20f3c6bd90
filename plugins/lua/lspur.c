/* SPDX-License-Identifier: MIT */
/*
 * lspur.c - what a handler gets from spur: the `spur` module (json, tmp,
 * now) and the ctx object passed to every invocation. spur.json is the
 * Lua face of ljson.c; encode's output is bounded by the memory limit.
 *
 * The ctx table, its env table and its functions are made once per context
 * and kept in the fixed stack slots of lua_priv.h; each invoke only rewrites
 * the fields (raw sets of interned keys: no new table per invocation, but
 * for ctx.trace when the invocation carries a W3C Trace Context).
 * spur.tmp confines names to the context's scratch directory: one path
 * component, no '/', no "..", no leading '.', nothing empty; files opened
 * with O_NOFOLLOW. Bytes written count against tmp_size for the context's
 * life (the directory is the context's alone).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lua_priv.h"

#define MAX_TMP_NAME 255

/* --- log ---------------------------------------------------------------- */

/* The longest log line a handler writes (CloudWatch's event size): past it
 * the line is cut, so what the host copies outside the Lua heap (the
 * line, its JSON escaping) stays bounded (security review M6). */
#define SPUR_LUA_MAX_LOG_LINE (256u * 1024)

/* [-n, +0, e] print(...) and ctx.log(...) */
int spur_lua_log(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	int n = lua_gettop(L), i;
	luaL_Buffer b;
	const char *s;
	size_t len;

	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	s = lua_tolstring(L, -1, &len);
	if (len > SPUR_LUA_MAX_LOG_LINE) {
		size_t keep = SPUR_LUA_MAX_LOG_LINE;

		while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
			keep--;		/* not inside a UTF-8 sequence */
		lua_pushlstring(L, s, keep);
		lua_pushfstring(L, " ... [truncated %d bytes]", (int)(len - keep));
		lua_concat(L, 2);
		s = lua_tolstring(L, -1, &len);
	}
	if (c->inv != NULL)
		spur_invocation_log(c->inv, s, len);
	return 0;
}

/* --- spur.now, ctx.remaining_ms ------------------------------------------ */

/* [-0, +1] seconds since the epoch, with sub-millisecond resolution */
static int s_now(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

/* [-0, +1] milliseconds left before the current run's deadline */
static int c_remaining(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	int64_t left = c->deadline_ns - spur_now_ns();

	lua_pushinteger(L, left > 0 ? (lua_Integer)(left / 1000000) : 0);
	return 1;
}

/* --- spur.tmp ----------------------------------------------------------- */

/* [-0, +0, v] The path of tmp file `name` (argument 1) into out. */
static void tmp_path(lua_State *L, struct spur_lua_ctx *c, const char *fn,
		     char *out, size_t outlen)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);
	const char *dir = spur_context_tmp_dir(c->host_ctx);
	int n;

	if (len == 0 || len > MAX_TMP_NAME || name[0] == '.' ||
	    memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL ||
	    strstr(name, "..") != NULL)
		luaL_error(L, "spur.tmp.%s: bad file name '%s' (one name, no '/', "
			   "no '..', not starting with '.')", fn, name);
	if (dir == NULL)
		luaL_error(L, "spur.tmp.%s: this context has no scratch directory", fn);
	n = snprintf(out, outlen, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= outlen)
		luaL_error(L, "spur.tmp.%s: path too long", fn);
}

/* [-0, +2] nil and a message naming errno */
static int fail_errno(lua_State *L, const char *fn, const char *name, int err)
{
	lua_pushnil(L);
	lua_pushfstring(L, "spur.tmp.%s: %s: %s", fn, name, strerror(err));
	return 2;
}

/* [-1, +(1|2), e] spur.tmp.read(name) -> data | nil, message */
static int t_read(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	char path[PATH_MAX];
	struct stat st;
	luaL_Buffer b;
	size_t got = 0;
	char *p;
	int fd;

	tmp_path(L, c, "read", path, sizeof(path));
	if (lstat(path, &st) != 0)
		return fail_errno(L, "read", lua_tostring(L, 1), errno);
	if (!S_ISREG(st.st_mode))
		return fail_errno(L, "read", lua_tostring(L, 1), EINVAL);
	p = luaL_buffinitsize(L, &b, (size_t)st.st_size + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail_errno(L, "read", lua_tostring(L, 1), errno);
	got = spur_lua_read_all(fd, p, (size_t)st.st_size);
	close(fd);
	luaL_pushresultsize(&b, got);
	return 1;
}

/* [-0, +0] write all of s to fd; 0 or an errno */
static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, s, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		s += r;
		len -= (size_t)r;
	}
	return 0;
}

/* [-(2|3), +(1|2), e] spur.tmp.write(name, data [, "a"]) -> true | nil, msg
 * Replaces the file, or appends with mode "a". */
static int t_write(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	char path[PATH_MAX];
	struct stat st;
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	const char *mode = luaL_optstring(L, 3, "w");
	bool append = strcmp(mode, "a") == 0;
	uint64_t old = 0, total;
	int fd, err;

	luaL_argcheck(L, append || strcmp(mode, "w") == 0, 3, "\"w\" or \"a\"");
	tmp_path(L, c, "write", path, sizeof(path));
	if (!c->tmp_ready) {
		err = spur_context_tmp_ensure(c->host_ctx);
		if (err != 0)
			return fail_errno(L, "write", lua_tostring(L, 1), -err);
		c->tmp_ready = true;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return fail_errno(L, "write", lua_tostring(L, 1), EINVAL);
		old = (uint64_t)st.st_size;
	}
	total = c->tmp_used - (append ? 0 : old) + len;
	if (total > c->code->tmp_size)
		return luaL_error(L, "spur.tmp.write: tmp_size limit of %I bytes "
				  "exceeded", (LUAI_UACINT)c->code->tmp_size);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		  (append ? O_APPEND : O_TRUNC), 0600);
	if (fd < 0)
		return fail_errno(L, "write", lua_tostring(L, 1), errno);
	err = write_all(fd, data, len);
	if (fstat(fd, &st) == 0)	/* count what is really there */
		total = c->tmp_used - old + (uint64_t)st.st_size;
	close(fd);
	c->tmp_used = total;
	if (err != 0)
		return fail_errno(L, "write", lua_tostring(L, 1), err);
	lua_pushboolean(L, 1);
	return 1;
}

/* [-1, +(1|2), e] spur.tmp.remove(name) -> true | nil, message */
static int t_remove(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	char path[PATH_MAX];
	struct stat st;

	tmp_path(L, c, "remove", path, sizeof(path));
	if (lstat(path, &st) != 0)
		return fail_errno(L, "remove", lua_tostring(L, 1), errno);
	if (unlink(path) != 0)
		return fail_errno(L, "remove", lua_tostring(L, 1), errno);
	if (S_ISREG(st.st_mode))
		c->tmp_used -= (uint64_t)st.st_size < c->tmp_used ?
			       (uint64_t)st.st_size : c->tmp_used;
	lua_pushboolean(L, 1);
	return 1;
}

struct names {
	struct dirent **v;
	int n;
};

/* [-1, +1, m] Push the names at 1 (a struct names) as an array table. */
static int push_names(lua_State *L)
{
	const struct names *nm = lua_touserdata(L, 1);
	int i, k = 0;

	lua_createtable(L, nm->n > 0 ? nm->n : 0, 0);
	spur_lua_push_array_mt(L);
	lua_setmetatable(L, -2);
	for (i = 0; i < nm->n; i++) {
		if (nm->v[i]->d_name[0] == '.')
			continue;
		lua_pushstring(L, nm->v[i]->d_name);
		lua_rawseti(L, -2, ++k);
	}
	return 1;
}

/* [-0, +1, e] spur.tmp.list() -> array of names, sorted. The names are
 * pushed under lua_pcall so that scandir's memory is freed on every path. */
static int t_list(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	const char *dir = spur_context_tmp_dir(c->host_ctx);
	struct names nm = {NULL, 0};
	int i, r;

	luaL_checkstack(L, 2, NULL);
	if (dir != NULL && (nm.n = scandir(dir, &nm.v, NULL, alphasort)) < 0)
		nm.n = 0;
	lua_pushcfunction(L, push_names);
	lua_pushlightuserdata(L, &nm);
	r = lua_pcall(L, 1, 1, 0);
	for (i = 0; i < nm.n; i++)
		free(nm.v[i]);
	free(nm.v);
	if (r != LUA_OK)
		return lua_error(L);
	return 1;
}

static const luaL_Reg tmp_funcs[] = {
	{"read", t_read},
	{"write", t_write},
	{"remove", t_remove},
	{"list", t_list},
	{NULL, NULL},
};

/* --- spur.json ---------------------------------------------------------- */

struct chunk {
	const char *s;
	size_t len;
};

/* [-1, +1, m] Push the chunk whose address is at 1, as a string. */
static int push_chunk(lua_State *L)
{
	const struct chunk *c = lua_touserdata(L, 1);

	lua_pushlstring(L, c->s, c->len);
	return 1;
}

/* [-1, +1, e] spur.json.encode(value) -> string */
static int j_encode(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	struct chunk ch;
	char err[128];
	char *out;
	size_t len;
	int r;

	lua_settop(L, 1);
	r = spur_lua_encode(L, 1, c->limit, &out, &len, err, sizeof(err));
	if (r == -ETIMEDOUT)
		spur_lua_check(L, NULL);	/* the timeout, as the hook raises it */
	if (r != 0)
		return luaL_error(L, "spur.json.encode: %s", err);
	/* the copy into Lua may raise: do it protected so `out` never leaks */
	ch.s = out;
	ch.len = len;
	if (!lua_checkstack(L, 2)) {
		free(out);
		return luaL_error(L, "spur.json.encode: out of memory");
	}
	lua_pushcfunction(L, push_chunk);
	lua_pushlightuserdata(L, &ch);
	r = lua_pcall(L, 1, 1, 0);
	free(out);
	if (r != LUA_OK)
		return lua_error(L);
	return 1;
}

/* [-1, +1, e] spur.json.decode(text) -> value */
static int j_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);

	spur_lua_decode(L, s, len);
	return 1;
}

/* [-(0|1), +1, e] spur.json.array([t]) -> t, marked to encode as an array */
static int j_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_settop(L, 1);
	}
	spur_lua_push_array_mt(L);
	lua_setmetatable(L, 1);
	return 1;
}

static const luaL_Reg json_funcs[] = {
	{"encode", j_encode},
	{"decode", j_decode},
	{"array", j_array},
	{NULL, NULL},
};

/* [-0, +0, m] spur.json into the table at the top */
static void open_json(lua_State *L)
{
	lua_createtable(L, 0, 4);
	luaL_setfuncs(L, json_funcs, 0);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	lua_setfield(L, -2, "json");
}

/* --- the module and the context's fixed slots ---------------------------- */

/* [-1, +1] Message handler: keep the traceback aside, return the error
 * object untouched (it may be any value; nothing here calls __tostring). */
static int msgh(lua_State *L)
{
	luaL_traceback(L, L, NULL, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_trace);
	lua_settop(L, 1);
	return 1;
}

/* [-0, +0, e] Create the `spur` module: global, and require("spur"). */
static void open_spur(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "spur.json.array");
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_array_mt);

	lua_createtable(L, 0, 3);
	open_json(L);
	luaL_newlib(L, tmp_funcs);
	lua_setfield(L, -2, "tmp");
	lua_pushcfunction(L, s_now);
	lua_setfield(L, -2, "now");
	lua_pushvalue(L, -1);
	lua_setglobal(L, "spur");
	lua_rawgetp(L, LUA_REGISTRYINDEX, &spur_lua_key_loaded);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "spur");
	lua_pop(L, 2);
}

/* [-0, +1, e] ctx.env from the function's env pairs */
static void push_env(lua_State *L, const struct spur_function *fn)
{
	size_t i, n = spur_function_env_count(fn);

	lua_createtable(L, 0, n > INT32_MAX ? 0 : (int)n);
	for (i = 0; i < n; i++) {
		const char *k, *v;

		spur_function_env(fn, i, &k, &v);
		if (k == NULL)
			continue;
		lua_pushstring(L, v != NULL ? v : "");
		lua_setfield(L, -2, k);
	}
}

/* [-0, +SPUR_LUA_SLOT_COUNT, m] */
int spur_lua_context_prepare(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);

	lua_settop(L, 0);
	open_spur(L);
	luaL_checkstack(L, SPUR_LUA_SLOT_COUNT + 2, NULL);
	lua_pushcfunction(L, msgh);			/* SPUR_LUA_SLOT_MSGH */
	lua_pushnil(L);					/* SPUR_LUA_SLOT_HANDLER */
	lua_createtable(L, 0, 12);			/* SPUR_LUA_SLOT_CTX */
	push_env(L, c->fn);				/* SPUR_LUA_SLOT_ENV */
	lua_pushcfunction(L, spur_lua_log);		/* SPUR_LUA_SLOT_LOG */
	lua_pushcfunction(L, c_remaining);		/* SPUR_LUA_SLOT_REMAINING */
	lua_pushliteral(L, "errorType");		/* SPUR_LUA_SLOT_K_ERRTYPE */
	lua_pushliteral(L, "errorMessage");		/* SPUR_LUA_SLOT_K_ERRMSG */
	return SPUR_LUA_SLOT_COUNT;
}

/* [-0, +0, m] ctx[k] = v (a string, or nil for NULL), raw */
static void set_str(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, k);
	lua_pushstring(L, v);
	lua_rawset(L, SPUR_LUA_ARG_CTX);
}

/* [-0, +0, m] ctx[k] = i, raw */
static void set_int(lua_State *L, const char *k, lua_Integer i)
{
	lua_pushstring(L, k);
	lua_pushinteger(L, i);
	lua_rawset(L, SPUR_LUA_ARG_CTX);
}

/* [-0, +0, m] ctx.trace = { traceparent, tracestate, trace_id } when the
 * invocation has a W3C Trace Context, else nil: a new table only then. */
static void set_trace(lua_State *L, struct spur_invocation *inv)
{
	const char *parent = NULL, *state = NULL;

	lua_pushliteral(L, "trace");
	if (spur_invocation_trace(inv, &parent, &state)) {
		lua_createtable(L, 0, 3);
		lua_pushstring(L, parent);
		lua_setfield(L, -2, "traceparent");
		if (state != NULL) {
			lua_pushstring(L, state);
			lua_setfield(L, -2, "tracestate");
		}
		lua_pushlstring(L, parent + 3, 32);	/* "00-<trace id>-..." */
		lua_setfield(L, -2, "trace_id");
	} else {
		lua_pushnil(L);
	}
	lua_rawset(L, SPUR_LUA_ARG_CTX);
}

/* Registry keys: the ctx fields that are the same for every invoke of a
 * context ({k1, v1, k2, v2, ...}, made at its first invoke), and the last
 * ARN pushed (a string over 40 bytes is made anew by every push). */
static const char key_consts;
static const char key_arn;

/* [-0, +1, m] The context's constant fields, made at the first call. */
static void push_consts(lua_State *L, struct spur_lua_ctx *c)
{
	lua_Integer i = 0;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_consts) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_createtable(L, 14, 0);
#define CONST(k, push) (lua_pushliteral(L, k), lua_rawseti(L, -2, ++i), push, \
			lua_rawseti(L, -2, ++i))
	CONST("function_name", lua_pushstring(L, spur_function_name(c->fn)));
	CONST("function_version", lua_pushstring(L, spur_function_version(c->fn)));
	CONST("memory_limit_in_mb", lua_pushinteger(L, (lua_Integer)(c->code->memory >> 20)));
	CONST("tmp", lua_pushstring(L, spur_context_tmp_dir(c->host_ctx)));
	CONST("env", lua_pushvalue(L, SPUR_LUA_ARG_ENV));
	CONST("log", lua_pushvalue(L, SPUR_LUA_ARG_LOG));
	CONST("remaining_ms", lua_pushvalue(L, SPUR_LUA_ARG_REMAINING));
#undef CONST
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_consts);
}

/* [-0, +0, m] ctx.invoked_function_arn: the Lua string of the last invoke
 * when the ARN is the same (it nearly always is). */
static void set_arn(lua_State *L, const char *arn)
{
	size_t len;
	const char *last;

	lua_pushliteral(L, "invoked_function_arn");
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_arn) != LUA_TSTRING ||
	    (last = lua_tolstring(L, -1, &len), strlen(arn) != len) || memcmp(last, arn, len)) {
		lua_pop(L, 1);
		lua_pushstring(L, arn);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &key_arn);
	}
	lua_rawset(L, SPUR_LUA_ARG_CTX);
}

/* [-0, +0, m] Every documented field, fresh for each invoke (a handler
 * that changed or removed one last time sees it as it should be). */
void spur_lua_ctx_update(lua_State *L, struct spur_lua_ctx *c)
{
	struct spur_invocation *inv = c->inv;

	push_consts(L, c);
	for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i < n; i += 2) {
		lua_rawgeti(L, -1, i);
		lua_rawgeti(L, -2, i + 1);
		lua_rawset(L, SPUR_LUA_ARG_CTX);
	}
	lua_pop(L, 1);
	set_str(L, "request_id", spur_invocation_request_id(inv));
	set_arn(L, spur_invocation_arn(inv));
	set_int(L, "attempt", (lua_Integer)spur_invocation_attempt(inv));
	set_int(L, "deadline_ms", (lua_Integer)spur_invocation_deadline_epoch_ms(inv));
	set_trace(L, inv);
}
