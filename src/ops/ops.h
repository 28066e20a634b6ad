/*
 * The op layer: every numeric operation the models need, as a table of function pointers.
 *
 * Each backend fills a dl_ops table. `dl_ops_reference()` is the plain scalar C reference of
 * every op (single-threaded, obvious loops, the ground truth for tests); `dl_ops_cpu()` is the
 * fast CPU path (threads + SIMD chosen at run time). The CUDA backend (a separately built
 * module, src/backends/cuda/) fills the same table with device pointers. Models call only
 * through this table, so they run on any backend.
 *
 * Conventions:
 *  - float32 everywhere; activations of one image are [C,H,W] (channel-major) or [T,D]
 *    (token-major, row-major) contiguous buffers, unless an ld (leading dimension, in floats)
 *    is given.
 *  - Weights use PyTorch's layouts: conv [Cout, Cin/groups, KH, KW], linear [N, K]. Ops that
 *    take model weights (conv2d, linear, layer_norm) receive them as dl_wref: which of the
 *    model's weight buffers they lie in, so a backend with its own copies finds them directly.
 *  - Outputs never alias inputs unless an op says so.
 *  - An op does not allocate: scratch comes from the context, sized by dl_ops_ctx_reserve.
 *  - Results must not depend on the thread count (split work over outputs, never over a sum).
 */
#ifndef DL_OPS_OPS_H
#define DL_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "doclayout.h"

typedef enum dl_act {
    DL_ACT_NONE = 0,
    DL_ACT_RELU,
    DL_ACT_SILU,
    DL_ACT_GELU, /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    DL_ACT_SIGMOID
} dl_act;

/*
 * A weight as an op receives it (issue 12: weights are explicit buffers). `host` is the model's
 * host copy; `buf` says which of the model's weight buffers it lies in (their order is the one
 * backends/backend.h's upload_weights receives) and `offset` how many floats from that buffer's
 * start. A backend that keeps its own copies of the buffers finds a weight at
 * base[buf] + offset, with no lookup; the CPU reads `host`. buf DL_WBUF_NONE: `host` is not a
 * model weight but an operand already in the backend's memory (tests, benchmarks), used as it
 * is. An op's optional weight (a bias) may be NULL or have host NULL.
 */
#define DL_WBUF_NONE UINT32_MAX
typedef struct dl_wref {
    float *host;
    uint32_t buf;
    size_t offset; /* floats */
} dl_wref;

/* An operand that is not a model weight (buf DL_WBUF_NONE). */
static inline dl_wref dl_wref_raw(const float *p) {
    dl_wref r = {(float *)p, DL_WBUF_NONE, 0};
    return r;
}
/* The weight `floats` past r, in the same buffer. */
static inline dl_wref dl_wref_at(dl_wref r, size_t floats) {
    if (r.host) r.host += floats;
    if (r.buf != DL_WBUF_NONE) r.offset += floats;
    return r;
}
/* r's host pointer, NULL for an absent weight. */
static inline const float *dl_wref_host(const dl_wref *r) { return r ? r->host : NULL; }

/* Execution context of one detector: its threads and a scratch area for ops. */
typedef struct dl_ops_ctx {
    dl_threadpool *pool; /* NULL = serial */
    float *scratch;      /* per-op temporary space (im2col panels, packed GEMM blocks, ...) */
    size_t scratch_floats;
    void *backend; /* a device backend's per-detector state (stream, handles); else NULL */
} dl_ops_ctx;

/*
 * Arguments of a registry op: tensors in backend memory with their sizes in floats (a device
 * fallback copies exactly these), integer and float parameters. Which tensors are read and
 * which written is the op's dl_op_info.
 */
#define DL_OP_MAX_TENSORS 6
#define DL_OP_MAX_PARAMS 8
typedef struct dl_op_args {
    float *t[DL_OP_MAX_TENSORS];
    size_t n[DL_OP_MAX_TENSORS];
    int i[DL_OP_MAX_PARAMS];
    float f[DL_OP_MAX_PARAMS];
} dl_op_args;
typedef void (*dl_op_kernel)(dl_ops_ctx *ctx, const dl_op_args *a);

typedef struct dl_conv2d_desc {
    int cin, cout; /* channels; cin and cout divisible by groups */
    int kh, kw;    /* kernel size */
    int stride_h, stride_w;
    int pad_top, pad_left; /* zero padding; bottom/right follow from out_h/out_w */
    int groups;
    int in_h, in_w;   /* input spatial size */
    int out_h, out_w; /* output spatial size (caller computes; may include extra pad) */
} dl_conv2d_desc;

/* Output size of a conv or pool along one axis, PyTorch's formula. */
static inline int dl_conv_out_size(int in, int k, int stride, int pad_total, bool ceil_mode) {
    int span = in + pad_total - k;
    if (span < 0) return 0;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* PyTorch: in ceil mode the last window must start inside the input or left padding */
    if (ceil_mode && (out - 1) * stride >= in + pad_total / 2) out--;
    return out;
}

typedef struct dl_deform_desc {
    int n_queries;           /* Q */
    int n_heads;             /* H */
    int head_dim;            /* value channels per head; value row = H * head_dim */
    int n_levels;            /* L */
    const int *level_h;      /* [L] feature map heights */
    const int *level_w;      /* [L] feature map widths */
    const int *level_start;  /* [L] first token of each level in `value` */
    const int *level_points; /* [L] sampling points per level (RT-DETRv2: all equal) */
    int total_points;        /* sum of level_points */
    bool discrete;           /* decoder_method "discrete": nearest cell instead of bilinear */
} dl_deform_desc;

typedef struct dl_ops {
    const char *name; /* "reference", "avx2", "neon", "cuda", ... */

    /*
     * Memory. Activations live in the backend's memory: host memory for the CPU tables, device
     * memory for a GPU backend (`device` true: the model never dereferences an activation
     * pointer itself, it goes through the ops below). Weights are the model's host arrays, given
     * to ops as dl_wref; a device backend uses its own copies of the buffers they name.
     */
    bool device;
    void *(*mem_alloc)(dl_ops_ctx *ctx, size_t bytes); /* 64-byte aligned, NULL on failure */
    void (*mem_free)(dl_ops_ctx *ctx, void *p);
    void (*upload)(dl_ops_ctx *ctx, void *dst, const void *host_src, size_t bytes);
    void (*download)(dl_ops_ctx *ctx, void *host_dst, const void *src, size_t bytes);
    void (*copy)(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes);
    /*
     * Wait for the work queued so far and report the first failure since the last call (ops
     * return nothing: a device backend records its first asynchronous error in the context).
     * A device backend calls it after each forward pass. The CPU tables report a weight
     * reference that named no weight of the model (the op refused it; packed_weights.h).
     */
    dl_status (*sync)(dl_ops_ctx *ctx, dl_error *err);

    /* y[cols, rows] = x[rows, cols]^T */
    void (*transpose)(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y);
    /* y[r, :] = x[r, :] * scale[r]; y may alias x. */
    void (*scale_rows)(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *scale,
                       float *y);
    /*
     * Query selection: idx[k] = indices of the k rows of x[rows, cols] with the largest row
     * maximum, in rank order, ties broken by the lower index (transformers' topk on
     * enc_outputs_class.max(-1)). idx is int32 in backend memory. Scratch: rows + k floats.
     */
    void (*topk_rows)(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx);
    /* dst[i, :] = src[idx[i], :] for i < k, rows of `cols` floats. */
    void (*gather_rows)(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src,
                        float *dst);
    /*
     * Deformable sampling locations, in place: off[Q, H, P, 2] offsets become
     * ref.xy + off * (1 / level_points[l]) * ref.wh * offset_scale (RT-DETRv2's 4-d
     * reference form), ref [Q, 4] (cx, cy, w, h).
     */
    void (*deform_locations)(dl_ops_ctx *ctx, int q, int heads, int n_levels,
                             const int *level_points, int total_points, float offset_scale,
                             const float *ref, float *off);
    /* ref[n] = sigmoid(delta[n] + inverse_sigmoid(ref[n])), eps 1e-5 as transformers. */
    void (*box_refine)(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref);

    /* Scratch floats an op call will need at most, for these shapes (the model reserves the max).
     */
    size_t (*conv2d_scratch)(const dl_ops_ctx *ctx, const dl_conv2d_desc *d);
    size_t (*linear_scratch)(const dl_ops_ctx *ctx, int t, int n, int k);

    /*
     * y[Cout,OH,OW] = act(conv(x[Cin,H,W], w) + bias[Cout] + residual[Cout,OH,OW]).
     * bias and residual may be NULL. residual may alias y (in-place accumulate).
     */
    void (*conv2d)(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x, const dl_wref *w,
                   const dl_wref *bias, const float *residual, dl_act act, float *y);

    /*
     * y[T,N] (row stride ldy) = act(x[T,K] (row stride ldx) * w[N,K]^T + bias[N]).
     * bias may be NULL.
     */
    void (*linear)(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx, const dl_wref *w,
                   const dl_wref *bias, dl_act act, float *y, int ldy);

    /*
     * y[T,D] = layer_norm(x[T,D] + residual[T,D]) * gamma + beta, over D (biased variance).
     * residual may be NULL; y may alias x or residual.
     */
    void (*layer_norm)(dl_ops_ctx *ctx, int t, int d, const float *x, const float *residual,
                       const dl_wref *gamma, const dl_wref *beta, float eps, float *y);

    /*
     * Multi-head scaled dot-product attention, no mask:
     * out[T, H*dh] = softmax(q k^T * dh^-0.5) v per head, q [T, H*dh] (ld ldq),
     * k, v [S, H*dh] (ld ldk, ldv), out ld ldo. Scratch: T*S floats per thread at most.
     */
    void (*attention)(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q,
                      int ldq, const float *k, int ldk, const float *v, int ldv, float *out,
                      int ldo);

    /*
     * Multi-scale deformable attention (Deformable-DETR core, grid_sample zero padding,
     * align_corners=False):
     *   value  [S, H*dh]           all levels' tokens, level-major as in desc->level_start
     *   loc    [Q, H, P, 2]        sampling points (x, y) in [0,1] image-relative units,
     *                              P = total_points ordered level by level
     *   weight [Q, H, P]           attention weights (already softmaxed)
     *   out    [Q, H*dh]
     */
    void (*deform_attn)(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value,
                        const float *loc, const float *weight, float *out);

    /* y[C,OH,OW] = max pool of x[C,H,W]; padding counts as -inf. */
    void (*max_pool2d)(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int pad, int out_h,
                       int out_w, const float *x, float *y);
    /* y[C,OH,OW] = average pool, no padding, divisor = window cells inside the input. */
    void (*avg_pool2d)(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int out_h,
                       int out_w, const float *x, float *y);
    /* y[C,2H,2W] = nearest-neighbour 2x upsample of x[C,H,W]. */
    void (*upsample2x)(dl_ops_ctx *ctx, int c, int h, int w, const float *x, float *y);
    /* In-place softmax over each row of x[rows, n]. */
    void (*softmax_rows)(dl_ops_ctx *ctx, int rows, int n, float *x);
    /* In-place activation over n floats. */
    void (*activate)(dl_ops_ctx *ctx, size_t n, dl_act act, float *x);
    /* y[n] = a[n] + b[n]; y may alias a or b. */
    void (*add)(dl_ops_ctx *ctx, size_t n, const float *a, const float *b, float *y);

    /*
     * The op registry (below): this backend's kernel of the registry op `name`, or NULL when it
     * has none (the caller then falls back to the reference). NULL pointer: no registry ops.
     * Ops are looked up by name, so a module built before an op existed still loads.
     */
    dl_op_kernel (*find_kernel)(const char *name);
} dl_ops;

/* The scalar reference table (always available). */
const dl_ops *dl_ops_reference(void);
/* The fast CPU table for this machine (best SIMD family at run time). */
const dl_ops *dl_ops_cpu(void);
/* The same with bf16 operands in the GEMM-based conv2d and linear (fp32 sums). */
const dl_ops *dl_ops_cpu_bf16(void);
/* Testing hook of dl_ops_cpu_bf16's k x k stride-1 convs: 0 (default) the padded-input ("flat")
 * path where the kernel takes bf16 pairs, 1 always the gathered path (same bits). */
void dl_conv_flat_force(int mode);

/* Scalar helpers shared by implementations (exact definitions used everywhere). */
float dl_act_apply(dl_act act, float x);
/* acc[dh] += wgt * bilinear sample of value (rows of ld floats, hgt x wid cells) at pixel
 * coordinates (px, py), zeros outside the map: grid_sample's taps, each bounds-checked. */
void dl_bilinear_accumulate(const float *value, int ld, int hgt, int wid, float px, float py,
                            int dh, float wgt, float *acc);

/* The host-memory implementations of the memory and glue ops, shared by the CPU tables. */
#define DL_HOST_OPS                                                                                \
    .device = false, .mem_alloc = dl_host_mem_alloc, .mem_free = dl_host_mem_free,                 \
    .upload = dl_host_copy, .download = dl_host_copy, .copy = dl_host_copy, .sync = dl_host_sync,  \
    .transpose = dl_host_transpose, .scale_rows = dl_host_scale_rows,                              \
    .topk_rows = dl_host_topk_rows, .gather_rows = dl_host_gather_rows,                            \
    .deform_locations = dl_host_deform_locations, .box_refine = dl_host_box_refine
void *dl_host_mem_alloc(dl_ops_ctx *ctx, size_t bytes);
void dl_host_mem_free(dl_ops_ctx *ctx, void *p);
void dl_host_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes);
dl_status dl_host_sync(dl_ops_ctx *ctx, dl_error *err);
void dl_host_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y);
void dl_host_scale_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *scale,
                        float *y);
void dl_host_topk_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx);
void dl_host_gather_rows(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src,
                         float *dst);
void dl_host_deform_locations(dl_ops_ctx *ctx, int q, int heads, int n_levels,
                              const int *level_points, int total_points, float offset_scale,
                              const float *ref, float *off);
void dl_host_box_refine(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref);

/* Indices of the k largest scores[n] in rank order (ties: lower index first); tmp[k]. */
void dl_topk(const float *scores, int n, int k, int *idx, int *tmp);

/*
 * ---- The op registry ----------------------------------------------------------------------
 * Ops added after the fixed table: each is one file src/ops/op_NAME.c defining
 * `const dl_op_info dl_op_NAME` (its scalar reference and its test shapes) plus one line
 * DL_OP(NAME) in ops/op_list.h. A backend may have a kernel for it (dl_ops.find_kernel);
 * where it has none, the reference runs instead (on a device, on host copies of the tensors).
 * tests/test_ops.c runs every registered op on every backend against its reference.
 */
typedef struct dl_op_info {
    const char *name;
    int n_in, n_out;        /* a->t[0 .. n_in) are read, a->t[n_in .. n_in + n_out) written */
    unsigned inout;         /* bit k: output k is also read (updated in place) */
    dl_op_kernel reference; /* plain scalar C on host memory; uses no scratch */
    /* op tests: case c (0 <= c < n_cases) sets a->n, a->i, a->f; inputs are then filled with
     * uniform values in [-1, 1), or by test_fill when given (probabilities, ...) */
    int n_cases;
    void (*test_shape)(int c, dl_op_args *a);
    void (*test_fill)(int c, dl_op_args *a);
    double tol; /* relative tolerance of a float32 kernel against the reference */
} dl_op_info;

typedef enum dl_op_id {
#define DL_OP(name) DL_OP_##name,
#include "ops/op_list.h"
#undef DL_OP
    DL_OP_COUNT
} dl_op_id;

const dl_op_info *dl_op_info_of(dl_op_id id);
/* The backend's own kernel of op `id`, or NULL (then it does not support it natively). */
dl_op_kernel dl_ops_find(const dl_ops *ops, dl_op_id id);
static inline bool dl_ops_supports(const dl_ops *ops, dl_op_id id) {
    return dl_ops_find(ops, id) != NULL;
}
/*
 * Run op `id` with the reference in place of a missing kernel: on a host table directly; on a
 * device table, its input tensors are downloaded into `*staging` (grown as needed, the
 * caller frees it), the reference runs, its outputs are uploaded. False when out of memory.
 */
bool dl_op_fallback(const dl_ops *ops, dl_ops_ctx *ctx, dl_op_id id, const dl_op_args *a,
                    float **staging, size_t *staging_floats);

#endif
