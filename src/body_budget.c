/* body_budget.c: the bound on the task request bodies all connections hold (see body_budget.h). */
#include "body_budget.h"

int tg_body_budget_take(tg_body_budget_t *budget, size_t bytes) {
  if (!budget || !budget->limit)
    return 0;
  size_t held = __atomic_add_fetch(&budget->held, bytes, __ATOMIC_RELAXED);
  if (held <= budget->limit)
    return 0;
  __atomic_sub_fetch(&budget->held, bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&budget->refused, 1, __ATOMIC_RELAXED);
  return -1;
}

void tg_body_budget_give(tg_body_budget_t *budget, size_t bytes) {
  if (budget && budget->limit && bytes)
    __atomic_sub_fetch(&budget->held, bytes, __ATOMIC_RELAXED);
}

size_t tg_body_budget_held(const tg_body_budget_t *budget) {
  return budget ? __atomic_load_n(&budget->held, __ATOMIC_RELAXED) : 0;
}

unsigned long long tg_body_budget_refused(const tg_body_budget_t *budget) {
  return budget ? __atomic_load_n(&budget->refused, __ATOMIC_RELAXED) : 0;
}
