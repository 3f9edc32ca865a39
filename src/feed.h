/* feed.h: the console's live side, on the main loop. Every tick it reads the calls the workers
 * recorded (events.h) and keeps the recent ones, each port's last calls and a per-second health
 * series for 15 minutes; it sends what is new to the event-stream subscribers, each under a
 * bound: a subscriber that does not keep up is dropped, never waited for. */
#ifndef TG_FEED_H
#define TG_FEED_H

#include <uv.h>

#include "buf.h"
#include "http.h"
#include "reload.h"
#include "upstreams.h"

enum {
  TG_FEED_MAX_SUBSCRIBERS = 64,
  TG_FEED_HEALTH_SECONDS = 900, /* the health series: 15 minutes, one sample a second */
  TG_FEED_RECENT_CALLS = 2000,  /* kept for the calls view's first screen */
};

/* Which calls a reader wants; empty fields and TG_EVENT_NO_KEY match every call. outcome is
 * "ok", "fault" (any fault) or a fault code. */
typedef struct tg_call_filter_s {
  char method[32];
  char outcome[12];
  char client[48];
  long long task_id;
} tg_call_filter_t;

/* What the health series samples; every pointer outlives the feed. */
typedef struct tg_feed_sources_s {
  const char *store_path;
  int *open_conns; /* of all workers (atomic) */
  tg_reload_t *reload;
  tg_upstreams_t *upstreams; /* or NULL */
} tg_feed_sources_t;

typedef struct tg_feed_s tg_feed_t;

/* Starts the feed's tick on loop. Returns NULL when memory runs out. */
tg_feed_t *tg_feed_new(uv_loop_t *loop, const tg_feed_sources_t *sources);
/* Parses a query string's call filter (method=, outcome=, client=, task_id=). Returns NULL, or
 * what is wrong with it (an outcome or task_id that no call can have: answered 400). */
const char *tg_feed_filter_parse(const char *query, tg_call_filter_t *filter);
/* Adds h (whose stream header is written) as a subscriber: the health sample each second, a
 * note when views changed, and, when calls is set, the calls that match filter. Returns 0, or
 * -1 when there are TG_FEED_MAX_SUBSCRIBERS already. */
int tg_feed_subscribe(tg_feed_t *feed, tg_http_t *h, const tg_call_filter_t *filter, int calls);
/* Forgets a subscriber whose client is gone. */
void tg_feed_unsubscribe(tg_feed_t *feed, tg_http_t *h);
/* Ends every stream (the gateway drains) and takes no new subscriber. */
void tg_feed_end_streams(tg_feed_t *feed);
/* Ends the open streams but takes new ones (the console's token changed). */
void tg_feed_close_streams(tg_feed_t *feed);
/* Appends {"calls":[...newest first, at most limit...]} of the recent calls matching filter. */
void tg_feed_calls_json(tg_feed_t *feed, const tg_call_filter_t *filter, int limit, tg_buf_t *out);
/* Appends {"PORT_ID":[...its last calls, newest first...], ...} for every port seen in a call. */
void tg_feed_port_calls_json(tg_feed_t *feed, tg_buf_t *out);
/* Appends the health series and the latency percentiles over the last minute and 15 minutes. */
void tg_feed_health_json(tg_feed_t *feed, tg_buf_t *out);
/* Closes the feed's timer; the memory goes in its close callback. */
void tg_feed_free(tg_feed_t *feed);

#endif
