/*
 * bench_conv [THREADS] [REPS] [cin cout k stride hw]...
 *
 * Median time of the fast CPU conv2d (bias + SiLU epilogue) per shape through the implicit GEMM,
 * the direct path and (3x3 stride 1) Winograd F(2x2, 3x3), measured alternately (A/B/C/A/B/C...)
 * so that a noisy machine hits all alike; "auto" is the path cpu_conv2d picks. Without shapes: the
 * convolutions of RT-DETRv2-tiny (640) and of the full-size dense detector (384). Padding k/2; hw
 * is the input height = width. BENCH_ACT=relu|none changes the epilogue's activation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/conv_direct.h"
#include "backends/cpu/conv_winograd.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "ops/ops.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const int default_shapes[][5] = {
    /* cin cout k stride hw: RT-DETRv2-tiny at 640 */
    {3, 8, 3, 2, 640},
    {8, 8, 3, 1, 320},
    {8, 16, 3, 1, 320},
    {8, 8, 3, 1, 160},
    {16, 16, 3, 2, 160},
    {32, 32, 3, 1, 80},
    {32, 32, 3, 2, 80},
    {32, 32, 3, 1, 40},
    {64, 64, 3, 2, 40},
    {32, 32, 3, 1, 20},
    {64, 32, 1, 1, 80},
    {64, 32, 1, 1, 40},
    {8, 32, 1, 1, 160},
    {16, 32, 1, 1, 160},
    {32, 16, 1, 1, 160},
    {32, 32, 1, 1, 80},
    {16, 8, 1, 1, 160},
    {16, 64, 1, 1, 80},
    {32, 64, 1, 1, 80},
    {32, 32, 1, 1, 40},
    {128, 32, 1, 1, 40},
    /* the dense detector at 384 */
    {3, 16, 3, 2, 384},
    {16, 32, 3, 2, 192},
    {16, 16, 3, 1, 96},
    {32, 32, 3, 1, 48},
    {32, 64, 3, 2, 96},
    {64, 64, 3, 1, 48},
    {64, 64, 3, 1, 24},
    {64, 64, 3, 1, 12},
    {64, 128, 3, 2, 48},
    {64, 64, 3, 2, 48},
    {128, 192, 3, 2, 24},
    {96, 96, 3, 1, 12},
    {32, 32, 1, 1, 96},
    {48, 32, 1, 1, 96},
    {64, 64, 1, 1, 48},
    {96, 64, 1, 1, 48},
    {256, 128, 1, 1, 24},
    {64, 17, 1, 1, 48},
    {64, 4, 1, 1, 48},
};

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    int reps = argc > 2 ? atoi(argv[2]) : 15;
    int nshapes = (int)(sizeof default_shapes / sizeof default_shapes[0]);
    int(*shapes)[5] = (int(*)[5])default_shapes;
    if (argc > 3) {
        nshapes = (argc - 3) / 5;
        shapes = calloc((size_t)nshapes, sizeof *shapes);
        for (int i = 0; i < nshapes; i++)
            for (int q = 0; q < 5; q++) shapes[i][q] = atoi(argv[3 + 5 * i + q]);
    }
    const char *an = getenv("BENCH_ACT");
    dl_act act = !an                       ? DL_ACT_SILU
                 : strcmp(an, "relu") == 0 ? DL_ACT_RELU
                 : strcmp(an, "none") == 0 ? DL_ACT_NONE
                                           : DL_ACT_SILU;
    dl_threadpool *pool = dl_threadpool_create(nt);
    const dl_ops *ops = dl_ops_cpu();
    printf("threads %d, direct kernel %s; median of %d, ms (GFLOP/s)\n", nt,
           dl_conv_direct_kernel_name(), reps);
    printf("%-22s %16s %16s %16s %8s\n", "cin cout k s hw", "gemm", "direct", "winograd", "auto");
    double *tg = malloc(sizeof(double) * (size_t)reps), *td = malloc(sizeof(double) * (size_t)reps);
    double *tw = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < nshapes; i++) {
        int cin = shapes[i][0], cout = shapes[i][1], k = shapes[i][2], s = shapes[i][3];
        int hw = shapes[i][4], pad = k / 2;
        int o = dl_conv_out_size(hw, k, s, 2 * pad, false);
        dl_conv2d_desc d = {cin, cout, k, k, s, s, pad, pad, 1, hw, hw, o, o};
        size_t nx = (size_t)cin * hw * hw, nw = (size_t)cout * cin * k * k;
        size_t ny = (size_t)cout * o * o;
        float *x = dl_alloc_aligned(nx * 4), *w = dl_alloc_aligned(nw * 4);
        float *b = dl_alloc_aligned((size_t)cout * 4), *y = dl_alloc_aligned(ny * 4);
        for (size_t q = 0; q < nx; q++) x[q] = (float)(q % 17) * 0.01f;
        for (size_t q = 0; q < nw; q++) w[q] = (float)(q % 13) * 0.01f - 0.05f;
        for (int q = 0; q < cout; q++) b[q] = 0.1f;
        dl_wref wr = dl_wref_raw(w), br = dl_wref_raw(b);
        dl_ops_ctx c = {.pool = pool, .scratch = NULL, .scratch_floats = 0};
        c.scratch_floats = ops->conv2d_scratch(&c, &d);
        c.scratch = dl_alloc_aligned(c.scratch_floats * 4 + 64);
        dl_conv_direct_force(0);
        const char *autop = dl_conv_winograd_use(&d) ? "wino"
                            : dl_conv_direct_use(&d) ? "direct"
                                                     : "gemm";
        bool wino = dl_conv_winograd_applies(&d);
        for (int r = -1; r < reps; r++) {
            for (int m = 1; m <= (wino ? 3 : 2); m++) {
                dl_conv_direct_force(m == 3 ? 0 : m);
                dl_conv_winograd_force(m == 3 ? 2 : 1);
                double t0 = dl_now_s();
                ops->conv2d(&c, &d, x, &wr, &br, NULL, act, y);
                double dt = dl_now_s() - t0;
                if (r >= 0) (m == 1 ? tg : m == 2 ? td : tw)[r] = dt;
            }
        }
        dl_conv_direct_force(0);
        dl_conv_winograd_force(0);
        qsort(tg, (size_t)reps, sizeof(double), cmp);
        qsort(td, (size_t)reps, sizeof(double), cmp);
        if (wino) qsort(tw, (size_t)reps, sizeof(double), cmp);
        double g = tg[reps / 2], dd = td[reps / 2], fl = 2.0 * (double)nw * o * o * 1e-9;
        double ww = wino ? tw[reps / 2] : 0.0;
        char name[64], wcol[32] = "-";
        snprintf(name, sizeof name, "%d %d %d %d %d", cin, cout, k, s, hw);
        if (wino) snprintf(wcol, sizeof wcol, "%7.3f (%5.1f)", ww * 1e3, fl / ww);
        printf("%-22s %7.3f (%5.1f) %7.3f (%5.1f) %16s %8s\n", name, g * 1e3, fl / g, dd * 1e3,
               fl / dd, wcol, autop);
        fflush(stdout);
        dl_free_aligned(x);
        dl_free_aligned(w);
        dl_free_aligned(b);
        dl_free_aligned(y);
        dl_free_aligned(c.scratch);
    }
    free(tg);
    free(td);
    free(tw);
    dl_threadpool_free(pool);
    return 0;
}
