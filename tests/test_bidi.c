/*
 * Right-to-left lines in logical order from glyph positions (document/bidi.c). Each case is a
 * line of glyphs as they stand on the page, left to right, and the text a reader reads; the
 * glyphs are handed over in that visual order, in reverse (as producers that write RTL runs
 * in logical order do) and shuffled: the result must not depend on the PDF's drawing order.
 * Covers lam-alef (one glyph, two code points: naive reversal spells "ال"), marks, digit runs
 * and Latin words inside Arabic, Hebrew inside English, and Persian's ZWNJ.
 */
#include "core/utf8.h"
#include "document/bidi.h"
#include "test_util.h"

#define MAXC 256

/* Decode a UTF-8 string into code points; returns the count. */
static size_t cps(const char *s, uint32_t *out) {
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len && n < MAXC;) i += dl_utf8_decode(s + i, len - i, &out[n++]);
    return n;
}

/* glyphs: the line's glyphs left to right, separated by '|' (a glyph of several code points,
 * or a letter with its marks, is one entry); want: the logical text. */
static void check_line(const char *glyphs, const char *want, int rtl_default) {
    /* split into glyphs */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", glyphs);
    const char *g[MAXC];
    size_t ng = 0;
    for (char *t = strtok(buf, "|"); t && ng < MAXC; t = strtok(NULL, "|")) g[ng++] = t;
    for (int variant = 0; variant < 3; variant++) {
        /* the drawing order of the glyphs: visual, reversed, or shuffled */
        size_t draw[MAXC];
        for (size_t i = 0; i < ng; i++) draw[i] = variant == 1 ? ng - 1 - i : i;
        if (variant == 2) {
            unsigned st = 12345;
            for (size_t i = ng; i > 1; i--) {
                st = st * 1664525u + 1013904223u;
                size_t j = (st >> 8) % i, t = draw[i - 1];
                draw[i - 1] = draw[j];
                draw[j] = t;
            }
        }
        dl_bidi_char chars[MAXC];
        size_t n = 0;
        for (size_t k = 0; k < ng; k++) {
            size_t i = draw[k];
            uint32_t c[MAXC];
            size_t m = cps(g[i], c);
            for (size_t j = 0; j < m && n < MAXC; j++, n++) {
                /* glyph i spans [10 i, 10 i + 9]; its further code points have empty boxes at
                 * its end, as MuPDF gives them (marks too) */
                chars[n].c = c[j];
                chars[n].x0 = j == 0 ? 10.0 * (double)i : 10.0 * (double)i + 9;
                chars[n].x1 = 10.0 * (double)i + 9;
            }
        }
        size_t order[MAXC];
        CHECK(dl_bidi_line_order(chars, n, rtl_default, order));
        char got[1024];
        size_t o = 0;
        for (size_t k = 0; k < n; k++) o += dl_utf8_encode(chars[order[k]].c, got + o);
        got[o] = '\0';
        CHECK_MSG(strcmp(got, want) == 0, "variant %d: got '%s', want '%s'", variant, got, want);
    }
}

int main(void) {
    if (!dl_bidi_is_rtl(0x05D0)) return dl_test_skip("test_bidi", "built without FriBidi");
    CHECK(dl_bidi_is_rtl(0x0627) && dl_bidi_is_rtl(0x05E9) && !dl_bidi_is_rtl('a'));
    CHECK(dl_bidi_is_ltr('a') && !dl_bidi_is_ltr('1') && !dl_bidi_is_ltr(0x0627));
    /* Hebrew */
    check_line("ם|ו|ל|ש", "שלום", 0);
    check_line("ם|ל|ו|ע| |ם|ו|ל|ש", "שלום עולם", 0);
    /* lam-alef: one glyph for U+0644 U+0627 */
    check_line("م|لا|س", "سلام", 0);
    check_line("ن|لآ|ا", "الآن", 1);
    /* a digit run inside Arabic stays left to right; the words around it swap */
    check_line("2|0|2|4| |م|ا|ع", "عام 2024", 0);
    check_line("ة|ن|ي|د|م|ل|ا| |ي|ف| |2|0|2|4| |م|ا|ع", "عام 2024 في المدينة", 0);
    /* a Latin word inside Arabic */
    check_line("ل|ي|ل|ح|ت|ل| |D|o|c|l|i|n|g| |ج|م|ا|ن|ر|ب", "برنامج Docling لتحليل", 0);
    /* Hebrew inside English */
    check_line("T|h|e| |w|o|r|d| |ם|ו|ל|ש| |m|e|a|n|s", "The word שלום means", 1);
    /* marks stay on their letter, in the PDF's order */
    check_line("\u05ea|\u05d9|\u05e9\u05b4\u05c1|\u05d0|\u05e8\u05b5|\u05d1\u05b0\u05bc",
               "\u05d1\u05b0\u05bc\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u05d9\u05ea", 0);
    check_line("\u062f\u064c|\u0645\u064e\u0651|\u062d\u064e|\u0645\u064f",
               "\u0645\u064f\u062d\u064e\u0645\u064e\u0651\u062f\u064c", 0);
    /* Persian: ZWNJ (U+200C, no glyph of its own: an empty box) stays inside its word */
    check_line("\u0645|\u0647|\u0627|\u0648|\u062e|\u06cc\u200c|\u0645",
               "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", 0);
    /* an ambiguous line (LTR ending in RTL = RTL starting with LTR) follows the page */
    check_line("V|e|r|s|i|o|n| |3|.|2| |ל|ש", "Version 3.2 של", 0);
    /* no right-to-left letter: the PDF's order is kept, whatever the positions */
    dl_bidi_char ltr[3] = {{'b', 10, 19}, {'a', 0, 9}, {'c', 20, 29}};
    size_t order[3];
    CHECK(dl_bidi_line_order(ltr, 3, 1, order) && order[0] == 0 && order[1] == 1 && order[2] == 2);
    CHECK(dl_bidi_line_order(NULL, 0, 0, order));
    return dl_test_finish("test_bidi");
}
