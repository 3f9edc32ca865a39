/* failure_lua.h: why a call could not finish, as a value: a read-only object with a kind, a
 * message and a traceback (`taskgate.failure`). Kinds: "timeout" (the time limit), "memory"
 * (the memory limit), "error" (a bug in a rule or in the runtime). The kind is set where the
 * failure happens and read from the object, never worked out from message text. A fault is no
 * failure: it is a reply. */
#ifndef TG_FAILURE_LUA_H
#define TG_FAILURE_LUA_H

#include <lua.h>

/* Pushes a new failure; traceback may be NULL. May raise (memory). */
void tg_failure_lua_push(lua_State *L, const char *kind, const char *message, const char *traceback);
/* The kind of the failure at index, or NULL when the value is not one. The string lives as long
 * as the failure. */
const char *tg_failure_lua_kind(lua_State *L, int index);
/* What to log for the failure at index: its traceback, else its message (NULL: not a failure). */
const char *tg_failure_lua_describe(lua_State *L, int index);
/* The module: new(kind, message [, traceback]) and kind(value) (the kind, or nil). */
int tg_failure_lua_open(lua_State *L);

#endif
