/* handler.c: the request path: bytes -> decoded call -> rule (in one transaction) -> reply. */
#include "handler.h"

#include <lauxlib.h>
#include <string.h>

#include "xml.h"
#include "xml_lua.h"

enum { MAX_DECODED_BYTES = 8 * 1024 * 1024 };

typedef struct call_s {
  tg_handler_t *h;
  const tg_xml_node_t *root;
  const char *why;
  const char *client;
  tg_buf_t *reply;
} call_t;

/* Appends the string on top of L to out; raises if it is not a string. */
static void take_reply(lua_State *L, tg_buf_t *out) {
  size_t len;
  const char *xml = lua_tolstring(L, -1, &len);
  if (!xml)
    luaL_error(L, "host returned a %s, not the reply XML", luaL_typename(L, -1));
  if (tg_buf_append(out, xml, len) < 0)
    luaL_error(L, "out of memory");
}

/* Runs inside the gate: host.handle(call) returns the reply document as a string. */
static int run_call(lua_State *L) {
  call_t *call = lua_touserdata(L, 1);
  tg_script_push_host(call->h->script, L);
  lua_getfield(L, -1, "handle");
  tg_xml_lua_push_call(L, call->root, call->why);
  lua_pushstring(L, call->client);
  lua_setfield(L, -2, "client");
  lua_call(L, 1, 1);
  take_reply(L, call->reply);
  return 0;
}

static int build_fallback(lua_State *L) {
  tg_handler_t *h = lua_touserdata(L, 1);
  tg_script_push_host(h->script, L);
  lua_getfield(L, -1, "internal_error_reply");
  lua_call(L, 0, 1);
  take_reply(L, &h->fallback);
  return 0;
}

int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store) {
  memset(h, 0, sizeof *h);
  h->script = script;
  h->store = store;
  h->arena.limit = MAX_DECODED_BYTES;
  return tg_script_call(script, build_fallback, h);
}

int tg_handler_task(void *ctx, const char *client, const char *body, size_t len, tg_buf_t *reply) {
  tg_handler_t *h = ctx;
  call_t call = {.h = h, .client = client, .reply = reply};
  call.root = tg_xml_decode(&h->arena, body, len, &call.why);
  size_t reply_start = reply->len;
  if (tg_script_call(h->script, run_call, &call) < 0) {
    /* Lua failed beyond the rules' own error handling (time or memory limit): undo the call. */
    tg_store_rollback(h->store);
    reply->len = reply_start;
    tg_buf_append(reply, h->fallback.data, h->fallback.len);
  }
  tg_arena_reset(&h->arena);
  return 0;
}

void tg_handler_free(tg_handler_t *h) {
  tg_arena_free(&h->arena);
  tg_buf_free(&h->fallback);
}
