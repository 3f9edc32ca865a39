/* upstream.c: outbound HTTP through libcurl's multi interface, driven by the event loop: one
 * multi handle per loop, its sockets watched with uv_poll and its timeouts with one uv_timer.
 * libcurl parses replies (1xx, chunked, close-delimited), verifies TLS and resolves names on
 * threads of its own. This file adds what libcurl does not promise:
 *  - a reply belongs to exactly one request: every request goes out on a connection of its own,
 *    closed after its reply. On a pooled connection a server's stray bytes (a reply sent twice,
 *    one sent late, bytes sent while it idles) would be read as the next request's reply, and no
 *    check before reuse can close that window: the bytes may arrive just after it;
 *  - a request other than GET or HEAD is never sent twice: a second call of the pre-request
 *    callback within one transfer aborts it (a safety net: libcurl resends only on reused
 *    connections, and none is reused);
 *  - a reply timeout counted from the request being sent, and a cap on the reply's size. */
#include "upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "tls_reason.h"
#include "upstreams.h"

enum {
  SPARE_EASY = 16, /* finished easy handles kept for the next requests */
};

typedef struct transfer_s transfer_t;

/* A socket libcurl asked us to watch (its connections, and its resolver threads' wake-up). */
typedef struct watch_s {
  uv_poll_t poll;
  curl_socket_t fd;
  int events; /* UV_READABLE, UV_WRITABLE: what libcurl waits for on it */
  tg_upstream_t *upstream;
} watch_t;

struct transfer_s {
  transfer_t *prev, *next; /* in the client's list of transfers in flight */
  tg_upstream_t *upstream;
  CURL *easy;
  struct curl_slist *headers;
  uv_timer_t reply_timer; /* the transfer's memory goes in its close callback */
  tg_buf_t body;          /* the request body, owned: libcurl reads it from here */
  tg_buf_t reply;
  tg_upstream_done_fn done;
  void *data;
  double started;
  int background; /* not counted among the calls' outbound requests */
  /* via the upstreams of --upstream: the order to try them in, and which one this is */
  int endpoint;
  int order[TG_UPSTREAMS_MAX];
  int candidates, attempt;
  int idempotent;     /* GET or HEAD: libcurl may send it again */
  int prereqs;        /* times libcurl was about to send the request */
  int sent;           /* the request may have reached the server */
  int resend_refused; /* aborted: libcurl was about to send it a second time */
  int unwanted;       /* aborted before sending: the caller no longer wants it (client gone) */
  int too_large;
  int client_refused;           /* the server's TLS refused our client certificate (tls_reason.h) */
  int switching;                /* aborted: the server answered 101 Switching Protocols, which nobody asked for */
  char errors[CURL_ERROR_SIZE]; /* libcurl's words for a failure (the TLS library's among them) */
  tg_tls_seen_t tls_seen;       /* what the server's TLS said (tls_reason.h) */
  char reason[112];             /* a failure's reason when it is made of parts (tls_reason.h) */
  /* a call to --upstream's set: counted in the lane (in flight), or waiting in its queue */
  int in_lane, queued, counted; /* counted: in the in-flight count of upstream order[attempt] */
  transfer_t *queue_next;
  int (*still_wanted)(void *data);
};

struct tg_upstream_s {
  uv_loop_t *loop;
  CURLM *multi;
  CURLSH *tls_sessions; /* shared by the transfers, so a fresh connection resumes a TLS session */
  uv_timer_t timer;     /* libcurl's own timeouts */
  int timer_ready;
  tg_upstream_options_t options;
  transfer_t *transfers;
  /* Easy handles of finished transfers, reset: a new one costs its allocation and the zeroing
   * of its buffers on every request. */
  CURL *spare[SPARE_EASY];
  int spare_count;
  int closing;
  /* The lane of calls to --upstream's set: at most options.max_connections in flight, the
   * others queued (FIFO), each until options.queue_timeout_ms. */
  int lane_in_flight;
  transfer_t *queue_head, *queue_tail;
};

/* --- the library ------------------------------------------------------------------------- */

int tg_upstream_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1; }

const char *tg_upstream_library(void) {
  static char text[160];
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  /* Without c-ares, an asynchronous resolver is libcurl's threaded one. */
  const char *resolver = !(info->features & CURL_VERSION_ASYNCHDNS) ? "blocking resolver"
                         : info->ares                               ? "c-ares resolver"
                                                                    : "threaded resolver";
  snprintf(text, sizeof text, "libcurl %s (%s, %s)", info->version, info->ssl_version ? info->ssl_version : "no TLS",
           resolver);
  return text;
}

/* --- finishing --------------------------------------------------------------------------- */

static void on_transfer_closed(uv_handle_t *handle) {
  transfer_t *t = handle->data;
  tg_buf_free(&t->body);
  tg_buf_free(&t->reply);
  free(t);
}

/* An easy handle for a new transfer: a spare one (reset: no option of the last transfer
 * remains) or a new one. NULL when out of memory. */
static CURL *take_easy(tg_upstream_t *upstream) {
  return upstream->spare_count ? upstream->spare[--upstream->spare_count] : curl_easy_init();
}

static void give_back(tg_upstream_t *upstream, CURL *easy) {
  if (upstream->spare_count == SPARE_EASY || upstream->closing) {
    curl_easy_cleanup(easy);
    return;
  }
  curl_easy_reset(easy);
  upstream->spare[upstream->spare_count++] = easy;
}

static void start_queued(tg_upstream_t *upstream);

/* Counts the transfer in (delta 1) or out of (-1) the in-flight calls of its current upstream. */
static void count_in_flight(transfer_t *t, int delta) {
  if (t->candidates && (delta > 0) != t->counted) {
    tg_upstreams_count_in_flight(t->upstream->options.upstreams, t->order[t->attempt], delta);
    t->counted = delta > 0;
  }
}

static void leave_queue(transfer_t *t) {
  tg_upstream_t *upstream = t->upstream;
  transfer_t *before = NULL;
  for (transfer_t *at = upstream->queue_head; at && at != t; at = at->queue_next)
    before = at;
  if (before)
    before->queue_next = t->queue_next;
  else
    upstream->queue_head = t->queue_next;
  if (upstream->queue_tail == t)
    upstream->queue_tail = before;
  t->queued = 0;
  if (upstream->options.upstreams)
    tg_upstreams_count_queued(upstream->options.upstreams, -1);
}

/* Takes the transfer out of libcurl and the client, reports result, and frees it. */
static void finish(transfer_t *t, tg_upstream_result_t *result) {
  tg_upstream_t *upstream = t->upstream;
  if (t->queued)
    leave_queue(t);
  count_in_flight(t, -1);
  if (t->prev)
    t->prev->next = t->next;
  else
    upstream->transfers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  curl_multi_remove_handle(upstream->multi, t->easy);
  give_back(upstream, t->easy);
  curl_slist_free_all(t->headers);
  uv_timer_stop(&t->reply_timer);
  result->seconds = tg_monotonic_seconds() - t->started;
  if (!t->background) {
    tg_metrics_upstream(result->error ? "failed" : "ok");
    tg_metrics_observe(TG_HIST_UPSTREAM, result->seconds);
  }
  t->done(t->data, result);
  int freed_lane = t->in_lane;
  uv_close((uv_handle_t *)&t->reply_timer, on_transfer_closed);
  if (freed_lane) {
    upstream->lane_in_flight--;
    start_queued(upstream);
  }
}

/* Ends a call to the upstreams that was never sent, for a reason of this gateway's (queue
 * timeout, client gone): the upstreams' health does not hear of it. */
static void give_up(transfer_t *t, const char *reason) {
  tg_upstream_result_t result = {.error = UV_EIO, .reason = reason, .sent = 0};
  finish(t, &result);
}

/* Tells the upstreams' health how the exchange with the current one went (failure NULL: it
 * answered). */
static void report(transfer_t *t, const char *failure) {
  if (t->candidates)
    tg_upstreams_report(t->upstream->options.upstreams, t->order[t->attempt], failure,
                        tg_monotonic_seconds() - t->started);
}

static void fail(transfer_t *t, int error, const char *reason) {
  if (error != UV_ECANCELED) /* the gateway stopping says nothing of the upstream */
    report(t, reason);
  tg_upstream_result_t result = {.error = error, .reason = reason, .sent = t->sent};
  finish(t, &result);
}

/* Whether the server's TLS ended the connection over our client certificate; notes it in the
 * transfer, with the reason. Under TLS 1.3 that alert comes after the request went out, but
 * the server refused the connection before reading it: nothing was executed, and the call may
 * go to the next upstream like one whose connection was refused. */
static int refused_client(transfer_t *t, CURLcode code) {
  t->client_refused = tg_tls_refused_client(&t->tls_seen, code == CURLE_SEND_ERROR,
                                            t->upstream->options.cert_file != NULL, t->reason, sizeof t->reason);
  return t->client_refused;
}

/* What went wrong, in the words the log and the rules use. */
static const char *reason_of(transfer_t *t, CURLcode code) {
  long os_errno = 0;
  switch (code) {
  case CURLE_COULDNT_RESOLVE_HOST: return "unknown host";
  case CURLE_COULDNT_CONNECT:
    curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
    return os_errno == ECONNREFUSED ? "connection refused" : "connect failed";
  case CURLE_OPERATION_TIMEDOUT: return t->sent ? "reply timeout" : "connect timeout";
  case CURLE_WRITE_ERROR:
    return t->switching   ? "upstream answered HTTP 101 Switching Protocols, which was not asked for"
           : t->too_large ? "reply too large"
                          : "out of memory";
  case CURLE_ABORTED_BY_CALLBACK: return "connection closed after the request was sent";
  case CURLE_GOT_NOTHING: return "connection closed without a reply";
  case CURLE_PARTIAL_FILE: return "connection closed mid-reply";
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR: return refused_client(t, code) ? t->reason : "connection reset";
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_CONTENT_ENCODING: return "malformed HTTP reply";
  case CURLE_PEER_FAILED_VERIFICATION: {
    long verify = 0;
    curl_easy_getinfo(t->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
    return tg_tls_untrusted_server(verify, t->errors);
  }
  case CURLE_SSL_CONNECT_ERROR: return refused_client(t, code) ? t->reason : "TLS handshake failed";
  case CURLE_SSL_CACERT_BADFILE: return "TLS: cannot read the CA file";
  case CURLE_SSL_CERTPROBLEM: return "TLS: cannot use the client certificate";
  case CURLE_OUT_OF_MEMORY: return "out of memory";
  default: return curl_easy_strerror(code);
  }
}

static int add(transfer_t *t);

/* Sends the transfer again, unsent so far, to the next upstream.
 * Returns 0, or -1 when it cannot be added back. */
static int again(transfer_t *t) {
  curl_multi_remove_handle(t->upstream->multi, t->easy);
  t->prereqs = 0;
  t->reply.len = 0;
  t->errors[0] = '\0';
  t->client_refused = 0;
  tg_tls_seen_reset(&t->tls_seen);
  return add(t);
}

/* A call to one upstream failed before anything was sent: the next one up (or down, when
 * none is up) gets it. Returns 1 when the transfer went on there. */
static int fail_over(transfer_t *t, const char *reason) {
  if (!t->candidates || t->sent || t->attempt + 1 >= t->candidates)
    return 0;
  tg_upstreams_t *set = t->upstream->options.upstreams;
  const char *from = tg_upstreams_shown(set, t->order[t->attempt]);
  const char *to = tg_upstreams_shown(set, t->order[++t->attempt]);
  char quoted[128];
  tg_log_quote(quoted, sizeof quoted, reason, strlen(reason));
  tg_log(TG_LOG_WARN, "upstream_failover", "from=%s to=%s reason=%s", from, to, quoted);
  curl_easy_setopt(t->easy, CURLOPT_URL, tg_upstreams_url(set, t->order[t->attempt], t->endpoint));
  tg_upstreams_count_in_flight(set, t->order[t->attempt - 1], -1);
  tg_upstreams_count_in_flight(set, t->order[t->attempt], 1);
  return again(t) == 0;
}

/* Whether an upstream that answered a call with status is serving calls: a task interface
 * answers 200, and a 4xx judges the request (too large, not allowed), not the upstream. Any other
 * answer to a POST (5xx, 3xx, a 2xx other than 200, a 1xx taken as final) says the calls fail
 * there, whatever its health probe (HEAD) hears: it is marked down and calls go elsewhere. */
static int serving_status(long status) { return status == 200 || (status >= 400 && status < 500); }

/* libcurl is done with a transfer. One that found its upstream unreachable goes to the next
 * upstream; everything else is final. */
static void completed(transfer_t *t, CURLcode code) {
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    char failure[32];
    snprintf(failure, sizeof failure, "HTTP %ld", status);
    report(t, serving_status(status) ? NULL : failure);
    char *type = NULL, content_type[128]; /* libcurl's copy goes when finish() resets the handle */
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
    snprintf(content_type, sizeof content_type, "%s", type ? type : "");
    tg_upstream_result_t result = {.sent = 1,
                                   .status = (int)status,
                                   .body = t->reply.data ? t->reply.data : "",
                                   .len = t->reply.len,
                                   .content_type = content_type};
    finish(t, &result);
    return;
  }
  if (t->unwanted) {
    give_up(t, "client gone before the call was sent");
    return;
  }
  const char *reason = reason_of(t, code);
  if (t->client_refused) /* its TLS refused the connection: no request on it was read */
    t->sent = 0;
  report(t, reason);
  if (fail_over(t, reason))
    return;
  tg_upstream_result_t result = {
      .error = code == CURLE_OPERATION_TIMEDOUT ? UV_ETIMEDOUT : UV_EIO, .reason = reason, .sent = t->sent};
  finish(t, &result);
}

static void check_done(tg_upstream_t *upstream) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(upstream->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    transfer_t *t = NULL;
    CURLcode code = msg->data.result; /* read before the message goes with the handle */
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    completed(t, code);
  }
}

/* --- driving libcurl from the loop -------------------------------------------------------- */

static void on_poll(uv_poll_t *poll, int status, int events) {
  watch_t *watch = poll->data;
  tg_upstream_t *upstream = watch->upstream;
  /* A socket in error (libuv has stopped watching it) is first handed to libcurl as ready for
   * what it waited for: its read then finds the actual failure, and what arrived before it, such
   * as the TLS alert of a server that refused our client certificate and reset the connection
   * (CURL_CSELECT_ERR alone would fail the transfer unread, "select/poll returned error"). Only
   * if libcurl still waits on it is it told of the error. */
  if (status < 0)
    events = watch->events;
  int flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) | (events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
  int running;
  curl_multi_socket_action(upstream->multi, watch->fd, flags, &running);
  if (status < 0 && !uv_is_closing((uv_handle_t *)&watch->poll)) /* the handle (and watch) live until closed */
    curl_multi_socket_action(upstream->multi, watch->fd, CURL_CSELECT_ERR, &running);
  check_done(upstream);
}

static void on_watch_closed(uv_handle_t *handle) { free(handle->data); }

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  tg_upstream_t *upstream = userp;
  watch_t *watch = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (watch) { /* closed now, while the descriptor is still this socket's */
      curl_multi_assign(upstream->multi, fd, NULL);
      uv_close((uv_handle_t *)&watch->poll, on_watch_closed);
    }
    return 0;
  }
  if (!watch) {
    watch = calloc(1, sizeof *watch);
    if (!watch || uv_poll_init_socket(upstream->loop, &watch->poll, fd) < 0) {
      free(watch);
      return -1;
    }
    watch->fd = fd;
    watch->upstream = upstream;
    watch->poll.data = watch;
    curl_multi_assign(upstream->multi, fd, watch);
  }
  watch->events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  return uv_poll_start(&watch->poll, watch->events, on_poll) < 0 ? -1 : 0;
}

static void on_timeout(uv_timer_t *timer) {
  tg_upstream_t *upstream = timer->data;
  int running;
  curl_multi_socket_action(upstream->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(upstream);
}

/* libcurl asks to be called back in timeout_ms (0: on the next turn, never from inside this
 * callback), or not at all (-1). */
static int on_multi_timer(CURLM *multi, long timeout_ms, void *userp) {
  tg_upstream_t *upstream = userp;
  if (!upstream->timer_ready || upstream->closing)
    return 0;
  if (timeout_ms < 0)
    uv_timer_stop(&upstream->timer);
  else
    uv_timer_start(&upstream->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

/* --- one transfer ------------------------------------------------------------------------- */

static void on_reply_timeout(uv_timer_t *timer) { fail(timer->data, UV_ETIMEDOUT, "reply timeout"); }

/* Called by libcurl once a connection is ready and before the request goes out on it. */
static int on_prereq(void *clientp, char *remote_ip, char *local_ip, int remote_port, int local_port) {
  (void)remote_ip, (void)local_ip, (void)remote_port, (void)local_port;
  transfer_t *t = clientp;
  if (t->still_wanted && !t->still_wanted(t->data)) { /* its client left while it connected */
    t->unwanted = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  if (++t->prereqs > 1 && !t->idempotent) { /* libcurl would resend what may have arrived */
    t->resend_refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  t->sent = 1;
  uv_timer_start(&t->reply_timer, on_reply_timeout, t->upstream->options.reply_timeout_ms, 0);
  return CURL_PREREQFUNC_OK;
}

static size_t on_reply_bytes(char *bytes, size_t size, size_t count, void *userp) {
  transfer_t *t = userp;
  if (t->background)
    return count;
  if (t->reply.len + count > t->upstream->options.max_reply_bytes) {
    t->too_large = 1;
    return 0;
  }
  return tg_buf_append(&t->reply, bytes, count) < 0 ? 0 : count;
}

/* A 101 Switching Protocols nobody asked for (no request of ours offers an upgrade): libcurl
 * would read on the switched connection until the reply timeout. The transfer ends at once. */
static size_t on_header(char *line, size_t size, size_t count, void *userp) {
  transfer_t *t = userp;
  const char *space = count > 5 && memcmp(line, "HTTP/", 5) == 0 ? memchr(line, ' ', count) : NULL;
  if (space && (size_t)(space - line) + 4 <= count && memcmp(space + 1, "101", 3) == 0 &&
      ((size_t)(space - line) + 4 == count || (space[4] && strchr(" \r\n", space[4])))) {
    t->switching = 1;
    return 0;
  }
  return count;
}

/* Each HTTPS connection's own SSL_CTX, before its handshake: its messages are watched. */
static CURLcode on_ssl_context(CURL *easy, void *ssl_ctx, void *userp) {
  (void)easy;
  transfer_t *t = userp;
  tg_tls_seen_reset(&t->tls_seen);
  tg_tls_watch(ssl_ctx, &t->tls_seen);
  return CURLE_OK;
}

static int add(transfer_t *t) { return curl_multi_add_handle(t->upstream->multi, t->easy) == CURLM_OK ? 0 : -1; }

/* Returns 1 for an HTTP method name (a token, RFC 9110 5.6.2): anything else, a space or a line
 * end above all, would write the request line and headers itself. */
static int acceptable_method(const char *method) {
  static const char others[] = "!#$%&'*+-.^_`|~";
  size_t len = strlen(method);
  for (const char *c = method; *c; c++)
    if (!(*c >= 'A' && *c <= 'Z') && !(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') && !strchr(others, *c))
      return 0;
  return len > 0 && len <= 32;
}

/* Returns 1 for a header value without control bytes: a line end in it would start another
 * header, or end the head and put a second request behind the first. */
static int acceptable_value(const char *value) {
  for (const unsigned char *c = (const unsigned char *)value; *c; c++)
    if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
      return 0;
  return 1;
}

static int add_header(transfer_t *t, const char *name, const char *value) {
  if (!value || !acceptable_value(value)) /* the identity headers are checked before; a safety net */
    return 0;
  char line[1024]; /* room for a Via chain (http.h) with this gateway after it */
  int n = snprintf(line, sizeof line, "%s: %s", name, value);
  if (n < 0 || (size_t)n >= sizeof line)
    return 0; /* an identity header longer than this is left out rather than cut */
  struct curl_slist *grown = curl_slist_append(t->headers, line);
  if (!grown)
    return -1;
  t->headers = grown;
  return 0;
}

static int set_headers(transfer_t *t, const tg_upstream_request_t *request) {
  int rc = add_header(t, "Content-Type", request->content_type ? request->content_type : "application/xml");
  /* Never wait for a 100 Continue before sending the body ("Name:" removes a header). */
  struct curl_slist *grown = curl_slist_append(t->headers, "Expect:");
  if (!grown)
    return -1;
  t->headers = grown;
  rc |= add_header(t, "X-Request-Id", request->request_id);
  rc |= add_header(t, "X-Forwarded-For", request->forwarded_for);
  rc |= add_header(t, "Via", request->via);
  rc |= add_header(t, "X-Message-Id", request->message_id);
  rc |= add_header(t, "Idempotency-Key", request->message_id);
  return rc < 0 ? -1 : 0;
}

static void set_method(transfer_t *t, const char *method) {
  CURL *easy = t->easy;
  if (strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0) {
    t->idempotent = 1;
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L); /* before NOBODY, which it would clear */
    curl_easy_setopt(easy, CURLOPT_NOBODY, (long)(strcasecmp(method, "HEAD") == 0));
    return;
  }
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.data ? t->body.data : "");
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body.len);
  if (strcasecmp(method, "POST") != 0)
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
}

/* Every request on a connection of its own (see the top of the file). Asked to close first, the
 * server holds the closed connection's TIME_WAIT, not the gateway, whose local ports would
 * otherwise run out at a few hundred requests a second. */
static int set_own_connection(transfer_t *t) {
  curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L);
  struct curl_slist *grown = curl_slist_append(t->headers, "Connection: close");
  if (!grown)
    return -1;
  t->headers = grown;
  return 0;
}

static void set_tls(CURL *easy, const tg_upstream_options_t *options) {
  if (options->ca_file)
    curl_easy_setopt(easy, CURLOPT_CAINFO, options->ca_file);
  if (options->cert_file)
    curl_easy_setopt(easy, CURLOPT_SSLCERT, options->cert_file);
  if (options->key_file)
    curl_easy_setopt(easy, CURLOPT_SSLKEY, options->key_file);
}

/* Everything a transfer sets, whatever its request. */
static void set_common(transfer_t *t) {
  CURL *easy = t->easy;
  const tg_upstream_options_t *options = &t->upstream->options;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  /* A transfer that ends while its name lookup still runs (the connect timeout) leaves the
   * resolver thread to finish alone; without this libcurl joins it, on the loop's thread. */
  curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "taskgate/" TG_VERSION);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)options->connect_timeout_ms);
  /* A bound on the whole transfer, waiting for a free connection included; the reply timeout
   * proper is the transfer's own timer, started when the request goes out. */
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(options->connect_timeout_ms + options->reply_timeout_ms));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_reply_bytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errors);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_context);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, t);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, t);
  curl_easy_setopt(easy, CURLOPT_SHARE, t->upstream->tls_sessions);
  set_tls(easy, options);
}

/* Returns 1 for an http:// or https:// URL with a host. */
static int acceptable_url(const char *url) {
  CURLU *parsed = curl_url();
  char *scheme = NULL, *host = NULL;
  int ok = parsed && curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
           curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
           curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
           (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host[0];
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(parsed);
  return ok;
}

/* --- the client --------------------------------------------------------------------------- */

tg_upstream_t *tg_upstream_new(uv_loop_t *loop, const tg_upstream_options_t *options) {
  tg_upstream_t *upstream = calloc(1, sizeof *upstream);
  if (!upstream || !(upstream->multi = curl_multi_init()) || !(upstream->tls_sessions = curl_share_init())) {
    if (upstream)
      curl_multi_cleanup(upstream->multi);
    free(upstream);
    return NULL;
  }
  /* Used from this loop's thread only: no lock functions. */
  curl_share_setopt(upstream->tls_sessions, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  upstream->loop = loop;
  upstream->options = *options;
  tg_upstream_options_t *o = &upstream->options;
  o->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 2000;
  o->reply_timeout_ms = o->reply_timeout_ms ? o->reply_timeout_ms : 10000;
  o->max_reply_bytes = o->max_reply_bytes ? o->max_reply_bytes : 1024 * 1024;
  o->max_connections = o->max_connections ? o->max_connections : 64;
  o->queue_timeout_ms = o->queue_timeout_ms ? o->queue_timeout_ms : 2000;
  curl_multi_setopt(upstream->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(upstream->multi, CURLMOPT_SOCKETDATA, upstream);
  curl_multi_setopt(upstream->multi, CURLMOPT_TIMERFUNCTION, on_multi_timer);
  curl_multi_setopt(upstream->multi, CURLMOPT_TIMERDATA, upstream);
  /* The lane bounds the calls; the health probes (one per upstream) and the rules' own requests
   * get room beside them. */
  curl_multi_setopt(upstream->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_connections + 64);
  return upstream;
}

static void on_queue_timeout(uv_timer_t *timer) {
  give_up(timer->data, "no upstream connection free within the queue timeout");
}

/* A call beyond the lane's limit waits, its timer counting the queue timeout. */
static void enqueue(transfer_t *t) {
  tg_upstream_t *upstream = t->upstream;
  t->queued = 1;
  t->queue_next = NULL;
  if (upstream->queue_tail)
    upstream->queue_tail->queue_next = t;
  else
    upstream->queue_head = t;
  upstream->queue_tail = t;
  tg_upstreams_count_queued(upstream->options.upstreams, 1);
  uv_timer_start(&t->reply_timer, on_queue_timeout, upstream->options.queue_timeout_ms, 0);
}

/* Sends queued calls while the lane has room: each to the upstream picked now (the health may
 * have changed while it waited); one whose client has gone is never sent. */
static void start_queued(tg_upstream_t *upstream) {
  while (upstream->queue_head && upstream->lane_in_flight < upstream->options.max_connections && !upstream->closing) {
    transfer_t *t = upstream->queue_head;
    leave_queue(t);
    uv_timer_stop(&t->reply_timer);
    if (t->still_wanted && !t->still_wanted(t->data)) {
      give_up(t, "client gone before the call was sent");
      continue;
    }
    tg_upstreams_t *set = upstream->options.upstreams;
    t->candidates = tg_upstreams_order(set, t->order);
    curl_easy_setopt(t->easy, CURLOPT_URL, tg_upstreams_url(set, t->order[0], t->endpoint));
    if (add(t) < 0) {
      give_up(t, "out of memory");
      continue;
    }
    t->in_lane = 1;
    upstream->lane_in_flight++;
    count_in_flight(t, 1);
  }
}

int tg_upstream_send(tg_upstream_t *upstream, const tg_upstream_request_t *request, tg_upstream_done_fn done,
                     void *data) {
  tg_upstreams_t *set = upstream->options.upstreams;
  if (upstream->closing)
    return UV_ECANCELED;
  if (request->via_upstreams ? !set : !request->url || !acceptable_url(request->url))
    return UV_EINVAL;
  if ((request->method && !acceptable_method(request->method)) ||
      (request->content_type && !acceptable_value(request->content_type)))
    return UV_EINVAL;
  if (!upstream->timer_ready) { /* made on first use, so a client never used leaves no handle */
    uv_timer_init(upstream->loop, &upstream->timer);
    upstream->timer.data = upstream;
    upstream->timer_ready = 1;
  }
  transfer_t *t = calloc(1, sizeof *t);
  if (!t)
    return UV_ENOMEM;
  t->upstream = upstream;
  t->done = done;
  t->data = data;
  t->started = tg_monotonic_seconds();
  t->background = request->background;
  t->still_wanted = request->still_wanted;
  if (request->via_upstreams) {
    t->endpoint = request->endpoint;
    t->candidates = tg_upstreams_order(set, t->order);
  }
  uv_timer_init(upstream->loop, &t->reply_timer);
  t->reply_timer.data = t;
  if (!(t->easy = take_easy(upstream)) ||
      tg_buf_append(&t->body, request->body ? request->body : "", request->len) < 0 || set_headers(t, request) < 0 ||
      set_own_connection(t) < 0)
    goto fail;
  set_common(t);
  set_method(t, request->method ? request->method : "POST");
  curl_easy_setopt(t->easy, CURLOPT_URL,
                   t->candidates ? tg_upstreams_url(set, t->order[0], t->endpoint) : request->url);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  int lane = request->via_upstreams && !request->background;
  if (lane && upstream->lane_in_flight >= upstream->options.max_connections) {
    enqueue(t);
  } else {
    if (add(t) < 0)
      goto fail;
    if (lane) {
      t->in_lane = 1;
      upstream->lane_in_flight++;
    }
    count_in_flight(t, 1);
  }
  t->next = upstream->transfers;
  if (t->next)
    t->next->prev = t;
  upstream->transfers = t;
  return 0;
fail:
  curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
  uv_close((uv_handle_t *)&t->reply_timer, on_transfer_closed); /* frees the rest */
  return UV_ENOMEM;
}

void tg_upstream_close(tg_upstream_t *upstream) {
  if (upstream->closing)
    return;
  upstream->closing = 1;
  while (upstream->transfers)
    fail(upstream->transfers, UV_ECANCELED, "gateway stopping");
  curl_multi_cleanup(upstream->multi); /* closes the connections */
  upstream->multi = NULL;
  while (upstream->spare_count)
    curl_easy_cleanup(upstream->spare[--upstream->spare_count]);
  if (upstream->timer_ready)
    uv_close((uv_handle_t *)&upstream->timer, NULL);
}

void tg_upstream_free(tg_upstream_t *upstream) {
  if (!upstream)
    return;
  if (upstream->multi)
    curl_multi_cleanup(upstream->multi);
  while (upstream->spare_count)
    curl_easy_cleanup(upstream->spare[--upstream->spare_count]);
  curl_share_cleanup(upstream->tls_sessions);
  free(upstream);
}
