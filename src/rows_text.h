/* rows_text.h: rows of a query written straight into a reply's text (db.rows_text), in C,
 * whichever store they come from: a long listing built as Lua tables costs about a
 * microsecond a row and more to encode. Bounded like a reply (TG_LIMIT_MAX_OBJECT). */
#ifndef TG_ROWS_TEXT_H
#define TG_ROWS_TEXT_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"

enum { TG_VALUE_NULL = 0, TG_VALUE_INTEGER = 1, TG_VALUE_TEXT = 2 };

/* One row of a result, as a store gives it. */
typedef struct tg_row_source_s {
  void *self;
  int columns;
  const char *(*name)(void *self, int column);
  int (*kind)(void *self, int column); /* TG_VALUE_... */
  /* The value as text: integers in decimal (written into number), anything else as stored. */
  const char *(*text)(void *self, int column, char *number, size_t cap, size_t *len);
} tg_row_source_t;

/* The arguments of db.rows_text(form, element, depth, max_rows, sql, ...), checked. */
typedef struct tg_rows_text_form_s {
  int json;
  const char *element;
  int depth;
  lua_Integer max_rows;
} tg_rows_text_form_t;

/* Checks arguments 1 to 4 of db.rows_text; raises on a bad one. */
tg_rows_text_form_t tg_rows_text_args(lua_State *L);
/* Appends row number `index` (0 first) of the listing to out, a boxed buffer (box_lua.h);
 * raises when out of memory, too long, or past the call's time. */
void tg_rows_text_row(lua_State *L, tg_buf_t *out, const tg_rows_text_form_t *form, const tg_row_source_t *row,
                      lua_Integer index);
/* Ends the listing and pushes its text and the row count: db.rows_text's two results. */
int tg_rows_text_finish(lua_State *L, tg_buf_t *out, const tg_rows_text_form_t *form, lua_Integer rows);

#endif
