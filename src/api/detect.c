/* dl_detector_run: preprocessing, the network, post-processing, results. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/error.h"
#include "image/image.h"
#include "image/resize.h"
#include "postprocess/detections.h"

struct dl_result {
    size_t n_images;
    size_t *counts;       /* [n_images] */
    dl_detection **items; /* [n_images][counts[i]] */
};

dl_status dl_model_preprocess(const dl_model *m, const dl_image *img, float *px, dl_error *err) {
    if (!m || !img || !px || !img->rgb)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_model_preprocess: NULL argument");
    if (img->width < 1 || img->height < 1 || img->stride < (size_t)img->width * 3)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "image of %dx%d (stride %zu) is invalid",
                       img->width, img->height, img->stride);
    const dl_preprocess *pp = &m->pre;
    dl_pixel_norm norm = {pp->do_rescale ? pp->rescale_factor : 1.0f,
                          pp->do_normalize,
                          {pp->mean[0], pp->mean[1], pp->mean[2]},
                          {pp->std[0], pp->std[1], pp->std[2]}};
    /* resize (when the size differs) and convert to [3, H, W] in one pass over the rows, with
     * the model's cached plan for this page size */
    if (m->plans) return dl_resize_cache_run_chw(m->plans, img, &norm, px, err);
    return dl_preprocess_image(img, pp->width, pp->height, &norm, px, err);
}

int dl_model_max_detections(const dl_model *m) { return m ? m->max_detections : 0; }

dl_status dl_model_postprocess(const dl_model *m, const float *logits, const float *pred_boxes,
                               float threshold, int width, int height, dl_detection *out,
                               size_t *count, dl_error *err) {
    if (!m || !logits || !pred_boxes || !out || !count)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_model_postprocess: NULL argument");
    *count = 0;
    if (width < 1 || height < 1)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "image size %dx%d is invalid", width, height);
    int q = m->num_queries, labels = m->num_labels, k = m->max_detections;
    float *scratch = malloc(((size_t)q * labels + 2 * (size_t)k + 2) * sizeof(float));
    dl_raw_detection *raw = malloc((size_t)k * sizeof *raw);
    if (!scratch || !raw) {
        free(scratch);
        free(raw);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int n = dl_postprocess_detections(logits, pred_boxes, q, labels, k, m->nms_threshold, threshold,
                                      (float)width, (float)height, true, raw, scratch);
    for (int j = 0; j < n; j++) {
        out[j].label_id = raw[j].label;
        out[j].label = m->label_names[raw[j].label];
        out[j].score = raw[j].score;
        memcpy(out[j].box, raw[j].box, sizeof out[j].box);
    }
    *count = (size_t)n;
    free(scratch);
    free(raw);
    return DL_OK;
}

dl_status dl_model_postprocess_topk(const dl_model *m, const float *logits, const float *pred_boxes,
                                    int64_t width, int64_t height, int64_t *labels, float *scores,
                                    float *boxes, dl_error *err) {
    if (!m || !logits || !pred_boxes || !labels || !scores || !boxes)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_model_postprocess_topk: NULL argument");
    if (width < 1 || height < 1 || width > DL_POSTPROCESS_MAX_SIDE ||
        height > DL_POSTPROCESS_MAX_SIDE)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "image size %lldx%lld is outside 1..%d",
                       (long long)width, (long long)height, DL_POSTPROCESS_MAX_SIDE);
    int q = m->num_queries, nl = m->num_labels, k = m->max_detections;
    float *scratch = malloc(((size_t)q * nl + 2 * (size_t)k + 2) * sizeof(float));
    dl_raw_detection *raw = malloc((size_t)k * sizeof *raw);
    if (!scratch || !raw) {
        free(scratch);
        free(raw);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    /* every finite score passes a -inf threshold: all K, as at threshold 0 without the strict
     * comparison dropping a score that underflowed to 0 */
    int n = dl_postprocess_detections(logits, pred_boxes, q, nl, k, m->nms_threshold, -INFINITY,
                                      (float)width, (float)height, false, raw, scratch);
    for (int j = 0; j < k; j++) {
        labels[j] = j < n ? raw[j].label : 0;
        scores[j] = j < n ? raw[j].score : 0.0f;
        for (int c = 0; c < 4; c++) boxes[(size_t)j * 4 + c] = j < n ? raw[j].box[c] : 0.0f;
    }
    free(scratch);
    free(raw);
    return DL_OK;
}

void dl_result_free(dl_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_images; i++) free(r->items[i]);
    free(r->items);
    free(r->counts);
    free(r);
}

size_t dl_result_num_images(const dl_result *r) { return r ? r->n_images : 0; }

const dl_detection *dl_result_detections(const dl_result *r, size_t index, size_t *count) {
    if (!r || index >= r->n_images) {
        if (count) *count = 0;
        return NULL;
    }
    if (count) *count = r->counts[index];
    return r->items[index];
}

dl_status dl_detector_run(dl_detector *d, const dl_image *const *images, size_t count,
                          float threshold, dl_result **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_run: out is NULL");
    *out = NULL;
    if (!d || (!images && count))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_detector_run: NULL argument");
    if (!(threshold >= 0.0f && threshold <= 1.0f))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "threshold %g is outside [0, 1]",
                       (double)threshold);
    const dl_model *m = d->model;
    dl_result *r = calloc(1, sizeof *r);
    dl_status s = DL_OK;
    if (!r) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    r->counts = calloc(count ? count : 1, sizeof *r->counts);
    r->items = calloc(count ? count : 1, sizeof *r->items);
    if (!r->counts || !r->items) {
        s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    r->n_images = count;
    for (size_t i = 0; i < count && s == DL_OK; i++) {
        const dl_image *img = images[i];
        if (!img) {
            s = dl_fail(err, DL_ERR_INVALID_ARGUMENT, "image %zu is NULL", i);
            break;
        }
        if ((s = dl_model_preprocess(m, img, d->pixels, err)) != DL_OK) break;
        s = dl_detector_forward_image(d, m->pre.height, m->pre.width, d->pixels, d->logits,
                                      d->boxes, err);
        if (s != DL_OK) break;
        r->items[i] = malloc((size_t)m->max_detections * sizeof(dl_detection));
        if (!r->items[i]) {
            s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        s = dl_model_postprocess(m, d->logits, d->boxes, threshold, img->width, img->height,
                                 r->items[i], &r->counts[i], err);
    }
done:
    if (s != DL_OK) {
        dl_result_free(r);
        return s;
    }
    *out = r;
    return DL_OK;
}
