/* Page composition: layouts (article, report, manual, form, table of contents, slide) built
 * from elements (paragraphs, headers, lists, tables, charts, pictures, captions, formulas,
 * code, footnotes, running headers and footers, checkboxes, key-value regions, forms), each
 * drawn while its ink is tracked so that its box is tight. Labels follow DocLayNet. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth/synth_internal.h"

void dl_synth_degrade(rng *r, dl_synth_page *page, rgb paper);

/* ------------------------------------------------------------------ page context */

typedef struct page_ctx {
    dl_synth *g;
    rng *r;
    canvas *c;
    dl_synth_box *boxes;
    int n, cap, oom;
    double s; /* pixels per point */
    int serif_fam, sans_fam, mono_fam, body_kind, head_kind;
    font body, body_b, body_i, small, small_i, small_b, mono, tiny;
    int line_h, small_line_h, para_gap;
    int justify, indent_first;
    rgb ink, head_ink;
    int sec[3], fig_no, tab_no, eq_no, fn_no, page_no;
    int numbered_heads, upper_heads;
} page_ctx;

typedef struct flow {
    int ncols, col, x[3], w, top, bot, y, gap;
} flow;

static int pt(page_ctx *pc, double points) {
    int v = (int)(points * pc->s + 0.5);
    return v < 1 ? 1 : v;
}

static void emit(page_ctx *pc, int label) {
    int x0, y0, x1, y1;
    if (!dl_synth_ink_box(pc->c, &x0, &y0, &x1, &y1)) return;
    if (pc->n == pc->cap) {
        int nc = pc->cap ? pc->cap * 2 : 64;
        dl_synth_box *nb = realloc(pc->boxes, (size_t)nc * sizeof *nb);
        if (!nb) {
            pc->oom = 1;
            return;
        }
        pc->boxes = nb;
        pc->cap = nc;
    }
    dl_synth_box *b = &pc->boxes[pc->n++];
    b->label = label;
    b->x = x0;
    b->y = y0;
    b->w = x1 - x0;
    b->h = y1 - y0;
}

static font mkfont(page_ctx *pc, int kind, int style, double points) {
    int fam = kind == FONT_SERIF ? pc->serif_fam : kind == FONT_SANS ? pc->sans_fam : pc->mono_fam;
    font f = {dl_synth_font_face(pc->g, kind, fam, style), pt(pc, points)};
    if (f.px < 4) f.px = 4;
    return f;
}

/* ------------------------------------------------------------------ words and sentences */

#define MAX_WORDS 1200
typedef struct words {
    char buf[16384];
    int off[MAX_WORDS];
    int n, used;
} words;

static const char *wd(const words *w, int i) { return w->buf + w->off[i]; }

static void push(words *w, const char *s) {
    size_t len = strlen(s);
    if (w->n >= MAX_WORDS || (size_t)w->used + len + 1 > sizeof w->buf) return;
    w->off[w->n++] = w->used;
    memcpy(w->buf + w->used, s, len + 1);
    w->used += (int)len + 1;
}

/* Append to the last word. */
static void append(words *w, const char *s) {
    if (w->n == 0) {
        push(w, s);
        return;
    }
    size_t len = strlen(s);
    if ((size_t)w->used + len + 1 > sizeof w->buf) return;
    memcpy(w->buf + w->used - 1, s, len + 1);
    w->used += (int)len;
}

static void number_token(page_ctx *pc, char *out, size_t n) {
    rng *r = pc->r;
    switch (dl_synth_rng_int(r, 0, 7)) {
    case 0: snprintf(out, n, "%d", dl_synth_rng_int(r, 2, 99)); break;
    case 1:
        snprintf(out, n, "%d.%d", dl_synth_rng_int(r, 0, 99), dl_synth_rng_int(r, 0, 99));
        break;
    case 2: snprintf(out, n, "%d%%", dl_synth_rng_int(r, 1, 99)); break;
    case 3: snprintf(out, n, "(%d)", dl_synth_rng_int(r, 1, 40)); break;
    case 4: snprintf(out, n, "[%d]", dl_synth_rng_int(r, 1, 60)); break;
    case 5: snprintf(out, n, "%d", dl_synth_rng_int(r, 1950, 2024)); break;
    case 6: snprintf(out, n, "(n = %d)", dl_synth_rng_int(r, 5, 900)); break;
    default:
        snprintf(out, n, "%d,%03d", dl_synth_rng_int(r, 1, 99), dl_synth_rng_int(r, 0, 999));
        break;
    }
}

static void capitalise(char *s) {
    if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

static void sentence(page_ctx *pc, words *w, int nwords) {
    rng *r = pc->r;
    for (int i = 0; i < nwords; i++) {
        char tok[64];
        if (i > 0 && dl_synth_rng_chance(r, 0.06)) number_token(pc, tok, sizeof tok);
        else snprintf(tok, sizeof tok, "%s", dl_synth_word_any(pc->g, r));
        if (i == 0) capitalise(tok);
        push(w, tok);
        if (i > 1 && i < nwords - 2 && dl_synth_rng_chance(r, 0.08)) append(w, ",");
    }
    append(w, dl_synth_rng_chance(r, 0.05) ? (dl_synth_rng_chance(r, 0.5) ? "?" : ":") : ".");
}

static void paragraph_words(page_ctx *pc, words *w, int nsent) {
    w->n = w->used = 0;
    for (int i = 0; i < nsent; i++) sentence(pc, w, dl_synth_rng_int(pc->r, 5, 22));
}

static void title_words(page_ctx *pc, words *w, int n, int title_case) {
    w->n = w->used = 0;
    for (int i = 0; i < n; i++) {
        char tok[64];
        snprintf(tok, sizeof tok, "%s", dl_synth_word_any(pc->g, pc->r));
        if (i == 0 || (title_case && strlen(tok) > 3)) capitalise(tok);
        push(w, tok);
    }
}

/* ------------------------------------------------------------------ line breaking */

typedef struct line {
    int first, last, width; /* words [first, last) */
} line;

#define MAX_LINES 256

static int break_lines(page_ctx *pc, font f, const words *w, int width, int first_indent,
                       line *lines) {
    int space = dl_synth_text_width(pc->g, f, " ");
    int n = 0, i = 0;
    while (i < w->n && n < MAX_LINES) {
        int avail = width - (n == 0 ? first_indent : 0);
        int start = i, lw = 0;
        while (i < w->n) {
            int ww = dl_synth_text_width(pc->g, f, wd(w, i));
            int add = (i > start ? space : 0) + ww;
            if (i > start && lw + add > avail) break;
            lw += add;
            i++;
        }
        lines[n].first = start;
        lines[n].last = i;
        lines[n].width = lw;
        n++;
    }
    return n;
}

/* Draw one line at (x, baseline): justified (spread to width) unless last or ragged. */
static void draw_line_words(page_ctx *pc, font f, const words *w, const line *ln, int x,
                            int baseline, int width, int justify, rgb col) {
    int space = dl_synth_text_width(pc->g, f, " ");
    int gaps = ln->last - ln->first - 1;
    double extra = 0;
    if (justify && gaps > 0) extra = (double)(width - ln->width) / gaps;
    if (extra < 0 || extra > space * 4) extra = justify ? 0 : extra;
    double px = x;
    for (int i = ln->first; i < ln->last; i++) {
        int adv = dl_synth_draw_text(pc->g, pc->c, f, (int)(px + 0.5), baseline, wd(w, i), col);
        px += adv + space + extra;
    }
}

/* ------------------------------------------------------------------ flow over columns */

static int flow_fit(flow *fl, int h) {
    while (fl->y + h > fl->bot) {
        if (fl->col + 1 >= fl->ncols) return 0;
        fl->col++;
        fl->y = fl->top;
    }
    return 1;
}

static int flow_left(const flow *fl) { return fl->bot - fl->y; }

/* A text block flowing over columns: a new box per column part (DocLayNet boxes each part). */
static int flow_paragraph(page_ctx *pc, flow *fl, const words *w, font f, int line_h, int label,
                          int indent, int justify, rgb col) {
    line lines[MAX_LINES];
    int nl = break_lines(pc, f, w, fl->w, indent, lines);
    if (nl == 0) return 1;
    int asc = dl_synth_font_ascent(pc->g, f);
    if (!flow_fit(fl, line_h * (nl < 2 ? nl : 2))) return 0;
    int i = 0;
    while (i < nl) {
        dl_synth_ink_begin(pc->c);
        while (i < nl && fl->y + line_h <= fl->bot) {
            int x = fl->x[fl->col] + (i == 0 ? indent : 0);
            int wdt = fl->w - (i == 0 ? indent : 0);
            draw_line_words(pc, f, w, &lines[i], x, fl->y + asc, wdt, justify && i < nl - 1, col);
            fl->y += line_h;
            i++;
        }
        emit(pc, label);
        if (i < nl) {
            if (fl->col + 1 >= fl->ncols) return 0;
            fl->col++;
            fl->y = fl->top;
        }
    }
    fl->y += pc->para_gap;
    return 1;
}

/* ------------------------------------------------------------------ elements */

static rgb grey(int v) {
    rgb c = {(uint8_t)v, (uint8_t)v, (uint8_t)v};
    return c;
}

static rgb palette(page_ctx *pc, int i, int mono) {
    static const rgb pal[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {23, 190, 207}};
    if (mono) return grey(30 + (i * 60) % 180);
    (void)pc;
    return pal[i % 8];
}

static int el_section_header(page_ctx *pc, flow *fl, int level) {
    words w;
    title_words(pc, &w, dl_synth_rng_int(pc->r, 1, 6), dl_synth_rng_chance(pc->r, 0.5));
    char num[32] = "";
    if (pc->numbered_heads) {
        pc->sec[level]++;
        for (int l = level + 1; l < 3; l++) pc->sec[l] = 0;
        if (level == 0)
            snprintf(num, sizeof num, "%d%s", pc->sec[0],
                     dl_synth_rng_chance(pc->r, 0.3) ? "." : "");
        else if (level == 1)
            snprintf(num, sizeof num, "%d.%d", pc->sec[0] ? pc->sec[0] : 1, pc->sec[1]);
        else
            snprintf(num, sizeof num, "%d.%d.%d", pc->sec[0] ? pc->sec[0] : 1,
                     pc->sec[1] ? pc->sec[1] : 1, pc->sec[2]);
    }
    words hw;
    hw.n = hw.used = 0;
    if (num[0]) push(&hw, num);
    for (int i = 0; i < w.n; i++) {
        char tok[64];
        snprintf(tok, sizeof tok, "%s", wd(&w, i));
        if (pc->upper_heads && level == 0)
            for (char *p = tok; *p; p++)
                if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
        push(&hw, tok);
    }
    double size = pc->body.px / pc->s + (level == 0   ? dl_synth_rng_range(pc->r, 1, 4)
                                         : level == 1 ? 1
                                                      : 0);
    font f = mkfont(pc, pc->head_kind, level == 2 ? STYLE_ITALIC : STYLE_BOLD, size);
    int lh = (int)(f.px * 1.25);
    int gap = pt(pc, level == 0 ? 8 : 5);
    if (!flow_fit(fl, gap + lh + pc->line_h * 2)) return 0;
    if (fl->y > fl->top) fl->y += gap;
    int save = pc->para_gap;
    pc->para_gap = pt(pc, 3);
    int ok = flow_paragraph(pc, fl, &hw, f, lh, DL_LABEL_SECTION_HEADER, 0, 0, pc->head_ink);
    pc->para_gap = save;
    return ok;
}

static int el_text(page_ctx *pc, flow *fl) {
    words w;
    paragraph_words(pc, &w, dl_synth_rng_int(pc->r, 1, 6));
    return flow_paragraph(pc, fl, &w, pc->body, pc->line_h, DL_LABEL_TEXT, pc->indent_first,
                          pc->justify, pc->ink);
}

static void bullet_text(page_ctx *pc, int style, int i, char *out, size_t n) {
    static const char *roman[] = {"i",   "ii",   "iii", "iv", "v",  "vi",
                                  "vii", "viii", "ix",  "x",  "xi", "xii"};
    switch (style) {
    case 0:
        snprintf(out, n, "%s", dl_synth_font_has(pc->g, pc->body, 0x2022) ? "\xe2\x80\xa2" : "-");
        break;
    case 1:
        snprintf(out, n, "%s", dl_synth_font_has(pc->g, pc->body, 0x2013) ? "\xe2\x80\x93" : "-");
        break;
    case 2: snprintf(out, n, "%d.", i + 1); break;
    case 3: snprintf(out, n, "%c)", 'a' + i % 26); break;
    case 4: snprintf(out, n, "(%s)", roman[i % 12]); break;
    default: snprintf(out, n, "[%d]", i + 1); break;
    }
}

static int el_list(page_ctx *pc, flow *fl) {
    int style = dl_synth_rng_int(pc->r, 0, 5), n = dl_synth_rng_int(pc->r, 2, 7);
    int indent = pt(pc, dl_synth_rng_range(pc->r, 0, 12));
    int hang = pt(pc, dl_synth_rng_range(pc->r, 10, 20));
    int short_items = dl_synth_rng_chance(pc->r, 0.5);
    if (!flow_fit(fl, pc->line_h * 2)) return 0;
    for (int i = 0; i < n; i++) {
        words w;
        if (short_items) {
            title_words(pc, &w, dl_synth_rng_int(pc->r, 2, 9), 0);
        } else {
            paragraph_words(pc, &w, dl_synth_rng_int(pc->r, 1, 2));
        }
        int tw = fl->w - indent - hang;
        line lines[MAX_LINES];
        int nl = break_lines(pc, pc->body, &w, tw, 0, lines);
        int h = nl * pc->line_h;
        if (!flow_fit(fl, h)) return 0;
        char b[16];
        bullet_text(pc, style, i, b, sizeof b);
        int asc = dl_synth_font_ascent(pc->g, pc->body);
        int x = fl->x[fl->col] + indent;
        dl_synth_ink_begin(pc->c);
        dl_synth_draw_text(pc->g, pc->c, pc->body, x, fl->y + asc, b, pc->ink);
        for (int l = 0; l < nl; l++) {
            draw_line_words(pc, pc->body, &w, &lines[l], x + hang, fl->y + asc, tw,
                            pc->justify && l < nl - 1, pc->ink);
            fl->y += pc->line_h;
        }
        emit(pc, DL_LABEL_LIST_ITEM);
        fl->y += pc->para_gap / 2;
    }
    fl->y += pc->para_gap / 2;
    return 1;
}

/* Caption "Figure 3." / "Table 2:" + sentences; emitted as one Caption box. */
static int el_caption(page_ctx *pc, flow *fl, int is_table, int x, int w) {
    words cw;
    cw.n = cw.used = 0;
    char lead[32];
    int n = is_table ? ++pc->tab_no : ++pc->fig_no;
    snprintf(lead, sizeof lead, "%s %d%s",
             is_table ? (dl_synth_rng_chance(pc->r, 0.2) ? "TABLE" : "Table")
                      : (dl_synth_rng_chance(pc->r, 0.3) ? "Fig." : "Figure"),
             n, dl_synth_rng_chance(pc->r, 0.5) ? "." : ":");
    char *sp = strchr(lead, ' ');
    *sp = '\0';
    push(&cw, lead);
    push(&cw, sp + 1);
    words body;
    paragraph_words(pc, &body, dl_synth_rng_int(pc->r, 1, 3));
    for (int i = 0; i < body.n; i++) push(&cw, wd(&body, i));
    font f = dl_synth_rng_chance(pc->r, 0.4) ? pc->small_i : pc->small;
    line lines[MAX_LINES];
    int nl = break_lines(pc, f, &cw, w, 0, lines);
    int lh = pc->small_line_h;
    if (fl->y + nl * lh > fl->bot) return 0;
    int asc = dl_synth_font_ascent(pc->g, f);
    int center = nl == 1 && dl_synth_rng_chance(pc->r, 0.5);
    dl_synth_ink_begin(pc->c);
    for (int l = 0; l < nl; l++) {
        int lx = center ? x + (w - lines[l].width) / 2 : x;
        draw_line_words(pc, f, &cw, &lines[l], lx, fl->y + asc, w, pc->justify && l < nl - 1,
                        pc->ink);
        fl->y += lh;
    }
    emit(pc, DL_LABEL_CAPTION);
    return 1;
}

static double nice_step(double range) {
    double e = pow(10, floor(log10(range / 5)));
    double m = range / 5 / e;
    return e * (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10);
}

static void draw_chart(page_ctx *pc, int x0, int y0, int w, int h) {
    rng *r = pc->r;
    int kind = dl_synth_rng_int(r, 0, 2); /* bars, lines, scatter */
    int mono = dl_synth_rng_chance(r, 0.3);
    font f = pc->tiny;
    int asc = dl_synth_font_ascent(pc->g, f);
    int lm = dl_synth_text_width(pc->g, f, "0000") + pt(pc, 10), bm = f.px * 2 + pt(pc, 6);
    int ax0 = x0 + lm, ay1 = y0 + h - bm, ax1 = x0 + w - pt(pc, 4), ay0 = y0 + pt(pc, 6);
    if (ax1 - ax0 < 20 || ay1 - ay0 < 20) return;
    double vmax = pow(10, dl_synth_rng_int(r, 0, 3)) * dl_synth_rng_range(r, 1, 9);
    double step = nice_step(vmax);
    rgb axis = grey(20);
    if (dl_synth_rng_chance(r, 0.4)) dl_synth_stroke_rect(pc->c, ax0, ay0, ax1, ay1, 1, axis);
    dl_synth_draw_line(pc->c, ax0, ay0, ax0, ay1, 1, axis);
    dl_synth_draw_line(pc->c, ax0, ay1, ax1, ay1, 1, axis);
    int grid = dl_synth_rng_chance(r, 0.3);
    for (double v = 0; v <= vmax * 1.0001; v += step) {
        int yy = ay1 - (int)((ay1 - ay0) * v / vmax);
        dl_synth_draw_line(pc->c, ax0 - pt(pc, 3), yy, ax0, yy, 1, axis);
        if (grid && v > 0) dl_synth_draw_line(pc->c, ax0 + 1, yy, ax1, yy, 1, grey(215));
        char lab[32];
        snprintf(lab, sizeof lab, step < 1 ? "%.1f" : "%.0f", v);
        dl_synth_draw_text(pc->g, pc->c, f, ax0 - pt(pc, 5) - dl_synth_text_width(pc->g, f, lab),
                           yy + asc / 2, lab, axis);
    }
    int nx = dl_synth_rng_int(r, 3, 10),
        ns = kind == 0 ? dl_synth_rng_int(r, 1, 3) : dl_synth_rng_int(r, 1, 4);
    double slot = (double)(ax1 - ax0) / nx;
    for (int i = 0; i < nx; i++) {
        char lab[32];
        if (dl_synth_rng_chance(r, 0.5))
            snprintf(lab, sizeof lab, "%d", 2000 + i * dl_synth_rng_int(r, 1, 2));
        else snprintf(lab, sizeof lab, "%c%d", 'A' + i % 26, i + 1);
        int cx = ax0 + (int)(slot * (i + 0.5));
        dl_synth_draw_line(pc->c, cx, ay1, cx, ay1 + pt(pc, 3), 1, axis);
        dl_synth_draw_text(pc->g, pc->c, f, cx - dl_synth_text_width(pc->g, f, lab) / 2,
                           ay1 + pt(pc, 4) + asc, lab, axis);
    }
    for (int s = 0; s < ns; s++) {
        rgb col = palette(pc, s + dl_synth_rng_int(r, 0, 7), mono);
        double prev_x = 0, prev_y = 0, v = dl_synth_rng_range(r, 0.2, 0.9) * vmax;
        int npts = kind == 2 ? dl_synth_rng_int(r, 15, 60) : nx;
        for (int i = 0; i < npts; i++) {
            v += dl_synth_rng_normal(r) * vmax * 0.12;
            if (v < 0.03 * vmax) v = 0.03 * vmax;
            if (v > vmax) v = vmax;
            double yy = ay1 - (ay1 - ay0) * v / vmax;
            if (kind == 0) {
                double bw = slot * 0.8 / ns;
                int bx = ax0 + (int)(slot * i + slot * 0.1 + bw * s);
                dl_synth_fill_rect(pc->c, bx, (int)yy, bx + (int)bw - 1, ay1, col);
            } else if (kind == 1) {
                double xx = ax0 + slot * (i + 0.5);
                if (i > 0) dl_synth_draw_line(pc->c, prev_x, prev_y, xx, yy, pc->s * 1.2, col);
                if (dl_synth_rng_chance(r, 0.5) || s == 0)
                    dl_synth_fill_circle(pc->c, xx, yy, pc->s * 1.8, col);
                prev_x = xx;
                prev_y = yy;
            } else {
                double xx = ax0 + dl_synth_rng_range(r, 0.03, 0.97) * (ax1 - ax0);
                dl_synth_fill_circle(pc->c, xx,
                                     ay0 + dl_synth_rng_range(r, 0.05, 0.95) * (ay1 - ay0),
                                     pc->s * 1.5, col);
            }
        }
        if (ns > 1 && dl_synth_rng_chance(r, 0.7)) { /* legend */
            int lx = ax1 - pt(pc, 60), ly = ay0 + pt(pc, 4) + s * (f.px + 2);
            dl_synth_fill_rect(pc->c, lx, ly, lx + pt(pc, 8), ly + f.px - 2, col);
            dl_synth_draw_text(pc->g, pc->c, f, lx + pt(pc, 11), ly + asc - 1,
                               dl_synth_word_any(pc->g, r), axis);
        }
    }
}

static void draw_photo(page_ctx *pc, int x0, int y0, int w, int h) {
    rng *r = pc->r;
    /* a figure may run past the page (slides): paint only what is on the canvas */
    if (x0 < 0) w += x0, x0 = 0;
    if (y0 < 0) h += y0, y0 = 0;
    if (x0 + w > pc->c->w) w = pc->c->w - x0;
    if (y0 + h > pc->c->h) h = pc->c->h - y0;
    if (w < 2 || h < 2) return;
    enum { GX = 7, GY = 6 };
    double grid[GY][GX][3];
    int gray = dl_synth_rng_chance(pc->r, 0.3);
    double base[3] = {dl_synth_rng_range(r, 40, 220), dl_synth_rng_range(r, 40, 220),
                      dl_synth_rng_range(r, 40, 220)};
    for (int j = 0; j < GY; j++)
        for (int i = 0; i < GX; i++)
            for (int k = 0; k < 3; k++)
                grid[j][i][k] = base[gray ? 0 : k] + dl_synth_rng_normal(r) * 45;
    double noise = dl_synth_rng_range(r, 2, 18);
    uint64_t ns = dl_synth_rng_next(r);
    for (int y = 0; y < h; y++) {
        double fy = (double)y / h * (GY - 1);
        int j = (int)fy;
        if (j >= GY - 1) j = GY - 2;
        double ty = fy - j;
        uint8_t *p = pc->c->px + ((size_t)(y0 + y) * (size_t)pc->c->w + (size_t)x0) * 3;
        for (int x = 0; x < w; x++, p += 3) {
            double fx = (double)x / w * (GX - 1);
            int i = (int)fx;
            if (i >= GX - 1) i = GX - 2;
            double tx = fx - i;
            ns = ns * 6364136223846793005ULL + 1442695040888963407ULL;
            double nz = ((double)(ns >> 40) / 16777216.0 - 0.5) * noise;
            for (int k = 0; k < 3; k++) {
                int kk = gray ? 0 : k;
                double v = (grid[j][i][kk] * (1 - tx) + grid[j][i + 1][kk] * tx) * (1 - ty) +
                           (grid[j + 1][i][kk] * (1 - tx) + grid[j + 1][i + 1][kk] * tx) * ty + nz;
                p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    dl_synth_fill_rect(pc->c, x0, y0, x0 + 1, y0 + 1,
                       (rgb){pc->c->px[((size_t)y0 * pc->c->w + x0) * 3],
                             pc->c->px[((size_t)y0 * pc->c->w + x0) * 3 + 1],
                             pc->c->px[((size_t)y0 * pc->c->w + x0) * 3 + 2]});
    dl_synth_fill_rect(pc->c, x0 + w - 1, y0 + h - 1, x0 + w, y0 + h,
                       (rgb){pc->c->px[((size_t)(y0 + h - 1) * pc->c->w + x0 + w - 1) * 3],
                             pc->c->px[((size_t)(y0 + h - 1) * pc->c->w + x0 + w - 1) * 3 + 1],
                             pc->c->px[((size_t)(y0 + h - 1) * pc->c->w + x0 + w - 1) * 3 + 2]});
}

static void draw_diagram(page_ctx *pc, int x0, int y0, int w, int h) {
    rng *r = pc->r;
    int n = dl_synth_rng_int(r, 3, 6), vertical = dl_synth_rng_chance(r, 0.4);
    font f = pc->tiny;
    rgb col = dl_synth_rng_chance(r, 0.5) ? grey(30) : palette(pc, dl_synth_rng_int(r, 0, 7), 0);
    int bw = vertical ? w * 2 / 3 : (w - pt(pc, 8) * (n - 1)) / n;
    int bh = vertical ? (h - pt(pc, 8) * (n - 1)) / n : h * 2 / 5;
    if (bw < 10 || bh < 8) return;
    int fill = dl_synth_rng_chance(r, 0.5);
    for (int i = 0; i < n; i++) {
        int bx = vertical ? x0 + (w - bw) / 2 : x0 + i * (bw + pt(pc, 8));
        int by = vertical ? y0 + i * (bh + pt(pc, 8)) : y0 + (h - bh) / 2;
        if (fill) dl_synth_fill_rect(pc->c, bx, by, bx + bw, by + bh, (rgb){230, 236, 245});
        dl_synth_stroke_rect(pc->c, bx, by, bx + bw, by + bh, 1, col);
        const char *lab = dl_synth_word_any(pc->g, r);
        int tw = dl_synth_text_width(pc->g, f, lab);
        if (tw < bw - 4)
            dl_synth_draw_text(pc->g, pc->c, f, bx + (bw - tw) / 2,
                               by + bh / 2 + dl_synth_font_ascent(pc->g, f) / 2, lab, grey(20));
        if (i > 0) {
            if (vertical) {
                int ax = x0 + w / 2, ay0 = by - pt(pc, 8), ay1 = by;
                dl_synth_draw_line(pc->c, ax, ay0, ax, ay1, 1, col);
                dl_synth_draw_line(pc->c, ax - 3, ay1 - 4, ax, ay1, 1, col);
                dl_synth_draw_line(pc->c, ax + 3, ay1 - 4, ax, ay1, 1, col);
            } else {
                int ay = y0 + h / 2, ax0 = bx - pt(pc, 8), ax1 = bx;
                dl_synth_draw_line(pc->c, ax0, ay, ax1, ay, 1, col);
                dl_synth_draw_line(pc->c, ax1 - 4, ay - 3, ax1, ay, 1, col);
                dl_synth_draw_line(pc->c, ax1 - 4, ay + 3, ax1, ay, 1, col);
            }
        }
    }
}

static int el_figure(page_ctx *pc, flow *fl, int wide_w, int wide_x) {
    rng *r = pc->r;
    int w = wide_w ? wide_w : fl->w;
    int pw = (int)(w * dl_synth_rng_range(r, 0.55, 1.0));
    int ph = (int)(pw * dl_synth_rng_range(r, 0.45, 0.85));
    int cap_above = dl_synth_rng_chance(r, 0.15), has_cap = dl_synth_rng_chance(r, 0.85);
    int need = ph + (has_cap ? pc->small_line_h * 2 : 0) + pt(pc, 10);
    if (need > fl->bot - fl->top) {
        ph = (fl->bot - fl->top) / 2;
        need = ph + pc->small_line_h * 3;
    }
    if (ph < pt(pc, 30)) return 0;
    if (!wide_w && !flow_fit(fl, need)) return 0;
    if (wide_w && fl->y + need > fl->bot) return 0;
    int x = (wide_w ? wide_x : fl->x[fl->col]) + (w - pw) / 2;
    fl->y += pt(pc, 4);
    if (has_cap && cap_above) {
        if (!el_caption(pc, fl, 0, wide_w ? wide_x : fl->x[fl->col], w)) return 0;
        fl->y += pt(pc, 4);
    }
    int kind = dl_synth_rng_int(r, 0, 9);
    dl_synth_ink_begin(pc->c);
    if (kind < 5) draw_chart(pc, x, fl->y, pw, ph);
    else if (kind < 8) draw_photo(pc, x, fl->y, pw, ph);
    else draw_diagram(pc, x, fl->y, pw, ph);
    emit(pc, DL_LABEL_PICTURE);
    fl->y += ph + pt(pc, 5);
    if (has_cap && !cap_above) el_caption(pc, fl, 0, wide_w ? wide_x : fl->x[fl->col], w);
    fl->y += pc->para_gap + pt(pc, 4);
    return 1;
}

static int el_table(page_ctx *pc, flow *fl, int wide_w, int wide_x) {
    rng *r = pc->r;
    int w = wide_w ? wide_w : fl->w;
    int x = wide_w ? wide_x : fl->x[fl->col];
    int ncols = dl_synth_rng_int(r, 2, w > pt(pc, 300) ? 8 : 5), nrows = dl_synth_rng_int(r, 3, 14);
    int style = dl_synth_rng_int(r, 0, 2); /* ruled, booktabs, borderless */
    font f = dl_synth_rng_chance(r, 0.6) ? pc->small : pc->body;
    font fb = {dl_synth_font_face(pc->g, pc->body_kind,
                                  pc->body_kind == FONT_SERIF ? pc->serif_fam : pc->sans_fam,
                                  STYLE_BOLD),
               f.px};
    int pad = pt(pc, 3), rh = (int)(f.px * 1.3) + (style == 0 ? pad : pad / 2);
    int cap_above = dl_synth_rng_chance(r, 0.7), has_cap = dl_synth_rng_chance(r, 0.85);
    int th = rh * (nrows + 1) + pt(pc, 4);
    int need = th + (has_cap ? pc->small_line_h * 2 : 0);
    if (!wide_w && !flow_fit(fl, need)) return 0;
    if (fl->y + need > fl->bot) return 0;
    /* cell texts and widths */
    char cells[15][8][24];
    int colw[8] = {0};
    for (int rr = 0; rr <= nrows; rr++)
        for (int cc = 0; cc < ncols; cc++) {
            char *s = cells[rr][cc];
            if (rr == 0) {
                snprintf(s, 24, "%s", dl_synth_word_any(pc->g, r));
                capitalise(s);
            } else if (cc == 0) {
                snprintf(s, 24, "%s", dl_synth_word_any(pc->g, r));
            } else {
                int k = dl_synth_rng_int(r, 0, 4);
                if (k == 0) snprintf(s, 24, "%d", dl_synth_rng_int(r, 0, 9999));
                else if (k == 1) snprintf(s, 24, "%.2f", dl_synth_rng_range(r, 0, 100));
                else if (k == 2) snprintf(s, 24, "%.1f%%", dl_synth_rng_range(r, 0, 100));
                else if (k == 3) snprintf(s, 24, "%.3f", dl_synth_rng_range(r, 0, 1));
                else
                    snprintf(s, 24, "%d.%d", dl_synth_rng_int(r, 0, 99), dl_synth_rng_int(r, 0, 9));
            }
            int tw = dl_synth_text_width(pc->g, rr == 0 ? fb : f, s) + 2 * pad + pt(pc, 4);
            if (tw > colw[cc]) colw[cc] = tw;
        }
    int total = 0;
    for (int cc = 0; cc < ncols; cc++) total += colw[cc];
    while (total > w && ncols > 2) total -= colw[--ncols];
    if (total > w) return 0;
    int full = dl_synth_rng_chance(r, 0.5);
    double stretch = full ? (double)w / total : 1.0;
    int tw = full ? w : total;
    int tx = x + (w - tw) / 2;
    fl->y += pt(pc, 4);
    if (has_cap && cap_above) {
        if (!el_caption(pc, fl, 1, x, w)) return 0;
        fl->y += pt(pc, 3);
    }
    int y0 = fl->y, asc = dl_synth_font_ascent(pc->g, f);
    rgb rule = grey(dl_synth_rng_int(r, 0, 60));
    dl_synth_ink_begin(pc->c);
    int zebra = style == 2 && dl_synth_rng_chance(r, 0.4);
    int head_fill = style != 1 && dl_synth_rng_chance(r, 0.3);
    for (int rr = 0; rr <= nrows; rr++) {
        int yy = y0 + rr * rh;
        if ((zebra && rr % 2 == 1) || (head_fill && rr == 0))
            dl_synth_fill_rect(pc->c, tx, yy, tx + tw, yy + rh,
                               rr == 0 ? (rgb){220, 226, 235} : grey(238));
        int cx = tx;
        for (int cc = 0; cc < ncols; cc++) {
            int cw = (int)(colw[cc] * stretch);
            const char *s = cells[rr][cc];
            int sw = dl_synth_text_width(pc->g, rr == 0 ? fb : f, s);
            int sx = cc == 0 ? cx + pad : cx + cw - pad - sw;
            if (rr == 0 && cc > 0) sx = cx + (cw - sw) / 2;
            dl_synth_draw_text(pc->g, pc->c, rr == 0 ? fb : f, sx, yy + (rh - f.px) / 2 + asc, s,
                               pc->ink);
            cx += cw;
            if (style == 0 && cc < ncols - 1)
                dl_synth_draw_line(pc->c, cx, y0, cx, y0 + rh * (nrows + 1), 1, rule);
        }
        if (style == 0) dl_synth_draw_line(pc->c, tx, yy, tx + tw, yy, 1, rule);
    }
    int yb = y0 + rh * (nrows + 1);
    if (style == 0) {
        dl_synth_draw_line(pc->c, tx, yb, tx + tw, yb, 1, rule);
        dl_synth_draw_line(pc->c, tx, y0, tx, yb, 1, rule);
        dl_synth_draw_line(pc->c, tx + tw - 1, y0, tx + tw - 1, yb, 1, rule);
    } else if (style == 1) {
        dl_synth_draw_line(pc->c, tx, y0 - 1, tx + tw, y0 - 1, 2, rule);
        dl_synth_draw_line(pc->c, tx, y0 + rh, tx + tw, y0 + rh, 1, rule);
        dl_synth_draw_line(pc->c, tx, yb, tx + tw, yb, 2, rule);
    }
    emit(pc, DL_LABEL_TABLE);
    fl->y = yb + pt(pc, 5);
    if (has_cap && !cap_above) el_caption(pc, fl, 1, x, w);
    fl->y += pc->para_gap + pt(pc, 4);
    return 1;
}

/* A display formula: lhs = fraction (+ terms with super/subscripts), centred, (n) at right. */
static int el_formula(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    font fi = mkfont(pc, FONT_SERIF, STYLE_ITALIC, pc->body.px / pc->s + 1);
    font fr = mkfont(pc, FONT_SERIF, STYLE_REGULAR, pc->body.px / pc->s + 1);
    font fs = mkfont(pc, FONT_SERIF, STYLE_ITALIC, (pc->body.px / pc->s) * 0.7);
    int frac = dl_synth_rng_chance(r, 0.7);
    int h = frac ? fi.px * 3 : fi.px * 2;
    if (!flow_fit(fl, h + pt(pc, 8))) return 0;
    static const char *syms[] = {
        "x", "y", "z", "a",        "b",        "n",        "k",        "t",        "f",
        "u", "v", "w", "\xce\xb1", "\xce\xb2", "\xce\xbb", "\xcf\x83", "\xce\xb8", "\xce\xbc"};
    const int nsyms = (int)(sizeof syms / sizeof syms[0]);
    char lhs[32], num[64], den[64], tail[64];
    const char *s1 = syms[dl_synth_rng_int(r, 0, nsyms - 1)];
    if (!dl_synth_font_has(pc->g, fi, 0x03B1)) s1 = syms[dl_synth_rng_int(r, 0, 11)];
    snprintf(lhs, sizeof lhs, "%s(%s) = ", dl_synth_rng_chance(r, 0.5) ? "f" : "E",
             syms[dl_synth_rng_int(r, 0, 7)]);
    snprintf(num, sizeof num, "%s + %d%s", s1, dl_synth_rng_int(r, 2, 9),
             syms[dl_synth_rng_int(r, 0, 7)]);
    snprintf(den, sizeof den, "%d%s - %s", dl_synth_rng_int(r, 2, 9),
             syms[dl_synth_rng_int(r, 0, 7)], syms[dl_synth_rng_int(r, 0, 7)]);
    snprintf(tail, sizeof tail, " + %s", syms[dl_synth_rng_int(r, 0, 7)]);
    int wl = dl_synth_text_width(pc->g, fi, lhs), wn = dl_synth_text_width(pc->g, fi, num),
        wd_ = dl_synth_text_width(pc->g, fi, den);
    int wf = frac ? (wn > wd_ ? wn : wd_) + pt(pc, 4) : wn;
    int wt = dl_synth_text_width(pc->g, fi, tail), wsup = dl_synth_text_width(pc->g, fs, "2");
    int total = wl + wf + wt + wsup + pt(pc, 4);
    char eq[16];
    snprintf(eq, sizeof eq, "(%d)", ++pc->eq_no);
    int weq = dl_synth_text_width(pc->g, fr, eq);
    if (total + weq + pt(pc, 10) > fl->w) return 0;
    int x = fl->x[fl->col] + (dl_synth_rng_chance(r, 0.7) ? (fl->w - total) / 2 : pt(pc, 20));
    int base = fl->y + pt(pc, 4) +
               (frac ? fi.px * 3 / 2 + dl_synth_font_ascent(pc->g, fi) / 3
                     : dl_synth_font_ascent(pc->g, fi));
    int axis = base - fi.px / 3;
    dl_synth_ink_begin(pc->c);
    dl_synth_draw_text(pc->g, pc->c, fi, x, base, lhs, pc->ink);
    int fx = x + wl;
    if (frac) {
        dl_synth_draw_text(pc->g, pc->c, fi, fx + (wf - wn) / 2,
                           axis - pt(pc, 2) - dl_synth_font_descent(pc->g, fi), num, pc->ink);
        dl_synth_draw_line(pc->c, fx, axis, fx + wf, axis, pc->s < 1.5 ? 1 : pc->s * 0.6, pc->ink);
        dl_synth_draw_text(pc->g, pc->c, fi, fx + (wf - wd_) / 2,
                           axis + pt(pc, 2) + dl_synth_font_ascent(pc->g, fi), den, pc->ink);
    } else {
        dl_synth_draw_text(pc->g, pc->c, fi, fx, base, num, pc->ink);
    }
    int tx = fx + wf;
    tx += dl_synth_draw_text(pc->g, pc->c, fi, tx, base, tail, pc->ink);
    dl_synth_draw_text(pc->g, pc->c, fs, tx, base - fi.px / 2, "2", pc->ink);
    dl_synth_draw_text(pc->g, pc->c, fs, tx, base + fs.px / 3, syms[dl_synth_rng_int(r, 5, 7)],
                       pc->ink);
    if (dl_synth_rng_chance(r, 0.8))
        dl_synth_draw_text(pc->g, pc->c, fr, fl->x[fl->col] + fl->w - weq, base, eq, pc->ink);
    emit(pc, DL_LABEL_FORMULA);
    fl->y += h + pt(pc, 8);
    return 1;
}

static int el_code(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    int n = dl_synth_rng_int(r, 3, 14);
    font f = pc->mono;
    int lh = (int)(f.px * 1.25);
    int framed = dl_synth_rng_int(r, 0, 2), numbers = dl_synth_rng_chance(r, 0.3);
    int pad = framed ? pt(pc, 5) : 0;
    if (!flow_fit(fl, n * lh + 2 * pad + pt(pc, 6))) return 0;
    int x = fl->x[fl->col], y = fl->y + pt(pc, 3);
    dl_synth_ink_begin(pc->c);
    if (framed == 1)
        dl_synth_fill_rect(pc->c, x, y, x + fl->w, y + n * lh + 2 * pad,
                           grey(dl_synth_rng_int(r, 235, 248)));
    if (framed == 2)
        dl_synth_stroke_rect(pc->c, x, y, x + fl->w, y + n * lh + 2 * pad, 1, grey(120));
    int depth = 0, asc = dl_synth_font_ascent(pc->g, f);
    int cw = dl_synth_text_width(pc->g, f, "m");
    for (int i = 0; i < n; i++) {
        char ln[160];
        const char *a = dl_synth_word_any(pc->g, r), *b = dl_synth_word_any(pc->g, r);
        int k = dl_synth_rng_int(r, 0, 6);
        if (i == n - 1 && depth > 0) k = 7;
        switch (k) {
        case 0: snprintf(ln, sizeof ln, "for (int i = 0; i < %s; i++) {", a); break;
        case 1:
            snprintf(ln, sizeof ln, "%s = %s(%s, %d);", a, b, dl_synth_word_any(pc->g, r),
                     dl_synth_rng_int(r, 0, 99));
            break;
        case 2: snprintf(ln, sizeof ln, "if (%s > %d) {", a, dl_synth_rng_int(r, 0, 9)); break;
        case 3: snprintf(ln, sizeof ln, "return %s;", a); break;
        case 4: snprintf(ln, sizeof ln, "# %s %s", a, b); break;
        case 5: snprintf(ln, sizeof ln, "def %s_%s(%s):", a, b, dl_synth_word_any(pc->g, r)); break;
        case 6:
            snprintf(ln, sizeof ln, "print(\"%s\", %s[%d])", a, b, dl_synth_rng_int(r, 0, 9));
            break;
        default: snprintf(ln, sizeof ln, "}"); break;
        }
        if (k == 7 && depth > 0) depth--;
        int lx = x + pad + (numbers ? cw * 4 : 0) + depth * cw * 4;
        if (numbers) {
            char nb[16];
            snprintf(nb, sizeof nb, "%2d", i + 1);
            dl_synth_draw_text(pc->g, pc->c, f, x + pad, y + pad + asc + i * lh, nb, grey(130));
        }
        /* clip long lines by dropping characters */
        while (dl_synth_text_width(pc->g, f, ln) > x + fl->w - pad - lx && strlen(ln) > 4)
            ln[strlen(ln) - 1] = '\0';
        dl_synth_draw_text(pc->g, pc->c, f, lx, y + pad + asc + i * lh, ln, pc->ink);
        if ((k == 0 || k == 2 || k == 5) && depth < 3) depth++;
    }
    emit(pc, DL_LABEL_CODE);
    fl->y = y + n * lh + 2 * pad + pt(pc, 6) + pc->para_gap;
    return 1;
}

static void draw_checkbox(page_ctx *pc, int x, int y, int sz, int checked) {
    int t = sz > 14 ? 2 : 1;
    dl_synth_ink_begin(pc->c);
    dl_synth_stroke_rect(pc->c, x, y, x + sz, y + sz, t, pc->ink);
    if (checked) {
        int k = dl_synth_rng_int(pc->r, 0, 2);
        if (k == 0) { /* tick */
            dl_synth_draw_line(pc->c, x + sz * 0.2, y + sz * 0.55, x + sz * 0.42, y + sz * 0.78,
                               t + 0.5, pc->ink);
            dl_synth_draw_line(pc->c, x + sz * 0.42, y + sz * 0.78, x + sz * 0.85, y + sz * 0.2,
                               t + 0.5, pc->ink);
        } else if (k == 1) { /* cross */
            dl_synth_draw_line(pc->c, x + sz * 0.2, y + sz * 0.2, x + sz * 0.8, y + sz * 0.8,
                               t + 0.5, pc->ink);
            dl_synth_draw_line(pc->c, x + sz * 0.8, y + sz * 0.2, x + sz * 0.2, y + sz * 0.8,
                               t + 0.5, pc->ink);
        } else {
            int m = sz / 4 > 1 ? sz / 4 : 2;
            dl_synth_fill_rect(pc->c, x + m, y + m, x + sz - m, y + sz - m, pc->ink);
        }
    }
    emit(pc, checked ? DL_LABEL_CHECKBOX_SELECTED : DL_LABEL_CHECKBOX_UNSELECTED);
}

/* Checkbox options: each square boxed as a checkbox, its label boxed as Text. */
static int el_checkboxes(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    int n = dl_synth_rng_int(r, 2, 5), horiz = dl_synth_rng_chance(r, 0.4);
    int sz = (int)(pc->body.px * 0.8);
    if (sz < 6) sz = 6;
    if (!flow_fit(fl, (horiz ? 1 : n) * pc->line_h + pt(pc, 6))) return 0;
    int x = fl->x[fl->col], asc = dl_synth_font_ascent(pc->g, pc->body);
    fl->y += pt(pc, 3);
    for (int i = 0; i < n; i++) {
        words w;
        title_words(pc, &w, dl_synth_rng_int(r, 1, 4), 0);
        char txt[128] = "";
        for (int k = 0; k < w.n; k++) {
            if (k) strncat(txt, " ", sizeof txt - strlen(txt) - 1);
            strncat(txt, wd(&w, k), sizeof txt - strlen(txt) - 1);
        }
        int tw = dl_synth_text_width(pc->g, pc->body, txt);
        if (horiz && x + sz + pt(pc, 4) + tw > fl->x[fl->col] + fl->w) break;
        if (!horiz && tw + sz + pt(pc, 4) > fl->w) continue;
        draw_checkbox(pc, x, fl->y + asc - sz, sz, dl_synth_rng_chance(r, 0.4));
        dl_synth_ink_begin(pc->c);
        dl_synth_draw_text(pc->g, pc->c, pc->body, x + sz + pt(pc, 4), fl->y + asc, txt, pc->ink);
        emit(pc, DL_LABEL_TEXT);
        if (horiz) {
            x += sz + pt(pc, 4) + tw + pt(pc, 14);
        } else {
            fl->y += pc->line_h;
        }
    }
    if (horiz) fl->y += pc->line_h;
    fl->y += pc->para_gap;
    return 1;
}

static void kv_value(page_ctx *pc, char *out, size_t n) {
    rng *r = pc->r;
    switch (dl_synth_rng_int(r, 0, 4)) {
    case 0:
        snprintf(out, n, "%04d-%02d-%02d", dl_synth_rng_int(r, 1990, 2025),
                 dl_synth_rng_int(r, 1, 12), dl_synth_rng_int(r, 1, 28));
        break;
    case 1: snprintf(out, n, "%d", dl_synth_rng_int(r, 1000, 999999)); break;
    case 2:
        snprintf(out, n, "%s %s", dl_synth_word_any(pc->g, r), dl_synth_word_any(pc->g, r));
        break;
    case 3:
        snprintf(out, n, "$%d.%02d", dl_synth_rng_int(r, 1, 9999), dl_synth_rng_int(r, 0, 99));
        break;
    default:
        snprintf(out, n, "%s-%d", dl_synth_word_any(pc->g, r), dl_synth_rng_int(r, 1, 999));
        break;
    }
    capitalise(out);
}

static int el_key_value(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    int n = dl_synth_rng_int(r, 2, 8);
    font fk = dl_synth_rng_chance(r, 0.6) ? pc->body_b : pc->body;
    if (!flow_fit(fl, n * pc->line_h + pt(pc, 6))) return 0;
    char keys[8][64], vals[8][64];
    int kw = 0;
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], 64, "%s%s%s:", dl_synth_word_any(pc->g, r),
                 dl_synth_rng_chance(r, 0.4) ? " " : "",
                 dl_synth_rng_chance(r, 0.4) ? dl_synth_word_any(pc->g, r) : "");
        capitalise(keys[i]);
        kv_value(pc, vals[i], 64);
        int w = dl_synth_text_width(pc->g, fk, keys[i]);
        if (w > kw) kw = w;
    }
    int aligned = dl_synth_rng_chance(r, 0.6), asc = dl_synth_font_ascent(pc->g, pc->body);
    int x = fl->x[fl->col];
    fl->y += pt(pc, 3);
    dl_synth_ink_begin(pc->c);
    for (int i = 0; i < n; i++) {
        int adv = dl_synth_draw_text(pc->g, pc->c, fk, x, fl->y + asc, keys[i], pc->ink);
        int vx = aligned ? x + kw + pt(pc, 8) : x + adv + pt(pc, 4);
        if (vx + dl_synth_text_width(pc->g, pc->body, vals[i]) <= x + fl->w)
            dl_synth_draw_text(pc->g, pc->c, pc->body, vx, fl->y + asc, vals[i], pc->ink);
        fl->y += pc->line_h;
    }
    emit(pc, DL_LABEL_KEY_VALUE_REGION);
    fl->y += pc->para_gap + pt(pc, 3);
    return 1;
}

/* A form: a ruled grid of labelled fields, some with checkbox options; one Form box, the
 * checkboxes boxed inside it too. */
static int el_form(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    int nrows = dl_synth_rng_int(r, 3, 9);
    font fl_ = pc->tiny, fv = pc->body;
    int rh = fl_.px + fv.px + pt(pc, 10);
    if (!flow_fit(fl, nrows * rh + pt(pc, 8))) return 0;
    int x0 = fl->x[fl->col], w = fl->w, y0 = fl->y + pt(pc, 4);
    int t = dl_synth_rng_chance(r, 0.5) ? 1 : 2;
    rgb rule = grey(dl_synth_rng_int(r, 0, 90));
    typedef struct cb {
        int x, y, checked;
    } cb;
    cb cbs[64];
    int ncb = 0;
    int sz = (int)(fv.px * 0.75);
    dl_synth_ink_begin(pc->c);
    for (int i = 0; i < nrows; i++) {
        int y = y0 + i * rh, ncell = dl_synth_rng_int(r, 1, 3), cx = x0;
        for (int c = 0; c < ncell; c++) {
            int cw =
                c == ncell - 1 ? x0 + w - cx : (w / ncell) + dl_synth_rng_int(r, -w / 10, w / 10);
            dl_synth_stroke_rect(pc->c, cx, y, cx + cw + t, y + rh + t, t, rule);
            char lab[64];
            snprintf(lab, sizeof lab, "%s %s", dl_synth_word_any(pc->g, r),
                     dl_synth_rng_chance(r, 0.5) ? dl_synth_word_any(pc->g, r) : "");
            capitalise(lab);
            if (dl_synth_text_width(pc->g, fl_, lab) < cw - pt(pc, 6))
                dl_synth_draw_text(pc->g, pc->c, fl_, cx + pt(pc, 3),
                                   y + pt(pc, 2) + dl_synth_font_ascent(pc->g, fl_), lab, grey(60));
            int vy = y + fl_.px + pt(pc, 4) + dl_synth_font_ascent(pc->g, fv);
            int k = dl_synth_rng_int(r, 0, 3);
            if (k == 0 && ncb < 60) { /* checkbox options */
                int ox = cx + pt(pc, 4);
                for (int o = 0; o < 4; o++) {
                    const char *ow = dl_synth_word_any(pc->g, r);
                    int ow_w = dl_synth_text_width(pc->g, fv, ow);
                    if (ox + sz + ow_w + pt(pc, 8) > cx + cw - pt(pc, 3)) break;
                    cbs[ncb].x = ox;
                    cbs[ncb].y = vy - sz;
                    cbs[ncb].checked = dl_synth_rng_chance(r, 0.4);
                    ncb++;
                    dl_synth_stroke_rect(pc->c, ox, vy - sz, ox + sz, vy, 1,
                                         pc->ink); /* redrawn below */
                    dl_synth_draw_text(pc->g, pc->c, fv, ox + sz + pt(pc, 3), vy, ow, pc->ink);
                    ox += sz + ow_w + pt(pc, 12);
                }
            } else if (k < 3) {
                char v[64];
                kv_value(pc, v, sizeof v);
                if (dl_synth_text_width(pc->g, fv, v) < cw - pt(pc, 8))
                    dl_synth_draw_text(pc->g, pc->c, fv, cx + pt(pc, 5), vy, v, (rgb){20, 30, 110});
            }
            cx += cw;
        }
    }
    emit(pc, DL_LABEL_FORM);
    for (int i = 0; i < ncb; i++) draw_checkbox(pc, cbs[i].x, cbs[i].y, sz, cbs[i].checked);
    fl->y = y0 + nrows * rh + pt(pc, 8) + pc->para_gap;
    return 1;
}

/* Footnotes at the bottom of the text area, under a short rule; returns the new bottom. */
static int place_footnotes(page_ctx *pc, int x, int w, int bot) {
    rng *r = pc->r;
    int n = dl_synth_rng_int(r, 1, 3);
    words ws[3];
    line lines[3][MAX_LINES];
    int nl[3], total = 0;
    for (int i = 0; i < n; i++) {
        ws[i].n = ws[i].used = 0;
        char mark[16];
        snprintf(mark, sizeof mark, "%d", ++pc->fn_no);
        push(&ws[i], mark);
        words body;
        paragraph_words(pc, &body, dl_synth_rng_int(r, 1, 2));
        for (int k = 0; k < body.n; k++) push(&ws[i], wd(&body, k));
        nl[i] = break_lines(pc, pc->small, &ws[i], w, 0, lines[i]);
        total += nl[i] * pc->small_line_h + pt(pc, 2);
    }
    int y = bot - total;
    int rule_y = y - pt(pc, 5);
    dl_synth_fill_rect(pc->c, x, rule_y, x + (int)(w * dl_synth_rng_range(r, 0.2, 0.4)), rule_y + 1,
                       pc->ink);
    int asc = dl_synth_font_ascent(pc->g, pc->small);
    for (int i = 0; i < n; i++) {
        dl_synth_ink_begin(pc->c);
        for (int l = 0; l < nl[i]; l++) {
            draw_line_words(pc, pc->small, &ws[i], &lines[i][l], x, y + asc, w,
                            pc->justify && l < nl[i] - 1, pc->ink);
            y += pc->small_line_h;
        }
        emit(pc, DL_LABEL_FOOTNOTE);
        y += pt(pc, 2);
    }
    return rule_y - pt(pc, 8);
}

/* Running header and footer pieces (page numbers inside them); returns the used heights. */
static void running_header(page_ctx *pc, int x, int w, int y, int is_footer) {
    rng *r = pc->r;
    font f = dl_synth_rng_chance(r, 0.5) ? pc->small_i : pc->small;
    int asc = dl_synth_font_ascent(pc->g, f);
    char left[128], right[64];
    words tw;
    title_words(pc, &tw, dl_synth_rng_int(r, 2, 6), 1);
    left[0] = '\0';
    for (int i = 0; i < tw.n; i++) {
        if (i) strncat(left, " ", sizeof left - strlen(left) - 1);
        strncat(left, wd(&tw, i), sizeof left - strlen(left) - 1);
    }
    int k = dl_synth_rng_int(r, 0, 3);
    if (k == 0) snprintf(right, sizeof right, "%d", pc->page_no);
    else if (k == 1)
        snprintf(right, sizeof right, "Page %d of %d", pc->page_no,
                 pc->page_no + dl_synth_rng_int(r, 0, 40));
    else if (k == 2)
        snprintf(right, sizeof right, "Vol. %d, No. %d", dl_synth_rng_int(r, 1, 60),
                 dl_synth_rng_int(r, 1, 12));
    else snprintf(right, sizeof right, "%d", pc->page_no);
    int layout = dl_synth_rng_int(r, 0, 3);
    int label = is_footer ? DL_LABEL_PAGE_FOOTER : DL_LABEL_PAGE_HEADER;
    if (layout == 0) { /* number only, centred */
        char num[16];
        snprintf(num, sizeof num, dl_synth_rng_chance(r, 0.5) ? "%d" : "- %d -", pc->page_no);
        dl_synth_ink_begin(pc->c);
        dl_synth_draw_text(pc->g, pc->c, f, x + (w - dl_synth_text_width(pc->g, f, num)) / 2,
                           y + asc, num, pc->ink);
        emit(pc, label);
        return;
    }
    int swap = layout == 2;
    dl_synth_ink_begin(pc->c);
    dl_synth_draw_text(pc->g, pc->c, f, swap ? x + w - dl_synth_text_width(pc->g, f, left) : x,
                       y + asc, left, pc->ink);
    emit(pc, label);
    dl_synth_ink_begin(pc->c);
    dl_synth_draw_text(pc->g, pc->c, f, swap ? x : x + w - dl_synth_text_width(pc->g, f, right),
                       y + asc, right, pc->ink);
    emit(pc, label);
    if (!is_footer && dl_synth_rng_chance(r, 0.3))
        dl_synth_fill_rect(pc->c, x, y + f.px + pt(pc, 3), x + w, y + f.px + pt(pc, 3) + 1,
                           grey(90));
}

static int el_title_block(page_ctx *pc, flow *fl, int x, int w) {
    rng *r = pc->r;
    words t;
    title_words(pc, &t, dl_synth_rng_int(r, 3, 14), dl_synth_rng_chance(r, 0.6));
    font f = mkfont(pc, dl_synth_rng_chance(r, 0.6) ? pc->head_kind : pc->body_kind, STYLE_BOLD,
                    dl_synth_rng_range(r, 15, 24));
    line lines[MAX_LINES];
    int lh = (int)(f.px * 1.2);
    int nl = break_lines(pc, f, &t, w * 9 / 10, 0, lines);
    int center = dl_synth_rng_chance(r, 0.6), asc = dl_synth_font_ascent(pc->g, f);
    dl_synth_ink_begin(pc->c);
    for (int l = 0; l < nl; l++) {
        int lx = center ? x + (w - lines[l].width) / 2 : x;
        draw_line_words(pc, f, &t, &lines[l], lx, fl->y + asc, w, 0, pc->head_ink);
        fl->y += lh;
    }
    emit(pc, DL_LABEL_TITLE);
    fl->y += pt(pc, 8);
    /* authors and affiliation: Text */
    for (int k = 0; k < 2; k++) {
        if (k == 1 && dl_synth_rng_chance(r, 0.4)) break;
        words a;
        a.n = a.used = 0;
        int na = dl_synth_rng_int(r, 1, 5);
        for (int i = 0; i < na; i++) {
            char nm[64];
            if (k == 0) {
                snprintf(nm, sizeof nm, "%c. %s%s", 'A' + dl_synth_rng_int(r, 0, 25),
                         dl_synth_word_any(pc->g, r), i < na - 1 ? "," : "");
                char *p = strchr(nm, ' ');
                if (p) capitalise(p + 1);
            } else {
                snprintf(nm, sizeof nm, "%s", dl_synth_word_any(pc->g, r));
                capitalise(nm);
            }
            push(&a, nm);
        }
        font af = k == 0 ? pc->body : pc->small_i;
        line al[MAX_LINES];
        int nal = break_lines(pc, af, &a, w, 0, al);
        int aasc = dl_synth_font_ascent(pc->g, af);
        dl_synth_ink_begin(pc->c);
        for (int l = 0; l < nal; l++) {
            int lx = center ? x + (w - al[l].width) / 2 : x;
            draw_line_words(pc, af, &a, &al[l], lx, fl->y + aasc, w, 0, pc->ink);
            fl->y += (int)(af.px * 1.3);
        }
        emit(pc, DL_LABEL_TEXT);
        fl->y += pt(pc, 4);
    }
    fl->y += pt(pc, 6);
    if (dl_synth_rng_chance(r, 0.6)) { /* abstract */
        flow af = *fl;
        af.ncols = 1;
        af.col = 0;
        int inset = dl_synth_rng_chance(r, 0.5) ? w / 12 : 0;
        af.x[0] = x + inset;
        af.w = w - 2 * inset;
        font hf = mkfont(pc, pc->head_kind, STYLE_BOLD, pc->body.px / pc->s + 1);
        words hw;
        hw.n = hw.used = 0;
        push(&hw, dl_synth_rng_chance(r, 0.5) ? "Abstract" : "ABSTRACT");
        int save = pc->para_gap;
        pc->para_gap = pt(pc, 3);
        flow_paragraph(pc, &af, &hw, hf, (int)(hf.px * 1.3), DL_LABEL_SECTION_HEADER, 0, 0,
                       pc->head_ink);
        pc->para_gap = save;
        words ab;
        paragraph_words(pc, &ab, dl_synth_rng_int(r, 3, 7));
        flow_paragraph(pc, &af, &ab, pc->body, pc->line_h, DL_LABEL_TEXT, 0, pc->justify, pc->ink);
        fl->y = af.y + pt(pc, 8);
    }
    return 1;
}

/* ------------------------------------------------------------------ layouts */

static void flow_columns(page_ctx *pc, flow *fl, int x, int w, int ncols, int top, int bot) {
    fl->ncols = ncols;
    fl->col = 0;
    fl->gap = pt(pc, dl_synth_rng_range(pc->r, 12, 28));
    fl->w = (w - fl->gap * (ncols - 1)) / ncols;
    for (int i = 0; i < ncols; i++) fl->x[i] = x + i * (fl->w + fl->gap);
    fl->top = top;
    fl->bot = bot;
    fl->y = top;
}

/* The body: a stream of elements until the columns are full. `mix` weights the elements. */
enum { E_HEAD, E_TEXT, E_LIST, E_FIG, E_TAB, E_FORMULA, E_CODE, E_KV, E_CHECK, E_FORM, E_NUM };

static void fill_body(page_ctx *pc, flow *fl, const double *mix) {
    rng *r = pc->r;
    double total = 0;
    for (int i = 0; i < E_NUM; i++) total += mix[i];
    int fails = 0, last = -1;
    for (int iter = 0; iter < 200 && fails < 3; iter++) {
        double u = dl_synth_rng_unif(r) * total;
        int e = 0;
        while (e < E_NUM - 1 && u >= mix[e]) u -= mix[e++];
        if (e == E_HEAD && last == E_HEAD) e = E_TEXT;
        int ok;
        switch (e) {
        case E_HEAD:
            ok = el_section_header(pc, fl,
                                   dl_synth_rng_chance(r, 0.6) ? 0 : dl_synth_rng_int(r, 1, 2));
            break;
        case E_TEXT: ok = el_text(pc, fl); break;
        case E_LIST: ok = el_list(pc, fl); break;
        case E_FIG: ok = el_figure(pc, fl, 0, 0); break;
        case E_TAB: ok = el_table(pc, fl, 0, 0); break;
        case E_FORMULA: ok = el_formula(pc, fl); break;
        case E_CODE: ok = el_code(pc, fl); break;
        case E_KV: ok = el_key_value(pc, fl); break;
        case E_CHECK: ok = el_checkboxes(pc, fl); break;
        default: ok = el_form(pc, fl); break;
        }
        if (!ok) {
            fails++;
            if (fl->col + 1 < fl->ncols && flow_left(fl) < (fl->bot - fl->top) / 3) {
                fl->col++;
                fl->y = fl->top;
            }
        }
        last = e;
        if (pc->oom) return;
    }
}

static void setup_fonts(page_ctx *pc, double body_pt) {
    rng *r = pc->r;
    pc->serif_fam = dl_synth_rng_int(r, 0, 63);
    pc->sans_fam = dl_synth_rng_int(r, 0, 63);
    pc->mono_fam = dl_synth_rng_int(r, 0, 63);
    pc->body_kind = dl_synth_rng_chance(r, 0.6) ? FONT_SERIF : FONT_SANS;
    pc->head_kind = dl_synth_rng_chance(r, 0.5)
                        ? pc->body_kind
                        : (pc->body_kind == FONT_SERIF ? FONT_SANS : FONT_SERIF);
    pc->body = mkfont(pc, pc->body_kind, STYLE_REGULAR, body_pt);
    pc->body_b = mkfont(pc, pc->body_kind, STYLE_BOLD, body_pt);
    pc->body_i = mkfont(pc, pc->body_kind, STYLE_ITALIC, body_pt);
    double small = body_pt * dl_synth_rng_range(r, 0.78, 0.9);
    pc->small = mkfont(pc, pc->body_kind, STYLE_REGULAR, small);
    pc->small_i = mkfont(pc, pc->body_kind, STYLE_ITALIC, small);
    pc->small_b = mkfont(pc, pc->body_kind, STYLE_BOLD, small);
    pc->tiny = mkfont(pc, dl_synth_rng_chance(r, 0.7) ? FONT_SANS : FONT_SERIF, STYLE_REGULAR,
                      body_pt * 0.72);
    pc->mono = mkfont(pc, FONT_MONO, STYLE_REGULAR, body_pt * dl_synth_rng_range(r, 0.8, 0.95));
    pc->line_h = (int)(pc->body.px * dl_synth_rng_range(r, 1.1, 1.5) + 0.5);
    pc->small_line_h = (int)(pc->small.px * 1.2 + 0.5);
    pc->para_gap =
        dl_synth_rng_chance(r, 0.5) ? 0 : (int)(pc->line_h * dl_synth_rng_range(r, 0.3, 0.9));
    pc->justify = dl_synth_rng_chance(r, 0.6);
    pc->indent_first =
        pc->para_gap == 0 || dl_synth_rng_chance(r, 0.2) ? pt(pc, dl_synth_rng_range(r, 8, 18)) : 0;
    int dark = dl_synth_rng_int(r, 0, 40);
    pc->ink = grey(dark);
    pc->head_ink = dl_synth_rng_chance(r, 0.15) ? (rgb){(uint8_t)dl_synth_rng_int(r, 0, 60),
                                                        (uint8_t)dl_synth_rng_int(r, 20, 80),
                                                        (uint8_t)dl_synth_rng_int(r, 80, 150)}
                                                : pc->ink;
    pc->numbered_heads = dl_synth_rng_chance(r, 0.6);
    pc->upper_heads = dl_synth_rng_chance(r, 0.15);
    pc->page_no = dl_synth_rng_int(r, 1, 400);
}

static void layout_document(page_ctx *pc, int W, int H, int kind) {
    rng *r = pc->r;
    /* margins */
    int ml = pt(pc, dl_synth_rng_range(r, 36, 90)),
        mr = dl_synth_rng_chance(r, 0.7) ? ml : pt(pc, dl_synth_rng_range(r, 36, 90));
    int mt = pt(pc, dl_synth_rng_range(r, 30, 80)), mb = pt(pc, dl_synth_rng_range(r, 30, 80));
    int x = ml, w = W - ml - mr, top = mt, bot = H - mb;
    if (dl_synth_rng_chance(r, 0.85)) { /* running header */
        running_header(pc, x, w, top - pt(pc, 18), 0);
    }
    if (dl_synth_rng_chance(r, 0.85)) running_header(pc, x, w, bot + pt(pc, 8), 1);
    flow fl;
    int ncols = 1;
    if (kind == 0) ncols = dl_synth_rng_chance(r, 0.55) ? 2 : dl_synth_rng_chance(r, 0.3) ? 3 : 1;
    else if (kind == 1) ncols = dl_synth_rng_chance(r, 0.2) ? 2 : 1;
    if (ncols == 3 && w < pt(pc, 400)) ncols = 2;
    flow_columns(pc, &fl, x, w, 1, top, bot);
    if (kind == 0 && dl_synth_rng_chance(r, 0.35)) el_title_block(pc, &fl, x, w);
    else if (kind == 1 && dl_synth_rng_chance(r, 0.2)) el_title_block(pc, &fl, x, w);
    /* a wide figure or table at the top of the body */
    if (ncols > 1 && dl_synth_rng_chance(r, 0.2)) {
        if (dl_synth_rng_chance(r, 0.5)) el_figure(pc, &fl, w, x);
        else el_table(pc, &fl, w, x);
    }
    int body_top = fl.y;
    if (dl_synth_rng_chance(r, 0.25))
        bot = place_footnotes(
            pc, x, ncols > 1 && dl_synth_rng_chance(r, 0.5) ? (w - pt(pc, 20)) / 2 : w, bot);
    flow_columns(pc, &fl, x, w, ncols, body_top, bot);
    static const double mix_article[E_NUM] = {10, 45, 6, 9, 7, 5, 1.5, 0.7, 0.5, 0.3};
    static const double mix_report[E_NUM] = {12, 36, 12, 7, 9, 2, 6, 4, 2, 1};
    fill_body(pc, &fl, kind == 0 ? mix_article : mix_report);
}

static void layout_form(page_ctx *pc, int W, int H) {
    rng *r = pc->r;
    int m = pt(pc, dl_synth_rng_range(r, 30, 70));
    int x = m, w = W - 2 * m, top = m, bot = H - m;
    if (dl_synth_rng_chance(r, 0.5)) running_header(pc, x, w, top - pt(pc, 16), 0);
    if (dl_synth_rng_chance(r, 0.7)) running_header(pc, x, w, bot + pt(pc, 6), 1);
    flow fl;
    flow_columns(pc, &fl, x, w, 1, top, bot);
    if (dl_synth_rng_chance(r, 0.6)) {
        words t;
        title_words(pc, &t, dl_synth_rng_int(r, 2, 6), 1);
        font f = mkfont(pc, pc->head_kind, STYLE_BOLD, dl_synth_rng_range(r, 14, 20));
        flow_paragraph(pc, &fl, &t, f, (int)(f.px * 1.25), DL_LABEL_TITLE, 0, 0, pc->head_ink);
        fl.y += pt(pc, 6);
    }
    static const double mix_form[E_NUM] = {8, 14, 4, 1, 4, 0, 0, 16, 12, 16};
    fill_body(pc, &fl, mix_form);
}

static int el_toc(page_ctx *pc, flow *fl) {
    rng *r = pc->r;
    font fb = pc->body_b;
    int asc = dl_synth_font_ascent(pc->g, pc->body);
    int page = dl_synth_rng_int(r, 1, 20), s0 = 0, s1 = 0;
    int dots = dl_synth_rng_chance(r, 0.8), dot_w = dl_synth_text_width(pc->g, pc->body, ".");
    int gap = dot_w + pt(pc, dl_synth_rng_range(r, 1, 4));
    dl_synth_ink_begin(pc->c);
    int drawn = 0;
    while (fl->y + pc->line_h <= fl->bot) {
        int level = drawn == 0                     ? 0
                    : dl_synth_rng_chance(r, 0.35) ? 0
                    : dl_synth_rng_chance(r, 0.7)  ? 1
                                                   : 2;
        char num[32];
        if (level == 0) s0++, s1 = 0, snprintf(num, sizeof num, "%d", s0);
        else if (level == 1) s1++, snprintf(num, sizeof num, "%d.%d", s0 ? s0 : 1, s1);
        else
            snprintf(num, sizeof num, "%d.%d.%d", s0 ? s0 : 1, s1 ? s1 : 1,
                     dl_synth_rng_int(r, 1, 5));
        words t;
        title_words(pc, &t, dl_synth_rng_int(r, 1, 6), 1);
        char txt[256];
        snprintf(txt, sizeof txt, "%s ", num);
        for (int i = 0; i < t.n; i++) {
            strncat(txt, wd(&t, i), sizeof txt - strlen(txt) - 1);
            if (i < t.n - 1) strncat(txt, " ", sizeof txt - strlen(txt) - 1);
        }
        font f = level == 0 ? fb : pc->body;
        page += dl_synth_rng_int(r, 0, 4);
        char pg[16];
        snprintf(pg, sizeof pg, "%d", page);
        int x = fl->x[0] + level * pt(pc, 14);
        int pw = dl_synth_text_width(pc->g, f, pg), xr = fl->x[0] + fl->w;
        while (dl_synth_text_width(pc->g, f, txt) > xr - pw - x - gap * 3 && strlen(txt) > 6)
            txt[strlen(txt) - 1] = '\0';
        int tx = x + dl_synth_draw_text(pc->g, pc->c, f, x, fl->y + asc, txt, pc->ink);
        if (dots)
            for (int dx = ((tx + gap) / gap + 1) * gap; dx + dot_w < xr - pw - gap / 2; dx += gap)
                dl_synth_draw_text(pc->g, pc->c, pc->body, dx, fl->y + asc, ".", pc->ink);
        dl_synth_draw_text(pc->g, pc->c, f, xr - pw, fl->y + asc, pg, pc->ink);
        fl->y += pc->line_h + (level == 0 ? pt(pc, 3) : 0);
        drawn++;
        if (drawn > 6 && dl_synth_rng_chance(r, 0.04)) break;
    }
    emit(pc, DL_LABEL_DOCUMENT_INDEX);
    return drawn > 0;
}

static void layout_toc(page_ctx *pc, int W, int H) {
    rng *r = pc->r;
    int ml = pt(pc, dl_synth_rng_range(r, 50, 100)), mt = pt(pc, dl_synth_rng_range(r, 40, 80));
    int x = ml, w = W - 2 * ml, top = mt, bot = H - mt;
    if (dl_synth_rng_chance(r, 0.6)) running_header(pc, x, w, top - pt(pc, 18), 0);
    if (dl_synth_rng_chance(r, 0.8)) running_header(pc, x, w, bot + pt(pc, 8), 1);
    flow fl;
    flow_columns(pc, &fl, x, w, 1, top, bot);
    words hw;
    hw.n = hw.used = 0;
    push(&hw, dl_synth_rng_chance(r, 0.5)   ? "Contents"
              : dl_synth_rng_chance(r, 0.5) ? "Table of Contents"
                                            : "CONTENTS");
    font hf = mkfont(pc, pc->head_kind, STYLE_BOLD, dl_synth_rng_range(r, 13, 20));
    flow_paragraph(pc, &fl, &hw, hf, (int)(hf.px * 1.3), DL_LABEL_SECTION_HEADER, 0, 0,
                   pc->head_ink);
    fl.y += pt(pc, 10);
    if (dl_synth_rng_chance(r, 0.3)) fl.bot = fl.top + (fl.bot - fl.top) * 2 / 3;
    el_toc(pc, &fl);
    fl.bot = bot;
    fl.y += pt(pc, 12);
    static const double mix_tail[E_NUM] = {2, 10, 1, 0, 0, 0, 0, 0, 0, 0};
    if (fl.y < bot - pc->line_h * 3) fill_body(pc, &fl, mix_tail);
}

static void layout_slide(page_ctx *pc, int W, int H) {
    rng *r = pc->r;
    int m = pt(pc, dl_synth_rng_range(r, 24, 50));
    int x = m, w = W - 2 * m, top = m, bot = H - m - pt(pc, 14);
    if (dl_synth_rng_chance(r, 0.4))
        dl_synth_fill_rect(pc->c, 0, 0, W, pt(pc, 8), palette(pc, dl_synth_rng_int(r, 0, 7), 0));
    flow fl;
    flow_columns(pc, &fl, x, w, 1, top + pt(pc, 8), bot);
    words t;
    title_words(pc, &t, dl_synth_rng_int(r, 2, 7), 1);
    font tf = mkfont(pc, FONT_SANS, STYLE_BOLD, dl_synth_rng_range(r, 20, 30));
    flow_paragraph(pc, &fl, &t, tf, (int)(tf.px * 1.2), DL_LABEL_SECTION_HEADER, 0, 0,
                   pc->head_ink);
    fl.y += pt(pc, 10);
    int split = dl_synth_rng_chance(r, 0.5);
    flow left = fl;
    if (split) left.w = w / 2 - pt(pc, 10);
    pc->body = mkfont(pc, FONT_SANS, STYLE_REGULAR, dl_synth_rng_range(r, 14, 20));
    pc->line_h = (int)(pc->body.px * 1.3);
    pc->para_gap = pt(pc, 6);
    pc->justify = 0;
    el_list(pc, &left);
    if (split) {
        flow right = fl;
        right.x[0] = x + w / 2 + pt(pc, 10);
        right.w = w / 2 - pt(pc, 10);
        if (dl_synth_rng_chance(r, 0.7)) el_figure(pc, &right, 0, 0);
        else el_table(pc, &right, 0, 0);
    } else if (left.y < bot - pt(pc, 60)) {
        el_text(pc, &left);
    }
    running_header(pc, x, w, H - m, 1);
}

int dl_synth_generate(dl_synth *g, uint64_t seed, dl_synth_page *page) {
    memset(page, 0, sizeof *page);
    const dl_synth_options *opt = dl_synth_get_options(g);
    rng r = {seed};
    dl_synth_rng_next(&r);
    page_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.g = g;
    pc.r = &r;
    pc.s = opt->dpi / 72.0;
    /* kind: article, report/manual, form, table of contents, slide */
    double u = dl_synth_rng_unif(&r);
    int kind = u < 0.45 ? 0 : u < 0.72 ? 1 : u < 0.84 ? 2 : u < 0.92 ? 3 : 4;
    double wpt, hpt;
    if (kind == 4) {
        wpt = 720;
        hpt = dl_synth_rng_chance(&r, 0.5) ? 405 : 540;
    } else {
        int a4 = dl_synth_rng_chance(&r, 0.5);
        wpt = a4 ? 595 : 612;
        hpt = a4 ? 842 : 792;
        if (dl_synth_rng_chance(&r, 0.05)) { /* landscape */
            double t = wpt;
            wpt = hpt;
            hpt = t;
        }
    }
    int W = (int)(wpt * pc.s + 0.5), H = (int)(hpt * pc.s + 0.5);
    canvas c;
    c.w = W;
    c.h = H;
    c.px = malloc((size_t)W * (size_t)H * 3);
    if (!c.px) return -1;
    int tint = dl_synth_rng_chance(&r, 0.2);
    c.paper = tint ? (rgb){(uint8_t)dl_synth_rng_int(&r, 245, 255),
                           (uint8_t)dl_synth_rng_int(&r, 242, 252),
                           (uint8_t)dl_synth_rng_int(&r, 232, 248)}
                   : grey(255);
    for (size_t i = 0; i < (size_t)W * H; i++) {
        c.px[i * 3] = c.paper.r;
        c.px[i * 3 + 1] = c.paper.g;
        c.px[i * 3 + 2] = c.paper.b;
    }
    pc.c = &c;
    setup_fonts(&pc, kind == 4 ? 16 : dl_synth_rng_range(&r, 8, 12));
    static const char *kinds[] = {"article", "report", "form", "toc", "slide"};
    snprintf(page->kind, sizeof page->kind, "%s", kinds[kind]);
    if (kind <= 1) layout_document(&pc, W, H, kind);
    else if (kind == 2) layout_form(&pc, W, H);
    else if (kind == 3) layout_toc(&pc, W, H);
    else layout_slide(&pc, W, H);
    if (pc.oom) {
        free(c.px);
        free(pc.boxes);
        return -1;
    }
    page->width = W;
    page->height = H;
    page->rgb = c.px;
    page->boxes = pc.boxes;
    page->num_boxes = pc.n;
    if (opt->degrade > 0 && dl_synth_rng_unif(&r) < opt->degrade)
        dl_synth_degrade(&r, page, c.paper);
    return 0;
}

void dl_synth_page_free(dl_synth_page *page) {
    if (!page) return;
    free(page->rgb);
    free(page->boxes);
    memset(page, 0, sizeof *page);
}
