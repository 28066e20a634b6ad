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
     * Take the model's weight buffers (host arrays of bytes[i] bytes; ptrs[i] NULL: an empty
     * index) once: a device backend copies them into its own memory, where an op finds the
     * weight of a dl_wref at its copy of buffer `buf`, `offset` floats in (ops.h). The CPU
     * records them to pack weights once and check references. NULL: nothing to take.
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

/*
 * A line of the backend table (backend.c): the backend's device name ("cpu", "cuda"), how to
 * open it, whether and in which order DL_DEVICE_AUTO tries it (auto_order 1, 2, ...; 0: never),
 * whether a device string may name an instance ("cuda:1": max_index > 0 allows 0..max_index),
 * whether its memory is host memory (architectures with DL_ARCH_NEEDS_HOST_MEMORY run only
 * there), and the precisions it computes in (bit 1 << dl_precision; AUTO runs a backend
 * that lacks the one asked for in its DEFAULT).
 */
typedef struct dl_backend_entry {
    const char *name;
    dl_backend_open_fn open;
    int auto_order;
    int max_index;
    bool host_memory;
    unsigned precisions;
} dl_backend_entry;

/* The line of a dl_device value; NULL for DL_DEVICE_AUTO and unknown values. */
const dl_backend_entry *dl_backend_find(dl_device device);
/* The k-th backend DL_DEVICE_AUTO tries (k = 0, 1, ...); NULL past the last. */
const dl_backend_entry *dl_backend_auto(int k);

/* A backend's open function, defined in its folder as `DL_BACKEND_OPEN(name) { ... }` (with
 * its prototype, so that backend.c's table line is the only other mention). */
#define DL_BACKEND_OPEN(name)                                                                      \
    dl_status dl_backend_##name##_open(const dl_backend_open_args *a, dl_backend **out,            \
                                       dl_error *err);                                             \
    dl_status dl_backend_##name##_open(const dl_backend_open_args *a, dl_backend **out,            \
                                       dl_error *err)

#endif
