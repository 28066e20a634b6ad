/* libFuzzer harness: PNG/JPEG/TIFF decoding from memory through the public API. */
#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dl_image *img = NULL;
    dl_error err;
    if (dl_image_load_memory(data, size, &img, &err) == DL_OK) {
        /* Every row must be readable: width * 3 bytes at each stride. */
        const volatile uint8_t *p = img->rgb;
        uint8_t acc = 0;
        for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width * 3; x++) acc ^= p[(size_t)y * img->stride + (size_t)x];
        (void)acc;
        dl_image_free(img);
    } else if (img != NULL) {
        __builtin_trap(); /* the header promises NULL outputs on failure */
    }
    return 0;
}
