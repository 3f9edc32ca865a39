/* store_pool.h: a gateway's PostgreSQL connections, one per worker (workers.h), as /status,
 * /metrics and /healthz show them. */
#ifndef TG_STORE_POOL_H
#define TG_STORE_POOL_H

#include "buf.h"
#include "handler.h"

/* Appends ,"connections":[{"worker":N,"state":"up",...},...] for the workers' stores on
 * PostgreSQL; nothing on SQLite. Any thread: it reads the connections' atomic counters only. */
void tg_store_pool_json(tg_handler_t *const *handlers, int count, tg_buf_t *body);
/* The same as Prometheus gauges and counters labelled by worker; nothing on SQLite. */
void tg_store_pool_metrics(tg_handler_t *const *handlers, int count, tg_buf_t *body);
/* How many of the workers' connections are not up now (0 on SQLite). */
int tg_store_pool_down(tg_handler_t *const *handlers, int count);

#endif
