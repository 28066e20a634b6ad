/*
 * bench_model MODEL_DIR GFLOP_PER_PAGE|auto [RUNS] [THREADS...]
 *
 * CPU latency of the whole network per page at batch 1 (median of RUNS after one warm-up),
 * for each thread count given (default: all cores, then 1), next to this machine's large-SGEMM
 * rate with our kernel at the same thread count; and the peak RSS against the weights file.
 * The FLOPs of a pass are counted by the executor (dl_exec.flops: convolutions, linear layers
 * and attention products, 2 per multiply-add, as PyTorch's FlopCounterMode) and printed; with
 * "auto" (or 0) as GFLOP_PER_PAGE the rates use that count, else the number given.
 * DL_BENCH_PRECISION=bf16 runs the bf16 precision (dl_detector_options.precision); the kernel
 * level follows DOCLAYOUT_CPU. DL_BENCH_NO_SGEMM=1 leaves out the SGEMM column's run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/internal.h"
#include "backends/cpu/gemm.h"
#include "core/clock.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_model MODEL_DIR GFLOP_PER_PAGE|auto [RUNS] [THREADS...]\n");
        return 2;
    }
    double gflop = strcmp(argv[2], "auto") == 0 ? 0.0 : atof(argv[2]);
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    int threads[8], nt = 0;
    for (int i = 4; i < argc && nt < 8; i++) threads[nt++] = atoi(argv[i]);
    if (!nt) {
        threads[nt++] = dl_cpu_count();
        if (threads[0] != 1) threads[nt++] = 1;
    }
    dl_error err;
    dl_model *m = NULL;
    if (dl_model_load(argv[1], NULL, &m, &err) != DL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int h = dl_model_input_height(m), w = dl_model_input_width(m);
    size_t npx = (size_t)3 * h * w;
    float *px = malloc(npx * sizeof(float));
    float *logits = malloc((size_t)dl_model_num_queries(m) * dl_model_num_labels(m) * sizeof(float));
    float *boxes = malloc((size_t)dl_model_num_queries(m) * 4 * sizeof(float));
    unsigned s = 1;
    for (size_t i = 0; i < npx; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (float)((s >> 8) & 0xFF) / 255.0f;
    }
    bool header = false;
    for (int t = 0; t < nt; t++) {
        dl_detector_options o = dl_detector_default_options();
        o.num_threads = threads[t];
        const char *prec = getenv("DL_BENCH_PRECISION");
        if (prec && strcmp(prec, "bf16") == 0) o.precision = DL_PRECISION_BF16;
        dl_detector *d = NULL;
        if (dl_detector_create(m, &o, &d, &err) != DL_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double *times = calloc((size_t)runs, sizeof(double));
        d->exec.flops = d->exec.flops_folded = 0;
        if (dl_detector_forward(d, px, 1, h, w, logits, boxes, &err) != DL_OK) { /* warm-up */
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double counted = (double)d->exec.flops * 1e-9;
        double folded = (double)d->exec.flops_folded * 1e-9;
        if (!header) {
            if (gflop <= 0.0) gflop = counted;
            printf("model %s (%s, %dx%d, %.1fM parameters, weights file %.1f MB)\n", argv[1],
                   dl_model_type(m), w, h, dl_model_num_parameters(m) / 1e6,
                   m->file_bytes / 1e6);
            printf("FLOPs counted: %.4g GFLOP/page run; %.4g with the RepVGG branches merged at "
                   "load (PyTorch's count of the checkpoint)%s\n", counted, counted + folded,
                   gflop == counted ? "" : "; the rates below use the number given");
            printf("%-8s %-10s %12s %12s %14s %10s\n", "threads", "kernels", "ms/page",
                   "GFLOP/s", "SGEMM GFLOP/s", "fraction");
            header = true;
        }
        size_t allocs = d->exec.arena.n_system_allocs;
        for (int r = 0; r < runs; r++) {
            double t0 = dl_now_s();
            dl_detector_forward(d, px, 1, h, w, logits, boxes, &err);
            times[r] = dl_now_s() - t0;
        }
        qsort(times, (size_t)runs, sizeof(double), cmp);
        double med = times[runs / 2];
        const char *no_sg = getenv("DL_BENCH_NO_SGEMM");
        double sg = no_sg && strcmp(no_sg, "1") == 0 ? 0.0 : dl_bench_sgemm_gflops(d->pool, 2048, 3);
        printf("%-8d %-10s %12.1f %12.1f %14.1f %9.0f%%\n", dl_detector_num_threads(d),
               dl_detector_kernel_name(d), med * 1e3, gflop / med, sg,
               sg > 0.0 ? 100.0 * gflop / med / sg : 0.0);
        if (d->exec.arena.n_system_allocs != allocs)
            printf("warning: the activation arena allocated after the first run\n");
        printf("         activations: peak live %.1f MB, region %.1f MB; op scratch %.1f MB\n",
               d->exec.arena.peak / 1e6, d->exec.arena.region_size / 1e6,
               d->exec.scratch_capacity * 4 / 1e6);
        free(times);
        dl_detector_free(d);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB = weights file %.1f MB + %.1f MB\n", ru.ru_maxrss / 1024.0,
           m->file_bytes / 1e6, ru.ru_maxrss / 1024.0 - m->file_bytes / 1e6);
    free(px);
    free(logits);
    free(boxes);
    dl_model_free(m);
    return 0;
}
