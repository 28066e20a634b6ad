/*
 * doclayout detect: the command line of the document pipeline (doclayout.h, "Document
 * pipeline"): inputs (files, directories, @lists, "-") in, the chosen format to standard
 * output, -o FILE or one file per input in -o DIR/, progress and failures on stderr.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "doclayout.h"

/* ---- inputs ---------------------------------------------------------------------------- */

typedef struct strv {
    char **v;
    int n, cap;
} strv;

static int sv_push(strv *s, const char *x) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->v, (size_t)cap * sizeof *p);
        if (!p) return 0;
        s->v = p;
        s->cap = cap;
    }
    return (s->v[s->n++] = strdup(x)) != NULL;
}

static void sv_free(strv *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int known_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char e[8];
    size_t k = 0;
    for (dot++; *dot && k < sizeof e - 1; dot++) e[k++] = (char)tolower((unsigned char)*dot);
    e[k] = '\0';
    return !strcmp(e, "pdf") || !strcmp(e, "png") || !strcmp(e, "jpg") || !strcmp(e, "jpeg") ||
           !strcmp(e, "tif") || !strcmp(e, "tiff");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expand the command line: a directory gives its files with a known extension (sorted), @FILE
 * gives the lines of FILE. Returns 0 on an error already reported. */
static int expand_inputs(const options *o, strv *out) {
    for (int i = 0; i < o->n_files; i++) {
        const char *a = o->files[i];
        if (a[0] == '@') {
            FILE *f = fopen(a + 1, "r");
            if (!f) {
                fprintf(stderr, "doclayout: cannot read the list %s: %s\n", a + 1, strerror(errno));
                return 0;
            }
            char line[PATH_MAX + 2];
            while (fgets(line, sizeof line, f)) {
                size_t n = strlen(line);
                while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                    line[--n] = '\0';
                char *s = line;
                while (*s == ' ' || *s == '\t') s++;
                if (*s && *s != '#') sv_push(out, s);
            }
            fclose(f);
        } else if (strcmp(a, "-") != 0 && dl_cli_is_dir(a)) {
            DIR *d = opendir(a);
            if (!d) {
                fprintf(stderr, "doclayout: cannot read the directory %s: %s\n", a,
                        strerror(errno));
                return 0;
            }
            strv names = {0};
            struct dirent *e;
            while ((e = readdir(d)))
                if (e->d_name[0] != '.' && known_ext(e->d_name)) sv_push(&names, e->d_name);
            closedir(d);
            if (names.n) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
            size_t al = strlen(a);
            for (int k = 0; k < names.n; k++) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s%s%s", a, al && a[al - 1] == '/' ? "" : "/", names.v[k]);
                sv_push(out, p);
                free(names.v[k]);
            }
            free(names.v);
        } else {
            sv_push(out, a);
        }
    }
    return 1;
}

/* ---- progress ---------------------------------------------------------------------------- */

static void progress(int done, int total, double t0) {
    double el = dl_cli_now_s() - t0, rate = el > 0 ? done / el : 0;
    int w = 30, fill = total > 0 ? (int)((double)w * done / total) : 0;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    double eta = rate > 0 && total >= done ? (total - done) / rate : 0;
    fprintf(stderr, "\r[%s] %d/%d pages  %.1f pages/s  ETA %dm%02ds ", bar, done, total, rate,
            (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

/* ---- events from the pipeline --------------------------------------------------------- */

typedef struct cli_events {
    int show;  /* the progress bar is on */
    int total; /* pages, for the bar */
    double t0;
} cli_events;

static void on_event(void *user, const dl_pipeline_event *e) {
    cli_events *ev = user;
    const char *nl = ev->show ? "\n" : "";
    switch (e->kind) {
    case DL_EVENT_PAGE_DONE:
        if (ev->show) progress(e->pages_done, ev->total, ev->t0);
        break;
    case DL_EVENT_PAGE_FAILED:
        fprintf(stderr, "%sdoclayout: %s: page %d: %s\n", nl, e->source, e->page, e->message);
        break;
    case DL_EVENT_DOCUMENT_FAILED:
    case DL_EVENT_WARNING: fprintf(stderr, "%sdoclayout: %s\n", nl, e->message); break;
    case DL_EVENT_DOCUMENT_SKIPPED: break; /* counted at the end */
    }
}

/* Standard output as the combined result's stream. */
static int write_stdout(void *user, const void *data, size_t size) {
    return fwrite(data, 1, size, stdout) == size;
}

/* Ctrl-C or SIGTERM: the run stops, and the document it was writing leaves no result. */
static dl_pipeline *volatile running;
static void on_signal(int sig) {
    if (running) dl_pipeline_cancel(running);
    signal(sig, SIG_DFL); /* a second one ends the program at once */
}

/* ---- the command ------------------------------------------------------------------------- */

static int detect(const options *o) {
    if (o->n_files == 0) {
        fprintf(stderr, "doclayout detect: no input images given\n");
        return 2;
    }
    dl_pipeline_options po = dl_pipeline_default_options();
    po.workers = o->workers;
    po.batch = o->batch;
    po.threshold = o->threshold;
    po.raw = o->raw;
    po.dpi = o->dpi;
    po.pages = o->pages;
    po.password = o->password;
    po.word_cells = o->words;
    dl_error err;
    if (dl_pipeline_check_options(&po, &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 2;
    }
    dl_output_options out = {0};
    out.format = o->format;
    out.coco_images = o->coco_images;
    if (o->out_file) {
        size_t n = strlen(o->out_file);
        out.path = o->out_file;
        out.per_document = (n && o->out_file[n - 1] == '/') || dl_cli_is_dir(o->out_file);
    } else {
        out.write = write_stdout;
    }
    po.skip_existing = out.per_document && !o->force;
    strv inputs = {0};
    if (!expand_inputs(o, &inputs)) {
        sv_free(&inputs);
        return 1;
    }
    dl_model *model = NULL;
    dl_detector *det = NULL;
    if (dl_cli_load_detector(o, &model, &det)) {
        sv_free(&inputs);
        return 1;
    }
#ifdef __GLIBC__
    /* Page images (1-5 MB) are allocated by the workers and freed by the main thread. glibc
     * raises its mmap threshold to the size of each such block freed, after which they come
     * from the heaps, which fragment and grow with the page count (a 400-page PDF: +70 MB,
     * measured in docs/benchmarks.md). A fixed threshold keeps them mmapped and returned. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    cli_events ev = {0};
    ev.show = !o->quiet && isatty(2);
    po.on_event = on_event;
    po.user = &ev;
    dl_pipeline *p = NULL;
    dl_pipeline_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = 0;
    dl_output_options overlay = {.format = "overlay", .path = o->overlay_dir};
    if (dl_pipeline_create(model, det, &po, &p, &err) != DL_OK ||
        dl_pipeline_add_output(p, &out, &err) != DL_OK ||
        (o->overlay_dir && dl_pipeline_add_output(p, &overlay, &err) != DL_OK)) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        rc = 1;
    } else {
        const char *const *in = (const char *const *)inputs.v;
        if (ev.show) ev.total = dl_pipeline_count_pages(p, in, (size_t)inputs.n);
        ev.t0 = dl_cli_now_s();
        running = p;
        void (*old_int)(int) = signal(SIGINT, on_signal);
        void (*old_term)(int) = signal(SIGTERM, on_signal);
        dl_status s = dl_pipeline_run(p, in, (size_t)inputs.n, &rep, &err);
        signal(SIGINT, old_int);
        signal(SIGTERM, old_term);
        running = NULL;
        if (ev.show) fputc('\n', stderr);
        if (s != DL_OK) fprintf(stderr, "doclayout: %s\n", err.message);
        rc = s != DL_OK || rep.pages_failed || rep.documents_failed ? 1 : 0;
        if (rep.documents_skipped && !o->quiet)
            fprintf(stderr,
                    "doclayout: %d input%s skipped: the result exists (--force redoes it)\n",
                    rep.documents_skipped, rep.documents_skipped > 1 ? "s" : "");
        if (o->timings && s == DL_OK) {
            int n = rep.pages > 0 ? rep.pages : 1;
            double wall = rep.seconds;
            double busy = rep.workers > 0 && wall > 0
                              ? 100.0 * (rep.render_s + rep.preprocess_s) / (rep.workers * wall)
                              : 0;
            fprintf(stderr,
                    "timings: %d pages in %.3f s = %.2f pages/s end to end (batch %d, %d inference "
                    "threads, %d page workers)\n"
                    "  page workers, ms/page summed over the %d workers (CPU time when each has a "
                    "core): "
                    "render/decode %.2f, preprocess %.2f; busy %.0f%% of the time\n"
                    "  main thread, ms/page: inference %.2f, post-process %.2f, output %.2f, "
                    "waiting for pages %.2f\n",
                    rep.pages, wall, rep.pages / wall, o->batch, dl_detector_num_threads(det),
                    rep.workers, rep.workers, 1e3 * rep.render_s / n, 1e3 * rep.preprocess_s / n,
                    busy, 1e3 * rep.inference_s / n, 1e3 * rep.postprocess_s / n,
                    1e3 * rep.output_s / n, 1e3 * rep.wait_s / n);
        }
    }
    if (!o->out_file) fflush(stdout);
    dl_pipeline_free(p);
    sv_free(&inputs);
    dl_detector_free(det);
    dl_model_free(model);
    return rc;
}

const char dl_cli_detect_help[] =
    "  doclayout detect --model DIR [options] INPUT...\n"
    "      Detect the layout of every page of each input: PDF (rendered with MuPDF), TIFF\n"
    "      (every page), PNG, JPEG; '-' reads standard input, a DIRECTORY gives its .pdf .png\n"
    "      .jpg .jpeg .tif .tiff files, @LIST.txt gives one path per line. A failing page or\n"
    "      file is reported and the run goes on. Docling's layout post-processor (per-label\n"
    "      thresholds, text cells assigned to regions, overlap rules, reading order) runs by\n"
    "      default; pages without a text layer skip its cell assignment.\n"
    "        --model DIR      Hugging Face model directory (config.json, model.safetensors,\n"
    "                         preprocessor_config.json) or a cached repo id such as\n"
    "                         docling-project/docling-layout-heron (looked up offline in\n"
    "                         $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)\n"
    "        --format F       json (default): {\"model\", \"pages\": [{\"source\", \"page\",\n"
    "                         \"width\", \"height\", \"detections\": [{\"label\", \"label_id\",\n"
    "                         \"score\", \"box\": [x0, y0, x1, y1], \"text\"}]}]}, boxes in page\n"
    "                         pixels, top-left origin; coco: COCO detection results;\n"
    "                         docling: a DoclingDocument per input (boxes in PDF points,\n"
    "                         BOTTOMLEFT origin); markdown: text in reading order\n"
    "        --raw            the model's detections unchanged (no post-processor)\n"
    "        --coco-images    with --format coco: add the images and categories blocks\n"
    "        --dpi N          PDF render resolution (default 72: 1 pixel = 1 point)\n"
    "        --pages LIST     pages to process, e.g. 1-3,7 or 5- (default: all)\n"
    "        --password PW    password of encrypted PDFs\n"
    "        --cells MODE     PDF text cells: lines (default, as Docling) or words\n"
    "        --threads N      CPU threads (default: all cores)\n"
    "        --batch N        pages per inference call (default 1)\n"
    "        --workers N      threads that open, render/decode and preprocess pages, the pages\n"
    "                         of one PDF spread over them; results stay in input order\n"
    "                         (default: with --device cuda 4 (MuPDF serialises glyph drawing\n"
    "                         beyond that), on the CPU one per 8 cores, at least 1)\n"
    "        --threshold T    keep detections with score > T (default 0.3)\n"
    "        --device D       cpu (default), cuda, cuda:N (GPU N) or auto (the GPU when the\n"
    "                         CUDA module libdoclayout_cuda.so loads and a GPU works, else CPU)\n"
    "        --precision P    fp32, bf16 or fp16 (GPU; default bf16 there, fp32 on CPU; bf16 on\n"
    "                         the CPU: bf16 products, fp32 sums; fast with AVX512_BF16)\n"
    "        --cpu LEVEL      CPU kernels: scalar, avx2, avx512, avx512bf16 (x86-64), neon,\n"
    "                         neonbf16 (aarch64); default the best this CPU runs (also the\n"
    "                         DOCLAYOUT_CPU environment variable)\n"
    "        -o FILE          write one combined result to FILE instead of standard output\n"
    "        -o DIR/          (an existing directory, or a path ending in '/') one result per\n"
    "                         input, DIR/NAME.json (.coco.json, .docling.json, .md); inputs\n"
    "                         whose result exists are skipped, so a stopped run resumes\n"
    "        --force          with -o DIR/: redo inputs whose result exists\n"
    "        --overlay DIR    also write each page as a PNG with the boxes drawn on it\n"
    "        --quiet          no progress bar (it is shown only when stderr is a terminal)\n"
    "        --timings        print pages/s and per-stage ms/page to stderr at the end\n";

int dl_cli_detect(int argc, char **argv) {
    options o;
    int rc = dl_cli_parse_options(argc, argv, &o);
    if (rc == 0) rc = detect(&o);
    free(o.files);
    return rc;
}
