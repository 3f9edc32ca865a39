/* http.c: llhttp callbacks, the header pre-scan that closes llhttp 8.1.0's smuggling gaps,
 * routing and response framing. Knows nothing of sockets, so it can be fuzzed alone. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define XML_TYPE "application/xml; charset=utf-8"
#define JSON_TYPE "application/json; charset=utf-8"

/* The endpoints. The v2 paths are compared as documented; the v1 ones as IIS, which served
 * them, compares paths: without regard to case. */
static const struct endpoint {
  const char *path;
  size_t len;
  int interface; /* TG_HTTP_TASK or TG_HTTP_BIN */
  int legacy;
} endpoints[] = {
#define ENDPOINT(path, interface, legacy)                                                                              \
  { path, sizeof path - 1, interface, legacy }
    ENDPOINT("/api/v2/task", TG_HTTP_TASK, 0),
    ENDPOINT("/api/v2/bin", TG_HTTP_BIN, 0),
    ENDPOINT("/ASInterfaceHttp/AutoStoreHttpInterface.aspx", TG_HTTP_TASK, 1),
    ENDPOINT("/ASInterfaceHttp/BinInterface.aspx", TG_HTTP_BIN, 1),
#undef ENDPOINT
};

/* SCAN_CHUNKS: a chunked body, whose framing framing.c checks ahead of llhttp. */
enum { SCAN_LINE_START, SCAN_IN_LINE, SCAN_AFTER_CR, SCAN_BODY, SCAN_CHUNKS };
enum { ROUTE_TASK, ROUTE_HEAD, ROUTE_ADMIN, ROUTE_CONSOLE, ROUTE_NOT_FOUND, ROUTE_NOT_ALLOWED, ROUTE_BAD_TYPE };

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 421: return "Misdirected Request";
  case 429: return "Too Many Requests";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  case 431: return "Request Header Fields Too Large";
  default: return "Internal Server Error";
  }
}

/* Appends a response's status line and headers, for a body of len bytes. */
static void put_head(tg_buf_t *out, int status, const char *type, size_t len, int keep_alive,
                     const char *extra_headers) {
  /* Pieces rather than printf: this runs for every reply. */
  tg_buf_puts(out, "HTTP/1.1 ");
  tg_buf_put_uint(out, (unsigned long long)status);
  tg_buf_puts(out, " ");
  tg_buf_puts(out, reason(status));
  tg_buf_puts(out, "\r\nContent-Type: ");
  tg_buf_puts(out, type);
  tg_buf_puts(out, "\r\nContent-Length: ");
  tg_buf_put_uint(out, len);
  tg_buf_puts(out, "\r\n");
  if (extra_headers)
    tg_buf_puts(out, extra_headers);
  tg_buf_puts(out, keep_alive ? "\r\n" : "Connection: close\r\n\r\n");
}

/* Appends a response. With head (the request was HEAD) the headers describe the body but the
 * body is left out (RFC 9110 9.3.2): bytes after them would be read as the next response. */
static void respond(tg_buf_t *out, int status, const char *type, const char *body, size_t len, int keep_alive,
                    const char *extra_headers, int head) {
  put_head(out, status, type, len, keep_alive, extra_headers);
  if (!head)
    tg_buf_append(out, body, len);
}

static void respond_text(tg_buf_t *out, int status, int keep_alive, const char *extra_headers, int head) {
  tg_metrics_http_status(status);
  char body[192];
  int n = snprintf(body, sizeof body, "%s%s\n", reason(status),
                   status == 421 ? ": this address answers only the Host names it knows: an IP address, localhost, "
                                   "or a name given with --admin-host"
                                 : "");
  respond(out, status, "text/plain; charset=utf-8", body, (size_t)n, keep_alive, extra_headers, head);
}

/* Whether the request being answered is a HEAD (known once its headers are parsed). */
static int is_head(const tg_http_t *h) { return h->headers_done && h->parser.method == HTTP_HEAD; }

static void answer(tg_http_t *h, int keep_alive);

/* Answers a request with an HTTP error, and logs it: every refusal leaves a line an operator can
 * count ("how many 415s in the last hour?") and trace to its client. */
static void refuse(tg_http_t *h, tg_buf_t *out, int status, int keep_alive, const char *extra_headers) {
  tg_auth_guard_t *guard = h->routes->guard;
  if (guard && status == 401) /* counted against the client, and logged as a summary */
    tg_auth_guard_failed(guard, h->client, tg_monotonic_seconds());
  else if (guard && status == 429)
    tg_auth_guard_refused_blocked(guard, h->client, tg_monotonic_seconds());
  else if (tg_log_enabled(TG_LOG_INFO)) {
    char path[300];
    tg_log_quote(path, sizeof path, h->headers_done ? h->path : "-", strlen(h->headers_done ? h->path : "-"));
    tg_log(TG_LOG_INFO, "http_error", "status=%d client=%s method=%s path=%s", status, h->client ? h->client : "-",
           h->headers_done ? llhttp_method_name((llhttp_method_t)h->parser.method) : "-", path);
  }
  respond_text(out, status, keep_alive, extra_headers, is_head(h));
}

/* --- llhttp callbacks ------------------------------------------------------------------ */

static int on_message_begin(llhttp_t *p) {
  tg_http_t *h = p->data;
  h->body.len = 0;
  h->field_len = h->value_len = 0;
  h->wants_continue = h->bad_encoding = h->json_type = h->headers_done = 0;
  h->charset = TG_CHARSET_NONE;
  h->content_type[0] = '\0';
  h->answered_early = 0;
  h->request_id[0] = h->forwarded_for[0] = h->via[0] = '\0';
  h->via_self = h->via_too_long = 0;
  h->authorization[0] = h->host[0] = '\0';
  h->authorizations = 0;
  h->route = ROUTE_NOT_FOUND;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  tg_http_t *h = p->data;
  /* The URL is collected in body's buffer until the headers are done; it is small by then. */
  return tg_buf_append(&h->body, at, len) < 0 ? -1 : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  tg_http_t *h = p->data;
  if (h->headers_done) {
    h->fatal_status = 400; /* trailers after a chunked body: refused, nobody needs them here */
    return -1;
  }
  for (size_t i = 0; i < len && h->field_len < sizeof h->field - 1; i++)
    h->field[h->field_len++] = at[i];
  h->value_len = 0;
  h->value_cut = 0;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  tg_http_t *h = p->data;
  size_t i = 0;
  for (; i < len && h->value_len < sizeof h->value - 1; i++)
    h->value[h->value_len++] = at[i];
  h->value_cut |= i < len;
  return 0;
}

static int is_field(const tg_http_t *h, const char *name) {
  return h->field_len == strlen(name) && strncasecmp(h->field, name, h->field_len) == 0;
}

/* The length of the token that starts value (after blanks, before a ';', blank or the end). */
static size_t token(const char **value, size_t len) {
  while (len > 0 && (**value == ' ' || **value == '\t'))
    (*value)++, len--;
  size_t n = 0;
  while (n < len && (*value)[n] != ';' && (*value)[n] != ' ' && (*value)[n] != '\t' && (*value)[n] != ',')
    n++;
  return n;
}

/* Returns 1 for application/json or any type/subtype ending in +json. Any Content-Type carries
 * a methodcall (the body decides); a JSON type only says how to answer a body that is neither. */
static int json_media_type(const char *value, size_t len) {
  size_t n = token(&value, len);
  return (n == 16 && strncasecmp(value, "application/json", 16) == 0) ||
         (n > 5 && strncasecmp(value + n - 5, "+json", 5) == 0);
}

/* Returns 1 when a Content-Encoding is something other than identity: such a body cannot be
 * read, so it is the one thing the endpoints refuse with 415. */
static int encoded_body(const char *value, size_t len) {
  size_t n = token(&value, len);
  return n > 0 && !(n == 8 && strncasecmp(value, "identity", 8) == 0);
}

/* Keeps an identity header's value in out when it is whole (not cut at the value buffer), of
 * allowed bytes only, and fits after what out holds (a repeated header joins with ", ");
 * otherwise out is emptied, so nothing half-read travels on. */
static void keep_identity(char *out, size_t cap, const char *value, size_t len, size_t value_cap, const char *allowed) {
  while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
    len--;
  size_t used = strlen(out), sep = used ? 2 : 0;
  int whole = len > 0 && len < value_cap - 1 && used + sep + len < cap;
  for (size_t i = 0; whole && i < len; i++)
    whole = value[i] != '\0' && strchr(allowed, value[i]) != NULL;
  if (!whole) {
    out[0] = '\0';
    return;
  }
  memcpy(out + used, ", ", sep);
  memcpy(out + used + sep, value, len);
  out[used + sep + len] = '\0';
}

static const char REQUEST_ID_BYTES[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:@+/-";
static const char ADDRESS_LIST_BYTES[] = "0123456789abcdefABCDEF.:[], ";

static char self_via_name[32];

void tg_http_set_via_name(const char *name) { snprintf(self_via_name, sizeof self_via_name, "%s", name); }

/* A byte of a Via entry's received-protocol or received-by: a token's, or a host's and port's. */
static int via_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~:[]/", c) != NULL);
}

/* Steps over a comment starting at v[*i] == '(': nested comments and quoted pairs included. */
static void skip_comment(const char *v, size_t len, size_t *i) {
  int depth = 0;
  while (*i < len) {
    char c = v[(*i)++];
    if (c == '\\' && *i < len)
      (*i)++;
    else if (c == '(')
      depth++;
    else if (c == ')' && --depth == 0)
      return;
  }
}

static size_t span(const char *v, size_t len, size_t i, int (*is)(char)) {
  while (i < len && is(v[i]))
    i++;
  return i;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* Adds the entries of one Via value (RFC 9110 7.6.3: "received-protocol received-by [comment]",
 * comma-separated; a comment may hold commas and parentheses) to h->via, without their comments
 * (which any recipient may drop). Notes an entry naming this gateway; a malformed entry is left
 * out, the others kept. A chain that does not fit, or a value cut at the buffer, is too long. */
static void keep_via(tg_http_t *h, const char *v, size_t len) {
  if (len >= sizeof h->value - 1)
    h->via_too_long = 1;
  size_t i = 0;
  while (i < len) {
    while (i < len && (blank(v[i]) || v[i] == ','))
      i++;
    size_t protocol = i, protocol_end = span(v, len, i, via_byte);
    size_t by = span(v, len, protocol_end, blank), by_end = span(v, len, by, via_byte);
    i = span(v, len, by_end, blank);
    if (i < len && v[i] == '(') {
      skip_comment(v, len, &i);
      i = span(v, len, i, blank);
    }
    if (protocol_end == protocol || by_end == by || by == protocol_end || (i < len && v[i] != ',')) {
      while (i < len && v[i] != ',') { /* not an entry: on to the next */
        if (v[i] == '(')
          skip_comment(v, len, &i);
        else
          i++;
      }
      continue;
    }
    size_t name = by_end - by;
    if (self_via_name[0] && name == strlen(self_via_name) && memcmp(v + by, self_via_name, name) == 0)
      h->via_self = 1;
    size_t used = strlen(h->via), sep = used ? 2 : 0, entry = by_end - protocol;
    if (used + sep + entry >= sizeof h->via) {
      h->via_too_long = 1;
      continue;
    }
    memcpy(h->via + used, ", ", sep);
    memcpy(h->via + used + sep, v + protocol, entry);
    h->via[used + sep + entry] = '\0';
  }
}

/* The charset parameter of a Content-Type value (RFC 9110 8.3.1: ";" parameters, the value
 * possibly quoted), judged by tg_charset_named; TG_CHARSET_NONE when there is none. */
static int charset_of(const char *value, size_t len) {
  const char *end = value + len;
  for (const char *p = memchr(value, ';', len); p; p = memchr(p, ';', (size_t)(end - p))) {
    p++;
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if (end - p < 8 || strncasecmp(p, "charset=", 8) != 0)
      continue;
    const char *name = p + 8;
    size_t n = 0;
    if (name < end && *name == '"')
      name++;
    while (name + n < end && name[n] != ';' && name[n] != '"' && name[n] != ' ' && name[n] != '\t')
      n++;
    return tg_charset_named(name, n);
  }
  return TG_CHARSET_NONE;
}

/* Keeps the Content-Type as sent, for forwarding with the body: the last one, as for the charset
 * the body was read in, when whole and of visible ASCII and blanks only (nothing that could end
 * a header line upstream); else none. */
static void keep_content_type(tg_http_t *h) {
  size_t len = h->value_len;
  while (len > 0 && (h->value[len - 1] == ' ' || h->value[len - 1] == '\t'))
    len--;
  int fits = !h->value_cut && len > 0 && len < sizeof h->content_type;
  for (size_t i = 0; fits && i < len; i++)
    fits = (h->value[i] >= 0x20 && h->value[i] < 0x7f) || h->value[i] == '\t';
  if (fits)
    memcpy(h->content_type, h->value, len);
  h->content_type[fits ? len : 0] = '\0';
}

/* Keeps a header's value in out (cap bytes) when it fits whole, else "!", which matches no
 * value; like printf's "%.*s", it ends at a NUL byte. Without printf: the Host header is in
 * every request. */
static void keep_whole(char *out, size_t cap, const char *value, size_t len) {
  if (len >= cap - 1) {
    value = "!";
    len = 1;
  }
  len = strnlen(value, len);
  memcpy(out, value, len);
  out[len] = '\0';
}

static int on_header_value_complete(llhttp_t *p) {
  tg_http_t *h = p->data;
  tg_framing_field(&h->framing, h->field, h->field_len, h->value, h->value_len, h->value_cut);
  if (is_field(h, "x-request-id")) {
    if (!h->request_id[0]) /* one id: a repeated header does not replace the first */
      keep_identity(h->request_id, sizeof h->request_id, h->value, h->value_len, sizeof h->value, REQUEST_ID_BYTES);
  } else if (is_field(h, "x-forwarded-for"))
    keep_identity(h->forwarded_for, sizeof h->forwarded_for, h->value, h->value_len, sizeof h->value,
                  ADDRESS_LIST_BYTES);
  else if (is_field(h, "via"))
    keep_via(h, h->value, h->value_len);
  else if (is_field(h, "content-type")) {
    h->json_type = json_media_type(h->value, h->value_len);
    h->charset = charset_of(h->value, h->value_len);
    keep_content_type(h);
  } else if (is_field(h, "content-encoding"))
    h->bad_encoding |= encoded_body(h->value, h->value_len);
  else if (is_field(h, "expect") && h->value_len == 12 && strncasecmp(h->value, "100-continue", 12) == 0)
    h->wants_continue = 1;
  else if (is_field(h, "authorization") && !h->authorizations++) /* a cut value must not match */
    keep_whole(h->authorization, sizeof h->authorization, h->value, h->value_len);
  else if (is_field(h, "host")) /* one (framing.c refuses a second); a cut one must not match */
    keep_whole(h->host, sizeof h->host, h->value, h->value_len);
  h->field_len = h->value_len = 0;
  return 0;
}

static int hex_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static int unreserved(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* The endpoint at path, or NULL. Paths are compared without regard to case, as IIS compared the
 * v1 ones and ASP.NET Core routes (case-insensitively) the v2 ones; a percent-escape of an
 * unreserved character is that character (RFC 3986 6.2.2.2: /api/v2/%74ask is /api/v2/task),
 * any other escape is kept (so it matches nothing); one trailing slash is allowed. */
static const struct endpoint *find_endpoint(const char *path, size_t len) {
  char normal[64]; /* longer than any endpoint */
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)path[i];
    if (c == '%' && i + 2 < len && hex_value(path[i + 1]) >= 0 && hex_value(path[i + 2]) >= 0) {
      int decoded = hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]);
      if (unreserved(decoded)) {
        c = decoded;
        i += 2;
      }
    }
    if (n == sizeof normal)
      return NULL;
    normal[n++] = (char)c;
  }
  if (n > 1 && normal[n - 1] == '/')
    n--;
  for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
    const struct endpoint *e = &endpoints[i];
    if (n == e->len && strncasecmp(normal, e->path, n) == 0)
      return e;
  }
  return NULL;
}

/* Where the path of a request target starts: at once in origin-form ("/api/v2/task"), after
 * the authority in absolute-form ("http://host:44000/api/v2/task", which RFC 9112 3.2.2 says a
 * server must accept); a target without a path has an empty one. */
static size_t path_start(const char *target, size_t len) {
  size_t scheme = len >= 7 && strncasecmp(target, "http://", 7) == 0    ? 7
                  : len >= 8 && strncasecmp(target, "https://", 8) == 0 ? 8
                                                                        : 0;
  if (!scheme)
    return 0;
  const char *slash = memchr(target + scheme, '/', len - scheme);
  return slash ? (size_t)(slash - target) : len;
}

static int route(tg_http_t *h) {
  size_t path_len = 0;
  while (path_len < h->body.len && h->body.data[path_len] != '?')
    path_len++;
  const char *target = h->body.data ? h->body.data : "";
  size_t start = path_start(target, path_len);
  const char *path = target + start;
  path_len -= start;
  size_t kept = path_len < sizeof h->path ? path_len : sizeof h->path - 1;
  memcpy(h->path, path, kept);
  h->path[kept] = '\0';
  size_t query_at = start + path_len; /* the '?', when there is one */
  size_t query_len = query_at < h->body.len ? h->body.len - query_at - 1 : 0;
  if (query_len >= sizeof h->query)
    query_len = 0; /* a cut query could mean something else: none at all */
  memcpy(h->query, target + h->body.len - query_len, query_len);
  h->query[query_len] = '\0';
  const struct endpoint *endpoint = h->routes->on_task ? find_endpoint(path, path_len) : NULL;
  h->legacy = endpoint && endpoint->legacy;
  h->interface = endpoint ? endpoint->interface : TG_HTTP_TASK;
  int method = h->parser.method;
  int reads = method == HTTP_GET || method == HTTP_HEAD;
  if (!endpoint && reads && h->routes->on_console &&
      strncmp(h->path, "/console", 8) == 0 && (h->path[8] == '\0' || h->path[8] == '/'))
    return ROUTE_CONSOLE;
  if (!endpoint)
    return reads && h->routes->on_admin ? ROUTE_ADMIN : ROUTE_NOT_FOUND;
  if (method == HTTP_HEAD)
    return ROUTE_HEAD;
  if (method != HTTP_POST)
    return ROUTE_NOT_ALLOWED;
  return h->bad_encoding ? ROUTE_BAD_TYPE : ROUTE_TASK;
}

static int on_headers_complete(llhttp_t *p) {
  tg_http_t *h = p->data;
  h->headers_done = 1;
  size_t path_start = 0;
  int status = tg_framing_check(&h->framing, p->http_major, p->http_minor, (p->flags & F_CONTENT_LENGTH) != 0,
                                h->body.data ? h->body.data : "", h->body.len, &path_start);
  if (status) {
    h->fatal_status = status;
    return -1;
  }
  if (path_start) { /* absolute-form: route on the path alone */
    memmove(h->body.data, h->body.data + path_start, h->body.len - path_start);
    h->body.len -= path_start;
  }
  /* Upgrade (and CONNECT) are ignored, as RFC 9110 7.8 allows: the request is answered as it
   * stands and what follows it is parsed as HTTP, not handed over as another protocol. */
  p->upgrade = 0;
  h->scan = SCAN_BODY;
  if (p->flags & F_CHUNKED) {
    h->scan = SCAN_CHUNKS;
    tg_framing_chunks_begin(&h->framing, TG_HTTP_MAX_BODY_BYTES);
  }
  h->route = route(h);
  h->body.len = 0;
  if (p->flags & F_CONTENT_LENGTH && p->content_length > TG_HTTP_MAX_BODY_BYTES) {
    h->fatal_status = 413;
    return -1;
  }
  if (h->wants_continue && h->route == ROUTE_TASK) {
    tg_buf_puts(h->out, "HTTP/1.1 100 Continue\r\n\r\n");
  } else if (h->wants_continue && h->route != ROUTE_HEAD && h->route != ROUTE_ADMIN) {
    /* The final status (404, 405, 415) is known before the body the client waits to send: it
     * goes now (RFC 9110 10.1.1). A body that comes anyway is read and dropped (on_body), so
     * the connection stays in step and is kept; a client that sends none closes it. */
    answer(h, llhttp_should_keep_alive(p));
    h->answered_early = 1;
  }
  return 0;
}

/* Bodies are taken from the budget in steps of this much, so that a body costs a few atomic
 * additions, not one per read. */
#define BODY_BUDGET_STEP (64 * 1024)

/* Takes from the bodies' budget what a body of len bytes needs beyond what it holds already. */
static int take_body_budget(tg_http_t *h, size_t len) {
  size_t want = (len + BODY_BUDGET_STEP - 1) / BODY_BUDGET_STEP * BODY_BUDGET_STEP;
  if (tg_body_budget_take(h->routes ? h->routes->bodies : NULL, want - h->body_taken) < 0)
    return -1;
  h->body_taken = want;
  return 0;
}

/* Gives the body's budget back once its request is answered; a big body's buffer goes too, so
 * that a connection between requests holds no more than a small one's. */
static void give_body_budget(tg_http_t *h) {
  tg_body_budget_give(h->routes ? h->routes->bodies : NULL, h->body_taken);
  h->body_taken = 0;
  if (h->body.cap > BODY_BUDGET_STEP)
    tg_buf_free(&h->body);
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  tg_http_t *h = p->data;
  if (h->body.len + len > TG_HTTP_MAX_BODY_BYTES) {
    h->fatal_status = 413; /* a chunked body can only be measured as it arrives */
    return -1;
  }
  if (h->route != ROUTE_TASK) {
    h->body.len += len; /* counted, not kept */
    return 0;
  }
  if (h->body.len + len > h->body_taken && take_body_budget(h, h->body.len + len) < 0) {
    h->fatal_status = 503;
    return -1;
  }
  return tg_buf_append(&h->body, at, len) < 0 ? -1 : 0;
}

static int on_message_complete(llhttp_t *p) {
  tg_http_t *h = p->data;
  h->message_done = 1;
  return HPE_PAUSED; /* stop here so we answer, then scan the next request's headers ourselves */
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --- our own header scan ---------------------------------------------------------------- */

/* Length of the run of bytes at s that are neither CR nor LF. */
static size_t line_span(const char *s, size_t n) {
  const char *cr = memchr(s, '\r', n);
  size_t limit = cr ? (size_t)(cr - s) : n;
  const char *lf = memchr(s, '\n', limit);
  return lf ? (size_t)(lf - s) : limit;
}

/* Scans header bytes from data, stopping after the blank line that ends them. Returns how many
 * bytes belong to the header section (so far), or 0 with *status set when the bytes must be
 * refused: a CR not followed by LF, a bare LF, an obs-fold continuation line, whitespace
 * between a field name and its colon (RFC 9112 5.1), or too many bytes. */
static size_t scan_headers(tg_http_t *h, const char *data, size_t len, int *status) {
  /* The state lives in locals while the bytes are scanned (the compiler cannot keep h's fields
   * in registers across byte stores it must assume may alias them), and goes back at the end. */
  size_t header_bytes = h->header_bytes;
  int scan = h->scan, line_used = h->line_used, header_lines = h->header_lines, in_field_name = h->in_field_name;
  size_t i = 0, done = len;
  for (; i < len; i++) {
    if (scan == SCAN_IN_LINE && !in_field_name) {
      /* In the request line or a field value only CR and LF matter here (and the request
       * line's spaces, checked on the run): skip to the next one, but not past the size limit,
       * which the byte after the skipped run then trips below. */
      size_t run = line_span(data + i, len - i);
      size_t room = TG_HTTP_MAX_HEADER_BYTES - header_bytes;
      if (run > room)
        run = room;
      if (header_lines == 0 && (*status = tg_framing_request_line(&h->framing, data + i, run))) {
        done = 0;
        break;
      }
      header_bytes += run;
      i += run;
      if (i == len)
        break;
    }
    char c = data[i];
    if (++header_bytes > TG_HTTP_MAX_HEADER_BYTES) {
      *status = header_lines == 0 ? 414 : 431;
      done = 0;
      break;
    }
    if (scan == SCAN_AFTER_CR) {
      if (c != '\n') {
        *status = 400;
        done = 0;
        break;
      }
      scan = SCAN_LINE_START;
      if (!line_used && header_lines > 0) { /* the empty line that ends the headers */
        scan = SCAN_BODY;
        done = i + 1;
        break;
      }
      /* An empty line before the request line is tolerated (RFC 9112 2.2). */
      header_lines += line_used;
      line_used = 0;
      continue;
    }
    int in_field_line = header_lines > 0;
    if (c == '\r') {
      if (!in_field_line && line_used && (*status = tg_framing_request_line_end(&h->framing))) {
        done = 0;
        break;
      }
      scan = SCAN_AFTER_CR;
      continue;
    }
    int blank = c == ' ' || c == '\t';
    if (c == '\n' || (blank && in_field_line && scan == SCAN_LINE_START) || (blank && in_field_name) ||
        (c == ':' && in_field_line && scan == SCAN_LINE_START)) {
      *status = 400; /* a bare LF, an obs-fold line, whitespace before the colon, an empty name */
      done = 0;
      break;
    }
    if (!in_field_line && (*status = tg_framing_request_line(&h->framing, &c, 1))) {
      done = 0;
      break;
    }
    if (scan == SCAN_LINE_START)
      in_field_name = in_field_line;
    if (c == ':')
      in_field_name = 0;
    scan = SCAN_IN_LINE;
    line_used = 1;
  }
  h->header_bytes = header_bytes;
  h->scan = scan, h->line_used = line_used, h->header_lines = header_lines, h->in_field_name = in_field_name;
  return done;
}

/* --- driving the parser ----------------------------------------------------------------- */

int tg_http_phase(const tg_http_t *h) {
  if (h->scan == SCAN_BODY || h->scan == SCAN_CHUNKS)
    return TG_HTTP_BODY;
  return h->header_bytes > 0 ? TG_HTTP_HEADERS : TG_HTTP_IDLE;
}

void tg_http_refuse(tg_buf_t *out, int status) { respond_text(out, status, 0, NULL, 0); }

void tg_http_init(tg_http_t *h, const tg_http_routes_t *routes, const char *client) {
  memset(h, 0, sizeof *h);
  llhttp_init(&h->parser, HTTP_REQUEST, &settings);
  h->parser.data = h;
  h->routes = routes;
  h->client = client;
  h->scan = SCAN_LINE_START;
  tg_framing_reset(&h->framing);
}

void tg_http_free(tg_http_t *h) {
  give_body_budget(h);
  tg_buf_free(&h->body);
  tg_buf_free(&h->reply);
}

static void answer_admin(tg_http_t *h, int keep_alive) {
  const char *type = "text/plain; charset=utf-8";
  h->reply.len = 0;
  const char *authorization = h->authorization[0] ? h->authorization : NULL;
  int status = h->routes->on_admin(h->routes->admin_ctx, h->path, authorization, &h->reply, &type);
  if (status == 404)
    refuse(h, h->out, 404, keep_alive, NULL);
  else if (status == 401)
    refuse(h, h->out, 401, keep_alive, "WWW-Authenticate: Bearer realm=\"taskgate\"\r\n");
  else
    respond(h->out, status, type, h->reply.data ? h->reply.data : "", h->reply.len, keep_alive, NULL, is_head(h));
}

/* A console page, JSON view or event stream. A stream's response has no length: it runs until
 * one side closes the connection, so it is the connection's last. */
static void answer_console(tg_http_t *h, int keep_alive) {
  const char *type = "text/plain; charset=utf-8", *headers = NULL;
  h->reply.len = 0;
  int status = h->routes->on_console(h->routes->console_ctx, h, &h->reply, &type, &headers);
  if (status == TG_HTTP_STREAM) {
    tg_buf_puts(h->out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
    tg_buf_puts(h->out, headers ? headers : "Cache-Control: no-store\r\n"); /* the console's carry it */
    tg_buf_puts(h->out, "Connection: close\r\n\r\n");
    tg_buf_append(h->out, h->reply.data ? h->reply.data : "", h->reply.len); /* the stream's first bytes */
    h->waiting = h->streaming = 1;
    h->waiting_keep_alive = 0;
  } else if (status != 200 && !(status == 400 && h->reply.len)) { /* a refused filter says why */
    refuse(h, h->out, status, keep_alive, headers);
  } else {
    respond(h->out, status, type, h->reply.data ? h->reply.data : "", h->reply.len, keep_alive, headers, is_head(h));
  }
}

/* The admin and console views of an address that checks Host (see tg_http_routes_t): 421 for a
 * name it does not know, 400 for two Authorization headers (which one would decide is up to
 * each proxy on the way); 0 to answer. /healthz answers any Host: it tells nothing. */
static int misdirected(const tg_http_t *h) {
  if (!h->routes->hosts || (h->route != ROUTE_ADMIN && h->route != ROUTE_CONSOLE))
    return 0;
  if (h->authorizations > 1)
    return 400;
  if (strcmp(h->path, "/healthz") == 0 || !h->host[0]) /* no Host: HTTP/1.0, never a browser */
    return 0;
  return tg_host_allowed(h->routes->hosts, h->host, strlen(h->host)) ? 0 : 421;
}

static void answer(tg_http_t *h, int keep_alive) {
  int refused = misdirected(h);
  if (refused) {
    refuse(h, h->out, refused, keep_alive, NULL);
    return;
  }
  int wait = h->routes->guard && (h->route == ROUTE_ADMIN || h->route == ROUTE_CONSOLE) &&
                     strcmp(h->path, "/healthz") != 0
                 ? tg_auth_guard_wait(h->routes->guard, h->client, tg_monotonic_seconds())
                 : 0;
  if (wait) { /* too many wrong tokens from this address: even the right one waits */
    char retry[48];
    snprintf(retry, sizeof retry, "Retry-After: %d\r\n", wait);
    refuse(h, h->out, 429, keep_alive, retry);
    return;
  }
  switch (h->route) {
  case ROUTE_TASK: { /* the reply comes later, through h->deliver (tg_http_reply_head) */
    int rc = h->routes->on_task(h->routes->task_ctx, h, h->body.data ? h->body.data : "", h->body.len);
    if (rc < 0) {
      refuse(h, h->out, rc == -503 ? 503 : 500, keep_alive, NULL);
    } else {
      h->waiting = 1;
      h->waiting_keep_alive = keep_alive;
    }
    break;
  }
  case ROUTE_HEAD: respond(h->out, 200, XML_TYPE, "", 0, keep_alive, NULL, 1); break;
  case ROUTE_ADMIN: answer_admin(h, keep_alive); break;
  case ROUTE_CONSOLE: answer_console(h, keep_alive); break;
  case ROUTE_NOT_ALLOWED: refuse(h, h->out, 405, keep_alive, "Allow: POST, HEAD\r\n"); break;
  case ROUTE_BAD_TYPE: refuse(h, h->out, 415, keep_alive, NULL); break;
  default: refuse(h, h->out, 404, keep_alive, NULL);
  }
}

/* Resets the per-message scan state once a request has been answered. */
static void next_message(tg_http_t *h) {
  give_body_budget(h);
  h->answered++;
  h->message_done = 0;
  h->headers_done = 0; /* a refusal before the next request's headers must not name this one */
  h->scan = SCAN_LINE_START;
  h->header_bytes = 0;
  h->header_lines = 0;
  h->line_used = 0;
  h->in_field_name = 0;
  tg_framing_reset(&h->framing);
}

int tg_http_feed(tg_http_t *h, const char *data, size_t len, tg_buf_t *out, size_t *used) {
  h->out = out;
  size_t pos = 0;
  int verdict = TG_HTTP_MORE;
  while (pos < len && !h->waiting) {
    if (h->out_bound && out->len >= h->out_bound && tg_http_phase(h) == TG_HTTP_IDLE) {
      verdict = TG_HTTP_FULL; /* a client that does not read its replies gets no more of them */
      break;
    }
    size_t n = len - pos;
    int status = 0;
    if (h->scan == SCAN_CHUNKS) {
      int rc = tg_framing_chunks(&h->framing, data + pos, len - pos, &n);
      status = rc > 1 ? rc : 0;
    } else if (h->scan != SCAN_BODY) {
      n = scan_headers(h, data + pos, len - pos, &status);
    }
    if (status) {
      refuse(h, out, status, 0, NULL);
      verdict = TG_HTTP_CLOSE;
      break;
    }
    enum llhttp_errno err = llhttp_execute(&h->parser, data + pos, n);
    if (err == HPE_PAUSED) {
      n = (size_t)(llhttp_get_error_pos(&h->parser) - (data + pos));
      llhttp_resume(&h->parser);
    } else if (err != HPE_OK) {
      refuse(h, out, h->fatal_status ? h->fatal_status : 400, 0,
             h->fatal_status == 503 ? "Retry-After: 1\r\n" : NULL); /* 503: the bodies' budget */
      verdict = TG_HTTP_CLOSE;
      break;
    }
    pos += n;
    if (h->message_done) {
      int keep_alive = llhttp_should_keep_alive(&h->parser);
      if (!h->answered_early)
        answer(h, keep_alive);
      if (h->waiting)
        break; /* the next requests wait their turn: replies leave in request order */
      next_message(h);
      if (!keep_alive) {
        verdict = TG_HTTP_CLOSE;
        break;
      }
    }
  }
  if (used)
    *used = pos;
  if (verdict == TG_HTTP_MORE && h->waiting)
    verdict = TG_HTTP_WAIT;
  return verdict;
}

int tg_http_reply_head(tg_http_t *h, size_t len, tg_buf_t *out) {
  int keep_alive = h->waiting_keep_alive;
  char xml_type[80];
  if (!h->reply_json && h->reply_charset[0])
    snprintf(xml_type, sizeof xml_type, "application/xml; charset=%s", h->reply_charset);
  put_head(out, 200, h->reply_json ? JSON_TYPE : h->reply_charset[0] ? xml_type : XML_TYPE, len, keep_alive, NULL);
  h->reply_charset[0] = '\0';
  h->waiting = 0;
  next_message(h);
  return keep_alive ? TG_HTTP_MORE : TG_HTTP_CLOSE;
}
