/* Aligned allocation and overflow-checked size arithmetic. */
#ifndef DL_CORE_MEM_H
#define DL_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>

#define DL_ALIGN 64

/* 64-byte aligned, NULL on failure or size 0 overflow. Free with dl_free_aligned. */
void *dl_alloc_aligned(size_t size);
void dl_free_aligned(void *p);

/* Write every page of p[0..size) once, so that a buffer kept for the process's life is resident
 * from the start (fresh mmapped memory counts in RSS only once touched) and RSS does not step
 * up later, the first time a larger part of it is used. */
void dl_touch_pages(void *p, size_t size);

/* a*b (and a*b*c) into *out; false on overflow. */
static inline bool dl_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) return false;
    *out = a * b;
    return true;
}
static inline bool dl_mul3_size(size_t a, size_t b, size_t c, size_t *out) {
    size_t t;
    return dl_mul_size(a, b, &t) && dl_mul_size(t, c, out);
}

#endif
