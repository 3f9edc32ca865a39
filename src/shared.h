/* shared.h: a small key-value space that rules share across workers and rules generations (like
 * OpenResty's lua_shared_dict): numbers, strings and booleans under string keys, with expiry,
 * atomic increments and token buckets, in bounded memory. One mutex of its own guards it; each
 * operation holds it for a hash look-up and a few assignments. It lives in the process only: a
 * restart empties it. */
#ifndef TG_SHARED_H
#define TG_SHARED_H

#include <stddef.h>

#include "buf.h"

typedef struct tg_shared_s tg_shared_t;

enum { TG_SHARED_KEY_MAX = 255, TG_SHARED_STRING_MAX = 65536 };

/* What a key holds. */
typedef enum { TG_SHARED_NONE, TG_SHARED_NUMBER, TG_SHARED_STRING, TG_SHARED_BOOLEAN, TG_SHARED_BUCKET } tg_shared_type_t;

typedef struct tg_shared_value_s {
  tg_shared_type_t type;
  double number;      /* TG_SHARED_NUMBER; TG_SHARED_BOOLEAN: 0 or 1 */
  const char *string; /* TG_SHARED_STRING (not owned: copied in by set, out by get) */
  size_t len;
} tg_shared_value_t;

/* Answers of the operations besides 0 (done). */
enum { TG_SHARED_EXISTS = 1, TG_SHARED_NOT_NUMBER = 2, TG_SHARED_TOO_LARGE = -1, TG_SHARED_NO_MEMORY = -2 };

/* A space holding at most capacity bytes of entries (keys, values and each entry's bookkeeping);
 * its index is sized for it once, so no operation ever rehashes. Returns NULL when out of memory. */
tg_shared_t *tg_shared_new(size_t capacity);
void tg_shared_free(tg_shared_t *space);

/* Every operation takes `now` (seconds since the epoch, the rules' clock): an entry past its
 * expiry reads as absent. ttl <= 0 never expires. When a write needs room, entries past their
 * time go first, then the least recently used ones (counted as evictions). */

/* Copies the value of key into *out (a string into out_text, which must hold
 * TG_SHARED_STRING_MAX bytes); TG_SHARED_NONE when absent. */
void tg_shared_get(tg_shared_t *space, const char *key, size_t key_len, double now, tg_shared_value_t *out,
                   char *out_text);
/* Sets key to value (TG_SHARED_NONE deletes it). only_new: do nothing and answer
 * TG_SHARED_EXISTS when the key holds a value. Returns 0, TG_SHARED_EXISTS, TG_SHARED_TOO_LARGE
 * (key or value over its maximum, or more than an eighth of the space) or TG_SHARED_NO_MEMORY. */
int tg_shared_set(tg_shared_t *space, const char *key, size_t key_len, const tg_shared_value_t *value, double ttl,
                  double now, int only_new);
/* Adds delta to the number under key; an absent key starts at init (and then gets ttl).
 * *result is the new value. Returns 0, TG_SHARED_NOT_NUMBER, TG_SHARED_TOO_LARGE or
 * TG_SHARED_NO_MEMORY. */
int tg_shared_incr(tg_shared_t *space, const char *key, size_t key_len, double delta, double init, double ttl,
                   double now, double *result);
/* A token bucket under key: `burst` tokens at most, refilled at `rate` tokens a second. Takes
 * `cost` tokens when it holds as many: *allowed = 1 and *value the tokens left; else *allowed = 0
 * and *value the seconds until they would be there. A new bucket starts full; one that would be
 * full again expires then (it is the same as a new one), and so does a key holding something
 * else: a limit must not refuse for good over a value it cannot read. Returns 0,
 * TG_SHARED_TOO_LARGE or TG_SHARED_NO_MEMORY. */
int tg_shared_take(tg_shared_t *space, const char *key, size_t key_len, double rate, double burst, double cost,
                   double now, int *allowed, double *value);

/* The space's size for /metrics and specs. */
typedef struct tg_shared_stats_s {
  size_t capacity, used, entries;
  unsigned long long evictions;
} tg_shared_stats_t;
void tg_shared_stats(tg_shared_t *space, tg_shared_stats_t *stats);
/* Appends the space's gauges and eviction counter in the Prometheus text format. */
void tg_shared_metrics(tg_shared_t *space, tg_buf_t *out);

#endif
