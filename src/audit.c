/* audit.c: `taskgate audit`: the audit trail as JSON lines. */
#include "audit.h"

#include <string.h>

static void json_string(FILE *out, const unsigned char *s) {
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
}

int tg_audit_print(tg_store_t *store, FILE *out) {
  static const char sql[] =
      "SELECT audit_id, time, client, method, params, outcome, request_id FROM audit ORDER BY audit_id";
  /* A store no gateway of schema 7 has opened yet has no request ids. */
  static const char before_schema_7[] =
      "SELECT audit_id, time, client, method, params, outcome, NULL FROM audit ORDER BY audit_id";
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  if (!stmt)
    stmt = tg_store_prepare(store, before_schema_7, strlen(before_schema_7));
  if (!stmt) {
    fprintf(stderr, "taskgate: audit: %s\n", tg_store_errmsg(store));
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    fprintf(out, "{\"id\":%lld,\"time\":", (long long)sqlite3_column_int64(stmt, 0));
    json_string(out, sqlite3_column_text(stmt, 1));
    fputs(",\"client\":", out);
    json_string(out, sqlite3_column_text(stmt, 2));
    fputs(",\"method\":", out);
    json_string(out, sqlite3_column_text(stmt, 3));
    /* params were stored as JSON by the runtime and are written through unchanged */
    fprintf(out, ",\"params\":%s,\"outcome\":", (const char *)sqlite3_column_text(stmt, 4));
    json_string(out, sqlite3_column_text(stmt, 5));
    fputs(",\"request_id\":", out);
    if (sqlite3_column_type(stmt, 6) == SQLITE_NULL)
      fputs("null", out);
    else
      json_string(out, sqlite3_column_text(stmt, 6));
    fputs("}\n", out);
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "taskgate: audit: %s\n", tg_store_errmsg(store));
    return -1;
  }
  return fflush(out) == 0 ? 0 : -1;
}
