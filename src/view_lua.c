/* view_lua.c: the side table of the call's read-only views (lua/taskgate/view.lua), their __index
 * and their unwrapping for the C encoders. */
#include "view_lua.h"

static const char views_key; /* its address is the registry's key of the side table */

void tg_view_lua_push_views(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &views_key) == LUA_TTABLE)
    return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k"); /* weak keys: a view's entry goes with the view */
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &views_key);
}

/* Pushes the table the value at `index` (absolute) shows when it is a view; else pushes nil and
 * returns 0. */
static int push_shown(lua_State *L, int index) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &views_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  lua_pushvalue(L, index);
  int type = lua_rawget(L, -2);
  lua_remove(L, -2);
  return type == LUA_TTABLE;
}

void tg_view_lua_unwrap(lua_State *L, int index) {
  if (!lua_getmetatable(L, index))
    return;
  lua_pop(L, 1);
  if (push_shown(L, index))
    lua_replace(L, index);
  else
    lua_pop(L, 1);
}

int tg_view_lua_index(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1)); /* 3: the side table */
  lua_pushvalue(L, 1);
  if (lua_rawget(L, 3) != LUA_TTABLE) /* 4: what the view shows */
    return 0;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, 4) != LUA_TTABLE) /* 5: its value */
    return 1;
  lua_createtable(L, 0, 0); /* 6: a nested table: a view of its own, with the view's metatable */
  lua_getmetatable(L, 1);
  lua_setmetatable(L, 6);
  lua_pushvalue(L, 6);
  lua_pushvalue(L, 5);
  lua_rawset(L, 3);
  return 1;
}
