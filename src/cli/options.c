/* The CLI's option parsing, in one place: the options several commands share (--model,
 * --threads, --device, --precision, --cpu), the options of detect and infer, numbers, and
 * loading the model and detector they ask for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int dl_cli_parse_number(const char *opt, const char *s, double lo, double hi, double *out) {
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

int dl_cli_parse_count(const char *opt, const char *s, int lo, int hi, int *out) {
    double v;
    if (!dl_cli_parse_number(opt, s, lo, hi, &v)) return 0;
    if (v != (int)v) {
        fprintf(stderr, "doclayout: %s expects a whole number, got '%s'\n", opt, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* The options several commands share, parsed in one place: argv[*i] when it is one of
 * `allowed` (DL_CLI_OPT_*), its value consumed. Returns 1 when it was, 0 when it is not a
 * shared option, -1 on a usage error (printed). */
int dl_cli_shared_option(int argc, char **argv, int *ip, unsigned allowed, options *o) {
    int i = *ip;
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned which = (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0)     ? DL_CLI_OPT_MODEL
                     : (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) ? DL_CLI_OPT_THREADS
                     : strcmp(a, "--device") == 0                            ? DL_CLI_OPT_DEVICE
                     : strcmp(a, "--precision") == 0                         ? DL_CLI_OPT_PRECISION
                     : strcmp(a, "--cpu") == 0                               ? DL_CLI_OPT_CPU
                                                                             : 0u;
    if (!(which & allowed)) return 0;
    if (!val) {
        fprintf(stderr, "doclayout: %s needs a value\n", a);
        return -1;
    }
    *ip = i + 1;
    switch (which) {
    case DL_CLI_OPT_MODEL: o->model = val; return 1;
    case DL_CLI_OPT_THREADS: return dl_cli_parse_count(a, val, 0, 1024, &o->threads) ? 1 : -1;
    case DL_CLI_OPT_PRECISION:
        if (strcmp(val, "fp32") == 0) o->precision = DL_PRECISION_FP32;
        else if (strcmp(val, "bf16") == 0) o->precision = DL_PRECISION_BF16;
        else if (strcmp(val, "fp16") == 0) o->precision = DL_PRECISION_FP16;
        else {
            fprintf(stderr, "doclayout: --precision must be fp32, bf16 or fp16\n");
            return -1;
        }
        return 1;
    case DL_CLI_OPT_CPU: {
        dl_error err;
        dl_status st = dl_cpu_set_kernels(val, &err);
        if (st == DL_ERR_INVALID_ARGUMENT)
            fprintf(stderr,
                    "doclayout: --cpu must be scalar, avx2, avx512, avx512bf16, neon or neonbf16, "
                    "not '%s'\n",
                    val);
        else if (st != DL_OK) fprintf(stderr, "doclayout: --cpu: %s\n", err.message);
        return st == DL_OK ? 1 : -1;
    }
    default: { /* DL_CLI_OPT_DEVICE: the library knows the devices */
        dl_error err;
        if (dl_device_parse(val, &o->device, &o->device_index, &err) == DL_OK) return 1;
        fprintf(stderr, "doclayout: --device: %s\n", err.message);
        return -1;
    }
    }
}

int dl_cli_parse_options(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 0.3f;
    o->device = DL_DEVICE_CPU;
    o->dpi = 72;
    o->batch = 1;
    o->format = "json";
    o->files = calloc((size_t)argc, sizeof *o->files);
    if (!o->files) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        double v;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!val) {                                                                                \
            fprintf(stderr, "doclayout: %s needs a value\n", a);                                   \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        int shared = dl_cli_shared_option(argc, argv, &i, DL_CLI_OPT_ALL, o);
        if (shared < 0) return 2;
        if (shared) continue;
        if (strcmp(a, "--threshold") == 0) {
            NEED_VALUE();
            if (!dl_cli_parse_number(a, val, 0, 1, &v)) return 2;
            o->threshold = (float)v;
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
            /* a format with a per-document file (overlay has its own option) */
            o->format = strcmp(val, "md") == 0 ? "markdown" : val;
            if (!dl_output_format_extension(o->format)) {
                fprintf(stderr, "doclayout: --format must be json, coco, docling or markdown\n");
                return 2;
            }
        } else if (strcmp(a, "--dpi") == 0) {
            NEED_VALUE();
            if (!dl_cli_parse_number(a, val, 1, 2400, &v)) return 2;
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
            if (!dl_cli_parse_count(a, val, 1, 256, &o->batch)) return 2;
        } else if (strcmp(a, "--workers") == 0) {
            NEED_VALUE();
            if (!dl_cli_parse_count(a, val, 1, 256, &o->workers)) return 2;
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
            dl_cli_usage(stdout);
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

int dl_cli_load_detector(const options *o, dl_model **model, dl_detector **det) {
    dl_error err;
    if (dl_model_load(o->model, NULL, model, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 1;
    }
    if (dl_model_warning(*model) && *dl_model_warning(*model))
        fprintf(stderr, "doclayout: warning: %s\n", dl_model_warning(*model));
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
