/* store.h: the store, on one of two backends: the embedded SQLite file (schema, pragmas, cached
 * statements, here) or a PostgreSQL database shared by several gateways (pg.h), chosen by the
 * --store value. Its transactions have one owner, txn.h; the runtime reaches either through the
 * same `taskgate.db` module (store_lua.h). */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <sqlite3.h>
#include <stddef.h>

#include "store_health.h"

typedef struct tg_store_s tg_store_t;

enum { TG_SYNC_NORMAL = 0, TG_SYNC_FULL = 1 };

/* Opens (creating if needed) the store at path in WAL mode and brings its schema up to date; or,
 * for a postgresql:// URI, connects to that database and brings its schema up to date.
 * Returns the store, or NULL with a message in err. The caller owns it: tg_store_close. */
tg_store_t *tg_store_open(const char *path, int sync_mode, char *err, size_t errcap);
/* For the gateway that serves the store: from now on a commit that would write into a deleted
 * or replaced file is refused (store_health.h). Returns 0, or -1 with the reason in err. */
int tg_store_watch_files(tg_store_t *store, const char *path, char *err, size_t errcap);
/* Whether the store can take changes: its lock, its files, its last write (store_health.h). */
tg_store_health_t *tg_store_health(tg_store_t *store);
/* Writes one change and commits it, to learn whether the store takes writes again after a
 * failed commit. Returns 0 or a negative SQLite code (-SQLITE_BUSY while a turn is open). Call
 * with the store lock held. */
int tg_store_probe_write(tg_store_t *store);
/* Opens an existing store read-only, for tools such as `taskgate audit`. */
tg_store_t *tg_store_open_readonly(const char *path, char *err, size_t errcap);
/* Opens a read connection to the gateway's open store (WAL: it reads the last committed state
 * while another connection writes, and takes no store lock). A statement that would write fails
 * (SQLITE_READONLY). Its turns are read transactions (txn.h); its rules' statements are watched
 * like the writer's (tg_store_watch). NULL with a message in err. The caller owns it. */
tg_store_t *tg_store_open_reader(const char *path, char *err, size_t errcap);
/* 1 for a connection from tg_store_open_reader. */
int tg_store_is_reader(const tg_store_t *store);
/* Finalizes cached statements and closes the database. Rolls back an open transaction. */
void tg_store_close(tg_store_t *store);

/* Returns a prepared statement for sql, reset (its old bindings stay: callers bind every
 * parameter again). The store owns it; it is reused for the same text. NULL on an SQL error
 * (message via tg_store_errmsg), and always NULL on PostgreSQL. */
sqlite3_stmt *tg_store_prepare(tg_store_t *store, const char *sql, size_t len);
const char *tg_store_errmsg(tg_store_t *store);
/* With --workers several threads share the store: the connection, its statements and every Lua
 * state bound to it are used only while holding this (recursive) lock. */
void tg_store_lock(tg_store_t *store);
void tg_store_unlock(tg_store_t *store);
/* The SQLite connection; NULL on PostgreSQL (tg_store_pg). */
sqlite3 *tg_store_db(tg_store_t *store);
/* Rows changed through this store's connection since it opened (either backend). */
long long tg_store_total_changes(tg_store_t *store);
/* The PostgreSQL connection; NULL on SQLite. */
struct tg_pg_s *tg_store_pg(tg_store_t *store);
/* Whether the store answers now (/healthz); on PostgreSQL this also carries a reconnection
 * forward. Under the store lock. */
int tg_store_available(tg_store_t *store);

/* While a rule's statement runs, SQLite's progress handler may stop it (SQLITE_INTERRUPT): once
 * the call's store time is spent (budget.h), or past step_limit virtual-machine steps (0: no
 * limit). Only a read-only statement is ever stopped: interrupting a write inside a transaction
 * would roll back the whole transaction, every call of the batch with it; a write runs to its
 * end, and the budget is checked before the next. watch marks stmt as the one running;
 * unwatch ends that and returns why it was stopped, if it was. */
enum { TG_STORE_RAN = 0, TG_STORE_OVER_TIME = 1, TG_STORE_OVER_STEPS = 2 };
void tg_store_watch(tg_store_t *store, sqlite3_stmt *stmt, long long step_limit);
int tg_store_unwatch(tg_store_t *store);

/* The schema version this taskgate writes (PRAGMA user_version after its migrations). */
int tg_store_schema_version(void);
/* Where the connection's transactions stand, kept here for their one owner (txn.h). */
struct tg_txn_s *tg_store_txn(tg_store_t *store);

#endif
