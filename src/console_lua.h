/* console_lua.h: the console's views of the store, answered by the runtime's taskgate.console
 * module in the main worker's rules generation. */
#ifndef TG_CONSOLE_LUA_H
#define TG_CONSOLE_LUA_H

#include "buf.h"
#include "script.h"

/* Appends the JSON that host.console(view, query) returns: view is "ports", "queue", "search",
 * "audit" or "self_check", query the request's query string. The caller holds the store lock
 * and runs on the main thread (the Lua state is the main worker's). Returns the view's HTTP
 * status (200, or 400 with {"error": message} for a bad filter), or -1 with the error in out's
 * place: tg_script_last_error(script). */
int tg_console_lua_view(tg_script_t *script, const char *view, const char *query, tg_buf_t *out);

#endif
