/* coroutine_lua.h: coroutine.resume, close and wrap as the runtime installs them: the same
 * functions, but each thread keeps a list of the coroutines it is running, so that the time
 * limit can stop Lua code whichever coroutine it runs in. */
#ifndef TG_COROUTINE_LUA_H
#define TG_COROUTINE_LUA_H

#include <lua.h>

/* Replaces resume, close and wrap in the coroutine library loaded in L. */
void tg_coroutine_lua_track(lua_State *L);
/* Sets hook on every coroutine the calling thread is running (resumed and not yet returned or
 * yielded). Async-signal-safe: the time limit calls it from a signal handler. */
void tg_coroutine_lua_hook_running(lua_Hook hook, int mask, int count);

/* guard(fn, threads) -> a function that calls fn with its arguments but refuses a first argument
 * that is a key of threads (sys.guard: the sandbox keeps rules off the runtime's coroutines). */
int tg_coroutine_lua_guard(lua_State *L);

#endif
