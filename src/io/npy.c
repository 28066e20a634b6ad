#include "io/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/file.h"

#define NPY_MAX_FILE ((size_t)4 << 30)

static const char *find_key(const char *hdr, size_t n, const char *key) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= n; i++)
        if (memcmp(hdr + i, key, kl) == 0) return hdr + i + kl;
    return NULL;
}

/* Parse the header dictionary. `h` is a NUL-terminated copy of the hlen header bytes, so
 * that no scan (strncmp, strtoll, skipping blanks) can run past the end of the input. */
static dl_status parse_header(const char *h, size_t hlen, const char *name, dl_npy *out,
                              size_t *esize_out, size_t *count_out, dl_error *err) {
    const char *d = find_key(h, hlen, "'descr':");
    const char *fo = find_key(h, hlen, "'fortran_order':");
    const char *sh = find_key(h, hlen, "'shape':");
    if (!d || !fo || !sh) return dl_fail(err, DL_ERR_FORMAT, "%s: malformed .npy header", name);
    while (*d == ' ') d++;
    size_t esize;
    if (strncmp(d, "'<f4'", 5) == 0) out->dtype = DL_NPY_F32, esize = 4;
    else if (strncmp(d, "'|u1'", 5) == 0) out->dtype = DL_NPY_U8, esize = 1;
    else if (strncmp(d, "'<i8'", 5) == 0) out->dtype = DL_NPY_I64, esize = 8;
    else if (strncmp(d, "'<f8'", 5) == 0) out->dtype = DL_NPY_F64, esize = 8;
    else return dl_fail(err, DL_ERR_UNSUPPORTED, "%s: unsupported .npy dtype %.8s", name, d);
    while (*fo == ' ') fo++;
    if (strncmp(fo, "False", 5) != 0)
        return dl_fail(err, DL_ERR_UNSUPPORTED, "%s: Fortran-order .npy is not supported", name);
    while (*sh == ' ') sh++;
    if (*sh != '(') return dl_fail(err, DL_ERR_FORMAT, "%s: malformed .npy shape", name);
    sh++;
    size_t count = 1;
    const char *end = h + hlen;
    while (sh < end && *sh != ')') {
        while (sh < end && (*sh == ' ' || *sh == ',')) sh++;
        if (sh < end && *sh == ')') break;
        char *stop;
        errno = 0;
        long long v = strtoll(sh, &stop, 10);
        if (stop == sh || errno || v < 0 || out->ndim >= DL_NPY_MAX_DIMS)
            return dl_fail(err, DL_ERR_FORMAT, "%s: malformed .npy shape", name);
        out->shape[out->ndim++] = v;
        if (!dl_mul_size(count, (size_t)v, &count))
            return dl_fail(err, DL_ERR_LIMIT, "%s: .npy shape overflows", name);
        sh = stop;
    }
    *esize_out = esize;
    *count_out = count;
    return DL_OK;
}

dl_status dl_npy_parse(const void *bytes, size_t size, const char *name, dl_npy *out,
                       dl_error *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = bytes;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return dl_fail(err, DL_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    int major = b[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return dl_fail(err, DL_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        off = 12;
    } else {
        return dl_fail(err, DL_ERR_FORMAT, "%s: unsupported .npy version %d", name, major);
    }
    if (hlen > size - off) return dl_fail(err, DL_ERR_FORMAT, "%s: truncated .npy header", name);
    char *h = malloc(hlen + 1);
    if (!h) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    memcpy(h, b + off, hlen);
    h[hlen] = '\0';
    size_t esize = 0, count = 0;
    dl_status s = parse_header(h, hlen, name, out, &esize, &count, err);
    free(h);
    if (s != DL_OK) {
        memset(out, 0, sizeof *out);
        return s;
    }
    size_t nbytes;
    if (!dl_mul_size(count, esize, &nbytes) || nbytes > size - off - hlen) {
        memset(out, 0, sizeof *out);
        return dl_fail(err, DL_ERR_FORMAT, "%s: .npy data is truncated (%zu elements expected)",
                       name, count);
    }
    out->data = malloc(nbytes ? nbytes : 1);
    if (!out->data) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    memcpy(out->data, b + off + hlen, nbytes);
    out->count = count;
    return DL_OK;
}

dl_status dl_npy_read(const char *path, dl_npy *out, dl_error *err) {
    memset(out, 0, sizeof *out);
    void *buf;
    size_t size;
    dl_status s = dl_read_file(path, NPY_MAX_FILE, &buf, &size, err);
    if (s != DL_OK) return s;
    s = dl_npy_parse(buf, size, path, out, err);
    free(buf);
    return s;
}

void dl_npy_free(dl_npy *npy) {
    if (!npy) return;
    free(npy->data);
    memset(npy, 0, sizeof *npy);
}

dl_status dl_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                           dl_error *err) {
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count *= (size_t)shape[i];
    }
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    /* pad with spaces so that magic+len+header is a multiple of 64, ending in '\n' */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return dl_fail(err, DL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    unsigned hl = (unsigned)(n + pad + 1);
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, sizeof(float), count, f) == count;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return dl_fail(err, DL_ERR_IO, "%s: write error", path);
    return DL_OK;
}
