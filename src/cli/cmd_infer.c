/* `doclayout infer`: the network alone on a float32 [N,3,H,W] .npy, logits and boxes written
 * as .npy (the parity tool to compare with PyTorch: tools/compare_with_transformers.py). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli/cli.h"

const char dl_cli_infer_help[] =
    "  doclayout infer --model DIR --input pixel_values.npy --out DIR [--threads N]\n"
    "      Run the network alone on a float32 [N,3,H,W] .npy and write logits.npy [N,Q,L]\n"
    "      and pred_boxes.npy [N,Q,4] (normalised cx, cy, w, h): the parity tool to compare\n"
    "      with PyTorch (see tools/compare_with_transformers.py).\n";

static int infer(const options *o) {
    if (!o->input || !o->out_dir) {
        fprintf(stderr, "doclayout infer: --input FILE.npy and --out DIR are required\n");
        return 2;
    }
    float *pixels = NULL;
    int ndim = 0;
    int64_t shape[DL_NPY_MAX_DIMS];
    dl_error err;
    dl_status rs = dl_npy_read_f32(o->input, &pixels, &ndim, shape, &err);
    if (rs != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        return 1;
    }
    if (ndim != 4 || shape[1] != 3 || shape[0] < 1 || shape[0] > 4096) {
        fprintf(stderr, "doclayout: %s: expected float32 pixel values of shape [N,3,H,W]\n",
                o->input);
        free(pixels);
        return 1;
    }
    dl_model *model = NULL;
    dl_detector *det = NULL;
    if (dl_cli_load_detector(o, &model, &det)) {
        free(pixels);
        return 1;
    }
    int n = (int)shape[0], q = dl_model_num_queries(model), l = dl_model_num_labels(model);
    float *logits = malloc((size_t)n * q * l * sizeof(float));
    float *boxes = malloc((size_t)n * q * 4 * sizeof(float));
    int rc = 0;
    if (!logits || !boxes) {
        fprintf(stderr, "doclayout: out of memory\n");
        rc = 1;
    } else if (dl_detector_forward(det, pixels, n, (int)shape[2], (int)shape[3], logits, boxes,
                                   &err) != DL_OK) {
        fprintf(stderr, "doclayout: %s\n", err.message);
        rc = 1;
    } else {
        mkdir(o->out_dir, 0777);
        char p[PATH_MAX];
        int64_t ls[3] = {n, q, l}, bs[3] = {n, q, 4};
        snprintf(p, sizeof p, "%s/logits.npy", o->out_dir);
        if (dl_npy_write_f32(p, logits, 3, ls, &err) != DL_OK) rc = 1;
        snprintf(p, sizeof p, "%s/pred_boxes.npy", o->out_dir);
        if (rc == 0 && dl_npy_write_f32(p, boxes, 3, bs, &err) != DL_OK) rc = 1;
        if (rc) fprintf(stderr, "doclayout: %s\n", err.message);
    }
    free(logits);
    free(boxes);
    free(pixels);
    dl_detector_free(det);
    dl_model_free(model);
    return rc;
}

int dl_cli_infer(int argc, char **argv) {
    options o;
    int rc = dl_cli_parse_options(argc, argv, &o);
    if (rc == 0) rc = infer(&o);
    free(o.files);
    return rc;
}
