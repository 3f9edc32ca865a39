/* site_test.c: `taskgate test DIR`: a site's busted specs run with this gateway's runtime (lua/,
 * through LUA_PATH) and its C bindings (taskgate_native.so, through LUA_CPATH), beside the binary
 * in a checkout or in the package's library directory, so `require "taskgate.testing"` works on
 * an installed gateway as in a checkout. Each spec opens its own temporary store. */
#include "commands.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TG_NATIVE_INSTALL_DIR
#define TG_NATIVE_INSTALL_DIR "/usr/lib/taskgate"
#endif

/* Where taskgate_native.so is: beside the binary (a checkout's build/), else where the package
 * installs it. */
static void find_native(char *dir, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      char probe[PATH_MAX + 32];
      snprintf(probe, sizeof probe, "%s/taskgate_native.so", exe);
      if (access(probe, R_OK) == 0) {
        snprintf(dir, cap, "%s", exe);
        return;
      }
    }
  }
  snprintf(dir, cap, "%s", TG_NATIVE_INSTALL_DIR);
}

int tg_command_test(const tg_config_t *config, const char *runtime_dir) {
  char native[PATH_MAX], path[PATH_MAX + 64], cpath[PATH_MAX + 64];
  find_native(native, sizeof native);
  snprintf(path, sizeof path, "%s/?.lua;;", runtime_dir);
  snprintf(cpath, sizeof cpath, "%s/?.so;;", native);
  if (setenv("LUA_PATH", path, 1) < 0 || setenv("LUA_CPATH", cpath, 1) < 0 ||
      setenv("TASKGATE_RUNTIME", runtime_dir, 1) < 0)
    return perror("taskgate: test"), 1;
  fflush(stdout);
  /* busted under Lua 5.4 whatever `lua` points at: the bindings are built for 5.4. */
  execlp("sh", "sh", "-c",
         "command -v busted >/dev/null && command -v lua5.4 >/dev/null ||"
         " { echo 'taskgate: test needs busted and Lua 5.4: apt-get install lua-busted lua5.4' >&2; exit 127; };"
         " exec lua5.4 \"$(command -v busted)\" --pattern=_spec \"$1\"",
         "taskgate-test", config->check_dir, (char *)NULL);
  perror("taskgate: test: sh");
  return 127;
}
