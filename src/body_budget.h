/* body_budget.h: the memory every connection together may hold in task request bodies, from
 * their first byte until their reply has gone. Each connection may take a body of up to 1 MiB
 * for --body-timeout; without a bound of them all, stalled bodies on --max-connections
 * connections could hold gigabytes. Past the budget a request gets 503 and its connection
 * closes. Shared by the workers: the counts are atomic. */
#ifndef TG_BODY_BUDGET_H
#define TG_BODY_BUDGET_H

#include <stddef.h>

typedef struct tg_body_budget_s {
  size_t limit;               /* bytes; 0: no bound */
  size_t held;                /* bytes taken now (atomic) */
  unsigned long long refused; /* requests refused for it since the start (atomic) */
} tg_body_budget_t;

/* Takes bytes from budget (NULL: no bound). Returns 0, or -1 when they would pass its limit:
 * nothing is taken then, and the refusal is counted. */
int tg_body_budget_take(tg_body_budget_t *budget, size_t bytes);
/* Gives back bytes taken earlier. */
void tg_body_budget_give(tg_body_budget_t *budget, size_t bytes);
size_t tg_body_budget_held(const tg_body_budget_t *budget);
unsigned long long tg_body_budget_refused(const tg_body_budget_t *budget);

#endif
