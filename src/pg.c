/* pg.c: a PostgreSQL store's connection (see pg.h). */
#include "pg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pg_schema.h"
#include "pg_sql.h"

#define CACHE_SLOTS 128
enum { BYTEA_OID = 17, INT8_OID = 20, INT2_OID = 21, INT4_OID = 23 };
/* Whatever the URI leaves unset: a connection attempt, and a request the server stopped
 * acknowledging (a host gone, a network cut), give up after a few seconds instead of the
 * kernel's minutes, so that calls fault within a bounded time (docs/ha.md). */
#define CONNECT_TIMEOUT_S "3"
#define TCP_USER_TIMEOUT_MS "3000"
/* A statement that waits longer than TG_PG_STORE_TIME_MS on another gateway's row lock, or
 * runs longer than 5 s in all, fails its call rather than holding this gateway's turn. */
#define SESSION_SETTINGS "SET lock_timeout = 1000; SET statement_timeout = 5000"
#define RECONNECT_EVERY_S 1.0

struct tg_pg_s {
  PGconn *conn;
  /* In pipeline mode (once the schema is migrated): commands whose outcome nothing waits for
   * (SAVEPOINT, RELEASE) are sent and their results read with the next statement's, in
   * its round trip. `deferred` counts them; `in_transaction` is the state they leave, which the
   * server has not confirmed yet. */
  int pipelined;
  int deferred;
  int in_transaction;
  char *uri;
  tg_pg_stmt_t *cache[CACHE_SLOTS];
  unsigned generation; /* the session's number: statements prepared in an older one are gone */
  unsigned prepared;   /* names handed out in this session */
  int resetting;       /* a new session is being set up (PQresetStart) */
  double last_attempt;
  long long changes;
  /* What tg_pg_stats shows: written by the thread that owns the connection, read by any. */
  int state; /* TG_PG_* */
  int backend_pid;
  long long round_trips, round_trip_us, reconnects;
  char sqlstate[6];
  char errmsg[512];
};

int tg_pg_is_uri(const char *path) {
  return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

/* Keeps the message on one line (libpq's span several, indented with tabs): it goes into log
 * lines and audit records. */
static void note(tg_pg_t *pg, const char *message, const char *sqlstate) {
  const char *from = message && *message ? message : "the database did not answer";
  size_t n = 0;
  for (; *from && n + 1 < sizeof pg->errmsg; from++) {
    int space = *from == '\n' || *from == '\t' || *from == '\r';
    if (!space)
      pg->errmsg[n++] = *from;
    else if (n && pg->errmsg[n - 1] != ' ')
      pg->errmsg[n++] = ' ';
  }
  while (n && pg->errmsg[n - 1] == ' ')
    n--;
  pg->errmsg[n] = '\0';
  snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", sqlstate ? sqlstate : "");
}

void tg_pg_note_error(tg_pg_t *pg, const PGresult *result) {
  const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  note(pg, message ? message : PQerrorMessage(pg->conn), result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL);
}

/* Outside pipeline mode (migrating, setting a session up): one statement, waited for. */
static int command_now(tg_pg_t *pg, const char *sql) {
  PGresult *result = PQexec(pg->conn, sql);
  ExecStatusType status = PQresultStatus(result);
  int ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  if (!ok)
    tg_pg_note_error(pg, result);
  PQclear(result);
  return ok ? 0 : -1;
}

/* Publishes where the session stands now, for /status (tg_pg_stats). */
static void track(tg_pg_t *pg) {
  int state = pg->resetting ? TG_PG_RECONNECTING : PQstatus(pg->conn) == CONNECTION_OK ? TG_PG_UP : TG_PG_DOWN;
  __atomic_store_n(&pg->state, state, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->backend_pid, state == TG_PG_UP ? PQbackendPID(pg->conn) : 0, __ATOMIC_RELAXED);
}

/* The connection broke mid-exchange: nothing sent is coming back. */
static void broke(tg_pg_t *pg) {
  note(pg, PQerrorMessage(pg->conn), "08006");
  pg->deferred = 0;
  pg->in_transaction = 0;
  track(pg);
}

/* Ends what was sent with a sync and reads every result up to it: the deferred commands' (the
 * first failure among them is noted), then the last query's when `last` (returned; NULL when
 * the connection broke). The transaction's state is then the server's. */
static PGresult *read_to_sync(tg_pg_t *pg, int last) {
  PGconn *conn = pg->conn;
  PGresult *wanted = NULL;
  int failed = 0;
  if (!PQpipelineSync(conn))
    return broke(pg), NULL;
  for (int i = 0, n = pg->deferred + (last ? 1 : 0); i < n; i++) {
    PGresult *result = PQgetResult(conn);
    if (!result)
      return broke(pg), NULL;
    ExecStatusType status = PQresultStatus(result);
    int ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok && status != PGRES_PIPELINE_ABORTED && !failed++)
      tg_pg_note_error(pg, result); /* the first failure says why; those after it were skipped */
    if (last && i == n - 1)
      wanted = result;
    else
      PQclear(result);
    while ((result = PQgetResult(conn))) /* each query's results end with a NULL */
      PQclear(result);
  }
  pg->deferred = 0;
  PGresult *sync = PQgetResult(conn);
  int synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced) {
    PQclear(wanted);
    return broke(pg), NULL;
  }
  pg->in_transaction = PQtransactionStatus(conn) == PQTRANS_INTRANS;
  if (failed && wanted && PQresultStatus(wanted) == PGRES_PIPELINE_ABORTED)
    return wanted; /* its failure is the deferred command's, already noted */
  if (wanted && PQresultStatus(wanted) != PGRES_COMMAND_OK && PQresultStatus(wanted) != PGRES_TUPLES_OK)
    tg_pg_note_error(pg, wanted);
  return wanted;
}

/* One round trip, timed for /metrics and this connection's line in /status. */
static PGresult *sync_and_read(tg_pg_t *pg, int last) {
  double started = tg_monotonic_seconds();
  PGresult *result = read_to_sync(pg, last);
  double took = tg_monotonic_seconds() - started;
  tg_metrics_observe(TG_HIST_STORE_ROUND_TRIP, took);
  __atomic_add_fetch(&pg->round_trips, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&pg->round_trip_us, (long long)(took * 1e6), __ATOMIC_RELAXED);
  return result;
}

/* SAVEPOINT and RELEASE leave the transaction open and usable when they succeed, and when one
 * fails the statement after it (or the turn's COMMIT) fails too: nothing needs to wait for their
 * results. BEGIN is waited for, once a turn: a database out of reach is then known before any
 * call runs, and each call faults 1934 on its own instead of the whole turn being dropped. */
static int deferrable(const char *sql) { return strncmp(sql, "SAVEPOINT ", 10) == 0 || strncmp(sql, "RELEASE ", 8) == 0; }

int tg_pg_command(tg_pg_t *pg, const char *sql) {
  if (!pg->pipelined)
    return command_now(pg, sql);
  if (!PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
    return broke(pg), -1;
  if (deferrable(sql)) {
    pg->deferred++;
    pg->in_transaction = 1;
    return 0;
  }
  PGresult *result = sync_and_read(pg, 1);
  int ok = result && (PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK);
  /* COMMIT of a transaction that failed is answered ROLLBACK, without an error */
  if (ok && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(result), "COMMIT") != 0) {
    note(pg, "the transaction had failed and was rolled back", "25P02");
    ok = 0;
  }
  PQclear(result);
  return ok ? 0 : -1;
}

static int migrate(tg_pg_t *pg, char *err, size_t errcap) {
  /* Gateways starting together take turns: the first migrates, the others find it done. */
  if (command_now(pg, "BEGIN") < 0 || command_now(pg, "SELECT pg_advisory_xact_lock(7233, 1)") < 0 ||
      command_now(pg, "CREATE TABLE IF NOT EXISTS taskgate_schema (version integer NOT NULL)") < 0)
    goto fail;
  PGresult *result = PQexec(pg->conn, "SELECT version FROM taskgate_schema");
  int version = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) ? atoi(PQgetvalue(result, 0, 0)) : 0;
  int known = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0;
  PQclear(result);
  if (version > tg_pg_migration_count) {
    snprintf(err, errcap, "store schema version %d is newer than this taskgate (%d)", version, tg_pg_migration_count);
    command_now(pg, "ROLLBACK");
    return -1;
  }
  for (; version < tg_pg_migration_count; version++)
    if (command_now(pg, tg_pg_migrations[version]) < 0)
      goto fail;
  char bump[96];
  snprintf(bump, sizeof bump, known ? "UPDATE taskgate_schema SET version = %d" : "INSERT INTO taskgate_schema VALUES (%d)",
           version);
  if (command_now(pg, bump) < 0 || command_now(pg, "COMMIT") < 0)
    goto fail;
  return 0;
fail:
  snprintf(err, errcap, "schema: %s", pg->errmsg);
  command_now(pg, "ROLLBACK");
  return -1;
}

/* The server's notices (a table that already exists, ...) are no news for the log. */
static void ignore_notice(void *arg, const char *message) {}

static PGconn *connect_to(const char *uri) {
  const char *keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "application_name", "dbname", NULL};
  const char *values[] = {CONNECT_TIMEOUT_S, TCP_USER_TIMEOUT_MS, "5", "1", "3", "taskgate", uri, NULL};
  PGconn *conn = PQconnectdbParams(keys, values, 1); /* the URI's own settings override the ones before it */
  PQsetNoticeProcessor(conn, ignore_notice, NULL);
  return conn;
}

/* A new session: its settings, and every statement to be prepared again. */
static int session_began(tg_pg_t *pg) {
  pg->generation++;
  pg->prepared = 0;
  pg->pipelined = pg->deferred = pg->in_transaction = 0;
  return command_now(pg, SESSION_SETTINGS);
}

/* From here on statements go in pipeline mode (see struct tg_pg_s). */
static int pipeline(tg_pg_t *pg) {
  if (!PQenterPipelineMode(pg->conn))
    return note(pg, PQerrorMessage(pg->conn), NULL), -1;
  pg->pipelined = 1;
  return 0;
}

tg_pg_t *tg_pg_open(const char *uri, char *err, size_t errcap) {
  tg_pg_t *pg = calloc(1, sizeof *pg);
  if (!pg || !(pg->uri = strdup(uri))) {
    free(pg);
    return snprintf(err, errcap, "out of memory"), NULL;
  }
  pg->conn = connect_to(uri);
  if (PQstatus(pg->conn) != CONNECTION_OK) {
    note(pg, PQerrorMessage(pg->conn), NULL);
    snprintf(err, errcap, "%s", pg->errmsg);
  } else if (session_began(pg) == 0 && migrate(pg, err, errcap) == 0 && pipeline(pg) == 0) {
    track(pg);
    return pg;
  } else if (!*err) {
    snprintf(err, errcap, "%s", pg->errmsg);
  }
  tg_pg_close(pg);
  return NULL;
}

void tg_pg_close(tg_pg_t *pg) {
  if (!pg)
    return;
  for (int i = 0; i < CACHE_SLOTS; i++)
    for (tg_pg_stmt_t *stmt = pg->cache[i], *next; stmt; stmt = next) {
      next = stmt->next;
      free(stmt->param);
      free(stmt);
    }
  PQfinish(pg->conn);
  free(pg->uri);
  free(pg);
}

int tg_pg_lost(tg_pg_t *pg) {
  int lost = PQstatus(pg->conn) != CONNECTION_OK || pg->resetting;
  if (lost)
    track(pg);
  return lost;
}

int tg_pg_available(tg_pg_t *pg) {
  if (!tg_pg_lost(pg))
    return 1;
  if (!pg->resetting) {
    double now = tg_monotonic_seconds();
    if (now - pg->last_attempt < RECONNECT_EVERY_S)
      return 0;
    pg->last_attempt = now;
    if (!PQresetStart(pg->conn))
      return note(pg, PQerrorMessage(pg->conn), NULL), track(pg), 0;
    pg->resetting = 1;
  }
  PostgresPollingStatusType polled = PQresetPoll(pg->conn);
  if (polled == PGRES_POLLING_FAILED) {
    pg->resetting = 0;
    note(pg, PQerrorMessage(pg->conn), NULL);
    track(pg);
    return 0;
  }
  if (polled != PGRES_POLLING_OK)
    return track(pg), 0;
  pg->resetting = 0;
  int ready = session_began(pg) == 0 && pipeline(pg) == 0;
  track(pg);
  if (!ready)
    return 0;
  __atomic_add_fetch(&pg->reconnects, 1, __ATOMIC_RELAXED);
  tg_log(TG_LOG_INFO, "store_reconnected", "backend=postgresql backend_pid=%d", PQbackendPID(pg->conn));
  return 1;
}

static unsigned hash(const char *s, size_t len) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Prepares stmt's text in this session and learns which parameters take bytes. */
static int prepare_in_session(tg_pg_t *pg, tg_pg_stmt_t *stmt) {
  int nparams;
  char *text = tg_pg_sql_translate(stmt->sql, stmt->len, &nparams);
  if (!text)
    return note(pg, "out of memory", NULL), -1;
  snprintf(stmt->name, sizeof stmt->name, "s%u", ++pg->prepared);
  /* prepared and described in one round trip */
  int sent = PQsendPrepare(pg->conn, stmt->name, text, 0, NULL) && PQsendDescribePrepared(pg->conn, stmt->name);
  free(text);
  if (!sent)
    return broke(pg), -1;
  pg->deferred++; /* the preparation's result is read as a deferred command's: its failure noted */
  PGresult *result = sync_and_read(pg, 1);
  int ok = result && PQresultStatus(result) == PGRES_COMMAND_OK;
  if (ok) {
    stmt->nparams = PQnparams(result);
    free(stmt->param);
    stmt->param = calloc((size_t)stmt->nparams + 1, 1);
    for (int i = 0; stmt->param && i < stmt->nparams; i++) {
      Oid type = PQparamtype(result, i);
      stmt->param[i] = type == BYTEA_OID                                   ? TG_PG_PARAM_BYTES
                       : type == INT8_OID || type == INT4_OID || type == INT2_OID ? TG_PG_PARAM_INTEGER
                                                                           : TG_PG_PARAM_TEXT;
    }
    ok = stmt->param != NULL;
  }
  PQclear(result);
  if (ok)
    stmt->generation = pg->generation;
  return ok ? 0 : -1;
}

tg_pg_stmt_t *tg_pg_prepare(tg_pg_t *pg, const char *sql, size_t len) {
  unsigned slot = hash(sql, len) % CACHE_SLOTS;
  tg_pg_stmt_t *stmt = pg->cache[slot];
  while (stmt && !(stmt->len == len && memcmp(stmt->sql, sql, len) == 0))
    stmt = stmt->next;
  if (!stmt) {
    if (!(stmt = calloc(1, sizeof *stmt + len + 1)))
      return note(pg, "out of memory", NULL), NULL;
    memcpy(stmt->sql, sql, len);
    stmt->len = len;
    stmt->next = pg->cache[slot];
    pg->cache[slot] = stmt;
  } else if (stmt->generation == pg->generation && stmt->param) {
    return stmt;
  }
  return prepare_in_session(pg, stmt) == 0 ? stmt : NULL;
}

PGresult *tg_pg_execute(tg_pg_t *pg, tg_pg_stmt_t *stmt, const char *const *values, const int *lengths) {
  int formats[stmt->nparams + 1];
  for (int i = 0; i < stmt->nparams; i++)
    formats[i] = stmt->param[i] == TG_PG_PARAM_BYTES;
  if (!PQsendQueryPrepared(pg->conn, stmt->name, stmt->nparams, values, lengths, formats, 0))
    return broke(pg), NULL;
  return sync_and_read(pg, 1); /* the deferred commands before it go in the same round trip */
}

int tg_pg_in_transaction(tg_pg_t *pg) {
  return pg->pipelined ? pg->in_transaction : PQtransactionStatus(pg->conn) == PQTRANS_INTRANS;
}

const char *tg_pg_errmsg(tg_pg_t *pg) { return pg->errmsg; }

const char *tg_pg_sqlstate(tg_pg_t *pg) { return pg->sqlstate; }

long long tg_pg_changes(tg_pg_t *pg) { return pg->changes; }

void tg_pg_count_changes(tg_pg_t *pg, long long n) { pg->changes += n; }

void tg_pg_describe(const char *uri, char *out, size_t cap) {
  /* postgresql://user:password@host/...: the password (between ':' and '@' of the authority) goes */
  const char *authority = strstr(uri, "://");
  const char *at = authority ? strchr(authority + 3, '@') : NULL;
  const char *slash = authority ? strchr(authority + 3, '/') : NULL;
  const char *colon = authority ? memchr(authority + 3, ':', at ? (size_t)(at - authority - 3) : 0) : NULL;
  if (!at || (slash && slash < at) || !colon)
    snprintf(out, cap, "%s", uri);
  else
    snprintf(out, cap, "%.*s:***%s", (int)(colon - uri), uri, at);
}

void tg_pg_stats(tg_pg_t *pg, tg_pg_stats_t *out) {
  out->state = __atomic_load_n(&pg->state, __ATOMIC_RELAXED);
  out->backend_pid = __atomic_load_n(&pg->backend_pid, __ATOMIC_RELAXED);
  out->round_trips = __atomic_load_n(&pg->round_trips, __ATOMIC_RELAXED);
  out->round_trip_seconds = (double)__atomic_load_n(&pg->round_trip_us, __ATOMIC_RELAXED) / 1e6;
  out->reconnects = __atomic_load_n(&pg->reconnects, __ATOMIC_RELAXED);
}

const char *tg_pg_state_name(int state) {
  return state == TG_PG_UP ? "up" : state == TG_PG_RECONNECTING ? "reconnecting" : "down";
}

int tg_pg_schema_version(void) { return tg_pg_migration_count; }

PGconn *tg_pg_conn(tg_pg_t *pg) {
  if (pg->pipelined && PQexitPipelineMode(pg->conn))
    pg->pipelined = 0;
  return pg->conn;
}
