/* dl_detector: a model bound to a backend, its threads and its activation memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "backends/backend.h"
#include "core/error.h"
#include "core/mem.h"

dl_detector_options dl_detector_default_options(void) {
    dl_detector_options o = {.device = DL_DEVICE_CPU,
                             .device_index = 0,
                             .num_threads = 0,
                             .precision = DL_PRECISION_DEFAULT};
    return o;
}

/* Open the backend `e` for `d`, bind the exec to it and copy the weights into it. */
static dl_status open_backend(dl_detector *d, const dl_backend_entry *e,
                              const dl_detector_options *o, dl_error *err) {
    const dl_model *m = d->model;
    /* an architecture whose forward still reads activations on the host needs host memory */
    if (!e->host_memory && (m->arch->needs & DL_ARCH_NEEDS_HOST_MEMORY))
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "model_type \"%s\" runs only where memory is host memory, not on the %s "
                       "backend (parts of its forward still run as host loops; use --device cpu "
                       "or auto)",
                       m->model_type, e->name);
    dl_backend_open_args a = {.device_index = o->device_index, .precision = o->precision};
    dl_backend *b = NULL;
    dl_status s = e->open(&a, &b, err);
    if (s != DL_OK) return s;
    d->backend = b;
    /* a device needs no CPU workers: one thread (its ops only read the pool's size) */
    int threads = !b->wants_pool ? 1 : o->num_threads ? o->num_threads : dl_cpu_count();
    d->pool = dl_threadpool_create(threads);
    if (!d->pool) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory creating a detector");
    dl_exec_init(&d->exec, b->ops, d->pool);
    d->exec.ctx.backend = b->op_ctx;
    if (b->upload_weights) {
        void *const *ptrs;
        const size_t *floats;
        size_t n = dl_model_weight_allocs(m, &ptrs, &floats);
        size_t *bytes = malloc((n ? n : 1) * sizeof *bytes);
        if (!bytes) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < n; i++) bytes[i] = floats[i] * sizeof(float);
        s = b->upload_weights(b, ptrs, bytes, n, err);
        free(bytes);
        if (s != DL_OK) return s;
    }
    return DL_OK;
}

/* Undo a failed open_backend (AUTO then tries the next backend). */
static void close_backend(dl_detector *d) {
    if (d->exec.ops) dl_exec_free(&d->exec);
    memset(&d->exec, 0, sizeof d->exec);
    if (d->backend) d->backend->close(d->backend);
    d->backend = NULL;
    dl_threadpool_free(d->pool);
    d->pool = NULL;
}

static const char *const precision_names[] = {"its default precision", "fp32", "fp16", "bf16"};

/* DL_DEVICE_AUTO: the backends in the table's AUTO order, the first that opens. A backend
 * that lacks the precision asked for runs in its default (fp16 on the CPU: float32). */
static dl_status open_auto(dl_detector *d, const dl_detector_options *o, dl_error *err) {
    dl_status s = dl_fail(err, DL_ERR_UNSUPPORTED, "no backend is tried by device auto");
    for (int k = 0; dl_backend_auto(k); k++) {
        const dl_backend_entry *e = dl_backend_auto(k);
        dl_detector_options eo = *o;
        if (!(e->precisions & 1u << o->precision)) eo.precision = DL_PRECISION_DEFAULT;
        dl_error e_err;
        s = open_backend(d, e, &eo, &e_err);
        if (s == DL_OK) return DL_OK;
        if (err) *err = e_err; /* the last one's reason */
        close_backend(d);      /* the next one, as if asked for it */
    }
    return s;
}

dl_status dl_detector_create(const dl_model *model, const dl_detector_options *options,
                             dl_detector **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: out is NULL");
    *out = NULL;
    if (!model) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: model is NULL");
    dl_detector_options o = options ? *options : dl_detector_default_options();
    const dl_backend_entry *chosen = dl_backend_find(o.device);
    if (!chosen && o.device != DL_DEVICE_AUTO)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown device %d (devices: %s)",
                       (int)o.device, dl_device_names());
    if (o.precision < DL_PRECISION_DEFAULT || o.precision > DL_PRECISION_BF16)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)o.precision);
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
    dl_status s;
    if (chosen && !(chosen->precisions & 1u << o.precision))
        s = dl_fail(err, DL_ERR_UNSUPPORTED, "the %s backend does not compute in %s", chosen->name,
                    precision_names[o.precision]);
    else if (chosen) s = open_backend(d, chosen, &o, err);
    else s = open_auto(d, &o, err);
    if (s != DL_OK) {
        dl_detector_free(d);
        return s;
    }
    *out = d;
    return DL_OK;
}

void dl_detector_free(dl_detector *d) {
    if (!d) return;
    for (int i = 1; i < d->n_lanes; i++) dl_detector_free(d->lanes[i]);
    free(d->lanes);
    close_backend(d);
    free(d->logits);
    free(d->boxes);
    free(d->pixels);
    free(d);
}

const char *dl_detector_device_name(const dl_detector *d) {
    return d ? d->backend->device_name : NULL;
}
const char *dl_detector_kernel_name(const dl_detector *d) { return d ? d->exec.ops->name : NULL; }
int dl_detector_num_threads(const dl_detector *d) { return d ? dl_threadpool_size(d->pool) : 0; }

bool dl_detector_uses_cpu_threads(const dl_detector *d) { return d->backend->wants_pool; }

void dl_detector_use_reference_ops(dl_detector *d) {
    if (!d->backend->ops->device) dl_exec_set_ops(&d->exec, dl_ops_reference()); /* host only */
}

void dl_detector_set_hook(dl_detector *d, dl_stage_hook hook, void *user) {
    d->exec.hook = hook;
    d->exec.hook_user = user;
}

/* One pass of the model on the detector's exec, as the backend runs it. */
static dl_status detector_pass(void *user, int h, int w, const float *pixels, float *logits,
                               float *boxes, bool *replayable, dl_error *err) {
    dl_detector *d = user;
    dl_exec *ex = &d->exec;
    size_t allocs = ex->arena.n_system_allocs, scratch = ex->scratch_capacity;
    size_t fallbacks = ex->fallbacks;
    dl_status s = dl_model_forward_one(d->model, ex, h, w, pixels, logits, boxes, err);
    *replayable = ex->arena.n_system_allocs == allocs && ex->scratch_capacity == scratch &&
                  ex->fallbacks == fallbacks;
    return s;
}

static dl_pass pass_of(dl_detector *d) {
    dl_pass p = {.run = detector_pass, .user = d, .eager = d->exec.hook != NULL};
    p.logits_floats = (size_t)d->model->num_queries * d->model->num_labels;
    p.boxes_floats = (size_t)d->model->num_queries * 4;
    return p;
}

dl_status dl_detector_forward_image(dl_detector *d, int h, int w, const float *pixels,
                                    float *logits, float *boxes, dl_error *err) {
    dl_pass p = pass_of(d);
    return d->backend->run(d->backend, &p, h, w, pixels, logits, boxes, err);
}

/* Lanes for a batch: up to the backend's max_lanes detectors, this one first. A lane that
 * cannot be created (out of device memory) just leaves fewer lanes. */
static int lanes_for(dl_detector *d, int n) {
    if (d->backend->max_lanes < 2 || !d->backend->start || d->is_lane || n < 2 || d->exec.hook)
        return 1;
    if (!d->max_lanes) d->max_lanes = d->backend->max_lanes;
    int want = n < d->max_lanes ? n : d->max_lanes;
    if (want > d->n_lanes) {
        dl_detector **l = realloc(d->lanes, (size_t)want * sizeof *l);
        if (!l) return d->n_lanes ? d->n_lanes : 1;
        d->lanes = l;
        if (!d->n_lanes) d->lanes[d->n_lanes++] = d;
        while (d->n_lanes < want) {
            dl_detector *lane = NULL;
            dl_error e;
            if (dl_detector_create(d->model, &d->options, &lane, &e) != DL_OK ||
                lane->backend->kind != d->backend->kind) {
                dl_detector_free(lane);
                d->max_lanes = d->n_lanes; /* do not retry at every batch */
                break;
            }
            lane->is_lane = true;
            d->lanes[d->n_lanes++] = lane;
        }
    }
    return d->n_lanes < want ? (d->n_lanes ? d->n_lanes : 1) : want;
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
    int lanes = lanes_for(d, n);
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
            dl_detector *l = d->lanes[j];
            dl_pass p = pass_of(l);
            started[j] = l->backend->start(l->backend, &p, height, width, pixel_values + per * i,
                                           logits + ql * i, pred_boxes + q4 * i, &s, &e);
            if (s != DL_OK && first == DL_OK) {
                first = s;
                if (err) *err = e;
            }
        }
        for (int j = 0; j < k; j++) {
            if (!started[j]) continue;
            dl_detector *l = d->lanes[j];
            dl_error e;
            dl_status s = l->backend->finish(l->backend, &e);
            if (s != DL_OK && first == DL_OK) {
                first = s;
                if (err) *err = e;
            }
        }
        if (first != DL_OK) return first;
    }
    return DL_OK;
}
