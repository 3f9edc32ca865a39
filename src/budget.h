/* budget.h: the store time a call may take, kept per thread. A rule's own Lua time is limited by
 * the call's deadline (limit.h, --lua-time-limit); the store work done on its behalf is timed
 * apart and limited apart, by as much again: so a bulk insert is not charged to the rule, and
 * still nothing holds the store for much more than twice the limit (docs/rules.md, "What the
 * time limit counts"). */
#ifndef TG_BUDGET_H
#define TG_BUDGET_H

/* A call starts on this thread: its store work may take store_ns in all (0: no limit, for the
 * specs' and tools' own use of the store). */
void tg_budget_begin(long long store_ns);
/* The call has ended: store work on this thread is no longer limited. */
void tg_budget_end(void);
/* Store work starts. Returns 0, or -1 when the call has already spent its store time (the
 * work must then not start; transaction control may still run, and is timed). */
int tg_budget_store_begin(void);
/* Store work has ended: its time is charged to the call's store time, and the call's Lua
 * deadline (tg_limit_postpone) moves later by as much. */
void tg_budget_store_end(void);
/* For SQLite's progress handler, while store work runs: 1 once it has run past the call's
 * store time. */
int tg_budget_store_overdue(void);
/* The store time of the call under way, in ms (for messages). */
int tg_budget_store_limit_ms(void);

#endif
