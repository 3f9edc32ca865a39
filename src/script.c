/* script.c: lua_State lifecycle, the sandboxed library set, memory and time limits, and the
 * protected-call gate. */
#include "script.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounded_lua.h"
#include "budget.h"
#include "clock.h"
#include "coroutine_lua.h"
#include "failure_lua.h"
#include "limit.h"
#include "log.h"
#include "net_lua.h"
#include "pg.h"
#include "shared_lua.h"
#include "store_lua.h"
#include "sys_lua.h"
#include "xml_lua.h"

/* A whole load (the runtime, compiling the rules, their top-level code, self-checks) may take
 * this many call limits: generous, for a loaded machine. On a live gateway the rules' own code
 * has a budget of its own, TG_RELOAD_RULES_FACTOR call limits (reload.h). */
enum { BOOT_TIME_FACTOR = 20 };

static int live_states; /* Lua states not yet closed, of every generation and worker (atomic) */

struct tg_script_s {
  lua_State *L;
  size_t memory_used;
  size_t memory_limit;
  unsigned time_limit_ms;
  int host_ref;
  int refs;             /* atomic: a worker's read phase and a reload may retain and release at once */
  tg_store_t *store;    /* the store it was made for (its writer) */
  tg_store_t *in_use;   /* the connection taskgate.db uses now: store, or a reader (tg_script_use_store) */
  tg_call_note_t *call; /* the call the Lua code runs for, read by taskgate.sys */
  char error[2048];     /* the last gate error, for callers that report it */
  char failure[16];     /* its kind: timeout, memory or error */
  int exhausted;        /* atomic: still at its memory limit after a full collection (tg_script_exhausted) */
  /* Of the failed calls so far, the one whose call left the most memory behind it after the
   * collection that follows a failure: its method and the bytes (a hint at the rule that grows). */
  char grew_method[48];
  size_t grew_bytes;
};

/* A state that a full collection leaves above this share of its limit, after a call failed for
 * memory, is held by what the rules keep between calls: every later call would fail too. */
enum { EXHAUSTED_NUM = 3, EXHAUSTED_DEN = 4 };

/* Counts every byte the state holds and refuses growth past the cap, so a rule that builds a
 * giant string or table gets a memory error instead of taking the process down. A single block
 * larger than TG_LIMIT_MAX_OBJECT is refused too: no one VM operation (a copy, a conversion)
 * then works on more bytes than that, and none can hold the thread long past the time limit. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  tg_script_t *script = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    script->memory_used -= old;
    return NULL;
  }
  if (nsize > old && (nsize > TG_LIMIT_MAX_OBJECT || script->memory_used - old + nsize > script->memory_limit))
    return NULL;
  void *grown = realloc(ptr, nsize);
  if (grown)
    script->memory_used = script->memory_used - old + nsize;
  return grown;
}

/* The gate's message handler: a failure (failure_lua.h) carries its own traceback; any other
 * error (a bug in the runtime) gets one from where it was raised. */
static int traceback(lua_State *L) {
  if (tg_failure_lua_kind(L, 1))
    return 1;
  const char *msg = lua_tostring(L, 1);
  if (!msg)
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Keeps what a failed gate call ended with: its kind, decided where it happened (a memory error
 * by Lua's status, a timeout by the failure the limit raised), and what to log. */
static void remember_failure(tg_script_t *script, int rc) {
  lua_State *L = script->L;
  const char *kind = rc == LUA_ERRMEM ? "memory" : tg_failure_lua_kind(L, -1);
  const char *msg = rc == LUA_ERRMEM ? "Lua memory limit reached" : tg_failure_lua_describe(L, -1);
  if (!msg)
    msg = lua_tostring(L, -1);
  snprintf(script->failure, sizeof script->failure, "%s", kind ? kind : "error");
  snprintf(script->error, sizeof script->error, "%s", msg ? msg : "unknown error");
}

/* After a failed call and the full collection that follows it: remembers which call left the most
 * behind, and marks the state exhausted when what stays fills it. */
static void note_what_stays(tg_script_t *script, size_t used_before) {
  size_t used = script->memory_used;
  if (used > used_before && used - used_before > script->grew_bytes && script->call) {
    script->grew_bytes = used - used_before;
    snprintf(script->grew_method, sizeof script->grew_method, "%s", script->call->method);
  }
  if (strcmp(script->failure, "memory") == 0 && used > script->memory_limit / EXHAUSTED_DEN * EXHAUSTED_NUM)
    __atomic_store_n(&script->exhausted, 1, __ATOMIC_RELEASE);
}

static int gate(tg_script_t *script, lua_CFunction fn, void *ud, unsigned budget_ms) {
  lua_State *L = script->L;
  int base = lua_gettop(L);
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, ud);
  size_t used_before = script->memory_used;
  long long budget_ns = (long long)budget_ms * 1000000LL;
  tg_limit_arm(L, tg_monotonic_ns() + budget_ns, script->time_limit_ms, traceback);
  /* the store work, timed apart, may take as long again; on PostgreSQL at least what a
   * statement may wait for another gateway's row lock (pg.h) */
  long long store_ns = budget_ns;
  if (tg_store_pg(script->store) && store_ns < TG_PG_STORE_TIME_MS * 1000000LL)
    store_ns = TG_PG_STORE_TIME_MS * 1000000LL;
  tg_budget_begin(store_ns);
  int rc = lua_pcall(L, 1, 0, base + 1);
  tg_budget_end();
  tg_limit_disarm(L);
  if (rc != LUA_OK) {
    remember_failure(script, rc);
    /* What the failed call built must not weigh on the next one. Only the runtime's own
     * finalizers run here, all short C: rules may not set any (sandbox.lua). */
    lua_gc(L, LUA_GCCOLLECT);
    note_what_stays(script, used_before);
  }
  lua_settop(L, base);
  return rc == LUA_OK ? 0 : -1;
}

/* gate() with the failure logged. */
static int gate_logged(tg_script_t *script, lua_CFunction fn, void *ud, unsigned budget_ms) {
  int rc = gate(script, fn, ud, budget_ms);
  if (rc < 0) {
    char quoted[2100];
    tg_log_quote(quoted, sizeof quoted, script->error, strlen(script->error));
    tg_log(TG_LOG_ERROR, "lua_call_failed", "error=%s", quoted);
  }
  return rc;
}

int tg_script_call(tg_script_t *script, lua_CFunction fn, void *ud) {
  return gate_logged(script, fn, ud, script->time_limit_ms);
}

static void open_libraries(lua_State *L, const char *runtime_dir) {
  static const luaL_Reg libs[] = {
      {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
      {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL},
  };
  for (const luaL_Reg *lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  tg_coroutine_lua_track(L);
  tg_bounded_lua_install(L);
  /* debug is loaded for the runtime's tracebacks but is not a global: rules cannot reach it. */
  luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 0);
  lua_pop(L, 1);
  /* No io or os at all; the runtime reads nothing from disk but its own modules. */
  lua_pushnil(L);
  lua_setglobal(L, "dofile");
  lua_pushnil(L);
  lua_setglobal(L, "loadfile");
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua", runtime_dir);
  lua_setfield(L, -2, "path");
  tg_limit_name_runtime(L, runtime_dir);
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadlib");
  lua_getfield(L, -1, "searchers"); /* keep the preload and Lua-file searchers, drop the C ones */
  lua_pushnil(L);
  lua_rawseti(L, -2, 4);
  lua_pushnil(L);
  lua_rawseti(L, -2, 3);
  lua_pop(L, 1);
  lua_pop(L, 1);
}

/* taskgate.db, bound to the connection in use (upvalue 1: &script->in_use). */
static int open_db(lua_State *L) {
  tg_store_lua_push_current(L, lua_touserdata(L, lua_upvalueindex(1)));
  return 1;
}

/* taskgate.shared_space, bound to the gateway's shared space (upvalue 1), or without one (a
 * rules check, a tool) to a small space of the state's own. */
static int open_shared(lua_State *L) {
  tg_shared_t *space = lua_touserdata(L, lua_upvalueindex(1));
  if (space)
    tg_shared_lua_push(L, space, 0);
  else if (tg_shared_lua_push_new(L, 1 << 20) < 0)
    return luaL_error(L, "out of memory");
  return 1;
}

/* taskgate.sys, reading the running call from the script (upvalue 1: &script->call). */
static int open_sys(lua_State *L) {
  tg_sys_lua_push(L, lua_touserdata(L, lua_upvalueindex(1)));
  return 1;
}

static void preload(lua_State *L, const char *name, lua_CFunction open, void *upvalue) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushlightuserdata(L, upvalue);
  lua_pushcclosure(L, open, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

typedef struct boot_s {
  tg_script_t *script;
  const char *rules_dir;
  int refused; /* the rules did not load; script->error lists why */
} boot_t;

/* Loads taskgate.host and every rule; on problems copies their list into script->error. */
static int boot(lua_State *L) {
  boot_t *b = lua_touserdata(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskgate.host");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "load");
  lua_pushstring(L, b->rules_dir);
  lua_call(L, 1, 2);
  if (!lua_toboolean(L, -2)) { /* the message lists every problem with file:line */
    snprintf(b->script->error, sizeof b->script->error, "%s", luaL_optstring(L, -1, "rules did not load"));
    b->refused = 1;
    return 0;
  }
  lua_pop(L, 2);
  b->script->host_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

tg_script_t *tg_script_new(const tg_script_config_t *config, char *err, size_t errcap) {
  tg_script_t *script = calloc(1, sizeof *script);
  if (!script)
    return snprintf(err, errcap, "out of memory"), NULL;
  script->memory_limit = config->memory_limit;
  script->time_limit_ms = config->time_limit_ms;
  script->store = script->in_use = config->store;
  script->host_ref = LUA_NOREF;
  script->refs = 1;
  script->L = lua_newstate(limited_alloc, script);
  if (!script->L) {
    free(script);
    return snprintf(err, errcap, "cannot create a Lua state"), NULL;
  }
  __atomic_add_fetch(&live_states, 1, __ATOMIC_RELAXED);
  /* Generational collection suits a state whose garbage is almost all per-call and young. */
  lua_gc(script->L, LUA_GCGEN, 0, 0);
  open_libraries(script->L, config->runtime_dir);
  if (config->upstream_url) {
    lua_pushstring(script->L, config->upstream_url);
    lua_setfield(script->L, LUA_REGISTRYINDEX, TG_SYS_UPSTREAM_KEY);
  }
  if (config->journal_size >= 0) {
    lua_pushinteger(script->L, config->journal_size);
    lua_setfield(script->L, LUA_REGISTRYINDEX, TG_SYS_JOURNAL_KEY);
  }
  if (config->rules_budget_ms) {
    lua_pushinteger(script->L, config->rules_budget_ms);
    lua_setfield(script->L, LUA_REGISTRYINDEX, TG_SYS_RULES_BUDGET_KEY);
    lua_pushinteger(script->L, (lua_Integer)config->rules_budget_ms * 1000000);
    lua_setfield(script->L, LUA_REGISTRYINDEX, TG_SYS_RULES_LEFT_KEY);
  }
  if (config->outbox_targets) {
    lua_pushstring(script->L, config->outbox_targets);
    lua_setfield(script->L, LUA_REGISTRYINDEX, TG_SYS_OUTBOX_KEY);
  }
  preload(script->L, "taskgate.db", open_db, &script->in_use);
  preload(script->L, "taskgate.xml", tg_xml_lua_open, NULL);
  preload(script->L, "taskgate.sys", open_sys, &script->call);
  preload(script->L, "taskgate.failure", tg_failure_lua_open, NULL);
  preload(script->L, "taskgate.shared_space", open_shared, config->shared);
  preload(script->L, "taskgate.net", tg_net_lua_open, NULL);
  boot_t b = {.script = script, .rules_dir = config->rules_dir};
  if (gate(script, boot, &b, script->time_limit_ms * BOOT_TIME_FACTOR) < 0 || b.refused) {
    snprintf(err, errcap, "%s", script->error);
    tg_script_release(script);
    return NULL;
  }
  return script;
}

void tg_script_retain(tg_script_t *script) { __atomic_add_fetch(&script->refs, 1, __ATOMIC_RELAXED); }

void tg_script_release(tg_script_t *script) {
  if (!script || __atomic_sub_fetch(&script->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  luaL_unref(script->L, LUA_REGISTRYINDEX, script->host_ref);
  lua_close(script->L);
  free(script);
  __atomic_sub_fetch(&live_states, 1, __ATOMIC_RELAXED);
}

int tg_script_live_states(void) { return __atomic_load_n(&live_states, __ATOMIC_RELAXED); }

typedef struct host_string_s {
  tg_script_t *script;
  const char *function;
  const char *const *args; /* NULL-terminated, or NULL */
  tg_buf_t *out;
} host_string_t;

static int host_string(lua_State *L) {
  host_string_t *h = lua_touserdata(L, 1);
  tg_script_push_host(h->script, L);
  lua_getfield(L, -1, h->function);
  int n = 0;
  for (; h->args && h->args[n]; n++)
    lua_pushstring(L, h->args[n]);
  lua_call(L, n, 1);
  size_t len;
  const char *text = luaL_checklstring(L, -1, &len);
  if (tg_buf_append(h->out, text, len) < 0)
    luaL_error(L, "out of memory");
  return 0;
}

int tg_script_host_string(tg_script_t *script, const char *function, tg_buf_t *out) {
  host_string_t h = {.script = script, .function = function, .out = out};
  /* Called while a generation is built (its error replies, its file list), not for a client's
   * call: the boot budget, so a loaded machine cannot keep a gateway from starting or reloading. */
  return gate_logged(script, host_string, &h, script->time_limit_ms * BOOT_TIME_FACTOR);
}

int tg_script_host_call(tg_script_t *script, const char *function, const char *const *args, tg_buf_t *out) {
  host_string_t h = {.script = script, .function = function, .args = args, .out = out};
  return tg_script_call(script, host_string, &h);
}

const char *tg_script_last_error(tg_script_t *script) { return script->error; }

const char *tg_script_last_failure(tg_script_t *script) { return script->failure; }

int tg_script_exhausted(tg_script_t *script) { return __atomic_load_n(&script->exhausted, __ATOMIC_ACQUIRE); }

void tg_script_describe_memory(tg_script_t *script, char *out, size_t cap) {
  snprintf(out, cap, "used=%zu limit=%zu grew_most=%s grew_bytes=%zu", script->memory_used, script->memory_limit,
           script->grew_method[0] ? script->grew_method : "-", script->grew_bytes);
}

void tg_script_set_call(tg_script_t *script, tg_call_note_t *note) { script->call = note; }

void tg_script_use_store(tg_script_t *script, tg_store_t *store) { script->in_use = store ? store : script->store; }

void tg_script_push_host(tg_script_t *script, lua_State *L) { lua_rawgeti(L, LUA_REGISTRYINDEX, script->host_ref); }

lua_State *tg_script_state(tg_script_t *script) { return script->L; }
