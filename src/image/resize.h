/* Pillow-exact bilinear resampling as a reusable plan, fused with the model's pixel conversion.
 *
 * A plan holds everything that depends only on the (input size, output size) pair: Pillow's
 * fixed-point filter taps for both axes, padded for the SIMD kernels. It is immutable once
 * made, so one plan may be used by any number of threads at once; each run allocates its own
 * small scratch (a few rows), never a whole intermediate image.
 *
 * Results are bit-identical to PIL.Image.resize(BILINEAR) and to the reference implementation
 * kept in resize_ref.c (dl_image_resize_bilinear_ref, dl_preprocess_ref), whichever kernels
 * run: AVX2 (x86-64, chosen at run time), NEON (aarch64) or generic C. tests/test_resize.c
 * checks all of them against the reference.
 */
#ifndef DL_IMAGE_RESIZE_H
#define DL_IMAGE_RESIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

/* uint8 -> float conversion of the model input: v = (float)u8 * scale, then, when normalize,
 * v = (v - mean[c]) / std[c] (single precision, in that order). */
typedef struct dl_pixel_norm {
    float scale;
    bool normalize;
    float mean[3], std[3];
} dl_pixel_norm;

typedef enum dl_resize_kernels {
    DL_RESIZE_KERNELS_AUTO = 0, /* the best this CPU runs */
    DL_RESIZE_KERNELS_GENERIC   /* plain C only (tests, benchmarks) */
} dl_resize_kernels;

typedef struct dl_resize_plan dl_resize_plan;

/* A plan for in_w x in_h -> out_w x out_h (each side 1..DL_IMAGE_MAX_SIDE). */
dl_status dl_resize_plan_create(int in_w, int in_h, int out_w, int out_h, dl_resize_kernels kernels,
                                dl_resize_plan **out, dl_error *err);
void dl_resize_plan_free(dl_resize_plan *plan);
/* "avx2", "neon" or "generic": the kernels this plan runs. */
const char *dl_resize_plan_kernels(const dl_resize_plan *plan);

/* Resize src (in_w x in_h) into dst, out_h rows of out_w * 3 bytes, `dst_stride` apart. */
dl_status dl_resize_plan_run(const dl_resize_plan *plan, const dl_image *src, uint8_t *dst,
                             size_t dst_stride, dl_error *err);

/* Resize src and convert it to planar float: out[3][out_h][out_w]. Output rows [row0, row1)
 * only (0, out_h for the whole image), so that threads can share one image. */
dl_status dl_resize_plan_run_chw(const dl_resize_plan *plan, const dl_image *src,
                                 const dl_pixel_norm *norm, float *out, int row0, int row1,
                                 dl_error *err);

/* A thread-safe cache of plans to one output size, for pages of a few recurring sizes (a
 * model keeps one): the DL_RESIZE_CACHE_SIZE most recently used input sizes. Plans are
 * reference-counted, so one evicted while another thread runs it lives until released. */
#define DL_RESIZE_CACHE_SIZE 4
typedef struct dl_resize_cache dl_resize_cache;
dl_status dl_resize_cache_create(int out_w, int out_h, dl_resize_cache **out, dl_error *err);
/* No plan may be in use (acquired and not released). NULL is ignored. */
void dl_resize_cache_free(dl_resize_cache *cache);
/* The plan for in_w x in_h -> the cache's size, made on a miss; give it back with release. */
dl_status dl_resize_cache_acquire(dl_resize_cache *cache, int in_w, int in_h,
                                  const dl_resize_plan **plan, dl_error *err);
void dl_resize_cache_release(dl_resize_cache *cache, const dl_resize_plan *plan);
/* acquire + dl_resize_plan_run_chw (all rows) + release. */
dl_status dl_resize_cache_run_chw(dl_resize_cache *cache, const dl_image *src,
                                  const dl_pixel_norm *norm, float *out, dl_error *err);

/* dl_resize_plan_create + dl_resize_plan_run_chw + free, for one image. */
dl_status dl_preprocess_image(const dl_image *src, int out_w, int out_h, const dl_pixel_norm *norm,
                              float *out, dl_error *err);

/* ---- the reference (resize_ref.c): the original straightforward implementation ---------- */

/* PIL.Image.resize((out_w, out_h), Image.BILINEAR) into a new image, one output at a time. */
dl_status dl_image_resize_bilinear_ref(const dl_image *src, int out_w, int out_h, dl_image **out,
                                       dl_error *err);
/* The reference resize (skipped when the size already matches), then the HWC uint8 -> CHW
 * float loop: what dl_model_preprocess did before the plan. */
dl_status dl_preprocess_ref(const dl_image *src, int out_w, int out_h, const dl_pixel_norm *norm,
                            float *out, dl_error *err);

#endif
