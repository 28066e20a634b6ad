#include "models/layers.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static void *exec_alloc(void *ctx, size_t bytes) {
    dl_exec *ex = ctx;
    return ex->ops->mem_alloc(&ex->ctx, bytes);
}

static void exec_free(void *ctx, void *p) {
    dl_exec *ex = ctx;
    if (p) ex->ops->mem_free(&ex->ctx, p);
}

static void find_kernels(dl_exec *ex) {
    for (int i = 0; i < DL_OP_COUNT; i++) ex->kernels[i] = dl_ops_find(ex->ops, (dl_op_id)i);
}

void dl_op_run(dl_exec *ex, dl_op_id id, const dl_op_args *a) {
    if (ex->kernels[id]) {
        ex->kernels[id](&ex->ctx, a);
        return;
    }
    if (ex->ops->device) ex->fallbacks++;
    if (!dl_op_fallback(ex->ops, &ex->ctx, id, a, &ex->fallback_host, &ex->fallback_host_floats))
        ex->out_of_memory = true;
}

void dl_exec_init(dl_exec *ex, const dl_ops *ops, dl_threadpool *pool) {
    memset(ex, 0, sizeof *ex);
    ex->ops = ops;
    find_kernels(ex);
    ex->ctx.pool = pool;
    dl_arena_init(&ex->arena, exec_alloc, exec_free, ex);
}

void dl_exec_free(dl_exec *ex) {
    exec_free(ex, ex->ctx.scratch);
    ex->ctx.scratch = NULL;
    ex->scratch_capacity = 0;
    dl_arena_free(&ex->arena);
    free(ex->host);
    ex->host = NULL;
    ex->host_capacity = 0;
    free(ex->fallback_host);
    ex->fallback_host = NULL;
    ex->fallback_host_floats = 0;
}

void dl_exec_set_ops(dl_exec *ex, const dl_ops *ops) {
    /* memory made by one table is freed by it: drop it before switching */
    exec_free(ex, ex->ctx.scratch);
    ex->ctx.scratch = NULL;
    ex->scratch_capacity = ex->ctx.scratch_floats = 0;
    dl_arena_free(&ex->arena);
    ex->ops = ops;
    find_kernels(ex);
    dl_arena_init(&ex->arena, exec_alloc, exec_free, ex);
}

float *dl_exec_host(dl_exec *ex, size_t count) {
    if (count > ex->host_capacity) {
        float *p = realloc(ex->host, count * sizeof(float));
        if (!p) {
            ex->out_of_memory = true;
            return NULL;
        }
        ex->host = p;
        ex->host_capacity = count;
    }
    return ex->host;
}

void dl_exec_emit(dl_exec *ex, const char *stage, const float *data, int ndim,
                  const int64_t *shape) {
    if (!ex->hook) return;
    if (!ex->ops->device) {
        ex->hook(ex->hook_user, stage, data, ndim, shape);
        return;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *h = malloc(n * sizeof(float)); /* hooks are a testing aid: allocation is fine */
    if (!h) return;
    ex->ops->download(&ex->ctx, h, data, n * sizeof(float));
    ex->hook(ex->hook_user, stage, h, ndim, shape);
    free(h);
}

float *dl_exec_alloc(dl_exec *ex, size_t count) {
    float *p = dl_arena_floats(&ex->arena, count);
    if (!p) ex->out_of_memory = true;
    return p;
}

bool dl_exec_reserve(dl_exec *ex, size_t floats) {
    if (floats <= ex->scratch_capacity) {
        ex->ctx.scratch_floats = ex->scratch_capacity;
        return true;
    }
    size_t bytes;
    if (!dl_mul_size(floats, sizeof(float), &bytes)) {
        ex->out_of_memory = true;
        return false;
    }
    float *p = exec_alloc(ex, bytes);
    if (!p) {
        ex->out_of_memory = true;
        return false;
    }
    exec_free(ex, ex->ctx.scratch);
    ex->ctx.scratch = p;
    ex->ctx.scratch_floats = ex->scratch_capacity = floats;
    return true;
}

bool dl_conv_load(dl_weights *w, dl_conv *c, const char *conv_name, const char *bn_name,
                  bool bn_tracked, int cin, int cout, int k, int stride, int groups, dl_act act,
                  float bn_eps) {
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->pad = (k - 1) / 2;
    c->groups = groups;
    c->act = act;
    float *wt = NULL, *bias = NULL;
    bool ok = dl_weights_conv_bn(w, conv_name, bn_name, bn_tracked, cout, cin / groups, k, k,
                                 bn_eps, &wt, &bias);
    c->w = dl_weights_ref(w, wt);
    c->b = dl_weights_ref(w, bias);
    return ok && w->status == DL_OK;
}

bool dl_linear_load(dl_weights *w, dl_linear *l, const char *prefix, int in, int out, bool bias) {
    char n[256];
    l->in = in;
    l->out = out;
    l->w = dl_weights_ref(w, dl_weights_get2(w, dl_wname(n, "%s.weight", prefix), out, in));
    l->b = dl_weights_ref(w, bias ? dl_weights_get1(w, dl_wname(n, "%s.bias", prefix), out) : NULL);
    return w->status == DL_OK;
}

bool dl_norm_load(dl_weights *w, dl_norm *nm, const char *prefix, int dim, float eps) {
    char n[256];
    nm->dim = dim;
    nm->eps = eps;
    nm->g = dl_weights_ref(w, dl_weights_get1(w, dl_wname(n, "%s.weight", prefix), dim));
    nm->b = dl_weights_ref(w, dl_weights_get1(w, dl_wname(n, "%s.bias", prefix), dim));
    return w->status == DL_OK;
}

bool dl_linear_load_alias(dl_weights *w, dl_linear *l, const char *prefix, const char *alias,
                          int in, int out) {
    char n[256], a[256];
    int64_t shape[2] = {out, in};
    l->in = in;
    l->out = out;
    l->w = dl_weights_ref(w, dl_weights_get(w, dl_wname(n, "%s.weight", prefix),
                                            dl_wname(a, "%s.weight", alias), 2, shape));
    l->b = dl_weights_ref(w, dl_weights_get(w, dl_wname(n, "%s.bias", prefix),
                                            dl_wname(a, "%s.bias", alias), 1, shape));
    return w->status == DL_OK;
}

bool dl_mlp_load_alias(dl_weights *w, dl_mlp *m, const char *prefix, const char *alias, int n,
                       const int *dims) {
    char p[256], a[256];
    m->n = n;
    for (int i = 0; i < n; i++)
        dl_linear_load_alias(w, &m->l[i], dl_wname(p, "%s.layers.%d", prefix, i),
                             dl_wname(a, "%s.layers.%d", alias, i), dims[i], dims[i + 1]);
    return w->status == DL_OK;
}

bool dl_mlp_load(dl_weights *w, dl_mlp *m, const char *prefix, int n, const int *dims) {
    char name[256];
    m->n = n;
    for (int i = 0; i < n; i++)
        dl_linear_load(w, &m->l[i], dl_wname(name, "%s.layers.%d", prefix, i), dims[i], dims[i + 1],
                       true);
    return w->status == DL_OK;
}

bool dl_conv_run_sized(dl_exec *ex, const dl_conv *c, const float *x, int h, int w, int oh, int ow,
                       const float *residual, float *y) {
    dl_conv2d_desc d = {
        .cin = c->cin,
        .cout = c->cout,
        .kh = c->k,
        .kw = c->k,
        .stride_h = c->stride,
        .stride_w = c->stride,
        .pad_top = c->pad,
        .pad_left = c->pad,
        .groups = c->groups,
        .in_h = h,
        .in_w = w,
        .out_h = oh,
        .out_w = ow,
    };
    if (!dl_exec_reserve(ex, ex->ops->conv2d_scratch(&ex->ctx, &d))) return false;
    ex->ops->conv2d(&ex->ctx, &d, x, &c->w, &c->b, residual, c->act, y);
    ex->flops += dl_conv_flops(&d);
    return true;
}

void dl_conv_run(dl_exec *ex, const dl_conv *c, const float *x, int h, int w, const float *residual,
                 float *y) {
    (void)dl_conv_run_sized(ex, c, x, h, w, dl_conv_out(c, h), dl_conv_out(c, w), residual, y);
}

void dl_linear_run(dl_exec *ex, const dl_linear *l, int t, const float *x, dl_act act, float *y) {
    if (!dl_exec_reserve(ex, ex->ops->linear_scratch(&ex->ctx, t, l->out, l->in))) return;
    ex->ops->linear(&ex->ctx, t, l->out, l->in, x, l->in, &l->w, &l->b, act, y, l->out);
    ex->flops += dl_matmul_flops(t, l->out, l->in);
}

void dl_norm_run(dl_exec *ex, const dl_norm *n, int t, const float *x, const float *residual,
                 float *y) {
    ex->ops->layer_norm(&ex->ctx, t, n->dim, x, residual, &n->g, &n->b, n->eps, y);
}

void dl_mlp_run(dl_exec *ex, const dl_mlp *m, int t, const float *x, float *y) {
    const float *in = x;
    for (int i = 0; i < m->n; i++) {
        bool last = i == m->n - 1;
        float *out = last ? y : dl_exec_alloc(ex, (size_t)t * m->l[i].out);
        if (!out) return;
        dl_linear_run(ex, &m->l[i], t, in, last ? DL_ACT_NONE : DL_ACT_RELU, out);
        if (in != x) dl_exec_release(ex, (void *)in);
        in = out;
    }
}
