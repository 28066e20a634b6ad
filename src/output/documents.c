#include "output/documents.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *dl_region_text(const dl_region *r, const dl_cells *cells) {
    size_t len = 1;
    for (size_t i = 0; cells && i < r->n_cells; i++)
        len += strlen(cells->items[r->cells[i]].text) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    *p = '\0';
    for (size_t i = 0; cells && i < r->n_cells; i++) {
        const char *t = cells->items[r->cells[i]].text;
        if (!*t) continue;
        if (p > s) {
            /* "exam-" + "ple" -> "example"; otherwise a space */
            if (p - s >= 2 && p[-1] == '-' && p[-2] >= 'a' && p[-2] <= 'z' && t[0] >= 'a' &&
                t[0] <= 'z')
                p--;
            else *p++ = ' ';
        }
        size_t k = strlen(t);
        memcpy(p, t, k);
        p += k;
    }
    *p = '\0';
    return s;
}
