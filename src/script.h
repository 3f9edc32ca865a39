/* script.h: the Lua state that runs the runtime and the rules: lifecycle, sandbox, limits, and
 * the one protected-call gate every call from C into Lua goes through. */
#ifndef TG_SCRIPT_H
#define TG_SCRIPT_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"
#include "shared.h"
#include "store.h"
#include "sys_lua.h"

typedef struct tg_script_config_s {
  const char *runtime_dir; /* the lua/ directory holding the taskgate modules */
  const char *rules_dir;
  tg_store_t *store;          /* not owned; must outlive the script */
  size_t memory_limit;        /* bytes the Lua state may hold */
  unsigned time_limit_ms;     /* Lua time one call may take */
  const char *upstream_url;   /* --upstream, or NULL */
  const char *outbox_targets; /* the --outbox-target names, by commas; or NULL */
  tg_shared_t *shared;        /* the rules' shared space (not owned), or NULL: one of the state's own */
  long journal_size;          /* calls the journal keeps (--journal-size); 0: none, -1: the default */
  unsigned rules_budget_ms;   /* the rules' own code of one load, all files and self-checks
                               * together (sys.run_rules); 0: the boot budget of the whole load */
} tg_script_config_t;

typedef struct tg_script_s tg_script_t;

/* Builds a state, loads the runtime and every rule, and runs the rule set's self-checks.
 * Returns it with one reference held by the caller, or NULL with every problem (file:line and
 * reason) in err. */
tg_script_t *tg_script_new(const tg_script_config_t *config, char *err, size_t errcap);
/* Reference counting: a generation stays alive while any request that started on it runs;
 * the last release closes its Lua state. */
void tg_script_retain(tg_script_t *script);
void tg_script_release(tg_script_t *script);
/* How many Lua states are open in the process: one per worker, plus an older generation for as
 * long as a call it began still holds it. More after reloads settle means one was never freed. */
int tg_script_live_states(void);

/* Calls the host's `function` (no arguments) through the gate, with the boot budget (it runs
 * while a generation is built), and appends the string it returns to out: "describe" gives the
 * loaded rule files as JSON ([{"name","path","sha256"}, ...]), "internal_error_reply" the reply
 * sent when Lua itself fails, "read_only_methods" the methods that only read
 * ("\ttask:gettaskinfo\tbin:getbinstate\t..."). Returns 0 or -1. */
int tg_script_host_string(tg_script_t *script, const char *function, tg_buf_t *out);
/* The same with string arguments (args: NULL-terminated), for the commands that drive the
 * runtime step by step (replay, try): each step runs under the time limit of its own. */
int tg_script_host_call(tg_script_t *script, const char *function, const char *const *args, tg_buf_t *out);
/* The message (with traceback) of the last failed gate call. */
const char *tg_script_last_error(tg_script_t *script);
/* Its kind: "timeout", "memory" or "error" (failure_lua.h). */
const char *tg_script_last_failure(tg_script_t *script);
/* 1 once a call failed for memory and a full collection left the state near its limit (over
 * three quarters): what the rules keep between calls (a file's locals) fills it, and every later
 * call of every method would fail too. Only a new generation from the same files recovers. Any
 * thread may ask. */
int tg_script_exhausted(tg_script_t *script);
/* Writes, for the log, the state's memory and the method whose failed call left the most behind
 * it ("grew_most"): used=N limit=N grew_most=METHOD grew_bytes=N. Call it where the state's
 * calls cannot run (the store locked). */
void tg_script_describe_memory(tg_script_t *script, char *out, size_t cap);

/* The gate: runs fn(L) with ud as its only argument under the time limit, with a traceback on
 * error. Returns 0, or -1 after logging the error (the stack is left as it was). */
int tg_script_call(tg_script_t *script, lua_CFunction fn, void *ud);

/* Sets the call the script's Lua code runs for (NULL between calls); not owned. The runtime reads
 * it through taskgate.sys, for the call's log line and metrics. */
void tg_script_set_call(tg_script_t *script, tg_call_note_t *note);
/* Makes taskgate.db use store (a reader, for a read-only call) until set back with NULL (the
 * store the script was made for). */
void tg_script_use_store(tg_script_t *script, tg_store_t *store);

/* Pushes the runtime's host module (taskgate.host) onto L. */
void tg_script_push_host(tg_script_t *script, lua_State *L);
lua_State *tg_script_state(tg_script_t *script);

#endif
