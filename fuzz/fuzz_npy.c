/* libFuzzer harness: the .npy parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dl_npy npy;
    dl_error err;
    if (dl_npy_parse(data, size, "fuzz.npy", &npy, &err) == DL_OK) {
        /* Touch every element so that a count larger than the buffer shows up under ASan. */
        size_t elem = npy.dtype == DL_NPY_U8 ? 1 : npy.dtype == DL_NPY_F32 ? 4 : 8;
        const volatile uint8_t *p = npy.data;
        uint8_t acc = 0;
        for (size_t i = 0; i < npy.count * elem; i++) acc ^= p[i];
        (void)acc;
        dl_npy_free(&npy);
    }
    return 0;
}
