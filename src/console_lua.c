/* console_lua.c: host.console(view, query) through the gate (see console_lua.h). */
#include "console_lua.h"

#include <lauxlib.h>

typedef struct view_call_s {
  tg_script_t *script;
  const char *view, *query;
  tg_buf_t *out;
  int status;
} view_call_t;

/* Runs inside the gate, which arms the call's time limit: a view is bounded by it too. */
static int call_view(lua_State *L) {
  view_call_t *call = lua_touserdata(L, 1);
  tg_script_push_host(call->script, L);
  lua_getfield(L, -1, "console");
  lua_pushstring(L, call->view);
  lua_pushstring(L, call->query);
  lua_call(L, 2, 2);
  call->status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 200;
  size_t len;
  const char *json = luaL_checklstring(L, -2, &len);
  if (tg_buf_append(call->out, json, len) < 0)
    luaL_error(L, "out of memory");
  return 0;
}

int tg_console_lua_view(tg_script_t *script, const char *view, const char *query, tg_buf_t *out) {
  view_call_t call = {.script = script, .view = view, .query = query, .out = out, .status = 200};
  size_t before = out->len;
  int rc = tg_script_call(script, call_view, &call);
  if (rc < 0) {
    out->len = before;
    return rc;
  }
  return call.status;
}
