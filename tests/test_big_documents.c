/*
 * Big documents run in bounded memory (issue 11, "Big documents"): the peak RSS of
 * `doclayout detect` on a 400-page PDF (and a 240-page TIFF) exceeds that on a 40-page one
 * (24 pages) by less than a fixed bound, for the streamed formats (json and markdown to one
 * combined file). Results used to be kept for the whole run and each document: pages x (cells
 * + regions + JSON tree), which this gate catches (the pages carry about 500 word cells each);
 * it also caught glibc's heaps growing with the page count (+389 MB at 400 pages) until the
 * CLI fixed malloc's mmap threshold. The inputs are made by tools/make_big_document from a
 * small PDF the test writes.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pdf_writer.h"
#include "test_json.h"
#include "test_scratch.h"
#include "test_util.h"

#ifdef DL_HAVE_PDF /* the helpers below exist for the PDF and TIFF runs, which need MuPDF */

/* Run `sh -c cmd` and return its exit status; *rss_kb its peak resident set (KiB). */
static int run_rss(const char *cmd, long *rss_kb) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) return -1;
    *rss_kb = ru.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static tpdf doc; /* 16 pages of 8 KB: not on the stack */

/* detect over IN (PAGES pages) to OUT; returns the peak RSS in KiB, or -1. */
static long detect_rss(const char *in, const char *format, const char *out, int pages) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "exec %s detect --model %s/tests/fixtures/dense-tiny --quiet --cells words "
             "--format %s -o %s %s 2> %s.err",
             DL_CLI_PATH, DL_SOURCE_DIR, format, out, in, out);
    long rss = -1;
    int rc = run_rss(cmd, &rss);
    CHECK_MSG(rc == 0, "%s: exit %d (%s.err)", cmd, rc, out);
    if (strcmp(format, "json") == 0) {
        cJSON *j = dl_test_load_json(out);
        CHECK_MSG(cJSON_GetArraySize(cJSON_GetObjectItem(j, "pages")) == pages, "%s: not %d pages",
                  out, pages);
        cJSON_Delete(j);
    }
    return rc == 0 ? rss : -1;
}

static void check_growth(const char *what, long small_kb, long big_kb, long bound_kb) {
    printf("%s: peak RSS %ld KiB small, %ld KiB big (+%ld KiB, bound %ld)\n", what, small_kb,
           big_kb, big_kb - small_kb, bound_kb);
    CHECK_MSG(small_kb > 0 && big_kb > 0 && big_kb - small_kb < bound_kb,
              "%s: peak RSS grew by %ld KiB (bound %ld KiB)", what, big_kb - small_kb, bound_kb);
}
#endif

int main(void) {
#ifndef DL_HAVE_PDF
    return dl_test_skip("test_big_documents", "no PDF support (MuPDF) in this build");
#else
    char cmd[4096];
    CHECK(dl_test_scratch("big") == 0);
    /* 4 pages of 60 lines of 8 words each */
    for (int i = 0; i < 4; i++) {
        tpdf_page *pg = tpdf_add_page(&doc, 612, 792);
        for (int l = 0; l < 60; l++) {
            char line[128];
            snprintf(line, sizeof line, "page %d line %d words of text that make cells here", i + 1,
                     l + 1);
            tpdf_text(pg, 40, 760 - 12.0 * l, 9, line);
        }
    }
    CHECK(tpdf_write(&doc, tp("src.pdf")) == 0);
    const int small = 40, big = 400, tiff_small = 24, tiff_big = 240;
    snprintf(cmd, sizeof cmd,
             "%s pdf %s %d %s && %s pdf %s %d %s && %s tiff %s %d %s 100 && %s tiff %s %d %s 100",
             DL_BIG_DOCUMENT_TOOL, tp("src.pdf"), small, tp("small.pdf"), DL_BIG_DOCUMENT_TOOL,
             tp("src.pdf"), big, tp("big.pdf"), DL_BIG_DOCUMENT_TOOL, tp("src.pdf"), tiff_small,
             tp("small.tif"), DL_BIG_DOCUMENT_TOOL, tp("src.pdf"), tiff_big, tp("big.tif"));
    CHECK_MSG(system(cmd) == 0, "%s", cmd);

    /* PDF: 360 more pages of ~480 word cells each; kept, they would be tens of MB */
    long s_json = detect_rss(tp("small.pdf"), "json", tp("small.json"), small);
    long b_json = detect_rss(tp("big.pdf"), "json", tp("big.json"), big);
    check_growth("pdf json", s_json, b_json, 8 * 1024);
    long s_md = detect_rss(tp("small.pdf"), "markdown", tp("small.md"), small);
    long b_md = detect_rss(tp("big.pdf"), "markdown", tp("big.md"), big);
    check_growth("pdf markdown", s_md, b_md, 8 * 1024);
    /* TIFF: each open handle holds the file (240 G4 pages at 100 dpi: 0.8 MB) and libtiff
     * some bookkeeping per directory; a page image kept would be 2.7 MB */
    long s_tif = detect_rss(tp("small.tif"), "json", tp("small.tif.json"), tiff_small);
    long b_tif = detect_rss(tp("big.tif"), "json", tp("big.tif.json"), tiff_big);
    check_growth("tiff json", s_tif, b_tif, 16 * 1024);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!getenv("DL_TEST_KEEP")) CHECK(system(cmd) == 0);
    return dl_test_finish("test_big_documents");
#endif
}
