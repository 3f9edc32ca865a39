/* insert_rows.c: db.insert_rows' frame, shared by both stores (see insert_rows.h). */
#include "insert_rows.h"

#include <lauxlib.h>

enum { ROWS_PER_INSERT = 128, MAX_INSERT_COLUMNS = 64 };

/* The text of an INSERT of `rows` rows of `ncols` values: head, then "VALUES (?, ...), ...".
 * Pushed as a Lua string; a bulk insert uses at most eight such texts (rows a power of two). */
static const char *push_insert_text(lua_State *L, const char *head, int ncols, int rows, size_t *len) {
  luaL_Buffer text;
  luaL_buffinit(L, &text);
  luaL_addstring(&text, head);
  luaL_addstring(&text, " VALUES ");
  for (int r = 0; r < rows; r++) {
    luaL_addstring(&text, r ? ",(?" : "(?");
    for (int c = 1; c < ncols; c++)
      luaL_addstring(&text, ",?");
    luaL_addchar(&text, ')');
  }
  luaL_pushresult(&text);
  return lua_tolstring(L, -1, len);
}

/* Each value of the batch's rows on top of the stack in turn, given to set. */
static void set_values(lua_State *L, const tg_insert_batch_t *batch, tg_insert_set_fn set, void *ctx) {
  for (int r = 0; r < batch->count; r++) {
    lua_Integer row = batch->first + r;
    if (lua_rawgeti(L, batch->rows, row) != LUA_TTABLE)
      luaL_error(L, "store: insert_rows: row %d is not a table", (int)row);
    for (int c = 0; c < batch->ncols; c++) {
      lua_pushvalue(L, batch->names + c);
      if (lua_rawget(L, -2) == LUA_TNIL && batch->shared) {
        lua_pop(L, 1);
        lua_pushvalue(L, batch->names + c);
        lua_rawget(L, batch->shared);
      }
      if (set(L, ctx, r * batch->ncols + c) < 0)
        luaL_error(L, "store: insert_rows: row %d: %s is not nil, a boolean, a number or a string", (int)row,
                   lua_tostring(L, batch->names + c));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

void tg_insert_each_value(lua_State *L, const tg_insert_batch_t *batch, tg_insert_set_fn set, void *ctx) {
  set_values(L, batch, set, ctx);
}

/* db.insert_rows(head, columns, rows [, shared]) -> the number of rows inserted; or nil,
 * "constraint: ...", and the first row of the statement that failed (the statements before
 * it stay done: the call's transaction decides). head is an INSERT without its values
 * ('INSERT INTO task (task_id, bin_id)'); each row of the array `rows` gives its values by
 * the names in `columns`, a name a row lacks taken from `shared`. */
int tg_insert_rows(lua_State *L, tg_insert_run_fn run) {
  const char *head = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  tg_insert_batch_t batch = {.rows = 3, .shared = lua_istable(L, 4) ? 4 : 0};
  lua_settop(L, 4);
  batch.ncols = (int)lua_rawlen(L, 2);
  luaL_argcheck(L, batch.ncols > 0 && batch.ncols <= MAX_INSERT_COLUMNS, 2, "1 to 64 column names");
  luaL_checkstack(L, batch.ncols + 8, "too many columns");
  batch.names = lua_gettop(L) + 1;
  for (int c = 1; c <= batch.ncols; c++)
    if (lua_rawgeti(L, 2, c) != LUA_TSTRING)
      return luaL_argerror(L, 2, "column names are strings");
  int base = lua_gettop(L);
  lua_Integer changed = 0, n = (lua_Integer)lua_rawlen(L, 3);
  for (batch.first = 1; batch.first <= n; batch.first += batch.count) {
    batch.count = ROWS_PER_INSERT;
    while (batch.count > n - batch.first + 1)
      batch.count /= 2;
    size_t len;
    const char *sql = push_insert_text(L, head, batch.ncols, batch.count, &len);
    long long inserted = run(L, sql, len, &batch);
    if (inserted < 0) {
      lua_pushinteger(L, batch.first);
      return 3;
    }
    changed += inserted;
    lua_settop(L, base);
  }
  lua_pushinteger(L, changed);
  return 1;
}
