/* box_lua.c: buffers and arenas boxed in userdata, freed by __gc and __close (see box_lua.h). */
#include "box_lua.h"

#include <lauxlib.h>
#include <string.h>

#define BUF_BOX "taskgate.box.buf"
#define ARENA_BOX "taskgate.box.arena"

/* Both metamethods free, and freeing twice is harmless: closing frees at once, collecting
 * later finds nothing left. Only the box's own metatable, which no Lua code can reach, calls
 * them, so the box needs no type check. */
static int free_buf(lua_State *L) {
  tg_buf_free(lua_touserdata(L, 1));
  return 0;
}

static int free_arena(lua_State *L) {
  tg_arena_free(lua_touserdata(L, 1));
  return 0;
}

/* The registry keys of the two metatables: a light userdata key is found without hashing a
 * name (a box is made for every audit record). */
static const char BUF_BOX_KEY = 'b', ARENA_BOX_KEY = 'a';

/* Pushes a zeroed box of size bytes with the metatable under `key` (made on first use, also
 * named `name`) and marks its slot to-be-closed. */
static void *push_box(lua_State *L, size_t size, const void *key, const char *name, lua_CFunction release) {
  void *box = lua_newuserdatauv(L, size, 0);
  memset(box, 0, size);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TNIL) {
    lua_pop(L, 1);
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_setmetatable(L, -2);
  lua_toclose(L, -1);
  return box;
}

tg_buf_t *tg_box_lua_buf(lua_State *L) { return push_box(L, sizeof(tg_buf_t), &BUF_BOX_KEY, BUF_BOX, free_buf); }

tg_arena_t *tg_box_lua_arena(lua_State *L, size_t limit) {
  tg_arena_t *arena = push_box(L, sizeof(tg_arena_t), &ARENA_BOX_KEY, ARENA_BOX, free_arena);
  arena->limit = limit;
  return arena;
}

void tg_box_lua_grown(lua_State *L, const tg_buf_t *out, size_t before) {
  if (out->len > TG_LIMIT_MAX_OBJECT)
    luaL_error(L, "text larger than %d MiB", TG_LIMIT_MAX_OBJECT >> 20);
  if ((before ^ out->len) >> 16)
    tg_limit_check(L);
}
