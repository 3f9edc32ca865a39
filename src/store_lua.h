/* store_lua.h: the `taskgate.db` Lua module, the runtime's only door into the store, SQLite or
 * PostgreSQL: the same functions on either (store_pg_lua.c has PostgreSQL's statements). */
#ifndef TG_STORE_LUA_H
#define TG_STORE_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "store.h"

/* Pushes the db module table (exec, row, rows, changes, the transaction owner's begin_call,
 * commit_call, abort_call, begin_turn, commit_turn, abort_turn, begin_read for a reader's read
 * turn, and close) bound to store.
 * When owned is 1 the Lua side closes the store on close() or collection; otherwise the caller
 * keeps ownership and must outlive the Lua state. */
void tg_store_lua_push(lua_State *L, tg_store_t *store, int owned);
/* The same, bound to whichever store *current names when a function runs: a rules generation
 * uses the store's writer or, for a read-only call, its worker's reader (script.h). */
void tg_store_lua_push_current(lua_State *L, tg_store_t *const *current);

/* For the db functions (their first upvalue is the store's box): the store, or a raised error
 * when it was closed. */
tg_store_t *tg_store_lua_bound(lua_State *L);
/* Raises the call's store time as spent: a timeout failure. Does not return. */
int tg_store_lua_over_time(lua_State *L);
/* PostgreSQL's exec, insert_rows, row, rows, rows_upto and rows_text (store_pg_lua.c). */
extern const luaL_Reg tg_store_pg_lua_functions[];

#endif
