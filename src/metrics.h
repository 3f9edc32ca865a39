/* metrics.h: the process's counters and histograms, written out in the Prometheus text format.
 * Single-threaded like the loop that updates them. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include "buf.h"

enum { TG_HIST_REQUEST, TG_HIST_COMMIT, TG_HIST_UPSTREAM, TG_HIST_COUNT };

/* Counts one finished call of method with outcome ("ok", a fault code, ...). */
void tg_metrics_call(const char *method, const char *outcome);
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
