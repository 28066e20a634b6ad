/* Internal image layer: decoders, the Pillow-exact resampler, and helpers shared by them. */
#ifndef DL_IMAGE_IMAGE_H
#define DL_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

/* Largest image file read into memory by dl_image_load_file. */
#define DL_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/* Check a decoder's claimed size against the limits: DL_ERR_FORMAT for a zero side,
 * DL_ERR_LIMIT beyond DL_IMAGE_MAX_SIDE / DL_IMAGE_MAX_PIXELS. Call before allocating. */
dl_status dl_image_check_size(const char *name, long long width, long long height, dl_error *err);

/* An owned RGB image with uninitialised pixels, stride = 3 * width. Checks the limits. */
dl_status dl_image_alloc(const char *name, int width, int height, dl_image **out, dl_error *err);

/* Decoders: `name` is only used in messages. Each leaves *out NULL on failure.
 * Pixels come out as stored, which is also what PIL's Image.open(...).convert("RGB") gives: the
 * document reader (src/document) then applies a JPEG's EXIF orientation (dl_image_orient).
 * TIFFs with partial alpha are read through libtiff's RGBA reader, which premultiplies
 * unassociated alpha (PIL drops it). */
dl_status dl_png_decode(const uint8_t *data, size_t size, const char *name, dl_image **out,
                        dl_error *err);
dl_status dl_jpeg_decode(const uint8_t *data, size_t size, const char *name, dl_image **out,
                         dl_error *err);
dl_status dl_tiff_decode(const uint8_t *data, size_t size, const char *name, int page_index,
                         dl_image **out, dl_error *err);
dl_status dl_tiff_count_pages(const uint8_t *data, size_t size, const char *name, int *count,
                              dl_error *err);

/* An open multi-page TIFF: the directory chain is walked once, at open, and each page is then
 * reached by its directory's offset, so decoding page N does not walk pages 0..N-1 again (a
 * 2,000-page scan would otherwise cost O(pages^2)). `data` must outlive it. One thread at a
 * time. */
typedef struct dl_tiff dl_tiff;
dl_status dl_tiff_open(const uint8_t *data, size_t size, const char *name, dl_tiff **out,
                       dl_error *err);
int dl_tiff_pages(const dl_tiff *tiff);
dl_status dl_tiff_decode_page(dl_tiff *tiff, int page_index, const char *name, dl_image **out,
                              dl_error *err);
void dl_tiff_close(dl_tiff *tiff);

/* Multi-page TIFF scans: the number of pages (IFDs), and page `page_index` (0-based) as RGB.
 * 1-bit (CCITT G3/G4, packbits, ...) pages are expanded to black and white. */
dl_status dl_tiff_page_count(const char *path, int *count, dl_error *err);
dl_status dl_image_load_tiff_page(const char *path, int page_index, dl_image **out, dl_error *err);

/* EXIF orientation (1..8; 1 when absent or unreadable) of a JPEG file's bytes. */
int dl_jpeg_exif_orientation(const uint8_t *data, size_t size);
/* Turn *img upright for an EXIF orientation (replaces *img; 1 or out of range: unchanged). */
dl_status dl_image_orient(dl_image **img, int orientation, dl_error *err);

/* PIL.Image.resize((out_w, out_h), Image.BILINEAR) on an RGB image, bit for bit: antialiased
 * triangle filter when shrinking, separable (horizontal pass first), 22-bit fixed point.
 * A one-off dl_resize_plan (image/resize.h); reuse a plan to resize many same-size images. */
dl_status dl_image_resize_bilinear(const dl_image *src, int out_w, int out_h, dl_image **out,
                                   dl_error *err);

#endif
