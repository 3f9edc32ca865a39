/* upstream.c: outbound HTTP/1.1 requests on the event loop, with a keep-alive pool per origin.
 * A request takes an idle connection, opens a new one, or queues; every connection has one
 * timer for its connect, reply and idle deadlines. */
#include "upstream.h"

#include <llhttp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "metrics.h"

enum { IDLE_MS = 30000, MAX_ORIGINS = 64 };

typedef struct origin_s origin_t;
typedef struct request_s request_t;
typedef struct link_s link_t;

struct request_s {
  request_t *next; /* in the origin's queue */
  origin_t *origin;
  tg_buf_t bytes; /* the whole request as sent */
  double started;
  tg_upstream_done_fn done;
  void *data;
  int retried;
};

/* One TCP connection to an origin. */
struct link_s {
  link_t *next; /* in the origin's idle list */
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t timer;
  llhttp_t parser;
  origin_t *origin;
  request_t *request; /* the request in flight, or NULL when idle */
  tg_buf_t body;
  size_t received; /* bytes of the current reply */
  int complete;
  int reused; /* it served a request before: a silent close may be a stale keep-alive */
  int closing;
  int handles;
};

struct origin_s {
  origin_t *next;
  tg_upstream_t *upstream;
  char host[256];
  int port;
  struct sockaddr_storage addr;
  link_t *idle;
  request_t *queue, *queue_tail;
  int links; /* open connections, idle or busy */
};

struct tg_upstream_s {
  uv_loop_t *loop;
  tg_upstream_limits_t limits;
  origin_t *origins;
  int closing;
};

static void start_request(link_t *link, request_t *request);
static void pump(origin_t *origin);

/* --- finishing ---------------------------------------------------------------------------- */

static void finish(request_t *request, const tg_upstream_result_t *result) {
  tg_metrics_upstream(result->error ? "failed" : "ok");
  tg_metrics_observe(TG_HIST_UPSTREAM, tg_monotonic_seconds() - request->started);
  request->done(request->data, result);
  tg_buf_free(&request->bytes);
  free(request);
}

static void fail(request_t *request, int error, const char *reason) {
  tg_upstream_result_t result = {.error = error, .reason = reason};
  finish(request, &result);
}

static void on_link_closed(uv_handle_t *handle) {
  link_t *link = handle->data;
  if (--link->handles > 0)
    return;
  tg_buf_free(&link->body);
  free(link);
}

static void unlink_idle(link_t *link) {
  for (link_t **at = &link->origin->idle; *at; at = &(*at)->next) {
    if (*at == link) {
      *at = link->next;
      break;
    }
  }
}

/* Closes a connection. A request still on it fails with reason, or is retried once on a fresh
 * connection when a reused keep-alive connection closed before any byte of the reply. */
static void close_link(link_t *link, int error, const char *reason) {
  if (link->closing)
    return;
  link->closing = 1;
  origin_t *origin = link->origin;
  origin->links--;
  unlink_idle(link);
  request_t *request = link->request;
  link->request = NULL;
  uv_close((uv_handle_t *)&link->tcp, on_link_closed);
  uv_close((uv_handle_t *)&link->timer, on_link_closed);
  if (request) {
    if (link->reused && link->received == 0 && !request->retried && !origin->upstream->closing) {
      request->retried = 1;
      request->next = origin->queue; /* first in line again */
      origin->queue = request;
      if (!origin->queue_tail)
        origin->queue_tail = request;
    } else {
      fail(request, error, reason);
    }
  }
  pump(origin);
}

static void on_connect_timeout(uv_timer_t *timer) { close_link(timer->data, UV_ETIMEDOUT, "connect timeout"); }
static void on_reply_timeout(uv_timer_t *timer) { close_link(timer->data, UV_ETIMEDOUT, "reply timeout"); }
static void on_idle_timeout(uv_timer_t *timer) { close_link(timer->data, 0, "idle"); }

/* --- the reply ---------------------------------------------------------------------------- */

static int on_reply_body(llhttp_t *parser, const char *at, size_t len) {
  link_t *link = parser->data;
  if (link->body.len + len > link->origin->upstream->limits.max_reply_bytes)
    return -1;
  return tg_buf_append(&link->body, at, len) < 0 ? -1 : 0;
}

static int on_reply_complete(llhttp_t *parser) {
  link_t *link = parser->data;
  link->complete = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t reply_settings = {
    .on_body = on_reply_body,
    .on_message_complete = on_reply_complete,
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  static char buffer[64 * 1024]; /* single-threaded loop; each read is parsed at once */
  buf->base = buffer;
  buf->len = sizeof buffer;
}

/* The reply is complete: hand it over, and keep the connection if both sides allow it. */
static void reply_done(link_t *link) {
  request_t *request = link->request;
  link->request = NULL;
  int keep = llhttp_should_keep_alive(&link->parser) && !link->origin->upstream->closing;
  tg_upstream_result_t result = {
      .status = link->parser.status_code, .body = link->body.data ? link->body.data : "", .len = link->body.len};
  finish(request, &result);
  if (!keep) {
    close_link(link, 0, "closed");
    return;
  }
  link->reused = 1;
  uv_timer_start(&link->timer, on_idle_timeout, IDLE_MS, 0);
  link->next = link->origin->idle;
  link->origin->idle = link;
  pump(link->origin);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  link_t *link = stream->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    close_link(link, (int)nread, link->received ? "connection closed mid-reply" : "connection closed");
    return;
  }
  if (!link->request) { /* bytes on an idle connection: the server is confused; drop it */
    close_link(link, 0, "unexpected bytes");
    return;
  }
  link->received += (size_t)nread;
  enum llhttp_errno err = llhttp_execute(&link->parser, buf->base, (size_t)nread);
  if (err == HPE_PAUSED && link->complete) {
    llhttp_resume(&link->parser);
    reply_done(link);
  } else if (err != HPE_OK) {
    close_link(link, UV_EPROTO,
               link->body.len >= link->origin->upstream->limits.max_reply_bytes ? "reply too large"
                                                                                : "malformed HTTP reply");
  }
}

/* --- sending ------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status) {
  link_t *link = req->data;
  if (status < 0 && !link->closing)
    close_link(link, status, "write failed");
}

static void start_request(link_t *link, request_t *request) {
  link->request = request;
  link->received = 0;
  link->complete = 0;
  link->body.len = 0;
  llhttp_init(&link->parser, HTTP_RESPONSE, &reply_settings);
  link->parser.data = link;
  uv_timer_start(&link->timer, on_reply_timeout, link->origin->upstream->limits.reply_timeout_ms, 0);
  uv_buf_t buf = uv_buf_init(request->bytes.data, (unsigned)request->bytes.len);
  int rc = uv_write(&link->write_req, (uv_stream_t *)&link->tcp, &buf, 1, on_written);
  if (rc < 0)
    close_link(link, rc, "write failed");
}

static void on_connected(uv_connect_t *req, int status) {
  link_t *link = req->data;
  if (link->closing)
    return;
  if (status < 0) {
    close_link(link, status, status == UV_ECONNREFUSED ? "connection refused" : "connect failed");
    return;
  }
  uv_tcp_nodelay(&link->tcp, 1);
  if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0) {
    close_link(link, UV_EIO, "read failed");
    return;
  }
  start_request(link, link->request);
}

/* Opens a connection for request; its failure fails the request through close_link. */
static void open_link(origin_t *origin, request_t *request) {
  link_t *link = calloc(1, sizeof *link);
  if (!link) {
    fail(request, UV_ENOMEM, "out of memory");
    return;
  }
  uv_loop_t *loop = origin->upstream->loop;
  link->origin = origin;
  link->request = request;
  link->handles = 2;
  uv_tcp_init(loop, &link->tcp);
  uv_timer_init(loop, &link->timer);
  link->tcp.data = link->timer.data = link->connect_req.data = link->write_req.data = link;
  origin->links++;
  uv_timer_start(&link->timer, on_connect_timeout, origin->upstream->limits.connect_timeout_ms, 0);
  int rc = uv_tcp_connect(&link->connect_req, &link->tcp, (struct sockaddr *)&origin->addr, on_connected);
  if (rc < 0)
    close_link(link, rc, "connect failed");
}

/* Gives queued requests to idle connections, or to new ones while under the cap. */
static void pump(origin_t *origin) {
  tg_upstream_t *upstream = origin->upstream;
  while (origin->queue && !upstream->closing) {
    link_t *link = origin->idle;
    if (!link && origin->links >= upstream->limits.max_connections)
      return;
    request_t *request = origin->queue;
    origin->queue = request->next;
    if (!origin->queue)
      origin->queue_tail = NULL;
    request->next = NULL;
    if (link) {
      origin->idle = link->next;
      uv_timer_stop(&link->timer);
      start_request(link, request);
    } else {
      open_link(origin, request);
    }
  }
}

/* --- origins and the public calls -------------------------------------------------------- */

/* Splits http://host[:port]/path; returns 0 or -1. */
static int parse_url(const char *url, char *host, size_t host_cap, int *port, const char **path) {
  if (strncmp(url, "http://", 7) != 0)
    return -1;
  const char *start = url + 7, *end = start + strcspn(start, "/");
  const char *colon = memchr(start, ':', (size_t)(end - start));
  size_t host_len = (size_t)((colon ? colon : end) - start);
  if (host_len == 0 || host_len >= host_cap)
    return -1;
  memcpy(host, start, host_len);
  host[host_len] = '\0';
  *port = colon ? atoi(colon + 1) : 80;
  *path = *end ? end : "/";
  return *port > 0 && *port < 65536 ? 0 : -1;
}

static origin_t *find_origin(tg_upstream_t *upstream, const char *host, int port) {
  int count = 0;
  for (origin_t *origin = upstream->origins; origin; origin = origin->next, count++)
    if (origin->port == port && strcmp(origin->host, host) == 0)
      return origin;
  if (count >= MAX_ORIGINS)
    return NULL;
  /* Resolved once per origin; numeric addresses never touch DNS. */
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
  if (getaddrinfo(host, service, &hints, &found) != 0 || !found)
    return NULL;
  origin_t *origin = calloc(1, sizeof *origin);
  if (origin) {
    origin->upstream = upstream;
    snprintf(origin->host, sizeof origin->host, "%s", host);
    origin->port = port;
    memcpy(&origin->addr, found->ai_addr, found->ai_addrlen);
    origin->next = upstream->origins;
    upstream->origins = origin;
  }
  freeaddrinfo(found);
  return origin;
}

tg_upstream_t *tg_upstream_new(uv_loop_t *loop, const tg_upstream_limits_t *limits) {
  tg_upstream_t *upstream = calloc(1, sizeof *upstream);
  if (!upstream)
    return NULL;
  upstream->loop = loop;
  upstream->limits = *limits;
  if (!upstream->limits.connect_timeout_ms)
    upstream->limits.connect_timeout_ms = 2000;
  if (!upstream->limits.reply_timeout_ms)
    upstream->limits.reply_timeout_ms = 10000;
  if (!upstream->limits.max_reply_bytes)
    upstream->limits.max_reply_bytes = 1024 * 1024;
  if (!upstream->limits.max_connections)
    upstream->limits.max_connections = 64;
  return upstream;
}

int tg_upstream_request(tg_upstream_t *upstream, const char *method, const char *url, const char *content_type,
                        const char *body, size_t len, tg_upstream_done_fn done, void *data) {
  char host[256];
  int port;
  const char *path;
  if (upstream->closing)
    return UV_ECANCELED;
  if (parse_url(url, host, sizeof host, &port, &path) < 0)
    return UV_EINVAL;
  origin_t *origin = find_origin(upstream, host, port);
  if (!origin)
    return UV_EAI_NONAME;
  request_t *request = calloc(1, sizeof *request);
  if (!request)
    return UV_ENOMEM;
  request->origin = origin;
  request->started = tg_monotonic_seconds();
  request->done = done;
  request->data = data;
  if (tg_buf_printf(&request->bytes,
                    "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "User-Agent: taskgate/" TG_VERSION "\r\n\r\n",
                    method, path, host, port, content_type ? content_type : "application/xml", len) < 0 ||
      tg_buf_append(&request->bytes, body, len) < 0) {
    tg_buf_free(&request->bytes);
    free(request);
    return UV_ENOMEM;
  }
  if (origin->queue_tail)
    origin->queue_tail->next = request;
  else
    origin->queue = request;
  origin->queue_tail = request;
  pump(origin);
  return 0;
}

void tg_upstream_close(tg_upstream_t *upstream) {
  upstream->closing = 1;
  for (origin_t *origin = upstream->origins; origin; origin = origin->next) {
    while (origin->idle)
      close_link(origin->idle, 0, "closing");
    while (origin->queue) {
      request_t *request = origin->queue;
      origin->queue = request->next;
      fail(request, UV_ECANCELED, "gateway stopping");
    }
    origin->queue_tail = NULL;
  }
}

void tg_upstream_free(tg_upstream_t *upstream) {
  if (!upstream)
    return;
  origin_t *origin = upstream->origins;
  while (origin) {
    origin_t *next = origin->next;
    free(origin);
    origin = next;
  }
  free(upstream);
}
