/* commands.c: the one-shot subcommands audit, check, reload and status (backup and restore are
 * in backup.c). Each reaches the gateway its configuration describes: its store, pid file and
 * admin address. */
#include "commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_client.h"
#include "audit.h"
#include "script.h"
#include "store.h"
#include "xml.h"

int tg_command_pid_file(const tg_config_t *config, char *buf, size_t cap) {
  int n =
      config->pid_file ? snprintf(buf, cap, "%s", config->pid_file) : snprintf(buf, cap, "%s.pid", config->store_path);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int tg_command_audit(const tg_config_t *config) {
  char err[512];
  tg_store_t *store = tg_store_open_readonly(config->store_path, err, sizeof err);
  if (!store) {
    fprintf(stderr, "taskgate: %s\n", err);
    return 1;
  }
  int rc = tg_audit_print(store, &config->audit, stdout);
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
  char outbox_targets[TG_OUTBOX_MAX_TARGETS * TG_OUTBOX_NAME_BYTES]; /* as the gateway would know them */
  tg_cli_outbox_names(config, outbox_targets, sizeof outbox_targets);
  tg_script_config_t script_config = {
      .runtime_dir = runtime_dir,
      .rules_dir = dir,
      .store = store,
      .memory_limit = config->memory_limit,
      .time_limit_ms = config->time_limit_ms,
      .upstream_url = config->upstream_url,
      .outbox_targets = outbox_targets,
      .journal_size = 0, /* self-checks on a scratch store: nothing to keep */
  };
  tg_script_t *script = tg_script_new(&script_config, err, sizeof err);
  int status = 0;
  if (script) {
    tg_buf_t files = {0}, warnings = {0}, version = {0};
    tg_script_host_string(script, "describe", &files);
    tg_script_host_string(script, "version", &version);
    tg_script_host_string(script, "warnings_text", &warnings);
    if (warnings.len)
      fprintf(stderr, "warning: %s\n", warnings.data); /* one file a line, each named */
    printf("ok: %s loads; rules version %s; files: %s\n", dir, version.data ? version.data : "?",
           files.data ? files.data : "[]");
    tg_buf_free(&files);
    tg_buf_free(&version);
    tg_buf_free(&warnings);
    tg_script_release(script);
    if (config->replay_last > 0) /* what DIR would answer differently than the configured rules */
      status = tg_command_check_replay(config, runtime_dir, dir);
  } else {
    fprintf(stderr, "%s\n", err);
    status = 1;
  }
  tg_store_close(store);
  return status;
}

/* The rules' reload state as /status reports it (tg_reload_status_json). */
typedef struct reload_state_s {
  long pid;
  unsigned generation, reloads; /* reloads: succeeded and failed, since start */
  int last_ok, draining;
  char error[2048];
  int tls_failed;          /* the last SIGHUP left a TLS listener on its old certificate */
  char tls_error[512];
} reload_state_t;

/* Copies the JSON string starting at s (just past its opening quote) into out, unescaped. */
static void json_unquote(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && *s != '"' && o + 1 < cap; s++) {
    if (*s == '\\' && s[1]) {
      s++;
      if (*s == 'n')
        out[o++] = '\n';
      else if (*s == 'u' && strlen(s) >= 5) /* control bytes only, as the gateway writes them */
        out[o++] = (char)strtol((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16), s += 4;
      else
        out[o++] = *s;
    } else {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
}

/* Reads the fields reload needs out of a /status document. Returns 0, or -1 when one is missing. */
static int parse_reload_state(const char *json, reload_state_t *state) {
  const char *pid = strstr(json, "\"pid\":");
  const char *rules = strstr(json, "\"rules\":{");
  const char *last = rules ? strstr(rules, "\"last_reload\":{\"ok\":") : NULL;
  const char *error = last ? strstr(last, "\"error\":\"") : NULL;
  unsigned ok = 0, failed = 0;
  if (!pid || !error || sscanf(pid, "\"pid\":%ld", &state->pid) != 1 ||
      sscanf(rules, "\"rules\":{\"generation\":%u,\"reloads_ok\":%u,\"reloads_failed\":%u", &state->generation, &ok,
             &failed) != 3)
    return -1;
  state->reloads = ok + failed;
  state->last_ok = strncmp(last + strlen("\"last_reload\":{\"ok\":"), "true", 4) == 0;
  state->draining = strstr(json, "\"draining\":true") != NULL;
  const char *tls = strstr(json, "\"tls_reload\":{\"ok\":false");
  state->tls_failed = tls != NULL;
  const char *tls_error = tls ? strstr(tls, "\"error\":\"") : NULL;
  state->tls_error[0] = '\0';
  if (tls_error)
    json_unquote(tls_error + strlen("\"error\":\""), state->tls_error, sizeof state->tls_error);
  json_unquote(error + strlen("\"error\":\""), state->error, sizeof state->error);
  return 0;
}

/* Asks the admin address for the reload state. Returns 0, or -1 with a message in err. */
static int fetch_reload_state(const tg_config_t *config, reload_state_t *state, char *err, size_t errcap) {
  tg_buf_t body = {0};
  int status = tg_admin_fetch(config, "/status", &body, err, errcap);
  int rc = status == 200 && body.data && parse_reload_state(body.data, state) == 0 ? 0 : -1;
  if (status == 401)
    snprintf(err, errcap, "the admin address wants a token: give the gateway's admin-token-file");
  else if (status >= 0 && rc < 0)
    snprintf(err, errcap, "the admin address answered HTTP %d without the gateway's status", status);
  tg_buf_free(&body);
  return rc;
}

/* Reads the gateway's pid from the pid file. Returns it, or -1 with a message in err. */
static long read_pid(const tg_config_t *config, char *err, size_t errcap) {
  char path[4096];
  if (tg_command_pid_file(config, path, sizeof path) < 0)
    return snprintf(err, errcap, "the pid file's path is too long"), -1;
  FILE *file = fopen(path, "r");
  long pid = 0;
  int ok = file && fscanf(file, "%ld", &pid) == 1 && pid > 1;
  if (file)
    fclose(file);
  if (!ok)
    return snprintf(err, errcap, "no gateway pid in %s (is it running? see --pid-file and --config)", path), -1;
  return pid;
}

enum { RELOAD_WAIT_MS = 60000, RELOAD_POLL_MS = 20 };

/* Waits until the gateway reports a reload after `before`. Returns 0 with the state, or -1. */
static int await_reload(const tg_config_t *config, unsigned before, reload_state_t *state, char *err, size_t errcap) {
  struct timespec pause = {.tv_nsec = RELOAD_POLL_MS * 1000000L};
  for (int waited = 0; waited < RELOAD_WAIT_MS; waited += RELOAD_POLL_MS) {
    if (fetch_reload_state(config, state, err, errcap) < 0)
      return -1;
    if (state->reloads > before)
      return 0;
    nanosleep(&pause, NULL);
  }
  return snprintf(err, errcap, "the gateway reported no reload within %d s", RELOAD_WAIT_MS / 1000), -1;
}

/* SIGHUP to the pid in the pid file, once the admin address confirms that pid is the gateway
 * the configuration describes; then waits for the reload's outcome there. Exit 0 only when
 * the new rules serve. */
int tg_command_reload(const tg_config_t *config) {
  char err[4608]; /* room for a pid file's path */
  reload_state_t state;
  long pid = read_pid(config, err, sizeof err);
  if (pid < 0 || fetch_reload_state(config, &state, err, sizeof err) < 0)
    goto fail;
  if (state.pid != pid) {
    char address[96];
    tg_admin_address(config, address, sizeof address);
    snprintf(err, sizeof err, "the pid file names pid %ld but the gateway on %s is pid %ld: not the same instance", pid,
             address, state.pid);
    goto fail;
  }
  if (state.draining) {
    snprintf(err, sizeof err, "the gateway (pid %ld) is stopping", pid);
    goto fail;
  }
  if (kill((pid_t)pid, SIGHUP) < 0) {
    snprintf(err, sizeof err, "pid %ld: %s", pid, strerror(errno));
    goto fail;
  }
  if (await_reload(config, state.reloads, &state, err, sizeof err) < 0)
    goto fail;
  if (!state.last_ok) {
    fprintf(stderr, "taskgate: reload failed; generation %u keeps serving:\n%s\n", state.generation, state.error);
    return 1;
  }
  if (state.tls_failed) {
    fprintf(stderr,
            "taskgate: reload: rules generation %u serves, but a TLS certificate did not load (the old one keeps "
            "serving): %s\n",
            state.generation, state.tls_error);
    return 1;
  }
  printf("reloaded: rules generation %u serves (pid %ld)\n", state.generation, pid);
  return 0;
fail:
  fprintf(stderr, "taskgate: reload: %s\n", err);
  return 1;
}

int tg_command_status(const tg_config_t *config) {
  char err[512], address[96];
  tg_buf_t body = {0};
  int status = tg_admin_fetch(config, "/status", &body, err, sizeof err);
  tg_admin_address(config, address, sizeof address);
  if (status == 200 && body.data)
    fputs(body.data, stdout);
  else if (status == 401)
    fprintf(stderr, "taskgate: status: %s wants a token: give the gateway's admin-token-file\n", address);
  else if (status >= 0)
    fprintf(stderr, "taskgate: status: HTTP %d from %s\n", status, address);
  else
    fprintf(stderr, "taskgate: status: %s\n", err);
  tg_buf_free(&body);
  return status == 200 ? 0 : 1;
}
