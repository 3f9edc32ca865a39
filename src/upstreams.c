/* upstreams.c: the upstreams of bridge mode and their health (see upstreams.h). The state is
 * shared by every worker's client under one mutex; the URLs never change after the start. */
#include "upstreams.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json_text.h"
#include "log.h"
#include "redact.h"

enum { URL_BYTES = 512 };

/* What a probe's callback needs: which upstream of which set. */
typedef struct probe_s {
  tg_upstreams_t *set;
  int index;
} probe_t;

typedef struct upstream_s {
  char url[TG_UPSTREAMS_BIN + 1][URL_BYTES]; /* per endpoint */
  char shown[URL_BYTES];                     /* the task URL as operators see it (redact.h) */
  int down;
  int probing;  /* a probe is in flight */
  double since; /* wall clock of the last change of state, or of the start */
  char last_error[112];
  double last_error_at;
  double latency;        /* seconds of the last exchange it answered, or -1 */
  double call_failed_at; /* monotonic seconds of the last call it failed, or 0 */
  unsigned calls_failed; /* calls it failed since it last answered one */
  unsigned long long failures;
  int in_flight; /* calls sent to it and not yet answered (atomic: every worker's client counts) */
} upstream_t;

struct tg_upstreams_s {
  pthread_mutex_t lock;
  upstream_t list[TG_UPSTREAMS_MAX];
  int count;
  int queued; /* calls waiting for room in a worker's lane (atomic) */
  /* the probe, on the main loop */
  uv_timer_t probe_timer;
  int probe_started;
  tg_upstream_t *client;
  probe_t probes[TG_UPSTREAMS_MAX];
  /* A probe's answer brings back an upstream a call found failing only this long after: a
   * server that answers HEAD but fails every call must not look healthy between the calls.
   * Doubled for each further call it fails without answering one in between (hold_of). */
  double hold_seconds;
};

/* Calls each(url, len, ctx) for the comma-separated items of list, blanks around them trimmed;
 * stops at the first that returns -1. Returns the number of items, or -1. */
static int each_url(const char *list, int (*each)(const char *url, size_t len, void *ctx), void *ctx) {
  int n = 0;
  for (const char *at = list;; at++) {
    size_t len = strcspn(at, ",");
    const char *start = at, *end = at + len;
    while (start < end && (*start == ' ' || *start == '\t'))
      start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    if (each(start, (size_t)(end - start), ctx) < 0)
      return -1;
    n++;
    at += len;
    if (!*at)
      return n;
  }
}

static int check_url(const char *url, size_t len, void *ctx) {
  int *count = ctx;
  int scheme = (len > 7 && strncmp(url, "http://", 7) == 0) || (len > 8 && strncmp(url, "https://", 8) == 0);
  return scheme && len < URL_BYTES - 8 && ++*count <= TG_UPSTREAMS_MAX ? 0 : -1;
}

int tg_upstreams_valid(const char *list) {
  int count = 0;
  return each_url(list, check_url, &count) < 0 ? -1 : 0;
}

/* The bin endpoint beside a task endpoint; the task URL itself when it names neither path. */
static void bin_url(const char *task_url, char *out, size_t cap) {
  static const struct {
    const char *task, *bin;
  } siblings[] = {{"/api/v2/task", "/api/v2/bin"}, {"/AutoStoreHttpInterface.aspx", "/BinInterface.aspx"}};
  size_t len = strlen(task_url), keep = len;
  const char *tail = "";
  for (size_t i = 0; i < sizeof siblings / sizeof siblings[0]; i++) {
    size_t suffix = strlen(siblings[i].task);
    if (len >= suffix && strcmp(task_url + len - suffix, siblings[i].task) == 0) {
      keep = len - suffix;
      tail = siblings[i].bin;
    }
  }
  if (keep + strlen(tail) >= cap) /* checked on the way in: URLs leave room for the longer tail */
    keep = 0, tail = "";
  memcpy(out, task_url, keep);
  memcpy(out + keep, tail, strlen(tail) + 1);
}

static int add_url(const char *url, size_t len, void *ctx) {
  tg_upstreams_t *set = ctx;
  upstream_t *u = &set->list[set->count++];
  snprintf(u->url[TG_UPSTREAMS_TASK], URL_BYTES, "%.*s", (int)len, url);
  bin_url(u->url[TG_UPSTREAMS_TASK], u->url[TG_UPSTREAMS_BIN], URL_BYTES);
  tg_redact(u->url[TG_UPSTREAMS_TASK], u->shown, URL_BYTES);
  u->latency = -1;
  u->since = tg_wall_seconds();
  return 0;
}

tg_upstreams_t *tg_upstreams_new(const char *list) {
  tg_upstreams_t *set = calloc(1, sizeof *set);
  if (!set)
    return NULL;
  pthread_mutex_init(&set->lock, NULL);
  each_url(list, add_url, set);
  return set;
}

void tg_upstreams_free(tg_upstreams_t *set) {
  if (!set)
    return;
  pthread_mutex_destroy(&set->lock);
  free(set);
}

int tg_upstreams_count(const tg_upstreams_t *set) { return set->count; }

const char *tg_upstreams_url(const tg_upstreams_t *set, int i, int endpoint) { return set->list[i].url[endpoint]; }

const char *tg_upstreams_shown(const tg_upstreams_t *set, int i) { return set->list[i].shown; }

int tg_upstreams_order(tg_upstreams_t *set, int *order) {
  int n = 0;
  pthread_mutex_lock(&set->lock);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < set->count; i++)
      if (set->list[i].down == pass)
        order[n++] = i;
  pthread_mutex_unlock(&set->lock);
  return n;
}

enum { HOLD_DOUBLINGS = 6, HOLD_CAP_SECONDS = 300 };

/* How long after a failed call a probe's answer is not believed: the first time three probe
 * intervals, then twice as long for each call it failed since it last answered one, up to 64
 * times that or five minutes. A primary that answers its probes but fails every call (a broken
 * application behind a live web server) so costs a few calls an hour, not one every hold. */
static double hold_of(const tg_upstreams_t *set, const upstream_t *u) {
  unsigned doublings = u->calls_failed > 1 ? u->calls_failed - 1 : 0;
  double hold = set->hold_seconds * (double)(1u << (doublings < HOLD_DOUBLINGS ? doublings : HOLD_DOUBLINGS));
  double cap = set->hold_seconds > HOLD_CAP_SECONDS ? set->hold_seconds : HOLD_CAP_SECONDS;
  return hold < cap ? hold : cap;
}

/* Records how an exchange with upstream i went (failure NULL: it answered); a probe's answer
 * counts only once no call has failed for hold_seconds. Logs a change of state. */
static void report(tg_upstreams_t *set, int i, const char *failure, double seconds, int probe) {
  upstream_t *u = &set->list[i];
  double now = tg_monotonic_seconds();
  pthread_mutex_lock(&set->lock);
  int was_down = u->down;
  int held = probe && !failure && was_down && u->call_failed_at > 0 && now - u->call_failed_at < hold_of(set, u);
  int down = failure != NULL || held; /* read after the unlock: u->down may change meanwhile */
  u->down = down;
  if (failure && !probe) {
    u->call_failed_at = now;
    u->calls_failed++;
  } else if (!probe) {
    u->calls_failed = 0;
  }
  if (failure) {
    u->failures++;
    snprintf(u->last_error, sizeof u->last_error, "%s", failure);
    u->last_error_at = tg_wall_seconds();
  } else if (!held) {
    u->latency = seconds;
  }
  if (down != was_down)
    u->since = tg_wall_seconds();
  pthread_mutex_unlock(&set->lock);
  if (down && !was_down) {
    char reason[128];
    tg_log_quote(reason, sizeof reason, failure, strlen(failure));
    tg_log(TG_LOG_WARN, "upstream_down", "upstream=%s reason=%s", u->shown, reason);
  } else if (!down && was_down) {
    tg_log(TG_LOG_INFO, "upstream_up", "upstream=%s ms=%.3f", u->shown, seconds * 1000);
  }
}

void tg_upstreams_report(tg_upstreams_t *set, int i, const char *failure, double seconds) {
  report(set, i, failure, seconds, 0);
}

int tg_upstreams_up(tg_upstreams_t *set) {
  int up = 0;
  pthread_mutex_lock(&set->lock);
  for (int i = 0; i < set->count; i++)
    up += !set->list[i].down;
  pthread_mutex_unlock(&set->lock);
  return up;
}

/* --- what operators see ------------------------------------------------------------------- */

void tg_upstreams_status_json(tg_upstreams_t *set, tg_buf_t *out) {
  tg_buf_puts(out, "[");
  pthread_mutex_lock(&set->lock);
  for (int i = 0; i < set->count; i++) {
    const upstream_t *u = &set->list[i];
    tg_buf_puts(out, i ? ",{\"url\":" : "{\"url\":");
    tg_json_text_string(out, u->shown);
    tg_buf_printf(out, ",\"state\":\"%s\",\"since\":%.3f,\"last_error\":", u->down ? "down" : "up", u->since);
    if (u->last_error[0]) {
      tg_json_text_string(out, u->last_error);
      tg_buf_printf(out, ",\"last_error_at\":%.3f", u->last_error_at);
    } else {
      tg_buf_puts(out, "null,\"last_error_at\":null");
    }
    if (u->latency >= 0)
      tg_buf_printf(out, ",\"latency_ms\":%.3f", u->latency * 1000);
    else
      tg_buf_puts(out, ",\"latency_ms\":null");
    tg_buf_printf(out, ",\"failures\":%llu,\"calls_failed_in_a_row\":%u,\"in_flight\":%d}", u->failures,
                  u->calls_failed, __atomic_load_n(&u->in_flight, __ATOMIC_RELAXED));
  }
  pthread_mutex_unlock(&set->lock);
  tg_buf_puts(out, "]");
}

/* Appends a URL as a Prometheus label value. */
static void label_value(tg_buf_t *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      tg_buf_append(out, "\\", 1);
    if (*s != '\n')
      tg_buf_append(out, s, 1);
  }
}

void tg_upstreams_count_in_flight(tg_upstreams_t *set, int i, int delta) {
  __atomic_add_fetch(&set->list[i].in_flight, delta, __ATOMIC_RELAXED);
}

void tg_upstreams_count_queued(tg_upstreams_t *set, int delta) {
  __atomic_add_fetch(&set->queued, delta, __ATOMIC_RELAXED);
}

int tg_upstreams_queued(tg_upstreams_t *set) { return __atomic_load_n(&set->queued, __ATOMIC_RELAXED); }

void tg_upstreams_metrics(tg_upstreams_t *set, tg_buf_t *out) {
  static const char *const help[] = {
      "# HELP taskgate_upstream_up 1 while the upstream is up: its last probe or exchange was answered.\n"
      "# TYPE taskgate_upstream_up gauge\n",
      "# HELP taskgate_upstream_latency_seconds Time of the last exchange the upstream answered.\n"
      "# TYPE taskgate_upstream_latency_seconds gauge\n",
      "# HELP taskgate_upstream_failures_total Probes and exchanges the upstream did not answer usably.\n"
      "# TYPE taskgate_upstream_failures_total counter\n",
  };
  static const char *const names[] = {"taskgate_upstream_up", "taskgate_upstream_latency_seconds",
                                      "taskgate_upstream_failures_total"};
  pthread_mutex_lock(&set->lock);
  for (int m = 0; m < 3; m++) {
    tg_buf_puts(out, help[m]);
    for (int i = 0; i < set->count; i++) {
      const upstream_t *u = &set->list[i];
      if (m == 1 && u->latency < 0)
        continue;
      tg_buf_printf(out, "%s{upstream=\"", names[m]);
      label_value(out, u->shown);
      if (m == 0)
        tg_buf_printf(out, "\"} %d\n", !u->down);
      else if (m == 1)
        tg_buf_printf(out, "\"} %.6f\n", u->latency);
      else
        tg_buf_printf(out, "\"} %llu\n", u->failures);
    }
  }
  tg_buf_puts(out, "# HELP taskgate_upstream_in_flight Calls sent to the upstream and not yet answered.\n"
                   "# TYPE taskgate_upstream_in_flight gauge\n");
  for (int i = 0; i < set->count; i++) {
    tg_buf_puts(out, "taskgate_upstream_in_flight{upstream=\"");
    label_value(out, set->list[i].shown);
    tg_buf_printf(out, "\"} %d\n", __atomic_load_n(&set->list[i].in_flight, __ATOMIC_RELAXED));
  }
  pthread_mutex_unlock(&set->lock);
  tg_buf_printf(out,
                "# HELP taskgate_upstream_queued Calls waiting for a free place among the calls in flight"
                " (--upstream-max-in-flight), not sent yet.\n"
                "# TYPE taskgate_upstream_queued gauge\ntaskgate_upstream_queued %d\n",
                tg_upstreams_queued(set));
}

/* --- the probe ---------------------------------------------------------------------------- */

/* A probe is answered when any HTTP reply below 500 comes: the server is there and serving. */
static void on_probed(void *data, const tg_upstream_result_t *result) {
  probe_t *probe = data;
  tg_upstreams_t *set = probe->set;
  set->list[probe->index].probing = 0;
  if (result->error == UV_ECANCELED) /* the gateway is stopping: says nothing of the upstream */
    return;
  char failure[112] = "";
  if (result->error)
    snprintf(failure, sizeof failure, "%s", result->reason);
  else if (result->status >= 500)
    snprintf(failure, sizeof failure, "HTTP %d", result->status);
  report(set, probe->index, failure[0] ? failure : NULL, result->seconds, 1);
}

static void on_probe_timer(uv_timer_t *timer) {
  tg_upstreams_t *set = timer->data;
  for (int i = 0; i < set->count; i++) {
    if (set->list[i].probing) /* the last one has not ended yet: its timeouts bound it */
      continue;
    tg_upstream_request_t probe = {.method = "HEAD", .url = set->list[i].url[TG_UPSTREAMS_TASK], .background = 1};
    set->list[i].probing = tg_upstream_send(set->client, &probe, on_probed, &set->probes[i]) == 0;
  }
}

int tg_upstreams_probe_start(tg_upstreams_t *set, uv_loop_t *loop, tg_upstream_t *client, unsigned interval_ms) {
  set->client = client;
  for (int i = 0; i < TG_UPSTREAMS_MAX; i++)
    set->probes[i] = (probe_t){.set = set, .index = i};
  int rc = uv_timer_init(loop, &set->probe_timer);
  if (rc < 0)
    return rc;
  set->probe_timer.data = set;
  set->probe_started = 1;
  set->hold_seconds = 3 * interval_ms / 1000.0;
  return uv_timer_start(&set->probe_timer, on_probe_timer, 0, interval_ms);
}

void tg_upstreams_probe_stop(tg_upstreams_t *set) {
  if (!set || !set->probe_started)
    return;
  set->probe_started = 0;
  uv_close((uv_handle_t *)&set->probe_timer, NULL);
}
