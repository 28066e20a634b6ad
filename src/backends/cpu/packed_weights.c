/* Weights packed once per detector (packed_weights.h). */
#include "backends/cpu/packed_weights.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"

typedef struct buffer {
    const float *p;
    size_t floats;
} buffer;

typedef struct entry {
    const float *w;
    int ldw, rows, k;
    bool is_b, bf16;
    dl_gemm_packed packed;
    float *data;
} entry;

struct dl_packed_weights {
    buffer *bufs; /* [n_bufs] by dl_wref.buf */
    size_t n_bufs;
    bool has_buffers;
    size_t stale; /* references that failed dl_packed_weights_check */
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
    free(pw->bufs);
    free(pw);
}

bool dl_packed_weights_set_buffers(dl_packed_weights *pw, void *const *ptrs, const size_t *bytes,
                                   size_t n) {
    buffer *b = calloc(n ? n : 1, sizeof *b);
    if (!b) return false;
    for (size_t i = 0; i < n; i++)
        if (ptrs[i]) b[i] = (buffer){ptrs[i], bytes[i] / sizeof(float)};
    free(pw->bufs);
    pw->bufs = b;
    pw->n_bufs = n;
    pw->has_buffers = true;
    return true;
}

/* r names buffer r->buf, at r->offset, with `floats` inside it, and host is that address */
static bool ref_valid(const dl_packed_weights *pw, const dl_wref *r, size_t floats) {
    if (r->buf >= pw->n_bufs) return false;
    const buffer *b = &pw->bufs[r->buf];
    return b->p && r->offset <= b->floats && floats <= b->floats - r->offset &&
           b->p + r->offset == r->host;
}

bool dl_packed_weights_check(dl_packed_weights *pw, const dl_wref *r, size_t floats) {
    if (!pw || !pw->has_buffers || !r || !r->host || r->buf == DL_WBUF_NONE) return true;
    if (ref_valid(pw, r, floats)) return true;
    pw->stale++;
    return false;
}

size_t dl_packed_weights_take_stale(dl_packed_weights *pw) {
    if (!pw) return 0;
    size_t n = pw->stale;
    pw->stale = 0;
    return n;
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

const dl_gemm_packed *dl_packed_weights_get(dl_packed_weights *pw, bool is_b, const dl_wref *ref,
                                            size_t sub, int ldw, int rows, int k, bool bf16) {
    if (!pw || !ref || !ref->host || ref->buf == DL_WBUF_NONE || rows <= 0 || k <= 0 || ldw < k)
        return NULL;
    const float *w = ref->host + sub;
    entry key = {w, ldw, rows, k, is_b, bf16, {0}, NULL};
    if (pw->cap) {
        for (size_t h = slot_of(&key, pw->cap); pw->slots[h].w; h = (h + 1) & (pw->cap - 1)) {
            entry *e = &pw->slots[h];
            if (!same_key(e, &key)) continue;
            /* packed for another level: not usable now (the driver would ignore it) */
            return e->data ? &e->packed : NULL;
        }
    }
    /* the weight lies inside the buffer its reference names */
    if (!ref_valid(pw, ref, sub + (size_t)(rows - 1) * ldw + (size_t)k)) return NULL;
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
