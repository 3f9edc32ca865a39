/* conn.c: a client connection on libuv: reads feed the HTTP parser, replies are written in
 * request order, every phase of a request has a deadline, and memory is freed only in the
 * close callbacks. */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"

enum {
  READ_BUFFER_BYTES = 64 * 1024,
  /* Replies queued for a client that does not read them: past this no further pipelined
   * request is parsed (the rest waits in the backlog) and the connection stops reading. */
  MAX_PENDING_OUTPUT = 1024 * 1024,
  MAX_BACKLOG = 64 * 1024,   /* bytes read ahead while a call is answered; then we stop */
  KEPT_BUFFER_BYTES = 65536, /* an output buffer grown past this is freed once it is sent */
  LINGER_MS = 2000,
  /* A draining gateway waits this long at most for a client to close after its last reply:
   * the drain, and so SIGTERM, must not wait on clients that neither read nor close. */
  DRAIN_LINGER_MS = 250,
  DEFERRED_DEADLINE_MS = 1000, /* once: bytes that came in before a deadline get read first */
  STREAM_SOCKET_BUFFER = 64 * 1024, /* a console stream's kernel send buffer */
  DEFAULT_HEADER_TIMEOUT_MS = 10000,
  DEFAULT_BODY_TIMEOUT_MS = 30000,
  DEFAULT_IDLE_TIMEOUT_MS = 60000,
  DEFAULT_MAX_CONNECTIONS = 10000,
};

/* Each read is parsed before the next one: one buffer serves a worker's connections. */
static _Thread_local char read_buffer[READ_BUFFER_BYTES];

static void start_reading(tg_conn_t *conn);

/* Asserts the legal combinations of the connection's state fields (conn.h), as libuv asserts
 * its own: called at the end of every event that may change them (a libuv callback, a reply,
 * a call from the server), so a change that breaks one fails the sanitizer builds' specs. */
static void check_state(const tg_conn_t *conn) {
#ifndef NDEBUG
  int destroyed = uv_is_closing((const uv_handle_t *)&conn->tcp);
  assert(conn->handles == 2 || destroyed);
  assert(destroyed || conn->writing == (conn->sending.len > 0));
  assert(!conn->reading || !destroyed);
  assert(!conn->http.waiting || (!destroyed && conn->phase == -1));
  assert(!conn->peer_done || conn->closing || destroyed ||
         (!conn->reading && (conn->http.waiting || conn->backlog.len > 0)));
  assert(!conn->draining || conn->closing || destroyed || conn->http.waiting ||
         tg_http_phase(&conn->http) != TG_HTTP_IDLE);
  assert(!conn->tls_notified || conn->tls);
  assert(conn->phase >= -1 && conn->phase <= TG_HTTP_BODY);
#endif
}

static void on_handle_closed(uv_handle_t *handle) {
  tg_conn_t *conn = handle->data;
  if (--conn->handles > 0)
    return;
  tg_http_free(&conn->http);
  tg_buf_free(&conn->out);
  tg_buf_free(&conn->sending);
  tg_buf_free(&conn->backlog);
  tg_buf_free(&conn->wire);
  tg_tls_free(conn->tls);
  free(conn);
}

static void destroy(tg_conn_t *conn) {
  if (uv_is_closing((uv_handle_t *)&conn->tcp))
    return;
  conn->reading = 0; /* closing the handle stops it */
  tg_server_t *server = conn->server;
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    server->conns = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  server->open_conns--;
  if (server->gateway_open)
    __atomic_sub_fetch(server->gateway_open, 1, __ATOMIC_RELAXED);
  if (conn->http.streaming && server->routes.on_stream_closed)
    server->routes.on_stream_closed(server->routes.console_ctx, &conn->http);
  else if (conn->http.waiting && server->routes.on_abandon)
    server->routes.on_abandon(server->routes.task_ctx, &conn->http);
  conn->http.waiting = conn->http.streaming = 0;
  uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&conn->deadline, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *timer) {
  destroy(timer->data);
  check_state(timer->data);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  tg_conn_t *conn = req->data;
  if (status < 0) {
    destroy(conn);
  } else {
    /* Keep reading (and discarding) until the client closes, so unread bytes do not turn our
     * close into a reset that could destroy the reply before the client reads it. Reading may
     * have been stopped (a waiting call, a client that did not read); its close ends the
     * linger. */
    start_reading(conn);
    uv_timer_start(&conn->deadline, on_linger_timeout, conn->draining ? DRAIN_LINGER_MS : LINGER_MS, 0);
  }
  check_state(conn);
}

static void flush(tg_conn_t *conn);
static void close_if_drained(tg_conn_t *conn);

static void on_write(uv_write_t *req, int status) {
  tg_conn_t *conn = req->data;
  conn->writing = 0;
  conn->sending.len = 0;
  if (conn->sending.cap > KEPT_BUFFER_BYTES) /* a burst must not stay resident for good */
    tg_buf_free(&conn->sending);
  if (status < 0)
    destroy(conn);
  else
    flush(conn);
  check_state(conn);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  buf->base = read_buffer;
  buf->len = sizeof read_buffer;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void start_reading(tg_conn_t *conn) {
  if (!conn->reading && uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0)
    conn->reading = 1;
}

static void stop_reading(tg_conn_t *conn) {
  if (conn->reading)
    uv_read_stop((uv_stream_t *)&conn->tcp);
  conn->reading = 0;
}

/* Writes what the socket takes of bufs now. Most replies fit the socket buffer: they go without
 * a write request and the poll-for-writable round it costs. Returns the bytes written, or -1
 * when the connection is destroyed. */
static ssize_t write_now(tg_conn_t *conn, const uv_buf_t *bufs, unsigned count) {
  int written = uv_try_write((uv_stream_t *)&conn->tcp, bufs, count);
  if (written < 0 && written != UV_EAGAIN) {
    destroy(conn);
    return -1;
  }
  return written > 0 ? written : 0;
}

/* Hands the bytes of sending from `sent` on to uv_write: conn->writing until it completes.
 * Returns 0, or -1 when the connection is destroyed. */
static int write_rest(tg_conn_t *conn, size_t sent) {
  uv_buf_t rest = uv_buf_init(conn->sending.data + sent, (unsigned)(conn->sending.len - sent));
  if (uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &rest, 1, on_write) < 0) {
    destroy(conn);
    return -1;
  }
  conn->writing = 1;
  return 0;
}

/* Sends out's bytes (on TLS, sealed into wire first): now, and what the socket does not take
 * yet through uv_write. Returns 0, or -1 when the connection is destroyed. */
static int send_out(tg_conn_t *conn) {
  tg_buf_t *bytes = &conn->out;
  if (conn->tls) {
    if (tg_tls_write(conn->tls, conn->out.data, conn->out.len, &conn->wire) < 0) {
      destroy(conn);
      return -1;
    }
    conn->out.len = 0;
    bytes = &conn->wire;
  }
  uv_buf_t now = uv_buf_init(bytes->data, (unsigned)bytes->len);
  ssize_t sent = write_now(conn, &now, 1);
  if (sent < 0)
    return -1;
  if ((size_t)sent < bytes->len) {
    /* The buffer becomes the one in flight (swapped, not copied: a client that does not read
     * must not cost its replies twice), and bytes go on in the idle one. */
    tg_buf_t in_flight = *bytes;
    *bytes = conn->sending;
    conn->sending = in_flight;
    if (write_rest(conn, (size_t)sent) < 0)
      return -1;
  }
  bytes->len = 0;
  if (bytes->cap > KEPT_BUFFER_BYTES)
    tg_buf_free(bytes);
  if (conn->out.cap > KEPT_BUFFER_BYTES && conn->out.len == 0)
    tg_buf_free(&conn->out);
  return 0;
}

static int output_full(const tg_conn_t *conn) {
  return conn->out.len + conn->sending.len + conn->wire.len >= MAX_PENDING_OUTPUT;
}

static void take_bytes(tg_conn_t *conn, const char *data, size_t len);
static void arm_deadline(tg_conn_t *conn);

/* Parses the bytes held back in the backlog (after a waiting call, or while output was full),
 * as far as nothing holds them back. */
static void parse_backlog(tg_conn_t *conn) {
  while (!conn->closing && !conn->http.waiting && conn->backlog.len > 0 && !output_full(conn)) {
    tg_buf_t pending = conn->backlog; /* take it: feeding may refill the backlog */
    conn->backlog = (tg_buf_t){0};
    take_bytes(conn, pending.data, pending.len);
    tg_buf_free(&pending);
  }
  if (conn->peer_done && !conn->http.waiting && conn->backlog.len == 0)
    conn->closing = 1; /* the client has gone: everything it sent is answered */
  close_if_drained(conn);
  arm_deadline(conn); /* requests were answered: the idle time starts again */
}

/* Hands queued responses to the socket, one write at a time so they leave in request order;
 * as the socket takes them, requests held back for output room are parsed and answered. */
static void flush(tg_conn_t *conn) {
  if (uv_is_closing((uv_handle_t *)&conn->tcp))
    return;
  while (!conn->writing) {
    if (conn->out.len + conn->wire.len > 0 && send_out(conn) < 0)
      return;
    size_t backlog = conn->backlog.len;
    if (conn->writing || backlog == 0 || conn->closing || conn->http.waiting)
      break;
    parse_backlog(conn);
    if (conn->backlog.len == backlog && conn->out.len == 0)
      break; /* nothing moved: wait for more bytes */
  }
  if (!conn->writing && conn->closing && !conn->http.waiting) { /* a waiting call still gets its reply */
    if (conn->tls && !conn->tls_notified) {                     /* TLS: our close_notify goes before the shutdown */
      conn->tls_notified = 1;
      tg_tls_close(conn->tls, &conn->wire);
      if (conn->wire.len > 0 && send_out(conn) < 0)
        return;
      if (conn->writing)
        return; /* on_write flushes again */
    }
    uv_timer_stop(&conn->deadline);
    if (uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, on_shutdown) < 0)
      destroy(conn);
    return;
  }
  if (!conn->closing && !conn->peer_done) {
    /* Reading stays on while a call runs or a write is in flight (stopping and restarting
     * costs two epoll_ctl per call); what arrives meanwhile waits in the backlog, and both it
     * and the replies not yet sent are bounded. */
    if (conn->backlog.len > MAX_BACKLOG || output_full(conn))
      stop_reading(conn);
    else
      start_reading(conn);
  }
}

/* Returns 1 when the client's bytes wait unread in the socket. */
static int bytes_waiting(tg_conn_t *conn) {
  uv_os_fd_t fd;
  int waiting = 0;
  return uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &waiting) == 0 && waiting > 0;
}

static void on_deadline(uv_timer_t *timer);

/* A request phase ran out of time: a request in progress gets 408, an idle connection is
 * simply closed. */
static void time_out(tg_conn_t *conn) {
  if (conn->closing)
    return;
  if (!conn->deadline_deferred && conn->reading && bytes_waiting(conn)) {
    /* They came while the loop was not running (the process was paused, or one turn took
     * long), and libuv runs timers before it polls sockets: read them before judging the
     * connection idle or slow. A request they complete re-arms the deadline. */
    conn->deadline_deferred = 1;
    uv_timer_start(&conn->deadline, on_deadline, DEFERRED_DEADLINE_MS, 0);
    return;
  }
  if (conn->phase != TG_HTTP_IDLE)
    tg_http_refuse(&conn->out, 408);
  tg_log(TG_LOG_INFO, "connection_timeout", "client=%s phase=%s", conn->client,
         conn->phase == TG_HTTP_IDLE      ? "idle"
         : conn->phase == TG_HTTP_HEADERS ? "headers"
                                          : "body");
  conn->closing = 1;
  flush(conn);
  if (conn->writing) /* a client that does not read gets LINGER_MS more, then it is cut */
    uv_timer_start(&conn->deadline, on_linger_timeout, LINGER_MS, 0);
}

static void on_deadline(uv_timer_t *timer) {
  time_out(timer->data);
  check_state(timer->data);
}

/* Arms the deadline of the phase the connection is in, once per phase and request: a slow
 * client gets the phase's whole budget, not a fresh one for every byte it sends, and the idle
 * time counts from the last answer. */
static void arm_deadline(tg_conn_t *conn) {
  int phase = tg_http_phase(&conn->http);
  if (conn->http.waiting) { /* the upstream's own timeouts bound the wait */
    uv_timer_stop(&conn->deadline);
    conn->phase = -1;
    return;
  }
  if (conn->closing || (phase == conn->phase && conn->http.answered == conn->armed_answered))
    return;
  conn->phase = phase;
  conn->armed_answered = conn->http.answered;
  conn->deadline_deferred = 0;
  const tg_server_limits_t *limits = &conn->server->limits;
  unsigned ms = phase == TG_HTTP_IDLE      ? limits->idle_timeout_ms
                : phase == TG_HTTP_HEADERS ? limits->header_timeout_ms
                                           : limits->body_timeout_ms;
  uv_timer_start(&conn->deadline, on_deadline, ms, 0);
}

/* Parses bytes, keeping whatever follows a waiting call, or comes while output is full, in the
 * backlog. */
static void take_bytes(tg_conn_t *conn, const char *data, size_t len) {
  size_t used = 0;
  /* Bytes already handed to libuv count too: out may only fill what they leave of the bound. */
  size_t in_flight = conn->sending.len + conn->wire.len;
  conn->http.out_bound = MAX_PENDING_OUTPUT - (in_flight < MAX_PENDING_OUTPUT ? in_flight : MAX_PENDING_OUTPUT - 1);
  int verdict = tg_http_feed(&conn->http, data, len, &conn->out, &used);
  if (verdict == TG_HTTP_CLOSE)
    conn->closing = 1;
  else if ((verdict == TG_HTTP_WAIT || verdict == TG_HTTP_FULL) && used < len &&
           tg_buf_append(&conn->backlog, data + used, len - used) < 0)
    conn->closing = 1;
}

/* The client will send nothing more (EOF, a reset, or TLS's close_notify). */
static void peer_closed(tg_conn_t *conn, ssize_t nread) {
  size_t pending = conn->out.len + conn->sending.len + conn->wire.len;
  /* A console stream's reader has gone: nothing more is owed to it. */
  if (conn->closing || conn->http.streaming || (!conn->http.waiting && conn->backlog.len == 0 && pending == 0) || nread != UV_EOF) {
    destroy(conn);
    return;
  }
  stop_reading(conn);
  if (conn->http.waiting || conn->backlog.len > 0) { /* answer the call and the backlog, then close */
    conn->peer_done = 1;
    flush(conn);
    return;
  }
  conn->closing = 1;
  flush(conn);
}

/* Bytes from the client: parsed now, or kept in the backlog while a call waits for its reply or
 * earlier bytes wait there for output room (they come first). */
static void take_input(tg_conn_t *conn, const char *data, size_t len) {
  if (!conn->http.waiting && conn->backlog.len == 0)
    take_bytes(conn, data, len);
  else if (tg_buf_append(&conn->backlog, data, len) < 0)
    destroy(conn);
}

/* On a TLS listener the bytes read are records: what they decrypt to is the input, and what
 * the handshake answers goes to wire. The records are copied into the session first, so the
 * read buffer can take the plain bytes. */
static void take_records(tg_conn_t *conn, const char *data, size_t len) {
  if (tg_tls_feed(conn->tls, data, len) < 0) {
    destroy(conn);
    return;
  }
  for (;;) {
    ssize_t n = tg_tls_read(conn->tls, read_buffer, sizeof read_buffer, &conn->wire);
    if (n == TG_TLS_MORE)
      return;
    if (n == TG_TLS_CLOSED) {
      peer_closed(conn, UV_EOF);
      return;
    }
    if (n < 0) { /* a failed handshake or a bad record: its alert goes out, then we close */
      conn->tls_notified = 1;
      conn->closing = 1;
      return;
    }
    take_input(conn, read_buffer, (size_t)n);
    if (conn->closing || uv_is_closing((uv_handle_t *)&conn->tcp))
      return;
  }
}

static void take_read(tg_conn_t *conn, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) {
    peer_closed(conn, nread);
    return;
  }
  if (conn->closing || nread == 0)
    return; /* lingering: the client's late bytes are discarded */
  if (conn->tls)
    take_records(conn, buf->base, (size_t)nread);
  else
    take_input(conn, buf->base, (size_t)nread);
  if (uv_is_closing((uv_handle_t *)&conn->tcp))
    return;
  close_if_drained(conn);
  arm_deadline(conn);
  flush(conn);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  take_read(stream->data, nread, buf);
  check_state(stream->data);
}

/* Frames a task call's reply and sends it. On a plain connection with nothing queued before it
 * (the common case) the head and the body go to the socket together as two iovecs, the body
 * from the handler's buffer, as it lies; only what the socket does not take yet is copied, for
 * uv_write. Otherwise both join what waits in out. Returns 0, or -1 when the connection is
 * destroyed. */
static int send_reply(tg_conn_t *conn, const char *reply, size_t len) {
  int direct = !conn->tls && !conn->writing && conn->out.len == 0;
  if (tg_http_reply_head(&conn->http, len, &conn->out) == TG_HTTP_CLOSE)
    conn->closing = 1;
  if (!direct) {
    if (tg_buf_append(&conn->out, reply, len) < 0) {
      destroy(conn);
      return -1;
    }
    return 0;
  }
  const uv_buf_t bufs[] = {uv_buf_init(conn->out.data, (unsigned)conn->out.len),
                           uv_buf_init((char *)reply, (unsigned)len)};
  ssize_t sent = write_now(conn, bufs, 2);
  if (sent < 0)
    return -1;
  size_t head = conn->out.len, head_sent = (size_t)sent < head ? (size_t)sent : head;
  conn->out.len = 0;
  if ((size_t)sent == head + len)
    return 0;
  conn->sending.len = 0; /* idle: no write is in flight */
  if (tg_buf_append(&conn->sending, conn->out.data + head_sent, head - head_sent) < 0 ||
      tg_buf_append(&conn->sending, reply + ((size_t)sent - head_sent), len - ((size_t)sent - head_sent)) < 0) {
    destroy(conn);
    return -1;
  }
  return write_rest(conn, 0);
}

/* The waiting call's reply has come: send it, then parse what arrived meanwhile. No reply:
 * the call's commit failed, and the client must never see an acknowledgment of a change that
 * is not in the store, so the connection is dropped. */
static void take_reply(tg_conn_t *conn, const char *reply, size_t len) {
  if (!reply) {
    destroy(conn);
    return;
  }
  if (send_reply(conn, reply, len) < 0)
    return;
  parse_backlog(conn);
  close_if_drained(conn);
  arm_deadline(conn);
  flush(conn);
}

static void deliver(tg_http_t *http, const char *reply, size_t len) {
  take_reply(http->owner, reply, len);
  check_state(http->owner);
}

/* A console stream's next bytes, under the same bound as any connection's unsent replies: a
 * client that does not read them is dropped, so it costs at most that much memory. */
static int take_push(tg_conn_t *conn, tg_http_t *http, const char *bytes, size_t len) {
  if (!bytes) { /* the console ends the stream: send what is queued, then close */
    http->waiting = http->streaming = 0;
    conn->closing = 1;
    flush(conn);
    return 0;
  }
  if (!conn->stream_tuned) {
    /* The kernel would otherwise buffer megabytes for a reader that has stalled. */
    int size = STREAM_SOCKET_BUFFER;
    uv_send_buffer_size((uv_handle_t *)&conn->tcp, &size);
    conn->stream_tuned = 1;
  }
  size_t unsent = conn->out.len + conn->sending.len + conn->wire.len + len;
  if (unsent > MAX_PENDING_OUTPUT || unsent > TG_HTTP_STREAM_BOUND || tg_buf_append(&conn->out, bytes, len) < 0) {
    tg_log(TG_LOG_INFO, "stream_dropped", "client=%s unsent_bytes=%zu", conn->client,
           conn->out.len + conn->sending.len + conn->wire.len);
    destroy(conn);
    return -1;
  }
  flush(conn);
  return uv_is_closing((uv_handle_t *)&conn->tcp) ? -1 : 0;
}

static int push(tg_http_t *http, const char *bytes, size_t len) {
  int rc = take_push(http->owner, http, bytes, len);
  check_state(http->owner);
  return rc;
}

static void apply_defaults(tg_server_limits_t *limits) {
  if (!limits->header_timeout_ms)
    limits->header_timeout_ms = DEFAULT_HEADER_TIMEOUT_MS;
  if (!limits->body_timeout_ms)
    limits->body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
  if (!limits->idle_timeout_ms)
    limits->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
  if (!limits->max_connections)
    limits->max_connections = DEFAULT_MAX_CONNECTIONS;
}

static void describe_peer(tg_conn_t *conn) {
  struct sockaddr_storage peer;
  int len = sizeof peer;
  if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&peer, &len) < 0)
    return;
  if (peer.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&peer, conn->client, sizeof conn->client);
    conn->client_port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&peer, conn->client, sizeof conn->client);
    conn->client_port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
  }
}

int tg_conn_accept(tg_server_t *server) {
  apply_defaults(&server->limits);
  tg_conn_t *conn = calloc(1, sizeof *conn);
  if (!conn)
    return UV_ENOMEM;
  int rc = uv_tcp_init(server->loop, &conn->tcp);
  if (rc < 0) {
    free(conn);
    return rc;
  }
  conn->tcp.data = conn;
  conn->write_req.data = conn;
  conn->shutdown_req.data = conn;
  conn->server = server;
  conn->handles = 2;
  conn->phase = -1;
  uv_timer_init(server->loop, &conn->deadline);
  conn->deadline.data = conn;
  conn->next = server->conns;
  if (server->conns)
    server->conns->prev = conn;
  server->conns = conn;
  server->open_conns++;
  int open = server->gateway_open ? __atomic_add_fetch(server->gateway_open, 1, __ATOMIC_RELAXED) : server->open_conns;
  tg_http_init(&conn->http, &server->routes, conn->client);
  conn->http.owner = conn;
  conn->http.deliver = deliver;
  conn->http.push = push;
  rc = uv_accept((uv_stream_t *)&server->listener, (uv_stream_t *)&conn->tcp);
  if (rc == 0 && server->tls && !(conn->tls = tg_tls_accept(server->tls)))
    rc = UV_ENOMEM;
  if (rc == 0) {
    describe_peer(conn);
    conn->http.client_port = conn->client_port;
    uv_tcp_nodelay(&conn->tcp, 1);
    start_reading(conn);
  }
  if (rc < 0 || !conn->reading) {
    destroy(conn);
    return rc < 0 ? rc : UV_EIO;
  }
  if (open > server->limits.max_connections) {
    tg_log(TG_LOG_WARN, "connection_refused", "client=%s open=%d max=%d", conn->client, open - 1,
           server->limits.max_connections);
    if (conn->tls) { /* no handshake for a connection refused: it is simply closed */
      destroy(conn);
      return 0;
    }
    tg_http_refuse(&conn->out, 503);
    conn->closing = 1;
    flush(conn);
  } else {
    arm_deadline(conn);
  }
  check_state(conn);
  return 0;
}

/* A draining connection closes as soon as it is between requests. */
static void close_if_drained(tg_conn_t *conn) {
  if (conn->draining && !conn->closing && !conn->http.waiting && tg_http_phase(&conn->http) == TG_HTTP_IDLE)
    conn->closing = 1;
}

void tg_conn_drain(tg_conn_t *conn) {
  conn->draining = 1;
  /* a connection closing already lingers no longer than a drained one */
  if (conn->closing && uv_is_active((uv_handle_t *)&conn->deadline) &&
      uv_timer_get_due_in(&conn->deadline) > DRAIN_LINGER_MS)
    uv_timer_start(&conn->deadline, on_linger_timeout, DRAIN_LINGER_MS, 0);
  close_if_drained(conn);
  flush(conn);
  check_state(conn);
}

void tg_conn_abort(tg_conn_t *conn) {
  destroy(conn);
  check_state(conn);
}

void tg_conn_close(tg_conn_t *conn) {
  if (!conn->closing) {
    conn->closing = 1; /* reading goes on, discarding, so a client's close ends the linger early */
    flush(conn);
  }
  check_state(conn);
}
