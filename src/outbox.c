/* outbox.c: the outbox's delivery loop (see outbox.h). Each target is a lane: its oldest pending
 * message is sent, and only when that one is delivered (or dead) comes the next, so a target
 * sees its messages in the order they were queued. The store is used under its lock, outside
 * any call's transaction: the loop runs between the batches of its own event loop. */
#include "outbox.h"
#include "redact.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json_text.h"
#include "log.h"

enum {
  POLL_MS = 1000,      /* a look at the queue at least this often (a CLI retry wakes nobody) */
  COUNT_CAP = 1000000, /* counts for /status and /metrics stop here, so they stay quick */
};

typedef struct lane_s {
  tg_outbox_t *outbox;
  const tg_outbox_target_t *target;
  int busy;             /* a delivery in flight (read by /status from other threads) */
  long long message_id; /* the one in flight */
  char uuid[40];        /* its X-Message-Id: message_id alone may name a newer message by then */
  double created;       /* when it was queued (its dead-letter time runs from there) */
  int attempts;         /* its failed attempts before this one */
  /* counters since the start (read by /metrics from other threads) */
  unsigned long long delivered, failed, died;
} lane_t;

struct tg_outbox_s {
  uv_loop_t *loop;
  tg_store_t *store;
  tg_upstream_t *client;
  const tg_outbox_config_t *config;
  uv_async_t wake;
  uv_timer_t timer;
  lane_t lanes[TG_OUTBOX_MAX_TARGETS];
  int stopping;
  int draining; /* the gateway drains: no new delivery starts (tg_outbox_drain) */
  int open; /* handles and deliveries still to end before the memory goes */
};

/* The loop's outbox, for wake-ups from any thread; NULL once it stops. */
static pthread_mutex_t waking_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_outbox_t *waking;

/* One message as read from the queue. */
typedef struct message_s {
  long long message_id;
  char uuid[40], content_type[128], request_id[72];
  double created, next_attempt;
  int attempts;
  tg_buf_t body;
} message_t;

static void look(tg_outbox_t *outbox);
static void on_timer(uv_timer_t *timer);

static void release(tg_outbox_t *outbox) {
  if (--outbox->open == 0)
    free(outbox);
}

static void on_closed(uv_handle_t *handle) { release(handle->data); }

/* --- the queue in the store --------------------------------------------------------------- */

static sqlite3_stmt *prepare(tg_store_t *store, const char *sql) { return tg_store_prepare(store, sql, strlen(sql)); }

static void copy_text(sqlite3_stmt *stmt, int column, char *out, size_t cap) {
  const unsigned char *text = sqlite3_column_text(stmt, column);
  snprintf(out, cap, "%s", text ? (const char *)text : "");
}

/* Reads the lane's oldest pending message into m. Returns 1, 0 when there is none, -1 on error.
 * The store lock is held. */
static int head(lane_t *lane, message_t *m) {
  sqlite3_stmt *stmt = prepare(
      lane->outbox->store, "SELECT message_id, uuid, body, content_type, request_id, created, next_attempt, attempts"
                           " FROM outbox WHERE target = ? AND state = 'pending' ORDER BY message_id LIMIT 1");
  if (!stmt)
    return -1;
  sqlite3_bind_text(stmt, 1, lane->target->name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt), found = 0;
  if (rc == SQLITE_ROW) {
    m->message_id = sqlite3_column_int64(stmt, 0);
    copy_text(stmt, 1, m->uuid, sizeof m->uuid);
    m->body.len = 0;
    found = tg_buf_append(&m->body, sqlite3_column_blob(stmt, 2), (size_t)sqlite3_column_bytes(stmt, 2)) == 0 ? 1 : -1;
    copy_text(stmt, 3, m->content_type, sizeof m->content_type);
    copy_text(stmt, 4, m->request_id, sizeof m->request_id);
    m->created = sqlite3_column_double(stmt, 5);
    m->next_attempt = sqlite3_column_double(stmt, 6);
    m->attempts = sqlite3_column_int(stmt, 7);
  } else if (rc != SQLITE_DONE) {
    found = -1;
  }
  sqlite3_reset(stmt);
  return found;
}

/* A statement on the lane's message in flight, named by row and X-Message-Id (?1, ?2): an
 * operator may have dropped it meanwhile and a new message taken its row id. NULL after logging
 * the store's error. The store lock is held. */
static sqlite3_stmt *on_message(lane_t *lane, const char *sql) {
  sqlite3_stmt *stmt = prepare(lane->outbox->store, sql);
  if (!stmt) {
    tg_log(TG_LOG_ERROR, "outbox_store_failed", "message=%lld error=\"%s\"", lane->message_id,
           tg_store_errmsg(lane->outbox->store));
    return NULL;
  }
  sqlite3_bind_int64(stmt, 1, lane->message_id);
  sqlite3_bind_text(stmt, 2, lane->uuid, -1, SQLITE_STATIC);
  return stmt;
}

/* Runs a statement on_message prepared and bound. The store lock is held. */
static void run(lane_t *lane, sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    tg_log(TG_LOG_ERROR, "outbox_store_failed", "message=%lld error=\"%s\"", lane->message_id,
           tg_store_errmsg(lane->outbox->store));
}

/* --- delivering --------------------------------------------------------------------------- */

/* Seconds to wait after a message's nth failed attempt: 1, 2, 4, ... up to --outbox-retry-max. */
static double backoff(const tg_outbox_config_t *config, int failures) {
  double seconds = 1, most = config->retry_max_ms / 1000.0;
  for (int i = 1; i < failures && seconds < most; i++)
    seconds *= 2;
  return seconds < most ? seconds : most;
}

/* Records the lane's delivery attempt: an acknowledged message goes; a failed one waits its
 * backoff, or goes dead when it is past the dead-letter time. Only a failed attempt makes a
 * message dead: one that waited out a gateway down for longer still gets its chance. Returns 1
 * when the message went dead. The store lock is held. */
static int record_attempt(lane_t *lane, int acknowledged, const char *reason, double now) {
  const tg_outbox_config_t *config = lane->outbox->config;
  if (acknowledged) {
    sqlite3_stmt *stmt = on_message(lane, "DELETE FROM outbox WHERE message_id = ?1 AND uuid = ?2");
    if (stmt)
      run(lane, stmt);
    return 0;
  }
  int dead = now - lane->created > config->dead_after_seconds;
  sqlite3_stmt *stmt = on_message(lane, "UPDATE outbox SET attempts = attempts + 1, last_error = ?3, last_attempt = ?4,"
                                        " next_attempt = ?5, state = CASE WHEN ?6 THEN 'dead' ELSE state END"
                                        " WHERE message_id = ?1 AND uuid = ?2");
  if (stmt) {
    sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(stmt, 4, now);
    sqlite3_bind_double(stmt, 5, now + backoff(config, lane->attempts + 1));
    sqlite3_bind_int(stmt, 6, dead);
    run(lane, stmt);
  }
  return dead;
}

/* Records and logs how the lane's attempt at its message went. */
static void settle(lane_t *lane, int acknowledged, const char *reason) {
  tg_outbox_t *outbox = lane->outbox;
  double now = tg_wall_seconds();
  tg_store_lock(outbox->store);
  int dead = record_attempt(lane, acknowledged, reason, now);
  tg_store_unlock(outbox->store);
  char quoted[128];
  tg_log_quote(quoted, sizeof quoted, reason, strlen(reason));
  if (acknowledged) {
    __atomic_add_fetch(&lane->delivered, 1, __ATOMIC_RELAXED);
  } else if (dead) {
    __atomic_add_fetch(&lane->failed, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&lane->died, 1, __ATOMIC_RELAXED);
    tg_log(TG_LOG_ERROR, "outbox_dead", "target=%s message=%lld id=%s attempts=%d reason=%s", lane->target->name,
           lane->message_id, lane->uuid, lane->attempts + 1, quoted);
  } else {
    __atomic_add_fetch(&lane->failed, 1, __ATOMIC_RELAXED);
    tg_log(TG_LOG_WARN, "outbox_retry", "target=%s message=%lld reason=%s", lane->target->name, lane->message_id,
           quoted);
  }
}

/* The gateway stopped while the receiver may have had the lane's message: it stays pending
 * (sent again after the restart, with the same message id), and the attempt is counted with
 * its unknown outcome, so that `outbox list` shows the receiver may see it twice. */
static void record_unknown(lane_t *lane) {
  tg_outbox_t *outbox = lane->outbox;
  tg_store_lock(outbox->store);
  sqlite3_stmt *stmt = on_message(lane, "UPDATE outbox SET attempts = attempts + 1, last_attempt = ?3,"
                                        " last_error = 'outcome unknown: gateway stopping'"
                                        " WHERE message_id = ?1 AND uuid = ?2");
  if (stmt) {
    sqlite3_bind_double(stmt, 3, tg_wall_seconds());
    run(lane, stmt);
  }
  tg_store_unlock(outbox->store);
  tg_log(TG_LOG_WARN, "outbox_unknown", "target=%s message=%lld id=%s reason=\"gateway stopping\"",
         lane->target->name, lane->message_id, lane->uuid);
}

static void on_delivered(void *data, const tg_upstream_result_t *result) {
  lane_t *lane = data;
  tg_outbox_t *outbox = lane->outbox;
  __atomic_store_n(&lane->busy, 0, __ATOMIC_RELAXED);
  if (result->error == UV_ECANCELED) { /* stopping: the message stays pending, sent again later */
    if (result->sent)
      record_unknown(lane);
    release(outbox);
    return;
  }
  char reason[96];
  if (result->error)
    snprintf(reason, sizeof reason, "%s", result->reason);
  else
    snprintf(reason, sizeof reason, "HTTP %d", result->status);
  settle(lane, !result->error && result->status >= 200 && result->status < 300, reason);
  if (!outbox->stopping)
    look(outbox);
  release(outbox);
}

/* Sends the lane's head message m. A message the client refuses (a content type with a line end,
 * stored by an older version) counts as a failed attempt, so it shows and goes dead in time. */
static void send_message(lane_t *lane, const message_t *m) {
  tg_upstream_request_t request = {.method = "POST",
                                   .url = lane->target->url,
                                   .content_type = m->content_type,
                                   .body = m->body.data,
                                   .len = m->body.len,
                                   .request_id = m->request_id[0] ? m->request_id : NULL,
                                   .message_id = m->uuid,
                                   .background = 1};
  lane->message_id = m->message_id;
  memcpy(lane->uuid, m->uuid, sizeof lane->uuid);
  lane->created = m->created;
  lane->attempts = m->attempts;
  int rc = tg_upstream_send(lane->outbox->client, &request, on_delivered, lane);
  if (rc == UV_EINVAL) {
    settle(lane, 0, "cannot be sent: bad URL or content type");
    return;
  }
  if (rc < 0)
    return; /* out of memory or stopping: looked at again within a second */
  __atomic_store_n(&lane->busy, 1, __ATOMIC_RELAXED);
  lane->outbox->open++;
}

/* Moves the lane on: sends its head message when it is due. Returns when the lane's next look
 * is due (epoch seconds). A wait much longer than --outbox-retry-max can only come from the
 * clock set back since the last attempt: the message is due now, not hours later. */
static double move_lane(lane_t *lane, message_t *m, double now) {
  tg_outbox_t *outbox = lane->outbox;
  tg_store_lock(outbox->store);
  int found = head(lane, m);
  tg_store_unlock(outbox->store);
  if (found != 1)
    return now + POLL_MS / 1000.0;
  if (m->next_attempt > now && m->next_attempt - now <= outbox->config->retry_max_ms / 1000.0 + 1)
    return m->next_attempt;
  send_message(lane, m);
  return now + POLL_MS / 1000.0;
}

/* Moves every idle lane on, then sleeps until the earliest due message or the next poll. */
static void look(tg_outbox_t *outbox) {
  if (outbox->draining)
    return;
  message_t m = {0};
  double now = tg_wall_seconds(), wake_at = now + POLL_MS / 1000.0;
  for (int i = 0; i < outbox->config->target_count; i++) {
    lane_t *lane = &outbox->lanes[i];
    if (lane->busy)
      continue;
    double due = move_lane(lane, &m, now);
    if (!lane->busy && due < wake_at)
      wake_at = due;
  }
  tg_buf_free(&m.body);
  double ms = (wake_at - now) * 1000;
  uv_timer_start(&outbox->timer, on_timer, ms > 0 ? (uint64_t)ms + 1 : 0, 0);
}

static void on_timer(uv_timer_t *timer) { look(timer->data); }

static void on_wake(uv_async_t *wake) { look(wake->data); }

/* --- starting and stopping ---------------------------------------------------------------- */

tg_outbox_t *tg_outbox_start(uv_loop_t *loop, tg_store_t *store, tg_upstream_t *client,
                             const tg_outbox_config_t *config) {
  tg_outbox_t *outbox = calloc(1, sizeof *outbox);
  if (!outbox)
    return NULL;
  *outbox = (tg_outbox_t){.loop = loop, .store = store, .client = client, .config = config, .open = 1};
  for (int i = 0; i < config->target_count; i++)
    outbox->lanes[i] = (lane_t){.outbox = outbox, .target = &config->targets[i]};
  uv_async_init(loop, &outbox->wake, on_wake);
  uv_timer_init(loop, &outbox->timer);
  outbox->wake.data = outbox->timer.data = outbox;
  outbox->open += 2; /* the handles; the first reference is the loop's, given back by stop */
  pthread_mutex_lock(&waking_lock);
  waking = outbox;
  pthread_mutex_unlock(&waking_lock);
  look(outbox); /* messages left from before a restart go at once */
  return outbox;
}

void tg_outbox_wake(void) {
  pthread_mutex_lock(&waking_lock);
  if (waking)
    uv_async_send(&waking->wake);
  pthread_mutex_unlock(&waking_lock);
}

void tg_outbox_drain(tg_outbox_t *outbox) {
  if (outbox)
    outbox->draining = 1;
}

int tg_outbox_delivering(tg_outbox_t *outbox) {
  int n = 0;
  for (int i = 0; outbox && i < outbox->config->target_count; i++)
    n += __atomic_load_n(&outbox->lanes[i].busy, __ATOMIC_RELAXED);
  return n;
}

void tg_outbox_stop(tg_outbox_t *outbox) {
  if (!outbox || outbox->stopping)
    return;
  outbox->stopping = 1;
  pthread_mutex_lock(&waking_lock);
  waking = NULL;
  pthread_mutex_unlock(&waking_lock);
  uv_close((uv_handle_t *)&outbox->wake, on_closed);
  uv_close((uv_handle_t *)&outbox->timer, on_closed);
  release(outbox);
}

/* --- what operators see ------------------------------------------------------------------- */

/* Counts the target's messages in state (up to COUNT_CAP) and, for pending ones, the creation
 * time of the oldest (0 when none). The store lock is held. */
static long long count_messages(tg_outbox_t *outbox, const char *target, const char *state, double *oldest) {
  sqlite3_stmt *stmt = prepare(outbox->store, "SELECT count(*), min(created) FROM (SELECT created FROM outbox"
                                              " WHERE target = ? AND state = ? ORDER BY message_id LIMIT 1000000)");
  long long n = -1;
  if (!stmt)
    return n;
  sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, state, -1, SQLITE_STATIC);
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    n = sqlite3_column_int64(stmt, 0);
    if (oldest)
      *oldest = sqlite3_column_double(stmt, 1);
  }
  sqlite3_reset(stmt);
  return n;
}

/* The last error of the lane's head message, into out ("" when none). The store lock is held. */
static void head_error(tg_outbox_t *outbox, const char *target, char *out, size_t cap) {
  sqlite3_stmt *stmt = prepare(outbox->store, "SELECT last_error FROM outbox WHERE target = ? AND state = 'pending'"
                                              " ORDER BY message_id LIMIT 1");
  out[0] = '\0';
  if (!stmt)
    return;
  sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
  if (sqlite3_step(stmt) == SQLITE_ROW)
    copy_text(stmt, 0, out, cap);
  sqlite3_reset(stmt);
}

void tg_outbox_status_json(tg_outbox_t *outbox, tg_buf_t *out) {
  double now = tg_wall_seconds();
  tg_buf_printf(out, "{\"dead_after_seconds\":%u,\"targets\":[", outbox->config->dead_after_seconds);
  for (int i = 0; i < outbox->config->target_count; i++) {
    const lane_t *lane = &outbox->lanes[i];
    double oldest = 0;
    char error[96];
    long long pending = count_messages(outbox, lane->target->name, "pending", &oldest);
    long long dead = count_messages(outbox, lane->target->name, "dead", NULL);
    head_error(outbox, lane->target->name, error, sizeof error);
    tg_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
    tg_json_text_string(out, lane->target->name);
    char shown[1024];
    tg_buf_puts(out, ",\"url\":");
    tg_json_text_string(out, tg_redact(lane->target->url, shown, sizeof shown));
    tg_buf_printf(out, ",\"pending\":%lld,\"dead\":%lld,\"oldest_pending_seconds\":%.3f,\"sending\":%s,", pending, dead,
                  pending > 0 ? now - oldest : 0.0, __atomic_load_n(&lane->busy, __ATOMIC_RELAXED) ? "true" : "false");
    tg_buf_printf(out, "\"delivered\":%llu,\"failed_attempts\":%llu,\"last_error\":",
                  __atomic_load_n(&lane->delivered, __ATOMIC_RELAXED),
                  __atomic_load_n(&lane->failed, __ATOMIC_RELAXED));
    if (error[0])
      tg_json_text_string(out, error);
    else
      tg_buf_puts(out, "null");
    tg_buf_puts(out, "}");
  }
  tg_buf_puts(out, "]}");
}

void tg_outbox_metrics(tg_outbox_t *outbox, tg_buf_t *out) {
  static const char *const help =
      "# HELP taskgate_outbox_messages Messages in the outbox by target and state (pending, dead).\n"
      "# TYPE taskgate_outbox_messages gauge\n";
  tg_buf_puts(out, help);
  double now = tg_wall_seconds();
  double oldest[TG_OUTBOX_MAX_TARGETS] = {0};
  long long pending[TG_OUTBOX_MAX_TARGETS] = {0};
  for (int i = 0; i < outbox->config->target_count; i++) {
    const char *name = outbox->lanes[i].target->name;
    pending[i] = count_messages(outbox, name, "pending", &oldest[i]);
    tg_buf_printf(out, "taskgate_outbox_messages{target=\"%s\",state=\"pending\"} %lld\n", name, pending[i]);
    tg_buf_printf(out, "taskgate_outbox_messages{target=\"%s\",state=\"dead\"} %lld\n", name,
                  count_messages(outbox, name, "dead", NULL));
  }
  tg_buf_puts(out, "# HELP taskgate_outbox_oldest_pending_seconds Age of each target's oldest pending message.\n"
                   "# TYPE taskgate_outbox_oldest_pending_seconds gauge\n");
  for (int i = 0; i < outbox->config->target_count; i++)
    tg_buf_printf(out, "taskgate_outbox_oldest_pending_seconds{target=\"%s\"} %.3f\n", outbox->lanes[i].target->name,
                  pending[i] > 0 ? now - oldest[i] : 0.0);
  static const char *const counters[][2] = {
      {"taskgate_outbox_delivered_total", "Messages a target acknowledged (2xx)."},
      {"taskgate_outbox_failed_attempts_total", "Deliveries that failed and will be tried again."},
      {"taskgate_outbox_dead_total", "Messages moved to the dead state (past the dead-letter time)."},
  };
  for (int c = 0; c < 3; c++) {
    tg_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[c][0], counters[c][1], counters[c][0]);
    for (int i = 0; i < outbox->config->target_count; i++) {
      const lane_t *lane = &outbox->lanes[i];
      const unsigned long long *count = c == 0 ? &lane->delivered : c == 1 ? &lane->failed : &lane->died;
      tg_buf_printf(out, "%s{target=\"%s\"} %llu\n", counters[c][0], lane->target->name,
                    __atomic_load_n(count, __ATOMIC_RELAXED));
    }
  }
}
