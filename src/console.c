/* console.c: the console's routes (see console.h): assets read once at start, the password,
 * the JSON views and the event stream. Every answer is bounded whatever the store holds: the
 * store's views are the runtime's (taskgate.console), on the main handler's read connection
 * (store_view); the live ones come from the feed, on this thread. */
#include "console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "console_lua.h"
#include "fault_names.h"
#include "feed.h"
#include "json_text.h"
#include "redact.h"
#include "txn.h"

enum {
  MAX_ASSET_BYTES = 4 * 1024 * 1024,
  DEFAULT_CALLS = 200,
};

/* Every answer: the page loads only its own scripts and styles, and talks only to its origin. */
#define SECURITY_HEADERS                                                                                               \
  "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"                       \
  "Cache-Control: no-store\r\nContent-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "      \
  "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n"

static const char HEADERS[] = SECURITY_HEADERS;
/* Bearer, not Basic: the page asks for the token in its own form (a Basic challenge would make
 * the browser pop up its dialog over every refused request). */
static const char CHALLENGE[] = SECURITY_HEADERS "WWW-Authenticate: Bearer realm=\"taskgate console\"\r\n";

typedef struct asset_s {
  const char *path;
  const char *file; /* in the assets directory; NULL: Chart.js, from its own path */
  const char *type;
  tg_buf_t bytes;
} asset_t;

struct tg_console_s {
  tg_admin_t *admin;
  tg_feed_t *feed;
  char token[TG_ADMIN_TOKEN_MAX + 1];
  asset_t assets[5];
  int chart; /* Chart.js could be read */
};

static int read_asset(tg_buf_t *out, const char *path, char *err, size_t errcap) {
  FILE *file = fopen(path, "rb");
  if (!file)
    return snprintf(err, errcap, "console: cannot read %s: %s", path, strerror(errno)), -1;
  char chunk[16384];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, file)) > 0) {
    if (out->len + n > MAX_ASSET_BYTES || tg_buf_append(out, chunk, n) < 0) {
      snprintf(err, errcap, "console: %s is too large", path);
      rc = -1;
    }
  }
  fclose(file);
  return rc;
}

static int load_assets(tg_console_t *console, const char *dir, const char *chart_path, char *err, size_t errcap) {
  static const asset_t list[] = {
      {"/console", "index.html", "text/html; charset=utf-8", {0}},
      {"/console/", "index.html", "text/html; charset=utf-8", {0}},
      {"/console/console.css", "console.css", "text/css; charset=utf-8", {0}},
      {"/console/console.js", "console.js", "text/javascript; charset=utf-8", {0}},
      {"/console/chart.js", NULL, "text/javascript; charset=utf-8", {0}},
  };
  memcpy(console->assets, list, sizeof list);
  for (int i = 0; i < 4; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, list[i].file);
    if (read_asset(&console->assets[i].bytes, path, err, errcap) < 0)
      return -1;
  }
  char ignored[256];
  console->chart = chart_path && read_asset(&console->assets[4].bytes, chart_path, ignored, sizeof ignored) == 0;
  return 0;
}

tg_console_t *tg_console_new(uv_loop_t *loop, tg_admin_t *admin, const char *assets_dir, const char *chart_path,
                             const char *token, char *err, size_t errcap) {
  tg_console_t *console = calloc(1, sizeof *console);
  if (!console)
    return snprintf(err, errcap, "out of memory"), NULL;
  console->admin = admin;
  snprintf(console->token, sizeof console->token, "%s", token ? token : "");
  tg_feed_sources_t sources = {.store_path = admin->store_path,
                               .open_conns = admin->open_conns,
                               .reload = admin->reload,
                               .upstreams = admin->upstreams};
  if (load_assets(console, assets_dir, chart_path, err, errcap) < 0)
    goto fail;
  if (!(console->feed = tg_feed_new(loop, &sources))) {
    snprintf(err, errcap, "out of memory");
    goto fail;
  }
  return console;
fail:
  for (int i = 0; i < 5; i++)
    tg_buf_free(&console->assets[i].bytes);
  free(console);
  return NULL;
}

/* --- the password ----------------------------------------------------------------------- */

static int base64_value(char c) {
  const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *at = c ? strchr(alphabet, c) : NULL;
  return at ? (int)(at - alphabet) : -1;
}

/* Decodes base64 text into out (NUL-terminated); returns -1 for bad text or too small an out. */
static int base64_decode(const char *text, char *out, size_t cap) {
  size_t o = 0;
  unsigned bits = 0, value = 0;
  for (; *text && *text != '='; text++) {
    int v = base64_value(*text);
    if (v < 0)
      return -1;
    value = (value << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o + 1 >= cap)
        return -1;
      out[o++] = (char)((value >> bits) & 0xff);
    }
  }
  out[o] = '\0';
  return 0;
}

static int known_token(const tg_console_t *console, const char *given) {
  return (console->token[0] && tg_admin_token_equal(given, console->token)) ||
         (console->admin->token[0] && tg_admin_token_equal(given, console->admin->token));
}

/* Without a token anyone who reaches the address is let in, as on /status. With one, the page and
 * scripts send "Authorization: Bearer TOKEN"; the token as a Basic password (any user) is taken
 * too, for curl -u. */
static int authorized(const tg_console_t *console, const char *authorization) {
  if (!console->token[0] && !console->admin->token[0])
    return 1;
  if (!authorization)
    return 0;
  if (strncasecmp(authorization, "Bearer ", 7) == 0)
    return known_token(console, authorization + 7);
  char credentials[160];
  if (strncasecmp(authorization, "Basic ", 6) != 0 ||
      base64_decode(authorization + 6, credentials, sizeof credentials) < 0)
    return 0;
  const char *password = strchr(credentials, ':');
  return password && known_token(console, password + 1);
}

/* --- the views -------------------------------------------------------------------------- */

/* Runs the view in the main handler's generation, on the connection given (NULL: the writer). */
static int run_view(tg_handler_t *h, tg_store_t *reader, const char *view, const char *query, tg_buf_t *body) {
  tg_script_use_store(h->script, reader);
  int rc = tg_console_lua_view(h->script, view, query, body);
  tg_script_use_store(h->script, NULL);
  if (rc < 0) {
    tg_buf_puts(body, "{\"error\":");
    tg_json_text_string(body, tg_script_last_error(h->script));
    tg_buf_puts(body, "}");
  }
  return rc < 0 ? 500 : rc;
}

/* A view of the store, from the runtime. The views only read: on SQLite they run on the main
 * handler's read connection, in a read turn of their own (the state as last committed), so no
 * worker's writing batch waits for a page; this thread is the main handler's, so nothing else
 * uses that connection meanwhile, and the generation lock keeps a reload out as it does for a
 * read phase. Without a reader (PostgreSQL, a store that is no plain file), under the store lock. */
static int store_view(tg_console_t *console, const char *view, const char *query, tg_buf_t *body) {
  tg_admin_t *admin = console->admin;
  tg_handler_t *h = admin->handlers[0];
  int status;
  pthread_mutex_lock(&h->generation_lock);
  if (h->reader && tg_txn_begin_read(h->reader) == 0) {
    status = run_view(h, h->reader, view, query, body);
    tg_txn_commit_turn(h->reader); /* ends the snapshot; nothing was written */
    pthread_mutex_unlock(&h->generation_lock);
    return status;
  }
  pthread_mutex_unlock(&h->generation_lock);
  tg_store_lock(admin->store);
  status = run_view(h, NULL, view, query, body);
  tg_store_unlock(admin->store);
  return status;
}

/* The store's page of ports (an object), with the time and each port's last calls added. */
static int ports_view(tg_console_t *console, const char *query, tg_buf_t *body) {
  int status = store_view(console, "ports", query, body);
  if (status != 200 || !body->len || body->data[body->len - 1] != '}')
    return status;
  body->len--; /* the view's object goes on */
  tg_buf_printf(body, ",\"now\":%.3f,\"calls\":", tg_wall_seconds());
  tg_feed_port_calls_json(console->feed, body);
  tg_buf_puts(body, "}");
  return status;
}

static int rules_view(tg_console_t *console, tg_buf_t *body) {
  tg_admin_t *admin = console->admin;
  tg_buf_puts(body, "{\"status\":");
  tg_reload_status_json(admin->reload, body);
  tg_buf_puts(body, ",\"history\":");
  tg_reload_history_json(admin->reload, body);
  tg_buf_puts(body, ",\"self_check\":");
  int status = store_view(console, "self_check", "", body);
  tg_buf_puts(body, "}");
  return status;
}

/* Every fault code the serving rules name, {"1017":"TASK_DOES_NOT_EXIST",...}: the health
 * samples count faults by code, and the page labels them by name. */
static void fault_names_json(tg_buf_t *body) {
  const char *sep = "{";
  for (int code = 1000; code < 2000; code++) {
    char text[8], name[64];
    snprintf(text, sizeof text, "%d", code);
    tg_fault_names_get(text, name, sizeof name);
    if (!name[0])
      continue;
    tg_buf_printf(body, "%s\"%d\":", sep, code);
    tg_json_text_string(body, name);
    sep = ",";
  }
  tg_buf_puts(body, sep[0] == '{' ? "{}" : "}");
}

static int health_view(tg_console_t *console, tg_buf_t *body) {
  tg_admin_t *admin = console->admin;
  tg_buf_printf(body, "{\"version\":\"%s\",\"now\":%.3f,\"uptime_seconds\":%.1f,\"workers\":%d,\"draining\":%s,",
                TG_VERSION, tg_wall_seconds(), tg_wall_seconds() - admin->started, admin->handler_count,
                admin->draining ? "true" : "false");
  tg_buf_printf(body, "\"connections\":%d,\"generation\":%u,\"chart\":%s,\"upstreams\":",
                __atomic_load_n(admin->open_conns, __ATOMIC_RELAXED), admin->reload->generation,
                console->chart ? "true" : "false");
  if (admin->upstreams)
    tg_upstreams_status_json(admin->upstreams, body);
  else
    tg_buf_puts(body, "[]");
  tg_buf_puts(body, ",\"feed\":");
  tg_feed_health_json(console->feed, body);
  tg_buf_puts(body, ",\"fault_names\":");
  fault_names_json(body);
  tg_buf_puts(body, "}");
  return 200;
}

/* A bad filter's answer: 400 with {"error": what is wrong}. */
static int bad_filter(tg_buf_t *body, const char *error) {
  tg_buf_puts(body, "{\"error\":");
  tg_json_text_string(body, error);
  tg_buf_puts(body, "}");
  return 400;
}

static int calls_view(tg_console_t *console, const char *query, tg_buf_t *body) {
  tg_call_filter_t filter;
  const char *error = tg_feed_filter_parse(query, &filter);
  if (error)
    return bad_filter(body, error);
  const char *limit_at = strstr(query, "limit=");
  int limit = DEFAULT_CALLS;
  if (limit_at && (limit_at == query || limit_at[-1] == '&')) {
    const char *digits = limit_at + 6;
    size_t len = strcspn(digits, "&");
    limit = len && len < 6 && strspn(digits, "0123456789") >= len ? atoi(digits) : -1;
    if (limit < 1 || limit > TG_FEED_RECENT_CALLS) {
      char message[48];
      snprintf(message, sizeof message, "limit must be 1 to %d", TG_FEED_RECENT_CALLS);
      return bad_filter(body, message);
    }
  }
  tg_feed_calls_json(console->feed, &filter, limit, body);
  return 200;
}

/* The event stream: a subscriber of the feed from now on. Its first bytes tell the browser how
 * soon to come back when the stream breaks. */
static int events(tg_console_t *console, tg_http_t *h, tg_buf_t *body) {
  if (h->parser.method != HTTP_GET)
    return 200; /* HEAD: the header alone */
  tg_call_filter_t filter;
  const char *error = tg_feed_filter_parse(h->query, &filter);
  if (error)
    return bad_filter(body, error);
  int calls = !strstr(h->query, "calls=0");
  if (console->admin->draining || tg_feed_subscribe(console->feed, h, &filter, calls) < 0)
    return 503;
  tg_buf_puts(body, "retry: 3000\n: taskgate console stream\n\n");
  return TG_HTTP_STREAM;
}

static int api(tg_console_t *console, tg_http_t *h, const char *view, tg_buf_t *body) {
  if (strcmp(view, "events") == 0)
    return events(console, h, body);
  if (strcmp(view, "calls") == 0)
    return calls_view(console, h->query, body);
  if (strcmp(view, "ports") == 0)
    return ports_view(console, h->query, body);
  if (strcmp(view, "rules") == 0)
    return rules_view(console, body);
  if (strcmp(view, "health") == 0)
    return health_view(console, body);
  if (strcmp(view, "queue") == 0 || strcmp(view, "search") == 0 || strcmp(view, "audit") == 0)
    return store_view(console, view, h->query, body);
  return 404;
}

int tg_console_answer(void *ctx, tg_http_t *h, tg_buf_t *body, const char **content_type, const char **headers) {
  tg_console_t *console = ctx;
  const char *authorization = h->authorization[0] ? h->authorization : NULL;
  *headers = HEADERS;
  if (strncmp(h->path, "/console/api/", 13) == 0) {
    *content_type = "application/json; charset=utf-8";
    if (!authorized(console, authorization)) {
      *headers = CHALLENGE;
      return 401;
    }
    int status = api(console, h, h->path + 13, body);
    if (status == 200 && strcmp(h->path + 13, "events") == 0) {
      *content_type = "text/event-stream"; /* HEAD's answer describes what GET sends */
      return status;
    }
    /* URLs in what rules wrote (audit records, reload errors) are shown masked (redact.h) */
    return tg_redact_buf(body, 0) < 0 ? 500 : status;
  }
  /* The page, its style and scripts hold no data: they are served to anyone, so that the page
   * can ask for the token. */
  for (int i = 0; i < 5; i++) {
    const asset_t *asset = &console->assets[i];
    if (strcmp(h->path, asset->path) == 0 && asset->bytes.len) {
      *content_type = asset->type;
      tg_buf_append(body, asset->bytes.data, asset->bytes.len);
      return 200;
    }
  }
  return 404;
}

void tg_console_stream_closed(void *ctx, tg_http_t *h) {
  tg_console_t *console = ctx;
  tg_feed_unsubscribe(console->feed, h);
}

void tg_console_stop(tg_console_t *console) {
  if (console)
    tg_feed_end_streams(console->feed);
}

int tg_console_token_changed(tg_console_t *console, const char *token) {
  if (strcmp(console->token, token) == 0)
    return 0;
  snprintf(console->token, sizeof console->token, "%s", token);
  return 1;
}

void tg_console_end_streams(tg_console_t *console) { tg_feed_close_streams(console->feed); }

void tg_console_free(tg_console_t *console) {
  if (!console)
    return;
  tg_feed_free(console->feed);
  for (int i = 0; i < 5; i++)
    tg_buf_free(&console->assets[i].bytes);
  free(console);
}
