/* txn.c: the call's transaction (see txn.h): turns are the store's transactions (SQLite's or
 * PostgreSQL's), calls savepoints. */
#include "txn.h"

#include <string.h>

#include "pg.h"

/* Runs one statement from the store's cache; returns 0 or a negative SQLite code (on
 * PostgreSQL: SQLITE_CANTOPEN when the database is out of reach, SQLITE_ERROR otherwise). */
static int run(tg_store_t *store, const char *sql) {
  tg_pg_t *pg = tg_store_pg(store);
  if (pg) {
    if (tg_pg_command(pg, strcmp(sql, "BEGIN IMMEDIATE") == 0 ? "BEGIN" : sql) == 0)
      return 0;
    return tg_pg_lost(pg) ? -SQLITE_CANTOPEN : -SQLITE_ERROR;
  }
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  if (!stmt)
    return -sqlite3_errcode(tg_store_db(store));
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? 0 : -rc;
}

/* Does SQLite still hold the turn's transaction? An I/O error or a full disk makes it roll the
 * whole transaction back by itself; every call of the turn then lost its changes. */
static int holds(tg_store_t *store) {
  tg_pg_t *pg = tg_store_pg(store);
  return pg ? tg_pg_in_transaction(pg) : !sqlite3_get_autocommit(tg_store_db(store));
}

/* Notices a turn SQLite ended by itself. A turn someone else opened stays lost until they end
 * it, so that its commit fails; a call's own turn is reported by that call's commit. */
static void notice_lost(tg_txn_t *t, tg_store_t *store) {
  if (t->turn && !holds(store)) {
    t->lost = !t->own_turn;
    t->turn = t->call = t->own_turn = 0;
  }
}

/* Statements a Lua error interrupted still run; a rollback must not wait for them. */
static void reset_running(tg_store_t *store) {
  sqlite3 *db = tg_store_db(store);
  if (!db) /* PostgreSQL runs one statement at a time, to its end */
    return;
  for (sqlite3_stmt *stmt = sqlite3_next_stmt(db, NULL); stmt; stmt = sqlite3_next_stmt(db, stmt))
    if (sqlite3_stmt_busy(stmt))
      sqlite3_reset(stmt);
}

int tg_txn_begin_turn(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  if (t->turn)
    return -SQLITE_MISUSE;
  if (tg_store_pg(store) && !tg_pg_available(tg_store_pg(store)))
    return -SQLITE_CANTOPEN;
  int rc = run(store, "BEGIN IMMEDIATE");
  if (rc == 0) {
    t->turn = 1;
    t->lost = 0;
  }
  return rc;
}

int tg_txn_commit_turn(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  tg_txn_abort_call(store); /* a call still open did not finish: its changes must not stay */
  notice_lost(t, store);
  int lost = t->lost, open = t->turn;
  t->turn = t->lost = 0;
  if (lost)
    return -SQLITE_ABORT;
  if (!open)
    return 0;
  int rc = run(store, "COMMIT");
  if (rc < 0 && holds(store)) {
    reset_running(store);
    run(store, "ROLLBACK");
  }
  return rc;
}

void tg_txn_abort_turn(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  memset(t, 0, sizeof *t);
  if (holds(store)) {
    reset_running(store);
    run(store, "ROLLBACK");
  }
}

int tg_txn_begin_call(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  notice_lost(t, store);
  if (t->call)
    return -SQLITE_MISUSE;
  if (t->lost)
    return -SQLITE_ABORT;
  int own = !t->turn;
  if (own) {
    int rc = tg_txn_begin_turn(store);
    if (rc < 0)
      return rc;
  }
  int rc = run(store, "SAVEPOINT call");
  if (rc < 0) {
    if (own)
      tg_txn_abort_turn(store);
    return rc;
  }
  t->call = 1;
  t->own_turn = (unsigned char)own;
  t->failed_statement = t->conflict = 0;
  return 0;
}

void tg_txn_statement_failed(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  if (!tg_store_pg(store) || !t->call || tg_pg_in_transaction(tg_store_pg(store)))
    return;
  const char *sqlstate = tg_pg_sqlstate(tg_store_pg(store));
  t->conflict = strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0;
  t->failed_statement = 1;
  run(store, "ROLLBACK TO call");
}

int tg_txn_commit_call(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  if (!t->call)
    return -SQLITE_MISUSE;
  int rc = t->failed_statement ? -SQLITE_ABORT : run(store, "RELEASE call");
  if (rc < 0) {
    tg_txn_abort_call(store);
    return rc;
  }
  t->call = 0;
  if (!t->own_turn)
    return 0;
  t->own_turn = 0;
  return tg_txn_commit_turn(store);
}

void tg_txn_abort_call(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  notice_lost(t, store);
  if (!t->call)
    return;
  t->call = 0;
  reset_running(store);
  if (run(store, "ROLLBACK TO call") == 0)
    run(store, "RELEASE call");
  if (t->own_turn) {
    t->own_turn = 0;
    tg_txn_abort_turn(store);
  }
}

int tg_txn_begin_read(tg_store_t *store) {
  tg_txn_t *t = tg_store_txn(store);
  if (t->turn)
    return -SQLITE_MISUSE;
  int rc = run(store, "BEGIN"); /* deferred: the snapshot is taken by the first read */
  if (rc == 0) {
    t->turn = 1;
    t->lost = 0;
  }
  return rc;
}
