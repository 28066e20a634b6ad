#include "core/mem.h"

#include <stdlib.h>

void *dl_alloc_aligned(size_t size) {
    if (size == 0) size = DL_ALIGN;
    size_t rounded = (size + DL_ALIGN - 1) / DL_ALIGN * DL_ALIGN;
    if (rounded < size) return NULL;
    return aligned_alloc(DL_ALIGN, rounded);
}

void dl_free_aligned(void *p) { free(p); }

void dl_touch_pages(void *p, size_t size) {
    volatile unsigned char *c = p; /* volatile: not folded into a calloc */
    for (size_t i = 0; i < size; i += 4096) c[i] = 0;
    if (size) c[size - 1] = 0;
}
