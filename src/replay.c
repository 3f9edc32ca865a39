/* replay.c: `taskgate replay`, `taskgate check DIR --replay N` and `taskgate try`: the runtime
 * driven call by call against a snapshot of the store in a temporary directory, so that nothing
 * reaches the live store, which a gateway may be serving from all along. The Lua side is
 * lua/taskgate/replay.lua. */
#include "commands.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "outbox.h"
#include "owed.h"
#include "read_only.h"
#include "redact.h"
#include "script.h"
#include "store.h"
#include "txn.h"
#include "xml.h"

enum { TIME_FACTOR = 10 };

typedef struct scratch_s {
  char dir[64];
  char paths[2][96];
} scratch_t;

static void remove_store_files(const char *path) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char file[128];
  for (int i = 0; i < 4; i++) {
    snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
    unlink(file);
  }
}

static void scratch_remove(scratch_t *scratch) {
  for (int i = 0; i < 2; i++)
    if (scratch->paths[i][0])
      remove_store_files(scratch->paths[i]);
  if (scratch->dir[0])
    rmdir(scratch->dir);
}

/* Copies the store at `from` into the new file `to` as one consistent snapshot (VACUUM INTO,
 * which a read-only connection may run while a gateway writes). Returns 0 or -1 with err. */
static int snapshot(const char *from, const char *to, char *err, size_t errcap) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &stmt, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, to, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  if (rc != SQLITE_OK)
    snprintf(err, errcap, "cannot copy %s: %s", from, db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

/* Makes the scratch directory and `copies` snapshots of the store in it (the second made from
 * the first, so both are the same). Returns 0 or -1 with err. */
static int scratch_make(scratch_t *scratch, const char *store_path, int copies, char *err, size_t errcap) {
  memset(scratch, 0, sizeof *scratch);
  if (strncmp(store_path, "postgresql:", 11) == 0)
    return snprintf(err, errcap, "works on a SQLite store's snapshot; a PostgreSQL store's journal is in its "
                                 "journal table"), -1;
  snprintf(scratch->dir, sizeof scratch->dir, "/tmp/taskgate-replay.XXXXXX");
  if (!mkdtemp(scratch->dir)) {
    scratch->dir[0] = '\0';
    return snprintf(err, errcap, "cannot make a temporary directory"), -1;
  }
  for (int i = 0; i < copies; i++) {
    snprintf(scratch->paths[i], sizeof scratch->paths[i], "%s/%s.db", scratch->dir, i ? "candidate" : "live");
    if (snapshot(i ? scratch->paths[0] : store_path, scratch->paths[i], err, errcap) < 0)
      return -1;
  }
  return 0;
}

/* A rules directory loaded on a store: what each run needs, released by run_close. The calls of
 * methods the rules declare read-only run on the reader, as in the gateway (read_only.h). */
typedef struct run_s {
  tg_store_t *store;
  tg_store_t *reader;
  tg_script_t *script;
  tg_buf_t read_only; /* host.read_only_methods */
  tg_owed_t owed;     /* the traces of the call run on the reader, written after it */
} run_t;

static int run_open(run_t *run, const tg_config_t *config, const char *runtime_dir, const char *rules_dir,
                    const char *store_path, char *err, size_t errcap) {
  memset(run, 0, sizeof *run);
  run->store = tg_store_open(store_path, TG_SYNC_NORMAL, err, errcap);
  if (!run->store)
    return -1;
  char outbox_targets[TG_OUTBOX_MAX_TARGETS * TG_OUTBOX_NAME_BYTES];
  tg_cli_outbox_names(config, outbox_targets, sizeof outbox_targets);
  tg_script_config_t script_config = {
      .runtime_dir = runtime_dir,
      .rules_dir = rules_dir,
      .store = run->store,
      .memory_limit = config->memory_limit,
      /* Ten times the call limit: a tool on a busy machine must not turn a slow step into a
       * difference, yet a rule that never ends still ends the replay. */
      .time_limit_ms = config->time_limit_ms * TIME_FACTOR,
      .upstream_url = config->upstream_url,
      .outbox_targets = outbox_targets,
      .journal_size = 0, /* a replay is not traffic */
  };
  run->script = tg_script_new(&script_config, err, errcap);
  if (!run->script)
    return -1;
  if (tg_script_host_string(run->script, "read_only_methods", &run->read_only) < 0)
    return snprintf(err, errcap, "%s", tg_script_last_error(run->script)), -1;
  run->reader = tg_store_open_reader(store_path, err, errcap);
  return run->reader ? 0 : -1;
}

static void run_close(run_t *run) {
  if (run->script)
    tg_script_release(run->script);
  tg_owed_free(&run->owed);
  tg_buf_free(&run->read_only);
  tg_store_close(run->reader);
  if (run->store)
    tg_store_close(run->store);
}

/* Calls host function `name` with args; the string it returns in *out (reset first). */
static int host(run_t *run, const char *name, const char *const *args, tg_buf_t *out, char *err, size_t errcap) {
  out->len = 0;
  if (tg_script_host_call(run->script, name, args, out) == 0)
    return 0;
  snprintf(err, errcap, "%s", tg_script_last_error(run->script));
  return -1;
}

/* Writes the traces the call run on the reader owes (its audit records), on the writer, as a
 * worker writes them in its next store turn. */
static void write_owed(run_t *run) {
  if (!tg_owed_pending(&run->owed))
    return;
  int turn = tg_txn_begin_turn(run->store) == 0;
  tg_owed_write(&run->owed, run->script);
  if (turn)
    tg_txn_commit_turn(run->store);
}

/* Calls host function `name` for one call of `method` on the `interface` endpoint ("task" or
 * "bin") as the gateway runs it: a method the rules declare read-only on the reader, in a read
 * transaction, so that its rule cannot write (1999, as live), its traces written after it; any
 * other in a turn of its own on the writer. */
static int host_for_call(run_t *run, const char *interface, const char *method, const char *name,
                         const char *const *args, tg_buf_t *out, char *err, size_t errcap) {
  int reading = tg_read_only_named(run->read_only.data, run->read_only.len, strcmp(interface, "bin") == 0, method,
                                   strlen(method));
  tg_store_t *store = reading ? run->reader : run->store;
  if ((reading ? tg_txn_begin_read(store) : tg_txn_begin_turn(store)) != 0)
    return snprintf(err, errcap, "cannot open a transaction: %s", tg_store_errmsg(store)), -1;
  tg_call_note_t note = {.owed = &run->owed};
  if (reading)
    tg_script_set_call(run->script, &note);
  tg_script_use_store(run->script, store);
  int rc = host(run, name, args, out, err, errcap);
  tg_script_use_store(run->script, NULL);
  tg_script_set_call(run->script, NULL);
  if (rc == 0)
    tg_txn_commit_turn(store);
  else
    tg_txn_abort_turn(store);
  write_owed(run);
  return rc;
}

/* Replays the journal of the run's store: the newest `last` calls (0: all), one gate each.
 * Leaves the outcomes (replay.lua's text) in *results. */
static int replay_all(run_t *run, long last, tg_buf_t *results, char *err, size_t errcap) {
  char number[32];
  snprintf(number, sizeof number, "%ld", last);
  const char *args[] = {number, NULL};
  if (host(run, "replay_load", args, results, err, errcap) < 0)
    return -1;
  long count = strtol(results->data ? results->data : "0", NULL, 10);
  for (long i = 1; i <= count; i++) {
    snprintf(number, sizeof number, "%ld", i);
    if (host(run, "replay_call_of", args, results, err, errcap) < 0) /* "interface\tmethod" */
      return -1;
    char *method = results->data ? strchr(results->data, '\t') : NULL;
    if (!method)
      return snprintf(err, errcap, "journal entry %ld names no method", i), -1;
    *method++ = '\0';
    char interface[8];
    snprintf(interface, sizeof interface, "%s", results->data);
    char name[128];
    snprintf(name, sizeof name, "%s", method);
    if (host_for_call(run, interface, name, "replay_step", args, results, err, errcap) < 0)
      return -1;
  }
  return host(run, "replay_results", NULL, results, err, errcap);
}

/* Both runs, the report printed. Returns the exit status. */
/* Prints a report, or the error that ended a command, as operators may see them: a URL a rule
 * named (a request it would have sent, a record it wrote) has its credentials masked. */
static void print_shown(tg_buf_t *report) {
  if (tg_redact_buf(report, 0) < 0)
    tg_buf_puts(report, "(the rest not shown: out of memory)\n");
  fwrite(report->data, 1, report->len, stdout);
}

static void print_error(const char *command, const char *err) {
  char shown[4 * 4096 + 64]; /* err is at most 4096 bytes; masked it may grow (redact.c) */
  fprintf(stderr, "taskgate: %s: %s\n", command, tg_redact(err, shown, sizeof shown));
}

static int replay_compare(const tg_config_t *config, const char *runtime_dir, const char *candidate, long last) {
  char err[4096];
  scratch_t scratch = {0};
  tg_buf_t baseline = {0}, results = {0};
  run_t live = {0}, next = {0};
  int status = 1;
  if (scratch_make(&scratch, config->store_path, 2, err, sizeof err) < 0 ||
      run_open(&live, config, runtime_dir, config->rules_dir, scratch.paths[0], err, sizeof err) < 0 ||
      replay_all(&live, last, &baseline, err, sizeof err) < 0 ||
      run_open(&next, config, runtime_dir, candidate, scratch.paths[1], err, sizeof err) < 0 ||
      replay_all(&next, last, &results, err, sizeof err) < 0)
    goto done;
  const char *args[] = {baseline.data ? baseline.data : "", config->rules_dir, candidate, NULL};
  if (host(&next, "replay_report", args, &results, err, sizeof err) < 0)
    goto done;
  print_shown(&results);
  status = 0;
done:
  if (status)
    print_error("replay", err);
  run_close(&live);
  run_close(&next);
  tg_buf_free(&baseline);
  tg_buf_free(&results);
  scratch_remove(&scratch);
  return status;
}

int tg_command_replay(const tg_config_t *config, const char *runtime_dir) {
  if (!config->check_dir) {
    fprintf(stderr, "taskgate: replay needs --rules DIR, the candidate rules (try --help)\n");
    return 2;
  }
  tg_xml_init();
  return replay_compare(config, runtime_dir, config->check_dir, config->replay_last);
}

int tg_command_check_replay(const tg_config_t *config, const char *runtime_dir, const char *dir) {
  return replay_compare(config, runtime_dir, dir, config->replay_last);
}

int tg_command_try(const tg_config_t *config, const char *runtime_dir) {
  char err[4096];
  tg_xml_init();
  scratch_t scratch = {0};
  run_t run = {0};
  tg_buf_t params = {0}, report = {0};
  int status = 1;
  snprintf(err, sizeof err, "out of memory");
  for (int i = 0; i < config->try_count; i++)
    if (tg_buf_append(&params, config->try_params[i], strlen(config->try_params[i])) < 0 ||
        tg_buf_append(&params, "\n", 1) < 0)
      goto done;
  if (scratch_make(&scratch, config->store_path, 1, err, sizeof err) < 0 ||
      run_open(&run, config, runtime_dir, config->rules_dir, scratch.paths[0], err, sizeof err) < 0 ||
      host(&run, "try_prepare", NULL, &report, err, sizeof err) < 0)
    goto done;
  const char *args[] = {config->try_method, params.data ? params.data : "", NULL};
  if (host_for_call(&run, "task", config->try_method, "try_call", args, &report, err, sizeof err) < 0 ||
      host(&run, "try_report", NULL, &report, err, sizeof err) < 0)
    goto done;
  print_shown(&report);
  status = 0;
done:
  if (status)
    print_error("try", err);
  run_close(&run);
  tg_buf_free(&params);
  tg_buf_free(&report);
  scratch_remove(&scratch);
  return status;
}
