/* metrics.c: labelled counters and fixed-bucket histograms, kept for the life of the process
 * (rules generations come and go; the counts stay). */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SERIES = 512, LABEL_BYTES = 160 };

typedef struct series_s {
  const char *family;
  char labels[LABEL_BYTES]; /* already formatted: method="x",outcome="y" */
  unsigned long long count;
} series_t;

/* The workers share one registry; each update is a few additions under this lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static series_t series[MAX_SERIES];
static int series_used;

static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
enum { BUCKETS = sizeof bounds / sizeof bounds[0] };

typedef struct histogram_s {
  const char *name;
  const char *help;
  unsigned long long buckets[BUCKETS];
  unsigned long long count;
  double sum;
} histogram_t;

static histogram_t histograms[TG_HIST_COUNT] = {
    [TG_HIST_REQUEST] = {.name = "taskgate_request_duration_seconds",
                         .help = "Time from a methodcall's arrival to its reply."},
    [TG_HIST_COMMIT] = {.name = "taskgate_store_commit_duration_seconds",
                        .help = "Time to commit a loop turn's transaction (the turn's calls share it)."},
    [TG_HIST_CHECKPOINT] = {.name = "taskgate_store_checkpoint_duration_seconds",
                            .help = "WAL checkpoint passes that copy beside the writers."},
    [TG_HIST_CHECKPOINT_LOCKED] = {.name = "taskgate_store_checkpoint_locked_duration_seconds",
                                   .help = "Checkpoint passes under the store lock, so that the WAL restarts; "
                                           "calls wait on them."},
    [TG_HIST_UPSTREAM] = {.name = "taskgate_upstream_duration_seconds", .help = "Time of outbound calls."},
    [TG_HIST_STORE_ROUND_TRIP] = {.name = "taskgate_store_round_trip_duration_seconds",
                                  .help = "PostgreSQL store: each round trip to the database (statements, "
                                          "and the transaction commands sent with them); the event loop waits "
                                          "on it."},
};

/* Per-method latency: a histogram for each of the first METHODS method names seen; calls of
 * any later name count under method="other", so made-up names cannot grow memory. */
enum { METHODS = 32 };
static struct {
  char name[40];
  histogram_t times;
} methods[METHODS];
static int methods_used;

/* Copies a label value, dropping what would break the exposition format. */
static void clean(char *out, size_t cap, const char *value) {
  size_t o = 0;
  for (; value && *value && o + 1 < cap; value++)
    if (*value != '"' && *value != '\\' && *value != '\n')
      out[o++] = *value;
  out[o] = '\0';
}

/* Counts one in the series; returns its index, or -1 when the registry is full. */
static int bump_locked(const char *family, const char *labels) {
  for (int i = 0; i < series_used; i++) {
    if (series[i].family == family && strcmp(series[i].labels, labels) == 0) {
      series[i].count++;
      return i;
    }
  }
  if (series_used == MAX_SERIES)
    return -1; /* bounded: a flood of distinct method names cannot grow memory */
  series[series_used].family = family;
  snprintf(series[series_used].labels, LABEL_BYTES, "%s", labels);
  series[series_used].count = 1;
  return series_used++;
}

static void bump(const char *family, const char *labels) {
  pthread_mutex_lock(&registry_lock);
  bump_locked(family, labels);
  pthread_mutex_unlock(&registry_lock);
}

static const char CALLS[] = "taskgate_calls_total";
static const char HTTP[] = "taskgate_http_errors_total";
static const char RULES[] = "taskgate_rule_failures_total";
static const char UPSTREAM[] = "taskgate_upstream_calls_total";

/* Appends `text` to the label text at *at, stopping short of end. */
static void add_text(char **at, const char *end, const char *text) {
  while (*text && *at < end)
    *(*at)++ = *text++;
}

/* The series each thread counted its last call in, by the raw method, outcome and fault it
 * was given: calls come in runs of the same few, and a series, once made, keeps its slot. */
typedef struct last_call_s {
  char method[40], outcome[24], fault[48], reason[48];
  int index; /* -1: nothing kept */
} last_call_t;

static _Thread_local last_call_t last_call = {.index = -1};

static int copy_fits(char *out, size_t cap, const char *value) {
  size_t len = strlen(value);
  if (len >= cap)
    return 0;
  memcpy(out, value, len + 1);
  return 1;
}

/* Keeps the series at index (just counted in) for the thread's next call, when the raw labels
 * fit. */
static void bump_call_at(int index, const char *method, const char *outcome, const char *fault, const char *reason) {
  last_call.index = -1;
  if (index < 0)
    return;
  if (copy_fits(last_call.method, sizeof last_call.method, method) &&
      copy_fits(last_call.outcome, sizeof last_call.outcome, outcome) &&
      copy_fits(last_call.fault, sizeof last_call.fault, fault) &&
      copy_fits(last_call.reason, sizeof last_call.reason, reason))
    last_call.index = index;
}

/* Refusal reasons as labels: the first REASONS distinct ones seen keep their name, any later one
 * counts as "other", so a policy that makes reasons out of values cannot grow the series. */
enum { REASONS = 32 };
static char reasons[REASONS][48];
static int reasons_used;

/* The label value for reason (cleaned, bounded), in out. */
static void reason_label(char *out, size_t cap, const char *reason) {
  char cleaned[48];
  clean(cleaned, sizeof cleaned, reason);
  pthread_mutex_lock(&registry_lock);
  int known = 0;
  for (int i = 0; i < reasons_used && !known; i++)
    known = strcmp(reasons[i], cleaned) == 0;
  if (!known && reasons_used < REASONS)
    snprintf(reasons[reasons_used++], sizeof reasons[0], "%s", cleaned), known = 1;
  pthread_mutex_unlock(&registry_lock);
  snprintf(out, cap, "%s", known ? cleaned : "other");
}

void tg_metrics_call(const char *method, const char *outcome, const char *fault, const char *reason) {
  method = method ? method : "";
  outcome = outcome ? outcome : "";
  fault = fault ? fault : "";
  reason = reason ? reason : "";
  if (last_call.index >= 0 && strcmp(last_call.method, method) == 0 && strcmp(last_call.outcome, outcome) == 0 &&
      strcmp(last_call.fault, fault) == 0 && strcmp(last_call.reason, reason) == 0) {
    pthread_mutex_lock(&registry_lock);
    series[last_call.index].count++;
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  /* The labels are assembled by hand rather than by snprintf. */
  char m[40], o[24], f[48], r[48], labels[LABEL_BYTES], *at = labels;
  const char *end = labels + sizeof labels - 1;
  clean(m, sizeof m, method);
  clean(o, sizeof o, outcome);
  add_text(&at, end, "method=\"");
  add_text(&at, end, m);
  add_text(&at, end, "\",outcome=\"");
  add_text(&at, end, o);
  add_text(&at, end, "\"");
  if (fault[0]) {
    clean(f, sizeof f, fault);
    add_text(&at, end, ",fault=\"");
    add_text(&at, end, f);
    add_text(&at, end, "\"");
  }
  if (reason[0]) {
    reason_label(r, sizeof r, reason);
    add_text(&at, end, ",reason=\"");
    add_text(&at, end, r);
    add_text(&at, end, "\"");
  }
  *at = '\0';
  pthread_mutex_lock(&registry_lock);
  int index = bump_locked(CALLS, labels);
  pthread_mutex_unlock(&registry_lock);
  bump_call_at(index, method, outcome, fault, reason);
}

void tg_metrics_http_status(int status) {
  char labels[32];
  snprintf(labels, sizeof labels, "status=\"%d\"", status);
  bump(HTTP, labels);
}

void tg_metrics_rule_failure(const char *rule, const char *kind) {
  char r[40], k[16], labels[LABEL_BYTES];
  clean(r, sizeof r, rule);
  clean(k, sizeof k, kind);
  snprintf(labels, sizeof labels, "rule=\"%s\",kind=\"%s\"", r, k);
  bump(RULES, labels);
}

void tg_metrics_upstream(const char *outcome) {
  char o[24], labels[48];
  clean(o, sizeof o, outcome);
  snprintf(labels, sizeof labels, "outcome=\"%s\"", o);
  bump(UPSTREAM, labels);
}

static void observe_locked(histogram_t *h, double seconds) {
  for (int i = 0; i < BUCKETS; i++)
    if (seconds <= bounds[i])
      h->buckets[i]++;
  h->count++;
  h->sum += seconds;
}

void tg_metrics_observe(int histogram, double seconds) {
  pthread_mutex_lock(&registry_lock);
  observe_locked(&histograms[histogram], seconds);
  pthread_mutex_unlock(&registry_lock);
}

/* The histogram of method (its name cleaned), under registry_lock. */
static histogram_t *method_times_found(const char *method) {
  char name[sizeof methods[0].name];
  clean(name, sizeof name, method);
  for (int i = 0; i < methods_used; i++)
    if (strcmp(methods[i].name, name) == 0)
      return &methods[i].times;
  int slot = methods_used < METHODS - 1 ? methods_used++ : METHODS - 1; /* the last one is "other" */
  snprintf(methods[slot].name, sizeof methods[slot].name, "%s", slot == METHODS - 1 ? "other" : name);
  return &methods[slot].times;
}

/* The same, through the one each thread kept for its last call, by the raw name: a name, once
 * given a slot (or "other"), keeps it. */
static _Thread_local struct {
  char method[sizeof methods[0].name];
  histogram_t *times;
} last_times;

static histogram_t *method_times(const char *method) {
  method = method ? method : "";
  if (last_times.times && strcmp(last_times.method, method) == 0)
    return last_times.times;
  histogram_t *times = method_times_found(method);
  last_times.times = copy_fits(last_times.method, sizeof last_times.method, method) ? times : NULL;
  return times;
}

void tg_metrics_call_time(const char *method, double seconds) {
  pthread_mutex_lock(&registry_lock);
  observe_locked(&histograms[TG_HIST_REQUEST], seconds);
  observe_locked(method_times(method), seconds);
  pthread_mutex_unlock(&registry_lock);
}

/* Writes one histogram's buckets, sum and count; labels ("method=\"x\",") may be "". */
static void write_histogram(tg_buf_t *out, const char *name, const char *labels, const histogram_t *h) {
  for (int i = 0; i < BUCKETS; i++)
    tg_buf_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, bounds[i], h->buckets[i]);
  tg_buf_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, h->count);
  size_t cut = strlen(labels) > 0 ? strlen(labels) - 1 : 0; /* without the trailing comma */
  tg_buf_printf(out, "%s_sum%s%.*s%s %.6f\n%s_count%s%.*s%s %llu\n", name, cut ? "{" : "", (int)cut, labels,
                cut ? "}" : "", h->sum, name, cut ? "{" : "", (int)cut, labels, cut ? "}" : "", h->count);
}

static void write_family(tg_buf_t *out, const char *family, const char *help) {
  tg_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", family, help, family);
  for (int i = 0; i < series_used; i++)
    if (series[i].family == family)
      tg_buf_printf(out, "%s{%s} %llu\n", family, series[i].labels, series[i].count);
}

void tg_metrics_write(tg_buf_t *out) {
  pthread_mutex_lock(&registry_lock);
  write_family(out, CALLS, "Methodcalls answered, by method and outcome (ok or the fault code).");
  write_family(out, HTTP, "Requests answered with an HTTP error status instead of a reply.");
  write_family(out, RULES, "Rule runs that failed, by rule and kind (error, timeout, memory).");
  write_family(out, UPSTREAM, "Outbound calls (bridge mode, http.request) by outcome.");
  for (int h = 0; h < TG_HIST_COUNT; h++) {
    const histogram_t *hist = &histograms[h];
    tg_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", hist->name, hist->help, hist->name);
    write_histogram(out, hist->name, "", hist);
  }
  static const char BY_METHOD[] = "taskgate_call_duration_seconds";
  tg_buf_printf(out, "# HELP %s Time from a methodcall's arrival to its reply, by method.\n# TYPE %s histogram\n",
                BY_METHOD, BY_METHOD);
  for (int m = 0; m < methods_used; m++) {
    char labels[64];
    snprintf(labels, sizeof labels, "method=\"%.39s\",", methods[m].name);
    write_histogram(out, BY_METHOD, labels, &methods[m].times);
  }
  pthread_mutex_unlock(&registry_lock);
}
