/* reload.c: rules generations. A reload builds a complete new Lua state (runtime, every rule,
 * self-checks) beside the serving one and swaps it in only if all of it loaded; otherwise the
 * old generation keeps serving and the failure is logged with file:line. */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

enum { DEBOUNCE_MS = 100 }; /* editors write a file in several steps; reload once they are done */

enum { MEMORY_CHECK_MS = 250 }; /* how often the generations are looked at for tg_script_exhausted */

static void on_debounced(uv_timer_t *timer) { tg_reload_request(timer->data, "file_change"); }

static void on_memory_check(uv_timer_t *timer);

/* The pending reload's turn: one reload for every request it gathered. */
static void on_pending(uv_timer_t *timer) {
  tg_reload_t *reload = timer->data;
  int by_signal = reload->pending_by_signal;
  reload->pending_by_signal = 0;
  if (by_signal && reload->on_signal)
    reload->on_signal(reload->on_signal_data);
  else
    tg_reload_now(reload, by_signal ? "SIGHUP" : reload->pending_trigger);
}

void tg_reload_request(tg_reload_t *reload, const char *trigger) {
  if (strcmp(trigger, "SIGHUP") == 0)
    reload->pending_by_signal = 1;
  else
    reload->pending_trigger = trigger;
  if (uv_is_active((uv_handle_t *)&reload->pending)) {
    reload->coalesced++;
    return;
  }
  /* Even with no rest to wait, the reload runs on the loop's next turn: signals and file events
   * that arrived together are all read by then, and join it. */
  double wait = reload->next_allowed - tg_monotonic_seconds();
  uv_timer_start(&reload->pending, on_pending, wait > 0 ? (uint64_t)(wait * 1000) + 1 : 0, 0);
}

/* The directories of the rules tree besides its top (taskgate.tree): inotify does not see into
 * subdirectories, so each has a watch of its own. */
static const char *const SUBDIRS[TG_RELOAD_SUBDIRS] = {"bin", "policies", "lib"};

static void watch_subdir(tg_reload_t *reload, int i);

static void on_rules_changed(uv_fs_event_t *watch, const char *filename, int events, int status) {
  tg_reload_t *reload = watch->data;
  if (status < 0)
    return;
  for (int i = 0; watch == &reload->watch && filename && i < TG_RELOAD_SUBDIRS; i++)
    if (strcmp(filename, SUBDIRS[i]) == 0) {
      watch_subdir(reload, i); /* made, replaced or removed: watch what is there now */
      uv_timer_start(&reload->debounce, on_debounced, DEBOUNCE_MS, 0);
      return;
    }
  if (filename && (filename[0] == '.' || !strstr(filename, ".lua")))
    return; /* editor swap files and backups are not rules */
  uv_timer_start(&reload->debounce, on_debounced, DEBOUNCE_MS, 0);
}

/* (Re)starts the watch of the rules tree's subdirectory i; a rule set without it has nothing to
 * watch there (the top directory's watch sees it appear). */
static void watch_subdir(tg_reload_t *reload, int i) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", reload->config.rules_dir, SUBDIRS[i]);
  if (!reload->subdir_ready[i]) {
    if (uv_fs_event_init(reload->loop, &reload->subdir_watch[i]) < 0)
      return;
    reload->subdir_watch[i].data = reload;
    uv_unref((uv_handle_t *)&reload->subdir_watch[i]); /* watching alone does not keep the loop alive */
    reload->subdir_ready[i] = 1;
  }
  uv_fs_event_stop(&reload->subdir_watch[i]);
  uv_fs_event_start(&reload->subdir_watch[i], on_rules_changed, dir, 0);
}

/* Logs each file the generation did not load (taskgate.tree's warnings), one line each. */
static void log_warnings(tg_script_t *script) {
  tg_buf_t warnings = {0};
  if (tg_script_host_string(script, "warnings_text", &warnings) == 0 && warnings.len) {
    const char *line = warnings.data;
    while (*line) {
      size_t len = strcspn(line, "\n");
      char quoted[1024];
      tg_log_quote(quoted, sizeof quoted, line, len);
      tg_log(TG_LOG_WARN, "rules_warning", "warning=%s", quoted);
      line += len + (line[len] == '\n');
    }
  }
  tg_buf_free(&warnings);
}

static void remember_files(tg_reload_t *reload, tg_script_t *script) {
  tg_buf_t files = {0};
  int rc = tg_script_host_string(script, "describe", &files);
  snprintf(reload->files_json, sizeof reload->files_json, "%s", rc == 0 && files.data ? files.data : "[]");
  tg_buf_free(&files);
  log_warnings(script);
}

static void remember(tg_reload_t *reload, double ms, const char *error) {
  tg_reload_entry_t *entry = &reload->history[reload->history_count++ % TG_RELOAD_HISTORY];
  *entry =
      (tg_reload_entry_t){.time = reload->last_time, .ms = ms, .generation = reload->generation, .ok = reload->last_ok};
  snprintf(entry->trigger, sizeof entry->trigger, "%s", reload->last_trigger);
  snprintf(entry->error, sizeof entry->error, "%s", error);
}

int tg_reload_start(tg_reload_t *reload, uv_loop_t *loop, tg_handler_t **handlers, int handler_count,
                    const tg_script_config_t *config) {
  reload->loop = loop;
  reload->handlers = handlers;
  reload->handler_count = handler_count;
  reload->config = *config;
  reload->config.rules_budget_ms = TG_RELOAD_RULES_FACTOR * config->time_limit_ms;
  reload->generation = 1;
  reload->last_ok = 1;
  reload->last_time = tg_wall_seconds();
  snprintf(reload->last_trigger, sizeof reload->last_trigger, "start");
  remember(reload, 0, "");
  tg_store_lock(config->store);
  remember_files(reload, handlers[0]->script);
  tg_store_unlock(config->store);
  uv_timer_init(loop, &reload->debounce);
  reload->debounce.data = reload;
  uv_unref((uv_handle_t *)&reload->debounce);
  uv_timer_init(loop, &reload->pending);
  reload->pending.data = reload;
  uv_unref((uv_handle_t *)&reload->pending);
  reload->pending_trigger = "file_change";
  uv_timer_init(loop, &reload->memory_check);
  reload->memory_check.data = reload;
  uv_timer_start(&reload->memory_check, on_memory_check, MEMORY_CHECK_MS, MEMORY_CHECK_MS);
  uv_unref((uv_handle_t *)&reload->memory_check);
  int rc = uv_fs_event_init(loop, &reload->watch);
  if (rc == 0) {
    reload->watch.data = reload;
    rc = uv_fs_event_start(&reload->watch, on_rules_changed, config->rules_dir, 0);
    if (rc == 0) {
      reload->watching = 1;
      uv_unref((uv_handle_t *)&reload->watch); /* watching alone does not keep the loop alive */
    } else {
      uv_close((uv_handle_t *)&reload->watch, NULL);
    }
  }
  if (rc < 0)
    tg_log(TG_LOG_WARN, "rules_watch_failed", "dir=%s error=%s", config->rules_dir, uv_strerror(rc));
  for (int i = 0; i < TG_RELOAD_SUBDIRS; i++)
    watch_subdir(reload, i);
  return rc;
}

int tg_reload_memory_exhausted(const tg_reload_t *reload) {
  for (int i = 0; i < reload->handler_count; i++)
    if (tg_script_exhausted(reload->handlers[i]->script))
      return 1;
  return 0;
}

static void lock_stores(tg_reload_t *reload);
static void unlock_stores(tg_reload_t *reload);

/* A generation at its memory limit fails every call of every method: rebuild it from the same
 * files, once per generation (a rebuild that fails leaves it, and /healthz says so). */
static void on_memory_check(uv_timer_t *timer) {
  tg_reload_t *reload = timer->data;
  if (reload->memory_seen == reload->generation || !tg_reload_memory_exhausted(reload))
    return;
  reload->memory_seen = reload->generation;
  reload->memory_rebuilds++;
  lock_stores(reload); /* no call runs while the states are read */
  for (int i = 0; i < reload->handler_count; i++)
    if (tg_script_exhausted(reload->handlers[i]->script)) {
      char about[256];
      tg_script_describe_memory(reload->handlers[i]->script, about, sizeof about);
      tg_log(TG_LOG_ERROR, "lua_memory_exhausted", "worker=%d generation=%u %s action=rebuild", i, reload->generation,
             about);
    }
  unlock_stores(reload);
  tg_reload_request(reload, "memory");
}

/* Locks every handler's store: on PostgreSQL each worker has its own (workers.h), on SQLite
 * they are one recursive lock taken again. The main store's first, then the workers' in order,
 * as nothing else takes two. */
static void lock_stores(tg_reload_t *reload) {
  tg_store_lock(reload->config.store);
  for (int i = 0; i < reload->handler_count; i++)
    tg_store_lock(reload->handlers[i]->store);
}

static void unlock_stores(tg_reload_t *reload) {
  for (int i = reload->handler_count; i-- > 0;)
    tg_store_unlock(reload->handlers[i]->store);
  tg_store_unlock(reload->config.store);
}

/* Builds one generation per handler, each on its handler's store; all or none. Returns 0, or -1
 * with err. */
static int build_all(tg_reload_t *reload, tg_script_t **built, char *err, size_t errcap) {
  for (int i = 0; i < reload->handler_count; i++) {
    tg_script_config_t config = reload->config;
    config.store = reload->handlers[i]->store;
    built[i] = tg_script_new(&config, err, errcap);
    if (!built[i]) {
      while (i-- > 0)
        tg_script_release(built[i]);
      return -1;
    }
  }
  return 0;
}

/* Swaps every handler to its new generation; if one cannot take it, the others go back. */
static int swap_all(tg_reload_t *reload, tg_script_t **built, char *err, size_t errcap) {
  tg_script_t *old[TG_RELOAD_MAX_HANDLERS];
  int swapped = 0, rc = 0;
  for (; swapped < reload->handler_count; swapped++) {
    old[swapped] = reload->handlers[swapped]->script;
    tg_script_retain(old[swapped]);
    if (tg_handler_swap(reload->handlers[swapped], built[swapped]) < 0) {
      tg_script_release(old[swapped]);
      snprintf(err, errcap, "the new rules cannot build their error reply");
      rc = -1;
      break;
    }
  }
  for (int i = 0; i < swapped; i++) {
    if (rc < 0)
      tg_handler_swap(reload->handlers[i], old[i]);
    tg_script_release(old[i]);
  }
  return rc;
}

static tg_script_t *rebuild(tg_reload_t *reload, char *err, size_t errcap) {
  tg_script_t *built[TG_RELOAD_MAX_HANDLERS] = {0};
  if (build_all(reload, built, err, errcap) < 0)
    return NULL;
  int rc = swap_all(reload, built, err, errcap);
  for (int i = 1; i < reload->handler_count; i++)
    tg_script_release(built[i]); /* the handlers hold them now */
  if (rc < 0) {
    tg_script_release(built[0]);
    return NULL;
  }
  return built[0];
}

/* After a reload that began at started: the next may start once the rest has passed. */
static void rest_after(tg_reload_t *reload, double started) {
  double now = tg_monotonic_seconds(), rest = TG_RELOAD_REST_FACTOR * (now - started);
  reload->next_allowed = now + (rest > TG_RELOAD_MIN_REST_MS / 1000.0 ? rest : TG_RELOAD_MIN_REST_MS / 1000.0);
}

int tg_reload_now(tg_reload_t *reload, const char *trigger) {
  char err[2048];
  lock_stores(reload);
  double started = tg_monotonic_seconds(); /* for how long it took; last_time is for people */
  reload->last_time = tg_wall_seconds();
  snprintf(reload->last_trigger, sizeof reload->last_trigger, "%s", trigger);
  tg_script_t *next = rebuild(reload, err, sizeof err);
  if (!next) {
    reload->failed++;
    reload->last_ok = 0;
    snprintf(reload->last_error, sizeof reload->last_error, "%s", err);
    remember(reload, (tg_monotonic_seconds() - started) * 1000, err);
    char quoted[2200];
    tg_log_quote(quoted, sizeof quoted, err, strlen(err));
    tg_log(TG_LOG_ERROR, "reload_failed", "trigger=%s generation=%u kept=old error=%s", trigger, reload->generation,
           quoted);
    unlock_stores(reload);
    rest_after(reload, started);
    return -1;
  }
  tg_script_release(next); /* the handler holds it now */
  reload->generation++;
  reload->succeeded++;
  reload->last_ok = 1;
  reload->last_error[0] = '\0';
  remember_files(reload, next);
  remember(reload, (tg_monotonic_seconds() - started) * 1000, "");
  unlock_stores(reload);
  tg_log(TG_LOG_INFO, "reloaded", "trigger=%s generation=%u ms=%.1f", trigger, reload->generation,
         (tg_monotonic_seconds() - started) * 1000);
  rest_after(reload, started);
  return 0;
}

static void json_string(tg_buf_t *out, const char *s) {
  tg_buf_puts(out, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      tg_buf_printf(out, "\\%c", c);
    else if (c < 0x20)
      tg_buf_printf(out, "\\u%04x", c);
    else
      tg_buf_append(out, s, 1);
  }
  tg_buf_puts(out, "\"");
}

void tg_reload_history_json(const tg_reload_t *reload, tg_buf_t *out) {
  tg_buf_puts(out, "[");
  unsigned kept = reload->history_count < TG_RELOAD_HISTORY ? reload->history_count : TG_RELOAD_HISTORY;
  for (unsigned i = 0; i < kept; i++) {
    const tg_reload_entry_t *entry = &reload->history[(reload->history_count - 1 - i) % TG_RELOAD_HISTORY];
    tg_buf_printf(out, "%s{\"time\":%.3f,\"ms\":%.1f,\"generation\":%u,\"ok\":%s,\"trigger\":", i ? "," : "",
                  entry->time, entry->ms, entry->generation, entry->ok ? "true" : "false");
    json_string(out, entry->trigger);
    tg_buf_puts(out, ",\"error\":");
    json_string(out, entry->error);
    tg_buf_puts(out, "}");
  }
  tg_buf_puts(out, "]");
}

void tg_reload_status_json(const tg_reload_t *reload, tg_buf_t *out) {
  tg_buf_printf(out, "{\"generation\":%u,\"reloads_ok\":%u,\"reloads_failed\":%u,\"watching\":%s,", reload->generation,
                reload->succeeded, reload->failed, reload->watching ? "true" : "false");
  tg_buf_printf(out, "\"reloads_coalesced\":%u,\"reload_pending\":%s,", reload->coalesced,
                uv_is_active((const uv_handle_t *)&reload->pending) ? "true" : "false");
  tg_buf_printf(out, "\"memory_exhausted\":%s,\"memory_rebuilds\":%u,",
                tg_reload_memory_exhausted(reload) ? "true" : "false", reload->memory_rebuilds);
  tg_buf_printf(out, "\"last_reload\":{\"ok\":%s,\"time\":%.3f,\"trigger\":", reload->last_ok ? "true" : "false",
                reload->last_time);
  json_string(out, reload->last_trigger);
  tg_buf_puts(out, ",\"error\":");
  json_string(out, reload->last_error);
  tg_buf_printf(out, "},\"files\":%s}", reload->files_json);
}

void tg_reload_stop(tg_reload_t *reload) {
  if (reload->watching)
    uv_close((uv_handle_t *)&reload->watch, NULL);
  reload->watching = 0;
  for (int i = 0; i < TG_RELOAD_SUBDIRS; i++)
    if (reload->subdir_ready[i])
      uv_close((uv_handle_t *)&reload->subdir_watch[i], NULL);
  memset(reload->subdir_ready, 0, sizeof reload->subdir_ready);
  if (!uv_is_closing((uv_handle_t *)&reload->debounce))
    uv_close((uv_handle_t *)&reload->debounce, NULL);
  if (!uv_is_closing((uv_handle_t *)&reload->pending))
    uv_close((uv_handle_t *)&reload->pending, NULL);
  if (!uv_is_closing((uv_handle_t *)&reload->memory_check))
    uv_close((uv_handle_t *)&reload->memory_check, NULL);
}
