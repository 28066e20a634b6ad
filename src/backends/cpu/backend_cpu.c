/* The CPU backend: host memory, the fast CPU op table, passes run as they come. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/packed_weights.h"
#include "core/error.h"

/* Cap on the weights packed once per detector (packed_weights.h): above it, ops pack per call.
 * heron-like (42.8M parameters) takes ~175 MB in fp32, half in bf16. */
#define PACKED_WEIGHTS_MAX_BYTES ((size_t)1 << 30)

static dl_status cpu_run(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels,
                         float *logits, float *boxes, dl_error *err) {
    bool replayable;
    dl_status s = p->run(p->user, h, w, pixels, logits, boxes, &replayable, err);
    /* the ops' sync reports a weight reference an op refused (packed_weights.h): the pass
     * computed without that weight, so its results are not results */
    dl_ops_ctx ctx = {.backend = b->op_ctx};
    dl_error later; /* a failed pass keeps its own message */
    dl_status st = b->ops->sync(&ctx, s == DL_OK ? err : &later);
    return s != DL_OK ? s : st;
}

/* The CPU reads the model's weights where they are: record its buffers, so that only they
 * are packed once and every reference is checked (packed_weights.h) */
static dl_status cpu_upload_weights(dl_backend *b, void *const *ptrs, const size_t *bytes, size_t n,
                                    dl_error *err) {
    if (!dl_packed_weights_set_buffers(b->op_ctx, ptrs, bytes, n))
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    return DL_OK;
}

static void cpu_close(dl_backend *b) {
    dl_packed_weights_free(b->op_ctx);
    free(b);
}

DL_BACKEND_OPEN(cpu) {
    *out = NULL;
    dl_backend *b = calloc(1, sizeof *b);
    if (b) b->op_ctx = dl_packed_weights_new(PACKED_WEIGHTS_MAX_BYTES);
    if (!b || !b->op_ctx) {
        free(b);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    b->kind = "cpu";
    /* bf16: the GEMM paths on bf16 operands, fp32 sums (ops.h: dl_ops_cpu_bf16); fp16 is
     * not in its line of the backend table, so it never gets here */
    b->ops = a->precision == DL_PRECISION_BF16 ? dl_ops_cpu_bf16() : dl_ops_cpu();
    b->wants_pool = true;
    b->max_lanes = 1;
    strcpy(b->device_name, "cpu");
    b->run = cpu_run;
    b->upload_weights = cpu_upload_weights;
    b->close = cpu_close;
    *out = b;
    return DL_OK;
}
