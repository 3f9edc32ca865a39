/* http.h: one connection's HTTP/1.1 byte stream in, responses out (llhttp plus our own checks). */
#ifndef TG_HTTP_H
#define TG_HTTP_H

#include <llhttp.h>
#include <stddef.h>

#include "buf.h"
#include "charset.h"
#include "auth_guard.h"
#include "body_budget.h"
#include "framing.h"
#include "host_allow.h"

/* Which interface an endpoint serves. */
enum { TG_HTTP_TASK = 0, TG_HTTP_BIN = 1 };

enum {
  TG_HTTP_MAX_HEADER_BYTES = 16 * 1024,
  TG_HTTP_MAX_BODY_BYTES = 1024 * 1024,
};

typedef struct tg_http_s tg_http_t;

/* Takes one complete request to the task endpoint (h->client says who sent it). Returns 0: the
 * call is queued, and its reply comes later through h->deliver; -503 answers 503 now (the store
 * cannot take calls), any other negative return 500. */
typedef int (*tg_http_task_fn)(void *ctx, tg_http_t *h, const char *body, size_t len);
/* Tells the task handler that h's connection is gone while its call was waiting. */
typedef void (*tg_http_abandon_fn)(void *ctx, tg_http_t *h);
/* Set by the connection: the task handler hands it the waiting call's reply body, which the
 * connection frames (tg_http_reply_head) and writes; NULL: drop the connection unanswered. */
typedef void (*tg_http_deliver_fn)(tg_http_t *h, const char *reply, size_t len);

/* What tg_http_feed and tg_http_reply_head ask of the connection. */
enum { TG_HTTP_MORE = 0, TG_HTTP_CLOSE = 1, TG_HTTP_WAIT = 2, TG_HTTP_FULL = 3 };

/* Answers GET (and HEAD) on any path but the task endpoint: fills body and *content_type and
 * returns the HTTP status (404 for an unknown path, 401 when authorization, the request's
 * Authorization header or NULL, does not admit it). */
typedef int (*tg_http_admin_fn)(void *ctx, const char *path, const char *authorization, tg_buf_t *body,
                                const char **content_type);

/* Answers GET (and HEAD) on /console and below (h->path, h->query and h->authorization say
 * what is asked): fills body, *content_type and *headers (extra header lines, each ending in
 * CRLF, or NULL) and returns the HTTP status; or returns TG_HTTP_STREAM to keep the response
 * open as a server-sent-events stream: its header goes out now, its bytes through h->push. */
typedef int (*tg_http_console_fn)(void *ctx, tg_http_t *h, tg_buf_t *body, const char **content_type,
                                  const char **headers);
/* Tells the console that the client of a stream is gone (h is about to be freed). */
typedef void (*tg_http_stream_closed_fn)(void *ctx, tg_http_t *h);
/* Set by the connection: sends a stream's next bytes, or with bytes NULL ends the stream (the
 * console then forgets h itself). A client whose unsent bytes would pass the connection's output
 * bound is not reading: it is dropped. Returns 0, or -1 when the connection is gone. */
typedef int (*tg_http_push_fn)(tg_http_t *h, const char *bytes, size_t len);

enum {
  TG_HTTP_STREAM = 2,                /* not an HTTP status: see tg_http_console_fn */
  TG_HTTP_STREAM_BOUND = 256 * 1024, /* a stream's unsent bytes; past this its client is dropped */
};

typedef struct tg_http_routes_s {
  tg_http_task_fn on_task;
  tg_http_abandon_fn on_abandon;
  void *task_ctx;
  tg_http_admin_fn on_admin; /* may be NULL: every other path is then 404 */
  void *admin_ctx;
  tg_http_console_fn on_console; /* may be NULL: /console is then like any other path */
  tg_http_stream_closed_fn on_stream_closed;
  void *console_ctx;
  /* NULL: any Host. Else the admin and console views (not /healthz) answer only the Host values
   * it allows, others 421 (host_allow.h); and a second Authorization header is refused (400). */
  const tg_host_allow_t *hosts;
  /* NULL: none. Else the admin and console views' 401s count against their client, a client
   * over the limit gets 429, and both are logged as a summary (auth_guard.h). */
  tg_auth_guard_t *guard;
  /* NULL: none. Else the bound on the task request bodies every connection together holds: a
   * body that would pass it gets 503 and a close (body_budget.h). */
  tg_body_budget_t *bodies;
} tg_http_routes_t;

struct tg_http_s {
  llhttp_t parser;
  const tg_http_routes_t *routes;
  tg_http_deliver_fn deliver; /* the connection's; the task handler calls it for late replies */
  tg_http_push_fn push;       /* the connection's; the console sends a stream's bytes with it */
  int streaming;              /* the response is a console stream, open until one side ends it */
  void *owner;                /* the connection */
  int waiting;                /* a task call of this connection answers later */
  int waiting_keep_alive;
  int legacy;         /* the request came to a v1 path */
  int interface;      /* TG_HTTP_TASK or TG_HTTP_BIN: which endpoint the request came to */
  int json_type;      /* its Content-Type is JSON: a body that is neither form is answered in JSON */
  int charset;        /* TG_CHARSET_*: the Content-Type's charset parameter, which decides the body's encoding */
  char content_type[128]; /* the Content-Type as sent (one, printable, whole), or "": a call
                           * forwarded as received goes upstream with it */
  int answered_early; /* a final status went out before the body (Expect: 100-continue): it is discarded */
  int reply_json;     /* set by the task handler: the reply is JSON (the request was) */
  char reply_charset[40]; /* set by the task handler: the XML reply's charset when not UTF-8, or "" */
  const char *client; /* the peer's address, owned by the connection */
  int client_port;    /* the peer's port (0: unknown), set by the connection */
  tg_buf_t *out;      /* where responses go during tg_http_feed */
  size_t out_bound;   /* no new request is parsed while out holds this many bytes (0: no bound) */
  unsigned answered;  /* requests answered so far on this connection */
  /* Our own scan of the header bytes, ahead of llhttp (which lets bare CR and obs-fold through). */
  int scan;
  size_t header_bytes;
  int header_lines;
  int line_used;        /* the current header line has bytes before its CRLF */
  int in_field_name;    /* between the start of a header line and its colon */
  tg_framing_t framing; /* the framing rules llhttp does not enforce (framing.h) */
  /* The request being parsed. */
  int route;
  int message_done;
  int fatal_status; /* set by a callback that must end the connection with this status */
  tg_buf_t body;
  size_t body_taken; /* bytes of routes->bodies this request's body holds */
  char field[32];
  size_t field_len;
  char value[1024];
  size_t value_len;
  int value_cut; /* the value was longer than value holds */
  int wants_continue;
  int bad_encoding; /* a Content-Encoding other than identity: 415 */
  /* Who asked, as the request says: an X-Request-Id to keep (a token of up to 64 bytes) and the
   * X-Forwarded-For chain in front of the client; "" when absent or not well-formed. */
  char request_id[65];
  char forwarded_for[128];
  char via[512]; /* the Via chain the request passed through, comments left out (gateways name
                  * themselves there), or "" */
  int via_self;  /* an entry of that chain names this gateway (tg_http_set_via_name): a loop */
  int via_too_long; /* the chain did not fit: too many hops to tell (a loop, most likely) */
  int headers_done;
  char authorization[128]; /* the Authorization header, "" when absent; for the admin views */
  int authorizations;      /* how many Authorization headers came */
  char host[128];          /* the Host header, "" when absent */
  char path[256];          /* the request path (without query), cut at 255 bytes */
  char query[512];         /* what follows its '?' ("" for none); cut to "" when longer */
  tg_buf_t reply;
};

/* Prepares h for a new connection from client, answering through routes (not owned). */
void tg_http_init(tg_http_t *h, const tg_http_routes_t *routes, const char *client);
/* The received-by name this gateway writes into Via ("taskgate-6f1c0a3e"): a request whose Via
 * names it came through here before. Set once at start. */
void tg_http_set_via_name(const char *name);
/* Parses len bytes, appending every response they complete to out, in request order. Returns
 * TG_HTTP_MORE (all bytes used, keep reading), TG_HTTP_CLOSE (close once out is sent),
 * TG_HTTP_WAIT: a task call answers later; *used bytes were consumed and the rest must be fed
 * again after tg_http_reply_head; or TG_HTTP_FULL: out holds h->out_bound bytes or more, so the next
 * request was not started; *used bytes were consumed and the rest must be fed again once out has
 * been sent. Every reply, admin ones included, counts towards that bound. */
int tg_http_feed(tg_http_t *h, const char *data, size_t len, tg_buf_t *out, size_t *used);
/* Appends the head of the waiting task call's response (200, for a body of len bytes) to out and
 * ends the request: the body follows the head as it is, so the connection writes it from where
 * it lies. Returns TG_HTTP_MORE, or TG_HTTP_CLOSE when the request did not keep the connection
 * alive. */
int tg_http_reply_head(tg_http_t *h, size_t len, tg_buf_t *out);
enum { TG_HTTP_IDLE, TG_HTTP_HEADERS, TG_HTTP_BODY };
/* Where the connection is in its current request: IDLE (no byte of it yet), HEADERS (reading
 * the request line and headers) or BODY. Connections use it to pick their deadline. */
int tg_http_phase(const tg_http_t *h);
/* Appends a response with a short text body and "Connection: close" (for refusals made
 * outside the parser: timeouts, a full server). */
void tg_http_refuse(tg_buf_t *out, int status);
/* Frees the buffers of h. */
void tg_http_free(tg_http_t *h);

#endif
