/*
 * The architecture registry: one descriptor per model_type, in one table (models/registry.c).
 *
 * A new architecture is a new file src/models/<arch>.c that defines a `const dl_arch` and one
 * line in the table. The API layer loads and runs every model through its descriptor only; it
 * never names an architecture.
 */
#ifndef DL_MODELS_REGISTRY_H
#define DL_MODELS_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "models/layers.h"

/* What the API layer learns from a config: the shape of the forward's outputs and how they are
 * post-processed. */
typedef struct dl_arch_dims {
    int num_labels;
    int num_queries;     /* rows of logits/boxes: DETR object queries, or a dense model's cells */
    int max_detections;  /* top-k kept by post-processing; 0 = num_queries */
    float nms_threshold; /* per-label NMS IoU after top-k; 0 = none (DETR models) */
} dl_arch_dims;

/* What an architecture's forward needs from a backend (dl_arch.needs). A detector refuses a
 * backend that lacks one of them with DL_ERR_UNSUPPORTED naming the model_type. */
enum {
    /* Some steps still read or write activations on the host (loops that are not ops yet), so
     * only backends whose memory is host memory (the CPU tables) can run it. */
    DL_ARCH_NEEDS_HOST_MEMORY = 1u << 0,
};

typedef struct dl_arch {
    const char *model_type; /* config.json's "model_type" */
    size_t config_size;     /* bytes of the architecture's parsed config (its own struct) */
    /* Parse and validate config.json into `config` (config_size bytes, zeroed) and fill
     * `dims`; in_h x in_w is the preprocessor's input size. Names the offending field. */
    dl_status (*parse_config)(const cJSON *root, int in_h, int in_w, void *config,
                              dl_arch_dims *dims, dl_error *err);
    /* Build the network from a parsed config, requesting every tensor through `w` (errors go
     * to w->err). */
    dl_status (*build)(const void *config, dl_weights *w, void **net);
    /* One image: pixels [3, h, w] in backend memory -> logits [num_queries, num_labels] and
     * boxes [num_queries, 4] (cx, cy, w, h in [0, 1]) in host memory; activations from
     * ex->arena. */
    dl_status (*forward)(const void *net, dl_exec *ex, int h, int w, const float *pixels,
                         float *logits, float *boxes, dl_error *err);
    void (*free)(void *net);
    /* Optional: a note about the loaded weights (empty or NULL when none). */
    const char *(*warning)(const void *net);
    /* Optional: the network's host allocations and their sizes in floats, for a device backend
     * to copy once; returns their count (none: a device backend cannot hold its weights). */
    size_t (*weight_allocs)(const void *net, void *const **ptrs, const size_t **floats);
    unsigned needs; /* DL_ARCH_NEEDS_* */
    /* Input rule: the number of output rows depends on the input size, so the forward accepts
     * only the preprocessor's size. (Stride rules are checked by each forward.) */
    bool fixed_input_size;
} dl_arch;

/* The descriptor of a model_type, or NULL with a DL_ERR_UNSUPPORTED message listing the
 * supported ones (and why a known retired one is refused). */
const dl_arch *dl_arch_find(const char *model_type, dl_error *err);
/* The registered descriptors, in table order (for tests and tools). */
size_t dl_arch_count(void);
const dl_arch *dl_arch_at(size_t index);

#endif
