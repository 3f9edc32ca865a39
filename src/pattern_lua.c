/* pattern_lua.c: Lua patterns on a matcher with a step budget (see pattern_lua.h). The
 * language and the results are those of Lua 5.4's manual (§6.4.1); the matcher backtracks as
 * Lua's does, so a pattern costs here what it costs there, but every step is counted and the
 * clock is read every TG_LIMIT_CHECK_EVERY steps. Patterns and subjects are Lua strings, which
 * always end in a NUL byte: the matcher may look one byte past a pattern's end. */
#define _GNU_SOURCE /* memmem */
#include "pattern_lua.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "limit.h"

enum {
  MAX_CAPTURES = 32, /* as Lua's LUA_MAXCAPTURES */
  MAX_DEPTH = 200,   /* nested items before "pattern too complex", as Lua's MAXCCALLS */
  CAP_OPEN = -1,     /* a capture started and not closed yet */
  CAP_POSITION = -2, /* a () capture: a position, not text */
};

typedef struct capture_s {
  const char *start;
  ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
} capture_t;

typedef struct matcher_s {
  lua_State *L;
  const char *subject, *subject_end, *pattern_end;
  int depth_left;
  int level;      /* captures started */
  unsigned steps; /* since the last look at the clock */
  capture_t capture[MAX_CAPTURES];
} matcher_t;

static void spend(matcher_t *m, size_t n) { tg_limit_spend(m->L, &m->steps, n > 65536 ? 65536 : (unsigned)n); }

/* Does byte c belong to class letter cl (%a, %d, ...)? A letter that names no class stands for
 * itself; the upper-case letter of a class is its complement. */
static int in_class(int c, int cl) {
  int yes;
  switch (tolower(cl)) {
  case 'a': yes = isalpha(c); break;
  case 'c': yes = iscntrl(c); break;
  case 'd': yes = isdigit(c); break;
  case 'g': yes = isgraph(c); break;
  case 'l': yes = islower(c); break;
  case 'p': yes = ispunct(c); break;
  case 's': yes = isspace(c); break;
  case 'u': yes = isupper(c); break;
  case 'w': yes = isalnum(c); break;
  case 'x': yes = isxdigit(c); break;
  case 'z': yes = c == 0; break; /* deprecated in Lua 5.2, still accepted by 5.4 */
  default: return cl == c;
  }
  return isupper(cl) ? !yes : yes != 0;
}

/* Does byte c belong to the set from open (its '[') to close (its ']')? */
static int in_set(int c, const char *open, const char *close) {
  const char *p = open + 1;
  int member = 1;
  if (*p == '^') {
    member = 0;
    p++;
  }
  for (; p < close; p++) {
    if (*p == '%') {
      p++;
      if (in_class(c, (unsigned char)*p))
        return member;
    } else if (p + 2 < close && p[1] == '-') {
      if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
        return member;
      p += 2;
    } else if ((unsigned char)*p == c) {
      return member;
    }
  }
  return !member;
}

/* The end of the single-byte class at p: past "%x", past a whole "[set]", or past one byte. */
static const char *class_end(matcher_t *m, const char *p) {
  const char *end = m->pattern_end;
  if (*p == '%') {
    if (p + 1 >= end)
      luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 2;
  }
  if (*p != '[')
    return p + 1;
  const char *q = p + 1;
  if (q < end && *q == '^')
    q++;
  /* A set's first member is literal, even ']'; '%' escapes the byte after it. */
  for (int first = 1;; first = 0) {
    if (q >= end)
      luaL_error(m->L, "malformed pattern (missing ']')");
    if (*q == ']' && !first)
      return q + 1;
    if (*q == '%')
      q++;
    q++;
  }
}

/* Does the subject byte at s match the class from p to ep? Nothing matches past the end. */
static int single(const matcher_t *m, const char *s, const char *p, const char *ep) {
  if (s >= m->subject_end)
    return 0;
  int c = (unsigned char)*s;
  switch (*p) {
  case '.': return 1;
  case '%': return in_class(c, (unsigned char)p[1]);
  case '[': return in_set(c, p, ep - 1);
  default: return (unsigned char)*p == c;
  }
}

static const char *match(matcher_t *m, const char *s, const char *p);

/* x*: as many as there are, then one fewer at a time until the rest of the pattern matches. */
static const char *longest(matcher_t *m, const char *s, const char *p, const char *ep) {
  size_t n = 0;
  while (single(m, s + n, p, ep))
    if ((++n & 0xfff) == 0)
      spend(m, 0x1000);
  for (;; n--) {
    const char *rest = match(m, s + n, ep + 1);
    if (rest || n == 0)
      return rest;
  }
}

/* x-: as few as will let the rest of the pattern match. */
static const char *shortest(matcher_t *m, const char *s, const char *p, const char *ep) {
  for (;; s++) {
    const char *rest = match(m, s, ep + 1);
    if (rest || !single(m, s, p, ep))
      return rest;
  }
}

static const char *open_capture(matcher_t *m, const char *s, const char *p, ptrdiff_t kind) {
  if (m->level >= MAX_CAPTURES)
    luaL_error(m->L, "too many captures");
  m->capture[m->level++] = (capture_t){.start = s, .len = kind};
  const char *rest = match(m, s, p);
  if (!rest)
    m->level--;
  return rest;
}

static const char *close_capture(matcher_t *m, const char *s, const char *p) {
  int l = m->level - 1;
  while (l >= 0 && m->capture[l].len != CAP_OPEN)
    l--;
  if (l < 0)
    luaL_error(m->L, "invalid pattern capture");
  m->capture[l].len = s - m->capture[l].start;
  const char *rest = match(m, s, p);
  if (!rest)
    m->capture[l].len = CAP_OPEN;
  return rest;
}

/* %bxy at p (pointing at x): from an x at s to its matching y. */
static const char *balanced(matcher_t *m, const char *s, const char *p) {
  if (p + 1 >= m->pattern_end)
    luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m->subject_end || *s != p[0])
    return NULL;
  size_t open = 1;
  for (const char *t = s + 1; t < m->subject_end; t++) {
    spend(m, 1);
    if (*t == p[1]) {
      if (--open == 0)
        return t + 1;
    } else if (*t == p[0]) {
      open++;
    }
  }
  return NULL;
}

/* %1 .. %9: the text of that capture again. */
static const char *same_as_capture(matcher_t *m, const char *s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= m->level || m->capture[l].len == CAP_OPEN)
    luaL_error(m->L, "invalid capture index %%%d", l + 1);
  ptrdiff_t len = m->capture[l].len;
  if (len < 0 || m->subject_end - s < len) /* a position capture never matches text */
    return NULL;
  spend(m, (size_t)len);
  return memcmp(m->capture[l].start, s, (size_t)len) == 0 ? s + len : NULL;
}

/* %f[set] at p (pointing at '['): the byte before s is not in the set and the one at s is. */
static const char *frontier(matcher_t *m, const char *s, const char *p, const char **after) {
  if (*p != '[')
    luaL_error(m->L, "missing '[' after '%%f' in pattern");
  const char *ep = class_end(m, p);
  int before = s == m->subject ? '\0' : (unsigned char)s[-1];
  int here = s < m->subject_end ? (unsigned char)*s : '\0';
  *after = ep;
  return !in_set(before, p, ep - 1) && in_set(here, p, ep - 1) ? s : NULL;
}

/* Matches the pattern from p on against the subject from s on: the end of the match, or NULL. */
static const char *match(matcher_t *m, const char *s, const char *p) {
  if (m->depth_left-- == 0)
    luaL_error(m->L, "pattern too complex");
  while (s && p < m->pattern_end) {
    spend(m, 1);
    switch (*p) {
    case '(':
      s = p[1] == ')' ? open_capture(m, s, p + 2, CAP_POSITION) : open_capture(m, s, p + 1, CAP_OPEN);
      goto done;
    case ')': s = close_capture(m, s, p + 1); goto done;
    case '$':
      if (p + 1 == m->pattern_end) {
        s = s == m->subject_end ? s : NULL;
        goto done;
      }
      break;
    case '%':
      if (p[1] == 'b') {
        s = balanced(m, s, p + 2);
        p += 4;
        continue;
      }
      if (p[1] == 'f') {
        s = frontier(m, s, p + 2, &p);
        continue;
      }
      if (isdigit((unsigned char)p[1])) {
        s = same_as_capture(m, s, p[1]);
        p += 2;
        continue;
      }
      break;
    }
    const char *ep = class_end(m, p);
    int here = single(m, s, p, ep);
    switch (*ep) {
    case '?':
      if (here) {
        const char *rest = match(m, s + 1, ep + 1);
        if (rest) {
          s = rest;
          goto done;
        }
      }
      p = ep + 1;
      break;
    case '+': s = here ? longest(m, s + 1, p, ep) : NULL; goto done;
    case '*': s = longest(m, s, p, ep); goto done;
    case '-': s = shortest(m, s, p, ep); goto done;
    default:
      s = here ? s + 1 : NULL;
      p = ep;
      break;
    }
  }
done:
  m->depth_left++;
  return s;
}

static void start(matcher_t *m, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
  m->L = L;
  m->subject = s;
  m->subject_end = s + ls;
  m->pattern_end = p + lp;
  m->steps = 0;
}

static void restart(matcher_t *m) {
  m->level = 0;
  m->depth_left = MAX_DEPTH;
}

/* Pushes capture i of the match from s to e (capture 0 of a pattern without any is the whole
 * match). */
static void push_capture(matcher_t *m, int i, const char *s, const char *e) {
  if (i >= m->level) {
    if (i != 0)
      luaL_error(m->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(m->L, s, (size_t)(e - s));
    return;
  }
  const capture_t *c = &m->capture[i];
  if (c->len == CAP_OPEN)
    luaL_error(m->L, "unfinished capture");
  if (c->len == CAP_POSITION)
    lua_pushinteger(m->L, c->start - m->subject + 1);
  else
    lua_pushlstring(m->L, c->start, (size_t)c->len);
}

/* Pushes every capture (or the whole match when there are none and whole is set). */
static int push_captures(matcher_t *m, const char *s, const char *e, int whole) {
  int n = m->level == 0 && whole ? 1 : m->level;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++)
    push_capture(m, i, s, e);
  return n;
}

/* A 1-based position that may count from the end, as an offset into a string of len bytes
 * (len + 1 and beyond: past the end). */
static size_t offset_of(lua_Integer pos, size_t len) {
  if (pos > 0)
    return (size_t)pos - 1;
  if (pos == 0 || pos < -(lua_Integer)len)
    return 0;
  return len - (size_t)(-pos);
}

static int has_specials(const char *p, size_t lp) {
  static const char specials[] = "^$*+?.([%-";
  for (size_t i = 0; i < lp; i++)
    if (memchr(specials, p[i], sizeof specials - 1))
      return 1;
  return 0;
}

static int find_or_match(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls), *p = luaL_checklstring(L, 2, &lp);
  size_t init = offset_of(luaL_optinteger(L, 3, 1), ls);
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) { /* plain text: linear */
    const char *at = memmem(s + init, ls - init, p, lp);
    if (!at) {
      luaL_pushfail(L);
      return 1;
    }
    lua_pushinteger(L, at - s + 1);
    lua_pushinteger(L, (lua_Integer)(at - s + lp));
    return 2;
  }
  matcher_t m;
  start(&m, L, s, ls, p, lp);
  int anchored = *p == '^';
  p += anchored;
  const char *at = s + init;
  do {
    restart(&m);
    const char *e = match(&m, at, p);
    if (e) {
      if (!find)
        return push_captures(&m, at, e, 1);
      lua_pushinteger(L, at - s + 1);
      lua_pushinteger(L, e - s);
      return push_captures(&m, NULL, NULL, 0) + 2;
    }
  } while (at++ < m.subject_end && !anchored);
  luaL_pushfail(L);
  return 1;
}

int tg_pattern_lua_find(lua_State *L) { return find_or_match(L, 1); }

int tg_pattern_lua_match(lua_State *L) { return find_or_match(L, 0); }

/* Where a gmatch iteration goes on: offsets into its subject. */
typedef struct iteration_s {
  size_t next;
  size_t last_end; /* end of the last match, or SIZE_MAX: an empty match there is skipped */
} iteration_t;

static int gmatch_next(lua_State *L) {
  size_t ls, lp;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  iteration_t *it = lua_touserdata(L, lua_upvalueindex(3));
  matcher_t m;
  start(&m, L, s, ls, p, lp);
  for (size_t at = it->next; at <= ls; at++) {
    restart(&m);
    const char *e = match(&m, s + at, p);
    if (e && (size_t)(e - s) != it->last_end) {
      it->next = it->last_end = (size_t)(e - s);
      return push_captures(&m, s + at, e, 1);
    }
  }
  return 0;
}

int tg_pattern_lua_gmatch(lua_State *L) {
  size_t ls;
  luaL_checklstring(L, 1, &ls);
  luaL_checkstring(L, 2);
  size_t init = offset_of(luaL_optinteger(L, 3, 1), ls);
  lua_settop(L, 2);
  iteration_t *it = lua_newuserdatauv(L, sizeof *it, 0);
  it->next = init > ls ? ls + 1 : init;
  it->last_end = (size_t)-1;
  lua_pushcclosure(L, gmatch_next, 3);
  return 1;
}

/* Appends the replacement string (argument 3) for the match from s to e: %0 is the match, %1
 * to %9 its captures, %% a percent sign. */
static void add_template(matcher_t *m, luaL_Buffer *b, const char *s, const char *e) {
  lua_State *L = m->L;
  size_t len;
  const char *r = lua_tolstring(L, 3, &len), *end = r + len;
  spend(m, len);
  for (;;) {
    const char *percent = memchr(r, '%', (size_t)(end - r));
    if (!percent) {
      luaL_addlstring(b, r, (size_t)(end - r));
      return;
    }
    luaL_addlstring(b, r, (size_t)(percent - r));
    int c = (unsigned char)percent[1]; /* the string's final NUL when the '%' ends it */
    if (c == '%' && percent + 1 < end) {
      luaL_addchar(b, '%');
    } else if (c == '0' && percent + 1 < end) {
      luaL_addlstring(b, s, (size_t)(e - s));
    } else if (isdigit(c) && percent + 1 < end) {
      push_capture(m, c - '1', s, e);
      luaL_tolstring(L, -1, NULL); /* a position capture is a number */
      lua_remove(L, -2);
      luaL_addvalue(b);
    } else {
      luaL_error(L, "invalid use of '%%' in replacement string");
    }
    r = percent + 2;
  }
}

/* Appends what replaces the match from s to e: the template, the table's value for the first
 * capture, or the function's result; false or nil keeps the match as it was. */
static void add_replacement(matcher_t *m, luaL_Buffer *b, const char *s, const char *e, int kind) {
  lua_State *L = m->L;
  if (kind == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    lua_call(L, push_captures(m, s, e, 1), 1);
  } else if (kind == LUA_TTABLE) {
    push_capture(m, 0, s, e);
    lua_gettable(L, 3);
  } else {
    add_template(m, b, s, e);
    return;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  } else {
    luaL_addvalue(b);
  }
}

int tg_pattern_lua_gsub(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls), *p = luaL_checklstring(L, 2, &lp);
  int kind = lua_type(L, 3);
  lua_Integer most = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                   "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  matcher_t m;
  start(&m, L, s, ls, p, lp);
  int anchored = *p == '^';
  p += anchored;
  const char *last_end = NULL;
  lua_Integer n = 0;
  while (n < most) {
    restart(&m);
    const char *e = match(&m, s, p);
    if (e && e != last_end) {
      n++;
      add_replacement(&m, &b, s, e, kind);
      s = last_end = e;
    } else if (s < m.subject_end) {
      luaL_addchar(&b, *s++);
    } else {
      break;
    }
    if (anchored)
      break;
  }
  luaL_addlstring(&b, s, (size_t)(m.subject_end - s));
  luaL_pushresult(&b);
  lua_pushinteger(L, n);
  return 2;
}
