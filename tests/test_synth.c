/* The synthetic document generator: determinism (same seed, same PNG bytes, whatever the
 * thread count), boxes inside the page and over ink, heron's label ids, all 17 labels over
 * 50 seeds, degraded pages. */
#include "test_util.h"

#ifndef DL_HAVE_SYNTH
int main(void) { return dl_test_skip("test_synth", "generator not built (no FreeType)"); }
#else

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doclayout.h"
#include "synth/synth.h"

/* The paper: the most common colour of the page (not its corner pixel: a slide's corner may
 * be its coloured title bar). Colours counted at 5 bits a channel. */
static void paper_colour(const dl_synth_page *p, int paper[3]) {
    static unsigned count[1 << 15];
    memset(count, 0, sizeof count);
    size_t n = (size_t)p->width * p->height, best = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *q = p->rgb + i * 3;
        unsigned k = (unsigned)(q[0] >> 3) << 10 | (unsigned)(q[1] >> 3) << 5 | (q[2] >> 3);
        if (++count[k] > count[best]) best = k;
    }
    paper[0] = (int)(best >> 10 & 31) * 8 + 4;
    paper[1] = (int)(best >> 5 & 31) * 8 + 4;
    paper[2] = (int)(best & 31) * 8 + 4;
}

/* Some pixel inside the box clearly unlike the paper (darker or not, as a pale photo is). */
static int covers_ink(const dl_synth_page *p, const int paper[3], const dl_synth_box *b) {
    int x0 = (int)b->x, y0 = (int)b->y, x1 = (int)(b->x + b->w), y1 = (int)(b->y + b->h);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *q = p->rgb + ((size_t)y * p->width + x) * 3;
            if (abs(q[0] - paper[0]) + abs(q[1] - paper[1]) + abs(q[2] - paper[2]) > 3 * 60)
                return 1;
        }
    return 0;
}

static void check_page(const dl_synth_page *p, int seed, int *seen, int strict_ink) {
    CHECK(p->width > 0 && p->height > 0 && p->rgb != NULL);
    int paper[3];
    paper_colour(p, paper);
    for (int i = 0; i < p->num_boxes; i++) {
        const dl_synth_box *b = &p->boxes[i];
        CHECK_MSG(b->label >= 0 && b->label < DL_LABEL_COUNT, "seed %d label %d", seed, b->label);
        if (b->label >= 0 && b->label < DL_LABEL_COUNT) seen[b->label]++;
        CHECK_MSG(b->x >= 0 && b->y >= 0 && b->w > 0 && b->h > 0 && b->x + b->w <= p->width &&
                      b->y + b->h <= p->height,
                  "seed %d box %d (%s) [%g %g %g %g] outside %dx%d", seed, i,
                  dl_synth_label_name(b->label), b->x, b->y, b->w, b->h, p->width, p->height);
        if (strict_ink)
            CHECK_MSG(covers_ink(p, paper, b), "seed %d box %d (%s) without ink", seed, i,
                      dl_synth_label_name(b->label));
    }
}

static int run_tool(const char *out, const char *threads) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(DL_SYNTH_PATH, DL_SYNTH_PATH, "--seed", "7", "--count", "4", "--degrade", "0.5",
              "--threads", threads, "--out", out, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
    char err[256];
    dl_synth_options opt = dl_synth_default_options();
    /* a font folder that lacks one of the generator's fonts: an error naming the file, never
     * pages made from whichever fonts happen to be there */
    char partial[] = "/tmp/dl_test_synth_fonts_XXXXXX";
    if (mkdtemp(partial)) {
        dl_synth_options o = opt;
        o.fonts = partial;
        dl_synth_resources *none = dl_synth_resources_load(&o, err, sizeof err);
        CHECK_MSG(!none && strstr(err, "not found in"), "%s", err);
        dl_synth_resources_free(none);
        rmdir(partial);
    }
    dl_synth_resources *res = dl_synth_resources_load(&opt, err, sizeof err);
    if (!res) return dl_test_skip("test_synth", err);
    /* every font of the pinned list, no other */
    CHECK_MSG(dl_synth_num_fonts(res) == dl_synth_num_font_files() && dl_synth_num_fonts(res) == 47,
              "%d fonts loaded, %d listed", dl_synth_num_fonts(res), dl_synth_num_font_files());
    dl_synth *g = dl_synth_create(res, err, sizeof err);
    dl_synth *g2 = dl_synth_create(res, err, sizeof err);
    CHECK(g && g2);
    if (!g || !g2) return dl_test_finish("test_synth");

    /* label names are heron's, in its order */
    for (int l = 0; l < DL_LABEL_COUNT; l++)
        CHECK(strcmp(dl_synth_label_name(l), dl_docling_label_name(l)) == 0);

    /* 50 seeds: boxes valid and over ink; every label appears */
    int seen[DL_LABEL_COUNT] = {0};
    for (int s = 0; s < 50; s++) {
        dl_synth_page p;
        CHECK(dl_synth_generate(g, dl_synth_page_seed(1234, (uint64_t)s), &p) == 0);
        check_page(&p, s, seen, 1);
        dl_synth_page_free(&p);
    }
    for (int l = 0; l < DL_LABEL_COUNT; l++)
        CHECK_MSG(seen[l] > 0, "label %d (%s) never generated", l, dl_synth_label_name(l));

    /* determinism: a fresh generator and a used one give the same PNG bytes */
    for (int s = 0; s < 3; s++) {
        dl_synth_page a, b;
        uint64_t seed = dl_synth_page_seed(99, (uint64_t)s);
        CHECK(dl_synth_generate(g, seed, &a) == 0);
        CHECK(dl_synth_generate(g2, seed, &b) == 0);
        uint8_t *pa = NULL, *pb = NULL;
        size_t na = 0, nb = 0;
        CHECK(dl_synth_png_encode(a.rgb, a.width, a.height, &pa, &na) == 0);
        CHECK(dl_synth_png_encode(b.rgb, b.width, b.height, &pb, &nb) == 0);
        CHECK(na == nb && pa && pb && memcmp(pa, pb, na) == 0);
        int same_boxes = a.num_boxes == b.num_boxes;
        for (int i = 0; same_boxes && i < a.num_boxes; i++)
            same_boxes = a.boxes[i].label == b.boxes[i].label && a.boxes[i].x == b.boxes[i].x &&
                         a.boxes[i].y == b.boxes[i].y && a.boxes[i].w == b.boxes[i].w &&
                         a.boxes[i].h == b.boxes[i].h;
        CHECK(same_boxes);
        /* the PNG decodes to the same pixels with the project's own decoder */
        dl_image *im = NULL;
        dl_error e;
        CHECK(dl_image_load_memory(pa, na, &im, &e) == DL_OK);
        if (im) {
            int same = im->width == a.width && im->height == a.height;
            for (int y = 0; same && y < a.height; y++)
                same = memcmp(im->rgb + (size_t)y * im->stride, a.rgb + (size_t)y * a.width * 3,
                              (size_t)a.width * 3) == 0;
            CHECK(same);
            dl_image_free(im);
        }
        free(pa);
        free(pb);
        dl_synth_page_free(&a);
        dl_synth_page_free(&b);
    }
    dl_synth_free(g);
    dl_synth_free(g2);
    dl_synth_resources_free(res);

    /* degraded pages at 150 dpi: boxes stay inside the page */
    opt.degrade = 1.0;
    opt.dpi = 150;
    res = dl_synth_resources_load(&opt, err, sizeof err);
    g = res ? dl_synth_create(res, err, sizeof err) : NULL;
    CHECK(g != NULL);
    for (int s = 0; g && s < 6; s++) {
        dl_synth_page p;
        CHECK(dl_synth_generate(g, dl_synth_page_seed(5, (uint64_t)s), &p) == 0);
        CHECK(p.width == 1275 || p.width == 1240 || p.width == 1500 || p.width == 1654 ||
              p.width == 1650);
        int dummy[DL_LABEL_COUNT] = {0};
        check_page(&p, s, dummy, 0);
        dl_synth_page_free(&p);
    }
    dl_synth_free(g);
    dl_synth_resources_free(res);

    /* the program: 1 and 2 threads write the same files */
    char d1[] = "/tmp/dl_test_synth_XXXXXX", d2[] = "/tmp/dl_test_synth_XXXXXX";
    if (mkdtemp(d1) && mkdtemp(d2)) {
        CHECK(run_tool(d1, "1") == 0);
        CHECK(run_tool(d2, "2") == 0);
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/annotations.json", d1);
        snprintf(b, sizeof b, "%s/annotations.json", d2);
        CHECK(dl_test_same_file(a, b));
        for (int i = 0; i < 4; i++) {
            snprintf(a, sizeof a, "%s/images/%06d.png", d1, i);
            snprintf(b, sizeof b, "%s/images/%06d.png", d2, i);
            CHECK(dl_test_same_file(a, b));
        }
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d1, d2);
        CHECK(system(cmd) == 0);
    }
    return dl_test_finish("test_synth");
}
#endif
