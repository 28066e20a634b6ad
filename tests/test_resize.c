/* dl_image_resize_bilinear must equal PIL's Image.resize(size, BILINEAR) byte for byte: on the
 * committed fixtures (tools/make_resize_fixtures.py) and, when ../shared is present, on the
 * golden pages that the models' reference pixel values came from.
 *
 * The resize plan (image/resize.h) with every kernel set (the CPU's SIMD and the generic C)
 * must equal the reference implementation (resize_ref.c) bit for bit, bytes and converted
 * floats (with and without normalisation), on odd sizes: 1xN, Nx1, up- and downscales,
 * extreme aspect ratios, strong downscales (SIMD blocks that do not fit), padded strides,
 * row ranges; and the plan cache must stay right when several threads share it. */
#include <pthread.h>
#include <time.h>

#include "api/internal.h"
#include "doclayout.h"
#include "image/image.h"
#include "image/resize.h"
#include "image/resize_kernels.h"
#include "io/npy.h"
#include "test_util.h"

/* Count differing bytes between an image and a tightly packed [h][w][3] reference. */
static size_t count_diffs(const dl_image *img, const uint8_t *ref, int *first_x, int *first_y) {
    size_t diffs = 0;
    *first_x = *first_y = -1;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->rgb + (size_t)y * img->stride;
        const uint8_t *ref_row = ref + (size_t)y * img->width * 3;
        for (int i = 0; i < img->width * 3; i++) {
            if (row[i] != ref_row[i]) {
                if (!diffs) *first_x = i / 3, *first_y = y;
                diffs++;
            }
        }
    }
    return diffs;
}

static void check_plan_matches_ref(const dl_image *src, int out_w, int out_h, const char *what);

static void check_fixture(const char *name, int out_w, int out_h) {
    char src_path[512], ref_path[512];
    snprintf(src_path, sizeof src_path, "%s/tests/fixtures/resize/%s_src.png", DL_SOURCE_DIR, name);
    snprintf(ref_path, sizeof ref_path, "%s/tests/fixtures/resize/%s_%dx%d.png", DL_SOURCE_DIR,
             name, out_w, out_h);
    dl_error err;
    dl_image *src = NULL, *ref = NULL, *out = NULL;
    CHECK_OK(dl_image_load_file(src_path, &src, &err), &err);
    int identity = src && src->width == out_w && src->height == out_h;
    if (!identity) CHECK_OK(dl_image_load_file(ref_path, &ref, &err), &err);
    if (src && (identity || ref)) {
        if (identity) ref = src;
        CHECK_OK(dl_image_resize_bilinear(src, out_w, out_h, &out, &err), &err);
        if (out) {
            CHECK(out->width == out_w && out->height == out_h);
            CHECK(ref->stride == (size_t)ref->width * 3);
            int fx, fy;
            size_t diffs = count_diffs(out, ref->rgb, &fx, &fy);
            CHECK_MSG(diffs == 0, "%s -> %dx%d: %zu bytes differ from PIL, first at (%d,%d)", name,
                      out_w, out_h, diffs, fx, fy);
        }
        check_plan_matches_ref(src, out_w, out_h, name);
    }
    if (ref != src) dl_image_free(ref);
    dl_image_free(src);
    dl_image_free(out);
}

static int check_golden(const char *model) {
    char rel[256], input_path[512], ref_path[512];
    snprintf(rel, sizeof rel, "golden/%s/input.png", model);
    if (!dl_shared_path(rel, input_path, sizeof input_path)) return 0;
    snprintf(rel, sizeof rel, "golden/%s/resized_uint8.npy", model);
    if (!dl_shared_path(rel, ref_path, sizeof ref_path)) return 0;
    dl_error err;
    dl_image *page = NULL, *out = NULL;
    dl_npy ref;
    CHECK_OK(dl_image_load_file(input_path, &page, &err), &err);
    CHECK_OK(dl_npy_read(ref_path, &ref, &err), &err);
    if (page && ref.data) {
        CHECK(ref.dtype == DL_NPY_U8 && ref.ndim == 3 && ref.shape[2] == 3);
        int out_w = (int)ref.shape[1], out_h = (int)ref.shape[0];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_OK(dl_image_resize_bilinear(page, out_w, out_h, &out, &err), &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (out) {
            int fx, fy;
            size_t diffs = count_diffs(out, ref.data, &fx, &fy);
            CHECK_MSG(diffs == 0, "%s: %zu bytes differ from PIL, first at (%d,%d)", model, diffs,
                      fx, fy);
            printf("golden %s: %dx%d -> %dx%d in %.2f ms, %zu differing bytes\n", model,
                   page->width, page->height, out_w, out_h,
                   (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, diffs);
        }
    }
    dl_npy_free(&ref);
    dl_image_free(page);
    dl_image_free(out);
    return 1;
}

static void check_bad_arguments(void) {
    dl_error err;
    dl_image *img = NULL, *out = (dl_image *)&err;
    CHECK_OK(dl_image_create(4, 4, 7, &img, &err), &err);
    CHECK(dl_image_resize_bilinear(img, 0, 5, &out, &err) == DL_ERR_INVALID_ARGUMENT && !out);
    CHECK(dl_image_resize_bilinear(img, 5, -1, &out, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_image_resize_bilinear(NULL, 5, 5, &out, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_image_resize_bilinear(img, 40000, 5, &out, &err) == DL_ERR_LIMIT && !out);
    /* A flat image stays flat at any size. */
    CHECK_OK(dl_image_resize_bilinear(img, 9, 2, &out, &err), &err);
    if (out) {
        int flat = 1;
        for (int y = 0; y < out->height; y++)
            for (int i = 0; i < out->width * 3; i++) flat &= out->rgb[y * out->stride + i] == 7;
        CHECK(flat);
    }
    dl_image_free(out);
    dl_image_free(img);
}

/* ---- the plan against the reference -------------------------------------------------------- */

/* A caller-wrapped image with `pad` bytes of garbage after each row. */
typedef struct test_image {
    dl_image img;
    uint8_t *buf;
} test_image;

static unsigned rng_next(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* kind 0: noise; 1: a page (white, dark strokes, a ramp); 2: only 0 and 255 */
static int make_image(test_image *t, int w, int h, int pad, int kind, unsigned seed) {
    t->img.width = w;
    t->img.height = h;
    t->img.stride = (size_t)w * 3 + (size_t)pad;
    t->buf = malloc(t->img.stride * (size_t)h);
    t->img.rgb = t->buf;
    if (!t->buf) return 0;
    unsigned r = seed;
    for (int y = 0; y < h; y++) {
        uint8_t *row = t->buf + (size_t)y * t->img.stride;
        for (int i = 0; i < w * 3; i++) {
            unsigned v = rng_next(&r);
            if (kind == 1)
                v = ((i / 3 + y) % 9 < 2) ? v % 40
                                          : (i / 3 > w / 2 ? (unsigned)(i + y) : 250 + v % 6);
            if (kind == 2) v = (v & 1) ? 255 : 0;
            row[i] = (uint8_t)v;
        }
        memset(row + (size_t)w * 3, 0xA5, (size_t)pad);
    }
    return 1;
}

static const dl_pixel_norm norm_plain = {1.0f / 255.0f, false, {0, 0, 0}, {1, 1, 1}};
static const dl_pixel_norm norm_imagenet = {
    0.00392156862745098f, true, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

/* The bytes of a plan run (dst rows padded too) against the reference's image. */
static void check_plan_bytes(const dl_resize_plan *p, const dl_image *src, const dl_image *ref,
                             const char *what) {
    int out_w = ref->width, out_h = ref->height;
    size_t stride = (size_t)out_w * 3 + 7;
    uint8_t *dst = malloc(stride * (size_t)out_h);
    dl_error err;
    if (!dst) {
        CHECK(dst != NULL);
        return;
    }
    memset(dst, 0x5A, stride * (size_t)out_h);
    CHECK_OK(dl_resize_plan_run(p, src, dst, stride, &err), &err);
    size_t diffs = 0, pad_changed = 0;
    for (int y = 0; y < out_h; y++) {
        const uint8_t *a = dst + (size_t)y * stride, *b = ref->rgb + (size_t)y * ref->stride;
        for (int i = 0; i < out_w * 3; i++) diffs += a[i] != b[i];
        for (int i = out_w * 3; i < out_w * 3 + 7; i++) pad_changed += a[i] != 0x5A;
    }
    CHECK_MSG(diffs == 0 && pad_changed == 0,
              "%s %dx%d -> %dx%d (%s): %zu bytes differ from the reference, %zu padding bytes "
              "written",
              what, src->width, src->height, out_w, out_h, dl_resize_plan_kernels(p), diffs,
              pad_changed);
    free(dst);
}

/* Floats must be bit-identical: memcmp, not ==. */
static void check_floats(const float *got, const float *ref, size_t n, const char *what,
                         const char *how, int in_w, int in_h, int out_w, int out_h) {
    size_t diffs = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(got + i, ref + i, sizeof *got)) {
            if (!diffs) first = i;
            diffs++;
        }
    CHECK_MSG(diffs == 0,
              "%s %dx%d -> %dx%d (%s): %zu floats differ from the reference, first "
              "at %zu (%.9g vs %.9g)",
              what, in_w, in_h, out_w, out_h, how, diffs, first, diffs ? (double)got[first] : 0.0,
              diffs ? (double)ref[first] : 0.0);
}

/* Every path of the plan against the reference, for one source and output size. */
static void check_plan_matches_ref(const dl_image *src, int out_w, int out_h, const char *what) {
    dl_error err;
    dl_image *ref = NULL, *fast = NULL;
    CHECK_OK(dl_image_resize_bilinear_ref(src, out_w, out_h, &ref, &err), &err);
    CHECK_OK(dl_image_resize_bilinear(src, out_w, out_h, &fast, &err), &err);
    if (!ref || !fast) {
        dl_image_free(ref);
        dl_image_free(fast);
        return;
    }
    int fx, fy;
    size_t diffs = count_diffs(fast, ref->rgb, &fx, &fy);
    CHECK_MSG(diffs == 0,
              "%s %dx%d -> %dx%d: dl_image_resize_bilinear differs from the "
              "reference in %zu bytes, first at (%d,%d)",
              what, src->width, src->height, out_w, out_h, diffs, fx, fy);
    size_t n = (size_t)3 * out_w * out_h;
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    CHECK(want && got);
    for (int k = 0; want && got && k < 2; k++) {
        dl_resize_plan *p = NULL;
        CHECK_OK(dl_resize_plan_create(src->width, src->height, out_w, out_h,
                                       k ? DL_RESIZE_KERNELS_GENERIC : DL_RESIZE_KERNELS_AUTO, &p,
                                       &err),
                 &err);
        if (!p) continue;
        check_plan_bytes(p, src, ref, what);
        for (int nm = 0; nm < 2; nm++) {
            const dl_pixel_norm *norm = nm ? &norm_imagenet : &norm_plain;
            char how[96];
            snprintf(how, sizeof how, "%s, %s", dl_resize_plan_kernels(p),
                     nm ? "normalised" : "rescaled");
            CHECK_OK(dl_preprocess_ref(src, out_w, out_h, norm, want, &err), &err);
            memset(got, 0xFF, n * sizeof *got);
            CHECK_OK(dl_resize_plan_run_chw(p, src, norm, got, 0, out_h, &err), &err);
            check_floats(got, want, n, what, how, src->width, src->height, out_w, out_h);
            /* in two row ranges, as two threads would */
            memset(got, 0xFF, n * sizeof *got);
            int mid = out_h / 3;
            CHECK_OK(dl_resize_plan_run_chw(p, src, norm, got, mid, out_h, &err), &err);
            CHECK_OK(dl_resize_plan_run_chw(p, src, norm, got, 0, mid, &err), &err);
            strcat(how, ", two row ranges");
            check_floats(got, want, n, what, how, src->width, src->height, out_w, out_h);
        }
        dl_resize_plan_free(p);
    }
    free(want);
    free(got);
    dl_image_free(ref);
    dl_image_free(fast);
}

static void check_sizes(void) {
    static const int sizes[][4] = {
        /* in_w, in_h, out_w, out_h */
        {1, 1, 1, 1},
        {1, 1, 640, 640},
        {1, 500, 640, 640},
        {500, 1, 640, 640},
        {2, 3, 1, 1},
        {7, 5, 640, 640},
        {612, 792, 640, 640},
        {1000, 1300, 640, 640},
        {640, 640, 640, 640},
        {640, 901, 640, 640},
        {901, 640, 640, 640},
        {3000, 40, 640, 640},
        {40, 3000, 640, 640},
        {613, 791, 641, 479},
        {33, 17, 17, 33},
        {640, 480, 480, 640},
        {100, 101, 1, 640},
        {101, 100, 640, 1},
        {1240, 1754, 640, 640},
        {850, 1100, 480, 480},
        {64, 64, 65, 63},
        {17, 640, 17, 641},
        {1999, 7, 640, 8},
        {640, 3, 320, 1},
        /* around a 5x horizontal downscale, where a block of 4 outputs spans 15 input bytes
         * (the limit of the 16-byte windows: 14 for pairs of taps, 15 for single taps) */
        {3136, 20, 640, 20},
        {3200, 21, 640, 21},
        {1500, 9, 300, 9},
        {3300, 20, 640, 20},
        /* strong downscale: the SIMD horizontal blocks do not fit, the generic pass runs */
        {5000, 120, 300, 77},
        {2600, 64, 400, 64},
    };
    static const int pads[] = {0, 5, 64};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        test_image t;
        int kind = (int)(i % 3);
        if (!make_image(&t, sizes[i][0], sizes[i][1], pads[i % 3], kind, 1000u + (unsigned)i)) {
            CHECK(!"out of memory");
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "image %zu (kind %d, row padding %d)", i, kind, pads[i % 3]);
        check_plan_matches_ref(&t.img, sizes[i][2], sizes[i][3], what);
        free(t.buf);
    }
    /* which kernels the strong downscale runs (SIMD machines fall back to the generic pass) */
    dl_error err;
    dl_resize_plan *p = NULL;
    CHECK_OK(dl_resize_plan_create(5000, 120, 300, 77, DL_RESIZE_KERNELS_AUTO, &p, &err), &err);
    if (p) {
        printf("kernels: 612x792 -> 640x640 ");
        dl_resize_plan *q = NULL;
        if (dl_resize_plan_create(612, 792, 640, 640, DL_RESIZE_KERNELS_AUTO, &q, &err) == DL_OK)
            printf("%s; ", dl_resize_plan_kernels(q));
        printf("5000x120 -> 300x77 %s\n", dl_resize_plan_kernels(p));
        CHECK(strcmp(dl_resize_plan_kernels(p), "generic") == 0 ||
              strstr(dl_resize_plan_kernels(p), "(generic horizontal)") != NULL);
        dl_resize_plan_free(q);
        dl_resize_plan_free(p);
    }
}

/* clip8's clamp to 0..255: plans skip it where they prove it changes nothing (which the
 * bilinear taps' sums make true up to ~16000 taps per output, past the size limit). The
 * clamping variant must agree: forced on here. And the longest tap rows there are. */
static void check_clamp_plans(void) {
    dl_error err;
    dl_resize_plan *p = NULL;
    test_image t;
    CHECK_OK(dl_resize_plan_create(612, 792, 640, 640, DL_RESIZE_KERNELS_AUTO, &p, &err), &err);
    if (p && make_image(&t, 612, 792, 0, 2, 4242u)) {
        CHECK(!p->xclamp && !p->yclamp);
        p->xclamp = p->yclamp = true;
        size_t n = (size_t)3 * 640 * 640;
        float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        if (want && got) {
            CHECK_OK(dl_preprocess_ref(&t.img, 640, 640, &norm_plain, want, &err), &err);
            CHECK_OK(dl_resize_plan_run_chw(p, &t.img, &norm_plain, got, 0, 640, &err), &err);
            check_floats(got, want, n, "forced clamps", dl_resize_plan_kernels(p), 612, 792, 640,
                         640);
        }
        free(want);
        free(got);
        free(t.buf);
    }
    dl_resize_plan_free(p);
    for (int kind = 0; kind < 3; kind += 2) {
        if (make_image(&t, 3, 30000, 0, kind, 77u)) {
            check_plan_matches_ref(&t.img, 2, 3, "a 30000-row strip");
            free(t.buf);
        }
        if (make_image(&t, 30000, 2, 3, kind, 78u)) {
            check_plan_matches_ref(&t.img, 3, 2, "a 30000-column strip");
            free(t.buf);
        }
    }
}

static void check_plan_arguments(void) {
    dl_error err;
    dl_resize_plan *p = (dl_resize_plan *)&err;
    CHECK(dl_resize_plan_create(0, 5, 5, 5, DL_RESIZE_KERNELS_AUTO, &p, &err) ==
              DL_ERR_INVALID_ARGUMENT &&
          !p);
    CHECK(dl_resize_plan_create(5, 5, 5, -2, DL_RESIZE_KERNELS_AUTO, &p, &err) ==
          DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_resize_plan_create(30001, 5, 5, 5, DL_RESIZE_KERNELS_AUTO, &p, &err) == DL_ERR_LIMIT);
    CHECK(dl_resize_plan_create(5, 5, 5, 5, DL_RESIZE_KERNELS_AUTO, NULL, &err) ==
          DL_ERR_INVALID_ARGUMENT);
    CHECK_OK(dl_resize_plan_create(8, 6, 4, 3, DL_RESIZE_KERNELS_AUTO, &p, &err), &err);
    dl_image *img = NULL, *other = NULL;
    CHECK_OK(dl_image_create(8, 6, 9, &img, &err), &err);
    CHECK_OK(dl_image_create(6, 8, 9, &other, &err), &err);
    float out[3 * 4 * 3];
    uint8_t bytes[4 * 3 * 3];
    if (p && img && other) {
        CHECK(dl_resize_plan_run_chw(p, other, &norm_plain, out, 0, 3, &err) ==
              DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_resize_plan_run_chw(p, img, &norm_plain, out, 2, 1, &err) ==
              DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_resize_plan_run_chw(p, img, &norm_plain, out, 0, 4, &err) ==
              DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_resize_plan_run_chw(p, img, NULL, out, 0, 3, &err) == DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_resize_plan_run(p, img, bytes, 11, &err) == DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_resize_plan_run(p, NULL, bytes, 12, &err) == DL_ERR_INVALID_ARGUMENT);
        CHECK_OK(dl_resize_plan_run_chw(p, img, &norm_plain, out, 1, 1, &err), &err);
        CHECK_OK(dl_resize_plan_run(p, img, bytes, 12, &err), &err);
        int flat = 1;
        for (size_t i = 0; i < sizeof bytes; i++) flat &= bytes[i] == 9;
        CHECK(flat);
    }
    CHECK(strcmp(dl_resize_plan_kernels(NULL), "") == 0);
    dl_resize_plan_free(p);
    dl_resize_plan_free(NULL);
    dl_image_free(img);
    dl_image_free(other);
    dl_resize_cache *c = (dl_resize_cache *)&err;
    CHECK(dl_resize_cache_create(0, 640, &c, &err) == DL_ERR_INVALID_ARGUMENT && !c);
    dl_resize_cache_free(NULL);
}

/* ---- the plan cache ------------------------------------------------------------------------ */

#define CACHE_SIZES 6 /* more than DL_RESIZE_CACHE_SIZE: plans get evicted while in use */
#define CACHE_THREADS 3
#define CACHE_OUT 64

typedef struct cache_job {
    dl_resize_cache *cache;
    test_image *pages;  /* [CACHE_SIZES] */
    float *const *want; /* [CACHE_SIZES][3][CACHE_OUT][CACHE_OUT] */
    int seed, bad, errors;
} cache_job;

static void *cache_worker(void *arg) {
    cache_job *j = arg;
    size_t n = (size_t)3 * CACHE_OUT * CACHE_OUT;
    float *got = malloc(n * sizeof *got);
    if (!got) {
        j->errors++;
        return NULL;
    }
    unsigned r = (unsigned)j->seed;
    for (int it = 0; it < 60; it++) {
        int k = (int)(rng_next(&r) % CACHE_SIZES);
        dl_error err;
        if (dl_resize_cache_run_chw(j->cache, &j->pages[k].img, &norm_plain, got, &err) != DL_OK)
            j->errors++;
        else if (memcmp(got, j->want[k], n * sizeof *got)) j->bad++;
    }
    free(got);
    return NULL;
}

static void check_cache(void) {
    dl_error err;
    dl_resize_cache *c = NULL;
    CHECK_OK(dl_resize_cache_create(CACHE_OUT, CACHE_OUT, &c, &err), &err);
    if (!c) return;
    test_image pages[CACHE_SIZES];
    float *want[CACHE_SIZES];
    size_t n = (size_t)3 * CACHE_OUT * CACHE_OUT;
    int ok = 1;
    for (int k = 0; k < CACHE_SIZES; k++) {
        ok &= make_image(&pages[k], 50 + 17 * k, 90 - 9 * k, k % 2 ? 3 : 0, k % 3, 500u + k);
        want[k] = malloc(n * sizeof **want);
        ok &= want[k] != NULL;
        if (ok)
            ok &= dl_preprocess_ref(&pages[k].img, CACHE_OUT, CACHE_OUT, &norm_plain, want[k],
                                    &err) == DL_OK;
    }
    CHECK(ok);
    if (ok) {
        /* the same size gives the same plan; a held plan outlives its eviction */
        const dl_resize_plan *a = NULL, *b = NULL, *held = NULL;
        CHECK_OK(dl_resize_cache_acquire(c, 50, 90, &a, &err), &err);
        CHECK_OK(dl_resize_cache_acquire(c, 50, 90, &b, &err), &err);
        CHECK(a && a == b);
        held = a;
        dl_resize_cache_release(c, b);
        for (int k = 1; k < CACHE_SIZES; k++) {
            const dl_resize_plan *q = NULL;
            CHECK_OK(dl_resize_cache_acquire(c, pages[k].img.width, pages[k].img.height, &q, &err),
                     &err);
            dl_resize_cache_release(c, q);
        }
        float *got = malloc(n * sizeof *got);
        if (got && held) {
            CHECK_OK(
                dl_resize_plan_run_chw(held, &pages[0].img, &norm_plain, got, 0, CACHE_OUT, &err),
                &err);
            CHECK(memcmp(got, want[0], n * sizeof *got) == 0);
        }
        free(got);
        dl_resize_cache_release(c, held); /* evicted: freed here (ASan checks) */
        const dl_resize_plan *again = NULL;
        CHECK_OK(dl_resize_cache_acquire(c, 50, 90, &again, &err), &err);
        dl_resize_cache_release(c, again);
        CHECK(dl_resize_cache_acquire(c, 0, 90, &again, &err) == DL_ERR_INVALID_ARGUMENT && !again);

        /* threads sharing one cache, sizes cycling through more plans than it holds */
        pthread_t th[CACHE_THREADS];
        cache_job jobs[CACHE_THREADS];
        int started[CACHE_THREADS] = {0};
        for (int t = 0; t < CACHE_THREADS; t++) {
            jobs[t] = (cache_job){c, pages, want, 31 * t + 7, 0, 0};
            started[t] = pthread_create(&th[t], NULL, cache_worker, &jobs[t]) == 0;
            CHECK(started[t]);
        }
        int bad = 0, errors = 0;
        for (int t = 0; t < CACHE_THREADS; t++) {
            if (started[t]) pthread_join(th[t], NULL);
            bad += jobs[t].bad;
            errors += jobs[t].errors;
        }
        CHECK_MSG(bad == 0 && errors == 0,
                  "%d wrong outputs, %d errors from threads sharing a "
                  "plan cache",
                  bad, errors);
    }
    for (int k = 0; k < CACHE_SIZES; k++) {
        free(pages[k].buf);
        free(want[k]);
    }
    dl_resize_cache_free(c);
}

/* dl_model_preprocess (the model's plan cache) equals the reference with the model's own
 * preprocessing settings. */
static void check_model_preprocess(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/golden/rtdetrv2-tiny", DL_SOURCE_DIR);
    dl_error err;
    dl_model *m = NULL;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    if (!m) return;
    const dl_preprocess *pp = &m->pre;
    dl_pixel_norm norm = {pp->do_rescale ? pp->rescale_factor : 1.0f,
                          pp->do_normalize,
                          {pp->mean[0], pp->mean[1], pp->mean[2]},
                          {pp->std[0], pp->std[1], pp->std[2]}};
    size_t n = (size_t)3 * pp->width * pp->height;
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    static const int sizes[][2] = {{612, 792}, {640, 640}, {612, 792}, {17, 1000}};
    for (size_t i = 0; want && got && i < sizeof sizes / sizeof *sizes; i++) {
        test_image t;
        if (!make_image(&t, sizes[i][0], sizes[i][1], 0, 1, 9u + (unsigned)i)) continue;
        CHECK_OK(dl_preprocess_ref(&t.img, pp->width, pp->height, &norm, want, &err), &err);
        CHECK_OK(dl_model_preprocess(m, &t.img, got, &err), &err);
        check_floats(got, want, n, "dl_model_preprocess", "model", sizes[i][0], sizes[i][1],
                     pp->width, pp->height);
        free(t.buf);
    }
    free(want);
    free(got);
    dl_model_free(m);
}

int main(void) {
    check_fixture("letter", 640, 640);
    check_fixture("small_up", 640, 640);
    check_fixture("wide_strip", 17, 640);
    check_fixture("tall_strip", 640, 640);
    check_fixture("identity", 640, 640);
    check_fixture("half", 640, 640);
    check_fixture("near", 640, 640);
    check_fixture("only_x", 123, 200);
    check_fixture("only_y", 200, 77);
    check_bad_arguments();
    check_plan_arguments();
    check_sizes();
    check_clamp_plans();
    check_cache();
    check_model_preprocess();
    const char *models[] = {"rtdetrv2-tiny", "rtdetrv2-tiny-480", "dfine-tiny", "dfine-tiny-proj"};
    int golden = 0;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) golden += check_golden(models[i]);
    if (!golden) printf("test_resize: ../shared golden pages absent, fixtures only\n");
    return dl_test_finish("test_resize");
}
