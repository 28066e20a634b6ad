#include "output/stream.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "output/json_text.h"

struct dl_stream {
    FILE *f;    /* the temporary file; NULL with a callback */
    char *path; /* the target */
    char *tmp;  /* DIR/.NAME.tmp-PID-N, next to the target so that rename() is atomic */
    dl_output_write_fn write;
    void *user;
    int failed, err_no;
};

static atomic_uint tmp_counter;

dl_status dl_stream_open_file(const char *path, dl_stream **out, dl_error *err) {
    *out = NULL;
    dl_stream *s = calloc(1, sizeof *s);
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = strlen(path) + 64;
    if (!s || !(s->path = strdup(path)) || !(s->tmp = malloc(n))) {
        if (s) free(s->path);
        free(s);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    snprintf(s->tmp, n, "%.*s.%s.tmp-%ld-%u", (int)dir_len, path, path + dir_len, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
    s->f = fopen(s->tmp, "wb");
    if (!s->f) {
        int e = errno;
        free(s->path);
        free(s->tmp);
        free(s);
        return dl_fail(err, DL_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    *out = s;
    return DL_OK;
}

dl_status dl_stream_open_callback(dl_output_write_fn write, void *user, dl_stream **out,
                                  dl_error *err) {
    *out = NULL;
    if (!write)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "output: no path and no write function");
    dl_stream *s = calloc(1, sizeof *s);
    if (!s) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    s->write = write;
    s->user = user;
    *out = s;
    return DL_OK;
}

void dl_stream_write(dl_stream *s, const void *data, size_t n) {
    if (s->failed || n == 0) return;
    if (s->f) {
        if (fwrite(data, 1, n, s->f) != n) {
            s->failed = 1;
            s->err_no = errno;
        }
    } else if (!s->write(s->user, data, n)) {
        s->failed = 1;
        s->err_no = EIO;
    }
}

void dl_stream_puts(dl_stream *s, const char *text) { dl_stream_write(s, text, strlen(text)); }

void dl_stream_json(dl_stream *s, const cJSON *item, int depth) {
    char *t = item ? dl_json_print(item, 1) : NULL; /* valid UTF-8 */
    if (!t) {
        s->failed = 1;
        s->err_no = ENOMEM;
        return;
    }
    static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
    if (depth > (int)sizeof tabs - 1) depth = (int)sizeof tabs - 1;
    const char *p = t;
    for (;;) {
        const char *nl = strchr(p, '\n'); /* cJSON escapes line breaks inside strings */
        if (!nl) {
            dl_stream_puts(s, p);
            break;
        }
        dl_stream_write(s, p, (size_t)(nl - p) + 1);
        dl_stream_write(s, tabs, (size_t)depth);
        p = nl + 1;
    }
    free(t);
}

int dl_stream_failed(const dl_stream *s) { return s->failed; }

static void stream_free(dl_stream *s) {
    free(s->path);
    free(s->tmp);
    free(s);
}

dl_status dl_stream_commit(dl_stream *s, dl_error *err) {
    dl_status st = DL_OK;
    if (s->f) {
        if (fflush(s->f) != 0 && !s->failed) s->failed = 1, s->err_no = errno;
        if (!s->failed && fsync(fileno(s->f)) != 0) s->failed = 1, s->err_no = errno;
        if (fclose(s->f) != 0 && !s->failed) s->failed = 1, s->err_no = errno;
        if (!s->failed && rename(s->tmp, s->path) != 0) s->failed = 1, s->err_no = errno;
        if (s->failed) remove(s->tmp);
    }
    if (s->failed)
        st = dl_fail(err, s->err_no == ENOMEM ? DL_ERR_OUT_OF_MEMORY : DL_ERR_IO,
                     "cannot write %s: %s", s->path ? s->path : "the output",
                     strerror(s->err_no ? s->err_no : EIO));
    stream_free(s);
    return st;
}

void dl_stream_abort(dl_stream *s) {
    if (!s) return;
    if (s->f) {
        fclose(s->f);
        remove(s->tmp);
    }
    stream_free(s);
}

dl_status dl_write_file_atomic(const char *path, const void *data, size_t n, dl_error *err) {
    dl_stream *s;
    dl_status st = dl_stream_open_file(path, &s, err);
    if (st != DL_OK) return st;
    dl_stream_write(s, data, n);
    return dl_stream_commit(s, err);
}
