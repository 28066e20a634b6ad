/*
 * The reduced-precision gate on final detections (issue 16): at least `min_rate` of the
 * reference run's detections with score >= `min_score` must be matched, one to one, by a
 * detection of the other run with the same label, IoU >= `min_iou` and |dscore| <= `max_dscore`.
 * Shared by test_parity_cuda (bf16 vs fp32 on the GPU) and test_detection_gate (the gate's own
 * checks on the CPU, including that it fails when it should).
 */
#ifndef DL_TESTS_DETECTION_GATE_H
#define DL_TESTS_DETECTION_GATE_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "doclayout.h"

typedef struct dl_gate {
    float min_score, min_iou, max_dscore;
    double min_rate;
} dl_gate;

static const dl_gate dl_gate_bf16 = {0.3f, 0.95f, 0.02f, 0.95};

typedef struct dl_gate_count {
    size_t reference; /* reference detections with score >= min_score */
    size_t matched;   /* of those, matched in the other run */
} dl_gate_count;

static inline double dl_gate_iou(const float *a, const float *b) {
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]), iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    double inter = ix * iy;
    double ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* Add one page's detections to `c` (greedy in the reference's order, best IoU first). */
static inline void dl_gate_add(const dl_gate *g, const dl_detection *ref, size_t nref,
                               const dl_detection *other, size_t nother, dl_gate_count *c) {
    char *used = calloc(nother ? nother : 1, 1);
    for (size_t i = 0; i < nref; i++) {
        if (ref[i].score < g->min_score) continue;
        c->reference++;
        size_t best = nother;
        double best_iou = 0;
        for (size_t j = 0; j < nother; j++) {
            if (used && used[j]) continue;
            if (other[j].label_id != ref[i].label_id) continue;
            if (fabs((double)other[j].score - ref[i].score) > g->max_dscore) continue;
            double iou = dl_gate_iou(ref[i].box, other[j].box);
            if (iou >= g->min_iou && iou > best_iou) best = j, best_iou = iou;
        }
        if (best < nother) {
            if (used) used[best] = 1;
            c->matched++;
        }
    }
    free(used);
}

static inline double dl_gate_rate(const dl_gate_count *c) {
    return c->reference ? (double)c->matched / (double)c->reference : 0.0;
}

/* Passes only with at least one confident reference detection and the rate reached. */
static inline bool dl_gate_passes(const dl_gate *g, const dl_gate_count *c) {
    return c->reference > 0 && dl_gate_rate(c) >= g->min_rate;
}

#endif
