/*
 * bench_cuda MODEL_DIR [options]     (the GPU side of scripts/gpu-check.sh)
 *
 *   --name NAME          model name in the output (default: the directory's last part)
 *   --input FILE.npy     pixel values [N, 3, H, W] float32 (default: deterministic noise)
 *   --precision LIST     e.g. fp32,bf16,fp16 (default fp32,bf16)
 *   --batch LIST         e.g. 1,32 (default 1,32)
 *   --runs N             timed runs at batch 1 (default 30; batch > 1: N / 3, at least 5)
 *   --dump PREFIX        write image 0's fp32 outputs to PREFIX_logits.npy, PREFIX_boxes.npy
 *   --device cuda|cpu    (default cuda)
 *
 * One JSON line per (precision, batch): median wall time of dl_detector_forward over the timed
 * runs after warm-up passes (the first sizes the activation memory, the next captures the
 * CUDA graph), pixels from host memory and results back in host memory, as a caller sees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "backends/backend.h"
#include "core/clock.h"
#include "io/npy.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* a message as a JSON string body (quotes and backslashes escaped, controls dropped) */
static const char *js(const char *m) {
    static char buf[4][1024];
    static int k;
    char *o = buf[k++ % 4];
    size_t n = 0;
    for (; *m && n + 3 < sizeof buf[0]; m++) {
        if (*m == '"' || *m == '\\') o[n++] = '\\';
        if ((unsigned char)*m >= 0x20) o[n++] = *m;
    }
    o[n] = '\0';
    return o;
}

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (s && *s && n < max) {
        out[n++] = atoi(s);
        s = strchr(s, ',');
        if (s) s++;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cuda MODEL_DIR [--name N] [--input X.npy] [--precision "
                        "fp32,bf16] [--batch 1,32] [--runs 30] [--dump PREFIX] [--device cuda]\n");
        return 2;
    }
    const char *dir = argv[1], *name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    const char *input = NULL, *precs = "fp32,bf16", *dump = NULL, *device = "cuda";
    int batches[8] = {1, 32}, nb = 2, runs = 30;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--input")) input = argv[i + 1];
        else if (!strcmp(argv[i], "--precision")) precs = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) nb = parse_list(argv[i + 1], batches, 8);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dump")) dump = argv[i + 1];
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else {
            fprintf(stderr, "bench_cuda: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    dl_error err;
    dl_model *m = NULL;
    if (dl_model_load(dir, NULL, &m, &err) != DL_OK) {
        printf("{\"impl\": \"doclayout\", \"model\": \"%s\", \"error\": \"%s\"}\n", js(name),
               js(err.message));
        return 1;
    }
    int h = dl_model_input_height(m), w = dl_model_input_width(m), maxb = 1;
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    size_t per = (size_t)3 * h * w;
    float *px = malloc(per * maxb * sizeof(float));
    dl_npy in;
    size_t have = 0;
    if (input && dl_npy_read(input, &in, &err) == DL_OK) {
        if (in.dtype == DL_NPY_F32 && in.count % per == 0) {
            have = in.count / per;
            for (int i = 0; i < maxb; i++) /* repeat the file's images when the batch is larger */
                memcpy(px + per * i, (const float *)in.data + per * (i % have),
                       per * sizeof(float));
        }
        dl_npy_free(&in);
    }
    if (!have) {
        unsigned s = 1;
        for (size_t i = 0; i < per * maxb; i++) {
            s = s * 1664525u + 1013904223u;
            px[i] = (float)((s >> 8) & 0xFF) / 255.0f;
        }
    }
    size_t ql = (size_t)dl_model_num_queries(m) * dl_model_num_labels(m);
    size_t q4 = (size_t)dl_model_num_queries(m) * 4;
    float *logits = malloc(ql * maxb * sizeof(float)), *boxes = malloc(q4 * maxb * sizeof(float));
    const char *p = precs;
    while (p && *p) {
        char pn[16];
        size_t len = strcspn(p, ",");
        snprintf(pn, sizeof pn, "%.*s", (int)len, p);
        p = p[len] ? p + len + 1 : NULL;
        dl_detector_options o = dl_detector_default_options();
        if (dl_device_parse(device, &o.device, &o.device_index, &err) != DL_OK) {
            fprintf(stderr, "bench_cuda: %s\n", err.message);
            return 2;
        }
        o.precision = !strcmp(pn, "fp32")   ? DL_PRECISION_FP32
                      : !strcmp(pn, "fp16") ? DL_PRECISION_FP16
                                            : DL_PRECISION_BF16;
        dl_detector *d = NULL;
        if (dl_detector_create(m, &o, &d, &err) != DL_OK) {
            printf("{\"impl\": \"doclayout\", \"model\": \"%s\", \"precision\": \"%s\", "
                   "\"error\": \"%s\"}\n",
                   js(name), pn, js(err.message));
            fflush(stdout);
            continue;
        }
        for (int bi = 0; bi < nb; bi++) {
            int b = batches[bi], n = b == 1 ? runs : (runs / 3 > 5 ? runs / 3 : 5);
            bool ok = true;
            for (int wu = 0; wu < 3 && ok; wu++) /* size, settle, capture */
                ok = dl_detector_forward(d, px, b, h, w, logits, boxes, &err) == DL_OK;
            double *t = calloc((size_t)n, sizeof(double));
            for (int r = 0; r < n && ok; r++) {
                double t0 = dl_now_s();
                ok = dl_detector_forward(d, px, b, h, w, logits, boxes, &err) == DL_OK;
                t[r] = dl_now_s() - t0;
            }
            if (!ok) {
                printf("{\"impl\": \"doclayout\", \"model\": \"%s\", \"precision\": \"%s\", "
                       "\"batch\": %d, \"error\": \"%s\"}\n",
                       js(name), pn, b, js(err.message));
            } else {
                qsort(t, (size_t)n, sizeof(double), cmp);
                double med = t[n / 2];
                printf("{\"impl\": \"doclayout\", \"model\": \"%s\", \"precision\": \"%s\", "
                       "\"batch\": %d, \"ms\": %.3f, \"ms_min\": %.3f, \"pages_per_s\": %.1f, "
                       "\"runs\": %d, \"device\": \"%s\", \"kernels\": \"%s\", \"graph\": %s, "
                       "\"activations_mb\": %.1f}\n",
                       js(name), pn, b, med * 1e3, t[0] * 1e3, b / med, n,
                       js(dl_detector_device_name(d)), dl_detector_kernel_name(d),
                       d->backend->graph_ready ? "true" : "false", d->exec.arena.region_size / 1e6);
                if (dump && b == 1 && o.precision == DL_PRECISION_FP32) {
                    char f[1024];
                    int64_t sl[3] = {1, dl_model_num_queries(m), dl_model_num_labels(m)};
                    int64_t sb[3] = {1, dl_model_num_queries(m), 4};
                    snprintf(f, sizeof f, "%s_logits.npy", dump);
                    dl_npy_write_f32(f, logits, 3, sl, &err);
                    snprintf(f, sizeof f, "%s_boxes.npy", dump);
                    dl_npy_write_f32(f, boxes, 3, sb, &err);
                }
            }
            fflush(stdout);
            free(t);
        }
        dl_detector_free(d);
    }
    free(px);
    free(logits);
    free(boxes);
    dl_model_free(m);
    return 0;
}
