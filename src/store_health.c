/* store_health.c: the store's lock, the check that its files are still there, and the state of
 * its writes (see store_health.h). */
#include "store_health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"

static const char *const suffixes[TG_STORE_FILES] = {"", "-wal", "-shm"};

void tg_store_health_init(tg_store_health_t *h) { memset(h, 0, sizeof *h); }

int tg_store_health_watch(tg_store_health_t *h, const char *path, char *err, size_t errcap) {
  tg_store_health_init(h);
  if (snprintf(h->path, sizeof h->path, "%s", path) >= (int)sizeof h->path)
    return snprintf(err, errcap, "%s: path too long", path), -1;
  struct stat st;
  if (stat(path, &st) < 0)
    return snprintf(err, errcap, "%s: %s", path, strerror(errno)), -1;
  h->dev[0] = st.st_dev;
  h->ino[0] = st.st_ino;
  h->watching = 1;
  tg_store_health_check(h, TG_STORE_FILES); /* notes the -wal and -shm that are there */
  return 0;
}

/* Marks the store lost (once) with what went missing, and says so in the log. */
static void lose(tg_store_health_t *h, const char *file) {
  if (__atomic_exchange_n(&h->losing, 1, __ATOMIC_ACQ_REL))
    return; /* one writer of h->lost: whichever thread noticed first */
  snprintf(h->lost, sizeof h->lost, "%s was deleted or replaced while the gateway ran", file);
  __atomic_store_n(&h->state, TG_STORE_LOST, __ATOMIC_RELEASE);
  tg_log(TG_LOG_ERROR, "store_lost", "file=%s action=\"calls refused with 503 until a restart on a restored store\"",
         file);
}

int tg_store_health_check(tg_store_health_t *h, int files) {
  if (!h->watching)
    return 0;
  if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == TG_STORE_LOST)
    return -1;
  for (int i = 0; i < files; i++) {
    char file[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s%s", h->path, suffixes[i]);
    struct stat st;
    int there = stat(file, &st) == 0;
    if (h->ino[i] == 0) { /* the -wal and -shm appear with the first use; note them then */
      if (there)
        h->dev[i] = st.st_dev, h->ino[i] = st.st_ino;
      continue;
    }
    if (!there || st.st_ino != h->ino[i] || st.st_dev != h->dev[i]) {
      lose(h, file);
      return -1;
    }
  }
  return 0;
}

void tg_store_health_write_failed(tg_store_health_t *h, const char *why) {
  snprintf(h->write_error, sizeof h->write_error, "writing failed: %s", why);
  h->failed_at = tg_monotonic_seconds();
  int ok = TG_STORE_OK;
  __atomic_compare_exchange_n(&h->state, &ok, TG_STORE_WRITE_FAILED, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void tg_store_health_write_ok(tg_store_health_t *h) {
  int failed = TG_STORE_WRITE_FAILED;
  if (__atomic_compare_exchange_n(&h->state, &failed, TG_STORE_OK, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
    tg_log(TG_LOG_INFO, "store_writable", "path=%s", h->path);
}

int tg_store_health_probe_due(const tg_store_health_t *h) {
  return tg_store_health_state(h) == TG_STORE_WRITE_FAILED &&
         tg_monotonic_seconds() - h->failed_at >= TG_STORE_PROBE_AFTER;
}

int tg_store_health_state(const tg_store_health_t *h) { return __atomic_load_n(&h->state, __ATOMIC_ACQUIRE); }

const char *tg_store_health_reason(const tg_store_health_t *h) {
  switch (tg_store_health_state(h)) {
  case TG_STORE_LOST: return h->lost;
  case TG_STORE_WRITE_FAILED: return h->write_error;
  default: return "";
  }
}
