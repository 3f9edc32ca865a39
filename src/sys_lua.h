/* sys_lua.h: `taskgate.sys`, the host services the runtime builds on (files, clock, log). */
#ifndef TG_SYS_LUA_H
#define TG_SYS_LUA_H

#include <lua.h>

/* The registry field holding the --upstream URL that sys.upstream() returns. */
#define TG_SYS_UPSTREAM_KEY "taskgate.upstream_url"

/* Opens the module: list_rules, load_rule, log, now, upstream. */
int tg_sys_lua_open(lua_State *L);

#endif
