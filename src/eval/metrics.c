/* Evaluation set, Ultralytics validation metrics and confusion matrix
 * (semantics in metrics.h). */
#include "eval/metrics.h"
#include "eval/npmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double AP_EPS = 1e-16;

status eval_set_init(eval_set *s, int nc) {
    memset(s, 0, sizeof *s);
    if (nc < 1) return err_set(YOLOC_ERR_INVALID, "eval: nc = %d (need >= 1)", nc);
    s->cat_ids = malloc(sizeof(int64_t) * (size_t)nc);
    if (!s->cat_ids) return err_set(YOLOC_ERR_NOMEM, "eval: out of memory");
    for (int c = 0; c < nc; c++) s->cat_ids[c] = c + 1;
    s->nc = nc;
    return YOLOC_OK;
}

void eval_set_free(eval_set *s) {
    free(s->cat_ids);
    free(s->images);
    free(s->gts);
    free(s->dets);
    memset(s, 0, sizeof *s);
}

/* Grows *p (elements of size sz, capacity *cap) to hold need. */
static status grow(void **p, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap) return YOLOC_OK;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * sz);
    if (!q) return err_set(YOLOC_ERR_NOMEM, "eval: out of memory (%zu items)", n);
    *p = q;
    *cap = n;
    return YOLOC_OK;
}

static int finite4(double x, double y, double w, double h) {
    return isfinite(x) && isfinite(y) && isfinite(w) && isfinite(h);
}

status eval_set_add_image(eval_set *s, int64_t id, int width, int height, const eval_gt *gt,
                          size_t ngt, const eval_det *det, size_t ndet) {
    for (size_t i = 0; i < ngt; i++)
        if (gt[i].cls < 0 || gt[i].cls >= s->nc || !finite4(gt[i].x, gt[i].y, gt[i].w, gt[i].h) ||
            !isfinite(gt[i].area))
            return err_set(YOLOC_ERR_INVALID,
                           "eval: image %lld: ground truth %zu has class %d or "
                           "a non-finite value",
                           (long long)id, i, gt[i].cls);
    for (size_t i = 0; i < ndet; i++)
        if (det[i].cls < 0 || det[i].cls >= s->nc ||
            !finite4(det[i].x, det[i].y, det[i].w, det[i].h) || !isfinite(det[i].score))
            return err_set(YOLOC_ERR_INVALID,
                           "eval: image %lld: detection %zu has class %d or "
                           "a non-finite value",
                           (long long)id, i, det[i].cls);
    TRY(grow((void **)&s->images, &s->cap_images, s->nimages + 1, sizeof(eval_image)));
    TRY(grow((void **)&s->gts, &s->cap_gts, s->ngts + ngt, sizeof(eval_gt)));
    TRY(grow((void **)&s->dets, &s->cap_dets, s->ndets + ndet, sizeof(eval_det)));
    eval_image *im = &s->images[s->nimages++];
    im->id = id;
    im->width = width;
    im->height = height;
    im->gt0 = s->ngts;
    im->ngt = ngt;
    im->det0 = s->ndets;
    im->ndet = ndet;
    if (ngt) memcpy(s->gts + s->ngts, gt, ngt * sizeof(eval_gt));
    if (ndet) memcpy(s->dets + s->ndets, det, ndet * sizeof(eval_det));
    s->ngts += ngt;
    s->ndets += ndet;
    return YOLOC_OK;
}

/* box_iou of Ultralytics in float32: inter / (area1 + area2 - inter + 1e-7). */
static float iou_f32(const eval_gt *g, const eval_det *d) {
    float a1 = (float)g->x, b1 = (float)g->y, a2 = (float)(g->x + g->w), b2 = (float)(g->y + g->h);
    float c1 = (float)d->x, d1 = (float)d->y, c2 = (float)(d->x + d->w), d2 = (float)(d->y + d->h);
    float iw = (a2 < c2 ? a2 : c2) - (a1 > c1 ? a1 : c1);
    float ih = (b2 < d2 ? b2 : d2) - (b1 > d1 ? b1 : d1);
    iw = iw > 0 ? iw : 0;
    ih = ih > 0 ? ih : 0;
    float inter = iw * ih;
    float area1 = (a2 - a1) * (b2 - b1), area2 = (c2 - c1) * (d2 - d1);
    return inter / (area1 + area2 - inter + 1e-7f);
}

/* IoU thresholds as Ultralytics holds them: torch.linspace(0.5, 0.95, 10)
 * in float32 (compared with float32 IoUs). */
static float iou_threshold(int t) {
    return (float)(0.5 + 0.05 * t);
}

typedef struct {
    float iou;
    uint32_t pair; /* l * ndet + d */
} iou_pair;

/* IoU descending; ties: larger pair index first (reversed stable argsort). */
static int cmp_pair_desc(const void *a, const void *b) {
    const iou_pair *p = a, *q = b;
    if (p->iou != q->iou) return p->iou < q->iou ? 1 : -1;
    return (p->pair < q->pair) - (p->pair > q->pair);
}

status eval_match_image(const eval_gt *gt, size_t ngt, const eval_det *det, size_t ndet,
                        unsigned char *correct) {
    memset(correct, 0, ndet * EVAL_NIOU);
    if (!ngt || !ndet) return YOLOC_OK;
    float *iou = malloc(sizeof(float) * ngt * ndet);
    iou_pair *pairs = malloc(sizeof(iou_pair) * ngt * ndet);
    int *best = malloc(sizeof(int) * ndet);
    unsigned char *taken = malloc(ngt);
    if (!iou || !pairs || !best || !taken) {
        free(iou), free(pairs), free(best), free(taken);
        return err_set(YOLOC_ERR_NOMEM, "eval: out of memory (%zu x %zu IoU matrix)", ngt, ndet);
    }
    for (size_t l = 0; l < ngt; l++)
        for (size_t d = 0; d < ndet; d++)
            iou[l * ndet + d] =
                (gt[l].crowd || gt[l].cls != det[d].cls) ? 0.0f : iou_f32(&gt[l], &det[d]);
    for (int t = 0; t < EVAL_NIOU; t++) {
        float thr = iou_threshold(t);
        size_t np = 0;
        for (size_t i = 0; i < ngt * ndet; i++)
            if (iou[i] >= thr) pairs[np++] = (iou_pair){iou[i], (uint32_t)i};
        if (!np) continue;
        qsort(pairs, np, sizeof *pairs, cmp_pair_desc);
        for (size_t d = 0; d < ndet; d++) best[d] = -1;
        for (size_t i = 0; i < np; i++) {
            size_t d = pairs[i].pair % ndet;
            if (best[d] < 0) best[d] = (int)(pairs[i].pair / ndet);
        }
        memset(taken, 0, ngt);
        for (size_t d = 0; d < ndet; d++)
            if (best[d] >= 0 && !taken[best[d]]) {
                taken[best[d]] = 1;
                correct[d * EVAL_NIOU + (size_t)t] = 1;
            }
    }
    free(iou), free(pairs), free(best), free(taken);
    return YOLOC_OK;
}

void ul_metrics_free(ul_metrics *m) {
    free(m->nt_per_class);
    free(m->nt_per_image);
    free(m->ap_class);
    free(m->p);
    free(m->r);
    free(m->f1);
    free(m->ap);
    free(m->ap50);
    free(m->ap5095);
    free(m->pr_curve);
    memset(m, 0, sizeof *m);
}

typedef struct {
    float conf;
    int cls;
    uint32_t idx;
} pred_ref;

/* Confidence descending, ties by position (a stable sort). */
static int cmp_pred(const void *a, const void *b) {
    const pred_ref *p = a, *q = b;
    if (p->conf != q->conf) return p->conf < q->conf ? 1 : -1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

typedef struct {
    uint32_t idx;
    float score;
} det_order;

static int cmp_det_order(const void *a, const void *b) {
    const det_order *p = a, *q = b;
    if (p->score != q->score) return p->score < q->score ? 1 : -1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

/* compute_ap: 101-point trapezoid of the interpolated precision envelope. */
static double compute_ap(const double *recall, const double *precision, size_t n, double *mrec,
                         double *mpre) {
    mrec[0] = 0.0;
    mpre[0] = 1.0;
    for (size_t i = 0; i < n; i++) mrec[i + 1] = recall[i], mpre[i + 1] = precision[i];
    mrec[n + 1] = 1.0;
    mpre[n + 1] = 0.0;
    for (size_t i = n + 1; i-- > 0;)
        if (mpre[i + 1] > mpre[i]) mpre[i] = mpre[i + 1];
    double y[101], terms[100];
    for (size_t k = 0; k < 101; k++)
        y[k] = np_interp(np_linspace_at(0, 1, 101, k), mrec, mpre, n + 2, mpre[0], mpre[n + 1]);
    for (size_t k = 0; k < 100; k++) {
        double d = np_linspace_at(0, 1, 101, k + 1) - np_linspace_at(0, 1, 101, k);
        terms[k] = d * (y[k + 1] + y[k]) / 2.0;
    }
    return np_sum(terms, 100);
}

status eval_ultralytics(const eval_set *s, ul_metrics *m) {
    memset(m, 0, sizeof *m);
    const int nc = s->nc;
    m->nc = nc;
    m->nimages = s->nimages;
    status st = YOLOC_OK;
    size_t N = s->ndets;
    pred_ref *pr = NULL;
    unsigned char *tp = NULL, *seen = NULL;
    det_order *ord = NULL;
    double *rec = NULL, *prec = NULL, *mrec = NULL, *mpre = NULL, *pc = NULL, *rc = NULL;
    double *xs = NULL, *tmp = NULL;
    m->nt_per_class = calloc((size_t)nc, sizeof(size_t));
    m->nt_per_image = calloc((size_t)nc, sizeof(size_t));
    pr = malloc(sizeof(pred_ref) * (N ? N : 1));
    tp = malloc((N ? N : 1) * EVAL_NIOU);
    seen = malloc((size_t)nc);
    if (!m->nt_per_class || !m->nt_per_image || !pr || !tp || !seen) goto nomem;

    /* per image: labels, matching in confidence order */
    size_t maxdet = 0;
    for (size_t i = 0; i < s->nimages; i++)
        maxdet = s->images[i].ndet > maxdet ? s->images[i].ndet : maxdet;
    ord = malloc(sizeof(det_order) * (maxdet ? maxdet : 1));
    eval_det *sorted = malloc(sizeof(eval_det) * (maxdet ? maxdet : 1));
    unsigned char *corr = malloc((maxdet ? maxdet : 1) * EVAL_NIOU);
    if (!ord || !sorted || !corr) {
        free(sorted), free(corr);
        goto nomem;
    }
    size_t np = 0;
    for (size_t i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        const eval_gt *g = s->gts + im->gt0;
        memset(seen, 0, (size_t)nc);
        for (size_t k = 0; k < im->ngt; k++) {
            if (g[k].crowd) continue;
            m->nt_per_class[g[k].cls]++;
            if (!seen[g[k].cls]) m->nt_per_image[g[k].cls]++, seen[g[k].cls] = 1;
        }
        const eval_det *d = s->dets + im->det0;
        for (size_t k = 0; k < im->ndet; k++) ord[k] = (det_order){(uint32_t)k, (float)d[k].score};
        qsort(ord, im->ndet, sizeof *ord, cmp_det_order);
        for (size_t k = 0; k < im->ndet; k++) sorted[k] = d[ord[k].idx];
        if (eval_match_image(g, im->ngt, sorted, im->ndet, corr) < 0) {
            free(sorted), free(corr);
            st = YOLOC_ERR_NOMEM;
            ul_metrics_free(m);
            goto done;
        }
        for (size_t k = 0; k < im->ndet; k++) {
            pr[np] = (pred_ref){(float)sorted[k].score, sorted[k].cls, (uint32_t)np};
            memcpy(tp + np * EVAL_NIOU, corr + k * EVAL_NIOU, EVAL_NIOU);
            np++;
        }
    }
    free(sorted);
    free(corr);

    /* ap_per_class */
    qsort(pr, np, sizeof *pr, cmp_pred);
    size_t nap = 0;
    for (int c = 0; c < nc; c++) nap += m->nt_per_class[c] > 0;
    m->nap = nap;
    size_t cap = nap ? nap : 1;
    m->ap_class = malloc(sizeof(int) * cap);
    m->p = calloc(cap, sizeof(double));
    m->r = calloc(cap, sizeof(double));
    m->f1 = calloc(cap, sizeof(double));
    m->ap = calloc(cap * EVAL_NIOU, sizeof(double));
    m->ap50 = calloc(cap, sizeof(double));
    m->ap5095 = calloc(cap, sizeof(double));
    m->pr_curve = calloc(cap * 1000, sizeof(double));
    pc = calloc(cap * 1000, sizeof(double));
    rc = calloc(cap * 1000, sizeof(double));
    size_t nbuf = np + 2;
    rec = malloc(sizeof(double) * nbuf * EVAL_NIOU);
    prec = malloc(sizeof(double) * nbuf * EVAL_NIOU);
    mrec = malloc(sizeof(double) * nbuf);
    mpre = malloc(sizeof(double) * nbuf);
    xs = malloc(sizeof(double) * nbuf);
    /* smoothing needs 1000 + 1100 values; the final mean nap * EVAL_NIOU */
    tmp = malloc(sizeof(double) * (cap * EVAL_NIOU > 2100 ? cap * EVAL_NIOU : 2100));
    if (!m->ap_class || !m->p || !m->r || !m->f1 || !m->ap || !m->ap50 || !m->ap5095 || !m->pr_curve || !pc ||
        !rc || !rec || !prec || !mrec || !mpre || !xs || !tmp)
        goto nomem;
    size_t ci = 0;
    for (int c = 0; c < nc; c++) {
        if (!m->nt_per_class[c]) continue;
        m->ap_class[ci] = c;
        size_t nl = m->nt_per_class[c], n = 0;
        long tpc[EVAL_NIOU] = {0}, fpc[EVAL_NIOU] = {0};
        for (size_t i = 0; i < np; i++) {
            if (pr[i].cls != c) continue;
            const unsigned char *t = tp + (size_t)pr[i].idx * EVAL_NIOU;
            for (int j = 0; j < EVAL_NIOU; j++) {
                tpc[j] += t[j];
                fpc[j] += 1 - t[j];
                rec[(size_t)j * nbuf + n] = (double)tpc[j] / ((double)nl + AP_EPS);
                prec[(size_t)j * nbuf + n] = (double)tpc[j] / (double)(tpc[j] + fpc[j]);
            }
            xs[n] = -(double)pr[i].conf;
            n++;
        }
        if (n > 0) {
            for (size_t k = 0; k < 1000; k++) {
                double x = -np_linspace_at(0, 1, 1000, k);
                rc[ci * 1000 + k] = np_interp(x, xs, rec, n, 0.0, rec[n - 1]);
                pc[ci * 1000 + k] = np_interp(x, xs, prec, n, 1.0, prec[n - 1]);
            }
            for (int j = 0; j < EVAL_NIOU; j++) {
                m->ap[ci * EVAL_NIOU + (size_t)j] =
                    compute_ap(rec + (size_t)j * nbuf, prec + (size_t)j * nbuf, n, mrec, mpre);
                if (j == 0) /* the IoU 0.5 envelope for the PR curve */
                    for (size_t k = 0; k < 1000; k++)
                        m->pr_curve[ci * 1000 + k] =
                            np_interp(np_linspace_at(0, 1, 1000, k), mrec, mpre, n + 2, mpre[0], mpre[n + 1]);
            }
        }
        m->ap50[ci] = m->ap[ci * EVAL_NIOU];
        m->ap5095[ci] = np_sum(m->ap + ci * EVAL_NIOU, EVAL_NIOU) / EVAL_NIOU;
        ci++;
    }
    if (nap) {
        /* F1 curves, their mean over classes (rows added in order, as a
         * reduction over axis 0 does), box-filter smoothing, argmax */
        double *meanf1 = tmp, *yp = tmp + 1000;
        for (size_t k = 0; k < 1000; k++) {
            double acc = 0;
            for (size_t i = 0; i < nap; i++) {
                double p = pc[i * 1000 + k], r = rc[i * 1000 + k];
                double f = 2 * p * r / (p + r + AP_EPS);
                acc = i == 0 ? f : acc + f;
            }
            meanf1[k] = acc / (double)nap;
        }
        /* smooth(y, 0.1): nf = round(1000 * 0.1 * 2) // 2 + 1 = 101, padded
         * with 50 copies of each end, box filter of weights 1/101 */
        const int nf = 101, half = 50;
        for (int k = 0; k < 1000 + 2 * half; k++) {
            int src = k - half;
            yp[k] = meanf1[src < 0 ? 0 : (src > 999 ? 999 : src)];
        }
        size_t best = 0;
        double bestv = -1;
        for (int k = 0; k < 1000; k++) {
            double acc = 0;
            for (int j = 0; j < nf; j++) acc += yp[k + j] * (1.0 / nf);
            if (acc > bestv) bestv = acc, best = (size_t)k;
        }
        m->conf_at = np_linspace_at(0, 1, 1000, best);
        double *col = tmp;
        for (size_t i = 0; i < nap; i++) {
            double p = pc[i * 1000 + best], r = rc[i * 1000 + best];
            m->p[i] = p;
            m->r[i] = r;
            m->f1[i] = 2 * p * r / (p + r + AP_EPS);
        }
        m->mp = np_sum(m->p, nap) / (double)nap;
        m->mr = np_sum(m->r, nap) / (double)nap;
        m->map50 = np_sum(m->ap50, nap) / (double)nap;
        for (size_t i = 0; i < nap * EVAL_NIOU; i++) col[i] = m->ap[i];
        m->map5095 = np_sum(col, nap * EVAL_NIOU) / (double)(nap * EVAL_NIOU);
    }
    goto done;
nomem:
    st = err_set(YOLOC_ERR_NOMEM, "eval: out of memory (%zu detections)", N);
    ul_metrics_free(m);
done:
    free(pr), free(tp), free(seen), free(ord), free(rec), free(prec), free(mrec), free(mpre);
    free(pc), free(rc), free(xs), free(tmp);
    return st;
}

/* ---- confusion matrix ---- */

status eval_confusion_init(eval_confusion *c, int nc, double conf, double iou) {
    memset(c, 0, sizeof *c);
    if (nc < 1) return err_set(YOLOC_ERR_INVALID, "confusion matrix: nc = %d", nc);
    c->m = calloc((size_t)(nc + 1) * (size_t)(nc + 1), sizeof(uint64_t));
    if (!c->m) return err_set(YOLOC_ERR_NOMEM, "confusion matrix: out of memory");
    c->nc = nc;
    c->conf = conf;
    c->iou = iou;
    return YOLOC_OK;
}

void eval_confusion_free(eval_confusion *c) {
    free(c->m);
    memset(c, 0, sizeof *c);
}

typedef struct {
    uint32_t g, d;
    float iou;
} cm_match;

static int cmp_cm_desc(const void *a, const void *b) {
    const cm_match *p = a, *q = b;
    if (p->iou != q->iou) return p->iou < q->iou ? 1 : -1;
    return 0; /* ties resolved by the explicit position key below */
}

/* Sorts by IoU descending with ties in reverse of the current order
 * (argsort()[::-1] of a stable sort): position is encoded by the caller. */
typedef struct {
    cm_match m;
    size_t pos;
} cm_item;

static int cmp_cm_item(const void *a, const void *b) {
    const cm_item *p = a, *q = b;
    int c = cmp_cm_desc(&p->m, &q->m);
    if (c) return c;
    return (p->pos < q->pos) - (p->pos > q->pos);
}

status eval_confusion_add(eval_confusion *c, const eval_gt *gt, size_t ngt, const eval_det *det,
                          size_t ndet) {
    const int nc = c->nc, W = nc + 1;
    size_t ng = 0, nd = 0;
    for (size_t i = 0; i < ngt; i++) ng += !gt[i].crowd;
    for (size_t i = 0; i < ndet; i++) nd += det[i].score > c->conf;
    /* kept detections and labels, in order */
    size_t *gi = malloc(sizeof(size_t) * (ng ? ng : 1)),
           *di = malloc(sizeof(size_t) * (nd ? nd : 1));
    cm_item *items = malloc(sizeof(cm_item) * (ng * nd > 0 ? ng * nd : 1));
    int *gmatch = malloc(sizeof(int) * (ng ? ng : 1)), *dmatched = calloc(nd ? nd : 1, sizeof(int));
    int *dbest = malloc(sizeof(int) * (nd ? nd : 1));
    if (!gi || !di || !items || !gmatch || !dmatched || !dbest) {
        free(gi), free(di), free(items), free(gmatch), free(dmatched), free(dbest);
        return err_set(YOLOC_ERR_NOMEM, "confusion matrix: out of memory");
    }
    ng = nd = 0;
    for (size_t i = 0; i < ngt; i++)
        if (!gt[i].crowd) gi[ng++] = i;
    for (size_t i = 0; i < ndet; i++)
        if (det[i].score > c->conf) di[nd++] = i;
    if (ng == 0) {
        for (size_t j = 0; j < nd; j++) c->m[(size_t)det[di[j]].cls * W + (size_t)nc]++;
        goto out;
    }
    /* pairs with IoU > thr in row-major (label, detection) order */
    size_t n = 0;
    for (size_t a = 0; a < ng; a++)
        for (size_t b = 0; b < nd; b++) {
            float v = iou_f32(&gt[gi[a]], &det[di[b]]);
            if (v > (float)c->iou) {
                items[n].m = (cm_match){(uint32_t)a, (uint32_t)b, v};
                items[n].pos = n;
                n++;
            }
        }
    for (size_t a = 0; a < ng; a++) gmatch[a] = -1;
    if (n > 1) {
        /* sort desc (ties reversed), first per detection -> ordered by detection */
        qsort(items, n, sizeof *items, cmp_cm_item);
        for (size_t b = 0; b < nd; b++) dbest[b] = -1;
        for (size_t k = 0; k < n; k++)
            if (dbest[items[k].m.d] < 0) dbest[items[k].m.d] = (int)k;
        size_t m2 = 0;
        cm_item *kept = malloc(sizeof(cm_item) * n);
        if (!kept) {
            free(gi), free(di), free(items), free(gmatch), free(dmatched), free(dbest);
            return err_set(YOLOC_ERR_NOMEM, "confusion matrix: out of memory");
        }
        for (size_t b = 0; b < nd; b++)
            if (dbest[b] >= 0) {
                kept[m2] = items[dbest[b]];
                kept[m2].pos = m2;
                m2++;
            }
        /* sort desc again (ties reversed), first per label */
        qsort(kept, m2, sizeof *kept, cmp_cm_item);
        for (size_t k = 0; k < m2; k++)
            if (gmatch[kept[k].m.g] < 0) gmatch[kept[k].m.g] = (int)kept[k].m.d;
        free(kept);
    } else if (n == 1) {
        gmatch[items[0].m.g] = (int)items[0].m.d;
    }
    for (size_t a = 0; a < ng; a++) {
        int gc = gt[gi[a]].cls;
        if (gmatch[a] >= 0) {
            c->m[(size_t)det[di[gmatch[a]]].cls * W + (size_t)gc]++;
            dmatched[gmatch[a]] = 1;
        } else {
            c->m[(size_t)nc * W + (size_t)gc]++;
        }
    }
    for (size_t b = 0; b < nd; b++)
        if (!dmatched[b]) c->m[(size_t)det[di[b]].cls * W + (size_t)nc]++;
out:
    free(gi), free(di), free(items), free(gmatch), free(dmatched), free(dbest);
    return YOLOC_OK;
}
