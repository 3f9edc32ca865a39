/* cli.h: the command line: subcommand, flags, defaults and help text. */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stddef.h>

#include "host_allow.h"
#include "outbox.h"
#include "upstream.h"
#include "upstreams.h"

enum { TG_MAX_LISTEN = 8 }; /* --listen addresses */
/* Where the console is served (--console-listen). */
enum { TG_CONSOLE_ON_ADMIN = 0, TG_CONSOLE_OFF = 1, TG_CONSOLE_OWN_ADDRESS = 2 };

typedef struct tg_address_s {
  char host[64];
  int port;
  const char *tls_cert, *tls_key; /* --tls-cert/--tls-key after this --listen: HTTPS; or NULL */
} tg_address_t;

/* `taskgate audit`'s filters; empty ones (NULL, 0) let every record through. */
typedef struct tg_audit_query_s {
  long long task_id;
  const char *method, *client, *outcome; /* outcome: ok, a fault code, or "fault" for any */
  char since[32], until[32];             /* UTC text, as the records hold it */
  int csv;                               /* --format csv (else JSON lines) */
} tg_audit_query_t;

typedef struct tg_config_s {
  const char *command;                /* serve (the default), audit, check, reload, status, backup or restore */
  const char *config_file;            /* the config file read: --config, the installed default, or NULL */
  const char *check_dir;              /* check's and test's DIR argument (check's default: rules_dir);
                                         replay's candidate rules (its --rules) */
  long replay_last;                   /* replay's --last N, check's --replay N (0: replay's all) */
  const char *try_method;             /* try's METHOD */
  const char *const *try_params;      /* try's KEY=VALUE arguments (try_count of them) */
  int try_count;
  const char *pid_file;               /* NULL: the store path with ".pid" appended */
  tg_address_t listen[TG_MAX_LISTEN]; /* --listen, repeatable; the first is where status asks */
  int listen_count;
  int listens_in_source; /* while parsing: --listen addresses the source being read has given */
  const char *rules_dir;
  const char *store_path;
  const char *runtime_dir; /* NULL: found next to the binary or in the install prefix */
  int log_level;
  int sync_mode;
  unsigned time_limit_ms;
  size_t memory_limit;
  unsigned header_timeout_ms, body_timeout_ms, idle_timeout_ms;
  const char *upstream_url; /* bridge mode: forward calls there (one or more URLs, by commas) */
  unsigned upstream_probe_interval_ms;
  const char *upstream_ca, *upstream_cert, *upstream_key; /* outbound TLS, or NULL */
  tg_outbox_config_t outbox;                              /* --outbox-target, --outbox-dead-after */
  const char *outbox_action, *outbox_id;                  /* outbox's ACTION [ID] arguments */
  char admin_host[64];                                    /* --admin-listen: /status, /metrics and /healthz */
  int admin_port;
  const char *admin_token_file; /* NULL: the admin address answers without a token */
  tg_host_allow_t admin_hosts;  /* --admin-host: names the admin and console addresses answer */
  int log_json;
  const char *log_file; /* --log-file: serve logs there (reopened on SIGUSR1), not on stderr */
  unsigned drain_timeout_ms;
  tg_audit_query_t audit;   /* audit's --task, --method, --client, --since, --until, --outcome, --format */
  const char *backup_file;  /* backup's FILE argument */
  const char *restore_file; /* restore's FILE argument */
  const char *migrate_to;   /* migrate-store's URI argument */
  unsigned upstream_connect_timeout_ms, upstream_reply_timeout_ms;
  unsigned upstream_queue_timeout_ms; /* the longest a call waits for room among those in flight */
  int upstream_max_in_flight;         /* calls to the upstreams in flight at once, per worker */
  int max_connections;
  int workers; /* event-loop threads serving --listen (1: the main thread alone) */
  int console;                    /* TG_CONSOLE_*: on the admin address, off, or on console_host:port */
  char console_host[64];
  int console_port;
  const char *console_token_file; /* NULL: the console wants the admin token, if there is one */
  const char *console_dir;        /* NULL: found next to the binary or in the install prefix */
  size_t shared_memory; /* --shared-memory: bytes the rules' shared space may hold */
  size_t body_memory;   /* --body-memory: bytes all task request bodies together may hold */
  long journal_size;    /* --journal-size: calls the journal keeps for replay (0: none) */
} tg_config_t;

enum { TG_CLI_RUN = 0, TG_CLI_DONE = 1, TG_CLI_USAGE = -1 };

/* The outbound HTTP client's options the flags ask for, sending to the set of --upstream. */
tg_upstream_options_t tg_cli_upstream_options(const tg_config_t *config, tg_upstreams_t *upstreams);

/* The --outbox-target names, by commas, into out (what rules may name in outbox.send). */
void tg_cli_outbox_names(const tg_config_t *config, char *out, size_t cap);

/* Fills config from argv. Returns TG_CLI_RUN, TG_CLI_DONE when --help or --version was printed,
 * or TG_CLI_USAGE with a message in err. */
int tg_cli_parse(tg_config_t *config, int argc, char **argv, char *err, size_t errcap);

#endif
