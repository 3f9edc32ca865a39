/* json_lua.c: sys.json_encode, the audit trail's JSON encoder. It runs for every change, so it
 * lives in C; lua/taskgate/json.lua documents what it produces. */
#include "json_lua.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "box_lua.h"
#include "view_lua.h"

enum {
  MAX_DEPTH = 32,
  SMALL_OBJECT = 16,
  MAX_KEYS = 65536, /* members of one object: sorting them stays short */
};

/* Where the text goes. Most texts (an audit record's or a journal entry's parameters) are short:
 * they are written into a buffer on the C stack, which a Lua error (out of memory, the time
 * limit) leaves nothing to free, so they need no box. A text that outgrows it stops that pass
 * (`full`) and is written again into a boxed buffer (box_lua.h). */
typedef struct out_s {
  tg_buf_t *buf;
  int fixed; /* buf is the stack's and never grows */
  int full;  /* the stack's buffer ran out of room: the text is written again, boxed */
} out_t;

enum { SMALL_TEXT = 512 };

/* Appends to the text. Boxed: raises when memory runs out or the text passes
 * TG_LIMIT_MAX_OBJECT (one big string repeated would grow without end), and looks at the clock
 * every 64 KiB written. */
static void put(lua_State *L, out_t *out, const char *bytes, size_t len) {
  if (!out->fixed) {
    tg_box_lua_put(L, out->buf, bytes, len);
    return;
  }
  tg_buf_t *b = out->buf;
  if (out->full || b->cap - b->len <= len) { /* (room for tg_buf's closing NUL kept) */
    out->full = 1;
    return;
  }
  memcpy(b->data + b->len, bytes, len);
  b->len += len;
}

static void put_string(lua_State *L, out_t *out, const char *s, size_t len) {
  if (out->fixed && out->buf->cap - out->buf->len <= len + 2) { /* not scanned twice */
    out->full = 1;
    return;
  }
  put(L, out, "\"", 1);
  size_t plain = 0; /* start of the run of bytes that need no escape */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
      continue;
    put(L, out, s + plain, i - plain);
    char escaped[8];
    switch (c) {
    case '"': put(L, out, "\\\"", 2); break;
    case '\\': put(L, out, "\\\\", 2); break;
    case '\n': put(L, out, "\\n", 2); break;
    case '\r': put(L, out, "\\r", 2); break;
    case '\t': put(L, out, "\\t", 2); break;
    default: put(L, out, escaped, (size_t)snprintf(escaped, sizeof escaped, "\\u%04x", c)); break;
    }
    plain = i + 1;
  }
  put(L, out, s + plain, len - plain);
  put(L, out, "\"", 1);
}

static void put_number(lua_State *L, out_t *out, int index) {
  char text[48];
  if (lua_isinteger(L, index)) { /* ids mostly: cheaper than printf */
    lua_Integer value = lua_tointeger(L, index);
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    char *at = text + sizeof text;
    do {
      *--at = (char)('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude);
    if (value < 0)
      *--at = '-';
    put(L, out, at, (size_t)(text + sizeof text - at));
    return;
  }
  double d = (double)lua_tonumber(L, index);
  if (!isfinite(d)) {
    put(L, out, "null", 4);
    return;
  }
  put(L, out, text, (size_t)snprintf(text, sizeof text, "%.17g", d));
}

static int compare_keys(const void *a, const void *b) {
  const char *const *x = a, *const *y = b;
  return strcmp(*x, *y);
}

/* Insertion sort: an audit record's handful of keys sorts faster than qsort sets up. */
static void sort_few(const char **keys, size_t n) {
  for (size_t i = 1; i < n; i++) {
    const char *key = keys[i];
    size_t j = i;
    for (; j > 0 && strcmp(keys[j - 1], key) > 0; j--)
      keys[j] = keys[j - 1];
    keys[j] = key;
  }
}

/* Whether the text passed max bytes (0: no limit): the encoder then stops early, and the caller
 * gets nil. A journal that keeps 64 KiB of a call's parameters need not encode a megabyte. */
static int over(const out_t *out, size_t max) { return out->full || (max && out->buf->len > max); }

static void put_value(lua_State *L, out_t *out, int index, int depth, size_t max);

static void put_array(lua_State *L, out_t *out, int index, int depth, size_t max) {
  put(L, out, "[", 1);
  for (lua_Integer i = 1;; i++) {
    if (lua_geti(L, index, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    if (i > 1)
      put(L, out, ",", 1);
    put_value(L, out, lua_gettop(L), depth + 1, max);
    lua_pop(L, 1);
    if (over(out, max))
      return;
  }
  put(L, out, "]", 1);
}

/* Writes the object's members in key order. names is 0 when every key is a string in the
 * object itself, else a table from key text to the original key. */
static void put_members(lua_State *L, out_t *out, int index, int depth, const char **keys, size_t n, int names,
                        size_t max) {
  if (n <= SMALL_OBJECT)
    sort_few(keys, n);
  else
    qsort(keys, n, sizeof *keys, compare_keys);
  put(L, out, "{", 1);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      put(L, out, ",", 1);
    put_string(L, out, keys[i], strlen(keys[i]));
    put(L, out, ":", 1);
    if (names) {
      lua_getfield(L, names, keys[i]);
      lua_gettable(L, index);
    } else {
      lua_getfield(L, index, keys[i]);
    }
    put_value(L, out, lua_gettop(L), depth + 1, max);
    lua_pop(L, 1);
    if (over(out, max))
      return;
  }
  put(L, out, "}", 1);
}

/* The common object: a few string keys. Each member's key and value stay on the stack (which
 * anchors the key's text while they are sorted), so the value is not looked up again by its
 * key. */
static int put_small_object(lua_State *L, out_t *out, int index, int depth, size_t max) {
  const char *keys[SMALL_OBJECT];
  int values[SMALL_OBJECT]; /* stack index of each key's value */
  size_t n = 0;
  int base = lua_gettop(L);
  luaL_checkstack(L, 2 * SMALL_OBJECT + 4, "JSON object");
  lua_pushnil(L);
  while (lua_next(L, index)) {
    if (n == SMALL_OBJECT || lua_type(L, -2) != LUA_TSTRING) {
      lua_settop(L, base);
      return 0;
    }
    keys[n] = lua_tostring(L, -2);
    values[n++] = lua_gettop(L);
    lua_pushvalue(L, -2); /* the key again, for lua_next; the pair stays below it */
  }
  for (size_t i = 1; i < n; i++) { /* insertion sort, as sort_few, carrying the values along */
    const char *key = keys[i];
    int value = values[i];
    size_t j = i;
    for (; j > 0 && strcmp(keys[j - 1], key) > 0; j--) {
      keys[j] = keys[j - 1];
      values[j] = values[j - 1];
    }
    keys[j] = key;
    values[j] = value;
  }
  put(L, out, "{", 1);
  for (size_t i = 0; i < n && !over(out, max); i++) {
    if (i > 0)
      put(L, out, ",", 1);
    put_string(L, out, keys[i], strlen(keys[i]));
    put(L, out, ":", 1);
    put_value(L, out, values[i], depth + 1, max);
  }
  if (!over(out, max))
    put(L, out, "}", 1);
  lua_settop(L, base);
  return 1;
}

/* An object's keys are written as text, sorted, so equal tables give equal JSON. */
static void put_object(lua_State *L, out_t *out, int index, int depth, size_t max) {
  if (put_small_object(L, out, index, depth, max))
    return;
  lua_newtable(L); /* key text -> key, anchoring the texts while they are sorted */
  int names = lua_gettop(L);
  size_t count = 0;
  for (lua_pushnil(L); lua_next(L, index); lua_pop(L, 1)) {
    if (count == MAX_KEYS)
      luaL_error(L, "JSON object with more than %d members", MAX_KEYS);
    luaL_tolstring(L, -2, NULL);
    lua_pushvalue(L, -3);
    lua_rawset(L, names);
    count++;
  }
  const char **keys = count ? lua_newuserdatauv(L, count * sizeof *keys, 0) : NULL;
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, names); lua_pop(L, 1))
    if (n < count)
      keys[n++] = lua_tostring(L, -2);
  put_members(L, out, index, depth, keys, n, names, max);
  lua_settop(L, names - 1);
}

static void put_value(lua_State *L, out_t *out, int index, int depth, size_t max) {
  luaL_checkstack(L, 8, "JSON nesting");
  switch (lua_type(L, index)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, index, &len);
    put_string(L, out, s, len);
    return;
  }
  case LUA_TNUMBER: put_number(L, out, index); return;
  case LUA_TBOOLEAN: lua_toboolean(L, index) ? put(L, out, "true", 4) : put(L, out, "false", 5); return;
  case LUA_TTABLE:
    if (depth > MAX_DEPTH)
      break;
    tg_view_lua_unwrap(L, index); /* a rule's fields may hold parts of its call */
    lua_rawgeti(L, index, 1);
    int is_array = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (is_array)
      put_array(L, out, index, depth, max);
    else
      put_object(L, out, index, depth, max);
    return;
  default: break;
  }
  put(L, out, "null", 4);
}

/* sys.json_encode(value [, max_bytes]) -> compact JSON, object keys sorted; what JSON cannot hold
 * is null. With max_bytes: nil when the text would be longer (found without writing it all). */
int tg_json_lua_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, max >= 0, 2, "a byte count");
  lua_settop(L, 1);
  char small[SMALL_TEXT];
  tg_buf_t fixed = {.data = small, .len = 0, .cap = sizeof small};
  out_t out = {.buf = &fixed, .fixed = 1};
  put_value(L, &out, 1, 0, (size_t)max);
  if (out.full) { /* written again, boxed */
    lua_settop(L, 1);
    out = (out_t){.buf = tg_box_lua_buf(L)};
    put_value(L, &out, 1, 0, (size_t)max);
  }
  if (over(&out, (size_t)max)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, out.buf->data ? out.buf->data : "", out.buf->len);
  return 1;
}
