/* json_lua.h: the JSON encoder the runtime's audit trail uses (sys.json_encode). */
#ifndef TG_JSON_LUA_H
#define TG_JSON_LUA_H

#include <lua.h>

/* json_encode(value) -> compact JSON text; object keys sorted, NaN/inf and functions as null. */
int tg_json_lua_encode(lua_State *L);

#endif
