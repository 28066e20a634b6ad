/* doclayout: the command-line program. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cmd_doctor.h"
#include "doclayout.h"
#include "image/draw.h"
#include "image/image.h"
#include "io/npy.h"
#include "output/results_json.h"

static const char *usage_text =
    "doclayout %s - document layout detection with Docling's models, no Python needed\n"
    "\n"
    "Usage:\n"
    "  doclayout detect --model DIR [options] IMAGE...\n"
    "      Detect the layout of each image (PNG, JPEG, TIFF: every page of a multi-page TIFF)\n"
    "      and print JSON: {\"model\": {...}, \"pages\": [{\"source\", \"page\", \"width\",\n"
    "      \"height\", \"detections\": [{\"label\", \"label_id\", \"score\", \"box\": [x0, y0, x1,\n"
    "      y1]}]}]}. Boxes are in page pixels, top-left origin, clamped to the page.\n"
    "        --model DIR      Hugging Face model directory (config.json, model.safetensors,\n"
    "                         preprocessor_config.json) or a cached repo id such as\n"
    "                         docling-project/docling-layout-heron (looked up offline in\n"
    "                         $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)\n"
    "        --threads N      CPU threads (default: all cores)\n"
    "        --threshold T    keep detections with score > T (default 0.3)\n"
    "        --device D       cpu (default) or auto; cuda needs a CUDA build\n"
    "        -o FILE          write the JSON to FILE instead of standard output\n"
    "        --overlay DIR    also write each page as a PNG with the boxes drawn on it\n"
    "  doclayout infer --model DIR --input pixel_values.npy --out DIR [--threads N]\n"
    "      Run the network alone on a float32 [N,3,H,W] .npy and write logits.npy [N,Q,L]\n"
    "      and pred_boxes.npy [N,Q,4] (normalised cx, cy, w, h): the parity tool to compare\n"
    "      with PyTorch (see tools/compare_with_transformers.py).\n"
    "  doclayout doctor [--json] [--device cpu|cuda|auto]\n"
    "      Report the CPU, GPUs, models found and self-test every backend (doctor --help).\n"
    "  doclayout version\n"
    "  doclayout help\n"
    "\n"
    "Exit status: 0 on success, 1 when any input failed, 2 on a usage error.\n";

static void usage(FILE *f) { fprintf(f, usage_text, dl_version()); }

typedef struct options {
    const char *model;
    int threads;
    float threshold;
    dl_device device;
    const char *out_file;
    const char *overlay_dir;
    const char *input;
    const char *out_dir;
    const char **files;
    int n_files;
} options;

static int parse_number(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "doclayout: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

/* Returns 0 on success, 2 on a usage error. */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 0.3f;
    o->device = DL_DEVICE_CPU;
    o->files = calloc((size_t)argc, sizeof *o->files);
    if (!o->files) return 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        double v;
#define NEED_VALUE()                                                                         \
    do {                                                                                     \
        if (!val) {                                                                          \
            fprintf(stderr, "doclayout: %s needs a value\n", a);                             \
            return 2;                                                                        \
        }                                                                                    \
        i++;                                                                                 \
    } while (0)
        if (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) {
            NEED_VALUE();
            o->model = val;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            NEED_VALUE();
            if (!parse_number(a, val, 0, 1024, &v) || v != (int)v) return 2;
            o->threads = (int)v;
        } else if (strcmp(a, "--threshold") == 0) {
            NEED_VALUE();
            if (!parse_number(a, val, 0, 1, &v)) return 2;
            o->threshold = (float)v;
        } else if (strcmp(a, "--device") == 0) {
            NEED_VALUE();
            if (strcmp(val, "cpu") == 0) o->device = DL_DEVICE_CPU;
            else if (strcmp(val, "cuda") == 0 || strncmp(val, "cuda:", 5) == 0) o->device = DL_DEVICE_CUDA;
            else if (strcmp(val, "auto") == 0) o->device = DL_DEVICE_AUTO;
            else {
                fprintf(stderr, "doclayout: --device must be cpu, cuda or auto\n");
                return 2;
            }
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            NEED_VALUE();
            o->out_file = val;
        } else if (strcmp(a, "--overlay") == 0) {
            NEED_VALUE();
            o->overlay_dir = val;
        } else if (strcmp(a, "--input") == 0) {
            NEED_VALUE();
            o->input = val;
        } else if (strcmp(a, "--out") == 0) {
            NEED_VALUE();
            o->out_dir = val;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "doclayout: unknown option %s (see doclayout help)\n", a);
            return 2;
        } else {
            o->files[o->n_files++] = a;
        }
#undef NEED_VALUE
    }
    if (!o->model) {
        fprintf(stderr, "doclayout: --model DIR is required (no default model is bundled yet)\n");
        return 2;
    }
    return 0;
}

static int load_detector(const options *o, dl_model **model, dl_detector **det) {
    dl_error err;
    if (dl_model_load(o->model, NULL, model, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 1;
    }
    if (dl_model_warning(*model)) fprintf(stderr, "doclayout: warning: %s\n", dl_model_warning(*model));
    dl_detector_options d = dl_detector_default_options();
    d.num_threads = o->threads;
    d.device = o->device;
    if (dl_detector_create(*model, &d, det, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        dl_model_free(*model);
        *model = NULL;
        return 1;
    }
    return 0;
}

static int is_tiff(const char *path) {
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && ((m[0] == 'I' && m[1] == 'I' && m[2] == 42 && m[3] == 0) ||
                      (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && m[3] == 42));
}

static void write_overlay(const char *dir, const char *source, int page, int pages,
                          const dl_image *img, const dl_detection *dets, size_t n) {
    dl_error err;
    dl_image *copy = NULL;
    if (dl_image_create(img->width, img->height, 255, &copy, &err) != DL_OK) {
        fprintf(stderr, "doclayout: overlay: %s\n", err.message);
        return;
    }
    for (int y = 0; y < img->height; y++)
        memcpy(copy->rgb + (size_t)y * copy->stride, img->rgb + (size_t)y * img->stride,
               (size_t)img->width * 3);
    for (size_t i = n; i-- > 0;) /* weakest first, so strong boxes end up on top */
        dl_draw_detection(copy, dets[i].box, dets[i].label_id, dets[i].label, dets[i].score);
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    char name[PATH_MAX];
    int len = (int)strcspn(base, ".");
    if (pages > 1) snprintf(name, sizeof name, "%s/%.*s-p%d.png", dir, len, base, page);
    else snprintf(name, sizeof name, "%s/%.*s.png", dir, len, base);
    if (dl_image_save_png(copy, name, &err) != DL_OK)
        fprintf(stderr, "doclayout: overlay: %s\n", err.message);
    dl_image_free(copy);
}

static int cmd_detect(const options *o) {
    if (o->n_files == 0) {
        fprintf(stderr, "doclayout detect: no input images given\n");
        return 2;
    }
    if (o->overlay_dir) {
        struct stat st;
        if (stat(o->overlay_dir, &st) != 0 && mkdir(o->overlay_dir, 0777) != 0) {
            fprintf(stderr, "doclayout: cannot create overlay directory %s: %s\n",
                    o->overlay_dir, strerror(errno));
            return 1;
        }
    }
    dl_model *model = NULL;
    dl_detector *det = NULL;
    if (load_detector(o, &model, &det)) return 1;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "model", dl_json_model_info(model, det));
    cJSON *pages = cJSON_AddArrayToObject(root, "pages");
    int failed = 0;
    for (int f = 0; f < o->n_files; f++) {
        const char *path = o->files[f];
        int n_pages = 1;
        dl_error err;
        if (is_tiff(path) && dl_tiff_page_count(path, &n_pages, &err) != DL_OK) {
            fprintf(stderr, "doclayout: %s\n", err.message);
            cJSON_AddItemToArray(pages, dl_json_page(path, 1, 0, 0, NULL, 0, err.message));
            failed++;
            continue;
        }
        for (int p = 0; p < n_pages; p++) {
            dl_image *img = NULL;
            dl_status s = n_pages > 1 || is_tiff(path)
                              ? dl_image_load_tiff_page(path, p, &img, &err)
                              : dl_image_load_file(path, &img, &err);
            dl_result *res = NULL;
            if (s == DL_OK) s = dl_detector_run(det, (const dl_image *const *)&img, 1,
                                                o->threshold, &res, &err);
            if (s != DL_OK) {
                fprintf(stderr, "doclayout: %s\n", err.message);
                cJSON_AddItemToArray(pages, dl_json_page(path, p + 1, img ? img->width : 0,
                                                         img ? img->height : 0, NULL, 0,
                                                         err.message));
                failed++;
            } else {
                size_t n;
                const dl_detection *d = dl_result_detections(res, 0, &n);
                cJSON_AddItemToArray(pages, dl_json_page(path, p + 1, img->width, img->height,
                                                         d, n, NULL));
                if (o->overlay_dir) write_overlay(o->overlay_dir, path, p + 1, n_pages, img, d, n);
            }
            dl_result_free(res);
            dl_image_free(img);
        }
    }
    char *text = cJSON_Print(root);
    int rc = failed ? 1 : 0;
    if (!text) {
        fprintf(stderr, "doclayout: out of memory writing JSON\n");
        rc = 1;
    } else if (o->out_file) {
        FILE *out = fopen(o->out_file, "w");
        if (!out || fputs(text, out) < 0 || fputc('\n', out) == EOF) {
            fprintf(stderr, "doclayout: cannot write %s: %s\n", o->out_file, strerror(errno));
            rc = 1;
        }
        if (out && fclose(out) != 0) rc = 1;
    } else {
        puts(text);
    }
    free(text);
    cJSON_Delete(root);
    dl_detector_free(det);
    dl_model_free(model);
    return rc;
}

static int cmd_infer(const options *o) {
    if (!o->input || !o->out_dir) {
        fprintf(stderr, "doclayout infer: --input FILE.npy and --out DIR are required\n");
        return 2;
    }
    dl_npy in;
    dl_error err;
    if (dl_npy_read(o->input, &in, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 1;
    }
    if (in.dtype != DL_NPY_F32 || in.ndim != 4 || in.shape[1] != 3 || in.shape[0] < 1 ||
        in.shape[0] > 4096) {
        fprintf(stderr, "doclayout: %s: expected float32 pixel values of shape [N,3,H,W]\n",
                o->input);
        dl_npy_free(&in);
        return 1;
    }
    dl_model *model = NULL;
    dl_detector *det = NULL;
    if (load_detector(o, &model, &det)) {
        dl_npy_free(&in);
        return 1;
    }
    int n = (int)in.shape[0], q = dl_model_num_queries(model), l = dl_model_num_labels(model);
    float *logits = malloc((size_t)n * q * l * sizeof(float));
    float *boxes = malloc((size_t)n * q * 4 * sizeof(float));
    int rc = 0;
    if (!logits || !boxes) {
        fprintf(stderr, "doclayout: out of memory\n");
        rc = 1;
    } else if (dl_detector_forward(det, in.data, n, (int)in.shape[2], (int)in.shape[3], logits,
                                   boxes, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        rc = 1;
    } else {
        mkdir(o->out_dir, 0777);
        char p[PATH_MAX];
        int64_t ls[3] = {n, q, l}, bs[3] = {n, q, 4};
        snprintf(p, sizeof p, "%s/logits.npy", o->out_dir);
        if (dl_npy_write_f32(p, logits, 3, ls, &err) != DL_OK) rc = 1;
        snprintf(p, sizeof p, "%s/pred_boxes.npy", o->out_dir);
        if (rc == 0 && dl_npy_write_f32(p, boxes, 3, bs, &err) != DL_OK) rc = 1;
        if (rc) fprintf(stderr, "doclayout: %s\n", err.message);
    }
    free(logits);
    free(boxes);
    dl_npy_free(&in);
    dl_detector_free(det);
    dl_model_free(model);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("doclayout %s\n", dl_version());
        return 0;
    }
    if (strcmp(argv[1], "doctor") == 0) return dl_cli_doctor(argc - 1, argv + 1);
    int is_detect = strcmp(argv[1], "detect") == 0, is_infer = strcmp(argv[1], "infer") == 0;
    if (!is_detect && !is_infer) {
        fprintf(stderr, "doclayout: unknown command '%s' (see doclayout help)\n", argv[1]);
        return 2;
    }
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc == 0) rc = is_detect ? cmd_detect(&o) : cmd_infer(&o);
    free(o.files);
    return rc;
}
