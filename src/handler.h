/* handler.h: one methodcall from body bytes to reply bytes: decode, run the rule, encode; and,
 * when a rule waits on the network, the outbound request and the rule's resumption. */
#ifndef TG_HANDLER_H
#define TG_HANDLER_H

#include <pthread.h>

#include "arena.h"
#include "batch.h"
#include "buf.h"
#include "owed.h"
#include "events.h"
#include "http.h"
#include "script.h"
#include "store.h"
#include "upstream.h"

typedef struct tg_call_s tg_call_t;

/* Where a call is, as lua-nginx-module keeps its coroutines' states: each state before
 * TG_CALL_LISTS is one of the handler's lists. The legal moves (handler.c asserts them): a new
 * call is queued; the batch's read phase runs the queued ones of read-only methods and leaves the
 * others for the store's turn, which runs them; a running call waits on the network or is
 * answered; a waiting one is queued again when its request ends; an answered one leaves once its
 * reply is delivered. */
typedef enum tg_call_state_e {
  TG_CALL_QUEUED,    /* to run in this turn's batch: new, or resumed with its outbound result */
  TG_CALL_FOR_STORE, /* taken by the turn's read phase, left for the store's turn: it may write */
  TG_CALL_WAITING,   /* suspended on an outbound request */
  TG_CALL_ANSWERED,  /* has its reply, held until the batch has committed */
  TG_CALL_LISTS,
  TG_CALL_NEW = TG_CALL_LISTS, /* just made, on no list yet */
  TG_CALL_RUNNING,             /* its step runs, in the batch: on no list */
} tg_call_state_t;

/* A list of calls in arrival order. */
typedef struct tg_call_list_s {
  tg_call_t *head, *tail;
  int count;
} tg_call_list_t;

typedef struct tg_handler_s {
  tg_script_t *script; /* the current rules generation; the handler holds a reference */
  tg_store_t *store;
  tg_store_t *reader;      /* the handler's read connection (owned), or NULL: every call takes the store lock */
  tg_owed_t owed;          /* the traces of the calls run on the reader, for the next store turn */
  tg_upstream_t *upstream; /* outbound HTTP for rules; NULL: rules that call out get an error */
  /* Decoded requests: new ones go into arenas[filling]; a batch takes every queued call, turns
   * to the other arena, and resets the one it took once all its calls have run. */
  tg_arena_t arenas[2];
  int filling;
  tg_buf_t fallback;      /* the rules' internal-error reply, used when Lua itself failed */
  tg_buf_t fallback_json; /* the same, to a JSON methodcall */
  tg_buf_t unknown;       /* fault 1922, sent instead when the upstream may have had the call */
  tg_buf_t unknown_json;  /* the same, to a JSON methodcall */
  tg_buf_t read_only;     /* the generation's read-only methods: "\ttask:gettaskinfo\t..." */
  int bridging;           /* --upstream is set: XML requests keep their bytes to be forwarded as received */
  /* Held while the handler's generation runs outside the store lock (its read-only calls) and
   * while a reload changes the generation: a reload holds the store lock and then this. */
  pthread_mutex_t generation_lock;
  tg_batch_t *batch; /* runs the queued calls at the end of the loop turn */
  /* The calls in each state that has a list; waiting_count is calls[TG_CALL_WAITING].count,
   * atomic: /metrics reads it from any worker. */
  tg_call_list_t calls[TG_CALL_LISTS];
  int waiting_count;
  tg_call_t *spare; /* answered calls kept for new requests (handler.c) */
  int spare_count;
  tg_events_ring_t *events; /* every answered call, for the console (events.h); may be NULL */
} tg_handler_t;

/* Prepares h to run calls on script against store (the store stays owned by the caller; the
 * handler takes its own reference to script). Returns 0, or -1 when the runtime cannot
 * produce its internal-error reply. */
int tg_handler_init(tg_handler_t *h, tg_script_t *script, tg_store_t *store, tg_upstream_t *upstream);
/* Gives h a read connection to the store at path (tg_store_open_reader): calls of the methods
 * its generation declares read-only then run on it, outside the store lock. Returns 0, or -1
 * after logging why (h then runs every call under the store lock). */
int tg_handler_open_reader(tg_handler_t *h, const char *path);
/* What the handler's batcher calls (tg_batch_new): run the read-only calls and hand out their
 * replies, run the others under the store lock, deliver their replies after the commit. */
tg_batch_runner_t tg_handler_runner(tg_handler_t *h);
/* Makes next the generation new calls run on. Calls already running finish on theirs; the
 * old generation closes when its last call ends. Takes the generation lock (the caller, a
 * reload, holds the store lock). Returns 0, or -1 (nothing changed). */
int tg_handler_swap(tg_handler_t *h, tg_script_t *next);
/* A tg_http_task_fn (ctx is a tg_handler_t): queues the call for the turn's batch and returns 0
 * (-503 when the store is lost, -1 when out of memory); the reply goes to http->deliver once the
 * batch has committed (or, when a rule waits on the network, once it has finished). Always
 * answers: when the rule cannot, its changes are rolled back and the fallback is sent; when the
 * commit fails the connection is dropped unanswered (deliver with a NULL reply). */
int tg_handler_task(void *ctx, tg_http_t *http, const char *body, size_t len);
/* A tg_http_abandon_fn: the client of a waiting call is gone; the call still runs to its end. */
void tg_handler_abandon(void *ctx, tg_http_t *http);
/* Number of calls waiting on the network; safe to call from any thread. */
int tg_handler_waiting(const tg_handler_t *h);
/* Number of calls not yet answered: queued, waiting on the network, or held for the commit. */
int tg_handler_in_flight(const tg_handler_t *h);
/* Drops the handler's reference to its generation and frees its buffers. */
void tg_handler_free(tg_handler_t *h);

#endif
