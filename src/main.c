/* main.c: argv, signals, wiring the parts together; the only file that exits. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "audit.h"
#include "cli.h"
#include "handler.h"
#include "log.h"
#include "script.h"
#include "server.h"
#include "store.h"
#include "xml.h"

typedef struct gateway_s {
  uv_loop_t *loop;
  tg_server_t server;
  uv_signal_t sigint, sigterm;
  int stopping;
} gateway_t;

/* The runtime lives in lua/ beside the build directory when run from a checkout, else in the
 * installed data directory. */
static const char *find_runtime(const tg_config_t *config, char *path, size_t cap) {
  if (config->runtime_dir)
    return config->runtime_dir;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(path, cap, "%s/../lua", exe);
      char probe[PATH_MAX + 64];
      snprintf(probe, sizeof probe, "%s/taskgate/host.lua", path);
      if (access(probe, R_OK) == 0)
        return path;
    }
  }
  return TG_RUNTIME_INSTALL_DIR;
}

static void on_closed_signal(uv_handle_t *handle) {}

static void on_stop_signal(uv_signal_t *signal, int signum) {
  gateway_t *gw = signal->data;
  if (gw->stopping) {
    tg_log(TG_LOG_WARN, "exit_now", "signal=%d", signum);
    _exit(1); /* WAL keeps the store consistent: an unfinished transaction is simply not there */
  }
  gw->stopping = 1;
  tg_log(TG_LOG_INFO, "stopping", "signal=%d", signum);
  tg_server_close(&gw->server);
  /* The signal handles stay open for a second signal until the connections are gone. */
  uv_unref((uv_handle_t *)&gw->sigint);
  uv_unref((uv_handle_t *)&gw->sigterm);
}

static int run_audit(const tg_config_t *config) {
  char err[512];
  tg_store_t *store = tg_store_open_readonly(config->store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: %s\n", err);
    return 1;
  }
  int rc = tg_audit_print(store, stdout);
  tg_store_close(store);
  return rc < 0 ? 1 : 0;
}

static int serve(const tg_config_t *config) {
  char err[2048], runtime_path[PATH_MAX + 16];
  tg_xml_init();
  signal(SIGPIPE, SIG_IGN);
  tg_store_t *store = tg_store_open(config->store_path, config->sync_mode, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: store: %s\n", err);
    return 1;
  }
  tg_script_config_t script_config = {
      .runtime_dir = find_runtime(config, runtime_path, sizeof runtime_path),
      .rules_dir = config->rules_dir,
      .store = store,
      .memory_limit = config->memory_limit,
      .time_limit_ms = config->time_limit_ms,
  };
  tg_script_t *script = tg_script_new(&script_config, err, sizeof err);
  if (!script) {
    fprintf(stderr, "taskgate: rules: %s\n", err);
    tg_store_close(store);
    return 1;
  }
  tg_handler_t handler;
  int status = 1;
  if (tg_handler_init(&handler, script, store) < 0) {
    fprintf(stderr, "taskgate: the runtime cannot build its error reply\n");
    goto done;
  }
  gateway_t gw = {.loop = uv_default_loop()};
  gw.server.on_task = tg_handler_task;
  gw.server.task_ctx = &handler;
  int rc = tg_server_listen(&gw.server, gw.loop, config->host, config->port);
  if (rc < 0) {
    fprintf(stderr, "taskgate: cannot listen on %s:%d: %s\n", config->host, config->port, uv_strerror(rc));
    goto done;
  }
  printf("listening on %s\n", gw.server.address);
  fflush(stdout);
  tg_log(TG_LOG_INFO, "started", "listen=%s store=%s rules=%s version=%s", gw.server.address, config->store_path,
         config->rules_dir, TG_VERSION);
  uv_signal_init(gw.loop, &gw.sigint);
  uv_signal_init(gw.loop, &gw.sigterm);
  gw.sigint.data = gw.sigterm.data = &gw;
  uv_signal_start(&gw.sigint, on_stop_signal, SIGINT);
  uv_signal_start(&gw.sigterm, on_stop_signal, SIGTERM);
  uv_run(gw.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&gw.sigint, on_closed_signal);
  uv_close((uv_handle_t *)&gw.sigterm, on_closed_signal);
  uv_run(gw.loop, UV_RUN_DEFAULT);
  uv_loop_close(gw.loop);
  tg_log(TG_LOG_INFO, "stopped", "listen=%s", gw.server.address);
  status = 0;
done:
  tg_handler_free(&handler);
  tg_script_free(script);
  tg_store_close(store);
  return status;
}

int main(int argc, char **argv) {
  tg_config_t config;
  char err[512];
  switch (tg_cli_parse(&config, argc, argv, err, sizeof err)) {
  case TG_CLI_DONE: return 0;
  case TG_CLI_USAGE: fprintf(stderr, "taskgate: %s\n", err); return 2;
  }
  tg_log_set_level(config.log_level);
  if (strcmp(config.command, "audit") == 0)
    return run_audit(&config);
  return serve(&config);
}
