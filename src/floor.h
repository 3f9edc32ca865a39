/* floor.h: the warehouse floor as /metrics shows it: the open ports and how long each has been
 * open, tasks and groups waiting by category, the age of the oldest waiting group. */
#ifndef TG_FLOOR_H
#define TG_FLOOR_H

#include "buf.h"
#include "store.h"

/* Appends the floor's gauges in the Prometheus text format; now is the wall clock (seconds
 * since the epoch). The caller holds the store lock. Costs O(open ports + categories + tasks
 * at a port), never the store's size: the counts are kept by triggers (store.c). */
void tg_floor_metrics(tg_store_t *store, tg_buf_t *out, double now);

#endif
