/* store_lua.c: binds the store's cached statements to Lua as `taskgate.db`. */
#include "store_lua.h"

#include <lauxlib.h>
#include <string.h>

#define BOX_META "taskgate.db.store"

typedef struct store_box_s {
  tg_store_t *store;
  int owned;
} store_box_t;

static tg_store_t *bound_store(lua_State *L) {
  store_box_t *box = lua_touserdata(L, lua_upvalueindex(1));
  if (!box->store)
    luaL_error(L, "store is closed");
  return box->store;
}

/* Raises an error that names the SQL error. Does not return. */
static int raise_sql(lua_State *L, tg_store_t *store) { return luaL_error(L, "store: %s", tg_store_errmsg(store)); }

static sqlite3_stmt *prepare_and_bind(lua_State *L, tg_store_t *store) {
  size_t len;
  const char *sql = luaL_checklstring(L, 1, &len);
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, len);
  if (!stmt)
    raise_sql(L, store);
  int nargs = lua_gettop(L) - 1;
  if (nargs != sqlite3_bind_parameter_count(stmt))
    luaL_error(L, "store: statement wants %d values, got %d", sqlite3_bind_parameter_count(stmt), nargs);
  for (int i = 1; i <= nargs; i++) {
    int arg = i + 1, rc;
    switch (lua_type(L, arg)) {
    case LUA_TNIL: rc = sqlite3_bind_null(stmt, i); break;
    case LUA_TBOOLEAN: rc = sqlite3_bind_int(stmt, i, lua_toboolean(L, arg)); break;
    case LUA_TNUMBER:
      rc = lua_isinteger(L, arg) ? sqlite3_bind_int64(stmt, i, lua_tointeger(L, arg))
                                 : sqlite3_bind_double(stmt, i, lua_tonumber(L, arg));
      break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, arg, &n);
      /* No copy: the string stays on this Lua stack until the statement has run and been
       * reset, and the next use binds every parameter again. */
      rc = sqlite3_bind_text(stmt, i, s, (int)n, SQLITE_STATIC);
      break;
    }
    default: return luaL_argerror(L, arg, "store values are nil, booleans, numbers or strings"), NULL;
    }
    if (rc != SQLITE_OK)
      raise_sql(L, store);
  }
  return stmt;
}

static void push_row(lua_State *L, sqlite3_stmt *stmt) {
  int ncols = sqlite3_column_count(stmt);
  lua_createtable(L, 0, ncols);
  for (int c = 0; c < ncols; c++) {
    switch (sqlite3_column_type(stmt, c)) {
    case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(stmt, c)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(stmt, c)); break;
    case SQLITE_NULL: continue; /* a NULL column is simply absent from the row */
    default: lua_pushlstring(L, (const char *)sqlite3_column_text(stmt, c), (size_t)sqlite3_column_bytes(stmt, c));
    }
    lua_setfield(L, -2, sqlite3_column_name(stmt, c));
  }
}

/* db.exec(sql, ...) -> number of changed rows, or nil, "constraint: ..." when a constraint fails. */
static int db_exec(lua_State *L) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = prepare_and_bind(L, store);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    ;
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE) {
    lua_pushinteger(L, sqlite3_changes(tg_store_db(store)));
    return 1;
  }
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    lua_pushnil(L);
    lua_pushfstring(L, "constraint: %s", tg_store_errmsg(store));
    return 2;
  }
  return raise_sql(L, store);
}

/* db.row(sql, ...) -> the first row as a table keyed by column name, or nil. */
static int db_row(lua_State *L) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = prepare_and_bind(L, store);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    push_row(L, stmt);
  else
    lua_pushnil(L);
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return raise_sql(L, store);
  return 1;
}

/* db.rows(sql, ...) -> an array of row tables (possibly empty). */
static int db_rows(lua_State *L) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = prepare_and_bind(L, store);
  lua_newtable(L);
  int rc;
  lua_Integer n = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    push_row(L, stmt);
    lua_rawseti(L, -2, ++n);
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return raise_sql(L, store);
  return 1;
}

static int push_outcome(lua_State *L, tg_store_t *store, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, tg_store_errmsg(store));
  return 2;
}

/* db.begin(), db.commit(), db.rollback() -> true, or nil and the reason. */
static int db_begin(lua_State *L) {
  tg_store_t *store = bound_store(L);
  return push_outcome(L, store, tg_store_begin(store));
}

static int db_commit(lua_State *L) {
  tg_store_t *store = bound_store(L);
  return push_outcome(L, store, tg_store_commit(store));
}

static int db_rollback(lua_State *L) {
  tg_store_t *store = bound_store(L);
  return push_outcome(L, store, tg_store_rollback(store));
}

/* db.changes() -> rows changed on this store connection since it opened. */
static int db_changes(lua_State *L) {
  tg_store_t *store = bound_store(L);
  lua_pushinteger(L, sqlite3_total_changes64(tg_store_db(store)));
  return 1;
}

/* db.close(): only meaningful for a store the Lua side owns (specs); a no-op otherwise. */
static int db_close(lua_State *L) {
  store_box_t *box = lua_touserdata(L, lua_upvalueindex(1));
  if (box->owned && box->store)
    tg_store_close(box->store);
  box->store = box->owned ? NULL : box->store;
  return 0;
}

static int box_gc(lua_State *L) {
  store_box_t *box = luaL_checkudata(L, 1, BOX_META);
  if (box->owned && box->store)
    tg_store_close(box->store);
  box->store = NULL;
  return 0;
}

static const luaL_Reg db_functions[] = {
    {"exec", db_exec},         {"row", db_row},     {"rows", db_rows},       {"begin", db_begin}, {"commit", db_commit},
    {"rollback", db_rollback}, {"close", db_close}, {"changes", db_changes}, {NULL, NULL},
};

void tg_store_lua_push(lua_State *L, tg_store_t *store, int owned) {
  lua_newtable(L);
  store_box_t *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->store = store;
  box->owned = owned;
  if (luaL_newmetatable(L, BOX_META)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  luaL_setfuncs(L, db_functions, 1);
}
