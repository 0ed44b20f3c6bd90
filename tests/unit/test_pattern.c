/* SPDX-License-Identifier: MIT */
/*
 * test_pattern.c - the bounded string functions of plugins/lua/pattern.c.
 * Every case runs against stock Lua 5.4 (kept under other names) and
 * against ours in the same lua_State, and results or error messages must
 * be equal. Then the budget: catastrophic patterns and a huge rep are
 * interrupted by the check, the check's error propagates, the check runs
 * at least once per SPUR_PATTERN_CHECK_STEPS units, and a 100 ms deadline
 * stops, within a second, matches that stock Lua runs for seconds or more.
 * Single-threaded except test_threads; real clock only for the deadlines.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "pattern.h"

/* The comparison cases, run with (ORIG, NEW); returns count, failures. */
static const char compare_lua[] =

	"-- Compare the stock string functions (ORIG) with the bounded ones (NEW).\n"
	"local ORIG, NEW = ...\n"
	"local fails, count = {}, 0\n"
	"\n"
	"local function pack(...) return { n = select('#', ...), ... } end\n"
	"\n"
	"local function ser(v)\n"
	"  local t = type(v)\n"
	"  if t == 'string' then return string.format('%q', v) end\n"
	"  if t == 'number' then return math.type(v) .. ':' .. tostring(v) end\n"
	"  if t == 'nil' or t == 'boolean' then return tostring(v) end\n"
	"  return t\n"
	"end\n"
	"\n"
	"local function ser_pack(r)\n"
	"  local t = {}\n"
	"  for i = 1, r.n do t[i] = ser(r[i]) end\n"
	"  return '(' .. table.concat(t, ', ') .. ')'\n"
	"end\n"
	"\n"
	"-- Call through a named field and not as a tail call, so argument errors\n"
	"-- name the function the same way for both libraries.\n"
	"local call = {}\n"
	"function call.find(L, ...) local r = pack(L.find(...)); return r end\n"
	"function call.match(L, ...) local r = pack(L.match(...)); return r end\n"
	"function call.gsub(L, ...) local r = pack(L.gsub(...)); return r end\n"
	"function call.rep(L, ...) local r = pack(L.rep(...)); return r end\n"
	"function call.gmatch(L, ...)\n"
	"  local it = L.gmatch(...)\n"
	"  local out = {}\n"
	"  for _ = 1, 300 do\n"
	"    local r = pack(it())\n"
	"    out[#out + 1] = r\n"
	"    if r[1] == nil then break end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"\n"
	"local function outcome(fn, lib, args)\n"
	"  local ok, r = pcall(call[fn], lib, table.unpack(args, 1, args.n))\n"
	"  if not ok then return 'error: ' .. ser(r) end\n"
	"  if fn == 'gmatch' then\n"
	"    local t = {}\n"
	"    for i, p in ipairs(r) do t[i] = ser_pack(p) end\n"
	"    return table.concat(t, ' ')\n"
	"  end\n"
	"  return ser_pack(r)\n"
	"end\n"
	"\n"
	"local function check(fn, ...)\n"
	"  local args = pack(...)\n"
	"  count = count + 1\n"
	"  local a, b = outcome(fn, ORIG, args), outcome(fn, NEW, args)\n"
	"  if a ~= b and #fails < 40 then\n"
	"    fails[#fails + 1] = fn .. ser_pack(args) .. '\\n  stock: ' .. a .. '\\n  ours:  ' .. b\n"
	"  end\n"
	"end\n"
	"\n"
	"local subjects = {\n"
	"  '', 'a', 'aaa', 'hello world', '  key = value  ', 'abc123def456', 'aXbXc',\n"
	"  'THE (quick) [brown] fox', 'f(a(b)c)d)', '[[x]]', 'a.b-c*d+e?f', '\\0a\\0b',\n"
	"  'x^y$z', '%%a%%', 'one two  three   four', 'AbCdEfG', 'ab12AB34!@#',\n"
	"  '\\t\\n\\v\\f\\r ', 'caf\\195\\169', 'banana', 'aaab', 'abab', ']]]', 'a-b',\n"
	"  string.char(0, 1, 127, 128, 200, 255), '12.5e3 -7 0x1F', 'x = \"y\" -- z',\n"
	"}\n"
	"\n"
	"local patterns = {\n"
	"  '', 'a', 'b', 'x', '^a', '^', '$', 'a$', '^$', '.', '..', '^.', '.$',\n"
	"  'a*', 'a+', 'a-', 'a?', 'a*b', 'a-b', 'a+b', 'a?b', '^a*$', '.-', '.-$',\n"
	"  '(.-)$', '.*', '(.*)', '^(.-)(a*)$',\n"
	"  '%a', '%a+', '%A+', '%c', '%C+', '%d+', '%D+', '%g+', '%G', '%l+', '%L+',\n"
	"  '%p+', '%P+', '%s+', '%S+', '%u+', '%U+', '%w+', '%W+', '%x+', '%X+',\n"
	"  '%z', '%Z', '%.', '%%', '%]', '%-', '%^', '%$', '%q', '%\\0',\n"
	"  '[abc]', '[^abc]', '[a-c]+', '[^a-c]+', '[%a_][%w_]*', '[]]', '[^]]+',\n"
	"  '[]a]+', '[a-]+', '[-a]+', '[%]]', '[%-]', '[^%s]+', '[%d%.]+',\n"
	"  '[a-z%d]+', '[z-a]', '[%w-]+', '[^]', '[', '[a', '[%', '[%a', '[^',\n"
	"  '[a-%d]', '[%a-z]+', '[^%]]', '[.]', '[(]', '[\\0-\\31]+',\n"
	"  '(a)', '(a*)', '()', '()a()', '(a)(b)?', '(h)(e)(l)(l)(o)', '((a)(b))',\n"
	"  '(a(b(c)))', '(', ')', '(()', 'a)', '%((%a)%)', '(%w+) (%w+)',\n"
	"  '(%w+)=(%w+)', '%s*(%S+)%s*', '^%s*(.-)%s*$', '(a)%1', '(.)%1',\n"
	"  '(%a+) %1', '%1', '%0', '(a)%2', '(()a)%1', '()%1', '(a%1)',\n"
	"  '(.)(.)%2%1', '(a)(', '(a))', '((a)',\n"
	"  '%b()', '%b[]', '%bxy', '%b', '%b(', '%b)(', '%baa', '(%b())', '%b()%b()',\n"
	"  '%f[%w]%w+', '%f[%W]', '%f[%a]', '%f[^%a]', '%f[%z]', '%f', '%fa',\n"
	"  '%f[a', '%f[%l]%a', '%f[\\0]', '%f[^\\0]', '%f[%w]',\n"
	"  '%', 'a%', '[a-z]*%', 'x*$', '$a', 'a$b', '^^', 'a^', '**', '*a', '+',\n"
	"  '-', '?', 'a**', 'a-*', '.-b', '%d*%.?%d*', '[+-]?%d+', '0x%x+', '$$',\n"
	"  '\\0', '[\\0]', '[^\\0]+', '%u%l+', '(%u)(%l*)', '(.)()', '[\\128-\\255]+',\n"
	"  'a.-c', 'b.*$', '^(a?)(a?)(a?)', '(x?)', 'a-$', '.-%s', '%s-', '%d-%d',\n"
	"}\n"
	"\n"
	"local inits = { nil, 1, 2, 0, -1, -3, -100, 4, 100 }\n"
	"local ninits = 9\n"
	"\n"
	"for _, s in ipairs(subjects) do\n"
	"  for _, p in ipairs(patterns) do\n"
	"    for i = 1, ninits do\n"
	"      check('find', s, p, inits[i])\n"
	"    end\n"
	"    check('find', s, p, nil, true)\n"
	"    check('find', s, p, 2, 1)\n"
	"    check('find', s, p, -2, false)\n"
	"    check('match', s, p)\n"
	"    check('match', s, p, 2)\n"
	"    check('match', s, p, -2)\n"
	"    check('gmatch', s, p)\n"
	"    check('gmatch', s, p, 3)\n"
	"    check('gmatch', s, p, -1)\n"
	"    check('gsub', s, p, '<%0>')\n"
	"    check('gsub', s, p, '[%1]')\n"
	"    check('gsub', s, p, 'x', 1)\n"
	"  end\n"
	"end\n"
	"\n"
	"-- Edge inits, one subject, all inits on either side of its length.\n"
	"for _, p in ipairs({ '', 'a', 'a*', '$', '()', '^', 'a?$' }) do\n"
	"  for i = -6, 7 do\n"
	"    check('find', 'aaaa', p, i)\n"
	"    check('find', 'aaaa', p, i, true)\n"
	"    check('match', 'aaaa', p, i)\n"
	"    check('gmatch', 'aaaa', p, i)\n"
	"  end\n"
	"  check('find', 'aaaa', p, math.mininteger)\n"
	"  check('find', 'aaaa', p, math.maxinteger)\n"
	"  check('match', 'aaaa', p, math.mininteger)\n"
	"  check('gmatch', 'aaaa', p, math.maxinteger)\n"
	"  check('gmatch', 'aaaa', p, math.mininteger)\n"
	"end\n"
	"\n"
	"-- Replacements for gsub.\n"
	"local repls = {\n"
	"  '', 'X', '%0', '<%1>', '%1%1', '%2', '%%', '%', 'x%', '%a', '%9', '%1%0%1',\n"
	"  '%%1', 'a%%', 42, 1.5, -0.0,\n"
	"  { a = 'A', b = false, h = 1, hello = 'HI', ['1'] = 'one', l = {}, e = true },\n"
	"  { [1] = 'pos1', [2] = 2.5, [3] = 'p3' },\n"
	"  setmetatable({}, { __index = function(_, k) return '{' .. tostring(k) .. '}' end }),\n"
	"  function() return nil end,\n"
	"  function(a) return type(a) == 'string' and a:upper() or a end,\n"
	"  function(...) return select('#', ...) end,\n"
	"  function(a, b) return tostring(a) .. '/' .. tostring(b) end,\n"
	"  function() return {} end,\n"
	"  function() return false end,\n"
	"  function() return 1.5 end,\n"
	"  function() return true end,\n"
	"  function() error('boom') end,\n"
	"  function() error({}) end,\n"
	"}\n"
	"local gpats = { '', 'a', 'l+', '(l)(l)', '%w+', '(%w+)', '()', '(h)()', '^h',\n"
	"  '^(h)', 'x*', '.-', '(o)', '[aeiou]', '$', '%s*', '(', '%', '(()' }\n"
	"local gsubjects = { '', 'hello world', 'aaa', 'banana', 'hello' }\n"
	"for _, s in ipairs(gsubjects) do\n"
	"  for _, p in ipairs(gpats) do\n"
	"    for _, r in ipairs(repls) do\n"
	"      check('gsub', s, p, r)\n"
	"      check('gsub', s, p, r, 2)\n"
	"    end\n"
	"    for _, n in ipairs({ 0, 1, 2, -1, 100, 2.0, 2.5, '1', 'x' }) do\n"
	"      check('gsub', s, p, '#', n)\n"
	"    end\n"
	"    check('gsub', s, p, nil)\n"
	"    check('gsub', s, p, true)\n"
	"    check('gsub', s, p)\n"
	"    check('gsub', s, p, nil, 'x')\n"
	"  end\n"
	"end\n"
	"\n"
	"-- Argument errors and coercions.\n"
	"for _, fn in ipairs({ 'find', 'match', 'gmatch', 'gsub' }) do\n"
	"  check(fn)\n"
	"  check(fn, 'x')\n"
	"  check(fn, nil, 'x')\n"
	"  check(fn, {}, 'x', 'y')\n"
	"  check(fn, 123, 2, '')\n"
	"  check(fn, 12.5, '%.')\n"
	"  check(fn, 'abc', 'b', 2.5)\n"
	"  check(fn, 'abc', 'b', '2')\n"
	"  check(fn, 'abc', 'b', 'x')\n"
	"  check(fn, 'abc', 'b', 2.0)\n"
	"  check(fn, 'abc', 'b', {})\n"
	"end\n"
	"\n"
	"-- rep\n"
	"local reps = {\n"
	"  { 'ab', 3 }, { 'ab', 3, ',' }, { '', 5 }, { '', 5, '-' }, { 'x', 0 },\n"
	"  { 'x', -1 }, { 'x', 1, ',' }, { 'x', 2, '' }, { 'abc', 2 ^ 31 },\n"
	"  { 'ab', 2 ^ 30 }, { 'a', 2 ^ 31, '' }, { 'a', 2 ^ 30, 'b' },\n"
	"  { 'x', math.maxinteger }, { 'x', math.mininteger }, { 'x', 1000, 'ab' },\n"
	"  { 'x', '3' }, { 'x', 2.5 }, { 'x', nil }, { nil, 2 }, { 'x', 2, 5 },\n"
	"  { 12, 3 }, { 'x', 3, {} }, { 'abc', 7, 'de' }, { '\\0', 3, '\\0\\0' },\n"
	"  { 'ab', 1 }, { 'ab', 1000 }, { 'xyz', 5000, '' }, { '', 100000, '' },\n"
	"  { 'q', 1e3 }, { 'q', 1e300 },\n"
	"}\n"
	"for _, a in ipairs(reps) do check('rep', a[1], a[2], a[3]) end\n"
	"\n"
	"-- Depth and capture limits.\n"
	"local long = string.rep('a', 300)\n"
	"for _, k in ipairs({ 1, 50, 198, 199, 200, 201, 400, 5000 }) do\n"
	"  check('find', long, string.rep('a?', k))\n"
	"  check('match', long, string.rep('a*', k))\n"
	"  check('find', long, string.rep('a-', k) .. 'a')\n"
	"  check('gsub', long, string.rep('(a)', k % 40), 'x')\n"
	"  check('match', string.rep('a', 10), string.rep('(', k) .. 'a')\n"
	"  check('match', 'a', string.rep('()', k))\n"
	"  check('find', long, string.rep('a%1', k))\n"
	"end\n"
	"for k = 30, 34 do\n"
	"  check('match', string.rep('ab', 40), string.rep('(a)(b)', k // 2) .. string.rep('(a)', k % 2))\n"
	"  check('match', 'x', string.rep('()', k))\n"
	"  check('gsub', 'xyz', string.rep('()', k) .. '.', '%1')\n"
	"end\n"
	"check('match', string.rep('x', 8), string.rep('x*', 6) .. 'y')\n"
	"check('find', string.rep('x', 8), string.rep('x-', 6) .. 'y')\n"
	"\n"
	"-- Longer texts, mixed features.\n"
	"local text = 'The quick brown fox (jumps [over]) the lazy dog; 3.14159 and 2^10 = 1024! ' ..\n"
	"  'key1=val1, key2 = val2; <a href=\"x\">y</a> {{nested {braces}}} end.'\n"
	"for _, p in ipairs({ '%b{}', '%b<>', '(%w+)%s*=%s*(%w+)', '%f[%a]%a+', '%f[%d]%d+%.?%d*',\n"
	"    '<(%a+)[^>]*>(.-)</%1>', '%p+', '(%a+)%s+%1', 'the', 'The', '[Tt]he%s+(%a+)',\n"
	"    '%d+', '^The', 'end%.$', '%s(%a)%a*', '.-(%d)', '(%d)(%d)', '%b()', '%b[]' }) do\n"
	"  check('find', text, p)\n"
	"  check('match', text, p)\n"
	"  check('gmatch', text, p)\n"
	"  check('gsub', text, p, '<%0>')\n"
	"  check('gsub', text, p, function(a) return a:reverse() end)\n"
	"  check('find', text, p, 30)\n"
	"  check('find', text, p, 1, true)\n"
	"end\n"
	"\n"
	"return count, table.concat(fails, '\\n')\n";

/* What a check function sees and does. */
struct probe {
	long calls;
	long fail_after;	/* raise on this call; 0: never */
	double deadline;	/* raise once past it (monotonic s); 0: never */
	double last;		/* time of the previous call */
	double max_gap;		/* longest time between two calls */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* [-0, +0] (or raises) The check handed to spur_pattern_install. */
static void probe_check(lua_State *L, void *ud)
{
	struct probe *pr = ud;
	double t = now_s();

	pr->calls++;
	if (pr->last > 0 && t - pr->last > pr->max_gap)
		pr->max_gap = t - pr->last;
	pr->last = t;
	if (pr->fail_after > 0 && pr->calls >= pr->fail_after) {
		lua_pushliteral(L, "budget exhausted");
		lua_error(L);
	}
	if (pr->deadline > 0 && t >= pr->deadline)
		luaL_error(L, "timeout");
}

static void probe_reset(struct probe *pr)
{
	memset(pr, 0, sizeof(*pr));
}

/* A state whose string table has our functions; the stock ones are kept
 * in the global ORIG, ours also in NEW. */
static lua_State *new_state(struct probe *pr)
{
	static const char *const names[] = { "find", "match", "gmatch", "gsub", "rep" };
	lua_State *L = luaL_newstate();
	size_t i;

	ck_assert_ptr_nonnull(L);
	luaL_openlibs(L);
	lua_getglobal(L, "string");
	lua_newtable(L);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		lua_getfield(L, -2, names[i]);
		lua_setfield(L, -2, names[i]);
	}
	lua_setglobal(L, "ORIG");
	spur_pattern_install(L, -1, probe_check, pr);
	lua_newtable(L);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		lua_getfield(L, -2, names[i]);
		lua_setfield(L, -2, names[i]);
	}
	lua_setglobal(L, "NEW");
	lua_pop(L, 1);
	return L;
}

/* Run chunk `code`; returns its first result as a string (or the error
 * message prefixed by "error: "), copied into buf. */
static const char *run(lua_State *L, const char *code, char *buf, size_t len)
{
	int top = lua_gettop(L);
	int rc = luaL_loadstring(L, code);

	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 1, 0);
	snprintf(buf, len, "%s%s", rc == LUA_OK ? "" : "error: ",
		 lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
	lua_settop(L, top);
	return buf;
}

START_TEST(test_compare_with_stock)
{
	struct probe pr;
	lua_State *L;
	lua_Integer count;
	const char *fails;

	probe_reset(&pr);
	L = new_state(&pr);
	ck_assert_int_eq(luaL_loadbufferx(L, compare_lua, sizeof(compare_lua) - 1,
					  "=compare", "t"), LUA_OK);
	lua_getglobal(L, "ORIG");
	lua_getglobal(L, "NEW");
	if (lua_pcall(L, 2, 2, 0) != LUA_OK)
		ck_abort_msg("compare script: %s", lua_tostring(L, -1));
	count = lua_tointeger(L, -2);
	fails = lua_tostring(L, -1);
	ck_assert_msg(fails[0] == '\0', "differences from stock Lua:\n%s", fails);
	ck_assert_int_gt(count, 100000);
	/* ours ran, and charged the budget */
	ck_assert(pr.calls > 0);
	lua_close(L);
}
END_TEST

/* Cases stock Lua cannot run quickly, checked against known answers. */
START_TEST(test_known_answers)
{
	struct probe pr;
	char buf[256];
	lua_State *L;

	probe_reset(&pr);
	L = new_state(&pr);
	/* stock Lua loops 2^40 times here */
	ck_assert_str_eq(run(L, "return #string.rep('', 2^40)", buf, sizeof(buf)), "0");
	ck_assert_str_eq(run(L, "return #string.rep('', 2^40, '')", buf, sizeof(buf)), "0");
	ck_assert_str_eq(run(L, "return ('x'):rep(3, ', ')", buf, sizeof(buf)), "x, x, x");
	ck_assert_str_eq(run(L, "return select(2, ('abc'):find('b()'))", buf, sizeof(buf)), "2");
	ck_assert_str_eq(run(L, "return select(2, pcall(string.find, ('a'):rep(300), ('a?'):rep(10000)))",
			     buf, sizeof(buf)), "pattern too complex");
	/* a long rep matches stock byte for byte */
	ck_assert_str_eq(run(L, "local a, b = string.rep('abc', 100003, '--'), "
			     "ORIG.rep('abc', 100003, '--') return tostring(a == b)",
			     buf, sizeof(buf)), "true");
	ck_assert_str_eq(run(L, "local a, b = string.rep('abcdefghij', 777, ''), "
			     "ORIG.rep('abcdefghij', 777) return tostring(a == b)",
			     buf, sizeof(buf)), "true");
	ck_assert_str_eq(run(L, "local s = ('x'):rep(5000) .. ('y'):rep(3000, 'z') "
			     "return tostring(s == ORIG.rep('x', 5000) .. ORIG.rep('y', 3000, 'z'))",
			     buf, sizeof(buf)), "true");
	lua_close(L);
}
END_TEST

/* Catastrophic or long work, each interrupted by a check that fails on
 * its third call; the error reaches the caller's pcall unchanged. */
static const struct {
	const char *code;
	int hopeless;		/* runs for seconds or more in stock Lua */
} slow_cases[] = {
	{ "return string.find(S, P)", 1 },
	{ "return string.match(S, P)", 1 },
	{ "return string.gsub(S, P, 'x')", 1 },
	{ "for m in string.gmatch(S, P) do end", 1 },
	{ "return string.match(S, ('a-'):rep(20) .. 'b')", 1 },
	{ "return string.match(S, ('a?'):rep(150) .. ('a'):rep(150) .. 'b')", 1 },
	{ "return string.find(S, '(' .. ('a'):rep(100) .. '.-)%1b')", 1 },
	{ "return string.find(S, '[' .. S .. ']*b')", 1 },
	{ "return ('x'):rep(1e8)", 0 },
	{ "return ('x'):rep(1e7, ('y'):rep(10))", 0 },
	{ "return string.find(S, S:sub(1, 25000) .. 'b', 1, true)", 0 },
	{ "return string.find(S, S:sub(1, 25000) .. 'b')", 0 },	/* no specials */
	{ "return string.find(S, '%b(a')", 0 },
	{ "return string.find(S, '%f[' .. S .. ']')", 0 },
	{ "return string.gsub(S, '', '%0%0')", 0 },
	{ "return string.gsub(S, '.', function(c) return c end)", 0 },
};

START_TEST(test_interrupted)
{
	struct probe pr;
	char code[512], buf[256];
	lua_State *L;

	probe_reset(&pr);
	L = new_state(&pr);
	ck_assert_str_eq(run(L, "S = ORIG.rep('a', 50000) "
			     "P = ORIG.rep('a*', 20) .. 'b' return 'ok'",
			     buf, sizeof(buf)), "ok");
	probe_reset(&pr);
	pr.fail_after = 3;
	snprintf(code, sizeof(code),
		 "local ok, e = pcall(function() %s end) "
		 "return tostring(ok) .. ' ' .. tostring(e)", slow_cases[_i].code);
	ck_assert_msg(strcmp(run(L, code, buf, sizeof(buf)),
			     "false budget exhausted") == 0,
		      "%s: %s", slow_cases[_i].code, buf);
	ck_assert_int_eq(pr.calls, 3);
	/* the state is still usable, and the budget starts again */
	probe_reset(&pr);
	ck_assert_str_eq(run(L, "return (string.gsub('hello', 'l+', 'L'))", buf, sizeof(buf)), "heLo");
	lua_close(L);
}
END_TEST

/* The same slow cases under a 100 ms deadline stop within a second, and
 * the check never waits long for its next call. */
START_TEST(test_deadline)
{
	struct probe pr;
	char code[512], buf[256];
	double t0, elapsed;
	lua_State *L;

	probe_reset(&pr);
	L = new_state(&pr);
	run(L, "S = ORIG.rep('a', 50000) P = ORIG.rep('a*', 20) .. 'b'", buf, sizeof(buf));
	probe_reset(&pr);
	snprintf(code, sizeof(code),
		 "local ok, e = pcall(function() %s end) "
		 "return tostring(ok) .. ' ' .. tostring(e)", slow_cases[_i].code);
	t0 = now_s();
	pr.deadline = t0 + 0.1;
	run(L, code, buf, sizeof(buf));
	elapsed = now_s() - t0;
	/* luaL_error names the calling chunk's line before "timeout" */
	if (slow_cases[_i].hopeless)
		ck_assert_msg(strncmp(buf, "false ", 6) == 0 &&
			      strstr(buf, ": timeout") != NULL,
			      "%s: %s", slow_cases[_i].code, buf);
	ck_assert_msg(elapsed < 1.0, "%s took %.3f s", slow_cases[_i].code, elapsed);
	ck_assert_msg(pr.max_gap < 0.05, "%s: %.3f s between checks",
		      slow_cases[_i].code, pr.max_gap);
	lua_close(L);
}
END_TEST

/* Work between checks is bounded: a rep of n bytes calls the check about
 * n / SPUR_PATTERN_CHECK_STEPS times, never fewer. */
START_TEST(test_steps_bounded)
{
	struct probe pr;
	char buf[256];
	lua_State *L;
	long want;

	probe_reset(&pr);
	L = new_state(&pr);
	probe_reset(&pr);
	run(L, "return #('x'):rep(1 << 24)", buf, sizeof(buf));
	ck_assert_str_eq(buf, "16777216");
	want = (1L << 24) / SPUR_PATTERN_CHECK_STEPS;
	ck_assert_int_ge(pr.calls, want - 1);
	ck_assert_int_le(pr.calls, want + 1);

	probe_reset(&pr);
	run(L, "return #('ab'):rep(1 << 22, ',')", buf, sizeof(buf));
	ck_assert_str_eq(buf, "12582911");
	ck_assert_int_ge(pr.calls, 12582911L / SPUR_PATTERN_CHECK_STEPS - 1);

	/* plain find over 4 MB: at least one check per CHECK_STEPS bytes */
	run(L, "S = ORIG.rep('a', 1 << 22)", buf, sizeof(buf));
	probe_reset(&pr);
	run(L, "return tostring(string.find(S, 'b', 1, true))", buf, sizeof(buf));
	ck_assert_str_eq(buf, "nil");
	ck_assert_int_ge(pr.calls, (1L << 22) / SPUR_PATTERN_CHECK_STEPS - 1);

	/* a scan with a pattern: one step or more per subject byte */
	probe_reset(&pr);
	run(L, "return tostring(string.find(S, '[b]'))", buf, sizeof(buf));
	ck_assert_str_eq(buf, "nil");
	ck_assert_int_ge(pr.calls, (1L << 22) / SPUR_PATTERN_CHECK_STEPS - 1);

	/* gsub copies: one check per CHECK_STEPS bytes copied or matched */
	probe_reset(&pr);
	run(L, "return #string.gsub(S, 'a', 'bb')", buf, sizeof(buf));
	ck_assert_str_eq(buf, "8388608");
	ck_assert_int_ge(pr.calls, (3L << 22) / SPUR_PATTERN_CHECK_STEPS - 1);
	lua_close(L);
}
END_TEST

/* Two states in two threads, each with its own check and counter. */
struct worker {
	struct probe pr;
	long len;
	char out[64];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char code[128];
	lua_State *L;

	L = new_state(&w->pr);
	probe_reset(&w->pr);
	snprintf(code, sizeof(code),
		 "local s = ('a'):rep(%ld) return #s .. ' ' .. select(2, s:gsub('a', ''))",
		 w->len);
	run(L, code, w->out, sizeof(w->out));
	lua_close(L);
	return NULL;
}

START_TEST(test_threads)
{
	struct worker w[2] = { { .len = 1L << 20 }, { .len = 1L << 23 } };
	pthread_t t[2];
	int i;

	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_str_eq(w[0].out, "1048576 1048576");
	ck_assert_str_eq(w[1].out, "8388608 8388608");
	ck_assert_int_lt(w[0].pr.calls * 4, w[1].pr.calls);
	ck_assert_int_ge(w[0].pr.calls, (2L << 20) / SPUR_PATTERN_CHECK_STEPS - 1);
}
END_TEST

static Suite *pattern_suite(void)
{
	Suite *s = suite_create("pattern");
	TCase *tc = tcase_create("pattern");
	int nslow = (int)(sizeof(slow_cases) / sizeof(slow_cases[0]));

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_compare_with_stock);
	tcase_add_test(tc, test_known_answers);
	tcase_add_loop_test(tc, test_interrupted, 0, nslow);
	tcase_add_loop_test(tc, test_deadline, 0, nslow);
	tcase_add_test(tc, test_steps_bounded);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pattern_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
