/*
 * The CUDA backend's core side (plain C in libdoclayout): it loads the module (loader.c),
 * opens a device through it, uploads the weights, and runs passes: the input pixels into
 * device memory, then the pass eagerly or as a CUDA graph. A graph is captured once a pass of
 * the same shape ran replayable (nothing allocated, no host fallback), and replayed from then
 * on; a capture that fails switches this backend to eager passes for good.
 * DOCLAYOUT_CUDA_GRAPHS=0 turns graphs off; DOCLAYOUT_CUDA_LANES (default 4) caps the
 * instances the API runs side by side on one GPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cuda/loader.h"
#include "core/error.h"

typedef struct cuda_runner {
    dl_backend pub;
    dl_cuda_backend *cuda;
    dl_ops_ctx ctx;    /* the module's op context (no scratch: passes bring their own) */
    float *dev_pixels; /* the input [3, h, w] in device memory */
    size_t dev_pixels_floats;
    bool use_graphs, graph_failed;
    int graph_h, graph_w;   /* shape the graph was captured for */
    int stable_h, stable_w; /* last eager pass of this shape was replayable */
    /* where the graph's downloads land, copied out after each replay */
    float *logits, *boxes;
    size_t logits_floats, boxes_floats;
    float *out_logits, *out_boxes; /* destinations of a started (lane) pass */
    size_t out_logits_floats, out_boxes_floats;
} cuda_runner;

/* Room for the graph's downloads (a graph writes where it was captured: a move drops it). */
static bool own_outputs(cuda_runner *r, const dl_pass *p) {
    if (p->logits_floats > r->logits_floats || p->boxes_floats > r->boxes_floats) {
        r->pub.graph_ready = false;
        r->cuda->graph_drop(r->cuda);
    }
    if (p->logits_floats > r->logits_floats) {
        float *l = realloc(r->logits, p->logits_floats * sizeof(float));
        if (!l) return false;
        r->logits = l;
        r->logits_floats = p->logits_floats;
    }
    if (p->boxes_floats > r->boxes_floats) {
        float *b = realloc(r->boxes, p->boxes_floats * sizeof(float));
        if (!b) return false;
        r->boxes = b;
        r->boxes_floats = p->boxes_floats;
    }
    return true;
}

static void copy_out(cuda_runner *r, const dl_pass *p, float *logits, float *boxes) {
    if (logits != r->logits) memcpy(logits, r->logits, p->logits_floats * sizeof(float));
    if (boxes != r->boxes) memcpy(boxes, r->boxes, p->boxes_floats * sizeof(float));
}

/* The pixels into device memory (a new buffer drops a graph that read the old one). */
static dl_status upload_pixels(cuda_runner *r, int h, int w, const float *pixels, dl_error *err) {
    const dl_ops *ops = r->pub.ops;
    size_t n = (size_t)3 * h * w;
    if (n > r->dev_pixels_floats) {
        if (r->dev_pixels) ops->mem_free(&r->ctx, r->dev_pixels);
        r->pub.graph_ready = false;
        r->cuda->graph_drop(r->cuda);
        r->dev_pixels = ops->mem_alloc(&r->ctx, n * sizeof(float));
        r->dev_pixels_floats = r->dev_pixels ? n : 0;
        if (!r->dev_pixels)
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of GPU memory for the input pixels");
    }
    ops->upload(&r->ctx, r->dev_pixels, pixels, n * sizeof(float));
    return DL_OK;
}

static bool graph_matches(const cuda_runner *r, const dl_pass *p, int h, int w) {
    return r->use_graphs && !p->eager && !r->graph_failed && r->pub.graph_ready &&
           r->graph_h == h && r->graph_w == w;
}

static dl_status cuda_run(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels,
                          float *logits, float *boxes, dl_error *err) {
    cuda_runner *r = (cuda_runner *)b;
    dl_status s = upload_pixels(r, h, w, pixels, err);
    if (s != DL_OK) return s;
    bool graphs = r->use_graphs && !p->eager && !r->graph_failed;
    if (graphs && !own_outputs(r, p)) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    if (graph_matches(r, p, h, w)) {
        s = r->cuda->graph_launch(r->cuda, err);
        if (s == DL_OK) copy_out(r, p, logits, boxes);
        return s;
    }
    if (graphs && r->stable_h == h && r->stable_w == w) {
        /* the last pass of this shape was replayable: capture this one */
        if (r->pub.graph_ready) r->cuda->graph_drop(r->cuda);
        r->pub.graph_ready = false;
        dl_error gerr;
        if (r->cuda->graph_begin(r->cuda, &gerr) == DL_OK) {
            bool replayable = true;
            dl_status ps =
                p->run(p->user, h, w, r->dev_pixels, r->logits, r->boxes, &replayable, &gerr);
            dl_status e = r->cuda->graph_end(r->cuda, &gerr);
            if (ps == DL_OK && e == DL_OK && replayable) {
                r->pub.graph_ready = true;
                r->graph_h = h;
                r->graph_w = w;
                s = r->cuda->graph_launch(r->cuda, err);
                if (s == DL_OK) copy_out(r, p, logits, boxes);
                return s;
            }
            r->cuda->graph_drop(r->cuda);
        }
        r->graph_failed = true; /* run eagerly from now on */
    }
    bool replayable = true;
    s = p->run(p->user, h, w, r->dev_pixels, logits, boxes, &replayable, err);
    dl_status e = r->pub.ops->sync(&r->ctx, err);
    if (s != DL_OK) return s;
    if (e != DL_OK) return e;
    r->stable_h = replayable ? h : 0;
    r->stable_w = replayable ? w : 0;
    return DL_OK;
}

static bool cuda_start(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels,
                       float *logits, float *boxes, dl_status *st, dl_error *err) {
    cuda_runner *r = (cuda_runner *)b;
    if (graph_matches(r, p, h, w) && (size_t)3 * h * w <= r->dev_pixels_floats) {
        r->pub.ops->upload(&r->ctx, r->dev_pixels, pixels, (size_t)3 * h * w * sizeof(float));
        r->out_logits = logits;
        r->out_boxes = boxes;
        r->out_logits_floats = p->logits_floats;
        r->out_boxes_floats = p->boxes_floats;
        *st = r->cuda->graph_launch_async(r->cuda, err);
        return *st == DL_OK;
    }
    *st = cuda_run(b, p, h, w, pixels, logits, boxes, err);
    return false;
}

static dl_status cuda_finish(dl_backend *b, dl_error *err) {
    cuda_runner *r = (cuda_runner *)b;
    dl_status s = r->cuda->graph_wait(r->cuda, err);
    if (s != DL_OK) return s;
    memcpy(r->out_logits, r->logits, r->out_logits_floats * sizeof(float));
    memcpy(r->out_boxes, r->boxes, r->out_boxes_floats * sizeof(float));
    return DL_OK;
}

static dl_status cuda_upload_weights(dl_backend *b, void *const *ptrs, const size_t *bytes,
                                     size_t n, dl_error *err) {
    cuda_runner *r = (cuda_runner *)b;
    return r->cuda->map_weights(r->cuda, ptrs, bytes, n, err);
}

static void cuda_close(dl_backend *b) {
    cuda_runner *r = (cuda_runner *)b;
    if (!r) return;
    if (r->dev_pixels) r->pub.ops->mem_free(&r->ctx, r->dev_pixels);
    if (r->cuda) r->cuda->close(r->cuda);
    free(r->logits);
    free(r->boxes);
    free(r);
}

DL_BACKEND_OPEN(cuda) {
    *out = NULL;
    if (a->device_index < 0 || a->device_index > 255)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "device index %d is out of range",
                       a->device_index);
    cuda_runner *r = calloc(1, sizeof *r);
    if (!r) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    dl_precision p = a->precision == DL_PRECISION_DEFAULT ? DL_PRECISION_BF16 : a->precision;
    dl_status s = dl_cuda_open(a->device_index, p, &r->cuda, err);
    if (s != DL_OK) {
        free(r);
        return s;
    }
    r->ctx.backend = r->cuda->ctx;
    r->pub.kind = "cuda";
    r->pub.ops = r->cuda->ops;
    r->pub.op_ctx = r->cuda->ctx;
    snprintf(r->pub.device_name, sizeof r->pub.device_name, "%s", r->cuda->device_name);
    const char *g = getenv("DOCLAYOUT_CUDA_GRAPHS");
    r->use_graphs = !(g && strcmp(g, "0") == 0);
    const char *e = getenv("DOCLAYOUT_CUDA_LANES");
    int lanes = e && *e ? atoi(e) : 4;
    r->pub.max_lanes = !r->use_graphs ? 1 : lanes < 1 ? 1 : lanes > 16 ? 16 : lanes;
    r->pub.upload_weights = cuda_upload_weights;
    r->pub.run = cuda_run;
    r->pub.start = cuda_start;
    r->pub.finish = cuda_finish;
    r->pub.close = cuda_close;
    *out = &r->pub;
    return DL_OK;
}
