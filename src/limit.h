/* limit.h: the per-call limits as C code sees them. The time limit: a deadline per thread,
 * enforced on Lua code by a hook (set by the watchdog at the deadline, or counted when there is
 * no watchdog) and on C code that loops on a rule's behalf by tg_limit_check. The size limit:
 * no single object of a Lua state may be larger than TG_LIMIT_MAX_OBJECT, so that no one
 * operation of the Lua VM on one object (a copy, a conversion) can take long. */
#ifndef TG_LIMIT_H
#define TG_LIMIT_H

#include <lua.h>

enum {
  TG_LIMIT_MAX_OBJECT = 16 << 20, /* bytes of the largest string, table part or reply */
  TG_LIMIT_CHECK_EVERY = 4096,    /* steps of a C loop between two looks at the clock */
};

/* Tells the time limit where state L's runtime modules are (runtime_dir): a timeout names the
 * place in the site's code that was running, not the runtime function it had called. */
void tg_limit_name_runtime(lua_State *L, const char *runtime_dir);
/* Arms the calling thread's deadline (CLOCK_MONOTONIC ns) for the Lua code of state L and of
 * every coroutine it resumes. time_limit_ms is what the error names; message_handler (or NULL)
 * is the one the call runs under, which the limit lets run inside its own raise. */
void tg_limit_arm(lua_State *L, long long deadline_ns, unsigned time_limit_ms, lua_CFunction message_handler);
/* The calling thread's deadline and the limit its timeout names, as tg_limit_tighten found them. */
typedef struct tg_limit_saved_s {
  long long deadline_ns;
  unsigned time_limit_ms;
} tg_limit_saved_t;
/* Moves the calling thread's armed deadline earlier, to deadline_ns (never later), its timeout
 * naming time_limit_ms: for a part of the work that has a budget of its own (the rules' code of a
 * reload). Returns what tg_limit_restore puts back. */
tg_limit_saved_t tg_limit_tighten(long long deadline_ns, unsigned time_limit_ms);
/* Puts back what tg_limit_tighten found, unless the time ran out meanwhile: then every Lua
 * instruction raises until the gate returns. */
void tg_limit_restore(tg_limit_saved_t saved);
/* Disarms the calling thread's deadline and removes the hook from L. */
void tg_limit_disarm(lua_State *L);
/* Moves the calling thread's deadline ns later: time spent on work the time limit does not
 * count (decoding the request, the store work done for a rule: budget.h). */
void tg_limit_postpone(long long ns);
/* The gateway's own work inside a call (encoding the rule's reply): not counted against the rule.
 * tg_limit_aside_begin gives that work a budget of its own, one time limit from now, whatever the
 * rule left; tg_limit_aside_end puts the rule's deadline back, moved later by the time the work
 * took (unless the work's budget ran out: then every Lua instruction raises until the gate
 * returns). */
typedef struct tg_limit_aside_s {
  tg_limit_saved_t rule;
  long long started_ns;
} tg_limit_aside_t;
tg_limit_aside_t tg_limit_aside_begin(void);
void tg_limit_aside_end(tg_limit_aside_t aside);
/* Returns 1 once the calling thread's deadline has passed (0 when none is armed). */
int tg_limit_passed(void);
/* For C loops that run on a rule's behalf: once the deadline has passed, stops the call as the
 * hook would (raises the time-limit error; every Lua frame that runs after it raises again). */
void tg_limit_check(lua_State *L);
/* Counts n steps of a C loop; every TG_LIMIT_CHECK_EVERY steps looks at the clock (as
 * tg_limit_check). budget is the loop's own counter, starting at 0. */
static inline void tg_limit_spend(lua_State *L, unsigned *budget, unsigned n) {
  if ((*budget += n) >= TG_LIMIT_CHECK_EVERY) {
    *budget = 0;
    tg_limit_check(L);
  }
}

#endif
