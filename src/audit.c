/* audit.c: `taskgate audit`: the audit trail, filtered, as JSON lines or CSV. */
#include "audit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redact.h"

/* The filters, each "?N IS NULL OR ..." so that an absent one matches every record. A task is
 * named by a cancel's task_id, a create's task_ids, or a forwarded call's; a client by its
 * address, with or without the port. A faulted call's record keeps the task id as it was sent. */
static const char query[] =
    "SELECT audit_id, time, client, method, params, outcome, %s FROM audit WHERE"
    " (?1 IS NULL OR json_extract(params, '$.task_id') IN (?1, CAST(?1 AS TEXT))"
    "   OR json_extract(params, '$.forwarded.task_id') = ?1"
    "   OR EXISTS (SELECT 1 FROM json_each(params, '$.task_ids') WHERE value = ?1))"
    " AND (?2 IS NULL OR method = ?2 COLLATE NOCASE)"
    " AND (?3 IS NULL OR client = ?3 OR client LIKE ?3 || ':%%' OR client LIKE '[' || ?3 || ']:%%')"
    " AND (?4 IS NULL OR time >= ?4) AND (?5 IS NULL OR time <= ?5)"
    " AND (?6 IS NULL OR outcome = ?6 OR (?6 = 'fault' AND outcome <> 'ok'))"
    " ORDER BY audit_id";

int tg_audit_parse_time(const char *text, long long now, char *iso, size_t cap) {
  char *end;
  long long amount = strtoll(text, &end, 10);
  static const char units[] = "smhd";
  static const long long seconds[] = {1, 60, 3600, 86400};
  const char *unit = *text >= '0' && *text <= '9' && end[0] && !end[1] ? strchr(units, end[0]) : NULL;
  struct tm tm = {0};
  time_t when;
  if (unit && amount >= 0 && amount <= 36500LL * 86400) { /* "1h": an hour ago */
    when = (time_t)(now - amount * seconds[unit - units]);
  } else {
    int n = 0, len = (int)strlen(text);
    if (sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
      return -1;
    if (len > 10 && (sscanf(text + 10, "%*1[T ]%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 3 ||
                     (strcmp(text + 10 + n, "Z") != 0 && text[10 + n] != '\0')))
      return -1;
    int mday = tm.tm_mday, mon = tm.tm_mon;
    if (tm.tm_year < 1971 || tm.tm_year > 9999 || mon < 1 || mon > 12 || mday < 1 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 59)
      return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    when = timegm(&tm);
    struct tm check;
    gmtime_r(&when, &check);
    if (check.tm_mday != mday) /* 2024-02-30 */
      return -1;
  }
  gmtime_r(&when, &tm);
  strftime(iso, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return 0;
}

/* A value as operators may see it: a URL a rule recorded has its credentials masked
 * (redact.h). Free *copy afterwards. */
static const unsigned char *shown(const unsigned char *s, char **copy) {
  int failed;
  *copy = tg_redact_copy((const char *)s, &failed);
  if (failed)
    return (const unsigned char *)"(not shown: out of memory)";
  return *copy ? (const unsigned char *)*copy : s;
}

static void json_string(FILE *out, const unsigned char *text) {
  char *copy;
  const unsigned char *s = shown(text, &copy);
  fputc('"', out);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(out, "\\%c", *s);
    else if (*s < 0x20)
      fprintf(out, "\\u%04x", *s);
    else
      fputc(*s, out);
  }
  fputc('"', out);
  free(copy);
}

enum { OPTIONAL = 5 }; /* request_id, reason, client_port, rules, marked: columns 6 to 10 */

static void json_line(FILE *out, sqlite3_stmt *stmt) {
  fprintf(out, "{\"id\":%lld,\"time\":", (long long)sqlite3_column_int64(stmt, 0));
  json_string(out, sqlite3_column_text(stmt, 1));
  fputs(",\"client\":", out);
  json_string(out, sqlite3_column_text(stmt, 2));
  fputs(",\"method\":", out);
  json_string(out, sqlite3_column_text(stmt, 3));
  /* params were stored as JSON by the runtime and are written through unchanged (masked) */
  char *copy;
  const unsigned char *params = shown(sqlite3_column_text(stmt, 4), &copy);
  fprintf(out, ",\"params\":%s,\"outcome\":", !params || params[0] == '(' ? "null" : (const char *)params);
  free(copy);
  json_string(out, sqlite3_column_text(stmt, 5));
  /* The optional columns (OPTIONAL, from 6): null when the record has none. */
  static const char *const names[] = {"request_id", "reason", "client_port", "rules", "marked"};
  for (int i = 0; i < OPTIONAL; i++) {
    int column = 6 + i;
    fprintf(out, ",\"%s\":", names[i]);
    if (sqlite3_column_type(stmt, column) == SQLITE_NULL)
      fputs("null", out);
    else if (sqlite3_column_type(stmt, column) == SQLITE_INTEGER)
      fprintf(out, "%lld", (long long)sqlite3_column_int64(stmt, column));
    else
      json_string(out, sqlite3_column_text(stmt, column));
  }
  fputs("}\n", out);
}

/* One RFC 4180 field: quoted, inner quotes doubled. */
static void csv_field(FILE *out, const unsigned char *text, int last) {
  char *copy;
  const unsigned char *s = shown(text, &copy);
  fputc('"', out);
  for (; s && *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputs(last ? "\"\r\n" : "\",", out);
  free(copy);
}

static void csv_line(FILE *out, sqlite3_stmt *stmt) {
  fprintf(out, "%lld,", (long long)sqlite3_column_int64(stmt, 0));
  /* time, request_id, client, client_port, method, outcome, reason, marked, rules, params */
  static const int order[] = {1, 6, 2, 8, 3, 5, 7, 10, 9, 4};
  for (int i = 0; i < 10; i++)
    csv_field(out, sqlite3_column_text(stmt, order[i]), i == 9);
}

static void bind_text(sqlite3_stmt *stmt, int index, const char *text) {
  if (text && *text)
    sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(stmt, index);
}

int tg_audit_print(tg_store_t *store, const tg_audit_query_t *filter, FILE *out) {
  /* A store no gateway of schema 7 (request ids), 14 (refusal reasons) or 15 (ports, rules
   * versions, marks) has opened yet lacks those columns: they read as null. */
  static const char *const columns[] = {"request_id, reason, client_port, rules, marked",
                                        "request_id, reason, NULL, NULL, NULL", "request_id, NULL, NULL, NULL, NULL",
                                        "NULL, NULL, NULL, NULL, NULL"};
  char sql[sizeof query + 64];
  sqlite3_stmt *stmt = NULL;
  for (int i = 0; i < 4 && !stmt; i++) {
    snprintf(sql, sizeof sql, query, columns[i]);
    stmt = tg_store_prepare(store, sql, strlen(sql));
  }
  if (!stmt) {
    fprintf(stderr, "taskgate: audit: %s\n", tg_store_errmsg(store));
    return -1;
  }
  if (filter->task_id > 0)
    sqlite3_bind_int64(stmt, 1, filter->task_id);
  bind_text(stmt, 2, filter->method);
  bind_text(stmt, 3, filter->client);
  bind_text(stmt, 4, filter->since);
  bind_text(stmt, 5, filter->until);
  bind_text(stmt, 6, filter->outcome);
  if (filter->csv)
    fputs("id,time,request_id,client,client_port,method,outcome,reason,marked,rules,params\r\n", out);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    (filter->csv ? csv_line : json_line)(out, stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "taskgate: audit: %s\n", tg_store_errmsg(store));
    return -1;
  }
  return fflush(out) == 0 ? 0 : -1;
}
