/* pidfile.c: the locked pid file (see pidfile.h). */
#include "pidfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int tg_pidfile_claim(tg_pidfile_t *pidfile, const char *path, char *err, size_t errcap) {
  pidfile->fd = -1;
  snprintf(pidfile->path, sizeof pidfile->path, "%s", path);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return 1;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    char held[32] = "";
    ssize_t n = pread(fd, held, sizeof held - 1, 0);
    held[n > 0 ? n : 0] = '\0';
    held[strcspn(held, "\n")] = '\0';
    snprintf(err, errcap, "pid file %s is held by another taskgate%s%s%s; refusing to write over it", path,
             held[0] ? " (pid " : "", held, held[0] ? ")" : "");
    close(fd);
    return -1;
  }
  pidfile->fd = fd;
  return 0;
}

int tg_pidfile_write(tg_pidfile_t *pidfile) {
  if (pidfile->fd < 0)
    return -1;
  char line[32];
  int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  if (ftruncate(pidfile->fd, 0) < 0 || pwrite(pidfile->fd, line, (size_t)len, 0) != len)
    return -1;
  return 0;
}

void tg_pidfile_release(tg_pidfile_t *pidfile) {
  if (pidfile->fd < 0)
    return;
  unlink(pidfile->path); /* while still locked: a gateway starting now finds it held, or gone */
  close(pidfile->fd);
  pidfile->fd = -1;
}
