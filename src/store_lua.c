/* store_lua.c: binds the store's cached statements to Lua as `taskgate.db`. */
#include "store_lua.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "box_lua.h"
#include "budget.h"
#include "failure_lua.h"
#include "limit.h"
#include "txn.h"
#include "xml.h"

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

/* Raises the call's store time as spent: a timeout (failure_lua.h), whatever its message says. */
static int raise_over_time(lua_State *L) {
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
    raise_over_time(L);
  }
  tg_store_watch(store, stmt, step_limit);
  int rc = sqlite3_step(stmt);
  tg_budget_store_end();
  int stopped = tg_store_unwatch(store);
  if (stopped == TG_STORE_OVER_TIME) {
    sqlite3_reset(stmt);
    raise_over_time(L);
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

/* Binds rows first .. first + count - 1 of the array at `rows`: value c of a row is its field
 * columns[c], else shared's (0: none). The column names sit on the stack from `names` on.
 * No string is copied: each stays in its row (or shared) table, which stays on the stack
 * until the statement has run. Returns 0, or raises naming a value the store does not take. */
static void bind_rows(lua_State *L, sqlite3_stmt *stmt, int rows, lua_Integer first, int count, int ncols, int names,
                      int shared) {
  for (int r = 0; r < count; r++) {
    if (lua_rawgeti(L, rows, first + r) != LUA_TTABLE)
      luaL_error(L, "store: insert_rows: row %d is not a table", (int)(first + r));
    for (int c = 0; c < ncols; c++) {
      lua_pushvalue(L, names + c);
      if (lua_rawget(L, -2) == LUA_TNIL && shared) {
        lua_pop(L, 1);
        lua_pushvalue(L, names + c);
        lua_rawget(L, shared);
      }
      if (bind_value(L, stmt, r * ncols + c + 1, -1) < 0)
        luaL_error(L, "store: insert_rows: row %d: %s is not nil, a boolean, a number or a string", (int)(first + r),
                   lua_tostring(L, names + c));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/* db.insert_rows(head, columns, rows [, shared]) -> the number of rows inserted; or nil,
 * "constraint: ...", and the first row of the statement that failed (the statements before
 * it stay done: the call's transaction decides). head is an INSERT without its values
 * ('INSERT INTO task (task_id, bin_id)'); each row of the array `rows` gives its values by
 * the names in `columns`, a name a row lacks taken from `shared`. Rows go in statements of up
 * to ROWS_PER_INSERT rows: a bulk insert costs no round trip through Lua per row, and SQLite
 * opens a statement journal per statement, not per row. */
static int db_insert_rows(lua_State *L) {
  tg_store_t *store = bound_store(L);
  const char *head = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int shared = lua_istable(L, 4) ? 4 : 0;
  lua_settop(L, 4);
  int ncols = (int)lua_rawlen(L, 2);
  luaL_argcheck(L, ncols > 0 && ncols <= MAX_INSERT_COLUMNS, 2, "1 to 64 column names");
  luaL_checkstack(L, ncols + 8, "too many columns");
  int names = lua_gettop(L) + 1;
  for (int c = 1; c <= ncols; c++)
    if (lua_rawgeti(L, 2, c) != LUA_TSTRING)
      return luaL_argerror(L, 2, "column names are strings");
  lua_Integer changed = 0, n = (lua_Integer)lua_rawlen(L, 3);
  for (lua_Integer first = 1; first <= n;) {
    int count = ROWS_PER_INSERT;
    while (count > n - first + 1)
      count /= 2;
    size_t len;
    const char *sql = push_insert_text(L, head, ncols, count, &len);
    sqlite3_stmt *stmt = tg_store_prepare(store, sql, len);
    if (!stmt)
      return raise_sql(L, store);
    bind_rows(L, stmt, 3, first, count, ncols, names, shared);
    int rc = step(L, store, stmt, 0);
    sqlite3_reset(stmt);
    lua_pop(L, 1);
    if (rc != SQLITE_DONE) {
      constraint_or_raise(L, store, rc);
      lua_pushinteger(L, first);
      return 3;
    }
    changed += sqlite3_changes(tg_store_db(store));
    first += count;
  }
  lua_pushinteger(L, changed);
  return 1;
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
  sqlite3_reset(stmt);
  if (rc == SQLITE_ROW || rc == STOPPED_OVER_STEPS) {
    lua_pushnil(L);
    lua_pushstring(L, rc == SQLITE_ROW ? "too many rows" : "too much work");
    return 2;
  }
  if (rc != SQLITE_DONE)
    return raise_sql(L, store);
  return 1;
}

/* db.rows(sql, ...) -> an array of row tables (possibly empty). */
static int db_rows(lua_State *L) {
  tg_store_t *store = bound_store(L);
  return push_rows(L, store, prepare_and_bind(L, store, 1), 0, 0);
}

/* A listed row takes some 25 steps (13 columns of a join); a row looked at and passed over
 * about 10. Four times a full answer's work is some 20 ms of SQLite at the most. */
enum { STEPS_PER_ROW = 100, STEPS_AT_LEAST = 100000 };

/* db.rows_upto(max_rows, sql, ...) -> an array of at most max_rows row tables; or nil and
 * "too many rows" when more would come, nil and "too much work" when the statement has looked
 * through about as much as STEPS_PER_ROW virtual-machine steps a row allowed (and at least
 * STEPS_AT_LEAST) without getting there. A query whose answer must stay bounded, whatever
 * the filters, uses this: its cost is bounded by max_rows, never by the store's size. */
static int db_rows_upto(lua_State *L) {
  tg_store_t *store = bound_store(L);
  lua_Integer max_rows = luaL_checkinteger(L, 1);
  luaL_argcheck(L, max_rows > 0, 1, "at least one row");
  long long step_limit = (long long)(max_rows + 1) * STEPS_PER_ROW;
  if (step_limit < STEPS_AT_LEAST)
    step_limit = STEPS_AT_LEAST;
  return push_rows(L, store, prepare_and_bind(L, store, 2), max_rows, step_limit);
}

/* --- rows written as reply text ------------------------------------------------------------
 * A long listing (getbinstate of a whole grid) built as Lua tables costs about a microsecond a
 * row and more to encode: 10,000 bins took the whole 50 ms. These write the rows straight from
 * the statement into the reply's text, in C, bounded like a reply (TG_LIMIT_MAX_OBJECT) and by
 * the call's deadline. */

/* Appends to the boxed text (box_lua.h), bounded like a reply. */
static void text_put(lua_State *L, tg_buf_t *out, const char *s, size_t len) { tg_box_lua_put(L, out, s, len); }

static void text_puts(lua_State *L, tg_buf_t *out, const char *s) { text_put(L, out, s, strlen(s)); }

/* A column's value as text: integers in decimal, anything else as stored. */
static const char *column_text(sqlite3_stmt *stmt, int c, char *number, size_t cap, size_t *len) {
  if (sqlite3_column_type(stmt, c) == SQLITE_INTEGER) {
    *len = (size_t)snprintf(number, cap, "%lld", (long long)sqlite3_column_int64(stmt, c));
    return number;
  }
  *len = (size_t)sqlite3_column_bytes(stmt, c);
  return (const char *)sqlite3_column_text(stmt, c);
}

static const char SPACES[] = "                                "; /* indentation: two a level */

/* Appends one row as <element> with a child per non-NULL column, indented for `depth` as the
 * reply encoder indents (two spaces a level). */
static void row_xml(lua_State *L, tg_buf_t *out, sqlite3_stmt *stmt, const char *element, int depth) {
  text_put(L, out, SPACES, (size_t)depth * 2);
  text_puts(L, out, "<");
  text_puts(L, out, element);
  text_puts(L, out, ">\n");
  for (int c = 0, n = sqlite3_column_count(stmt); c < n; c++) {
    if (sqlite3_column_type(stmt, c) == SQLITE_NULL)
      continue;
    const char *name = sqlite3_column_name(stmt, c);
    char number[24];
    size_t len;
    const char *value = column_text(stmt, c, number, sizeof number, &len);
    text_put(L, out, SPACES, (size_t)depth * 2 + 2);
    text_puts(L, out, "<");
    text_puts(L, out, name);
    text_puts(L, out, ">");
    if (tg_xml_escape(out, value, len) < 0)
      luaL_error(L, "out of memory");
    text_puts(L, out, "</");
    text_puts(L, out, name);
    text_puts(L, out, ">\n");
  }
  text_put(L, out, SPACES, (size_t)depth * 2);
  text_puts(L, out, "</");
  text_puts(L, out, element);
  text_puts(L, out, ">\n");
}

/* Appends a JSON string: ", \\ and control characters escaped (the store holds UTF-8). */
static void json_string(lua_State *L, tg_buf_t *out, const char *s, size_t len) {
  text_puts(L, out, "\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char escaped[8];
    if (c == '"' || c == '\\')
      text_put(L, out, (char[]){'\\', (char)c}, 2);
    else if (c < 0x20)
      text_put(L, out, escaped, (size_t)snprintf(escaped, sizeof escaped, "\\u%04x", c));
    else
      text_put(L, out, s + i, 1);
  }
  text_puts(L, out, "\"");
}

/* Appends one row as a JSON object: a member per non-NULL column, integers as numbers. */
static void row_json(lua_State *L, tg_buf_t *out, sqlite3_stmt *stmt) {
  text_puts(L, out, "{");
  int first = 1;
  for (int c = 0, n = sqlite3_column_count(stmt); c < n; c++) {
    if (sqlite3_column_type(stmt, c) == SQLITE_NULL)
      continue;
    if (!first)
      text_puts(L, out, ",");
    first = 0;
    const char *name = sqlite3_column_name(stmt, c);
    json_string(L, out, name, strlen(name));
    text_puts(L, out, ":");
    char number[24];
    size_t len;
    const char *value = column_text(stmt, c, number, sizeof number, &len);
    if (sqlite3_column_type(stmt, c) == SQLITE_INTEGER)
      text_put(L, out, value, len);
    else
      json_string(L, out, value, len);
  }
  text_puts(L, out, "}");
}

/* db.rows_text(form, element, depth, max_rows, sql, ...) -> text, rows, the rows of the
 * statement written as reply text: form "xml", each row as <element>, a child per non-NULL
 * column, one per line, indented for `depth` (0..14) as the reply encoder would (reply.rows
 * places it as it is); form "json", a JSON array of an object per row. Like db.rows_upto: nil
 * and "too many rows" when more than max_rows would come, nil and "too much work" when the
 * statement looks through far more than it lists. */
static int db_rows_text(lua_State *L) {
  tg_store_t *store = bound_store(L);
  int json = strcmp(luaL_checkstring(L, 1), "json") == 0;
  const char *element = luaL_checkstring(L, 2);
  if (!json && !tg_xml_name_ok(element, strlen(element)))
    luaL_argerror(L, 2, "not an element name");
  lua_Integer depth = luaL_checkinteger(L, 3);
  luaL_argcheck(L, depth >= 0 && (size_t)depth * 2 + 2 < sizeof SPACES, 3, "depth out of range");
  lua_Integer max_rows = luaL_checkinteger(L, 4);
  luaL_argcheck(L, max_rows > 0, 4, "at least one row");
  long long step_limit = (long long)(max_rows + 1) * STEPS_PER_ROW;
  if (step_limit < STEPS_AT_LEAST)
    step_limit = STEPS_AT_LEAST;
  sqlite3_stmt *stmt = prepare_and_bind(L, store, 5);
  tg_buf_t *out = tg_box_lua_buf(L); /* above the bound values, which stay until the reset */
  if (json)
    text_puts(L, out, "[");
  lua_Integer rows = 0;
  unsigned budget = 0;
  int rc;
  while ((rc = step(L, store, stmt, step_limit)) == SQLITE_ROW) {
    if (rows == max_rows)
      break;
    if (json && rows > 0)
      text_puts(L, out, ",");
    if (json)
      row_json(L, out, stmt);
    else
      row_xml(L, out, stmt, element, (int)depth);
    rows++;
    tg_limit_spend(L, &budget, 1);
  }
  sqlite3_reset(stmt);
  if (rc == SQLITE_ROW || rc == STOPPED_OVER_STEPS) {
    lua_pushnil(L);
    lua_pushstring(L, rc == SQLITE_ROW ? "too many rows" : "too much work");
    return 2;
  }
  if (rc != SQLITE_DONE)
    return raise_sql(L, store);
  if (json)
    text_puts(L, out, "]");
  lua_pushlstring(L, out->data ? out->data : "", out->len);
  lua_pushinteger(L, rows);
  return 2;
}

static int push_outcome(lua_State *L, tg_store_t *store, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  /* The owner refuses some steps itself (a call already open, a turn SQLite rolled back). */
  lua_pushstring(L, rc == -SQLITE_MISUSE || rc == -SQLITE_ABORT ? sqlite3_errstr(-rc) : tg_store_errmsg(store));
  return 2;
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

static int db_abort_turn(lua_State *L) { return undo(L, tg_txn_abort_turn); }

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
    {"exec", db_exec},
    {"insert_rows", db_insert_rows},
    {"row", db_row},
    {"rows", db_rows},
    {"rows_upto", db_rows_upto},
    {"rows_text", db_rows_text},
    {"changes", db_changes},
    {"begin_call", db_begin_call},
    {"commit_call", db_commit_call},
    {"abort_call", db_abort_call},
    {"begin_turn", db_begin_turn},
    {"commit_turn", db_commit_turn},
    {"abort_turn", db_abort_turn},
    {"close", db_close},
    {NULL, NULL},
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
