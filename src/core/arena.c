#include "core/arena.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/mem.h"

struct dl_arena_block {
    dl_arena_block *next;
    size_t offset, size;
    bool used;
};

struct dl_arena_overflow {
    dl_arena_overflow *next;
    void *data;
    size_t size;
};

static void *host_alloc(void *ctx, size_t bytes) {
    (void)ctx;
    return dl_alloc_aligned(bytes);
}

static void host_free(void *ctx, void *p) {
    (void)ctx;
    dl_free_aligned(p);
}

void dl_arena_init(dl_arena *a, dl_arena_alloc_fn alloc, dl_arena_free_fn release, void *ctx) {
    a->alloc = alloc ? alloc : host_alloc;
    a->release = alloc ? release : host_free;
    a->alloc_ctx = ctx;
    a->region = NULL;
    a->region_size = 0;
    a->blocks = a->spare = NULL;
    a->overflow = NULL;
    a->live = a->peak = a->n_system_allocs = 0;
    a->grow = false;
}

static void free_list(dl_arena_block *b) {
    while (b) {
        dl_arena_block *n = b->next;
        free(b);
        b = n;
    }
}

static void free_overflow(dl_arena *a) {
    while (a->overflow) {
        dl_arena_overflow *n = a->overflow->next;
        a->release(a->alloc_ctx, a->overflow->data);
        free(a->overflow);
        a->overflow = n;
    }
}

void dl_arena_free(dl_arena *a) {
    free_overflow(a);
    free_list(a->blocks);
    free_list(a->spare);
    a->release(a->alloc_ctx, a->region);
    dl_arena_init(a, a->alloc, a->release, a->alloc_ctx);
}

static dl_arena_block *new_block(dl_arena *a) {
    dl_arena_block *b = a->spare;
    if (b) {
        a->spare = b->next;
        return b;
    }
    a->n_system_allocs++;
    return malloc(sizeof *b);
}

/* One free block covering the whole region. */
static void reset_blocks(dl_arena *a) {
    dl_arena_block *b = a->blocks;
    while (b) {
        dl_arena_block *n = b->next;
        b->next = a->spare;
        a->spare = b;
        b = n;
    }
    a->blocks = NULL;
    if (a->region_size) {
        dl_arena_block *whole = new_block(a);
        if (!whole) return;
        *whole = (dl_arena_block){.next = NULL, .offset = 0, .size = a->region_size, .used = false};
        a->blocks = whole;
    }
}

float *dl_arena_floats(dl_arena *a, size_t count) {
    size_t bytes;
    if (!dl_mul_size(count ? count : 1, sizeof(float), &bytes)) return NULL;
    bytes = (bytes + DL_ALIGN - 1) / DL_ALIGN * DL_ALIGN;
    for (dl_arena_block *b = a->blocks; b; b = b->next) {
        if (b->used || b->size < bytes) continue;
        if (b->size > bytes) { /* split: the tail stays free */
            dl_arena_block *rest = new_block(a);
            if (!rest) return NULL;
            *rest = (dl_arena_block){.next = b->next,
                                     .offset = b->offset + bytes,
                                     .size = b->size - bytes,
                                     .used = false};
            b->next = rest;
            b->size = bytes;
        }
        b->used = true;
        a->live += bytes;
        if (a->live > a->peak) a->peak = a->live;
        return (float *)(a->region + b->offset);
    }
    /* does not fit (first passes): a separate allocation, folded in at the next reset */
    dl_arena_overflow *o = malloc(sizeof *o);
    void *p = o ? a->alloc(a->alloc_ctx, bytes) : NULL;
    if (!p) {
        free(o);
        return NULL;
    }
    a->n_system_allocs += 2;
    o->data = p;
    o->size = bytes;
    o->next = a->overflow;
    a->overflow = o;
    a->grow = true;
    a->live += bytes;
    if (a->live > a->peak) a->peak = a->live;
    return p;
}

void dl_arena_release(dl_arena *a, void *p) {
    if (!p) return;
    unsigned char *c = p;
    if (a->region && c >= a->region && c < a->region + a->region_size) {
        size_t off = (size_t)(c - a->region);
        dl_arena_block *prev = NULL;
        for (dl_arena_block *b = a->blocks; b; prev = b, b = b->next) {
            if (b->offset != off || !b->used) continue;
            b->used = false;
            a->live -= b->size;
            /* coalesce with the free neighbours */
            dl_arena_block *n = b->next;
            if (n && !n->used) {
                b->size += n->size;
                b->next = n->next;
                n->next = a->spare;
                a->spare = n;
            }
            if (prev && !prev->used) {
                prev->size += b->size;
                prev->next = b->next;
                b->next = a->spare;
                a->spare = b;
            }
            return;
        }
        return;
    }
    for (dl_arena_overflow **link = &a->overflow; *link; link = &(*link)->next) {
        dl_arena_overflow *o = *link;
        if (o->data != p) continue;
        a->live -= o->size;
        *link = o->next;
        a->release(a->alloc_ctx, o->data);
        free(o);
        a->grow = true; /* the region is too small: resize at the next reset */
        return;
    }
}

void dl_arena_reset(dl_arena *a) {
    if (a->overflow || a->grow) {
        a->grow = false;
        /* grow to the peak live size plus half for first-fit fragmentation */
        free_overflow(a);
        a->release(a->alloc_ctx, a->region);
        size_t size = a->peak + a->peak / 2 + DL_ALIGN;
        /* it overflowed although the peak fitted: fragmentation, so grow the region itself */
        if (a->region_size && size <= a->region_size + a->region_size / 2)
            size = a->region_size + a->region_size / 2;
        size = (size + DL_ALIGN - 1) / DL_ALIGN * DL_ALIGN;
        a->region = a->alloc(a->alloc_ctx, size);
        a->region_size = a->region ? size : 0;
        a->n_system_allocs++;
        /* block records for the splits of later passes, made now rather than on the hot path */
        for (int i = 0; i < 512; i++) {
            dl_arena_block *b = malloc(sizeof *b);
            if (!b) break;
            b->next = a->spare;
            a->spare = b;
        }
    }
    a->live = 0;
    reset_blocks(a);
}
