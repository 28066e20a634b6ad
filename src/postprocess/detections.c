#include "postprocess/detections.h"

#include <math.h>

#include "ops/ops.h"

static float iou(const float *a, const float *b) {
    float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

int dl_postprocess_detections(const float *logits, const float *boxes, int q, int labels, int k,
                              float nms, float threshold, float width, float height, bool clamp,
                              dl_raw_detection *out, float *scratch) {
    int n = q * labels;
    if (k > n) k = n;
    float *scores = scratch;              /* [q * labels] */
    int *idx = (int *)(scratch + n);      /* [k] */
    int *heap = (int *)(scratch + n + k); /* [k] */
    for (int i = 0; i < n; i++) scores[i] = 1.0f / (1.0f + expf(-logits[i]));
    dl_topk(scores, n, k, idx, heap);
    int count = 0;
    for (int r = 0; r < k; r++) {
        int i = idx[r];
        float s = scores[i];
        if (!(s > threshold)) continue; /* strict, and NaN never passes */
        int query = i / labels;
        const float *b = boxes + (size_t)query * 4;
        float box[4] = {(b[0] - 0.5f * b[2]) * width, (b[1] - 0.5f * b[3]) * height,
                        (b[0] + 0.5f * b[2]) * width, (b[1] + 0.5f * b[3]) * height};
        if (clamp) {
            const float lim[4] = {width, height, width, height};
            for (int c = 0; c < 4; c++) box[c] = fminf(fmaxf(box[c], 0.0f), lim[c]);
        }
        if (nms > 0) { /* greedy, per label, in score order */
            bool drop = false;
            for (int j = 0; j < count && !drop; j++)
                drop = out[j].label == i % labels && iou(out[j].box, box) > nms;
            if (drop) continue;
        }
        dl_raw_detection *d = &out[count++];
        d->label = i % labels;
        d->query = query;
        d->score = s;
        for (int c = 0; c < 4; c++) d->box[c] = box[c];
    }
    return count;
}
