/* clock.h: the core's two clocks, in seconds: monotonic for how long something took, wall
 * for the dates people read (start time, last reload, sys.now). */
#ifndef TG_CLOCK_H
#define TG_CLOCK_H

#include <time.h>

static inline double tg_clock_read(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds on a clock that never jumps: only differences mean anything. */
static inline double tg_monotonic_seconds(void) { return tg_clock_read(CLOCK_MONOTONIC); }

/* Seconds since the epoch. */
static inline double tg_wall_seconds(void) { return tg_clock_read(CLOCK_REALTIME); }

#endif
