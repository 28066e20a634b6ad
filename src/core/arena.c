#include "core/arena.h"

#include <stdlib.h>

#include "core/mem.h"

struct dl_arena_chunk {
    dl_arena_chunk *next;
    size_t size, used;
    unsigned char *data;
};

void dl_arena_init(dl_arena *a) {
    a->chunks = NULL;
    a->used_total = a->high_water = a->n_system_allocs = 0;
}

static void free_chunks(dl_arena_chunk *c) {
    while (c) {
        dl_arena_chunk *n = c->next;
        dl_free_aligned(c->data);
        free(c);
        c = n;
    }
}

void dl_arena_free(dl_arena *a) {
    free_chunks(a->chunks);
    dl_arena_init(a);
}

static dl_arena_chunk *new_chunk(dl_arena *a, size_t size) {
    dl_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = dl_alloc_aligned(size);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = a->chunks;
    a->chunks = c;
    a->n_system_allocs++;
    return c;
}

float *dl_arena_floats(dl_arena *a, size_t count) {
    size_t bytes;
    if (!dl_mul_size(count ? count : 1, sizeof(float), &bytes)) return NULL;
    bytes = (bytes + DL_ALIGN - 1) / DL_ALIGN * DL_ALIGN;
    dl_arena_chunk *c = a->chunks;
    if (!c || c->size - c->used < bytes) {
        size_t size = bytes > ((size_t)16 << 20) ? bytes : ((size_t)16 << 20);
        c = new_chunk(a, size);
        if (!c) return NULL;
    }
    float *p = (float *)(c->data + c->used);
    c->used += bytes;
    a->used_total += bytes;
    if (a->used_total > a->high_water) a->high_water = a->used_total;
    return p;
}

void dl_arena_reset(dl_arena *a) {
    if (a->chunks && a->chunks->next) {
        /* several chunks were needed: replace them by one block of the high-water size */
        free_chunks(a->chunks);
        a->chunks = NULL;
        new_chunk(a, a->high_water);
    }
    for (dl_arena_chunk *c = a->chunks; c; c = c->next) c->used = 0;
    a->used_total = 0;
}
