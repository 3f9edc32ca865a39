/* store_health.h: whether the store can be trusted with a change: its files are still the ones
 * the gateway opened, and its writes go through. A store that fails either must make calls
 * fail or drop, never be acknowledged, and make /healthz fail. (That one gateway alone serves
 * a store is instance.c's lock.) */
#ifndef TG_STORE_HEALTH_H
#define TG_STORE_HEALTH_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

enum {
  TG_STORE_OK = 0,
  TG_STORE_WRITE_FAILED = 1, /* the last commit that wrote failed (disk full, I/O error) */
  TG_STORE_LOST = 2,         /* its files were deleted or replaced: for good, until a restart */
};

enum { TG_STORE_FILES = 3 }; /* the database, its -wal and its -shm */

typedef struct tg_store_health_s {
  int watching; /* the files are watched (the serving gateway's store) */
  char path[PATH_MAX];
  dev_t dev[TG_STORE_FILES];
  ino_t ino[TG_STORE_FILES]; /* as first seen; 0: not seen yet */
  int state;                 /* TG_STORE_*, atomic: any thread reads it */
  int losing;                /* set (atomically) by the one thread that records the loss */
  char write_error[256];     /* why the last commit failed (under the store lock) */
  double failed_at;          /* when, in tg_monotonic_seconds (under the store lock) */
  char lost[PATH_MAX + 96];  /* what went missing (written once, before state becomes LOST) */
} tg_store_health_t;

/* Prepares h for a store whose files are not watched: every check passes. */
void tg_store_health_init(tg_store_health_t *h);
/* Watches the files of the store at path from now on: notes which files they are. Returns 0, or
 * -1 with the reason in err. */
int tg_store_health_watch(tg_store_health_t *h, const char *path, char *err, size_t errcap);
/* Checks that the database file, and its -wal and -shm once they exist, are still the files
 * first seen at their paths (not deleted, renamed or replaced). files: 1 checks only the
 * database file (cheap enough for every commit), TG_STORE_FILES all three. On the first
 * difference the store is lost for good and an error is logged. Returns 0, or -1 when lost. */
int tg_store_health_check(tg_store_health_t *h, int files);
/* A commit that wrote failed with why / a commit that wrote went through. */
void tg_store_health_write_failed(tg_store_health_t *h, const char *why);
void tg_store_health_write_ok(tg_store_health_t *h);
/* After a failed commit, whether it is time for a probe write to tell if the store takes
 * writes again: not while commits keep failing (a small probe may pass where a client's
 * change does not), only once none has failed for TG_STORE_PROBE_AFTER seconds. */
enum { TG_STORE_PROBE_AFTER = 5 };
int tg_store_health_probe_due(const tg_store_health_t *h);
/* TG_STORE_*; any thread. */
int tg_store_health_state(const tg_store_health_t *h);
/* Why the store is not OK, or "" (call with the store lock held). */
const char *tg_store_health_reason(const tg_store_health_t *h);
#endif
