/* watchdog.h: deadlines for work on the calling thread, enforced from outside it.
 *
 * A thread arms its deadline before a piece of work and disarms it after; arming costs two
 * memory accesses. One watchdog thread sleeps until the earliest armed deadline; when one has
 * passed, it sends the owning thread a signal, whose handler calls that thread's on_expire.
 * The Lua time limit uses this instead of an instruction hook, which slowed every Lua
 * instruction. */
#ifndef TG_WATCHDOG_H
#define TG_WATCHDOG_H

/* Runs inside a signal handler on the armed thread: it may only do what is async-signal-safe
 * (set flags, set Lua hooks). */
typedef void (*tg_watchdog_expire_fn)(void *arg);

/* Arms the calling thread's deadline (CLOCK_MONOTONIC, in ns). Returns 0, or -1 when the
 * watchdog cannot run here (no thread or no signal); the caller then enforces the deadline
 * itself. */
int tg_watchdog_arm(long long deadline_ns, tg_watchdog_expire_fn on_expire, void *arg);
/* Disarms the calling thread's deadline; on_expire will not run after this returns. */
void tg_watchdog_disarm(void);
/* Moves the calling thread's armed deadline to deadline_ns, later than it was (time spent on
 * work its limit does not count). Nothing happens while disarmed. */
void tg_watchdog_postpone(long long deadline_ns);

#endif
