/* coroutine_lua.c: coroutines that the time limit can find (see coroutine_lua.h). Each
 * replacement calls Lua's own function, so resume, close and wrap behave exactly as before. */
#include "coroutine_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>

/* Lua refuses to nest C calls deeper than 200 (LUAI_MAXCCALLS), and every resume is one. */
enum { RUNNING_MAX = 256 };

/* What this thread runs; the signal handler reads it, so an entry is written before it is
 * counted. */
static __thread lua_State *volatile running[RUNNING_MAX];
static __thread volatile sig_atomic_t running_count;

/* Calls the library's own function (upvalue 1) with this call's arguments, with co counted
 * as running meanwhile. Its errors pass through unchanged. */
static int call_running(lua_State *L, lua_State *co) {
  int count = running_count;
  if (co) {
    if (count == RUNNING_MAX)
      return luaL_error(L, "coroutines nested too deep");
    running[count] = co;
    running_count = count + 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  running_count = count;
  if (status != LUA_OK)
    return lua_error(L);
  return lua_gettop(L);
}

/* resume(co, ...) and close(co); co stays on the stack, so it lives while it runs. */
static int resume_or_close(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD); /* raised here, the message names this function */
  return call_running(L, lua_tothread(L, 1));
}

/* A function made by wrap: upvalue 1 is the library's, upvalue 2 its coroutine. */
static int call_wrapped(lua_State *L) { return call_running(L, lua_tothread(L, lua_upvalueindex(2))); }

static int wrap(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  lua_getupvalue(L, -1, 1); /* the library keeps the coroutine as its function's only upvalue */
  if (!lua_isthread(L, -1))
    return luaL_error(L, "coroutine.wrap: unexpected library function");
  lua_pushcclosure(L, call_wrapped, 2);
  return 1;
}

static void replace(lua_State *L, const char *name, lua_CFunction replacement) {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, replacement, 1);
  lua_setfield(L, -2, name);
}

void tg_coroutine_lua_track(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, LUA_COLIBNAME);
  replace(L, "resume", resume_or_close);
  replace(L, "close", resume_or_close);
  replace(L, "wrap", wrap);
  lua_pop(L, 2);
}

void tg_coroutine_lua_hook_running(lua_Hook hook, int mask, int count) {
  for (int i = 0; i < running_count; i++)
    lua_sethook(running[i], hook, mask, count);
}

/* Calls upvalue 1 with its arguments, unless the first is a key of the table in upvalue 2 (the
 * runtime's own coroutines). Being C, it adds no frame a message would name: the library's
 * errors read as they always do. */
static int guarded(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTHREAD) {
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
      return luaL_error(L, "that coroutine is the gateway's, not the rule's");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int tg_coroutine_lua_guard(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushcclosure(L, guarded, 2);
  return 1;
}
