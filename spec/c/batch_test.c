/* batch_test.c: group commit (src/batch.c, included) on a real loop and a real store: the calls
 * of a turn run once, in one transaction, and are delivered only after it is committed; a turn
 * SQLite rolled back is delivered as not committed; calls queued while replies go out run in
 * the next turn; a turn whose calls all read takes no store turn. The runner is a fake that
 * writes a row per run. */
#undef NDEBUG
#include "../../src/batch.c"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

static uv_loop_t loop;
static tg_store_t *store;
static tg_batch_t *batch;
static char dir[] = "/tmp/taskgate-unit-XXXXXX", path[64];

static int runs, reads, deliveries, last_committed, rows_seen_at_delivery;
static int only_reads;     /* the read phase answers every call: nothing is left for the store */
static int lose_the_turn;  /* the next run rolls the turn back, as SQLite does on a full disk */
static int schedule_again; /* the next delivery queues more calls, as a pipelined request does */

/* Counts the rows through a connection of its own: it sees only what is committed. */
static int committed_rows(void) {
  sqlite3 *db;
  sqlite3_stmt *stmt;
  int n = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &stmt, NULL) == 0) {
    if (sqlite3_step(stmt) == SQLITE_ROW)
      n = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return n;
}

static int read_phase(void *ctx) {
  reads++;
  return !only_reads;
}

static void run(void *ctx) {
  runs++;
  CHECK_INT(sqlite3_exec(tg_store_db(store), "INSERT INTO t VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
  if (lose_the_turn) {
    lose_the_turn = 0;
    sqlite3_exec(tg_store_db(store), "ROLLBACK", NULL, NULL, NULL);
  }
}

static void deliver(void *ctx, tg_turn_end_t end) {
  deliveries++;
  last_committed = end == TG_TURN_COMMITTED;
  rows_seen_at_delivery = committed_rows();
  if (schedule_again) {
    schedule_again = 0;
    tg_batch_schedule(batch);
  }
}

static void set_up(void) {
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/store.db", dir);
  char err[256];
  store = tg_store_open(path, TG_SYNC_NORMAL, err, sizeof err);
  CHECK(store != NULL);
  sqlite3_exec(tg_store_db(store), "CREATE TABLE t (x)", NULL, NULL, NULL);
  uv_loop_init(&loop);
  batch = tg_batch_new(&loop, store, (tg_batch_runner_t){.read = read_phase, .run = run, .deliver = deliver});
}

static void reset_counts(void) { runs = reads = deliveries = last_committed = 0; }

static void the_calls_of_a_turn_run_once_and_are_delivered_after_the_commit(void) {
  reset_counts();
  int before = committed_rows();
  tg_batch_schedule(batch);
  tg_batch_schedule(batch); /* a second call in the same turn */
  CHECK_INT(runs, 0);       /* nothing runs before the turn's I/O is done */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(runs, 1);
  CHECK_INT(deliveries, 1);
  CHECK(last_committed);
  CHECK_INT(rows_seen_at_delivery, before + 1); /* committed before any reply goes out */
}

static void a_turn_with_nothing_queued_runs_nothing(void) {
  reset_counts();
  uv_run(&loop, UV_RUN_NOWAIT);
  tg_batch_flush(batch);
  CHECK_INT(runs, 0);
  CHECK_INT(deliveries, 0);
}

static void a_turn_the_store_rolled_back_is_delivered_as_not_committed(void) {
  reset_counts();
  int before = committed_rows();
  lose_the_turn = 1;
  tg_batch_schedule(batch);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(deliveries, 1);
  CHECK(!last_committed);
  CHECK_INT(committed_rows(), before);
  reset_counts();
  tg_batch_schedule(batch); /* the store goes on with the next turn */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(last_committed);
  CHECK_INT(committed_rows(), before + 1);
}

static void calls_queued_while_replies_go_out_run_in_the_next_turn(void) {
  reset_counts();
  schedule_again = 1;
  tg_batch_schedule(batch);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(runs, 1);
  CHECK(batch->scheduled);
  uv_run(&loop, UV_RUN_NOWAIT); /* the idle handle keeps the loop from waiting */
  CHECK_INT(runs, 2);
  CHECK(!batch->scheduled);
}

static void a_turn_whose_calls_all_read_takes_no_store_turn(void) {
  reset_counts();
  int before = committed_rows();
  only_reads = 1;
  tg_batch_schedule(batch);
  uv_run(&loop, UV_RUN_NOWAIT);
  only_reads = 0;
  CHECK_INT(reads, 1);
  CHECK_INT(runs, 0);       /* the store's turn did not run */
  CHECK_INT(deliveries, 0); /* nor its delivery: the read phase hands out its own replies */
  CHECK_INT(committed_rows(), before);
  CHECK(!batch->scheduled);
}

int main(void) {
  tg_log_set_level(TG_LOG_OFF);
  set_up();
  TEST(the_calls_of_a_turn_run_once_and_are_delivered_after_the_commit);
  TEST(a_turn_with_nothing_queued_runs_nothing);
  TEST(a_turn_the_store_rolled_back_is_delivered_as_not_committed);
  TEST(calls_queued_while_replies_go_out_run_in_the_next_turn);
  TEST(a_turn_whose_calls_all_read_takes_no_store_turn);
  tg_batch_free(batch);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  tg_store_close(store);
  char remove[96];
  snprintf(remove, sizeof remove, "rm -rf %s", dir);
  CHECK_INT(system(remove), 0);
  return unit_done();
}
