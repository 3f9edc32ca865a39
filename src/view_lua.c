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
