/* store.c: the embedded SQLite store (WAL), its schema and its statement cache. */
#include "store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "pg.h"
#include "txn.h"

#define CACHE_SLOTS 128  /* distinct SQL texts the runtime uses; chains handle more */
#define ADDRESS_SETS 128 /* recently seen text addresses: most SQL is a constant string */
#define ADDRESS_WAYS 2   /* addresses kept per set, so two texts a call uses may share one */

typedef struct cached_stmt_s {
  struct cached_stmt_s *next;
  sqlite3_stmt *stmt;
  size_t len;
  char sql[];
} cached_stmt_t;

struct tg_store_s {
  sqlite3 *db;  /* the SQLite backend; NULL for PostgreSQL */
  tg_pg_t *pg;  /* the PostgreSQL backend (pg.h); NULL for SQLite */
  cached_stmt_t *cache[CACHE_SLOTS];
  /* The entry last found for a text at this address, to skip hashing the text. Only a hint:
   * the text is still compared, since another string may later live at the same address. Two
   * ways per set: with one, two of a call's texts whose addresses met in a slot (one run in
   * two, by where the allocator put them) pushed each other out on every call, and each was
   * hashed again (up to 1.4k instructions a cancel_task). */
  struct {
    const char *sql;
    cached_stmt_t *entry;
  } by_address[ADDRESS_SETS][ADDRESS_WAYS];
  /* Workers share the connection: whoever uses it (or a Lua state bound to it) holds this.
   * Recursive, because the holder's own reloads and status pages use the store too. */
  pthread_mutex_t lock;
  /* the rule's read-only statement running now, which the progress handler may stop */
  sqlite3_stmt *watched;
  long long step_limit;
  long long steps; /* of the watched statement's run so far, counted PROGRESS_EVERY at a time */
  int stopped;
  tg_txn_t txn; /* where the connection's transactions stand, for their owner (txn.c) */
  tg_store_health_t health;
  int reader; /* a read connection (tg_store_open_reader) */
};

/* SQLite's clock in seconds since the epoch, with the fraction. */
#define NOW_EPOCH "((julianday('now') - 2440587.5) * 86400.0)"

/* Each entry moves the schema from version i to i+1; never edit an entry once released. */
static const char *const migrations[] = {
    "CREATE TABLE taskgroup ("
    "  taskgroup_id INTEGER PRIMARY KEY,"
    "  shipment INTEGER,"
    "  category INTEGER NOT NULL,"
    "  req_time TEXT NOT NULL,"
    "  req_epoch INTEGER NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  start_time TEXT,"
    "  start_epoch INTEGER,"
    "  suspended INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE task ("
    "  task_id INTEGER PRIMARY KEY,"
    "  taskgroup_id INTEGER NOT NULL REFERENCES taskgroup(taskgroup_id),"
    "  bin_id INTEGER NOT NULL,"
    "  item TEXT,"
    "  \"order\" TEXT,"
    "  estpicktime INTEGER,"
    "  port_id INTEGER);"
    "CREATE INDEX task_by_taskgroup ON task(taskgroup_id);"
    "CREATE TABLE audit ("
    "  audit_id INTEGER PRIMARY KEY,"
    "  time TEXT NOT NULL,"
    "  client TEXT,"
    "  method TEXT NOT NULL,"
    "  params TEXT NOT NULL,"
    "  outcome TEXT NOT NULL);",

    /* 2: ports, the categories they select, and fast selection order. */
    "CREATE TABLE port ("
    "  port_id INTEGER PRIMARY KEY,"
    "  port_mode TEXT NOT NULL,"
    "  task_id INTEGER,"
    "  bin_id INTEGER);"
    "CREATE TABLE port_category ("
    "  port_id INTEGER NOT NULL,"
    "  category INTEGER NOT NULL,"
    "  PRIMARY KEY (port_id, category));"
    "CREATE INDEX taskgroup_by_turn ON taskgroup(req_epoch, priority, taskgroup_id);"
    "CREATE INDEX task_by_port ON task(port_id) WHERE port_id IS NOT NULL;"
    "CREATE INDEX task_by_bin ON task(bin_id);",

    /* 3: a group with no tasks left is finished and leaves the store, however its last task
     * went; in the schema, so that removing a task is one statement. */
    "CREATE TRIGGER taskgroup_finished AFTER DELETE ON task"
    "  WHEN NOT EXISTS (SELECT 1 FROM task WHERE taskgroup_id = OLD.taskgroup_id)"
    "  BEGIN DELETE FROM taskgroup WHERE taskgroup_id = OLD.taskgroup_id; END;",

    /* 4: a task belongs to an existing group, kept by triggers on the statements that could
     * break it (adding a task, moving it, renumbering its group) rather than by foreign-key
     * enforcement, which weighs on every task removed (a fifth of a cancel's cost). A group
     * leaves only once empty (taskgroup_finished, or store.cancel_taskgroup removing its tasks
     * first); a trigger guarding that too would cost every cancel as much again. The
     * REFERENCES clause stays as documentation. */
    "CREATE TRIGGER task_needs_group BEFORE INSERT ON task"
    "  WHEN NOT EXISTS (SELECT 1 FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id)"
    "  BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;"
    "CREATE TRIGGER task_stays_in_a_group BEFORE UPDATE OF taskgroup_id ON task"
    "  WHEN NOT EXISTS (SELECT 1 FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id)"
    "  BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;"
    "CREATE TRIGGER taskgroup_keeps_its_id BEFORE UPDATE OF taskgroup_id ON taskgroup"
    "  WHEN EXISTS (SELECT 1 FROM task WHERE taskgroup_id = OLD.taskgroup_id)"
    "  BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;",

    /* 5: the bin model of the bin interface: bins inserted or that have been at a port, their
     * documented mode (GRID, PORT, OPEN, CLOSED, TOGRID, OUTSIDE...), port and content code. A
     * bin only tasks name is in the grid and needs no row. */
    "CREATE TABLE bin ("
    "  bin_id INTEGER PRIMARY KEY,"
    "  bin_mode TEXT NOT NULL DEFAULT 'GRID',"
    "  port_id INTEGER,"
    "  content INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX bin_by_port ON bin(port_id) WHERE port_id IS NOT NULL;",

    /* 6: selection at any store size (docs/architecture.md, "Selection"). A group keeps in its
     * row the port that has one of its tasks open (selected_by, kept by the trigger below
     * whatever statement sets a task's port_id; a selected task leaves the store only once
     * released, as closebin does: a trigger on every delete costs each cancel_task too much,
     * docs/architecture.md, "Selection")
     * and whether its start_time still lay ahead when last looked at (waits: openbin promotes
     * the groups that have come due). The groups a port may
     * pick are then exactly the entries of two partial indexes, in picking order: per
     * category and across categories, each ending in start_epoch so that the time check needs
     * no table row. The old order index gives way to them; gettaskinfo's filters get theirs. */
    "ALTER TABLE taskgroup ADD COLUMN selected_by INTEGER;"
    "ALTER TABLE taskgroup ADD COLUMN waits INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX task_selected ON task(taskgroup_id, port_id) WHERE port_id IS NOT NULL;"
    "UPDATE taskgroup SET selected_by = (SELECT port_id FROM task"
    "  WHERE task.taskgroup_id = taskgroup.taskgroup_id AND port_id IS NOT NULL LIMIT 1)"
    "  WHERE taskgroup_id IN (SELECT taskgroup_id FROM task WHERE port_id IS NOT NULL);"
    "UPDATE taskgroup SET waits = 1 WHERE start_epoch > CAST(strftime('%s', 'now') AS INTEGER);"
    "DROP INDEX taskgroup_by_turn;"
    "CREATE INDEX taskgroup_ready ON taskgroup(category, req_epoch, priority, taskgroup_id, start_epoch)"
    "  WHERE suspended = 0 AND selected_by IS NULL AND waits = 0;"
    "CREATE INDEX taskgroup_ready_any ON taskgroup(req_epoch, priority, taskgroup_id, start_epoch)"
    "  WHERE suspended = 0 AND selected_by IS NULL AND waits = 0;"
    "CREATE INDEX taskgroup_waiting ON taskgroup(start_epoch) WHERE waits = 1;"
    "CREATE INDEX taskgroup_by_category ON taskgroup(category);"
    "CREATE INDEX taskgroup_by_suspended ON taskgroup(suspended);"
    "CREATE INDEX taskgroup_by_shipment ON taskgroup(shipment) WHERE shipment IS NOT NULL;"
    "CREATE TRIGGER taskgroup_selected AFTER UPDATE OF port_id, taskgroup_id ON task"
    "  WHEN OLD.port_id IS NOT NEW.port_id OR (OLD.taskgroup_id IS NOT NEW.taskgroup_id AND NEW.port_id IS NOT NULL)"
    "  BEGIN"
    "  UPDATE taskgroup SET selected_by = (SELECT port_id FROM task"
    "    WHERE taskgroup_id = OLD.taskgroup_id AND port_id IS NOT NULL LIMIT 1)"
    "    WHERE taskgroup_id = OLD.taskgroup_id AND OLD.taskgroup_id IS NOT NEW.taskgroup_id;"
    "  UPDATE taskgroup SET selected_by = (SELECT port_id FROM task"
    "    WHERE taskgroup_id = NEW.taskgroup_id AND port_id IS NOT NULL LIMIT 1) WHERE taskgroup_id = NEW.taskgroup_id;"
    "  END;",

    /* 7: each audit record names the request it came from (the client's X-Request-Id, or the
     * gateway's own id), the id that travels upstream and is in the log lines. */
    "ALTER TABLE audit ADD COLUMN request_id TEXT;",

    /* 8: what /metrics shows of the floor without counting rows: groups and tasks per category,
     * kept by triggers in the transaction that changes them (a task's count moves before it is
     * deleted, while its group, which may leave with it, still names the category), and the
     * time each port opened. */
    "CREATE TABLE category_counts ("
    "  category INTEGER PRIMARY KEY,"
    "  taskgroups INTEGER NOT NULL DEFAULT 0,"
    "  tasks INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO category_counts (category, taskgroups, tasks)"
    "  SELECT g.category, count(*), (SELECT count(*) FROM task t JOIN taskgroup h ON h.taskgroup_id = t.taskgroup_id"
    "    WHERE h.category = g.category) FROM taskgroup g GROUP BY g.category;"
    "CREATE TRIGGER taskgroup_counted_by_category AFTER INSERT ON taskgroup BEGIN"
    "  INSERT INTO category_counts (category, taskgroups) VALUES (NEW.category, 1)"
    "    ON CONFLICT (category) DO UPDATE SET taskgroups = taskgroups + 1; END;"
    "CREATE TRIGGER taskgroup_uncounted_by_category AFTER DELETE ON taskgroup BEGIN"
    "  UPDATE category_counts SET taskgroups = taskgroups - 1 WHERE category = OLD.category; END;"
    "CREATE TRIGGER taskgroup_recategorized AFTER UPDATE OF category ON taskgroup"
    "  WHEN OLD.category IS NOT NEW.category BEGIN"
    "  UPDATE category_counts SET taskgroups = taskgroups - 1,"
    "    tasks = tasks - (SELECT count(*) FROM task WHERE taskgroup_id = NEW.taskgroup_id) WHERE category = "
    "OLD.category;"
    "  INSERT INTO category_counts (category, taskgroups, tasks)"
    "    VALUES (NEW.category, 1, (SELECT count(*) FROM task WHERE taskgroup_id = NEW.taskgroup_id))"
    "    ON CONFLICT (category) DO UPDATE SET taskgroups = taskgroups + 1, tasks = tasks + excluded.tasks; END;"
    "CREATE TRIGGER task_counted_by_category AFTER INSERT ON task BEGIN"
    "  UPDATE category_counts SET tasks = tasks + 1"
    "    WHERE category = (SELECT category FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id); END;"
    "CREATE TRIGGER task_uncounted_by_category BEFORE DELETE ON task BEGIN"
    "  UPDATE category_counts SET tasks = tasks - 1"
    "    WHERE category = (SELECT category FROM taskgroup WHERE taskgroup_id = OLD.taskgroup_id); END;"
    "CREATE TRIGGER task_regrouped AFTER UPDATE OF taskgroup_id ON task"
    "  WHEN OLD.taskgroup_id IS NOT NEW.taskgroup_id BEGIN"
    "  UPDATE category_counts SET tasks = tasks - 1"
    "    WHERE category = (SELECT category FROM taskgroup WHERE taskgroup_id = OLD.taskgroup_id);"
    "  UPDATE category_counts SET tasks = tasks + 1"
    "    WHERE category = (SELECT category FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id); END;"
    "ALTER TABLE port ADD COLUMN opened_epoch INTEGER;"
    "UPDATE port SET opened_epoch = CAST(strftime('%s', 'now') AS INTEGER);"
    "CREATE TRIGGER port_opened AFTER INSERT ON port BEGIN"
    "  UPDATE port SET opened_epoch = CAST(strftime('%s', 'now') AS INTEGER) WHERE port_id = NEW.port_id; END;",

    /* 9: the outbox (src/outbox.c): messages a rule queued in its call's transaction, each
     * target's in message_id order, until the target acknowledges them (then the row goes) or
     * they are past the dead-letter time (state 'dead'). uuid is the X-Message-Id receivers
     * deduplicate on; times are epoch seconds. */
    "CREATE TABLE outbox ("
    "  message_id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  target TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  request_id TEXT,"
    "  created REAL NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt REAL NOT NULL DEFAULT 0,"
    "  last_attempt REAL,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_by_target ON outbox(target, state, message_id);",

    /* 10: what else a port selects (documented Port properties): bin content codes instead of
     * categories (port_content) and a req_time limit (req_epoch); the bin interface's port
     * queue, in order; bins a content code asks for, found by index (grid bins only); a
     * shipment's groups in picking order (openbin by shipment). */
    "ALTER TABLE port ADD COLUMN req_epoch INTEGER;"
    "CREATE TABLE port_content ("
    "  port_id INTEGER NOT NULL,"
    "  content INTEGER NOT NULL,"
    "  PRIMARY KEY (port_id, content));"
    "CREATE TABLE port_queue ("
    "  port_id INTEGER NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  bin_id INTEGER NOT NULL,"
    "  PRIMARY KEY (port_id, position));"
    "CREATE INDEX bin_by_content ON bin(content, bin_id)"
    "  WHERE port_id IS NULL AND bin_mode IN ('GRID', 'PREPARED');"
    "CREATE INDEX taskgroup_shipment_turn ON taskgroup(shipment, req_epoch, priority, taskgroup_id)"
    "  WHERE shipment IS NOT NULL;",

    /* 11: what /healthz writes to learn whether a store that failed a commit takes writes again. */
    ("CREATE TABLE write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);"
     "INSERT INTO write_probe VALUES (1, 0);"),

    /* 12: every port ever opened, for the console's ports view: its last mode, when it opened
     * and closed (epoch seconds) and since when its bin has been open. Kept by triggers on the
     * port table, whatever statement changes it; a closed port keeps its row. */
    "CREATE TABLE IF NOT EXISTS port_seen ("
    "  port_id INTEGER PRIMARY KEY,"
    "  port_mode TEXT,"
    "  opened REAL,"
    "  closed REAL,"
    "  bin_opened REAL);"
    "INSERT OR IGNORE INTO port_seen (port_id, port_mode, opened, bin_opened)"
    "  SELECT port_id, port_mode, " NOW_EPOCH ", CASE WHEN bin_id IS NULL THEN NULL ELSE " NOW_EPOCH " END FROM port;"
    "CREATE TRIGGER IF NOT EXISTS port_seen_opened AFTER INSERT ON port BEGIN"
    "  INSERT INTO port_seen (port_id, port_mode, opened) VALUES (NEW.port_id, NEW.port_mode, " NOW_EPOCH ")"
    "    ON CONFLICT (port_id) DO UPDATE SET port_mode = excluded.port_mode, opened = excluded.opened,"
    "    closed = NULL, bin_opened = NULL; END;"
    "CREATE TRIGGER IF NOT EXISTS port_seen_mode AFTER UPDATE OF port_mode ON port BEGIN"
    "  UPDATE port_seen SET port_mode = NEW.port_mode WHERE port_id = NEW.port_id; END;"
    "CREATE TRIGGER IF NOT EXISTS port_seen_bin AFTER UPDATE OF bin_id ON port WHEN OLD.bin_id IS NOT NEW.bin_id BEGIN"
    "  UPDATE port_seen SET bin_opened = CASE WHEN NEW.bin_id IS NULL THEN NULL ELSE " NOW_EPOCH " END"
    "    WHERE port_id = NEW.port_id; END;"
    "CREATE TRIGGER IF NOT EXISTS port_seen_closed AFTER DELETE ON port BEGIN"
    "  UPDATE port_seen SET closed = " NOW_EPOCH ", bin_opened = NULL WHERE port_id = OLD.port_id; END;",

    /* 13: the counts a delete moves are changed with UPDATE OR IGNORE. A plain UPDATE checks the
     * counts' NOT NULL, which marks every statement whose triggers reach it as one that may
     * abort half done, so each DELETE FROM task (every cancel) opened a statement journal. No
     * decrement of a count can be NULL, so nothing is ever ignored and nothing can abort: the
     * journal guarded nothing (a full disk or an interrupt rolls back the whole turn either
     * way, and src/txn.c reports that), and cost a cancel 1.2k instructions. */
    "DROP TRIGGER task_uncounted_by_category;"
    "CREATE TRIGGER task_uncounted_by_category BEFORE DELETE ON task BEGIN"
    "  UPDATE OR IGNORE category_counts SET tasks = tasks - 1"
    "    WHERE category = (SELECT category FROM taskgroup WHERE taskgroup_id = OLD.taskgroup_id); END;"
    "DROP TRIGGER taskgroup_uncounted_by_category;"
    "CREATE TRIGGER taskgroup_uncounted_by_category AFTER DELETE ON taskgroup BEGIN"
    "  UPDATE OR IGNORE category_counts SET taskgroups = taskgroups - 1 WHERE category = OLD.category; END;",

    /* 14: refusals in the audit trail (lua/taskgate/audit.lua): the reason a site policy gave
     * (fault(1921, "rate_limit"), or the policy's name), NULL in the records of changes. Refusal
     * records are bounded, the oldest going first, found through this index. */
    "ALTER TABLE audit ADD COLUMN reason TEXT;"
    "CREATE INDEX audit_refusals ON audit(audit_id) WHERE reason IS NOT NULL;",

    /* 15: the call journal (lua/taskgate/journal.lua): every call's method, parameters, client
     * and time and how it was answered, the newest --journal-size kept, for `taskgate replay`.
     * The audit trail names the client's port and the rules version that decided, and marks the
     * records of calls that changed nothing (refused, fault, failed), bounded like refusals were. */
    "CREATE TABLE journal ("
    "  journal_id INTEGER PRIMARY KEY,"
    "  time REAL NOT NULL,"
    "  client TEXT NOT NULL,"
    "  interface TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  params TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  reason TEXT,"
    "  request_id TEXT);"
    "ALTER TABLE audit ADD COLUMN client_port INTEGER;"
    "ALTER TABLE audit ADD COLUMN rules TEXT;"
    "ALTER TABLE audit ADD COLUMN marked TEXT;"
    "UPDATE audit SET marked = 'refused' WHERE reason IS NOT NULL;"
    "DROP INDEX audit_refusals;"
    "CREATE INDEX audit_marked ON audit(audit_id) WHERE marked IS NOT NULL;",

    /* 16: outbox message ids are never used twice (AUTOINCREMENT): with a plain INTEGER PRIMARY
     * KEY the next message took the id of one just delivered, and an operator's `outbox drop ID`
     * from an earlier listing removed a new message. (PostgreSQL's identity never reuses.) */
    "CREATE TABLE outbox_new ("
    "  message_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  target TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  request_id TEXT,"
    "  created REAL NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt REAL NOT NULL DEFAULT 0,"
    "  last_attempt REAL,"
    "  last_error TEXT);"
    "INSERT INTO outbox_new SELECT message_id, uuid, target, body, content_type, request_id, created, state,"
    "  attempts, next_attempt, last_attempt, last_error FROM outbox;"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox_new RENAME TO outbox;"
    "CREATE INDEX outbox_by_target ON outbox(target, state, message_id);",

    /* 17: a finished group leaves through a trigger of its own. SQLite sets up the frame of a row
     * trigger's whole program (registers for every statement in it, zeroed) before it looks at
     * its WHEN, so taskgroup_finished, whose body removed the group (its row, eight indexes, its
     * count), cost every cancel that frame although one in a hundred finishes a group: 3.6k
     * instructions of a cancel's 124k. Its body now only names the group in taskgroup_emptied,
     * whose insert trigger removes it; that frame is made only when a group is finished. The
     * table is empty outside that one statement. */
    "DROP TRIGGER taskgroup_finished;"
    "CREATE TABLE taskgroup_emptied (taskgroup_id INTEGER PRIMARY KEY);"
    "CREATE TRIGGER taskgroup_emptied_leaves AFTER INSERT ON taskgroup_emptied BEGIN"
    "  DELETE FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id;"
    "  DELETE FROM taskgroup_emptied WHERE taskgroup_id = NEW.taskgroup_id; END;"
    "CREATE TRIGGER taskgroup_finished AFTER DELETE ON task"
    "  WHEN NOT EXISTS (SELECT 1 FROM task WHERE taskgroup_id = OLD.taskgroup_id)"
    "  BEGIN INSERT INTO taskgroup_emptied (taskgroup_id) VALUES (OLD.taskgroup_id); END;",

    /* 18: taskgroup_emptied is a view, its trigger INSTEAD OF the insert: nothing is written for
     * the passage. As a table its page was changed twice whenever a group finished (copied into
     * the call's savepoint journal, written to the WAL at the commit): cancel_taskgroup paid
     * 7.5k instructions for it, a cancel_task 1.8k on average. */
    "DROP TABLE taskgroup_emptied;"
    "CREATE VIEW taskgroup_emptied AS SELECT NULL AS taskgroup_id WHERE 0;"
    "CREATE TRIGGER taskgroup_emptied_leaves INSTEAD OF INSERT ON taskgroup_emptied BEGIN"
    "  DELETE FROM taskgroup WHERE taskgroup_id = NEW.taskgroup_id; END;"
    "DROP TRIGGER taskgroup_finished;"
    "CREATE TRIGGER taskgroup_finished AFTER DELETE ON task"
    "  WHEN NOT EXISTS (SELECT 1 FROM task WHERE taskgroup_id = OLD.taskgroup_id)"
    "  BEGIN INSERT INTO taskgroup_emptied (taskgroup_id) VALUES (OLD.taskgroup_id); END;",
};

static int exec(sqlite3 *db, const char *sql, char *err, size_t errcap) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    snprintf(err, errcap, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
  }
  return rc;
}

static int migrate(sqlite3 *db, char *err, size_t errcap) {
  sqlite3_stmt *stmt;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
    return snprintf(err, errcap, "%s", sqlite3_errmsg(db)), -1;
  int version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  int latest = (int)(sizeof migrations / sizeof migrations[0]);
  if (version > latest)
    return snprintf(err, errcap, "store schema version %d is newer than this taskgate (%d)", version, latest), -1;
  for (; version < latest; version++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", version + 1);
    if (exec(db, "BEGIN IMMEDIATE", err, errcap) || exec(db, migrations[version], err, errcap) ||
        exec(db, bump, err, errcap) || exec(db, "COMMIT", err, errcap)) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  return 0;
}

/* A call's savepoint journal (the originals of the pages it changes, txn.h) stays in memory up
 * to this size, in one block of it, then moves to a temporary file for the rest of the turn:
 * two more writes for every page each later call of the turn changes. SQLite's 64 KiB (16
 * pages) was less than a create_taskgroup of one task changes (its rows, an entry in each index,
 * the counts, its journal and audit rows): docs/performance.md, "What the kernel does for a
 * call". Under malloc's 128 KiB, past which each block would be a mapping of its own. */
enum { SAVEPOINT_MEMORY = 120 << 10 };

static void configure_sqlite(void) {
  /* SQLite's allocation statistics take a process-wide mutex on every malloc; nothing reads them. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, SAVEPOINT_MEMORY);
}

static tg_store_t *open_with(const char *path, int flags, const char *pragmas, char *err, size_t errcap) {
  static pthread_once_t configured = PTHREAD_ONCE_INIT;
  pthread_once(&configured, configure_sqlite);
  tg_store_t *store = calloc(1, sizeof *store);
  if (!store)
    return snprintf(err, errcap, "out of memory"), NULL;
  tg_store_health_init(&store->health);
  pthread_mutexattr_t recursive;
  pthread_mutexattr_init(&recursive);
  pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&store->lock, &recursive);
  pthread_mutexattr_destroy(&recursive);
  if (sqlite3_open_v2(path, &store->db, flags, NULL) != SQLITE_OK) {
    snprintf(err, errcap, "%s: %s", path, store->db ? sqlite3_errmsg(store->db) : "cannot open");
    goto fail;
  }
  sqlite3_busy_timeout(store->db, 5000);
  if (exec(store->db, pragmas, err, errcap) != SQLITE_OK)
    goto fail;
  return store;
fail:
  sqlite3_close(store->db);
  pthread_mutex_destroy(&store->lock);
  free(store);
  return NULL;
}

enum { PROGRESS_EVERY = 1000 }; /* virtual-machine steps between looks at the watched statement */

/* SQLite calls this every PROGRESS_EVERY virtual-machine steps, whatever statement runs; it
 * counts them itself, as the statement's own step counter is only updated when a step returns. */
static int progress(void *arg) {
  tg_store_t *store = arg;
  if (!store->watched)
    return 0;
  store->steps += PROGRESS_EVERY;
  if (store->step_limit && store->steps > store->step_limit)
    store->stopped = TG_STORE_OVER_STEPS;
  else if (tg_budget_store_overdue())
    store->stopped = TG_STORE_OVER_TIME;
  return store->stopped;
}

void tg_store_watch(tg_store_t *store, sqlite3_stmt *stmt, long long step_limit) {
  store->watched = sqlite3_stmt_readonly(stmt) ? stmt : NULL;
  store->step_limit = step_limit;
  if (!sqlite3_stmt_busy(stmt)) /* a new run of the statement, not the next row of one */
    store->steps = 0;
  store->stopped = TG_STORE_RAN;
}

int tg_store_unwatch(tg_store_t *store) {
  store->watched = NULL;
  return store->stopped;
}

/* A store on PostgreSQL: the connection (pg.h) and the lock its users share. */
static tg_store_t *open_postgresql(const char *uri, char *err, size_t errcap) {
  tg_store_t *store = calloc(1, sizeof *store);
  if (!store)
    return snprintf(err, errcap, "out of memory"), NULL;
  if (!(store->pg = tg_pg_open(uri, err, errcap))) {
    free(store);
    return NULL;
  }
  pthread_mutexattr_t recursive;
  pthread_mutexattr_init(&recursive);
  pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&store->lock, &recursive);
  pthread_mutexattr_destroy(&recursive);
  return store;
}

tg_store_t *tg_store_open(const char *path, int sync_mode, char *err, size_t errcap) {
  if (tg_pg_is_uri(path))
    return open_postgresql(path, err, errcap);
  /* Foreign keys are kept by the schema's triggers (migration 4), so enforcement stays off. */
  const char *pragmas = sync_mode == TG_SYNC_FULL ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                                  : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
  /* tg_store_lock serializes every use of the connection, so SQLite's own mutexes are waste. */
  tg_store_t *store =
      open_with(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, pragmas, err, errcap);
  if (store && migrate(store->db, err, errcap) < 0) {
    tg_store_close(store);
    return NULL;
  }
  if (store)
    sqlite3_progress_handler(store->db, PROGRESS_EVERY, progress, store);
  return store;
}

int tg_store_watch_files(tg_store_t *store, const char *path, char *err, size_t errcap) {
  return tg_store_health_watch(&store->health, path, err, errcap);
}

tg_store_health_t *tg_store_health(tg_store_t *store) { return &store->health; }

tg_store_t *tg_store_open_readonly(const char *path, char *err, size_t errcap) {
  if (tg_pg_is_uri(path)) /* read-only by what the tools run, not by the session */
    return open_postgresql(path, err, errcap);
  return open_with(path, SQLITE_OPEN_READONLY, "PRAGMA query_only=1;", err, errcap);
}

tg_store_t *tg_store_open_reader(const char *path, char *err, size_t errcap) {
  /* One thread uses a reader at a time (its worker's), so SQLite's own mutexes are waste here too. */
  tg_store_t *store = open_with(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, "PRAGMA query_only=1;", err, errcap);
  if (store) {
    store->reader = 1;
    sqlite3_progress_handler(store->db, PROGRESS_EVERY, progress, store);
  }
  return store;
}

int tg_store_is_reader(const tg_store_t *store) { return store->reader; }

void tg_store_close(tg_store_t *store) {
  if (!store)
    return;
  for (int i = 0; i < CACHE_SLOTS; i++) {
    cached_stmt_t *entry = store->cache[i];
    while (entry) {
      cached_stmt_t *next = entry->next;
      sqlite3_finalize(entry->stmt);
      free(entry);
      entry = next;
    }
  }
  sqlite3_close(store->db);
  tg_pg_close(store->pg);
  pthread_mutex_destroy(&store->lock);
  free(store);
}

void tg_store_lock(tg_store_t *store) { pthread_mutex_lock(&store->lock); }

void tg_store_unlock(tg_store_t *store) { pthread_mutex_unlock(&store->lock); }

static unsigned hash(const char *s, size_t len) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Users reset after stepping; only a use cut short by an error leaves one running. Every
 * parameter is bound again by the caller, so old bindings need no clearing. */
static sqlite3_stmt *ready(cached_stmt_t *entry) {
  if (sqlite3_stmt_busy(entry->stmt))
    sqlite3_reset(entry->stmt);
  return entry->stmt;
}

static cached_stmt_t *find(tg_store_t *store, unsigned slot, const char *sql, size_t len) {
  for (cached_stmt_t *entry = store->cache[slot]; entry; entry = entry->next)
    if (entry->len == len && memcmp(entry->sql, sql, len) == 0)
      return entry;
  return NULL;
}

sqlite3_stmt *tg_store_prepare(tg_store_t *store, const char *sql, size_t len) {
  if (!store->db) /* a PostgreSQL store: C code that reads SQLite directly finds nothing */
    return NULL;
  unsigned near = (unsigned)(((uintptr_t)sql >> 4) % ADDRESS_SETS);
  for (int way = 0; way < ADDRESS_WAYS; way++) {
    cached_stmt_t *seen = store->by_address[near][way].entry;
    if (store->by_address[near][way].sql == sql && seen->len == len && memcmp(seen->sql, sql, len) == 0)
      return ready(seen);
  }
  unsigned slot = hash(sql, len) % CACHE_SLOTS;
  cached_stmt_t *found = find(store, slot, sql, len);
  if (found) { /* the newest in the first way, the one it held in the second */
    store->by_address[near][1] = store->by_address[near][0];
    store->by_address[near][0].sql = sql;
    store->by_address[near][0].entry = found;
    return ready(found);
  }
  cached_stmt_t *entry = malloc(sizeof *entry + len + 1);
  if (!entry)
    return NULL;
  if (sqlite3_prepare_v3(store->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &entry->stmt, NULL) != SQLITE_OK ||
      !entry->stmt) {
    sqlite3_finalize(entry->stmt);
    free(entry);
    return NULL;
  }
  memcpy(entry->sql, sql, len);
  entry->sql[len] = '\0';
  entry->len = len;
  entry->next = store->cache[slot];
  store->cache[slot] = entry;
  return entry->stmt;
}

const char *tg_store_errmsg(tg_store_t *store) {
  return store->pg ? tg_pg_errmsg(store->pg) : sqlite3_errmsg(store->db);
}

tg_pg_t *tg_store_pg(tg_store_t *store) { return store->pg; }

long long tg_store_total_changes(tg_store_t *store) {
  return store->pg ? tg_pg_changes(store->pg) : sqlite3_total_changes64(store->db);
}

int tg_store_available(tg_store_t *store) {
  if (store->pg) /* an idle session learns that the server went away only by asking it */
    return tg_pg_available(store->pg) && tg_pg_command(store->pg, "SELECT 1") == 0;
  sqlite3_stmt *stmt = tg_store_prepare(store, "SELECT 1", 8);
  int ok = stmt && sqlite3_step(stmt) == SQLITE_ROW;
  if (stmt)
    sqlite3_reset(stmt);
  return ok;
}

sqlite3 *tg_store_db(tg_store_t *store) { return store->db; }

int tg_store_schema_version(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

tg_txn_t *tg_store_txn(tg_store_t *store) { return &store->txn; }

int tg_store_probe_write(tg_store_t *store) {
  if (store->pg) /* the database keeps its own health: /healthz asks it (tg_store_available) */
    return tg_store_available(store) ? 0 : -SQLITE_CANTOPEN;
  if (!sqlite3_get_autocommit(store->db))
    return -SQLITE_BUSY; /* a turn is open: its own commit will tell */
  int rc = sqlite3_exec(store->db, "BEGIN IMMEDIATE; UPDATE write_probe SET n = n + 1 WHERE id = 1; COMMIT;", NULL,
                        NULL, NULL);
  if (rc != SQLITE_OK && !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : -rc;
}
