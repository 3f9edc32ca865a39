/* bounded_lua.c: the library functions a rule can reach that loop in C, in versions that stop
 * at the call's deadline (see bounded_lua.h). Each keeps its Lua 5.4 behaviour, except where
 * its comment says otherwise. */
#include "bounded_lua.h"

#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <string.h>

#include "limit.h"
#include "pattern_lua.h"

enum {
  CHUNK = 64 * 1024,            /* bytes a byte loop handles between two looks at the clock */
  MAX_PACK_FORMAT = 4096,       /* bytes of a string.pack format */
  MAX_PACK_SIZES = 1024 * 1024, /* the sum of the sizes a string.pack format names */
  MAX_FORMAT = 64 * 1024,       /* bytes of a string.format format */
  MAX_QUOTED = 1024 * 1024,     /* bytes of a string string.format's %q writes */
};

/* string.rep(s, n [, sep]): the first copy is written once, then the result doubles by
 * copying itself, so the work is a few large copies whatever n is. A result larger than
 * TG_LIMIT_MAX_OBJECT is "too large" at once, before any work. */
static int rep(lua_State *L) {
  size_t len, sep_len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *sep = luaL_optlstring(L, 3, "", &sep_len);
  size_t unit = len + sep_len;
  if (n <= 0 || unit == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (unit > TG_LIMIT_MAX_OBJECT / (lua_Unsigned)n)
    return luaL_error(L, "resulting string too large");
  size_t whole = unit * (size_t)n; /* the last separator is written, then left out */
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, whole);
  memcpy(out, s, len);
  memcpy(out + len, sep, sep_len);
  for (size_t filled = unit; filled < whole; filled *= 2) {
    memcpy(out + filled, out, filled < whole - filled ? filled : whole - filled);
    tg_limit_check(L);
  }
  luaL_pushresultsize(&b, whole - sep_len);
  return 1;
}

/* string.upper, lower and reverse: one byte at a time, CHUNK bytes between looks at the clock. */
static int map_bytes(lua_State *L, int (*map)(int), int reverse) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len);
  for (size_t i = 0; i < len; i++) {
    out[i] = reverse ? s[len - 1 - i] : (char)map((unsigned char)s[i]);
    if (i % CHUNK == CHUNK - 1)
      tg_limit_check(L);
  }
  luaL_pushresultsize(&b, len);
  return 1;
}

static int upper(lua_State *L) { return map_bytes(L, toupper, 0); }

static int lower(lua_State *L) { return map_bytes(L, tolower, 0); }

static int reverse(lua_State *L) { return map_bytes(L, NULL, 1); }

/* Refuses a pack format that would keep Lua's string.pack, unpack or packsize in C for long:
 * one longer than MAX_PACK_FORMAT bytes (each option is a turn of their loop), or, for pack,
 * one whose sizes add up past MAX_PACK_SIZES (a "c" pads its string one byte at a time). */
static void check_pack_format(lua_State *L, int sum_sizes) {
  size_t len;
  const char *format = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= MAX_PACK_FORMAT, 1, "format longer than 4096 bytes");
  size_t sizes = 0;
  for (size_t i = 0; sum_sizes && i < len; i++) {
    size_t size = 0;
    for (; i < len && isdigit((unsigned char)format[i]); i++)
      size = size > MAX_PACK_SIZES ? size : size * 10 + (size_t)(format[i] - '0');
    sizes += size;
    luaL_argcheck(L, sizes <= MAX_PACK_SIZES, 1, "format sizes add up to more than 1 MiB");
  }
}

/* Refuses a string.format call that would keep Lua's in C for long: its loop takes the format
 * one byte at a time (8 MiB of "%%" took a fifth of a second), and %q one byte of its argument at
 * a time (8 MiB took 0.13 s). Both are far beyond what a rule formats. */
static void check_format(lua_State *L) {
  size_t len;
  const char *format = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= MAX_FORMAT, 1, "format longer than 65536 bytes");
  if (!memchr(format, 'q', len)) /* the runtime formats on every request's path: most have no %q */
    return;
  const char *end = format + len;
  int arg = 1;
  for (const char *p = format; (p = memchr(p, '%', (size_t)(end - p))) != NULL;) {
    if (++p < end && *p == '%') {
      p++;
      continue;
    }
    p += strspn(p, "-+ #0.123456789"); /* Lua strings end in a NUL: this stops at the end */
    arg++;                                /* each conversion takes one argument, in order */
    if (p < end && *p == 'q' && lua_type(L, arg) == LUA_TSTRING)
      luaL_argcheck(L, lua_rawlen(L, arg) <= MAX_QUOTED, arg, "string longer than 1 MiB for '%q'");
  }
}

/* Calls the library's own function (upvalue 1) with the same arguments. */
static int call_library(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int pack(lua_State *L) {
  check_pack_format(L, 1);
  return call_library(L);
}

/* Runs the library's own (upvalue 1) in this very call, without a call of its own: the runtime
 * formats on every request's path. */
static int format(lua_State *L) {
  check_format(L);
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

static int unpack_or_size(lua_State *L) {
  check_pack_format(L, 0);
  return call_library(L);
}

/* Accepts a table, or a value whose metatable has every field in needs (as the table library
 * does); raises otherwise. */
static void check_table(lua_State *L, int arg, const char *const *needs) {
  if (lua_type(L, arg) == LUA_TTABLE)
    return;
  for (; *needs; needs++) {
    if (luaL_getmetafield(L, arg, *needs) == LUA_TNIL)
      luaL_checktype(L, arg, LUA_TTABLE);
    lua_pop(L, 1);
  }
}

static const char *const READ_WRITE_LEN[] = {"__index", "__newindex", "__len", NULL};
static const char *const READ[] = {"__index", NULL};
static const char *const WRITE[] = {"__newindex", NULL};

/* Is the value at a less than the one at b? The order function (argument 2) decides when there
 * is one, else the < operator with its metamethods. */
static int less(lua_State *L, int a, int b, int ordered) {
  if (!ordered)
    return lua_compare(L, a, b, LUA_OPLT);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, a);
  lua_pushvalue(L, b);
  lua_call(L, 2, 1);
  int result = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return result;
}

/* Moves t[i] down the heap t[1..n] until neither child is greater. */
static void sift_down(lua_State *L, lua_Integer i, lua_Integer n, int ordered, unsigned *budget) {
  lua_geti(L, 1, i);
  int value = lua_gettop(L), child_value = value + 1;
  for (lua_Integer child; (child = 2 * i) <= n; i = child) {
    tg_limit_spend(L, budget, 1);
    lua_geti(L, 1, child);
    if (child < n) {
      lua_geti(L, 1, child + 1);
      if (less(L, child_value, child_value + 1, ordered)) {
        lua_replace(L, child_value);
        child++;
      } else {
        lua_pop(L, 1);
      }
    }
    if (!less(L, value, child_value, ordered)) {
      lua_pop(L, 1);
      break;
    }
    lua_seti(L, 1, i);
  }
  lua_seti(L, 1, i);
}

/* table.sort(list [, comp]): a heap sort, which needs no more than n log n comparisons
 * whatever the order function answers, and looks at the clock as it goes. Like Lua's sort it
 * is not stable; unlike it, an inconsistent order function gives some order instead of an
 * "invalid order function" error. */
static int sort(lua_State *L) {
  check_table(L, 1, READ_WRITE_LEN);
  lua_Integer n = luaL_len(L, 1);
  if (n <= 1)
    return 0;
  luaL_argcheck(L, n < INT_MAX, 1, "array too big");
  int ordered = !lua_isnoneornil(L, 2);
  if (ordered)
    luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  unsigned budget = 0;
  for (lua_Integer i = n / 2; i >= 1; i--)
    sift_down(L, i, n, ordered, &budget);
  for (lua_Integer last = n; last > 1; last--) {
    lua_geti(L, 1, 1);
    lua_geti(L, 1, last);
    lua_seti(L, 1, 1);
    lua_seti(L, 1, last);
    sift_down(L, 1, last - 1, ordered, &budget);
  }
  return 0;
}

/* table.move(a1, f, e, t [, a2]): Lua's loop runs e - f + 1 times however few elements exist
 * (table.move({}, 1, 1e12, 2) would run for hours); this one looks at the clock as it goes. */
static int move(lua_State *L) {
  lua_Integer from = luaL_checkinteger(L, 2), to_end = luaL_checkinteger(L, 3), to = luaL_checkinteger(L, 4);
  int target = lua_isnoneornil(L, 5) ? 1 : 5;
  check_table(L, 1, READ);
  check_table(L, target, WRITE);
  if (to_end >= from) {
    luaL_argcheck(L, from > 0 || to_end < LUA_MAXINTEGER + from, 3, "too many elements to move");
    lua_Integer n = to_end - from + 1;
    luaL_argcheck(L, to <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    /* Overlapping to the right within one table: copy from the end, so nothing is overwritten
     * before it is read. */
    int backwards = to > from && to <= to_end && (target == 1 || lua_compare(L, 1, target, LUA_OPEQ));
    unsigned budget = 0;
    for (lua_Integer k = 0; k < n; k++) {
      lua_Integer i = backwards ? n - 1 - k : k;
      lua_geti(L, 1, from + i);
      lua_seti(L, target, to + i);
      tg_limit_spend(L, &budget, 1);
    }
  }
  lua_pushvalue(L, target);
  return 1;
}

/* What one element read or write of the functions below counts for tg_limit_spend: each may walk
 * a chain of up to 2000 __index or __newindex tables (Lua's limit) without calling anything, so
 * the clock is looked at every TG_LIMIT_CHECK_EVERY / ELEMENT_STEPS elements. (A metamethod that
 * is a function, Lua or C, meets the time limit's hook at its call.) */
enum { ELEMENT_STEPS = 64 };

/* The length of the table at arg, checked as the table library does (needs: the metafields a
 * value other than a table must have). */
static lua_Integer length_of(lua_State *L, int arg, const char *const *needs) {
  check_table(L, arg, needs);
  return luaL_len(L, arg);
}

static const char *const READ_LEN[] = {"__index", "__len", NULL};

/* table.insert(list, [pos,] value): Lua's loop shifts #list - pos elements, however few exist
 * (a __len answering 2^40 made it run for hours without a Lua instruction); this one looks at
 * the clock as it goes. */
static int insert(lua_State *L) {
  lua_Integer end = luaL_intop(+, length_of(L, 1, READ_WRITE_LEN), 1); /* the first empty slot */
  lua_Integer pos = end;
  switch (lua_gettop(L)) {
  case 2:
    break;
  case 3: {
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)end, 2, "position out of bounds");
    unsigned budget = 0;
    for (lua_Integer i = end; i > pos; i--) {
      lua_geti(L, 1, i - 1);
      lua_seti(L, 1, i);
      tg_limit_spend(L, &budget, ELEMENT_STEPS);
    }
    break;
  }
  default:
    return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

/* table.remove(list [, pos]): bounded as insert is. */
static int remove_element(lua_State *L) {
  lua_Integer size = length_of(L, 1, READ_WRITE_LEN);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size)
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, "position out of bounds"); /* 1: as Lua 5.4.4 says */
  lua_geti(L, 1, pos);
  unsigned budget = 0;
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
    tg_limit_spend(L, &budget, ELEMENT_STEPS);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

/* Appends list[i] (a string or number) to b. */
static void add_element(lua_State *L, luaL_Buffer *b, lua_Integer i) {
  lua_geti(L, 1, i);
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1), (LUAI_UACINT)i);
  luaL_addvalue(b);
}

/* table.concat(list [, sep [, i [, j]]]): looks at the clock as it goes. */
static int concat(lua_State *L) {
  lua_Integer last = length_of(L, 1, READ_LEN);
  size_t sep_len;
  const char *sep = luaL_optlstring(L, 2, "", &sep_len);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  unsigned budget = 0;
  for (; i < last; i++) {
    add_element(L, &b, i);
    luaL_addlstring(&b, sep, sep_len);
    tg_limit_spend(L, &budget, ELEMENT_STEPS);
  }
  if (i == last)
    add_element(L, &b, i);
  luaL_pushresult(&b);
  return 1;
}

/* table.unpack(list [, i [, j]]): at most a stack's worth of elements, but each read may walk a
 * chain of __index tables; looks at the clock as it goes. */
static int unpack_list(lua_State *L) {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer last = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
  if (i > last)
    return 0;
  lua_Unsigned n = (lua_Unsigned)last - (lua_Unsigned)i; /* the count less one, without overflow */
  if (n >= (unsigned)INT_MAX || !lua_checkstack(L, (int)++n))
    return luaL_error(L, "too many results to unpack");
  unsigned budget = 0;
  for (; i < last; i++) {
    lua_geti(L, 1, i);
    tg_limit_spend(L, &budget, ELEMENT_STEPS);
  }
  lua_geti(L, 1, last);
  return (int)n;
}

static const luaL_Reg string_functions[] = {
    {"find", tg_pattern_lua_find},
    {"match", tg_pattern_lua_match},
    {"gmatch", tg_pattern_lua_gmatch},
    {"gsub", tg_pattern_lua_gsub},
    {"rep", rep},
    {"upper", upper},
    {"lower", lower},
    {"reverse", reverse},
    {NULL, NULL},
};

static const luaL_Reg table_functions[] = {
    {"sort", sort},     {"move", move},     {"insert", insert},        {"remove", remove_element},
    {"concat", concat}, {"unpack", unpack_list}, {NULL, NULL},
};

static const luaL_Reg wrappers[] = {
    {"pack", pack}, {"unpack", unpack_or_size}, {"packsize", unpack_or_size}, {"format", format}, {NULL, NULL}};

int tg_bounded_lua_open(lua_State *L) {
  lua_newtable(L);
  luaL_setfuncs(L, string_functions, 0);
  luaL_newlib(L, table_functions); /* apart: both libraries have an unpack */
  lua_setfield(L, -2, LUA_TABLIBNAME);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, LUA_STRLIBNAME);
  for (const luaL_Reg *f = wrappers; f->name; f++) { /* each wraps the library's own */
    lua_getfield(L, -1, f->name);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -4, f->name);
  }
  lua_pop(L, 2);
  return 1;
}

/* Copies the functions named in names from the table at `from` into the loaded library. */
static void put_into(lua_State *L, int from, const char *library, const luaL_Reg *names) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, library);
  for (; names->name; names++) {
    lua_getfield(L, from, names->name);
    lua_setfield(L, -2, names->name);
  }
  lua_pop(L, 2);
}

void tg_bounded_lua_install(lua_State *L) {
  tg_bounded_lua_open(L);
  int bounded = lua_gettop(L);
  put_into(L, bounded, LUA_STRLIBNAME, string_functions);
  put_into(L, bounded, LUA_STRLIBNAME, wrappers);
  lua_getfield(L, bounded, LUA_TABLIBNAME);
  put_into(L, lua_gettop(L), LUA_TABLIBNAME, table_functions);
  lua_pop(L, 2);
}
