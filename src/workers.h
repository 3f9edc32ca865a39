/* workers.h: --workers N. The main thread's loop is worker 0; the others are threads with a
 * loop, listener (the same port, SO_REUSEPORT spreads connections), Lua state, outbound pool
 * and batcher of their own. On SQLite all share the store: a worker holds its lock for the
 * calls of one loop turn and their commit (tg_store_lock in tg_batch_flush), so transactions
 * never interleave. On PostgreSQL each worker has a connection of its own (a store of its own,
 * with its own lock): the workers' turns run at once, kept apart by the database's row locks as
 * several gateways' are (docs/ha.md). */
#ifndef TG_WORKERS_H
#define TG_WORKERS_H

#include "cli.h"
#include "handler.h"
#include "script.h"
#include "listeners.h"

typedef struct tg_worker_s tg_worker_t;

typedef struct tg_workers_s {
  tg_worker_t *list; /* the threads beyond the main one */
  int count;
} tg_workers_t;

/* What every worker serves like: the main listeners' bound ports, limits and routes (whose
 * task_ctx each worker replaces with its own handler). */
typedef struct tg_workers_plan_s {
  const tg_config_t *config;
  const tg_script_config_t *script_config;
  const tg_server_t *like;  /* limits, routes, the gateway's connection count */
  int ports[TG_MAX_LISTEN]; /* the main listeners' bound ports, one per --listen address */
  tg_upstreams_t *upstreams; /* --upstream's set, shared, or NULL */
  tg_tls_context_t *const *tls; /* per address: its certificate (shared), or NULL; or NULL */
} tg_workers_plan_t;

/* Starts count threads; each is listening when this returns 0. On -1 (with err) none runs. */
int tg_workers_start(tg_workers_t *workers, int count, const tg_workers_plan_t *plan, char *err, size_t errcap);
/* The handler of every extra worker, for reloads and status (i-th of count). */
tg_handler_t *tg_workers_handler(tg_workers_t *workers, int i);
/* Open connections of the extra workers. */
int tg_workers_open_conns(const tg_workers_t *workers);
/* Asks every worker to drain (stop accepting, finish calls in flight, then stop). */
void tg_workers_drain(tg_workers_t *workers);
/* Asks every worker to end its outbound requests now ("gateway stopping"): the calls waiting on
 * them resume with that failure and answer (1922 for a forwarded call), still draining. */
void tg_workers_cut(tg_workers_t *workers);
/* Asks every worker to drop its connections and stop now (the drain deadline passed). */
void tg_workers_abort(tg_workers_t *workers);
/* True once every worker's loop has stopped. */
int tg_workers_done(const tg_workers_t *workers);
/* Waits for the threads and frees what they used. */
void tg_workers_join(tg_workers_t *workers);

#endif
