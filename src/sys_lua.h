/* sys_lua.h: `taskgate.sys`, the host services the runtime builds on (files, clock, log). */
#ifndef TG_SYS_LUA_H
#define TG_SYS_LUA_H

#include <lua.h>

/* The registry field holding the --upstream URL that sys.upstream() returns. */
#define TG_SYS_UPSTREAM_KEY "taskgate.upstream_url"
/* The registry field holding the --outbox-target names (by commas) sys.outbox_targets() returns. */
#define TG_SYS_OUTBOX_KEY "taskgate.outbox_targets"
/* Registry key of the call journal's size (--journal-size), an integer; absent: the default. */
#define TG_SYS_JOURNAL_KEY "taskgate.journal_size"
/* Registry keys of a load's rule budget (sys.run_rules): its milliseconds (absent: the load's own
 * budget), and the nanoseconds of it left, both integers. */
#define TG_SYS_RULES_BUDGET_KEY "taskgate.rules_budget_ms"
#define TG_SYS_RULES_LEFT_KEY "taskgate.rules_left_ns"

/* What the rules say about the call they are running, for its log line and metrics. */
typedef struct tg_call_note_s {
  struct tg_owed_s *owed; /* set while the call runs on a read connection: its traces go there (owed.h) */
  char request_id[72]; /* the client's X-Request-Id, or the gateway's own id; in every log line */
  char client[64];
  int client_port;      /* the peer's port, 0 when unknown (audit records name it) */
  char method[48];
  char outcome[24];     /* "ok", a fault code, ... */
  char failure[16];     /* a rule failure's kind: error, timeout, memory; "" if none */
  char sent_method[64]; /* an unknown method's name as sent (cut), for the log line only */
  char reason[48];      /* who refused the call (a fault's reason, a policy's name), or "" */
  /* What the call acted on, as its audit record names it (an openbin's task and bin come from
   * the store, not the request): task, group, port, bin; acted_set's bit i says acted[i] is. */
  long long acted[4];
  unsigned acted_set;
} tg_call_note_t;

/* Pushes the module: list_dir, load_rule, read_zone, log, now, upstream, journal_size, sha256,
 * outbox_targets, outbox_wake, request_id, note, note_acted, set_fault_names, json_encode, trim, guard.
 * *call is the call the Lua code runs for, NULL between calls: the state's owner sets it around
 * each step (tg_script_set_call), and sys.note, sys.log and sys.request_id read it. call may be
 * NULL (specs). */
void tg_sys_lua_push(lua_State *L, tg_call_note_t *const *call);
/* It also has owing and owe_trace, for the traces of calls on a read connection (owed.h). */

#endif
