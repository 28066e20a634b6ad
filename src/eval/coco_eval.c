/* COCO bbox evaluation, a line-by-line port of pycocotools' COCOeval (evaluate, accumulate,
 * summarize) for iouType "bbox". See coco_eval.h for what is reproduced. */
#include "eval/coco_eval.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const double area_lo[DL_EVAL_NUM_AREA] = {0.0, 0.0, 32.0 * 32.0, 96.0 * 96.0};
static const double area_hi[DL_EVAL_NUM_AREA] = {1e5 * 1e5, 32.0 * 32.0, 96.0 * 96.0, 1e5 * 1e5};

dl_eval_params dl_eval_default_params(void) {
    dl_eval_params p = {{1, 10, 100}};
    return p;
}

/* np.linspace(.5, 0.95, 10): start + i * ((stop - start) / 9), the last one exactly stop. */
double dl_eval_iou_threshold(int t) {
    if (t == DL_EVAL_NUM_IOU - 1) return 0.95;
    return (double)t * ((0.95 - 0.5) / (double)(DL_EVAL_NUM_IOU - 1)) + 0.5;
}

/* np.linspace(0, 1, 101): i * 0.01, the last one exactly 1. */
double dl_eval_recall_threshold(int r) {
    if (r == DL_EVAL_NUM_REC - 1) return 1.0;
    return (double)r * (1.0 / (double)(DL_EVAL_NUM_REC - 1));
}

/* maskUtils.bbIou for one pair. */
static double bb_iou(const double *d, const double *g, int crowd) {
    double da = d[2] * d[3], ga = g[2] * g[3];
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0.0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0.0;
    double i = w * h;
    double u = crowd ? da : da + ga - i;
    return i / u;
}

/* Sort keys: ground truth by (category, image, index); detections by (category, image, -score,
 * index), the index keeping numpy's stable mergesort order. */
typedef struct sort_item {
    int cat, img;
    double score;
    size_t idx;
} sort_item;

static int cmp_item(const void *pa, const void *pb) {
    const sort_item *a = pa, *b = pb;
    if (a->cat != b->cat) return a->cat < b->cat ? -1 : 1;
    if (a->img != b->img) return a->img < b->img ? -1 : 1;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->idx < b->idx ? -1 : (a->idx > b->idx);
}

/* One detection of one (category, area range) after per-image evaluation. */
typedef struct entry {
    double score;
    size_t seq;                /* order of concatenation: image order, then rank in the image */
    int rank;                  /* rank in its image (for the maxDets cut) */
    uint16_t matched, ignored; /* bit t: at IoU threshold t */
} entry;

static int cmp_entry(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq);
}

/* Build CSR offsets of `items` (sorted) per (cat, img) cell. */
static size_t *group(const sort_item *items, size_t n, int num_images, int num_cats) {
    size_t cells = (size_t)num_images * (size_t)num_cats;
    size_t *off = calloc(cells + 1, sizeof *off);
    if (!off) return NULL;
    for (size_t i = 0; i < n; i++)
        off[(size_t)items[i].cat * (size_t)num_images + (size_t)items[i].img + 1]++;
    for (size_t c = 0; c < cells; c++) off[c + 1] += off[c];
    return off;
}

static sort_item *make_items(const dl_eval_box *b, size_t n, int with_score) {
    sort_item *it = malloc((n ? n : 1) * sizeof *it);
    if (!it) return NULL;
    for (size_t i = 0; i < n; i++) {
        it[i].cat = b[i].category;
        it[i].img = b[i].image;
        it[i].score = with_score ? b[i].score : 0.0;
        it[i].idx = i;
    }
    qsort(it, n, sizeof *it, cmp_item);
    return it;
}

void dl_eval_result_free(dl_eval_result *r) {
    if (!r) return;
    free(r->ap);
    free(r->ap50);
    free(r->ap75);
    free(r->ar);
    free(r->num_gt);
    free(r->num_dt);
    memset(r, 0, sizeof *r);
}

/* Mean of the values > -1 (pycocotools' np.mean(s[s > -1])), -1 when there are none. */
typedef struct mean_acc {
    double sum;
    size_t n;
} mean_acc;
static void acc_add(mean_acc *m, double v) {
    if (v > -1) {
        m->sum += v;
        m->n++;
    }
}
static double acc_mean(const mean_acc *m) { return m->n ? m->sum / (double)m->n : -1.0; }

dl_status dl_eval_run(const dl_eval_box *gt, size_t n_gt, const dl_eval_box *dt, size_t n_dt,
                      int num_images, int num_cats, const dl_eval_params *params,
                      dl_eval_result *out) {
    memset(out, 0, sizeof *out);
    dl_eval_params p = params ? *params : dl_eval_default_params();
    const int T = DL_EVAL_NUM_IOU, R = DL_EVAL_NUM_REC, A = DL_EVAL_NUM_AREA,
              M = DL_EVAL_NUM_MAXDET;
    const int max_det = p.max_dets[M - 1];
    if (num_images < 0 || num_cats <= 0 || max_det <= 0) return DL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_gt; i++)
        if (gt[i].image < 0 || gt[i].image >= num_images || gt[i].category < 0 ||
            gt[i].category >= num_cats)
            return DL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_dt; i++)
        if (dt[i].image < 0 || dt[i].image >= num_images || dt[i].category < 0 ||
            dt[i].category >= num_cats)
            return DL_ERR_INVALID_ARGUMENT;

    double thr[DL_EVAL_NUM_IOU];
    for (int t = 0; t < T; t++) thr[t] = fmin(dl_eval_iou_threshold(t), 1 - 1e-10);

    dl_status rc = DL_ERR_OUT_OF_MEMORY;
    sort_item *gi = make_items(gt, n_gt, 0), *di = make_items(dt, n_dt, 1);
    size_t *goff = gi ? group(gi, n_gt, num_images, num_cats) : NULL;
    size_t *doff = di ? group(di, n_dt, num_images, num_cats) : NULL;
    /* precision[k][a][t][r] at the largest maxDets, recall[k][a][m][t] */
    size_t KA = (size_t)num_cats * (size_t)A;
    double *prec = malloc(KA * (size_t)T * (size_t)R * sizeof *prec);
    double *rec = malloc(KA * (size_t)M * (size_t)T * sizeof *rec);
    entry *ent = malloc((n_dt ? n_dt : 1) * sizeof *ent);
    /* per-image scratch, sized by the largest cell */
    size_t max_g = 0, max_d = 0;
    if (goff && doff)
        for (size_t c = 0; c < (size_t)num_images * (size_t)num_cats; c++) {
            if (goff[c + 1] - goff[c] > max_g) max_g = goff[c + 1] - goff[c];
            if (doff[c + 1] - doff[c] > max_d) max_d = doff[c + 1] - doff[c];
        }
    if (max_d > (size_t)max_det) max_d = (size_t)max_det;
    size_t *gorder = malloc((max_g + 1) * sizeof *gorder);
    char *gig = malloc(max_g + 1);
    char *gmatched = malloc((max_g + 1) * (size_t)T);
    double *ious = malloc((max_g + 1) * (max_d + 1) * sizeof *ious);
    double *tps = malloc((n_dt + 1) * sizeof *tps), *fps = malloc((n_dt + 1) * sizeof *fps);
    double *pr = malloc((n_dt + 1) * sizeof *pr), *rcv = malloc((n_dt + 1) * sizeof *rcv);
    out->ap = malloc((size_t)num_cats * sizeof(double));
    out->ap50 = malloc((size_t)num_cats * sizeof(double));
    out->ap75 = malloc((size_t)num_cats * sizeof(double));
    out->ar = malloc((size_t)num_cats * sizeof(double));
    out->num_gt = calloc((size_t)num_cats, sizeof(int));
    out->num_dt = calloc((size_t)num_cats, sizeof(int));
    if (!gi || !di || !goff || !doff || !prec || !rec || !ent || !gorder || !gig || !gmatched ||
        !ious || !tps || !fps || !pr || !rcv || !out->ap || !out->ap50 || !out->ap75 || !out->ar ||
        !out->num_gt || !out->num_dt)
        goto done;
    out->num_categories = num_cats;
    for (size_t i = 0; i < n_gt; i++)
        if (!gt[i].iscrowd) out->num_gt[gt[i].category]++;
    for (size_t i = 0; i < n_dt; i++) out->num_dt[dt[i].category]++;

    for (int k = 0; k < num_cats; k++) {
        for (int a = 0; a < A; a++) {
            size_t ne = 0, npig = 0, seq = 0;
            /* COCOeval.evaluateImg for every image of this category */
            for (int im = 0; im < num_images; im++) {
                size_t cell = (size_t)k * (size_t)num_images + (size_t)im;
                size_t g0 = goff[cell], ng = goff[cell + 1] - g0;
                size_t d0 = doff[cell], nd = doff[cell + 1] - d0;
                if (nd > (size_t)max_det) nd = (size_t)max_det;
                if (ng == 0 && nd == 0) continue;
                /* gt sorted with the ignored ones last (stable) */
                size_t no = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (size_t j = 0; j < ng; j++) {
                        const dl_eval_box *g = &gt[gi[g0 + j].idx];
                        int ig = g->iscrowd || g->area < area_lo[a] || g->area > area_hi[a];
                        if (ig == pass) {
                            gig[no] = (char)ig;
                            gorder[no++] = gi[g0 + j].idx;
                        }
                    }
                for (size_t j = 0; j < ng; j++) npig += !gig[j];
                for (size_t d = 0; d < nd; d++)
                    for (size_t j = 0; j < ng; j++)
                        ious[d * ng + j] = bb_iou(dt[di[d0 + d].idx].bbox, gt[gorder[j]].bbox,
                                                  gt[gorder[j]].iscrowd);
                memset(gmatched, 0, ng * (size_t)T);
                for (size_t d = 0; d < nd; d++) {
                    const dl_eval_box *db = &dt[di[d0 + d].idx];
                    entry *e = &ent[ne++];
                    e->score = db->score;
                    e->seq = seq++;
                    e->rank = (int)d;
                    e->matched = e->ignored = 0;
                    int out_of_range = db->area < area_lo[a] || db->area > area_hi[a];
                    for (int t = 0; t < T; t++) {
                        double iou = thr[t];
                        long m = -1;
                        for (size_t j = 0; j < ng; j++) {
                            if (gmatched[j * (size_t)T + (size_t)t] && !gt[gorder[j]].iscrowd)
                                continue;
                            if (m > -1 && !gig[m] && gig[j]) break;
                            if (ious[d * ng + j] < iou) continue;
                            iou = ious[d * ng + j];
                            m = (long)j;
                        }
                        if (m == -1) {
                            if (out_of_range) e->ignored |= (uint16_t)(1u << t);
                            continue;
                        }
                        if (gig[m]) e->ignored |= (uint16_t)(1u << t);
                        e->matched |= (uint16_t)(1u << t);
                        gmatched[(size_t)m * (size_t)T + (size_t)t] = 1;
                    }
                }
            }
            /* COCOeval.accumulate */
            double *P = prec + ((size_t)k * (size_t)A + (size_t)a) * (size_t)T * (size_t)R;
            double *RC = rec + ((size_t)k * (size_t)A + (size_t)a) * (size_t)M * (size_t)T;
            for (int i = 0; i < T * R; i++) P[i] = -1;
            for (int i = 0; i < M * T; i++) RC[i] = -1;
            if (npig == 0) continue;
            qsort(ent, ne, sizeof *ent, cmp_entry);
            for (int mi = 0; mi < M; mi++) {
                for (int t = 0; t < T; t++) {
                    double tp = 0, fp = 0;
                    size_t n = 0;
                    for (size_t i = 0; i < ne; i++) {
                        if (ent[i].rank >= p.max_dets[mi]) continue;
                        int mt = (ent[i].matched >> t) & 1, ig = (ent[i].ignored >> t) & 1;
                        if (ig) {
                            /* neither tp nor fp: cumsum repeats the previous value */
                        } else if (mt) {
                            tp += 1;
                        } else {
                            fp += 1;
                        }
                        tps[n] = tp;
                        fps[n] = fp;
                        n++;
                    }
                    for (size_t i = 0; i < n; i++) {
                        rcv[i] = tps[i] / (double)npig;
                        pr[i] = tps[i] / (fps[i] + tps[i] + DBL_EPSILON);
                    }
                    RC[mi * T + t] = n ? rcv[n - 1] : 0.0;
                    if (mi != M - 1) continue;
                    for (size_t i = n; i-- > 1;)
                        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                    double *q = P + (size_t)t * (size_t)R;
                    size_t pos = 0;
                    for (int r = 0; r < R; r++) {
                        double rt = dl_eval_recall_threshold(r);
                        while (pos < n && rcv[pos] < rt) pos++; /* searchsorted, side left */
                        q[r] = pos < n ? pr[pos] : 0.0;
                    }
                }
            }
        }
    }

    /* COCOeval.summarize */
    {
        mean_acc s[DL_EVAL_NUM_STATS];
        memset(s, 0, sizeof s);
        for (int k = 0; k < num_cats; k++) {
            mean_acc ck = {0, 0}, c50 = {0, 0}, c75 = {0, 0}, cr = {0, 0};
            for (int a = 0; a < A; a++) {
                const double *P =
                    prec + ((size_t)k * (size_t)A + (size_t)a) * (size_t)T * (size_t)R;
                const double *RC =
                    rec + ((size_t)k * (size_t)A + (size_t)a) * (size_t)M * (size_t)T;
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < R; r++) {
                        double v = P[t * R + r];
                        if (a == 0) {
                            acc_add(&s[0], v);
                            acc_add(&ck, v);
                            if (t == 0) acc_add(&s[1], v), acc_add(&c50, v);
                            if (t == 5) acc_add(&s[2], v), acc_add(&c75, v);
                        } else {
                            acc_add(&s[2 + a], v);
                        }
                    }
                for (int t = 0; t < T; t++) {
                    if (a == 0) {
                        for (int mi = 0; mi < M; mi++) acc_add(&s[6 + mi], RC[mi * T + t]);
                        acc_add(&cr, RC[(M - 1) * T + t]);
                    } else {
                        acc_add(&s[8 + a], RC[(M - 1) * T + t]);
                    }
                }
            }
            out->ap[k] = acc_mean(&ck);
            out->ap50[k] = acc_mean(&c50);
            out->ap75[k] = acc_mean(&c75);
            out->ar[k] = acc_mean(&cr);
        }
        for (int i = 0; i < DL_EVAL_NUM_STATS; i++) out->stats[i] = acc_mean(&s[i]);
    }
    rc = DL_OK;
done:
    free(gi);
    free(di);
    free(goff);
    free(doff);
    free(prec);
    free(rec);
    free(ent);
    free(gorder);
    free(gig);
    free(gmatched);
    free(ious);
    free(tps);
    free(fps);
    free(pr);
    free(rcv);
    if (rc) dl_eval_result_free(out);
    return rc;
}
