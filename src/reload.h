/* reload.h: rules generations: watch the rules directory, rebuild on change or on request,
 * swap in only a generation that loaded completely, and remember how the last reload went. */
#ifndef TG_RELOAD_H
#define TG_RELOAD_H

#include <uv.h>

#include "buf.h"
#include "handler.h"
#include "script.h"

enum { TG_RELOAD_MAX_HANDLERS = 64 }; /* --workers at most */
enum { TG_RELOAD_HISTORY = 20 };      /* reloads remembered for the console */
/* A reload runs on a live gateway while clients wait: the rules' own code in it (every file's
 * top-level code and the self-checks, all together) may take this many call limits. */
enum { TG_RELOAD_RULES_FACTOR = 2 };

/* One reload (or the start), as the console's rules view lists it. */
typedef struct tg_reload_entry_s {
  double time;         /* seconds since the epoch */
  double ms;           /* how long it took */
  unsigned generation; /* the generation serving afterwards */
  int ok;
  char trigger[32];
  char error[1024]; /* file:line and message when it failed */
} tg_reload_entry_t;
enum { TG_RELOAD_SUBDIRS = 3 }; /* bin/, policies/, lib/: watched apart from the top */

typedef struct tg_reload_s {
  uv_loop_t *loop;
  uv_fs_event_t watch;
  uv_fs_event_t subdir_watch[TG_RELOAD_SUBDIRS]; /* rules/bin/, policies/, lib/ (when they exist) */
  int subdir_ready[TG_RELOAD_SUBDIRS];           /* the handle is initialised (closed at stop) */
  uv_timer_t debounce;
  uv_timer_t pending; /* a requested reload, waiting for its turn (tg_reload_request) */
  int pending_by_signal; /* one of the requests it stands for was a SIGHUP */
  const char *pending_trigger; /* else the last one's trigger */
  uv_timer_t memory_check;     /* looks for a generation at its memory limit (tg_script_exhausted) */
  unsigned memory_rebuilds;    /* generations rebuilt for that */
  unsigned memory_seen;        /* the generation last found exhausted (0: none) */
  double next_allowed;   /* monotonic seconds: the earliest a reload may start (the rest after the last) */
  unsigned coalesced;    /* requests that found a reload already pending */
  void (*on_signal)(void *data); /* runs a reload a SIGHUP asked for (certificates, rules, tokens) */
  void *on_signal_data;
  int watching;
  tg_handler_t **handlers; /* one per worker: each gets a generation of its own */
  int handler_count;
  tg_script_config_t config;
  unsigned generation; /* 1 for the rules loaded at start-up */
  unsigned succeeded, failed;
  int last_ok;
  double last_time; /* seconds since the epoch */
  char last_trigger[32];
  char last_error[2048];
  char files_json[16384];                       /* the current generation's files and hashes */
  tg_reload_entry_t history[TG_RELOAD_HISTORY]; /* the newest at (history_count - 1) % TG_RELOAD_HISTORY */
  unsigned history_count;                       /* reloads ever recorded, the start included */
} tg_reload_t;

/* Starts watching config->rules_dir; the handlers already run generation 1. Returns 0 or a
 * negative libuv error (reload by signal still works then). */
int tg_reload_start(tg_reload_t *reload, uv_loop_t *loop, tg_handler_t **handlers, int handler_count,
                    const tg_script_config_t *config);
/* Builds a new generation for every handler now and swaps them all in if they all load;
 * trigger names the cause for the log. Holds the store lock throughout, so no worker runs a
 * call meanwhile. Returns 0 when the new rules serve, -1 when the old ones keep serving. */
int tg_reload_now(tg_reload_t *reload, const char *trigger);
/* Reload requests (a SIGHUP, a saved file) do not reload at once: one that arrives while a reload
 * is pending or running joins it, and a reload starts no sooner than TG_RELOAD_REST_FACTOR times
 * the last one's length after it ended (at least TG_RELOAD_MIN_REST_MS), so clients get half
 * the loop whatever the rate of requests. trigger names the cause for the log: "SIGHUP" (the
 * pending reload then runs through on_signal), "file_change" or "memory". */
enum { TG_RELOAD_REST_FACTOR = 1, TG_RELOAD_MIN_REST_MS = 100 };
void tg_reload_request(tg_reload_t *reload, const char *trigger);
/* 1 while some worker's generation is at its memory limit (tg_script_exhausted): it is rebuilt
 * from the same files within a second or so; until then (or for good, if the rebuild fails) its
 * calls fail. */
int tg_reload_memory_exhausted(const tg_reload_t *reload);
/* Appends the last TG_RELOAD_HISTORY reloads, newest first, as a JSON array of {time, ms,
 * generation, ok, trigger, error}. */
void tg_reload_history_json(const tg_reload_t *reload, tg_buf_t *out);
/* Appends the reload state as a JSON object. */
void tg_reload_status_json(const tg_reload_t *reload, tg_buf_t *out);
/* Stops watching; the handles close on the next loop turn. */
void tg_reload_stop(tg_reload_t *reload);

#endif
