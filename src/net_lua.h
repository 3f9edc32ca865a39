/* net_lua.h: `taskgate.net`, client addresses against networks (CIDR), IPv4 and IPv6. */
#ifndef TG_NET_LUA_H
#define TG_NET_LUA_H

#include <lua.h>

/* Opens the module (in_cidr, is_address, matcher); a lua_CFunction for package.preload. */
int tg_net_lua_open(lua_State *L);

#endif
