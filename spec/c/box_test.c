/* box_test.c: C memory boxed for Lua (src/box_lua.c) is freed whichever way the C function that
 * holds it ends: returning, raising, running out of Lua memory, or dying in a coroutine. The
 * buffer and arena code is included here with its allocations counted. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

#include "unit.h"

static long live_blocks; /* blocks of tg_buf and tg_arena not yet freed */

static void *counted_malloc(size_t size) {
  void *p = malloc(size);
  live_blocks += p != NULL;
  return p;
}

static void *counted_realloc(void *p, size_t size) {
  void *grown = realloc(p, size);
  live_blocks += grown && !p;
  return grown;
}

static void counted_free(void *p) {
  live_blocks -= p != NULL;
  free(p);
}

#define malloc counted_malloc
#define realloc counted_realloc
#define free counted_free
#include "../../src/arena.c"
#include "../../src/buf.c"
#undef malloc
#undef realloc
#undef free

#include "../../src/box_lua.c"
#include "json_lua.h"
#include "xml_lua.h"

static tg_buf_t *last_buf; /* the buffer of the last box made, to look at after the call */

/* A Lua state whose collector does not run: a box closed at the end of its call is then seen
 * freed by __close alone, not by a collection. */
static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_gc(L, LUA_GCSTOP);
  return L;
}

static int fills_then_returns(lua_State *L) {
  last_buf = tg_box_lua_buf(L);
  tg_box_lua_put(L, last_buf, "some bytes", 10);
  lua_pushlstring(L, last_buf->data, last_buf->len);
  return 1;
}

static int fills_then_raises(lua_State *L) {
  last_buf = tg_box_lua_buf(L);
  for (int i = 0; i < 1000; i++)
    tg_box_lua_put(L, last_buf, "a piece longer than sixteen bytes", 33);
  return luaL_error(L, "a bad value");
}

static int grows_past_the_bound(lua_State *L) {
  last_buf = tg_box_lua_buf(L);
  static char block[1 << 20];
  for (int i = 0; i < 32; i++)
    tg_box_lua_put(L, last_buf, block, sizeof block);
  return 0;
}

/* Calls fn alone in a new state and checks that it ended with status and that its box is freed
 * (by __close: the collector is stopped). Returns the state, its one result on top. */
static lua_State *call_alone(lua_CFunction fn, int status) {
  lua_State *L = new_state();
  lua_pushcfunction(L, fn);
  CHECK_INT(lua_pcall(L, 0, 1, 0), status);
  CHECK(last_buf->data == NULL); /* the box itself is not collected yet */
  CHECK_INT(live_blocks, 0);
  return L;
}

static void a_buffer_is_freed_when_its_function_returns(void) {
  lua_State *L = call_alone(fills_then_returns, LUA_OK);
  CHECK_BYTES(lua_tostring(L, -1), lua_rawlen(L, -1), "some bytes");
  lua_close(L);
}

static void a_buffer_is_freed_when_its_function_raises(void) {
  lua_State *L = call_alone(fills_then_raises, LUA_ERRRUN);
  CHECK(strstr(lua_tostring(L, -1), "a bad value") != NULL);
  lua_close(L);
}

static void a_buffer_past_the_object_bound_raises_and_is_freed(void) {
  lua_State *L = call_alone(grows_past_the_bound, LUA_ERRRUN);
  CHECK(strstr(lua_tostring(L, -1), "larger than 16 MiB") != NULL);
  lua_close(L);
}

static void a_box_in_a_coroutine_that_dies_is_freed_when_collected(void) {
  lua_State *L = luaL_newstate();
  lua_State *co = lua_newthread(L);
  lua_pushcfunction(co, fills_then_raises);
  int results;
  CHECK_INT(lua_resume(co, L, 0, &results), LUA_ERRRUN);
  CHECK(live_blocks > 0); /* the dead coroutine still holds it: nothing closed it */
  lua_pop(L, 1);          /* the coroutine goes, and its box with it */
  lua_gc(L, LUA_GCCOLLECT);
  CHECK_INT(live_blocks, 0);
  lua_close(L);
}

/* A table whose second element cannot be read: the encoder raises halfway through. */
static void push_failing_list(lua_State *L) {
  luaL_dostring(L, "return setmetatable({ 'first' }, { __index = function(_, i)"
                   " if i == 2 then error('unreadable') end end })");
}

static void a_json_text_is_freed_when_encoding_raises(void) {
  lua_State *L = new_state();
  lua_pushcfunction(L, tg_json_lua_encode);
  push_failing_list(L);
  CHECK_INT(lua_pcall(L, 1, 1, 0), LUA_ERRRUN);
  CHECK(strstr(lua_tostring(L, -1), "unreadable") != NULL);
  CHECK_INT(live_blocks, 0);
  lua_pop(L, 1);
  lua_pushcfunction(L, tg_json_lua_encode);
  luaL_dostring(L, "return { b = 2, a = { 1, 'x' } }");
  CHECK_INT(lua_pcall(L, 1, 1, 0), LUA_OK);
  CHECK_BYTES(lua_tostring(L, -1), lua_rawlen(L, -1), "{\"a\":[1,\"x\"],\"b\":2}");
  CHECK_INT(live_blocks, 0);
  lua_close(L);
}

static void an_encode_nested_in_an_encode_has_its_own_text(void) {
  lua_State *L = new_state();
  lua_pushcfunction(L, tg_json_lua_encode);
  lua_setglobal(L, "encode");
  luaL_dostring(L, "return encode(setmetatable({ 'a' }, { __index = function(_, i)"
                   " if i == 2 then return encode({ 'inner' }) end end }))");
  CHECK_BYTES(lua_tostring(L, -1), lua_rawlen(L, -1), "[\"a\",\"[\\\"inner\\\"]\"]");
  CHECK_INT(live_blocks, 0);
  lua_close(L);
}

/* An allocator that refuses to grow the state past lua_cap bytes. */
static size_t lua_bytes, lua_cap = (size_t)-1;
static void *small_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    lua_bytes -= old;
    return NULL;
  }
  if (nsize > old && lua_bytes - old + nsize > lua_cap)
    return NULL;
  void *grown = realloc(ptr, nsize);
  if (grown)
    lua_bytes = lua_bytes - old + nsize;
  return grown;
}

static void a_decoded_document_is_freed_when_lua_runs_out_of_memory(void) {
  lua_State *L = lua_newstate(small_alloc, NULL);
  luaL_openlibs(L);
  luaL_requiref(L, "xml", tg_xml_lua_open, 1);
  luaL_dostring(L, "return '<methodcall><name>m</name><params>' .. string.rep('<a>1</a>', 2000)"
                   " .. string.rep('<b>2</b>', 2000) .. '</params></methodcall>'");
  size_t len;
  const char *document = lua_tolstring(L, -1, &len);
  lua_getfield(L, -2, "decode");
  lua_pushlstring(L, document, len);
  lua_gc(L, LUA_GCCOLLECT);
  lua_cap = lua_bytes + 32 * 1024; /* the two arrays of 2000 values do not fit */
  CHECK_INT(lua_pcall(L, 1, 1, 0), LUA_ERRMEM);
  lua_cap = (size_t)-1;
  CHECK_INT(live_blocks, 0);
  lua_close(L);
}

static void a_decoded_document_is_freed_when_its_table_is_built(void) {
  lua_State *L = new_state();
  luaL_requiref(L, "xml", tg_xml_lua_open, 1);
  lua_getfield(L, -1, "decode");
  lua_pushliteral(L, "<methodcall><name>cancel_task</name><params><task_id>7</task_id></params></methodcall>");
  CHECK_INT(lua_pcall(L, 1, 1, 0), LUA_OK);
  lua_getfield(L, -1, "name");
  CHECK_BYTES(lua_tostring(L, -1), lua_rawlen(L, -1), "cancel_task");
  CHECK_INT(live_blocks, 0);
  lua_close(L);
}

int main(void) {
  TEST(a_buffer_is_freed_when_its_function_returns);
  TEST(a_buffer_is_freed_when_its_function_raises);
  TEST(a_buffer_past_the_object_bound_raises_and_is_freed);
  TEST(a_box_in_a_coroutine_that_dies_is_freed_when_collected);
  TEST(a_json_text_is_freed_when_encoding_raises);
  TEST(an_encode_nested_in_an_encode_has_its_own_text);
  TEST(a_decoded_document_is_freed_when_lua_runs_out_of_memory);
  TEST(a_decoded_document_is_freed_when_its_table_is_built);
  return unit_done();
}
