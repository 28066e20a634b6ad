#include "postprocess/detections.h"

#include <math.h>

#include "ops/ops.h"

int dl_postprocess_detections(const float *logits, const float *boxes, int q, int labels,
                              float threshold, float width, float height, bool clamp,
                              dl_raw_detection *out, float *scratch) {
    int n = q * labels;
    float *scores = scratch;                 /* [q * labels] */
    int *idx = (int *)(scratch + n);         /* [q] */
    int *heap = (int *)(scratch + 2 * n);    /* [q] */
    for (int i = 0; i < n; i++) scores[i] = 1.0f / (1.0f + expf(-logits[i]));
    dl_topk(scores, n, q, idx, heap);
    int count = 0;
    for (int r = 0; r < q && r < n; r++) {
        int i = idx[r];
        float s = scores[i];
        if (!(s > threshold)) continue; /* strict, and NaN never passes */
        int query = i / labels;
        const float *b = boxes + (size_t)query * 4;
        float box[4] = {(b[0] - 0.5f * b[2]) * width, (b[1] - 0.5f * b[3]) * height,
                        (b[0] + 0.5f * b[2]) * width, (b[1] + 0.5f * b[3]) * height};
        if (clamp) {
            const float lim[4] = {width, height, width, height};
            for (int k = 0; k < 4; k++) box[k] = fminf(fmaxf(box[k], 0.0f), lim[k]);
        }
        dl_raw_detection *d = &out[count++];
        d->label = i % labels;
        d->query = query;
        d->score = s;
        for (int k = 0; k < 4; k++) d->box[k] = box[k];
    }
    return count;
}
