/*
 * Docling's layout post-processor on hand-made clusters and cells: one case per rule
 * (thresholds and the Title remap, cell assignment, empty and orphan clusters, bbox adjustment,
 * overlap groups and their preference rules, picture vs table, full-page pictures, children of
 * special clusters, content-container pictures, reading order).
 */
#include "postprocess/layout.h"

#include "test_util.h"

static dl_cluster_in C(int label, float conf, double l, double t, double r, double b) {
    dl_cluster_in c = {label, conf, {l, t, r, b}};
    return c;
}

static void add_cell(dl_cells *cells, double l, double t, double r, double b, const char *text) {
    dl_box box = {l, t, r, b};
    CHECK(dl_cells_push(cells, box, text, strlen(text)));
}

static dl_layout run(const dl_cluster_in *in, size_t n, const dl_cells *cells,
                     const dl_layout_options *o) {
    dl_layout l;
    dl_error err;
    CHECK_OK(dl_layout_postprocess(in, n, cells, 600, 800, o, &l, &err), &err);
    return l;
}

int main(void) {
    dl_error err;
    dl_layout_options skip = dl_layout_default_options();
    skip.skip_cell_assignment = 1;

    /* box arithmetic */
    dl_box a = {0, 0, 10, 10}, b = {5, 0, 15, 10};
    CHECK(dl_box_area(a) == 100 && dl_box_intersection(a, b) == 50);
    CHECK(fabs(dl_box_iou(a, b) - 50.0 / 150) < 1e-12 && dl_box_ios(a, b) == 0.5);

    /* thresholds and the remap: Text needs 0.5, Section-header and Title 0.45; Title becomes
     * Section-header */
    {
        dl_cluster_in in[] = {C(DL_LABEL_TEXT, 0.49f, 0, 0, 100, 20),
                              C(DL_LABEL_SECTION_HEADER, 0.46f, 0, 100, 100, 120),
                              C(DL_LABEL_TITLE, 0.46f, 0, 200, 100, 220),
                              C(DL_LABEL_TITLE, 0.44f, 0, 300, 100, 320)};
        dl_layout l = run(in, 4, NULL, &skip);
        CHECK(l.n == 2);
        CHECK(l.n == 2 && l.regions[0].label == DL_LABEL_SECTION_HEADER &&
              l.regions[0].source == 1);
        CHECK(l.n == 2 && l.regions[1].label == DL_LABEL_SECTION_HEADER &&
              l.regions[1].source == 2);
        dl_layout_free(&l);
    }

    /* cell assignment (largest share of the cell's area, > 0.2), empty clusters dropped except
     * Formula, orphan cells become Text clusters with the cell's confidence, bboxes shrink to
     * the cells */
    {
        dl_cells cells = {0};
        add_cell(&cells, 10, 10, 110, 20, "alpha");    /* 0: 100% in A */
        add_cell(&cells, 170, 10, 270, 20, "beta");    /* 1: 30% in A, 70% in B */
        add_cell(&cells, 400, 400, 500, 410, "gamma"); /* 2: in nothing: orphan */
        add_cell(&cells, 10, 30, 110, 40, "   ");      /* 3: blank: ignored */
        add_cell(&cells, 185, 50, 285, 60, "delta");   /* 4: 15% in B only: orphan */
        dl_cluster_in in[] = {
            C(DL_LABEL_TEXT, 0.9f, 0, 0, 200, 45), C(DL_LABEL_TEXT, 0.8f, 200, 0, 300, 25),
            C(DL_LABEL_TEXT, 0.8f, 0, 600, 100, 700), C(DL_LABEL_FORMULA, 0.8f, 0, 700, 100, 790)};
        dl_layout l = run(in, 4, &cells, NULL);
        CHECK_MSG(l.n == 5, "%zu regions", l.n);
        if (l.n == 5) {
            /* order: by first cell index, cell-less (Formula) last */
            const dl_region *r = &l.regions[0];
            CHECK(r->source == 0 && r->n_cells == 1 && r->cells[0] == 0);
            CHECK(r->box.l == 10 && r->box.t == 10 && r->box.r == 110 && r->box.b == 20);
            r = &l.regions[1];
            CHECK(r->source == 1 && r->n_cells == 1 && r->cells[0] == 1 && r->box.l == 170);
            r = &l.regions[2];
            CHECK(r->source == -1 && r->label == DL_LABEL_TEXT && r->cells[0] == 2 &&
                  r->confidence == 1.0f);
            CHECK(r->box.l == 400 && r->box.b == 410);
            r = &l.regions[3];
            CHECK(r->source == -1 && r->cells[0] == 4);
            r = &l.regions[4];
            CHECK(r->label == DL_LABEL_FORMULA && r->n_cells == 0 && r->box.t == 700);
        }
        dl_layout_free(&l);
        /* keep_empty_clusters keeps the cell-less Text; no orphans when asked */
        dl_layout_options o = dl_layout_default_options();
        o.keep_empty_clusters = 1;
        o.create_orphan_clusters = 0;
        l = run(in, 4, &cells, &o);
        CHECK_MSG(l.n == 4, "%zu", l.n);
        dl_layout_free(&l);
        dl_cells_free(&cells);
    }

    /* overlap groups: after the boxes shrink to their cells, B lies inside A: one group, A
     * wins (B's confidence is clearly lower), and B's cell moves over to A */
    {
        dl_cells cells = {0};
        add_cell(&cells, 10, 10, 90, 40, "one");
        add_cell(&cells, 40, 30, 60, 40, "two");
        dl_cluster_in in[] = {C(DL_LABEL_TEXT, 0.6f, 30, 28, 70, 60),
                              C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 42)};
        dl_layout l = run(in, 2, &cells, NULL);
        CHECK_MSG(l.n == 1, "%zu", l.n);
        if (l.n == 1) {
            CHECK(l.regions[0].source == 1 && l.regions[0].n_cells == 2);
            CHECK(l.regions[0].box.l == 10 && l.regions[0].box.b == 40);
        }
        dl_layout_free(&l);
        dl_cells_free(&cells);
    }
    /* union-find: A~B and B~C join all three even though A and C do not overlap */
    {
        dl_cluster_in in[] = {
            C(DL_LABEL_TEXT, 0.90f, 0, 0, 100, 100), C(DL_LABEL_TEXT, 0.91f, 0, 0, 100, 120),
            C(DL_LABEL_TEXT, 0.92f, 0, 20, 100, 120), C(DL_LABEL_TEXT, 0.9f, 0, 500, 100, 600)};
        /* IoU(A,B) = 100/120 > 0.8, IoU(B,C) = 100/120 > 0.8, IoU(A,C) = 80/120 < 0.8 but A is
         * 80% in C: exactly 0.8, not > 0.8 */
        dl_layout l = run(in, 4, NULL, &skip);
        CHECK_MSG(l.n == 2, "%zu", l.n);
        /* all pass the rules (confidences within 0.05); the largest (B) wins */
        if (l.n == 2) CHECK(l.regions[0].source == 1 && l.regions[1].source == 3);
        dl_layout_free(&l);
    }
    /* area/confidence rule: a similar-sized cluster with clearly lower confidence loses; a much
     * larger one survives its check and wins if its confidence is close */
    {
        dl_cluster_in in[] = {C(DL_LABEL_TEXT, 0.6f, 0, 0, 100, 110),
                              C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 100)};
        dl_layout l = run(in, 2, NULL, &skip);
        CHECK(l.n == 1 && l.regions[0].source == 1);
        dl_layout_free(&l);
    }
    /* List-item vs Text: a list item within 20% of the text's area is preferred even with a
     * lower confidence (without the rule the Text would win here) */
    {
        dl_cluster_in in[] = {C(DL_LABEL_LIST_ITEM, 0.8f, 0, 0, 100, 110),
                              C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 100)};
        dl_layout l = run(in, 2, NULL, &skip);
        CHECK(l.n == 1 && l.regions[0].label == DL_LABEL_LIST_ITEM);
        dl_layout_free(&l);
        dl_cluster_in in2[] = {C(DL_LABEL_LIST_ITEM, 0.8f, 0, 0, 100, 125),
                               C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 100)};
        l = run(in2, 2, NULL, &skip); /* areas 25% apart: the rule does not apply */
        CHECK(l.n == 1 && l.regions[0].label == DL_LABEL_TEXT);
        dl_layout_free(&l);
    }
    /* Code beats what lies > 80% inside it */
    {
        dl_cluster_in in[] = {C(DL_LABEL_CODE, 0.5f, 0, 0, 100, 100),
                              C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 85)};
        dl_layout l = run(in, 2, NULL, &skip);
        CHECK(l.n == 1 && l.regions[0].label == DL_LABEL_CODE);
        dl_layout_free(&l);
        dl_cluster_in in2[] = {C(DL_LABEL_SECTION_HEADER, 0.5f, 0, 0, 100, 100),
                               C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 85)};
        l = run(in2, 2, NULL, &skip);
        CHECK(l.n == 1 && l.regions[0].label == DL_LABEL_TEXT);
        dl_layout_free(&l);
    }

    /* picture vs table: a picture with IoU > 0.8 with a table goes; at IoU 0.7 both stay */
    {
        dl_cluster_in in[] = {C(DL_LABEL_PICTURE, 0.9f, 0, 0, 100, 100),
                              C(DL_LABEL_TABLE, 0.6f, 0, 0, 100, 110)};
        dl_layout l = run(in, 2, NULL, NULL);
        CHECK(l.n == 1 && l.regions[0].label == DL_LABEL_TABLE);
        dl_layout_free(&l);
        dl_cluster_in in2[] = {C(DL_LABEL_PICTURE, 0.9f, 0, 0, 100, 70),
                               C(DL_LABEL_TABLE, 0.6f, 0, 0, 100, 100)};
        l = run(in2, 2, NULL, NULL);
        CHECK(l.n == 2);
        dl_layout_free(&l);
    }
    /* a picture over 90% of the page goes (page 600 x 800) */
    {
        dl_cluster_in in[] = {C(DL_LABEL_PICTURE, 0.9f, 0, 0, 600, 730),
                              C(DL_LABEL_PICTURE, 0.9f, 0, 0, 600, 700)};
        dl_layout l = run(in, 1, NULL, NULL);
        CHECK(l.n == 0);
        dl_layout_free(&l);
        l = run(in + 1, 1, NULL, NULL);
        CHECK(l.n == 1);
        dl_layout_free(&l);
    }
    /* children: regular clusters > 80% inside a special one become its children and leave the
     * top level; the table takes their cells; a Form shrinks to its children */
    {
        dl_cells cells = {0};
        add_cell(&cells, 20, 20, 80, 30, "cell");    /* in the table */
        add_cell(&cells, 20, 320, 80, 330, "field"); /* in the form */
        add_cell(&cells, 20, 500, 80, 510, "outside");
        dl_cluster_in in[] = {
            C(DL_LABEL_TABLE, 0.9f, 0, 0, 200, 200), C(DL_LABEL_TEXT, 0.9f, 10, 10, 90, 40),
            C(DL_LABEL_FORM, 0.9f, 0, 300, 300, 400), C(DL_LABEL_TEXT, 0.9f, 10, 310, 90, 340),
            C(DL_LABEL_TEXT, 0.9f, 10, 490, 90, 520)};
        dl_layout l = run(in, 5, &cells, NULL);
        CHECK_MSG(l.n == 3, "%zu", l.n);
        if (l.n == 3) {
            const dl_region *t = &l.regions[0];
            CHECK(t->label == DL_LABEL_TABLE && t->n_children == 1 && t->n_cells == 1 &&
                  t->cells[0] == 0);
            CHECK(t->box.r == 200); /* tables keep their box */
            CHECK(t->n_children == 1 && t->children[0].source == 1 && t->children[0].box.l == 20);
            const dl_region *f = &l.regions[1];
            CHECK(f->label == DL_LABEL_FORM && f->n_children == 1);
            CHECK(f->box.l == 20 && f->box.t == 320 && f->box.r == 80 && f->box.b == 330);
            CHECK(l.regions[2].label == DL_LABEL_TEXT && l.regions[2].source == 4);
        }
        dl_layout_free(&l);
        dl_cells_free(&cells);
    }
    /* overlapping pictures: the much larger, confident one wins; overlapping tables too */
    {
        dl_cluster_in in[] = {
            C(DL_LABEL_PICTURE, 0.6f, 0, 0, 100, 100), C(DL_LABEL_PICTURE, 0.95f, 0, 0, 100, 110),
            C(DL_LABEL_TABLE, 0.8f, 0, 300, 100, 400), C(DL_LABEL_TABLE, 0.55f, 0, 300, 100, 405)};
        dl_layout l = run(in, 4, NULL, NULL);
        CHECK_MSG(l.n == 2, "%zu", l.n);
        if (l.n == 2) CHECK(l.regions[0].source == 1 && l.regions[1].source == 2);
        dl_layout_free(&l);
    }
    /* content-container picture: a wide picture on a portrait page holding most of the native
     * text and a nested picture is dropped */
    {
        dl_cells cells = {0};
        for (int i = 0; i < 10; i++)
            add_cell(&cells, 20, 100 + 20 * i, 580, 115 + 20 * i, "twenty-five characters!!");
        dl_cluster_in in[] = {C(DL_LABEL_PICTURE, 0.9f, 10, 90, 590, 400),
                              C(DL_LABEL_PICTURE, 0.9f, 20, 300, 200, 390)};
        dl_layout l = run(in, 2, &cells, NULL);
        int big = 0;
        for (size_t i = 0; i < l.n; i++) big += l.regions[i].source == 0;
        CHECK(big == 0);
        dl_layout_free(&l);
        dl_cells_free(&cells);
    }
    /* reading order: first cell index, then top, then left; cell-less clusters last */
    {
        dl_cells cells = {0};
        add_cell(&cells, 300, 10, 390, 20, "right column first in the PDF");
        add_cell(&cells, 10, 10, 90, 20, "left");
        dl_cluster_in in[] = {C(DL_LABEL_TEXT, 0.9f, 0, 0, 100, 30),
                              C(DL_LABEL_TEXT, 0.9f, 290, 0, 400, 30),
                              C(DL_LABEL_FORMULA, 0.9f, 200, 600, 250, 650),
                              C(DL_LABEL_FORMULA, 0.9f, 100, 500, 150, 550)};
        dl_layout l = run(in, 4, &cells, NULL);
        CHECK(l.n == 4);
        if (l.n == 4) {
            CHECK(l.regions[0].source == 1 && l.regions[1].source == 0);
            CHECK(l.regions[2].source == 3 && l.regions[3].source == 2);
        }
        dl_layout_free(&l);
        dl_cells_free(&cells);
    }
    /* bad input */
    {
        dl_layout l;
        dl_cluster_in in[] = {C(42, 0.9f, 0, 0, 1, 1)};
        CHECK(dl_layout_postprocess(in, 1, NULL, 10, 10, NULL, &l, &err) ==
              DL_ERR_INVALID_ARGUMENT);
        CHECK(dl_layout_postprocess(NULL, 0, NULL, 10, 10, NULL, &l, &err) == DL_OK && l.n == 0);
        dl_layout_free(&l);
    }
    return dl_test_finish("test_layout_postprocess");
}
