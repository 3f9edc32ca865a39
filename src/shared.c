/* shared.c: the shared key-value space (shared.h): a chained hash table sized once from the
 * capacity, and a least-recently-used list that eviction takes from the old end. */
#include "shared.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry_s {
  struct entry_s *chain;       /* the next entry of the same hash slot */
  struct entry_s *newer, *older; /* the LRU list: most recently used at space->newest */
  double expires;              /* seconds since the epoch; 0: never */
  uint32_t hash;
  uint32_t key_len, text_len;
  tg_shared_type_t type;
  double number; /* a number, a boolean (0 or 1), a bucket's tokens */
  double stamp;  /* a bucket's last refill */
  char bytes[];  /* the key, then a string value */
} entry_t;

struct tg_shared_s {
  pthread_mutex_t lock;
  entry_t **slots;
  size_t slot_mask;
  entry_t *newest, *oldest;
  size_t capacity, used, entries;
  unsigned long long evictions;
};

enum { BYTES_PER_SLOT = 64 }; /* a slot per 64 bytes of capacity: chains stay about one long */

static uint32_t hash_key(const char *key, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)key[i]) * 16777619u;
  return h;
}

static size_t entry_size(size_t key_len, size_t text_len) { return sizeof(entry_t) + key_len + text_len; }

tg_shared_t *tg_shared_new(size_t capacity) {
  tg_shared_t *space = calloc(1, sizeof *space);
  if (!space)
    return NULL;
  size_t slots = 64;
  while (slots < capacity / BYTES_PER_SLOT)
    slots <<= 1;
  space->slots = calloc(slots, sizeof *space->slots);
  if (!space->slots) {
    free(space);
    return NULL;
  }
  space->slot_mask = slots - 1;
  space->capacity = capacity;
  pthread_mutex_init(&space->lock, NULL);
  return space;
}

void tg_shared_free(tg_shared_t *space) {
  if (!space)
    return;
  for (entry_t *entry = space->newest, *next; entry; entry = next) {
    next = entry->older;
    free(entry);
  }
  free(space->slots);
  pthread_mutex_destroy(&space->lock);
  free(space);
}

static void unlink_lru(tg_shared_t *space, entry_t *entry) {
  if (entry->newer)
    entry->newer->older = entry->older;
  else
    space->newest = entry->older;
  if (entry->older)
    entry->older->newer = entry->newer;
  else
    space->oldest = entry->newer;
  entry->newer = entry->older = NULL;
}

static void push_newest(tg_shared_t *space, entry_t *entry) {
  entry->older = space->newest;
  entry->newer = NULL;
  if (space->newest)
    space->newest->newer = entry;
  space->newest = entry;
  if (!space->oldest)
    space->oldest = entry;
}

/* The slot pointer that points at the entry for key (or at the NULL ending its chain). */
static entry_t **find(tg_shared_t *space, const char *key, size_t key_len, uint32_t hash) {
  entry_t **at = &space->slots[hash & space->slot_mask];
  while (*at && !((*at)->hash == hash && (*at)->key_len == key_len && memcmp((*at)->bytes, key, key_len) == 0))
    at = &(*at)->chain;
  return at;
}

static void remove_entry(tg_shared_t *space, entry_t *entry) {
  entry_t **at = find(space, entry->bytes, entry->key_len, entry->hash);
  *at = entry->chain;
  unlink_lru(space, entry);
  space->used -= entry_size(entry->key_len, entry->text_len);
  space->entries--;
  free(entry);
}

static int expired(const entry_t *entry, double now) { return entry->expires > 0 && entry->expires <= now; }

/* The live entry for key, made the most recently used; an expired one is removed on the way. */
static entry_t *lookup(tg_shared_t *space, const char *key, size_t key_len, uint32_t hash, double now) {
  entry_t *entry = *find(space, key, key_len, hash);
  if (!entry)
    return NULL;
  if (expired(entry, now)) {
    remove_entry(space, entry);
    return NULL;
  }
  unlink_lru(space, entry);
  push_newest(space, entry);
  return entry;
}

/* Makes room for `need` more bytes, from the old end of the list: entries past their time (which
 * nobody reads, so they drift there) go uncounted, live ones count as evicted. Each removal is
 * O(1). Returns 0, or -1 when even an empty space would not hold it. */
static int make_room(tg_shared_t *space, size_t need, double now) {
  if (need > space->capacity)
    return -1;
  while (space->used + need > space->capacity && space->oldest) {
    entry_t *victim = space->oldest;
    if (!expired(victim, now))
      space->evictions++;
    remove_entry(space, victim);
  }
  return 0;
}

/* A new entry for key holding text_len bytes of text (filled by the caller), linked in. */
static entry_t *create(tg_shared_t *space, const char *key, size_t key_len, uint32_t hash, size_t text_len,
                       double now, int *rc) {
  size_t size = entry_size(key_len, text_len);
  if (make_room(space, size, now) < 0) {
    *rc = TG_SHARED_TOO_LARGE;
    return NULL;
  }
  entry_t *entry = calloc(1, size);
  if (!entry) {
    *rc = TG_SHARED_NO_MEMORY;
    return NULL;
  }
  entry->hash = hash;
  entry->key_len = (uint32_t)key_len;
  entry->text_len = (uint32_t)text_len;
  memcpy(entry->bytes, key, key_len);
  entry_t **at = &space->slots[hash & space->slot_mask];
  entry->chain = *at;
  *at = entry;
  push_newest(space, entry);
  space->used += size;
  space->entries++;
  return entry;
}

static double expiry(double ttl, double now) { return ttl > 0 ? now + ttl : 0; }

void tg_shared_get(tg_shared_t *space, const char *key, size_t key_len, double now, tg_shared_value_t *out,
                   char *out_text) {
  uint32_t hash = hash_key(key, key_len);
  pthread_mutex_lock(&space->lock);
  entry_t *entry = lookup(space, key, key_len, hash, now);
  out->type = entry && entry->type != TG_SHARED_BUCKET ? entry->type : TG_SHARED_NONE;
  if (entry) {
    out->number = entry->number;
    out->len = entry->text_len;
    if (entry->type == TG_SHARED_STRING)
      memcpy(out_text, entry->bytes + entry->key_len, entry->text_len);
    out->string = out_text;
  }
  pthread_mutex_unlock(&space->lock);
}

/* Whether a key and a value of text_len bytes are within the limits: a value may take at most an
 * eighth of the space, so that one write cannot empty it. */
static int fits(const tg_shared_t *space, size_t key_len, size_t text_len) {
  return key_len <= TG_SHARED_KEY_MAX && text_len <= TG_SHARED_STRING_MAX &&
         entry_size(key_len, text_len) <= space->capacity / 8;
}

int tg_shared_set(tg_shared_t *space, const char *key, size_t key_len, const tg_shared_value_t *value, double ttl,
                  double now, int only_new) {
  size_t text_len = value->type == TG_SHARED_STRING ? value->len : 0;
  if (!fits(space, key_len, text_len))
    return TG_SHARED_TOO_LARGE;
  uint32_t hash = hash_key(key, key_len);
  int rc = 0;
  pthread_mutex_lock(&space->lock);
  entry_t *entry = lookup(space, key, key_len, hash, now);
  if (entry && only_new) {
    rc = TG_SHARED_EXISTS;
  } else if (value->type == TG_SHARED_NONE) {
    if (entry)
      remove_entry(space, entry);
  } else {
    if (entry && entry->text_len != text_len) { /* a new size: a new entry */
      remove_entry(space, entry);
      entry = NULL;
    }
    if (!entry)
      entry = create(space, key, key_len, hash, text_len, now, &rc);
    if (entry) {
      entry->type = value->type;
      entry->number = value->number;
      entry->expires = expiry(ttl, now);
      if (text_len)
        memcpy(entry->bytes + key_len, value->string, text_len);
    }
  }
  pthread_mutex_unlock(&space->lock);
  return rc;
}

int tg_shared_incr(tg_shared_t *space, const char *key, size_t key_len, double delta, double init, double ttl,
                   double now, double *result) {
  if (!fits(space, key_len, 0))
    return TG_SHARED_TOO_LARGE;
  uint32_t hash = hash_key(key, key_len);
  int rc = 0;
  pthread_mutex_lock(&space->lock);
  entry_t *entry = lookup(space, key, key_len, hash, now);
  if (entry && entry->type != TG_SHARED_NUMBER) {
    rc = TG_SHARED_NOT_NUMBER;
  } else {
    if (!entry && (entry = create(space, key, key_len, hash, 0, now, &rc))) {
      entry->type = TG_SHARED_NUMBER;
      entry->number = init;
      entry->expires = expiry(ttl, now);
    }
    if (entry)
      *result = entry->number += delta;
  }
  pthread_mutex_unlock(&space->lock);
  return rc;
}

int tg_shared_take(tg_shared_t *space, const char *key, size_t key_len, double rate, double burst, double cost,
                   double now, int *allowed, double *value) {
  if (!fits(space, key_len, 0))
    return TG_SHARED_TOO_LARGE;
  uint32_t hash = hash_key(key, key_len);
  int rc = 0;
  pthread_mutex_lock(&space->lock);
  entry_t *bucket = lookup(space, key, key_len, hash, now);
  if (bucket && bucket->type != TG_SHARED_BUCKET) { /* not a bucket (a value written there): a new one, full */
    remove_entry(space, bucket);
    bucket = NULL;
  }
  if (!bucket && (bucket = create(space, key, key_len, hash, 0, now, &rc))) {
    bucket->type = TG_SHARED_BUCKET;
    bucket->number = burst;
    bucket->stamp = now;
  }
  if (bucket) {
    if (now > bucket->stamp) { /* a clock set back, or another worker's later call first: no refill */
      bucket->number = fmin(burst, bucket->number + (now - bucket->stamp) * rate);
      bucket->stamp = now;
    }
    /* Epoch seconds carry about 0.2 us of rounding: a microsecond's worth of tokens is not missed. */
    *allowed = bucket->number >= cost - rate * 1e-6;
    if (*allowed)
      bucket->number = fmax(0, bucket->number - cost);
    *value = *allowed ? bucket->number : (cost - bucket->number) / rate;
    /* Full again after this long: from then on it is the same as a new bucket. */
    bucket->expires = bucket->stamp + (burst - bucket->number) / rate + 1;
  }
  pthread_mutex_unlock(&space->lock);
  return rc;
}

void tg_shared_stats(tg_shared_t *space, tg_shared_stats_t *stats) {
  pthread_mutex_lock(&space->lock);
  *stats = (tg_shared_stats_t){
      .capacity = space->capacity, .used = space->used, .entries = space->entries, .evictions = space->evictions};
  pthread_mutex_unlock(&space->lock);
}

void tg_shared_metrics(tg_shared_t *space, tg_buf_t *out) {
  tg_shared_stats_t stats;
  tg_shared_stats(space, &stats);
  tg_buf_printf(out,
                "# HELP taskgate_shared_bytes Bytes the rules' shared space holds (keys, values, bookkeeping).\n"
                "# TYPE taskgate_shared_bytes gauge\ntaskgate_shared_bytes %zu\n"
                "# HELP taskgate_shared_capacity_bytes The most the shared space holds (--shared-memory).\n"
                "# TYPE taskgate_shared_capacity_bytes gauge\ntaskgate_shared_capacity_bytes %zu\n"
                "# HELP taskgate_shared_entries Keys in the shared space.\n"
                "# TYPE taskgate_shared_entries gauge\ntaskgate_shared_entries %zu\n"
                "# HELP taskgate_shared_evictions_total Entries dropped, least recently used first, to make room.\n"
                "# TYPE taskgate_shared_evictions_total counter\ntaskgate_shared_evictions_total %llu\n",
                stats.used, stats.capacity, stats.entries, stats.evictions);
}
