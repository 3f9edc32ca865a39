/* events.h: every answered call as the console sees it. Each handler (one per worker) appends
 * its calls to a ring of its own, with exact counts by outcome and a latency histogram; the
 * console reads the rings from the main thread. The only lock a worker takes is its own ring's,
 * for one short copy, and the console holds it only while it copies a bounded slice out. */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#include <stddef.h>

#include "sys_lua.h"
#include "xml.h"

enum {
  TG_EVENTS_RING = 4096,          /* calls each worker keeps until the console reads them */
  TG_EVENTS_LATENCY_BUCKETS = 64, /* log-spaced, three to an octave, from 10 microseconds */
  TG_EVENTS_FIRST_CODE = 1000,    /* fault codes are counted one by one in this range */
  TG_EVENTS_CODES = 1000,
  TG_EVENTS_MAX_RINGS = 64, /* handlers: --workers at most */
};

enum { TG_EVENT_NO_KEY = -1 }; /* a key parameter the call did not carry, or not as a number */

/* The parameters that tell which task, group, port or bin a call was about. */
typedef struct tg_event_keys_s {
  long long task_id, taskgroup_id, port_id, bin_id;
} tg_event_keys_t;

typedef struct tg_event_s {
  unsigned long long seq; /* per ring, from 1 */
  double time;            /* wall clock, seconds since the epoch, at the reply */
  float ms;               /* arrival to reply */
  short worker;           /* the ring's index */
  tg_event_keys_t keys;
  char method[32];
  char outcome[12]; /* "ok" or the fault code */
  char fault[40];   /* the fault's name, "" for none */
  char policy[40];  /* the policy that refused the call, "" for none (issue 21 fills it) */
  char client[48];
  char request_id[68];
} tg_event_t;

/* Counters of one ring since the process started. */
typedef struct tg_events_counts_s {
  unsigned long long calls, ok, other; /* other: outcomes that are neither ok nor a code */
  unsigned long long codes[TG_EVENTS_CODES];
  unsigned long long latency[TG_EVENTS_LATENCY_BUCKETS];
} tg_events_counts_t;

typedef struct tg_events_ring_s tg_events_ring_t;

/* A new ring for a handler, registered for the console to read; it lives as long as the
 * process (a worker's calls stay readable after it stops). NULL past TG_EVENTS_MAX_RINGS or when
 * memory runs out: the handler then records nothing. */
tg_events_ring_t *tg_events_attach(void);
/* Reads the key parameters of a decoded methodcall (root may be NULL). */
void tg_events_keys(const tg_xml_node_t *root, tg_event_keys_t *keys);
/* Appends one answered call: its note, key parameters, fault name ("" for none), the policy that
 * refused it (NULL or "" for none) and how long it took. ring may be NULL: nothing happens. */
void tg_events_record(tg_events_ring_t *ring, const tg_call_note_t *note, const tg_event_keys_t *keys,
                      const char *fault, const char *policy, double seconds);

/* The rings registered so far (at most cap) into rings; returns how many. */
int tg_events_rings(tg_events_ring_t **rings, int cap);
/* Copies up to max events that follow *cursor (a seq; 0 at first) into out, oldest first, and
 * moves *cursor past them. Events overwritten before they were read are added to *lost. Returns
 * how many were copied. */
size_t tg_events_read(tg_events_ring_t *ring, unsigned long long *cursor, tg_event_t *out, size_t max,
                      unsigned long long *lost);
/* Copies the ring's counters. */
void tg_events_counts(tg_events_ring_t *ring, tg_events_counts_t *out);
/* The upper bound, in seconds, of a latency bucket. */
double tg_events_bucket_seconds(int bucket);

#endif
