/* admin.c: GET /status (version, uptime, listener, store counts, the rules generation),
 * /metrics and /healthz; the bearer token that guards the first two. */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_sql.h"
#include "clock.h"
#include "floor.h"
#include "json_text.h"
#include "metrics.h"
#include "process.h"
#include "redact.h"
#include "store_pool.h"

static long long count_rows(tg_store_t *store, const char *sql) {
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  long long n = -1;
  if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
    n = sqlite3_column_int64(stmt, 0);
  if (stmt)
    sqlite3_reset(stmt);
  return n;
}

static int open_conns(const tg_admin_t *admin) { return __atomic_load_n(admin->open_conns, __ATOMIC_RELAXED); }

static int waiting_calls(const tg_admin_t *admin) {
  int n = 0;
  for (int i = 0; i < admin->handler_count; i++)
    n += tg_handler_waiting(admin->handlers[i]);
  return n;
}

/* "tls_certificates": each TLS listener's served certificate; then the upstream client's. */
static void certificates_json(tg_admin_t *admin, tg_buf_t *body, double now) {
  tg_buf_puts(body, ",\"tls_certificates\":[");
  int shown = 0;
  for (int i = 0; i < admin->listeners->count; i++) {
    tg_server_t *server = &admin->listeners->server[i];
    tg_tls_certificate_t cert;
    if (!server->tls)
      continue;
    tg_tls_context_certificate(server->tls, &cert);
    tg_buf_puts(body, shown++ ? ",{\"listen\":" : "{\"listen\":");
    tg_json_text_string(body, server->address);
    tg_buf_puts(body, ",\"certificate\":");
    tg_tls_certificate_json(&cert, now, body);
    tg_buf_puts(body, "}");
  }
  tg_buf_puts(body, "],\"upstream_client_certificate\":");
  tg_tls_certificate_json(&admin->upstream_client, now, body);
}

/* The served certificates' notAfter: alerts compute the time left (Prometheus' convention). */
static void certificates_metrics(tg_admin_t *admin, tg_buf_t *body) {
  tg_buf_puts(body, "# HELP taskgate_tls_certificate_expiry_timestamp_seconds When a certificate we present "
                    "expires (notAfter), since the epoch: per TLS listener, and the upstream client's.\n"
                    "# TYPE taskgate_tls_certificate_expiry_timestamp_seconds gauge\n");
  for (int i = 0; i < admin->listeners->count; i++) {
    tg_server_t *server = &admin->listeners->server[i];
    tg_tls_certificate_t cert;
    if (!server->tls)
      continue;
    tg_tls_context_certificate(server->tls, &cert);
    if (cert.known)
      tg_buf_printf(body, "taskgate_tls_certificate_expiry_timestamp_seconds{listen=\"%s\"} %lld\n", server->address,
                    (long long)cert.not_after);
  }
  if (admin->upstream_client.known)
    tg_buf_printf(body, "taskgate_tls_certificate_expiry_timestamp_seconds{certificate=\"upstream_client\"} %lld\n",
                  (long long)admin->upstream_client.not_after);
}

static void status_json(tg_admin_t *admin, tg_buf_t *body) {
  double uptime = tg_wall_seconds() - admin->started;
  char addresses[TG_MAX_LISTEN * 84];
  tg_listeners_describe(admin->listeners, "\",\"", addresses, sizeof addresses);
  tg_buf_printf(body, "{\"version\":\"%s\",\"pid\":%ld,", TG_VERSION, (long)getpid());
  tg_buf_printf(body,
                "\"uptime_seconds\":%.1f,\"listen\":\"%s\",\"listeners\":[\"%s\"],"
                "\"workers\":%d,\"open_connections\":%d,",
                uptime, admin->listeners->server[0].address, addresses, admin->handler_count, open_conns(admin));
  tg_buf_printf(body, "\"request_bodies\":{\"bytes\":%zu,\"limit_bytes\":%zu,\"refused\":%llu},",
                tg_body_budget_held(admin->bodies), admin->bodies ? admin->bodies->limit : 0,
                tg_body_budget_refused(admin->bodies));
  tg_buf_puts(body, "\"store\":{\"path\":");
  tg_json_text_string(body, admin->store_path);
  /* The per-category counts the schema's triggers keep (migration 8): as quick at any number of
   * tasks. Ports are few; they are counted. */
  tg_buf_printf(body, ",\"taskgroups\":%lld,\"tasks\":%lld,\"open_ports\":%lld",
                count_rows(admin->store, TG_SQL_TASKGROUPS), count_rows(admin->store, TG_SQL_TASKS),
                count_rows(admin->store, TG_SQL_OPEN_PORTS));
  tg_store_pool_json(admin->handlers, admin->handler_count, body);
  tg_buf_puts(body, "},\"upstream\":");
  /* "upstream": the primary, as before several were possible; "upstreams": each with its health. */
  if (admin->upstreams) {
    tg_json_text_string(body, tg_upstreams_shown(admin->upstreams, 0));
    tg_buf_puts(body, ",\"upstreams\":");
    tg_upstreams_status_json(admin->upstreams, body);
    tg_buf_printf(body, ",\"upstream_queued\":%d", tg_upstreams_queued(admin->upstreams));
  } else {
    tg_buf_puts(body, "null,\"upstreams\":[],\"upstream_queued\":0");
  }
  tg_buf_puts(body, ",\"outbox\":");
  if (admin->outbox)
    tg_outbox_status_json(admin->outbox, body);
  else
    tg_buf_puts(body, "null");
  tg_buf_printf(body, ",\"tls_reload\":{\"ok\":%s,\"failures\":%u,\"error\":",
                admin->tls_reload_ok < 0 ? "null" : admin->tls_reload_ok ? "true" : "false", admin->tls_reload_failures);
  if (admin->tls_reload_ok == 0)
    tg_json_text_string(body, admin->tls_reload_error);
  else
    tg_buf_puts(body, "null");
  tg_buf_puts(body, "}");
  certificates_json(admin, body, tg_wall_seconds());
  tg_buf_printf(body, ",\"draining\":%s,\"rules\":", admin->draining ? "true" : "false");
  tg_reload_status_json(admin->reload, body);
  tg_buf_puts(body, "}\n");
}

/* Whether the last reload (or the start) loaded its rules, and when: alert on a 0 that stays. */
static void reload_gauges(const tg_reload_t *reload, tg_buf_t *body) {
  tg_buf_printf(body,
                "# HELP taskgate_reload_last_success 1 when the last reload (or the start) loaded its rules, 0 when "
                "the old rules kept serving.\n"
                "# TYPE taskgate_reload_last_success gauge\ntaskgate_reload_last_success %d\n"
                "# HELP taskgate_reload_last_time_seconds When the last reload (or the start) happened, since the "
                "epoch.\n"
                "# TYPE taskgate_reload_last_time_seconds gauge\ntaskgate_reload_last_time_seconds %.3f\n",
                reload->last_ok, reload->last_time);
  tg_buf_printf(body,
                "# HELP taskgate_rules_memory_exhausted 1 while a rules generation stays at its Lua memory limit "
                "after a full collection (its calls fail until it is rebuilt).\n"
                "# TYPE taskgate_rules_memory_exhausted gauge\ntaskgate_rules_memory_exhausted %d\n"
                "# HELP taskgate_rules_memory_rebuilds_total Rules generations rebuilt from the same files because "
                "they stayed at their Lua memory limit.\n"
                "# TYPE taskgate_rules_memory_rebuilds_total counter\ntaskgate_rules_memory_rebuilds_total %u\n",
                tg_reload_memory_exhausted(reload), reload->memory_rebuilds);
}

/* The WAL file's length: it grows between checkpoints' restarts, and while a backup reads. */
static void wal_size(const tg_admin_t *admin, tg_buf_t *body) {
  char path[4096];
  struct stat wal;
  snprintf(path, sizeof path, "%s-wal", admin->store_path);
  tg_buf_printf(body,
                "# HELP taskgate_store_wal_size_bytes Size of the store's write-ahead log file.\n"
                "# TYPE taskgate_store_wal_size_bytes gauge\ntaskgate_store_wal_size_bytes %lld\n",
                stat(path, &wal) == 0 ? (long long)wal.st_size : 0LL);
}

/* The task request bodies held now, and the requests refused because they would pass the bound. */
static void bodies_metrics(tg_admin_t *admin, tg_buf_t *body) {
  tg_buf_printf(body,
                "# HELP taskgate_request_body_bytes Memory the task request bodies being received or answered "
                "hold (in steps of 64 KiB).\n"
                "# TYPE taskgate_request_body_bytes gauge\ntaskgate_request_body_bytes %zu\n"
                "# HELP taskgate_request_body_refused_total Requests answered 503 because their body would pass "
                "--body-memory.\n"
                "# TYPE taskgate_request_body_refused_total counter\ntaskgate_request_body_refused_total %llu\n",
                tg_body_budget_held(admin->bodies), tg_body_budget_refused(admin->bodies));
}

/* The gauges, then every counter and histogram of the metrics registry. */
static void metrics_text(tg_admin_t *admin, tg_buf_t *body) {
  long long pages = count_rows(admin->store, "PRAGMA page_count"),
            page_size = count_rows(admin->store, "PRAGMA page_size");
  tg_buf_printf(body,
                "# HELP taskgate_in_flight_calls Calls waiting on an outbound request.\n"
                "# TYPE taskgate_in_flight_calls gauge\ntaskgate_in_flight_calls %d\n"
                "# HELP taskgate_open_connections Client connections open now.\n"
                "# TYPE taskgate_open_connections gauge\ntaskgate_open_connections %d\n"
                "# HELP taskgate_rules_generation The rules generation serving calls.\n"
                "# TYPE taskgate_rules_generation gauge\ntaskgate_rules_generation %u\n"
                "# HELP taskgate_rules_states Lua states open: one per worker, and an older generation while "
                "a call it began runs.\n"
                "# TYPE taskgate_rules_states gauge\ntaskgate_rules_states %d\n"
                "# HELP taskgate_reloads_total Rules reloads by outcome.\n"
                "# TYPE taskgate_reloads_total counter\ntaskgate_reloads_total{outcome=\"ok\"} %u\n"
                "taskgate_reloads_total{outcome=\"failed\"} %u\n"
                "# HELP taskgate_store_size_bytes Size of the store's database file.\n"
                "# TYPE taskgate_store_size_bytes gauge\ntaskgate_store_size_bytes %lld\n"
                "# HELP taskgate_store_healthy 1 while the store takes changes; 0 after a failed commit or "
                "when its files were deleted.\n"
                "# TYPE taskgate_store_healthy gauge\ntaskgate_store_healthy %d\n"
                "# HELP taskgate_draining 1 while the gateway drains before stopping.\n"
                "# TYPE taskgate_draining gauge\ntaskgate_draining %d\n",
                waiting_calls(admin), open_conns(admin), admin->reload->generation, tg_script_live_states(),
                admin->reload->succeeded,
                admin->reload->failed, pages * page_size,
                tg_store_health_state(tg_store_health(admin->store)) == TG_STORE_OK, admin->draining);
  reload_gauges(admin->reload, body);
  tg_buf_printf(body,
                "# HELP taskgate_tls_reload_last_success 1 when the last SIGHUP loaded every TLS listener's "
                "certificate, 0 when one kept its old certificate (absent before any).\n"
                "# TYPE taskgate_tls_reload_last_success gauge\n");
  if (admin->tls_reload_ok >= 0)
    tg_buf_printf(body, "taskgate_tls_reload_last_success %d\n", admin->tls_reload_ok);
  tg_buf_printf(body,
                "# HELP taskgate_tls_reload_failures_total SIGHUPs after which a TLS listener kept its old "
                "certificate.\n# TYPE taskgate_tls_reload_failures_total counter\n"
                "taskgate_tls_reload_failures_total %u\n",
                admin->tls_reload_failures);
  certificates_metrics(admin, body);
  bodies_metrics(admin, body);
  wal_size(admin, body);
  tg_floor_metrics(admin->store, body, tg_wall_seconds());
  tg_store_pool_metrics(admin->handlers, admin->handler_count, body);
  tg_process_metrics(body, admin->started);
  if (admin->upstreams)
    tg_upstreams_metrics(admin->upstreams, body);
  if (admin->outbox)
    tg_outbox_metrics(admin->outbox, body);
  if (admin->shared)
    tg_shared_metrics(admin->shared, body);
  tg_metrics_write(body);
}

/* Whether the store takes changes now: its files are the ones opened, its last commit went
 * through (or, a while after a failed one, a probe write does), and it answers. */
static int store_healthy(tg_admin_t *admin) {
  if (tg_store_pg(admin->store)) /* a database: whether it answers (and reconnecting if not) */
    return tg_store_available(admin->store);
  tg_store_health_t *health = tg_store_health(admin->store);
  tg_store_health_check(health, TG_STORE_FILES);
  if (tg_store_health_probe_due(health) && tg_store_probe_write(admin->store) == 0)
    tg_store_health_write_ok(health);
  return tg_store_health_state(health) == TG_STORE_OK && count_rows(admin->store, "SELECT 1") == 1;
}

/* 200 while serving; 503 while draining, when the store cannot take changes (and why when
 * with_reason: the admin address; the reason may name the store's files), in bridge mode when no
 * upstream is up (every forwarded call would get 1922), or while a rules generation stays at its
 * memory limit (reload.h: rebuilt within a second, for good if that fails). 200 "degraded" while
 * some upstream is down and another up, or some worker's PostgreSQL connection is reconnecting
 * while the main one answers (that worker's calls fault 1934 meanwhile). */
static int healthz(tg_admin_t *admin, tg_buf_t *body, int with_reason) {
  int store_ok = store_healthy(admin);
  int upstreams = admin->upstreams ? tg_upstreams_count(admin->upstreams) : 0;
  int up = admin->upstreams ? tg_upstreams_up(admin->upstreams) : 0;
  int connections_down = tg_store_pool_down(admin->handlers, admin->handler_count);
  int rules_full = tg_reload_memory_exhausted(admin->reload);
  const char *state = admin->draining                          ? "draining"
                      : !store_ok                              ? "store unusable"
                      : rules_full                             ? "rules at their memory limit"
                      : upstreams && !up                       ? "no upstream up"
                      : up < upstreams || connections_down > 0 ? "degraded"
                                                               : "ok";
  const char *why =
      with_reason && !admin->draining && !store_ok ? tg_store_health_reason(tg_store_health(admin->store)) : "";
  tg_buf_printf(body, "%s%s%s\n", state, why[0] ? ": " : "", why);
  return admin->draining || !store_ok || rules_full || (upstreams && !up) ? 503 : 200;
}

int tg_admin_token_equal(const char *given, const char *token) {
  size_t given_len = strlen(given), token_len = strlen(token);
  unsigned char diff = given_len != token_len;
  for (size_t i = 0; i < token_len; i++)
    diff |= (unsigned char)(token[i] ^ (i < given_len ? given[i] : 0));
  return diff == 0;
}

/* With a token configured, /status and /metrics want "Authorization: Bearer TOKEN". */
static int authorized(const tg_admin_t *admin, const char *authorization) {
  static const char scheme[] = "Bearer ";
  if (!admin->token[0])
    return 1;
  if (!authorization || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
    return 0;
  return tg_admin_token_equal(authorization + sizeof scheme - 1, admin->token);
}

static int answer(tg_admin_t *admin, const char *path, const char *authorization, tg_buf_t *body,
                  const char **content_type) {
  if (strcmp(path, "/healthz") == 0)
    return healthz(admin, body, 1);
  if (strcmp(path, "/status") && strcmp(path, "/metrics"))
    return 404;
  if (!authorized(admin, authorization))
    return 401;
  if (strcmp(path, "/status") == 0) {
    status_json(admin, body);
    *content_type = "application/json";
  } else {
    metrics_text(admin, body);
    *content_type = "text/plain; version=0.0.4; charset=utf-8";
  }
  return 200;
}

int tg_admin_answer(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **content_type) {
  tg_admin_t *admin = ctx;
  /* The store and the reload state change only under it; the counts of connections and of
   * waiting calls are atomics, read without it. */
  tg_store_lock(admin->store);
  int status = answer(admin, path, authorization, body, content_type);
  tg_store_unlock(admin->store);
  /* URLs are masked where they are kept; errors and reasons may still quote one (redact.h) */
  return tg_redact_buf(body, 0) < 0 ? 500 : status;
}

int tg_admin_public(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **content_type) {
  tg_admin_t *admin = ctx;
  if (strcmp(path, "/healthz") != 0)
    return 404;
  tg_store_lock(admin->store);
  int status = healthz(admin, body, 0);
  tg_store_unlock(admin->store);
  return status;
}

int tg_admin_token_load(const char *path, const char *what, char *token, size_t cap, char *err, size_t errcap) {
  FILE *file = fopen(path, "r");
  if (!file)
    return snprintf(err, errcap, "cannot read the %s token file %s: %s", what, path, strerror(errno)), -1;
  char line[TG_ADMIN_TOKEN_MAX + 8] = "";
  int read_ok = fgets(line, sizeof line, file) != NULL;
  fclose(file);
  size_t len = strcspn(line, "\r\n");
  int printable = 1;
  for (size_t i = 0; i < len; i++)
    printable &= line[i] > ' ' && line[i] < 0x7f;
  if (!read_ok || len < TG_ADMIN_TOKEN_MIN || len > TG_ADMIN_TOKEN_MAX || len >= cap || !printable)
    return snprintf(err, errcap,
                    "the %s token file %s must hold one token of %d to %d printable characters, no spaces "
                    "(e.g. openssl rand -hex 16)",
                    what, path, TG_ADMIN_TOKEN_MIN, TG_ADMIN_TOKEN_MAX),
           -1;
  memcpy(token, line, len);
  token[len] = '\0';
  return 0;
}
