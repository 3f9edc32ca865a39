/* bounded_lua.h: the library functions a rule can reach whose work happens in one C loop, in
 * versions bounded by the call's deadline (limit.h). Lua's own string.find/match/gmatch/gsub,
 * rep, upper, lower, reverse, pack, format and table.sort, move, insert, remove, concat and
 * unpack can each hold a thread for seconds or hours; the instruction hook that enforces the
 * time limit never runs inside them unless they call a function. */
#ifndef TG_BOUNDED_LUA_H
#define TG_BOUNDED_LUA_H

#include <lua.h>

/* Replaces those functions in the string and table libraries loaded in L (the string
 * metatable's methods included), for the runtime and the rules alike. */
void tg_bounded_lua_install(lua_State *L);
/* Pushes a table of the bounded string functions, and of the table ones as its field "table",
 * for specs that compare them with Lua's. */
int tg_bounded_lua_open(lua_State *L);

#endif
