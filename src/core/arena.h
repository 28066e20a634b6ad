/* A bump allocator for activations. The first forward pass discovers how much it needs (in
 * chunks); dl_arena_reset then folds the chunks into one block of the high-water size, so later
 * passes allocate nothing. */
#ifndef DL_CORE_ARENA_H
#define DL_CORE_ARENA_H

#include <stddef.h>

typedef struct dl_arena_chunk dl_arena_chunk;

typedef struct dl_arena {
    dl_arena_chunk *chunks; /* newest first */
    size_t used_total;      /* bytes handed out since the last reset */
    size_t high_water;
    size_t n_system_allocs; /* malloc calls made (tests check it stays flat) */
} dl_arena;

void dl_arena_init(dl_arena *a);
void dl_arena_free(dl_arena *a);
/* 64-byte aligned floats; NULL when out of memory. */
float *dl_arena_floats(dl_arena *a, size_t count);
/* Forget all allocations (pointers become invalid); consolidate into one block. */
void dl_arena_reset(dl_arena *a);

#endif
