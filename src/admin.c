/* admin.c: GET /status: version, uptime, listener, store counts and the rules generation. */
#include "admin.h"

#include <string.h>
#include <sys/time.h>

static long long count_rows(tg_store_t *store, const char *sql) {
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  long long n = -1;
  if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
    n = sqlite3_column_int64(stmt, 0);
  if (stmt)
    sqlite3_reset(stmt);
  return n;
}

static void status_json(tg_admin_t *admin, tg_buf_t *body) {
  struct timeval now;
  gettimeofday(&now, NULL);
  double uptime = (double)now.tv_sec + (double)now.tv_usec / 1e6 - admin->started;
  tg_buf_printf(body, "{\"version\":\"%s\",\"uptime_seconds\":%.1f,\"listen\":\"%s\",\"open_connections\":%d,",
                TG_VERSION, uptime, admin->server->address, admin->server->open_conns);
  tg_buf_puts(body, "\"store\":{\"path\":\"");
  for (const char *c = admin->store_path; *c; c++) { /* quotes and backslashes keep the JSON valid */
    if (*c == '"' || *c == '\\')
      tg_buf_append(body, "\\", 1);
    tg_buf_append(body, c, 1);
  }
  tg_buf_printf(body, "\",\"taskgroups\":%lld,\"tasks\":%lld,\"open_ports\":%lld},\"rules\":",
                count_rows(admin->store, "SELECT count(*) FROM taskgroup"),
                count_rows(admin->store, "SELECT count(*) FROM task"),
                count_rows(admin->store, "SELECT count(*) FROM port"));
  tg_reload_status_json(admin->reload, body);
  tg_buf_puts(body, "}\n");
}

int tg_admin_answer(void *ctx, const char *path, tg_buf_t *body, const char **content_type) {
  tg_admin_t *admin = ctx;
  if (strcmp(path, "/status") == 0) {
    status_json(admin, body);
    *content_type = "application/json";
    return 200;
  }
  return 404;
}
