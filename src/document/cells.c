#include "document/cells.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

int dl_cells_push(dl_cells *c, dl_box box, const char *text, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        dl_cell *p = realloc(c->items, cap * sizeof *p);
        if (!p) return 0;
        c->items = p;
        c->cap = cap;
    }
    /* cells hold valid UTF-8 whichever reader made them */
    char *t;
    if (dl_utf8_valid(text, len) && !memchr(text, 0, len)) {
        t = malloc(len + 1);
        if (!t) return 0;
        memcpy(t, text, len);
        t[len] = '\0';
    } else if (!(t = dl_utf8_sanitize(text, len, NULL))) {
        return 0;
    }
    dl_cell *cell = &c->items[c->n];
    cell->index = (int)c->n;
    cell->box = box;
    cell->text = t;
    cell->confidence = 1.0f;
    cell->from_ocr = 0;
    c->n++;
    return 1;
}

void dl_cells_free(dl_cells *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->items[i].text);
    free(c->items);
    memset(c, 0, sizeof *c);
}
