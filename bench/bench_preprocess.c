/*
 * bench_preprocess [REPS] [WxH]...
 *
 * Page preprocessing (Pillow-exact bilinear resize to 640x640, then uint8 HWC -> float CHW),
 * one thread, ms per page: the reference implementation (dl_preprocess_ref, the code before the
 * resize plan) side by side with the fused plan path, timed alternately (A/B/A/B...) so a noisy
 * machine hits all alike. Columns: ref; new (the model's plan cache, what dl_model_preprocess
 * runs); once (a plan made and freed per page); generic (a reused plan with the plain-C
 * kernels only); resize-only (uint8 output, dl_image_resize_bilinear) ref and new. Median and (min)
 * of REPS runs; every output is checked to be bit-identical to the reference. Default pages: US
 * letter at 72 dpi (612x792, the PDF pipeline), 1000x1300, and A4 at 150 dpi (1240x1754).
 * DL_BENCH_NORMALIZE=1 adds ImageNet mean/std normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "doclayout.h"
#include "image/image.h"
#include "image/resize.h"

#define OUT_W 640
#define OUT_H 640
#define N_PATHS 6

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A page-like picture: white with dark "text lines", a grey photo block, a little noise. */
static dl_image *make_page(int w, int h) {
    dl_image *img;
    dl_error err;
    if (dl_image_create(w, h, 255, &img, &err) != DL_OK) return NULL;
    unsigned r = 12345;
    for (int y = 0; y < h; y++) {
        uint8_t *row = img->rgb + (size_t)y * img->stride;
        int line = (y * 40 / h) % 2 == 0 && (y % 13) < 9;
        for (int x = 0; x < w; x++) {
            r = r * 1103515245u + 12345u;
            uint8_t v = 250 + (uint8_t)((r >> 16) % 6);
            if (line && x > w / 10 && x < w * 9 / 10 && ((x / 7) % 5) != 0)
                v = (uint8_t)(r >> 24) / 4;
            if (y > h / 2 && y < h * 3 / 4 && x > w / 5 && x < w / 2) v = (uint8_t)(x + y);
            row[3 * x] = v;
            row[3 * x + 1] = (uint8_t)(v ^ (x & 3));
            row[3 * x + 2] = (uint8_t)(v - (y & 1));
        }
    }
    return img;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 40;
    if (reps < 1) reps = 1;
    int default_sizes[][2] = {{612, 792}, {1000, 1300}, {1240, 1754}};
    int n_sizes = 3;
    int(*sizes)[2] = default_sizes;
    if (argc > 2) {
        n_sizes = argc - 2;
        sizes = calloc((size_t)n_sizes, sizeof *sizes);
        for (int i = 0; i < n_sizes; i++)
            if (!sizes || sscanf(argv[2 + i], "%dx%d", &sizes[i][0], &sizes[i][1]) != 2) {
                fprintf(stderr, "usage: bench_preprocess [REPS] [WxH]...\n");
                return 2;
            }
    }
    const char *ne = getenv("DL_BENCH_NORMALIZE");
    dl_pixel_norm norm = {
        1.0f / 255.0f, ne && *ne == '1', {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    size_t n_out = (size_t)3 * OUT_W * OUT_H;
    float *ref = malloc(n_out * sizeof *ref), *got = malloc(n_out * sizeof *got);
    double *times = malloc(sizeof *times * (size_t)reps * N_PATHS);
    if (!ref || !got || !times) return 1;
    dl_error err;
    int bad = 0;
    printf("one thread, -> %dx%d%s, ms per page: median (min) of %d\n", OUT_W, OUT_H,
           norm.normalize ? ", normalised" : "", reps);
    printf("%-11s %15s %15s %15s %15s | %15s %15s | %s\n", "page", "ref", "new", "once", "generic",
           "resize ref", "resize new", "speed-up (new)");
    for (int s = 0; s < n_sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        dl_image *page = make_page(w, h), *ref_img = NULL, *img = NULL;
        dl_resize_plan *plan = NULL, *generic = NULL;
        dl_resize_cache *cache = NULL;
        if (!page || dl_resize_cache_create(OUT_W, OUT_H, &cache, &err) ||
            dl_resize_plan_create(w, h, OUT_W, OUT_H, DL_RESIZE_KERNELS_AUTO, &plan, &err) ||
            dl_resize_plan_create(w, h, OUT_W, OUT_H, DL_RESIZE_KERNELS_GENERIC, &generic, &err) ||
            dl_preprocess_ref(page, OUT_W, OUT_H, &norm, ref, &err) ||
            dl_image_resize_bilinear_ref(page, OUT_W, OUT_H, &ref_img, &err)) {
            fprintf(stderr, "%dx%d: %s\n", w, h, err.message);
            return 1;
        }
        for (int i = 0; i < reps; i++) {
            for (int k = 0; k < N_PATHS; k++) {
                memset(got, 0, n_out * sizeof *got);
                double t0 = dl_now_s();
                dl_status st = DL_OK;
                switch (k) {
                case 0: st = dl_preprocess_ref(page, OUT_W, OUT_H, &norm, got, &err); break;
                case 1: st = dl_resize_cache_run_chw(cache, page, &norm, got, &err); break;
                case 2: st = dl_preprocess_image(page, OUT_W, OUT_H, &norm, got, &err); break;
                case 3:
                    st = dl_resize_plan_run_chw(generic, page, &norm, got, 0, OUT_H, &err);
                    break;
                case 4: st = dl_image_resize_bilinear_ref(page, OUT_W, OUT_H, &img, &err); break;
                case 5: st = dl_image_resize_bilinear(page, OUT_W, OUT_H, &img, &err); break;
                }
                times[k * reps + i] = dl_now_s() - t0;
                if (st != DL_OK) {
                    fprintf(stderr, "%dx%d path %d: %s\n", w, h, k, err.message);
                    return 1;
                }
                int same = k < 4 ? !memcmp(got, ref, n_out * sizeof *got)
                                 : !memcmp(img->rgb, ref_img->rgb, (size_t)OUT_W * OUT_H * 3);
                if (!same && !bad++) fprintf(stderr, "%dx%d path %d: output differs\n", w, h, k);
                dl_image_free(img);
                img = NULL;
            }
        }
        char name[32];
        snprintf(name, sizeof name, "%dx%d", w, h);
        printf("%-11s", name);
        double med[N_PATHS];
        for (int k = 0; k < N_PATHS; k++) {
            double *t = times + k * reps;
            qsort(t, (size_t)reps, sizeof *t, cmp);
            med[k] = t[reps / 2];
            printf(" %7.3f (%5.3f)%s", med[k] * 1e3, t[0] * 1e3, k == 3 ? " |" : "");
        }
        printf(" | %.1fx  [%s]\n", med[0] / med[1], dl_resize_plan_kernels(plan));
        dl_resize_cache_free(cache);
        dl_resize_plan_free(plan);
        dl_resize_plan_free(generic);
        dl_image_free(ref_img);
        dl_image_free(page);
    }
    free(ref);
    free(got);
    free(times);
    if (sizes != default_sizes) free(sizes);
    if (bad) fprintf(stderr, "FAILED: %d outputs differ from the reference\n", bad);
    return bad ? 1 : 0;
}
