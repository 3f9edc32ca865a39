/* pg.h: a PostgreSQL store's connection (libpq): connecting with bounded timeouts, the schema
 * migrated forward, the runtime's statements prepared once per session, and reconnecting by
 * itself after the database went away. The store (store.h) owns it; the runtime reaches it
 * through store_pg_lua.c and the call's transaction through txn.c. */
#ifndef TG_PG_H
#define TG_PG_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct tg_pg_s tg_pg_t;

/* A statement waits at most this long for a row another gateway's turn has locked
 * (lock_timeout), and a call's store work on PostgreSQL may take at least this long in all
 * (budget.h): a wait for another gateway's commit is part of the work, not a runaway rule. */
enum { TG_PG_STORE_TIME_MS = 1000 };

/* What a parameter takes, as the server decided when preparing the statement. */
enum { TG_PG_PARAM_TEXT = 0, TG_PG_PARAM_BYTES = 1 /* bytea: sent in binary */, TG_PG_PARAM_INTEGER = 2 };

/* A statement as prepared on the server: its parameter count and what each takes. */
typedef struct tg_pg_stmt_s {
  struct tg_pg_stmt_s *next;
  char name[16];
  int nparams;
  unsigned generation; /* the session it was prepared in (tg_pg_t.generation) */
  unsigned char *param; /* nparams TG_PG_PARAM_... */
  size_t len;
  char sql[]; /* the runtime's own (SQLite) text, the cache's key */
} tg_pg_stmt_t;

/* Is path a PostgreSQL connection URI (postgresql:// or postgres://)? */
int tg_pg_is_uri(const char *path);
/* Connects to uri and brings the schema up to date. NULL with a message in err. */
tg_pg_t *tg_pg_open(const char *uri, char *err, size_t errcap);
void tg_pg_close(tg_pg_t *pg);

/* Whether the session is usable now. When it is lost, a new one is begun (at most once a
 * second) and carried forward without waiting each time this is asked; 1 once it is up. */
int tg_pg_available(tg_pg_t *pg);
/* Runs a statement without parameters; 0, or -1 (tg_pg_errmsg says why). */
int tg_pg_command(tg_pg_t *pg, const char *sql);
/* The statement for the runtime's SQL text, prepared in this session; NULL on an error. */
tg_pg_stmt_t *tg_pg_prepare(tg_pg_t *pg, const char *sql, size_t len);
/* Runs a prepared statement; the result (the caller PQclears it), NULL when the session broke. */
PGresult *tg_pg_execute(tg_pg_t *pg, tg_pg_stmt_t *stmt, const char *const *values, const int *lengths);
/* Notes a failed result's message and SQLSTATE for tg_pg_errmsg and tg_pg_failure. */
void tg_pg_note_error(tg_pg_t *pg, const PGresult *result);

/* A session's transaction is open and has not failed. */
int tg_pg_in_transaction(tg_pg_t *pg);
/* The session is gone (the server went away, or a connection never came up). */
int tg_pg_lost(tg_pg_t *pg);
const char *tg_pg_errmsg(tg_pg_t *pg);
/* The SQLSTATE of the last error ("" if none or the session broke). */
const char *tg_pg_sqlstate(tg_pg_t *pg);
/* Rows changed by statements since the store opened (db.changes). */
long long tg_pg_changes(tg_pg_t *pg);
void tg_pg_count_changes(tg_pg_t *pg, long long n);
/* The URI without its password, for logs and /status. */
void tg_pg_describe(const char *uri, char *out, size_t cap);

/* Where a connection stands, for /status and /metrics (any thread may read it). */
enum { TG_PG_UP = 0, TG_PG_DOWN = 1, TG_PG_RECONNECTING = 2 };
typedef struct tg_pg_stats_s {
  int state;           /* TG_PG_* */
  int backend_pid;     /* the server process serving the session (pg_stat_activity.pid); 0 if none */
  long long round_trips;
  double round_trip_seconds; /* spent waiting on the round trips, in all */
  long long reconnects;      /* sessions begun again after one was lost */
} tg_pg_stats_t;
/* A snapshot of pg's counters; any thread, without the store lock (they are atomics). */
void tg_pg_stats(tg_pg_t *pg, tg_pg_stats_t *out);
/* "up", "down" or "reconnecting". */
const char *tg_pg_state_name(int state);

int tg_pg_schema_version(void);
/* The session's connection, for tools that talk to it directly (migrate-store's COPY): out of
 * pipeline mode from then on. */
PGconn *tg_pg_conn(tg_pg_t *pg);

#endif
