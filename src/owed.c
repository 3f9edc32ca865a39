/* owed.c: the traces a worker owes the store (see owed.h). A row is kept as bytes: its kind and
 * count, then per value a tag and the value (8 bytes of a number; a string's length, 4 bytes,
 * and its bytes). Only this file writes and reads them. */
#include "owed.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "log.h"

enum { NIL, TEXT, INTEGER, FLOAT };

static int put(tg_buf_t *b, const void *bytes, size_t len) { return tg_buf_append(b, bytes, len); }

static int put_value(tg_buf_t *b, lua_State *L, int at) {
  unsigned char tag;
  switch (lua_type(L, at)) {
  case LUA_TNIL:
    tag = NIL;
    return put(b, &tag, 1);
  case LUA_TNUMBER:
    if (lua_isinteger(L, at)) {
      lua_Integer i = lua_tointeger(L, at);
      tag = INTEGER;
      return put(b, &tag, 1) < 0 ? -1 : put(b, &i, sizeof i);
    } else {
      lua_Number n = lua_tonumber(L, at);
      tag = FLOAT;
      return put(b, &tag, 1) < 0 ? -1 : put(b, &n, sizeof n);
    }
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, at, &len);
    uint32_t len32 = (uint32_t)len;
    if (len > UINT32_MAX)
      return -1;
    tag = TEXT;
    return put(b, &tag, 1) < 0 || put(b, &len32, sizeof len32) < 0 ? -1 : put(b, s, len);
  }
  default:
    return -1;
  }
}

int tg_owed_add(tg_owed_t *owed, lua_State *L, int kind, int first) {
  int top = lua_gettop(L);
  if (kind < 0 || kind > 255 || top - first + 1 > 255)
    return -1;
  size_t start = owed->rows.len;
  unsigned char head[2] = {(unsigned char)kind, (unsigned char)(top - first + 1)};
  int rc = put(&owed->rows, head, sizeof head);
  for (int at = first; rc == 0 && at <= top; at++)
    rc = put_value(&owed->rows, L, at);
  if (rc < 0) {
    owed->rows.len = start;
    return -1;
  }
  owed->count++;
  return 0;
}

int tg_owed_full(const tg_owed_t *owed) { return owed->count >= TG_OWED_MAX_ROWS || owed->rows.len >= TG_OWED_MAX_BYTES; }

int tg_owed_pending(const tg_owed_t *owed) { return owed->count > 0; }

typedef struct cursor_s {
  tg_script_t *script;
  const tg_owed_t *owed;
  size_t at;
} cursor_t;

/* The iterator host.write_owed gets: each call returns the next row's kind and its values (a
 * table with n), or nothing once all are read. */
static int next_row(lua_State *L) {
  cursor_t *c = lua_touserdata(L, lua_upvalueindex(1));
  const char *data = c->owed->rows.data;
  if (c->at >= c->owed->rows.len)
    return 0;
  int kind = (unsigned char)data[c->at++];
  int n = (unsigned char)data[c->at++];
  lua_pushinteger(L, kind);
  lua_createtable(L, n, 1);
  for (int i = 1; i <= n; i++) {
    unsigned char tag = (unsigned char)data[c->at++];
    if (tag == NIL)
      continue;
    if (tag == TEXT) {
      uint32_t len;
      memcpy(&len, data + c->at, sizeof len);
      lua_pushlstring(L, data + c->at + sizeof len, len);
      c->at += sizeof len + len;
    } else if (tag == INTEGER) {
      lua_Integer v;
      memcpy(&v, data + c->at, sizeof v);
      lua_pushinteger(L, v);
      c->at += sizeof v;
    } else {
      lua_Number v;
      memcpy(&v, data + c->at, sizeof v);
      lua_pushnumber(L, v);
      c->at += sizeof v;
    }
    lua_rawseti(L, -2, i);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  return 2;
}

static int write_owed(lua_State *L) {
  cursor_t *c = lua_touserdata(L, 1);
  tg_script_push_host(c->script, L);
  lua_getfield(L, -1, "write_owed");
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, next_row, 1);
  lua_call(L, 1, 0);
  return 0;
}

void tg_owed_write(tg_owed_t *owed, tg_script_t *script) {
  if (!owed->count)
    return;
  cursor_t c = {.script = script, .owed = owed};
  if (tg_script_call(script, write_owed, &c) < 0)
    tg_log(TG_LOG_WARN, "owed_traces_lost", "rows=%zu hint=\"journal entries of read-only calls not written\"",
           owed->count);
  owed->rows.len = 0;
  owed->count = 0;
  if (owed->rows.cap > 2 * TG_OWED_MAX_BYTES) /* one call's large rows grew it */
    tg_buf_free(&owed->rows);
}

void tg_owed_free(tg_owed_t *owed) {
  tg_buf_free(&owed->rows);
  owed->count = 0;
}
