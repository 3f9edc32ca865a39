/* arena.c: per-request bump allocator. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE 16384
#define ALIGN 16

struct tg_arena_chunk_s {
  tg_arena_chunk_t *next;
  size_t size;
  size_t used;
  _Alignas(ALIGN) unsigned char bytes[];
};

void *tg_arena_alloc(tg_arena_t *arena, size_t size) {
  size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
  if (arena->limit && arena->used + size > arena->limit)
    return NULL;
  tg_arena_chunk_t *chunk = arena->head;
  if (!chunk || chunk->size - chunk->used < size) {
    size_t want = size > CHUNK_SIZE ? size : CHUNK_SIZE;
    chunk = malloc(sizeof *chunk + want);
    if (!chunk)
      return NULL;
    chunk->size = want;
    chunk->used = 0;
    chunk->next = arena->head;
    arena->head = chunk;
  }
  void *p = chunk->bytes + chunk->used;
  chunk->used += size;
  arena->used += size;
  return p;
}

char *tg_arena_strndup(tg_arena_t *arena, const char *s, size_t len) {
  char *copy = tg_arena_alloc(arena, len + 1);
  if (!copy)
    return NULL;
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

void tg_arena_reset(tg_arena_t *arena) {
  tg_arena_chunk_t *chunk = arena->head;
  while (chunk && chunk->next) {
    tg_arena_chunk_t *next = chunk->next;
    free(chunk);
    chunk = next;
  }
  /* Keep one chunk (the oldest) so steady-state requests allocate nothing. */
  arena->head = chunk;
  if (chunk)
    chunk->used = 0;
  arena->used = 0;
}

void tg_arena_free(tg_arena_t *arena) {
  tg_arena_reset(arena);
  free(arena->head);
  arena->head = NULL;
}
