/* admin.h: the operator's read-only HTTP views: GET /status, /metrics and /healthz, on the
 * gateway's listener or a separate --admin-listen one. */
#ifndef TG_ADMIN_H
#define TG_ADMIN_H

#include "buf.h"
#include "handler.h"
#include "reload.h"
#include "listeners.h"
#include "store.h"

typedef struct tg_admin_s {
  tg_reload_t *reload;
  tg_listeners_t *listeners; /* the main thread's: their addresses */
  int *open_conns;     /* of all workers */
  tg_store_t *store;
  const char *store_path;
  tg_handler_t **handlers;  /* one per worker */
  int handler_count;        /* = the number of workers */
  const char *upstream_url; /* or NULL */
  double started;           /* seconds since the epoch */
  int draining;             /* set on SIGTERM: /healthz answers 503 */
} tg_admin_t;

/* A tg_http_admin_fn; ctx is a tg_admin_t. Any worker may call it: it holds the store lock. */
int tg_admin_answer(void *ctx, const char *path, tg_buf_t *body, const char **content_type);

#endif
