#include "io/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

dl_status dl_read_file(const char *path, size_t max_size, void **data, size_t *size,
                       dl_error *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return dl_fail(err, DL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dl_fail(err, DL_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        fclose(f);
        return dl_fail(err, DL_ERR_LIMIT,
                       "%s: file of %lld bytes is larger than the %zu-byte limit", path,
                       (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return dl_fail(err, DL_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return DL_OK;
}

bool dl_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool dl_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
