/* Image ownership, size limits, and format detection by magic bytes. */
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/file.h"

/* The dl_image header and its pixels live in one aligned block; pixels start at this offset
 * so rows are 64-byte aligned at their start. */
#define DL_IMAGE_HEADER_BYTES 64

dl_status dl_image_check_size(const char *name, long long width, long long height, dl_error *err) {
    if (width <= 0 || height <= 0)
        return dl_fail(err, DL_ERR_FORMAT, "%s: image has an empty size %lldx%lld", name, width,
                       height);
    if (width > DL_IMAGE_MAX_SIDE || height > DL_IMAGE_MAX_SIDE ||
        (unsigned long long)width * (unsigned long long)height > DL_IMAGE_MAX_PIXELS)
        return dl_fail(err, DL_ERR_LIMIT,
                       "%s: image of %lldx%lld pixels exceeds the limit (%d per side, %u pixels)",
                       name, width, height, DL_IMAGE_MAX_SIDE, DL_IMAGE_MAX_PIXELS);
    return DL_OK;
}

dl_status dl_image_alloc(const char *name, int width, int height, dl_image **out, dl_error *err) {
    *out = NULL;
    dl_status st = dl_image_check_size(name, width, height, err);
    if (st != DL_OK) return st;
    size_t stride = (size_t)width * 3;
    size_t pixel_bytes = stride * (size_t)height; /* fits: limits checked above */
    uint8_t *block = dl_alloc_aligned(DL_IMAGE_HEADER_BYTES + pixel_bytes);
    if (!block)
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot allocate %dx%d RGB image", name,
                       width, height);
    dl_image *img = (dl_image *)block;
    img->width = width;
    img->height = height;
    img->stride = stride;
    img->rgb = block + DL_IMAGE_HEADER_BYTES;
    *out = img;
    return DL_OK;
}

dl_status dl_image_create(int width, int height, uint8_t grey, dl_image **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_create: out is NULL");
    if (width <= 0 || height <= 0) {
        *out = NULL;
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_create: invalid size %dx%d", width,
                       height);
    }
    dl_status st = dl_image_alloc("dl_image_create", width, height, out, err);
    if (st != DL_OK) return st;
    memset((*out)->rgb, grey, (*out)->stride * (size_t)height);
    return DL_OK;
}

void dl_image_free(dl_image *image) { dl_free_aligned(image); }

static int has_magic(const uint8_t *data, size_t size, const void *magic, size_t n) {
    return size >= n && memcmp(data, magic, n) == 0;
}

static dl_status decode_any(const uint8_t *data, size_t size, const char *name, dl_image **out,
                            dl_error *err) {
    if (has_magic(data, size, "\x89PNG\r\n\x1a\n", 8))
        return dl_png_decode(data, size, name, out, err);
    if (has_magic(data, size, "\xff\xd8\xff", 3)) return dl_jpeg_decode(data, size, name, out, err);
    if (has_magic(data, size, "II*\0", 4) || has_magic(data, size, "MM\0*", 4) ||
        has_magic(data, size, "II+\0", 4) || has_magic(data, size, "MM\0+", 4))
        return dl_tiff_decode(data, size, name, 0, out, err);
    if (size == 0) return dl_fail(err, DL_ERR_FORMAT, "%s: empty file, not an image", name);
    return dl_fail(err, DL_ERR_FORMAT, "%s: not a PNG, JPEG or TIFF image (unknown signature)",
                   name);
}

dl_status dl_image_load_file(const char *path, dl_image **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_load_file: out is NULL");
    *out = NULL;
    if (!path) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_load_file: path is NULL");
    void *data;
    size_t size;
    dl_status st = dl_read_file(path, DL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != DL_OK) return st;
    st = decode_any(data, size, path, out, err);
    free(data);
    return st;
}

dl_status dl_image_load_memory(const void *data, size_t size, dl_image **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_load_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_load_memory: data is NULL");
    return decode_any(data ? data : "", size, "<memory image>", out, err);
}

dl_status dl_tiff_page_count(const char *path, int *count, dl_error *err) {
    if (!path || !count)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_tiff_page_count: NULL argument");
    *count = 0;
    void *data;
    size_t size;
    dl_status st = dl_read_file(path, DL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != DL_OK) return st;
    st = dl_tiff_count_pages(data, size, path, count, err);
    free(data);
    return st;
}

dl_status dl_image_load_tiff_page(const char *path, int page_index, dl_image **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_load_tiff_page: out is NULL");
    *out = NULL;
    if (!path || page_index < 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "dl_image_load_tiff_page: NULL path or negative page index");
    void *data;
    size_t size;
    dl_status st = dl_read_file(path, DL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != DL_OK) return st;
    st = dl_tiff_decode(data, size, path, page_index, out, err);
    free(data);
    return st;
}
