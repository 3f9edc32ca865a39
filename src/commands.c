/* commands.c: one-shot subcommands run from the command line: audit, check, reload, status. */
#include "commands.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "audit.h"
#include "script.h"
#include "store.h"
#include "xml.h"

const char *tg_command_pid_file(const tg_config_t *config, char *buf, size_t cap) {
  if (config->pid_file)
    return config->pid_file;
  snprintf(buf, cap, "%s.pid", config->store_path);
  return buf;
}

int tg_command_audit(const tg_config_t *config) {
  char err[512];
  tg_store_t *store = tg_store_open_readonly(config->store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: %s\n", err);
    return 1;
  }
  int rc = tg_audit_print(store, stdout);
  tg_store_close(store);
  return rc < 0 ? 1 : 0;
}

int tg_command_check(const tg_config_t *config, const char *runtime_dir) {
  char err[4096];
  const char *dir = config->check_dir ? config->check_dir : config->rules_dir;
  tg_xml_init();
  /* A private in-memory store: self-checks run exactly as on a reload, touching nothing real. */
  tg_store_t *store = tg_store_open(":memory:", TG_SYNC_NORMAL, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: check: %s\n", err);
    return 1;
  }
  tg_script_config_t script_config = {
      .runtime_dir = runtime_dir,
      .rules_dir = dir,
      .store = store,
      .memory_limit = config->memory_limit,
      .time_limit_ms = config->time_limit_ms,
  };
  tg_script_t *script = tg_script_new(&script_config, err, sizeof err);
  int status = 0;
  if (script) {
    tg_buf_t files = {0};
    tg_script_host_string(script, "describe", &files);
    printf("ok: %s loads; files: %s\n", dir, files.data ? files.data : "[]");
    tg_buf_free(&files);
    tg_script_release(script);
  } else {
    fprintf(stderr, "%s\n", err);
    status = 1;
  }
  tg_store_close(store);
  return status;
}

/* Copies the store page by page with SQLite's online backup API: the gateway keeps serving, and
 * the copy is one consistent snapshot. */
int tg_command_backup(const tg_config_t *config) {
  char err[512];
  if (access(config->backup_file, F_OK) == 0) {
    fprintf(stderr, "taskgate: backup: %s exists; refusing to overwrite it\n", config->backup_file);
    return 1;
  }
  tg_store_t *store = tg_store_open_readonly(config->store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: backup: %s\n", err);
    return 1;
  }
  sqlite3 *target = NULL;
  int rc = sqlite3_open_v2(config->backup_file, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  sqlite3_backup *backup = rc == SQLITE_OK ? sqlite3_backup_init(target, "main", tg_store_db(store), "main") : NULL;
  if (backup) {
    while ((rc = sqlite3_backup_step(backup, 1024)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
      sqlite3_sleep(rc == SQLITE_OK ? 0 : 10);
    sqlite3_backup_finish(backup);
  }
  int ok = backup && rc == SQLITE_DONE;
  if (!ok)
    fprintf(stderr, "taskgate: backup: %s\n", target ? sqlite3_errmsg(target) : "cannot open the target");
  sqlite3_close(target);
  tg_store_close(store);
  if (!ok) {
    unlink(config->backup_file);
    return 1;
  }
  printf("backed up %s to %s\n", config->store_path, config->backup_file);
  return 0;
}

int tg_command_reload(const tg_config_t *config) {
  char path[4096];
  tg_command_pid_file(config, path, sizeof path);
  FILE *file = fopen(path, "r");
  long pid = 0;
  if (!file || fscanf(file, "%ld", &pid) != 1 || pid <= 1) {
    fprintf(stderr, "taskgate: reload: no gateway pid in %s\n", path);
    if (file)
      fclose(file);
    return 1;
  }
  fclose(file);
  if (kill((pid_t)pid, SIGHUP) < 0) {
    fprintf(stderr, "taskgate: reload: pid %ld from %s: %s\n", pid, path, strerror(errno));
    return 1;
  }
  printf("reload requested from pid %ld\n", pid);
  return 0;
}

/* Connects to the gateway's listener; a wildcard address means this machine. */
static int connect_listener(const tg_config_t *config) {
  const char *host = config->listen[0].host;
  if (strcmp(host, "0.0.0.0") == 0)
    host = "127.0.0.1";
  else if (strcmp(host, "::") == 0)
    host = "::1";
  char port[16];
  snprintf(port, sizeof port, "%d", config->listen[0].port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *found = NULL;
  if (getaddrinfo(host, port, &hints, &found) != 0)
    return -1;
  int fd = socket(found->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) < 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

int tg_command_status(const tg_config_t *config) {
  int fd = connect_listener(config);
  if (fd < 0) {
    fprintf(stderr, "taskgate: status: no gateway answers on %s:%d\n", config->listen[0].host, config->listen[0].port);
    return 1;
  }
  static const char request[] = "GET /status HTTP/1.1\r\nHost: taskgate\r\nConnection: close\r\n\r\n";
  char response[65536];
  size_t used = 0;
  ssize_t n = write(fd, request, sizeof request - 1);
  while (n >= 0 && used < sizeof response - 1 && (n = read(fd, response + used, sizeof response - 1 - used)) > 0)
    used += (size_t)n;
  close(fd);
  response[used] = '\0';
  const char *body = strstr(response, "\r\n\r\n");
  if (strncmp(response, "HTTP/1.1 200", 12) != 0 || !body) {
    fprintf(stderr, "taskgate: status: unexpected answer from %s:%d\n", config->listen[0].host, config->listen[0].port);
    return 1;
  }
  fputs(body + 4, stdout);
  return 0;
}
