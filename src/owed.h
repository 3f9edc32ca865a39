/* owed.h: the traces a worker owes the store. A call run on the worker's read connection (a
 * read-only method, beside the writing batch) cannot write the journal entry and marked audit
 * record every call leaves (lua/taskgate/owed.lua): it hands their rows' values here, and the
 * worker writes them in its next store turn (batch.c takes one for them within
 * TG_OWED_DELAY_MS when no call does, and one before it stops). Bounded: once full, the
 * worker's read-only calls take the store's turn, where they write their own. */
#ifndef TG_OWED_H
#define TG_OWED_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"
#include "script.h"

enum {
  TG_OWED_MAX_ROWS = 512,         /* rows that wait at most (a call leaves one or two) */
  TG_OWED_MAX_BYTES = 256 * 1024, /* and bytes (a call's own rows may pass it) */
  TG_OWED_DELAY_MS = 50,          /* the longest they wait for a store turn */
};

typedef struct tg_owed_s {
  tg_buf_t rows; /* each: its kind, its count of values, then each value with its type */
  size_t count;
} tg_owed_t;

/* Keeps one row: kind (the runtime's: which table), then the values on L's stack from first to
 * the top (nil, numbers, strings). Returns 0, or -1 when a value is of another type or memory
 * runs out (nothing kept). */
int tg_owed_add(tg_owed_t *owed, lua_State *L, int kind, int first);
/* Whether it holds as much as it may: the next read-only call must write its own. */
int tg_owed_full(const tg_owed_t *owed);
/* Whether any rows wait. */
int tg_owed_pending(const tg_owed_t *owed);
/* Writes them through script (host.write_owed, given an iterator over the rows), under the
 * store lock, and empties it. A failure (logged) loses them, as a trace a call cannot write is
 * lost. */
void tg_owed_write(tg_owed_t *owed, tg_script_t *script);
void tg_owed_free(tg_owed_t *owed);

#endif
