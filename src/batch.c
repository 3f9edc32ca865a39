/* batch.c: group commit on the event loop (see batch.h). A uv_check handle runs right after the
 * loop has handled the turn's I/O: it runs the queued calls, commits, and hands out replies. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "owed.h"
#include "pg.h"
#include "txn.h"

/* A PostgreSQL connection idle this long is asked whether it is still there. */
#define WATCH_IDLE_S 1.0
#define WATCH_EVERY_MS 200

struct tg_batch_s {
  tg_store_t *store;
  tg_batch_runner_t runner;
  uv_check_t check;
  uv_idle_t no_wait; /* active while calls are queued: the loop must not sleep in poll */
  uv_timer_t watch;  /* PostgreSQL: keeps this loop's connection up between calls (on_watch) */
  long long round_trips_seen;
  double active_at; /* when the connection last made a round trip, as far as the watch saw */
  uv_timer_t owed;   /* active while read-only calls' traces wait for a store turn (owed.h) */
  int scheduled;
  int closing;
  long long changes_at_begin; /* tg_store_total_changes as the turn began */
};

/* Commits the turn; returns how it ended. A turn the store had already rolled back, or whose
 * store file is no longer the one at its path (committing would acknowledge changes into a
 * deleted file), is not committed: then no call of the turn may be acknowledged. On PostgreSQL
 * a commit the server refused is known to have changed nothing (TG_TURN_ROLLED_BACK); one whose
 * connection broke meanwhile may or may not have taken effect (TG_TURN_UNKNOWN). */
static tg_turn_end_t commit(tg_batch_t *batch, char *why, size_t cap) {
  tg_store_health_t *health = tg_store_health(batch->store);
  int wrote = tg_store_total_changes(batch->store) != batch->changes_at_begin;
  if (wrote && tg_store_health_check(health, 1) < 0) { /* one stat(2): cheap beside a commit */
    tg_txn_abort_turn(batch->store);
    return TG_TURN_UNKNOWN;
  }
  tg_pg_t *pg = tg_store_pg(batch->store);
  int sent = pg && tg_pg_in_transaction(pg); /* else its COMMIT is never sent: nothing can be stored */
  double started = tg_monotonic_seconds();
  int rc = tg_txn_commit_turn(batch->store);
  tg_metrics_observe(TG_HIST_COMMIT, tg_monotonic_seconds() - started);
  if (rc == 0) {
    if (wrote)
      tg_store_health_write_ok(health);
    return TG_TURN_COMMITTED;
  }
  if (pg) {
    int lost = sent && tg_pg_lost(pg);
    snprintf(why, cap, "%s (SQLSTATE %s)", tg_pg_errmsg(pg), tg_pg_sqlstate(pg)[0] ? tg_pg_sqlstate(pg) : "none");
    tg_log(TG_LOG_ERROR, "commit_failed", "backend=postgresql sqlstate=%s error=\"%s\" action=\"%s\"",
           tg_pg_sqlstate(pg)[0] ? tg_pg_sqlstate(pg) : "-", tg_pg_errmsg(pg),
           lost ? "outcome unknown: the connection broke during the commit, the turn's calls get no reply"
                : "rolled back: nothing of the turn is stored, its calls are answered 1934");
    return lost ? TG_TURN_UNKNOWN : TG_TURN_ROLLED_BACK;
  }
  const char *failed = rc == -SQLITE_ABORT ? "the store rolled the transaction back" : tg_store_errmsg(batch->store);
  tg_log(TG_LOG_ERROR, "commit_failed", "error=\"%s\" action=\"the turn's calls are dropped unanswered\"", failed);
  tg_store_health_write_failed(health, failed);
  return TG_TURN_UNKNOWN;
}

/* The calls that write: under the store lock, in the turn's transaction. */
static void write_one_turn(tg_batch_t *batch) {
  tg_store_lock(batch->store);
  /* Should the turn not open, each call opens one of its own (txn.h), or faults. */
  if (tg_txn_begin_turn(batch->store) < 0)
    tg_log(TG_LOG_WARN, "turn_not_begun", "error=\"%s\"", tg_store_errmsg(batch->store));
  batch->changes_at_begin = tg_store_total_changes(batch->store);
  batch->runner.run(batch->runner.ctx); /* the traces owed first: they are written now */
  uv_timer_stop(&batch->owed);
  char why[600] = "";
  tg_turn_end_t end = commit(batch, why, sizeof why);
  if (end == TG_TURN_ROLLED_BACK)
    batch->runner.rolled_back(batch->runner.ctx, why);
  tg_store_unlock(batch->store); /* the replies go out while other workers run their calls */
  batch->runner.deliver(batch->runner.ctx, end);
}

/* Store turns until no call is to run again: a call a deadlock chose as its victim (batch.h)
 * runs in the next turn, at once, once this one's locks are gone; each runs again a bounded
 * number of times (handler.c). */
static void write_turn(tg_batch_t *batch) {
  do
    write_one_turn(batch);
  while (batch->runner.again && batch->runner.again(batch->runner.ctx));
}

static int owes(tg_batch_t *batch) { return batch->runner.owes && batch->runner.owes(batch->runner.ctx); }

/* No call took a store turn since read-only calls left their traces: one for them alone. */
static void on_owed(uv_timer_t *timer) {
  tg_batch_t *batch = timer->data;
  if (owes(batch))
    write_turn(batch);
}

void tg_batch_flush(tg_batch_t *batch) {
  if (!batch->scheduled)
    return;
  batch->scheduled = 0;
  /* Delivering (here and below) may queue new calls (a connection parses what it got
   * meanwhile): they run at the end of the next turn, which the idle handle makes come without
   * waiting. */
  if (batch->runner.read(batch->runner.ctx))
    write_turn(batch);
  else if (owes(batch) && !uv_is_active((uv_handle_t *)&batch->owed))
    uv_timer_start(&batch->owed, on_owed, TG_OWED_DELAY_MS, 0);
  if (!batch->scheduled) {
    uv_check_stop(&batch->check);
    uv_idle_stop(&batch->no_wait);
  }
}

static void on_check(uv_check_t *check) { tg_batch_flush(check->data); }

static void on_idle(uv_idle_t *idle) {}

/* Each loop keeps its own PostgreSQL connection coming back (workers.h): a connection that broke
 * advances its non-blocking reconnection here too, not only when a call comes (which faults
 * 1934 meanwhile), and one idle past WATCH_IDLE_S is asked whether the server is still there,
 * so that a dead session is found and replaced before a call needs it, and /status tells. */
static void on_watch(uv_timer_t *timer) {
  tg_batch_t *batch = timer->data;
  tg_pg_stats_t stats;
  tg_pg_stats(tg_store_pg(batch->store), &stats);
  double now = tg_monotonic_seconds();
  if (stats.round_trips != batch->round_trips_seen) {
    batch->round_trips_seen = stats.round_trips;
    batch->active_at = now;
  }
  if (stats.state == TG_PG_UP && now - batch->active_at < WATCH_IDLE_S)
    return;
  tg_store_lock(batch->store);
  tg_store_available(batch->store);
  tg_store_unlock(batch->store);
}

tg_batch_t *tg_batch_new(uv_loop_t *loop, tg_store_t *store, tg_batch_runner_t runner) {
  tg_batch_t *batch = calloc(1, sizeof *batch);
  if (!batch)
    return NULL;
  batch->store = store;
  batch->runner = runner;
  uv_check_init(loop, &batch->check);
  uv_idle_init(loop, &batch->no_wait);
  uv_timer_init(loop, &batch->watch);
  uv_timer_init(loop, &batch->owed);
  uv_unref((uv_handle_t *)&batch->owed); /* a loop that ends writes them in tg_batch_free, at once */
  batch->check.data = batch;
  batch->no_wait.data = batch;
  batch->watch.data = batch;
  batch->owed.data = batch;
  if (tg_store_pg(store)) {
    batch->active_at = tg_monotonic_seconds();
    uv_timer_start(&batch->watch, on_watch, WATCH_EVERY_MS, WATCH_EVERY_MS);
    uv_unref((uv_handle_t *)&batch->watch); /* it does not keep the loop alive */
  }
  return batch;
}

void tg_batch_schedule(tg_batch_t *batch) {
  if (batch->scheduled)
    return;
  batch->scheduled = 1;
  uv_check_start(&batch->check, on_check);
  uv_idle_start(&batch->no_wait, on_idle);
}

/* The batcher's memory goes with the last of its four handles. */
static void on_closed(uv_handle_t *handle) {
  tg_batch_t *batch = handle->data;
  if (--batch->closing == 0)
    free(batch);
}

void tg_batch_free(tg_batch_t *batch) {
  if (!batch)
    return;
  tg_batch_flush(batch);
  if (owes(batch)) /* nothing is lost at shutdown */
    write_turn(batch);
  batch->closing = 4;
  uv_close((uv_handle_t *)&batch->watch, on_closed);
  uv_close((uv_handle_t *)&batch->owed, on_closed);
  uv_close((uv_handle_t *)&batch->no_wait, on_closed);
  uv_close((uv_handle_t *)&batch->check, on_closed);
}
