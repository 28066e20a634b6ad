/*
 * postprocess_topk: the post-processed reference of `doclayout serve` (and of Docling's ONNX
 * export of heron) from `doclayout infer`'s outputs, through the public
 * dl_model_postprocess_topk: for each page, K = the model's queries results of transformers'
 * post_process_object_detection at threshold 0, unclamped, in original pixels.
 *
 *   postprocess_topk MODEL_DIR logits.npy pred_boxes.npy W,H[,W,H...] OUT_DIR
 *
 * writes OUT_DIR/labels.bin (int64 [N,K]), boxes.bin (float32 [N,K,4]) and scores.bin
 * (float32 [N,K]), raw little-endian, the bytes a KServe v2 binary reply carries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doclayout.h"
#include "io/npy.h"

static int write_file(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "postprocess_topk: cannot write %s\n", path);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: postprocess_topk MODEL_DIR logits.npy pred_boxes.npy "
                        "W,H[,W,H...] OUT_DIR\n");
        return 2;
    }
    dl_error err;
    dl_model *m = NULL;
    dl_npy lg = {0}, bx = {0};
    int rc = 1;
    if (dl_model_load(argv[1], NULL, &m, &err) != DL_OK ||
        dl_npy_read(argv[2], &lg, &err) != DL_OK || dl_npy_read(argv[3], &bx, &err) != DL_OK) {
        fprintf(stderr, "postprocess_topk: %s\n", err.message);
        goto out;
    }
    int q = dl_model_num_queries(m), l = dl_model_num_labels(m), k = dl_model_max_detections(m);
    int n = lg.ndim == 3 ? (int)lg.shape[0] : 0;
    if (lg.dtype != DL_NPY_F32 || lg.ndim != 3 || lg.shape[1] != q || lg.shape[2] != l ||
        bx.dtype != DL_NPY_F32 || bx.ndim != 3 || bx.shape[0] != n || bx.shape[1] != q ||
        bx.shape[2] != 4) {
        fprintf(stderr, "postprocess_topk: expected logits [N,%d,%d] and pred_boxes [N,%d,4]\n", q,
                l, q);
        goto out;
    }
    int64_t *sizes = calloc((size_t)n * 2, sizeof *sizes);
    int64_t *labels = calloc((size_t)n * k, sizeof *labels);
    float *scores = calloc((size_t)n * k, sizeof *scores);
    float *boxes = calloc((size_t)n * k * 4, sizeof *boxes);
    const char *p = argv[4];
    int got = 0;
    while (sizes && got < 2 * n && *p) {
        char *end;
        sizes[got++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    if (!sizes || !labels || !scores || !boxes || got != 2 * n || *p) {
        fprintf(stderr, "postprocess_topk: give W,H for each of the %d pages\n", n);
    } else {
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++)
            if (dl_model_postprocess_topk(m, (const float *)lg.data + (size_t)i * q * l,
                                          (const float *)bx.data + (size_t)i * q * 4, sizes[2 * i],
                                          sizes[2 * i + 1], labels + (size_t)i * k,
                                          scores + (size_t)i * k, boxes + (size_t)i * k * 4,
                                          &err) != DL_OK) {
                fprintf(stderr, "postprocess_topk: %s\n", err.message);
                rc = 1;
            }
        if (rc == 0 && !(write_file(argv[5], "labels.bin", labels, (size_t)n * k * 8) &&
                         write_file(argv[5], "boxes.bin", boxes, (size_t)n * k * 16) &&
                         write_file(argv[5], "scores.bin", scores, (size_t)n * k * 4)))
            rc = 1;
    }
    free(sizes);
    free(labels);
    free(scores);
    free(boxes);
out:
    dl_npy_free(&lg);
    dl_npy_free(&bx);
    dl_model_free(m);
    return rc;
}
