/* batch.c: group commit on the event loop (see batch.h). A uv_check handle runs right after the
 * loop has handled the turn's I/O; it commits the turn's transaction and releases the replies. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

typedef struct waiter_s {
  tg_batch_release_fn release, failed;
  void *data;
} waiter_t;

struct tg_batch_s {
  tg_store_t *store;
  uv_check_t check;
  int open;
  waiter_t *waiters;
  int count, cap;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(tg_batch_t *batch, const char *sql) {
  sqlite3_stmt *stmt = tg_store_prepare(batch->store, sql, strlen(sql));
  if (!stmt)
    return -1;
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? 0 : -rc;
}

void tg_batch_commit(tg_batch_t *batch) {
  if (!batch->open)
    return;
  double started = now_seconds();
  int rc = exec(batch, "COMMIT");
  tg_metrics_observe(TG_HIST_COMMIT, now_seconds() - started);
  if (rc < 0) {
    tg_log(TG_LOG_ERROR, "commit_failed", "error=\"%s\" calls_dropped=%d", tg_store_errmsg(batch->store), batch->count);
    tg_store_abort(batch->store);
  }
  batch->open = 0;
  uv_check_stop(&batch->check);
  /* Waiters may queue new waiters (a released connection parses its backlog): take the list. */
  int count = batch->count;
  waiter_t *waiters = batch->waiters;
  batch->waiters = NULL;
  batch->count = batch->cap = 0;
  for (int i = 0; i < count; i++) {
    if (!waiters[i].data)
      continue;
    if (rc < 0)
      waiters[i].failed(waiters[i].data);
    else
      waiters[i].release(waiters[i].data);
  }
  free(waiters);
}

static void on_check(uv_check_t *check) { tg_batch_commit(check->data); }

tg_batch_t *tg_batch_new(uv_loop_t *loop, tg_store_t *store) {
  tg_batch_t *batch = calloc(1, sizeof *batch);
  if (!batch)
    return NULL;
  batch->store = store;
  uv_check_init(loop, &batch->check);
  batch->check.data = batch;
  return batch;
}

int tg_batch_begin_call(tg_batch_t *batch) {
  if (batch->open)
    return 0;
  int rc = exec(batch, "BEGIN IMMEDIATE");
  if (rc < 0)
    return rc;
  batch->open = 1;
  uv_check_start(&batch->check, on_check);
  return 0;
}

void tg_batch_end_call(tg_batch_t *batch, int ok) {
  if (ok)
    return;
  /* The runtime runs every call step in the savepoint "call" (store.c); a step that Lua could
   * not finish left it open. Undo it; when the step failed outside it there is nothing to undo. */
  if (exec(batch, "ROLLBACK TO call") == 0)
    exec(batch, "RELEASE call");
}

int tg_batch_open(const tg_batch_t *batch) { return batch->open; }

void tg_batch_wait(tg_batch_t *batch, tg_batch_release_fn release, tg_batch_release_fn failed, void *data) {
  for (int i = 0; i < batch->count; i++)
    if (batch->waiters[i].data == data)
      return; /* already waiting */
  if (batch->count == batch->cap) {
    int cap = batch->cap ? batch->cap * 2 : 64;
    waiter_t *grown = realloc(batch->waiters, (size_t)cap * sizeof *grown);
    if (!grown) {
      failed(data);
      return;
    }
    batch->waiters = grown;
    batch->cap = cap;
  }
  batch->waiters[batch->count++] = (waiter_t){.release = release, .failed = failed, .data = data};
}

void tg_batch_forget(tg_batch_t *batch, void *data) {
  for (int i = 0; i < batch->count; i++)
    if (batch->waiters[i].data == data)
      batch->waiters[i].data = NULL;
}

static void on_closed(uv_handle_t *handle) { free(handle->data); }

void tg_batch_free(tg_batch_t *batch) {
  if (!batch)
    return;
  tg_batch_commit(batch);
  uv_close((uv_handle_t *)&batch->check, on_closed);
}
