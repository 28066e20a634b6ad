/* The CPU backend: host memory, the fast CPU op table, passes run as they come. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"

static dl_status cpu_run(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels,
                         float *logits, float *boxes, dl_error *err) {
    (void)b;
    bool replayable;
    return p->run(p->user, h, w, pixels, logits, boxes, &replayable, err);
}

static void cpu_close(dl_backend *b) {
    free(b);
}

dl_status dl_backend_cpu_open(const dl_backend_open_args *a, dl_backend **out, dl_error *err) {
    *out = NULL;
    if (a->precision == DL_PRECISION_FP16)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "the CPU backend computes in float32 or bf16, not fp16");
    dl_backend *b = calloc(1, sizeof *b);
    if (!b) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    b->kind = "cpu";
    /* bf16: the GEMM paths on bf16 operands, fp32 sums (ops.h: dl_ops_cpu_bf16) */
    b->ops = a->precision == DL_PRECISION_BF16 ? dl_ops_cpu_bf16() : dl_ops_cpu();
    b->wants_pool = true;
    b->max_lanes = 1;
    strcpy(b->device_name, "cpu");
    b->run = cpu_run;
    b->close = cpu_close;
    *out = b;
    return DL_OK;
}
