/* handler.h: one methodcall from body bytes to reply bytes: decode, run the rule, encode; and,
 * when a rule waits on the network, the outbound request and the rule's resumption. */
#ifndef TG_HANDLER_H
#define TG_HANDLER_H

#include "arena.h"
#include "batch.h"
#include "buf.h"
#include "http.h"
#include "script.h"
#include "store.h"
#include "upstream.h"

typedef struct tg_waiting_call_s tg_waiting_call_t;

typedef struct tg_handler_s {
  tg_script_t *script; /* the current rules generation; the handler holds a reference */
  tg_store_t *store;
  tg_upstream_t *upstream;    /* outbound HTTP for rules; NULL: rules that call out get an error */
  tg_arena_t arena;           /* the decoded request; reset after every call */
  tg_buf_t fallback;          /* the rules' internal-error reply, used when Lua itself failed */
  tg_waiting_call_t *waiting; /* calls suspended on an outbound request */
  tg_batch_t *batch;          /* group commit, or NULL: each call commits by itself */
} tg_handler_t;

/* Prepares h to run calls on script against store (the store stays owned by the caller; the
 * handler takes its own reference to script). Returns 0, or -1 when the runtime cannot
 * produce its internal-error reply. */
int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store, tg_upstream_t *upstream);
/* Makes next the generation new calls run on. Calls already running finish on theirs; the
 * old generation closes when its last call ends. Returns 0, or -1 (nothing changed). */
int tg_handler_swap(tg_handler_t *h, tg_script_t *next);
/* A tg_http_task_fn (ctx is a tg_handler_t): appends the XML reply for body to reply, or
 * returns TG_HTTP_LATER when the rule waits on the network; the reply then goes to
 * http->deliver. Always answers: when the rule cannot, its transaction is rolled back and the
 * fallback is sent. */
int tg_handler_task(void *ctx, tg_http_t *http, const char *body, size_t len, tg_buf_t *reply);
/* A tg_http_abandon_fn: the client of a waiting call is gone; the call still runs to its end. */
void tg_handler_abandon(void *ctx, tg_http_t *http);
/* Number of calls waiting on the network. */
int tg_handler_waiting(const tg_handler_t *h);
/* Drops the handler's reference to its generation and frees its buffers. */
void tg_handler_free(tg_handler_t *h);

#endif
