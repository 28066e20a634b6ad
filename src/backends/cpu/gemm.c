/* SGEMM driver: blocking, packing, threading and the fused epilogue; the generic micro-kernel.
 * The arch micro-kernels live in gemm_avx2.c / gemm_neon.c. See gemm.h. */
#include "backends/cpu/gemm.h"

#include "backends/cpu/act.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/cpu_features.h"
#include "core/mem.h"

#ifndef GEMM_KC
#define GEMM_KC 256
#endif
/* K block of the bf16 pair kernels: a pair takes the bytes of one fp32 value, so 512 keeps a
 * B strip at the fp32 kernel's 32 KB, and halves the passes over C (and the B panels, each
 * with its barrier) that a product at twice the speed would otherwise spend them on. */
#ifndef GEMM_KC_PAIRS
#define GEMM_KC_PAIRS 512
#endif
#ifndef GEMM_MC
#define GEMM_MC 120 /* multiple of 4, 6, 8 and 12 */
#endif
#ifndef GEMM_NC
#define GEMM_NC 2048
#endif
#define GEMM_MAX_MR 12
#define PAIRS_ROW_MAX 512 /* bf16 pairs of one A row a block converts on the stack */
#define GEMM_MAX_NR DL_GEMM_MAX_NR
/* one fp32 B strip of the deepest K block */
#define STAGE_FLOATS ((size_t)(GEMM_KC > GEMM_KC_PAIRS ? GEMM_KC : GEMM_KC_PAIRS) * GEMM_MAX_NR)
#define ROWA_MAX_STRIPS 4 /* B strips a task must use an A block on before packing it pays */

/* ---------------------------------------------------------------- generic 4x16 kernel --- */

static void ukernel_generic_4x16(int kc, const float *a, const float *b, float *c, int ldc,
                                 int accumulate) {
    float acc[4][16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++) acc[i][j] = accumulate ? c[(size_t)i * ldc + j] : 0.0f;
    for (int p = 0; p < kc; p++) {
        const float *bp = b + (size_t)p * 16;
        const float *ap = a + (size_t)p * 4;
        for (int i = 0; i < 4; i++) {
            float ai = ap[i];
            for (int j = 0; j < 16; j++) acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++) c[(size_t)i * ldc + j] = acc[i][j];
}

static const dl_gemm_kernel kernel_generic = {"generic 4x16",       4,    16,  false,
                                              ukernel_generic_4x16, NULL, NULL};
#if defined(__x86_64__) || defined(_M_X64)
static const dl_gemm_kernel kernel_avx2 = {"avx2-fma 6x16",
                                           6,
                                           16,
                                           false,
                                           dl_sgemm_ukernel_avx2_6x16,
                                           dl_sgemm_ukernel_avx2_6x16_epi,
                                           dl_sgemm_ukernel_avx2_6x16_rowa};
static const dl_gemm_kernel kernel_avx512 = {"avx512 12x32",
                                             12,
                                             32,
                                             false,
                                             dl_sgemm_ukernel_avx512_12x32,
                                             dl_sgemm_ukernel_avx512_12x32_epi,
                                             dl_sgemm_ukernel_avx512_12x32_rowa};
static const dl_gemm_kernel kernel_avx512bf16 = {"avx512bf16 12x32",
                                                 12,
                                                 32,
                                                 true,
                                                 dl_sgemm_ukernel_avx512bf16_12x32,
                                                 dl_sgemm_ukernel_avx512bf16_12x32_epi,
                                                 NULL};
/* every kernel a level of this architecture may pick (dl_sgemm_scratch sizes for all) */
static const dl_gemm_kernel *const arch_kernels[] = {&kernel_generic, &kernel_avx2, &kernel_avx512,
                                                     &kernel_avx512bf16};
#elif defined(__aarch64__)
static const dl_gemm_kernel kernel_neon = {"neon 8x12", 8,   12, false, dl_sgemm_ukernel_neon_8x12,
                                           NULL,        NULL};
static const dl_gemm_kernel kernel_neonbf16 = {
    "neonbf16 8x12", 8, 12, true, dl_sgemm_ukernel_neonbf16_8x12, NULL, NULL};
static const dl_gemm_kernel *const arch_kernels[] = {&kernel_generic, &kernel_neon,
                                                     &kernel_neonbf16};
#else
static const dl_gemm_kernel *const arch_kernels[] = {&kernel_generic};
#endif
#define N_ARCH_KERNELS ((int)(sizeof arch_kernels / sizeof arch_kernels[0]))

static const dl_gemm_kernel *pick_kernel(void) {
    const dl_cpu_caps *caps = dl_cpu_caps_get();
#if defined(__x86_64__) || defined(_M_X64)
    if (caps->avx512) return &kernel_avx512;
    if (caps->avx2) return &kernel_avx2;
#elif defined(__aarch64__)
    if (caps->neon) return &kernel_neon;
#endif
    (void)caps;
    return &kernel_generic;
}

/* bf16 operands: the pair kernel where the level has one, else the fp32 kernel on operands
 * rounded to bf16 */
static const dl_gemm_kernel *pick_bf16_kernel(void) {
#if defined(__x86_64__) || defined(_M_X64)
    if (dl_cpu_caps_get()->avx512bf16) return &kernel_avx512bf16;
#elif defined(__aarch64__)
    if (dl_cpu_caps_get()->neon_bf16) return &kernel_neonbf16;
#endif
    return pick_kernel();
}

const char *dl_sgemm_kernel_name(void) { return pick_kernel()->name; }

const char *dl_sgemm_bf16_kernel_name(void) {
    const dl_gemm_kernel *k = pick_bf16_kernel();
    if (k->bf16_pairs) return k->name;
#if defined(__x86_64__) || defined(_M_X64)
    if (k == &kernel_avx512) return "avx512 12x32 (bf16 operands)";
    if (k == &kernel_avx2) return "avx2-fma 6x16 (bf16 operands)";
#elif defined(__aarch64__)
    if (k == &kernel_neon) return "neon 8x12 (bf16 operands)";
#endif
    return "generic 4x16 (bf16 operands)";
}

/* --------------------------------------------------------------------------------- bf16 --- */

/* The upper 16 bits of x rounded to nearest even; NaNs stay (quiet) NaNs. */
static inline uint32_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

float dl_bf16_round(float x) {
    uint32_t u = bf16_bits(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void round_bf16_span(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = dl_bf16_round(x[i]);
}

/* A block rows [i0, i0+mc) x cols [k0, k0+kc) as bf16 k pairs in strips of mr rows:
 * dst[s*kc2*mr + q*mr + i] = A[i][2q] | A[i][2q+1] << 16 (zero past kc and past mc). */
static void pack_a_bf16(const float *a, int lda, int i0, int mc, int k0, int kc, int mr,
                        uint32_t *dst) {
    int kc2 = (kc + 1) / 2;
    for (int s = 0; s < mc; s += mr) {
        int h = mc - s < mr ? mc - s : mr;
        uint32_t *d = dst + (size_t)(s / mr) * kc2 * mr;
#if defined(__x86_64__) || defined(_M_X64)
        /* x86's only pairs kernel (avx512bf16, 12 rows): a strip at a time, same bits */
        if (mr == 12) {
            dl_gemm_pack_a_bf16_strip12_avx512(a + (size_t)(i0 + s) * lda + k0, lda, h, kc, d);
            continue;
        }
#endif
        for (int i = 0; i < h; i++) {
            const float *src = a + (size_t)(i0 + s + i) * lda + k0;
#if defined(__x86_64__) || defined(_M_X64)
            /* x86's only pairs kernel runs at the avx512bf16 level: its conversion, same bits,
             * a row at a time, then spread over the strip */
            if (kc2 <= PAIRS_ROW_MAX) {
                uint32_t row[PAIRS_ROW_MAX];
                dl_gemm_row_to_bf16_pairs_avx512(src, kc, row);
                for (int q = 0; q < kc2; q++) d[(size_t)q * mr + i] = row[q];
                continue;
            }
#endif
            int q = 0;
            for (; 2 * q + 1 < kc; q++)
                d[(size_t)q * mr + i] = bf16_bits(src[2 * q]) | bf16_bits(src[2 * q + 1]) << 16;
            if (q < kc2) d[(size_t)q * mr + i] = bf16_bits(src[2 * q]);
        }
        for (int i = h; i < mr; i++)
            for (int q = 0; q < kc2; q++) d[(size_t)q * mr + i] = 0;
    }
}

/* B rows [k0, k0+kc) x columns [n0, n0+nc) of a row-major B (ld ldb) as strips of nr columns
 * of bf16 k pairs, dst[s*kc2*nr + q*nr + j] (zero past kc and nc): no fp32 staging. */
static void pack_b_rowmajor_bf16(const float *b, int ldb, int k0, int kc, int n0, int nc, int nr,
                                 uint32_t *dst) {
    int kc2 = (kc + 1) / 2;
#if defined(__x86_64__) || defined(_M_X64)
    if (nr == 32) { /* the avx512bf16 kernel's strips, as strip_to_bf16 */
        dl_gemm_rows_to_bf16_strips32_avx512(b + (size_t)k0 * ldb + n0, ldb, kc, nc, dst);
        return;
    }
#endif
    for (int s = 0; s < nc; s += nr) {
        int w = nc - s < nr ? nc - s : nr;
        uint32_t *d = dst + (size_t)(s / nr) * kc2 * nr;
        const float *src = b + (size_t)k0 * ldb + n0 + s;
        for (int q = 0; q < kc2; q++) {
            const float *r0 = src + (size_t)2 * q * ldb, *r1 = r0 + ldb;
            uint32_t *dq = d + (size_t)q * nr;
            for (int j = 0; j < w; j++)
                dq[j] = bf16_bits(r0[j]) | (2 * q + 1 < kc ? bf16_bits(r1[j]) << 16 : 0u);
            for (int j = w; j < nr; j++) dq[j] = 0;
        }
    }
}

void dl_gemm_pairs_of_rows(const float *r0, const float *r1, int nr, uint32_t *d) {
#if defined(__x86_64__) || defined(_M_X64)
    if (nr == 32) { /* x86's pairs kernel runs only at the avx512bf16 level: same bits */
        dl_gemm_pairs32_avx512(r0, r1, d);
        return;
    }
#endif
    for (int j = 0; j < nr; j++) d[j] = bf16_bits(r0[j]) | (r1 ? bf16_bits(r1[j]) << 16 : 0u);
}

void dl_gemm_pairs_of_bf16_rows(const uint16_t *r0, const uint16_t *r1, int nr, uint32_t *d) {
#if defined(__x86_64__) || defined(_M_X64)
    if (nr == 32) { /* x86's pairs kernel runs only at the avx512bf16 level */
        dl_gemm_bf16_pairs32_avx512(r0, r1, d);
        return;
    }
#endif
    for (int j = 0; j < nr; j++) d[j] = (uint32_t)r0[j] | (r1 ? (uint32_t)r1[j] << 16 : 0u);
}

void dl_gemm_bf16_row(const float *src, size_t n, uint16_t *dst) {
#if defined(__x86_64__) || defined(_M_X64)
    if (pick_bf16_kernel()->nr == 32) { /* the avx512bf16 level: its conversion, same bits */
        dl_gemm_bf16_row_avx512(src, n, dst);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = (uint16_t)bf16_bits(src[i]);
}

bool dl_sgemm_bf16_pairs(void) { return pick_bf16_kernel()->bf16_pairs; }

/* One fp32 strip (kc x nr, src[p*nr + j]) as bf16 k pairs: dst[q*nr + j]. */
static void strip_to_bf16(const float *src, int kc, int nr, uint32_t *dst) {
#if defined(__x86_64__) || defined(_M_X64)
    /* the pairs kernel (12x32) runs only at the avx512bf16 level: its conversion, same bits */
    if (nr == 32) {
        dl_gemm_strip32_to_bf16_avx512(src, kc, dst);
        return;
    }
#endif
    int q = 0;
    for (; 2 * q + 1 < kc; q++) {
        const float *r0 = src + (size_t)2 * q * nr, *r1 = r0 + nr;
        uint32_t *d = dst + (size_t)q * nr;
        for (int j = 0; j < nr; j++) d[j] = bf16_bits(r0[j]) | bf16_bits(r1[j]) << 16;
    }
    if (2 * q < kc) {
        const float *r0 = src + (size_t)2 * q * nr;
        uint32_t *d = dst + (size_t)q * nr;
        for (int j = 0; j < nr; j++) d[j] = bf16_bits(r0[j]);
    }
}

/* ----------------------------------------------------------------------------- blocking --- */

static int round_up(int x, int m) { return (x + m - 1) / m * m; }
static size_t round_up_sz(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* K is split into equal blocks of at most GEMM_KC (GEMM_KC_PAIRS for bf16 pairs), a function
 * of K and the kernel only. */
static int k_block(int k, bool pairs) {
    int kmax = pairs ? GEMM_KC_PAIRS : GEMM_KC;
    int nkb = (k + kmax - 1) / kmax;
    if (nkb < 1) nkb = 1;
    return (k + nkb - 1) / nkb;
}

/* Where K block pc starts in a packed operand of `padded` rows (all earlier blocks are full
 * kcb deep; bf16 pairs take (kc + 1) / 2 rows of uint32 per block). */
static size_t packed_block_offset(int kcb, int pc, int pairs, size_t padded) {
    size_t ks = (size_t)(pairs ? (kcb + 1) / 2 : kcb);
    return (size_t)(pc / kcb) * ks * padded;
}

typedef struct gemm_dims {
    int kc, mc, nc;
    size_t bpack_floats, apack_floats; /* apack: per thread */
} gemm_dims;

static gemm_dims gemm_plan(const dl_gemm_kernel *kern, int m, int n, int k) {
    gemm_dims g;
    g.kc = k_block(k, kern->bf16_pairs);
    if (g.kc < 1) g.kc = 1;
    size_t ks = (size_t)(kern->bf16_pairs ? (g.kc + 1) / 2 : g.kc); /* packed rows per block */
    g.mc = GEMM_MC < round_up(m, kern->mr) ? GEMM_MC : round_up(m, kern->mr);
    int ncmax = GEMM_NC / kern->nr * kern->nr;
    g.nc = ncmax < round_up(n, kern->nr) ? ncmax : round_up(n, kern->nr);
    g.bpack_floats = round_up_sz(ks * g.nc, 16);
    g.apack_floats = round_up_sz(ks * g.mc, 16);
    return g;
}

size_t dl_sgemm_scratch(dl_threadpool *pool, int m, int n, int k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    /* sized for the largest kernel (the level may be lowered between this and the call) */
    size_t best = 0;
    for (int i = 0; i < N_ARCH_KERNELS; i++) {
        gemm_dims g = gemm_plan(arch_kernels[i], m, n, k);
        size_t need = g.bpack_floats + (size_t)dl_threadpool_size(pool) * g.apack_floats + 16;
        /* a single M block: every task packs its own B strips (per-thread B panels) */
        if (m <= g.mc)
            need = (size_t)dl_threadpool_size(pool) * (g.apack_floats + g.bpack_floats) + 16;
        /* bf16 pairs: an fp32 strip is staged per thread before it is converted */
        need += (size_t)dl_threadpool_size(pool) * STAGE_FLOATS;
        if (need > best) best = need;
    }
    return best;
}

/* ------------------------------------------------------------------------------ packing --- */

static void pack_b_rowmajor(const float *b, int ldb, int k0, int kc, int n0, int nc, int nr,
                            float *dst) {
    for (int s = 0; s < nc; s += nr) {
        int w = nc - s < nr ? nc - s : nr;
        float *d = dst + (size_t)(s / nr) * kc * nr;
        for (int p = 0; p < kc; p++) {
            const float *src = b + (size_t)(k0 + p) * ldb + n0 + s;
            float *dp = d + (size_t)p * nr;
            if (w == nr) {
                memcpy(dp, src, (size_t)nr * sizeof(float));
            } else {
                for (int j = 0; j < w; j++) dp[j] = src[j];
                for (int j = w; j < nr; j++) dp[j] = 0.0f;
            }
        }
    }
}

static void pack_b_trans(const float *b, int ldb, int k0, int kc, int n0, int nc, int nr,
                         float *dst) {
    for (int s = 0; s < nc; s += nr) {
        int w = nc - s < nr ? nc - s : nr;
        float *d = dst + (size_t)(s / nr) * kc * nr;
        for (int j = 0; j < w; j++) {
            const float *src = b + (size_t)(n0 + s + j) * ldb + k0;
            for (int p = 0; p < kc; p++) d[(size_t)p * nr + j] = src[p];
        }
        for (int j = w; j < nr; j++)
            for (int p = 0; p < kc; p++) d[(size_t)p * nr + j] = 0.0f;
    }
}

/* A block rows [i0, i0+mc) x cols [k0, k0+kc) into strips of mr rows: dst[s*kc*mr + p*mr + i].
 * Written in order (k outer): one sequential output stream, mr input streams. */
static void pack_a(const float *a, int lda, int i0, int mc, int k0, int kc, int mr, float *dst) {
    for (int s = 0; s < mc; s += mr) {
        int h = mc - s < mr ? mc - s : mr;
        float *d = dst + (size_t)(s / mr) * kc * mr;
        const float *src = a + (size_t)(i0 + s) * lda + k0;
        for (int p = 0; p < kc; p++) {
            float *dp = d + (size_t)p * mr;
            for (int i = 0; i < h; i++) dp[i] = src[(size_t)i * lda + p];
            for (int i = h; i < mr; i++) dp[i] = 0.0f;
        }
    }
}

/* ----------------------------------------------------------------------------- epilogue --- */

static void epilogue_tile(float *c, int ldc, int rows, int cols, int i0, int j0,
                          const dl_gemm_epi *epi) {
    for (int i = 0; i < rows; i++) {
        float *cr = c + (size_t)i * ldc;
        if (epi->row_bias) {
            float bv = epi->row_bias[i0 + i];
            for (int j = 0; j < cols; j++) cr[j] += bv;
        }
        if (epi->col_bias) {
            const float *cb = epi->col_bias + j0;
            for (int j = 0; j < cols; j++) cr[j] += cb[j];
        }
        dl_cpu_act_span(epi->act, cr, (size_t)cols);
    }
}

/* ------------------------------------------------------------------------------- driver --- */

typedef struct gemm_job {
    const dl_gemm_kernel *kern;
    gemm_dims g;
    int m, n, k;
    const float *a;
    int lda;
    const dl_gemm_bsrc *b;
    float *c;
    int ldc;
    const dl_gemm_epi *epi;
    int res_mode;   /* 0 none, 1 separate, 2 aliases C */
    bool private_b; /* one M block: each task packs the B strips it uses */
    int bf16;       /* 0 fp32, 1 operands rounded to bf16 (fp32 kernel), 2 bf16 pairs */
    float *bpack, *apack, *stage;
    const float *apre, *bpre; /* operands packed once (dl_gemm_packed), or NULL */
    /* current panel; kstride: packed k rows per strip (kc, or kc pairs with bf16 pairs) */
    int jc, nc, pc, kc, kstride;
    bool first_k, last_k;
    int nstrips, n_mblocks, nchunks, strips_per_chunk;
    int pack_tasks, strips_per_pack;
} gemm_job;

/* Pack B strips [s0, s1) of the current panel into dst, as fp32. */
static void pack_b_fp32(gemm_job *j, int s0, int s1, float *dst) {
    int nr = j->kern->nr;
    int n0 = s0 * nr;
    int ncols = (s1 * nr < j->nc ? s1 * nr : j->nc) - n0;
    const dl_gemm_bsrc *b = j->b;
    if (b->pack) b->pack(b->pack_ctx, j->pc, j->kc, j->jc + n0, ncols, nr, dst);
    else if (b->trans) pack_b_trans(b->b, b->ldb, j->pc, j->kc, j->jc + n0, ncols, nr, dst);
    else pack_b_rowmajor(b->b, b->ldb, j->pc, j->kc, j->jc + n0, ncols, nr, dst);
}

/* Pack B strips [s0, s1) in the kernel's format (strip s at dst + (s - s0) kstride nr). */
static void pack_b_strips(gemm_job *j, int s0, int s1, float *dst, int thread) {
    int nr = j->kern->nr;
    if (j->bf16 == 2 && (j->b->pack ? j->b->pack_pairs != NULL : !j->b->trans)) {
        int n0 = s0 * nr;
        int ncols = (s1 * nr < j->nc ? s1 * nr : j->nc) - n0;
        uint32_t *d = (uint32_t *)(void *)dst;
        if (j->b->pack) j->b->pack_pairs(j->b->pack_ctx, j->pc, j->kc, j->jc + n0, ncols, nr, d);
        else pack_b_rowmajor_bf16(j->b->b, j->b->ldb, j->pc, j->kc, j->jc + n0, ncols, nr, d);
        return;
    }
    if (j->bf16 == 2) {
        float *stage = j->stage + (size_t)thread * STAGE_FLOATS;
        for (int s = s0; s < s1; s++) {
            pack_b_fp32(j, s, s + 1, stage);
            float *d = dst + (size_t)(s - s0) * j->kstride * nr;
            strip_to_bf16(stage, j->kc, nr, (uint32_t *)(void *)d);
        }
        return;
    }
    pack_b_fp32(j, s0, s1, dst);
    if (j->bf16 == 1) round_bf16_span(dst, (size_t)(s1 - s0) * j->kc * nr);
}

static void pack_b_task(void *arg, int task, int thread) {
    gemm_job *j = arg;
    int s0 = task * j->strips_per_pack;
    int s1 = s0 + j->strips_per_pack;
    if (s1 > j->nstrips) s1 = j->nstrips;
    if (s0 >= s1) return;
    pack_b_strips(j, s0, s1, j->bpack + (size_t)s0 * j->kstride * j->kern->nr, thread);
}

static void compute_task(void *arg, int task, int thread) {
    gemm_job *j = arg;
    const dl_gemm_kernel *kern = j->kern;
    int mr = kern->mr, nr = kern->nr;
    int mb = task / j->nchunks, ch = task % j->nchunks;
    int i0 = mb * j->g.mc;
    int mc = j->m - i0 < j->g.mc ? j->m - i0 : j->g.mc;
    int s0 = ch * j->strips_per_chunk;
    int s1 = s0 + j->strips_per_chunk;
    if (s1 > j->nstrips) s1 = j->nstrips;
    if (s0 >= s1 || mc <= 0) return;
    int kc = j->kc;
    float *ap = j->apack + (size_t)thread * j->g.apack_floats;
    /* A block packed into strips, unless the task uses it on only a few B strips and the
     * kernel reads A row-major: then only a partial last strip (rows past M) is packed. The
     * two kernels do the same arithmetic, so the choice changes no result. */
    bool rowa = kern->fn_rowa && !j->bf16 && !j->apre && s1 - s0 <= ROWA_MAX_STRIPS;
    int full_rows = mc / mr * mr;
    size_t ks = (size_t)j->kstride;
    const float *ablk = ap; /* the A block's strips */
    if (j->apre) {
        /* packed once: this K block's strips from row i0 (a multiple of mr) */
        ablk = j->apre + packed_block_offset(j->g.kc, j->pc, j->bf16 == 2, round_up(j->m, mr)) +
               (size_t)(i0 / mr) * ks * mr;
    } else if (j->bf16 == 2) {
        pack_a_bf16(j->a, j->lda, i0, mc, j->pc, kc, mr, (uint32_t *)(void *)ap);
    } else if (!rowa) {
        pack_a(j->a, j->lda, i0, mc, j->pc, kc, mr, ap);
        if (j->bf16 == 1) round_bf16_span(ap, (size_t)round_up(mc, mr) * kc);
    } else if (full_rows < mc) {
        pack_a(j->a, j->lda, i0 + full_rows, mc - full_rows, j->pc, kc, mr, ap);
    }
    const float *bbase = j->bpack;
    int sbase = 0; /* strip s lies at bbase + (s - sbase) * kstride * nr */
    if (j->bpre) {
        bbase = j->bpre + packed_block_offset(j->g.kc, j->pc, j->bf16 == 2, round_up(j->n, nr)) +
                (size_t)(j->jc / nr) * ks * nr;
    } else if (j->private_b) {
        float *bp = j->bpack + (size_t)thread * j->g.bpack_floats;
        pack_b_strips(j, s0, s1, bp, thread);
        bbase = bp;
        sbase = s0;
    }
    float tmp[GEMM_MAX_MR * GEMM_MAX_NR];
    const dl_gemm_epi *epi = j->epi;
    bool has_epi = j->last_k && epi && (epi->row_bias || epi->col_bias || epi->act != DL_ACT_NONE);
    /* full tiles of the last K block: the epilogue on the registers, when the kernel can */
    bool fuse = has_epi && kern->fn_epi && dl_cpu_act_fusable(epi->act);
    for (int s = s0; s < s1; s++) {
        int jcol = j->jc + s * nr; /* absolute column */
        int w = j->n - jcol < nr ? j->n - jcol : nr;
        const float *bp = bbase + (size_t)(s - sbase) * ks * nr;
        for (int r = 0; r < mc; r += mr) {
            int h = mc - r < mr ? mc - r : mr;
            int irow = i0 + r;
            float *cp = j->c + (size_t)irow * j->ldc + jcol;
            const float *apr = rowa ? ablk : ablk + (size_t)(r / mr) * ks * mr;
            int acc = 1;
            if (j->first_k) {
                if (j->res_mode == 1) {
                    const float *rp = epi->residual + (size_t)irow * epi->ldr + jcol;
                    for (int i = 0; i < h; i++)
                        memcpy(cp + (size_t)i * j->ldc, rp + (size_t)i * epi->ldr,
                               (size_t)w * sizeof(float));
                } else if (j->res_mode == 0) {
                    acc = 0;
                }
            }
            bool full = h == mr && w == nr, fused = fuse && full;
            float *dst = full ? cp : tmp;
            int ldd = full ? j->ldc : nr;
            if (!full && acc)
                for (int i = 0; i < h; i++)
                    for (int q = 0; q < w; q++) tmp[i * nr + q] = cp[(size_t)i * j->ldc + q];
            const float *rb = fused && epi->row_bias ? epi->row_bias + irow : NULL;
            const float *cb = fused && epi->col_bias ? epi->col_bias + jcol : NULL;
            dl_act act = fused ? epi->act : DL_ACT_NONE;
            if (rowa && h == mr)
                kern->fn_rowa(kc, j->a + (size_t)irow * j->lda + j->pc, j->lda, bp, dst, ldd, acc,
                              rb, cb, act);
            else if (fused) kern->fn_epi(kc, apr, bp, dst, ldd, acc, rb, cb, act);
            else kern->fn(kc, apr, bp, dst, ldd, acc);
            if (!full)
                for (int i = 0; i < h; i++)
                    for (int q = 0; q < w; q++) cp[(size_t)i * j->ldc + q] = tmp[i * nr + q];
            if (has_epi && !fused) epilogue_tile(cp, j->ldc, h, w, irow, jcol, epi);
        }
    }
}

static void gemm_run(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                     int lda, const dl_gemm_packed *pa, const dl_gemm_bsrc *b,
                     const dl_gemm_packed *pb, float *c, int ldc, const dl_gemm_epi *epi,
                     bool bf16) {
    if (m <= 0 || n <= 0) return;
    gemm_job j;
    memset(&j, 0, sizeof j);
    j.kern = bf16 ? pick_bf16_kernel() : pick_kernel();
    j.bf16 = !bf16 ? 0 : j.kern->bf16_pairs ? 2 : 1;
    if (pa && pa->kern == j.kern && !pa->is_b && pa->bf16 == bf16 && pa->rows == m && pa->k == k)
        j.apre = pa->data;
    if (pb && pb->kern == j.kern && pb->is_b && pb->bf16 == bf16 && pb->rows == n && pb->k == k)
        j.bpre = pb->data;
    j.m = m;
    j.n = n;
    j.k = k;
    j.a = a;
    j.lda = lda;
    j.b = b;
    j.c = c;
    j.ldc = ldc;
    j.epi = epi;
    if (epi && epi->residual) j.res_mode = (epi->residual == c && epi->ldr == ldc) ? 2 : 1;
    if (k <= 0) {
        /* no products: C = act(residual + bias) */
        for (int i = 0; i < m; i++) {
            float *cr = c + (size_t)i * ldc;
            if (j.res_mode == 1) memcpy(cr, epi->residual + (size_t)i * epi->ldr, (size_t)n * 4);
            else if (j.res_mode == 0) memset(cr, 0, (size_t)n * sizeof(float));
            if (epi) epilogue_tile(cr, ldc, 1, n, i, 0, epi);
        }
        return;
    }
    j.g = gemm_plan(j.kern, m, n, k);
    int nthreads = dl_threadpool_size(pool);
    uintptr_t base = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    j.n_mblocks = (m + j.g.mc - 1) / j.g.mc;
    j.private_b = j.n_mblocks == 1;
    j.bpack = (float *)base;
    j.apack = j.bpack + (j.private_b ? (size_t)nthreads : 1) * j.g.bpack_floats;
    j.stage = j.apack + (size_t)nthreads * j.g.apack_floats;
    int nr = j.kern->nr;
    for (j.jc = 0; j.jc < n; j.jc += j.g.nc) {
        j.nc = n - j.jc < j.g.nc ? n - j.jc : j.g.nc;
        j.nstrips = (j.nc + nr - 1) / nr;
        /* tasks: every M block x chunks of strips; aim for >= 4 tasks per thread */
        int want = 4 * nthreads;
        int nchunks = (want + j.n_mblocks - 1) / j.n_mblocks;
        if (nthreads == 1) nchunks = 1;
        if (nchunks > j.nstrips) nchunks = j.nstrips;
        if (nchunks < 1) nchunks = 1;
        j.strips_per_chunk = (j.nstrips + nchunks - 1) / nchunks;
        j.nchunks = (j.nstrips + j.strips_per_chunk - 1) / j.strips_per_chunk;
        int ptasks = nthreads == 1 ? 1 : 4 * nthreads;
        if (ptasks > j.nstrips) ptasks = j.nstrips;
        j.strips_per_pack = (j.nstrips + ptasks - 1) / ptasks;
        j.pack_tasks = (j.nstrips + j.strips_per_pack - 1) / j.strips_per_pack;
        for (j.pc = 0; j.pc < k; j.pc += j.g.kc) {
            j.kc = k - j.pc < j.g.kc ? k - j.pc : j.g.kc;
            j.kstride = j.bf16 == 2 ? (j.kc + 1) / 2 : j.kc;
            j.first_k = j.pc == 0;
            j.last_k = j.pc + j.kc >= k;
            if (!j.private_b && !j.bpre) dl_parallel_for(pool, j.pack_tasks, pack_b_task, &j);
            dl_parallel_for(pool, j.n_mblocks * j.nchunks, compute_task, &j);
        }
    }
}

void dl_sgemm_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a, int lda,
                 const dl_gemm_bsrc *b, float *c, int ldc, const dl_gemm_epi *epi) {
    gemm_run(pool, scratch, m, n, k, a, lda, NULL, b, NULL, c, ldc, epi, false);
}

void dl_sgemm_bf16_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                      int lda, const dl_gemm_bsrc *b, float *c, int ldc, const dl_gemm_epi *epi) {
    gemm_run(pool, scratch, m, n, k, a, lda, NULL, b, NULL, c, ldc, epi, true);
}

void dl_sgemm(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, bool b_trans, float *c, int ldc, const dl_gemm_epi *epi) {
    dl_gemm_bsrc src = {b, ldb, b_trans, NULL, NULL, NULL};
    gemm_run(pool, scratch, m, n, k, a, lda, NULL, &src, NULL, c, ldc, epi, false);
}

void dl_sgemm_bf16(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                   int lda, const float *b, int ldb, bool b_trans, float *c, int ldc,
                   const dl_gemm_epi *epi) {
    dl_gemm_bsrc src = {b, ldb, b_trans, NULL, NULL, NULL};
    gemm_run(pool, scratch, m, n, k, a, lda, NULL, &src, NULL, c, ldc, epi, true);
}

void dl_sgemm_packed_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                        int lda, const dl_gemm_packed *pa, const dl_gemm_bsrc *b,
                        const dl_gemm_packed *pb, float *c, int ldc, const dl_gemm_epi *epi,
                        bool bf16) {
    gemm_run(pool, scratch, m, n, k, a, lda, pa, b, pb, c, ldc, epi, bf16);
}

/* ----------------------------------------------------------------------- packed weights --- */

static const dl_gemm_kernel *kernel_for(bool bf16) {
    return bf16 ? pick_bf16_kernel() : pick_kernel();
}

size_t dl_gemm_packed_floats(bool is_b, int rows, int k, bool bf16) {
    if (rows <= 0 || k <= 0) return 0;
    const dl_gemm_kernel *kern = kernel_for(bf16);
    int kcb = k_block(k, kern->bf16_pairs);
    size_t padded = (size_t)round_up(rows, is_b ? kern->nr : kern->mr);
    /* the last block's offset plus its own length */
    size_t last = packed_block_offset(kcb, (k - 1) / kcb * kcb, kern->bf16_pairs, padded);
    int kc_last = k - (k - 1) / kcb * kcb;
    return last + (size_t)(kern->bf16_pairs ? (kc_last + 1) / 2 : kc_last) * padded;
}

void dl_gemm_pack_weights(dl_gemm_packed *p, bool is_b, const float *w, int ldw, int rows, int k,
                          bool bf16, float *data) {
    const dl_gemm_kernel *kern = kernel_for(bf16);
    int pairs = kern->bf16_pairs;
    int kcb = k_block(k, pairs);
    int width = is_b ? kern->nr : kern->mr;
    size_t padded = (size_t)round_up(rows, width);
    for (int pc = 0; pc < k; pc += kcb) {
        int kc = k - pc < kcb ? k - pc : kcb;
        float *blk = data + packed_block_offset(kcb, pc, pairs, padded);
        size_t ks = (size_t)(pairs ? (kc + 1) / 2 : kc);
        if (!is_b) {
            if (pairs) pack_a_bf16(w, ldw, 0, rows, pc, kc, width, (uint32_t *)(void *)blk);
            else pack_a(w, ldw, 0, rows, pc, kc, width, blk);
        } else if (!pairs) {
            pack_b_trans(w, ldw, pc, kc, 0, rows, width, blk);
        } else {
            /* B^T's rows are A's: its column strips are A's row strips */
            pack_a_bf16(w, ldw, 0, rows, pc, kc, width, (uint32_t *)(void *)blk);
        }
        if (bf16 && !pairs) round_bf16_span(blk, padded * ks);
    }
    p->kern = kern;
    p->is_b = is_b;
    p->bf16 = bf16;
    p->rows = rows;
    p->k = k;
    p->data = data;
}

/* ---------------------------------------------------------------------------- benchmark --- */

double dl_bench_sgemm_gflops(dl_threadpool *pool, int n, int reps) {
    if (n <= 0) return 0.0;
    if (reps < 1) reps = 1;
    size_t nn = (size_t)n * n;
    size_t ns = dl_sgemm_scratch(pool, n, n, n);
    float *a = dl_alloc_aligned(nn * sizeof(float));
    float *b = dl_alloc_aligned(nn * sizeof(float));
    float *c = dl_alloc_aligned(nn * sizeof(float));
    float *s = dl_alloc_aligned(ns * sizeof(float));
    double best = 0.0;
    if (a && b && c && s) {
        for (size_t i = 0; i < nn; i++) {
            a[i] = (float)((i * 7u) % 13u) * 0.01f - 0.06f;
            b[i] = (float)((i * 5u) % 11u) * 0.01f - 0.05f;
        }
        dl_sgemm(pool, s, n, n, n, a, n, b, n, false, c, n, NULL); /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = dl_now_s();
            dl_sgemm(pool, s, n, n, n, a, n, b, n, false, c, n, NULL);
            double dt = dl_now_s() - t0;
            double gf = 2.0 * (double)n * n * n / dt * 1e-9;
            if (gf > best) best = gf;
        }
    }
    dl_free_aligned(a);
    dl_free_aligned(b);
    dl_free_aligned(c);
    dl_free_aligned(s);
    return best;
}
