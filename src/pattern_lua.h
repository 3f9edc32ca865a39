/* pattern_lua.h: string.find, match, gmatch and gsub with Lua's pattern language and results,
 * on a matcher that counts its steps and stops at the call's deadline (limit.h): Lua's own
 * matcher runs in C without a look at the clock, and a pattern with a few lazy quantifiers can
 * hold it for minutes on a few hundred bytes. */
#ifndef TG_PATTERN_LUA_H
#define TG_PATTERN_LUA_H

#include <lua.h>

int tg_pattern_lua_find(lua_State *L);
int tg_pattern_lua_match(lua_State *L);
int tg_pattern_lua_gmatch(lua_State *L);
int tg_pattern_lua_gsub(lua_State *L);

#endif
