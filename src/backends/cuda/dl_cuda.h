/*
 * The interface between the core (libdoclayout, any CPU build) and the CUDA backend module
 * (libdoclayout_cuda.so, built from src/backends/cuda/ where a CUDA toolkit exists).
 *
 * The core never links CUDA: it dlopen()s the module at run time and looks up one symbol,
 * DL_CUDA_ENTRY. That function opens one GPU for one detector and returns a dl_cuda_backend:
 * an op table (device memory), the context pointer that goes into dl_ops_ctx.backend, the
 * device's name, and the few calls that are not ops (weights, CUDA graphs, closing).
 *
 * Plain C, shared by both sides; DL_CUDA_ABI changes whenever this header or dl_ops changes,
 * and the core refuses a module built against another version.
 */
#ifndef DL_BACKENDS_CUDA_DL_CUDA_H
#define DL_BACKENDS_CUDA_DL_CUDA_H

#include <stddef.h>

#include "doclayout.h"
#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DL_CUDA_ABI 4
/* DL_CUDA_ENTRY and DL_CUDA_MODULE_NAME: doclayout.h */

typedef struct dl_cuda_open_args {
    int abi;                /* DL_CUDA_ABI as the core knows it */
    int device;             /* CUDA device ordinal */
    dl_precision precision; /* FP32, FP16 or BF16 (DEFAULT resolved by the caller) */
} dl_cuda_open_args;

typedef struct dl_cuda_backend dl_cuda_backend;
struct dl_cuda_backend {
    int abi;               /* DL_CUDA_ABI the module was built with */
    const dl_ops *ops;     /* device op table ("cuda-fp32", "cuda-bf16", ...) */
    void *ctx;             /* goes into dl_ops_ctx.backend of the detector */
    char device_name[128]; /* "cuda:0 (NVIDIA H200, sm_90)" */
    int sm;                /* compute capability as major * 10 + minor */
    /*
     * Copy the model's weight buffers to the device once (one device buffer; plus a bf16/fp16
     * copy in reduced precision). From then on a weight an op receives (ops.h: dl_wref) is
     * read at the device copy of buffer ptrs[buf], offset floats in.
     */
    dl_status (*map_weights)(dl_cuda_backend *b, void *const *ptrs, const size_t *bytes, size_t n,
                             dl_error *err);
    /*
     * CUDA graphs. Between graph_begin and graph_end the ops are captured, not run: uploads
     * are snapshotted into pinned staging (their sources must be constant from pass to pass),
     * downloads land in pinned staging and reach their host destinations at each launch.
     * graph_end instantiates; graph_launch replays, waits, and finishes the downloads.
     * On any failure the backend drops the graph and the caller runs eagerly.
     */
    dl_status (*graph_begin)(dl_cuda_backend *b, dl_error *err);
    dl_status (*graph_end)(dl_cuda_backend *b, dl_error *err);
    dl_status (*graph_launch)(dl_cuda_backend *b, dl_error *err);
    void (*graph_drop)(dl_cuda_backend *b);
    /* graph_launch in two halves: start the replay on the backend's own stream, then wait for
     * it and finish its downloads. Several backends (detector lanes) overlap this way. */
    dl_status (*graph_launch_async)(dl_cuda_backend *b, dl_error *err);
    dl_status (*graph_wait)(dl_cuda_backend *b, dl_error *err);
    void (*close)(dl_cuda_backend *b);
};

/*
 * The module's one exported function. Fails with DL_ERR_BACKEND and a message for: no CUDA
 * device or driver, a driver older than the runtime, no code in the module for the device's
 * architecture (the message names the missing sm_XY), an ABI mismatch; DL_ERR_OUT_OF_MEMORY
 * when the device is full.
 */
typedef dl_status (*dl_cuda_open_fn)(const dl_cuda_open_args *args, dl_cuda_backend **out,
                                     dl_error *err);

#ifdef __cplusplus
}
#endif
#endif
