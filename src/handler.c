/* handler.c: the request path: bytes -> decoded, queued call -> (at the end of the loop turn,
 * in the batch's transaction) rule -> reply -> (after the commit) the connection. A
 * rule that waits on the network leaves its call waiting here; the outbound request's
 * completion queues it again, and it resumes in the generation it started on. */
#include "handler.h"

#include <assert.h>
#include <lauxlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "charset.h"
#include "clock.h"
#include "fault_names.h"
#include "json.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "read_only.h"
#include "sys_lua.h"
#include "txn.h"
#include "upstreams.h"
#include "xml.h"
#include "xml_lua.h"

enum {
  MAX_DECODED_BYTES = 8 * 1024 * 1024,
  SPARE_CALLS = 64,          /* answered calls kept for reuse, with their reply buffers */
  SPARE_REPLY_BYTES = 16384, /* a reply buffer grown past this is not kept */
  RUNS_AGAIN_MAX = 3,        /* a call met a conflict of the moment: runs again at most */
};

struct tg_call_s {
  tg_call_t *next;
  tg_call_state_t state;
  tg_handler_t *h;
  tg_http_t *http;     /* the client's connection, or NULL once it is gone */
  tg_call_note_t note; /* method, outcome and id, for the call's log line */
  tg_event_keys_t keys; /* task, group, port and bin it names, for the console */
  double started;
  tg_script_t *script; /* the generation the call started on (NULL before its first step) */
  /* the request, decoded on arrival (outside the store lock) into the handler's arena */
  const tg_xml_node_t *root;
  const char *why; /* why it did not decode, or NULL */
  /* in bridge mode, an XML request's body as received, in the same arena, and its Content-Type
   * ("" when none came): the call goes upstream as these bytes while no rule changed it */
  const char *received;
  size_t received_len;
  char received_type[sizeof ((tg_http_t *)0)->content_type];
  int legacy;
  int interface;           /* TG_HTTP_TASK or TG_HTTP_BIN */
  int read_only;           /* its steps run on the handler's reader (decided before its first) */
  char forwarded_for[128]; /* the X-Forwarded-For chain the request came with, or "" */
  char via[sizeof ((tg_http_t *)0)->via]; /* the Via chain the request came with, or "" */
  int looped; /* the request came through this gateway already (or through too many hops to
               * tell): it sends nothing on */
  int json;                /* a JSON methodcall: the rules see call.form = "json" and the reply is JSON */
  /* while it waits on the network: the request's token, then its outcome */
  lua_Integer token;
  int failed_outbound;
  int sent; /* the failed request may have reached its server: its outcome is unknown */
  int to_upstream;      /* the request it waits on goes to an --upstream */
  int upstream_reached; /* a request to an --upstream may have reached it: no later failure of
                         * the call may say "nothing changed" (1999); it is 1922, outcome unknown */
  int runs_again; /* times its first step met a conflict of the moment and was run again */
  int status;
  tg_buf_t result_body;
  char result_charset[40]; /* the charset its bytes are in, when not UTF-8 (charset.h), or "" */
  char reason[96];
  tg_buf_t reply;
};

/* How this gateway names itself in the Via header of what it sends ("1.1 taskgate-6f1c0a3e", the
 * tag drawn at start): a request whose Via holds the name came through here before. */
static char via_name[32];
static const char *self_name(void) { return via_name + 4; }

/* How a step of a call ended: why its coroutine stopped, as the host reports it. */
typedef enum step_end_e {
  STEP_REPLIED, /* the call has its reply (a fault and the fallback included) */
  STEP_WAITS,   /* the rule waits on an outbound request: the step's request and token */
  STEP_AGAIN,   /* a first step met a conflict of the moment and changed nothing: run it again */
} step_end_t;

/* What one step of a call produced: the reply, or the outbound request it waits on. */
typedef struct step_s {
  tg_call_t *call;
  const tg_xml_node_t *root; /* a first step: the decoded request */
  const char *why;
  const tg_upstream_result_t *result; /* a later step: the outbound result */
  step_end_t end;
  /* out, when it waits: the request to make, and the token that resumes the rule */
  lua_Integer token;
  tg_buf_t method, url, content_type, body;
  int via_upstreams, endpoint; /* request.upstream = "task" or "bin": to --upstream's set */
} step_t;

#ifndef NDEBUG
/* The moves of handler.h's tg_call_state_t. */
static int legal_move(tg_call_state_t from, tg_call_state_t to) {
  switch (to) {
  case TG_CALL_QUEUED: return from == TG_CALL_NEW || from == TG_CALL_WAITING;
  case TG_CALL_FOR_STORE: return from == TG_CALL_QUEUED || from == TG_CALL_RUNNING; /* or to run again */
  case TG_CALL_RUNNING: return from == TG_CALL_QUEUED || from == TG_CALL_FOR_STORE;
  case TG_CALL_WAITING:
  case TG_CALL_ANSWERED: return from == TG_CALL_RUNNING;
  default: return 0;
  }
}
#endif

/* The waiting calls' count, for other threads. */
static void count_waiting(tg_handler_t *h) {
  __atomic_store_n(&h->waiting_count, h->calls[TG_CALL_WAITING].count, __ATOMIC_RELAXED);
}

/* Moves call to state `to`: at the end of that state's list, when it has one. The call has
 * already left its old list (take_all, leave_waiting). */
static void move(tg_handler_t *h, tg_call_t *call, tg_call_state_t to) {
  assert(legal_move(call->state, to));
  call->state = to;
  if (to >= TG_CALL_LISTS)
    return;
  tg_call_list_t *list = &h->calls[to];
  call->next = NULL;
  if (list->tail)
    list->tail->next = call;
  else
    list->head = call;
  list->tail = call;
  list->count++;
}

/* Empties the list of state, returning its calls (still in that state until they move). */
static tg_call_t *take_all(tg_handler_t *h, tg_call_state_t state) {
  tg_call_list_t *list = &h->calls[state];
  tg_call_t *head = list->head;
  *list = (tg_call_list_t){0};
  return head;
}

/* Takes a waiting call off its list (its outbound request has ended). */
static void leave_waiting(tg_handler_t *h, tg_call_t *call) {
  tg_call_list_t *list = &h->calls[TG_CALL_WAITING];
  tg_call_t *before = NULL;
  for (tg_call_t *at = list->head; at != call; at = at->next)
    before = at;
  if (before)
    before->next = call->next;
  else
    list->head = call->next;
  if (list->tail == call)
    list->tail = before;
  list->count--;
}

static void copy_field(lua_State *L, int table, const char *name, tg_buf_t *out) {
  size_t len = 0;
  lua_getfield(L, table, name);
  const char *s = lua_tolstring(L, -1, &len);
  out->len = 0;
  if (tg_buf_append(out, s ? s : "", s ? len : 0) < 0)
    luaL_error(L, "out of memory");
  lua_pop(L, 1);
}

/* Reads host.handle's or host.resume's results: a reply string, or nil, request, token, or nil
 * and "again". */
static void take_outcome(lua_State *L, step_t *step) {
  int base = lua_gettop(L) - 2;
  if (lua_type(L, base) == LUA_TSTRING) {
    size_t len;
    const char *xml = lua_tolstring(L, base, &len);
    if (tg_buf_append(&step->call->reply, xml, len) < 0)
      luaL_error(L, "out of memory");
    step->end = STEP_REPLIED;
    return;
  }
  if (lua_type(L, base + 1) == LUA_TSTRING && strcmp(lua_tostring(L, base + 1), "again") == 0) {
    step->end = STEP_AGAIN;
    return;
  }
  if (!lua_istable(L, base + 1) || !lua_isinteger(L, base + 2))
    luaL_error(L, "host returned neither a reply nor a request");
  copy_field(L, base + 1, "method", &step->method);
  copy_field(L, base + 1, "url", &step->url);
  copy_field(L, base + 1, "content_type", &step->content_type);
  copy_field(L, base + 1, "body", &step->body);
  lua_getfield(L, base + 1, "upstream");
  const char *endpoint = lua_tostring(L, -1);
  step->via_upstreams = endpoint != NULL;
  step->endpoint = endpoint && strcmp(endpoint, "bin") == 0 ? TG_UPSTREAMS_BIN : TG_UPSTREAMS_TASK;
  lua_pop(L, 1);
  step->token = lua_tointeger(L, base + 2);
  step->end = STEP_WAITS;
}

/* Whether a first step that met a conflict of the moment (a deadlock's victim, a serialisation
 * failure: PostgreSQL) may be run again in the next turn rather than fault 1934: nothing of it
 * is stored and no reply of it was sent. Bounded, in times and within the store's time for a
 * call. */
static int may_run_again(const tg_call_t *call) {
  return call->runs_again < RUNS_AGAIN_MAX &&
         tg_monotonic_seconds() - call->started < TG_PG_STORE_TIME_MS / 1000.0;
}

/* Runs inside the gate: host.handle(call, may run again). */
static int first_step(lua_State *L) {
  step_t *step = lua_touserdata(L, 1);
  tg_script_push_host(step->call->script, L);
  lua_getfield(L, -1, "handle");
  /* Turning the decoded request into Lua tables is the gateway's work, bounded by the request
   * limits (body, elements): the rule's time limit starts after it. */
  long long decoding = tg_monotonic_ns();
  tg_call_t *call = step->call;
  tg_xml_lua_push_call(L, step->root, step->why, call->h->bridging); /* bridge: order kept */
  tg_limit_postpone(tg_monotonic_ns() - decoding);
  if (call->received) { /* taken off the call by the dispatcher, before any rule sees it */
    lua_pushlstring(L, call->received, call->received_len);
    lua_setfield(L, -2, "received");
    lua_pushstring(L, call->received_type);
    lua_setfield(L, -2, "received_type");
  }
  lua_pushstring(L, step->call->note.client);
  lua_setfield(L, -2, "client");
  if (step->call->note.client_port > 0) {
    lua_pushinteger(L, step->call->note.client_port);
    lua_setfield(L, -2, "client_port");
  }
  lua_pushstring(L, step->call->note.request_id);
  lua_setfield(L, -2, "request_id");
  if (step->call->legacy) { /* absent otherwise, as the rule sees it */
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "legacy");
  }
  lua_pushstring(L, step->call->interface == TG_HTTP_BIN ? "bin" : "task");
  lua_setfield(L, -2, "interface");
  if (step->call->json) { /* absent for XML, as the rule sees it */
    lua_pushliteral(L, "json");
    lua_setfield(L, -2, "form");
  }
  lua_pushboolean(L, may_run_again(call));
  lua_call(L, 2, 3);
  take_outcome(L, step);
  return 0;
}

/* An upstream's reply, decoded into the result table (root = its root element's name or false,
 * value; unread = why it could not be decoded) the way the rule's taskgate.upstream would: the
 * gateway's work, bounded by the reply's size like a request's decoding, so the rule's time
 * limit does not count it (a reply a direct client gets must pass through the bridge too). */
static void push_decoded_reply(lua_State *L, const tg_upstream_result_t *result) {
  long long decoding = tg_monotonic_ns();
  int table = lua_gettop(L);
  tg_xml_lua_push_document(L, result->body, result->len);
  if (lua_isnil(L, -2)) {
    lua_setfield(L, table, "unread"); /* why the reply could not be read: the rule's reason says it */
    lua_pop(L, 1);
    lua_pushboolean(L, 0);
    lua_setfield(L, table, "root");
  } else {
    lua_setfield(L, table, "value");
    lua_setfield(L, table, "root");
  }
  tg_limit_postpone(tg_monotonic_ns() - decoding);
}

/* Runs inside the gate: host.resume(token, {status, body} or {error}). */
static int next_step(lua_State *L) {
  step_t *step = lua_touserdata(L, 1);
  tg_script_push_host(step->call->script, L);
  lua_getfield(L, -1, "resume");
  lua_pushinteger(L, step->call->token);
  lua_createtable(L, 0, 2);
  if (step->result->error) {
    lua_pushstring(L, step->result->reason ? step->result->reason : "failed");
    lua_setfield(L, -2, "error");
    lua_pushboolean(L, step->result->sent);
    lua_setfield(L, -2, "sent");
  } else {
    lua_pushinteger(L, step->result->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, step->result->body, step->result->len);
    lua_setfield(L, -2, "body");
    if (step->call->to_upstream && step->result->status == 200)
      push_decoded_reply(L, step->result);
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

/* Runs inside the gate, after a step of a call the upstream may have executed failed (a limit
 * struck): host.outcome_unknown(token, why) logs and audits it as such. */
static int record_unknown_outcome(lua_State *L) {
  tg_call_t *call = lua_touserdata(L, 1);
  tg_script_push_host(call->script, L);
  lua_getfield(L, -1, "outcome_unknown");
  lua_pushinteger(L, call->token);
  lua_pushstring(L, tg_script_last_error(call->script));
  lua_call(L, 2, 0);
  return 0;
}

/* Runs one step in the gate, on the store's writer or, for a read-only call, the handler's
 * reader. The runtime runs it inside the call's transaction and ends that itself (txn.h); when
 * Lua could not finish (a limit struck), the call's transaction, if still open, is aborted
 * here and the fallback answers. */
static void run_step(tg_handler_t *h, step_t *step, lua_CFunction fn) {
  tg_call_t *call = step->call;
  tg_store_t *store = call->read_only ? h->reader : h->store;
  size_t reply_start = call->reply.len;
  step->end = STEP_REPLIED;
  call->note.owed = call->read_only ? &h->owed : NULL; /* the reader takes no writes */
  tg_script_set_call(call->script, &call->note);
  tg_script_use_store(call->script, store);
  if (tg_script_call(call->script, fn, step) < 0) {
    tg_txn_abort_call(store);
    call->reply.len = reply_start;
    int unknown = call->upstream_reached;
    const tg_buf_t *fallback = unknown ? (call->json ? &h->unknown_json : &h->unknown)
                                       : (call->json ? &h->fallback_json : &h->fallback);
    tg_buf_append(&call->reply, fallback->data, fallback->len);
    step->end = STEP_REPLIED;
    snprintf(call->note.outcome, sizeof call->note.outcome, unknown ? "1922" : "1999");
    snprintf(call->note.failure, sizeof call->note.failure, "%s", tg_script_last_failure(call->script));
    if (unknown) {
      snprintf(call->note.reason, sizeof call->note.reason, "upstream outcome unknown");
      tg_script_call(call->script, record_unknown_outcome, call);
    }
  }
  tg_script_use_store(call->script, NULL);
  tg_script_set_call(call->script, NULL);
}

/* One log line, the metrics and the console's event of a call that has its reply. */
static void account(tg_handler_t *h, const tg_call_t *call) {
  const tg_call_note_t *note = &call->note;
  double seconds = tg_monotonic_seconds() - call->started;
  const char *method = note->method[0] ? note->method : "-";
  const char *outcome = note->outcome[0] ? note->outcome : "ok";
  char fault[48];
  tg_fault_names_get(outcome, fault, sizeof fault); /* "" unless the outcome is a fault code */
  tg_metrics_call(method, outcome, fault, note->reason);
  tg_metrics_call_time(method, seconds);
  if (note->failure[0])
    tg_metrics_rule_failure(method, note->failure);
  tg_event_keys_t keys = call->keys;
  if (strcmp(outcome, "ok") == 0) { /* what it acted on, where the request did not name it */
    long long *key[4] = {&keys.task_id, &keys.taskgroup_id, &keys.port_id, &keys.bin_id};
    for (int i = 0; i < 4; i++)
      if (*key[i] == TG_EVENT_NO_KEY && (note->acted_set & (1u << i)) && note->acted[i] > 0)
        *key[i] = note->acted[i];
  }
  tg_events_record(h->events, note, &keys, fault, note->reason, seconds);
  if (tg_log_enabled(TG_LOG_INFO)) {
    char sent[2 * sizeof note->sent_method + 8] = ""; /* an unknown method's name, quoted and escaped */
    if (note->sent_method[0]) {
      memcpy(sent, " name=", 6);
      tg_log_quote(sent + 6, sizeof sent - 6, note->sent_method, strlen(note->sent_method));
    }
    tg_log(TG_LOG_INFO, "call", "request_id=%s client=%s method=%s%s outcome=%s%s%s%s%s ms=%.3f", note->request_id,
           note->client, method, sent, outcome, fault[0] ? " fault=" : "", fault, note->reason[0] ? " reason=" : "",
           note->reason, seconds * 1000);
  }
}

static void on_outbound_done(void *data, const tg_upstream_result_t *result);

/* Whether the call's client is still there: a queued call whose connection is gone (reset, or
 * closed by the gateway) is never sent (the WMS may already be sending it again). A client that
 * only ended its sending side (EOF: a half-close, as RFC 9112 allows) still reads its replies:
 * its calls are sent and answered, as a standalone gateway answers them. */
static int client_waits(void *data) {
  const tg_call_t *call = data;
  return call->http != NULL;
}

/* Sends the step's request; returns 0, or a negative code when it could not even be sent (the
 * call must then be resumed with the failure at once): UV_ECANCELED when the gateway stops. */
static int send_outbound(tg_handler_t *h, tg_call_t *call, step_t *step) {
  if (!h->upstream || call->looped)
    return -1;
  char forwarded_for[sizeof call->forwarded_for + sizeof call->note.client + 2]; /* the chain, then the client */
  snprintf(forwarded_for, sizeof forwarded_for, "%s%s%s", call->forwarded_for, call->forwarded_for[0] ? ", " : "",
           call->note.client);
  char via[sizeof call->via + sizeof via_name + 2]; /* the chain, then this gateway */
  snprintf(via, sizeof via, "%s%s%s", call->via, call->via[0] ? ", " : "", via_name);
  tg_upstream_request_t request = {.method = step->method.data,
                                   .url = step->url.data,
                                   .content_type = step->content_type.data,
                                   .body = step->body.data,
                                   .len = step->body.len,
                                   .request_id = call->note.request_id,
                                   .forwarded_for = forwarded_for,
                                   .via = via,
                                   .via_upstreams = step->via_upstreams,
                                   .endpoint = step->endpoint,
                                   .still_wanted = client_waits};
  call->to_upstream = step->via_upstreams;
  int rc = tg_upstream_send(h->upstream, &request, on_outbound_done, call);
  return rc == UV_ECANCELED ? rc : rc < 0 ? -1 : 0;
}

/* A call for a new request: a spare one when there is one, so that a request allocates neither
 * its call nor (mostly) its reply buffer. */
static tg_call_t *new_call(tg_handler_t *h) {
  tg_call_t *call = h->spare;
  if (!call) {
    call = calloc(1, sizeof *call);
    if (call)
      call->state = TG_CALL_NEW;
    return call;
  }
  h->spare = call->next;
  h->spare_count--;
  tg_buf_t reply = call->reply;
  memset(call, 0, sizeof *call);
  call->reply = (tg_buf_t){.data = reply.data, .cap = reply.cap};
  call->state = TG_CALL_NEW;
  return call;
}

static void free_call(tg_handler_t *h, tg_call_t *call) {
  tg_buf_free(&call->result_body);
  if (h && h->spare_count < SPARE_CALLS && call->reply.cap <= SPARE_REPLY_BYTES) {
    call->next = h->spare;
    h->spare = call;
    h->spare_count++;
    return;
  }
  tg_buf_free(&call->reply);
  free(call);
}

/* The call has its reply: its generation may go (the store is held), the reply waits for the
 * commit. */
static void answered(tg_handler_t *h, tg_call_t *call) {
  tg_script_release(call->script);
  call->script = NULL;
  move(h, call, TG_CALL_ANSWERED);
}

/* The call's first step changed nothing and is to run again (STEP_AGAIN): it waits for the next
 * store turn, from its start, on the generation current then. Its decoded request stays: the
 * arena it is in is reset only once no call waits to run again (run_writes). */
static void run_again(tg_handler_t *h, tg_call_t *call) {
  tg_script_release(call->script);
  call->script = NULL;
  call->runs_again++;
  call->reply.len = 0;
  tg_call_note_t *note = &call->note;
  note->outcome[0] = note->failure[0] = note->sent_method[0] = note->reason[0] = '\0';
  note->acted_set = 0;
  tg_log(TG_LOG_INFO, "call_runs_again", "request_id=%s client=%s method=%s times=%d", note->request_id, note->client,
         note->method[0] ? note->method : "-", call->runs_again);
  move(h, call, TG_CALL_FOR_STORE);
}

/* Keeps resuming the call while its requests cannot be sent; then it either waits on the
 * network or is answered (or is to run again). */
static void settle(tg_handler_t *h, tg_call_t *call, step_t *step) {
  if (step->end == STEP_AGAIN) {
    run_again(h, call);
    return;
  }
  while (step->end == STEP_WAITS) {
    call->token = step->token;
    int rc = send_outbound(h, call, step);
    if (rc == 0) {
      move(h, call, TG_CALL_WAITING);
      count_waiting(h);
      return;
    }
    tg_upstream_result_t failed = {.error = -1,
                                   .reason = call->looped == 1 ? "forwarding loop: the call came through this gateway"
                                             : call->looped      ? "forwarding loop: the Via chain is too long to tell"
                                             : rc == UV_ECANCELED ? "gateway stopping"
                                             : h->upstream        ? "bad URL or unknown host"
                                                                  : "no outbound HTTP"};
    step->result = &failed;
    run_step(h, step, next_step);
  }
  answered(h, call);
}

/* Runs a queued call's next step: its first, or its resumption with the outbound result. */
static void run_call(tg_handler_t *h, tg_call_t *call) {
  step_t step = {.call = call};
  if (!call->script) {
    call->script = h->script;
    tg_script_retain(call->script); /* a reload meanwhile cannot close the call's Lua state */
    step.root = call->root;
    step.why = call->why;
    run_step(h, &step, first_step);
  } else {
    tg_upstream_result_t result = {.error = call->failed_outbound,
                                   .reason = call->reason,
                                   .sent = call->sent,
                                   .status = call->status,
                                   .body = call->result_body.data ? call->result_body.data : "",
                                   .len = call->result_body.len};
    step.result = &result;
    run_step(h, &step, next_step);
  }
  settle(h, call, &step);
  free_step(&step);
}

/* Whether the decoded call names a method the generation declares read-only on its endpoint:
 * its <name> trimmed and in lower case, as the dispatcher reads it. */
static int names_read_only(const tg_handler_t *h, const tg_call_t *call) {
  if (!call->root || strcmp(call->root->name, "methodcall") != 0)
    return 0;
  const tg_xml_node_t *name = call->root->first_child;
  while (name && strcmp(name->name, "name") != 0)
    name = name->next;
  if (!name || name->first_child)
    return 0;
  return tg_read_only_named(h->read_only.data, h->read_only.len, call->interface == TG_HTTP_BIN, name->text,
                            name->text_len);
}

/* Whether the call's next step runs on the reader: decided before its first step, on the
 * generation it will run on, and kept for the steps after an outbound wait. */
static int runs_on_reader(tg_handler_t *h, tg_call_t *call) {
  if (!call->script)
    call->read_only = h->reader && names_read_only(h, call);
  return call->read_only;
}

static void deliver_answered(void *ctx, tg_turn_end_t end);

/* The read phase, outside the store lock: takes every queued call, runs those that only read
 * on the reader (one read transaction: the store as last committed), hands out their replies,
 * and leaves the others for the store's turn. Returns whether any are left. */
static int run_reads(void *ctx) {
  tg_handler_t *h = ctx;
  tg_call_t *call = take_all(h, TG_CALL_QUEUED);
  h->filling ^= 1; /* the calls taken decoded into the other arena, reset once they have run */
  int reading = 0;
  pthread_mutex_lock(&h->generation_lock);
  while (call) {
    tg_call_t *next = call->next;
    /* once the traces owed reach their bound, the rest write their own in the store's turn */
    if (runs_on_reader(h, call) && !tg_owed_full(&h->owed) && (reading || tg_txn_begin_read(h->reader) == 0)) {
      reading = 1;
      move(h, call, TG_CALL_RUNNING);
      run_call(h, call);
    } else {
      call->read_only = 0;
      move(h, call, TG_CALL_FOR_STORE);
    }
    call = next;
  }
  if (reading)
    tg_txn_commit_turn(h->reader); /* ends the snapshot; nothing was written */
  pthread_mutex_unlock(&h->generation_lock);
  deliver_answered(h, TG_TURN_COMMITTED);
  if (h->calls[TG_CALL_FOR_STORE].head)
    return 1;
  tg_arena_reset(&h->arenas[h->filling ^ 1]);
  return 0;
}

/* The store's turn (the store lock is held): the calls the read phase left. */
static void run_writes(void *ctx) {
  tg_handler_t *h = ctx;
  tg_owed_write(&h->owed, h->script); /* first: a failing call of the turn cannot take them along */
  tg_call_t *call = take_all(h, TG_CALL_FOR_STORE);
  while (call) {
    tg_call_t *next = call->next;
    move(h, call, TG_CALL_RUNNING);
    run_call(h, call);
    call = next;
  }
  /* every call taken has decoded into it: it goes once all have run (none is to run again) */
  if (!h->calls[TG_CALL_FOR_STORE].head)
    tg_arena_reset(&h->arenas[h->filling ^ 1]);
}

/* Whether calls wait to run again in a store turn of their own (batch.h). */
static int runs_again(void *ctx) { return ((tg_handler_t *)ctx)->calls[TG_CALL_FOR_STORE].head != NULL; }

/* An upstream's reply passed back byte for byte is labelled with the charset it is in: an
 * ISO-8859-1 reply under "charset=utf-8" would be misread by a client that, as RFC 7303 says,
 * lets the header decide. */
static void label_charset(tg_call_t *call) {
  int passed_back = call->result_charset[0] && !call->json && call->reply.len > 0 &&
                    call->reply.len == call->result_body.len &&
                    memcmp(call->reply.data, call->result_body.data, call->reply.len) == 0;
  if (passed_back)
    snprintf(call->http->reply_charset, sizeof call->http->reply_charset, "%s", call->result_charset);
  else /* every other reply: no printf on the per-call path */
    call->http->reply_charset[0] = '\0';
}

static void deliver_answered(void *ctx, tg_turn_end_t end) {
  tg_handler_t *h = ctx;
  tg_call_t *call = take_all(h, TG_CALL_ANSWERED);
  while (call) {
    tg_call_t *next = call->next;
    if (end == TG_TURN_UNKNOWN) /* whatever the rule answered, the client gets nothing: say so */
      snprintf(call->note.outcome, sizeof call->note.outcome, "dropped");
    account(h, call);
    if (call->http)
      label_charset(call);
    if (call->http) /* an unknown outcome: the client must never see an acknowledgment */
      call->http->deliver(call->http, end != TG_TURN_UNKNOWN ? (call->reply.data ? call->reply.data : "") : NULL,
                          call->reply.len);
    free_call(h, call);
    call = next;
  }
}

/* What the database refused to commit (batch.h), for record_rolled_back. */
typedef struct rolled_back_s {
  tg_handler_t *h;
  const char *why;
} rolled_back_t;

/* Runs inside the gate: host.turn_rolled_back(calls, why) records each answered call of the
 * turn (nothing it wrote is stored, its audit records included) and returns each one's reply
 * (fault 1934, or 1922 when the upstream may have had it), set here. */
static int record_rolled_back(lua_State *L) {
  rolled_back_t *turn = lua_touserdata(L, 1);
  tg_script_push_host(turn->h->script, L);
  lua_getfield(L, -1, "turn_rolled_back");
  lua_newtable(L);
  int i = 0;
  for (const tg_call_t *call = turn->h->calls[TG_CALL_ANSWERED].head; call; call = call->next) {
    lua_createtable(L, 0, 7);
    lua_pushstring(L, call->note.method[0] ? call->note.method : "-");
    lua_setfield(L, -2, "name");
    lua_pushstring(L, call->note.client);
    lua_setfield(L, -2, "client");
    if (call->note.client_port > 0) {
      lua_pushinteger(L, call->note.client_port);
      lua_setfield(L, -2, "client_port");
    }
    lua_pushstring(L, call->note.request_id);
    lua_setfield(L, -2, "request_id");
    lua_pushboolean(L, call->upstream_reached);
    lua_setfield(L, -2, "upstream_reached");
    lua_pushstring(L, call->json ? "json" : "xml");
    lua_setfield(L, -2, "form");
    /* its own parameters went with the turn's arena: the ids it named stand for them */
    lua_newtable(L);
    const long long ids[4] = {call->keys.task_id, call->keys.taskgroup_id, call->keys.port_id, call->keys.bin_id};
    static const char *const names[4] = {"task_id", "taskgroup_id", "port_id", "bin_id"};
    for (int k = 0; k < 4; k++)
      if (ids[k] != TG_EVENT_NO_KEY) {
        lua_pushinteger(L, ids[k]);
        lua_setfield(L, -2, names[k]);
      }
    lua_setfield(L, -2, "params");
    lua_rawseti(L, -2, ++i);
  }
  lua_pushstring(L, turn->why);
  lua_call(L, 2, 1);
  i = 0;
  for (tg_call_t *call = turn->h->calls[TG_CALL_ANSWERED].head; call; call = call->next) {
    size_t len = 0;
    lua_rawgeti(L, -1, ++i);
    const char *reply = lua_tolstring(L, -1, &len);
    call->reply.len = 0;
    if (reply && tg_buf_append(&call->reply, reply, len) < 0)
      luaL_error(L, "out of memory");
    lua_pop(L, 1);
  }
  return 0;
}

/* The database rolled the turn back (batch.h): whatever the rules answered, nothing of the turn
 * is stored. Each call is answered as one whose store failed: 1934 (nothing changed, the client
 * may retry), or 1922 when its request may have reached an upstream (its effect lies there,
 * outcome unknown), and its audit record says so, in a turn of its own. */
static void fault_rolled_back(void *ctx, const char *why) {
  tg_handler_t *h = ctx;
  for (tg_call_t *call = h->calls[TG_CALL_ANSWERED].head; call; call = call->next) {
    snprintf(call->note.outcome, sizeof call->note.outcome, call->upstream_reached ? "1922" : "1934");
    snprintf(call->note.reason, sizeof call->note.reason, "commit refused");
    call->reply.len = 0;
  }
  tg_script_use_store(h->script, h->store);
  tg_script_call(h->script, record_rolled_back, &(rolled_back_t){.h = h, .why = why});
  tg_script_use_store(h->script, NULL);
  for (tg_call_t *call = h->calls[TG_CALL_ANSWERED].head; call; call = call->next)
    if (call->reply.len == 0) { /* Lua could not say: the replies it uses when it fails itself */
      snprintf(call->note.outcome, sizeof call->note.outcome, call->upstream_reached ? "1922" : "1999");
      const tg_buf_t *reply = call->upstream_reached ? (call->json ? &h->unknown_json : &h->unknown)
                                                     : (call->json ? &h->fallback_json : &h->fallback);
      tg_buf_append(&call->reply, reply->data, reply->len);
    }
}

static int owes_traces(void *ctx) { return tg_owed_pending(&((tg_handler_t *)ctx)->owed); }

tg_batch_runner_t tg_handler_runner(tg_handler_t *h) {
  return (tg_batch_runner_t){
      .read = run_reads,
      .run = run_writes,
      .rolled_back = fault_rolled_back,
      .again = runs_again,
      .deliver = deliver_answered,
      .owes = owes_traces,
      .ctx = h};
}

static void on_outbound_done(void *data, const tg_upstream_result_t *result) {
  tg_call_t *call = data;
  tg_handler_t *h = call->h;
  call->failed_outbound = result->error;
  call->sent = result->sent;
  call->status = result->status;
  if (call->to_upstream && (!result->error || result->sent))
    call->upstream_reached = 1;
  snprintf(call->reason, sizeof call->reason, "%s", result->reason ? result->reason : "failed");
  call->result_body.len = 0;
  call->result_charset[0] = '\0';
  if (!result->error)
    tg_charset_of_document(result->content_type, result->body, result->len, call->result_charset,
                           sizeof call->result_charset);
  if (!result->error && tg_buf_append(&call->result_body, result->body, result->len) < 0) {
    call->failed_outbound = -1;
    snprintf(call->reason, sizeof call->reason, "out of memory");
  }
  leave_waiting(h, call);
  count_waiting(h);
  move(h, call, TG_CALL_QUEUED); /* resumes in the next batch */
  tg_batch_schedule(h->batch);
}

/* The gateway's own request ids: a tag drawn at start, then a count, e.g. "6f1c0a3e-17", so
 * that ids from two runs or two gateways do not meet in an upstream's log. */
static char id_prefix[16];

static void draw_id_prefix(void) {
  unsigned tag = 0;
  if (getrandom(&tag, sizeof tag, 0) != (ssize_t)sizeof tag)
    tag = (unsigned)getpid() ^ (unsigned)tg_wall_seconds();
  snprintf(id_prefix, sizeof id_prefix, "%08x-", tag);
  snprintf(via_name, sizeof via_name, "1.1 taskgate-%08x", tag);
  tg_http_set_via_name(self_name());
}

/* Writes n in decimal and a NUL at out (room for 21 bytes). */
static void format_count(char *out, unsigned long long n) {
  char digits[24], *at = digits + sizeof digits;
  *--at = '\0';
  do {
    *--at = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  memcpy(out, at, (size_t)(digits + sizeof digits - at));
}

/* Who asked: the request's own X-Request-Id is kept, else the gateway's next id; the
 * X-Forwarded-For chain the request came with; and whether it came through this gateway
 * already (an upstream that leads back here): such a call sends nothing on, and so ends. */
static void take_identity(tg_call_t *call, const tg_http_t *http) {
  static unsigned long long last_id; /* shared by the workers */
  char *id = call->note.request_id;
  if (http->request_id[0]) {
    memcpy(id, http->request_id, strlen(http->request_id) + 1); /* at most 64 bytes */
  } else {
    size_t prefix = strlen(id_prefix);
    memcpy(id, id_prefix, prefix);
    format_count(id + prefix, __atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED));
  }
  memcpy(call->forwarded_for, http->forwarded_for, strlen(http->forwarded_for) + 1);
  memcpy(call->via, http->via, strlen(http->via) + 1);
  call->looped = http->via_self ? 1 : http->via_too_long ? 2 : 0;
  if (call->looped)
    tg_log(TG_LOG_WARN, "forwarding_loop", "request_id=%s via=\"%s\"", call->note.request_id, call->via);
}

/* Decodes an XML methodcall in the encoding its Content-Type's charset names (RFC 7303: it
 * decides over the XML declaration): UTF-8 or ISO-8859-1, the two the interface documents. Any
 * other charset cannot be read: the malformed fault. Without one the document says. */
static tg_xml_node_t *decode_xml(tg_handler_t *h, int charset, const char *body, size_t len, const char **why) {
  if (charset == TG_CHARSET_OTHER) {
    *why = "charset not supported";
    return NULL;
  }
  const char *encoding = charset == TG_CHARSET_LATIN1 ? "ISO-8859-1" : charset == TG_CHARSET_UTF8 ? "UTF-8" : NULL;
  return tg_xml_decode_as(&h->arenas[h->filling], body, len, encoding, why);
}

int tg_handler_task(void *ctx, tg_http_t *http, const char *body, size_t len) {
  tg_handler_t *h = ctx;
  if (tg_store_health_state(tg_store_health(h->store)) == TG_STORE_LOST)
    return -503; /* its changes could only go into deleted files */
  tg_call_t *call = new_call(h);
  if (!call)
    return -1;      /* 500 */
  if (http->client) /* cut to fit, like every note field; new_call left it empty otherwise */
    strncpy(call->note.client, http->client, sizeof call->note.client - 1);
  call->note.client_port = http->client_port;
  take_identity(call, http);
  call->h = h;
  call->http = http;
  call->started = tg_monotonic_seconds();
  tg_arena_t *arena = &h->arenas[h->filling];
  arena->limit = arena->used + MAX_DECODED_BYTES; /* the bound is per call */
  /* The body decides its form: JSON when it opens an object, XML otherwise. A body that is
   * neither is answered in JSON when its Content-Type said JSON. */
  int json = tg_json_is_likely(body, len);
  call->root =
      json ? tg_json_decode(arena, body, len, &call->why) : decode_xml(h, http->charset, body, len, &call->why);
  tg_events_keys(call->root, &call->keys);
  call->json = json || (http->json_type && !call->root);
  if (h->bridging && !json && call->root && (call->received = tg_arena_strndup(arena, body, len))) {
    call->received_len = len;
    memcpy(call->received_type, http->content_type, sizeof call->received_type);
  }
  http->reply_json = call->json;
  call->legacy = http->legacy;
  call->interface = http->interface;
  move(h, call, TG_CALL_QUEUED);
  tg_batch_schedule(h->batch);
  return 0;
}

void tg_handler_abandon(void *ctx, tg_http_t *http) {
  tg_handler_t *h = ctx;
  for (int state = 0; state < TG_CALL_LISTS; state++)
    for (tg_call_t *call = h->calls[state].head; call; call = call->next)
      if (call->http == http)
        call->http = NULL;
}

/* The list belongs to the handler's loop thread and changes outside the store lock (an outbound
 * request completes); other threads read only the count. */
int tg_handler_waiting(const tg_handler_t *h) { return __atomic_load_n(&h->waiting_count, __ATOMIC_RELAXED); }

int tg_handler_in_flight(const tg_handler_t *h) {
  int n = 0;
  for (int state = 0; state < TG_CALL_LISTS; state++)
    n += h->calls[state].count;
  return n;
}

int tg_handler_swap(tg_handler_t *h, tg_script_t *next) {
  tg_buf_t fallback = {0}, fallback_json = {0}, unknown = {0}, unknown_json = {0}, read_only = {0}, bridging = {0};
  pthread_mutex_lock(&h->generation_lock); /* next may be the generation a read phase runs */
  if (tg_script_host_string(next, "internal_error_reply", &fallback) < 0 ||
      tg_script_host_string(next, "internal_error_reply_json", &fallback_json) < 0 ||
      tg_script_host_string(next, "outcome_unknown_reply", &unknown) < 0 ||
      tg_script_host_string(next, "outcome_unknown_reply_json", &unknown_json) < 0 ||
      tg_script_host_string(next, "read_only_methods", &read_only) < 0 ||
      tg_script_host_string(next, "bridge_mode", &bridging) < 0) {
    pthread_mutex_unlock(&h->generation_lock);
    tg_buf_free(&fallback);
    tg_buf_free(&fallback_json);
    tg_buf_free(&unknown);
    tg_buf_free(&unknown_json);
    tg_buf_free(&read_only);
    tg_buf_free(&bridging);
    return -1;
  }
  if (h->bridging != (bridging.len > 0)) /* the same for every generation: written once */
    h->bridging = bridging.len > 0;
  tg_buf_free(&bridging);
  tg_script_retain(next);
  tg_script_release(h->script);
  h->script = next;
  tg_buf_free(&h->fallback);
  h->fallback = fallback;
  tg_buf_free(&h->fallback_json);
  h->fallback_json = fallback_json;
  tg_buf_free(&h->unknown);
  h->unknown = unknown;
  tg_buf_free(&h->unknown_json);
  h->unknown_json = unknown_json;
  tg_buf_free(&h->read_only);
  h->read_only = read_only;
  pthread_mutex_unlock(&h->generation_lock);
  return 0;
}

/* The reader, or NULL with why in err. */
static tg_store_t *open_reader(const char *path, char *err, size_t errcap) {
  if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
    return snprintf(err, errcap, "the store is not a plain file"), NULL;
  tg_store_t *reader = tg_store_open_reader(path, err, errcap);
  if (!reader)
    return NULL;
  static const char user_version[] = "PRAGMA user_version";
  sqlite3_stmt *version = tg_store_prepare(reader, user_version, sizeof user_version - 1);
  int same =
      version && sqlite3_step(version) == SQLITE_ROW && sqlite3_column_int(version, 0) == tg_store_schema_version();
  if (version)
    sqlite3_reset(version);
  if (!same) { /* not the store the writer opened and migrated */
    tg_store_close(reader);
    return snprintf(err, errcap, "the read connection does not see the store's schema"), NULL;
  }
  return reader;
}

int tg_handler_open_reader(tg_handler_t *h, const char *path) {
  if (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0)
    return -1; /* a PostgreSQL store has no SQLite reader: every call takes the store's turn */
  char err[256];
  h->reader = open_reader(path, err, sizeof err);
  if (!h->reader)
    tg_log(TG_LOG_WARN, "reader_not_opened", "store=%s error=\"%s\" hint=\"read-only calls take the store lock\"", path,
           err);
  return h->reader ? 0 : -1;
}

int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store, tg_upstream_t *upstream) {
  static pthread_once_t drawn = PTHREAD_ONCE_INIT;
  pthread_once(&drawn, draw_id_prefix);
  memset(h, 0, sizeof *h);
  h->events = tg_events_attach();
  pthread_mutex_init(&h->generation_lock, NULL);
  h->store = store;
  h->upstream = upstream;
  return tg_handler_swap(h, script);
}

void tg_handler_free(tg_handler_t *h) {
  for (int state = 0; state < TG_CALL_LISTS; state++) {
    tg_call_t *call = take_all(h, state);
    while (call) {
      tg_call_t *next = call->next;
      tg_script_release(call->script);
      free_call(NULL, call);
      call = next;
    }
  }
  while (h->spare) {
    tg_call_t *next = h->spare->next;
    free_call(NULL, h->spare);
    h->spare = next;
  }
  h->spare_count = 0;
  count_waiting(h);
  tg_script_release(h->script);
  h->script = NULL;
  tg_arena_free(&h->arenas[0]);
  tg_arena_free(&h->arenas[1]);
  tg_buf_free(&h->fallback);
  tg_buf_free(&h->fallback_json);
  tg_buf_free(&h->unknown);
  tg_buf_free(&h->unknown_json);
  tg_buf_free(&h->read_only);
  tg_owed_free(&h->owed); /* written by the batcher's last turn (tg_batch_free), before this */
  tg_store_close(h->reader);
  h->reader = NULL;
  pthread_mutex_destroy(&h->generation_lock);
}
