/* pidfile.h: the gateway's pid file, locked for as long as the gateway runs, so that another
 * gateway can neither take it nor write over it. */
#ifndef TG_PIDFILE_H
#define TG_PIDFILE_H

#include <limits.h>
#include <stddef.h>

typedef struct tg_pidfile_s {
  int fd; /* -1 when there is none */
  char path[PATH_MAX];
} tg_pidfile_t;

/* Opens (creating) the pid file at path and locks it, leaving its content alone. Returns 0; 1
 * when it cannot be opened at all (the gateway runs without one); -1 with the reason in err
 * when another process holds it. */
int tg_pidfile_claim(tg_pidfile_t *pidfile, const char *path, char *err, size_t errcap);
/* Writes this process's pid into it (once the gateway serves). Returns 0 or -1. */
int tg_pidfile_write(tg_pidfile_t *pidfile);
/* Removes the pid file, then gives up the lock. */
void tg_pidfile_release(tg_pidfile_t *pidfile);

#endif
