/*
 * bench_model MODEL_DIR GFLOP_PER_PAGE|auto [RUNS] [THREADS...]
 *
 * CPU latency of the whole network per page at batch 1 (median of RUNS after one warm-up),
 * for each thread count given (default: all cores, then 1), next to this machine's large-SGEMM
 * rate with our kernel at the same thread count; and the peak RSS against the weights file.
 * The FLOPs of a pass are counted by the executor (dl_exec.flops: convolutions, linear layers
 * and attention products, 2 per multiply-add, as PyTorch's FlopCounterMode) and printed; with
 * "auto" (or 0) as GFLOP_PER_PAGE the rates use that count, else the number given.
 * DL_BENCH_PRECISION=bf16 runs the bf16 precision (dl_detector_options.precision); the kernel
 * level follows DOCLAYOUT_CPU. DL_BENCH_NO_SGEMM=1 leaves out the SGEMM column's run.
 * DL_BENCH_PROFILE=1 then runs RUNS more passes with every op of the table timed, and prints
 * the time per path (convolutions by the path the CPU table takes, linear, attention, ...) with
 * its FLOPs and GFLOP/s; "rest" is the pass's time outside the timed ops (registry ops, glue).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/internal.h"
#include "backends/backend.h"
#include "backends/cpu/conv_direct.h"
#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/packed_weights.h"
#include "core/clock.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------- per-path profile --- */

enum {
    P_CONV_GEMM_1X1,
    P_CONV_GEMM_IMPLICIT,
    P_CONV_WINOGRAD,
    P_CONV_DIRECT,
    P_CONV_DEPTHWISE,
    P_CONV_GROUPED,
    P_LINEAR,
    P_ATTENTION,
    P_DEFORM,
    P_LAYER_NORM,
    P_POOL,
    P_ELEMENTWISE,
    P_COPY,
    P_COUNT
};
static const char *const path_names[P_COUNT] = {"conv GEMM 1x1 (B = activations)",
                                                "conv implicit GEMM (KxK, strided)",
                                                "conv Winograd F(4,3)",
                                                "conv direct (small channels)",
                                                "conv depthwise",
                                                "conv grouped",
                                                "linear (GEMM)",
                                                "attention (QK^T, softmax, PV)",
                                                "deformable sampling",
                                                "layer norm",
                                                "pools, upsample",
                                                "element-wise",
                                                "copy, transpose, glue"};
static double path_s[P_COUNT], path_flop[P_COUNT];
static long path_calls[P_COUNT];
static const dl_ops *inner;
static dl_ops timed;

#define TIMED(path, flop, call)                                                                    \
    do {                                                                                           \
        double t0_ = dl_now_s();                                                                   \
        call;                                                                                      \
        path_s[path] += dl_now_s() - t0_;                                                          \
        path_flop[path] += (flop);                                                                 \
        path_calls[path]++;                                                                        \
    } while (0)

static int conv_path(const dl_conv2d_desc *d) {
    int g = d->groups > 0 ? d->groups : 1;
    if (g > 1 && g == d->cin && g == d->cout) return P_CONV_DEPTHWISE;
    if (g > 1) return P_CONV_GROUPED;
    if (dl_conv_winograd_use(d)) return P_CONV_WINOGRAD;
    if (dl_conv_direct_use(d)) return P_CONV_DIRECT;
    bool pw = d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
              d->pad_left == 0;
    return pw ? P_CONV_GEMM_1X1 : P_CONV_GEMM_IMPLICIT;
}
static void t_conv2d(dl_ops_ctx *c, const dl_conv2d_desc *d, const float *x, const dl_wref *w,
                     const dl_wref *b, const float *r, dl_act a, float *y) {
    TIMED(conv_path(d), (double)dl_conv_flops(d), inner->conv2d(c, d, x, w, b, r, a, y));
}
static void t_linear(dl_ops_ctx *c, int t, int n, int k, const float *x, int ldx, const dl_wref *w,
                     const dl_wref *b, dl_act a, float *y, int ldy) {
    TIMED(P_LINEAR, 2.0 * t * n * k, inner->linear(c, t, n, k, x, ldx, w, b, a, y, ldy));
}
static void t_attention(dl_ops_ctx *c, int t, int s, int h, int dh, const float *q, int ldq,
                        const float *k, int ldk, const float *v, int ldv, float *o, int ldo) {
    TIMED(P_ATTENTION, 4.0 * t * s * h * dh,
          inner->attention(c, t, s, h, dh, q, ldq, k, ldk, v, ldv, o, ldo));
}
static void t_deform(dl_ops_ctx *c, const dl_deform_desc *d, const float *v, const float *l,
                     const float *w, float *o) {
    TIMED(P_DEFORM, 0, inner->deform_attn(c, d, v, l, w, o));
}
static void t_ln(dl_ops_ctx *c, int t, int d, const float *x, const float *r, const dl_wref *g,
                 const dl_wref *b, float e, float *y) {
    TIMED(P_LAYER_NORM, 0, inner->layer_norm(c, t, d, x, r, g, b, e, y));
}
static void t_maxpool(dl_ops_ctx *c, int ch, int h, int w, int k, int s, int p, int oh, int ow,
                      const float *x, float *y) {
    TIMED(P_POOL, 0, inner->max_pool2d(c, ch, h, w, k, s, p, oh, ow, x, y));
}
static void t_avgpool(dl_ops_ctx *c, int ch, int h, int w, int k, int s, int oh, int ow,
                      const float *x, float *y) {
    TIMED(P_POOL, 0, inner->avg_pool2d(c, ch, h, w, k, s, oh, ow, x, y));
}
static void t_up(dl_ops_ctx *c, int ch, int h, int w, const float *x, float *y) {
    TIMED(P_POOL, 0, inner->upsample2x(c, ch, h, w, x, y));
}
static void t_softmax(dl_ops_ctx *c, int rows, int n, float *x) {
    TIMED(P_ELEMENTWISE, 0, inner->softmax_rows(c, rows, n, x));
}
static void t_act(dl_ops_ctx *c, size_t n, dl_act a, float *x) {
    TIMED(P_ELEMENTWISE, 0, inner->activate(c, n, a, x));
}
static void t_add(dl_ops_ctx *c, size_t n, const float *a, const float *b, float *y) {
    TIMED(P_ELEMENTWISE, 0, inner->add(c, n, a, b, y));
}
static void t_copy(dl_ops_ctx *c, void *d, const void *s, size_t n) {
    TIMED(P_COPY, 0, inner->copy(c, d, s, n));
}
static void t_transpose(dl_ops_ctx *c, int r, int co, const float *x, float *y) {
    TIMED(P_COPY, 0, inner->transpose(c, r, co, x, y));
}

/* RUNS passes with the timed table; prints the time per path (ms per page). */
static void profile(dl_detector *d, const float *px, int h, int w, float *logits, float *boxes,
                    int runs) {
    inner = d->exec.ops;
    timed = *inner;
    timed.conv2d = t_conv2d;
    timed.linear = t_linear;
    timed.attention = t_attention;
    timed.deform_attn = t_deform;
    timed.layer_norm = t_ln;
    timed.max_pool2d = t_maxpool;
    timed.avg_pool2d = t_avgpool;
    timed.upsample2x = t_up;
    timed.softmax_rows = t_softmax;
    timed.activate = t_act;
    timed.add = t_add;
    timed.copy = t_copy;
    timed.transpose = t_transpose;
    d->exec.ops = &timed;
    memset(path_s, 0, sizeof path_s);
    memset(path_flop, 0, sizeof path_flop);
    memset(path_calls, 0, sizeof path_calls);
    dl_error err;
    double total = 0.0;
    for (int r = 0; r < runs; r++) {
        double t0 = dl_now_s();
        dl_detector_forward(d, px, 1, h, w, logits, boxes, &err);
        total += dl_now_s() - t0;
    }
    d->exec.ops = inner;
    double timed_s = 0.0;
    printf("profile (%d passes, %s): path, ms/page, share, GFLOP/page, GFLOP/s, calls/page\n", runs,
           dl_detector_kernel_name(d));
    for (int p = 0; p < P_COUNT; p++) {
        timed_s += path_s[p];
        if (!path_calls[p]) continue;
        double ms = path_s[p] / runs * 1e3;
        printf("  %-36s %9.1f %6.1f%% %9.2f %9.1f %6ld\n", path_names[p], ms,
               100.0 * path_s[p] / total, path_flop[p] / runs * 1e-9,
               path_s[p] > 0 ? path_flop[p] / path_s[p] * 1e-9 : 0.0, path_calls[p] / runs);
    }
    printf("  %-36s %9.1f %6.1f%%\n", "rest (registry ops, glue)", (total - timed_s) / runs * 1e3,
           100.0 * (total - timed_s) / total);
    printf("  %-36s %9.1f\n", "total", total / runs * 1e3);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_model MODEL_DIR GFLOP_PER_PAGE|auto [RUNS] [THREADS...]\n");
        return 2;
    }
    double gflop = strcmp(argv[2], "auto") == 0 ? 0.0 : atof(argv[2]);
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    int threads[8], nt = 0;
    for (int i = 4; i < argc && nt < 8; i++) threads[nt++] = atoi(argv[i]);
    if (!nt) {
        threads[nt++] = dl_cpu_count();
        if (threads[0] != 1) threads[nt++] = 1;
    }
    dl_error err;
    dl_model *m = NULL;
    if (dl_model_load(argv[1], NULL, &m, &err) != DL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int h = dl_model_input_height(m), w = dl_model_input_width(m);
    size_t npx = (size_t)3 * h * w;
    float *px = malloc(npx * sizeof(float));
    float *logits =
        malloc((size_t)dl_model_num_queries(m) * dl_model_num_labels(m) * sizeof(float));
    float *boxes = malloc((size_t)dl_model_num_queries(m) * 4 * sizeof(float));
    unsigned s = 1;
    for (size_t i = 0; i < npx; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (float)((s >> 8) & 0xFF) / 255.0f;
    }
    bool header = false;
    for (int t = 0; t < nt; t++) {
        dl_detector_options o = dl_detector_default_options();
        o.num_threads = threads[t];
        const char *prec = getenv("DL_BENCH_PRECISION");
        if (prec && strcmp(prec, "bf16") == 0) o.precision = DL_PRECISION_BF16;
        dl_detector *d = NULL;
        if (dl_detector_create(m, &o, &d, &err) != DL_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double *times = calloc((size_t)runs, sizeof(double));
        d->exec.flops = d->exec.flops_folded = 0;
        if (dl_detector_forward(d, px, 1, h, w, logits, boxes, &err) != DL_OK) { /* warm-up */
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double counted = (double)d->exec.flops * 1e-9;
        double folded = (double)d->exec.flops_folded * 1e-9;
        if (!header) {
            if (gflop <= 0.0) gflop = counted;
            printf("model %s (%s, %dx%d, %.1fM parameters, weights file %.1f MB)\n", argv[1],
                   dl_model_type(m), w, h, dl_model_num_parameters(m) / 1e6, m->file_bytes / 1e6);
            printf("FLOPs counted: %.4g GFLOP/page run; %.4g with the RepVGG branches merged at "
                   "load (PyTorch's count of the checkpoint)%s\n",
                   counted, counted + folded,
                   gflop == counted ? "" : "; the rates below use the number given");
            printf("%-8s %-10s %12s %12s %14s %10s\n", "threads", "kernels", "ms/page", "GFLOP/s",
                   "SGEMM GFLOP/s", "fraction");
            header = true;
        }
        size_t allocs = d->exec.arena.n_system_allocs;
        for (int r = 0; r < runs; r++) {
            double t0 = dl_now_s();
            dl_detector_forward(d, px, 1, h, w, logits, boxes, &err);
            times[r] = dl_now_s() - t0;
        }
        qsort(times, (size_t)runs, sizeof(double), cmp);
        double med = times[runs / 2];
        const char *no_sg = getenv("DL_BENCH_NO_SGEMM");
        double sg =
            no_sg && strcmp(no_sg, "1") == 0 ? 0.0 : dl_bench_sgemm_gflops(d->pool, 2048, 3);
        printf("%-8d %-10s %12.1f %12.1f %14.1f %9.0f%%\n", dl_detector_num_threads(d),
               dl_detector_kernel_name(d), med * 1e3, gflop / med, sg,
               sg > 0.0 ? 100.0 * gflop / med / sg : 0.0);
        const char *prof = getenv("DL_BENCH_PROFILE");
        if (prof && strcmp(prof, "1") == 0) profile(d, px, h, w, logits, boxes, runs);
        if (d->exec.arena.n_system_allocs != allocs)
            printf("warning: the activation arena allocated after the first run\n");
        printf("         activations: peak live %.1f MB, region %.1f MB; op scratch %.1f MB; "
               "weights packed once %.1f MB\n",
               d->exec.arena.peak / 1e6, d->exec.arena.region_size / 1e6,
               d->exec.scratch_capacity * 4 / 1e6,
               strcmp(d->backend->kind, "cpu") == 0
                   ? dl_packed_weights_bytes(d->backend->op_ctx) / 1e6
                   : 0.0);
        free(times);
        dl_detector_free(d);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB = weights file %.1f MB + %.1f MB\n", ru.ru_maxrss / 1024.0,
           m->file_bytes / 1e6, ru.ru_maxrss / 1024.0 - m->file_bytes / 1e6);
    free(px);
    free(logits);
    free(boxes);
    dl_model_free(m);
    return 0;
}
