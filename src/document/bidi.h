/*
 * Right-to-left text in logical order. A PDF places glyphs; it need not draw them in reading
 * order (producers write right-to-left runs reversed, or runs in visual order with each run in
 * logical order, ...). So a line that holds right-to-left letters is ordered from the glyphs'
 * positions: its glyphs sorted left to right give the visual order, and the Unicode
 * bidirectional algorithm (FriBidi: levels, then rule L2's reversals, which undo themselves)
 * turns that into logical order, the order Docling and readers give. One glyph that maps to
 * several code points (lam-alef: U+0644 U+0627) and combining marks stay with their glyph, in
 * the order the PDF gave them. Lines without right-to-left letters keep MuPDF's order.
 */
#ifndef DL_DOCUMENT_BIDI_H
#define DL_DOCUMENT_BIDI_H

#include <stddef.h>
#include <stdint.h>

/* One character of a line, in the order the PDF gave it, with its glyph's extent along x. A
 * character of zero width right after another continues that glyph (MuPDF gives the first code
 * point of a multi-code-point glyph the glyph's box and the rest an empty one). */
typedef struct dl_bidi_char {
    uint32_t c;
    double x0, x1;
} dl_bidi_char;

/* 1 for a strong right-to-left letter (Hebrew, Arabic, Syriac, Thaana, N'Ko, ...), 1 for a
 * strong left-to-right one in dl_bidi_is_ltr. Both 0 without FriBidi. */
int dl_bidi_is_rtl(uint32_t c);
int dl_bidi_is_ltr(uint32_t c);

/* The logical order of one line: order[k] = the index in `chars` of the k-th character in
 * reading order. A line with no right-to-left letter keeps its order. The paragraph direction
 * is read from the line's visual ends (its leftmost and rightmost strong letters); when they
 * disagree, `rtl_default` decides (the page's dominant direction). Returns 0 when out of
 * memory (order then holds 0..n-1). */
int dl_bidi_line_order(const dl_bidi_char *chars, size_t n, int rtl_default, size_t *order);

#endif
