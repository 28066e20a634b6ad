/*
 * The page pipeline of `doclayout detect` with several workers (--workers): the output is
 * byte for byte the output of one worker (multi-page PDF, --pages, a PDF through stdin, the
 * same PDF twice, a multi-page TIFF, a mixed directory with unreadable files, every format,
 * overlays, -o DIR/ and its resume: a failed input has no result and is redone), pages come
 * out in input order even when an early page is slow to render, a failing page is reported
 * for that page while the others succeed, and the documents themselves render the same when
 * several threads render one PDF at once (each with its own handle: the MuPDF contexts share
 * only their process-wide lock).
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <unistd.h>

#include "document/document.h"
#include "io/file.h"
#include "pdf_writer.h"
#include "test_json.h"
#include "test_scratch.h"
#include "test_util.h"

static char model_dir[1024];

/* Run `doclayout ARGS > OUT 2> OUT.err`; returns the exit code. */
static int run_to(const char *args, const char *out) {
    char cmd[8192], log[1 << 14];
    snprintf(cmd, sizeof cmd, "(%s %s > %s 2> %s.err)", DL_CLI_PATH, args, out, out);
    return dl_test_run(cmd, log, sizeof log);
}

/* `detect ARGS` with --workers 1 and with --workers N (and --batch B): same exit code, same
 * stdout, same stderr. Returns the exit code. */
static int same_as_one_worker(const char *name, const char *args, int workers, int batch) {
    char a1[4096], an[4096], o1[700], on[700], e1[710], en[710];
    snprintf(a1, sizeof a1, "detect --model %s --quiet --workers 1 --batch %d %s", model_dir, batch,
             args);
    snprintf(an, sizeof an, "detect --model %s --quiet --workers %d --batch %d %s", model_dir,
             workers, batch, args);
    snprintf(o1, sizeof o1, "%s", tp(name));
    snprintf(on, sizeof on, "%s.w%d", o1, workers);
    int r1 = run_to(a1, o1), rn = run_to(an, on);
    snprintf(e1, sizeof e1, "%s.err", o1);
    snprintf(en, sizeof en, "%s.err", on);
    CHECK_MSG(r1 == rn, "%s: exit %d with 1 worker, %d with %d", name, r1, rn, workers);
    CHECK_MSG(dl_test_same_file(o1, on),
              "%s: the output of %d workers differs from 1 worker's (%s, %s)", name, workers, o1,
              on);
    CHECK_MSG(dl_test_same_file(e1, en),
              "%s: the messages of %d workers differ from 1 worker's (%s, %s)", name, workers, e1,
              en);
    return r1;
}

/* ---- several threads rendering one PDF, each with its own dl_doc ---- */

typedef struct render_arg {
    const char *path;
    int n_pages;
    unsigned long long hash[16];
    int ok;
} render_arg;

static unsigned long long image_hash(const dl_image *im) {
    unsigned long long h = 1469598103934665603ull;
    for (int y = 0; y < im->height; y++)
        for (size_t x = 0; x < (size_t)im->width * 3; x++)
            h = (h ^ im->rgb[(size_t)y * im->stride + x]) * 1099511628211ull;
    return h;
}

static void *render_all(void *p) {
    render_arg *a = p;
    dl_doc *d = NULL;
    dl_error err;
    a->ok = dl_doc_open(a->path, NULL, &d, &err) == DL_OK;
    for (int round = 0; round < 3 && a->ok; round++)
        for (int i = 0; i < a->n_pages && a->ok; i++) {
            int k = (i + round) % a->n_pages; /* each thread in its own order */
            dl_pdf_page pg;
            if (dl_doc_load_page(d, k, 72, DL_CELLS_LINES, &pg, &err) != DL_OK) {
                a->ok = 0;
                break;
            }
            unsigned long long h = image_hash(pg.image) ^ (unsigned long long)pg.cells.n;
            if (round == 0) a->hash[k] = h;
            else if (a->hash[k] != h) a->ok = 0;
            dl_pdf_page_clear(&pg);
        }
    dl_doc_close(d);
    return NULL;
}

static tpdf doc; /* 16 pages of 8 KB: not on the stack */

int main(void) {
    char buf[1024], cmd[8192], args[4096], out[1 << 14];
    dl_test_tiny_model(model_dir, sizeof model_dir);
    CHECK(dl_test_scratch("pipe") == 0);

    /* usage */
    snprintf(args, sizeof args, "%s detect --model %s --workers 0 x.png", DL_CLI_PATH, model_dir);
    CHECK_MSG(dl_test_run(args, out, sizeof out) == 2 && strstr(out, "--workers"), "%s", out);
    snprintf(args, sizeof args, "%s help", DL_CLI_PATH);
    CHECK_MSG(dl_test_run(args, out, sizeof out) == 0 && strstr(out, "--workers N"), "%s", out);
    const char *bad_workers[] = {"abc", "1.5", "-3", "257", ""};
    for (int i = 0; i < 5; i++) {
        snprintf(args, sizeof args, "%s detect --model %s --workers '%s' x.png", DL_CLI_PATH,
                 model_dir, bad_workers[i]);
        CHECK_MSG(dl_test_run(args, out, sizeof out) == 2 && strstr(out, "--workers"),
                  "--workers '%s': %s", bad_workers[i], out);
    }
    const char *bad_counts[] = {"--batch 2.5", "--threads 0.5"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "%s detect --model %s %s x.png", DL_CLI_PATH, model_dir,
                 bad_counts[i]);
        CHECK_MSG(dl_test_run(args, out, sizeof out) == 2 && strstr(out, "whole number"), "%s: %s",
                  bad_counts[i], out);
    }
    /* broken bytes on standard input, read once and opened by each of 4 workers: one clear
     * per-file error, exit 1, no crash */
    snprintf(args, sizeof args,
             "printf '%%%%PDF-1.7 garbage' | %s detect --model %s --workers 4 --quiet -",
             DL_CLI_PATH, model_dir);
    CHECK_MSG(dl_test_run(args, out, sizeof out) == 1 && strstr(out, "doclayout:"),
              "broken PDF on stdin: %s", out);
    snprintf(args, sizeof args, "printf '' | %s detect --model %s --workers 4 --quiet -",
             DL_CLI_PATH, model_dir);
    CHECK_MSG(dl_test_run(args, out, sizeof out) == 1 && strstr(out, "doclayout:"),
              "empty stdin: %s", out);

    /* a 14-page PDF: page 1 large (slow to render, so later pages finish first), then pages
     * of different sizes with different text */
    tpdf_page *big = tpdf_add_page(&doc, 2400, 3000);
    for (int k = 0; k < 40; k++) {
        char line[64];
        snprintf(line, sizeof line, "Large page line %d of the opening page", k);
        tpdf_text(big, 100, 2900 - 60.0 * k, 24, line);
    }
    tpdf_rect(big, 200, 200, 1800, 400, 0.3);
    for (int i = 2; i <= 14; i++) {
        tpdf_page *p = tpdf_add_page(&doc, 300 + 17 * i, 400 + 11 * i);
        char line[64];
        snprintf(line, sizeof line, "Heading of page %d", i);
        tpdf_text(p, 30, 350, 14, line);
        for (int k = 0; k < i % 5 + 1; k++) {
            snprintf(line, sizeof line, "body text line %d on page %d", k, i);
            tpdf_text(p, 30, 320 - 14.0 * k, 9, line);
        }
        if (i % 3 == 0) tpdf_rect(p, 40, 60, 150, 100, 0.6);
    }
    CHECK(tpdf_write(&doc, tp("many.pdf")) == 0);
    /* a PDF whose page 3 is 10^8 points wide (doclayout refuses pages of 10^6 points and
     * more): that page fails. The writer prints %g, so a placeholder width of as many
     * characters is patched in place (the cross-reference offsets stay right). */
    tpdf bad = {0};
    for (int i = 1; i <= 6; i++) {
        tpdf_page *p = tpdf_add_page(&bad, i == 3 ? 0.123456 : 320, 420);
        char line[64];
        snprintf(line, sizeof line, "Page %d text", i);
        tpdf_text(p, 30, 380, 12, line);
    }
    CHECK(tpdf_write(&bad, tp("badpage.pdf")) == 0);
    {
        void *b = NULL;
        size_t n = 0;
        dl_error err;
        char *at = NULL;
        if (dl_read_file(tp("badpage.pdf"), 1 << 20, &b, &n, &err) == DL_OK &&
            (at = strstr(b, "0.123456"))) {
            memcpy(at, "99999999", 8);
            FILE *f = fopen(tp("badpage.pdf"), "wb");
            CHECK(f && fwrite(b, 1, n, f) == n);
            if (f) fclose(f);
        }
        CHECK(at != NULL);
        free(b);
    }
    /* the mixed directory: a 3-page TIFF, a JPEG, a PNG, a dangling link, a junk "TIFF" */
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p %s/mixed && cp %s/tests/fixtures/images/multipage.tif "
        "%s/tests/fixtures/images/rgb.jpg "
        "%s/tests/fixtures/images/grey.png %s/mixed/ && ln -s /nonexistent %s/mixed/gone.png && "
        "printf junk > %s/mixed/junk.tif",
        tmp, DL_SOURCE_DIR, DL_SOURCE_DIR, DL_SOURCE_DIR, tmp, tmp, tmp);
    CHECK(system(cmd) == 0);

    if (!dl_pdf_available()) dl_test_unavailable("the PDF checks", "built without MuPDF");
    if (dl_pdf_available()) {
        /* the library: 4 threads render the same PDF at once, each with its own handle, in
         * different orders, 3 times: every page the same as one thread alone renders it */
        render_arg one = {tp("many.pdf"), 14, {0}, 0};
        render_all(&one);
        CHECK(one.ok);
        render_arg ra[4];
        pthread_t th[4];
        for (int t = 0; t < 4; t++) {
            ra[t] = one;
            memset(ra[t].hash, 0, sizeof ra[t].hash);
            CHECK(pthread_create(&th[t], NULL, render_all, &ra[t]) == 0);
        }
        for (int t = 0; t < 4; t++) {
            pthread_join(th[t], NULL);
            CHECK_MSG(ra[t].ok && memcmp(ra[t].hash, one.hash, sizeof one.hash) == 0,
                      "thread %d rendered differently", t);
        }

        /* the CLI: a multi-page PDF, any worker count and batch */
        CHECK(same_as_one_worker("many.json", tp("many.pdf"), 3, 1) == 0);
        CHECK(same_as_one_worker("many_b4.json", tp("many.pdf"), 5, 4) == 0);
        CHECK(same_as_one_worker("many_w16.json", tp("many.pdf"), 16, 2) == 0);
        /* the pages come out in order */
        cJSON *j = dl_test_load_json(tp("many.json.w3"));
        cJSON *pg;
        int k = 0, in_order = 1;
        cJSON_ArrayForEach(pg, cJSON_GetObjectItem(j, "pages")) {
            in_order &= cJSON_GetObjectItem(pg, "page")->valueint == ++k;
            in_order &= cJSON_GetObjectItem(pg, "detections") != NULL;
        }
        CHECK_MSG(k == 14 && in_order, "%d pages, in order: %d", k, in_order);
        cJSON_Delete(j);
        /* every format, --pages, --cells words, --raw, the same file twice, overlays */
        snprintf(args, sizeof args, "--format docling %s %s", tp("many.pdf"), tp("badpage.pdf"));
        CHECK(same_as_one_worker("many.docling.json", args, 4, 2) == 1);
        snprintf(args, sizeof args, "--format markdown %s %s", tp("many.pdf"), tp("many.pdf"));
        CHECK(same_as_one_worker("many.md", args, 3, 3) == 0);
        snprintf(args, sizeof args, "--format coco --coco-images --pages 2-4,9,13- %s %s",
                 tp("many.pdf"), tp("badpage.pdf"));
        CHECK(same_as_one_worker("pages.coco.json", args, 3, 2) == 1);
        snprintf(args, sizeof args, "--raw --cells words --pages 1,5- %s", tp("many.pdf"));
        CHECK(same_as_one_worker("raw.json", args, 2, 1) == 0);
        snprintf(args, sizeof args, "--pages 20- %s %s", tp("many.pdf"), tp("badpage.pdf"));
        CHECK(same_as_one_worker("none.json", args, 3, 1) == 1);
        snprintf(cmd, sizeof cmd, "mkdir -p %s/ov1 %s/ov3", tmp, tmp);
        CHECK(system(cmd) == 0);
        snprintf(args, sizeof args, "detect --model %s --quiet --workers 1 --overlay %s/ov1 %s",
                 model_dir, tmp, tp("many.pdf"));
        CHECK(run_to(args, tp("ov1.json")) == 0);
        snprintf(args, sizeof args, "detect --model %s --quiet --workers 3 --overlay %s/ov3 %s",
                 model_dir, tmp, tp("many.pdf"));
        CHECK(run_to(args, tp("ov3.json")) == 0);
        snprintf(cmd, sizeof cmd, "diff -r %s/ov1 %s/ov3 && test $(ls %s/ov3 | wc -l) = 14", tmp,
                 tmp, tmp);
        CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0, "overlays differ: %s", out);

        /* a failing page: reported for that page, the other pages done, exit code 1 */
        CHECK(same_as_one_worker("badpage.json", tp("badpage.pdf"), 3, 2) == 1);
        j = dl_test_load_json(tp("badpage.json.w3"));
        k = 0;
        int ok_pages = 0, err_page = 0;
        cJSON_ArrayForEach(pg, cJSON_GetObjectItem(j, "pages")) {
            k++;
            CHECK(cJSON_GetObjectItem(pg, "page")->valueint == k);
            if (cJSON_GetObjectItem(pg, "error")) err_page = k;
            else ok_pages += cJSON_GetObjectItem(pg, "detections") != NULL;
        }
        CHECK_MSG(k == 6 && ok_pages == 5 && err_page == 3, "%d pages, %d ok, error on page %d", k,
                  ok_pages, err_page);
        cJSON_Delete(j);
        void *e = NULL;
        size_t ne = 0;
        dl_error err;
        snprintf(buf, sizeof buf, "%s.err", tp("badpage.json.w3"));
        CHECK(dl_read_file(buf, 1 << 20, &e, &ne, &err) == DL_OK);
        CHECK_MSG(e && strstr(e, "badpage.pdf: page 3: ") && strstr(e, "invalid size") &&
                      !strstr(e, "page 2:") && !strstr(e, "page 4:"),
                  "%s", e ? (char *)e : "");
        free(e);

        /* standard input is read once and its pages still spread over the workers */
        snprintf(args, sizeof args, "- < %s", tp("many.pdf"));
        CHECK(same_as_one_worker("stdin.json", args, 4, 2) == 0);
        j = dl_test_load_json(tp("stdin.json.w4"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "pages")) == 14);
        CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "pages"), 13),
                                         "source")
                         ->valuestring,
                     "stdin") == 0);
        cJSON_Delete(j);
        snprintf(args, sizeof args, "%s - %s < %s", tp("badpage.pdf"), tp("many.pdf"),
                 tp("many.pdf"));
        CHECK(same_as_one_worker("stdin_mixed.json", args, 3, 4) == 1);
    }

    /* a multi-page TIFF; the mixed directory (unreadable files reported, the run goes on) */
    snprintf(args, sizeof args, "%s/mixed/multipage.tif", tmp);
    CHECK(same_as_one_worker("tiff.json", args, 3, 1) == 0);
    snprintf(args, sizeof args, "%s/mixed/", tmp);
    CHECK(same_as_one_worker("mixed.json", args, 3, 2) == 1);
    snprintf(args, sizeof args, "--format markdown %s/mixed/ %s/mixed/multipage.tif", tmp, tmp);
    CHECK(same_as_one_worker("mixed.md", args, 2, 3) == 1);
    if (dl_pdf_available()) {
        snprintf(args, sizeof args, "%s/mixed/ %s %s/mixed/multipage.tif %s", tmp, tp("many.pdf"),
                 tmp, tp("badpage.pdf"));
        CHECK(same_as_one_worker("all.json", args, 4, 3) == 1);
        cJSON *j = dl_test_load_json(tp("all.json.w4"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "pages")) == 7 + 14 + 3 + 6);
        cJSON_Delete(j);
    }

    /* -o DIR/ with several workers: the files of one worker; a stopped run resumes */
    snprintf(args, sizeof args, "detect --model %s --quiet --workers 1 -o %s/d1/ %s/mixed/",
             model_dir, tmp, tmp);
    CHECK(run_to(args, tp("d1.out")) == 1);
    snprintf(args, sizeof args, "detect --model %s --workers 3 -o %s/d3/ %s/mixed/", model_dir, tmp,
             tmp);
    CHECK(run_to(args, tp("d3.out")) == 1);
    /* the 2 failed inputs have no result (nor a temporary file left behind) */
    snprintf(cmd, sizeof cmd, "diff -r %s/d1 %s/d3 && test $(ls -A %s/d3 | wc -l) = 3", tmp, tmp,
             tmp);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0, "-o DIR/ differs: %s", out);
    snprintf(cmd, sizeof cmd, "rm %s/d3/rgb.jpg.json", tmp);
    CHECK(system(cmd) == 0);
    /* the next run redoes the removed one and the failed ones, and skips the others */
    CHECK(run_to(args, tp("d3b.out")) == 1);
    snprintf(buf, sizeof buf, "%s.err", tp("d3b.out"));
    void *e = NULL;
    size_t ne = 0;
    dl_error err;
    CHECK(dl_read_file(buf, 1 << 20, &e, &ne, &err) == DL_OK);
    CHECK_MSG(e && strstr(e, "2 inputs skipped") && strstr(e, "gone.png") && strstr(e, "junk.tif"),
              "%s", e ? (char *)e : "");
    free(e);
    snprintf(cmd, sizeof cmd, "diff -r %s/d1 %s/d3", tmp, tmp);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0, "-o DIR/ after resuming differs: %s", out);

    /* --timings: the workers' time is labelled as summed over them, with the wall-clock rate */
    snprintf(args, sizeof args, "detect --model %s --quiet --workers 2 --timings %s/mixed/grey.png",
             model_dir, tmp);
    CHECK(run_to(args, tp("t.json")) == 0);
    snprintf(buf, sizeof buf, "%s.err", tp("t.json"));
    e = NULL;
    CHECK(dl_read_file(buf, 1 << 20, &e, &ne, &err) == DL_OK);
    CHECK_MSG(e && strstr(e, "pages/s end to end") && strstr(e, "2 page workers") &&
                  strstr(e, "summed over the 2 workers"),
              "%s", e ? (char *)e : "");
    free(e);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!getenv("DL_TEST_KEEP")) CHECK(system(cmd) == 0); /* DL_TEST_KEEP=1: keep it to look at */
    return dl_test_finish("test_pipeline");
}
