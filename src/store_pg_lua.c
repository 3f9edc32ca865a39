/* store_pg_lua.c: `taskgate.db`'s statements on a PostgreSQL store: the same functions, values
 * and answers as SQLite's (store_lua.c), so the runtime and the rules never tell them apart.
 * Values go as text (a Lua integer as its decimal digits, a boolean as 1 or 0, which both an
 * integer and a boolean parameter take), bytes to a bytea parameter as binary. A fraction where
 * the database wants an integer (the clock's now against an epoch column) is rounded down,
 * which keeps `epoch <= now` as SQLite compares it. Rows come back
 * typed by their columns (integers, numbers, strings; NULL left out), as SQLite gives them. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "box_lua.h"
#include "budget.h"
#include "failure_lua.h"
#include "insert_rows.h"
#include "limit.h"
#include "log.h"
#include "pg.h"
#include "rows_text.h"
#include "store_lua.h"
#include "txn.h"

enum { BOOL_OID = 16, INT8_OID = 20, INT2_OID = 21, INT4_OID = 23, FLOAT4_OID = 700, FLOAT8_OID = 701,
       NUMERIC_OID = 1700, BYTEA_OID = 17 };

/* The values of a statement's parameters, kept in a userdata on the Lua stack (collected
 * whatever is raised): pointers into Lua strings, or into its own digits for numbers. */
typedef struct params_s {
  const char **values;
  int *lengths;
  char (*digits)[32];
} params_t;

static params_t push_params(lua_State *L, int n) {
  size_t each = sizeof(char *) + sizeof(int) + 32;
  char *block = lua_newuserdatauv(L, each * (size_t)(n ? n : 1), 0);
  params_t p = {(const char **)block, (int *)(block + sizeof(char *) * (size_t)n), NULL};
  p.digits = (char (*)[32])(block + (sizeof(char *) + sizeof(int)) * (size_t)n);
  return p;
}

/* Sets parameter i (of kind TG_PG_PARAM_...) from the Lua value at `arg`; 0, or -1 for a type
 * the store does not take. */
static int set_param(lua_State *L, params_t *p, int i, int kind, int arg) {
  size_t len = 0;
  switch (lua_type(L, arg)) {
  case LUA_TNIL: p->values[i] = NULL; break;
  case LUA_TBOOLEAN: p->values[i] = lua_toboolean(L, arg) ? "1" : "0"; break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, arg))
      snprintf(p->digits[i], 32, "%lld", (long long)lua_tointeger(L, arg));
    else if (kind == TG_PG_PARAM_INTEGER)
      snprintf(p->digits[i], 32, "%.0f", floor((double)lua_tonumber(L, arg)));
    else
      snprintf(p->digits[i], 32, "%.17g", (double)lua_tonumber(L, arg));
    p->values[i] = p->digits[i];
    break;
  case LUA_TSTRING: p->values[i] = lua_tolstring(L, arg, &len); break;
  default: return -1;
  }
  p->lengths[i] = (int)len;
  return 0;
}

/* The failure raised when the database is out of reach: the call faults as unavailable. */
static int raise_unavailable(lua_State *L, tg_pg_t *pg) {
  const char *message = lua_pushfstring(L, "store unavailable: %s", tg_pg_errmsg(pg));
  luaL_traceback(L, L, message, 1);
  tg_failure_lua_push(L, "unavailable", message, lua_tostring(L, -1));
  return lua_error(L);
}

/* Failures of the moment, which a retry (here or through another gateway) may not meet: the
 * connection (class 08), a serialisation failure or deadlock (40001, 40P01), a row lock not
 * granted in time (55P03), a statement over its time or a server shutting down (57...). The
 * call faults as unavailable (1934): nothing was changed. */
static int transient(const char *sqlstate) {
  return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 ||
         strcmp(sqlstate, "55P03") == 0 || strncmp(sqlstate, "57", 2) == 0;
}

/* After a statement failed: the call's transaction is undone (txn.h), then the error raised;
 * nil and "constraint: ..." instead (returns 2) when `constraint_ok` and a constraint failed. */
static int failed(lua_State *L, tg_store_t *store, const char *sql, size_t len, int constraint_ok) {
  tg_pg_t *pg = tg_store_pg(store);
  char sqlstate[6];
  snprintf(sqlstate, sizeof sqlstate, "%s", tg_pg_sqlstate(pg));
  lua_pushstring(L, tg_pg_errmsg(pg)); /* the undoing may note errors of its own */
  if (transient(sqlstate)) { /* which statement met which conflict: rare, and worth finding */
    char statement[700];
    tg_log_quote(statement, sizeof statement, sql, len > 300 ? 300 : len);
    tg_log(TG_LOG_WARN, "store_statement_failed", "sqlstate=%s error=\"%s\" statement=%s", sqlstate,
           lua_tostring(L, -1), statement);
  }
  tg_txn_statement_failed(store);
  if (tg_pg_lost(pg) || transient(sqlstate))
    return raise_unavailable(L, pg);
  if (constraint_ok && strncmp(sqlstate, "23", 2) == 0) { /* class 23: integrity constraint violation */
    lua_pushnil(L);
    lua_pushfstring(L, "constraint: %s", lua_tostring(L, -2));
    return 2;
  }
  return luaL_error(L, "store: %s", lua_tostring(L, -1));
}

/* Runs the statement `sql` (stack index at) with the values after it (or, with rows, the
 * values set already); returns its result, never NULL. Raises on an error other than a failed
 * constraint, for which it pushes nil and the reason and returns NULL. */
static PGresult *run(lua_State *L, tg_store_t *store, tg_pg_stmt_t *stmt, params_t *p, int constraint_ok) {
  tg_pg_t *pg = tg_store_pg(store);
  if (tg_budget_store_begin() < 0) {
    tg_budget_store_end();
    tg_store_lua_over_time(L);
  }
  PGresult *result = tg_pg_execute(pg, stmt, p->values, p->lengths);
  tg_budget_store_end();
  ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    return result;
  PQclear(result);
  failed(L, store, stmt->sql, stmt->len, constraint_ok);
  return NULL;
}

static tg_pg_stmt_t *prepare(lua_State *L, tg_store_t *store, const char *sql, size_t len) {
  tg_pg_t *pg = tg_store_pg(store);
  if (tg_pg_lost(pg) && !tg_pg_available(pg))
    raise_unavailable(L, pg);
  /* preparing (once a session) is store work: timed apart from the rule's Lua, as the rest */
  if (tg_budget_store_begin() < 0) {
    tg_budget_store_end();
    tg_store_lua_over_time(L);
  }
  tg_pg_stmt_t *stmt = tg_pg_prepare(pg, sql, len);
  tg_budget_store_end();
  if (!stmt)
    failed(L, store, sql, len, 0);
  return stmt;
}

/* The statement for the SQL text at `at`, its parameters set from the values after it. */
static tg_pg_stmt_t *prepare_and_set(lua_State *L, tg_store_t *store, int at, params_t *p) {
  size_t len;
  const char *sql = luaL_checklstring(L, at, &len);
  tg_pg_stmt_t *stmt = prepare(L, store, sql, len);
  int nargs = lua_gettop(L) - at;
  if (nargs != stmt->nparams)
    luaL_error(L, "store: statement wants %d values, got %d", stmt->nparams, nargs);
  *p = push_params(L, nargs);
  for (int i = 0; i < nargs; i++)
    if (set_param(L, p, i, stmt->param[i], at + 1 + i) < 0)
      luaL_argerror(L, at + 1 + i, "store values are nil, booleans, numbers or strings");
  return stmt;
}

static void push_value(lua_State *L, PGresult *result, int row, int c) {
  const char *text = PQgetvalue(result, row, c);
  switch (PQftype(result, c)) {
  case INT8_OID:
  case INT4_OID:
  case INT2_OID: lua_pushinteger(L, strtoll(text, NULL, 10)); break;
  case BOOL_OID: lua_pushinteger(L, text[0] == 't'); break;
  case FLOAT4_OID:
  case FLOAT8_OID:
  case NUMERIC_OID: lua_pushnumber(L, strtod(text, NULL)); break;
  case BYTEA_OID: {
    size_t len;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)text, &len);
    lua_pushlstring(L, (const char *)bytes, bytes ? len : 0);
    PQfreemem(bytes);
    break;
  }
  default: lua_pushlstring(L, text, (size_t)PQgetlength(result, row, c));
  }
}

/* Row `row` as a table keyed by column name; a NULL column is simply absent, as with SQLite. */
static void push_row(lua_State *L, PGresult *result, int row) {
  int ncols = PQnfields(result);
  lua_createtable(L, 0, ncols);
  for (int c = 0; c < ncols; c++) {
    if (PQgetisnull(result, row, c))
      continue;
    lua_pushstring(L, PQfname(result, c));
    push_value(L, result, row, c);
    lua_rawset(L, -3);
  }
}

/* A result boxed on the Lua stack, so that an error raised while it is read frees it. */
#define RESULT_META "taskgate.db.pgresult"

static int result_gc(lua_State *L) {
  PGresult **box = luaL_checkudata(L, 1, RESULT_META);
  PQclear(*box);
  *box = NULL;
  return 0;
}

static PGresult **push_result_box(lua_State *L) {
  PGresult **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  if (luaL_newmetatable(L, RESULT_META)) {
    lua_pushcfunction(L, result_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return box;
}

static long long changed_rows(tg_store_t *store, PGresult *result) {
  long long n = atoll(PQcmdTuples(result));
  tg_pg_count_changes(tg_store_pg(store), n);
  return n;
}

/* db.exec(sql, ...) -> number of changed rows, or nil, "constraint: ..." when a constraint fails. */
static int pg_exec(lua_State *L) {
  tg_store_t *store = tg_store_lua_bound(L);
  params_t p;
  tg_pg_stmt_t *stmt = prepare_and_set(L, store, 1, &p);
  PGresult *result = run(L, store, stmt, &p, 1);
  if (!result)
    return 2;
  lua_pushinteger(L, changed_rows(store, result));
  PQclear(result);
  return 1;
}

/* Runs the statement at `at` with its values; its result boxed on the stack (NULL: a failed
 * constraint, nil and the reason pushed after the box). */
static PGresult *query(lua_State *L, tg_store_t *store, int at) {
  params_t p;
  tg_pg_stmt_t *stmt = prepare_and_set(L, store, at, &p);
  PGresult **box = push_result_box(L);
  *box = run(L, store, stmt, &p, 0);
  return *box;
}

/* db.row(sql, ...) -> the first row as a table keyed by column name, or nil. */
static int pg_row(lua_State *L) {
  tg_store_t *store = tg_store_lua_bound(L);
  PGresult *result = query(L, store, 1);
  if (PQntuples(result) > 0)
    push_row(L, result, 0);
  else
    lua_pushnil(L);
  return 1;
}

/* Pushes the rows as an array, or nil and "too many rows" past max_rows (0: no limit). */
static int push_rows(lua_State *L, PGresult *result, lua_Integer max_rows) {
  int n = PQntuples(result);
  if (max_rows && n > max_rows) {
    lua_pushnil(L);
    lua_pushstring(L, "too many rows");
    return 2;
  }
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    push_row(L, result, i);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* db.rows(sql, ...) -> an array of row tables (possibly empty). */
static int pg_rows(lua_State *L) {
  tg_store_t *store = tg_store_lua_bound(L);
  return push_rows(L, query(L, store, 1), 0);
}

/* db.rows_upto(max_rows, sql, ...) -> at most max_rows rows, or nil and "too many rows". The
 * statements that use it carry a LIMIT of their own; the database's statement_timeout (pg.c)
 * stands for SQLite's step limit ("too much work" is then the store's time limit). */
static int pg_rows_upto(lua_State *L) {
  tg_store_t *store = tg_store_lua_bound(L);
  lua_Integer max_rows = luaL_checkinteger(L, 1);
  luaL_argcheck(L, max_rows > 0, 1, "at least one row");
  return push_rows(L, query(L, store, 2), max_rows);
}

/* A result's row as rows_text.h reads it. */
typedef struct result_row_s {
  PGresult *result;
  int row;
} result_row_t;

static const char *result_name(void *self, int c) { return PQfname(((result_row_t *)self)->result, c); }

static int result_kind(void *self, int c) {
  result_row_t *r = self;
  if (PQgetisnull(r->result, r->row, c))
    return TG_VALUE_NULL;
  Oid type = PQftype(r->result, c);
  return type == INT8_OID || type == INT4_OID || type == INT2_OID ? TG_VALUE_INTEGER : TG_VALUE_TEXT;
}

static const char *result_text(void *self, int c, char *number, size_t cap, size_t *len) {
  result_row_t *r = self;
  *len = (size_t)PQgetlength(r->result, r->row, c);
  return PQgetvalue(r->result, r->row, c);
}

/* db.rows_text(form, element, depth, max_rows, sql, ...): as on SQLite (store_lua.c). */
static int pg_rows_text(lua_State *L) {
  tg_store_t *store = tg_store_lua_bound(L);
  tg_rows_text_form_t form = tg_rows_text_args(L);
  PGresult *result = query(L, store, 5);
  tg_buf_t *out = tg_box_lua_buf(L);
  lua_Integer rows = PQntuples(result);
  if (rows > form.max_rows) {
    lua_pushnil(L);
    lua_pushstring(L, "too many rows");
    return 2;
  }
  result_row_t at = {result, 0};
  tg_row_source_t row = {&at, PQnfields(result), result_name, result_kind, result_text};
  unsigned budget = 0;
  for (; at.row < rows; at.row++) {
    tg_rows_text_row(L, out, &form, &row, at.row);
    tg_limit_spend(L, &budget, 1);
  }
  return tg_rows_text_finish(L, out, &form, rows);
}

/* The statement being filled by db.insert_rows (insert_rows.h) and its values. */
typedef struct filling_s {
  tg_pg_stmt_t *stmt;
  params_t params;
} filling_t;

static int set_top(lua_State *L, void *ctx, int index) {
  filling_t *filling = ctx;
  return set_param(L, &filling->params, index, filling->stmt->param[index], -1);
}

/* One statement of db.insert_rows on PostgreSQL. */
static long long insert_batch(lua_State *L, const char *sql, size_t len, const tg_insert_batch_t *batch) {
  tg_store_t *store = tg_store_lua_bound(L);
  filling_t filling = {.stmt = prepare(L, store, sql, len)};
  filling.params = push_params(L, batch->count * batch->ncols);
  tg_insert_each_value(L, batch, set_top, &filling);
  PGresult *result = run(L, store, filling.stmt, &filling.params, 1);
  if (!result)
    return -1;
  long long inserted = changed_rows(store, result);
  PQclear(result);
  return inserted;
}

/* db.insert_rows(head, columns, rows [, shared]): see insert_rows.h. */
static int pg_insert_rows(lua_State *L) {
  tg_store_lua_bound(L);
  return tg_insert_rows(L, insert_batch);
}

const luaL_Reg tg_store_pg_lua_functions[] = {
    {"exec", pg_exec},
    {"insert_rows", pg_insert_rows},
    {"row", pg_row},
    {"rows", pg_rows},
    {"rows_upto", pg_rows_upto},
    {"rows_text", pg_rows_text},
    {NULL, NULL},
};
