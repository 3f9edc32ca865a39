/* store_lua.h: the `taskgate.db` Lua module, the runtime's only door into SQLite. */
#ifndef TG_STORE_LUA_H
#define TG_STORE_LUA_H

#include <lua.h>

#include "store.h"

/* Pushes the db module table (exec, row, rows, changes, the transaction owner's begin_call,
 * commit_call, abort_call, begin_turn, commit_turn, abort_turn, and close) bound to store.
 * When owned is 1 the Lua side closes the store on close() or collection; otherwise the caller
 * keeps ownership and must outlive the Lua state. */
void tg_store_lua_push(lua_State *L, tg_store_t *store, int owned);

#endif
