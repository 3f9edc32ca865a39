/* checkpoint.h: WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs
 * inside the commit that crosses 1000 WAL pages: it copies those pages into the database file
 * and syncs it, all while that commit (and, with it, every reply of the turn) waits. Here the
 * commit only notes the WAL's size; a separate connection on a separate thread copies the pages
 * (a PASSIVE checkpoint, which never blocks the writer), and once the WAL is long holds the
 * store for one short pass so that the WAL can restart from its beginning. Should the thread
 * fall behind, a commit that finds the WAL far past that length makes the pass itself. */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include "store.h"

typedef struct tg_checkpointer_s tg_checkpointer_t;

/* Takes over checkpointing of store (the file at path). NULL when it cannot start; SQLite's
 * automatic checkpoint then stays in place. */
tg_checkpointer_t *tg_checkpointer_start(tg_store_t *store, const char *path);
/* Stops the thread and closes its connection (before the store itself is closed). */
void tg_checkpointer_stop(tg_checkpointer_t *checkpointer);

#endif
