/* handler.c: the request path: bytes -> decoded call -> rule (in a transaction) -> reply. A
 * rule that waits on the network leaves a waiting call here; the outbound request's completion
 * resumes the rule in the generation it started on. */
#include "handler.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "sys_lua.h"
#include "xml.h"
#include "xml_lua.h"

enum { MAX_DECODED_BYTES = 8 * 1024 * 1024 };

struct tg_waiting_call_s {
  tg_waiting_call_t *next;
  tg_handler_t *h;
  tg_call_note_t note; /* method, outcome and id, for the call's log line */
  double started;
  tg_script_t *script; /* the generation the call started on, held until it ends */
  tg_http_t *http;     /* the client's connection, or NULL once it is gone */
  lua_Integer token;
};

/* What one step of a call produced: the reply, or the outbound request it waits on. */
typedef struct step_s {
  tg_script_t *script;
  tg_buf_t *reply;
  tg_call_note_t *note;
  /* the call's first step */
  const tg_xml_node_t *root;
  const char *why;
  const char *client;
  int legacy;
  /* a later step: the token and the outbound result */
  lua_Integer resume_token;
  const tg_upstream_result_t *result;
  /* out: a request to make */
  lua_Integer token;
  tg_buf_t method, url, content_type, body;
} step_t;

static void copy_field(lua_State *L, int table, const char *name, tg_buf_t *out) {
  size_t len = 0;
  lua_getfield(L, table, name);
  const char *s = lua_tolstring(L, -1, &len);
  out->len = 0;
  if (tg_buf_append(out, s ? s : "", s ? len : 0) < 0)
    luaL_error(L, "out of memory");
  lua_pop(L, 1);
}

/* Reads host.handle's or host.resume's results: a reply string, or nil, request, token. */
static void take_outcome(lua_State *L, step_t *step) {
  int base = lua_gettop(L) - 2;
  if (lua_type(L, base) == LUA_TSTRING) {
    size_t len;
    const char *xml = lua_tolstring(L, base, &len);
    if (tg_buf_append(step->reply, xml, len) < 0)
      luaL_error(L, "out of memory");
    return;
  }
  if (!lua_istable(L, base + 1) || !lua_isinteger(L, base + 2))
    luaL_error(L, "host returned neither a reply nor a request");
  copy_field(L, base + 1, "method", &step->method);
  copy_field(L, base + 1, "url", &step->url);
  copy_field(L, base + 1, "content_type", &step->content_type);
  copy_field(L, base + 1, "body", &step->body);
  step->token = lua_tointeger(L, base + 2);
}

/* Runs inside the gate: host.handle(call). */
static int first_step(lua_State *L) {
  step_t *step = lua_touserdata(L, 1);
  tg_script_push_host(step->script, L);
  lua_getfield(L, -1, "handle");
  tg_xml_lua_push_call(L, step->root, step->why);
  lua_pushstring(L, step->client);
  lua_setfield(L, -2, "client");
  lua_pushboolean(L, step->legacy);
  lua_setfield(L, -2, "legacy");
  lua_call(L, 1, 3);
  take_outcome(L, step);
  return 0;
}

/* Runs inside the gate: host.resume(token, {status, body} or {error}). */
static int next_step(lua_State *L) {
  step_t *step = lua_touserdata(L, 1);
  tg_script_push_host(step->script, L);
  lua_getfield(L, -1, "resume");
  lua_pushinteger(L, step->resume_token);
  lua_createtable(L, 0, 2);
  if (step->result->error) {
    lua_pushstring(L, step->result->reason ? step->result->reason : "failed");
    lua_setfield(L, -2, "error");
  } else {
    lua_pushinteger(L, step->result->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, step->result->body, step->result->len);
    lua_setfield(L, -2, "body");
  }
  lua_call(L, 2, 3);
  take_outcome(L, step);
  return 0;
}

static void free_step(step_t *step) {
  tg_buf_free(&step->method);
  tg_buf_free(&step->url);
  tg_buf_free(&step->content_type);
  tg_buf_free(&step->body);
}

/* Runs one step in the gate; on a Lua failure the call is undone and the fallback answers. */
static void run_step(tg_handler_t *h, step_t *step, lua_CFunction fn) {
  size_t reply_start = step->reply->len;
  step->token = 0;
  tg_sys_lua_set_call(step->note);
  int batched = h->batch && tg_batch_begin_call(h->batch) == 0;
  int failed = tg_script_call(step->script, fn, step) < 0;
  if (batched)
    tg_batch_end_call(h->batch, !failed); /* a failed step's changes go; the turn's others stay */
  if (failed) {
    if (!batched)
      tg_store_abort(h->store); /* the time or memory limit struck beyond the rules' own handling */
    step->reply->len = reply_start;
    tg_buf_append(step->reply, h->fallback.data, h->fallback.len);
    step->token = 0;
    const char *why = tg_script_last_error(step->script);
    snprintf(step->note->outcome, sizeof step->note->outcome, "1999");
    snprintf(step->note->failure, sizeof step->note->failure, "%s",
             strstr(why, "time limit") ? "timeout"
             : strstr(why, "memory")   ? "memory"
                                       : "error");
  }
  tg_sys_lua_set_call(NULL);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One log line and the metrics of a call that has its reply. */
static void account(const tg_call_note_t *note, double started) {
  double seconds = now_seconds() - started;
  const char *method = note->method[0] ? note->method : "-";
  tg_metrics_call(method, note->outcome[0] ? note->outcome : "ok");
  tg_metrics_observe(TG_HIST_REQUEST, seconds);
  if (note->failure[0])
    tg_metrics_rule_failure(method, note->failure);
  if (tg_log_enabled(TG_LOG_INFO))
    tg_log(TG_LOG_INFO, "call", "request_id=%llu client=%s method=%s outcome=%s ms=%.3f", note->id, note->client,
           method, note->outcome[0] ? note->outcome : "ok", seconds * 1000);
}

static void on_outbound_done(void *data, const tg_upstream_result_t *result);

/* Sends the step's request; returns 0, or -1 when it could not even be sent (the waiting call
 * must then be resumed with the failure at once). */
static int send_outbound(tg_handler_t *h, tg_waiting_call_t *call, step_t *step) {
  if (!h->upstream)
    return -1;
  return tg_upstream_request(h->upstream, step->method.data, step->url.data, step->content_type.data,
                             step->body.data ? step->body.data : "", step->body.len, on_outbound_done, call) < 0
             ? -1
             : 0;
}

static void forget(tg_handler_t *h, tg_waiting_call_t *call) {
  for (tg_waiting_call_t **at = &h->waiting; *at; at = &(*at)->next) {
    if (*at == call) {
      *at = call->next;
      break;
    }
  }
  tg_script_release(call->script);
  free(call);
}

/* Keeps resuming the call while its requests cannot be sent; returns 1 when it now waits on
 * the network, 0 when step->reply holds its reply. */
static int settle(tg_handler_t *h, tg_waiting_call_t *call, step_t *step) {
  while (step->token) {
    call->token = step->token;
    if (send_outbound(h, call, step) == 0)
      return 1;
    tg_upstream_result_t failed = {.error = -1, .reason = h->upstream ? "bad URL or unknown host" : "no outbound HTTP"};
    step->resume_token = call->token;
    step->result = &failed;
    run_step(h, step, next_step);
  }
  return 0;
}

static void on_outbound_done(void *data, const tg_upstream_result_t *result) {
  tg_waiting_call_t *call = data;
  tg_handler_t *h = call->h;
  tg_buf_t reply = {0};
  step_t step = {
      .script = call->script, .reply = &reply, .note = &call->note, .resume_token = call->token, .result = result};
  run_step(h, &step, next_step);
  if (!settle(h, call, &step)) {
    account(&call->note, call->started);
    if (call->http)
      call->http->deliver(call->http, reply.data ? reply.data : "", reply.len);
    forget(h, call);
  }
  free_step(&step);
  tg_buf_free(&reply);
}

int tg_handler_task(void *ctx, tg_http_t *http, const char *body, size_t len, tg_buf_t *reply) {
  tg_handler_t *h = ctx;
  static unsigned long long last_id;
  tg_call_note_t note = {.id = ++last_id};
  snprintf(note.client, sizeof note.client, "%s", http->client ? http->client : "");
  double started = now_seconds();
  /* The call holds its generation, so a reload while it runs cannot close its Lua state. */
  step_t step = {.script = h->script, .reply = reply, .note = &note, .client = http->client, .legacy = http->legacy};
  tg_script_retain(step.script);
  step.root = tg_xml_decode(&h->arena, body, len, &step.why);
  run_step(h, &step, first_step);
  tg_arena_reset(&h->arena);
  int rc = 0;
  if (step.token) {
    tg_waiting_call_t *call = calloc(1, sizeof *call);
    if (!call) { /* cannot wait: answer with the fallback; the suspended rule is dropped */
      tg_buf_append(reply, h->fallback.data, h->fallback.len);
      tg_script_release(step.script);
      account(&note, started);
    } else {
      *call = (tg_waiting_call_t){
          .next = h->waiting, .h = h, .note = note, .started = started, .script = step.script, .http = http};
      step.note = &call->note;
      h->waiting = call;
      if (settle(h, call, &step)) {
        rc = TG_HTTP_LATER;
      } else {
        account(&call->note, started);
        forget(h, call);
      }
    }
  } else {
    tg_script_release(step.script);
    account(&note, started);
  }
  free_step(&step);
  return rc;
}

void tg_handler_abandon(void *ctx, tg_http_t *http) {
  tg_handler_t *h = ctx;
  for (tg_waiting_call_t *call = h->waiting; call; call = call->next)
    if (call->http == http)
      call->http = NULL;
}

int tg_handler_waiting(const tg_handler_t *h) {
  int n = 0;
  for (const tg_waiting_call_t *call = h->waiting; call; call = call->next)
    n++;
  return n;
}

int tg_handler_swap(tg_handler_t *h, tg_script_t *next) {
  tg_buf_t fallback = {0};
  if (tg_script_host_string(next, "internal_error_reply", &fallback) < 0) {
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

int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store, tg_upstream_t *upstream) {
  memset(h, 0, sizeof *h);
  h->store = store;
  h->upstream = upstream;
  h->arena.limit = MAX_DECODED_BYTES;
  return tg_handler_swap(h, script);
}

void tg_handler_free(tg_handler_t *h) {
  while (h->waiting)
    forget(h, h->waiting);
  tg_script_release(h->script);
  h->script = NULL;
  tg_arena_free(&h->arena);
  tg_buf_free(&h->fallback);
}
