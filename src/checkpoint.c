/* checkpoint.c: the checkpoint thread (see checkpoint.h). */
#include "checkpoint.h"

#include <stdlib.h>
#include <uv.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

/* Copying runs often, so that little is left to copy when the WAL must restart; the restart
 * (the one pass under the store lock) runs seldom, so few calls ever wait on it. Its cost is
 * mostly two fsyncs whatever the WAL's length, so a longer WAL makes calls wait less often
 * (measured: docs/performance.md, "Figures behind constants"). */
enum {
  COPY_PAGES = 250,      /* WAL pages not yet copied that start an unlocked copy */
  RESTART_PAGES = 10000, /* a WAL this long (40 MB) restarts from its beginning */
  /* A WAL this long means the thread has fallen behind (a starved machine, a slow disk): the
   * commit that finds it so makes the restart's pass itself, so the WAL's length stays bounded
   * whatever the scheduler does. */
  CAP_PAGES = RESTART_PAGES + RESTART_PAGES / 20,
};

struct tg_checkpointer_s {
  sqlite3 *db; /* the thread's own connection */
  tg_store_t *store;
  uv_thread_t thread;
  uv_mutex_t lock;
  uv_cond_t wake;
  uv_mutex_t pass; /* held through each pass: one at a time (taken after the store lock) */
  int due;     /* enough of the WAL waits to be copied */
  int restart; /* and it is long enough to restart */
  int stop;
  int copied; /* WAL pages copied by the last pass (atomic: the commit hook reads it) */
};

/* One pass on db's connection, one at a time; its time goes to the histogram `timed`
 * (TG_HIST_CHECKPOINT*). */
static void checkpoint(tg_checkpointer_t *checkpointer, sqlite3 *db, int timed) {
  uv_mutex_lock(&checkpointer->pass);
  double started = tg_monotonic_seconds();
  int copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, &copied);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    tg_log(TG_LOG_WARN, "checkpoint_failed", "error=\"%s\"", sqlite3_errmsg(db));
  __atomic_store_n(&checkpointer->copied, copied > 0 ? copied : 0, __ATOMIC_RELAXED);
  tg_metrics_observe(timed, tg_monotonic_seconds() - started);
  uv_mutex_unlock(&checkpointer->pass);
}

/* Runs after every commit of the serving connection, under the store lock: it signals the
 * thread, or past CAP_PAGES makes the restart's pass itself (the next commit restarts the WAL).
 * pages is the WAL's length, which drops when the WAL has restarted. */
static int on_wal_commit(void *data, sqlite3 *db, const char *name, int pages) {
  (void)name;
  tg_checkpointer_t *checkpointer = data;
  int copied = __atomic_load_n(&checkpointer->copied, __ATOMIC_RELAXED);
  if (pages < copied) /* restarted: nothing of this WAL is copied yet */
    copied = 0;
  if (pages - copied < COPY_PAGES)
    return SQLITE_OK;
  if (pages >= CAP_PAGES) {
    checkpoint(checkpointer, db, TG_HIST_CHECKPOINT_LOCKED);
    return SQLITE_OK;
  }
  uv_mutex_lock(&checkpointer->lock);
  checkpointer->due = 1;
  checkpointer->restart |= pages >= RESTART_PAGES;
  uv_cond_signal(&checkpointer->wake);
  uv_mutex_unlock(&checkpointer->lock);
  return SQLITE_OK;
}

static void run(void *data) {
  tg_checkpointer_t *checkpointer = data;
  uv_mutex_lock(&checkpointer->lock);
  for (;;) {
    while (!checkpointer->due && !checkpointer->stop)
      uv_cond_wait(&checkpointer->wake, &checkpointer->lock);
    if (checkpointer->stop)
      break;
    int restart = checkpointer->restart;
    checkpointer->due = checkpointer->restart = 0;
    uv_mutex_unlock(&checkpointer->lock);
    /* The copying runs beside the writers; but a WAL restarts from its beginning only once a
     * checkpoint has caught up with every frame, which never happens while commits keep
     * coming. So once the WAL is long, a last pass holding the store lock copies the few
     * frames written since the copy before, and the next commit starts the WAL over instead
     * of growing it. */
    checkpoint(checkpointer, checkpointer->db, TG_HIST_CHECKPOINT);
    if (restart) {
      tg_store_lock(checkpointer->store);
      checkpoint(checkpointer, checkpointer->db, TG_HIST_CHECKPOINT_LOCKED);
      tg_store_unlock(checkpointer->store);
    }
    uv_mutex_lock(&checkpointer->lock);
  }
  uv_mutex_unlock(&checkpointer->lock);
}

tg_checkpointer_t *tg_checkpointer_start(tg_store_t *store, const char *path) {
  tg_checkpointer_t *checkpointer = calloc(1, sizeof *checkpointer);
  if (!checkpointer)
    return NULL;
  checkpointer->store = store;
  /* Reading the schema makes the connection see the WAL; until then checkpoints do nothing. */
  if (sqlite3_open_v2(path, &checkpointer->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_exec(checkpointer->db, "PRAGMA journal_mode", NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  uv_mutex_init(&checkpointer->lock);
  uv_mutex_init(&checkpointer->pass);
  uv_cond_init(&checkpointer->wake);
  if (uv_thread_create(&checkpointer->thread, run, checkpointer) != 0) {
    uv_cond_destroy(&checkpointer->wake);
    uv_mutex_destroy(&checkpointer->pass);
    uv_mutex_destroy(&checkpointer->lock);
    goto fail;
  }
  tg_store_lock(store);
  sqlite3_wal_hook(tg_store_db(store), on_wal_commit, checkpointer); /* replaces the automatic checkpoint */
  tg_store_unlock(store);
  return checkpointer;
fail:
  sqlite3_close(checkpointer->db);
  free(checkpointer);
  return NULL;
}

void tg_checkpointer_stop(tg_checkpointer_t *checkpointer) {
  if (!checkpointer)
    return;
  tg_store_lock(checkpointer->store);
  sqlite3_wal_autocheckpoint(tg_store_db(checkpointer->store), 1000); /* back to SQLite's own default */
  tg_store_unlock(checkpointer->store);
  uv_mutex_lock(&checkpointer->lock);
  checkpointer->stop = 1;
  uv_cond_signal(&checkpointer->wake);
  uv_mutex_unlock(&checkpointer->lock);
  uv_thread_join(&checkpointer->thread);
  uv_cond_destroy(&checkpointer->wake);
  uv_mutex_destroy(&checkpointer->pass);
  uv_mutex_destroy(&checkpointer->lock);
  sqlite3_close(checkpointer->db);
  free(checkpointer);
}
