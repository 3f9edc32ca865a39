/* upstream.h: outbound HTTP and HTTPS on an event loop (libcurl's multi interface): a
 * connection of its own for every request (no reply can be taken for another's), names resolved
 * off the loop, connect and reply timeouts, a cap on
 * reply size, and never a second sending of a request that may have reached its server. Used
 * to forward calls to an upstream task interface, by rules that call other systems, by the
 * upstream health probe and by the outbox. */
#ifndef TG_UPSTREAM_H
#define TG_UPSTREAM_H

#include <stddef.h>
#include <uv.h>

typedef struct tg_upstream_options_s {
  unsigned connect_timeout_ms; /* name lookup, TCP and TLS handshake; default 2000 */
  unsigned reply_timeout_ms;   /* from the request being sent to the reply's last byte; default 10000 */
  size_t max_reply_bytes;      /* default 1 MiB */
  int max_connections;         /* calls to --upstream's set in flight at once (per worker);
                                * further calls queue; default 64 */
  unsigned queue_timeout_ms;   /* the longest a call waits in that queue (never sent); default 2000 */
  const char *ca_file;         /* CA certificates trusted for HTTPS; NULL: the system's */
  const char *cert_file;       /* client certificate presented when a server asks; or NULL */
  const char *key_file;        /* its private key (default: in cert_file) */
  struct tg_upstreams_s *upstreams; /* --upstream's set, for requests sent via_upstreams; or NULL */
} tg_upstream_options_t;

/* One request. Strings are copied; NULL identity fields send no header. */
typedef struct tg_upstream_request_s {
  const char *method;       /* POST, GET, HEAD, ...; only GET and HEAD are ever sent twice */
  const char *url;          /* http:// or https:// */
  const char *content_type; /* default application/xml */
  const char *body;
  size_t len;
  const char *request_id;    /* X-Request-Id */
  const char *forwarded_for; /* X-Forwarded-For */
  const char *via;           /* Via: the chain, this gateway last (loop detection) */
  const char *message_id;    /* X-Message-Id and Idempotency-Key (outbox deliveries) */
  /* 1: to the upstreams of --upstream instead of url: the first one up first, and the next one
   * when it fails before the request went out (never once it may have reached one). */
  int via_upstreams;
  int endpoint;   /* with via_upstreams: TG_UPSTREAMS_TASK or TG_UPSTREAMS_BIN */
  /* A probe or an outbox delivery: not counted among the calls' requests, and only the status
   * counts: the reply's body is read and dropped, however long (a receiver's 2xx with a large
   * page still acknowledges its message). */
  int background;
  /* A call to --upstream's set that waits in the queue, or for its connection, is sent only
   * while still_wanted(data) says so (its client is still there); NULL: always. */
  int (*still_wanted)(void *data);
} tg_upstream_request_t;

/* How a request ended: error is 0 and status/body are the reply, or error is a negative code
 * and reason says what went wrong ("connect timeout", "connection refused", ...). sent is 1
 * when the request may have reached the server: after a failure its outcome is then unknown.
 * The body is valid only during the callback. */
typedef struct tg_upstream_result_s {
  int error;
  const char *reason;
  int sent;
  int status;
  const char *body;
  size_t len;
  const char *content_type; /* the reply's Content-Type, or NULL */
  double seconds; /* from the request's start to its end */
} tg_upstream_result_t;

typedef void (*tg_upstream_done_fn)(void *data, const tg_upstream_result_t *result);

typedef struct tg_upstream_s tg_upstream_t;

/* Sets up libcurl for the process; call once before any thread starts. Returns 0 or -1. */
int tg_upstream_global_init(void);
/* Describes the HTTP library, e.g. "libcurl 7.88.1 (OpenSSL/3.0.19, threaded resolver)". */
const char *tg_upstream_library(void);

/* Creates a client on loop. Returns NULL when out of memory. The strings in options must
 * outlive it. */
tg_upstream_t *tg_upstream_new(uv_loop_t *loop, const tg_upstream_options_t *options);
/* Sends request and calls done exactly once, later, with the outcome. Returns 0, or a negative
 * code (done is then never called) for a URL that is not http:// or https://, a method that is
 * not a token or a content type with control bytes (UV_EINVAL), no upstreams to send to, or a
 * client that is closing. */
int tg_upstream_send(tg_upstream_t *upstream, const tg_upstream_request_t *request, tg_upstream_done_fn done,
                     void *data);
/* Fails every request in flight ("gateway stopping") and closes their connections; sends
 * are refused from now on. Call tg_upstream_free once the loop has run the close callbacks. */
void tg_upstream_close(tg_upstream_t *upstream);
void tg_upstream_free(tg_upstream_t *upstream);

#endif
