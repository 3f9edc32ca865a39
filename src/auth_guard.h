/* auth_guard.h: wrong tokens on the admin and console addresses, per client address. A client
 * that sends TG_AUTH_GUARD_FAILURES wrong tokens within TG_AUTH_GUARD_WINDOW seconds is answered
 * 429 for TG_AUTH_GUARD_BLOCK seconds, right token or not: guessing gets a few tries a minute.
 * The refusals are logged as one summary line per TG_AUTH_GUARD_LOG_EVERY seconds, not one line
 * each. Memory is bounded (TG_AUTH_GUARD_CLIENTS addresses; the stalest gives way). One loop
 * thread uses it: the admin and console addresses are served on the main loop. */
#ifndef TG_AUTH_GUARD_H
#define TG_AUTH_GUARD_H

enum {
  TG_AUTH_GUARD_CLIENTS = 256,
  TG_AUTH_GUARD_FAILURES = 20,
  TG_AUTH_GUARD_WINDOW = 60,
  TG_AUTH_GUARD_BLOCK = 60,
  TG_AUTH_GUARD_LOG_EVERY = 10,
};

typedef struct tg_auth_client_s {
  char address[64];
  double window_start, last_failure, blocked_until; /* monotonic seconds */
  int failures;                                     /* in the window */
} tg_auth_client_t;

typedef struct tg_auth_guard_s {
  tg_auth_client_t clients[TG_AUTH_GUARD_CLIENTS];
  /* the log's summary since its last line */
  unsigned long long refused, blocked;
  char last_client[64];
  double last_line; /* monotonic seconds of the last summary line, or 0 */
} tg_auth_guard_t;

/* Seconds the client must still wait (answer 429 with Retry-After), or 0. */
int tg_auth_guard_wait(tg_auth_guard_t *guard, const char *client, double now);
/* Notes a wrong or missing token (a 401) from client. */
void tg_auth_guard_failed(tg_auth_guard_t *guard, const char *client, double now);
/* Notes a 429 answered to client. */
void tg_auth_guard_refused_blocked(tg_auth_guard_t *guard, const char *client, double now);
/* Writes the summary line when there is something to say and the interval has passed (also
 * called from a timer, so that a burst's end is told without a later refusal). */
void tg_auth_guard_log(tg_auth_guard_t *guard, double now);

#endif
