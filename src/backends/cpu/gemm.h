/*
 * SGEMM for the CPU backend: C[M,N] = A[M,K] * B with a fused epilogue.
 *
 *   A is row-major (lda). B is either [K,N] row-major (ldb) or, with b_trans, [N,K] row-major
 *   (ldb), i.e. C = A * B^T. B may also be produced on the fly by a packing callback
 *   (implicit-GEMM convolution), see dl_gemm_bsrc.
 *
 * Epilogue, per element: c = act(residual + sum_k a*b + bias), where bias is per row (row_bias,
 * [M]) or per column (col_bias, [N]) and residual has the layout of C (ld ldr) and may alias C
 * (same pointer and ld). The residual is the accumulator's initial value, so aliasing and
 * non-aliasing calls give identical results.
 *
 * Blocking (Goto/BLIS): NC columns x KC depth panels of B are packed once and shared by all
 * threads; every task packs its own MC x KC block of A. Threads split only M/N, the K loop
 * order is fixed, and every element goes through the same micro-kernel arithmetic wherever it
 * lies in a tile, so results are bit-identical for any thread count.
 */
#ifndef DL_BACKENDS_CPU_GEMM_H
#define DL_BACKENDS_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "ops/ops.h"

/* The widest micro-kernel strip (nr) of any kernel: packing callbacks may size buffers by it. */
#define DL_GEMM_MAX_NR 32

typedef struct dl_gemm_epi {
    const float *row_bias; /* [M] or NULL */
    const float *col_bias; /* [N] or NULL */
    const float *residual; /* like C (ld ldr), may alias C; NULL = none */
    int ldr;
    dl_act act;
} dl_gemm_epi;

/*
 * A source of B that packs itself: pack rows [k0, k0+kc) and columns [n0, n0+nc) into `dst`
 * as consecutive strips of `nr` columns, each kc x nr row-major (dst[s*kc*nr + p*nr + j]),
 * zero-filling columns past nc in the last strip.
 */
typedef void (*dl_gemm_pack_b_fn)(const void *src, int k0, int kc, int n0, int nc, int nr,
                                  float *dst);

/* The same packing straight into bf16 k pairs, for kernels with bf16_pairs: strips of nr
 * columns, dst[s*kc2*nr + q*nr + j] = B[2q][j] | B[2q+1][j] << 16 as dl_gemm_pairs_of_rows
 * rounds them (kc2 = (kc + 1) / 2; zero past kc and nc). */
typedef void (*dl_gemm_pack_b_pairs_fn)(const void *src, int k0, int kc, int n0, int nc, int nr,
                                        uint32_t *dst);

typedef struct dl_gemm_bsrc {
    const float *b; /* plain matrix (when pack == NULL) */
    int ldb;
    bool trans;             /* b is [N,K] */
    dl_gemm_pack_b_fn pack; /* or a callback */
    const void *pack_ctx;
    dl_gemm_pack_b_pairs_fn pack_pairs; /* its bf16 pairs form, or NULL: pack, then convert */
} dl_gemm_bsrc;

/* nr values of two consecutive k rows (r1 NULL: zeros) as bf16 pairs d[j] = r0[j] | r1[j] << 16,
 * each rounded to nearest even (the operand rounding of dl_bf16_round). */
void dl_gemm_pairs_of_rows(const float *r0, const float *r1, int nr, uint32_t *d);
/* The same from rows already rounded to bf16 bits (dl_gemm_bf16_row): d[j] = r0[j] | r1[j] << 16.
 */
void dl_gemm_pairs_of_bf16_rows(const uint16_t *r0, const uint16_t *r1, int nr, uint32_t *d);
/* n values as bf16 bits, rounded as dl_bf16_round. */
void dl_gemm_bf16_row(const float *src, size_t n, uint16_t *dst);
/* Whether the active bf16 kernel takes B as k pairs (pack_pairs callbacks are used). */
bool dl_sgemm_bf16_pairs(void);

/*
 * Weights packed once (issue 15): a GEMM operand that does not change between calls (a conv's
 * weights, GEMM A [M,K] row-major; a linear layer's weights, B [N,K] given transposed) laid
 * out for one kernel exactly as the driver packs it per task (every K block of k_block(K), in
 * strips of mr rows / nr columns, zero-padded; bf16 pairs or rounded values for bf16), so that
 * no task packs it again. A call with a packed operand gives the same bits as one without.
 * Packed for the kernel active when dl_gemm_pack_weights ran: at another level (or precision)
 * the driver ignores it and packs as usual.
 */
typedef struct dl_gemm_packed {
    const struct dl_gemm_kernel *kern; /* whose layout */
    bool is_b, bf16;
    int rows, k;       /* rows: M (A) or N (B) */
    const float *data; /* 64-byte aligned, dl_gemm_packed_floats long */
} dl_gemm_packed;

/* Floats the packed form of a rows x k operand takes with the active kernel. */
size_t dl_gemm_packed_floats(bool is_b, int rows, int k, bool bf16);
/* Pack w (A: [rows,k] ld ldw; B: [rows=N, k] ld ldw, i.e. trans) into data (64-byte aligned,
 * dl_gemm_packed_floats long) and describe it in *p. */
void dl_gemm_pack_weights(dl_gemm_packed *p, bool is_b, const float *w, int ldw, int rows, int k,
                          bool bf16, float *data);

/* Floats of scratch dl_sgemm needs for these sizes with this pool (all threads). */
size_t dl_sgemm_scratch(dl_threadpool *pool, int m, int n, int k);

/* The general entry. scratch must hold dl_sgemm_scratch(pool, m, n, k) floats. */
void dl_sgemm_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a, int lda,
                 const dl_gemm_bsrc *b, float *c, int ldc, const dl_gemm_epi *epi);

/* Plain matrices. epi may be NULL. */
void dl_sgemm(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, bool b_trans, float *c, int ldc, const dl_gemm_epi *epi);

/*
 * The same with bf16 operands: A and B rounded to bf16 (to nearest even) as they are packed,
 * the products summed in fp32 (epilogue in fp32). With AVX512_BF16 (level avx512bf16) the
 * pairs go through vdpbf16ps; at lower levels the rounded values go through the fp32 kernel
 * (the same operands, sums in a slightly different order). Same scratch as dl_sgemm_ex.
 */
void dl_sgemm_bf16_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                      int lda, const dl_gemm_bsrc *b, float *c, int ldc, const dl_gemm_epi *epi);
void dl_sgemm_bf16(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                   int lda, const float *b, int ldb, bool b_trans, float *c, int ldc,
                   const dl_gemm_epi *epi);
/* dl_sgemm_ex / dl_sgemm_bf16_ex with A and/or B also given packed (either may be NULL; a
 * packed operand for another kernel, precision or shape is ignored). Same bits. */
void dl_sgemm_packed_ex(dl_threadpool *pool, float *scratch, int m, int n, int k, const float *a,
                        int lda, const dl_gemm_packed *pa, const dl_gemm_bsrc *b,
                        const dl_gemm_packed *pb, float *c, int ldc, const dl_gemm_epi *epi,
                        bool bf16);
/* Name of the kernel dl_sgemm_bf16 runs at the active level ("avx512bf16 12x32", or the fp32
 * kernel's name + " (bf16 operands)"). */
const char *dl_sgemm_bf16_kernel_name(void);
/* x rounded to bf16 (to nearest even; NaN stays NaN), as a float: the operand rounding. */
float dl_bf16_round(float x);

/* Name of the micro-kernel in use ("avx512 12x32", "avx2-fma 6x16", "neon 8x12",
 * "generic 4x16"): the active level's (core/cpu_features.h: dl_cpu_caps_get). */
const char *dl_sgemm_kernel_name(void);

/*
 * The machine's large square SGEMM rate with our kernel, in GFLOP/s (best of `reps` runs of an
 * n x n x n product; allocates its own buffers). Returns 0 on allocation failure.
 */
double dl_bench_sgemm_gflops(dl_threadpool *pool, int n, int reps);

/* Internal: a micro-kernel. C[mr x nr] (ld ldc) = (accumulate ? C : 0) + A_panel * B_panel,
 * A_panel kc x mr (a[p*mr + i]), B_panel kc x nr (b[p*nr + j]). */
typedef void (*dl_gemm_ukernel_fn)(int kc, const float *a, const float *b, float *c, int ldc,
                                   int accumulate);

/* The same with the epilogue on the registers before the store: c = act(acc + row_bias[i] +
 * col_bias[j]) (either bias may be NULL; row_bias has mr entries, col_bias nr), act one that
 * dl_act256 computes (exactly as epilogue_tile would: bias added in that order, then act). */
typedef void (*dl_gemm_ukernel_epi_fn)(int kc, const float *a, const float *b, float *c, int ldc,
                                       int accumulate, const float *row_bias, const float *col_bias,
                                       dl_act act);

/* The epilogue variant reading A unpacked: a[i*lda + p] (mr rows, all inside A). */
typedef void (*dl_gemm_ukernel_rowa_fn)(int kc, const float *a, int lda, const float *b, float *c,
                                        int ldc, int accumulate, const float *row_bias,
                                        const float *col_bias, dl_act act);

typedef struct dl_gemm_kernel {
    const char *name;
    int mr, nr;
    bool bf16_pairs; /* operands packed as bf16 k pairs (one uint32 per row/column and pair) */
    dl_gemm_ukernel_fn fn;
    dl_gemm_ukernel_epi_fn fn_epi;   /* NULL: the driver applies the epilogue */
    dl_gemm_ukernel_rowa_fn fn_rowa; /* NULL: A is always packed */
} dl_gemm_kernel;

/* Arch kernels (defined only where built; see gemm.c). */
void dl_sgemm_ukernel_avx2_6x16(int kc, const float *a, const float *b, float *c, int ldc,
                                int accumulate);
void dl_sgemm_ukernel_avx512_12x32(int kc, const float *a, const float *b, float *c, int ldc,
                                   int accumulate);
void dl_sgemm_ukernel_avx512_12x32_epi(int kc, const float *a, const float *b, float *c, int ldc,
                                       int accumulate, const float *row_bias, const float *col_bias,
                                       dl_act act);
void dl_sgemm_ukernel_avx512_12x32_rowa(int kc, const float *a, int lda, const float *b, float *c,
                                        int ldc, int accumulate, const float *row_bias,
                                        const float *col_bias, dl_act act);
void dl_sgemm_ukernel_avx512bf16_12x32(int kc, const float *a, const float *b, float *c, int ldc,
                                       int accumulate);
void dl_sgemm_ukernel_avx512bf16_12x32_epi(int kc, const float *a, const float *b, float *c,
                                           int ldc, int accumulate, const float *row_bias,
                                           const float *col_bias, dl_act act);
/* One fp32 strip (kc x 32, src[p*32 + j]) as bf16 k pairs dst[q*32 + j], the bits of gemm.c's
 * scalar conversion (round to nearest even, NaN kept quiet), 16 lanes at a time. */
void dl_gemm_strip32_to_bf16_avx512(const float *src, int kc, uint32_t *dst);
/* The same conversion straight from a row-major matrix: rows [0, kc) (ld ld) x nc columns as
 * strips of 32 columns of bf16 k pairs, dst[s*kc2*32 + q*32 + j] (kc2 = (kc + 1) / 2), zero
 * past nc and past kc. */
void dl_gemm_rows_to_bf16_strips32_avx512(const float *src, int ld, int kc, int nc, uint32_t *dst);
/* One row of k values as (k + 1) / 2 bf16 pairs: dst[q] = src[2q] | src[2q+1] << 16. */
void dl_gemm_row_to_bf16_pairs_avx512(const float *src, int k, uint32_t *dst);
/* dl_gemm_pairs_of_rows for nr = 32 (r1 may be NULL). */
void dl_gemm_pairs32_avx512(const float *r0, const float *r1, uint32_t *d);
void dl_gemm_bf16_pairs32_avx512(const uint16_t *r0, const uint16_t *r1, uint32_t *d);
void dl_gemm_bf16_row_avx512(const float *src, size_t n, uint16_t *dst);
void dl_gemm_pack_a_bf16_strip12_avx512(const float *a, int lda, int h, int kc, uint32_t *dst);
void dl_sgemm_ukernel_neonbf16_8x12(int kc, const float *a, const float *b, float *c, int ldc,
                                    int accumulate);
void dl_sgemm_ukernel_neon_8x12(int kc, const float *a, const float *b, float *c, int ldc,
                                int accumulate);
void dl_sgemm_ukernel_avx2_6x16_epi(int kc, const float *a, const float *b, float *c, int ldc,
                                    int accumulate, const float *row_bias, const float *col_bias,
                                    dl_act act);
void dl_sgemm_ukernel_avx2_6x16_rowa(int kc, const float *a, int lda, const float *b, float *c,
                                     int ldc, int accumulate, const float *row_bias,
                                     const float *col_bias, dl_act act);

#endif
