/* view_lua.h: the read-only views of a call that policies and rules receive
 * (lua/taskgate/view.lua), as the C encoders see them. A view is an empty table; what it shows,
 * the gateway's own table, is in a weak-keyed side table kept in the registry (sys.VIEWS), so
 * no rule can reach it through the view; the encoders write what it shows. */
#ifndef TG_VIEW_LUA_H
#define TG_VIEW_LUA_H

#include <lua.h>

/* Pushes the side table view -> the table it shows (sys.VIEWS), made on first use. */
void tg_view_lua_push_views(lua_State *L);

/* If the table at `index` (absolute) is a view, puts the table it shows in its place. A plain
 * table (no metatable) costs one check. */
void tg_view_lua_unwrap(lua_State *L, int index);

/* sys.view_index(view, key): a view's __index, in C because every field a rule reads from its
 * call goes through it: the value the shown table holds, a nested table as a new view. A
 * closure whose upvalue is the side table (tg_view_lua_push_views). */
int tg_view_lua_index(lua_State *L);

#endif
