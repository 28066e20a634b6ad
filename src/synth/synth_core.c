/* Generator resources and primitives: font files and the word list, FreeType glyph caches,
 * the canvas (with ink tracking for tight boxes), random numbers. */
#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth/synth_internal.h"

/* ---------------------------------------------------------------- random numbers */

uint64_t dl_synth_rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
double dl_synth_rng_unif(rng *r) {
    return (double)(dl_synth_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
int dl_synth_rng_int(rng *r, int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + (int)(dl_synth_rng_next(r) % (uint64_t)(hi - lo + 1));
}
double dl_synth_rng_range(rng *r, double lo, double hi) {
    return lo + (hi - lo) * dl_synth_rng_unif(r);
}
int dl_synth_rng_chance(rng *r, double p) { return dl_synth_rng_unif(r) < p; }
double dl_synth_rng_normal(rng *r) {
    /* sum of 4 uniforms, scaled to unit variance: cheap and deterministic everywhere */
    double s = dl_synth_rng_unif(r) + dl_synth_rng_unif(r) + dl_synth_rng_unif(r) +
               dl_synth_rng_unif(r) - 2.0;
    return s * 1.7320508075688772;
}

uint64_t dl_synth_page_seed(uint64_t seed, uint64_t index) {
    rng r = {seed * 0x632be59bd9b4e019ULL + index};
    dl_synth_rng_next(&r);
    return dl_synth_rng_next(&r);
}

static const char *const label_names[DL_LABEL_COUNT] = {DL_DOCLING_LABELS(DL_LABEL_NAME_)};

const char *dl_synth_label_name(int label) {
    return label >= 0 && label < DL_LABEL_COUNT ? label_names[label] : NULL;
}

/* ---------------------------------------------------------------- resources */

typedef struct family_spec {
    int kind;
    const char *package;          /* the Debian/Ubuntu package with the files */
    const char *files[STYLE_NUM]; /* regular, bold, italic */
} family_spec;

/* The generator's fonts: every face listed here, and only these, so that a seed gives the same
 * page on every machine (it once depended on which fonts a machine happened to have). The
 * packages are those scripts/install-deps.sh installs; a missing face is an error naming it. */
#define DEJAVU "fonts-dejavu-core and fonts-dejavu-extra"
static const family_spec families[] = {
    {FONT_SERIF,
     "fonts-liberation2",
     {"LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSerif-Italic.ttf"}},
    {FONT_SERIF, DEJAVU, {"DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"}},
    {FONT_SERIF,
     "fonts-lmodern",
     {"lmroman10-regular.otf", "lmroman10-bold.otf", "lmroman10-italic.otf"}},
    {FONT_SERIF,
     "fonts-texgyre",
     {"texgyretermes-regular.otf", "texgyretermes-bold.otf", "texgyretermes-italic.otf"}},
    {FONT_SERIF,
     "fonts-texgyre",
     {"texgyrepagella-regular.otf", "texgyrepagella-bold.otf", "texgyrepagella-italic.otf"}},
    {FONT_SERIF,
     "fonts-texgyre",
     {"texgyreschola-regular.otf", "texgyreschola-bold.otf", "texgyreschola-italic.otf"}},
    {FONT_SERIF,
     "fonts-texgyre",
     {"texgyrebonum-regular.otf", "texgyrebonum-bold.otf", "texgyrebonum-italic.otf"}},
    {FONT_SANS,
     "fonts-liberation2",
     {"LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSans-Italic.ttf"}},
    {FONT_SANS, DEJAVU, {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"}},
    {FONT_SANS,
     DEJAVU,
     {"DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf",
      "DejaVuSansCondensed-Oblique.ttf"}},
    {FONT_SANS,
     "fonts-lmodern",
     {"lmsans10-regular.otf", "lmsans10-bold.otf", "lmsans10-oblique.otf"}},
    {FONT_SANS,
     "fonts-texgyre",
     {"texgyreheros-regular.otf", "texgyreheros-bold.otf", "texgyreheros-italic.otf"}},
    {FONT_MONO,
     "fonts-liberation2",
     {"LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf", "LiberationMono-Italic.ttf"}},
    {FONT_MONO,
     DEJAVU,
     {"DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf"}},
    {FONT_MONO, "fonts-lmodern", {"lmmono10-regular.otf", NULL, "lmmono10-italic.otf"}},
    {FONT_MONO,
     "fonts-texgyre",
     {"texgyrecursor-regular.otf", "texgyrecursor-bold.otf", "texgyrecursor-italic.otf"}},
};
#define NUM_FAMILY_SPECS ((int)(sizeof families / sizeof families[0]))
#define MAX_FACES (NUM_FAMILY_SPECS * STYLE_NUM)

int dl_synth_num_font_files(void) {
    int n = 0;
    for (int f = 0; f < NUM_FAMILY_SPECS; f++)
        for (int s = 0; s < STYLE_NUM; s++) n += families[f].files[s] != NULL;
    return n;
}

static const char *const font_dirs[] = {
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/texmf/fonts/opentype/public/lm",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre",
    "/usr/share/texlive/texmf-dist/fonts/opentype/public/lm",
    "/usr/share/texlive/texmf-dist/fonts/opentype/public/tex-gyre",
    "/usr/share/fonts/opentype/lmodern",
    "/usr/share/fonts/opentype/tex-gyre",
};

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

struct dl_synth_resources {
    dl_synth_options opt;
    blob faces[MAX_FACES]; /* family * STYLE_NUM + style; data NULL when missing */
    int kinds_fams[FONT_NUM_KINDS][NUM_FAMILY_SPECS];
    int num_fams[FONT_NUM_KINDS];
    int num_faces;
    char *word_data;
    const char **words;
    int num_words;
};

static int read_file(const char *path, blob *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long n = ftell(f);
    if (n <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    b->data = malloc((size_t)n + 1);
    if (!b->data || fread(b->data, 1, (size_t)n, f) != (size_t)n) {
        free(b->data);
        b->data = NULL;
        fclose(f);
        return -1;
    }
    b->data[n] = 0;
    b->size = (size_t)n;
    fclose(f);
    return 0;
}

static int find_font(const char *user_dir, const char *name, blob *b) {
    char path[1024];
    if (user_dir) { /* only there: the same fonts on every machine that carries the kit */
        snprintf(path, sizeof path, "%s/%s", user_dir, name);
        return read_file(path, b);
    }
    for (size_t i = 0; i < sizeof font_dirs / sizeof font_dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", font_dirs[i], name);
        if (read_file(path, b) == 0) return 0;
    }
    return -1;
}

static const char *const fallback_words[] = {
    "the",       "of",          "and",         "to",          "in",          "is",
    "that",      "for",         "it",          "as",          "was",         "with",
    "be",        "by",          "on",          "not",         "this",        "are",
    "at",        "from",        "have",        "which",       "an",          "were",
    "their",     "has",         "been",        "one",         "more",        "also",
    "other",     "system",      "model",       "data",        "results",     "method",
    "analysis",  "study",       "table",       "figure",      "section",     "value",
    "values",    "time",        "number",      "process",     "between",     "used",
    "using",     "based",       "these",       "each",        "two",         "three",
    "first",     "however",     "shown",       "observed",    "significant", "effect",
    "effects",   "group",       "groups",      "increase",    "sample",      "samples",
    "measured",  "function",    "structure",   "report",      "document",    "layout",
    "page",      "order",       "energy",      "design",      "control",     "general",
    "important", "level",       "performance", "information", "development", "research",
    "approach",  "different",   "high",        "low",         "large",       "small",
    "total",     "average",     "changes",     "conditions",  "patients",    "cells",
    "protein",   "temperature", "water",       "surface",     "network",     "quality",
    "market",    "policy"};

dl_synth_options dl_synth_default_options(void) {
    dl_synth_options o;
    memset(&o, 0, sizeof o);
    o.dpi = 72;
    o.degrade = 0.0;
    return o;
}

static int word_ok(const char *w, size_t n) {
    if (n < 1 || n > 14) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!((c >= 'a' && c <= 'z') || (i == 0 && c >= 'A' && c <= 'Z'))) return 0;
    }
    return 1;
}

dl_synth_resources *dl_synth_resources_load(const dl_synth_options *opt, char *err, size_t n) {
    dl_synth_resources *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    r->opt = opt ? *opt : dl_synth_default_options();
    if (r->opt.dpi <= 0) r->opt.dpi = 72;
    for (int f = 0; f < NUM_FAMILY_SPECS; f++) {
        for (int s = 0; s < STYLE_NUM; s++) {
            const char *file = families[f].files[s];
            if (!file) continue;
            if (find_font(r->opt.fonts, file, &r->faces[f * STYLE_NUM + s]) != 0) {
                if (r->opt.fonts)
                    snprintf(err, n,
                             "font %s not found in %s (the generator needs all of its "
                             "%d fonts, see docs/synthetic-data.md)",
                             file, r->opt.fonts, dl_synth_num_font_files());
                else
                    snprintf(err, n,
                             "font %s not found (install %s: the generator needs all of "
                             "its %d fonts, see docs/synthetic-data.md)",
                             file, families[f].package, dl_synth_num_font_files());
                dl_synth_resources_free(r);
                return NULL;
            }
            r->num_faces++;
        }
        int k = families[f].kind;
        r->kinds_fams[k][r->num_fams[k]++] = f;
    }
    /* word list: letters only, up to 14; the built-in list when there is none */
    blob wb = {NULL, 0};
    const char *wpath = r->opt.words ? r->opt.words : "/usr/share/dict/words";
    if (read_file(wpath, &wb) == 0) {
        size_t count = 0;
        for (size_t i = 0; i < wb.size; i++) count += wb.data[i] == '\n';
        r->words = malloc((count + 1) * sizeof *r->words);
        if (!r->words) {
            free(wb.data);
            snprintf(err, n, "out of memory");
            dl_synth_resources_free(r);
            return NULL;
        }
        r->word_data = (char *)wb.data;
        char *s = r->word_data;
        while (*s) {
            char *e = strchr(s, '\n');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (e) *e = '\0';
            if (len && s[len - 1] == '\r') s[--len] = '\0';
            if (word_ok(s, len)) r->words[r->num_words++] = s;
            if (!e) break;
            s = e + 1;
        }
    }
    if (r->num_words < 100) {
        free(r->words);
        free(r->word_data);
        r->word_data = NULL;
        r->num_words = (int)(sizeof fallback_words / sizeof fallback_words[0]);
        r->words = malloc((size_t)r->num_words * sizeof *r->words);
        if (!r->words) {
            snprintf(err, n, "out of memory");
            dl_synth_resources_free(r);
            return NULL;
        }
        for (int i = 0; i < r->num_words; i++) r->words[i] = fallback_words[i];
    }
    return r;
}

void dl_synth_resources_free(dl_synth_resources *r) {
    if (!r) return;
    for (int i = 0; i < MAX_FACES; i++) free(r->faces[i].data);
    free(r->words);
    free(r->word_data);
    free(r);
}

int dl_synth_num_fonts(const dl_synth_resources *r) { return r ? r->num_faces : 0; }

/* ---------------------------------------------------------------- per-thread generator */

#define NUM_EXTRA 40
static const uint32_t extra_cps[NUM_EXTRA] = {
    0x2022, 0x2013, 0x2014, 0x00B1, 0x00D7, 0x2264, 0x2265, 0x03B1, 0x03B2, 0x03B3,
    0x03B4, 0x03B5, 0x03B8, 0x03BB, 0x03BC, 0x03C0, 0x03C3, 0x03A3, 0x2211, 0x222B,
    0x221A, 0x221E, 0x2202, 0x00B7, 0x2019, 0x201C, 0x201D, 0x00A9, 0x00B0, 0x2192,
    0x2190, 0x2208, 0x2248, 0x2260, 0x2026, 0x25A0, 0x25CF, 0x25E6, 0x2212, 0x03C9};
#define NUM_GLYPHS (96 + NUM_EXTRA)

typedef struct glyph {
    uint8_t loaded, has;
    int16_t left, top, w, h;
    int32_t adv; /* 26.6 */
    uint8_t *bmp;
} glyph;

typedef struct sized {
    int face, px; /* face -1: empty slot */
    int asc, desc;
    glyph g[NUM_GLYPHS];
} sized;

#define CACHE_SLOTS 64

struct dl_synth {
    const dl_synth_resources *res;
    FT_Library lib;
    FT_Face ft[MAX_FACES];
    int ft_px[MAX_FACES];
    sized *cache[CACHE_SLOTS];
    int cache_used;
};

dl_synth *dl_synth_create(const dl_synth_resources *r, char *err, size_t n) {
    dl_synth *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    g->res = r;
    if (FT_Init_FreeType(&g->lib) != 0) {
        snprintf(err, n, "FreeType initialisation failed");
        free(g);
        return NULL;
    }
    return g;
}

static void cache_flush(dl_synth *g) {
    for (int i = 0; i < g->cache_used; i++) {
        for (int k = 0; k < NUM_GLYPHS; k++) free(g->cache[i]->g[k].bmp);
        free(g->cache[i]);
        g->cache[i] = NULL;
    }
    g->cache_used = 0;
}

void dl_synth_free(dl_synth *g) {
    if (!g) return;
    cache_flush(g);
    for (int i = 0; i < MAX_FACES; i++)
        if (g->ft[i]) FT_Done_Face(g->ft[i]);
    FT_Done_FreeType(g->lib);
    free(g);
}

const dl_synth_options *dl_synth_get_options(const dl_synth *g) { return &g->res->opt; }

int dl_synth_font_num_families(const dl_synth *g, int kind) { return g->res->num_fams[kind]; }

int dl_synth_font_face(const dl_synth *g, int kind, int family, int style) {
    const dl_synth_resources *r = g->res;
    int k = kind;
    if (r->num_fams[k] == 0) {
        for (k = 0; k < FONT_NUM_KINDS && r->num_fams[k] == 0; k++) {
        }
    }
    if (family < 0) family = -family;
    int f = r->kinds_fams[k][family % r->num_fams[k]];
    if (r->faces[f * STYLE_NUM + style].data) return f * STYLE_NUM + style;
    return f * STYLE_NUM;
}

static FT_Face get_face(dl_synth *g, int face, int px) {
    if (!g->ft[face]) {
        const blob *b = &g->res->faces[face];
        if (FT_New_Memory_Face(g->lib, b->data, (FT_Long)b->size, 0, &g->ft[face]) != 0) {
            g->ft[face] = NULL;
            return NULL;
        }
        g->ft_px[face] = 0;
    }
    if (g->ft_px[face] != px) {
        FT_Set_Pixel_Sizes(g->ft[face], 0, (FT_UInt)px);
        g->ft_px[face] = px;
    }
    return g->ft[face];
}

static sized *get_sized(dl_synth *g, font f) {
    for (int i = 0; i < g->cache_used; i++)
        if (g->cache[i]->face == f.face && g->cache[i]->px == f.px) return g->cache[i];
    if (g->cache_used == CACHE_SLOTS) cache_flush(g);
    sized *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->face = f.face;
    s->px = f.px;
    FT_Face ft = get_face(g, f.face, f.px);
    if (ft) {
        s->asc = (int)((ft->size->metrics.ascender + 63) >> 6);
        s->desc = (int)((-ft->size->metrics.descender + 63) >> 6);
    } else {
        s->asc = f.px * 3 / 4;
        s->desc = f.px / 4;
    }
    g->cache[g->cache_used++] = s;
    return s;
}

static int glyph_index(uint32_t cp) {
    if (cp >= 32 && cp < 128) return (int)cp - 32;
    for (int i = 0; i < NUM_EXTRA; i++)
        if (extra_cps[i] == cp) return 96 + i;
    return -1;
}

static glyph *get_glyph(dl_synth *g, sized *s, uint32_t cp) {
    int gi = glyph_index(cp);
    if (gi < 0) gi = '?' - 32;
    glyph *gl = &s->g[gi];
    if (gl->loaded) return gl;
    gl->loaded = 1;
    FT_Face ft = get_face(g, s->face, s->px);
    if (!ft) return gl;
    FT_UInt idx = FT_Get_Char_Index(ft, cp);
    if (idx == 0 && cp != ' ') return gl;
    if (FT_Load_Glyph(ft, idx, FT_LOAD_DEFAULT) != 0) return gl;
    if (FT_Render_Glyph(ft->glyph, FT_RENDER_MODE_NORMAL) != 0) return gl;
    FT_Bitmap *bm = &ft->glyph->bitmap;
    gl->has = 1;
    gl->adv = (int32_t)ft->glyph->advance.x;
    gl->left = (int16_t)ft->glyph->bitmap_left;
    gl->top = (int16_t)ft->glyph->bitmap_top;
    gl->w = (int16_t)bm->width;
    gl->h = (int16_t)bm->rows;
    if (gl->w > 0 && gl->h > 0) {
        gl->bmp = malloc((size_t)gl->w * (size_t)gl->h);
        if (!gl->bmp) {
            gl->w = gl->h = 0;
            return gl;
        }
        for (int y = 0; y < gl->h; y++)
            memcpy(gl->bmp + (size_t)y * (size_t)gl->w, bm->buffer + (long)y * bm->pitch,
                   (size_t)gl->w);
    }
    return gl;
}

static uint32_t utf8_next(const char **ps) {
    const unsigned char *s = (const unsigned char *)*ps;
    uint32_t c = s[0];
    int n = 0;
    if (c < 0x80) n = 0;
    else if ((c & 0xE0) == 0xC0) c &= 0x1F, n = 1;
    else if ((c & 0xF0) == 0xE0) c &= 0x0F, n = 2;
    else if ((c & 0xF8) == 0xF0) c &= 0x07, n = 3;
    else c = '?';
    s++;
    for (int i = 0; i < n && (*s & 0xC0) == 0x80; i++, s++) c = (c << 6) | (*s & 0x3F);
    *ps = (const char *)s;
    return c;
}

int dl_synth_font_has(dl_synth *g, font f, uint32_t cp) {
    sized *s = get_sized(g, f);
    if (!s || glyph_index(cp) < 0) return 0;
    return get_glyph(g, s, cp)->has;
}

int dl_synth_font_ascent(dl_synth *g, font f) {
    sized *s = get_sized(g, f);
    return s ? s->asc : f.px;
}

int dl_synth_font_descent(dl_synth *g, font f) {
    sized *s = get_sized(g, f);
    return s ? s->desc : 0;
}

int dl_synth_text_width(dl_synth *g, font f, const char *str) {
    sized *s = get_sized(g, f);
    if (!s) return 0;
    int32_t pen = 0;
    while (*str) {
        glyph *gl = get_glyph(g, s, utf8_next(&str));
        pen += gl->adv;
    }
    return (int)((pen + 32) >> 6);
}

/* ---------------------------------------------------------------- canvas */

void dl_synth_ink_begin(canvas *c) {
    c->ink_x0 = c->w;
    c->ink_y0 = c->h;
    c->ink_x1 = 0;
    c->ink_y1 = 0;
}

int dl_synth_ink_box(const canvas *c, int *x0, int *y0, int *x1, int *y1) {
    if (c->ink_x1 <= c->ink_x0 || c->ink_y1 <= c->ink_y0) return 0;
    *x0 = c->ink_x0;
    *y0 = c->ink_y0;
    *x1 = c->ink_x1;
    *y1 = c->ink_y1;
    return 1;
}

static void ink_mark(canvas *c, int x0, int y0, int x1, int y1) {
    if (x0 < c->ink_x0) c->ink_x0 = x0;
    if (y0 < c->ink_y0) c->ink_y0 = y0;
    if (x1 > c->ink_x1) c->ink_x1 = x1;
    if (y1 > c->ink_y1) c->ink_y1 = y1;
}

static inline void blend(uint8_t *p, rgb col, int a) {
    p[0] = (uint8_t)((p[0] * (255 - a) + col.r * a + 127) / 255);
    p[1] = (uint8_t)((p[1] * (255 - a) + col.g * a + 127) / 255);
    p[2] = (uint8_t)((p[2] * (255 - a) + col.b * a + 127) / 255);
}

void dl_synth_fill_rect(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    if (x1 <= x0 || y1 <= y0) return;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x0) * 3;
        for (int x = x0; x < x1; x++, p += 3) {
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
    ink_mark(c, x0, y0, x1, y1);
}

void dl_synth_stroke_rect(canvas *c, int x0, int y0, int x1, int y1, int t, rgb col) {
    dl_synth_fill_rect(c, x0, y0, x1, y0 + t, col);
    dl_synth_fill_rect(c, x0, y1 - t, x1, y1, col);
    dl_synth_fill_rect(c, x0, y0, x0 + t, y1, col);
    dl_synth_fill_rect(c, x1 - t, y0, x1, y1, col);
}

void dl_synth_fill_circle(canvas *c, double cx, double cy, double rad, rgb col) {
    int x0 = (int)floor(cx - rad - 1), x1 = (int)ceil(cx + rad + 1);
    int y0 = (int)floor(cy - rad - 1), y1 = (int)ceil(cy + rad + 1);
    int mx0 = c->w, my0 = c->h, mx1 = 0, my1 = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) {
            double d = sqrt((x + 0.5 - cx) * (x + 0.5 - cx) + (y + 0.5 - cy) * (y + 0.5 - cy));
            double a = rad + 0.5 - d;
            if (a <= 0) continue;
            if (a > 1) a = 1;
            blend(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, col, (int)(a * 255));
            if (x < mx0) mx0 = x;
            if (y < my0) my0 = y;
            if (x + 1 > mx1) mx1 = x + 1;
            if (y + 1 > my1) my1 = y + 1;
        }
    if (mx1 > mx0) ink_mark(c, mx0, my0, mx1, my1);
}

void dl_synth_draw_line(canvas *c, double x0, double y0, double x1, double y1, double thick,
                        rgb col) {
    if (fabs(y1 - y0) < 1e-9 || fabs(x1 - x0) < 1e-9) {
        int t = thick < 1 ? 1 : (int)(thick + 0.5);
        int ax = (int)floor(fmin(x0, x1)),
            bx = (int)floor(fmax(x0, x1)) + (fabs(x1 - x0) < 1e-9 ? t : 0);
        int ay = (int)floor(fmin(y0, y1)),
            by = (int)floor(fmax(y0, y1)) + (fabs(y1 - y0) < 1e-9 ? t : 0);
        if (fabs(x1 - x0) < 1e-9) ax -= t / 2, bx -= t / 2;
        else ay -= t / 2, by -= t / 2;
        dl_synth_fill_rect(c, ax, ay, bx, by, col);
        return;
    }
    double len = hypot(x1 - x0, y1 - y0);
    int steps = (int)(len * 2) + 1;
    double r = thick * 0.5;
    if (r < 0.5) r = 0.5;
    for (int i = 0; i <= steps; i++) {
        double t = (double)i / steps;
        double x = x0 + (x1 - x0) * t, y = y0 + (y1 - y0) * t;
        int ax = (int)floor(x - r + 0.5), ay = (int)floor(y - r + 0.5);
        int w = (int)(2 * r + 0.5);
        if (w < 1) w = 1;
        dl_synth_fill_rect(c, ax, ay, ax + w, ay + w, col);
    }
}

int dl_synth_draw_text(dl_synth *g, canvas *c, font f, int x, int baseline, const char *str,
                       rgb col) {
    sized *s = get_sized(g, f);
    if (!s) return 0;
    int32_t pen = 0;
    while (*str) {
        glyph *gl = get_glyph(g, s, utf8_next(&str));
        if (gl->bmp) {
            int gx = x + (int)((pen + 32) >> 6) + gl->left, gy = baseline - gl->top;
            int mx0 = c->w, my0 = c->h, mx1 = 0, my1 = 0;
            for (int yy = 0; yy < gl->h; yy++) {
                int py = gy + yy;
                if (py < 0 || py >= c->h) continue;
                const uint8_t *row = gl->bmp + (size_t)yy * (size_t)gl->w;
                for (int xx = 0; xx < gl->w; xx++) {
                    int a = row[xx], px = gx + xx;
                    if (!a || px < 0 || px >= c->w) continue;
                    blend(c->px + ((size_t)py * (size_t)c->w + (size_t)px) * 3, col, a);
                    if (px < mx0) mx0 = px;
                    if (px + 1 > mx1) mx1 = px + 1;
                    if (py < my0) my0 = py;
                    if (py + 1 > my1) my1 = py + 1;
                }
            }
            if (mx1 > mx0) ink_mark(c, mx0, my0, mx1, my1);
        }
        pen += gl->adv;
    }
    return (int)((pen + 32) >> 6);
}

/* ---------------------------------------------------------------- words */

const char *dl_synth_word_any(dl_synth *g, rng *r) {
    const dl_synth_resources *res = g->res;
    return res->words[dl_synth_rng_next(r) % (uint64_t)res->num_words];
}
