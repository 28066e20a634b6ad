/* dl_detector: a model bound to a backend, its threads and its activation memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cuda_loader.h"
#include "api/internal.h"
#include "core/error.h"
#include "core/mem.h"

dl_detector_options dl_detector_default_options(void) {
    dl_detector_options o = {.device = DL_DEVICE_CPU, .device_index = 0, .num_threads = 0,
                             .precision = DL_PRECISION_DEFAULT};
    return o;
}

/* Open the CUDA backend for `d` and copy the model's weights to it. */
static dl_status open_cuda(dl_detector *d, const dl_detector_options *o, dl_error *err) {
    const dl_model *m = d->model;
    if (m->arch->needs & DL_ARCH_NEEDS_HOST_MEMORY)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "device cuda: model_type \"%s\" runs on the CPU backend only for now "
                       "(parts of its forward still run as host loops; use --device cpu or "
                       "auto)",
                       m->model_type);
    if (o->device_index < 0 || o->device_index > 255)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "device index %d is out of range",
                       o->device_index);
    dl_precision p = o->precision == DL_PRECISION_DEFAULT ? DL_PRECISION_BF16 : o->precision;
    dl_cuda_backend *b = NULL;
    dl_status s = dl_cuda_open(o->device_index, p, &b, err);
    if (s != DL_OK) return s;
    d->cuda = b;
    dl_exec_init(&d->exec, b->ops, d->pool);
    d->exec.ctx.backend = b->ctx;
    void *const *ptrs;
    const size_t *floats;
    size_t n = dl_model_weight_allocs(m, &ptrs, &floats);
    size_t *bytes = malloc((n ? n : 1) * sizeof *bytes);
    if (!bytes) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) bytes[i] = floats[i] * sizeof(float);
    s = b->map_weights(b, ptrs, bytes, n, err);
    free(bytes);
    if (s != DL_OK) return s;
    const char *g = getenv("DOCLAYOUT_CUDA_GRAPHS");
    d->use_graphs = !(g && strcmp(g, "0") == 0);
    snprintf(d->device_name, sizeof d->device_name, "%s", b->device_name);
    return DL_OK;
}

dl_status dl_detector_create(const dl_model *model, const dl_detector_options *options,
                             dl_detector **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: out is NULL");
    *out = NULL;
    if (!model) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: model is NULL");
    dl_detector_options o = options ? *options : dl_detector_default_options();
    if (o.device != DL_DEVICE_CPU && o.device != DL_DEVICE_CUDA && o.device != DL_DEVICE_AUTO)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown device %d", (int)o.device);
    if (o.precision < DL_PRECISION_DEFAULT || o.precision > DL_PRECISION_BF16)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)o.precision);
    if (o.device == DL_DEVICE_CPU && o.precision != DL_PRECISION_DEFAULT &&
        o.precision != DL_PRECISION_FP32)
        return dl_fail(err, DL_ERR_UNSUPPORTED, "the CPU backend computes in float32 only");
    if (o.num_threads < 0 || o.num_threads > 1024)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "num_threads %d is out of range",
                       o.num_threads);
    dl_detector *d = calloc(1, sizeof *d);
    if (!d) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    d->model = model;
    d->options = o;
    size_t q = (size_t)model->num_queries;
    d->logits = malloc(q * (size_t)model->num_labels * sizeof(float));
    d->boxes = malloc(q * 4 * sizeof(float));
    d->pixels = malloc((size_t)3 * model->pre.width * model->pre.height * sizeof(float));
    if (!d->logits || !d->boxes || !d->pixels) {
        dl_detector_free(d);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory creating a detector");
    }
    if (o.device == DL_DEVICE_CUDA || o.device == DL_DEVICE_AUTO) {
        /* the GPU needs no CPU workers: one thread (ops only read the pool's size) */
        d->pool = dl_threadpool_create(1);
        if (!d->pool) {
            dl_detector_free(d);
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory creating a detector");
        }
        dl_error cerr;
        dl_status s = open_cuda(d, &o, &cerr);
        if (s == DL_OK) {
            *out = d;
            return DL_OK;
        }
        if (o.device == DL_DEVICE_CUDA) {
            if (err) *err = cerr;
            dl_detector_free(d);
            return s;
        }
        /* auto: the CPU, as if asked for it */
        if (d->cuda) {
            if (d->exec.ops) dl_exec_free(&d->exec);
            d->cuda->close(d->cuda);
            d->cuda = NULL;
        }
        memset(&d->exec, 0, sizeof d->exec);
        dl_threadpool_free(d->pool);
        d->pool = NULL;
    }
    int threads = o.num_threads ? o.num_threads : dl_cpu_count();
    d->pool = dl_threadpool_create(threads);
    if (!d->pool) {
        dl_detector_free(d);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory creating a detector");
    }
    dl_exec_init(&d->exec, dl_ops_cpu(), d->pool);
    snprintf(d->device_name, sizeof d->device_name, "cpu");
    *out = d;
    return DL_OK;
}

void dl_detector_free(dl_detector *d) {
    if (!d) return;
    for (int i = 1; i < d->n_lanes; i++) dl_detector_free(d->lanes[i]);
    free(d->lanes);
    if (d->cuda && d->dev_pixels) d->exec.ops->mem_free(&d->exec.ctx, d->dev_pixels);
    if (d->exec.ops) dl_exec_free(&d->exec); /* not initialised when creation failed early */
    if (d->cuda) d->cuda->close(d->cuda);
    dl_threadpool_free(d->pool);
    free(d->logits);
    free(d->boxes);
    free(d->pixels);
    free(d);
}

const char *dl_detector_device_name(const dl_detector *d) { return d ? d->device_name : NULL; }
const char *dl_detector_kernel_name(const dl_detector *d) { return d ? d->exec.ops->name : NULL; }
int dl_detector_num_threads(const dl_detector *d) { return d ? dl_threadpool_size(d->pool) : 0; }

void dl_detector_use_reference_ops(dl_detector *d) {
    if (!d->cuda) dl_exec_set_ops(&d->exec, dl_ops_reference()); /* CPU detectors only */
}

void dl_detector_set_hook(dl_detector *d, dl_stage_hook hook, void *user) {
    d->exec.hook = hook;
    d->exec.hook_user = user;
}

/* Replay the captured pass: downloads land in d->logits / d->boxes. */
static dl_status launch_graph(dl_detector *d, float *logits, float *boxes, dl_error *err) {
    dl_status s = d->cuda->graph_launch(d->cuda, err);
    if (s != DL_OK) return s;
    size_t ql = (size_t)d->model->num_queries * d->model->num_labels;
    if (logits != d->logits) memcpy(logits, d->logits, ql * sizeof(float));
    if (boxes != d->boxes) memcpy(boxes, d->boxes, (size_t)d->model->num_queries * 4 * sizeof(float));
    return DL_OK;
}

dl_status dl_detector_forward_image(dl_detector *d, int h, int w, const float *pixels,
                                    float *logits, float *boxes, dl_error *err) {
    dl_exec *ex = &d->exec;
    if (!d->cuda) return dl_model_forward_one(d->model, ex, h, w, pixels, logits, boxes, err);
    size_t n = (size_t)3 * h * w;
    if (n > d->dev_pixels_floats) {
        if (d->dev_pixels) ex->ops->mem_free(&ex->ctx, d->dev_pixels);
        d->graph_ready = false; /* a graph reads the old buffer */
        d->cuda->graph_drop(d->cuda);
        d->dev_pixels = ex->ops->mem_alloc(&ex->ctx, n * sizeof(float));
        d->dev_pixels_floats = d->dev_pixels ? n : 0;
        if (!d->dev_pixels)
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of GPU memory for the input pixels");
    }
    ex->ops->upload(&ex->ctx, d->dev_pixels, pixels, n * sizeof(float));
    bool graphs = d->use_graphs && !ex->hook && !d->graph_failed;
    if (graphs && d->graph_ready && d->graph_h == h && d->graph_w == w)
        return launch_graph(d, logits, boxes, err);
    if (graphs && d->stable_h == h && d->stable_w == w) {
        /* the last pass of this shape allocated nothing: capture this one */
        if (d->graph_ready) d->cuda->graph_drop(d->cuda);
        d->graph_ready = false;
        size_t allocs = ex->arena.n_system_allocs, scratch = ex->scratch_capacity;
        dl_error gerr;
        if (d->cuda->graph_begin(d->cuda, &gerr) == DL_OK) {
            dl_status s = dl_model_forward_one(d->model, ex, h, w, d->dev_pixels, d->logits,
                                               d->boxes, &gerr);
            dl_status e = d->cuda->graph_end(d->cuda, &gerr);
            if (s == DL_OK && e == DL_OK && ex->arena.n_system_allocs == allocs &&
                ex->scratch_capacity == scratch) {
                d->graph_ready = true;
                d->graph_h = h;
                d->graph_w = w;
                return launch_graph(d, logits, boxes, err);
            }
            d->cuda->graph_drop(d->cuda);
        }
        d->graph_failed = true; /* run eagerly from now on */
    }
    size_t allocs = ex->arena.n_system_allocs, scratch = ex->scratch_capacity;
    dl_status s = dl_model_forward_one(d->model, ex, h, w, d->dev_pixels, logits, boxes, err);
    dl_status e = ex->ops->sync(&ex->ctx, err);
    if (s != DL_OK) return s;
    if (e != DL_OK) return e;
    bool stable = ex->arena.n_system_allocs == allocs && ex->scratch_capacity == scratch;
    d->stable_h = stable ? h : 0;
    d->stable_w = stable ? w : 0;
    return DL_OK;
}

/* Lanes for a batch on the GPU: up to DOCLAYOUT_CUDA_LANES (default 4) detectors, this one
 * first. A lane that cannot be created (out of GPU memory) just leaves fewer lanes. */
static int cuda_lanes(dl_detector *d, int n) {
    if (!d->cuda || d->is_lane || n < 2 || d->exec.hook || !d->use_graphs || d->graph_failed)
        return 1;
    if (!d->max_lanes) {
        const char *e = getenv("DOCLAYOUT_CUDA_LANES");
        int v = e && *e ? atoi(e) : 4;
        d->max_lanes = v < 1 ? 1 : v > 16 ? 16 : v;
    }
    int want = n < d->max_lanes ? n : d->max_lanes;
    if (want > d->n_lanes) {
        dl_detector **l = realloc(d->lanes, (size_t)want * sizeof *l);
        if (!l) return d->n_lanes ? d->n_lanes : 1;
        d->lanes = l;
        if (!d->n_lanes) d->lanes[d->n_lanes++] = d;
        dl_detector_options o = d->options;
        o.device = DL_DEVICE_CUDA;
        while (d->n_lanes < want) {
            dl_detector *lane = NULL;
            dl_error e;
            if (dl_detector_create(d->model, &o, &lane, &e) != DL_OK) {
                d->max_lanes = d->n_lanes; /* do not retry at every batch */
                break;
            }
            lane->is_lane = true;
            lane->use_graphs = d->use_graphs;
            d->lanes[d->n_lanes++] = lane;
        }
    }
    return d->n_lanes < want ? (d->n_lanes ? d->n_lanes : 1) : want;
}

/* Start image `px` on lane `l`: with its graph ready, upload and launch without waiting
 * (returns 1); otherwise run it to the end now (returns 0). */
static int lane_start(dl_detector *l, int h, int w, const float *px, float *logits,
                      float *boxes, dl_status *st, dl_error *err) {
    dl_exec *ex = &l->exec;
    if (l->graph_ready && l->graph_h == h && l->graph_w == w && !l->graph_failed &&
        (size_t)3 * h * w <= l->dev_pixels_floats) {
        ex->ops->upload(&ex->ctx, l->dev_pixels, px, (size_t)3 * h * w * sizeof(float));
        *st = l->cuda->graph_launch_async(l->cuda, err);
        return *st == DL_OK;
    }
    *st = dl_detector_forward_image(l, h, w, px, logits, boxes, err);
    return 0;
}

dl_status dl_detector_forward(dl_detector *d, const float *pixel_values, int n, int height,
                              int width, float *logits, float *pred_boxes, dl_error *err) {
    if (!d || !pixel_values || !logits || !pred_boxes || n < 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_forward: bad arguments");
    if (height < 32 || width < 32 || height > 4096 || width > 4096)
        return dl_fail(err, DL_ERR_LIMIT, "input %dx%d is outside 32..4096 pixels", width, height);
    size_t per = (size_t)3 * height * width;
    size_t ql = (size_t)d->model->num_queries * d->model->num_labels;
    size_t q4 = (size_t)d->model->num_queries * 4;
    int lanes = cuda_lanes(d, n);
    if (lanes <= 1) {
        for (int i = 0; i < n; i++) {
            dl_status s = dl_detector_forward_image(d, height, width, pixel_values + per * i,
                                                    logits + ql * i, pred_boxes + q4 * i, err);
            if (s != DL_OK) return s;
        }
        return DL_OK;
    }
    /* rounds of `lanes` images: start each on its lane's stream, then collect in order */
    dl_status first = DL_OK;
    for (int i0 = 0; i0 < n; i0 += lanes) {
        int k = n - i0 < lanes ? n - i0 : lanes;
        int started[16] = {0};
        for (int j = 0; j < k; j++) {
            int i = i0 + j;
            dl_status s = DL_OK;
            dl_error e;
            started[j] = lane_start(d->lanes[j], height, width, pixel_values + per * i,
                                    logits + ql * i, pred_boxes + q4 * i, &s, &e);
            if (s != DL_OK && first == DL_OK) {
                first = s;
                if (err) *err = e;
            }
        }
        for (int j = 0; j < k; j++) {
            if (!started[j]) continue;
            dl_detector *l = d->lanes[j];
            int i = i0 + j;
            dl_error e;
            dl_status s = l->cuda->graph_wait(l->cuda, &e);
            if (s == DL_OK) {
                memcpy(logits + ql * i, l->logits, ql * sizeof(float));
                memcpy(pred_boxes + q4 * i, l->boxes, q4 * sizeof(float));
            } else if (first == DL_OK) {
                first = s;
                if (err) *err = e;
            }
        }
        if (first != DL_OK) return first;
    }
    return DL_OK;
}
