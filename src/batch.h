/* batch.h: group commit. Every call of one event-loop turn runs inside one SQLite transaction
 * (each call in a savepoint of its own, so its changes stay all-or-nothing); the transaction
 * commits once the turn's I/O is done, and only then are the turn's replies written. One
 * commit (one fsync with --sync full) serves all the calls that arrived together. */
#ifndef TG_BATCH_H
#define TG_BATCH_H

#include <uv.h>

#include "store.h"

typedef void (*tg_batch_release_fn)(void *data);

typedef struct tg_batch_s tg_batch_t;

/* Creates the batcher for store on loop. NULL when out of memory. */
tg_batch_t *tg_batch_new(uv_loop_t *loop, tg_store_t *store);
/* Opens the turn's transaction if it is not open yet (each call step then runs in the runtime's
 * own savepoint). Returns 0 or a negative SQLite code. */
int tg_batch_begin_call(tg_batch_t *batch);
/* After a call step: when Lua failed (ok = 0), undoes what the step left in its savepoint. */
void tg_batch_end_call(tg_batch_t *batch, int ok);
/* True while the turn's transaction is open: replies must wait for its commit. */
int tg_batch_open(const tg_batch_t *batch);
/* Calls release(data) once the turn's transaction has committed, or failed(data) if the commit
 * failed (the replies held for it must then never be sent). */
void tg_batch_wait(tg_batch_t *batch, tg_batch_release_fn release, tg_batch_release_fn failed, void *data);
/* Forgets a waiter (its connection is gone). */
void tg_batch_forget(tg_batch_t *batch, void *data);
/* Commits now if a transaction is open (for shutdown). */
void tg_batch_commit(tg_batch_t *batch);
/* Commits what is open and closes the batcher; its memory goes on the next loop turn. */
void tg_batch_free(tg_batch_t *batch);

#endif
