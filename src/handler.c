/* handler.c: the request path: bytes -> decoded call -> rule (in one transaction) -> reply. */
#include "handler.h"

#include <lauxlib.h>
#include <string.h>

#include "xml.h"
#include "xml_lua.h"

enum { MAX_DECODED_BYTES = 8 * 1024 * 1024 };

typedef struct call_s {
  tg_script_t *script;
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
  tg_script_push_host(call->script, L);
  lua_getfield(L, -1, "handle");
  tg_xml_lua_push_call(L, call->root, call->why);
  lua_pushstring(L, call->client);
  lua_setfield(L, -2, "client");
  lua_call(L, 1, 1);
  take_reply(L, call->reply);
  return 0;
}

typedef struct fallback_s {
  tg_script_t *script;
  tg_buf_t *out;
} fallback_t;

static int build_fallback(lua_State *L) {
  fallback_t *f = lua_touserdata(L, 1);
  tg_script_push_host(f->script, L);
  lua_getfield(L, -1, "internal_error_reply");
  lua_call(L, 0, 1);
  take_reply(L, f->out);
  return 0;
}

int tg_handler_swap(tg_handler_t *h, tg_script_t *next) {
  tg_buf_t fallback = {0};
  fallback_t f = {.script = next, .out = &fallback};
  if (tg_script_call(next, build_fallback, &f) < 0) {
    tg_buf_free(&fallback);
    return -1;
  }
  tg_script_retain(next);
  tg_script_release(h->script);
  h->script = next;
  tg_buf_free(&h->fallback);
  h->fallback = fallback;
  return 0;
}

int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store) {
  memset(h, 0, sizeof *h);
  h->store = store;
  h->arena.limit = MAX_DECODED_BYTES;
  return tg_handler_swap(h, script);
}

int tg_handler_task(void *ctx, const char *client, const char *body, size_t len, tg_buf_t *reply) {
  tg_handler_t *h = ctx;
  /* The call holds its generation, so a reload while it runs cannot close its Lua state. */
  call_t call = {.script = h->script, .client = client, .reply = reply};
  tg_script_retain(call.script);
  call.root = tg_xml_decode(&h->arena, body, len, &call.why);
  size_t reply_start = reply->len;
  if (tg_script_call(call.script, run_call, &call) < 0) {
    /* Lua failed beyond the rules' own error handling (time or memory limit): undo the call. */
    tg_store_abort(h->store);
    reply->len = reply_start;
    tg_buf_append(reply, h->fallback.data, h->fallback.len);
  }
  tg_script_release(call.script);
  tg_arena_reset(&h->arena);
  return 0;
}

void tg_handler_free(tg_handler_t *h) {
  tg_script_release(h->script);
  h->script = NULL;
  tg_arena_free(&h->arena);
  tg_buf_free(&h->fallback);
}
