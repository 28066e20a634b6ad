/* libFuzzer harness: a .safetensors file (header parsing and validation, then every floating
 * tensor read and converted to float32). The reader works on paths, so the input is written to
 * an anonymous memfd and opened as /proc/self/fd/N. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int write_all(int fd, const uint8_t *data, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0) return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) abort();
    if (write_all(fd, data, size) != 0) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    dl_safetensors *st = NULL;
    dl_error err;
    if (dl_safetensors_open(path, &st, &err) == DL_OK) {
        size_t n = dl_safetensors_count(st);
        for (size_t i = 0; i < n; i++) {
            const dl_st_tensor *t = dl_safetensors_at(st, i);
            if (dl_safetensors_find(st, t->name) == NULL) __builtin_trap();
            if (!dl_st_dtype_is_float(t->dtype)) continue;
            /* Ranges were validated against the file size, so count is bounded by the input. */
            float *dst = malloc(t->count ? t->count * sizeof(float) : 1);
            if (!dst) abort();
            (void)dl_safetensors_read_f32(st, t, dst, &err);
            free(dst);
        }
        dl_safetensors_close(st);
    } else if (st != NULL) {
        __builtin_trap();
    }
    close(fd);
    return 0;
}
