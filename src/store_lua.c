/* store_lua.c: binds the store's cached statements to Lua as `taskgate.db`. */
#include "store_lua.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "box_lua.h"
#include "budget.h"
#include "failure_lua.h"
#include "insert_rows.h"
#include "limit.h"
#include "rows_text.h"
#include "txn.h"

#define BOX_META "taskgate.db.store"

typedef struct store_box_s {
  tg_store_t *store;
  tg_store_t *const *current; /* when set, the connection in use is *current (tg_store_lua_push_current) */
  int owned;
} store_box_t;

tg_store_t *tg_store_lua_bound(lua_State *L) {
  store_box_t *box = lua_touserdata(L, lua_upvalueindex(1));
  tg_store_t *store = box->current ? *box->current : box->store;
  if (!store)
    luaL_error(L, "store is closed");
  return store;
}

#define bound_store tg_store_lua_bound

/* Raises an error that names the SQL error. Does not return. */
static int raise_sql(lua_State *L, tg_store_t *store) {
  if (tg_store_is_reader(store) && (sqlite3_errcode(tg_store_db(store)) & 0xff) == SQLITE_READONLY)
    return luaL_error(L, "store: a read-only method cannot write (taskgate.interfaces.read_only): %s",
                      tg_store_errmsg(store));
  return luaL_error(L, "store: %s", tg_store_errmsg(store));
}

/* Raises the call's store time as spent: a timeout (failure_lua.h), whatever its message says. */
int tg_store_lua_over_time(lua_State *L) {
  const char *message = lua_pushfstring(L, "store time limit of %d ms exceeded", tg_budget_store_limit_ms());
  luaL_traceback(L, L, message, 1);
  tg_failure_lua_push(L, "timeout", message, lua_tostring(L, -1));
  return lua_error(L);
}

/* Binds value `arg` of the Lua stack to parameter i. No copy of a string: it stays on the
 * stack (or in a table on it) until the statement has run and been reset, and the next use
 * of the statement binds every parameter again. Returns an SQLite result code, or -1 when the
 * value is of a type the store does not take. */
static int bind_value(lua_State *L, sqlite3_stmt *stmt, int i, int arg) {
  switch (lua_type(L, arg)) {
  case LUA_TNIL: return sqlite3_bind_null(stmt, i);
  case LUA_TBOOLEAN: return sqlite3_bind_int(stmt, i, lua_toboolean(L, arg));
  case LUA_TNUMBER:
    return lua_isinteger(L, arg) ? sqlite3_bind_int64(stmt, i, lua_tointeger(L, arg))
                                 : sqlite3_bind_double(stmt, i, lua_tonumber(L, arg));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, arg, &n);
    return sqlite3_bind_text(stmt, i, s, (int)n, SQLITE_STATIC);
  }
  default: return -1;
  }
}

/* The cached statement for the SQL text at stack index `at`, bound to the values after it. */
static sqlite3_stmt *prepare_and_bind(lua_State *L, tg_store_t *store, int at) {
  size_t len;
  const char *sql = luaL_checklstring(L, at, &len);
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, len);
  if (!stmt)
    raise_sql(L, store);
  int nargs = lua_gettop(L) - at;
  if (nargs != sqlite3_bind_parameter_count(stmt))
    luaL_error(L, "store: statement wants %d values, got %d", sqlite3_bind_parameter_count(stmt), nargs);
  for (int i = 1; i <= nargs; i++) {
    int rc = bind_value(L, stmt, i, at + i);
    if (rc < 0)
      luaL_argerror(L, at + i, "store values are nil, booleans, numbers or strings");
    if (rc > 0)
      raise_sql(L, store);
  }
  return stmt;
}

enum { STOPPED_OVER_STEPS = -1 };

/* One sqlite3_step as store work of the call under way (budget.h): refused once the call's
 * store time is spent, stopped (if it only reads) when it runs past it or past step_limit.
 * Returns the step's result code, or STOPPED_OVER_STEPS. Raises on the time limit. */
static int step(lua_State *L, tg_store_t *store, sqlite3_stmt *stmt, long long step_limit) {
  if (tg_budget_store_begin() < 0) {
    tg_budget_store_end();
    sqlite3_reset(stmt);
    tg_store_lua_over_time(L);
  }
  tg_store_watch(store, stmt, step_limit);
  int rc = sqlite3_step(stmt);
  tg_budget_store_end();
  int stopped = tg_store_unwatch(store);
  if (stopped == TG_STORE_OVER_TIME) {
    sqlite3_reset(stmt);
    tg_store_lua_over_time(L);
  }
  return stopped == TG_STORE_OVER_STEPS ? STOPPED_OVER_STEPS : rc;
}

/* The names of stmt's columns, pushed as Lua strings from stack index `names` on, so that each
 * row's fields are set without looking a name up by its C text. */
static int push_column_names(lua_State *L, sqlite3_stmt *stmt) {
  int ncols = sqlite3_column_count(stmt);
  luaL_checkstack(L, ncols + 4, "too many columns");
  int names = lua_gettop(L) + 1;
  for (int c = 0; c < ncols; c++)
    lua_pushstring(L, sqlite3_column_name(stmt, c));
  return names;
}

static void push_row(lua_State *L, sqlite3_stmt *stmt, int names) {
  int ncols = sqlite3_column_count(stmt);
  lua_createtable(L, 0, ncols);
  for (int c = 0; c < ncols; c++) {
    lua_pushvalue(L, names + c);
    switch (sqlite3_column_type(stmt, c)) {
    case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(stmt, c)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(stmt, c)); break;
    case SQLITE_NULL: lua_pop(L, 1); continue; /* a NULL column is simply absent from the row */
    default: lua_pushlstring(L, (const char *)sqlite3_column_text(stmt, c), (size_t)sqlite3_column_bytes(stmt, c));
    }
    lua_rawset(L, -3);
  }
}

/* One row alone: its column names looked up by their C text, which costs less than pushing
 * them all first when there is only the one row to name. */
static void push_one_row(lua_State *L, sqlite3_stmt *stmt) {
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

/* For a statement that did not end well: nil and "constraint: ..." for a failed constraint
 * (returns 2); raises on anything else. */
static int constraint_or_raise(lua_State *L, tg_store_t *store, int rc) {
  if ((rc & 0xff) != SQLITE_CONSTRAINT)
    return raise_sql(L, store);
  lua_pushnil(L);
  lua_pushfstring(L, "constraint: %s", tg_store_errmsg(store));
  return 2;
}

/* db.exec(sql, ...) -> number of changed rows, or nil, "constraint: ..." when a constraint fails. */
static int db_exec(lua_State *L) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = prepare_and_bind(L, store, 1);
  int rc;
  while ((rc = step(L, store, stmt, 0)) == SQLITE_ROW)
    ;
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE) {
    lua_pushinteger(L, sqlite3_changes(tg_store_db(store)));
    return 1;
  }
  return constraint_or_raise(L, store, rc);
}

/* Binds value `index` of the statement being filled (insert_rows.h) from the top of the stack. */
static int bind_top(lua_State *L, void *stmt, int index) { return bind_value(L, stmt, index + 1, -1) < 0 ? -1 : 0; }

/* One statement of db.insert_rows (insert_rows.h) on SQLite. */
static long long insert_batch(lua_State *L, const char *sql, size_t len, const tg_insert_batch_t *batch) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, len);
  if (!stmt)
    return raise_sql(L, store);
  tg_insert_each_value(L, batch, bind_top, stmt);
  int rc = step(L, store, stmt, 0);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE)
    return sqlite3_changes(tg_store_db(store));
  constraint_or_raise(L, store, rc);
  return -1;
}

/* db.insert_rows(head, columns, rows [, shared]): see insert_rows.h. */
static int db_insert_rows(lua_State *L) {
  bound_store(L);
  return tg_insert_rows(L, insert_batch);
}

/* db.row(sql, ...) -> the first row as a table keyed by column name, or nil. */
static int db_row(lua_State *L) {
  tg_store_t *store = bound_store(L);
  sqlite3_stmt *stmt = prepare_and_bind(L, store, 1);
  int rc = step(L, store, stmt, 0);
  if (rc == SQLITE_ROW)
    push_one_row(L, stmt);
  else
    lua_pushnil(L);
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return raise_sql(L, store);
  return 1;
}

/* Ends a listing's loop, whose last step gave rc, and resets its statement. Returns 0 when the
 * statement ran to its end; 2, with nil and the reason pushed, when the loop stopped at its row
 * limit ("too many rows") or its step limit ("too much work"); raises any other error. */
static int listing_stopped(lua_State *L, tg_store_t *store, sqlite3_stmt *stmt, int rc) {
  sqlite3_reset(stmt);
  if (rc == SQLITE_ROW || rc == STOPPED_OVER_STEPS) {
    lua_pushnil(L);
    lua_pushstring(L, rc == SQLITE_ROW ? "too many rows" : "too much work");
    return 2;
  }
  if (rc != SQLITE_DONE)
    return raise_sql(L, store);
  return 0;
}

/* Pushes the rows of a bound statement as an array, up to max_rows (0: all). Returns 1; or,
 * with nil and the reason pushed, 2: "too many rows" past max_rows, "too much work" when the
 * statement ran past step_limit. */
static int push_rows(lua_State *L, tg_store_t *store, sqlite3_stmt *stmt, lua_Integer max_rows, long long step_limit) {
  int names = push_column_names(L, stmt);
  lua_newtable(L);
  int rc;
  lua_Integer n = 0;
  while ((rc = step(L, store, stmt, step_limit)) == SQLITE_ROW) {
    if (max_rows && n == max_rows)
      break;
    push_row(L, stmt, names);
    lua_rawseti(L, -2, ++n);
  }
  int stopped = listing_stopped(L, store, stmt, rc);
  return stopped ? stopped : 1;
}

/* db.rows(sql, ...) -> an array of row tables (possibly empty). */
static int db_rows(lua_State *L) {
  tg_store_t *store = bound_store(L);
  return push_rows(L, store, prepare_and_bind(L, store, 1), 0, 0);
}

/* A listed row takes some 25 steps (13 columns of a join); a row looked at and passed over
 * about 10. Four times a full answer's work is some 20 ms of SQLite at the most. */
enum { STEPS_PER_ROW = 100, STEPS_AT_LEAST = 100000 };

/* The steps a listing of at most max_rows rows may take. */
static long long listing_steps(lua_Integer max_rows) {
  long long steps = (long long)(max_rows + 1) * STEPS_PER_ROW;
  return steps < STEPS_AT_LEAST ? STEPS_AT_LEAST : steps;
}

/* db.rows_upto(max_rows, sql, ...) -> an array of at most max_rows row tables; or nil and
 * "too many rows" when more would come, nil and "too much work" when the statement has looked
 * through about as much as STEPS_PER_ROW virtual-machine steps a row allowed (and at least
 * STEPS_AT_LEAST) without getting there. A query whose answer must stay bounded, whatever
 * the filters, uses this: its cost is bounded by max_rows, never by the store's size. */
static int db_rows_upto(lua_State *L) {
  tg_store_t *store = bound_store(L);
  lua_Integer max_rows = luaL_checkinteger(L, 1);
  luaL_argcheck(L, max_rows > 0, 1, "at least one row");
  return push_rows(L, store, prepare_and_bind(L, store, 2), max_rows, listing_steps(max_rows));
}

/* The statement's current row as rows_text.h reads it. */
static const char *stmt_name(void *self, int c) { return sqlite3_column_name(self, c); }

static int stmt_kind(void *self, int c) {
  switch (sqlite3_column_type(self, c)) {
  case SQLITE_NULL: return TG_VALUE_NULL;
  case SQLITE_INTEGER: return TG_VALUE_INTEGER;
  default: return TG_VALUE_TEXT;
  }
}

static const char *stmt_text(void *self, int c, char *number, size_t cap, size_t *len) {
  if (sqlite3_column_type(self, c) == SQLITE_INTEGER) {
    *len = (size_t)snprintf(number, cap, "%lld", (long long)sqlite3_column_int64(self, c));
    return number;
  }
  *len = (size_t)sqlite3_column_bytes(self, c);
  return (const char *)sqlite3_column_text(self, c);
}

/* db.rows_text(form, element, depth, max_rows, sql, ...) -> text, rows, the rows of the
 * statement written as reply text (rows_text.h): form "xml", each row as <element>, a child per
 * non-NULL column, one per line, indented for `depth` (0..14) as the reply encoder would
 * (reply.rows places it as it is); form "json", a JSON array of an object per row. Like
 * db.rows_upto: nil and "too many rows" when more than max_rows would come, nil and "too much
 * work" when the statement looks through far more than it lists. */
static int db_rows_text(lua_State *L) {
  tg_store_t *store = bound_store(L);
  tg_rows_text_form_t form = tg_rows_text_args(L);
  long long step_limit = listing_steps(form.max_rows);
  sqlite3_stmt *stmt = prepare_and_bind(L, store, 5);
  tg_buf_t *out = tg_box_lua_buf(L); /* above the bound values, which stay until the reset */
  tg_row_source_t row = {stmt, sqlite3_column_count(stmt), stmt_name, stmt_kind, stmt_text};
  lua_Integer rows = 0;
  unsigned budget = 0;
  int rc;
  while ((rc = step(L, store, stmt, step_limit)) == SQLITE_ROW) {
    if (rows == form.max_rows)
      break;
    tg_rows_text_row(L, out, &form, &row, rows++);
    tg_limit_spend(L, &budget, 1);
  }
  int stopped = listing_stopped(L, store, stmt, rc);
  return stopped ? stopped : tg_rows_text_finish(L, out, &form, rows);
}

static int push_outcome(lua_State *L, tg_store_t *store, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  /* The owner refuses some steps itself (a call already open, a turn SQLite rolled back). */
  lua_pushstring(L, rc == -SQLITE_MISUSE || rc == -SQLITE_ABORT ? sqlite3_errstr(-rc) : tg_store_errmsg(store));
  if (rc != -SQLITE_CANTOPEN)
    return 2;
  lua_pushstring(L, "unavailable"); /* the database is out of reach (PostgreSQL) */
  return 3;
}

/* The call's transaction, from its one owner (txn.h): db.begin_call(), db.commit_call() -> true,
 * or nil and the reason; db.abort_call(). The turn around calls: db.begin_turn(),
 * db.commit_turn() likewise; db.abort_turn(). Store work as the rest, timed apart from the
 * rule's Lua, but never refused: a call over its store time must still be rolled back. */
static int transaction(lua_State *L, int (*operation)(tg_store_t *)) {
  tg_store_t *store = bound_store(L);
  tg_budget_store_begin();
  int rc = operation(store);
  tg_budget_store_end();
  return push_outcome(L, store, rc);
}

static int undo(lua_State *L, void (*operation)(tg_store_t *)) {
  tg_store_t *store = bound_store(L);
  tg_budget_store_begin();
  operation(store);
  tg_budget_store_end();
  return 0;
}

static int db_begin_call(lua_State *L) { return transaction(L, tg_txn_begin_call); }

static int db_commit_call(lua_State *L) { return transaction(L, tg_txn_commit_call); }

static int db_abort_call(lua_State *L) { return undo(L, tg_txn_abort_call); }

static int db_begin_turn(lua_State *L) { return transaction(L, tg_txn_begin_turn); }

static int db_commit_turn(lua_State *L) { return transaction(L, tg_txn_commit_turn); }

static int db_begin_read(lua_State *L) { return transaction(L, tg_txn_begin_read); }

static int db_abort_turn(lua_State *L) { return undo(L, tg_txn_abort_turn); }

/* db.conflicted() -> whether a statement of the call last begun was a deadlock's victim or a
 * serialisation failure (txn.h): nothing of it is stored, and run again it may pass. */
static int db_conflicted(lua_State *L) {
  lua_pushboolean(L, tg_store_txn(bound_store(L))->conflict);
  return 1;
}

/* db.changes() -> rows changed on this store connection since it opened. */
static int db_changes(lua_State *L) {
  tg_store_t *store = bound_store(L);
  lua_pushinteger(L, tg_store_total_changes(store));
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

/* SQLite's statements; PostgreSQL's are tg_store_pg_lua_functions (store_pg_lua.c). */
static const luaL_Reg sqlite_functions[] = {
    {"exec", db_exec},
    {"insert_rows", db_insert_rows},
    {"row", db_row},
    {"rows", db_rows},
    {"rows_upto", db_rows_upto},
    {"rows_text", db_rows_text},
    {NULL, NULL},
};

static const luaL_Reg db_functions[] = {
    {"changes", db_changes},
    {"conflicted", db_conflicted},
    {"begin_call", db_begin_call},
    {"commit_call", db_commit_call},
    {"abort_call", db_abort_call},
    {"begin_turn", db_begin_turn},
    {"commit_turn", db_commit_turn},
    {"abort_turn", db_abort_turn},
    {"begin_read", db_begin_read},
    {"close", db_close},
    {NULL, NULL},
};

static void push_box(lua_State *L, tg_store_t *store, tg_store_t *const *current, int owned) {
  lua_newtable(L);
  store_box_t *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->store = store;
  box->current = current;
  box->owned = owned;
  if (luaL_newmetatable(L, BOX_META)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1); /* the box is the upvalue of both sets of functions */
  lua_insert(L, -3);
  luaL_setfuncs(L, tg_store_pg(store) ? tg_store_pg_lua_functions : sqlite_functions, 1);
  lua_insert(L, -2);
  luaL_setfuncs(L, db_functions, 1);
  /* db.dialect: the few statements that must differ (a row locked for the call) ask this */
  lua_pushstring(L, tg_store_pg(store) ? "postgresql" : "sqlite");
  lua_setfield(L, -2, "dialect");
}

void tg_store_lua_push(lua_State *L, tg_store_t *store, int owned) { push_box(L, store, NULL, owned); }

void tg_store_lua_push_current(lua_State *L, tg_store_t *const *current) { push_box(L, *current, current, 0); }
