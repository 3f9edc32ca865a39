/* batch.h: group commit. The calls that arrive during one event-loop turn are queued; once the
 * turn's I/O is done the calls that only read run first, on a read connection, without the
 * store lock (their replies go out at once); then, if others are left, the batcher takes the
 * store (tg_store_lock), opens the turn's SQLite
 * transaction (txn.h: each call then runs in a transaction of its own inside it, so its changes
 * stay all-or-nothing), runs them all, commits the turn, gives the store back, and only then are
 * the replies handed out. One commit (one fsync with --sync full) serves every call of the
 * turn, and with --workers the store is held only while calls run, never while sockets are read
 * or written. */
#ifndef TG_BATCH_H
#define TG_BATCH_H

#include <uv.h>

#include "store.h"

/* How a store turn ended, for the runner's deliver. */
typedef enum tg_turn_end_e {
  TG_TURN_UNKNOWN = 0,     /* the commit failed and may or may not have taken effect (the
                            * connection broke during it; SQLite's failed commit): nothing
                            * of the turn may be answered */
  TG_TURN_COMMITTED = 1,   /* the replies may go */
  TG_TURN_ROLLED_BACK = 2, /* the database refused the commit (PostgreSQL: a lock timeout, a
                            * deadlock at the commit's checks): nothing of the turn is stored;
                            * the runner's rolled_back has replaced the replies with faults */
} tg_turn_end_t;

/* The side that owns the queued calls (the handler). */
typedef struct tg_batch_runner_s {
  int (*read)(void *ctx);                    /* runs the read-only calls, store not held; 1: others wait */
  void (*run)(void *ctx);                    /* runs the others; the store is held */
  /* After a turn the database rolled back (TG_TURN_ROLLED_BACK), the store still held and no
   * turn open: why says what the database said (its SQLSTATE and message). */
  void (*rolled_back)(void *ctx, const char *why);
  void (*deliver)(void *ctx, tg_turn_end_t end); /* after the commit */
  /* After delivering: whether calls of the turn are to run again in a turn of their own (their
   * first run met a conflict of the moment and changed nothing); may be NULL. */
  int (*again)(void *ctx);
  int (*owes)(void *ctx); /* whether read-only calls left traces for a store turn (owed.h); may be NULL */
  void *ctx;
} tg_batch_runner_t;

typedef struct tg_batch_s tg_batch_t;

/* Creates the batcher for store on loop. NULL when out of memory. */
tg_batch_t *tg_batch_new(uv_loop_t *loop, tg_store_t *store, tg_batch_runner_t runner);
/* Calls are queued: run them at the end of this loop turn. */
void tg_batch_schedule(tg_batch_t *batch);
/* Runs, commits and delivers what is queued now, and writes the traces owed (for shutdown). */
void tg_batch_flush(tg_batch_t *batch);
/* Flushes and closes the batcher; its memory goes on the next loop turn. */
void tg_batch_free(tg_batch_t *batch);

#endif
