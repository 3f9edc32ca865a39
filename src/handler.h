/* handler.h: one methodcall from body bytes to reply bytes: decode, run the rule, encode. */
#ifndef TG_HANDLER_H
#define TG_HANDLER_H

#include "arena.h"
#include "buf.h"
#include "script.h"
#include "store.h"

typedef struct tg_handler_s {
  tg_script_t *script;
  tg_store_t *store;
  tg_arena_t arena;  /* the decoded request; reset after every call */
  tg_buf_t fallback; /* the rules' internal-error reply, used when Lua itself failed */
} tg_handler_t;

/* Prepares h to run calls on script against store (both stay owned by the caller).
 * Returns 0, or -1 when the runtime cannot produce its internal-error reply. */
int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store);
/* A tg_http_task_fn: appends the XML reply for body to reply; ctx is a tg_handler_t. Always
 * answers: when the rule cannot, its transaction is rolled back and the fallback is sent. */
int tg_handler_task(void *ctx, const char *client, const char *body, size_t len, tg_buf_t *reply);
void tg_handler_free(tg_handler_t *h);

#endif
