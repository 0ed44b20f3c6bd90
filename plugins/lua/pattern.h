/* SPDX-License-Identifier: MIT */
/*
 * pattern.h - bounded replacements for string.find, string.match,
 * string.gmatch, string.gsub and string.rep.
 * Lua's count hook never fires inside a C function, so the stock versions
 * of these can run for seconds past a handler's timeout (a backtracking
 * pattern, a huge rep). These versions implement the Lua 5.4 pattern
 * language themselves and call a check function at least once every
 * SPUR_PATTERN_CHECK_STEPS units of work; the check may raise a Lua error.
 * Results and error messages are those of Lua 5.4.4 for every valid use.
 * No globals: the check and its argument live in an upvalue of each closure,
 * so several lua_States may use this from different threads at once.
 */
#ifndef SPUR_PATTERN_H
#define SPUR_PATTERN_H

#include <lua.h>

/* Units of work (matcher steps, bytes scanned or copied) between checks. */
#define SPUR_PATTERN_CHECK_STEPS 4096

/* Nesting limit of the matcher ("pattern too complex"), as Lua's MAXCCALLS. */
#define SPUR_PATTERN_MAXDEPTH 200

/* Captures per pattern ("too many captures"), as LUA_MAXCAPTURES. */
#define SPUR_PATTERN_MAXCAPTURES 32

/* Called with the running thread; may raise a Lua error (longjmp) and must
 * leave the stack as it found it. The engine holds no malloc()ed memory
 * across a call. */
typedef void (*spur_pattern_check_fn)(lua_State *L, void *ud);

/* [-0, +0] Replace find, match, gmatch, gsub and rep in the table at stack
 * index idx (normally the string library table) with bounded versions that
 * call check(L, ud) at least once every SPUR_PATTERN_CHECK_STEPS units of
 * work. ud is borrowed: it must outlive every closure installed here. */
void spur_pattern_install(lua_State *L, int idx, spur_pattern_check_fn check,
			  void *ud);

#endif
