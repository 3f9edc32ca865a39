/* auth_guard.c: the wrong-token limiter and its log summary (see auth_guard.h). */
#include "auth_guard.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* The client's entry, or (create) a new one in the slot of the stalest; NULL when absent. */
static tg_auth_client_t *find(tg_auth_guard_t *guard, const char *client, int create) {
  tg_auth_client_t *stalest = &guard->clients[0];
  for (int i = 0; i < TG_AUTH_GUARD_CLIENTS; i++) {
    tg_auth_client_t *c = &guard->clients[i];
    if (c->address[0] && strcmp(c->address, client) == 0)
      return c;
    if (!c->address[0] || (stalest->address[0] && c->last_failure < stalest->last_failure))
      stalest = c;
  }
  if (!create)
    return NULL;
  memset(stalest, 0, sizeof *stalest);
  snprintf(stalest->address, sizeof stalest->address, "%s", client);
  return stalest;
}

int tg_auth_guard_wait(tg_auth_guard_t *guard, const char *client, double now) {
  tg_auth_client_t *c = find(guard, client ? client : "-", 0);
  return c && c->blocked_until > now ? (int)(c->blocked_until - now) + 1 : 0;
}

void tg_auth_guard_failed(tg_auth_guard_t *guard, const char *client, double now) {
  client = client ? client : "-";
  tg_auth_client_t *c = find(guard, client, 1);
  if (now - c->window_start > TG_AUTH_GUARD_WINDOW)
    c->window_start = now, c->failures = 0;
  c->last_failure = now;
  if (++c->failures >= TG_AUTH_GUARD_FAILURES) {
    c->blocked_until = now + TG_AUTH_GUARD_BLOCK;
    c->failures = 0;
    c->window_start = now;
    tg_log(TG_LOG_WARN, "auth_blocked", "client=%s failures=%d seconds=%d", client, TG_AUTH_GUARD_FAILURES,
           TG_AUTH_GUARD_BLOCK);
  }
  guard->refused++;
  snprintf(guard->last_client, sizeof guard->last_client, "%s", client);
  tg_auth_guard_log(guard, now);
}

void tg_auth_guard_refused_blocked(tg_auth_guard_t *guard, const char *client, double now) {
  guard->blocked++;
  snprintf(guard->last_client, sizeof guard->last_client, "%s", client ? client : "-");
  tg_auth_guard_log(guard, now);
}

void tg_auth_guard_log(tg_auth_guard_t *guard, double now) {
  if (!guard->refused && !guard->blocked)
    return;
  if (guard->last_line && now - guard->last_line < TG_AUTH_GUARD_LOG_EVERY)
    return;
  int blocked_now = 0;
  for (int i = 0; i < TG_AUTH_GUARD_CLIENTS; i++)
    blocked_now += guard->clients[i].address[0] && guard->clients[i].blocked_until > now;
  tg_log(TG_LOG_INFO, "auth_refused", "unauthorized=%llu too_many=%llu last_client=%s clients_blocked=%d seconds=%d",
         guard->refused, guard->blocked, guard->last_client, blocked_now, TG_AUTH_GUARD_LOG_EVERY);
  guard->refused = guard->blocked = 0;
  guard->last_line = now;
}
