/* upstreams.h: the upstreams of bridge mode (--upstream URL,URL..., primary first), their
 * health, and the order a call tries them in. Shared by every worker; a health probe on the main
 * loop and the outcome of every exchange mark an upstream down and up again. */
#ifndef TG_UPSTREAMS_H
#define TG_UPSTREAMS_H

#include <uv.h>

#include "buf.h"
#include "upstream.h"

enum { TG_UPSTREAMS_MAX = 8 };
/* Which of an upstream's endpoints: its task interface (the URL given) or the bin interface
 * beside it (.../api/v2/bin, or BinInterface.aspx beside AutoStoreHttpInterface.aspx). */
enum { TG_UPSTREAMS_TASK = 0, TG_UPSTREAMS_BIN = 1 };

typedef struct tg_upstreams_s tg_upstreams_t;

/* Checks a --upstream value: one to TG_UPSTREAMS_MAX http:// or https:// URLs separated by
 * commas. Returns 0 or -1. */
int tg_upstreams_valid(const char *list);
/* Makes the set for a valid list (every upstream up until it is seen failing). NULL when out
 * of memory. */
tg_upstreams_t *tg_upstreams_new(const char *list);
void tg_upstreams_free(tg_upstreams_t *set);

int tg_upstreams_count(const tg_upstreams_t *set);
/* The URL of upstream i's endpoint (TG_UPSTREAMS_TASK or _BIN); it lives as long as the set. */
const char *tg_upstreams_url(const tg_upstreams_t *set, int i, int endpoint);
/* Upstream i's task URL as operators see it: its userinfo and query values masked (redact.h). */
const char *tg_upstreams_shown(const tg_upstreams_t *set, int i);
/* Fills order (room for TG_UPSTREAMS_MAX) with the upstreams in the order to try: those up,
 * primary first, then those down, primary first. Returns how many. */
int tg_upstreams_order(tg_upstreams_t *set, int *order);
/* Tells how a call's exchange with upstream i went: failure is NULL when it answered (200 or a
 * 4xx), else why not. A change of state is logged. After a call's failure, a probe's answer
 * marks the upstream up only three probe intervals later, twice that after each further failed
 * call (up to five minutes): calls test it again then. */
void tg_upstreams_report(tg_upstreams_t *set, int i, const char *failure, double seconds);
/* How many upstreams are up. */
int tg_upstreams_up(tg_upstreams_t *set);

/* The "upstreams" array of /status: url, state, since, last error and when, latency, counts. */
void tg_upstreams_status_json(tg_upstreams_t *set, tg_buf_t *out);
/* taskgate_upstream_up, _latency_seconds and _failures_total per upstream. */
void tg_upstreams_metrics(tg_upstreams_t *set, tg_buf_t *out);
/* The calls in flight to upstream i change by delta (sent, answered, failed over). */
void tg_upstreams_count_in_flight(tg_upstreams_t *set, int i, int delta);
/* The calls queued for a free place in a worker's lane change by delta. */
void tg_upstreams_count_queued(tg_upstreams_t *set, int delta);
int tg_upstreams_queued(tg_upstreams_t *set);

/* Probes every upstream with a HEAD to its task endpoint every interval_ms, from now on, through
 * client on loop (the client's). Returns 0 or a libuv error. */
int tg_upstreams_probe_start(tg_upstreams_t *set, uv_loop_t *loop, tg_upstream_t *client, unsigned interval_ms);
/* Stops probing; a probe in flight is still reported. Call before the client closes. */
void tg_upstreams_probe_stop(tg_upstreams_t *set);

#endif
