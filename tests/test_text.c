/*
 * The text doclayout writes. Hand-made PDFs whose fonts' ToUnicode maps say what broken real
 * PDFs say (lone surrogates, NUL, a valid surrogate pair, one code to several code points):
 * the page's cells hold valid UTF-8 with U+FFFD where the map was not text. Then the CLI in
 * every format (json, coco, docling, markdown) on those PDFs and on a real PDF from Debian
 * (fonts-lmodern's lm-info.pdf, whose fonts map a glyph to U+D800): every output is strict
 * UTF-8 and the JSON ones are one complete JSON value; DoclingDocument's charspan counts
 * characters (code points), as Docling's Python str does.
 */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "document/document.h"
#include "pdf_writer.h"
#include "test_json.h"
#include "test_text_check.h"
#include "test_util.h"

static char tmp[256];

static const char *tp(const char *name) {
    static char buf[8][600];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 600, "%s/%s", tmp, name);
    return b;
}

static int in_ci(void) {
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

/* All cells of page 1 of `path`, joined by "|". malloc'd; NULL on failure (reported). */
static char *page_text(const char *path, dl_cell_mode mode) {
    dl_doc *d = NULL;
    dl_error err;
    dl_pdf_page pg;
    if (dl_doc_open(path, NULL, &d, &err) != DL_OK) {
        CHECK_MSG(0, "%s", err.message);
        return NULL;
    }
    char *out = NULL;
    if (dl_doc_load_page(d, 0, 72, mode, &pg, &err) == DL_OK) {
        size_t len = 1;
        for (size_t i = 0; i < pg.cells.n; i++) len += strlen(pg.cells.items[i].text) + 1;
        out = calloc(1, len);
        for (size_t i = 0; out && i < pg.cells.n; i++) {
            if (i) strcat(out, "|");
            strcat(out, pg.cells.items[i].text);
        }
        dl_pdf_page_clear(&pg);
    } else {
        CHECK_MSG(0, "%s", err.message);
    }
    dl_doc_close(d);
    return out;
}

/* Run the CLI on `pdf` in every format; check each output strictly. For docling, also that
 * every text's charspan is [0, its length in code points]. Returns the number of texts seen. */
static int all_formats(const char *pdf, const char *tag) {
    static const char *const fmt[] = {"json", "coco", "docling", "markdown"};
    static const char *const ext[] = {"json", "coco.json", "docling.json", "md"};
    int texts = 0;
    for (int f = 0; f < 4; f++) {
        char out[600], cmd[2048], log[1 << 14];
        snprintf(out, sizeof out, "%s/%s.%s", tmp, tag, ext[f]);
        snprintf(cmd, sizeof cmd, "%s detect --model %s/models/default --format %s %s -o %s %s",
                 DL_CLI_PATH, DL_SOURCE_DIR, fmt[f], f == 1 ? "--coco-images" : "", out, pdf);
        int rc = dl_test_run(cmd, log, sizeof log);
        CHECK_MSG(rc == 0, "%s: exit %d\n%s", cmd, rc, log);
        CHECK_MSG(dl_test_check_text_file(out, f != 3), "%s --format %s", tag, fmt[f]);
        if (f != 2) continue;
        cJSON *doc = dl_test_load_json(out), *t;
        CHECK(doc != NULL);
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(doc, "texts")) {
            const char *s = cJSON_GetObjectItem(t, "text")->valuestring;
            size_t chars = 0;
            for (const char *c = s; *c; c++) chars += ((unsigned char)*c & 0xC0) != 0x80;
            cJSON *span = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "prov"), 0),
                                              "charspan");
            CHECK_MSG(cJSON_GetArrayItem(span, 0)->valuedouble == 0 &&
                          cJSON_GetArrayItem(span, 1)->valuedouble == (double)chars,
                      "%s: charspan end %g for %zu characters (%s)", tag,
                      cJSON_GetArrayItem(span, 1)->valuedouble, chars, s);
            texts++;
        }
        cJSON_Delete(doc);
    }
    return texts;
}

static void broken_tounicode(void) {
    /* codes A..F of Helvetica mapped to: a lone high surrogate, a lone low surrogate, NUL, a
     * valid pair (U+1F600), 'e' + a combining acute, and a reversed pair (low then high) */
    tpdf doc = {0};
    doc.tounicode = "<41> <D800>\n<42> <DC00>\n<43> <0000>\n<44> <D83DDE00>\n<45> <00650301>\n"
                    "<46> <DE00D83D>\n<47> <0067>\n";
    tpdf_page *p = tpdf_add_page(&doc, 300, 200);
    tpdf_text(p, 20, 150, 12, "GAGBGCG");
    tpdf_text(p, 20, 120, 12, "DE");
    tpdf_text(p, 20, 90, 12, "GFG");
    CHECK(tpdf_write(&doc, tp("broken.pdf")) == 0);
    char *t = page_text(tp("broken.pdf"), DL_CELLS_LINES);
    CHECK(t && dl_test_strict_utf8(t, strlen(t), NULL));
    const char *want = "g\xEF\xBF\xBDg\xEF\xBF\xBDg\xEF\xBF\xBDg|\xF0\x9F\x98\x80"
                       "e\xCC\x81|"
                       "g\xEF\xBF\xBD\xEF\xBF\xBDg";
    CHECK_MSG(t && strcmp(t, want) == 0, "cells: %s", t ? t : "(none)");
    free(t);
    all_formats(tp("broken.pdf"), "broken");
}

static void real_pdf(void) {
    const char *lm = "/usr/share/doc/fonts-lmodern/lm-info.pdf";
    if (!dl_path_exists(lm)) {
        /* fonts-lmodern is in scripts/install-deps.sh: CI must have it */
        CHECK_MSG(!in_ci(), "%s is missing (apt-get install fonts-lmodern)", lm);
        printf("test_text: %s absent, its part skipped\n", lm);
        return;
    }
    int texts = all_formats(lm, "lm-info");
    CHECK_MSG(texts > 100, "lm-info.pdf gave %d texts", texts);
}

int main(void) {
    if (!dl_pdf_available()) return dl_test_skip("test_text", "built without MuPDF");
    snprintf(tmp, sizeof tmp, "/tmp/doclayout_text_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp, tmp);
    CHECK(system(cmd) == 0);
    broken_tounicode();
    real_pdf();
    int rc = dl_test_finish("test_text");
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    return rc;
}
