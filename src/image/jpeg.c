/* JPEG decoding with libjpeg(-turbo). libjpeg's error_exit would call exit(); ours records the
 * message and longjmps back instead, and its message output is silenced. */
#include <stdio.h> /* before jpeglib.h, which uses FILE and size_t without including it */

#include <jerror.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"

/* Extends libjpeg's error manager (first member, so the pointers convert). Values written after
 * setjmp live here rather than in locals so they survive the longjmp. */
typedef struct jpeg_session {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated; /* libjpeg warned "premature end of data" and padded the image */
    dl_image *image;
    uint8_t *row; /* [output_width * output_components] one decoded scanline */
} jpeg_session;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_session *s = (jpeg_session *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, s->message);
    longjmp(s->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int msg_level) {
    jpeg_session *s = (jpeg_session *)cinfo->err;
    /* Level -1 is a warning about corrupt data; libjpeg carries on. A truncated file is the
     * one we refuse (as PIL does: "image file is truncated"); others, like extraneous bytes
     * before a marker, PIL also accepts. */
    if (msg_level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) s->truncated = 1;
}

static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }

/* PIL's CMYK -> RGB: each channel is (255 - K) minus C scaled by (255 - K), rounded /255. */
static uint8_t cmyk_channel_to_rgb(int ink, int black) {
    int not_black = 255 - black;
    int t = ink * not_black + 128;
    int v = not_black - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v);
}

dl_status dl_jpeg_decode(const uint8_t *data, size_t size, const char *name, dl_image **out,
                         dl_error *err) {
    *out = NULL;
    struct jpeg_decompress_struct cinfo;
    jpeg_session s;
    memset(&s, 0, sizeof s);
    memset(&cinfo, 0, sizeof cinfo); /* so jpeg_destroy_decompress is safe at any point */
    cinfo.err = jpeg_std_error(&s.mgr);
    s.mgr.error_exit = jpeg_on_error;
    s.mgr.emit_message = jpeg_on_message;
    s.mgr.output_message = jpeg_on_output;
    dl_status status = DL_ERR_FORMAT;
    if (setjmp(s.jump)) {
        status = dl_fail(err, DL_ERR_FORMAT, "%s: corrupt JPEG: %s", name, s.message);
        goto fail;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    status = dl_image_check_size(name, cinfo.image_width, cinfo.image_height, err);
    if (status != DL_OK) goto fail;

    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (is_cmyk) cinfo.out_color_space = JCS_CMYK;
    else if (cinfo.jpeg_color_space == JCS_GRAYSCALE) cinfo.out_color_space = JCS_GRAYSCALE;
    else cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int width = (int)cinfo.output_width, height = (int)cinfo.output_height;
    int channels = cinfo.output_components;
    status = dl_image_alloc(name, width, height, &s.image, err);
    if (status != DL_OK) goto fail;
    s.row = malloc((size_t)width * (size_t)channels);
    if (!s.row) {
        status = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        goto fail;
    }
    /* Adobe CMYK JPEGs store inverted inks (PIL reads them as "CMYK;I"). */
    int invert_inks = is_cmyk && cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = s.image->rgb + (size_t)cinfo.output_scanline * s.image->stride;
        JSAMPROW rowp = channels == 3 ? dst : s.row;
        if (jpeg_read_scanlines(&cinfo, &rowp, 1) != 1) break;
        if (channels == 1) {
            for (int x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = s.row[x];
        } else if (channels == 4) {
            for (int x = 0; x < width; x++) {
                const uint8_t *p = s.row + 4 * x;
                int c = p[0], m = p[1], y = p[2], k = p[3];
                if (invert_inks) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
                dst[3 * x] = cmyk_channel_to_rgb(c, k);
                dst[3 * x + 1] = cmyk_channel_to_rgb(m, k);
                dst[3 * x + 2] = cmyk_channel_to_rgb(y, k);
            }
        } else if (channels != 3) {
            status = dl_fail(err, DL_ERR_UNSUPPORTED, "%s: JPEG with %d output channels", name,
                             channels);
            goto fail;
        }
    }
    if (s.truncated || cinfo.output_scanline < cinfo.output_height) {
        status = dl_fail(err, DL_ERR_FORMAT, "%s: JPEG file is truncated", name);
        goto fail;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(s.row);
    *out = s.image;
    return DL_OK;

fail:
    jpeg_destroy_decompress(&cinfo);
    free(s.row);
    dl_image_free(s.image);
    return status;
}
