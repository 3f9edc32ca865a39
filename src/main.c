/* main.c: argv, signals, wiring the parts together; the only file that exits. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include <systemd/sd-daemon.h>

#include "admin.h"
#include "checkpoint.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "console.h"
#include "handler.h"
#include "instance.h"
#include "listeners.h"
#include "log.h"
#include "outbox.h"
#include "pg.h"
#include "pidfile.h"
#include "reload.h"
#include "script.h"
#include "server.h"
#include "shipped.h"
#include "store.h"
#include "workers.h"
#include "xml.h"

typedef struct gateway_s {
  uv_loop_t *loop;
  tg_listeners_t listeners; /* --listen, one or more */
  tg_server_t admin_server; /* --admin-listen: /status, /metrics, /healthz */
  tg_console_t *console;      /* the web console, or NULL (--console-listen off) */
  tg_server_t console_server; /* --console-listen HOST:PORT: the console's own address */
  tg_reload_t reload;
  tg_admin_t admin;
  tg_handler_t *handler;
  tg_workers_t workers;                           /* --workers beyond the main thread */
  tg_workers_plan_t workers_plan;                 /* what they serve like; read while they run */
  tg_handler_t *handlers[TG_RELOAD_MAX_HANDLERS]; /* the main one first, then the workers' */
  int open_conns;                                 /* of all workers (atomic) */
  tg_body_budget_t bodies;                        /* --body-memory, of all workers */
  unsigned drain_timeout_ms;
  uv_timer_t drain_check, drain_deadline;
  uv_timer_t store_check; /* looks for the store's files every second, traffic or not */
  uv_timer_t auth_log;    /* writes the wrong-token summary once its interval has passed */
  tg_auth_guard_t auth_guard; /* wrong tokens on the admin and console addresses, per client */
  uv_signal_t sigint, sigterm, sighup, sigusr1;
  int stopping;
  int cut; /* the drain deadline ended the outbound requests (on_drain_deadline) */
  const tg_config_t *config;
  tg_tls_context_t *const *tls; /* per --listen address: its certificate, or NULL */
  tg_pidfile_t *pid_file;       /* removed on every way out, exit_now's included */
} gateway_t;

/* The Lua runtime: lua/ beside the binary, in a checkout (build/taskgate beside it), or an
 * install's. */
static const char *find_runtime(const tg_config_t *config, char *path, size_t cap) {
  static const char *const beside[] = {"%s/lua", "%s/../lua", "%s/../share/taskgate/lua", NULL};
  return tg_shipped_find(config->runtime_dir, beside, "taskgate/host.lua", TG_RUNTIME_INSTALL_DIR, path, cap);
}

/* The console's page: console/ beside the binary, in a checkout, or an install's. */
static const char *find_console(const tg_config_t *config, char *path, size_t cap) {
  static const char *const beside[] = {"%s/console", "%s/../console", "%s/../share/taskgate/console", NULL};
  return tg_shipped_find(config->console_dir, beside, "index.html", TG_CONSOLE_INSTALL_DIR, path, cap);
}

/* The drain is over: nothing is in flight, or the deadline passed. Closes what keeps the loop
 * alive so uv_run returns and the store is closed cleanly. */
static void finish_drain(gateway_t *gw) {
  uv_timer_stop(&gw->drain_check);
  uv_timer_stop(&gw->drain_deadline);
  tg_server_close(&gw->admin_server);
  if (gw->console_server.listening)
    tg_server_close(&gw->console_server);
  tg_upstreams_probe_stop(gw->admin.upstreams);
  tg_outbox_stop(gw->admin.outbox); /* a delivery in flight stays pending: at least once */
  if (gw->handler->upstream)
    tg_upstream_close(gw->handler->upstream);
  uv_unref((uv_handle_t *)&gw->sigint);
  uv_unref((uv_handle_t *)&gw->sigterm);
  uv_unref((uv_handle_t *)&gw->sighup);
  uv_unref((uv_handle_t *)&gw->sigusr1);
}

static void on_drain_check(uv_timer_t *timer) {
  gateway_t *gw = timer->data;
  if (tg_listeners_open_conns(&gw->listeners) == 0 && tg_handler_in_flight(gw->handler) == 0 &&
      tg_workers_done(&gw->workers) && tg_outbox_delivering(gw->admin.outbox) == 0)
    finish_drain(gw);
}

/* The drain deadline's first stage ends every outbound request still open ("gateway stopping"):
 * the calls waiting on them resume with that failure, and their rules answer (a forwarded call
 * gets 1922, its outcome logged and audited as unknown). Their replies then have this long to
 * go out, beyond the rules' own time, before the second stage drops every connection. */
static unsigned last_replies_ms(const gateway_t *gw) { return 1000 + 2 * gw->config->time_limit_ms; }

static void on_drain_deadline(uv_timer_t *timer) {
  gateway_t *gw = timer->data;
  if (!gw->cut) {
    gw->cut = 1;
    tg_log(TG_LOG_WARN, "drain_deadline", "open_connections=%d waiting_calls=%d action=\"outbound requests ended\"",
           __atomic_load_n(&gw->open_conns, __ATOMIC_RELAXED), tg_handler_waiting(gw->handler));
    tg_upstreams_probe_stop(gw->admin.upstreams);
    tg_workers_cut(&gw->workers);
    if (gw->handler->upstream) /* an outbox delivery in flight stays pending: at least once */
      tg_upstream_close(gw->handler->upstream);
    uv_timer_start(&gw->drain_deadline, on_drain_deadline, last_replies_ms(gw), 0);
    return;
  }
  tg_log(TG_LOG_WARN, "drain_deadline", "open_connections=%d action=\"connections dropped\"",
         __atomic_load_n(&gw->open_conns, __ATOMIC_RELAXED));
  tg_workers_abort(&gw->workers);
  tg_listeners_abort(&gw->listeners);
  finish_drain(gw);
}

/* SIGTERM/SIGINT: stop accepting, let calls in flight finish (until --drain-timeout), then
 * stop. A second signal exits at once. */
static void on_stop_signal(uv_signal_t *signal, int signum) {
  gateway_t *gw = signal->data;
  if (gw->stopping) {
    tg_log(TG_LOG_WARN, "exit_now", "signal=%d", signum);
    tg_pidfile_release(gw->pid_file); /* a pid file left behind would name a pid no longer ours */
    _exit(1); /* WAL keeps the store consistent: an unfinished transaction is simply not there */
  }
  gw->stopping = 1;
  tg_store_lock(gw->admin.store);
  gw->admin.draining = 1;
  tg_store_unlock(gw->admin.store);
  sd_notify(0, "STOPPING=1");
  tg_log(TG_LOG_INFO, "draining", "signal=%d open_connections=%d waiting_calls=%d", signum,
         __atomic_load_n(&gw->open_conns, __ATOMIC_RELAXED), tg_handler_waiting(gw->handler));
  tg_console_stop(gw->console); /* its streams never end by themselves */
  tg_workers_drain(&gw->workers);
  tg_listeners_drain(&gw->listeners);
  tg_reload_stop(&gw->reload);
  tg_outbox_drain(gw->admin.outbox); /* a delivery in flight may still hear its answer */
  uv_timer_start(&gw->drain_check, on_drain_check, 0, 20);
  uv_timer_start(&gw->drain_deadline, on_drain_deadline, gw->drain_timeout_ms, 0);
}

/* SIGHUP reads every TLS listener's certificate and key again (renewed certificates): new
 * connections get the new one; one that does not load leaves the old one serving. */
static void reload_certificates(gateway_t *gw) {
  int tried = 0, failed = 0;
  char first_error[256] = "";
  for (int i = 0; i < gw->config->listen_count; i++) {
    const tg_address_t *address = &gw->config->listen[i];
    char err[512], quoted[600];
    if (!gw->tls[i])
      continue;
    tried = 1;
    if (tg_tls_context_reload(gw->tls[i], err, sizeof err) == 0) {
      tg_log(TG_LOG_INFO, "tls_reloaded", "listen=%s:%d cert=%s", address->host, address->port, address->tls_cert);
    } else {
      tg_log_quote(quoted, sizeof quoted, err, strlen(err));
      tg_log(TG_LOG_ERROR, "tls_reload_failed", "listen=%s:%d error=%s", address->host, address->port, quoted);
      if (!failed++)
        if (snprintf(first_error, sizeof first_error, "%s:%d: %s", address->host, address->port, err) < 0)
          first_error[0] = '\0'; /* a long reason is cut: the log has it whole */
    }
  }
  tg_tls_certificate_t upstream_client = {0};
  if (gw->config->upstream_cert)
    tg_tls_certificate_read_file(gw->config->upstream_cert, &upstream_client);
  tg_store_lock(gw->admin.store);
  gw->admin.upstream_client = upstream_client; /* libcurl reads the file for new connections */
  tg_store_unlock(gw->admin.store);
  if (!tried)
    return;
  /* /status, /metrics and `taskgate reload` tell the outcome, not the log alone */
  tg_store_lock(gw->admin.store);
  gw->admin.tls_reload_ok = !failed;
  gw->admin.tls_reload_failures += failed ? 1 : 0;
  snprintf(gw->admin.tls_reload_error, sizeof gw->admin.tls_reload_error, "%s", first_error);
  tg_store_unlock(gw->admin.store);
}

/* SIGHUP reads the token files again (a rotated token): the new one is wanted from now on, and
 * the console's streams opened with the old one end. One that cannot be read, or holds no
 * usable token, leaves the old one in force. */
static void reload_tokens(gateway_t *gw) {
  const char *files[2] = {gw->config->admin_token_file, gw->console ? gw->config->console_token_file : NULL};
  const char *what[2] = {"admin", "console"};
  for (int i = 0; i < 2; i++) {
    char token[TG_ADMIN_TOKEN_MAX + 1], err[600], quoted[700];
    if (!files[i])
      continue;
    if (tg_admin_token_load(files[i], what[i], token, sizeof token, err, sizeof err) < 0) {
      tg_log_quote(quoted, sizeof quoted, err, strlen(err));
      tg_log(TG_LOG_ERROR, "token_reload_failed", "token=%s error=%s kept=old", what[i], quoted);
      continue;
    }
    int changed = i == 0 ? strcmp(token, gw->admin.token) != 0 : tg_console_token_changed(gw->console, token);
    if (i == 0 && changed)
      memcpy(gw->admin.token, token, sizeof token);
    if (changed && gw->console)
      tg_console_end_streams(gw->console); /* opened with a token that may be the old one */
    tg_log(TG_LOG_INFO, "token_reloaded", "token=%s changed=%s", what[i], changed ? "yes" : "no");
  }
}

static void on_auth_log(uv_timer_t *timer) {
  gateway_t *gw = timer->data;
  tg_auth_guard_log(&gw->auth_guard, tg_monotonic_seconds());
}

/* The reload SIGHUPs ask for, when its turn comes (tg_reload_request: they coalesce). */
static void reload_for_hangup(void *data) {
  gateway_t *gw = data;
  if (gw->stopping)
    return;
  sd_notify(0, "RELOADING=1");
  reload_certificates(gw); /* first: once the rules' reload shows, so does the certificates' */
  tg_reload_now(&gw->reload, "SIGHUP");
  reload_tokens(gw);
  sd_notify(0, "READY=1");
}

static void on_hangup(uv_signal_t *signal, int signum) {
  gateway_t *gw = signal->data;
  if (!gw->stopping)
    tg_reload_request(&gw->reload, "SIGHUP");
}

/* SIGUSR1: logrotate moved the log file away; write to a new one at the same path. */
static void on_reopen_log(uv_signal_t *signal, int signum) {
  char err[4608];
  if (tg_log_reopen(err, sizeof err) < 0)
    tg_log(TG_LOG_ERROR, "log_reopen_failed", "error=\"%s\"", err);
  else
    tg_log(TG_LOG_INFO, "log_reopened", "signal=%d", signum);
}

static void watch_signals(gateway_t *gw) {
  uv_signal_t *handles[] = {&gw->sigint, &gw->sigterm, &gw->sighup, &gw->sigusr1};
  uv_signal_cb callbacks[] = {on_stop_signal, on_stop_signal, on_hangup, on_reopen_log};
  int numbers[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  for (int i = 0; i < 4; i++) {
    uv_signal_init(gw->loop, handles[i]);
    handles[i]->data = gw;
    uv_signal_start(handles[i], callbacks[i], numbers[i]);
  }
}

static void close_signals(gateway_t *gw) {
  uv_close((uv_handle_t *)&gw->sigint, NULL);
  uv_close((uv_handle_t *)&gw->sigterm, NULL);
  uv_close((uv_handle_t *)&gw->sighup, NULL);
  uv_close((uv_handle_t *)&gw->sigusr1, NULL);
}

/* A store whose files were deleted is noticed at its next commit; this notices it (and a deleted
 * -wal or -shm) without traffic too, so that /healthz and the log tell at once. */
static void on_store_check(uv_timer_t *timer) {
  gateway_t *gw = timer->data;
  tg_store_health_check(tg_store_health(gw->admin.store), TG_STORE_FILES);
}

/* Serves the admin views on --admin-listen, with the token of --admin-token-file if given. */
static int listen_admin(gateway_t *gw, const tg_config_t *config, const tg_server_limits_t *limits) {
  char err[512];
  if (config->admin_token_file &&
      tg_admin_token_load(config->admin_token_file, "admin", gw->admin.token, sizeof gw->admin.token, err,
                          sizeof err) < 0) {
    fprintf(stderr, "taskgate: %s\n", err);
    return -1;
  }
  gw->admin_server.routes =
      (tg_http_routes_t){.on_admin = tg_admin_answer,
                         .admin_ctx = &gw->admin,
                         .hosts = &config->admin_hosts,
                         .guard = &gw->auth_guard};
  if (gw->console && config->console == TG_CONSOLE_ON_ADMIN) {
    gw->admin_server.routes.on_console = tg_console_answer;
    gw->admin_server.routes.on_stream_closed = tg_console_stream_closed;
    gw->admin_server.routes.console_ctx = gw->console;
  }
  gw->admin_server.limits = *limits;
  int rc = tg_server_listen(&gw->admin_server, gw->loop, config->admin_host, config->admin_port);
  if (rc < 0)
    fprintf(stderr, "taskgate: cannot listen on %s:%d (admin-listen): %s\n", config->admin_host, config->admin_port,
            uv_strerror(rc));
  return rc;
}

static int is_wildcard(const char *host) { return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0; }

/* Starts the console (unless --console-listen off) and, for --console-listen HOST:PORT, its own
 * address, which answers the console and /healthz. */
static int start_console(gateway_t *gw, const tg_config_t *config, const tg_server_limits_t *limits) {
  char err[512], path[PATH_MAX + 32], token[TG_ADMIN_TOKEN_MAX + 1] = "";
  if (config->console == TG_CONSOLE_OFF)
    return 0;
  if (config->console_token_file &&
      tg_admin_token_load(config->console_token_file, "console", token, sizeof token, err, sizeof err) < 0) {
    fprintf(stderr, "taskgate: %s\n", err);
    return -1;
  }
  gw->console = tg_console_new(gw->loop, &gw->admin, find_console(config, path, sizeof path), TG_CHARTJS_PATH, token,
                               err, sizeof err);
  if (!gw->console) {
    fprintf(stderr, "taskgate: %s (or --console-listen off)\n", err);
    return -1;
  }
  if (config->console != TG_CONSOLE_OWN_ADDRESS)
    return 0;
  if (config->console_port && config->console_port == config->admin_port &&
      (strcmp(config->console_host, config->admin_host) == 0 || is_wildcard(config->console_host) ||
       is_wildcard(config->admin_host))) {
    fprintf(stderr, "taskgate: --console-listen %s:%d is the admin address: --console-listen admin serves the console "
                    "there\n",
            config->console_host, config->console_port);
    return -1;
  }
  gw->console_server.routes = (tg_http_routes_t){.on_admin = tg_admin_public,
                                                 .admin_ctx = &gw->admin,
                                                 .on_console = tg_console_answer,
                                                 .on_stream_closed = tg_console_stream_closed,
                                                 .console_ctx = gw->console,
                                                 .hosts = &config->admin_hosts,
                                                 .guard = &gw->auth_guard};
  gw->console_server.limits = *limits;
  int rc = tg_server_listen(&gw->console_server, gw->loop, config->console_host, config->console_port);
  if (rc < 0)
    fprintf(stderr, "taskgate: cannot listen on %s:%d (console-listen): %s\n", config->console_host,
            config->console_port, uv_strerror(rc));
  return rc;
}

static int is_loopback(const char *host) { return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0; }

/* Says where the console is, and warns when anyone who reaches it may read it. */
static void announce_console(gateway_t *gw, const tg_config_t *config) {
  if (!gw->console)
    return;
  int own = config->console == TG_CONSOLE_OWN_ADDRESS;
  const char *address = own ? gw->console_server.address : gw->admin_server.address;
  printf("console on http://%s/console/\n", address);
  fflush(stdout);
  if (!is_loopback(own ? config->console_host : config->admin_host) && !gw->admin.token[0] &&
      !config->console_token_file)
    tg_log(TG_LOG_WARN, "console_open",
           "console=%s hint=\"anyone who reaches this address sees the console: set console-token-file\"", address);
}

/* Writes where the gateway serves, for people and for the specs that started it on port 0. */
static void announce(gateway_t *gw, const tg_config_t *config) {
  char addresses[TG_MAX_LISTEN * 84];
  tg_listeners_describe(&gw->listeners, " ", addresses, sizeof addresses);
  printf("listening on %s\nadmin listening on %s\n", addresses, gw->admin_server.address);
  fflush(stdout);
  announce_console(gw, config);
  if (!is_loopback(config->admin_host) && !gw->admin.token[0])
    tg_log(TG_LOG_WARN, "admin_open",
           "admin=%s hint=\"status and metrics answer anyone who reaches this address: "
           "set admin-token-file\"",
           gw->admin_server.address);
  tg_listeners_describe(&gw->listeners, ",", addresses, sizeof addresses);
  char upstreams[TG_UPSTREAMS_MAX * 520] = "none"; /* each as operators see it (redact.h) */
  for (int i = 0; gw->admin.upstreams && i < tg_upstreams_count(gw->admin.upstreams); i++)
    snprintf(upstreams + (i ? strlen(upstreams) : 0), sizeof upstreams - (i ? strlen(upstreams) : 0), "%s%s",
             i ? "," : "", tg_upstreams_shown(gw->admin.upstreams, i));
  tg_log(TG_LOG_INFO, "started", "listen=%s admin=%s store=%s rules=%s upstream=%s version=%s", addresses,
         gw->admin_server.address, gw->admin.store_path, config->rules_dir, upstreams, TG_VERSION);
  sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=listening on %s", (unsigned long)getpid(), addresses);
}

/* Starts the --workers beyond the main thread on the main listeners' ports. */
static int start_workers(gateway_t *gw, const tg_config_t *config, const tg_script_config_t *script_config,
                         const tg_server_t *like) {
  gw->workers_plan = (tg_workers_plan_t){.config = config,
                                         .script_config = script_config,
                                         .like = like,
                                         .upstreams = gw->admin.upstreams,
                                         .tls = gw->tls};
  tg_listeners_ports(&gw->listeners, gw->workers_plan.ports);
  char err[2048];
  gw->handlers[0] = gw->handler;
  gw->admin.handler_count = 1;
  if (tg_workers_start(&gw->workers, config->workers - 1, &gw->workers_plan, err, sizeof err) < 0) {
    fprintf(stderr, "taskgate: %s\n", err);
    return -1;
  }
  for (int i = 0; i < gw->workers.count; i++)
    gw->handlers[gw->admin.handler_count++] = tg_workers_handler(&gw->workers, i);
  return 0;
}

/* Serves until SIGTERM/SIGINT on a store and rules generation that are already open. */
static int run_gateway(const tg_config_t *config, tg_store_t *store, tg_handler_t *handler,
                       const tg_script_config_t *script_config, tg_upstreams_t *upstreams,
                       tg_tls_context_t *const *tls) {
  gateway_t gw = {.loop = uv_default_loop(),
                  .handler = handler,
                  .drain_timeout_ms = config->drain_timeout_ms,
                  .bodies = {.limit = config->body_memory},
                  .config = config,
                  .tls = tls};
  char shown_store[1024]; /* a PostgreSQL URI without its password, for the log and /status */
  tg_pg_describe(config->store_path, shown_store, sizeof shown_store);
  char pid_path[PATH_MAX] = "", err[PATH_MAX + 128];
  tg_pidfile_t pid_file = {.fd = -1};
  gw.pid_file = &pid_file;
  /* A PostgreSQL store has no file to put the pid next to: only --pid-file writes one. */
  int pid_wanted = config->pid_file || !tg_pg_is_uri(config->store_path);
  int pid_claim = !pid_wanted ? 1
                  : tg_command_pid_file(config, pid_path, sizeof pid_path) == 0
                      ? tg_pidfile_claim(&pid_file, pid_path, err, sizeof err)
                      : 1; /* a path too long: the gateway runs without a pid file, as it says */
  if (pid_claim < 0) {
    fprintf(stderr, "taskgate: %s\n", err);
    return 1;
  }
  gw.admin = (tg_admin_t){.reload = &gw.reload,
                          .listeners = &gw.listeners,
                          .open_conns = &gw.open_conns,
                          .bodies = &gw.bodies,
                          .store = store,
                          .handlers = gw.handlers,
                          .store_path = shown_store,
                          .upstreams = upstreams,
                          .shared = script_config->shared,
                          .tls_reload_ok = -1,
                          .started = tg_wall_seconds()};
  if (config->upstream_cert)
    tg_tls_certificate_read_file(config->upstream_cert, &gw.admin.upstream_client);
  tg_server_t like = {.limits = {.header_timeout_ms = config->header_timeout_ms,
                                 .body_timeout_ms = config->body_timeout_ms,
                                 .idle_timeout_ms = config->idle_timeout_ms,
                                 .max_connections = config->max_connections},
                      .gateway_open = &gw.open_conns,
                      .reuse_port = config->workers > 1,
                      .routes = {.on_task = tg_handler_task,
                                 .on_abandon = tg_handler_abandon,
                                 .task_ctx = handler,
                                 .bodies = &gw.bodies,
                                 /* status and metrics stay on the admin address */
                                 .on_admin = tg_admin_public,
                                 .admin_ctx = &gw.admin}};
  if (tg_listeners_open(&gw.listeners, gw.loop, &like, config->listen, NULL, tls, config->listen_count, err, sizeof err) <
      0) {
    fprintf(stderr, "taskgate: %s\n", err);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    tg_pidfile_release(&pid_file);
    return 1;
  }
  if (start_workers(&gw, config, script_config, &like) < 0 || start_console(&gw, config, &like.limits) < 0 ||
      listen_admin(&gw, config, &like.limits) < 0) {
    tg_console_free(gw.console);
    if (gw.console_server.listening)
      tg_server_close(&gw.console_server);
    tg_workers_abort(&gw.workers);
    tg_workers_join(&gw.workers);
    tg_listeners_close(&gw.listeners);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    tg_pidfile_release(&pid_file);
    return 1;
  }
  if (pid_wanted && (pid_claim > 0 || tg_pidfile_write(&pid_file) < 0))
    tg_log(TG_LOG_WARN, "pid_file_failed", "path=%s", pid_path);
  tg_reload_start(&gw.reload, gw.loop, gw.handlers, gw.admin.handler_count, script_config);
  gw.reload.on_signal = reload_for_hangup;
  gw.reload.on_signal_data = &gw;
  watch_signals(&gw);
  uv_timer_init(gw.loop, &gw.drain_check);
  uv_timer_init(gw.loop, &gw.drain_deadline);
  uv_timer_init(gw.loop, &gw.store_check);
  uv_timer_init(gw.loop, &gw.auth_log);
  gw.drain_check.data = gw.drain_deadline.data = gw.store_check.data = gw.auth_log.data = &gw;
  uv_timer_start(&gw.auth_log, on_auth_log, TG_AUTH_GUARD_LOG_EVERY * 1000, TG_AUTH_GUARD_LOG_EVERY * 1000);
  uv_unref((uv_handle_t *)&gw.auth_log);
  uv_timer_start(&gw.store_check, on_store_check, 1000, 1000);
  uv_unref((uv_handle_t *)&gw.store_check); /* it does not keep the loop alive */
  announce(&gw, config);
  if (upstreams && tg_upstreams_probe_start(upstreams, gw.loop, handler->upstream, config->upstream_probe_interval_ms) < 0)
    tg_log(TG_LOG_WARN, "upstream_probe_failed", "hint=\"upstreams are marked down and up by calls only\"");
  /* One delivery loop however many workers: the main thread's. */
  if (config->outbox.target_count && !(gw.admin.outbox = tg_outbox_start(gw.loop, store, handler->upstream, &config->outbox)))
    tg_log(TG_LOG_ERROR, "outbox_failed", "reason=\"out of memory\"");
  uv_run(gw.loop, UV_RUN_DEFAULT);
  tg_console_free(gw.console);
  close_signals(&gw);
  uv_close((uv_handle_t *)&gw.drain_check, NULL);
  uv_close((uv_handle_t *)&gw.drain_deadline, NULL);
  uv_close((uv_handle_t *)&gw.store_check, NULL);
  uv_close((uv_handle_t *)&gw.auth_log, NULL);
  uv_run(gw.loop, UV_RUN_DEFAULT);
  tg_workers_join(&gw.workers);
  tg_pidfile_release(&pid_file);
  char addresses[TG_MAX_LISTEN * 84];
  tg_listeners_describe(&gw.listeners, ",", addresses, sizeof addresses);
  tg_log(TG_LOG_INFO, "stopped", "listen=%s", addresses);
  return 0;
}

/* Raises the open-file limit to its hard maximum: every connection is a descriptor. */
static void raise_fd_limit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

/* Loads the certificate of every --listen address with --tls-cert. Returns 0, or -1 with the
 * reason on stderr (none stays loaded). */
static int open_certificates(const tg_config_t *config, tg_tls_context_t **tls) {
  char err[512];
  for (int i = 0; i < config->listen_count; i++) {
    const tg_address_t *address = &config->listen[i];
    if (address->tls_cert && !(tls[i] = tg_tls_context_new(address->tls_cert, address->tls_key, err, sizeof err))) {
      fprintf(stderr, "taskgate: tls for %s:%d: %s\n", address->host, address->port, err);
      for (int j = 0; j < i; j++)
        tg_tls_context_free(tls[j]);
      return -1;
    }
  }
  return 0;
}

static int serve(const tg_config_t *config, const char *runtime_dir) {
  char err[4096];
  tg_tls_context_t *tls[TG_MAX_LISTEN] = {0};
  if (open_certificates(config, tls) < 0)
    return 1;
  tg_xml_init();
  if (tg_upstream_global_init() < 0) {
    fprintf(stderr, "taskgate: cannot initialise libcurl\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN); /* past a file-size limit a write fails (and the commit with it) */
  raise_fd_limit();
  if (config->log_file && tg_log_to_file(config->log_file, err, sizeof err) < 0) {
    fprintf(stderr, "taskgate: %s\n", err);
    return 1;
  }
  /* A PostgreSQL store is shared by several gateways on purpose (docs/ha.md): no lock file. */
  int postgresql = tg_pg_is_uri(config->store_path);
  if (postgresql && config->outbox.target_count) {
    fprintf(stderr, "taskgate: the outbox does not run on a PostgreSQL store yet (docs/ha.md)\n");
    return 1;
  }
  int lock = postgresql ? -2 : tg_instance_claim(config->store_path, err, sizeof err); /* held until the process ends */
  tg_store_t *store = lock == -1 ? NULL : tg_store_open(config->store_path, config->sync_mode, err, sizeof err);
  if (store && !postgresql && tg_store_watch_files(store, config->store_path, err, sizeof err) < 0) {
    tg_store_close(store);
    store = NULL;
  }
  if (!store) {
    fprintf(stderr, "taskgate: store: %s\n", err);
    tg_instance_release(lock);
    return 1;
  }
  char outbox_targets[TG_OUTBOX_MAX_TARGETS * TG_OUTBOX_NAME_BYTES];
  tg_cli_outbox_names(config, outbox_targets, sizeof outbox_targets);
  /* The rules' shared space outlives every rules generation: what it counts survives reloads. */
  tg_shared_t *shared = tg_shared_new(config->shared_memory);
  tg_script_config_t script_config = {
      .runtime_dir = runtime_dir,
      .rules_dir = config->rules_dir,
      .store = store,
      .memory_limit = config->memory_limit,
      .time_limit_ms = config->time_limit_ms,
      .upstream_url = config->upstream_url,
      .outbox_targets = outbox_targets,
      .shared = shared,
      .journal_size = config->journal_size,
  };
  tg_script_t *script = shared ? tg_script_new(&script_config, err, sizeof err) : NULL;
  if (!script) {
    fprintf(stderr, "taskgate: rules: %s\n", shared ? err : "out of memory");
    tg_shared_free(shared);
    tg_store_close(store);
    tg_instance_release(lock);
    return 1;
  }
  tg_checkpointer_t *checkpointer = postgresql ? NULL : tg_checkpointer_start(store, config->store_path);
  if (!checkpointer && !postgresql)
    tg_log(TG_LOG_WARN, "checkpoint_thread_failed", "fallback=automatic");
  tg_upstreams_t *upstreams = config->upstream_url ? tg_upstreams_new(config->upstream_url) : NULL;
  tg_upstream_options_t upstream_options = tg_cli_upstream_options(config, upstreams);
  tg_upstream_t *upstream = tg_upstream_new(uv_default_loop(), &upstream_options);
  tg_handler_t handler;
  tg_batch_t *batch = NULL;
  int status = 1;
  int handler_ready = tg_handler_init(&handler, script, store, upstream) == 0;
  tg_script_release(script); /* the handler holds it: a reload frees this first generation */
  if (handler_ready)
    tg_handler_open_reader(&handler, config->store_path);
  if (!handler_ready || !(batch = tg_batch_new(uv_default_loop(), store, tg_handler_runner(&handler))))
    fprintf(stderr, "taskgate: the runtime cannot build its error reply\n");
  else
    handler.batch = batch, status = run_gateway(config, store, &handler, &script_config, upstreams, tls);
  tg_batch_free(batch);
  uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* lets the batcher's handle close */
  uv_loop_close(uv_default_loop());
  tg_handler_free(&handler);
  tg_upstream_free(upstream);
  tg_upstreams_free(upstreams);
  for (int i = 0; i < TG_MAX_LISTEN; i++)
    tg_tls_context_free(tls[i]);
  tg_checkpointer_stop(checkpointer);
  tg_store_close(store);
  tg_shared_free(shared); /* after the last Lua state that used it */
  tg_instance_release(lock);
  return status;
}

/* The commands that read or copy the SQLite file itself; on PostgreSQL the database's own tools
 * do their work (docs/ha.md). Says so and returns 0 for those; 1 for the others. */
static int store_command_on_postgresql(const char *command) {
  static const struct {
    const char *command, *instead;
  } file_only[] = {
      {"audit", "read the audit table with psql (SELECT * FROM audit ORDER BY audit_id DESC)"},
      {"backup", "back the database up with pg_dump, or continuous archiving (PITR)"},
      {"restore", "restore the database with pg_restore"},
      {"outbox", "the outbox does not run on a PostgreSQL store yet"},
  };
  for (size_t i = 0; i < sizeof file_only / sizeof file_only[0]; i++)
    if (strcmp(command, file_only[i].command) == 0) {
      fprintf(stderr, "taskgate: %s works on a SQLite store only: %s (docs/ha.md)\n", command, file_only[i].instead);
      return 0;
    }
  return 1;
}

int main(int argc, char **argv) {
  tg_config_t config;
  char err[512], runtime_path[PATH_MAX + 32];
  switch (tg_cli_parse(&config, argc, argv, err, sizeof err)) {
  case TG_CLI_DONE: return 0;
  case TG_CLI_USAGE: fprintf(stderr, "taskgate: %s\n", err); return 2;
  }
  tg_log_set_level(config.log_level);
  tg_log_set_json(config.log_json);
  const char *runtime_dir = find_runtime(&config, runtime_path, sizeof runtime_path);
  if (tg_pg_is_uri(config.store_path) && !store_command_on_postgresql(config.command))
    return 2;
  if (strcmp(config.command, "migrate-store") == 0)
    return tg_command_migrate_store(&config);
  if (strcmp(config.command, "audit") == 0)
    return tg_command_audit(&config);
  if (strcmp(config.command, "check") == 0)
    return tg_command_check(&config, runtime_dir);
  if (strcmp(config.command, "replay") == 0)
    return tg_command_replay(&config, runtime_dir);
  if (strcmp(config.command, "try") == 0)
    return tg_command_try(&config, runtime_dir);
  if (strcmp(config.command, "test") == 0)
    return tg_command_test(&config, runtime_dir);
  if (strcmp(config.command, "reload") == 0)
    return tg_command_reload(&config);
  if (strcmp(config.command, "status") == 0)
    return tg_command_status(&config);
  if (strcmp(config.command, "backup") == 0)
    return tg_command_backup(&config);
  if (strcmp(config.command, "restore") == 0)
    return tg_command_restore(&config);
  if (strcmp(config.command, "outbox") == 0)
    return tg_outbox_command(config.store_path, config.outbox_action, config.outbox_id);
  return serve(&config, runtime_dir);
}
