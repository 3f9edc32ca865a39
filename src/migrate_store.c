/* migrate_store.c: `taskgate migrate-store URI`, a SQLite store moved into PostgreSQL: every
 * table the two stores share, row for row, streamed with COPY in one transaction, into a
 * database whose schema the gateway has just brought up to date and which holds nothing yet.
 * The SQLite file is locked meanwhile (no gateway may write it) and left as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "commands.h"
#include "instance.h"
#include "pg.h"
#include "store.h"

/* In the order the foreign key wants: groups before their tasks. SQLite's category_counts is
 * left out: the PostgreSQL store keeps no such counters (pg_schema.c). */
static const char *const tables[] = {"taskgroup", "task", "port", "port_category", "port_content",
                                     "port_queue", "bin", "audit", "outbox", NULL};

/* Appends a value in COPY's text format: \N for NULL, backslash escapes, bytea as \\x hex. */
static void copy_value(tg_buf_t *line, sqlite3_stmt *stmt, int c) {
  switch (sqlite3_column_type(stmt, c)) {
  case SQLITE_NULL: tg_buf_puts(line, "\\N"); return;
  case SQLITE_INTEGER: tg_buf_printf(line, "%lld", (long long)sqlite3_column_int64(stmt, c)); return;
  case SQLITE_FLOAT: tg_buf_printf(line, "%.17g", sqlite3_column_double(stmt, c)); return;
  case SQLITE_BLOB: {
    const unsigned char *bytes = sqlite3_column_blob(stmt, c);
    tg_buf_puts(line, "\\\\x");
    for (int i = 0, n = sqlite3_column_bytes(stmt, c); i < n; i++)
      tg_buf_printf(line, "%02x", bytes[i]);
    return;
  }
  default: {
    const char *text = (const char *)sqlite3_column_text(stmt, c);
    for (int i = 0, n = sqlite3_column_bytes(stmt, c); i < n; i++) {
      char ch = text[i];
      const char *escaped = ch == '\\' ? "\\\\" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : NULL;
      if (escaped)
        tg_buf_puts(line, escaped);
      else
        tg_buf_append(line, &ch, 1);
    }
  }
  }
}

/* Copies one table; returns its row count, or -1 with the reason in err. */
static long long copy_table(sqlite3 *db, PGconn *conn, const char *table, char *err, size_t errcap) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
  sqlite3_stmt *stmt;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return snprintf(err, errcap, "%s: %s", table, sqlite3_errmsg(db)), -1;
  tg_buf_t line = {0};
  tg_buf_printf(&line, "COPY %s (", table);
  for (int c = 0, n = sqlite3_column_count(stmt); c < n; c++)
    tg_buf_printf(&line, "%s\"%s\"", c ? ", " : "", sqlite3_column_name(stmt, c));
  tg_buf_puts(&line, ") FROM STDIN");
  PGresult *result = PQexec(conn, line.data);
  int started = PQresultStatus(result) == PGRES_COPY_IN;
  PQclear(result);
  long long rows = 0;
  int ok = started;
  while (ok && sqlite3_step(stmt) == SQLITE_ROW) {
    line.len = 0;
    for (int c = 0, n = sqlite3_column_count(stmt); c < n; c++) {
      if (c)
        tg_buf_puts(&line, "\t");
      copy_value(&line, stmt, c);
    }
    tg_buf_puts(&line, "\n");
    ok = PQputCopyData(conn, line.data, (int)line.len) == 1;
    rows++;
  }
  sqlite3_finalize(stmt);
  tg_buf_free(&line);
  if (started && PQputCopyEnd(conn, ok ? NULL : "reading the SQLite store failed") == 1) {
    result = PQgetResult(conn);
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    while ((result = PQgetResult(conn)))
      PQclear(result);
  }
  if (!ok)
    return snprintf(err, errcap, "%s: %s", table, PQerrorMessage(conn)), -1;
  return rows;
}

/* The number in the one row of a query, or -1. */
static long long number(PGconn *conn, const char *sql) {
  PGresult *result = PQexec(conn, sql);
  long long n = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 ? atoll(PQgetvalue(result, 0, 0)) : -1;
  PQclear(result);
  return n;
}

static int run(PGconn *conn, const char *sql, char *err, size_t errcap) {
  PGresult *result = PQexec(conn, sql);
  int ok = PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK;
  if (!ok)
    snprintf(err, errcap, "%s", PQresultErrorMessage(result));
  PQclear(result);
  return ok ? 0 : -1;
}

static int migrate(sqlite3 *db, tg_pg_t *pg, char *err, size_t errcap) {
  PGconn *conn = tg_pg_conn(pg);
  if (number(conn, "SELECT (SELECT count(*) FROM taskgroup) + (SELECT count(*) FROM port) + (SELECT count(*) FROM bin) "
                   "+ (SELECT count(*) FROM audit) + (SELECT count(*) FROM outbox)") != 0)
    return snprintf(err, errcap, "the database holds a store already: migrate-store fills an empty one only"), -1;
  /* A table's COPY is one statement: the runtime's 5 s bound on a statement (pg.c) would cut a
   * large store's copy short (1,000,000 tasks took longer on a loaded machine). */
  if (run(conn, "SET statement_timeout = 0", err, errcap) < 0 || run(conn, "BEGIN", err, errcap) < 0)
    return -1;
  for (int t = 0; tables[t]; t++) {
    long long rows = copy_table(db, conn, tables[t], err, errcap);
    if (rows < 0) {
      PQclear(PQexec(conn, "ROLLBACK"));
      return -1;
    }
    printf("%s: %lld rows\n", tables[t], rows);
  }
  /* the copied ids were given, not drawn: the next ones are drawn after them */
  if (run(conn,
          "SELECT setval(pg_get_serial_sequence('audit', 'audit_id'), coalesce(max(audit_id), 0) + 1, false) FROM audit;"
          "SELECT setval(pg_get_serial_sequence('outbox', 'message_id'), coalesce(max(message_id), 0) + 1, false) "
          "FROM outbox",
          err, errcap) < 0 ||
      run(conn, "COMMIT", err, errcap) < 0) {
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
  }
  /* Statistics now, not when autovacuum comes round: without them the planner takes the freshly
   * filled tables for small ones and scans a million tasks for every call (30 ms each). */
  return run(conn, "ANALYZE", err, errcap);
}

int tg_command_migrate_store(const tg_config_t *config) {
  char err[1024] = "";
  if (tg_pg_is_uri(config->store_path) || !tg_pg_is_uri(config->migrate_to)) {
    fprintf(stderr, "taskgate: migrate-store copies a SQLite store (--store FILE) into a postgresql:// URI\n");
    return 2;
  }
  int lock = tg_instance_claim(config->store_path, err, sizeof err);
  tg_store_t *store = lock == -1 ? NULL : tg_store_open(config->store_path, TG_SYNC_NORMAL, err, sizeof err);
  tg_pg_t *pg = store ? tg_pg_open(config->migrate_to, err, sizeof err) : NULL;
  int ok = pg && migrate(tg_store_db(store), pg, err, sizeof err) == 0;
  if (ok)
    printf("migrated %s into the PostgreSQL database\n", config->store_path);
  else
    fprintf(stderr, "taskgate: migrate-store: %s\n", err);
  tg_pg_close(pg);
  tg_store_close(store);
  tg_instance_release(lock);
  return ok ? 0 : 1;
}
