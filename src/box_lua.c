/* box_lua.c: buffers and arenas boxed in userdata, freed by __gc and __close (see box_lua.h). */
#include "box_lua.h"

#include <lauxlib.h>
#include <string.h>

#define BUF_BOX "taskgate.box.buf"
#define ARENA_BOX "taskgate.box.arena"

/* Both metamethods free, and freeing twice is harmless: closing frees at once, collecting
 * later finds nothing left. */
static int free_buf(lua_State *L) {
  tg_buf_free(luaL_checkudata(L, 1, BUF_BOX));
  return 0;
}

static int free_arena(lua_State *L) {
  tg_arena_free(luaL_checkudata(L, 1, ARENA_BOX));
  return 0;
}

/* Pushes a zeroed box of size bytes with the metatable `name` (made on first use) and marks
 * its slot to-be-closed. */
static void *push_box(lua_State *L, size_t size, const char *name, lua_CFunction release) {
  void *box = lua_newuserdatauv(L, size, 0);
  memset(box, 0, size);
  if (luaL_newmetatable(L, name)) {
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  lua_toclose(L, -1);
  return box;
}

tg_buf_t *tg_box_lua_buf(lua_State *L) { return push_box(L, sizeof(tg_buf_t), BUF_BOX, free_buf); }

tg_arena_t *tg_box_lua_arena(lua_State *L, size_t limit) {
  tg_arena_t *arena = push_box(L, sizeof(tg_arena_t), ARENA_BOX, free_arena);
  arena->limit = limit;
  return arena;
}

void tg_box_lua_grown(lua_State *L, const tg_buf_t *out, size_t before) {
  if (out->len > TG_LIMIT_MAX_OBJECT)
    luaL_error(L, "text larger than %d MiB", TG_LIMIT_MAX_OBJECT >> 20);
  if ((before ^ out->len) >> 16)
    tg_limit_check(L);
}
