/* shared_lua.c: `taskgate.shared_space`, the shared key-value space (shared.h) as the runtime's
 * Lua module (lua/taskgate/shared.lua builds the rules' API on it). */
#include "shared_lua.h"

#include <lauxlib.h>

#include "shared.h"

/* The space is upvalue 1 (a light userdata); upvalue 2 keeps a space the Lua state owns alive. */
static tg_shared_t *space_of(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static const char *check_key(lua_State *L, size_t *len) {
  const char *key = luaL_checklstring(L, 1, len);
  if (*len > TG_SHARED_KEY_MAX)
    luaL_argerror(L, 1, "key longer than 255 bytes");
  return key;
}

/* Pushes nil and why an operation did not happen; returns 2. */
static int refused(lua_State *L, int rc) {
  lua_pushnil(L);
  lua_pushstring(L, rc == TG_SHARED_NOT_NUMBER ? "not a number"
                    : rc == TG_SHARED_TOO_LARGE ? "too large"
                                                : "out of memory");
  return 2;
}

/* get(key, now) -> the value, or nil. */
static int get(lua_State *L) {
  size_t len;
  const char *key = check_key(L, &len);
  double now = luaL_checknumber(L, 2);
  tg_shared_value_t value;
  char text[TG_SHARED_STRING_MAX]; /* copied out under the space's lock, pushed after it */
  tg_shared_get(space_of(L), key, len, now, &value, text);
  if (value.type == TG_SHARED_STRING) {
    lua_pushlstring(L, text, value.len);
  } else if (value.type == TG_SHARED_NUMBER) {
    lua_Integer n;
    if (lua_numbertointeger(value.number, &n) && (double)n == value.number)
      lua_pushinteger(L, n); /* a count reads back as the integer it is */
    else
      lua_pushnumber(L, value.number);
  } else if (value.type == TG_SHARED_BOOLEAN) {
    lua_pushboolean(L, value.number != 0);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

static void check_value(lua_State *L, int arg, tg_shared_value_t *value) {
  switch (lua_type(L, arg)) {
  case LUA_TNIL: value->type = TG_SHARED_NONE; break;
  case LUA_TNUMBER: value->type = TG_SHARED_NUMBER, value->number = lua_tonumber(L, arg); break;
  case LUA_TBOOLEAN: value->type = TG_SHARED_BOOLEAN, value->number = lua_toboolean(L, arg); break;
  case LUA_TSTRING: value->type = TG_SHARED_STRING, value->string = lua_tolstring(L, arg, &value->len); break;
  default: luaL_argerror(L, arg, "a number, a string, a boolean or nil");
  }
}

/* set(key, value, ttl, now, only_new) -> true; false when only_new and the key holds a value;
 * nil and why. */
static int set(lua_State *L) {
  size_t len;
  const char *key = check_key(L, &len);
  tg_shared_value_t value;
  check_value(L, 2, &value);
  double ttl = luaL_optnumber(L, 3, 0), now = luaL_checknumber(L, 4);
  int rc = tg_shared_set(space_of(L), key, len, &value, ttl, now, lua_toboolean(L, 5));
  if (rc < 0)
    return refused(L, rc);
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* incr(key, delta, init, ttl, now) -> the new value, or nil and why. */
static int incr(lua_State *L) {
  size_t len;
  const char *key = check_key(L, &len);
  double delta = luaL_checknumber(L, 2), init = luaL_optnumber(L, 3, 0), ttl = luaL_optnumber(L, 4, 0);
  double now = luaL_checknumber(L, 5), result = 0;
  int rc = tg_shared_incr(space_of(L), key, len, delta, init, ttl, now, &result);
  if (rc != 0)
    return refused(L, rc);
  lua_Integer n;
  if (lua_numbertointeger(result, &n) && (double)n == result)
    lua_pushinteger(L, n);
  else
    lua_pushnumber(L, result);
  return 1;
}

/* take(key, rate, burst, cost, now) -> true and the tokens left, false and the seconds to wait;
 * or nil and why. */
static int take(lua_State *L) {
  size_t len;
  const char *key = check_key(L, &len);
  double rate = luaL_checknumber(L, 2), burst = luaL_checknumber(L, 3), cost = luaL_checknumber(L, 4);
  double now = luaL_checknumber(L, 5), value = 0;
  luaL_argcheck(L, rate > 0, 2, "rate must be above 0");
  luaL_argcheck(L, cost > 0 && cost <= burst, 4, "cost must be above 0 and at most the burst");
  int allowed = 0;
  int rc = tg_shared_take(space_of(L), key, len, rate, burst, cost, now, &allowed, &value);
  if (rc != 0)
    return refused(L, rc);
  lua_pushboolean(L, allowed);
  lua_pushnumber(L, value);
  return 2;
}

/* stats() -> {capacity, used, entries, evictions}. */
static int stats(lua_State *L) {
  tg_shared_stats_t s;
  tg_shared_stats(space_of(L), &s);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)s.capacity);
  lua_setfield(L, -2, "capacity");
  lua_pushinteger(L, (lua_Integer)s.used);
  lua_setfield(L, -2, "used");
  lua_pushinteger(L, (lua_Integer)s.entries);
  lua_setfield(L, -2, "entries");
  lua_pushinteger(L, (lua_Integer)s.evictions);
  lua_setfield(L, -2, "evictions");
  return 1;
}

/* A space the Lua state owns (scratch): freed with its box. */
typedef struct owned_s {
  tg_shared_t *space;
} owned_t;

static int owned_gc(lua_State *L) {
  owned_t *owned = lua_touserdata(L, 1);
  tg_shared_free(owned->space);
  owned->space = NULL;
  return 0;
}

int tg_shared_lua_push_new(lua_State *L, size_t capacity) {
  owned_t *owned = lua_newuserdatauv(L, sizeof *owned, 0);
  owned->space = NULL;
  if (luaL_newmetatable(L, "taskgate.shared_space.owned")) {
    lua_pushcfunction(L, owned_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  owned->space = tg_shared_new(capacity);
  if (!owned->space) {
    lua_pop(L, 1);
    return -1;
  }
  tg_shared_lua_push(L, owned->space, lua_gettop(L));
  lua_remove(L, -2); /* the module's upvalue keeps the box */
  return 0;
}

/* scratch(capacity) -> the module again, on a new, empty space of its own (self-checks, replay:
 * their writes must not reach the live one). */
static int scratch(lua_State *L) {
  lua_Integer capacity = luaL_optinteger(L, 1, 1 << 20);
  luaL_argcheck(L, capacity >= 4096 && capacity <= ((lua_Integer)1 << 32), 1, "capacity out of range");
  if (tg_shared_lua_push_new(L, (size_t)capacity) < 0)
    return luaL_error(L, "out of memory");
  return 1;
}

void tg_shared_lua_push(lua_State *L, tg_shared_t *space, int owner) {
  static const luaL_Reg functions[] = {
      {"get", get}, {"set", set}, {"incr", incr}, {"take", take}, {"stats", stats}, {"scratch", scratch}, {NULL, NULL},
  };
  luaL_newlibtable(L, functions);
  lua_pushlightuserdata(L, space);
  if (owner)
    lua_pushvalue(L, owner);
  else
    lua_pushnil(L);
  luaL_setfuncs(L, functions, 2);
}
