/*
 * The host side of the CUDA implicit-GEMM convolution (backends/cuda/igemm_plan.h; the kernel,
 * conv_igemm.cu, is UNVERIFIED on a GPU): which convolutions it takes, that its grid covers
 * every output exactly once, and that its gather (the k index split and the input coordinates,
 * written as the kernel writes them, tile by tile) reproduces the reference convolution on
 * odd shapes, padding, strides and extra bottom/right padding.
 */
#include "backends/cuda/igemm_plan.h"
#include "test_util.h"

static unsigned rng = 4321;

/* The kernel's arithmetic in float32 on the host: 64 x 64 output tiles, K in steps of 32. */
static void emulate(const dl_conv2d_desc *d, const dl_igemm_plan *p, const float *x, const float *w,
                    const float *bias, float *y, int *hits) {
    for (int by = 0; by < p->grid_m; by++)
        for (int bx = 0; bx < p->grid_n; bx++)
            for (int r = 0; r < DL_IGEMM_TILE_M; r++)
                for (int c = 0; c < DL_IGEMM_TILE_N; c++) {
                    int gm = by * DL_IGEMM_TILE_M + r, gn = bx * DL_IGEMM_TILE_N + c;
                    if (gm >= d->cout || gn >= p->n) continue;
                    float acc = 0.0f;
                    for (int gk = 0; gk < p->k; gk++) {
                        int ci, ky, kx;
                        dl_igemm_k_index(gk, d->kh, d->kw, &ci, &ky, &kx);
                        int oy = gn / d->out_w, ox = gn % d->out_w;
                        int iy = oy * d->stride_h - d->pad_top + ky;
                        int ix = ox * d->stride_w - d->pad_left + kx;
                        float v = 0.0f;
                        if (iy >= 0 && iy < d->in_h && ix >= 0 && ix < d->in_w)
                            v = x[((size_t)ci * d->in_h + iy) * d->in_w + ix];
                        acc += w[(size_t)gm * p->k + gk] * v;
                    }
                    y[(size_t)gm * p->n + gn] = acc + bias[gm];
                    hits[(size_t)gm * p->n + gn]++;
                }
}

static void one(int cin, int cout, int k, int stride, int pad, int h, int w, int extra) {
    dl_conv2d_desc d = {cin, cout, k, k, stride, stride, pad, pad, 1, h, w, 0, 0};
    d.out_h = dl_conv_out_size(h, k, stride, 2 * pad + extra, false);
    d.out_w = dl_conv_out_size(w, k, stride, 2 * pad + extra, false);
    dl_igemm_plan p;
    CHECK(dl_igemm_plan_make(&d, &p));
    CHECK(p.m == cout && p.n == d.out_h * d.out_w && p.k == cin * k * k);
    size_t nx = (size_t)cin * h * w, nw = (size_t)cout * p.k, ny = (size_t)cout * p.n;
    float *x = malloc(nx * sizeof(float)), *wt = malloc(nw * sizeof(float));
    float *b = malloc((size_t)cout * sizeof(float)), *y = calloc(ny, sizeof(float));
    float *want = malloc(ny * sizeof(float));
    int *hits = calloc(ny, sizeof(int));
    for (size_t i = 0; i < nx; i++) x[i] = dl_test_rand(&rng);
    for (size_t i = 0; i < nw; i++) wt[i] = dl_test_rand(&rng);
    for (int i = 0; i < cout; i++) b[i] = dl_test_rand(&rng);
    dl_ops_ctx ctx = {NULL, NULL, 0, NULL};
    dl_wref wr = dl_wref_raw(wt), br = dl_wref_raw(b);
    dl_ops_reference()->conv2d(&ctx, &d, x, &wr, &br, NULL, DL_ACT_NONE, want);
    emulate(&d, &p, x, wt, b, y, hits);
    int once = 1;
    for (size_t i = 0; i < ny; i++) once &= hits[i] == 1;
    CHECK_MSG(once, "cin %d cout %d k %d s %d: an output not written exactly once", cin, cout, k,
              stride);
    double rel = dl_rel_err(y, want, ny);
    CHECK_MSG(rel <= 1e-5, "cin %d cout %d k %d s %d p %d %dx%d: rel err %.3g", cin, cout, k,
              stride, pad, h, w, rel);
    free(x), free(wt), free(b), free(y), free(want), free(hits);
}

int main(void) {
    one(3, 17, 3, 2, 1, 33, 29, 0); /* stem-like */
    one(65, 70, 1, 1, 0, 9, 11, 0); /* pointwise, Cout past one tile */
    one(13, 7, 3, 1, 1, 13, 10, 0);
    one(8, 9, 3, 2, 0, 10, 10, 1);   /* extra bottom/right padding */
    one(5, 129, 7, 2, 3, 19, 23, 0); /* three M tiles */
    one(40, 3, 2, 2, 0, 16, 66, 0);  /* K not a multiple of 32, N past one tile */
    dl_conv2d_desc g = {6, 9, 3, 3, 1, 1, 1, 1, 3, 7, 9, 7, 9};
    dl_igemm_plan p;
    CHECK(!dl_igemm_plan_make(&g, &p)); /* grouped: the direct kernel's */
    dl_conv2d_desc e = {6, 9, 3, 3, 1, 1, 1, 1, 1, 7, 9, 0, 9};
    CHECK(!dl_igemm_plan_make(&e, &p)); /* empty output */
    return dl_test_finish("test_igemm_plan");
}
