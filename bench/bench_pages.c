/*
 * The page stage of `doclayout detect` alone: open, render/decode and preprocess the pages of
 * the listed documents with T threads (pages of one document spread over the threads, each
 * thread with its own open handle per document, as detect's --workers do), no inference.
 * Shows how rendering scales with threads, i.e. what the workers can feed a fast device.
 *   bench_pages MODEL_DIR LIST.txt [THREADS...]   (default threads: 1 2 ... cores)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/threadpool.h"
#include "document/document.h"

typedef struct unit {
    int doc, page;
} unit;

typedef struct shared {
    const dl_model *model;
    char **paths;
    unit *units;
    int n_units, next, failed;
    pthread_mutex_t mu;
    double t_render, t_pre;
} shared;

static void *run(void *arg) {
    shared *s = arg;
    size_t plane = (size_t)3 * dl_model_input_width(s->model) * dl_model_input_height(s->model);
    float *px = malloc(plane * sizeof(float));
    dl_doc *doc = NULL;
    int doc_idx = -1, failed = 0;
    double t_render = 0, t_pre = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int k = s->next < s->n_units ? s->next++ : -1;
        pthread_mutex_unlock(&s->mu);
        if (k < 0 || !px) break;
        unit u = s->units[k];
        dl_error err;
        double t0 = dl_now_s();
        if (doc_idx != u.doc) {
            dl_doc_close(doc);
            doc = NULL;
            doc_idx = dl_doc_open(s->paths[u.doc], NULL, &doc, &err) == DL_OK ? u.doc : -1;
        }
        dl_pdf_page pg;
        if (doc_idx != u.doc ||
            dl_doc_load_page(doc, u.page, 72, DL_CELLS_LINES, &pg, &err) != DL_OK) {
            failed++;
            continue;
        }
        double t1 = dl_now_s();
        if (dl_model_preprocess(s->model, pg.image, px, &err) != DL_OK) failed++;
        double t2 = dl_now_s();
        t_render += t1 - t0;
        t_pre += t2 - t1;
        dl_pdf_page_clear(&pg);
    }
    dl_doc_close(doc);
    free(px);
    pthread_mutex_lock(&s->mu);
    s->failed += failed;
    s->t_render += t_render;
    s->t_pre += t_pre;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_pages MODEL_DIR LIST.txt [THREADS...]\n");
        return 2;
    }
    dl_model *model = NULL;
    dl_error err;
    if (dl_model_load(argv[1], NULL, &model, &err) != DL_OK) {
        fprintf(stderr, "bench_pages: %s\n", err.message);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "bench_pages: cannot read %s\n", argv[2]);
        dl_model_free(model);
        return 1;
    }
    shared s = {0};
    s.model = model;
    pthread_mutex_init(&s.mu, NULL);
    int n_docs = 0, cap_docs = 0, cap_units = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        dl_doc *d = NULL;
        if (!line[0] || dl_doc_open(line, NULL, &d, &err) != DL_OK) continue;
        if (n_docs == cap_docs) {
            cap_docs = cap_docs ? 2 * cap_docs : 16;
            char **p = realloc(s.paths, (size_t)cap_docs * sizeof *p);
            if (!p) break;
            s.paths = p;
        }
        s.paths[n_docs] = strdup(line);
        for (int p = 0; p < dl_doc_page_count(d); p++) {
            if (s.n_units == cap_units) {
                cap_units = cap_units ? 2 * cap_units : 256;
                unit *u = realloc(s.units, (size_t)cap_units * sizeof *u);
                if (!u) break;
                s.units = u;
            }
            s.units[s.n_units++] = (unit){n_docs, p};
        }
        n_docs++;
        dl_doc_close(d);
    }
    fclose(f);
    int counts[64], n_counts = 0;
    for (int i = 3; i < argc && n_counts < 64; i++) counts[n_counts++] = atoi(argv[i]);
    if (!n_counts)
        for (int t = 1; t <= dl_cpu_count() && n_counts < 64; t++) counts[n_counts++] = t;
    printf("bench_pages: %d documents, %d pages, %d cores; render (72 dpi) + preprocess to %dx%d, "
           "no inference\n",
           n_docs, s.n_units, dl_cpu_count(), dl_model_input_width(model),
           dl_model_input_height(model));
    int rc = 0;
    for (int c = 0; c < n_counts; c++) {
        int nt = counts[c] < 1 ? 1 : counts[c] > 256 ? 256 : counts[c];
        pthread_t th[256];
        s.next = s.failed = 0;
        s.t_render = s.t_pre = 0;
        double t0 = dl_now_s();
        int started = 0;
        while (started < nt && pthread_create(&th[started], NULL, run, &s) == 0) started++;
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        double wall = dl_now_s() - t0;
        int n = s.n_units - s.failed;
        printf("threads %2d: %d pages in %.2f s = %.1f pages/s; ms/page summed over the threads: "
               "render %.2f, preprocess %.2f%s\n",
               started, n, wall, n / wall, n ? 1e3 * s.t_render / n : 0, n ? 1e3 * s.t_pre / n : 0,
               s.failed ? " (some pages failed)" : "");
        if (s.failed) rc = 1;
    }
    for (int i = 0; i < n_docs; i++) free(s.paths[i]);
    free(s.paths);
    free(s.units);
    pthread_mutex_destroy(&s.mu);
    dl_model_free(model);
    return rc;
}
