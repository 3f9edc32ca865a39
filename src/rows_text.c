/* rows_text.c: rows written as reply text, from either store (see rows_text.h). */
#include "rows_text.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "box_lua.h"
#include "xml.h"

static const char SPACES[] = "                                "; /* indentation: two a level */

/* Appends to the boxed text (box_lua.h), bounded like a reply and by the call's time. */
static void text_put(lua_State *L, tg_buf_t *out, const char *s, size_t len) { tg_box_lua_put(L, out, s, len); }

static void text_puts(lua_State *L, tg_buf_t *out, const char *s) { text_put(L, out, s, strlen(s)); }

tg_rows_text_form_t tg_rows_text_args(lua_State *L) {
  tg_rows_text_form_t form;
  form.json = strcmp(luaL_checkstring(L, 1), "json") == 0;
  form.element = luaL_checkstring(L, 2);
  if (!form.json && !tg_xml_name_ok(form.element, strlen(form.element)))
    luaL_argerror(L, 2, "not an element name");
  lua_Integer depth = luaL_checkinteger(L, 3);
  luaL_argcheck(L, depth >= 0 && (size_t)depth * 2 + 2 < sizeof SPACES, 3, "depth out of range");
  form.depth = (int)depth;
  form.max_rows = luaL_checkinteger(L, 4);
  luaL_argcheck(L, form.max_rows > 0, 4, "at least one row");
  return form;
}

/* Appends one row as <element> with a child per non-NULL column, indented for `depth` as the
 * reply encoder indents (two spaces a level). */
static void row_xml(lua_State *L, tg_buf_t *out, const tg_row_source_t *row, const char *element, int depth) {
  text_put(L, out, SPACES, (size_t)depth * 2);
  text_puts(L, out, "<");
  text_puts(L, out, element);
  text_puts(L, out, ">\n");
  for (int c = 0; c < row->columns; c++) {
    if (row->kind(row->self, c) == TG_VALUE_NULL)
      continue;
    const char *name = row->name(row->self, c);
    char number[24];
    size_t len;
    const char *value = row->text(row->self, c, number, sizeof number, &len);
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
static void row_json(lua_State *L, tg_buf_t *out, const tg_row_source_t *row) {
  text_puts(L, out, "{");
  int first = 1;
  for (int c = 0; c < row->columns; c++) {
    int kind = row->kind(row->self, c);
    if (kind == TG_VALUE_NULL)
      continue;
    if (!first)
      text_puts(L, out, ",");
    first = 0;
    const char *name = row->name(row->self, c);
    json_string(L, out, name, strlen(name));
    text_puts(L, out, ":");
    char number[24];
    size_t len;
    const char *value = row->text(row->self, c, number, sizeof number, &len);
    if (kind == TG_VALUE_INTEGER)
      text_put(L, out, value, len);
    else
      json_string(L, out, value, len);
  }
  text_puts(L, out, "}");
}

void tg_rows_text_row(lua_State *L, tg_buf_t *out, const tg_rows_text_form_t *form, const tg_row_source_t *row,
                      lua_Integer index) {
  if (form->json) {
    text_puts(L, out, index ? "," : "[");
    row_json(L, out, row);
  } else {
    row_xml(L, out, row, form->element, form->depth);
  }
}

int tg_rows_text_finish(lua_State *L, tg_buf_t *out, const tg_rows_text_form_t *form, lua_Integer rows) {
  if (form->json)
    text_puts(L, out, rows ? "]" : "[]");
  lua_pushlstring(L, out->data ? out->data : "", out->len);
  lua_pushinteger(L, rows);
  return 2;
}
