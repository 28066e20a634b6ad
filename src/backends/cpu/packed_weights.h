/*
 * The CPU backend's per-detector state: GEMM weights packed once (gemm.h: dl_gemm_packed), so
 * that no GEMM task packs a conv's or a linear layer's weights again on every call (issue 15).
 *
 * Only the model's own weights are packed: the backend's upload_weights records the model's
 * weight buffers, and an operand that is not one of them (ops.h: dl_wref with buf
 * DL_WBUF_NONE) is never cached. Every reference an op receives is checked against the
 * buffers (dl_packed_weights_check): the CPU is where a stale one (a builder that moved a
 * weight without taking its reference again) is caught, since a device backend would read its
 * copy of the buffer named and compute with the wrong weights. Each weight is packed on its first
 * use (the first pass, which also sizes the arena), for the kernel and precision active then; a
 * detector runs one pass at a time, so no lock is needed. Packing stops at a byte cap (and on
 * allocation failure): the op then packs per call as before, with the same bits.
 * dl_packed_weights_bytes is the memory it holds.
 */
#ifndef DL_BACKENDS_CPU_PACKED_WEIGHTS_H
#define DL_BACKENDS_CPU_PACKED_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/cpu/gemm.h"
#include "ops/ops.h"

typedef struct dl_packed_weights dl_packed_weights;

/* NULL when out of memory. max_bytes: the cap on packed data. */
dl_packed_weights *dl_packed_weights_new(size_t max_bytes);
void dl_packed_weights_free(dl_packed_weights *pw);
/* Record the model's weight buffers: buffer i (dl_wref.buf) is ptrs[i], bytes[i] long (NULL:
 * an empty index). False when out of memory. */
bool dl_packed_weights_set_buffers(dl_packed_weights *pw, void *const *ptrs, const size_t *bytes,
                                   size_t n);
/* Whether r (NULL, absent or not a model weight: true) is what it says: host at offset floats
 * into buffer buf, `floats` of it inside the buffer. Checked only once buffers are recorded;
 * a false answer is counted. */
bool dl_packed_weights_check(dl_packed_weights *pw, const dl_wref *r, size_t floats);
/* References that failed the check since the last call (ops_cpu.c's sync reports them as an
 * error); zeroes the count. */
size_t dl_packed_weights_take_stale(dl_packed_weights *pw);
/* The packed form of the weight `sub` floats past w (A [rows,k] or B [rows,k] given transposed,
 * ld ldw) for the active kernel and precision; packed now when first asked. NULL: not cached
 * (pw NULL, w not a model weight, cap reached, no memory). */
const dl_gemm_packed *dl_packed_weights_get(dl_packed_weights *pw, bool is_b, const dl_wref *w,
                                            size_t sub, int ldw, int rows, int k, bool bf16);
/* Bytes of packed data held. */
size_t dl_packed_weights_bytes(const dl_packed_weights *pw);

#endif
