#include "document/bidi.h"

#include <stdlib.h>

#ifndef DL_HAVE_FRIBIDI

int dl_bidi_is_rtl(uint32_t c) { return 0; }
int dl_bidi_is_ltr(uint32_t c) { return 0; }
int dl_bidi_line_order(const dl_bidi_char *chars, size_t n, int rtl_default, size_t *order) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    return 1;
}

#else

#include <fribidi.h>

int dl_bidi_is_rtl(uint32_t c) {
    FriBidiCharType t = fribidi_get_bidi_type(c);
    return t == FRIBIDI_TYPE_RTL || t == FRIBIDI_TYPE_AL;
}

int dl_bidi_is_ltr(uint32_t c) { return fribidi_get_bidi_type(c) == FRIBIDI_TYPE_LTR; }

/* A glyph: chars[first .. first+count) of the line, placed at x (its centre). */
typedef struct unit {
    size_t first, count;
    double x;
} unit;

static int by_x(const void *a, const void *b) {
    const unit *u = a, *v = b;
    if (u->x != v->x) return u->x < v->x ? -1 : 1;
    return u->first < v->first ? -1 : u->first > v->first; /* stable: the PDF's order */
}

int dl_bidi_line_order(const dl_bidi_char *chars, size_t n, int rtl_default, size_t *order) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    int any_rtl = 0;
    for (size_t i = 0; i < n && !any_rtl; i++) any_rtl = dl_bidi_is_rtl(chars[i].c);
    if (!any_rtl || n < 2 || n > (size_t)INT32_MAX) return 1;

    unit *units = malloc(n * sizeof *units);
    FriBidiCharType *types = malloc(n * sizeof *types);
    FriBidiLevel *levels = malloc(n * sizeof *levels);
    FriBidiStrIndex *map = malloc(n * sizeof *map);
    int ok = units && types && levels && map;
    size_t nu = 0;
    for (size_t i = 0; ok && i < n; i++) {
        /* a mark, or an empty box right after a character, belongs to the glyph before it */
        int joins = nu > 0 && (fribidi_get_bidi_type(chars[i].c) == FRIBIDI_TYPE_NSM ||
                               chars[i].x1 - chars[i].x0 <= 1e-3);
        if (joins) {
            units[nu - 1].count++;
            continue;
        }
        units[nu].first = i;
        units[nu].count = 1;
        units[nu].x = 0.5 * (chars[i].x0 + chars[i].x1);
        nu++;
    }
    if (ok) {
        qsort(units, nu, sizeof *units, by_x); /* now in visual order, left to right */
        /* the paragraph direction: P2 read from either visual end; where the ends disagree
         * (an LTR line ending in an RTL run looks exactly like an RTL line starting with an
         * LTR run) the page decides */
        int left = 0, right = 0;
        for (size_t k = 0; k < nu && !left; k++) {
            uint32_t c = chars[units[k].first].c;
            left = dl_bidi_is_rtl(c) ? 2 : dl_bidi_is_ltr(c) ? 1 : 0;
        }
        for (size_t k = nu; k-- > 0 && !right;) {
            uint32_t c = chars[units[k].first].c;
            right = dl_bidi_is_rtl(c) ? 2 : dl_bidi_is_ltr(c) ? 1 : 0;
        }
        int rtl = left == 2 && right == 2 ? 1 : left == 1 && right == 1 ? 0 : rtl_default;
        for (size_t k = 0; k < nu; k++) types[k] = fribidi_get_bidi_type(chars[units[k].first].c);
        FriBidiParType dir = rtl ? FRIBIDI_PAR_RTL : FRIBIDI_PAR_LTR;
        ok =
            fribidi_get_par_embedding_levels_ex(types, NULL, (FriBidiStrIndex)nu, &dir, levels) > 0;
        for (size_t k = 0; ok && k < nu; k++) map[k] = (FriBidiStrIndex)k;
        /* rule L2 on the visual sequence gives back the logical one */
        if (ok)
            ok = fribidi_reorder_line(0, types, (FriBidiStrIndex)nu, 0, dir, levels, NULL, map) > 0;
    }
    if (ok) {
        size_t o = 0;
        for (size_t k = 0; k < nu; k++) {
            const unit *u = &units[map[k]];
            for (size_t j = 0; j < u->count; j++) order[o++] = u->first + j;
        }
    }
    free(units);
    free(types);
    free(levels);
    free(map);
    if (!ok)
        for (size_t i = 0; i < n; i++) order[i] = i;
    return ok;
}

#endif
