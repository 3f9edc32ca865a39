/* reply_fuzz.c: libFuzzer target for the reply encoders: the bytes describe a reply table (keys
 * of every kind, strings with any bytes, integers, floats with NaN and infinities, booleans,
 * functions, nested tables, lists with holes, reply.record and reply.list, cycles), which is
 * encoded by the runtime's real encoders, the XML one (src/xml_lua.c) and the JSON one
 * (lua/taskgate/json_reply.lua). Either both refuse it (the call would fault 1999 and undo its
 * changes) or both encode it, and the XML is then well-formed (src/xml.c reads it back). */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys_lua.h"
#include "xml.h"
#include "xml_lua.h"

/* Turns the bytes into a reply table, one operation per byte, on a stack of tables. */
static const char BUILDER[] =
    "local reply = require 'taskgate.reply'\n"
    "return function(bytes)\n"
    "  local root = {}\n"
    "  local stack, at = { root }, 1\n"
    "  local keys = { 'task_id', 'a', 'b', 'x-y', '_z', 'a b', '', '1st', 'pré', 'q.r', 'x:y' }\n"
    "  local i = 1\n"
    "  local function byte() i = i + 1 return bytes:byte(i - 1) or 0 end\n"
    "  local function key()\n"
    "    local k = byte()\n"
    "    if k < 200 then return keys[k % #keys + 1] end\n"
    "    if k < 230 then return k - 215 end\n"
    "    if k < 240 then return (k - 235) / 2 end\n"
    "    local n = byte() % 8\n"
    "    local s = bytes:sub(i, i + n - 1)\n"
    "    i = i + n\n"
    "    return s\n"
    "  end\n"
    "  local function value()\n"
    "    local v = byte() % 9\n"
    "    if v == 0 then return byte() * 1000 - 128000 end\n"
    "    if v == 1 then return ({ 0 / 0, 1 / 0, -1 / 0, 0.5, -2.25, 1e300, 2^63 })[byte() % 7 + 1] end\n"
    "    if v == 2 then return byte() % 2 == 0 end\n"
    "    if v == 3 then local n = byte() % 16 local s = bytes:sub(i, i + n - 1) i = i + n return s end\n"
    "    if v == 4 then return print end\n"
    "    if v == 5 then return {} end\n"
    "    if v == 6 then return reply.list({}) end\n"
    "    if v == 7 then return stack[at] end\n"
    "    return tostring(byte())\n"
    "  end\n"
    "  while i <= #bytes do\n"
    "    local op, t = byte() % 8, stack[at]\n"
    "    if op == 0 then t[key()] = value()\n"
    "    elseif op == 1 then t[#t + 1] = value()\n"
    "    elseif op == 2 and at < 12 then local child = {} t[key()] = child at = at + 1 stack[at] = child\n"
    "    elseif op == 3 and at > 1 then at = at - 1\n"
    "    elseif op == 4 and getmetatable(t) == nil then reply.list(t)\n"
    "    elseif op == 5 and getmetatable(t) == nil then\n"
    "      local order = {} for k in pairs(t) do if type(k) == 'string' then order[#order + 1] = k end end\n"
    "      table.sort(order, function(x, y) return x > y end)\n"
    "      reply.record(order, t)\n"
    "    elseif op == 6 then t[byte() % 6 + 1] = nil\n"
    "    elseif op == 7 and at < 12 then local child = {} t[#t + 1] = child at = at + 1 stack[at] = child\n"
    "    end\n"
    "  end\n"
    "  return { params = root }\n"
    "end\n";

static lua_State *L;
static int build_ref, json_ref, xml_ref;

static int open_sys(lua_State *state) {
  tg_sys_lua_push(state, NULL);
  return 1;
}

static void preload(const char *name, lua_CFunction open) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static int ref_of(const char *chunk_or_module, int is_chunk) {
  if (is_chunk ? luaL_dostring(L, chunk_or_module)
               : (lua_getglobal(L, "require"), lua_pushstring(L, chunk_or_module), lua_pcall(L, 1, 1, 0))) {
    fprintf(stderr, "reply_fuzz: %s\n", lua_tostring(L, -1));
    abort();
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static void set_up(void) {
  tg_xml_init();
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, TG_SOURCE_DIR "/lua/?.lua");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  preload("taskgate.sys", open_sys);
  preload("taskgate.xml", tg_xml_lua_open);
  build_ref = ref_of(BUILDER, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_of("taskgate.json_reply", 0));
  lua_getfield(L, -1, "encode");
  json_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_of("taskgate.xml", 0));
  lua_getfield(L, -1, "encode");
  xml_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
}

/* Encodes the reply at the top of the stack with the encoder under ref; returns 1 when it gave
 * a string (left on the stack), 0 when it refused (nothing left). */
static int encode(int ref, int reply) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushvalue(L, reply);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_isstring(L, -1))
    __builtin_trap();
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L)
    set_up();
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, build_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    __builtin_trap(); /* the builder itself never fails */
  int reply = lua_gettop(L);
  int xml_ok = encode(xml_ref, reply);
  if (xml_ok) {
    size_t len;
    const char *bytes = lua_tolstring(L, -1, &len);
    tg_arena_t arena = {.limit = 64u << 20};
    const char *why = NULL;
    tg_xml_node_t *root = tg_xml_decode(&arena, bytes, len, &why);
    if (!root || strcmp(root->name, "response") != 0)
      __builtin_trap(); /* the encoder wrote XML that is not well-formed */
    tg_arena_free(&arena);
  }
  int json_ok = encode(json_ref, reply);
  if (xml_ok != json_ok)
    __builtin_trap(); /* one form accepts a reply the other refuses */
  lua_settop(L, top);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
