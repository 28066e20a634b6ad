/*
 * Building blocks shared by the detectors (RT-DETRv2, D-FINE): layers with their weights, how
 * they load (BN folded into convs at load time), and how they run through the op table.
 */
#ifndef DL_MODELS_LAYERS_H
#define DL_MODELS_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "models/weights.h"
#include "ops/ops.h"

/* Called with intermediate tensors (parity tests compare them with transformers'). */
typedef void (*dl_stage_hook)(void *user, const char *stage, const float *data, int ndim,
                              const int64_t *shape);

/* Everything one forward pass runs with. Owned by a detector. */
typedef struct dl_exec {
    const dl_ops *ops;
    dl_ops_ctx ctx;
    size_t scratch_capacity; /* floats allocated in ctx.scratch */
    dl_arena arena;          /* activations, reset per image */
    dl_stage_hook hook;
    void *hook_user;
    bool out_of_memory; /* set when an arena or scratch allocation failed */
    float *host;        /* host staging (anchors, position embeddings) for upload */
    size_t host_capacity;
    /*
     * FLOPs run through this context since it was created or last zeroed (callers reset it
     * freely): 2 per multiply-add of convolutions, linear layers and the two products of dot-
     * product attention, counted from the shapes as each op is issued, on any backend. This is
     * PyTorch's FlopCounterMode convention: biases, activations, norms, pools, elementwise ops
     * and the deformable-attention sampling (grid_sample) are not counted.
     */
    uint64_t flops;
    /* FLOPs of branches the checkpoint has but that were merged at load time (RepVGG 1x1
     * kernels folded into the 3x3 ones): not run, but counted by PyTorch on the original
     * module, so flops + flops_folded is the figure to compare with its counter. */
    uint64_t flops_folded;
    /* registry ops: the backend's kernels (NULL: none, the reference runs instead) */
    dl_op_kernel kernels[DL_OP_COUNT];
    size_t fallbacks;     /* registry ops run as host fallbacks on a device, so far */
    float *fallback_host; /* their host copies */
    size_t fallback_host_floats;
} dl_exec;

void dl_exec_init(dl_exec *ex, const dl_ops *ops, dl_threadpool *pool);
void dl_exec_free(dl_exec *ex);
/* Activation buffer from the arena (NULL sets out_of_memory). */
float *dl_exec_alloc(dl_exec *ex, size_t count);
/* Give an activation buffer back as soon as it is dead (NULL is ignored). */
static inline void dl_exec_release(dl_exec *ex, void *p) { dl_arena_release(&ex->arena, p); }
/* Make ctx.scratch at least `floats` long (grows only; first pass only). */
bool dl_exec_reserve(dl_exec *ex, size_t floats);
/* Hand an intermediate tensor (backend memory) to the hook, if any. */
void dl_exec_emit(dl_exec *ex, const char *stage, const float *data, int ndim,
                  const int64_t *shape);
/* Host staging buffer of at least `count` floats (grows on the first pass only). */
float *dl_exec_host(dl_exec *ex, size_t count);
/* Switch op tables (frees memory owned by the old one). */
void dl_exec_set_ops(dl_exec *ex, const dl_ops *ops);
/* Run registry op `id` (ops/op_list.h) with the backend's kernel, else the reference. */
void dl_op_run(dl_exec *ex, dl_op_id id, const dl_op_args *a);
/* FLOPs of one convolution (2 x Cout x Cin/groups x KH x KW x OH x OW) and one product. */
static inline uint64_t dl_conv_flops(const dl_conv2d_desc *d) {
    int g = d->groups > 0 ? d->groups : 1;
    return 2u * (uint64_t)d->cout * (uint64_t)(d->cin / g) * (uint64_t)d->kh * (uint64_t)d->kw *
           (uint64_t)d->out_h * (uint64_t)d->out_w;
}
static inline uint64_t dl_matmul_flops(int m, int n, int k) {
    return 2u * (uint64_t)m * (uint64_t)n * (uint64_t)k;
}
/* y[cols, rows] = x[rows, cols]^T through the op table. */
static inline void dl_transpose(dl_exec *ex, const float *x, int rows, int cols, float *y) {
    ex->ops->transpose(&ex->ctx, rows, cols, x, y);
}
/* Device-to-device copy of n floats. */
static inline void dl_copy(dl_exec *ex, float *dst, const float *src, size_t n) {
    ex->ops->copy(&ex->ctx, dst, src, n * sizeof(float));
}

/* x[n] = value, and x[n] = min(max(x, lo), hi) in place, through the op registry. */
static inline void dl_fill(dl_exec *ex, float *x, size_t n, float value) {
    dl_op_args a = {.t = {x}, .n = {n}, .f = {value}};
    dl_op_run(ex, DL_OP_fill, &a);
}
static inline void dl_clamp(dl_exec *ex, float *x, size_t n, float lo, float hi) {
    dl_op_args a = {.t = {x}, .n = {n}, .f = {lo, hi}};
    dl_op_run(ex, DL_OP_clamp, &a);
}

/* Conv2d with its BN folded in: y = act(conv(x) + b). */
typedef struct dl_conv {
    int cin, cout, k, stride, pad, groups;
    dl_act act;
    dl_wref w; /* [cout, cin/groups, k, k] */
    dl_wref b; /* [cout] */
} dl_conv;

/* Linear y = x W^T + b. */
typedef struct dl_linear {
    int in, out;
    dl_wref w; /* [out, in] */
    dl_wref b; /* [out], or host NULL */
} dl_linear;

typedef struct dl_norm {
    int dim;
    float eps;
    dl_wref g, b; /* [dim] */
} dl_norm;

#define DL_MLP_MAX_LAYERS 4
/* MLP with ReLU between layers (not after the last). */
typedef struct dl_mlp {
    int n;
    dl_linear l[DL_MLP_MAX_LAYERS];
} dl_mlp;

/* Load "<conv>.weight" + "<bn>.*" folded. bn_tracked: the file has num_batches_tracked. */
bool dl_conv_load(dl_weights *w, dl_conv *c, const char *conv_name, const char *bn_name,
                  bool bn_tracked, int cin, int cout, int k, int stride, int groups, dl_act act,
                  float bn_eps);
bool dl_linear_load(dl_weights *w, dl_linear *l, const char *prefix, int in, int out, bool bias);
bool dl_norm_load(dl_weights *w, dl_norm *n, const char *prefix, int dim, float eps);
/* "<prefix>.layers.{i}" with dims d[0] -> d[1] -> ... -> d[n]. */
bool dl_mlp_load(dl_weights *w, dl_mlp *m, const char *prefix, int n, const int *dims);
/* The same with each tensor also accepted under a second prefix (per-layer heads are
 * model.decoder.class_embed.N in files written by transformers 5, class_embed.N in older
 * ones): "<prefix>.weight"/".bias" or "<alias>.weight"/".bias", and an MLP's layers likewise. */
bool dl_linear_load_alias(dl_weights *w, dl_linear *l, const char *prefix, const char *alias,
                          int in, int out);
bool dl_mlp_load_alias(dl_weights *w, dl_mlp *m, const char *prefix, const char *alias, int n,
                       const int *dims);

/* Output size of `c` on an h x w input. */
static inline int dl_conv_out(const dl_conv *c, int in) {
    return (in + 2 * c->pad - c->k) / c->stride + 1;
}

/* y[cout, oh, ow] = act(conv(x[cin, h, w]) + b + residual); residual may be NULL. */
/* The same with the output size given (HGNetV2's convs); false when its scratch could not be had.
 */
bool dl_conv_run_sized(dl_exec *ex, const dl_conv *c, const float *x, int h, int w, int oh, int ow,
                       const float *residual, float *y);
void dl_conv_run(dl_exec *ex, const dl_conv *c, const float *x, int h, int w, const float *residual,
                 float *y);
/* y[t, out] = act(x[t, in] W^T + b) */
void dl_linear_run(dl_exec *ex, const dl_linear *l, int t, const float *x, dl_act act, float *y);
/* y = LN(x + residual) (residual may be NULL, y may alias either) */
void dl_norm_run(dl_exec *ex, const dl_norm *n, int t, const float *x, const float *residual,
                 float *y);
/* y[t, last] = MLP(x[t, first]); tmp from the arena. */
void dl_mlp_run(dl_exec *ex, const dl_mlp *m, int t, const float *x, float *y);

#endif
