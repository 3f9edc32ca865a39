/* failure_lua.c: failures as values (see failure_lua.h). A failure is a userdata: rules, which
 * can catch one with pcall, can neither change it nor make one. */
#include "failure_lua.h"

#include <lauxlib.h>
#include <string.h>

#define FAILURE_META "taskgate.failure"

enum { KIND = 1, MESSAGE, TRACEBACK, FIELDS = TRACEBACK };

static const char *const field_names[] = {"kind", "message", "traceback", NULL};
static const char *const kinds[] = {"timeout", "memory", "error", "unavailable", NULL};

/* failure.kind, .message, .traceback */
static int failure_index(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  for (int i = 0; key && field_names[i]; i++)
    if (strcmp(key, field_names[i]) == 0)
      return lua_getiuservalue(L, 1, i + 1), 1;
  lua_pushnil(L);
  return 1;
}

static int failure_tostring(lua_State *L) {
  lua_getiuservalue(L, 1, MESSAGE);
  return 1;
}

static int read_only(lua_State *L) { return luaL_error(L, "a failure cannot be changed"); }

static void push_meta(lua_State *L) {
  if (!luaL_newmetatable(L, FAILURE_META))
    return;
  static const luaL_Reg meta[] = {
      {"__index", failure_index}, {"__tostring", failure_tostring}, {"__newindex", read_only}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
}

void tg_failure_lua_push(lua_State *L, const char *kind, const char *message, const char *traceback) {
  lua_newuserdatauv(L, 0, FIELDS);
  const char *fields[] = {kind, message, traceback};
  for (int i = 0; i < FIELDS; i++) {
    if (fields[i]) {
      lua_pushstring(L, fields[i]);
      lua_setiuservalue(L, -2, i + 1);
    }
  }
  push_meta(L);
  lua_setmetatable(L, -2);
}

static const char *field(lua_State *L, int index, int which) {
  if (!luaL_testudata(L, index, FAILURE_META))
    return NULL;
  lua_getiuservalue(L, index, which);
  const char *value = lua_tostring(L, -1); /* anchored by the failure */
  lua_pop(L, 1);
  return value;
}

const char *tg_failure_lua_kind(lua_State *L, int index) { return field(L, index, KIND); }

const char *tg_failure_lua_describe(lua_State *L, int index) {
  const char *traceback = field(L, index, TRACEBACK);
  return traceback ? traceback : field(L, index, MESSAGE);
}

/* failure.new(kind, message [, traceback]) */
static int new_failure(lua_State *L) {
  const char *kind = kinds[luaL_checkoption(L, 1, NULL, kinds)];
  tg_failure_lua_push(L, kind, luaL_checkstring(L, 2), luaL_optstring(L, 3, NULL));
  return 1;
}

/* failure.kind(value) -> its kind, or nil when it is no failure */
static int kind_of(lua_State *L) {
  const char *kind = tg_failure_lua_kind(L, 1);
  if (kind)
    lua_pushstring(L, kind);
  else
    lua_pushnil(L);
  return 1;
}

int tg_failure_lua_open(lua_State *L) {
  static const luaL_Reg functions[] = {{"new", new_failure}, {"kind", kind_of}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
