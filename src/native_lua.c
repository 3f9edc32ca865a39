/* native_lua.c: taskgate_native.so, the C bindings as a plain Lua module so specs can run the
 * real runtime and rules against a real store without the HTTP front. */
#include <lauxlib.h>

#include "admin_sql.h"
#include "bounded_lua.h"
#include "failure_lua.h"
#include "net_lua.h"
#include "shared_lua.h"
#include "store_lua.h"
#include "sys_lua.h"
#include "xml.h"
#include "xml_lua.h"

/* native.admin_statements() -> every statement /status and /metrics run (admin_sql.h). */
static int admin_statements(lua_State *L) {
  static const char *const statements[] = TG_ADMIN_SQL_ALL;
  lua_createtable(L, (int)(sizeof statements / sizeof statements[0]), 0);
  for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
    lua_pushstring(L, statements[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* native.open_store(path) -> a `taskgate.db` table that owns the store at path. */
static int open_store(lua_State *L) {
  char err[512];
  tg_store_t *store = tg_store_open(luaL_checkstring(L, 1), TG_SYNC_NORMAL, err, sizeof err);
  if (!store)
    return luaL_error(L, "%s", err);
  tg_store_lua_push(L, store, 1);
  return 1;
}

/* native.open_reader(path) -> a `taskgate.db` table that owns a read connection to the SQLite
 * store at path (tg_store_open_reader: it refuses every write, as a worker's reader does). */
static int open_reader(lua_State *L) {
  char err[512];
  tg_store_t *store = tg_store_open_reader(luaL_checkstring(L, 1), err, sizeof err);
  if (!store)
    return luaL_error(L, "%s", err);
  tg_store_lua_push(L, store, 1);
  return 1;
}

/* native.new_shared_space(capacity) -> a `taskgate.shared_space` table on a new, empty space. */
static int new_shared_space(lua_State *L) {
  lua_Integer capacity = luaL_optinteger(L, 1, 8 << 20);
  if (tg_shared_lua_push_new(L, (size_t)capacity) < 0)
    return luaL_error(L, "out of memory");
  return 1;
}

int luaopen_taskgate_native(lua_State *L) {
  tg_xml_init();
  lua_newtable(L);
  lua_pushcfunction(L, open_store);
  lua_setfield(L, -2, "open_store");
  lua_pushcfunction(L, open_reader);
  lua_setfield(L, -2, "open_reader");
  lua_pushcfunction(L, new_shared_space);
  lua_setfield(L, -2, "new_shared_space");
  tg_xml_lua_open(L);
  lua_setfield(L, -2, "xml");
  tg_net_lua_open(L);
  lua_setfield(L, -2, "net");
  tg_sys_lua_push(L, NULL);
  lua_setfield(L, -2, "sys");
  tg_bounded_lua_open(L);
  lua_setfield(L, -2, "bounded");
  tg_failure_lua_open(L);
  lua_setfield(L, -2, "failure");
  lua_pushcfunction(L, admin_statements);
  lua_setfield(L, -2, "admin_statements");
  return 1;
}
