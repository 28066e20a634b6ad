/* doctor: the self-test, a tiny model on every available backend (scalar reference, fast CPU
 * kernels, CUDA) compared with each other, then the whole pipeline once. */
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/doctor/doctor.h"
#include "cli/util.h"

#ifndef DL_CLI_SOURCE_DIR
#define DL_CLI_SOURCE_DIR ""
#endif

/* Agreement with the scalar reference (absolute, on logits and normalised boxes). The CPU
 * kernels match the reference to ~1e-6 on this model; a GPU in float32 sums in other orders. */
#define TOL_CPU_LOGITS 1e-3
#define TOL_CPU_BOXES 1e-4
#define TOL_GPU_LOGITS 1e-2
#define TOL_GPU_BOXES 1e-3

static bool find_selftest_model(const doctor_opts *o, char *out, size_t n) {
    char d[PATH_MAX], p[PATH_MAX + 64];
    const char *env = getenv("DOCLAYOUT_SELFTEST_MODEL");
    if (o->selftest_model) {
        snprintf(out, n, "%s", o->selftest_model);
        return true; /* the user's choice: report its load error as is */
    }
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return true;
    }
    doctor_exe_dir(d, sizeof d);
    if (d[0]) {
        snprintf(p, sizeof p, "%s/../share/doclayout/selftest/" DOCTOR_SELFTEST_NAME, d);
        char real[PATH_MAX];
        if (realpath(p, real) && dl_cli_is_dir(real)) {
            snprintf(out, n, "%s", real);
            return true;
        }
    }
    if (DL_CLI_SOURCE_DIR[0]) {
        snprintf(p, sizeof p, "%s/tests/fixtures/golden/" DOCTOR_SELFTEST_NAME, DL_CLI_SOURCE_DIR);
        if (dl_cli_is_dir(p)) {
            dl_cli_copy_str(out, n, p);
            return true;
        }
    }
    return false;
}

/* A synthetic page: dark text lines, a title bar and a picture block over a light paper
 * texture. The texture matters: on flat white regions a random-weight model scores many
 * positions exactly alike, and the top-k query selection then picks among exact ties, which
 * any change of summation order may break differently. */
static dl_image *synthetic_page(void) {
    dl_image *img = NULL;
    dl_error err;
    if (dl_image_create(612, 792, 255, &img, &err) != DL_OK) return NULL;
    uint32_t rng = 2463534242u;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->rgb + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            int v = 200 + (int)(rng % 56u);                                         /* paper */
            if (y >= 60 && y < 84 && x >= 72 && x < 420) v = 20 + (int)(rng % 30u); /* title */
            else if (y >= 120 && y < 520 && (y - 120) % 18 < 9 && x >= 72 &&
                     x < 540 - ((y / 18) % 3) * 40)
                v = 40 + (int)(rng % 60u); /* text */
            else if (y >= 560 && y < 720 && x >= 150 && x < 460)
                v = 90 + (x + y) % 80 + (int)(rng % 16u); /* picture */
            row[3 * x] = (uint8_t)v;
            row[3 * x + 1] = (uint8_t)(v - (int)(rng >> 28));
            row[3 * x + 2] = (uint8_t)(v - (int)((rng >> 24) & 7u));
        }
    }
    return img;
}

typedef struct run_out {
    float *logits, *boxes;
    double seconds;
} run_out;

static dl_status run_backend(const dl_model *m, const dl_detector_options *opt, bool reference,
                             const float *pixels, run_out *r, char *kernel, size_t kn,
                             dl_error *err) {
    dl_detector *det = NULL;
    dl_status s = dl_detector_create(m, opt, &det, err);
    if (s != DL_OK) return s;
    if (reference) dl_detector_use_reference_kernels(det);
    snprintf(kernel, kn, "%s", dl_detector_kernel_name(det));
    size_t q = (size_t)dl_model_num_queries(m), l = (size_t)dl_model_num_labels(m);
    r->logits = calloc(q * l, sizeof(float));
    r->boxes = calloc(q * 4, sizeof(float));
    if (!r->logits || !r->boxes) {
        dl_detector_free(det);
        return DL_ERR_OUT_OF_MEMORY;
    }
    double t0 = dl_cli_now_s();
    s = dl_detector_forward(det, pixels, 1, dl_model_input_height(m), dl_model_input_width(m),
                            r->logits, r->boxes, err);
    r->seconds = dl_cli_now_s() - t0;
    dl_detector_free(det);
    return s;
}

/* Largest |difference| between the queries of `a` and their counterparts in `b`, each query
 * (its logits and box) paired with the closest unused query of b. Queries are compared as a
 * set because the top-k query selection may order near-equal scores differently when the
 * summation order differs; a real disagreement still shows as a large distance. */
static void query_diffs(const float *al, const float *ab, const float *bl, const float *bb,
                        size_t q, size_t l, double *dlog, double *dbox) {
    char *used = calloc(q ? q : 1, 1);
    double worst_l = 0, worst_b = 0;
    for (size_t i = 0; i < q; i++) {
        size_t best = q;
        double best_d = INFINITY, best_l = 0, best_b = 0;
        for (size_t j = 0; j < q; j++) {
            if (used && used[j]) continue;
            double ml = 0, mb = 0;
            for (size_t k = 0; k < l; k++) {
                double d = fabs((double)al[i * l + k] - (double)bl[j * l + k]);
                if (!(d <= ml)) ml = d; /* NaN wins */
            }
            for (size_t k = 0; k < 4; k++) {
                double d = fabs((double)ab[i * 4 + k] - (double)bb[j * 4 + k]);
                if (!(d <= mb)) mb = d;
            }
            double dist = ml > mb ? ml : mb;
            if (dist < best_d || best == q) {
                best_d = dist;
                best = j;
                best_l = ml;
                best_b = mb;
            }
        }
        if (used && best < q) used[best] = 1;
        if (!(best_l <= worst_l)) worst_l = best_l;
        if (!(best_b <= worst_b)) worst_b = best_b;
    }
    free(used);
    *dlog = worst_l;
    *dbox = worst_b;
}

static cJSON *backend_entry(const char *name, const char *status) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "name", name);
    cJSON_AddStringToObject(b, "status", status);
    return b;
}

/* Compare run `r` with the reference and record it; returns false on a mismatch. */
static bool judge(cJSON *b, const run_out *r, const run_out *ref, size_t q, size_t l, double tol_l,
                  double tol_b, const char *fault, const char *name) {
    if (fault && strcmp(fault, name) == 0 && q > 0) r->logits[0] += 1.0f;
    double dl, db;
    query_diffs(r->logits, r->boxes, ref->logits, ref->boxes, q, l, &dl, &db);
    cJSON_AddNumberToObject(b, "max_abs_diff_logits", isfinite(dl) ? dl : 1e30);
    cJSON_AddNumberToObject(b, "max_abs_diff_boxes", isfinite(db) ? db : 1e30);
    cJSON_AddNumberToObject(b, "tolerance_logits", tol_l);
    cJSON_AddNumberToObject(b, "tolerance_boxes", tol_b);
    return dl <= tol_l && db <= tol_b;
}

cJSON *doctor_selftest_report(doctor_run *run) {
    const doctor_opts *o = run->opts;
    cJSON *problems = run->problems;
    cJSON *t = cJSON_CreateObject();
    cJSON *backends = cJSON_AddArrayToObject(t, "backends");
    char dir[PATH_MAX], msg[DL_ERROR_MESSAGE_MAX + 256];
    if (!o->selftest) {
        cJSON_AddNullToObject(t, "model");
        cJSON_AddStringToObject(t, "status", "skipped");
        return t;
    }
    if (!find_selftest_model(o, dir, sizeof dir)) {
        cJSON_AddNullToObject(t, "model");
        cJSON_AddStringToObject(t, "status", "error");
        doctor_problem(problems, "selftest", "error", "the self-test model was not found",
                       DOCTOR_FIX_SELFTEST_MODEL);
        return t;
    }
    cJSON_AddStringToObject(t, "model", dir);
    dl_error err;
    dl_model *m = NULL;
    if (dl_model_load(dir, NULL, &m, &err) != DL_OK) {
        cJSON_AddStringToObject(t, "status", "error");
        snprintf(msg, sizeof msg, "the self-test model does not load: %s", err.message);
        doctor_problem(problems, "selftest", "error", msg, DOCTOR_FIX_SELFTEST_MODEL);
        return t;
    }
    dl_image *page = synthetic_page();
    size_t npix = (size_t)3 * dl_model_input_width(m) * dl_model_input_height(m);
    float *pixels = malloc(npix * sizeof(float));
    if (!page || !pixels || dl_model_preprocess(m, page, pixels, &err) != DL_OK) {
        cJSON_AddStringToObject(t, "status", "error");
        doctor_problem(problems, "selftest", "error", "cannot prepare the self-test input",
                       "Out of memory? Free some memory and run again.");
        free(pixels);
        dl_image_free(page);
        dl_model_free(m);
        return t;
    }
    char input[64];
    snprintf(input, sizeof input, "synthetic %dx%d page at %dx%d", page->width, page->height,
             dl_model_input_width(m), dl_model_input_height(m));
    cJSON_AddStringToObject(t, "input", input);
    size_t nq = (size_t)dl_model_num_queries(m), nlab = (size_t)dl_model_num_labels(m);
    const char *fault = getenv("DOCLAYOUT_DOCTOR_FAULT");
    bool ok = true;
    char kernel[64];

    /* 1. the scalar reference, one thread */
    run_out ref = {0}, fast = {0}, gpu = {0};
    dl_detector_options opt = dl_detector_default_options();
    opt.num_threads = 1;
    cJSON *b = backend_entry("reference", "ok");
    cJSON_AddItemToArray(backends, b);
    if (run_backend(m, &opt, true, pixels, &ref, kernel, sizeof kernel, &err) != DL_OK) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
        cJSON_AddStringToObject(b, "message", err.message);
        snprintf(msg, sizeof msg, "the scalar reference failed: %s", err.message);
        doctor_problem(problems, "selftest", "error", msg, DOCTOR_FIX_MISMATCH);
        ok = false;
    }
    cJSON_AddStringToObject(b, "kernel", kernel);
    cJSON_AddNumberToObject(b, "seconds", ref.seconds);

    /* 2. the fast CPU kernels, all threads */
    dl_cpu_report cpu;
    dl_cpu_report_get(&cpu);
    opt.num_threads = o->threads;
    b = backend_entry("cpu", "ok");
    cJSON_AddItemToArray(backends, b);
    kernel[0] = '\0';
    if (run_backend(m, &opt, false, pixels, &fast, kernel, sizeof kernel, &err) != DL_OK) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
        cJSON_AddStringToObject(b, "message", err.message);
        snprintf(msg, sizeof msg, "the CPU backend failed: %s", err.message);
        doctor_problem(problems, "cpu", "error", msg, DOCTOR_FIX_MISMATCH);
        ok = false;
    } else if (ref.logits &&
               !judge(b, &fast, &ref, nq, nlab, TOL_CPU_LOGITS, TOL_CPU_BOXES, fault, "cpu")) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("mismatch"));
        snprintf(msg, sizeof msg,
                 "the CPU kernels (%s, sgemm %s) disagree with the scalar reference: max "
                 "|dlogits| %.3g (tolerance %.0e), max |dboxes| %.3g (tolerance %.0e)",
                 kernel, cpu.sgemm_kernel,
                 cJSON_GetObjectItem(b, "max_abs_diff_logits")->valuedouble, TOL_CPU_LOGITS,
                 cJSON_GetObjectItem(b, "max_abs_diff_boxes")->valuedouble, TOL_CPU_BOXES);
        doctor_problem(problems, "cpu", "error", msg, DOCTOR_FIX_MISMATCH);
        ok = false;
    }
    cJSON_AddStringToObject(b, "kernel", kernel);
    cJSON_AddNumberToObject(b, "seconds", fast.seconds);

    /* 3. CUDA, when it is there or asked for */
    bool try_cuda =
        strcmp(o->device, "cuda") == 0 ||
        (strcmp(o->device, "auto") == 0 && run->cuda_module_loadable && run->cuda_devices > 0);
    char cname[32];
    snprintf(cname, sizeof cname, "cuda:%d", o->device_index);
    b = backend_entry(cname, "skipped");
    cJSON_AddItemToArray(backends, b);
    if (!try_cuda) {
        cJSON_AddStringToObject(b, "message",
                                !run->cuda_module_loadable ? "CUDA module not built/installed"
                                : run->cuda_devices == 0   ? "no CUDA GPU visible"
                                                           : "not requested (--device cpu)");
    } else {
        dl_detector_options g = dl_detector_default_options();
        g.device = DL_DEVICE_CUDA;
        g.device_index = o->device_index;
        g.precision = DL_PRECISION_FP32;
        kernel[0] = '\0';
        if (run_backend(m, &g, false, pixels, &gpu, kernel, sizeof kernel, &err) != DL_OK) {
            cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
            cJSON_AddStringToObject(b, "message", err.message);
            /* the CUDA report may already say why (no module, no GPU); add the run's failure
             * as its own problem only when it adds something */
            bool known = false;
            cJSON *p;
            cJSON_ArrayForEach(p, problems) {
                const cJSON *sev = cJSON_GetObjectItem(p, "severity");
                if (strcmp(cJSON_GetObjectItem(p, "component")->valuestring, "cuda") == 0 &&
                    cJSON_IsString(sev) && strcmp(sev->valuestring, "error") == 0)
                    known = true;
            }
            if (!known) {
                snprintf(msg, sizeof msg, "the CUDA backend failed the self-test: %s", err.message);
                doctor_problem(problems, "cuda", "error", msg, doctor_fix_for_message(err.message));
            }
            ok = false;
        } else {
            cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("ok"));
            cJSON_AddStringToObject(b, "kernel", kernel);
            cJSON_AddNumberToObject(b, "seconds", gpu.seconds);
            if (ref.logits &&
                !judge(b, &gpu, &ref, nq, nlab, TOL_GPU_LOGITS, TOL_GPU_BOXES, fault, "cuda")) {
                cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("mismatch"));
                snprintf(msg, sizeof msg,
                         "the CUDA backend (%s) disagrees with the scalar reference: max "
                         "|dlogits| %.3g, max |dboxes| %.3g",
                         kernel, cJSON_GetObjectItem(b, "max_abs_diff_logits")->valuedouble,
                         cJSON_GetObjectItem(b, "max_abs_diff_boxes")->valuedouble);
                doctor_problem(problems, "cuda", "error", msg, DOCTOR_FIX_MISMATCH);
                ok = false;
            }
        }
    }

    /* 4. the whole pipeline once (resize, network, post-processing) on the fast CPU path */
    dl_detector *det = NULL;
    dl_result *res = NULL;
    opt.num_threads = o->threads;
    if (dl_detector_create(m, &opt, &det, &err) == DL_OK &&
        dl_detector_run(det, (const dl_image *const *)&page, 1, 0.0f, &res, &err) == DL_OK) {
        size_t n = 0;
        dl_result_detections(res, 0, &n);
        cJSON_AddNumberToObject(t, "detections", (double)n);
        if (n != (size_t)dl_model_num_queries(m)) {
            doctor_problem(problems, "selftest", "error",
                           "detection at threshold 0 did not return one detection per query",
                           DOCTOR_FIX_MISMATCH);
            ok = false;
        }
    } else {
        snprintf(msg, sizeof msg, "detection on the CPU failed: %s", err.message);
        doctor_problem(problems, "selftest", "error", msg, DOCTOR_FIX_MISMATCH);
        ok = false;
    }
    dl_result_free(res);
    dl_detector_free(det);

    cJSON_AddStringToObject(t, "status", ok ? "ok" : "failed");
    free(ref.logits);
    free(ref.boxes);
    free(fast.logits);
    free(fast.boxes);
    free(gpu.logits);
    free(gpu.boxes);
    free(pixels);
    dl_image_free(page);
    dl_model_free(m);
    return t;
}

void doctor_selftest_print(const cJSON *st, FILE *f) {
    fprintf(f, "Self-test: %s", doctor_str(st, "status"));
    if (doctor_opt_str(st, "model"))
        fprintf(f, " (%s; %s)", doctor_str(st, "model"), doctor_str(st, "input"));
    fprintf(f, "\n");
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(st, "backends")) {
        fprintf(f, "  %-10s %-8s", doctor_str(b, "name"), doctor_str(b, "status"));
        if (doctor_str(b, "kernel")[0]) fprintf(f, " %s", doctor_str(b, "kernel"));
        if (doctor_num(b, "seconds") >= 0 && strcmp(doctor_str(b, "status"), "skipped") != 0 &&
            strcmp(doctor_str(b, "status"), "error") != 0)
            fprintf(f, ", %.3f s", doctor_num(b, "seconds"));
        if (doctor_num(b, "max_abs_diff_logits") >= 0)
            fprintf(f, ", vs reference: max|dlogits| %.2g, max|dboxes| %.2g",
                    doctor_num(b, "max_abs_diff_logits"), doctor_num(b, "max_abs_diff_boxes"));
        if (doctor_opt_str(b, "message")) fprintf(f, " (%s)", doctor_str(b, "message"));
        fprintf(f, "\n");
    }
}
