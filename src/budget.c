/* budget.c: per-thread call budgets (see budget.h). */
#include "budget.h"

#include "clock.h"
#include "limit.h"

static __thread struct {
  long long limit_ns;    /* the call's store time; 0: unlimited */
  long long left_ns;     /* what is left of it */
  long long started_ns;  /* when the store work under way started; 0: none under way */
  long long deadline_ns; /* when the store work under way runs out of time */
} budget;

void tg_budget_begin(long long store_ns) {
  budget.limit_ns = budget.left_ns = store_ns > 0 ? store_ns : 0;
  budget.started_ns = 0;
}

void tg_budget_end(void) { budget.limit_ns = budget.left_ns = budget.started_ns = 0; }

int tg_budget_store_begin(void) {
  budget.started_ns = tg_monotonic_ns();
  budget.deadline_ns = budget.started_ns + budget.left_ns;
  return budget.limit_ns && budget.left_ns <= 0 ? -1 : 0;
}

void tg_budget_store_end(void) {
  if (!budget.started_ns)
    return;
  long long spent = tg_monotonic_ns() - budget.started_ns;
  budget.started_ns = 0;
  if (budget.limit_ns)
    budget.left_ns -= spent;
  tg_limit_postpone(spent);
}

int tg_budget_store_overdue(void) {
  return budget.limit_ns && budget.started_ns && tg_monotonic_ns() > budget.deadline_ns;
}

int tg_budget_store_limit_ms(void) { return (int)(budget.limit_ns / 1000000); }
