/*
 * Results appear only for documents that succeeded (issue 11, item 5): with -o DIR/ a failed
 * document (an encrypted PDF without --password, a file that cannot be read) leaves no result
 * file and no temporary file, so the next run redoes it instead of skipping it; a run
 * cancelled in the middle of a document leaves nothing of that document; a combined -o FILE
 * of a cancelled run is not written. Also the pipeline's public API itself: the output
 * format table, events instead of printing, bad options and outputs.
 */
#include <dirent.h>
#include <unistd.h>

#include "doclayout.h"
#include "pdf_writer.h"
#include "test_scratch.h"
#include "test_util.h"

static char model_dir[1024];

/* Files in `dir` (hidden ones too). */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

typedef struct events {
    int pages_done, page_failed, doc_failed, skipped, warnings;
    int cancel_after; /* pages; 0 = never */
    dl_pipeline *p;
} events;

static void on_event(void *user, const dl_pipeline_event *e) {
    events *ev = user;
    switch (e->kind) {
    case DL_EVENT_PAGE_DONE:
        ev->pages_done++;
        if (ev->cancel_after && ev->pages_done == ev->cancel_after) dl_pipeline_cancel(ev->p);
        break;
    case DL_EVENT_PAGE_FAILED: ev->page_failed++; break;
    case DL_EVENT_DOCUMENT_FAILED: ev->doc_failed++; break;
    case DL_EVENT_DOCUMENT_SKIPPED: ev->skipped++; break;
    case DL_EVENT_WARNING: ev->warnings++; break;
    }
}

static tpdf doc; /* 16 pages of 8 KB: not on the stack */

int main(void) {
    char cmd[8192], out[1 << 14];
    (void)out; /* read by the PDF cases only */
    dl_test_tiny_model(model_dir, sizeof model_dir);
    CHECK(dl_test_scratch("resume") == 0);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/in", tmp);
    CHECK(system(cmd) == 0);

    /* the format table */
    CHECK(dl_output_format_count() == 5);
    const char *names[] = {"json", "coco", "docling", "markdown", "overlay"};
    for (size_t i = 0; i < 5; i++)
        CHECK(dl_output_format_name(i) && !strcmp(dl_output_format_name(i), names[i]));
    CHECK(dl_output_format_name(5) == NULL);
    CHECK(!strcmp(dl_output_format_extension("docling"), ".docling.json"));
    CHECK(dl_output_format_extension("overlay") == NULL &&
          dl_output_format_extension("pdf") == NULL);

    /* a 6-page PDF */
    for (int i = 0; i < 6; i++) {
        tpdf_page *pg = tpdf_add_page(&doc, 300, 400);
        char line[64];
        snprintf(line, sizeof line, "Page %d of the document", i + 1);
        tpdf_text(pg, 30, 350, 14, line);
        tpdf_rect(pg, 30, 60, 200, 200, 0.4);
    }
    CHECK(tpdf_write(&doc, tp("in/doc.pdf")) == 0);

#ifdef DL_HAVE_PDF
    /* an encrypted PDF without --password: a clear error, exit 1, no result, nothing left */
    CHECK(tpdf_encrypt(tp("in/doc.pdf"), tp("in/secret.pdf")));
    snprintf(cmd, sizeof cmd, "%s detect --model %s --quiet --format docling -o %s/out/ %s",
             DL_CLI_PATH, model_dir, tmp, tp("in/secret.pdf"));
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 1 && strstr(out, "secret.pdf") &&
                  strstr(out, "--password"),
              "%s", out);
    CHECK(!dl_path_exists(tp("out/secret.pdf.docling.json")));
    CHECK_MSG(count_files(tp("out")) == 0, "%d files left in out/", count_files(tp("out")));
    /* with it: the document runs (not "the result exists") */
    snprintf(cmd, sizeof cmd,
             "%s detect --model %s --quiet --format docling --password secret -o %s/out/ %s",
             DL_CLI_PATH, model_dir, tmp, tp("in/secret.pdf"));
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0 && !strstr(out, "skipped"), "%s", out);
    CHECK(dl_path_exists(tp("out/secret.pdf.docling.json")));
    CHECK_MSG(count_files(tp("out")) == 1, "%d files in out/", count_files(tp("out")));
    /* and a third run skips it */
    snprintf(cmd, sizeof cmd,
             "%s detect --model %s --format docling --password secret -o %s/out/ %s 2>&1",
             DL_CLI_PATH, model_dir, tmp, tp("in/secret.pdf"));
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0 && strstr(out, "1 input skipped"), "%s", out);
#endif

    /* the library: a run cancelled in the middle of a document leaves nothing of it */
    dl_error err;
    dl_model *model = NULL;
    dl_detector *det = NULL;
    CHECK_OK(dl_model_load(model_dir, NULL, &model, &err), &err);
    dl_detector_options dopt = dl_detector_default_options();
    dopt.num_threads = 1;
    CHECK_OK(dl_detector_create(model, &dopt, &det, &err), &err);
    if (model && det && dl_output_format_extension("json")) {
        dl_pipeline_options po = dl_pipeline_default_options();
        events ev = {0};
        po.on_event = on_event;
        po.user = &ev;
        po.workers = 2;
        po.pages = "x";
        dl_pipeline *p = NULL;
        CHECK(dl_pipeline_create(model, det, &po, &p, &err) == DL_ERR_INVALID_ARGUMENT && !p &&
              strstr(err.message, "pages"));
        po.pages = NULL;
        CHECK_OK(dl_pipeline_create(model, det, &po, &p, &err), &err);
        ev.p = p;
        dl_output_options bad = {.format = "pdf", .path = tp("x")};
        CHECK(dl_pipeline_add_output(p, &bad, &err) == DL_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "docling"));
        dl_output_options nowhere = {.format = "json"};
        CHECK(dl_pipeline_add_output(p, &nowhere, &err) == DL_ERR_INVALID_ARGUMENT);
        dl_output_options per_doc = {.format = "markdown", .path = tp("lib/"), .per_document = 1};
        dl_output_options combined = {
            .format = "coco", .path = tp("lib.coco.json"), .coco_images = 1};
        CHECK_OK(dl_pipeline_add_output(p, &per_doc, &err), &err);
        CHECK_OK(dl_pipeline_add_output(p, &combined, &err), &err);
        const char *inputs[] = {DL_SOURCE_DIR "/tests/fixtures/images/rgb.jpg", tp("in/doc.pdf")};
        dl_pipeline_report rep;
        ev.cancel_after = 3; /* the first input and two pages of the PDF */
        CHECK(dl_pipeline_run(p, inputs, 2, &rep, &err) == DL_ERR_CANCELLED);
        CHECK_MSG(rep.documents == 1 && rep.pages >= 3 && rep.pages < 7, "%d documents, %d pages",
                  rep.documents, rep.pages);
        CHECK(dl_path_exists(tp("lib/rgb.jpg.md")) && !dl_path_exists(tp("lib/doc.pdf.md")));
        CHECK_MSG(count_files(tp("lib")) == 1, "%d files in lib/", count_files(tp("lib")));
        CHECK(!dl_path_exists(tp("lib.coco.json")));
#ifdef DL_HAVE_PDF
        int n_expected = 3; /* in/, out/, lib/: no temporary file */
#else
        int n_expected = 2;
#endif
        CHECK_MSG(count_files(tmp) == n_expected, "%d files in %s", count_files(tmp), tmp);
        /* run again, to the end: the rest is done, the combined file written */
        ev = (events){0};
        ev.p = p;
        CHECK_OK(dl_pipeline_run(p, inputs, 2, &rep, &err), &err);
        CHECK_MSG(rep.documents == 2 && rep.pages == 7 && rep.pages_failed == 0 &&
                      ev.pages_done == 7 && ev.doc_failed == 0 && ev.page_failed == 0,
                  "%d documents, %d pages", rep.documents, rep.pages);
        CHECK(dl_path_exists(tp("lib/doc.pdf.md")) && dl_path_exists(tp("lib.coco.json")));
        /* a failing input: reported through the events, the run goes on, no result of it */
        ev = (events){0};
        const char *with_bad[] = {tp("in/none.png"),
                                  DL_SOURCE_DIR "/tests/fixtures/images/grey.png"};
        CHECK_OK(dl_pipeline_run(p, with_bad, 2, &rep, &err), &err);
        CHECK(rep.documents == 2 && rep.documents_failed == 1 && ev.doc_failed == 1 &&
              rep.pages_failed == 1);
        CHECK(!dl_path_exists(tp("lib/none.png.md")) && dl_path_exists(tp("lib/grey.png.md")));
        dl_pipeline_free(p);
    }
    dl_detector_free(det);
    dl_model_free(model);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!getenv("DL_TEST_KEEP")) CHECK(system(cmd) == 0);
    return dl_test_finish("test_resume");
}
