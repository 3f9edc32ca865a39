/* arena.h: per-request bump allocator; everything a request decodes is freed in one go. */
#ifndef TG_ARENA_H
#define TG_ARENA_H

#include <stddef.h>

typedef struct tg_arena_chunk_s tg_arena_chunk_t;

typedef struct tg_arena_s {
  tg_arena_chunk_t *head;
  size_t used;  /* bytes handed out, to enforce limit */
  size_t limit; /* 0 means unlimited */
} tg_arena_t;

/* Returns size bytes aligned for any type, or NULL when out of memory or over the limit. */
void *tg_arena_alloc(tg_arena_t *arena, size_t size);
/* Copies len bytes and a terminating NUL into the arena; NULL on failure. */
char *tg_arena_strndup(tg_arena_t *arena, const char *s, size_t len);
/* Releases all chunks but the first, keeping it for the next request. */
void tg_arena_reset(tg_arena_t *arena);
/* Releases everything. */
void tg_arena_free(tg_arena_t *arena);

#endif
