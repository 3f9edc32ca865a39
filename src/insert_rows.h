/* insert_rows.h: db.insert_rows(head, columns, rows [, shared]), the same for both stores: the
 * arguments checked, the rows cut into multi-row INSERTs of up to 128 rows (no round trip through
 * Lua per row; SQLite journals a statement, not a row), each statement run by the store's own
 * function. */
#ifndef TG_INSERT_ROWS_H
#define TG_INSERT_ROWS_H

#include <lua.h>
#include <stddef.h>

/* The rows of one statement: rows first .. first + count - 1 of the array at stack index `rows`,
 * ncols values each, named by the strings on the stack from `names` on; a name a row lacks is
 * taken from the table at `shared` (0: none). */
typedef struct tg_insert_batch_s {
  int rows, names, ncols, shared;
  lua_Integer first;
  int count;
} tg_insert_batch_t;

/* Sets value `index` (row * ncols + column, from 0) of the statement from the Lua value on top
 * of the stack; 0, or -1 when the store does not take its type. */
typedef int (*tg_insert_set_fn)(lua_State *L, void *ctx, int index);
/* Runs the statement `sql` (len bytes, with `?` for each value) for batch: its values set with
 * tg_insert_each_value. Returns the rows it inserted; or -1 after pushing nil and the reason
 * when a constraint failed (it raises on any other error). */
typedef long long (*tg_insert_run_fn)(lua_State *L, const char *sql, size_t len, const tg_insert_batch_t *batch);

/* db.insert_rows for a store: its Lua results. */
int tg_insert_rows(lua_State *L, tg_insert_run_fn run);
/* Calls set for each value of batch, the value on top of the stack. No string is copied: each
 * stays in its row (or shared) table, on the stack until the statement has run. Raises naming a
 * value the store does not take. */
void tg_insert_each_value(lua_State *L, const tg_insert_batch_t *batch, tg_insert_set_fn set, void *ctx);

#endif
