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

/* The same clock in nanoseconds, for deadlines. Async-signal-safe (clock_gettime is). */
static inline long long tg_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Seconds since the epoch. */
static inline double tg_wall_seconds(void) { return tg_clock_read(CLOCK_REALTIME); }

#endif
