/* shared_lua.h: `taskgate.shared_space`, the shared key-value space (shared.h) for the runtime. */
#ifndef TG_SHARED_LUA_H
#define TG_SHARED_LUA_H

#include <lua.h>

#include "shared.h"

/* Pushes the module table (get, set, incr, take, stats, scratch) bound to space, which must
 * outlive the Lua state unless owner (a stack index, or 0) is a value that keeps it alive. */
void tg_shared_lua_push(lua_State *L, tg_shared_t *space, int owner);
/* Pushes the module bound to a new space of `capacity` bytes that the Lua state owns (freed when
 * the module is collected). Returns 0, or -1 (nothing pushed) when out of memory. */
int tg_shared_lua_push_new(lua_State *L, size_t capacity);

#endif
