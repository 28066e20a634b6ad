/*
 * Activation memory: one region with a first-fit free list, so a buffer freed as soon as it is
 * dead is reused by the next layers (peak memory = what is live at once, not a pass's total).
 *
 * The first pass discovers the size: what does not fit in the region goes to separate
 * "overflow" allocations, and dl_arena_reset then replaces region + overflow by one region of
 * the peak live size plus a margin for fragmentation. The op sequence of a pass is
 * deterministic, so from the second pass on nothing is allocated from the system.
 */
#ifndef DL_CORE_ARENA_H
#define DL_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dl_arena_block dl_arena_block;
typedef struct dl_arena_overflow dl_arena_overflow;

/* Where the memory comes from (host or a device backend). */
typedef void *(*dl_arena_alloc_fn)(void *ctx, size_t bytes);
typedef void (*dl_arena_free_fn)(void *ctx, void *p);

typedef struct dl_arena {
    dl_arena_alloc_fn alloc;
    dl_arena_free_fn release;
    void *alloc_ctx;
    unsigned char *region;
    size_t region_size;
    dl_arena_block *blocks;      /* all blocks of the region in address order */
    dl_arena_block *spare;       /* recycled block records */
    dl_arena_overflow *overflow; /* allocations that did not fit (first passes only) */
    size_t live, peak;           /* bytes currently handed out, and their maximum */
    size_t n_system_allocs;      /* allocations made from the system (tests check it stays flat) */
    bool grow;                   /* something overflowed since the last reset */
} dl_arena;

/* alloc/release NULL: 64-byte aligned host memory. */
void dl_arena_init(dl_arena *a, dl_arena_alloc_fn alloc, dl_arena_free_fn release, void *ctx);
void dl_arena_free(dl_arena *a);
/* 64-byte aligned floats; NULL when out of memory. */
float *dl_arena_floats(dl_arena *a, size_t count);
/* Give a buffer back (NULL is ignored). */
void dl_arena_release(dl_arena *a, void *p);
/* Forget every allocation; resize the region to the peak seen if anything overflowed. */
void dl_arena_reset(dl_arena *a);

#endif
