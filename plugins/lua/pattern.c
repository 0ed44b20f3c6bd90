/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - the Lua 5.4 pattern language (reference manual §6.4.1) with
 * a work budget, and bounded string.find/match/gmatch/gsub/rep built on it.
 * Written from the manual; results and error messages follow Lua 5.4.4,
 * including when errors surface: a pattern is read lazily, item by item,
 * as the match reaches it, so a malformed tail that is never reached is
 * not an error (as in stock Lua).
 * Invariants: every unit of work (a matcher step, a byte of a set scanned,
 * a byte compared or copied) is charged to the budget before it is done,
 * and the check runs whenever the next charge would pass
 * SPUR_PATTERN_CHECK_STEPS; bulk work is cut in slices of SLICE bytes.
 * The check may longjmp, so nothing here owns malloc()ed memory: state is
 * on the C stack or in Lua values (luaL_Buffer, userdata).
 * Recursion is at most SPUR_PATTERN_MAXDEPTH frames of match() (plus one
 * helper frame each), as Lua's MAXCCALLS: deeper is "pattern too complex".
 * Runs on whichever thread runs the lua_State; no globals.
 */
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "pattern.h"

#define ESC		'%'
#define SLICE		(SPUR_PATTERN_CHECK_STEPS / 4)	/* bytes per bulk step */
#define CAP_OPEN	(-1)	/* capture started, not closed yet */
#define CAP_POS		(-2)	/* position capture "()" */
#define REP_MAX		((size_t)INT_MAX)	/* Lua 5.4's MAXSIZE for str_rep */
#define SPECIALS	"^$*+?.([%-"

#define U(c)		((unsigned char)(c))

/* Shared by the five closures of one install (their upvalue 1). */
struct budget {
	spur_pattern_check_fn check;
	void *ud;
	size_t steps;			/* units charged since the last check */
};

struct capture {
	const char *init;
	ptrdiff_t len;			/* >= 0, CAP_OPEN or CAP_POS */
};

struct mstate {
	lua_State *L;
	struct budget *bud;
	const char *src;		/* subject */
	const char *src_end;
	const char *pat_end;
	int depth;			/* active match() frames */
	int ncap;
	struct capture cap[SPUR_PATTERN_MAXCAPTURES];
};

/* [-0, +0] Charge n units of work about to be done; may run the check
 * (and so may not return). Work between two checks is at most CHECK_STEPS units when
 * n <= CHECK_STEPS. */
static void spend(lua_State *L, struct budget *b, size_t n)
{
	if (b->steps + n > SPUR_PATTERN_CHECK_STEPS) {
		b->steps = 0;
		b->check(L, b->ud);
	}
	b->steps += n;
}

#define CHARGE(ms, n)	spend((ms)->L, (ms)->bud, (n))

static struct budget *budget_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static void ms_init(struct mstate *ms, lua_State *L, struct budget *b,
		    const char *s, size_t ls, const char *p, size_t lp)
{
	ms->L = L;
	ms->bud = b;
	ms->src = s;
	ms->src_end = s + ls;
	ms->pat_end = p + lp;
	ms->depth = 0;
	ms->ncap = 0;
}

/* Do n bytes at a and b agree? Compared in slices, charged. */
static int same_bytes(struct mstate *ms, const char *a, const char *b, size_t n)
{
	while (n > 0) {
		size_t k = n < SLICE ? n : SLICE;

		CHARGE(ms, k);
		if (memcmp(a, b, k) != 0)
			return 0;
		a += k;
		b += k;
		n -= k;
	}
	return 1;
}

/* [-?, +?] Append n bytes to b in charged slices (b's own stack rules). */
static void add_bytes(struct mstate *ms, luaL_Buffer *b, const char *s, size_t n)
{
	while (n > 0) {
		size_t k = n < SLICE ? n : SLICE;

		CHARGE(ms, k);
		luaL_addlstring(b, s, k);
		s += k;
		n -= k;
	}
}

/* ---------------------------------------------------------------------
 * Single-character classes
 */

/* Does byte c belong to class %cl? Unknown letters stand for themselves. */
static int class_has(int c, int cl)
{
	int in;

	switch (tolower(cl)) {
	case 'a': in = isalpha(c); break;
	case 'c': in = iscntrl(c); break;
	case 'd': in = isdigit(c); break;
	case 'g': in = isgraph(c); break;
	case 'l': in = islower(c); break;
	case 'p': in = ispunct(c); break;
	case 's': in = isspace(c); break;
	case 'u': in = isupper(c); break;
	case 'w': in = isalnum(c); break;
	case 'x': in = isxdigit(c); break;
	case 'z': in = c == 0; break;	/* gone from the 5.4 manual, kept by 5.4.4 */
	default: return cl == c;
	}
	if (isupper(cl))
		return !in;
	return in != 0;
}

/* Is c in the set that opens at p ('[') and closes at last (']')? */
static int set_has(struct mstate *ms, int c, const char *p, const char *last)
{
	int in = 1;

	p++;
	if (*p == '^') {
		in = 0;
		p++;
	}
	for (; p < last; p++) {
		CHARGE(ms, 1);
		if (*p == ESC) {
			p++;
			if (class_has(c, U(*p)))
				return in;
		} else if (p[1] == '-' && p + 2 < last) {
			if (U(p[0]) <= c && c <= U(p[2]))
				return in;
			p += 2;
		} else if (U(*p) == c) {
			return in;
		}
	}
	return !in;
}

/* Past the single-character class that starts at p (p < pat_end). */
static const char *item_end(struct mstate *ms, const char *p)
{
	const char *pe = ms->pat_end;
	char c = *p++;

	if (c == ESC) {
		if (p >= pe)
			luaL_error(ms->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c != '[')
		return p;
	if (p < pe && *p == '^')
		p++;
	/* the first member is literal, so "[]]" and "[^]]" are sets */
	do {
		if (p >= pe)
			luaL_error(ms->L, "malformed pattern (missing ']')");
		CHARGE(ms, 1);
		c = *p++;
		if (c == ESC && p < pe)
			p++;
	} while (p >= pe || *p != ']');
	return p + 1;
}

/* Does the subject byte at s match the class p..ep? */
static int item_has(struct mstate *ms, const char *s, const char *p,
		    const char *ep)
{
	int c;

	if (s >= ms->src_end)
		return 0;
	c = U(*s);
	switch (*p) {
	case '.': return 1;
	case ESC: return class_has(c, U(p[1]));
	case '[': return set_has(ms, c, p, ep - 1);
	default: return U(*p) == c;
	}
}

/* ---------------------------------------------------------------------
 * The matcher
 */

static const char *match(struct mstate *ms, const char *s, const char *p);

/* %bxy at s, p just past "%b": end of the balanced run, or NULL. */
static const char *balance(struct mstate *ms, const char *s, const char *p)
{
	ptrdiff_t open = 1;
	char lo, hi;

	if (p + 1 >= ms->pat_end)
		luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
	lo = p[0];
	hi = p[1];
	if (s >= ms->src_end || *s != lo)
		return NULL;
	while (++s < ms->src_end) {
		CHARGE(ms, 1);
		if (*s == hi) {
			if (--open == 0)
				return s + 1;
		} else if (*s == lo) {
			open++;
		}
	}
	return NULL;
}

/* %1-%9 (digit d) at s: past the repeated text, or NULL. */
static const char *backref(struct mstate *ms, const char *s, int d)
{
	int i = d - '1';
	ptrdiff_t len;

	if (i < 0 || i >= ms->ncap || ms->cap[i].len == CAP_OPEN)
		luaL_error(ms->L, "invalid capture index %%%d", i + 1);
	len = ms->cap[i].len;
	if (len < 0 || ms->src_end - s < len)	/* a position never repeats */
		return NULL;
	if (!same_bytes(ms, ms->cap[i].init, s, (size_t)len))
		return NULL;
	return s + len;
}

/* Item p..ep followed by '*' (or '+' with s one past the first match):
 * take as many as possible, then give back one at a time. */
static const char *greedy(struct mstate *ms, const char *s, const char *p,
			  const char *ep)
{
	size_t n = 0;

	while (CHARGE(ms, 1), item_has(ms, s + n, p, ep))
		n++;
	for (;;) {
		const char *r = match(ms, s + n, ep + 1);

		if (r != NULL || n == 0)
			return r;
		n--;
	}
}

/* Item p..ep followed by '-': take as few as possible. */
static const char *lazy(struct mstate *ms, const char *s, const char *p,
			const char *ep)
{
	for (;;) {
		const char *r = match(ms, s, ep + 1);

		if (r != NULL)
			return r;
		if (!item_has(ms, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *open_capture(struct mstate *ms, const char *s,
				const char *p, ptrdiff_t kind)
{
	const char *r;

	if (ms->ncap >= SPUR_PATTERN_MAXCAPTURES)
		luaL_error(ms->L, "too many captures");
	ms->cap[ms->ncap].init = s;
	ms->cap[ms->ncap].len = kind;
	ms->ncap++;
	r = match(ms, s, p);
	if (r == NULL)
		ms->ncap--;
	return r;
}

static const char *close_capture(struct mstate *ms, const char *s,
				 const char *p)
{
	const char *r;
	int i = ms->ncap - 1;

	while (i >= 0 && ms->cap[i].len != CAP_OPEN)
		i--;
	if (i < 0)
		luaL_error(ms->L, "invalid pattern capture");
	ms->cap[i].len = s - ms->cap[i].init;
	r = match(ms, s, p);
	if (r == NULL)
		ms->cap[i].len = CAP_OPEN;
	return r;
}

/* Match pattern p (to pat_end) at s: the end of the match, or NULL.
 * Items that need to try alternatives recurse; the rest loop. */
static const char *match(struct mstate *ms, const char *s, const char *p)
{
	const char *pe = ms->pat_end;

	if (ms->depth >= SPUR_PATTERN_MAXDEPTH)
		luaL_error(ms->L, "pattern too complex");
	ms->depth++;
	while (CHARGE(ms, 1), p < pe) {
		const char *ep;
		char q;

		if (*p == '(') {
			if (p + 1 < pe && p[1] == ')')
				s = open_capture(ms, s, p + 2, CAP_POS);
			else
				s = open_capture(ms, s, p + 1, CAP_OPEN);
			goto done;
		}
		if (*p == ')') {
			s = close_capture(ms, s, p + 1);
			goto done;
		}
		if (*p == '$' && p + 1 == pe) {
			if (s != ms->src_end)
				s = NULL;
			goto done;
		}
		if (*p == ESC && p + 1 < pe) {
			char k = p[1];

			if (k == 'b') {
				s = balance(ms, s, p + 2);
				if (s == NULL)
					goto done;
				p += 4;
				continue;
			}
			if (k == 'f') {
				int prev, cur;

				p += 2;
				if (p >= pe || *p != '[')
					luaL_error(ms->L, "missing '[' after '%%f' in pattern");
				ep = item_end(ms, p);
				prev = s == ms->src ? 0 : U(s[-1]);
				cur = s < ms->src_end ? U(*s) : 0;
				if (set_has(ms, prev, p, ep - 1) ||
				    !set_has(ms, cur, p, ep - 1)) {
					s = NULL;
					goto done;
				}
				p = ep;
				continue;
			}
			if (k >= '0' && k <= '9') {
				s = backref(ms, s, k);
				if (s == NULL)
					goto done;
				p += 2;
				continue;
			}
		}
		/* a single-character class, maybe with a quantifier */
		ep = item_end(ms, p);
		q = ep < pe ? *ep : '\0';
		if (!item_has(ms, s, p, ep)) {
			if (q == '*' || q == '?' || q == '-') {
				p = ep + 1;	/* zero of them will do */
				continue;
			}
			s = NULL;
			goto done;
		}
		switch (q) {
		case '?': {
			const char *r = match(ms, s + 1, ep + 1);

			if (r != NULL) {
				s = r;
				goto done;
			}
			p = ep + 1;
			continue;
		}
		case '+':
			s = greedy(ms, s + 1, p, ep);
			goto done;
		case '*':
			s = greedy(ms, s, p, ep);
			goto done;
		case '-':
			s = lazy(ms, s, p, ep);
			goto done;
		default:
			s++;
			p = ep;
			continue;
		}
	}
done:
	ms->depth--;
	return s;
}

/* ---------------------------------------------------------------------
 * Captures to Lua values
 */

/* [-0, +1] Capture i, or the whole match s..e when there are no captures
 * and i is 0. */
static void push_capture(struct mstate *ms, int i, const char *s, const char *e)
{
	lua_State *L = ms->L;
	ptrdiff_t len;

	if (i >= ms->ncap) {
		if (i != 0)
			luaL_error(L, "invalid capture index %%%d", i + 1);
		CHARGE(ms, (size_t)(e - s));
		lua_pushlstring(L, s, (size_t)(e - s));
		return;
	}
	len = ms->cap[i].len;
	if (len == CAP_OPEN)
		luaL_error(L, "unfinished capture");
	if (len == CAP_POS) {
		lua_pushinteger(L, (ms->cap[i].init - ms->src) + 1);
		return;
	}
	CHARGE(ms, (size_t)len);
	lua_pushlstring(L, ms->cap[i].init, (size_t)len);
}

/* [-0, +n] All captures (the whole match s..e if none and s != NULL). */
static int push_captures(struct mstate *ms, const char *s, const char *e)
{
	int i, n = (ms->ncap == 0 && s != NULL) ? 1 : ms->ncap;

	luaL_checkstack(ms->L, n, "too many captures");
	for (i = 0; i < n; i++)
		push_capture(ms, i, s, e);
	return n;
}

/* ---------------------------------------------------------------------
 * find, match
 */

/* A string position (1-based, negative from the end) made 1-based and
 * at least 1, as string.find's init. */
static size_t start_index(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static int has_specials(struct mstate *ms, const char *p, size_t lp)
{
	size_t i;

	for (i = 0; i < lp; i++) {
		if (i % SLICE == 0)
			CHARGE(ms, lp - i < SLICE ? lp - i : SLICE);
		if (p[i] != '\0' && strchr(SPECIALS, p[i]) != NULL)
			return 1;
	}
	return 0;
}

/* First occurrence of p (lp bytes) in s (ls bytes), or NULL. */
static const char *plain_find(struct mstate *ms, const char *s, size_t ls,
			      const char *p, size_t lp)
{
	const char *last;

	if (lp == 0)
		return s;
	if (lp > ls)
		return NULL;
	last = s + (ls - lp);
	while (s <= last) {
		size_t win = (size_t)(last - s) + 1;
		const char *hit;

		if (win > SLICE)
			win = SLICE;
		CHARGE(ms, win);
		hit = memchr(s, p[0], win);
		if (hit == NULL) {
			s += win;
			continue;
		}
		if (same_bytes(ms, hit + 1, p + 1, lp - 1))
			return hit;
		s = hit + 1;
	}
	return NULL;
}

/* [-0, +(1|2+captures)] string.find (find != 0) and string.match. */
static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	struct mstate ms;

	init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls) {
		lua_pushnil(L);
		return 1;
	}
	ms_init(&ms, L, budget_of(L), s, ls, p, lp);
	if (find && (lua_toboolean(L, 4) || !has_specials(&ms, p, lp))) {
		const char *hit = plain_find(&ms, s + init, ls - init, p, lp);

		if (hit != NULL) {
			lua_pushinteger(L, (hit - s) + 1);
			lua_pushinteger(L, (lua_Integer)((size_t)(hit - s) + lp));
			return 2;
		}
	} else {
		const char *s1 = s + init;
		int anchor = lp > 0 && *p == '^';

		if (anchor) {
			p++;
			lp--;
			ms.pat_end = p + lp;
		}
		for (;;) {
			const char *e;

			ms.ncap = 0;
			ms.depth = 0;
			e = match(&ms, s1, p);
			if (e != NULL) {
				if (!find)
					return push_captures(&ms, s1, e);
				lua_pushinteger(L, (s1 - s) + 1);
				lua_pushinteger(L, e - s);
				return push_captures(&ms, NULL, NULL) + 2;
			}
			if (anchor || s1 >= ms.src_end)
				break;
			s1++;
		}
	}
	lua_pushnil(L);
	return 1;
}

/* [-0, +(1|2+captures)] */
static int b_find(lua_State *L)
{
	return find_or_match(L, 1);
}

/* [-0, +(1|captures)] */
static int b_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* ---------------------------------------------------------------------
 * gmatch
 */

struct gmatch_state {
	size_t pos;			/* where the next search starts */
	ptrdiff_t last;			/* end of the previous match, or -1 */
};

/* [-0, +captures] The iterator. Upvalues: budget, subject, pattern, state.
 * A match may not end where the previous one ended (5.4's rule, so an
 * empty match right after a match is skipped). */
static int gmatch_next(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
	struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(4));
	struct mstate m, *ms = &m;
	size_t at;

	ms_init(ms, L, budget_of(L), s, ls, p, lp);
	for (at = g->pos; at <= ls; at++) {
		const char *e;

		ms->ncap = 0;
		ms->depth = 0;
		e = match(ms, s + at, p);
		if (e != NULL && e - s != g->last) {
			g->pos = (size_t)(e - s);
			g->last = e - s;
			return push_captures(ms, s + at, e);
		}
	}
	return 0;
}

/* [-0, +1] string.gmatch(s, pattern [, init]) */
static int b_gmatch(lua_State *L)
{
	size_t ls, lp, init;
	struct gmatch_state *g;

	luaL_checklstring(L, 1, &ls);
	luaL_checklstring(L, 2, &lp);
	init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls)
		init = ls + 1;
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	g = lua_newuserdatauv(L, sizeof(*g), 0);
	g->pos = init;
	g->last = -1;
	lua_pushcclosure(L, gmatch_next, 4);
	return 1;
}

/* ---------------------------------------------------------------------
 * gsub
 */

/* [-?, +?] Append replacement string (stack index 3) for the match s..e,
 * expanding %0-%9 and %%. Net stack effect is the buffer's own. */
static void add_template(struct mstate *ms, luaL_Buffer *b, const char *s,
			 const char *e)
{
	lua_State *L = ms->L;
	size_t l;
	const char *r = lua_tolstring(L, 3, &l);
	const char *end = r + l;

	while (r < end) {
		const char *pct = memchr(r, ESC, (size_t)(end - r));
		char d;

		if (pct == NULL) {
			add_bytes(ms, b, r, (size_t)(end - r));
			return;
		}
		add_bytes(ms, b, r, (size_t)(pct - r));
		d = pct + 1 < end ? pct[1] : '\0';
		if (d == ESC) {
			luaL_addchar(b, ESC);
		} else if (d == '0') {
			add_bytes(ms, b, s, (size_t)(e - s));
		} else if (isdigit(U(d))) {
			int i = d - '1';

			if (i < ms->ncap && ms->cap[i].len >= 0) {
				add_bytes(ms, b, ms->cap[i].init,
					  (size_t)ms->cap[i].len);
			} else if (i == 0 && ms->ncap == 0) {
				add_bytes(ms, b, s, (size_t)(e - s));
			} else {	/* a position, or an error */
				push_capture(ms, i, s, e);
				luaL_addvalue(b);
			}
		} else {
			luaL_error(L, "invalid use of '%c' in replacement string", ESC);
		}
		r = pct + 2;
	}
}

/* [-?, +?] Append the replacement for match s..e; returns whether it
 * differs from the original text. Net stack effect is the buffer's own. */
static int add_replacement(struct mstate *ms, luaL_Buffer *b, const char *s,
			   const char *e, int tr)
{
	lua_State *L = ms->L;
	size_t n;

	if (tr == LUA_TFUNCTION) {
		int nargs;

		lua_pushvalue(L, 3);
		nargs = push_captures(ms, s, e);
		lua_call(L, nargs, 1);
	} else if (tr == LUA_TTABLE) {
		push_capture(ms, 0, s, e);
		lua_gettable(L, 3);
	} else {
		add_template(ms, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		add_bytes(ms, b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)",
				  luaL_typename(L, -1));
	lua_tolstring(L, -1, &n);
	CHARGE(ms, n);		/* one copy, accounted for in bulk */
	luaL_addvalue(b);
	return 1;
}

/* [-0, +2] string.gsub(s, pattern, repl [, n]) */
static int b_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *src = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	int tr = lua_type(L, 3);
	lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
	int anchor = lp > 0 && *p == '^';
	const char *last = NULL;
	lua_Integer n = 0;
	int changed = 0;
	struct mstate ms;
	luaL_Buffer b;

	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING ||
			 tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
			 "string/function/table");
	luaL_buffinit(L, &b);
	if (anchor) {
		p++;
		lp--;
	}
	ms_init(&ms, L, budget_of(L), src, ls, p, lp);
	while (n < max_n) {
		const char *e;

		ms.ncap = 0;
		ms.depth = 0;
		e = match(&ms, src, p);
		if (e != NULL && e != last) {
			n++;
			changed |= add_replacement(&ms, &b, src, e, tr);
			src = last = e;
		} else if (src < ms.src_end) {
			luaL_addchar(&b, *src++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		add_bytes(&ms, &b, src, (size_t)(ms.src_end - src));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

/* ---------------------------------------------------------------------
 * rep
 */

/* [-0, +1] string.rep(s, n [, sep]). The result is the first `total`
 * bytes of the endless (s sep) cycle: one cycle is written, then the
 * output is extended from itself a slice at a time. */
static int b_rep(lua_State *L)
{
	size_t l, lsep, total, cycle, done, k;
	const char *s = luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	const char *sep = luaL_optlstring(L, 3, "", &lsep);
	struct mstate ms;
	luaL_Buffer b;
	char *out;

	if (n <= 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (l + lsep < l || l + lsep > REP_MAX / (size_t)n)
		return luaL_error(L, "resulting string too large");
	total = (size_t)n * l + (size_t)(n - 1) * lsep;
	if (total == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	ms_init(&ms, L, budget_of(L), s, l, s, 0);
	out = luaL_buffinitsize(L, &b, total);
	cycle = l + lsep;
	/* the first cycle (its separator only if another copy follows) */
	for (done = 0; done < l; done += k) {
		k = l - done < SLICE ? l - done : SLICE;
		CHARGE(&ms, k);
		memcpy(out + done, s + done, k);
	}
	for (; done < cycle && done < total; done += k) {
		k = cycle - done < SLICE ? cycle - done : SLICE;
		CHARGE(&ms, k);
		memcpy(out + done, sep + (done - l), k);
	}
	/* out[i] == out[i % cycle]; copy from a whole number of cycles back */
	while (done < total) {
		size_t back = (done / cycle) * cycle;

		k = total - done;
		if (k > back)
			k = back;
		if (k > SLICE)
			k = SLICE;
		CHARGE(&ms, k);
		memcpy(out + done, out + done - back, k);
		done += k;
	}
	luaL_pushresultsize(&b, total);
	return 1;
}

/* ---------------------------------------------------------------------
 * Installation
 */

/* [-0, +0] See pattern.h. */
void spur_pattern_install(lua_State *L, int idx, spur_pattern_check_fn check,
			  void *ud)
{
	static const luaL_Reg fns[] = {
		{ "find", b_find },
		{ "match", b_match },
		{ "gmatch", b_gmatch },
		{ "gsub", b_gsub },
		{ "rep", b_rep },
		{ NULL, NULL },
	};
	const luaL_Reg *r;
	struct budget *b;

	idx = lua_absindex(L, idx);
	b = lua_newuserdatauv(L, sizeof(*b), 0);
	b->check = check;
	b->ud = ud;
	b->steps = 0;
	for (r = fns; r->name != NULL; r++) {
		lua_pushvalue(L, -1);
		lua_pushcclosure(L, r->func, 1);
		lua_setfield(L, idx, r->name);
	}
	lua_pop(L, 1);
}
