/* The table of output formats, and the framing of a sink's streams (one for the run, or one
 * per document committed only when the document succeeded). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "output/sink.h"

/* One line per output format, in the order `--format` lists them: the descriptor its
 * src/output/<format>.c defines. */
#define DL_OUTPUT_FORMATS(X)                                                                       \
    X(dl_output_json)                                                                              \
    X(dl_output_coco)                                                                              \
    X(dl_output_docling)                                                                           \
    X(dl_output_markdown)                                                                          \
    X(dl_output_overlay)

#define DL_OUTPUT_FORMAT_DECLARE(name) extern const dl_output_format name;
DL_OUTPUT_FORMATS(DL_OUTPUT_FORMAT_DECLARE)
#define DL_OUTPUT_FORMAT_ENTRY(name) &name,
const dl_output_format *const dl_output_formats[] = {
    DL_OUTPUT_FORMATS(DL_OUTPUT_FORMAT_ENTRY) NULL,
};

const dl_output_format *dl_output_format_find(const char *name) {
    for (size_t i = 0; name && dl_output_formats[i]; i++)
        if (strcmp(dl_output_formats[i]->name, name) == 0) return dl_output_formats[i];
    return NULL;
}

size_t dl_output_format_count(void) {
    size_t n = 0;
    while (dl_output_formats[n]) n++;
    return n;
}

const char *dl_output_format_name(size_t index) {
    return index < dl_output_format_count() ? dl_output_formats[index]->name : NULL;
}

const char *dl_output_format_extension(const char *format) {
    const dl_output_format *f = dl_output_format_find(format);
    return f ? f->extension : NULL;
}

struct dl_sink {
    const dl_output_format *fmt;
    dl_sink_run run;
    char *path; /* the combined file, or the directory */
    dl_output_write_fn write;
    void *write_user;
    void *state;
    dl_stream *out;  /* the open stream, NULL when none */
    dl_sink_doc doc; /* the current document */
    int ordinal;     /* documents begun in the current stream */
};

void dl_sink_result_path(const char *dir, const char *source, const char *suffix, char *buf,
                         size_t n) {
    const char *base = strcmp(source, "-") == 0 ? "stdin" : strrchr(source, '/');
    base = base ? (base[0] == '/' ? base + 1 : base) : source;
    size_t dl = strlen(dir);
    snprintf(buf, n, "%s%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", base, suffix);
}

/* Create `dir` when missing and check that a file can be made in it. */
static dl_status ensure_dir(const char *dir, dl_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0)
        return dl_fail(err, DL_ERR_IO, "cannot create the output directory %s: %s", dir,
                       strerror(errno));
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.doclayout-probe-%d", dir, (int)getpid());
    FILE *f = fopen(probe, "w");
    if (!f)
        return dl_fail(err, DL_ERR_IO, "the output directory %s is not writable: %s", dir,
                       strerror(errno));
    fclose(f);
    remove(probe);
    return DL_OK;
}

dl_status dl_sink_create(const dl_output_options *o, const dl_model *model,
                         const dl_detector *detector, dl_sink **out, dl_error *err) {
    *out = NULL;
    const dl_output_format *fmt = o ? dl_output_format_find(o->format) : NULL;
    if (!fmt) {
        char names[128] = "";
        for (size_t i = 0; dl_output_formats[i]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     dl_output_formats[i]->name);
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "output format '%s' unknown (known: %s)",
                       o && o->format ? o->format : "(null)", names);
    }
    int to_dir = o->per_document || !fmt->extension;
    if (!o->path && (to_dir || !o->write))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "output %s: no %s given", fmt->name,
                       to_dir ? "directory" : "path or write function");
    if (to_dir) {
        dl_status s = ensure_dir(o->path, err);
        if (s != DL_OK) return s;
    }
    dl_sink *k = calloc(1, sizeof *k);
    if (!k || (o->path && !(k->path = strdup(o->path))) ||
        !(k->state = calloc(1, fmt->state_size ? fmt->state_size : 1))) {
        if (k) free(k->path);
        free(k);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    k->fmt = fmt;
    k->write = o->write;
    k->write_user = o->write_user;
    k->run.model = model;
    k->run.detector = detector;
    k->run.per_document = o->per_document && fmt->extension;
    k->run.coco_images = o->coco_images;
    k->run.dir = to_dir ? k->path : NULL;
    *out = k;
    return DL_OK;
}

int dl_sink_is_per_document(const dl_sink *s) { return s->run.per_document; }

int dl_sink_result_exists(const dl_sink *s, const char *source) {
    if (!s->run.per_document) return 0;
    char p[4200];
    dl_sink_result_path(s->path, source, s->fmt->extension, p, sizeof p);
    struct stat st;
    return stat(p, &st) == 0;
}

static dl_status stream_begin(dl_sink *s, const char *source, dl_error *err) {
    dl_status st;
    if (s->path && s->run.per_document) {
        char p[4200];
        dl_sink_result_path(s->path, source, s->fmt->extension, p, sizeof p);
        st = dl_stream_open_file(p, &s->out, err);
    } else if (s->path) {
        st = dl_stream_open_file(s->path, &s->out, err);
    } else {
        st = dl_stream_open_callback(s->write, s->write_user, &s->out, err);
    }
    s->ordinal = 0;
    if (st == DL_OK && s->fmt->begin) st = s->fmt->begin(s->state, s->out, &s->run, err);
    return st;
}

static dl_status stream_end(dl_sink *s, int ok, dl_error *err) {
    if (!s->out) return DL_OK;
    dl_status st = DL_OK;
    if (ok && s->fmt->end) st = s->fmt->end(s->state, s->out, &s->run, err);
    if (!ok || st != DL_OK) {
        if (s->fmt->discard) s->fmt->discard(s->state);
        dl_stream_abort(s->out);
    } else {
        st = dl_stream_commit(s->out, err);
    }
    s->out = NULL;
    return st;
}

dl_status dl_sink_run_begin(dl_sink *s, size_t n_inputs, dl_error *err) {
    s->run.n_inputs = n_inputs;
    if (!s->fmt->extension || s->run.per_document) return DL_OK;
    return stream_begin(s, NULL, err);
}

dl_status dl_sink_doc_begin(dl_sink *s, const dl_sink_doc *doc, dl_error *err) {
    s->doc = *doc;
    dl_status st = DL_OK;
    if (s->run.per_document) st = stream_begin(s, doc->source, err);
    s->doc.ordinal = s->ordinal++;
    if (st == DL_OK && s->fmt->doc_begin)
        st = s->fmt->doc_begin(s->state, s->out, &s->run, &s->doc, err);
    return st;
}

dl_status dl_sink_page(dl_sink *s, const dl_page_out *page, dl_image *image, int only_page,
                       dl_error *err) {
    if (!s->fmt->page) return DL_OK;
    return s->fmt->page(s->state, s->out, &s->run, &s->doc, page, image, only_page, err);
}

dl_status dl_sink_doc_end(dl_sink *s, int ok, dl_error *err) {
    dl_status st = DL_OK;
    if (s->fmt->doc_end && (ok || !s->run.per_document))
        st = s->fmt->doc_end(s->state, s->out, &s->run, &s->doc, err);
    if (s->run.per_document) {
        dl_status e = stream_end(s, ok && st == DL_OK, err);
        if (st == DL_OK) st = e;
    }
    return st;
}

dl_status dl_sink_run_end(dl_sink *s, int ok, dl_error *err) {
    if (s->run.per_document) return stream_end(s, 0, err); /* a document left open */
    return stream_end(s, ok, err);
}

void dl_sink_free(dl_sink *s) {
    if (!s) return;
    if (s->out) {
        if (s->fmt->discard) s->fmt->discard(s->state);
        dl_stream_abort(s->out);
    }
    free(s->state);
    free(s->path);
    free(s);
}
