/* feed.c: the console's live side (see feed.h). Runs on the main loop only: nothing here is
 * shared with the workers but the rings of events.c, read a bounded slice at a time. */
#include "feed.h"

#include <ctype.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clock.h"
#include "events.h"
#include "json_text.h"

enum {
  TICK_MS = 100,
  TICKS_PER_SECOND = 1000 / TICK_MS,
  CHANGED_EVERY_TICKS = 5, /* how often "views changed" notes go out: twice a second at most */
  CALLS_PER_TICK = 50,     /* a subscriber's share of one tick's calls; the rest are counted */
  READ_BATCH = 1024,
  PORTS = 1024, /* ports whose last calls are kept; the least recently called gives way */
  PORT_PROBES = 8,
  PORT_CALLS = 10,
  TOP_CODES = 8, /* fault codes named in one health sample; the others are summed */
};

enum { CHANGED_PORTS = 1, CHANGED_QUEUE = 2, CHANGED_AUDIT = 4 };

typedef struct port_call_s {
  double time;
  float ms;
  long long task_id, bin_id;
  char method[24];
  char outcome[12];
  char fault[40];
} port_call_t;

typedef struct port_slot_s {
  long long port_id; /* TG_EVENT_NO_KEY: free */
  unsigned long long touched;
  unsigned count; /* calls ever kept; the newest at (count - 1) % PORT_CALLS */
  port_call_t calls[PORT_CALLS];
} port_slot_t;

typedef struct sample_s {
  double time;
  unsigned calls, faults, other_faults;
  int code_n;
  unsigned short codes[TOP_CODES];
  unsigned code_counts[TOP_CODES];
  float p50, p90, p99; /* milliseconds; negative: no call */
  int connections;
  long long store_bytes, wal_bytes;
} sample_t;

typedef struct subscriber_s {
  tg_http_t *http; /* NULL once gone: the slot is compacted after the tick */
  tg_call_filter_t filter;
  int calls;
  tg_buf_t batch; /* this tick's matching calls, as JSON objects joined by commas */
  unsigned batched, skipped;
} subscriber_t;

struct tg_feed_s {
  uv_timer_t tick;
  tg_feed_sources_t sources;
  unsigned long long ticks;
  int ending;  /* the gateway drains: no new subscriber */
  int in_tick; /* subscribers that go meanwhile are only marked */
  unsigned long long cursor[TG_EVENTS_MAX_RINGS];
  unsigned long long lost, lost_tick; /* calls overwritten in a ring before the feed read them */
  tg_event_t read[READ_BATCH];
  tg_event_t recent[TG_FEED_RECENT_CALLS];
  unsigned long long recent_count;
  port_slot_t ports[PORTS];
  unsigned changed;          /* CHANGED_* since the last note */
  tg_events_counts_t totals; /* summed over the rings at the last sample */
  sample_t samples[TG_FEED_HEALTH_SECONDS];
  unsigned latency[TG_FEED_HEALTH_SECONDS][TG_EVENTS_LATENCY_BUCKETS];
  unsigned long long sample_count;
  subscriber_t subs[TG_FEED_MAX_SUBSCRIBERS];
  int sub_count;
  unsigned long long dropped; /* subscribers whose stream failed or that did not keep up */
  tg_buf_t event_json;        /* one call formatted once for every subscriber that wants it */
  tg_buf_t message;
};

/* --- filters and formatting ------------------------------------------------------------- */

static void copy(char *out, size_t cap, const char *text) {
  size_t len = strnlen(text, cap - 1);
  memcpy(out, text, len);
  out[len] = '\0';
}

/* The value of name in a query string (name=value&...), %XX and + decoded, into out. */
static void query_value(const char *query, const char *name, char *out, size_t cap) {
  size_t name_len = strlen(name), o = 0;
  out[0] = '\0';
  for (const char *at = query; at && *at; at = strchr(at, '&') ? strchr(at, '&') + 1 : NULL) {
    if (strncmp(at, name, name_len) != 0 || at[name_len] != '=')
      continue;
    for (const char *v = at + name_len + 1; *v && *v != '&' && o + 1 < cap; v++) {
      unsigned hex;
      if (*v == '%' && v[1] && v[2] && sscanf(v + 1, "%2x", &hex) == 1)
        out[o++] = (char)hex, v += 2;
      else
        out[o++] = *v == '+' ? ' ' : *v;
    }
    out[o] = '\0';
    return;
  }
}

const char *tg_feed_filter_parse(const char *query, tg_call_filter_t *filter) {
  char task_id[24];
  query_value(query, "method", filter->method, sizeof filter->method);
  query_value(query, "outcome", filter->outcome, sizeof filter->outcome);
  query_value(query, "client", filter->client, sizeof filter->client);
  query_value(query, "task_id", task_id, sizeof task_id);
  filter->task_id = TG_EVENT_NO_KEY;
  for (char *c = filter->outcome; *c; c++) /* OK, Fault: the names are taken in any case */
    *c = (char)tolower((unsigned char)*c);
  size_t outcome_len = strlen(filter->outcome);
  if (outcome_len && strcmp(filter->outcome, "ok") != 0 && strcmp(filter->outcome, "fault") != 0 &&
      (outcome_len > 6 || strspn(filter->outcome, "0123456789") != outcome_len))
    return "outcome must be ok, fault or a fault code (such as 1017)";
  size_t len = strlen(task_id);
  if (len && (len > 18 || strspn(task_id, "0123456789") != len))
    return "task_id must be a task id (a whole number of at most 18 digits)";
  if (len)
    filter->task_id = atoll(task_id);
  return NULL;
}

static int matches(const tg_call_filter_t *filter, const tg_event_t *event) {
  if (filter->method[0] && strcasecmp(filter->method, event->method) != 0)
    return 0;
  if (filter->outcome[0]) {
    int ok = strcmp(event->outcome, "ok") == 0;
    if (strcmp(filter->outcome, "fault") == 0 ? ok : strcmp(filter->outcome, event->outcome) != 0)
      return 0;
  }
  /* A prefix: "10.1.2." is a subnet. */
  if (filter->client[0] && strncmp(event->client, filter->client, strlen(filter->client)) != 0)
    return 0;
  return filter->task_id == TG_EVENT_NO_KEY || event->keys.task_id == filter->task_id;
}

static void string_or_null(tg_buf_t *out, const char *s) {
  if (s[0])
    tg_json_text_string(out, s);
  else
    tg_buf_puts(out, "null");
}

static void event_json(tg_buf_t *out, const tg_event_t *event) {
  tg_buf_printf(out, "{\"time\":%.3f,\"ms\":%.3f,\"worker\":%d,\"method\":", event->time, event->ms, event->worker);
  tg_json_text_string(out, event->method);
  tg_buf_puts(out, ",\"client\":");
  tg_json_text_string(out, event->client);
  tg_buf_puts(out, ",\"request_id\":");
  tg_json_text_string(out, event->request_id);
  tg_buf_puts(out, ",\"outcome\":");
  tg_json_text_string(out, event->outcome);
  tg_buf_puts(out, ",\"fault\":");
  string_or_null(out, event->fault);
  tg_buf_puts(out, ",\"policy\":");
  string_or_null(out, event->policy);
  const char *names[] = {"task_id", "taskgroup_id", "port_id", "bin_id"};
  const long long values[] = {event->keys.task_id, event->keys.taskgroup_id, event->keys.port_id, event->keys.bin_id};
  for (int i = 0; i < 4; i++) {
    tg_buf_printf(out, ",\"%s\":", names[i]);
    tg_json_text_key(out, values[i]);
  }
  tg_buf_puts(out, "}");
}

/* --- what each call changes ------------------------------------------------------------- */

/* The views a call may have changed. Faults change nothing but the audit (refusals are
 * recorded); a method the console does not know (a site's own rule) may change anything. */
static unsigned views_changed(const tg_event_t *event) {
  static const struct {
    const char *method;
    unsigned views;
  } known[] = {
      {"openport", CHANGED_PORTS | CHANGED_QUEUE},
      {"closeport", CHANGED_PORTS | CHANGED_QUEUE},
      {"openbin", CHANGED_PORTS | CHANGED_QUEUE},
      {"closebin", CHANGED_PORTS | CHANGED_QUEUE},
      {"create_taskgroup", CHANGED_QUEUE},
      {"add_task", CHANGED_QUEUE},
      {"update_taskgroup", CHANGED_QUEUE},
      {"cancel_task", CHANGED_QUEUE},
      {"cancel_taskgroup", CHANGED_QUEUE},
      {"insertbin", CHANGED_PORTS},
      {"portbinmode", CHANGED_PORTS},
      {"flushportbin", CHANGED_PORTS},
      {"gettaskinfo", 0},
      {"getportstatus", 0},
      {"getbinstate", 0},
      {"getbinloc", 0},
      {"getbininfo", 0},
  };
  if (strcmp(event->outcome, "ok") != 0)
    return CHANGED_AUDIT;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcasecmp(known[i].method, event->method) == 0)
      return known[i].views | (known[i].views ? CHANGED_AUDIT : 0);
  return CHANGED_PORTS | CHANGED_QUEUE | CHANGED_AUDIT;
}

/* --- each port's last calls ------------------------------------------------------------- */

/* The slot of port_id: found among its probes, else a free one, else the one least recently
 * called (whose history gives way). */
static port_slot_t *port_slot(tg_feed_t *feed, long long port_id) {
  unsigned start = (unsigned)((unsigned long long)port_id * 2654435761u % PORTS);
  port_slot_t *spare = NULL;
  for (int i = 0; i < PORT_PROBES; i++) {
    port_slot_t *slot = &feed->ports[(start + (unsigned)i) % PORTS];
    if (slot->port_id == port_id)
      return slot;
    if (!spare ||
        (spare->port_id != TG_EVENT_NO_KEY && (slot->port_id == TG_EVENT_NO_KEY || slot->touched < spare->touched)))
      spare = slot;
  }
  spare->port_id = port_id;
  spare->count = 0;
  return spare;
}

static void remember_port_call(tg_feed_t *feed, const tg_event_t *event) {
  port_slot_t *slot = port_slot(feed, event->keys.port_id);
  slot->touched = feed->recent_count;
  port_call_t *call = &slot->calls[slot->count++ % PORT_CALLS];
  *call =
      (port_call_t){.time = event->time, .ms = event->ms, .task_id = event->keys.task_id, .bin_id = event->keys.bin_id};
  copy(call->method, sizeof call->method, event->method);
  copy(call->outcome, sizeof call->outcome, event->outcome);
  copy(call->fault, sizeof call->fault, event->fault);
}

/* --- subscribers ------------------------------------------------------------------------ */

static void batch_for(tg_feed_t *feed, const tg_event_t *event) {
  int formatted = 0;
  for (int i = 0; i < feed->sub_count; i++) {
    subscriber_t *sub = &feed->subs[i];
    if (!sub->http || !sub->calls || !matches(&sub->filter, event))
      continue;
    if (sub->batched >= CALLS_PER_TICK) {
      sub->skipped++;
      continue;
    }
    if (!formatted) {
      feed->event_json.len = 0;
      event_json(&feed->event_json, event);
      formatted = 1;
    }
    if (sub->batched++)
      tg_buf_puts(&sub->batch, ",");
    tg_buf_append(&sub->batch, feed->event_json.data, feed->event_json.len);
  }
}

/* Sends message to one subscriber. A failed push has dropped the connection, whose close
 * callback has marked the subscriber gone. */
static void send_to(tg_feed_t *feed, subscriber_t *sub, const tg_buf_t *message) {
  if (sub->http && sub->http->push(sub->http, message->data, message->len) < 0)
    feed->dropped++;
}

static void send_calls(tg_feed_t *feed) {
  for (int i = 0; i < feed->sub_count; i++) {
    subscriber_t *sub = &feed->subs[i];
    if (!sub->http || !sub->calls || (!sub->batched && !sub->skipped && !feed->lost_tick))
      continue;
    feed->message.len = 0;
    tg_buf_puts(&feed->message, "event: calls\ndata: {\"calls\":[");
    tg_buf_append(&feed->message, sub->batch.data ? sub->batch.data : "", sub->batch.len);
    tg_buf_printf(&feed->message, "],\"skipped\":%u,\"lost\":%llu}\n\n", sub->skipped, feed->lost_tick);
    sub->batch.len = 0;
    sub->batched = sub->skipped = 0;
    send_to(feed, sub, &feed->message);
  }
  feed->lost += feed->lost_tick;
  feed->lost_tick = 0;
}

static void send_all(tg_feed_t *feed) {
  for (int i = 0; i < feed->sub_count; i++)
    send_to(feed, &feed->subs[i], &feed->message);
}

static void send_changed(tg_feed_t *feed) {
  static const char *const names[] = {"ports", "queue", "audit"};
  feed->message.len = 0;
  tg_buf_puts(&feed->message, "event: changed\ndata: {\"views\":[");
  for (int bit = 0, n = 0; bit < 3; bit++)
    if (feed->changed & (1u << bit))
      tg_buf_printf(&feed->message, "%s\"%s\"", n++ ? "," : "", names[bit]);
  tg_buf_puts(&feed->message, "]}\n\n");
  feed->changed = 0;
  send_all(feed);
}

/* Frees the slots of subscribers that went during the tick. */
static void compact(tg_feed_t *feed) {
  int kept = 0;
  for (int i = 0; i < feed->sub_count; i++) {
    if (feed->subs[i].http)
      feed->subs[kept++] = feed->subs[i];
    else
      tg_buf_free(&feed->subs[i].batch);
  }
  feed->sub_count = kept;
}

/* --- health ----------------------------------------------------------------------------- */

/* The q-quantile of a latency histogram in milliseconds (interpolated inside its bucket), or -1
 * when it holds nothing. */
static float quantile(const unsigned *histogram, double q) {
  unsigned long long total = 0, seen = 0;
  for (int b = 0; b < TG_EVENTS_LATENCY_BUCKETS; b++)
    total += histogram[b];
  if (!total)
    return -1;
  double rank = q * (double)total;
  for (int b = 0; b < TG_EVENTS_LATENCY_BUCKETS; b++) {
    if (histogram[b] && (double)(seen + histogram[b]) >= rank) {
      double lower = b ? tg_events_bucket_seconds(b - 1) : 0, upper = tg_events_bucket_seconds(b);
      if (isinf(upper))
        upper = lower * 2;
      double within = (rank - (double)seen) / histogram[b];
      return (float)((lower + (upper - lower) * (within < 0 ? 0 : within)) * 1000);
    }
    seen += histogram[b];
  }
  return -1;
}

static long long file_size(const char *path, const char *suffix) {
  char name[4200];
  struct stat st;
  snprintf(name, sizeof name, "%s%s", path, suffix);
  return stat(name, &st) == 0 ? (long long)st.st_size : 0;
}

/* The busiest fault codes of the second, largest first, into the sample; the others are
 * summed. */
static void top_codes(sample_t *sample, const tg_events_counts_t *now, const tg_events_counts_t *before) {
  unsigned named = 0;
  for (int c = 0; c < TG_EVENTS_CODES; c++) {
    unsigned n = (unsigned)(now->codes[c] - before->codes[c]);
    if (!n)
      continue;
    /* Insertion: past TOP_CODES the smallest falls off the end. */
    int at = sample->code_n < TOP_CODES ? sample->code_n++ : TOP_CODES;
    for (; at > 0 && sample->code_counts[at - 1] < n; at--) {
      if (at < TOP_CODES) {
        sample->codes[at] = sample->codes[at - 1];
        sample->code_counts[at] = sample->code_counts[at - 1];
      }
    }
    if (at < TOP_CODES) {
      sample->codes[at] = (unsigned short)(TG_EVENTS_FIRST_CODE + c);
      sample->code_counts[at] = n;
    }
  }
  for (int i = 0; i < sample->code_n; i++)
    named += sample->code_counts[i];
  sample->other_faults = sample->faults - named;
}

static void take_sample(tg_feed_t *feed) {
  tg_events_ring_t *rings[TG_EVENTS_MAX_RINGS];
  int n = tg_events_rings(rings, TG_EVENTS_MAX_RINGS);
  static tg_events_counts_t now, one; /* 8 KiB each: kept off the stack; main thread only */
  memset(&now, 0, sizeof now);
  for (int r = 0; r < n; r++) {
    tg_events_counts(rings[r], &one);
    now.calls += one.calls, now.ok += one.ok, now.other += one.other;
    for (int c = 0; c < TG_EVENTS_CODES; c++)
      now.codes[c] += one.codes[c];
    for (int b = 0; b < TG_EVENTS_LATENCY_BUCKETS; b++)
      now.latency[b] += one.latency[b];
  }
  unsigned slot = (unsigned)(feed->sample_count++ % TG_FEED_HEALTH_SECONDS);
  sample_t *sample = &feed->samples[slot];
  unsigned *latency = feed->latency[slot];
  *sample = (sample_t){.time = tg_wall_seconds(),
                       .calls = (unsigned)(now.calls - feed->totals.calls),
                       .connections = __atomic_load_n(feed->sources.open_conns, __ATOMIC_RELAXED),
                       .store_bytes = file_size(feed->sources.store_path, ""),
                       .wal_bytes = file_size(feed->sources.store_path, "-wal")};
  sample->faults = sample->calls - (unsigned)(now.ok - feed->totals.ok);
  top_codes(sample, &now, &feed->totals);
  for (int b = 0; b < TG_EVENTS_LATENCY_BUCKETS; b++)
    latency[b] = (unsigned)(now.latency[b] - feed->totals.latency[b]);
  sample->p50 = quantile(latency, 0.50);
  sample->p90 = quantile(latency, 0.90);
  sample->p99 = quantile(latency, 0.99);
  feed->totals = now;
}

static void number_or_null(tg_buf_t *out, const char *name, float value) {
  if (value < 0)
    tg_buf_printf(out, ",\"%s\":null", name);
  else
    tg_buf_printf(out, ",\"%s\":%.3f", name, value);
}

static void sample_json(tg_buf_t *out, const sample_t *sample) {
  tg_buf_printf(out, "{\"time\":%.3f,\"calls\":%u,\"faults\":%u,\"codes\":{", sample->time, sample->calls,
                sample->faults);
  for (int i = 0; i < sample->code_n; i++)
    tg_buf_printf(out, "%s\"%u\":%u", i ? "," : "", sample->codes[i], sample->code_counts[i]);
  if (sample->other_faults)
    tg_buf_printf(out, "%s\"other\":%u", sample->code_n ? "," : "", sample->other_faults);
  tg_buf_puts(out, "}");
  number_or_null(out, "p50", sample->p50);
  number_or_null(out, "p90", sample->p90);
  number_or_null(out, "p99", sample->p99);
  tg_buf_printf(out, ",\"connections\":%d,\"store_bytes\":%lld,\"wal_bytes\":%lld}", sample->connections,
                sample->store_bytes, sample->wal_bytes);
}

/* The percentiles over the last `seconds` samples. */
static void latency_json(tg_feed_t *feed, tg_buf_t *out, unsigned seconds) {
  unsigned merged[TG_EVENTS_LATENCY_BUCKETS] = {0};
  unsigned long long have = feed->sample_count < seconds ? feed->sample_count : seconds, calls = 0;
  for (unsigned long long i = 0; i < have; i++) {
    const unsigned *latency = feed->latency[(feed->sample_count - 1 - i) % TG_FEED_HEALTH_SECONDS];
    for (int b = 0; b < TG_EVENTS_LATENCY_BUCKETS; b++)
      merged[b] += latency[b], calls += latency[b];
  }
  tg_buf_printf(out, "{\"seconds\":%u,\"calls\":%llu", seconds, calls);
  number_or_null(out, "p50", quantile(merged, 0.50));
  number_or_null(out, "p90", quantile(merged, 0.90));
  number_or_null(out, "p99", quantile(merged, 0.99));
  number_or_null(out, "p999", quantile(merged, 0.999));
  tg_buf_puts(out, "}");
}

/* The part of the health every stream gets each second: the last sample, the last minute's
 * percentiles, the rules generation and whether the last reload loaded, and the upstreams. */
static void send_health(tg_feed_t *feed) {
  const tg_reload_t *reload = feed->sources.reload;
  feed->message.len = 0;
  tg_buf_puts(&feed->message, "event: health\ndata: {\"sample\":");
  sample_json(&feed->message, &feed->samples[(feed->sample_count - 1) % TG_FEED_HEALTH_SECONDS]);
  tg_buf_puts(&feed->message, ",\"latency\":");
  latency_json(feed, &feed->message, 60);
  tg_buf_printf(&feed->message,
                ",\"generation\":%u,\"reloads\":%u,\"last_reload_ok\":%s,\"subscribers\":%d,\"upstreams\":",
                reload ? reload->generation : 0, reload ? reload->history_count : 0,
                !reload || reload->last_ok ? "true" : "false", feed->sub_count);
  if (feed->sources.upstreams)
    tg_upstreams_status_json(feed->sources.upstreams, &feed->message);
  else
    tg_buf_puts(&feed->message, "[]");
  tg_buf_puts(&feed->message, "}\n\n");
  send_all(feed);
}

/* --- the tick --------------------------------------------------------------------------- */

static void take(tg_feed_t *feed, const tg_event_t *event) {
  feed->recent[feed->recent_count++ % TG_FEED_RECENT_CALLS] = *event;
  if (event->keys.port_id >= 0)
    remember_port_call(feed, event);
  feed->changed |= views_changed(event);
  batch_for(feed, event);
}

/* Reads what each ring holds since the last tick: at most a ring's length, so that a tick is
 * bounded even while the workers go on appending. */
static void read_rings(tg_feed_t *feed) {
  tg_events_ring_t *rings[TG_EVENTS_MAX_RINGS];
  int n = tg_events_rings(rings, TG_EVENTS_MAX_RINGS);
  for (int r = 0; r < n; r++) {
    size_t total = 0, got;
    while (total < TG_EVENTS_RING &&
           (got = tg_events_read(rings[r], &feed->cursor[r], feed->read, READ_BATCH, &feed->lost_tick)) > 0) {
      for (size_t i = 0; i < got; i++)
        take(feed, &feed->read[i]);
      total += got;
    }
  }
}

static void on_tick(uv_timer_t *timer) {
  tg_feed_t *feed = timer->data;
  feed->ticks++;
  feed->in_tick = 1;
  read_rings(feed);
  send_calls(feed);
  if (feed->ticks % CHANGED_EVERY_TICKS == 0 && feed->changed)
    send_changed(feed);
  if (feed->ticks % TICKS_PER_SECOND == 0) {
    take_sample(feed);
    send_health(feed);
  }
  feed->in_tick = 0;
  compact(feed);
}

tg_feed_t *tg_feed_new(uv_loop_t *loop, const tg_feed_sources_t *sources) {
  tg_feed_t *feed = calloc(1, sizeof *feed);
  if (!feed)
    return NULL;
  feed->sources = *sources;
  for (int i = 0; i < PORTS; i++)
    feed->ports[i].port_id = TG_EVENT_NO_KEY;
  uv_timer_init(loop, &feed->tick);
  feed->tick.data = feed;
  uv_timer_start(&feed->tick, on_tick, TICK_MS, TICK_MS);
  uv_unref((uv_handle_t *)&feed->tick); /* the feed alone does not keep the gateway running */
  return feed;
}

int tg_feed_subscribe(tg_feed_t *feed, tg_http_t *h, const tg_call_filter_t *filter, int calls) {
  if (feed->ending || feed->sub_count == TG_FEED_MAX_SUBSCRIBERS)
    return -1;
  feed->subs[feed->sub_count++] = (subscriber_t){.http = h, .filter = *filter, .calls = calls};
  return 0;
}

void tg_feed_unsubscribe(tg_feed_t *feed, tg_http_t *h) {
  for (int i = 0; i < feed->sub_count; i++)
    if (feed->subs[i].http == h)
      feed->subs[i].http = NULL;
  if (!feed->in_tick)
    compact(feed);
}

void tg_feed_end_streams(tg_feed_t *feed) {
  feed->ending = 1;
  tg_feed_close_streams(feed);
}

void tg_feed_close_streams(tg_feed_t *feed) {
  for (int i = 0; i < feed->sub_count; i++) {
    tg_http_t *h = feed->subs[i].http;
    feed->subs[i].http = NULL;
    if (h)
      h->push(h, NULL, 0);
  }
  compact(feed);
}

void tg_feed_calls_json(tg_feed_t *feed, const tg_call_filter_t *filter, int limit, tg_buf_t *out) {
  unsigned long long kept = feed->recent_count < TG_FEED_RECENT_CALLS ? feed->recent_count : TG_FEED_RECENT_CALLS;
  int listed = 0;
  tg_buf_puts(out, "{\"calls\":[");
  for (unsigned long long i = 0; i < kept && listed < limit; i++) {
    const tg_event_t *event = &feed->recent[(feed->recent_count - 1 - i) % TG_FEED_RECENT_CALLS];
    if (!matches(filter, event))
      continue;
    if (listed++)
      tg_buf_puts(out, ",");
    event_json(out, event);
  }
  tg_buf_printf(out, "],\"kept\":%llu,\"lost\":%llu}", kept, feed->lost);
}

void tg_feed_port_calls_json(tg_feed_t *feed, tg_buf_t *out) {
  int listed = 0;
  tg_buf_puts(out, "{");
  for (int p = 0; p < PORTS; p++) {
    const port_slot_t *slot = &feed->ports[p];
    if (slot->port_id == TG_EVENT_NO_KEY)
      continue;
    tg_buf_printf(out, "%s\"%lld\":[", listed++ ? "," : "", slot->port_id);
    unsigned kept = slot->count < PORT_CALLS ? slot->count : PORT_CALLS;
    for (unsigned i = 0; i < kept; i++) {
      const port_call_t *call = &slot->calls[(slot->count - 1 - i) % PORT_CALLS];
      tg_buf_printf(out, "%s{\"time\":%.3f,\"ms\":%.3f,\"method\":", i ? "," : "", call->time, call->ms);
      tg_json_text_string(out, call->method);
      tg_buf_puts(out, ",\"outcome\":");
      tg_json_text_string(out, call->outcome);
      tg_buf_puts(out, ",\"fault\":");
      string_or_null(out, call->fault);
      tg_buf_puts(out, ",\"task_id\":");
      tg_json_text_key(out, call->task_id);
      tg_buf_puts(out, ",\"bin_id\":");
      tg_json_text_key(out, call->bin_id);
      tg_buf_puts(out, "}");
    }
    tg_buf_puts(out, "]");
  }
  tg_buf_puts(out, "}");
}

void tg_feed_health_json(tg_feed_t *feed, tg_buf_t *out) {
  unsigned long long kept = feed->sample_count < TG_FEED_HEALTH_SECONDS ? feed->sample_count : TG_FEED_HEALTH_SECONDS;
  tg_buf_puts(out, "{\"samples\":[");
  for (unsigned long long i = 0; i < kept; i++) { /* oldest first, as a chart draws them */
    if (i)
      tg_buf_puts(out, ",");
    sample_json(out, &feed->samples[(feed->sample_count - kept + i) % TG_FEED_HEALTH_SECONDS]);
  }
  tg_buf_puts(out, "],\"latency\":{\"minute\":");
  latency_json(feed, out, 60);
  tg_buf_puts(out, ",\"quarter\":");
  latency_json(feed, out, TG_FEED_HEALTH_SECONDS);
  tg_buf_printf(out, "},\"stream\":{\"subscribers\":%d,\"dropped\":%llu,\"lost\":%llu}}", feed->sub_count,
                feed->dropped, feed->lost);
}

static void on_closed(uv_handle_t *handle) {
  tg_feed_t *feed = handle->data;
  for (int i = 0; i < feed->sub_count; i++)
    tg_buf_free(&feed->subs[i].batch);
  tg_buf_free(&feed->event_json);
  tg_buf_free(&feed->message);
  free(feed);
}

void tg_feed_free(tg_feed_t *feed) {
  if (feed)
    uv_close((uv_handle_t *)&feed->tick, on_closed);
}
