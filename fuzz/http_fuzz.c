/* http_fuzz.c: libFuzzer target for the HTTP byte stream of one connection: the input is fed
 * to the parser in chunks of varying size (as reads arrive), pipelined requests included, and
 * again in one piece. Both runs must send the same bytes: how reads split a stream, and where
 * the output bound stops parsing, must never change how it is framed (our scans run ahead of
 * llhttp and keep state across reads). */
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "log.h"

static const char REPLY[] = "<?xml version=\"1.0\"?>\n<response>\n  <params/>\n</response>\n";

/* Queues the call: its reply is framed once tg_http_feed says it waits, as a connection does. */
static int answer_task(void *ctx, tg_http_t *h, const char *body, size_t len) { return 0; }

static int answer_admin(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **type) {
  if (strcmp(path, "/metrics") == 0) /* behind a token, as on an admin address with one */
    return authorization && strcmp(authorization, "Bearer t") == 0 ? 200 : 401;
  return strcmp(path, "/status") == 0 ? (tg_buf_puts(body, "{}"), 200) : 404;
}

/* The admin views check Host and count wrong tokens, as on an admin address. The limiter starts
 * empty for each run: its count carried over from earlier inputs would make the split and the
 * whole run of one input differ (a 401 in one, a 429 in the other) without any framing bug. */
static tg_host_allow_t hosts;
static tg_auth_guard_t guard;
static const tg_http_routes_t routes = {
    .on_task = answer_task, .on_admin = answer_admin, .hosts = &hosts, .guard = &guard};

/* Feeds data in reads of the sizes step gives (0: all at once); collects what is sent in sent.
 * Unused bytes (a full output) are fed again once the output is taken, as a connection does. */
static void run(const uint8_t *data, size_t size, unsigned step, tg_buf_t *sent) {
  tg_http_t http;
  tg_buf_t out = {0};
  memset(&guard, 0, sizeof guard);
  tg_http_init(&http, &routes, "127.0.0.1");
  http.out_bound = 2048; /* small, so that parsing stops and resumes (TG_HTTP_FULL) often */
  size_t pos = 0;
  int closed = 0;
  while (pos < size && !closed) {
    size_t n = step ? 1 + step % 97 : size; /* read sizes vary with the input, as from a socket */
    step = step * 31 + 7;
    if (n > size - pos)
      n = size - pos;
    size_t used = n;
    int verdict = tg_http_feed(&http, (const char *)data + pos, n, &out, &used);
    if (verdict == TG_HTTP_WAIT) { /* the call's reply comes at once; the rest is fed again */
      verdict = tg_http_reply_head(&http, sizeof REPLY - 1, &out);
      tg_buf_append(&out, REPLY, sizeof REPLY - 1);
    }
    closed = verdict == TG_HTTP_CLOSE;
    pos += closed ? n : used;
    if (out.len && memcmp(out.data, "HTTP/1.1 ", 9) != 0)
      __builtin_trap(); /* every byte we send must be a response */
    tg_buf_append(sent, out.data, out.len);
    out.len = 0;
  }
  tg_http_free(&http);
  tg_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tg_log_set_level(TG_LOG_OFF); /* every refusal logs a line: millions of them here */
  tg_buf_t split = {0}, whole = {0};
  run(data, size, size ? data[0] | 1u : 1, &split);
  run(data, size, 0, &whole);
  if (split.len != whole.len || (split.len && memcmp(split.data, whole.data, split.len) != 0))
    __builtin_trap(); /* the same stream framed differently depending on its reads */
  tg_buf_free(&split);
  tg_buf_free(&whole);
  return 0;
}
