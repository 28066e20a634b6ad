#include "io/fatbin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/file.h"

#define FATBIN_MAGIC 0xBA55ED50u
#define SECTION_NAME ".nv_fatbin"

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void add_arch(int *list, int *n, int arch) {
    int i = 0;
    while (i < *n && list[i] < arch) i++;
    if (i < *n && list[i] == arch) return;
    if (*n >= DL_FATBIN_MAX_ARCHS) return;
    memmove(list + i + 1, list + i, (size_t)(*n - i) * sizeof *list);
    list[i] = arch;
    (*n)++;
}

/* The fat binaries of one .nv_fatbin section. */
static dl_status scan_section(const unsigned char *s, uint64_t size, dl_cuda_code *out,
                              dl_error *err) {
    uint64_t p = 0;
    while (p + 16 <= size) {
        uint32_t magic = rd32(s + p);
        if (magic != FATBIN_MAGIC) {
            /* padding between fat binaries is zero; anything else is not ours */
            if (magic == 0) {
                p += 8;
                continue;
            }
            return dl_fail(err, DL_ERR_FORMAT, "fat binary at offset %llu: bad magic 0x%08x",
                           (unsigned long long)p, (unsigned)magic);
        }
        uint16_t hsize = rd16(s + p + 6);
        uint64_t fsize = rd64(s + p + 8);
        if (hsize < 16 || fsize > size || p + hsize > size - fsize)
            return dl_fail(err, DL_ERR_FORMAT, "fat binary at offset %llu overruns its section",
                           (unsigned long long)p);
        uint64_t q = p + hsize, end = p + hsize + fsize;
        while (q + 32 <= end) {
            uint16_t kind = rd16(s + q);
            uint32_t ehsize = rd32(s + q + 4);
            uint64_t esize = rd64(s + q + 8);
            if (ehsize < 32 || ehsize > end - q || esize > end - q - ehsize)
                return dl_fail(err, DL_ERR_FORMAT, "fat binary entry at offset %llu overruns",
                               (unsigned long long)q);
            uint32_t arch = rd32(s + q + 28);
            if (arch > 0 && arch < 10000) {
                if (kind == 2) add_arch(out->sass, &out->n_sass, (int)arch);
                else if (kind == 1) add_arch(out->ptx, &out->n_ptx, (int)arch);
            }
            q += ehsize + esize;
        }
        p = end;
    }
    return DL_OK;
}

/* Find .nv_fatbin in an ELF64 image of `have` bytes; *found = 0 when absent. */
static dl_status find_section(const unsigned char *img, size_t have, uint64_t *off, uint64_t *len,
                              int *found, dl_error *err) {
    *found = 0;
    if (have < 64 || memcmp(img, "\177ELF", 4) != 0)
        return dl_fail(err, DL_ERR_FORMAT, "not an ELF file");
    if (img[4] != 2 || img[5] != 1)
        return dl_fail(err, DL_ERR_FORMAT, "not a 64-bit little-endian ELF file");
    uint64_t shoff = rd64(img + 0x28);
    uint16_t shentsize = rd16(img + 0x3a), shnum = rd16(img + 0x3c), shstrndx = rd16(img + 0x3e);
    if (shnum == 0) return DL_OK;
    if (shentsize < 64 || shstrndx >= shnum || shoff > have ||
        (uint64_t)shnum * shentsize > have - shoff)
        return dl_fail(err, DL_ERR_FORMAT, "ELF section headers out of range");
    const unsigned char *strh = img + shoff + (uint64_t)shstrndx * shentsize;
    uint64_t stroff = rd64(strh + 0x18), strsize = rd64(strh + 0x20);
    if (stroff > have || strsize > have - stroff)
        return dl_fail(err, DL_ERR_FORMAT, "ELF section names out of range");
    for (uint16_t i = 0; i < shnum; i++) {
        const unsigned char *sh = img + shoff + (uint64_t)i * shentsize;
        uint32_t name = rd32(sh);
        if (name >= strsize || strsize - name < sizeof SECTION_NAME) continue;
        if (memcmp(img + stroff + name, SECTION_NAME, sizeof SECTION_NAME) != 0) continue;
        uint32_t type = rd32(sh + 4);
        *off = rd64(sh + 0x18);
        *len = type == 8 /* SHT_NOBITS */ ? 0 : rd64(sh + 0x20);
        if (*off > have || *len > have - *off)
            return dl_fail(err, DL_ERR_FORMAT, "%s section out of range", SECTION_NAME);
        *found = 1;
        return DL_OK;
    }
    return DL_OK;
}

dl_status dl_fatbin_scan_elf(const void *bytes, size_t size, dl_cuda_code *out, dl_error *err) {
    memset(out, 0, sizeof *out);
    uint64_t off = 0, len = 0;
    int found;
    dl_status s = find_section(bytes, size, &off, &len, &found, err);
    if (s != DL_OK || !found) return s;
    return scan_section((const unsigned char *)bytes + off, len, out, err);
}

dl_status dl_fatbin_scan_file(const char *path, dl_cuda_code *out, dl_error *err) {
    memset(out, 0, sizeof *out);
    void *data = NULL;
    size_t size = 0;
    /* A module with kernels for several architectures is tens of MB: read it whole. */
    dl_status s = dl_read_file(path, (size_t)1 << 31, &data, &size, err);
    if (s != DL_OK) return s;
    s = dl_fatbin_scan_elf(data, size, out, err);
    if (s != DL_OK) dl_fail_prefix(err, "%s: ", path);
    free(data);
    return s;
}

dl_cuda_code_match dl_cuda_code_for(const dl_cuda_code *code, int sm, int *which) {
    int best = -1;
    for (int i = 0; i < code->n_sass; i++)
        if (code->sass[i] == sm) {
            if (which) *which = sm;
            return DL_CUDA_CODE_NATIVE;
        }
    for (int i = 0; i < code->n_sass; i++)
        if (code->sass[i] / 10 == sm / 10 && code->sass[i] < sm && code->sass[i] > best)
            best = code->sass[i];
    if (best > 0) {
        if (which) *which = best;
        return DL_CUDA_CODE_COMPATIBLE;
    }
    for (int i = 0; i < code->n_ptx; i++)
        if (code->ptx[i] <= sm && code->ptx[i] > best) best = code->ptx[i];
    if (best > 0) {
        if (which) *which = best;
        return DL_CUDA_CODE_PTX_JIT;
    }
    if (which) *which = 0;
    return DL_CUDA_CODE_NONE;
}
