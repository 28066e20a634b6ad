/* doclayout: the command-line program. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cmd_doctor.h"
#include "core/cpu_features.h"
#include "doclayout.h"
#include "image/draw.h"
#include "image/image.h"
#include "io/npy.h"
#include "output/results_json.h"
#include "cli/cli.h"
#include "cli/cmd_eval.h"

static const char *usage_text =
    "doclayout %s - document layout detection with Docling's models, no Python needed\n"
    "\n"
    "Usage:\n"
    "  doclayout detect --model DIR [options] INPUT...\n"
    "      Detect the layout of every page of each input: PDF (rendered with MuPDF), TIFF\n"
    "      (every page), PNG, JPEG; '-' reads standard input, a DIRECTORY gives its .pdf .png\n"
    "      .jpg .jpeg .tif .tiff files, @LIST.txt gives one path per line. A failing page or\n"
    "      file is reported and the run goes on. Docling's layout post-processor (per-label\n"
    "      thresholds, text cells assigned to regions, overlap rules, reading order) runs by\n"
    "      default; pages without a text layer skip its cell assignment.\n"
    "        --model DIR      Hugging Face model directory (config.json, model.safetensors,\n"
    "                         preprocessor_config.json) or a cached repo id such as\n"
    "                         docling-project/docling-layout-heron (looked up offline in\n"
    "                         $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)\n"
    "        --format F       json (default): {\"model\", \"pages\": [{\"source\", \"page\",\n"
    "                         \"width\", \"height\", \"detections\": [{\"label\", \"label_id\",\n"
    "                         \"score\", \"box\": [x0, y0, x1, y1], \"text\"}]}]}, boxes in page\n"
    "                         pixels, top-left origin; coco: COCO detection results;\n"
    "                         docling: a DoclingDocument per input (boxes in PDF points,\n"
    "                         BOTTOMLEFT origin); markdown: text in reading order\n"
    "        --raw            the model's detections unchanged (no post-processor)\n"
    "        --coco-images    with --format coco: add the images and categories blocks\n"
    "        --dpi N          PDF render resolution (default 72: 1 pixel = 1 point)\n"
    "        --pages LIST     pages to process, e.g. 1-3,7 or 5- (default: all)\n"
    "        --password PW    password of encrypted PDFs\n"
    "        --cells MODE     PDF text cells: lines (default, as Docling) or words\n"
    "        --threads N      CPU threads (default: all cores)\n"
    "        --batch N        pages per inference call (default 1)\n"
    "        --workers N      threads that open, render/decode and preprocess pages, the pages\n"
    "                         of one PDF spread over them; results stay in input order\n"
    "                         (default: with --device cuda 4 (MuPDF serialises glyph drawing\n"
    "                         beyond that), on the CPU one per 8 cores, at least 1)\n"
    "        --threshold T    keep detections with score > T (default 0.3)\n"
    "        --device D       cpu (default), cuda, cuda:N (GPU N) or auto (the GPU when the\n"
    "                         CUDA module libdoclayout_cuda.so loads and a GPU works, else CPU)\n"
    "        --precision P    fp32, bf16 or fp16 (GPU; default bf16 there, fp32 on CPU; bf16 on\n"
    "                         the CPU: bf16 products, fp32 sums; fast with AVX512_BF16)\n"
    "        --cpu LEVEL      CPU kernels: scalar, avx2, avx512, avx512bf16 (x86-64), neon,\n"
    "                         neonbf16 (aarch64); default the best this CPU runs (also the\n"
    "                         DOCLAYOUT_CPU environment variable)\n"
    "        -o FILE          write one combined result to FILE instead of standard output\n"
    "        -o DIR/          (an existing directory, or a path ending in '/') one result per\n"
    "                         input, DIR/NAME.json (.coco.json, .docling.json, .md); inputs\n"
    "                         whose result exists are skipped, so a stopped run resumes\n"
    "        --force          with -o DIR/: redo inputs whose result exists\n"
    "        --overlay DIR    also write each page as a PNG with the boxes drawn on it\n"
    "        --quiet          no progress bar (it is shown only when stderr is a terminal)\n"
    "        --timings        print pages/s and per-stage ms/page to stderr at the end\n"
    "  doclayout infer --model DIR --input pixel_values.npy --out DIR [--threads N]\n"
    "      Run the network alone on a float32 [N,3,H,W] .npy and write logits.npy [N,Q,L]\n"
    "      and pred_boxes.npy [N,Q,4] (normalised cx, cy, w, h): the parity tool to compare\n"
    "      with PyTorch (see tools/compare_with_transformers.py).\n"
    "  doclayout eval [options] GT.json DETECTIONS.json\n"
    "      COCO-style evaluation (pycocotools semantics: AP .50:.95, AP50, AP75, per class,\n"
    "      area ranges) of detections (COCO results or this program's detect JSON) against\n"
    "      COCO ground truth; see doclayout eval --help.\n"
    "  doclayout doctor [--json] [--device cpu|cuda|auto]\n"
    "      Report the CPU, GPUs, models found and self-test every backend (doctor --help).\n"
    "  doclayout version\n"
    "  doclayout help\n"
    "\n"
    "Exit status: 0 on success, 1 when any input failed, 2 on a usage error.\n";

static void usage(FILE *f) { fprintf(f, usage_text, dl_version()); }

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

/* A whole number in [lo, hi]; prints the usage error itself. */
static int parse_count(const char *opt, const char *s, int lo, int hi, int *out) {
    double v;
    if (!parse_number(opt, s, lo, hi, &v)) return 0;
    if (v != (int)v) {
        fprintf(stderr, "doclayout: %s expects a whole number, got '%s'\n", opt, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* Returns 0 on success, 2 on a usage error. */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 0.3f;
    o->device = DL_DEVICE_CPU;
    o->dpi = 72;
    o->batch = 1;
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
            if (!parse_count(a, val, 0, 1024, &o->threads)) return 2;
        } else if (strcmp(a, "--threshold") == 0) {
            NEED_VALUE();
            if (!parse_number(a, val, 0, 1, &v)) return 2;
            o->threshold = (float)v;
        } else if (strcmp(a, "--precision") == 0) {
            NEED_VALUE();
            if (strcmp(val, "fp32") == 0) o->precision = DL_PRECISION_FP32;
            else if (strcmp(val, "bf16") == 0) o->precision = DL_PRECISION_BF16;
            else if (strcmp(val, "fp16") == 0) o->precision = DL_PRECISION_FP16;
            else {
                fprintf(stderr, "doclayout: --precision must be fp32, bf16 or fp16\n");
                return 2;
            }
        } else if (strcmp(a, "--cpu") == 0) {
            NEED_VALUE();
            dl_cpu_level level;
            if (!dl_cpu_level_parse(val, &level)) {
                fprintf(stderr,
                        "doclayout: --cpu must be scalar, avx2, avx512, avx512bf16, neon or "
                        "neonbf16, not '%s'\n",
                        val);
                return 2;
            }
            if (!dl_cpu_set_level(level)) {
                fprintf(stderr, "doclayout: --cpu %s: this CPU runs at most %s\n", val,
                        dl_cpu_level_name(dl_cpu_caps_get()->max_level));
                return 2;
            }
        } else if (strcmp(a, "--device") == 0) {
            NEED_VALUE();
            if (strcmp(val, "cpu") == 0) o->device = DL_DEVICE_CPU;
            else if (strcmp(val, "cuda") == 0) o->device = DL_DEVICE_CUDA;
            else if (strncmp(val, "cuda:", 5) == 0) {
                double idx;
                if (!parse_number(a, val + 5, 0, 64, &idx) || idx != (int)idx) return 2;
                o->device = DL_DEVICE_CUDA;
                o->device_index = (int)idx;
            }
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
        } else if (strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0) {
            NEED_VALUE();
            if (strcmp(val, "json") == 0) o->format = FMT_JSON;
            else if (strcmp(val, "coco") == 0) o->format = FMT_COCO;
            else if (strcmp(val, "docling") == 0) o->format = FMT_DOCLING;
            else if (strcmp(val, "markdown") == 0 || strcmp(val, "md") == 0) o->format = FMT_MARKDOWN;
            else {
                fprintf(stderr, "doclayout: --format must be json, coco, docling or markdown\n");
                return 2;
            }
        } else if (strcmp(a, "--dpi") == 0) {
            NEED_VALUE();
            if (!parse_number(a, val, 1, 2400, &v)) return 2;
            o->dpi = v;
        } else if (strcmp(a, "--pages") == 0) {
            NEED_VALUE();
            o->pages = val;
        } else if (strcmp(a, "--password") == 0) {
            NEED_VALUE();
            o->password = val;
        } else if (strcmp(a, "--cells") == 0) {
            NEED_VALUE();
            if (strcmp(val, "lines") == 0) o->words = 0;
            else if (strcmp(val, "words") == 0) o->words = 1;
            else {
                fprintf(stderr, "doclayout: --cells must be lines or words\n");
                return 2;
            }
        } else if (strcmp(a, "--batch") == 0) {
            NEED_VALUE();
            if (!parse_count(a, val, 1, 256, &o->batch)) return 2;
        } else if (strcmp(a, "--workers") == 0) {
            NEED_VALUE();
            if (!parse_count(a, val, 1, 256, &o->workers)) return 2;
        } else if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
        } else if (strcmp(a, "--force") == 0) {
            o->force = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--timings") == 0) {
            o->timings = 1;
        } else if (strcmp(a, "--coco-images") == 0) {
            o->coco_images = 1;
        } else if (strcmp(a, "-") == 0) {
            o->files[o->n_files++] = a;
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
    if (!o->model) o->model = dl_cli_default_model();
    if (!o->model) {
        fprintf(stderr, "doclayout: no --model given and no bundled default model found "
                        "(looked at $DOCLAYOUT_MODEL, the install's share/doclayout/models/default "
                        "and the source tree's models/default)\n");
        return 2;
    }
    return 0;
}

int load_detector(const options *o, dl_model **model, dl_detector **det) {
    dl_error err;
    if (dl_model_load(o->model, NULL, model, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 1;
    }
    if (dl_model_warning(*model) && *dl_model_warning(*model)) fprintf(stderr, "doclayout: warning: %s\n", dl_model_warning(*model));
    dl_detector_options d = dl_detector_default_options();
    d.num_threads = o->threads;
    d.device = o->device;
    d.device_index = o->device_index;
    d.precision = o->precision;
    if (dl_detector_create(*model, &d, det, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        dl_model_free(*model);
        *model = NULL;
        return 1;
    }
    return 0;
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
    if (strcmp(argv[1], "eval") == 0) return dl_cli_eval(argc - 1, argv + 1);
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
