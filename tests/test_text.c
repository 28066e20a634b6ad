/*
 * The text doclayout writes. Hand-made PDFs whose fonts' ToUnicode maps say what broken real
 * PDFs say (lone surrogates, NUL, a valid surrogate pair, one code to several code points):
 * the page's cells hold valid UTF-8 with U+FFFD where the map was not text. Then the CLI in
 * every format (json, coco, docling, markdown) on those PDFs and on a real PDF from Debian
 * (fonts-lmodern's lm-info.pdf, whose fonts map a glyph to U+D800): every output is strict
 * UTF-8 and the JSON ones are one complete JSON value; DoclingDocument's charspan counts
 * characters (code points), as Docling's Python str does.
 *
 * And the text fixtures (tests/fixtures/text, made by tools/make_text_fixtures.py with
 * Pango/cairo and DejaVu Sans): Arabic (lam-alef, harakat, a digit run, a Latin word), Hebrew
 * (niqqud, a number, a Latin word), Persian, mixed-direction lines and Latin ligatures. Each
 * page's lines must be the lines of the text it was made from, in logical order, and, the
 * issue's measure, >= 90% of the words and of consecutive word pairs must be found.
 */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "core/utf8.h"
#include "document/document.h"
#include "pdf_writer.h"
#include "test_json.h"
#include "test_scratch.h"
#include "test_text_check.h"
#include "test_util.h"

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

/* ---- right-to-left, mixed-direction and ligature fixtures (tools/make_text_fixtures.py) ---- */

/* Combining marks the fixtures use (Latin, Hebrew points, Arabic harakat). */
static int is_mark(uint32_t c) {
    return (c >= 0x300 && c <= 0x36F) ||
           (c >= 0x591 && c <= 0x5C7 && c != 0x5BE && c != 0x5C0 && c != 0x5C3 && c != 0x5C6) ||
           (c >= 0x610 && c <= 0x61A) || (c >= 0x64B && c <= 0x65F) || c == 0x670;
}

/* Text as compared: the marks on one letter sorted (HarfBuzz draws them in its own order, which
 * is canonically equivalent), and ZWNJ/ZWJ dropped (they have no glyph, so no PDF holds them).
 * In place. */
static void comparable(char *s) {
    uint32_t cp[4096];
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len && n < 4096;) {
        uint32_t c;
        i += dl_utf8_decode(s + i, len - i, &c);
        if (c != 0x200C && c != 0x200D) cp[n++] = c;
    }
    for (size_t i = 0; i < n; i++) /* insertion sort inside each run of marks */
        for (size_t j = i; j > 0 && is_mark(cp[j]) && is_mark(cp[j - 1]) && cp[j] < cp[j - 1];
             j--) {
            uint32_t t = cp[j];
            cp[j] = cp[j - 1];
            cp[j - 1] = t;
        }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += dl_utf8_encode(cp[i], s + o);
    s[o] = '\0';
}

/* Split s at `sep` into at most max pieces (in place); returns the count. */
static int split(char *s, const char *sep, char **out, int max) {
    int n = 0;
    for (char *t = strtok(s, sep); t && n < max; t = strtok(NULL, sep)) out[n++] = t;
    return n;
}

/* The measure: the share of the expected words found among ours, and of the
 * expected consecutive word pairs among our consecutive pairs. */
static void word_scores(char **want, int nw, char **got, int ng, double *words, double *pairs) {
    int found = 0, found_pairs = 0;
    for (int i = 0; i < nw; i++) {
        int hit = 0;
        for (int j = 0; j < ng && !hit; j++) hit = strcmp(want[i], got[j]) == 0;
        found += hit;
        if (i + 1 < nw) {
            hit = 0;
            for (int j = 0; j + 1 < ng && !hit; j++)
                hit = strcmp(want[i], got[j]) == 0 && strcmp(want[i + 1], got[j + 1]) == 0;
            found_pairs += hit;
        }
    }
    *words = nw ? (double)found / nw : 1;
    *pairs = nw > 1 ? (double)found_pairs / (nw - 1) : 1;
}

static void fixture(const char *name) {
    char pdf[600], txt[600];
    snprintf(pdf, sizeof pdf, "%s/tests/fixtures/text/%s.pdf", DL_SOURCE_DIR, name);
    snprintf(txt, sizeof txt, "%s/tests/fixtures/text/%s.txt", DL_SOURCE_DIR, name);
    static char want[1 << 14], got[1 << 14], want_w[1 << 14], got_w[1 << 14];
    FILE *f = fopen(txt, "rb");
    size_t n = f ? fread(want, 1, sizeof want - 1, f) : 0;
    if (f) fclose(f);
    want[n] = '\0';
    CHECK_MSG(n > 0, "%s: cannot read", txt);
    comparable(want);
    char *lines = page_text(pdf, DL_CELLS_LINES);
    if (!lines) return;
    snprintf(got, sizeof got, "%s", lines);
    free(lines);
    CHECK(dl_test_strict_utf8(got, strlen(got), NULL));
    comparable(got);
    /* line by line: the page's lines are the text's lines, in logical order */
    memcpy(want_w, want, sizeof want);
    memcpy(got_w, got, sizeof got);
    char *wl[64], *gl[64];
    int nwl = split(want_w, "\n", wl, 64), ngl = split(got_w, "|", gl, 64);
    CHECK_MSG(nwl == ngl, "%s: %d lines, want %d", name, ngl, nwl);
    for (int i = 0; i < nwl && i < ngl; i++)
        CHECK_MSG(strcmp(wl[i], gl[i]) == 0, "%s line %d:\n  got  '%s'\n  want '%s'", name, i + 1,
                  gl[i], wl[i]);
    /* words and word pairs, the target (>= 90%) */
    char *ww[1024], *gw[1024];
    int nww = split(want, " \n", ww, 1024), ngw = split(got, " |", gw, 1024);
    double words, pairs;
    word_scores(ww, nww, gw, ngw, &words, &pairs);
    printf("test_text: %s: %.0f%% of the words, %.0f%% of the word pairs\n", name, 100 * words,
           100 * pairs);
    CHECK_MSG(words >= 0.9 && pairs >= 0.9, "%s: words %.2f, pairs %.2f", name, words, pairs);
    all_formats(pdf, name);
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
    CHECK(dl_test_scratch("text") == 0);
    char cmd[600];
    broken_tounicode();
    static const char *const fixtures[] = {"arabic", "hebrew", "persian", "mixed", "ligatures"};
    for (int i = 0; i < 5; i++) fixture(fixtures[i]);
    real_pdf();
    int rc = dl_test_finish("test_text");
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    return rc;
}
