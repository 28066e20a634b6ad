/*
 * Backends: where a detector's passes run. A backend owns everything device-specific behind
 * one interface: its op table (ops/ops.h), its memory, the model's weights as its own buffers,
 * and how a pass is launched (CUDA graphs, streams, staging). The API layer (api/detector.c)
 * knows only this interface, so a new backend is one folder under src/backends/ plus one line
 * in backends/backend.c's table.
 *
 * What a backend supports is asked, not assumed: the registry ops it has kernels for
 * (dl_ops_supports), and `max_lanes` (how many instances of it may run images concurrently
 * on one device). An op a backend lacks runs as the scalar reference (dl_op_fallback).
 */
#ifndef DL_BACKENDS_BACKEND_H
#define DL_BACKENDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "doclayout.h"
#include "ops/ops.h"

/*
 * One forward pass as the API hands it to a backend: run the network on pixels in backend
 * memory and write the host logits and boxes. `*replayable` is set false when the pass
 * allocated memory or ran an op as a host fallback (such a pass cannot be captured and
 * replayed). `eager`: never capture or replay (intermediate tensors are being observed).
 */
typedef struct dl_pass {
    dl_status (*run)(void *user, int h, int w, const float *pixels, float *logits, float *boxes,
                     bool *replayable, dl_error *err);
    void *user;
    bool eager;
    size_t logits_floats, boxes_floats;
} dl_pass;

typedef struct dl_backend dl_backend;
struct dl_backend {
    const char *kind;      /* "cpu", "cuda" */
    const dl_ops *ops;     /* the op table passes run with */
    void *op_ctx;          /* goes into dl_ops_ctx.backend */
    bool wants_pool;       /* runs its ops on the detector's CPU threads */
    char device_name[128]; /* "cpu", "cuda:0 (NVIDIA H200, sm_90)" */
    int max_lanes;         /* concurrent instances worth running on one device (1: none) */
    bool graph_ready;      /* the last pass replayed a captured graph (tests, benchmarks) */
    /*
     * Copy the model's weight allocations (host arrays of bytes[i] bytes) into the backend's
     * own buffers, once; NULL for a backend that reads host memory.
     */
    dl_status (*upload_weights)(dl_backend *b, void *const *ptrs, const size_t *bytes, size_t n,
                                dl_error *err);
    /* One pass on host pixels [3, h, w] into host logits and boxes. */
    dl_status (*run)(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels,
                     float *logits, float *boxes, dl_error *err);
    /*
     * Lanes: start a pass and return before it ends (true; `finish` waits and writes the
     * logits and boxes given here), or run it to the end now (false, status in *st). NULL
     * where max_lanes is 1.
     */
    bool (*start)(dl_backend *b, const dl_pass *p, int h, int w, const float *pixels, float *logits,
                  float *boxes, dl_status *st, dl_error *err);
    dl_status (*finish)(dl_backend *b, dl_error *err);
    void (*close)(dl_backend *b);
};

typedef struct dl_backend_open_args {
    int device_index;
    dl_precision precision; /* DEFAULT: the backend's own default */
} dl_backend_open_args;

typedef dl_status (*dl_backend_open_fn)(const dl_backend_open_args *a, dl_backend **out,
                                        dl_error *err);

/* Open the backend of `device` (DL_DEVICE_CPU or DL_DEVICE_CUDA; AUTO is the API's choice). */
dl_status dl_backend_open(dl_device device, const dl_backend_open_args *a, dl_backend **out,
                          dl_error *err);

/* The backends, one line each in backend.c. */
dl_status dl_backend_cpu_open(const dl_backend_open_args *a, dl_backend **out, dl_error *err);
dl_status dl_backend_cuda_open(const dl_backend_open_args *a, dl_backend **out, dl_error *err);

#endif
