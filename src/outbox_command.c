/* outbox_command.c: `taskgate outbox list|retry ID|drop ID`, run on the store beside a running
 * gateway (SQLite lets both write; the gateway's delivery loop sees a change within a second). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "outbox.h"

static void json_text(const unsigned char *s) {
  if (!s) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if (*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

/* One JSON line per message still in the outbox (pending or dead), oldest first. */
static int list(tg_store_t *store) {
  static const char sql[] = "SELECT message_id, uuid, target, state, attempts, created, next_attempt, last_error,"
                            " length(body), request_id FROM outbox ORDER BY message_id";
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  if (!stmt) {
    fprintf(stderr, "taskgate: outbox: %s\n", tg_store_errmsg(store));
    return 1;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    printf("{\"id\":%lld,\"message_id\":", (long long)sqlite3_column_int64(stmt, 0));
    json_text(sqlite3_column_text(stmt, 1));
    fputs(",\"target\":", stdout);
    json_text(sqlite3_column_text(stmt, 2));
    fputs(",\"state\":", stdout);
    json_text(sqlite3_column_text(stmt, 3));
    printf(",\"attempts\":%d,\"created\":%.3f,\"next_attempt\":%.3f,\"last_error\":", sqlite3_column_int(stmt, 4),
           sqlite3_column_double(stmt, 5), sqlite3_column_double(stmt, 6));
    json_text(sqlite3_column_text(stmt, 7));
    printf(",\"bytes\":%d,\"request_id\":", sqlite3_column_int(stmt, 8));
    json_text(sqlite3_column_text(stmt, 9));
    fputs("}\n", stdout);
  }
  sqlite3_reset(stmt);
  return 0;
}

/* Runs sql on the message id; returns the exit status, saying what happened. */
static int change(tg_store_t *store, const char *sql, long long id, const char *done) {
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  if (!stmt) {
    fprintf(stderr, "taskgate: outbox: %s\n", tg_store_errmsg(store));
    return 1;
  }
  sqlite3_bind_int64(stmt, 1, id);
  if (sqlite3_bind_parameter_count(stmt) >= 2)
    sqlite3_bind_double(stmt, 2, tg_wall_seconds());
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "taskgate: outbox: %s\n", tg_store_errmsg(store));
    return 1;
  }
  if (sqlite3_changes(tg_store_db(store)) == 0) {
    fprintf(stderr, "taskgate: outbox: no message %lld\n", id);
    return 1;
  }
  printf("%s message %lld\n", done, id);
  return 0;
}

int tg_outbox_command(const char *path, const char *action, const char *id) {
  char err[512], *end = NULL;
  long long message = id ? strtoll(id, &end, 10) : 0;
  int is_list = strcmp(action, "list") == 0;
  if (!is_list && (!id || !*id || *end || message <= 0)) {
    fprintf(stderr, "taskgate: outbox %s needs a message id (the id that outbox list shows)\n", action);
    return 2;
  }
  tg_store_t *store = is_list ? tg_store_open_readonly(path, err, sizeof err)
                              : tg_store_open(path, TG_SYNC_NORMAL, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: outbox: %s\n", err);
    return 1;
  }
  int status;
  if (is_list)
    status = list(store);
  else if (strcmp(action, "retry") == 0) /* from now on, as if just queued: a fresh dead-letter time */
    status = change(store,
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = 0, created = ?2"
                    " WHERE message_id = ?1",
                    message, "retrying");
  else
    status = change(store, "DELETE FROM outbox WHERE message_id = ?", message, "dropped");
  tg_store_close(store);
  return status;
}
