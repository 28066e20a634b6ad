/* dl_detector: a model bound to a backend, its threads and its activation memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/error.h"
#include "core/mem.h"

dl_detector_options dl_detector_default_options(void) {
    dl_detector_options o = {.device = DL_DEVICE_CPU, .device_index = 0, .num_threads = 0,
                             .precision = DL_PRECISION_DEFAULT};
    return o;
}

dl_status dl_detector_create(const dl_model *model, const dl_detector_options *options,
                             dl_detector **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: out is NULL");
    *out = NULL;
    if (!model) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_create: model is NULL");
    dl_detector_options o = options ? *options : dl_detector_default_options();
    if (o.device == DL_DEVICE_CUDA)
        return dl_fail(err, DL_ERR_BACKEND,
                       "device cuda: this build has no CUDA backend (use --device cpu or auto)");
    if (o.device != DL_DEVICE_CPU && o.device != DL_DEVICE_AUTO)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown device %d", (int)o.device);
    if (o.precision != DL_PRECISION_DEFAULT && o.precision != DL_PRECISION_FP32)
        return dl_fail(err, DL_ERR_UNSUPPORTED, "the CPU backend computes in float32 only");
    if (o.num_threads < 0 || o.num_threads > 1024)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "num_threads %d is out of range",
                       o.num_threads);
    int threads = o.num_threads ? o.num_threads : dl_cpu_count();
    dl_detector *d = calloc(1, sizeof *d);
    if (!d) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    d->model = model;
    d->pool = dl_threadpool_create(threads);
    size_t q = (size_t)model->num_queries;
    d->logits = malloc(q * (size_t)model->num_labels * sizeof(float));
    d->boxes = malloc(q * 4 * sizeof(float));
    d->pixels = malloc((size_t)3 * model->pre.width * model->pre.height * sizeof(float));
    if (!d->pool || !d->logits || !d->boxes || !d->pixels) {
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
    dl_exec_free(&d->exec);
    dl_threadpool_free(d->pool);
    free(d->logits);
    free(d->boxes);
    free(d->pixels);
    free(d);
}

const char *dl_detector_device_name(const dl_detector *d) { return d ? d->device_name : NULL; }
const char *dl_detector_kernel_name(const dl_detector *d) { return d ? d->exec.ops->name : NULL; }
int dl_detector_num_threads(const dl_detector *d) { return d ? dl_threadpool_size(d->pool) : 0; }

void dl_detector_use_reference_ops(dl_detector *d) { dl_exec_set_ops(&d->exec, dl_ops_reference()); }

void dl_detector_set_hook(dl_detector *d, dl_stage_hook hook, void *user) {
    d->exec.hook = hook;
    d->exec.hook_user = user;
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
    for (int i = 0; i < n; i++) {
        dl_status s = dl_model_forward_one(d->model, &d->exec, height, width,
                                           pixel_values + per * i, logits + ql * i,
                                           pred_boxes + q4 * i, err);
        if (s != DL_OK) return s;
    }
    return DL_OK;
}
