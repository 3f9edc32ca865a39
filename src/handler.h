/* handler.h: one methodcall from body bytes to reply bytes: decode, run the rule, encode. */
#ifndef TG_HANDLER_H
#define TG_HANDLER_H

#include "arena.h"
#include "buf.h"
#include "script.h"
#include "store.h"

typedef struct tg_handler_s {
  tg_script_t *script; /* the current rules generation; the handler holds a reference */
  tg_store_t *store;
  tg_arena_t arena;  /* the decoded request; reset after every call */
  tg_buf_t fallback; /* the rules' internal-error reply, used when Lua itself failed */
} tg_handler_t;

/* Prepares h to run calls on script against store (the store stays owned by the caller; the
 * handler takes its own reference to script). Returns 0, or -1 when the runtime cannot
 * produce its internal-error reply. */
int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store);
/* Makes next the generation new calls run on. Calls already running finish on theirs; the
 * old generation closes when its last call ends. Returns 0, or -1 (nothing changed). */
int tg_handler_swap(tg_handler_t *h, tg_script_t *next);
/* A tg_http_task_fn: appends the XML reply for body to reply; ctx is a tg_handler_t. Always
 * answers: when the rule cannot, its transaction is rolled back and the fallback is sent. */
int tg_handler_task(void *ctx, const char *client, const char *body, size_t len, tg_buf_t *reply);
/* Drops the handler's reference to its generation and frees its buffers. */
void tg_handler_free(tg_handler_t *h);

#endif
