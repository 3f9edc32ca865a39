/* limit.c: the time limit of a call (see limit.h): the thread's deadline, the hook that stops
 * Lua code at it, and the check C loops make. */
#include "limit.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "coroutine_lua.h"
#include "failure_lua.h"
#include "watchdog.h"

enum {
  HOOK_EVERY = 1000, /* instructions between two looks at the clock without a watchdog */
  /* Calls past the deadline that do not raise yet (see on_count): the runtime's own C work that
   * the deadline is moved past once it is done (an upstream's reply decoded) calls a few C
   * functions meanwhile (a box's __close); a library loop calling a metamethod per step uses
   * them up in microseconds. */
  CALL_GRACE = 1000,
};

/* The calling thread's armed deadline; the watchdog's signal handler reads it too. */
static __thread struct {
  lua_State *L;          /* the state whose call is timed */
  lua_CFunction message_handler; /* the gate's: Lua calls it inside the raise, and it must run */
  unsigned calls_past;           /* calls seen past the deadline, of CALL_GRACE */
  long long deadline_ns; /* 0: nothing armed */
  unsigned time_limit_ms;
  int counting; /* no watchdog: the hook looks at the clock every HOOK_EVERY instructions */
  int raised;   /* the timeout failure exists (in the registry, under TIMEOUT_KEY) */
} armed;

/* The timeout failure of the armed call: made where the time ran out, raised again wherever Lua
 * code tries to go on. */
static const char TIMEOUT_KEY = 't';
/* The chunk-name prefix ("@<runtime dir>/") of the runtime's own modules, in L's registry. */
static const char RUNTIME_KEY = 'r';

void tg_limit_name_runtime(lua_State *L, const char *runtime_dir) {
  lua_pushfstring(L, "@%s/", runtime_dir);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RUNTIME_KEY);
}

int tg_limit_passed(void) { return armed.deadline_ns != 0 && tg_monotonic_ns() > armed.deadline_ns; }

static void on_count(lua_State *L, lua_Debug *ar);

/* The hook's events once the deadline has passed: every instruction, and every call and return
 * of any function, C ones included (as the lua interpreter stops a script on Ctrl-C). A C loop
 * of the library that calls a C function per step (table.insert over a proxy whose __index is
 * `type`) runs no Lua instruction, so only the call event stops it. Set only after the deadline:
 * calls before it cost nothing more. */
enum { EVERYTHING = LUA_MASKCOUNT | LUA_MASKCALL };

/* From now on every Lua instruction and every function call of the call raises, in whatever
 * coroutine it runs: the error then also hits the code between a rule's pcalls, and the call
 * unwinds. Async-signal-safe: the watchdog's handler calls it. The gate removes the hook when it
 * returns. */
static void hook_everything(void) {
  lua_sethook(armed.L, on_count, EVERYTHING, 1);
  tg_coroutine_lua_hook_running(on_count, EVERYTHING, 1);
}

/* Writes "file:line: " of the innermost Lua function running in L that is not one of the
 * runtime's modules (the site's rule that was running, not the library function it had called),
 * else of the innermost Lua function, else "". */
static void where(lua_State *L, char *out, size_t cap) {
  lua_Debug ar;
  out[0] = '\0';
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RUNTIME_KEY);
  size_t runtime_len = 0;
  const char *runtime = lua_tolstring(L, -1, &runtime_len);
  for (int level = 0; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline <= 0)
      continue;
    int in_runtime = runtime && strncmp(ar.source, runtime, runtime_len) == 0;
    if (out[0] == '\0' || !in_runtime)
      snprintf(out, cap, "%s:%d: ", ar.short_src, ar.currentline);
    if (!in_runtime)
      break;
  }
  lua_pop(L, 1);
}

/* Raises the call's timeout failure, making it the first time: its message names the place the
 * time ran out, its traceback how the code got there. */
static void raise_timeout(lua_State *L) {
  hook_everything();
  if (!armed.raised) {
    char place[256];
    where(L, place, sizeof place);
    const char *message = lua_pushfstring(L, "%stime limit of %d ms exceeded", place, (int)armed.time_limit_ms);
    luaL_traceback(L, L, message, 0);
    tg_failure_lua_push(L, "timeout", message, lua_tostring(L, -1));
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TIMEOUT_KEY);
    lua_pop(L, 2);
    armed.raised = 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TIMEOUT_KEY);
  lua_error(L);
}

/* Is the function ar is calling the gate's message handler? Raised from the hook, the timeout
 * reaches it with hooks off; raised from a C loop (tg_limit_check) or by any error of C code,
 * its call would meet the call hook and raise again inside the raise, without end. */
static int is_message_handler(lua_State *L, lua_Debug *ar) {
  lua_getinfo(L, "f", ar);
  int is = armed.message_handler && lua_tocfunction(L, -1) == armed.message_handler;
  lua_pop(L, 1);
  return is;
}

/* Runs at every instruction once the deadline has passed (or every HOOK_EVERY instructions
 * when there is no watchdog). Store work may have postponed the deadline since the watchdog
 * fired: then the hook goes back to what it was before. */
static void on_count(lua_State *L, lua_Debug *ar) {
  if (ar->event == LUA_HOOKCALL) {
    if (!armed.raised && tg_limit_passed() && ++armed.calls_past <= CALL_GRACE)
      return;
    if (is_message_handler(L, ar))
      return;
  }
  if (armed.raised || tg_limit_passed()) /* once raised, always: no pcall swallows it */
    raise_timeout(L);
  armed.calls_past = 0;
  if (armed.counting)
    lua_sethook(L, on_count, LUA_MASKCOUNT, HOOK_EVERY);
  else
    lua_sethook(L, NULL, 0, 0);
}

void tg_limit_check(lua_State *L) {
  if (tg_limit_passed())
    raise_timeout(L);
}

/* The watchdog's expiry, in a signal handler on the armed thread: Lua reads hooks set
 * asynchronously, the way the lua interpreter stops a script on Ctrl-C. */
static void on_time_up(void *unused) {
  (void)unused;
  hook_everything();
}

void tg_limit_arm(lua_State *L, long long deadline_ns, unsigned time_limit_ms, lua_CFunction message_handler) {
  armed.L = L;
  armed.raised = 0;
  armed.message_handler = message_handler;
  armed.calls_past = 0;
  armed.time_limit_ms = time_limit_ms;
  armed.deadline_ns = deadline_ns;
  /* An instruction hook alone would do, but it slows every instruction the rules run. */
  armed.counting = tg_watchdog_arm(deadline_ns, on_time_up, NULL) < 0;
  if (armed.counting)
    lua_sethook(L, on_count, LUA_MASKCOUNT, HOOK_EVERY);
}

tg_limit_saved_t tg_limit_tighten(long long deadline_ns, unsigned time_limit_ms) {
  tg_limit_saved_t saved = {armed.deadline_ns, armed.time_limit_ms};
  if (armed.deadline_ns == 0 || deadline_ns >= armed.deadline_ns)
    return saved;
  armed.deadline_ns = deadline_ns;
  armed.time_limit_ms = time_limit_ms;
  if (!armed.counting) /* the hook counts and looks at the clock itself */
    tg_watchdog_arm(deadline_ns, on_time_up, NULL);
  return saved;
}

void tg_limit_restore(tg_limit_saved_t saved) {
  if (armed.raised || armed.deadline_ns == 0)
    return;
  armed.deadline_ns = saved.deadline_ns;
  armed.time_limit_ms = saved.time_limit_ms;
  tg_watchdog_postpone(saved.deadline_ns);
}

/* Why a clock still stops the gateway's work: a reply is bounded in size (TG_LIMIT_MAX_OBJECT
 * bytes, MAX_REPLY_DEPTH levels), so encoding a reply a rule may legally return costs what writing
 * those bytes costs, but a rule-built table can be far costlier to walk than the bytes it yields
 * (lists of empty tables, keys that write nothing). The stop is one time limit of its own: a
 * call holds its thread for at most the rule's limit plus this one, about twice the limit, and a
 * legal reply only meets it on a limit too small for the rule to build that reply in the first
 * place (building a reply's table costs more than writing it). */
tg_limit_aside_t tg_limit_aside_begin(void) {
  tg_limit_aside_t aside = {{armed.deadline_ns, armed.time_limit_ms}, tg_monotonic_ns()};
  if (armed.deadline_ns == 0 || armed.raised)
    return aside;
  armed.deadline_ns = aside.started_ns + (long long)armed.time_limit_ms * 1000000;
  if (!armed.counting)
    tg_watchdog_arm(armed.deadline_ns, on_time_up, NULL);
  return aside;
}

void tg_limit_aside_end(tg_limit_aside_t aside) {
  if (armed.raised || armed.deadline_ns == 0)
    return;
  armed.deadline_ns = aside.rule.deadline_ns + (tg_monotonic_ns() - aside.started_ns);
  armed.time_limit_ms = aside.rule.time_limit_ms;
  if (!armed.counting)
    tg_watchdog_arm(armed.deadline_ns, on_time_up, NULL);
}

void tg_limit_postpone(long long ns) {
  if (!armed.deadline_ns)
    return;
  armed.deadline_ns += ns;
  tg_watchdog_postpone(armed.deadline_ns);
}

void tg_limit_disarm(lua_State *L) {
  tg_watchdog_disarm();
  armed.deadline_ns = 0;
  lua_sethook(L, NULL, 0, 0);
  if (armed.raised) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TIMEOUT_KEY);
    armed.raised = 0;
  }
}
