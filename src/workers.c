/* workers.c: the threads of --workers N (see workers.h). The main thread talks to a worker
 * only through its async handle (drain, abort) and its store's lock (reloads swap a worker's
 * generation while holding it). */
#include "workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xml.h"

/* The main thread's commands only ever go up: a later one includes what the earlier ones asked. */
enum { WORKER_RUN = 0, WORKER_DRAIN = 1, WORKER_CUT = 2, WORKER_ABORT = 3 };

struct tg_worker_s {
  int index;
  const tg_workers_plan_t *plan;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t drain_check;
  uv_sem_t ready;
  tg_listeners_t listeners;
  tg_handler_t handler;
  tg_batch_t *batch;
  tg_upstream_t *upstream;
  /* On PostgreSQL the worker's own connection (a store of its own), so that its turns run
   * beside the other workers' and the database's row locks keep them apart; NULL on SQLite,
   * whose one connection all share. script_config names the store the worker uses. */
  tg_store_t *own_store;
  tg_script_config_t script_config;
  int command;  /* WORKER_*, set by the main thread before waking the worker */
  int finished; /* the worker has closed its handles */
  int done;     /* the worker's loop has returned */
  int start_rc; /* 0 once listening, else a libuv error */
  char start_error[160];
};

static void finish(tg_worker_t *w) {
  if (w->finished)
    return;
  w->finished = 1;
  uv_timer_stop(&w->drain_check);
  uv_close((uv_handle_t *)&w->drain_check, NULL);
  uv_close((uv_handle_t *)&w->wake, NULL);
  tg_listeners_close(&w->listeners);
  if (w->upstream)
    tg_upstream_close(w->upstream);
}

static void on_drain_check(uv_timer_t *timer) {
  tg_worker_t *w = timer->data;
  if (tg_listeners_open_conns(&w->listeners) == 0 && tg_handler_in_flight(&w->handler) == 0)
    finish(w);
}

static void on_wake(uv_async_t *wake) {
  tg_worker_t *w = wake->data;
  int command = __atomic_load_n(&w->command, __ATOMIC_ACQUIRE);
  if (command == WORKER_ABORT) {
    tg_listeners_abort(&w->listeners);
    finish(w);
    return;
  }
  if (command >= WORKER_DRAIN && !w->finished && !uv_is_active((uv_handle_t *)&w->drain_check)) {
    tg_listeners_drain(&w->listeners);
    uv_timer_start(&w->drain_check, on_drain_check, 0, 20);
  }
  if (command >= WORKER_CUT && w->upstream) /* the waiting calls resume with the failure and answer */
    tg_upstream_close(w->upstream);
}

/* Everything that belongs to the worker's loop is made on the worker's thread. */
static int open_loop_parts(tg_worker_t *w) {
  const tg_workers_plan_t *plan = w->plan;
  const tg_config_t *config = plan->config;
  int rc = uv_loop_init(&w->loop);
  if (rc < 0)
    return rc;
  uv_async_init(&w->loop, &w->wake, on_wake);
  w->wake.data = w;
  uv_timer_init(&w->loop, &w->drain_check);
  w->drain_check.data = w;
  tg_upstream_options_t upstream_options = tg_cli_upstream_options(config, plan->upstreams);
  w->upstream = tg_upstream_new(&w->loop, &upstream_options);
  w->batch = tg_batch_new(&w->loop, w->script_config.store, tg_handler_runner(&w->handler));
  if (!w->upstream || !w->batch)
    return UV_ENOMEM;
  w->handler.upstream = w->upstream;
  w->handler.batch = w->batch;
  tg_server_t like = *plan->like;
  like.routes.task_ctx = &w->handler;
  like.reuse_port = 1;
  return tg_listeners_open(&w->listeners, &w->loop, &like, config->listen, plan->ports, plan->tls, config->listen_count,
                           w->start_error, sizeof w->start_error);
}

static void run_worker(void *arg) {
  tg_worker_t *w = arg;
  tg_xml_thread_init();
  w->start_rc = open_loop_parts(w);
  int started = w->start_rc == 0;
  if (!started)
    finish(w);
  uv_sem_post(&w->ready);
  if (started)
    tg_log(TG_LOG_DEBUG, "worker_started", "worker=%d listen=%s", w->index, w->listeners.server[0].address);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  tg_batch_free(w->batch); /* runs and answers what is still queued */
  uv_run(&w->loop, UV_RUN_DEFAULT);
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void free_worker(tg_worker_t *w) {
  uv_run(&w->loop, UV_RUN_NOWAIT); /* the last close callbacks */
  uv_loop_close(&w->loop);
  tg_store_t *store = w->script_config.store;
  tg_store_lock(store); /* closing a Lua state bound to the store */
  tg_handler_free(&w->handler);
  tg_store_unlock(store);
  tg_store_close(w->own_store);
  tg_upstream_free(w->upstream);
  uv_sem_destroy(&w->ready);
}

/* The store the worker uses: on PostgreSQL a connection of its own (see struct tg_worker_s). */
static int open_store(tg_worker_t *w, char *err, size_t errcap) {
  w->script_config = *w->plan->script_config;
  if (!tg_store_pg(w->script_config.store))
    return 0;
  char why[512];
  w->own_store = tg_store_open(w->plan->config->store_path, w->plan->config->sync_mode, why, sizeof why);
  if (!w->own_store)
    return snprintf(err, errcap, "worker %d: store: %s", w->index, why), -1;
  w->script_config.store = w->own_store;
  return 0;
}

/* The worker's first generation, built (self-checks and all) like a reload's. */
static int load_rules(tg_worker_t *w, char *err, size_t errcap) {
  tg_store_t *store = w->script_config.store;
  tg_store_lock(store);
  tg_script_t *script = tg_script_new(&w->script_config, err, errcap);
  int rc = -1;
  if (script) {
    rc = tg_handler_init(&w->handler, script, store, NULL);
    if (rc < 0)
      snprintf(err, errcap, "the runtime cannot build its error reply");
    else /* its read-only calls run beside the others' writing batches */
      tg_handler_open_reader(&w->handler, w->plan->config->store_path);
    tg_script_release(script); /* the handler holds it */
  }
  tg_store_unlock(store);
  return rc;
}

int tg_workers_start(tg_workers_t *workers, int count, const tg_workers_plan_t *plan, char *err, size_t errcap) {
  workers->count = 0;
  workers->list = count > 0 ? calloc((size_t)count, sizeof *workers->list) : NULL;
  if (count > 0 && !workers->list)
    return snprintf(err, errcap, "out of memory"), -1;
  for (int i = 0; i < count; i++) {
    tg_worker_t *w = &workers->list[i];
    w->index = i + 1;
    w->plan = plan;
    if (open_store(w, err, errcap) < 0)
      break;
    if (load_rules(w, err, errcap) < 0) {
      tg_store_close(w->own_store);
      break;
    }
    uv_sem_init(&w->ready, 0);
    if (uv_thread_create(&w->thread, run_worker, w) != 0) {
      snprintf(err, errcap, "cannot start worker %d", w->index);
      tg_handler_free(&w->handler);
      tg_store_close(w->own_store);
      uv_sem_destroy(&w->ready);
      break;
    }
    workers->count++;
    uv_sem_wait(&w->ready);
    if (w->start_rc < 0) {
      snprintf(err, errcap, "worker %d: %s", w->index, w->start_error[0] ? w->start_error : uv_strerror(w->start_rc));
      break;
    }
  }
  if (workers->count == count && (count == 0 || workers->list[count - 1].start_rc == 0))
    return 0;
  tg_workers_abort(workers);
  tg_workers_join(workers);
  return -1;
}

tg_handler_t *tg_workers_handler(tg_workers_t *workers, int i) { return &workers->list[i].handler; }

int tg_workers_open_conns(const tg_workers_t *workers) {
  int open = 0;
  for (int i = 0; i < workers->count; i++)
    open += tg_listeners_open_conns(&workers->list[i].listeners);
  return open;
}

static void tell(tg_workers_t *workers, int command) {
  for (int i = 0; i < workers->count; i++) {
    tg_worker_t *w = &workers->list[i];
    if (__atomic_load_n(&w->command, __ATOMIC_RELAXED) >= command)
      continue;
    __atomic_store_n(&w->command, command, __ATOMIC_RELEASE);
    if (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && w->start_rc == 0)
      uv_async_send(&w->wake);
  }
}

void tg_workers_drain(tg_workers_t *workers) { tell(workers, WORKER_DRAIN); }

void tg_workers_cut(tg_workers_t *workers) { tell(workers, WORKER_CUT); }

void tg_workers_abort(tg_workers_t *workers) { tell(workers, WORKER_ABORT); }

int tg_workers_done(const tg_workers_t *workers) {
  for (int i = 0; i < workers->count; i++)
    if (!__atomic_load_n(&workers->list[i].done, __ATOMIC_ACQUIRE))
      return 0;
  return 1;
}

void tg_workers_join(tg_workers_t *workers) {
  for (int i = 0; i < workers->count; i++) {
    uv_thread_join(&workers->list[i].thread);
    free_worker(&workers->list[i]);
  }
  free(workers->list);
  workers->list = NULL;
  workers->count = 0;
}
