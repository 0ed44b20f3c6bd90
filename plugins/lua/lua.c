/* SPDX-License-Identifier: MIT */
/*
 * lua.c - the "lua" runtime plugin: compiles a function's code once, makes
 * execution contexts (one sandboxed lua_State each, see sandbox.c) and runs
 * invocations in them.
 *
 * code_load compiles the main file in a scratch state and keeps its
 * bytecode (with debug info): read-only, shared by every context of the
 * version on any thread, so a cold start loads bytecode instead of parsing.
 * A warm invoke is one lua_resume of the context's coroutine: the event
 * goes from the payload's bytes (checked by the host) straight to Lua
 * tables in C, the ctx table is reused, and the result is encoded
 * straight from Lua values into one malloc()ed buffer handed to the host.
 * The coroutine is what lets a run pause: when the host gives a pause
 * time (an event loop's inline budget), the count hook yields there,
 * invoke returns SPUR_RUN_YIELD, and resume (on a worker thread) goes on
 * from that instruction with the same deadline, limits and state.
 *
 * Handler resolution ("handle" when none is configured):
 *   file, "name"       global `name` after INIT, else field `name` of the
 *                      table the chunk returned
 *   file, "mod.fn"     field `fn` of the returned table, else of global `mod`
 *   directory, "m.fn"  require("m").fn, m being DIR/m.lua or DIR/m/init.lua
 *
 * Errors: error("text") -> {errorType "Error", errorMessage "text"};
 * error({errorType=, errorMessage=}) -> those, read raw; anything else ->
 * "(error object is a T value)". No __tostring is ever called. Errors in INIT
 * are "Runtime.InitError" ("Runtime.HandlerNotFound" for a missing handler).
 * A context runs one invocation at a time; nothing here is global.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "spur/plugin.h"
#include "lua_priv.h"

#define DEFAULT_MEMORY (128u << 20)
#define DEFAULT_TMP_SIZE (512ull << 20)
#define MAX_MESSAGE (64u * 1024)

struct spur_lua {
	struct spur_host *host;
};

/* --- code --------------------------------------------------------------- */

struct dumpbuf {
	char *p;
	size_t len, cap;
	int err;
};

/* [-0, +0] lua_Writer into a struct dumpbuf */
static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct dumpbuf *b = ud;

	(void)L;
	if (b->len + sz > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *n;

		while (cap < b->len + sz)
			cap *= 2;
		n = realloc(b->p, cap);
		if (n == NULL)
			return b->err = ENOMEM;
		b->p = n;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, sz);
	b->len += sz;
	return 0;
}

/* Read a whole file; 0 or -errno. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	int err = 0;

	if (f == NULL)
		return -errno;
	do {
		if (n == cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);

			if (nb == NULL) {
				err = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		err = -EIO;
fail:
	fclose(f);
	if (err != 0) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Rewrite Lua's "chunkid:LINE: msg" (chunkid may be shortened to
 * "...tail") as "PATH:LINE: msg". */
static void syntax_error(const char *path, const char *msg, char *err, size_t errlen)
{
	const char *p;

	for (p = strchr(msg, ':'); p != NULL; p = strchr(p + 1, ':')) {
		const char *q = p + 1;

		while (*q >= '0' && *q <= '9')
			q++;
		if (q > p + 1 && *q == ':') {
			snprintf(err, errlen, "%s%s", path, p);
			return;
		}
	}
	snprintf(err, errlen, "%s: %s", path, msg);
}

/* Compile `path` (text only) and dump its bytecode into code. */
static int compile(struct spur_lua_code *code, const char *path, char *err, size_t errlen)
{
	struct dumpbuf b = {0};
	lua_State *L = NULL;
	char *src = NULL, *chunkname = NULL;
	const char *s;
	size_t len = 0;
	int r = read_file(path, &src, &len);

	if (r != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		goto fail;
	}
	s = src;
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len > 0 && s[0] == '#') {	/* a #! line: keep its newline */
		while (len > 0 && s[0] != '\n') {
			s++;
			len--;
		}
	}
	r = -ENOMEM;
	L = luaL_newstate();
	if (L == NULL || asprintf(&chunkname, "@%s", path) < 0) {
		chunkname = NULL;
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (luaL_loadbufferx(L, s, len, chunkname, "t") != LUA_OK) {
		const char *msg = lua_tostring(L, -1);

		syntax_error(path, msg != NULL ? msg : "cannot load", err, errlen);
		r = -EINVAL;
		goto fail;
	}
	if (lua_dump(L, dump_writer, &b, 0) != 0 || b.err != 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	code->bytecode = b.p;
	code->bytecode_len = b.len;
	b.p = NULL;
	r = 0;
fail:
	if (L != NULL)
		lua_close(L);
	free(b.p);
	free(chunkname);
	free(src);
	return r;
}

static void code_free(void *instance, void *p)
{
	struct spur_lua_code *code = p;

	(void)instance;
	if (code == NULL)
		return;
	free(code->path);
	free(code->dir);
	free(code->main_file);
	free(code->module);
	free(code->fname);
	free(code->bytecode);
	free(code);
}

/* The file of module `mod` in `dir`: dir/a/b.lua or dir/a/b/init.lua. */
static char *module_file(const char *dir, const char *mod)
{
	struct stat st;
	char *rel = strdup(mod), *path = NULL, *q;
	int i;

	if (rel == NULL)
		return NULL;
	for (q = rel; *q; q++)
		if (*q == '.')
			*q = '/';
	for (i = 0; i < 2; i++) {
		if (asprintf(&path, i == 0 ? "%s/%s.lua" : "%s/%s/init.lua", dir, rel) < 0) {
			path = NULL;
			break;
		}
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			break;
		free(path);
		path = NULL;
	}
	free(rel);
	return path;
}

/* 0 when s is a.b.c of [A-Za-z0-9_-] (module names) or, with dots = 0,
 * an identifier-ish function name. */
static int name_ok(const char *s, int dots)
{
	size_t comp = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s == '.' && dots) {
			if (comp == 0)
				return -EINVAL;
			comp = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '_' || *s == '-') {
			comp++;
		} else {
			return -EINVAL;
		}
	}
	return comp ? 0 : -EINVAL;
}

/* Split "mod.fn" at its last dot into code->module and code->fname. */
static int split_handler(struct spur_lua_code *code, const char *handler)
{
	const char *dot = strrchr(handler, '.');

	if (dot != NULL) {
		code->module = strndup(handler, (size_t)(dot - handler));
		code->fname = strdup(dot + 1);
		if (code->module == NULL || code->fname == NULL)
			return -ENOMEM;
		if (name_ok(code->module, 1) != 0 || name_ok(code->fname, 0) != 0)
			return -EINVAL;
		return 0;
	}
	code->fname = strdup(handler);
	if (code->fname == NULL)
		return -ENOMEM;
	return name_ok(code->fname, 0);
}

static int code_load(void *instance, const struct spur_function *fn,
		     void **out, char *err, size_t errlen)
{
	struct spur_lua_code *code = calloc(1, sizeof(*code));
	const char *path = spur_function_code(fn);
	const char *handler = spur_function_handler(fn);
	struct stat st;
	char *slash;
	int r = -ENOMEM;

	if (handler == NULL || *handler == '\0')
		handler = "handle";
	if (code == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (path == NULL || stat(path, &st) != 0) {
		r = path == NULL ? -EINVAL : -errno;
		snprintf(err, errlen, "%s: %s", path ? path : "(no code)", strerror(-r));
		goto fail;
	}
	code->is_dir = S_ISDIR(st.st_mode);
	code->path = strdup(path);
	if (code->path == NULL)
		goto fail;
	r = split_handler(code, handler);
	if (r == 0 && code->is_dir && code->module == NULL)
		r = -EINVAL;
	if (r != 0) {
		snprintf(err, errlen, r == -ENOMEM ? "out of memory" :
			 code->is_dir ? "%s: handler '%s' must be module.function "
			 "for a code directory" : "%s: bad handler name '%s'",
			 path, handler);
		goto fail;
	}
	r = -ENOMEM;
	if (code->is_dir) {
		code->dir = strdup(path);
		if (code->dir == NULL)
			goto fail;
		code->main_file = module_file(path, code->module);
		if (code->main_file == NULL) {
			r = -ENOENT;
			snprintf(err, errlen, "%s: module '%s' not found (%s.lua or "
				 "%s/init.lua)", path, code->module, code->module,
				 code->module);
			goto fail;
		}
	} else {
		code->main_file = strdup(path);
		code->dir = strdup(path);
		if (code->main_file == NULL || code->dir == NULL)
			goto fail;
		slash = strrchr(code->dir, '/');
		if (slash == code->dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
	}
	r = compile(code, code->main_file, err, errlen);
	if (r != 0)
		goto fail;
	code->memory = spur_function_memory(fn);
	if (code->memory == 0)
		code->memory = DEFAULT_MEMORY;
	code->tmp_size = spur_function_tmp_size(fn);
	if (code->tmp_size == 0)
		code->tmp_size = DEFAULT_TMP_SIZE;
	*out = code;
	return 0;
fail:
	code_free(instance, code);
	return r;
}

/* --- errors ------------------------------------------------------------- */

/* A Lambda error's type and message for the error value at idx, without
 * calling a metamethod or allocating in Lua. Strings point into values kept
 * on the stack (the caller restores the top) or into buf. [-0, +(0|1|2)] */
static void describe(lua_State *L, int idx, const char **type,
		     const char **msg, char *buf, size_t buflen)
{
	int t = lua_type(L, idx);

	*type = "Error";
	if (t == LUA_TSTRING) {
		*msg = lua_tostring(L, idx);
		return;
	}
	if (t == LUA_TNUMBER) {
		if (lua_isinteger(L, idx))
			snprintf(buf, buflen, "%lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(buf, buflen, "%.14g", (double)lua_tonumber(L, idx));
		*msg = buf;
		return;
	}
	snprintf(buf, buflen, "(error object is a %s value)", lua_typename(L, t));
	*msg = buf;
	if (t != LUA_TTABLE || !lua_checkstack(L, 2))
		return;
	lua_pushvalue(L, SPUR_LUA_SLOT_K_ERRTYPE);
	if (lua_rawget(L, idx) == LUA_TSTRING)
		*type = lua_tostring(L, -1);
	lua_pushvalue(L, SPUR_LUA_SLOT_K_ERRMSG);
	t = lua_rawget(L, idx);
	if (t == LUA_TSTRING) {
		*msg = lua_tostring(L, -1);
	} else if (t == LUA_TNUMBER) {
		if (lua_isinteger(L, -1))
			snprintf(buf, buflen, "%lld", (long long)lua_tointeger(L, -1));
		else
			snprintf(buf, buflen, "%.14g", (double)lua_tonumber(L, -1));
	} else if (t != LUA_TNIL) {
		snprintf(buf, buflen, "(errorMessage is a %s value)", lua_typename(L, t));
	}
}

/* Set the error, bounding the message (on a UTF-8 boundary). */
static void set_error(struct spur_invocation *inv, const char *type,
		      const char *msg, const char *stack)
{
	size_t n = strlen(msg);
	char *cut;

	if (n <= MAX_MESSAGE) {
		spur_invocation_set_error(inv, type, msg, stack);
		return;
	}
	n = MAX_MESSAGE;
	while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
		n--;
	cut = strndup(msg, n);
	spur_invocation_set_error(inv, type, cut != NULL ? cut : "(message too long)", stack);
	free(cut);
}

/* [-0, +0] The traceback the message handler kept, as a JSON array (or NULL). */
static char *take_trace(lua_State *L)
{
	char *json = NULL;
	size_t len;
	const char *tb;

	if (!lua_checkstack(L, 2))
		return NULL;
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &spur_lua_key_trace) == LUA_TSTRING) {
		tb = lua_tolstring(L, -1, &len);
		json = spur_lua_trace_json(tb, len);
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_trace);
	return json;
}

/* Map a failed lua_pcall (error value at the top) to a spur_run. */
static enum spur_run finish_error(struct spur_lua_ctx *c, struct spur_invocation *inv,
				  int status, const char *force_type)
{
	lua_State *L = c->L;
	int top = lua_gettop(L);
	const char *type, *msg;
	char buf[128];
	char *stack;

	if (c->timed_out)
		return SPUR_RUN_TIMEOUT;
	if (status == LUA_ERRMEM || (c->alloc_failed && (status == LUA_ERRERR ||
	    (lua_type(L, -1) == LUA_TSTRING &&
	     strcmp(lua_tostring(L, -1), "not enough memory") == 0)))) {
		snprintf(buf, sizeof(buf), "memory limit of %llu MiB exceeded",
			 (unsigned long long)((c->limit + (1u << 20) - 1) >> 20));
		spur_invocation_set_error(inv, "Runtime.OutOfMemory", buf, NULL);
		lua_pushnil(L);	/* drop a stale traceback */
		lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_trace);
		return SPUR_RUN_OOM;
	}
	describe(L, top, &type, &msg, buf, sizeof(buf));
	stack = take_trace(L);
	set_error(inv, force_type != NULL ? force_type : type, msg, stack);
	free(stack);
	lua_settop(L, top);
	return SPUR_RUN_ERROR;
}

/* --- INIT --------------------------------------------------------------- */

/* [-0, +1, e] Field `name` of the value at the top, replacing it; nil for
 * a non-table. */
static void field(lua_State *L, const char *name)
{
	if (lua_type(L, -1) == LUA_TTABLE)
		lua_getfield(L, -1, name);
	else
		lua_pushnil(L);
	lua_remove(L, -2);
}

/* [-0, +1, e] The global at dotted path `mod` (a.b.c). */
static void global_path(lua_State *L, const char *mod)
{
	const char *dot;

	lua_pushglobaltable(L);
	for (;;) {
		dot = strchr(mod, '.');
		lua_pushlstring(L, mod, dot ? (size_t)(dot - mod) : strlen(mod));
		if (lua_type(L, -2) == LUA_TTABLE)
			lua_gettable(L, -2);
		else
			lua_pushnil(L), lua_remove(L, -2);
		lua_remove(L, -2);
		if (dot == NULL)
			return;
		mod = dot + 1;
	}
}

/* [-0, +1, e] Run the top-level code; return the handler (or nil). */
static int run_init(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	const struct spur_lua_code *code = c->code;

	if (code->is_dir) {
		lua_pushcfunction(L, spur_lua_require);
		lua_pushstring(L, code->module);
		lua_call(L, 1, 1);
		field(L, code->fname);
		return 1;
	}
	if (luaL_loadbufferx(L, code->bytecode, code->bytecode_len,
			     code->main_file, "b") != LUA_OK)
		return lua_error(L);
	lua_call(L, 0, 1);			/* the chunk's return value */
	lua_pushvalue(L, -1);
	field(L, code->fname);			/* returned[fname] */
	if (code->module == NULL && !lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		lua_getglobal(L, code->fname);
	} else if (code->module != NULL && !lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		global_path(L, code->module);
		field(L, code->fname);
	}
	return 1;
}

/* --- the runtime -------------------------------------------------------- */

static void context_free(void *instance, void *p)
{
	struct spur_lua_ctx *c = p;

	(void)instance;
	if (c == NULL)
		return;
	if (c->L != NULL)
		lua_close(c->L);
	free(c);
}

/* [-0, +0, m] The coroutine invokes run in, kept alive by the registry. */
static int make_coroutine(lua_State *L)
{
	static const char key;
	struct spur_lua_ctx *c = spur_lua_ctx(L);

	c->co = lua_newthread(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key);
	return 0;
}

static enum spur_run context_new(void *instance, void *codep,
				 struct spur_context *host_ctx,
				 struct spur_invocation *init, void **out)
{
	const struct spur_lua_code *code = codep;
	struct spur_lua_ctx *c = calloc(1, sizeof(*c));
	enum spur_run r = SPUR_RUN_OOM;
	char msg[160];
	int status;

	if (c == NULL)
		goto oom;
	c->code = code;
	c->fn = spur_invocation_function(init);
	c->host_ctx = host_ctx;
	c->limit = code->memory;
	c->inv = init;
	c->L = spur_lua_state_new(c);
	if (c->L == NULL)
		goto oom;
	spur_lua_arm(c, spur_invocation_deadline_ns(init));
	lua_pushcfunction(c->L, spur_lua_sandbox_open);
	status = lua_pcall(c->L, 0, 0, 0);
	if (status == LUA_OK) {
		lua_pushcfunction(c->L, spur_lua_context_prepare);
		status = lua_pcall(c->L, 0, SPUR_LUA_SLOT_COUNT, 0);
	}
	if (status != LUA_OK)
		goto oom;	/* only memory can fail before user code runs */
	lua_pushcfunction(c->L, run_init);
	status = lua_pcall(c->L, 0, 1, SPUR_LUA_SLOT_MSGH);
	if (status != LUA_OK) {
		r = finish_error(c, init, status, "Runtime.InitError");
		goto fail;
	}
	if (!lua_isfunction(c->L, -1)) {
		snprintf(msg, sizeof(msg), "%s: handler '%s%s%s' is undefined or "
			 "not a function", code->main_file,
			 code->module ? code->module : "", code->module ? "." : "",
			 code->fname);
		spur_invocation_set_error(init, "Runtime.HandlerNotFound", msg, NULL);
		r = SPUR_RUN_ERROR;
		goto fail;
	}
	lua_replace(c->L, SPUR_LUA_SLOT_HANDLER);
	lua_pushcfunction(c->L, make_coroutine);
	if (lua_pcall(c->L, 0, 0, 0) != LUA_OK)
		goto oom;
	spur_invocation_set_memory_used(init, c->peak);
	c->inv = NULL;
	*out = c;
	return SPUR_RUN_OK;
oom:
	snprintf(msg, sizeof(msg), "memory limit of %llu MiB exceeded",
		 (unsigned long long)((code->memory + (1u << 20) - 1) >> 20));
	spur_invocation_set_error(init, "Runtime.OutOfMemory", msg, NULL);
fail:
	if (c != NULL)
		spur_invocation_set_memory_used(init, c->peak);
	context_free(instance, c);
	return r;
}

/* [-0, +1] Continuation of call_handler once the handler returned (it may
 * have paused on the way): its one result is at the top. */
static int handler_returned(lua_State *L, int status, lua_KContext k)
{
	(void)status;
	(void)k;
	return 1;
}

/* [-SPUR_LUA_ARG_COUNT, +1, e] The coroutine's body: build the event and
 * ctx, call the handler (with a continuation, so that it can pause). */
static int call_handler(lua_State *L)
{
	struct spur_lua_ctx *c = spur_lua_ctx(L);
	size_t len = 0;
	/* Straight from the bytes (checked by the host at intake) into Lua
	 * values: no intermediate tree. */
	const char *payload = spur_invocation_payload(c->inv, &len);

	spur_lua_ctx_update(L, c);
	lua_pushvalue(L, SPUR_LUA_ARG_HANDLER);
	if (payload != NULL && len > 0)
		spur_lua_decode(L, payload, len);
	else
		lua_newtable(L);
	lua_pushvalue(L, SPUR_LUA_ARG_CTX);
	lua_callk(L, 2, 1, 0, handler_returned);
	return handler_returned(L, LUA_OK, 0);
}

/* [-0, +1, m] The traceback of the failed coroutine (light userdata 1),
 * kept where the message handler keeps one. */
static int keep_trace(lua_State *L)
{
	luaL_traceback(L, lua_touserdata(L, 1), NULL, 0);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &spur_lua_key_trace);
	return 0;
}

/* Encode the handler's value (at the top) and hand it to the host. */
static enum spur_run finish_ok(struct spur_lua_ctx *c, struct spur_invocation *inv)
{
	char err[160], msg[200];
	char *out;
	size_t len;
	int r = spur_lua_encode(c->L, -1, SPUR_LUA_MAX_RESULT, &out, &len,
				  err, sizeof(err));

	if (r == 0) {
		spur_invocation_take_result(inv, out, len);
		return SPUR_RUN_OK;
	}
	if (r == -ETIMEDOUT) {	/* encoding the answer ran past the deadline */
		c->timed_out = true;
		return SPUR_RUN_TIMEOUT;
	}
	if (r == -E2BIG) {
		snprintf(msg, sizeof(msg), "Response payload size exceeded maximum "
			 "allowed payload size (%u bytes).", SPUR_LUA_MAX_RESULT);
		spur_invocation_set_error(inv, "Function.ResponseSizeTooLarge", msg, NULL);
	} else {
		snprintf(msg, sizeof(msg), "Unable to marshal response: %s", err);
		spur_invocation_set_error(inv, "Runtime.MarshalError", msg, NULL);
	}
	return SPUR_RUN_ERROR;
}

/* Resume the run's coroutine with nargs on its stack and map how it
 * stopped: paused (SPUR_RUN_YIELD, the coroutine kept as it is), ended,
 * or failed (the coroutine reset for the next invoke). */
static enum spur_run step(struct spur_lua_ctx *c, struct spur_invocation *inv, int nargs)
{
	lua_State *L = c->L, *co = c->co;
	enum spur_run r;
	int nres = 0;
	int status = lua_resume(co, L, nargs, &nres);

	if (status == LUA_YIELD && c->paused) {
		c->paused = false;
		return SPUR_RUN_YIELD;
	}
	if (status == LUA_YIELD) {	/* coroutine.yield() at the handler's top */
		lua_settop(co, 0);
		lua_pushliteral(co, "attempt to yield from outside a coroutine");
		status = LUA_ERRRUN;
	}
	if (status == LUA_OK && !c->timed_out) {
		lua_xmove(co, L, 1);
		r = finish_ok(c, inv);
	} else {
		if (status != LUA_ERRMEM && lua_checkstack(L, 3)) {
			lua_pushcfunction(L, keep_trace);
			lua_pushlightuserdata(L, co);
			if (lua_pcall(L, 1, 0, 0) != LUA_OK)
				lua_pop(L, 1);
		}
		if (!lua_checkstack(L, 1) || lua_gettop(co) == 0)
			lua_pushnil(L);
		else
			lua_xmove(co, L, 1);
		r = finish_error(c, inv, status, NULL);
	}
	/* ready for the next invoke (lua_resetthread and lua_settop both close
	 * the coroutine's pending to-be-closed variables), unless it timed
	 * out: the count hook left it with hooks off, so a __close would run
	 * unbounded; the host ends a context that timed out, unclosed */
	if (r != SPUR_RUN_TIMEOUT) {
		if (status != LUA_OK)
			lua_resetthread(co);
		lua_settop(co, 0);
	}
	spur_invocation_set_memory_used(inv, c->peak);
	lua_settop(L, SPUR_LUA_SLOT_COUNT);
	c->inv = NULL;
	return r;
}

static enum spur_run invoke(void *p, struct spur_invocation *inv)
{
	struct spur_lua_ctx *c = p;
	lua_State *L = c->L;
	int i;

	c->inv = inv;
	spur_lua_arm(c, spur_invocation_deadline_ns(inv));
	c->yield_ns = spur_invocation_yield_ns(inv);
	lua_settop(L, SPUR_LUA_SLOT_COUNT);
	lua_settop(c->co, 0);
	lua_pushcfunction(c->co, call_handler);
	for (i = SPUR_LUA_SLOT_HANDLER; i <= SPUR_LUA_SLOT_REMAINING; i++)
		lua_pushvalue(L, i);
	lua_xmove(L, c->co, SPUR_LUA_ARG_COUNT);
	return step(c, inv, SPUR_LUA_ARG_COUNT);
}

/* Go on with a run invoke paused (maybe on another thread, with inv at
 * another address): the same coroutine, deadline and counters. */
static enum spur_run resume(void *p, struct spur_invocation *inv)
{
	struct spur_lua_ctx *c = p;

	c->inv = inv;
	c->yield_ns = spur_invocation_yield_ns(inv);
	return step(c, inv, 0);
}

/* --- the plugin --------------------------------------------------------- */

static int plugin_init(struct spur_host *host, const void *options, void **instance)
{
	struct spur_lua *lp = calloc(1, sizeof(*lp));

	(void)options;
	if (lp == NULL)
		return -ENOMEM;
	lp->host = host;
	*instance = lp;
	return 0;
}

static void plugin_fini(void *instance)
{
	free(instance);
}

static const struct spur_runtime lua_runtime = {
	.struct_size = sizeof(struct spur_runtime),
	.name = "lua",
	.code_load = code_load,
	.code_free = code_free,
	.context_new = context_new,
	.context_free = context_free,
	.invoke = invoke,
	.resume = resume,
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "lua",
	.version = "0.1.0",
	.description = "Lua 5.4 handlers in sandboxed, warm execution contexts",
	.roles = SPUR_ROLE_RUNTIME,
	.options = NULL,
	.options_size = 0,
	.init = plugin_init,
	.fini = plugin_fini,
	.runtime = &lua_runtime,
};
