/* upstream.h: outbound HTTP/1.1 on the event loop: keep-alive pools per origin, connect and
 * reply timeouts, a cap on reply size. Used to forward calls to an upstream task interface and
 * by rules that notify other systems. */
#ifndef TG_UPSTREAM_H
#define TG_UPSTREAM_H

#include <stddef.h>
#include <uv.h>

typedef struct tg_upstream_limits_s {
  unsigned connect_timeout_ms; /* default 2000 */
  unsigned reply_timeout_ms;   /* from the request's last byte to the reply's last; default 10000 */
  size_t max_reply_bytes;      /* default 1 MiB */
  int max_connections;         /* per origin; further requests queue; default 64 */
} tg_upstream_limits_t;

/* How a request ended: error is 0 and status/body are the reply, or error is a negative code
 * and reason says what went wrong ("connect timeout", "connection refused", ...). The body is
 * valid only during the callback. */
typedef struct tg_upstream_result_s {
  int error;
  const char *reason;
  int status;
  const char *body;
  size_t len;
} tg_upstream_result_t;

typedef void (*tg_upstream_done_fn)(void *data, const tg_upstream_result_t *result);

typedef struct tg_upstream_s tg_upstream_t;

/* Creates a client on loop. Returns NULL when out of memory. */
tg_upstream_t *tg_upstream_new(uv_loop_t *loop, const tg_upstream_limits_t *limits);
/* Sends `method url` with body (copied) and calls done exactly once, later, with the outcome.
 * url is http://host[:port]/path. Returns 0, or a negative code (done is then never called)
 * for a URL that is not http:// or a host that does not resolve. */
int tg_upstream_request(tg_upstream_t *upstream, const char *method, const char *url, const char *content_type,
                        const char *body, size_t len, tg_upstream_done_fn done, void *data);
/* Closes idle connections and fails queued requests; requests in flight end by their reply or
 * their timeout. Call tg_upstream_free once the loop has stopped. */
void tg_upstream_close(tg_upstream_t *upstream);
void tg_upstream_free(tg_upstream_t *upstream);

#endif
