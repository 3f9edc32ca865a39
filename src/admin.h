/* admin.h: the operator's read-only HTTP views: GET /status, /metrics and /healthz on the
 * admin address (--admin-listen, loopback by default), and /healthz alone on the task port. */
#ifndef TG_ADMIN_H
#define TG_ADMIN_H

#include "body_budget.h"
#include "buf.h"
#include "handler.h"
#include "reload.h"
#include "listeners.h"
#include "outbox.h"
#include "shared.h"
#include "store.h"
#include "tls_certificate.h"
#include "upstreams.h"

enum {
  TG_ADMIN_TOKEN_MAX = 100, /* bytes of a bearer token; fits one header value */
  TG_ADMIN_TOKEN_MIN = 16,  /* a shorter one falls to guessing (with the limiter too) */
};

typedef struct tg_admin_s {
  tg_reload_t *reload;
  tg_listeners_t *listeners; /* the main thread's: their addresses */
  int *open_conns;     /* of all workers */
  const tg_body_budget_t *bodies; /* the task request bodies' budget (--body-memory) */
  tg_store_t *store;
  const char *store_path;
  tg_handler_t **handlers;            /* one per worker */
  int handler_count;                  /* = the number of workers */
  tg_upstreams_t *upstreams;          /* --upstream's, or NULL */
  tg_outbox_t *outbox;                /* the delivery loop, with --outbox-target; or NULL */
  tg_shared_t *shared;                /* the rules' shared space */
  double started;                     /* seconds since the epoch */
  int draining;                       /* set on SIGTERM: /healthz answers 503 */
  /* The last SIGHUP's certificate reload (changed under the store lock): -1 none yet, 1 every
   * TLS listener took its files, 0 one did not (the old certificate keeps serving). */
  int tls_reload_ok;
  unsigned tls_reload_failures;
  char tls_reload_error[256];
  /* --upstream-cert's certificate as last read (at the start, on SIGHUP): libcurl reads the file
   * for each new connection. known is 0 when there is none. Under the store lock. */
  tg_tls_certificate_t upstream_client;
  char token[TG_ADMIN_TOKEN_MAX + 1]; /* --admin-token-file's token; "" when none is wanted */
} tg_admin_t;

/* A tg_http_admin_fn for the admin address: /status, /metrics (behind the token, if any) and
 * /healthz; ctx is a tg_admin_t. Any worker may call it: it holds the store lock. */
int tg_admin_answer(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **content_type);
/* A tg_http_admin_fn for the task port: /healthz only (load balancers probe the port they
 * balance); every other path is 404. */
int tg_admin_public(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **content_type);
/* Returns 1 when given is token; compares in time that depends only on the lengths, so a guess
 * learns nothing from timing. */
int tg_admin_token_equal(const char *given, const char *token);
/* Reads a bearer token: the first line of path, without its line end; printable ASCII, no
 * spaces, TG_ADMIN_TOKEN_MIN to TG_ADMIN_TOKEN_MAX bytes. what ("admin", "console") names the
 * file in the message. Returns 0, or -1 with a message in err (token is then unchanged). */
int tg_admin_token_load(const char *path, const char *what, char *token, size_t cap, char *err, size_t errcap);

#endif
