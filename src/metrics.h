/* metrics.h: the process's counters and histograms, written out in the Prometheus text format.
 * The workers and the checkpoint thread update them under one lock. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include "buf.h"

enum {
  TG_HIST_REQUEST,
  TG_HIST_COMMIT,
  TG_HIST_CHECKPOINT,        /* a checkpoint pass beside the writers */
  TG_HIST_CHECKPOINT_LOCKED, /* the pass under the store lock that lets the WAL restart */
  TG_HIST_UPSTREAM,
  TG_HIST_STORE_ROUND_TRIP, /* PostgreSQL: each exchange with the database (pg.c) */
  TG_HIST_COUNT
};

/* Counts one finished call of method with outcome ("ok", a fault code, ...), the fault's name and
 * the reason of a refusal ("" for none: the label is then left out; at most 32 distinct
 * reasons keep their name, later ones count as "other"). */
void tg_metrics_call(const char *method, const char *outcome, const char *fault, const char *reason);
/* Adds a call's time, from arrival to reply, to the request histogram and to its method's. */
void tg_metrics_call_time(const char *method, double seconds);
/* Counts one non-protocol HTTP answer (404, 413, ...). */
void tg_metrics_http_status(int status);
/* Counts a rule that failed: kind is "error", "timeout" or "memory". */
void tg_metrics_rule_failure(const char *rule, const char *kind);
/* Counts an outbound call by outcome ("ok" or "failed"). */
void tg_metrics_upstream(const char *outcome);
/* Adds one observation, in seconds, to a histogram. */
void tg_metrics_observe(int histogram, double seconds);
/* Appends every counter and histogram in the Prometheus text format. */
void tg_metrics_write(tg_buf_t *out);

#endif
