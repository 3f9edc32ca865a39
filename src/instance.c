/* instance.c: the store's lock file, an flock(2) lock that the kernel drops with the process,
 * so a gateway killed with -9 leaves no stale lock behind. */
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Reads the pid the holder wrote, for the message; 0 when there is none. */
static long holder_pid(int fd) {
  char text[32] = "";
  ssize_t n = pread(fd, text, sizeof text - 1, 0);
  return n > 0 ? strtol(text, NULL, 10) : 0;
}

int tg_instance_claim(const char *store_path, char *err, size_t errcap) {
  if (strcmp(store_path, ":memory:") == 0)
    return -2;
  char path[4096];
  if (snprintf(path, sizeof path, "%s.lock", store_path) >= (int)sizeof path)
    return snprintf(err, errcap, "%s: path too long", store_path), -1;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno)), -1;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int busy = errno == EWOULDBLOCK;
    long pid = busy ? holder_pid(fd) : 0;
    if (busy)
      snprintf(err, errcap, "%s is in use by another process (pid %ld holds %s)", store_path, pid, path);
    else
      snprintf(err, errcap, "cannot lock %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  char text[32];
  int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void tg_instance_release(int fd) {
  if (fd >= 0)
    close(fd); /* closing the only descriptor of the open file drops the flock */
}
