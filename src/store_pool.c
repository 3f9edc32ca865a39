/* store_pool.c: the workers' PostgreSQL connections as the admin views show them (see
 * store_pool.h). */
#include "store_pool.h"

#include "pg.h"

/* The worker's connection, or NULL on SQLite. */
static tg_pg_t *connection(tg_handler_t *const *handlers, int i) { return tg_store_pg(handlers[i]->store); }

void tg_store_pool_json(tg_handler_t *const *handlers, int count, tg_buf_t *body) {
  if (count == 0 || !connection(handlers, 0))
    return;
  tg_buf_puts(body, ",\"connections\":[");
  for (int i = 0; i < count; i++) {
    tg_pg_stats_t stats;
    tg_pg_stats(connection(handlers, i), &stats);
    tg_buf_printf(body,
                  "%s{\"worker\":%d,\"state\":\"%s\",\"backend_pid\":%d,\"round_trips\":%lld,"
                  "\"round_trip_seconds\":%.6f,\"reconnects\":%lld}",
                  i ? "," : "", i, tg_pg_state_name(stats.state), stats.backend_pid, stats.round_trips,
                  stats.round_trip_seconds, stats.reconnects);
  }
  tg_buf_puts(body, "]");
}

void tg_store_pool_metrics(tg_handler_t *const *handlers, int count, tg_buf_t *body) {
  if (count == 0 || !connection(handlers, 0))
    return;
  tg_pg_stats_t stats[count];
  for (int i = 0; i < count; i++)
    tg_pg_stats(connection(handlers, i), &stats[i]);
  tg_buf_puts(body, "# HELP taskgate_store_connection_up 1 while the worker's PostgreSQL connection is up.\n"
                    "# TYPE taskgate_store_connection_up gauge\n");
  for (int i = 0; i < count; i++)
    tg_buf_printf(body, "taskgate_store_connection_up{worker=\"%d\"} %d\n", i, stats[i].state == TG_PG_UP);
  tg_buf_puts(body, "# HELP taskgate_store_connection_round_trips_total Round trips to the database, per worker's "
                    "connection.\n# TYPE taskgate_store_connection_round_trips_total counter\n");
  for (int i = 0; i < count; i++)
    tg_buf_printf(body, "taskgate_store_connection_round_trips_total{worker=\"%d\"} %lld\n", i, stats[i].round_trips);
  tg_buf_puts(body, "# HELP taskgate_store_connection_round_trip_seconds_total Time spent waiting on those round "
                    "trips.\n# TYPE taskgate_store_connection_round_trip_seconds_total counter\n");
  for (int i = 0; i < count; i++)
    tg_buf_printf(body, "taskgate_store_connection_round_trip_seconds_total{worker=\"%d\"} %.6f\n", i,
                  stats[i].round_trip_seconds);
  tg_buf_puts(body, "# HELP taskgate_store_connection_reconnects_total Sessions begun again after one was lost.\n"
                    "# TYPE taskgate_store_connection_reconnects_total counter\n");
  for (int i = 0; i < count; i++)
    tg_buf_printf(body, "taskgate_store_connection_reconnects_total{worker=\"%d\"} %lld\n", i, stats[i].reconnects);
}

int tg_store_pool_down(tg_handler_t *const *handlers, int count) {
  int down = 0;
  for (int i = 0; i < count; i++) {
    tg_pg_t *pg = connection(handlers, i);
    if (pg) {
      tg_pg_stats_t stats;
      tg_pg_stats(pg, &stats);
      down += stats.state != TG_PG_UP;
    }
  }
  return down;
}
