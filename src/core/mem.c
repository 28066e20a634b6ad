#include "core/mem.h"

#include <stdlib.h>

void *dl_alloc_aligned(size_t size) {
    if (size == 0) size = DL_ALIGN;
    size_t rounded = (size + DL_ALIGN - 1) / DL_ALIGN * DL_ALIGN;
    if (rounded < size) return NULL;
    return aligned_alloc(DL_ALIGN, rounded);
}

void dl_free_aligned(void *p) { free(p); }
