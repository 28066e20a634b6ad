/* dl_fatbin_scan_*: the architectures of a real nvcc-built module (fixture), what each GPU
 * gets from them, and malformed inputs refused without reading out of bounds. */
#include "io/fatbin.h"
#include "io/file.h"
#include "test_util.h"

#define FIXTURE DL_SOURCE_DIR "/tests/fixtures/cuda/fatbin_sm90_sm121_ptx120.so"

int main(void) {
    dl_error err;
    dl_cuda_code code;
    CHECK_OK(dl_fatbin_scan_file(FIXTURE, &code, &err), &err);
    CHECK(code.n_sass == 2 && code.sass[0] == 90 && code.sass[1] == 121);
    CHECK(code.n_ptx == 1 && code.ptx[0] == 120);

    int which = -1;
    CHECK(dl_cuda_code_for(&code, 121, &which) == DL_CUDA_CODE_NATIVE && which == 121); /* GB10 */
    CHECK(dl_cuda_code_for(&code, 90, &which) == DL_CUDA_CODE_NATIVE && which == 90);   /* H100 */
    CHECK(dl_cuda_code_for(&code, 122, &which) == DL_CUDA_CODE_COMPATIBLE && which == 121);
    CHECK(dl_cuda_code_for(&code, 120, &which) == DL_CUDA_CODE_PTX_JIT && which == 120);
    CHECK(dl_cuda_code_for(&code, 130, &which) == DL_CUDA_CODE_PTX_JIT && which == 120);
    CHECK(dl_cuda_code_for(&code, 100, &which) == DL_CUDA_CODE_NONE && which == 0);
    CHECK(dl_cuda_code_for(&code, 89, NULL) == DL_CUDA_CODE_NONE);

    /* an ELF without CUDA code: empty lists */
    CHECK_OK(dl_fatbin_scan_file("/proc/self/exe", &code, &err), &err);
    CHECK(code.n_sass == 0 && code.n_ptx == 0);
    CHECK(dl_fatbin_scan_file("/nonexistent.so", &code, &err) == DL_ERR_IO);
    CHECK(dl_fatbin_scan_elf("not an elf file at all, not at all......................", 56, &code,
                             &err) == DL_ERR_FORMAT);

    /* every truncation and single-byte corruption: no crash, either DL_OK or DL_ERR_FORMAT */
    void *buf;
    size_t size;
    CHECK_OK(dl_read_file(FIXTURE, 1 << 20, &buf, &size, &err), &err);
    unsigned char *img = buf;
    int bad = 0;
    for (size_t n = 0; n < size; n += 61) {
        dl_status s = dl_fatbin_scan_elf(img, n, &code, &err);
        if (s != DL_OK && s != DL_ERR_FORMAT) bad++;
    }
    for (size_t i = 0; i < size; i += 7) {
        unsigned char old = img[i];
        img[i] = (unsigned char)(old ^ 0xff);
        dl_status s = dl_fatbin_scan_elf(img, size, &code, &err);
        if (s != DL_OK && s != DL_ERR_FORMAT) bad++;
        if (code.n_sass > DL_FATBIN_MAX_ARCHS || code.n_ptx > DL_FATBIN_MAX_ARCHS) bad++;
        img[i] = old;
    }
    CHECK(bad == 0);
    free(buf);
    return dl_test_finish("test_fatbin");
}
