/* box_lua.h: C memory that a Lua error must not leak. C code called from Lua that builds in a
 * malloc'd buffer or an arena holds it in a box: a full userdata on the Lua stack whose __gc and
 * __close free it (lauxlib.c's UBox). The slot is to-be-closed, so the memory goes when the C
 * function returns or raises (out of memory, the time limit, a bad value); in a coroutine that
 * dies without being closed, when the box is collected. This is the one way such memory is held:
 * no thread-local scratch, no inner pcall, no accepted leak. */
#ifndef TG_BOX_LUA_H
#define TG_BOX_LUA_H

#include <lua.h>

#include "arena.h"
#include "buf.h"
#include "limit.h"

/* Pushes a box holding an empty buffer and returns the buffer (owned by the box). */
tg_buf_t *tg_box_lua_buf(lua_State *L);
/* Pushes a box holding an empty arena that hands out at most limit bytes (0: no limit), and
 * returns the arena (owned by the box). */
tg_arena_t *tg_box_lua_arena(lua_State *L, size_t limit);

/* Raises when a boxed text passed TG_LIMIT_MAX_OBJECT, and looks at the clock (the call's time
 * limit) whenever another 64 KiB was written since `before` bytes. */
void tg_box_lua_grown(lua_State *L, const tg_buf_t *out, size_t before);

/* Appends len bytes to a boxed buffer; raises on out of memory, past TG_LIMIT_MAX_OBJECT, and
 * when the call's time is up. Text is mostly pieces of a few bytes ("<", names, quotes): those
 * are copied here, without a call. */
static inline void tg_box_lua_put(lua_State *L, tg_buf_t *out, const char *s, size_t len) {
  size_t before = out->len;
  if (len <= 16 && out->cap - before > len) { /* room for them and tg_buf's closing NUL */
    char *to = out->data + before;
    for (size_t i = 0; i < len; i++)
      to[i] = s[i];
    to[len] = '\0';
    out->len = before + len;
  } else if (tg_buf_append(out, s, len) < 0) {
    lua_pushliteral(L, "not enough memory");
    lua_error(L);
  }
  if (out->len > TG_LIMIT_MAX_OBJECT || (before ^ out->len) >> 16)
    tg_box_lua_grown(L, out, before);
}

#endif
