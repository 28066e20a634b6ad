/* Weights packed once per detector (packed_weights.h). */
#include "backends/cpu/packed_weights.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"

typedef struct range {
    uintptr_t lo, hi; /* [lo, hi) */
} range;

typedef struct entry {
    const float *w;
    int ldw, rows, k;
    bool is_b, bf16;
    dl_gemm_packed packed;
    float *data;
} entry;

struct dl_packed_weights {
    range *ranges; /* sorted by lo */
    size_t n_ranges;
    entry *slots; /* open addressing, capacity a power of two */
    size_t cap, used;
    size_t bytes, max_bytes;
};

dl_packed_weights *dl_packed_weights_new(size_t max_bytes) {
    dl_packed_weights *pw = calloc(1, sizeof *pw);
    if (pw) pw->max_bytes = max_bytes;
    return pw;
}

void dl_packed_weights_free(dl_packed_weights *pw) {
    if (!pw) return;
    for (size_t i = 0; i < pw->cap; i++) dl_free_aligned(pw->slots[i].data);
    free(pw->slots);
    free(pw->ranges);
    free(pw);
}

static int cmp_range(const void *a, const void *b) {
    uintptr_t x = ((const range *)a)->lo, y = ((const range *)b)->lo;
    return x < y ? -1 : x > y;
}

bool dl_packed_weights_set_ranges(dl_packed_weights *pw, void *const *ptrs, const size_t *bytes,
                                  size_t n) {
    range *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return false;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ptrs[i] && bytes[i])
            r[m++] = (range){(uintptr_t)ptrs[i], (uintptr_t)ptrs[i] + bytes[i]};
    qsort(r, m, sizeof *r, cmp_range);
    free(pw->ranges);
    pw->ranges = r;
    pw->n_ranges = m;
    return true;
}

/* [p, p + bytes) inside one recorded allocation */
static bool is_weight(const dl_packed_weights *pw, const float *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    size_t lo = 0, hi = pw->n_ranges; /* last range with lo <= a */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pw->ranges[mid].lo <= a) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return false;
    const range *r = &pw->ranges[lo - 1];
    return a + bytes <= r->hi && a + bytes >= a;
}

static size_t slot_of(const entry *e, size_t cap) {
    uintptr_t h = (uintptr_t)e->w * 0x9E3779B97F4A7C15ull;
    h ^= (uintptr_t)(unsigned)e->rows * 31u + (uintptr_t)(unsigned)e->k * 131u +
         (uintptr_t)e->is_b * 7u + (uintptr_t)e->bf16 * 3u;
    return (size_t)(h >> 17) & (cap - 1);
}

static bool same_key(const entry *a, const entry *b) {
    return a->w == b->w && a->ldw == b->ldw && a->rows == b->rows && a->k == b->k &&
           a->is_b == b->is_b && a->bf16 == b->bf16;
}

static bool grow(dl_packed_weights *pw) {
    size_t cap = pw->cap ? pw->cap * 2 : 256;
    entry *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < pw->cap; i++) {
        if (!pw->slots[i].w) continue;
        size_t h = slot_of(&pw->slots[i], cap);
        while (s[h].w) h = (h + 1) & (cap - 1);
        s[h] = pw->slots[i];
        s[h].packed.data = s[h].data;
    }
    free(pw->slots);
    pw->slots = s;
    pw->cap = cap;
    return true;
}

const dl_gemm_packed *dl_packed_weights_get(dl_packed_weights *pw, bool is_b, const float *w,
                                            int ldw, int rows, int k, bool bf16) {
    if (!pw || !w || rows <= 0 || k <= 0 || ldw < k) return NULL;
    entry key = {w, ldw, rows, k, is_b, bf16, {0}, NULL};
    if (pw->cap) {
        for (size_t h = slot_of(&key, pw->cap); pw->slots[h].w; h = (h + 1) & (pw->cap - 1)) {
            entry *e = &pw->slots[h];
            if (!same_key(e, &key)) continue;
            /* packed for another level: not usable now (the driver would ignore it) */
            return e->data ? &e->packed : NULL;
        }
    }
    if (!is_weight(pw, w, ((size_t)(rows - 1) * ldw + (size_t)k) * sizeof(float))) return NULL;
    if ((pw->used + 1) * 2 > pw->cap && !grow(pw)) return NULL;
    size_t floats = dl_gemm_packed_floats(is_b, rows, k, bf16);
    size_t bytes = floats * sizeof(float);
    float *data = NULL;
    if (pw->bytes + bytes <= pw->max_bytes) data = dl_alloc_aligned(bytes);
    /* an entry without data remembers the refusal, so the check is not repeated */
    size_t h = slot_of(&key, pw->cap);
    while (pw->slots[h].w) h = (h + 1) & (pw->cap - 1);
    entry *e = &pw->slots[h];
    *e = key;
    pw->used++;
    if (!data) return NULL;
    dl_gemm_pack_weights(&e->packed, is_b, w, ldw, rows, k, bf16, data);
    e->data = data;
    pw->bytes += bytes;
    return &e->packed;
}

size_t dl_packed_weights_bytes(const dl_packed_weights *pw) { return pw ? pw->bytes : 0; }
