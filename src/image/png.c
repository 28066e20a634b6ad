/* PNG decoding and encoding with libpng. libpng reports errors by calling our handler, which
 * records the message and longjmps back; nothing is printed and nothing aborts. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"

/* State shared with the libpng callbacks and the setjmp landing site. Kept in a struct (not
 * in locals) so that values written after setjmp are still valid after the longjmp. */
typedef struct png_session {
    const uint8_t *data; /* [size] the whole file */
    size_t size;
    size_t pos;
    char message[256]; /* libpng's last error text */
    dl_image *image;
    png_bytep *rows; /* [height] pointers into image->rgb */
} png_session;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_session *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (bad gamma chunk, ...) are not failures; stay silent */
}

static void png_read_from_memory(png_structp png, png_bytep dst, size_t n) {
    png_session *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "file is truncated");
    memcpy(dst, s->data + s->pos, n);
    s->pos += n;
}

dl_status dl_png_decode(const uint8_t *data, size_t size, const char *name, dl_image **out,
                        dl_error *err) {
    *out = NULL;
    png_session s = {.data = data, .size = size};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_on_error, png_on_warning);
    if (!png) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create PNG reader", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create PNG reader", name);
    }
    /* `status` is reassigned on the longjmp path, so its value there is never stale. */
    dl_status status = DL_ERR_FORMAT;
    if (setjmp(png_jmpbuf(png))) {
        status = dl_fail(err, DL_ERR_FORMAT, "%s: corrupt PNG: %s", name, s.message);
        goto fail;
    }
    png_set_read_fn(png, &s, png_read_from_memory);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    status = dl_image_check_size(name, width, height, err);
    if (status != DL_OK) goto fail;

    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    /* Convert like PIL's convert("RGB"): palette expanded, grey replicated, alpha and tRNS
     * dropped without compositing, no gamma correction. 16-bit samples keep their high byte
     * (what PIL does for 16-bit RGB(A) and LA; for 16-bit grey PIL instead clips the "I" value
     * at 255, which makes any page white, so we deliberately differ there). */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_strip_16(png);
    /* Expanding a palette with a tRNS chunk adds an alpha channel; drop it too. */
    if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3 || png_get_channels(png, info) != 3) {
        status = dl_fail(err, DL_ERR_UNSUPPORTED,
                         "%s: PNG colour type %d / depth %d did not "
                         "convert to 8-bit RGB",
                         name, color_type, bit_depth);
        goto fail;
    }

    status = dl_image_alloc(name, (int)width, (int)height, &s.image, err);
    if (status != DL_OK) goto fail;
    s.rows = malloc(sizeof *s.rows * height);
    if (!s.rows) {
        status = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        goto fail;
    }
    for (png_uint_32 y = 0; y < height; y++) s.rows[y] = s.image->rgb + y * s.image->stride;
    png_read_image(png, s.rows);
    png_read_end(png, NULL);
    free(s.rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = s.image;
    return DL_OK;

fail:
    free(s.rows);
    dl_image_free(s.image);
    png_destroy_read_struct(&png, &info, NULL);
    return status;
}

typedef struct png_write_session {
    char message[256];
} png_write_session;

static void png_on_write_error(png_structp png, png_const_charp msg) {
    png_write_session *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

dl_status dl_image_save_png(const dl_image *image, const char *path, dl_error *err) {
    if (!image || !path || !image->rgb || image->width <= 0 || image->height <= 0 ||
        image->stride < (size_t)image->width * 3)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_image_save_png: invalid image or path");
    FILE *f = fopen(path, "wb");
    if (!f) return dl_fail(err, DL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    png_write_session s = {{0}};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, png_on_write_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return dl_fail(err, DL_ERR_IO, "%s: cannot write PNG: %s", path, s.message);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < image->height; y++)
        png_write_row(png, image->rgb + (size_t)y * image->stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return dl_fail(err, DL_ERR_IO, "%s: write error: %s", path, strerror(errno));
    return DL_OK;
}
