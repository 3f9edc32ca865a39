/* cli.c: parses `taskgate [COMMAND] [--flag VALUE ...]` into a tg_config_t. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "store.h"
#include "redact.h"
#include "upstreams.h"

/* The installed gateway reads its configuration without being told (CMake's TG_DEFAULT_CONFIG,
 * set by the Debian package); a build run from a checkout reads none unless given --config. */
#ifdef TG_DEFAULT_CONFIG
#define DEFAULT_CONFIG_TEXT TG_DEFAULT_CONFIG ", when it exists"
#else
#define DEFAULT_CONFIG_TEXT "none"
#endif

static const char usage[] =
    "Usage: taskgate [COMMAND] [OPTIONS]\n"
    "\n"
    "A scriptable gateway for the AutoStore task interface (XML methodcalls on /api/v2/task).\n"
    "\n"
    "commands:\n"
    "  serve                 run the gateway (the default)\n"
    "  check [DIR]           load a rules directory (default: --rules) exactly as a reload would,\n"
    "                        report every problem with file:line; exit 0 when it would load;\n"
    "                        --replay N: then replay the last N journaled calls against it\n"
    "  replay --rules DIR    run the calls in the store's journal (--last N: the newest N)\n"
    "                        against the config's rules and against DIR, each on a copy of the\n"
    "                        store, and print the calls DIR would answer differently\n"
    "  try METHOD [KEY=VALUE...]  answer one call with the rules on a copy of the store and print\n"
    "                        the reply and every row it would change; nothing is kept. Nested\n"
    "                        parameters by dots: tasks.task.1.task_id=10\n"
    "  test DIR              run the busted specs (*_spec.lua) under DIR with this runtime\n"
    "                        (require \"taskgate.testing\"), each on a temporary store\n"
    "  reload                make the running gateway reload its rules (SIGHUP to the pid in\n"
    "                        --pid-file), wait for the outcome on --admin-listen; exit 1 with\n"
    "                        the error when the new rules did not load (the old ones serve on)\n"
    "  status                print the running gateway's status (GET /status on --admin-listen)\n"
    "  audit                 print the store's audit trail, oldest first, as JSON lines; filters:\n"
    "                        --task ID, --method M, --client ADDRESS, --since T, --until T\n"
    "                        (T: 2024-05-01, 2024-05-01T08:00:00Z, or a time ago: 30m, 1h, 7d),\n"
    "                        --outcome ok|fault|CODE; --format json|csv\n"
    "  outbox list           print the outbox's messages (pending and dead) as JSON lines\n"
    "  outbox retry ID       send message ID again from now on (a dead one too)\n"
    "  outbox drop ID        remove message ID from the outbox\n"
    "  backup FILE           copy the store, online, into FILE: one consistent snapshot, taken\n"
    "                        while the gateway goes on serving and writing\n"
    "  restore FILE          put the copy FILE in place of the store (the previous one is kept\n"
    "                        as STORE.before-restore); refused while a gateway uses the store\n"
    "  migrate-store URI     copy the SQLite store (--store) into the empty PostgreSQL database\n"
    "                        URI (postgresql://...), in one transaction; stop the gateway first\n"
    "\n"
    "Every command finds its gateway through the same options: the store, the pid file and the\n"
    "admin address that --config (default " DEFAULT_CONFIG_TEXT ") describes.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT    address to serve on, repeatable (up to 8: v1 clients on port 80,\n"
    "                        v2 on 44000); default 0.0.0.0:44000; port 0 picks a free port and\n"
    "                        prints 'listening on HOST:PORT'. Every other option may be given\n"
    "                        once (on the command line, or once in the config file)\n"
    "  --tls-cert FILE       serve HTTPS on the --listen address given just before it: its\n"
    "                        certificate chain (PEM); read again on SIGHUP\n"
    "  --tls-key FILE        that address's private key (PEM; default: in --tls-cert)\n"
    "  --rules DIR           directory of rule files, one per method (default ./rules)\n"
    "  --store PATH          SQLite store file, created if missing (default ./taskgate.db); or a\n"
    "                        PostgreSQL database that several gateways share:\n"
    "                        postgresql://USER@HOST[,HOST2...]/DB?target_session_attrs=read-write\n"
    "  --sync MODE           normal: a reply means the change survives a crash of taskgate;\n"
    "                        full: it also survives power loss (default normal)\n"
    "  --log-level LEVEL     debug, info, warn, error or off (default info)\n"
    "  --log-format FORMAT   logfmt or json: one line per event on stderr (default logfmt)\n"
    "  --log-file PATH       serve writes its log lines to PATH (appended) instead of stderr,\n"
    "                        and opens it again on SIGUSR1 (after logrotate moved it)\n"
    "  --admin-listen HOST:PORT  serve /status, /metrics and /healthz there (default\n"
    "                        127.0.0.1:44100; port 0 picks a free port and prints 'admin\n"
    "                        listening on HOST:PORT'); --listen answers only the task\n"
    "                        interface and /healthz\n"
    "  --admin-token-file PATH  the admin address wants 'Authorization: Bearer TOKEN' for\n"
    "                        /status and /metrics, TOKEN being the file's first line (for\n"
    "                        scraping from another host); /healthz stays open; 16 to 100\n"
    "                        characters; read again on SIGHUP\n"
    "  --admin-host NAME     a Host name the admin and console addresses answer, repeatable;\n"
    "                        they always answer IP addresses and localhost, and 421 to any\n"
    "                        other name (a web page rebinding its name to this host)\n"
    "  --console-listen WHERE  the read-only web console (/console/): 'admin' serves it on the\n"
    "                        admin address (the default), 'off' nowhere, HOST:PORT on an\n"
    "                        address of its own; never on the task port\n"
    "  --console-token-file PATH  a token for the console alone (its page asks for it once per\n"
    "                        tab; scripts send 'Authorization: Bearer TOKEN'); the admin\n"
    "                        token is accepted too; 16 to 100 characters; read again on\n"
    "                        SIGHUP\n"
    "  --console-dir DIR     the console's page (default: console/ beside the binary or its\n"
    "                        build directory, or the installed copy)\n"
    "  --drain-timeout SEC   on SIGTERM/SIGINT, time to finish calls in flight (default 10)\n"
    "  --config FILE         read options from FILE: one 'name = value' per line, names as the\n"
    "                        flags without '--'; flags on the command line win (default\n"
    "                        " DEFAULT_CONFIG_TEXT ")\n"
    "  --lua-time-limit MS   Lua time one call may use (default 50)\n"
    "  --header-timeout SEC  time a client has to send a request's line and headers (default 10)\n"
    "  --body-timeout SEC    time a client has to send a request's body (default 30)\n"
    "  --idle-timeout SEC    time a keep-alive connection may wait for its next request\n"
    "                        (default 60)\n"
    "  --max-connections N   open connections; past this a client gets 503 (default 10000)\n"
    "  --body-memory MIB     memory the task request bodies being received or answered may\n"
    "                        hold together; past it a request gets 503 (default 64)\n"
    "  --workers N           event-loop threads serving --listen, each with its own Lua state;\n"
    "                        they share the store, one transaction at a time (default 1)\n"
    "  --lua-memory-limit MIB  memory the Lua state may hold (default 64)\n"
    "  --shared-memory MIB   memory of the rules' shared space (shared.dict, ratelimit), which\n"
    "                        every worker and every rules generation shares; when full, the\n"
    "                        least recently used entries go (default 8)\n"
    "  --journal-size N      calls the store's call journal keeps, the newest, for `replay` and\n"
    "                        `check --replay` (refusals and faults included; 0: no journal;\n"
    "                        default 10000)\n"
    "  --upstream URL[,URL...]  bridge mode: the rules forward calls to this task interface\n"
    "                        (http://host:port/api/v2/task or https://...) and pass its replies\n"
    "                        back; several URLs: the first one up takes the calls (primary first)\n"
    "  --upstream-probe-interval SEC  how often each upstream's health is probed (default 5)\n"
    "  --upstream-connect-timeout SEC  for outbound connections (default 2)\n"
    "  --upstream-reply-timeout SEC    from request sent to reply received (default 10)\n"
    "  --upstream-max-in-flight N  calls sent to the upstreams at once, per worker; more wait\n"
    "                        in a queue, unsent (default 64)\n"
    "  --upstream-queue-timeout SEC  the longest a call waits in that queue before it is answered\n"
    "                        1922, never sent (default 2)\n"
    "  --outbox-target NAME=URL  where outbox.send{target = NAME} messages go (POST, in order,\n"
    "                        until a 2xx); repeatable, up to 16\n"
    "  --outbox-retry-max SEC   the longest wait between attempts to deliver a message (they\n"
    "                        start at 1 s and double; default 60)\n"
    "  --outbox-dead-after SEC  a message not delivered this long after it was queued moves to\n"
    "                        the dead state (default 86400)\n"
    "  --upstream-ca FILE    CA certificates (PEM) trusted for outbound HTTPS: the upstream,\n"
    "                        rules' http.request, outbox targets (default: the system's)\n"
    "  --upstream-cert FILE  client certificate (PEM) for outbound HTTPS servers that ask for one\n"
    "  --upstream-key FILE   its private key (PEM; default: in --upstream-cert)\n"
    "  --pid-file PATH       where serve writes its pid and reload reads it (default: the store\n"
    "                        path with .pid appended, ./taskgate.db.pid)\n"
    "  --runtime DIR         the Lua runtime directory (default: lua/ beside the binary or its\n"
    "                        build directory, or the installed copy)\n"
    "  --help                show this help and exit\n"
    "  --version             show the version and exit\n";

static int parse_address(char *host_out, size_t host_cap, int *port_out, const char *value) {
  const char *colon = strrchr(value, ':');
  if (!colon || colon == value)
    return -1;
  const char *host = value;
  size_t host_len = (size_t)(colon - value);
  if (host[0] == '[' && host_len >= 2 && host[host_len - 1] == ']')
    host++, host_len -= 2;
  if (host_len == 0 || host_len >= host_cap)
    return -1;
  if (host_len == 9 && strncasecmp(host, "localhost", 9) == 0)
    host = "127.0.0.1", host_len = 9; /* the loopback address, as in /etc/hosts; no resolver at start */
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end || port < 0 || port > 65535)
    return -1;
  memcpy(host_out, host, host_len);
  host_out[host_len] = '\0';
  *port_out = (int)port;
  return 0;
}

/* True for a file the gateway can read (certificates and keys are read at start). */
static int readable(const char *path) { return access(path, R_OK) == 0; }

/* Parses seconds (decimals allowed, 0.001 to 86400) into milliseconds. */
static int parse_seconds(const char *value, unsigned *ms) {
  char *end;
  double seconds = strtod(value, &end);
  if (!*value || *end || seconds < 0.001 || seconds > 86400)
    return -1;
  *ms = (unsigned)(seconds * 1000 + 0.5);
  return 0;
}

static int parse_number(const char *value, long min, long max, long *out) {
  char *end;
  long n = strtol(value, &end, 10);
  if (!*value || *end || n < min || n > max)
    return -1;
  *out = n;
  return 0;
}

enum { TLS_MISPLACED = -3, TOO_MANY_LISTEN = -4 }; /* apply()'s answers besides -1 and -2 */

/* Adds a --listen address; returns 0, -1 for a bad address or TOO_MANY_LISTEN. */
static int add_listen(tg_config_t *config, const char *value) {
  if (config->listen_count == TG_MAX_LISTEN)
    return TOO_MANY_LISTEN;
  tg_address_t *address = &config->listen[config->listen_count];
  *address = (tg_address_t){0};
  if (parse_address(address->host, sizeof address->host, &address->port, value) < 0)
    return -1;
  config->listen_count++;
  config->listens_in_source++;
  return 0;
}

/* Gives --tls-cert or --tls-key to the --listen given last in the same source (the config
 * file, or the command line), once each. Returns 0, -1 for a file that cannot be read, or
 * TLS_MISPLACED. */
static int add_tls_file(tg_config_t *config, const char *name, const char *value) {
  if (!config->listens_in_source)
    return TLS_MISPLACED;
  tg_address_t *address = &config->listen[config->listen_count - 1];
  const char **file = strcmp(name, "tls-cert") == 0 ? &address->tls_cert : &address->tls_key;
  if (*file)
    return TLS_MISPLACED;
  return readable(value) ? (*file = value, 0) : -1;
}

/* Adds an --outbox-target NAME=URL: a name rules use (letters, digits, '_', '-'; up to 32), once,
 * and an http:// or https:// URL. Returns 0 or -1. */
static int add_outbox_target(tg_outbox_config_t *outbox, const char *value) {
  const char *eq = strchr(value, '=');
  size_t name_len = eq ? (size_t)(eq - value) : 0;
  static const char name_bytes[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  if (!eq || name_len == 0 || name_len >= TG_OUTBOX_NAME_BYTES || strspn(value, name_bytes) != name_len ||
      outbox->target_count == TG_OUTBOX_MAX_TARGETS ||
      (strncmp(eq + 1, "http://", 7) != 0 && strncmp(eq + 1, "https://", 8) != 0))
    return -1;
  for (int i = 0; i < outbox->target_count; i++)
    if (strlen(outbox->targets[i].name) == name_len && strncmp(outbox->targets[i].name, value, name_len) == 0)
      return -1;
  tg_outbox_target_t *target = &outbox->targets[outbox->target_count++];
  memcpy(target->name, value, name_len);
  target->name[name_len] = '\0';
  target->url = eq + 1;
  return 0;
}

/* Applies one --name value pair; returns 0, -1 for a bad value, -2 for an unknown name,
 * TLS_MISPLACED or TOO_MANY_LISTEN. */
static int apply(tg_config_t *config, const char *name, const char *value) {
  long n;
  if (strcmp(name, "listen") == 0)
    return add_listen(config, value);
  if (strcmp(name, "tls-cert") == 0 || strcmp(name, "tls-key") == 0)
    return add_tls_file(config, name, value);
  if (strcmp(name, "outbox-target") == 0)
    return add_outbox_target(&config->outbox, value);
  if (strcmp(name, "outbox-retry-max") == 0)
    return parse_seconds(value, &config->outbox.retry_max_ms);
  if (strcmp(name, "outbox-dead-after") == 0) {
    if (parse_number(value, 1, 366L * 86400, &n) < 0)
      return -1;
    return config->outbox.dead_after_seconds = (unsigned)n, 0;
  }
  if (strcmp(name, "admin-listen") == 0)
    return parse_address(config->admin_host, sizeof config->admin_host, &config->admin_port, value);
  if (strcmp(name, "console-listen") == 0) {
    if (strcmp(value, "admin") == 0 || strcmp(value, "off") == 0)
      return config->console = value[0] == 'a' ? TG_CONSOLE_ON_ADMIN : TG_CONSOLE_OFF, 0;
    config->console = TG_CONSOLE_OWN_ADDRESS;
    return parse_address(config->console_host, sizeof config->console_host, &config->console_port, value);
  }
  if (strcmp(name, "console-token-file") == 0)
    return config->console_token_file = value, 0;
  if (strcmp(name, "admin-host") == 0)
    return tg_host_allow_add(&config->admin_hosts, value);
  if (strcmp(name, "console-dir") == 0)
    return config->console_dir = value, 0;
  if (strcmp(name, "log-format") == 0) {
    if (strcmp(value, "logfmt") && strcmp(value, "json"))
      return -1;
    return config->log_json = strcmp(value, "json") == 0, 0;
  }
  if (strcmp(name, "drain-timeout") == 0)
    return parse_seconds(value, &config->drain_timeout_ms);
  if (strcmp(name, "rules") == 0)
    return config->rules_dir = value, 0;
  if (strcmp(name, "store") == 0)
    return config->store_path = value, 0;
  if (strcmp(name, "log-file") == 0)
    return config->log_file = value, 0;
  if (strcmp(name, "admin-token-file") == 0)
    return config->admin_token_file = value, 0;
  if (strcmp(name, "pid-file") == 0)
    return config->pid_file = value, 0;
  if (strcmp(name, "runtime") == 0)
    return config->runtime_dir = value, 0;
  if (strcmp(name, "log-level") == 0)
    return (config->log_level = tg_log_level_parse(value)) < 0 ? -1 : 0;
  if (strcmp(name, "sync") == 0) {
    if (strcmp(value, "normal") && strcmp(value, "full"))
      return -1;
    return config->sync_mode = strcmp(value, "full") == 0 ? TG_SYNC_FULL : TG_SYNC_NORMAL, 0;
  }
  if (strcmp(name, "lua-time-limit") == 0) {
    if (parse_number(value, 1, 60000, &n) < 0)
      return -1;
    return config->time_limit_ms = (unsigned)n, 0;
  }
  if (strcmp(name, "upstream") == 0)
    return tg_upstreams_valid(value) == 0 ? (config->upstream_url = value, 0) : -1;
  if (strcmp(name, "upstream-probe-interval") == 0)
    return parse_seconds(value, &config->upstream_probe_interval_ms);
  if (strcmp(name, "upstream-ca") == 0)
    return readable(value) ? (config->upstream_ca = value, 0) : -1;
  if (strcmp(name, "upstream-cert") == 0)
    return readable(value) ? (config->upstream_cert = value, 0) : -1;
  if (strcmp(name, "upstream-key") == 0)
    return readable(value) ? (config->upstream_key = value, 0) : -1;
  if (strcmp(name, "upstream-connect-timeout") == 0)
    return parse_seconds(value, &config->upstream_connect_timeout_ms);
  if (strcmp(name, "upstream-reply-timeout") == 0)
    return parse_seconds(value, &config->upstream_reply_timeout_ms);
  if (strcmp(name, "upstream-queue-timeout") == 0)
    return parse_seconds(value, &config->upstream_queue_timeout_ms);
  if (strcmp(name, "upstream-max-in-flight") == 0) {
    if (parse_number(value, 1, 100000, &n) < 0)
      return -1;
    return config->upstream_max_in_flight = (int)n, 0;
  }
  if (strcmp(name, "header-timeout") == 0)
    return parse_seconds(value, &config->header_timeout_ms);
  if (strcmp(name, "body-timeout") == 0)
    return parse_seconds(value, &config->body_timeout_ms);
  if (strcmp(name, "idle-timeout") == 0)
    return parse_seconds(value, &config->idle_timeout_ms);
  if (strcmp(name, "workers") == 0) {
    if (parse_number(value, 1, 64, &n) < 0)
      return -1;
    return config->workers = (int)n, 0;
  }
  if (strcmp(name, "max-connections") == 0) {
    if (parse_number(value, 1, 1000000, &n) < 0)
      return -1;
    return config->max_connections = (int)n, 0;
  }
  if (strcmp(name, "journal-size") == 0) {
    if (parse_number(value, 0, 10000000, &n) < 0)
      return -1;
    return config->journal_size = (long)n, 0;
  }
  if (strcmp(name, "shared-memory") == 0) {
    if (parse_number(value, 1, 4096, &n) < 0)
      return -1;
    return config->shared_memory = (size_t)n << 20, 0;
  }
  if (strcmp(name, "body-memory") == 0) {
    if (parse_number(value, 1, 65536, &n) < 0)
      return -1;
    return config->body_memory = (size_t)n << 20, 0;
  }
  if (strcmp(name, "lua-memory-limit") == 0) {
    if (parse_number(value, 4, 65536, &n) < 0)
      return -1;
    return config->memory_limit = (size_t)n << 20, 0;
  }
  return -2;
}

/* The options one source (the config file, or the command line) has set, so that setting one
 * twice is refused instead of the second silently replacing the first. --listen repeats. */
typedef struct seen_s {
  char names[64][32];
  int count;
} seen_t;

/* Returns 1 when name was already set in this source (and is not repeatable); else records it. */
static int set_twice(seen_t *seen, const char *name) {
  if (strcmp(name, "listen") == 0 || strncmp(name, "tls-", 4) == 0 || strcmp(name, "outbox-target") == 0 ||
      strcmp(name, "admin-host") == 0)
    return 0; /* repeatable; tls-* once per address (add_tls_file), a target once per name */
  for (int i = 0; i < seen->count; i++)
    if (strcmp(seen->names[i], name) == 0)
      return 1;
  if (seen->count < 64)
    snprintf(seen->names[seen->count++], sizeof seen->names[0], "%s", name);
  return 0;
}

/* Applies one of audit's filters, given on the command line only; returns 0, -1 for a bad value
 * or -2 for a name that is not a filter. */
static int apply_audit(tg_audit_query_t *audit, const char *name, const char *value) {
  long n;
  if (strcmp(name, "task") == 0)
    return parse_number(value, 1, 2147483647, &n) < 0 ? -1 : (audit->task_id = n, 0);
  if (strcmp(name, "method") == 0)
    return audit->method = value, 0;
  if (strcmp(name, "client") == 0)
    return audit->client = value, 0;
  if (strcmp(name, "outcome") == 0) {
    int code = value[0] != '\0' && strspn(value, "0123456789") == strlen(value);
    return code || strcmp(value, "ok") == 0 || strcmp(value, "fault") == 0 ? (audit->outcome = value, 0) : -1;
  }
  if (strcmp(name, "since") == 0)
    return tg_audit_parse_time(value, (long long)time(NULL), audit->since, sizeof audit->since);
  if (strcmp(name, "until") == 0)
    return tg_audit_parse_time(value, (long long)time(NULL), audit->until, sizeof audit->until);
  if (strcmp(name, "format") == 0) {
    if (strcmp(value, "json") && strcmp(value, "csv"))
      return -1;
    return audit->csv = strcmp(value, "csv") == 0, 0;
  }
  return -2;
}

/* Applies `--config FILE` (or the installed default, if it exists): "name = value" lines, '#'
 * comments. Runs before the command-line flags, so they win. */
static int read_config_file(tg_config_t *config, int argc, char **argv, char *err, size_t errcap) {
  const char *path = NULL;
  int given = 0;
  for (int i = 1; i < argc; i++) {
    const char *found = NULL;
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      found = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0)
      found = argv[i] + 9;
    if (found && given++)
      return snprintf(err, errcap, "option '--config' given twice (try --help)"), TG_CLI_USAGE;
    if (found)
      path = found;
  }
#ifdef TG_DEFAULT_CONFIG
  if (!path && access(TG_DEFAULT_CONFIG, F_OK) == 0)
    path = TG_DEFAULT_CONFIG;
#endif
  if (!path)
    return TG_CLI_RUN;
  config->config_file = path;
  FILE *file = fopen(path, "r");
  if (!file)
    return snprintf(err, errcap, "cannot read config file %s", path), TG_CLI_USAGE;
  char line[1024];
  int number = 0, rc = TG_CLI_RUN;
  seen_t seen = {0};
  while (rc == TG_CLI_RUN && fgets(line, sizeof line, file)) {
    number++;
    char *text = line + strspn(line, " \t");
    text[strcspn(text, "#\r\n")] = '\0';
    if (!*text)
      continue;
    char *eq = strchr(text, '=');
    char *name_end = eq ? eq : text + strlen(text);
    while (name_end > text && (name_end[-1] == ' ' || name_end[-1] == '\t'))
      name_end--;
    char *value = eq ? eq + 1 + strspn(eq + 1, " \t") : NULL;
    size_t value_len = value ? strlen(value) : 0;
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
      value[--value_len] = '\0';
    *name_end = '\0';
    /* Values must outlive the parse: the config keeps pointers to them. */
    char *kept = value ? strdup(value) : NULL;
    int twice = kept && set_twice(&seen, text);
    int applied = kept && !twice && strcmp(text, "config") != 0 ? apply(config, text, kept) : -1;
    if (applied < 0) {
      if (applied == TOO_MANY_LISTEN)
        snprintf(err, errcap, "%s:%d: too many listen addresses (at most %d)", path, number, TG_MAX_LISTEN);
      else
        snprintf(err, errcap, "%s:%d: %s '%s'", path, number,
                 twice                      ? "set twice:"
                 : applied == -2            ? "unknown option"
                 : applied == TLS_MISPLACED ? "belongs after the listen line it secures, once:"
                                            : "invalid line",
                 text);
      free(kept);
      rc = TG_CLI_USAGE;
    }
  }
  fclose(file);
  return rc;
}

/* replay's --rules (the candidate, beside the config's rules) and --last N, check's --replay N.
 * Returns 0, -1 for a bad value, or -2 when the option is not one of them. */
static int apply_replay(tg_config_t *config, const char *name, const char *value) {
  long n;
  int replay = strcmp(config->command, "replay") == 0;
  if (replay && strcmp(name, "rules") == 0)
    return config->check_dir = value, 0;
  if ((replay && strcmp(name, "last") == 0) || (strcmp(config->command, "check") == 0 && strcmp(name, "replay") == 0)) {
    if (parse_number(value, 1, 10000000, &n) < 0)
      return -1;
    return config->replay_last = n, 0;
  }
  return -2;
}

int tg_cli_parse(tg_config_t *config, int argc, char **argv, char *err, size_t errcap) {
  *config = (tg_config_t){
      .command = "serve",
      .rules_dir = "./rules",
      .store_path = "./taskgate.db",
      .log_level = TG_LOG_INFO,
      .sync_mode = TG_SYNC_NORMAL,
      .time_limit_ms = 50,
      .memory_limit = (size_t)64 << 20,
      .header_timeout_ms = 10000,
      .body_timeout_ms = 30000,
      .idle_timeout_ms = 60000,
      .max_connections = 10000,
      .workers = 1,
      .shared_memory = (size_t)8 << 20,
      .body_memory = (size_t)64 << 20,
      .journal_size = 10000,
      .upstream_connect_timeout_ms = 2000,
      .upstream_reply_timeout_ms = 10000,
      .upstream_queue_timeout_ms = 2000,
      .upstream_max_in_flight = 64,
      .upstream_probe_interval_ms = 5000,
      .drain_timeout_ms = 10000,
      .outbox = {.dead_after_seconds = 86400, .retry_max_ms = 60000},
      .admin_host = "127.0.0.1", /* private by default: status and metrics tell a lot */
      .admin_port = 44100,
  };
  int i = 1;
  if (i < argc && argv[i][0] != '-') {
    config->command = argv[i++];
    static const char *const commands[] = {"serve",  "audit",  "check",         "reload", "status", "backup",
                                           "restore", "outbox", "migrate-store", "replay", "try",    "test",
                                           NULL};
    int known = 0;
    for (int c = 0; commands[c]; c++)
      known |= strcmp(config->command, commands[c]) == 0;
    if (!known)
      return snprintf(err, errcap, "unknown command '%s' (try --help)", config->command), TG_CLI_USAGE;
    if ((strcmp(config->command, "check") == 0 || strcmp(config->command, "test") == 0) && i < argc &&
        argv[i][0] != '-')
      config->check_dir = argv[i++];
    if (strcmp(config->command, "test") == 0 && !config->check_dir)
      return snprintf(err, errcap, "test needs the DIR of a site's specs (try --help)"), TG_CLI_USAGE;
    if (strcmp(config->command, "try") == 0) {
      if (i >= argc || argv[i][0] == '-')
        return snprintf(err, errcap, "try needs a METHOD, then its KEY=VALUE parameters (try --help)"), TG_CLI_USAGE;
      config->try_method = argv[i++];
      config->try_params = (const char *const *)argv + i;
      for (; i < argc && strncmp(argv[i], "--", 2) != 0; i++, config->try_count++)
        if (!strchr(argv[i], '='))
          return snprintf(err, errcap, "try: '%s' is not KEY=VALUE (try --help)", argv[i]), TG_CLI_USAGE;
    }
    if (strcmp(config->command, "outbox") == 0) {
      static const char *const actions[] = {"list", "retry", "drop", NULL};
      int known_action = 0;
      for (int a = 0; i < argc && actions[a]; a++)
        known_action |= strcmp(argv[i], actions[a]) == 0;
      if (!known_action)
        return snprintf(err, errcap, "outbox needs list, retry ID or drop ID (try --help)"), TG_CLI_USAGE;
      config->outbox_action = argv[i++];
      if (strcmp(config->outbox_action, "list") != 0 && i < argc && argv[i][0] != '-')
        config->outbox_id = argv[i++];
    }
    if (strcmp(config->command, "backup") == 0 || strcmp(config->command, "restore") == 0) {
      int backup = config->command[0] == 'b';
      if (i >= argc || argv[i][0] == '-')
        return snprintf(err, errcap, "%s needs a FILE to %s (try --help)", config->command, backup ? "write" : "read"),
               TG_CLI_USAGE;
      *(backup ? &config->backup_file : &config->restore_file) = argv[i++];
    }
    if (strcmp(config->command, "migrate-store") == 0) {
      if (i >= argc || argv[i][0] == '-')
        return snprintf(err, errcap, "migrate-store needs the URI of a PostgreSQL database (try --help)"), TG_CLI_USAGE;
      config->migrate_to = argv[i++];
    }
  }
  /* Help and version answer whatever the config file holds. */
  for (int h = i; h < argc; h++) {
    if (strcmp(argv[h], "--help") == 0 || strcmp(argv[h], "-h") == 0)
      return fputs(usage, stdout), TG_CLI_DONE;
    if (strcmp(argv[h], "--version") == 0)
      return printf("taskgate %s\n%s\n", TG_VERSION, tg_upstream_library()), TG_CLI_DONE;
  }
  int rc = read_config_file(config, argc, argv, err, errcap);
  if (rc != TG_CLI_RUN)
    return rc;
  seen_t seen = {0};
  int listen_on_command_line = 0, targets_on_command_line = 0;
  config->listens_in_source = 0;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0)
      return snprintf(err, errcap, "unexpected argument '%s' (try --help)", arg), TG_CLI_USAGE;
    char name[64];
    const char *eq = strchr(arg, '='), *value;
    size_t name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (name_len >= sizeof name)
      return snprintf(err, errcap, "unknown option '%s' (try --help)", arg), TG_CLI_USAGE;
    memcpy(name, arg + 2, name_len);
    name[name_len] = '\0';
    if (eq)
      value = eq + 1;
    else if (i + 1 < argc)
      value = argv[++i];
    else
      return snprintf(err, errcap, "option '--%s' needs a value (try --help)", name), TG_CLI_USAGE;
    if (strcmp(name, "config") == 0)
      continue; /* read before the other flags */
    if (set_twice(&seen, name))
      return snprintf(err, errcap, "option '--%s' given twice (try --help)", name), TG_CLI_USAGE;
    if (strcmp(name, "listen") == 0 && !listen_on_command_line++)
      config->listen_count = 0; /* the command line's addresses replace the config file's */
    if (strcmp(name, "outbox-target") == 0 && !targets_on_command_line++)
      config->outbox.target_count = 0; /* and so do its outbox targets */
    rc = strcmp(config->command, "audit") == 0 ? apply_audit(&config->audit, name, value) : -2;
    if (rc == -2)
      rc = apply_replay(config, name, value);
    if (rc == -2)
      rc = apply(config, name, value);
    if (rc == -2)
      return snprintf(err, errcap, "unknown option '--%s' (try --help)", name), TG_CLI_USAGE;
    if (rc == TLS_MISPLACED)
      return snprintf(err, errcap, "--%s belongs after the --listen it secures, once (try --help)", name),
             TG_CLI_USAGE;
    if (rc == TOO_MANY_LISTEN)
      return snprintf(err, errcap, "too many listen addresses (at most %d)", TG_MAX_LISTEN), TG_CLI_USAGE;
    if (rc < 0) {
      char shown[512]; /* a URL's password stays off the screen (redact.h) */
      return snprintf(err, errcap, "invalid value '%s' for --%s (try --help)", tg_redact(value, shown, sizeof shown),
                      name),
             TG_CLI_USAGE;
    }
  }
  if (config->listen_count == 0)
    config->listen[config->listen_count++] = (tg_address_t){.host = "0.0.0.0", .port = 44000};
  for (int a = 0; a < config->listen_count; a++)
    if (config->listen[a].tls_key && !config->listen[a].tls_cert)
      return snprintf(err, errcap, "--tls-key for %s:%d without a --tls-cert (try --help)", config->listen[a].host,
                      config->listen[a].port),
             TG_CLI_USAGE;
  return TG_CLI_RUN;
}

tg_upstream_options_t tg_cli_upstream_options(const tg_config_t *config, tg_upstreams_t *upstreams) {
  return (tg_upstream_options_t){.connect_timeout_ms = config->upstream_connect_timeout_ms,
                                 .reply_timeout_ms = config->upstream_reply_timeout_ms,
                                 .max_connections = config->upstream_max_in_flight,
                                 .queue_timeout_ms = config->upstream_queue_timeout_ms,
                                 .ca_file = config->upstream_ca,
                                 .cert_file = config->upstream_cert,
                                 .key_file = config->upstream_key,
                                 .upstreams = upstreams};
}

void tg_cli_outbox_names(const tg_config_t *config, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < config->outbox.target_count && used < cap; i++) {
    int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "", config->outbox.targets[i].name);
    used += n > 0 ? (size_t)n : 0;
  }
}
