/* view_lua.c: the key of the call's read-only views (lua/taskgate/view.lua) and their unwrapping
 * for the C encoders. */
#include "view_lua.h"

static const char view_key; /* its address is the key: Lua code cannot make a light userdata */

void tg_view_lua_push_key(lua_State *L) { lua_pushlightuserdata(L, (void *)&view_key); }

void tg_view_lua_unwrap(lua_State *L, int index) {
  if (!lua_getmetatable(L, index))
    return;
  lua_pop(L, 1);
  if (lua_rawgetp(L, index, &view_key) == LUA_TTABLE)
    lua_replace(L, index);
  else
    lua_pop(L, 1);
}

int tg_view_lua_index(lua_State *L) {
  lua_rawgetp(L, 1, &view_key);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TTABLE)
    return 1;
  lua_createtable(L, 0, 1); /* a nested table: a view of its own, with the view's metatable */
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, &view_key);
  lua_getmetatable(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}
