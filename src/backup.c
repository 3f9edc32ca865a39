/* backup.c: `taskgate backup FILE` and `taskgate restore FILE`: a store copied out online as one
 * snapshot, and a copy put back in place of a store no gateway is using. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "commands.h"
#include "instance.h"
#include "store.h"

/* Copies every page of from into to in one step of SQLite's backup API: the step reads inside
 * one read transaction, so the copy is a single consistent snapshot, and the gateway's writers
 * go on meanwhile (WAL) instead of restarting the copy, as a copy in several steps does on
 * each write. Returns 0, or -1 with a message in err. */
static int copy_pages(sqlite3 *from, sqlite3 *to, char *err, size_t errcap) {
  sqlite3_backup *backup = sqlite3_backup_init(to, "main", from, "main");
  if (!backup)
    return snprintf(err, errcap, "%s", sqlite3_errmsg(to)), -1;
  int rc, tries = 0;
  /* BUSY only while another connection recovers the WAL: a moment. */
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (++tries > 500)
      break;
    sqlite3_sleep(10);
  }
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE)
    return snprintf(err, errcap, "%s", sqlite3_errstr(rc)), -1;
  return 0;
}

/* Copies the database at from_path into a new file at to_path (the caller made sure there was
 * none). */
static int copy_store(const char *from_path, const char *to_path, char *err, size_t errcap) {
  sqlite3 *from = NULL, *to = NULL;
  int rc = -1;
  if (sqlite3_open_v2(from_path, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(err, errcap, "%s: %s", from_path, from ? sqlite3_errmsg(from) : "cannot open");
    goto done;
  }
  sqlite3_busy_timeout(from, 5000);
  if (sqlite3_open_v2(to_path, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    snprintf(err, errcap, "%s: %s", to_path, to ? sqlite3_errmsg(to) : "cannot create");
    goto done;
  }
  rc = copy_pages(from, to, err, errcap);
  /* The copy is one self-contained file: a store in WAL mode would make readers of the copy
   * create -wal and -shm files beside it. A gateway started on it turns WAL on again. */
  if (rc == 0 && sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errcap, "%s: %s", to_path, sqlite3_errmsg(to));
    rc = -1;
  }
done:
  sqlite3_close(from);
  if (sqlite3_close(to) != SQLITE_OK && rc == 0) {
    snprintf(err, errcap, "%s: cannot close", to_path);
    rc = -1;
  }
  if (rc < 0 && to)
    unlink(to_path);
  return rc;
}

int tg_command_backup(const tg_config_t *config) {
  char err[4608];
  if (access(config->backup_file, F_OK) == 0) {
    fprintf(stderr, "taskgate: backup: %s exists; refusing to overwrite it\n", config->backup_file);
    return 1;
  }
  if (access(config->store_path, R_OK) < 0) {
    fprintf(stderr, "taskgate: backup: %s: %s\n", config->store_path, strerror(errno));
    return 1;
  }
  double started = tg_monotonic_seconds();
  if (copy_store(config->store_path, config->backup_file, err, sizeof err) < 0) {
    fprintf(stderr, "taskgate: backup: %s\n", err);
    return 1;
  }
  printf("backed up %s to %s in %.1f s\n", config->store_path, config->backup_file, tg_monotonic_seconds() - started);
  return 0;
}

/* Checks that path holds a store this taskgate can serve. Returns 0, or -1 with err. */
static int check_copy(const char *path, char *err, size_t errcap) {
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char verdict[256] = "";
  int version = -1, tables = 0;
  if (access(path, R_OK) < 0)
    return snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno)), -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    snprintf(verdict, sizeof verdict, "%s", (const char *)sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  stmt = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT user_version FROM pragma_user_version), "
                         "(SELECT count(*) FROM sqlite_schema WHERE name IN ('task', 'taskgroup', 'audit'))",
                         -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int(stmt, 0);
    tables = sqlite3_column_int(stmt, 1);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (strcmp(verdict, "ok") != 0)
    return snprintf(err, errcap, "%s is not an intact SQLite database%s%s", path, verdict[0] ? ": " : "", verdict), -1;
  if (tables != 3)
    return snprintf(err, errcap, "%s is not a taskgate store", path), -1;
  if (version > tg_store_schema_version())
    return snprintf(err, errcap, "%s has schema version %d, newer than this taskgate (%d)", path, version,
                    tg_store_schema_version()),
           -1;
  return 0;
}

/* Makes path belong to the owner of like (a store the service's user wrote), so that a restore
 * run by root leaves a store the service can still write. */
static void same_owner(const char *path, const char *like) {
  struct stat owner;
  if (geteuid() == 0 && stat(like, &owner) == 0 && chown(path, owner.st_uid, owner.st_gid) < 0)
    fprintf(stderr, "taskgate: restore: cannot give %s to uid %d: %s\n", path, (int)owner.st_uid, strerror(errno));
}

/* Flushes the directory holding path, so that renames in it survive a crash. */
static void sync_dir(const char *path) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* With the lock held: keeps the current store (WAL included) as <store>.before-restore, then puts
 * the checked copy in its place; a stale WAL must never meet the new file. */
static int put_in_place(const char *store, const char *staged, char *err, size_t errcap) {
  char kept[4096], wal[4096], shm[4096];
  snprintf(kept, sizeof kept, "%s.before-restore", store);
  snprintf(wal, sizeof wal, "%s-wal", store);
  snprintf(shm, sizeof shm, "%s-shm", store);
  if (access(store, F_OK) == 0) {
    unlink(kept);
    if (copy_store(store, kept, err, errcap) < 0)
      return -1;
    same_owner(kept, store);
    same_owner(staged, store);
  } else {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", store);
    same_owner(staged, dirname(dir));
  }
  if ((unlink(wal) < 0 && errno != ENOENT) || (unlink(shm) < 0 && errno != ENOENT) || rename(staged, store) < 0)
    return snprintf(err, errcap, "cannot replace %s: %s", store, strerror(errno)), -1;
  sync_dir(store);
  return 0;
}

int tg_command_restore(const tg_config_t *config) {
  char err[4608], staged[4096];
  const char *store = config->store_path;
  int had_store = access(store, F_OK) == 0;
  snprintf(staged, sizeof staged, "%s.restoring", store);
  if (check_copy(config->restore_file, err, sizeof err) < 0)
    goto fail;
  /* Held until the new store is in place: no gateway starts on a half-restored store. */
  int lock = tg_instance_claim(store, err, sizeof err);
  if (lock == -1) {
    if (strstr(err, "in use"))
      snprintf(err + strlen(err), sizeof err - strlen(err), "; stop the gateway first (systemctl stop taskgate)");
    goto fail;
  }
  unlink(staged); /* left by an interrupted restore */
  int rc = copy_store(config->restore_file, staged, err, sizeof err);
  if (rc == 0)
    rc = put_in_place(store, staged, err, sizeof err);
  if (rc < 0)
    unlink(staged);
  tg_instance_release(lock);
  if (rc < 0)
    goto fail;
  printf("restored %s from %s", store, config->restore_file);
  printf(had_store ? "; the previous store is in %s.before-restore\n" : "\n", store);
  return 0;
fail:
  fprintf(stderr, "taskgate: restore: %s\n", err);
  return 1;
}
