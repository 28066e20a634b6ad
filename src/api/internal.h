/* The structures behind the public handles (for the API files and white-box tests). */
#ifndef DL_API_INTERNAL_H
#define DL_API_INTERNAL_H

#include <stdbool.h>

#include "doclayout.h"
#include "models/layers.h"
#include "models/registry.h"

typedef struct dl_preprocess {
    int width, height; /* size["width"], size["height"] */
    bool do_resize, do_rescale, do_normalize;
    float rescale_factor;
    float mean[3], std[3];
} dl_preprocess;

struct dl_model {
    char *path;
    char *model_type;
    const dl_arch *arch; /* the registry's descriptor of model_type */
    void *net;           /* the architecture's network (arch->build, arch->free) */
    dl_preprocess pre;
    int num_labels, num_queries; /* queries: DETR object queries, or a dense model's cells */
    int max_detections;          /* top-k kept by post-processing (DETR: num_queries) */
    float nms_threshold;         /* per-label NMS IoU after top-k; 0 = none (DETR models) */
    char **label_names;          /* [num_labels] canonical Docling name or id2label's */
    int *docling_label;          /* [num_labels] Docling id or -1 */
    size_t num_parameters;
    uint64_t file_bytes;
    char warning[256]; /* a note about the loaded files (empty when none) */
    /* resize plans from page sizes to the input size, shared by every thread that
     * preprocesses with this model (internally locked) */
    struct dl_resize_cache *plans;
};

struct dl_detector {
    const dl_model *model;
    dl_threadpool *pool;
    dl_exec exec;
    /* where passes run (backends/backend.h): memory, weights, graphs, streams */
    struct dl_backend *backend;
    /* lanes: more detectors of this model on the same device, each with its own backend
     * instance, that run the images of one batch concurrently (lanes[0] is this detector).
     * Created at the first batch of more than one image, up to the backend's max_lanes. */
    dl_detector_options options;
    struct dl_detector **lanes;
    int n_lanes, max_lanes;
    bool is_lane;
    /* reusable per-batch buffers */
    float *pixels; /* [3, H, W] */
    float *logits; /* [Q, L] */
    float *boxes;  /* [Q, 4] */
};

/* Parse a model directory's config files into a model (weights not loaded). Internal steps of
 * dl_model_load, exposed for tests. */
dl_status dl_model_resolve_path(const char *path, char *out, size_t n, dl_error *err);

/* Run the network on one image's pixel values [3,h,w] in backend memory (host memory for the
 * CPU tables, device memory for CUDA); logits and boxes are host memory. */
dl_status dl_model_forward_one(const dl_model *m, dl_exec *ex, int h, int w, const float *pixels,
                               float *logits, float *boxes, dl_error *err);

/* Build a model from a config alone with generated weights (0 seed = zeros); for tests, tools
 * and benchmarks. `records`/`n_records` (optional) receive the requested tensor list, which
 * the caller frees with dl_weight_records_free. */
dl_status dl_model_build_enumerated(const char *config_json_path, unsigned seed, dl_model **out,
                                    dl_weight_record **records, size_t *n_records, dl_error *err);
void dl_weight_records_free(dl_weight_record *records, size_t n);

/* The network on one image whose pixels are in host memory, on the detector's backend
 * (uploads, graph replay, and the backend's error check included). */
dl_status dl_detector_forward_image(dl_detector *d, int h, int w, const float *pixels,
                                    float *logits, float *boxes, dl_error *err);
/* The model's host weight allocations, for a backend that copies them to its own memory. */
size_t dl_model_weight_allocs(const dl_model *m, void *const **ptrs, const size_t **floats);

/* Use the scalar reference ops instead of the fast CPU ones (tests). */
void dl_detector_use_reference_ops(dl_detector *d);
/* The detector's backend runs its ops on CPU threads (the CPU backend; not a GPU's). */
bool dl_detector_uses_cpu_threads(const dl_detector *d);
/* Receive intermediate tensors (parity tests). */
void dl_detector_set_hook(dl_detector *d, dl_stage_hook hook, void *user);

#endif
