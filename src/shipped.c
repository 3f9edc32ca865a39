/* shipped.c: where the files the gateway ships are (see shipped.h). */
#include "shipped.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *tg_shipped_find(const char *given, const char *const beside[], const char *probe, const char *installed,
                            char *path, size_t cap) {
  if (given)
    return given;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return installed;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return installed;
  *slash = '\0';
  for (int i = 0; beside[i]; i++) {
    snprintf(path, cap, beside[i], exe);
    char found[PATH_MAX + 96];
    snprintf(found, sizeof found, "%s/%s", path, probe);
    if (access(found, R_OK) == 0)
      return path;
  }
  return installed;
}
