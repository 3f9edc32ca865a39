/* events.c: the rings of answered calls the console reads (see events.h). */
#include "events.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

enum { READ_SLICE = 256 }; /* events copied out per hold of a ring's lock */

struct tg_events_ring_s {
  pthread_mutex_t lock;    /* the worker's appends and the console's copies */
  unsigned long long head; /* events ever appended; the newest has seq = head */
  tg_events_counts_t counts;
  short index;
  tg_event_t slots[TG_EVENTS_RING];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_events_ring_t *registry[TG_EVENTS_MAX_RINGS];
static int registered;

tg_events_ring_t *tg_events_attach(void) {
  pthread_mutex_lock(&registry_lock);
  tg_events_ring_t *ring = registered < TG_EVENTS_MAX_RINGS ? calloc(1, sizeof *ring) : NULL;
  if (ring) {
    pthread_mutex_init(&ring->lock, NULL);
    ring->index = (short)registered;
    registry[registered++] = ring;
  }
  pthread_mutex_unlock(&registry_lock);
  return ring;
}

int tg_events_rings(tg_events_ring_t **rings, int cap) {
  pthread_mutex_lock(&registry_lock);
  int n = registered < cap ? registered : cap;
  memcpy(rings, registry, (size_t)n * sizeof *rings);
  pthread_mutex_unlock(&registry_lock);
  return n;
}

/* A parameter's text as a number, when it is one (digits, at most 18 of them). */
static long long number(const char *text) {
  size_t len = strlen(text);
  if (len == 0 || len > 18 || strspn(text, "0123456789") != len)
    return TG_EVENT_NO_KEY;
  return strtoll(text, NULL, 10);
}

void tg_events_keys(const tg_xml_node_t *root, tg_event_keys_t *keys) {
  *keys = (tg_event_keys_t){TG_EVENT_NO_KEY, TG_EVENT_NO_KEY, TG_EVENT_NO_KEY, TG_EVENT_NO_KEY};
  const tg_xml_node_t *params = NULL;
  for (const tg_xml_node_t *child = root ? root->first_child : NULL; child && !params; child = child->next)
    if (strcmp(child->name, "params") == 0)
      params = child;
  /* Only the top level of the parameters: a create_taskgroup's tasks are not one task. */
  for (const tg_xml_node_t *p = params ? params->first_child : NULL; p; p = p->next) {
    long long *key = strcmp(p->name, "task_id") == 0        ? &keys->task_id
                     : strcmp(p->name, "taskgroup_id") == 0 ? &keys->taskgroup_id
                     : strcmp(p->name, "port_id") == 0      ? &keys->port_id
                     : strcmp(p->name, "bin_id") == 0       ? &keys->bin_id
                                                            : NULL;
    if (key && !p->first_child)
      *key = number(p->text);
  }
}

/* Bucket i holds latencies up to 10 microseconds times 2^((i + 1) / 3); the last one the rest. */
double tg_events_bucket_seconds(int bucket) {
  return bucket >= TG_EVENTS_LATENCY_BUCKETS - 1 ? INFINITY : 10e-6 * exp2((bucket + 1) / 3.0);
}

static int bucket_of(double seconds) {
  if (seconds <= 10e-6)
    return 0;
  int bucket = (int)ceil(3 * log2(seconds / 10e-6)) - 1;
  return bucket < 0 ? 0 : bucket >= TG_EVENTS_LATENCY_BUCKETS ? TG_EVENTS_LATENCY_BUCKETS - 1 : bucket;
}

/* Copies text (NULL: none), cut to fit. */
static void copy(char *out, size_t cap, const char *text) {
  size_t len = text ? strnlen(text, cap - 1) : 0;
  if (len)
    memcpy(out, text, len);
  out[len] = '\0';
}

/* The counter an outcome adds to: ok, a fault code of the table, or other. */
static unsigned long long *counter(tg_events_counts_t *counts, const char *outcome) {
  if (strcmp(outcome, "ok") == 0)
    return &counts->ok;
  long long code = number(outcome);
  if (code >= TG_EVENTS_FIRST_CODE && code < TG_EVENTS_FIRST_CODE + TG_EVENTS_CODES)
    return &counts->codes[code - TG_EVENTS_FIRST_CODE];
  return &counts->other;
}

void tg_events_record(tg_events_ring_t *ring, const tg_call_note_t *note, const tg_event_keys_t *keys,
                      const char *fault, const char *policy, double seconds) {
  if (!ring)
    return;
  /* Everything is formatted before the lock: inside it, one copy and three additions. */
  tg_event_t event = {.time = tg_wall_seconds(), .ms = (float)(seconds * 1000), .worker = ring->index, .keys = *keys};
  copy(event.method, sizeof event.method, note->method[0] ? note->method : "-");
  copy(event.outcome, sizeof event.outcome, note->outcome[0] ? note->outcome : "ok");
  copy(event.fault, sizeof event.fault, fault);
  copy(event.policy, sizeof event.policy, policy);
  copy(event.client, sizeof event.client, note->client);
  copy(event.request_id, sizeof event.request_id, note->request_id);
  int bucket = bucket_of(seconds);
  pthread_mutex_lock(&ring->lock);
  unsigned long long *outcome = counter(&ring->counts, event.outcome);
  event.seq = ++ring->head;
  ring->slots[event.seq % TG_EVENTS_RING] = event;
  ring->counts.calls++;
  (*outcome)++;
  ring->counts.latency[bucket]++;
  pthread_mutex_unlock(&ring->lock);
}

size_t tg_events_read(tg_events_ring_t *ring, unsigned long long *cursor, tg_event_t *out, size_t max,
                      unsigned long long *lost) {
  size_t copied = 0;
  while (copied < max) {
    pthread_mutex_lock(&ring->lock);
    unsigned long long head = ring->head, oldest = head > TG_EVENTS_RING ? head - TG_EVENTS_RING + 1 : 1;
    if (*cursor + 1 < oldest) {
      *lost += oldest - (*cursor + 1);
      *cursor = oldest - 1;
    }
    size_t n = (size_t)(head - *cursor);
    n = n > max - copied ? max - copied : n;
    n = n > READ_SLICE ? READ_SLICE : n;
    for (size_t i = 0; i < n; i++)
      out[copied + i] = ring->slots[(*cursor + 1 + i) % TG_EVENTS_RING];
    pthread_mutex_unlock(&ring->lock);
    if (n == 0)
      break;
    *cursor += n;
    copied += n;
  }
  return copied;
}

void tg_events_counts(tg_events_ring_t *ring, tg_events_counts_t *out) {
  pthread_mutex_lock(&ring->lock);
  *out = ring->counts;
  pthread_mutex_unlock(&ring->lock);
}
