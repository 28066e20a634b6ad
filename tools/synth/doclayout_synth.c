/* doclayout_synth: write synthetic document pages and their COCO ground truth.
 *   doclayout_synth --seed S --count N --out DIR [--dpi 72] [--degrade P] [--threads T]
 *                   [--start K] [--fonts DIR] [--words FILE]
 * writes DIR/images/NNNNNN.png (NNNNNN = K + i) and DIR/annotations.json; categories use
 * heron's label ids 0..16 (not COCO's usual 1-based ids). Page i has seed
 * dl_synth_page_seed(S, K + i): any page can be regenerated alone. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "synth/synth.h"

static const char *usage =
    "Usage: doclayout_synth --seed S --count N --out DIR [options]\n"
    "  --dpi D        page resolution (default 72, as Docling's page images)\n"
    "  --degrade P    probability of scan degradation per page (default 0)\n"
    "  --threads T    worker threads (default 1)\n"
    "  --start K      index of the first page (default 0)\n"
    "  --fonts DIR    take the font files from DIR only (default: Debian's font folders)\n"
    "  --words FILE   word list (default /usr/share/dict/words, built-in list without it)\n"
    "Writes DIR/images/NNNNNN.png and DIR/annotations.json (COCO; category ids 0..16 are\n"
    "heron's label ids).\n";

typedef struct job {
    const dl_synth_resources *res;
    uint64_t seed;
    long start, count;
    const char *out;
    atomic_long next;
    dl_synth_box **boxes;
    int *nboxes, *widths, *heights;
    atomic_int failed;
} job;

static void *worker(void *arg) {
    job *j = arg;
    char err[256];
    dl_synth *g = dl_synth_create(j->res, err, sizeof err);
    if (!g) {
        fprintf(stderr, "doclayout_synth: %s\n", err);
        atomic_store(&j->failed, 1);
        return NULL;
    }
    for (;;) {
        long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count || atomic_load(&j->failed)) break;
        dl_synth_page page;
        uint64_t s = dl_synth_page_seed(j->seed, (uint64_t)(j->start + i));
        if (dl_synth_generate(g, s, &page) != 0) {
            atomic_store(&j->failed, 1);
            break;
        }
        uint8_t *png;
        size_t n;
        char path[4096];
        snprintf(path, sizeof path, "%s/images/%06ld.png", j->out, j->start + i);
        FILE *f = NULL;
        int ok = dl_synth_png_encode(page.rgb, page.width, page.height, &png, &n) == 0;
        if (ok) {
            f = fopen(path, "wb");
            ok = f && fwrite(png, 1, n, f) == n;
            if (f && fclose(f) != 0) ok = 0;
            free(png);
        }
        if (!ok) {
            fprintf(stderr, "doclayout_synth: cannot write %s: %s\n", path, strerror(errno));
            atomic_store(&j->failed, 1);
            dl_synth_page_free(&page);
            break;
        }
        j->boxes[i] = page.boxes;
        j->nboxes[i] = page.num_boxes;
        j->widths[i] = page.width;
        j->heights[i] = page.height;
        page.boxes = NULL;
        dl_synth_page_free(&page);
    }
    dl_synth_free(g);
    return NULL;
}

/* Numbers with at most 2 decimals, without trailing zeros (stable text). */
static void fmt_num(char *out, size_t n, double v) {
    snprintf(out, n, "%.2f", v);
    char *dot = strchr(out, '.');
    if (!dot) return;
    char *e = out + strlen(out) - 1;
    while (e > dot && *e == '0') *e-- = '\0';
    if (e == dot) *e = '\0';
}

static int write_json(const job *j, const char *path, uint64_t seed, int dpi, double degrade) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"info\": {\"description\": \"doclayout synthetic documents\", \"seed\": %llu, "
            "\"start\": %ld, \"count\": %ld, \"dpi\": %d, \"degrade\": %g, "
            "\"category_ids\": \"heron label ids 0..16\"},\n",
            (unsigned long long)seed, j->start, j->count, dpi, degrade);
    fprintf(f, "\"images\": [\n");
    for (long i = 0; i < j->count; i++)
        fprintf(f, "{\"id\": %ld, \"file_name\": \"%06ld.png\", \"width\": %d, \"height\": %d}%s\n",
                j->start + i, j->start + i, j->widths[i], j->heights[i],
                i + 1 < j->count ? "," : "");
    fprintf(f, "],\n\"annotations\": [\n");
    long id = 1;
    int first = 1;
    for (long i = 0; i < j->count; i++)
        for (int b = 0; b < j->nboxes[i]; b++) {
            const dl_synth_box *bx = &j->boxes[i][b];
            char x[32], y[32], w[32], h[32], a[48];
            fmt_num(x, sizeof x, bx->x);
            fmt_num(y, sizeof y, bx->y);
            fmt_num(w, sizeof w, bx->w);
            fmt_num(h, sizeof h, bx->h);
            fmt_num(a, sizeof a, bx->w * bx->h);
            fprintf(
                f,
                "%s{\"id\": %ld, \"image_id\": %ld, \"category_id\": %d, \"bbox\": [%s, %s, %s, "
                "%s], \"area\": %s, \"iscrowd\": 0}",
                first ? "" : ",\n", id++, j->start + i, bx->label, x, y, w, h, a);
            first = 0;
        }
    fprintf(f, "\n],\n\"categories\": [\n");
    for (int c = 0; c < DL_LABEL_COUNT; c++)
        fprintf(f, "{\"id\": %d, \"name\": \"%s\", \"supercategory\": \"layout\"}%s\n", c,
                dl_synth_label_name(c), c + 1 < DL_LABEL_COUNT ? "," : "");
    fprintf(f, "]}\n");
    return fclose(f);
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return -1;
    *out = (long)v;
    return 0;
}

int main(int argc, char **argv) {
    dl_synth_options opt = dl_synth_default_options();
    unsigned long long seed = 0;
    long count = -1, threads = 1, start = 0, dpi = 72;
    const char *out = NULL;
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "doclayout_synth: %s needs a value\n%s", a, usage);
            return 2;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 0);
            bad = errno || *end || end == v;
            have_seed = 1;
        } else if (!strcmp(a, "--count")) bad = parse_long(v, 0, 100000000, &count);
        else if (!strcmp(a, "--threads")) bad = parse_long(v, 1, 1024, &threads);
        else if (!strcmp(a, "--start")) bad = parse_long(v, 0, 1000000000, &start);
        else if (!strcmp(a, "--dpi")) bad = parse_long(v, 36, 600, &dpi);
        else if (!strcmp(a, "--degrade")) {
            char *end;
            opt.degrade = strtod(v, &end);
            bad = *end || end == v || opt.degrade < 0 || opt.degrade > 1;
        } else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--fonts")) opt.fonts = v;
        else if (!strcmp(a, "--words")) opt.words = v;
        else {
            fprintf(stderr, "doclayout_synth: unknown option %s\n%s", a, usage);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "doclayout_synth: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    if (!have_seed || count < 0 || !out) {
        fputs(usage, stderr);
        return 2;
    }
    opt.dpi = (int)dpi;
    char err[256], path[4096];
    dl_synth_resources *res = dl_synth_resources_load(&opt, err, sizeof err);
    if (!res) {
        fprintf(stderr, "doclayout_synth: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/images", out);
    if ((mkdir(out, 0777) != 0 && errno != EEXIST) || (mkdir(path, 0777) != 0 && errno != EEXIST)) {
        fprintf(stderr, "doclayout_synth: cannot create %s: %s\n", path, strerror(errno));
        dl_synth_resources_free(res);
        return 1;
    }
    job j;
    memset(&j, 0, sizeof j);
    j.res = res;
    j.seed = seed;
    j.start = start;
    j.count = count;
    j.out = out;
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    size_t n = (size_t)(count ? count : 1);
    j.boxes = calloc(n, sizeof *j.boxes);
    j.nboxes = calloc(n, sizeof *j.nboxes);
    j.widths = calloc(n, sizeof *j.widths);
    j.heights = calloc(n, sizeof *j.heights);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    int status = 1;
    if (!j.boxes || !j.nboxes || !j.widths || !j.heights || !tids) goto done;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0;
    for (long t = 0; t < threads; t++, started++)
        if (pthread_create(&tids[t], NULL, worker, &j) != 0) break;
    for (long t = 0; t < started; t++) pthread_join(tids[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (started == 0 || atomic_load(&j.failed)) goto done;
    snprintf(path, sizeof path, "%s/annotations.json", out);
    if (write_json(&j, path, seed, (int)dpi, opt.degrade) != 0) {
        fprintf(stderr, "doclayout_synth: cannot write %s\n", path);
        goto done;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr,
            "doclayout_synth: %ld pages in %.2f s (%.1f pages/s, %.1f pages/s per thread, "
            "%ld threads, %d font files)\n",
            count, secs, secs > 0 ? count / secs : 0.0,
            secs > 0 ? count / secs / (double)started : 0.0, started, dl_synth_num_fonts(res));
    status = 0;
done:
    for (long i = 0; j.boxes && i < count; i++) free(j.boxes[i]);
    free(j.boxes);
    free(j.nboxes);
    free(j.widths);
    free(j.heights);
    free(tids);
    dl_synth_resources_free(res);
    return status;
}
