/* xml_lua.c: the only place where decoded XML meets Lua tables, in both directions. */
#include "xml_lua.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "box_lua.h"
#include "clock.h"
#include "limit.h"
#include "view_lua.h"

/* Element order, for a call that may be encoded again (bridge mode): each table of two names or
 * more gets a metatable whose __order lists them in document order, which the encoders follow,
 * so a forwarded call keeps the client's element order. Siblings with the same names in the
 * same order (the <task>s of a group) share one metatable; the last one made waits at `cache`. */
typedef struct order_s {
  int cache;                 /* stack index of the last metatable made (nil at first); 0: order is not kept */
  const tg_xml_node_t *last; /* the element it was made for */
} order_t;

/* Whether every child of node has the first one's name (a table of one name needs no order). */
static int one_name(const tg_xml_node_t *node) {
  for (const tg_xml_node_t *child = node->first_child->next; child; child = child->next)
    if (strcmp(child->name, node->first_child->name) != 0)
      return 0;
  return 1;
}

static int same_names(const tg_xml_node_t *a, const tg_xml_node_t *b) {
  const tg_xml_node_t *x = a->first_child, *y = b->first_child;
  for (; x && y; x = x->next, y = y->next)
    if (strcmp(x->name, y->name) != 0)
      return 0;
  return !x && !y;
}

/* Gives the table at `value` (node's) the metatable naming its keys in document order. */
static void keep_order(lua_State *L, const tg_xml_node_t *node, int value, order_t *order) {
  if (one_name(node))
    return;
  if (!order->last || !same_names(order->last, node)) {
    luaL_checkstack(L, 4, "XML order");
    lua_createtable(L, 0, 1); /* the metatable */
    lua_newtable(L);          /* its __order */
    lua_newtable(L);          /* the names met so far: each is listed once */
    lua_Integer n = 0;
    for (const tg_xml_node_t *child = node->first_child; child; child = child->next) {
      if (lua_getfield(L, -1, child->name) == LUA_TNIL) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -3, child->name);
        lua_pushstring(L, child->name);
        lua_rawseti(L, -4, ++n);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, "__order");
    lua_replace(L, order->cache);
    order->last = node;
  }
  lua_pushvalue(L, order->cache);
  lua_setmetatable(L, value);
}

/* Pushes an element's value: its text when it has no children, otherwise a table whose keys
 * are child names; a name that repeats holds an array of the values in document order, and so
 * does a JSON array of one element ("tasks": [{...}] is a list, as two elements are). */
static void push_value(lua_State *L, const tg_xml_node_t *node, int depth, order_t *order) {
  if (!node->first_child) {
    lua_pushlstring(L, node->text, node->text_len);
    return;
  }
  luaL_checkstack(L, 6, "XML nesting");
  lua_newtable(L);
  int value = lua_gettop(L);
  int arrays = 0; /* names already turned into arrays: a table made at the first repeat */
  for (const tg_xml_node_t *child = node->first_child; child; child = child->next) {
    int kind = lua_getfield(L, value, child->name);
    lua_pop(L, 1);
    if (kind == LUA_TNIL && !child->listed) {
      push_value(L, child, depth + 1, order);
      lua_setfield(L, value, child->name);
      continue;
    }
    if (!arrays) {
      lua_newtable(L);
      arrays = lua_gettop(L);
    }
    if (lua_getfield(L, arrays, child->name) == LUA_TNIL) { /* second occurrence: start an array */
      lua_pop(L, 1);
      lua_createtable(L, 2, 0);
      if (kind != LUA_TNIL) { /* the first occurrence, kept as a plain value so far */
        lua_getfield(L, value, child->name);
        lua_rawseti(L, -2, 1);
      }
      lua_pushvalue(L, -1);
      lua_setfield(L, value, child->name);
      lua_pushvalue(L, -1);
      lua_setfield(L, arrays, child->name);
    }
    push_value(L, child, depth + 1, order);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
  }
  lua_settop(L, value);
  if (order && order->cache)
    keep_order(L, node, value, order);
}

static void push_call(lua_State *L, const tg_xml_node_t *root, const char *why, order_t *order) {
  /* Room for name and params and the fields the handler adds (client, request_id, interface,
   * legacy, form, received): growing the table on the way would rehash it on every call. */
  lua_createtable(L, 0, 10);
  if (!root) {
    lua_pushstring(L, why ? why : "malformed XML");
    lua_setfield(L, -2, "malformed");
    return;
  }
  if (strcmp(root->name, "methodcall") != 0) {
    lua_pushstring(L, "root element is not methodcall");
    lua_setfield(L, -2, "malformed");
    return;
  }
  for (const tg_xml_node_t *child = root->first_child; child; child = child->next) {
    const char *field = strcmp(child->name, "name") == 0     ? "name"
                        : strcmp(child->name, "params") == 0 ? "params"
                                                             : NULL;
    if (!field)
      continue; /* unknown envelope elements are ignored, as the parameters' unknown ones are */
    if (lua_getfield(L, -1, field) != LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushfstring(L, "more than one <%s>", field);
      lua_setfield(L, -2, "malformed");
      return;
    }
    lua_pop(L, 1);
    push_value(L, child, 1, order);
    lua_setfield(L, -2, field);
  }
}

void tg_xml_lua_push_call(lua_State *L, const tg_xml_node_t *root, const char *why, int ordered) {
  order_t order = {0};
  if (ordered) {
    lua_pushnil(L);
    order.cache = lua_gettop(L);
  }
  push_call(L, root, why, &order);
  if (ordered)
    lua_remove(L, order.cache);
}

/* --- encoding ---------------------------------------------------------------------------- */

enum {
  MAX_REPLY_DEPTH = 16,
  MAX_REPLY_KEYS = 65536, /* named children of one element: sorting them stays short */
};

/* Appends to the reply buffer, boxed (box_lua.h): raises on out-of-memory, past
 * TG_LIMIT_MAX_OBJECT (a reply of one big string repeated would otherwise grow without end), and
 * when the call's time is up (the clock is looked at whenever another 64 KiB was written). */
static void put(lua_State *L, tg_buf_t *out, const char *s, size_t len) { tg_box_lua_put(L, out, s, len); }

static void puts_(lua_State *L, tg_buf_t *out, const char *s) { put(L, out, s, strlen(s)); }

/* Where the encoder writes, and how: replies are indented for people; a call forwarded upstream
 * is `compact` (no layout: it must not grow past what the upstream takes) and `exact` (a value
 * XML cannot carry raises, where a reply shows U+FFFD). */
typedef struct writer_s {
  tg_buf_t *out;
  int compact;
  int exact;
  size_t max; /* with exact: bytes the call may take (what an upstream takes), checked as text is written */
  unsigned steps; /* elements and keys walked since the clock was last looked at (tg_limit_spend) */
} writer_t;

/* Raises once the call passed its bound: a call grown past what an upstream takes is refused
 * before it is sent, and its encoding ends there. */
static void within_bound(lua_State *L, const writer_t *w) {
  if (w->max && w->out->len > w->max)
    luaL_error(L, "the call encodes to more than %d bytes, what an upstream takes", (int)w->max);
}

static void indent(lua_State *L, writer_t *w, int depth) {
  if (w->compact)
    return;
  tg_buf_t *out = w->out;
  static const char spaces[] = "                                  "; /* MAX_REPLY_DEPTH + 1 levels */
  put(L, out, spaces, 2 * (size_t)depth);
}

static void encode_element(lua_State *L, writer_t *w, const char *name, int value, int depth);

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the string keys of table t, sorted, into a Lua array pushed on the stack. */
static void push_sorted_keys(lua_State *L, writer_t *w, int t) {
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    tg_limit_spend(L, &w->steps, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "reply keys must be element names, got a %s", luaL_typename(L, -1));
    size_t len;
    const char *name = lua_tolstring(L, -1, &len);
    if (!tg_xml_name_ok(name, len)) /* checked at its full length: the sort below sees C text */
      luaL_error(L, "reply key '%s' is not a valid element name", name);
    if (n == MAX_REPLY_KEYS)
      luaL_error(L, "reply element with more than %d keys", MAX_REPLY_KEYS);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++n);
  }
  /* Sort pointers into the interned key strings, which the keys array keeps alive. */
  const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, i);
    names[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  qsort(names, (size_t)n, sizeof *names, compare_names);
  lua_newtable(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushstring(L, names[i - 1]);
    lua_rawseti(L, -2, i);
  }
  lua_replace(L, keys);
  lua_pop(L, 1);
}

#define ORDERS_SEEN "taskgate.xml.orders" /* weak-keyed: order tables known to name each key once */

/* Whether the order array at `order` names some key twice. Records share their order table, so
 * the answer is remembered for the table (a rule that changes an order it has used is wrong
 * anyway). */
static int order_repeats(lua_State *L, int order) {
  if (luaL_getsubtable(L, LUA_REGISTRYINDEX, ORDERS_SEEN) == 0) {
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_pushvalue(L, -1);
    lua_setmetatable(L, -2);
  }
  lua_pushvalue(L, order);
  if (lua_rawget(L, -2) != LUA_TNIL) {
    int repeats = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return repeats;
  }
  lua_pop(L, 1);
  int repeats = 0;
  lua_Integer n = (lua_Integer)lua_rawlen(L, order);
  for (lua_Integer i = 2; i <= n && !repeats; i++)
    for (lua_Integer j = 1; j < i && !repeats; j++) {
      lua_rawgeti(L, order, i);
      lua_rawgeti(L, order, j);
      repeats = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
    }
  lua_pushvalue(L, order);
  lua_pushboolean(L, repeats);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return repeats;
}

/* Emits the elements of table t named by the array at `keys`, each once, leaving out those in
 * the array at `skip` (0: none; keys itself: the names met earlier in it, when it repeats
 * any). Returns how many it emitted. */
static int encode_keys(lua_State *L, writer_t *w, int t, int keys, int skip, int depth) {
  int written = 0;
  if (skip == keys && !order_repeats(L, keys))
    skip = 0;
  lua_Integer n = (lua_Integer)lua_rawlen(L, keys), skipped = skip ? (lua_Integer)lua_rawlen(L, skip) : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    int top = lua_gettop(L);
    lua_rawgeti(L, keys, i);
    size_t len;
    const char *key = lua_tolstring(L, -1, &len);
    int seen = 0;
    lua_Integer last = skip == keys ? i - 1 : skipped;
    for (lua_Integer j = 1; key && j <= last && !seen; j++) { /* orders are a few names long */
      lua_rawgeti(L, skip, j);
      seen = lua_rawequal(L, -1, top + 1);
      lua_pop(L, 1);
    }
    lua_pushvalue(L, top + 1); /* the key as a Lua string: no look-up by its C text */
    if (key && !seen && lua_rawget(L, t) != LUA_TNIL) {
      if (!tg_xml_name_ok(key, len)) /* at its full length: "a\0b" must not pass as "a" */
        luaL_error(L, "reply key '%s' is not a valid element name", key);
      encode_element(L, w, key, lua_gettop(L), depth);
      written++;
    }
    lua_settop(L, top);
  }
  return written;
}

/* Whether table t has more than n keys (it stops counting there). */
static int has_more_keys(lua_State *L, int t, int n) {
  int count = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (++count > n) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* Emits the children of table t: first the keys named by its `__order` metafield, then every
 * other key in sorted order, so replies are byte-for-byte reproducible. A record whose order
 * names all its keys (reply.record's, the usual case) needs no sorting at all. */
static void encode_children(lua_State *L, writer_t *w, int t, int depth) {
  int top = lua_gettop(L);
  int order = 0, written = 0;
  if (luaL_getmetafield(L, t, "__order") != LUA_TNIL) {
    order = lua_gettop(L);
    written = encode_keys(L, w, t, order, order, depth);
  }
  if (!order || has_more_keys(L, t, written)) {
    push_sorted_keys(L, w, t);
    encode_keys(L, w, t, lua_gettop(L), order, depth);
  }
  lua_settop(L, top);
}

/* A list must be a sequence, keys 1..n and nothing else: the encoder walks 1..n, and a value
 * past a hole, or under another key, would be left out of the reply without a word. */
static void check_sequence(lua_State *L, const char *name, int t, lua_Integer n) {
  lua_Integer count = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n || ++count > n)
      luaL_error(L, "reply '%s' is a list with holes or with keys besides 1..%d", name, (int)n);
  }
  if (count != n)
    luaL_error(L, "reply '%s' is a list with holes", name);
}

static int is_list(lua_State *L, int t) {
  if (luaL_getmetafield(L, t, "__list") != LUA_TNIL) {
    lua_pop(L, 1);
    return 1;
  }
  return lua_rawlen(L, t) > 0;
}

/* Appends text escaped, in pieces of 64 KiB cut between UTF-8 sequences, so that the size
 * limit and the clock are looked at as a long text is written. */
static void escape(lua_State *L, writer_t *w, const char *name, const char *text, size_t len) {
  tg_buf_t *out = w->out;
  while (len > 0) {
    size_t piece = len;
    if (piece > 65536) {
      piece = 65536;
      while (piece > 65536 - 4 && ((unsigned char)text[piece] & 0xC0) == 0x80)
        piece--; /* not inside a sequence */
    }
    size_t before = out->len;
    const char *lost = NULL;
    int rc = w->exact ? tg_xml_escape_exact(out, text, piece, &lost) : tg_xml_escape(out, text, piece);
    if (rc == -2)
      luaL_error(L, "'%s' holds %s, which XML cannot carry", name, lost);
    if (rc < 0)
      luaL_error(L, "out of memory");
    if (w->max) /* bounded, and timed as the gateway's work (xml_encode_call) */
      within_bound(L, w);
    else
      tg_box_lua_grown(L, out, before);
    text += piece;
    len -= piece;
  }
}

static void encode_text(lua_State *L, writer_t *w, const char *name, int value) {
  tg_buf_t *out = w->out;
  int type = lua_type(L, value);
  if (type == LUA_TBOOLEAN) {
    puts_(L, out, lua_toboolean(L, value) ? "1" : "0");
  } else if (type == LUA_TNUMBER && lua_isinteger(L, value)) { /* ids mostly: no string made */
    lua_Integer n = lua_tointeger(L, value);
    unsigned long long magnitude = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    char digits[24], *at = digits + sizeof digits;
    do {
      *--at = (char)('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude);
    if (n < 0)
      *--at = '-';
    put(L, out, at, (size_t)(digits + sizeof digits - at));
  } else if (type == LUA_TNUMBER && !lua_isinteger(L, value) && !isfinite(lua_tonumber(L, value))) {
    /* No client reads "nan" or "inf" as a number; the interface has no way to say it. */
    luaL_error(L, "reply '%s' holds %s", name, isnan(lua_tonumber(L, value)) ? "NaN" : "an infinity");
  } else if (type == LUA_TNUMBER || type == LUA_TSTRING) {
    lua_pushvalue(L, value); /* tolstring converts numbers in place: work on a copy */
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    escape(L, w, name, text, len);
    lua_pop(L, 1);
  } else {
    luaL_error(L, "reply '%s' holds a %s", name, lua_typename(L, type));
  }
}

/* A reply.rows value (its __xml metafield: rows db.rows_text wrote, indented for where they
 * go): writes <name> holding them and returns 1; 0 for another table. */
static int encode_rows(lua_State *L, writer_t *w, const char *name, int value, int depth) {
  tg_buf_t *out = w->out;
  int type = luaL_getmetafield(L, value, "__xml");
  if (type == LUA_TNIL)
    return 0;
  if (type != LUA_TSTRING) {
    lua_pop(L, 1);
    return 0;
  }
  size_t len;
  const char *rows = lua_tolstring(L, -1, &len);
  indent(L, w, depth);
  put(L, out, "<", 1);
  puts_(L, out, name);
  if (len == 0) {
    puts_(L, out, w->compact ? "/>" : "/>\n");
  } else {
    puts_(L, out, w->compact ? ">" : ">\n");
    put(L, out, rows, len);
    indent(L, w, depth);
    put(L, out, "</", 2);
    puts_(L, out, name);
    put(L, out, ">\n", w->compact ? 1 : 2);
  }
  lua_pop(L, 1);
  return 1;
}

static void encode_element(lua_State *L, writer_t *w, const char *name, int value, int depth) {
  tg_buf_t *out = w->out;
  if (depth > MAX_REPLY_DEPTH)
    luaL_error(L, "reply nested deeper than %d (a cycle?)", MAX_REPLY_DEPTH);
  if (!tg_xml_name_ok(name, strlen(name)))
    luaL_error(L, "reply key '%s' is not a valid element name", name);
  luaL_checkstack(L, 10, "reply nesting");
  /* The clock is looked at as elements are walked, not only as bytes are written: a rule's table
   * can be far costlier to walk than what it writes (empty lists, one table shared many times). */
  tg_limit_spend(L, &w->steps, 1);
  int is_table = lua_type(L, value) == LUA_TTABLE;
  if (is_table)
    tg_view_lua_unwrap(L, value); /* a reply may hold parts of the call, or forward its params */
  if (is_table && is_list(L, value)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, value);
    check_sequence(L, name, value, n);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, value, i);
      if (lua_type(L, -1) == LUA_TTABLE && is_list(L, lua_gettop(L)))
        luaL_error(L, "reply '%s' is a list of lists", name);
      encode_element(L, w, name, lua_gettop(L), depth);
      lua_pop(L, 1);
    }
    return;
  }
  if (is_table && encode_rows(L, w, name, value, depth))
    return;
  indent(L, w, depth);
  put(L, out, "<", 1);
  puts_(L, out, name);
  if (is_table) {
    size_t open_end = out->len;
    puts_(L, out, w->compact ? ">" : ">\n");
    size_t children_start = out->len;
    encode_children(L, w, value, depth + 1);
    if (out->len == children_start) { /* no children, or only empty lists: <name/> */
      out->len = open_end;
      puts_(L, out, w->compact ? "/>" : "/>\n");
      return;
    }
    indent(L, w, depth);
  } else {
    put(L, out, ">", 1);
    encode_text(L, w, name, value);
  }
  put(L, out, "</", 2);
  puts_(L, out, name);
  put(L, out, ">\n", w->compact ? 1 : 2);
  within_bound(L, w);
}

/* xml.encode(reply [, root]) -> "<?xml ...?><response>...</response>" (or another root, e.g.
 * "methodcall" for forwarding) with two-space indentation. */
static int xml_encode(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *root = luaL_optstring(L, 2, "response");
  lua_settop(L, 1);
  writer_t w = {.out = tg_box_lua_buf(L)};
  puts_(L, w.out, "<?xml version=\"1.0\"?>\n");
  encode_element(L, &w, root, 1, 0);
  lua_pushlstring(L, w.out->data, w.out->len);
  return 1;
}

/* xml.encode_call(method, params, max_bytes) -> the methodcall as one line, elements in the params' order
 * (a decoded call's, else __order's, else sorted), for an upstream. Raises, naming the
 * parameter, on a value XML cannot carry as it is (a control character, bytes that are not
 * UTF-8) and on a call past max_bytes: a forwarded call arrives as the rule made it, or not at
 * all. */
static int xml_encode_call(lua_State *L) {
  size_t len;
  const char *method = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer max = luaL_checkinteger(L, 3);
  luaL_argcheck(L, max > 0 && max <= TG_LIMIT_MAX_OBJECT, 3, "out of range");
  lua_settop(L, 3);
  /* Writing the call is the gateway's work, bounded by `max` like a request's decoding: once
   * written, the time it took is not counted against the rule. (The clock is still looked at
   * while it is written: a rule's table can be far costlier to walk than its bytes.) */
  long long started = tg_monotonic_ns();
  writer_t w = {.out = tg_box_lua_buf(L), .compact = 1, .exact = 1, .max = (size_t)max};
  puts_(L, w.out, "<?xml version=\"1.0\"?><methodcall><name>");
  escape(L, &w, "name", method, len);
  puts_(L, w.out, "</name>");
  encode_element(L, &w, "params", 2, 1);
  puts_(L, w.out, "</methodcall>");
  within_bound(L, &w);
  lua_pushlstring(L, w.out->data, w.out->len);
  tg_limit_postpone(tg_monotonic_ns() - started);
  return 1;
}

enum { DECODE_LIMIT = 64u << 20 }; /* bytes a document decoded from Lua may take */

/* Decodes argument 1 into an arena boxed on the stack (box_lua.h): the root, or NULL and why. */
static tg_xml_node_t *decode_argument(lua_State *L, const char **why) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  tg_arena_t *arena = tg_box_lua_arena(L, DECODE_LIMIT);
  *why = NULL;
  return tg_xml_decode(arena, bytes, len, why);
}

/* xml.decode(bytes) -> call table, as the gateway builds it for a request body. */
static int xml_decode(lua_State *L) {
  const char *why;
  tg_xml_node_t *root = decode_argument(L, &why);
  tg_xml_lua_push_call(L, root, why, 0);
  return 1;
}

/* xml.decode_document(bytes) -> the root element's name and value, or nil and the reason. */
static int xml_decode_document(lua_State *L) {
  const char *why;
  tg_xml_node_t *root = decode_argument(L, &why);
  if (!root) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushstring(L, root->name);
  push_value(L, root, 0, NULL);
  return 2;
}

void tg_xml_lua_push_document(lua_State *L, const char *bytes, size_t len) {
  lua_pushlstring(L, bytes, len);
  lua_pushcfunction(L, xml_decode_document);
  lua_insert(L, -2);
  lua_call(L, 1, 2);
}

/* xml.name_ok(name) -> whether the encoder writes name as an element name (the JSON reply asks
 * the same of its keys, so that a reply is good in both forms or in neither). */
static int xml_name_ok(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, tg_xml_name_ok(name, len));
  return 1;
}

int tg_xml_lua_open(lua_State *L) {
  static const luaL_Reg functions[] = {{"encode", xml_encode},   {"encode_call", xml_encode_call},
                                       {"decode", xml_decode},   {"decode_document", xml_decode_document},
                                       {"name_ok", xml_name_ok}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
