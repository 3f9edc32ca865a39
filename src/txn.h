/* txn.h: the one owner of a call's transaction. Everything a call changes in the store happens
 * in it, the reply is encoded in it, and it ends in exactly one of two ways: committed (its
 * changes stay for the turn's commit) or aborted (they are undone). Nothing else names its
 * savepoint or knows how transactions nest.
 *
 * A turn is the store's SQLite transaction around several calls: batch.c opens one per loop turn
 * and commits it once for all of them (group commit: one fsync with --sync full); a rule set's
 * self-checks open one and abort it. A call runs in a savepoint of its own inside the turn. A
 * call begun while no turn is open opens a turn of its own, which its commit commits (specs and
 * tools that run calls one by one).
 *
 * Every function returns 0 or a negative SQLite result code; the abort functions cannot fail
 * (whatever they could not undo, SQLite undid: the turn is then lost, and its commit fails). */
#ifndef TG_TXN_H
#define TG_TXN_H

#include "store.h"

/* Where a store connection stands (kept in the store; see tg_store_txn). */
typedef struct tg_txn_s {
  unsigned char turn;     /* a turn is open */
  unsigned char call;     /* a call's savepoint is open */
  unsigned char own_turn; /* the open call opened the turn itself */
  unsigned char lost;     /* SQLite rolled the turn back by itself (an I/O error, a full disk) */
  unsigned char failed_statement; /* PostgreSQL: a statement of the call failed (see below) */
  unsigned char conflict; /* PostgreSQL: that statement was a deadlock's victim or a serialisation
                           * failure (40P01, 40001): the call, run again in a later turn, may pass */
} tg_txn_t;

int tg_txn_begin_turn(tg_store_t *store);
/* Commits the turn: 0, or negative when it failed or was lost (its calls' changes are gone). */
int tg_txn_commit_turn(tg_store_t *store);
void tg_txn_abort_turn(tg_store_t *store);

/* Opens a call's transaction. Fails when another call's is open or the turn was lost. */
int tg_txn_begin_call(tg_store_t *store);
/* Keeps the call's changes for the turn (commits them when the call opened its own turn). On
 * failure the call has been aborted. */
int tg_txn_commit_call(tg_store_t *store);
/* Undoes the call's changes; nothing when no call is open (Lua already ended it). */
void tg_txn_abort_call(tg_store_t *store);
/* After one of the call's statements failed. SQLite undoes that statement alone; PostgreSQL
 * fails the whole transaction, so the call's changes are undone here (back to its savepoint)
 * for the turn to go on, and the call can then only be aborted: its commit fails, so that no
 * reply acknowledges changes that are gone. */
void tg_txn_statement_failed(tg_store_t *store);

/* Opens a read turn on a reader (tg_store_open_reader): one snapshot of the committed state for
 * the calls run in it, each in its call transaction as in any turn; tg_txn_commit_turn ends it. */
int tg_txn_begin_read(tg_store_t *store);

#endif
