/* SGEMM throughput: our packed kernel (1 thread and all cores) against OpenBLAS when built
 * with it, on large square sizes and heron-like conv/linear shapes.
 * Usage: bench_sgemm [threads]   (default: all online CPUs)
 *        bench_sgemm THREADS square N   one line: N x N x N with our fp32 kernel, our bf16
 *                                       kernel and OpenBLAS, best of a few runs each (the
 *                                       kernel level follows DOCLAYOUT_CPU) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/gemm.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "ops/ops.h"

#ifdef DL_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int n);
#endif

typedef struct shape {
    const char *name;
    int m, n, k;
    int trans_b;
} shape;

static int reps_for(double flops) {
    int r = (int)(4e10 / flops);
    return r < 2 ? 2 : r > 50 ? 50 : r;
}

static double bench_ours(dl_threadpool *pool, const shape *s, float *a, float *b, float *c,
                         float *scr) {
    double flops = 2.0 * s->m * s->n * s->k, best = 1e30;
    int reps = reps_for(flops);
    int ldb = s->trans_b ? s->k : s->n;
    dl_sgemm(pool, scr, s->m, s->n, s->k, a, s->k, b, ldb, s->trans_b, c, s->n, NULL);
    for (int r = 0; r < reps; r++) {
        double t0 = dl_now_s();
        dl_sgemm(pool, scr, s->m, s->n, s->k, a, s->k, b, ldb, s->trans_b, c, s->n, NULL);
        double dt = dl_now_s() - t0;
        if (dt < best) best = dt;
    }
    return flops / best * 1e-9;
}

#ifdef DL_HAVE_OPENBLAS
static double bench_openblas(int threads, const shape *s, float *a, float *b, float *c) {
    openblas_set_num_threads(threads);
    double flops = 2.0 * s->m * s->n * s->k, best = 1e30;
    int reps = reps_for(flops);
    int ldb = s->trans_b ? s->k : s->n;
    enum CBLAS_TRANSPOSE tb = s->trans_b ? CblasTrans : CblasNoTrans;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, s->m, s->n, s->k, 1.0f, a, s->k, b, ldb, 0.0f, c,
                s->n);
    for (int r = 0; r < reps; r++) {
        double t0 = dl_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, s->m, s->n, s->k, 1.0f, a, s->k, b, ldb, 0.0f,
                    c, s->n);
        double dt = dl_now_s() - t0;
        if (dt < best) best = dt;
    }
    return flops / best * 1e-9;
}
#endif

/* The conv2d op end to end (implicit-GEMM packing + epilogue included). */
static void bench_conv(dl_threadpool *pool, const char *name, dl_conv2d_desc d) {
    const dl_ops *ops = dl_ops_cpu();
    dl_ops_ctx tmp = {pool, NULL, 0, NULL};
    size_t ns = ops->conv2d_scratch(&tmp, &d);
    size_t nx = (size_t)d.cin * d.in_h * d.in_w, ny = (size_t)d.cout * d.out_h * d.out_w;
    size_t nw = (size_t)d.cout * (d.cin / d.groups) * d.kh * d.kw;
    float *x = dl_alloc_aligned(nx * 4), *w = dl_alloc_aligned(nw * 4);
    float *y = dl_alloc_aligned(ny * 4), *b = dl_alloc_aligned((size_t)d.cout * 4);
    float *s = dl_alloc_aligned((ns + 1) * 4);
    if (!x || !w || !y || !b || !s) return;
    for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)(i % 5) * 0.01f;
    for (int i = 0; i < d.cout; i++) b[i] = 0.1f;
    dl_ops_ctx ctx = {pool, s, ns, NULL};
    dl_wref wr = dl_wref_raw(w), br = dl_wref_raw(b);
    double flops = 2.0 * ny * (d.cin / d.groups) * d.kh * d.kw, best = 1e30;
    ops->conv2d(&ctx, &d, x, &wr, &br, NULL, DL_ACT_RELU, y);
    for (int r = 0; r < reps_for(flops); r++) {
        double t0 = dl_now_s();
        ops->conv2d(&ctx, &d, x, &wr, &br, NULL, DL_ACT_RELU, y);
        double dt = dl_now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("  conv2d op %-40s %2d thr: %7.1f GFLOP/s (%.2f ms)\n", name, dl_threadpool_size(pool),
           flops / best * 1e-9, best * 1e3);
    dl_free_aligned(x);
    dl_free_aligned(w);
    dl_free_aligned(y);
    dl_free_aligned(b);
    dl_free_aligned(s);
}

/* The one-line square comparison (bench/run_isa_bench.sh interleaves it with the models). */
static int square_line(int nt, int n) {
    size_t nn = (size_t)n * n;
    dl_threadpool *pool = dl_threadpool_create(nt);
    size_t ns = dl_sgemm_scratch(pool, n, n, n);
    float *a = dl_alloc_aligned(nn * 4), *b = dl_alloc_aligned(nn * 4);
    float *c = dl_alloc_aligned(nn * 4), *scr = dl_alloc_aligned(ns * 4);
    if (!pool || !a || !b || !c || !scr) return 1;
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 17) * 0.01f - 0.08f;
        b[i] = (float)(i % 13) * 0.01f - 0.06f;
    }
    double flops = 2.0 * n * n * n, best[3] = {1e30, 1e30, 1e30};
    int reps = reps_for(flops) < 5 ? 5 : reps_for(flops);
    for (int r = 0; r <= reps; r++) {
        for (int which = 0; which < 3; which++) {
            double t0 = dl_now_s();
            if (which == 0) dl_sgemm(pool, scr, n, n, n, a, n, b, n, false, c, n, NULL);
            else if (which == 1) dl_sgemm_bf16(pool, scr, n, n, n, a, n, b, n, false, c, n, NULL);
#ifdef DL_HAVE_OPENBLAS
            else {
                openblas_set_num_threads(nt);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                            0.0f, c, n);
            }
#endif
            double dt = dl_now_s() - t0;
            if (r > 0 && dt < best[which]) best[which] = dt; /* r = 0: warm-up */
        }
    }
#ifdef DL_HAVE_OPENBLAS
    double ob = flops / best[2] * 1e-9;
#else
    double ob = 0.0;
#endif
    printf("sgemm %d^3, %d threads: ours fp32 %.1f GFLOP/s (%s), ours bf16 %.1f GFLOP/s (%s), "
           "OpenBLAS %.1f GFLOP/s%s\n",
           n, nt, flops / best[0] * 1e-9, dl_sgemm_kernel_name(), flops / best[1] * 1e-9,
           dl_sgemm_bf16_kernel_name(), ob, ob > 0.0 ? "" : " (built without OpenBLAS)");
    dl_free_aligned(a);
    dl_free_aligned(b);
    dl_free_aligned(c);
    dl_free_aligned(scr);
    dl_threadpool_free(pool);
    return 0;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : dl_cpu_count();
    if (nt < 1) nt = 1;
    if (argc > 3 && strcmp(argv[2], "square") == 0) return square_line(nt, atoi(argv[3]));
    static const shape shapes[] = {
        {"square 1024", 1024, 1024, 1024, 0},
        {"square 2048", 2048, 2048, 2048, 0},
        {"conv3x3 64ch 160x160 (M64 N25600 K576)", 64, 25600, 576, 0},
        {"conv3x3 128ch 80x80 (M128 N6400 K1152)", 128, 6400, 1152, 0},
        {"conv3x3 256ch 40x40 (M256 N1600 K2304)", 256, 1600, 2304, 0},
        {"conv3x3 512ch 20x20 (M512 N400 K4608)", 512, 400, 4608, 0},
        {"conv1x1 2048->512 20x20 (M512 N400 K2048)", 512, 400, 2048, 0},
        {"conv1x1 64->256 160x160 (M256 N25600 K64)", 256, 25600, 64, 0},
        {"linear 400x256 -> 1024 (B^T)", 400, 1024, 256, 1},
        {"linear 300x256 -> 256 (B^T)", 300, 256, 256, 1},
    };
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    size_t amax = 0, bmax = 0, cmax = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)shapes[i].m * shapes[i].k, b = (size_t)shapes[i].k * shapes[i].n,
               c = (size_t)shapes[i].m * shapes[i].n;
        if (a > amax) amax = a;
        if (b > bmax) bmax = b;
        if (c > cmax) cmax = c;
    }
    float *a = dl_alloc_aligned(amax * 4), *b = dl_alloc_aligned(bmax * 4);
    float *c = dl_alloc_aligned(cmax * 4);
    dl_threadpool *p1 = dl_threadpool_create(1), *pn = dl_threadpool_create(nt);
    size_t smax = 0;
    for (int i = 0; i < ns; i++) {
        size_t s = dl_sgemm_scratch(pn, shapes[i].m, shapes[i].n, shapes[i].k);
        if (s > smax) smax = s;
    }
    float *scr = dl_alloc_aligned(smax * 4);
    if (!a || !b || !c || !scr || !p1 || !pn) return 1;
    for (size_t i = 0; i < amax; i++) a[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (size_t i = 0; i < bmax; i++) b[i] = (float)(i % 13) * 0.01f - 0.06f;

    printf("kernel: %s, threads: 1 and %d\n", dl_sgemm_kernel_name(), nt);
#ifdef DL_HAVE_OPENBLAS
    printf("%-44s %10s %10s %10s %10s   (GFLOP/s)\n", "shape", "ours 1t", "oblas 1t", "ours Nt",
           "oblas Nt");
#else
    printf("%-44s %10s %10s   (GFLOP/s; built without OpenBLAS)\n", "shape", "ours 1t", "ours Nt");
#endif
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        double o1 = bench_ours(p1, s, a, b, c, scr);
        double on = bench_ours(pn, s, a, b, c, scr);
#ifdef DL_HAVE_OPENBLAS
        double b1 = bench_openblas(1, s, a, b, c);
        double bn = bench_openblas(nt, s, a, b, c);
        printf("%-44s %10.1f %10.1f %10.1f %10.1f\n", s->name, o1, b1, on, bn);
#else
        printf("%-44s %10.1f %10.1f\n", s->name, o1, on);
#endif
        fflush(stdout);
    }
    for (int t = 0; t < 2; t++) {
        dl_threadpool *p = t ? pn : p1;
        bench_conv(p, "3x3 64->64 160x160 s1",
                   (dl_conv2d_desc){64, 64, 3, 3, 1, 1, 1, 1, 1, 160, 160, 160, 160});
        bench_conv(p, "3x3 128->128 80x80 s1",
                   (dl_conv2d_desc){128, 128, 3, 3, 1, 1, 1, 1, 1, 80, 80, 80, 80});
        bench_conv(p, "3x3 256->256 40x40 s2 (from 80x80)",
                   (dl_conv2d_desc){256, 256, 3, 3, 2, 2, 1, 1, 1, 80, 80, 40, 40});
        bench_conv(p, "1x1 1024->2048 20x20",
                   (dl_conv2d_desc){1024, 2048, 1, 1, 1, 1, 0, 0, 1, 20, 20, 20, 20});
        bench_conv(p, "3x3 3->32 640x640 s2 (vd stem)",
                   (dl_conv2d_desc){3, 32, 3, 3, 2, 2, 1, 1, 1, 640, 640, 320, 320});
        bench_conv(p, "depthwise 5x5 256ch 40x40",
                   (dl_conv2d_desc){256, 256, 5, 5, 1, 1, 2, 2, 256, 40, 40, 40, 40});
    }
    printf("dl_bench_sgemm_gflops(n=1024, all threads): %.1f\n",
           dl_bench_sgemm_gflops(pn, 1024, 5));
    dl_free_aligned(a);
    dl_free_aligned(b);
    dl_free_aligned(c);
    dl_free_aligned(scr);
    dl_threadpool_free(p1);
    dl_threadpool_free(pn);
    return 0;
}
