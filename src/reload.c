/* reload.c: rules generations. A reload builds a complete new Lua state (runtime, every rule,
 * self-checks) beside the serving one and swaps it in only if all of it loaded; otherwise the
 * old generation keeps serving and the failure is logged with file:line. */
#include "reload.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"

enum { DEBOUNCE_MS = 100 }; /* editors write a file in several steps; reload once they are done */

static double now_seconds(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void on_debounced(uv_timer_t *timer) { tg_reload_now(timer->data, "file_change"); }

static void on_rules_changed(uv_fs_event_t *watch, const char *filename, int events, int status) {
  tg_reload_t *reload = watch->data;
  if (status < 0)
    return;
  if (filename && (filename[0] == '.' || !strstr(filename, ".lua")))
    return; /* editor swap files and backups are not rules */
  uv_timer_start(&reload->debounce, on_debounced, DEBOUNCE_MS, 0);
}

static void remember_files(tg_reload_t *reload, tg_script_t *script) {
  tg_buf_t files = {0};
  int rc = tg_script_host_string(script, "describe", &files);
  snprintf(reload->files_json, sizeof reload->files_json, "%s", rc == 0 && files.data ? files.data : "[]");
  tg_buf_free(&files);
}

int tg_reload_start(tg_reload_t *reload, uv_loop_t *loop, tg_handler_t *handler, const tg_script_config_t *config) {
  reload->loop = loop;
  reload->handler = handler;
  reload->config = *config;
  reload->generation = 1;
  reload->last_ok = 1;
  reload->last_time = now_seconds();
  snprintf(reload->last_trigger, sizeof reload->last_trigger, "start");
  remember_files(reload, handler->script);
  uv_timer_init(loop, &reload->debounce);
  reload->debounce.data = reload;
  uv_unref((uv_handle_t *)&reload->debounce);
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
  return rc;
}

int tg_reload_now(tg_reload_t *reload, const char *trigger) {
  char err[2048];
  double started = now_seconds();
  reload->last_time = started;
  snprintf(reload->last_trigger, sizeof reload->last_trigger, "%s", trigger);
  tg_script_t *next = tg_script_new(&reload->config, err, sizeof err);
  if (next && tg_handler_swap(reload->handler, next) < 0) {
    snprintf(err, sizeof err, "the new rules cannot build their error reply");
    tg_script_release(next);
    next = NULL;
  }
  if (!next) {
    reload->failed++;
    reload->last_ok = 0;
    snprintf(reload->last_error, sizeof reload->last_error, "%s", err);
    char quoted[2200];
    tg_log_quote(quoted, sizeof quoted, err, strlen(err));
    tg_log(TG_LOG_ERROR, "reload_failed", "trigger=%s generation=%u kept=old error=%s", trigger, reload->generation,
           quoted);
    return -1;
  }
  tg_script_release(next); /* the handler holds it now */
  reload->generation++;
  reload->succeeded++;
  reload->last_ok = 1;
  reload->last_error[0] = '\0';
  remember_files(reload, next);
  tg_log(TG_LOG_INFO, "reloaded", "trigger=%s generation=%u ms=%.1f", trigger, reload->generation,
         (now_seconds() - started) * 1000);
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

void tg_reload_status_json(const tg_reload_t *reload, tg_buf_t *out) {
  tg_buf_printf(out, "{\"generation\":%u,\"reloads_ok\":%u,\"reloads_failed\":%u,\"watching\":%s,", reload->generation,
                reload->succeeded, reload->failed, reload->watching ? "true" : "false");
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
  if (!uv_is_closing((uv_handle_t *)&reload->debounce))
    uv_close((uv_handle_t *)&reload->debounce, NULL);
}
