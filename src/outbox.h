/* outbox.h: durable messages for other systems. A rule's outbox.send records a message in its
 * call's transaction (lua/taskgate/outbox.lua); one delivery loop, on the main thread's event
 * loop, POSTs each target's messages in order until the target answers 2xx, retrying with
 * backoff, and moves a message that keeps failing past the dead-letter time to the dead state.
 * At least once: a message whose answer was lost is sent again with the same X-Message-Id. */
#ifndef TG_OUTBOX_H
#define TG_OUTBOX_H

#include <uv.h>

#include "buf.h"
#include "store.h"
#include "upstream.h"

enum { TG_OUTBOX_MAX_TARGETS = 16, TG_OUTBOX_NAME_BYTES = 33 };

typedef struct tg_outbox_target_s {
  char name[TG_OUTBOX_NAME_BYTES]; /* what rules name: letters, digits, '_' and '-' */
  const char *url;
} tg_outbox_target_t;

typedef struct tg_outbox_config_s {
  tg_outbox_target_t targets[TG_OUTBOX_MAX_TARGETS];
  int target_count;
  unsigned dead_after_seconds; /* a message not delivered this long after it was queued is dead */
  unsigned retry_max_ms;       /* the longest wait between attempts (they start at 1 s and double) */
} tg_outbox_config_t;

typedef struct tg_outbox_s tg_outbox_t;

/* Starts delivering the messages in store to the configured targets through client, on loop.
 * Returns the loop's outbox, or NULL when out of memory. config must outlive it. */
tg_outbox_t *tg_outbox_start(uv_loop_t *loop, tg_store_t *store, tg_upstream_t *client,
                             const tg_outbox_config_t *config);
/* Something was queued (or will be, once its call commits): look soon. Any thread. */
void tg_outbox_wake(void);
/* The gateway drains: no new delivery starts; one in flight goes on to its answer, which is
 * recorded as usual (so a message the receiver took is not sent again after the restart). */
void tg_outbox_drain(tg_outbox_t *outbox);
/* How many deliveries are in flight (0 for a NULL outbox). */
int tg_outbox_delivering(tg_outbox_t *outbox);
/* Stops delivering; a delivery in flight is left pending (sent again after the next start).
 * Call before the client closes; the memory goes once the loop has run the close callbacks. */
void tg_outbox_stop(tg_outbox_t *outbox);

/* The "outbox" object of /status: per target its URL, pending and dead counts, the age of the
 * oldest pending message, the last error. The store lock is held. */
void tg_outbox_status_json(tg_outbox_t *outbox, tg_buf_t *out);
/* taskgate_outbox_* per target. The store lock is held. */
void tg_outbox_metrics(tg_outbox_t *outbox, tg_buf_t *out);

/* `taskgate outbox list|retry ID|drop ID` on the store at path: prints the queue as JSON lines,
 * or sends a message again from now (dead or pending), or removes it. Returns the exit status. */
int tg_outbox_command(const char *path, const char *action, const char *id);

#endif
