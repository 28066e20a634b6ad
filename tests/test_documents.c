/*
 * Documents end to end. The output writers on given regions of a PDF that the test makes
 * (cells and text assigned, docling prov boxes exactly at the known points in BOTTOMLEFT
 * origin, every reference resolving, labels DocItemLabel values, schema-valid when Debian's
 * python3-jsonschema and ../shared are there), then the CLI: --pages, --password, stdin,
 * formats, a multi-page TIFF and a mixed directory (one result per page), a directory with
 * unreadable files, -o DIR (one file per input, resumable, --force), an unwritable output.
 */
#include <cjson/cJSON.h>
#include <sys/wait.h>
#include <unistd.h>

#include "document/document.h"
#include "io/file.h"
#include "output/documents.h"
#include "pdf_writer.h"
#include "postprocess/layout.h"
#include "test_json.h"
#include "test_scratch.h"
#include "test_util.h"

static char model_dir[1024];

static cJSON *resolve(cJSON *doc, const char *ref) {
    if (strcmp(ref, "#/body") == 0) return cJSON_GetObjectItem(doc, "body");
    if (strcmp(ref, "#/furniture") == 0) return cJSON_GetObjectItem(doc, "furniture");
    char kind[32];
    int idx;
    if (sscanf(ref, "#/%31[a-z_]/%d", kind, &idx) != 2) return NULL;
    return cJSON_GetArrayItem(cJSON_GetObjectItem(doc, kind), idx);
}

static const char *const docitem_labels[] = {"caption",
                                             "chart",
                                             "footnote",
                                             "formula",
                                             "list_item",
                                             "page_footer",
                                             "page_header",
                                             "picture",
                                             "section_header",
                                             "table",
                                             "text",
                                             "title",
                                             "document_index",
                                             "code",
                                             "checkbox_selected",
                                             "checkbox_unselected",
                                             "form",
                                             "key_value_region",
                                             "paragraph",
                                             "reference",
                                             NULL};

/* Content checks the schema cannot make. Returns the number of items seen. */
static int check_docling(cJSON *doc, const double *page_w, const double *page_h, int n_pages) {
    int items = 0;
    const char *kinds[] = {"texts", "pictures", "tables", "groups"};
    cJSON *pages = cJSON_GetObjectItem(doc, "pages");
    for (int p = 1; p <= n_pages; p++) {
        char key[8];
        snprintf(key, sizeof key, "%d", p);
        cJSON *pg = cJSON_GetObjectItem(pages, key), *sz = cJSON_GetObjectItem(pg, "size");
        CHECK_MSG(pg && cJSON_GetObjectItem(sz, "width")->valuedouble == page_w[p - 1] &&
                      cJSON_GetObjectItem(sz, "height")->valuedouble == page_h[p - 1],
                  "page %d size", p);
    }
    for (int k = 0; k < 4; k++) {
        cJSON *arr = cJSON_GetObjectItem(doc, kinds[k]), *it;
        int i = 0;
        cJSON_ArrayForEach(it, arr) {
            char self[64];
            snprintf(self, sizeof self, "#/%s/%d", kinds[k], i++);
            CHECK(strcmp(cJSON_GetObjectItem(it, "self_ref")->valuestring, self) == 0);
            cJSON *parent = resolve(
                doc, cJSON_GetObjectItem(cJSON_GetObjectItem(it, "parent"), "$ref")->valuestring);
            CHECK_MSG(parent != NULL, "%s: parent does not resolve", self);
            int listed = 0;
            cJSON *c;
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(parent, "children")) listed |=
                strcmp(cJSON_GetObjectItem(c, "$ref")->valuestring, self) == 0;
            CHECK_MSG(listed, "%s is not among its parent's children", self);
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(it, "children"))
                CHECK(resolve(doc, cJSON_GetObjectItem(c, "$ref")->valuestring) != NULL);
            if (k == 3) continue;
            items++;
            const char *label = cJSON_GetObjectItem(it, "label")->valuestring;
            int ok = 0;
            for (int l = 0; docitem_labels[l]; l++) ok |= strcmp(label, docitem_labels[l]) == 0;
            CHECK_MSG(ok, "label %s", label);
            cJSON *prov = cJSON_GetArrayItem(cJSON_GetObjectItem(it, "prov"), 0);
            CHECK_MSG(prov != NULL, "%s has no prov", self);
            if (!prov) continue;
            int pn = cJSON_GetObjectItem(prov, "page_no")->valueint;
            CHECK(pn >= 1 && pn <= n_pages);
            cJSON *bb = cJSON_GetObjectItem(prov, "bbox");
            double l = cJSON_GetObjectItem(bb, "l")->valuedouble,
                   t = cJSON_GetObjectItem(bb, "t")->valuedouble;
            double r = cJSON_GetObjectItem(bb, "r")->valuedouble,
                   b = cJSON_GetObjectItem(bb, "b")->valuedouble;
            CHECK(strcmp(cJSON_GetObjectItem(bb, "coord_origin")->valuestring, "BOTTOMLEFT") == 0);
            if (pn >= 1 && pn <= n_pages)
                CHECK_MSG(l >= 0 && r <= page_w[pn - 1] && b >= 0 && t <= page_h[pn - 1] &&
                              l <= r && b <= t,
                          "%s bbox %g %g %g %g outside the page", self, l, t, r, b);
        }
    }
    return items;
}

/* python3 -m jsonschema-style validation; 0 ok, 1 invalid, 77 unavailable (then the test ends
 * as skipped, not passed, and fails in CI). The schema of ../shared, else its copy in
 * tests/fixtures. */
static int validate_schema(const char *json_path) {
    char schema[1024], cmd[4096], out[1 << 14];
    if (!dl_shared_path("data/docling-core/DoclingDocument.schema.json", schema, sizeof schema))
        snprintf(schema, sizeof schema,
                 "%s/tests/fixtures/docling-core/DoclingDocument.schema.json", DL_SOURCE_DIR);
    if (dl_test_run("python3 -c 'import jsonschema'", out, sizeof out) != 0) {
        dl_test_unavailable("DoclingDocument schema validation", "no python3-jsonschema");
        return 77;
    }
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys,jsonschema; s=json.load(open(sys.argv[1])); "
             "d=json.load(open(sys.argv[2])); "
             "ds=d if isinstance(d,list) else [d]; [jsonschema.validate(x, s) for x in ds]' %s %s",
             schema, json_path);
    int rc = dl_test_run(cmd, out, sizeof out);
    if (rc) fprintf(stderr, "schema validation of %s failed:\n%s\n", json_path, out);
    return rc ? 1 : 0;
}

int main(void) {
    char cmd[4096], args[4096], out[1 << 16];
    dl_test_tiny_model(model_dir, sizeof model_dir);
    CHECK(dl_test_scratch("docs") == 0);
    dl_error err;

    /* ---- outputs on given regions of a PDF with known text ---- */
    tpdf doc = {0};
    tpdf_page *p1 = tpdf_add_page(&doc, 612, 792);
    tpdf_text(p1, 72, 720, 18, "Introduction");
    tpdf_text(p1, 72, 690, 10, "First line of text");
    tpdf_text(p1, 72, 678, 10, "second line of text");
    tpdf_text(p1, 72, 640, 10, "- an item");
    tpdf_text(p1, 400, 100, 8, "orphan words");
    tpdf_rect(p1, 300, 300, 200, 150, 0.5);
    tpdf_page *p2 = tpdf_add_page(&doc, 300, 400);
    tpdf_text(p2, 30, 350, 10, "Page two");
    CHECK(tpdf_write(&doc, tp("doc.pdf")) == 0);
    double pw[2] = {612, 300}, ph[2] = {792, 400};

    if (!dl_pdf_available()) dl_test_unavailable("the PDF checks", "built without MuPDF");
    if (dl_pdf_available()) {
        dl_doc *d = NULL;
        CHECK_OK(dl_doc_open(tp("doc.pdf"), NULL, &d, &err), &err);
        dl_pdf_page pg[2];
        CHECK_OK(dl_doc_load_page(d, 0, 72, DL_CELLS_LINES, &pg[0], &err), &err);
        CHECK_OK(dl_doc_load_page(d, 1, 72, DL_CELLS_LINES, &pg[1], &err), &err);
        CHECK(pg[0].cells.n == 5 && pg[1].cells.n == 1);
        /* regions in points, top-left: heading, a paragraph, a list item, a picture; the
         * "orphan words" cell lies in no region */
        dl_cluster_in in[] = {
            {DL_LABEL_TITLE, 0.9f, {70, 50, 200, 80}},
            {DL_LABEL_TEXT, 0.9f, {70, 95, 300, 120}},
            {DL_LABEL_LIST_ITEM, 0.8f, {70, 140, 200, 160}},
            {DL_LABEL_PICTURE, 0.9f, {300, 342, 500, 492}},
        };
        dl_layout lay[2];
        CHECK_OK(dl_layout_postprocess(in, 4, &pg[0].cells, 612, 792, NULL, &lay[0], &err), &err);
        dl_cluster_in in2[] = {{DL_LABEL_TEXT, 0.9f, {25, 35, 100, 60}}};
        CHECK_OK(dl_layout_postprocess(in2, 1, &pg[1].cells, 300, 400, NULL, &lay[1], &err), &err);
        CHECK_MSG(lay[0].n == 5, "%zu regions", lay[0].n);
        dl_page_out po[2];
        for (int i = 0; i < 2; i++) {
            memset(&po[i], 0, sizeof po[i]);
            po[i].source = tp("doc.pdf");
            po[i].page_no = i + 1;
            po[i].width = pg[i].image->width;
            po[i].height = pg[i].image->height;
            po[i].width_pt = pg[i].width_pt;
            po[i].height_pt = pg[i].height_pt;
            po[i].scale = pg[i].scale;
            po[i].dpi = 72;
            po[i].regions = lay[i].regions;
            po[i].n_regions = lay[i].n;
            po[i].cells = &pg[i].cells;
        }
        if (lay[0].n == 5) {
            /* text per region, in reading order */
            char *t = dl_region_text(&lay[0].regions[0], &pg[0].cells);
            CHECK_MSG(strcmp(t, "Introduction") == 0 &&
                          lay[0].regions[0].label == DL_LABEL_SECTION_HEADER,
                      "%s", t);
            free(t);
            t = dl_region_text(&lay[0].regions[1], &pg[0].cells);
            CHECK_MSG(strcmp(t, "First line of text second line of text") == 0, "%s", t);
            free(t);
            t = dl_region_text(&lay[0].regions[3], &pg[0].cells);
            CHECK_MSG(strcmp(t, "orphan words") == 0 && lay[0].regions[3].source == -1, "%s", t);
            free(t);
            CHECK(lay[0].regions[4].label == DL_LABEL_PICTURE);
        }
        /* docling: the picture (no cells, so it keeps its box) comes back at its points */
        cJSON *dj = dl_docling_document(tp("doc.pdf"), "application/pdf", 42, po, 2);
        CHECK(check_docling(dj, pw, ph, 2) == 6);
        cJSON *pic = cJSON_GetArrayItem(cJSON_GetObjectItem(dj, "pictures"), 0);
        cJSON *bb =
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pic, "prov"), 0), "bbox");
        CHECK(cJSON_GetObjectItem(bb, "l")->valuedouble == 300 &&
              cJSON_GetObjectItem(bb, "r")->valuedouble == 500);
        CHECK(cJSON_GetObjectItem(bb, "t")->valuedouble == 792 - 342 &&
              cJSON_GetObjectItem(bb, "b")->valuedouble == 792 - 492);
        cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(dj, "texts"), 0);
        CHECK(strcmp(cJSON_GetObjectItem(t0, "label")->valuestring, "section_header") == 0);
        CHECK(strcmp(cJSON_GetObjectItem(t0, "text")->valuestring, "Introduction") == 0);
        cJSON *li = cJSON_GetArrayItem(cJSON_GetObjectItem(dj, "texts"), 2);
        CHECK(strcmp(cJSON_GetObjectItem(li, "label")->valuestring, "list_item") == 0);
        CHECK(strncmp(cJSON_GetObjectItem(cJSON_GetObjectItem(li, "parent"), "$ref")->valuestring,
                      "#/groups/", 9) == 0);
        char *text = cJSON_Print(dj);
        FILE *f = fopen(tp("given.docling.json"), "w");
        fputs(text, f);
        fclose(f);
        free(text);
        cJSON_Delete(dj);
        int v = validate_schema(tp("given.docling.json"));
        CHECK(v == 0 || v == 77);
        /* markdown */
        char *md = dl_markdown_document(po, 2);
        CHECK_MSG(md && strstr(md, "## Introduction\n") && strstr(md, "- - an item\n") &&
                      strstr(md, "<!-- image -->") && strstr(md, "Page two"),
                  "%s", md);
        free(md);
        /* json: boxes in pixels (= points at 72 dpi) and text; coco */
        cJSON *jp = dl_json_page_out(&po[0]);
        cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(jp, "detections"), 0);
        CHECK(strcmp(cJSON_GetObjectItem(d0, "text")->valuestring, "Introduction") == 0);
        cJSON_Delete(jp);
        cJSON *res = cJSON_CreateArray(), *ims = cJSON_CreateArray();
        dl_coco_add_page(res, ims, 7, &po[0]);
        CHECK(cJSON_GetArraySize(res) == 5 && cJSON_GetArraySize(ims) == 1);
        cJSON *r4 = cJSON_GetArrayItem(res, 4);
        CHECK(cJSON_GetObjectItem(r4, "category_id")->valueint == DL_LABEL_PICTURE + 1);
        CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(r4, "bbox"), 2)->valuedouble == 200);
        cJSON_Delete(res);
        cJSON_Delete(ims);
        for (int i = 0; i < 2; i++) {
            dl_layout_free(&lay[i]);
            dl_pdf_page_clear(&pg[i]);
        }
        dl_doc_close(d);
    }

    /* ---- the CLI ---- */
    const char *M = model_dir;
    if (dl_pdf_available()) {
        /* docling output of a real run: valid, page sizes equal the PDF's */
        snprintf(args, sizeof args, "detect --model %s --format docling -o %s %s", M,
                 tp("run.docling.json"), tp("doc.pdf"));
        expect(args, 0, NULL);
        cJSON *dj = dl_test_load_json(tp("run.docling.json"));
        CHECK(dj != NULL);
        if (dj) check_docling(dj, pw, ph, 2);
        cJSON_Delete(dj);
        int v = validate_schema(tp("run.docling.json"));
        CHECK(v == 0 || v == 77);
        /* --pages */
        snprintf(args, sizeof args, "detect --model %s --pages 2 -o %s %s", M, tp("p2.json"),
                 tp("doc.pdf"));
        expect(args, 0, NULL);
        cJSON *j = dl_test_load_json(tp("p2.json"));
        cJSON *pages = cJSON_GetObjectItem(j, "pages");
        CHECK(cJSON_GetArraySize(pages) == 1 &&
              cJSON_GetObjectItem(cJSON_GetArrayItem(pages, 0), "page")->valueint == 2);
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(pages, 0), "width")->valueint == 300);
        cJSON_Delete(j);
        snprintf(args, sizeof args, "detect --model %s --pages 5-9 %s", M, tp("doc.pdf"));
        expect(args, 1, "selects none");
        snprintf(args, sizeof args, "detect --model %s --pages x %s", M, tp("doc.pdf"));
        expect(args, 2, "--pages");
        /* --dpi 144 doubles the image */
        snprintf(args, sizeof args,
                 "detect --model %s --dpi 144 --pages 2 --format coco --coco-images %s", M,
                 tp("doc.pdf"));
        expect(args, 0, "\"width\":\t600");
        /* stdin, markdown */
        snprintf(cmd, sizeof cmd, "%s detect --model %s --format markdown - < %s", DL_CLI_PATH, M,
                 tp("doc.pdf"));
        CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0, "%s", out);
        /* bad PDFs: truncated, zero pages, encrypted without password */
        snprintf(cmd, sizeof cmd, "head -c 60 %s > %s", tp("doc.pdf"), tp("cut.pdf"));
        CHECK(system(cmd) == 0);
        tpdf empty = {0};
        CHECK(tpdf_write(&empty, tp("empty.pdf")) == 0);
        snprintf(args, sizeof args, "detect --model %s %s %s %s", M, tp("cut.pdf"), tp("empty.pdf"),
                 tp("doc.pdf"));
        expect(args, 1, "cut.pdf");
        expect(args, 1, "no pages");
        expect(args, 1, "\"page\":\t2");
    }
    /* a multi-page TIFF and a mixed directory: one result per page; unreadable files are
     * reported and the run goes on */
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p %s/mixed && cp %s/tests/fixtures/images/multipage.tif "
        "%s/tests/fixtures/images/rgb.jpg "
        "%s/tests/fixtures/images/grey.png %s/mixed/ && ln -s /nonexistent %s/mixed/gone.png && "
        "printf junk > %s/mixed/junk.tif && printf x > %s/mixed/notes.txt",
        tmp, DL_SOURCE_DIR, DL_SOURCE_DIR, DL_SOURCE_DIR, tmp, tmp, tmp, tmp);
    CHECK(system(cmd) == 0);
    snprintf(args, sizeof args, "detect --model %s -o %s %s/mixed/", M, tp("mixed.json"), tmp);
    expect(args, 1, "gone.png");
    expect(args, 1, "junk.tif");
    cJSON *j = dl_test_load_json(tp("mixed.json"));
    int n_ok = 0, n_err = 0;
    cJSON *pg;
    cJSON_ArrayForEach(pg, cJSON_GetObjectItem(j, "pages")) {
        if (cJSON_GetObjectItem(pg, "error")) n_err++;
        else n_ok++;
    }
    CHECK_MSG(n_ok == 5 && n_err == 2, "%d ok, %d errors", n_ok,
              n_err); /* 3 TIFF pages + jpg + png */
    cJSON_Delete(j);
    /* -o DIR/: one result per input; existing results are skipped unless --force */
    snprintf(cmd, sizeof cmd,
             "printf '%s/mixed/rgb.jpg\\n# a comment\\n%s/mixed/grey.png\\n' > %s/list.txt", tmp,
             tmp, tmp);
    CHECK(system(cmd) == 0);
    snprintf(args, sizeof args, "detect --model %s -o %s/outdir/ @%s/list.txt", M, tmp, tmp);
    expect(args, 0, NULL);
    CHECK(dl_path_exists(tp("outdir/rgb.jpg.json")) && dl_path_exists(tp("outdir/grey.png.json")));
    snprintf(cmd, sizeof cmd, "rm %s/outdir/grey.png.json", tmp);
    CHECK(system(cmd) == 0);
    expect(args, 0, "1 input skipped");
    CHECK(dl_path_exists(tp("outdir/grey.png.json")));
    snprintf(args, sizeof args, "detect --model %s --force -o %s/outdir/ @%s/list.txt", M, tmp,
             tmp);
    char out2[1 << 12];
    snprintf(cmd, sizeof cmd, "%s %s", DL_CLI_PATH, args);
    CHECK(dl_test_run(cmd, out2, sizeof out2) == 0 && !strstr(out2, "skipped"));
    /* an output directory that cannot be written */
    snprintf(args, sizeof args, "detect --model %s -o %s/list.txt/sub/ %s/mixed/grey.png", M, tmp,
             tmp);
    expect(args, 1, "output directory");
    snprintf(args, sizeof args, "detect --model %s @%s/nolist.txt", M, tmp);
    expect(args, 1, "cannot read the list");

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return dl_test_finish("test_documents");
}
