/*
 * doclayout.h - the one public header of libdoclayout.
 *
 * doclayout finds the layout of document pages (text, titles, tables, pictures, ...) with
 * Docling's RT-DETR-family detectors, loaded straight from their Hugging Face files.
 *
 *     dl_error err;
 *     dl_model *model = NULL;
 *     dl_detector *det = NULL;
 *     dl_image *page = NULL;
 *     dl_result *res = NULL;
 *     if (dl_model_load("path/to/docling-layout-heron", NULL, &model, &err) != DL_OK ||
 *         dl_detector_create(model, NULL, &det, &err) != DL_OK ||
 *         dl_image_load_file("page.png", &page, &err) != DL_OK ||
 *         dl_detector_run(det, (const dl_image *const[]){page}, 1, 0.3f, &res, &err) != DL_OK) {
 *         fprintf(stderr, "%s\n", err.message);
 *     }
 *     size_t n;
 *     const dl_detection *d = dl_result_detections(res, 0, &n);
 *     ...
 *     dl_result_free(res); dl_image_free(page); dl_detector_free(det); dl_model_free(model);
 *
 * Rules that hold for every call:
 *  - Functions that can fail return a dl_status and, when `err` is not NULL, fill it with the
 *    same code and a readable message that names what was wrong (file, tensor, field).
 *  - The library never exits or aborts on bad input, and frees everything it allocated on an
 *    error path. Output pointers are left NULL on failure.
 *  - A dl_model is immutable once loaded: any number of detectors, in any threads, may share it.
 *    A dl_detector is used by one thread at a time.
 *  - Boxes are [x0, y0, x1, y1] in pixels of the image given to the detector, top-left origin.
 */
#ifndef DOCLAYOUT_H
#define DOCLAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define DL_API __declspec(dllexport)
#else
#define DL_API __attribute__((visibility("default")))
#endif

#define DOCLAYOUT_VERSION_MAJOR 0
#define DOCLAYOUT_VERSION_MINOR 2
#define DOCLAYOUT_VERSION_PATCH 0

/* "0.2.0" */
DL_API const char *dl_version(void);

/* ---- Status codes ------------------------------------------------------------------------ */

typedef enum dl_status {
    DL_OK = 0,
    DL_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a negative size, an unknown option value */
    DL_ERR_IO = 2,               /* a file could not be opened, read or written */
    DL_ERR_FORMAT = 3,           /* a file is corrupt, truncated or not what it claims to be */
    DL_ERR_UNSUPPORTED = 4,      /* valid input that this build cannot handle (model type, ...) */
    DL_ERR_MODEL = 5,            /* model files disagree: missing tensor, wrong shape or dtype */
    DL_ERR_LIMIT = 6, /* a size beyond the documented limits (refused before allocating) */
    DL_ERR_OUT_OF_MEMORY = 7,
    DL_ERR_BACKEND = 8, /* the compute backend failed or is unavailable */
    DL_ERR_INTERNAL = 9,
    DL_ERR_CANCELLED = 10, /* stopped by dl_pipeline_cancel */
    DL_ERR_BUSY = 11,      /* a queue is full (dl_batcher_submit): retry later */
    DL_ERR_TIMEOUT = 12    /* a wait ran out of time (dl_batch_job_wait) */
} dl_status;

/* A short fixed name for a status, e.g. "format error". Never NULL. */
DL_API const char *dl_status_string(dl_status status);

#define DL_ERROR_MESSAGE_MAX 512

/* Filled by any failing call that is given one. */
typedef struct dl_error {
    dl_status code;
    char message[DL_ERROR_MESSAGE_MAX];
} dl_error;

/* ---- Images ------------------------------------------------------------------------------ */

/* An 8-bit RGB image owned by the library (from dl_image_load_*) or wrapped by the caller. */
typedef struct dl_image {
    int width;
    int height;
    size_t stride; /* bytes between rows, >= 3 * width */
    uint8_t *rgb;  /* [height][stride], R,G,B interleaved */
} dl_image;

/* Largest accepted width or height, and pixel count, of a decoded image. Headers that claim
 * more are refused before any pixel memory is allocated. */
#define DL_IMAGE_MAX_SIDE 30000
#define DL_IMAGE_MAX_PIXELS (200u * 1000u * 1000u)

/* Decode a PNG, JPEG or TIFF file (first page) to RGB. Palette, grey, alpha (dropped, not
 * composited, as PIL's convert("RGB") does) and 16-bit input are converted. */
DL_API dl_status dl_image_load_file(const char *path, dl_image **out, dl_error *err);
/* The same from memory. */
DL_API dl_status dl_image_load_memory(const void *data, size_t size, dl_image **out, dl_error *err);
/* An owned blank RGB image (filled with `grey`). */
DL_API dl_status dl_image_create(int width, int height, uint8_t grey, dl_image **out,
                                 dl_error *err);
DL_API void dl_image_free(dl_image *image);
/* Write an image as PNG. */
DL_API dl_status dl_image_save_png(const dl_image *image, const char *path, dl_error *err);

/* ---- Models ------------------------------------------------------------------------------ */

typedef struct dl_model dl_model;

typedef struct dl_model_options {
    int reserved; /* zero-initialise; room for future options without an ABI break */
} dl_model_options;

/*
 * Load a Hugging Face model directory: config.json, preprocessor_config.json and
 * model.safetensors (or a sharded model.safetensors.index.json). `path` may also be a repo id
 * such as "docling-project/docling-layout-heron", looked up in the local Hugging Face cache
 * ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) without any network access.
 * Weights are validated, converted to float32, and batch norms folded at load time.
 */
DL_API dl_status dl_model_load(const char *path, const dl_model_options *options, dl_model **out,
                               dl_error *err);
DL_API void dl_model_free(dl_model *model);

/* "rt_detr_v2", "d_fine", ... (the config's model_type). */
DL_API const char *dl_model_type(const dl_model *model);
/* The directory the model was loaded from (after Hugging Face cache resolution). */
DL_API const char *dl_model_path(const dl_model *model);
/* The network input size from preprocessor_config.json (e.g. 640 x 640). */
DL_API int dl_model_input_width(const dl_model *model);
DL_API int dl_model_input_height(const dl_model *model);
DL_API int dl_model_num_labels(const dl_model *model);
DL_API int dl_model_num_queries(const dl_model *model);
/* Canonical Docling display name of a label id ("Text", "Section-header", ...), or the
 * model's own id2label spelling when it is not a Docling label. NULL when out of range. */
DL_API const char *dl_model_label_name(const dl_model *model, int label_id);
/* Number of float32 parameters held after loading (batch norms folded). */
DL_API size_t dl_model_num_parameters(const dl_model *model);
/* A note about the model's files that did not stop loading (empty string when none), e.g. a
 * D-FINE checkpoint whose stored `up`/`reg_scale` differ from config.json (the file's values
 * are used, as transformers does). The library never prints; callers may show it. */
DL_API const char *dl_model_warning(const dl_model *model);

/* ---- Detectors --------------------------------------------------------------------------- */

typedef struct dl_detector dl_detector;

/* Where a detector runs. CPU and CUDA keep these values; a backend added later has no name
 * here: dl_device_parse gives its value (past DL_DEVICE_AUTO) from its name. */
typedef enum dl_device {
    DL_DEVICE_CPU = 0,
    DL_DEVICE_CUDA = 1,
    DL_DEVICE_AUTO = 2 /* the backends in the library's order (CUDA when working, else CPU) */
} dl_device;

/*
 * A device by name, as the library's backends call themselves: "cpu", "cuda", "cuda:N" (the
 * N-th GPU) or "auto". Fills *device and *index (for dl_detector_options' device and
 * device_index); an unknown name gets DL_ERR_INVALID_ARGUMENT and a message that lists the
 * valid names. (Since 0.2.0.)
 */
DL_API dl_status dl_device_parse(const char *name, dl_device *device, int *index, dl_error *err);
/* The name of a device value ("cpu", "cuda", "auto"); NULL when it names no device. */
DL_API const char *dl_device_name(dl_device device);
/* The names dl_device_parse takes, for usage text: "cpu, cuda, cuda:N or auto". */
DL_API const char *dl_device_names(void);

typedef enum dl_precision {
    DL_PRECISION_DEFAULT =
        0, /* float32 on CPU; the backend's fastest exact-enough mode elsewhere */
    DL_PRECISION_FP32 = 1,
    DL_PRECISION_FP16 = 2,
    DL_PRECISION_BF16 = 3
} dl_precision;

typedef struct dl_detector_options {
    dl_device device;
    int device_index;
    int num_threads; /* CPU worker threads; 0 = all online cores */
    dl_precision precision;
} dl_detector_options;

/* Defaults: CPU, all cores, float32. */
DL_API dl_detector_options dl_detector_default_options(void);

DL_API dl_status dl_detector_create(const dl_model *model, const dl_detector_options *options,
                                    dl_detector **out, dl_error *err);
DL_API void dl_detector_free(dl_detector *detector);
/* "cpu" or "cuda:0"; and the CPU kernel family in use ("avx2", "neon", "scalar", ...). */
DL_API const char *dl_detector_device_name(const dl_detector *detector);
DL_API const char *dl_detector_kernel_name(const dl_detector *detector);
DL_API int dl_detector_num_threads(const dl_detector *detector);

typedef struct dl_detection {
    int label_id;
    const char *label; /* canonical name, owned by the model */
    float score;
    float box[4]; /* x0, y0, x1, y1 in the input image's pixels */
} dl_detection;

typedef struct dl_result dl_result;

/*
 * Detect the layout of `count` images as one batch: Pillow-exact bilinear resize to the
 * model's input size, rescale (and normalise when the preprocessor says so), the network, then
 * transformers' post_process_object_detection (sigmoid, top-k over queries x labels with ties
 * broken by lower index, strict score > threshold) and boxes clamped to the image.
 */
DL_API dl_status dl_detector_run(dl_detector *detector, const dl_image *const *images, size_t count,
                                 float threshold, dl_result **out, dl_error *err);
DL_API size_t dl_result_num_images(const dl_result *result);
/* Detections of image `index`, sorted by descending score. */
DL_API const dl_detection *dl_result_detections(const dl_result *result, size_t index,
                                                size_t *count);
DL_API void dl_result_free(dl_result *result);

/*
 * The network alone: pixel_values [n,3,H,W] float32 (H, W the model's input size) to
 * logits [n,Q,L] and pred_boxes [n,Q,4] (normalised cx, cy, w, h), both caller-allocated.
 */
DL_API dl_status dl_detector_forward(dl_detector *detector, const float *pixel_values, int n,
                                     int height, int width, float *logits, float *pred_boxes,
                                     dl_error *err);

/* Most detections one image can yield (DETR models: their queries; dense models: top-k). */
DL_API int dl_model_max_detections(const dl_model *model);

/*
 * Post-process one image's network outputs (logits [Q,L], pred_boxes [Q,4] from
 * dl_detector_forward) exactly as dl_detector_run does, for an image of width x height:
 * out[dl_model_max_detections] receives the detections sorted by score, *count their number.
 */
DL_API dl_status dl_model_postprocess(const dl_model *model, const float *logits,
                                      const float *pred_boxes, float threshold, int width,
                                      int height, dl_detection *out, size_t *count, dl_error *err);

/*
 * The same post-processing as an exported model gives it (Docling's ONNX export of heron, and
 * what its KServe v2 engine expects): transformers' post_process_object_detection at threshold
 * 0, NOT clamped, always dl_model_max_detections(model) = K entries sorted by score (top K over
 * queries x labels of the sigmoid scores, label = index mod labels, ties to the lower index, so
 * one query may appear twice). For an image of width x height (1 ..= DL_POSTPROCESS_MAX_SIDE):
 * labels[K], scores[K] and boxes[K][4] (x0, y0, x1, y1 in the image's pixels). Entries that do
 * not exist (a NaN score; a dense model's NMS) are filled with label 0, score 0, box 0.
 */
#define DL_POSTPROCESS_MAX_SIDE (1 << 24)
DL_API dl_status dl_model_postprocess_topk(const dl_model *model, const float *logits,
                                           const float *pred_boxes, int64_t width, int64_t height,
                                           int64_t *labels, float *scores, float *boxes,
                                           dl_error *err);

/* Preprocess one image into pixel_values [3,H,W] float32 exactly as dl_detector_run does. */
DL_API dl_status dl_model_preprocess(const dl_model *model, const dl_image *image,
                                     float *pixel_values, dl_error *err);

/* ---- Labels ------------------------------------------------------------------------------ */

/* Docling's 17 layout labels in heron's id order: 0 "Caption" ... 16 "Key-Value Region". */
#define DL_NUM_DOCLING_LABELS 17
DL_API const char *dl_docling_label_name(int docling_label);
/* Map any spelling ("list_item", "LIST-ITEM", "List-item") to a Docling label, or -1. */
DL_API int dl_docling_label_from_string(const char *name);
/* The Docling label of one of a model's label ids (a detection's label_id), or -1 when the
 * model's id2label names something that is not a Docling label (or the id is out of range). */
DL_API int dl_model_docling_label(const dl_model *model, int label_id);

/* ---- Text ---------------------------------------------------------------------------------- */

/* A NUL-terminated, valid UTF-8 copy of s[0..n): ill-formed sequences become U+FFFD (one per
 * maximal subpart, as Python's decode("utf-8", "replace")), and so does a NUL byte inside the
 * range. malloc'd (free() it); NULL when out of memory. *out_len (optional) gets its length. */
DL_API char *dl_utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* ---- CPU kernels and NumPy files ------------------------------------------------------- */

/* Limit the CPU kernels of the whole process to `level`: "scalar", "avx2", "avx512",
 * "avx512bf16" (x86-64), "neon", "neonbf16" (aarch64), as $DOCLAYOUT_CPU does. Call it before
 * creating detectors. DL_ERR_INVALID_ARGUMENT for an unknown name; DL_ERR_UNSUPPORTED when this
 * CPU cannot run it (the message names the highest level it runs). */
DL_API dl_status dl_cpu_set_kernels(const char *level, dl_error *err);

#define DL_NPY_MAX_DIMS 8
/* Read a float32 NumPy .npy file (C order): *data (free() it) holds the product of shape[0 ..
 * *ndim-1] values. DL_ERR_FORMAT when it is not float32 .npy. */
DL_API dl_status dl_npy_read_f32(const char *path, float **data, int *ndim,
                                 int64_t shape[DL_NPY_MAX_DIMS], dl_error *err);
/* Write float32 data of the given shape as .npy. */
DL_API dl_status dl_npy_write_f32(const char *path, const float *data, int ndim,
                                  const int64_t *shape, dl_error *err);

/* ---- Evaluation: COCO box AP with pycocotools' semantics (src/eval/coco_eval.h) ---------- */

#define DL_EVAL_NUM_IOU 10
#define DL_EVAL_NUM_REC 101
#define DL_EVAL_NUM_AREA 4 /* all, small, medium, large */
#define DL_EVAL_NUM_MAXDET 3
#define DL_EVAL_NUM_STATS 12

/* One ground-truth box or detection. `image` and `category` are dense indices
 * (0 .. num_images-1, 0 .. num_categories-1); bbox is COCO [x, y, w, h]. */
typedef struct dl_eval_box {
    int image;
    int category;
    double bbox[4];
    double area;  /* ground truth: the annotation's "area" (w*h when absent); detections: w*h */
    double score; /* detections only */
    int iscrowd;  /* ground truth only */
} dl_eval_box;

typedef struct dl_eval_params {
    int max_dets[DL_EVAL_NUM_MAXDET]; /* pycocotools: 1, 10, 100 */
} dl_eval_params;

typedef struct dl_eval_result {
    int num_categories;
    /* stats as COCOeval.summarize(): AP, AP50, AP75, AP small, medium, large,
     * AR@1, AR@10, AR@100, AR small, medium, large (at the largest maxDets); -1 when undefined. */
    double stats[DL_EVAL_NUM_STATS];
    /* Per category (area "all", largest maxDets): AP .50:.95, AP50, AP75, AR; -1 without
     * ground truth. Counts of ground truth (non-crowd) and detections per category. */
    double *ap, *ap50, *ap75, *ar;
    int *num_gt, *num_dt;
} dl_eval_result;

DL_API dl_eval_params dl_eval_default_params(void);

/* IoU thresholds and recall thresholds exactly as numpy's linspace computes them. */
DL_API double dl_eval_iou_threshold(int t);
DL_API double dl_eval_recall_threshold(int r);

/* Evaluate. DL_ERR_INVALID_ARGUMENT for an index out of range, DL_ERR_OUT_OF_MEMORY; free the
 * result with dl_eval_result_free. */
DL_API dl_status dl_eval_run(const dl_eval_box *gt, size_t n_gt, const dl_eval_box *dt, size_t n_dt,
                             int num_images, int num_categories, const dl_eval_params *params,
                             dl_eval_result *out);
DL_API void dl_eval_result_free(dl_eval_result *r);

/* ---- Diagnostics (what `doclayout doctor` reports) --------------------------------------- */

/* The CUDA backend is a module loaded at run time: its file name and its one entry point. */
#define DL_CUDA_MODULE_NAME "libdoclayout_cuda.so"
#define DL_CUDA_ENTRY "dl_cuda_backend_open"

#define DL_PATH_MAX 4096
#define DL_CUDA_PROBE_MAX_PLACES 8
#define DL_CUDA_MAX_ARCHS 32

/* What a module's GPU code offers one GPU. */
typedef enum dl_cuda_code_match {
    DL_CUDA_CODE_NONE = 0,   /* nothing this GPU can run */
    DL_CUDA_CODE_NATIVE,     /* SASS for exactly this sm */
    DL_CUDA_CODE_COMPATIBLE, /* SASS for the same major, lower minor (sm_120 on sm_121) */
    DL_CUDA_CODE_PTX_JIT     /* only PTX for an older or equal compute_XY: the driver JITs it */
} dl_cuda_code_match;

/* Where the CUDA module is, whether it loads, and which GPUs it carries code for. */
typedef struct dl_cuda_probe {
    int found;              /* a module exists in one of the places searched (it may not load) */
    int loadable;           /* it loads and exports DL_CUDA_ENTRY */
    char path[DL_PATH_MAX]; /* the module found ("" when none) */
    char error[DL_ERROR_MESSAGE_MAX]; /* why it does not load ("" when it does) */
    int n_searched;
    char searched[DL_CUDA_PROBE_MAX_PLACES][DL_PATH_MAX]; /* the places tried, in order */
    int code_read;                                        /* the module's .nv_fatbin was read: */
    int sass[DL_CUDA_MAX_ARCHS], n_sass;                  /* sm_XY as XY (90, 120, 121), sorted */
    int ptx[DL_CUDA_MAX_ARCHS], n_ptx;                    /* compute_XY */
} dl_cuda_probe;

/*
 * Look for the CUDA module exactly where and in the order a CUDA detector does:
 * $DOCLAYOUT_CUDA_MODULE alone when set; else the directory of the running libdoclayout (or
 * of the program it is linked into), the running executable's, the install libdir, then the
 * dynamic linker's search. Loads it (it stays loaded) without opening a GPU, and reads its
 * GPU code from the file. Never fails: what went wrong is in `error`.
 */
DL_API void dl_cuda_probe_module(dl_cuda_probe *probe);
/* What the probed module's code offers a GPU of compute capability sm (major * 10 + minor);
 * `which` (may be NULL) receives the sm of the SASS or the compute_XY of the PTX used. */
DL_API dl_cuda_code_match dl_cuda_probe_code_for(const dl_cuda_probe *probe, int sm, int *which);

/* The CPU as doclayout sees it, and the kernels it picked. */
#define DL_CPU_REPORT_MAX_FEATURES 24
typedef struct dl_cpu_report {
    char arch[16];                           /* "x86_64", "aarch64" or "other" */
    char model[160];                         /* "AMD EPYC 7B13", ... */
    int online_cpus, usable_cpus;            /* usable: those this process may run on (affinity) */
    uint64_t memory_total, memory_available; /* bytes; 0 when unknown */
    int n_features; /* this architecture's extensions, in a fixed order, present or not */
    struct {
        char name[16]; /* "avx2", "neon", "sve", ... */
        int present;
    } features[DL_CPU_REPORT_MAX_FEATURES];
    int sve_vector_bits;           /* 0 without SVE */
    char level[16], max_level[16]; /* the kernel level in use, and the highest this CPU runs */
    char ops_kernels[32];          /* the CPU op table a detector uses ("avx2", "neon", "scalar") */
    char sgemm_kernel[64];         /* its SGEMM micro-kernel */
} dl_cpu_report;

/* Fill `report` (never fails; what cannot be read stays empty or 0). */
DL_API void dl_cpu_report_get(dl_cpu_report *report);

/* Run a CPU detector on the plain scalar reference kernels from now on (slow: for self-tests
 * that compare the fast kernels with it). Returns 1; 0 (nothing done) on other devices. */
DL_API int dl_detector_use_reference_kernels(dl_detector *detector);

/* A model repository found in a local Hugging Face cache. */
typedef struct dl_cached_model {
    const char *repo_id;     /* "docling-project/docling-layout-heron" */
    const char *cache_entry; /* its models--org--name directory */
    const char *path;        /* the snapshot dl_model_load would use; NULL when none */
    const char *error;       /* why there is none (NULL when path is set) */
} dl_cached_model;

/* Called per cached model; return nonzero to stop. The strings live for the call only. */
typedef int (*dl_cached_model_fn)(const dl_cached_model *model, void *user);

/*
 * Every model repository in the Hugging Face caches dl_model_load searches ($HF_HUB_CACHE,
 * $HF_HOME/hub, ~/.cache/huggingface/hub; each once, in that order) whose repo id starts with
 * `repo_prefix` (NULL or "": all), resolved as dl_model_load resolves a repo id.
 */
DL_API void dl_hf_cache_models(const char *repo_prefix, dl_cached_model_fn fn, void *user);

/* ==== Document pipeline ===================================================================== */
/*
 * Documents in, results out, as `doclayout detect` runs them: PDF (rendered with MuPDF, with
 * its text layer), TIFF (every page), PNG and JPEG -> pages -> the detector in batches ->
 * Docling's layout post-processor -> outputs, in input order.
 *
 *     dl_pipeline_options po = dl_pipeline_default_options();
 *     dl_pipeline *p = NULL;
 *     dl_output_options out = {.format = "docling", .path = "results/", .per_document = 1};
 *     if (dl_pipeline_create(model, det, &po, &p, &err) != DL_OK ||
 *         dl_pipeline_add_output(p, &out, &err) != DL_OK ||
 *         dl_pipeline_run(p, (const char *const[]){"a.pdf", "b.tif"}, 2, &report, &err) != DL_OK)
 *         ...  (a failing document is not a failing run: see report.documents_failed)
 *     dl_pipeline_free(p);
 *
 * - Worker threads open, render/decode and preprocess pages (the pages of one document spread
 *   over them) into a reorder buffer; the thread calling dl_pipeline_run runs the detector in
 *   batches, post-processes and hands each page to the outputs in input order.
 * - Memory is bounded: at most 2 x batch + workers + 2 pages are in flight, and each page's
 *   results are freed once the outputs have it. json, coco and markdown stream page by page;
 *   docling holds the DoclingDocument of one document (the output itself) until its end.
 * - A per-document result file appears only when its document succeeded: it is written to a
 *   temporary file in the same directory and renamed at the document's end; a failed, cancelled
 *   or interrupted document leaves none, so a later run with skip_existing redoes it. A
 *   combined result file is renamed into place when the run completes.
 * - The library never prints: progress, page and document failures arrive through `on_event`,
 *   on the thread that called dl_pipeline_run.
 * - A dl_pipeline runs one dl_pipeline_run at a time (it uses the detector given to it).
 */

typedef struct dl_pipeline dl_pipeline;

typedef enum dl_pipeline_event_kind {
    DL_EVENT_PAGE_DONE = 0,        /* a page went through, failed or not (progress) */
    DL_EVENT_PAGE_FAILED = 1,      /* `message` says why; the document goes on */
    DL_EVENT_DOCUMENT_FAILED = 2,  /* not opened, no page selected, or its result not written */
    DL_EVENT_DOCUMENT_SKIPPED = 3, /* skip_existing: its result exists */
    DL_EVENT_WARNING = 4           /* did not fail the page (an overlay not written, ...) */
} dl_pipeline_event_kind;

typedef struct dl_pipeline_event {
    dl_pipeline_event_kind kind;
    const char *source;  /* the input as given ("stdin" for "-") */
    int page;            /* 1-based; 0 for the document as a whole */
    const char *message; /* failures and warnings (names the file); NULL otherwise */
    int pages_done;      /* pages through so far in this run */
} dl_pipeline_event;

typedef void (*dl_pipeline_callback)(void *user, const dl_pipeline_event *event);

typedef struct dl_pipeline_options {
    int workers;                   /* page workers; 0 = from the cores and the detector's device */
    int batch;                     /* pages per detector call (1..256) */
    float threshold;               /* keep detections with score > threshold (0.3) */
    int raw;                       /* 1: the model's detections, without Docling's post-processor */
    double dpi;                    /* PDF render resolution (72: 1 pixel = 1 point) */
    const char *pages;             /* page selection such as "1-3,7,10-"; NULL = every page */
    const char *password;          /* of encrypted PDFs; NULL = none */
    int word_cells;                /* PDF text cells: 0 lines (as Docling), 1 words */
    int skip_existing;             /* skip a document whose per-document results all exist */
    dl_pipeline_callback on_event; /* may be NULL */
    void *user;                    /* passed to on_event */
} dl_pipeline_options;

/* batch 1, threshold 0.3, 72 dpi, every page, automatic workers. */
DL_API dl_pipeline_options dl_pipeline_default_options(void);
/* Check options without a model (the page selection's syntax, ranges): DL_ERR_INVALID_ARGUMENT
 * naming the option. dl_pipeline_create checks the same. */
DL_API dl_status dl_pipeline_check_options(const dl_pipeline_options *options, dl_error *err);
/* `model` and `detector` are borrowed: they must outlive the pipeline. (To share a detector with
 * other clients through a dl_batcher: dl_pipeline_create_batched, below.) */
DL_API dl_status dl_pipeline_create(const dl_model *model, dl_detector *detector,
                                    const dl_pipeline_options *options, dl_pipeline **out,
                                    dl_error *err);
DL_API void dl_pipeline_free(dl_pipeline *pipeline);

/* Output formats, one registered sink each: "json", "coco", "docling", "markdown", "overlay". */
DL_API size_t dl_output_format_count(void);
/* The name of format `index`, NULL past the end. */
DL_API const char *dl_output_format_name(size_t index);
/* A format's per-document file suffix (".docling.json"); NULL for an unknown format or one
 * that writes per page (overlay: DIR/NAME.png, DIR/NAME-pN.png). */
DL_API const char *dl_output_format_extension(const char *format);

/* Writes `size` bytes of a streamed result; returns 0 on failure (the run then fails). */
typedef int (*dl_output_write_fn)(void *user, const void *data, size_t size);

typedef struct dl_output_options {
    const char *format;       /* a registered format name */
    const char *path;         /* the combined result file; with per_document, a directory */
    int per_document;         /* 1: one file per input in `path`, named INPUT + extension */
    dl_output_write_fn write; /* path NULL: the combined result is streamed here instead */
    void *write_user;
    int coco_images; /* coco: a full COCO file (images, categories, annotations) */
} dl_output_options;

/* Add an output (any number; each input's pages go to every output in order). A directory
 * is created when missing and must be writable. */
DL_API dl_status dl_pipeline_add_output(dl_pipeline *pipeline, const dl_output_options *options,
                                        dl_error *err);

typedef struct dl_pipeline_report {
    int documents, documents_failed, documents_skipped;
    int pages, pages_failed;       /* pages through, a document that did not open counting one */
    int workers;                   /* page workers started */
    double seconds;                /* wall clock of the run */
    double render_s, preprocess_s; /* summed over the workers */
    double inference_s, postprocess_s, output_s, wait_s; /* the calling thread */
} dl_pipeline_report;

/*
 * Run the inputs: file paths, "-" for standard input (read once). Returns DL_OK when every
 * input was tried (each failure is reported through on_event and counted in *report, which
 * may be NULL); an error when the run itself could not go on (out of memory, a combined
 * result that cannot be written, DL_ERR_CANCELLED).
 */
DL_API dl_status dl_pipeline_run(dl_pipeline *pipeline, const char *const *inputs, size_t count,
                                 dl_pipeline_report *report, dl_error *err);
/* The pages the inputs would give (opening each; an input that does not open counts one),
 * e.g. for a progress bar's total. */
DL_API int dl_pipeline_count_pages(const dl_pipeline *pipeline, const char *const *inputs,
                                   size_t count);
/* Ask a running dl_pipeline_run to stop soon: from any thread, or a signal handler. */
DL_API void dl_pipeline_cancel(dl_pipeline *pipeline);

/* ==== Dynamic batcher ======================================================================= */
/*
 * Pools pages submitted from any number of threads (a server's concurrent requests) into
 * detector batches: at most max_batch pages per dl_detector_forward call, waiting at most
 * max_wait_ms after the oldest queued page for a batch to fill. Each page is post-processed as
 * dl_model_postprocess_topk does (K = dl_model_max_detections entries, unclamped). A job's
 * pages may be split across batches; its results come back in its own page order. On the CPU
 * the detector runs each page of a batch on its own, so a page's result does not depend on
 * the batch it rode in. `doclayout serve` pools HTTP and gRPC requests through it.
 *
 *     dl_batcher_options bo = dl_batcher_default_options();
 *     dl_batcher *b = NULL;
 *     dl_batch_job *job = NULL;
 *     if (dl_batcher_create(model, det, &bo, &b, &err) != DL_OK ||
 *         dl_batcher_submit(b, pixels, sizes, n, &job, &err) != DL_OK ||   (DL_ERR_BUSY: retry)
 *         dl_batch_job_wait(job, 30000, &err) != DL_OK)
 *         ...
 *     labels = dl_batch_job_labels(job); ...
 *     dl_batch_job_release(job);
 *     dl_batcher_free(b);
 *
 * - One thread of the batcher's own uses the detector (borrowed: it and the model must
 *   outlive the batcher, and nothing else may use the detector meanwhile).
 * - The queue is bounded: a submit that would take it past max_queue pages is refused at once
 *   with DL_ERR_BUSY, never blocked.
 * - Every function may be called from any thread, except dl_batcher_free, which must not run
 *   while another thread still submits.
 * - Its gather buffer, [max_batch,3,H,W] floats (39 MB at max_batch 8 and 640x640), is
 *   resident from dl_batcher_create on, so that memory does not step up later under load.
 */

typedef struct dl_batcher dl_batcher;
typedef struct dl_batch_job dl_batch_job;

/* After each batch, on the batcher's thread, outside its lock (for metrics). */
typedef void (*dl_batcher_callback)(void *user, int pages, double forward_ms, int queued_after);

typedef struct dl_batcher_options {
    int max_batch;   /* pages per detector call (1..256) */
    int max_wait_ms; /* how long the oldest queued page waits for a batch to fill (0..60000) */
    int max_queue;   /* pages queued and not yet in a batch, at most (>= 1) */
    dl_batcher_callback on_batch; /* may be NULL */
    void *user;                   /* passed to on_batch */
    int borrow_pixels; /* 1: dl_batcher_submit does not copy pixel_values; they must stay valid
                          until dl_batch_job_release returns (it waits for the job's pages
                          running in a batch). Saves a copy of every page (4.9 MB at 640x640) */
} dl_batcher_options;

/* max_batch 8, max_wait_ms 2, max_queue 256, no callback, pixels copied. */
DL_API dl_batcher_options dl_batcher_default_options(void);
/* `model` and `detector` are borrowed. DL_ERR_INVALID_ARGUMENT names an option out of range. */
DL_API dl_status dl_batcher_create(const dl_model *model, dl_detector *detector,
                                   const dl_batcher_options *options, dl_batcher **out,
                                   dl_error *err);
/* Finish every accepted page (those of released jobs are dropped), stop the batcher's thread
 * and free it. Release every job first: a job does not outlive its batcher. */
DL_API void dl_batcher_free(dl_batcher *batcher);

/*
 * Queue n pages: pixel_values [n,3,H,W] float32 (H, W the model's input size, e.g. from
 * dl_model_preprocess; copied unless borrow_pixels) and sizes [n,2] int64 as (width, height)
 * of each original page (1 ..= DL_POSTPROCESS_MAX_SIDE). On DL_OK *out is the caller's job.
 * DL_ERR_BUSY when the queue has no room now; DL_ERR_LIMIT when n exceeds max_queue (it never
 * will have room).
 */
DL_API dl_status dl_batcher_submit(dl_batcher *batcher, const float *pixel_values,
                                   const int64_t *sizes, int n, dl_batch_job **out, dl_error *err);
/* Pages queued and not yet taken into a batch. */
DL_API int dl_batcher_queued(dl_batcher *batcher);
/* From now on, run queued pages at once instead of waiting up to max_wait_ms for a batch to
 * fill (a server finishing its accepted requests before it stops). Submitting still works. */
DL_API void dl_batcher_drain(dl_batcher *batcher);

/*
 * Wait until every page of the job is done, at most timeout_ms (< 0: no limit). DL_OK when
 * all pages succeeded; DL_ERR_TIMEOUT when the time ran out (the job's pages not yet in a batch
 * are then dropped: wait again only to learn that); else the first failing page's error.
 */
DL_API dl_status dl_batch_job_wait(dl_batch_job *job, int timeout_ms, dl_error *err);
/* A finished job's results, valid until dl_batch_job_release: labels [n,K], scores [n,K],
 * boxes [n,K,4] (x0, y0, x1, y1 in the original page's pixels, unclamped). */
DL_API const int64_t *dl_batch_job_labels(const dl_batch_job *job);
DL_API const float *dl_batch_job_scores(const dl_batch_job *job);
DL_API const float *dl_batch_job_boxes(const dl_batch_job *job);
/* Give the job back (its pages not yet in a batch are dropped when it is unfinished; with
 * borrow_pixels, it first waits for those running in a batch). */
DL_API void dl_batch_job_release(dl_batch_job *job);

/*
 * A document pipeline (dl_pipeline_create) whose forward passes go through `batcher`: its
 * batches of options->batch pages are queued with every other client's pages (KServe requests,
 * other pipelines) and run on the batcher's one detector, so one detector per model serves
 * them all. On the CPU the results are the same bits as with dl_pipeline_create on that
 * detector. A full queue makes the run wait for room (dl_pipeline_cancel still stops it);
 * options->batch must not exceed the batcher's max_queue. `model` (the batcher's) and
 * `batcher` are borrowed. Several such pipelines may run at once, each on its own thread.
 */
DL_API dl_status dl_pipeline_create_batched(const dl_model *model, dl_batcher *batcher,
                                            const dl_pipeline_options *options, dl_pipeline **out,
                                            dl_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DOCLAYOUT_H */
