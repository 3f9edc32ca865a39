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

#include "shipped.h"

#ifndef TG_NATIVE_INSTALL_DIR
#define TG_NATIVE_INSTALL_DIR "/usr/lib/taskgate"
#endif

/* Where taskgate_native.so is: beside the binary (a checkout's build/), else where the package
 * installs it. */
static const char *find_native(char *path, size_t cap) {
  static const char *const beside[] = {"%s", NULL};
  return tg_shipped_find(NULL, beside, "taskgate_native.so", TG_NATIVE_INSTALL_DIR, path, cap);
}

int tg_command_test(const tg_config_t *config, const char *runtime_dir) {
  char native_path[PATH_MAX], path[PATH_MAX + 64], cpath[PATH_MAX + 64];
  const char *native = find_native(native_path, sizeof native_path);
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
