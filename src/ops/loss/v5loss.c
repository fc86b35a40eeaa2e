/* YOLOv5 loss (build_targets, objectness / CIoU / class terms, gradient).
 * Contract and conventions: v5loss.h.
 *
 * Precision: matching runs in float, as YOLOv5 does on float32 tensors
 * (the thresholds decide which cells match); the loss terms run in double
 * with libm (BCE as max(x, 0) - x t + log1p(exp(-|x|))). */
#include "ops/loss/v5loss.h"

#include "ops/loss/boxes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

v5_loss_cfg v5_loss_cfg_default(int nc, int na) {
    v5_loss_cfg c;
    memset(&c, 0, sizeof c);
    c.nc = nc;
    c.na = na;
    c.box = 0.05f;
    c.obj = 1.0f;
    c.cls = 0.5f;
    c.anchor_t = 4.0f;
    c.label_smoothing = 0.0f;
    c.gr = 1.0f;
    c.imgsz = 0;
    return c;
}

static int gain_ok(float g) {
    return isfinite(g) && g >= 0;
}

status v5_loss_init(v5_loss *L, const v5_loss_cfg *cfg) {
    memset(L, 0, sizeof *L);
    if (cfg->nc < 1) return err_set(YOLOC_ERR_INVALID, "v5 loss: nc = %d (need >= 1)", cfg->nc);
    if (cfg->na < 1)
        return err_set(YOLOC_ERR_INVALID, "v5 loss: na = %d anchors per cell (need >= 1)", cfg->na);
    if (!gain_ok(cfg->box) || !gain_ok(cfg->obj) || !gain_ok(cfg->cls))
        return err_set(YOLOC_ERR_INVALID, "v5 loss: gains box=%g obj=%g cls=%g (need finite >= 0)",
                       cfg->box, cfg->obj, cfg->cls);
    if (!(cfg->anchor_t > 0) || !isfinite(cfg->anchor_t))
        return err_set(YOLOC_ERR_INVALID, "v5 loss: anchor_t = %g (need > 0)", cfg->anchor_t);
    if (!(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1))
        return err_set(YOLOC_ERR_INVALID, "v5 loss: label_smoothing = %g (allowed [0, 1))",
                       cfg->label_smoothing);
    if (!(cfg->gr >= 0 && cfg->gr <= 1))
        return err_set(YOLOC_ERR_INVALID, "v5 loss: gr = %g (allowed [0, 1])", cfg->gr);
    if (cfg->imgsz < 0)
        return err_set(YOLOC_ERR_INVALID, "v5 loss: imgsz = %d (need >= 0)", cfg->imgsz);
    L->cfg = *cfg;
    return YOLOC_OK;
}

void v5_loss_free(v5_loss *L) {
    free(L->match);
    free(L->alpha);
    free(L->tobj_match);
    free(L->tobj);
    free(L->img_sums);
    memset(L, 0, sizeof *L);
}

static int is_index(float v, int n) {
    return isfinite(v) && v >= 0 && v < n && v == floorf(v);
}

/* x % 1 as torch computes it (Python's remainder: the sign of the divisor). */
static inline float rem1(float x) {
    float r = fmodf(x, 1.0f);
    return r < 0 ? r + 1.0f : r;
}

/* Room for n matches (match, alpha, tobj_match grow together). */
static status reserve_matches(v5_loss *L, size_t n) {
    if (n <= L->match_cap) return YOLOC_OK;
    size_t cap = L->match_cap ? L->match_cap : 256;
    while (cap < n) cap *= 2;
    v5_match *m = realloc(L->match, cap * sizeof *m);
    if (!m) return err_set(YOLOC_ERR_NOMEM, "v5 loss: out of memory for %zu matches", cap);
    L->match = m;
    double *a = realloc(L->alpha, cap * sizeof *a);
    if (!a) return err_set(YOLOC_ERR_NOMEM, "v5 loss: out of memory for %zu matches", cap);
    L->alpha = a;
    float *t = realloc(L->tobj_match, cap * sizeof *t);
    if (!t) return err_set(YOLOC_ERR_NOMEM, "v5 loss: out of memory for %zu matches", cap);
    L->tobj_match = t;
    L->match_cap = cap;
    return YOLOC_OK;
}

/* YOLOv5's balance of the objectness term per level. */
static double level_balance(int nl, int l) {
    static const double b3[3] = {4.0, 1.0, 0.4}, b5[5] = {4.0, 1.0, 0.25, 0.06, 0.02};
    return nl == 3 ? b3[l] : b5[l];
}

status v5_loss_match(v5_loss *L, int batch, int nlevels, const int *level_h, const int *level_w,
                     const int *strides, const float *anchors, const float *targets,
                     size_t ntargets) {
    L->matched = 0;
    L->hold = 0;
    L->held_ready = 0;
    const int nc = L->cfg.nc, na = L->cfg.na;
    if (nc < 1) return err_set(YOLOC_ERR_INVALID, "v5 loss: not initialised");
    if (batch < 1) return err_set(YOLOC_ERR_INVALID, "v5 loss: batch = %d (need >= 1)", batch);
    if (nlevels < 1 || nlevels > V5_MAX_LEVELS)
        return err_set(YOLOC_ERR_INVALID, "v5 loss: %d levels (allowed 1..%d)", nlevels,
                       V5_MAX_LEVELS);
    L->a0[0] = 0;
    for (int l = 0; l < nlevels; l++) {
        if (level_h[l] < 1 || level_w[l] < 1 || strides[l] < 1)
            return err_set(YOLOC_ERR_INVALID, "v5 loss: level %d is %dx%d with stride %d", l,
                           level_h[l], level_w[l], strides[l]);
        for (int k = 0; k < 2 * na; k++)
            if (!(anchors[l * 2 * na + k] > 0) || !isfinite(anchors[l * 2 * na + k]))
                return err_set(YOLOC_ERR_INVALID,
                               "v5 loss: anchor %d of level %d is not a positive size", k / 2, l);
        L->level_h[l] = level_h[l];
        L->level_w[l] = level_w[l];
        L->a0[l + 1] = L->a0[l] + na * level_h[l] * level_w[l];
    }
    for (size_t i = 0; i < ntargets; i++) {
        const float *t = targets + 6 * i;
        if (!is_index(t[0], batch))
            return err_set(YOLOC_ERR_INVALID, "targets row %zu: image index %g outside [0, %d)", i,
                           (double)t[0], batch);
        if (!is_index(t[1], nc))
            return err_set(YOLOC_ERR_INVALID, "targets row %zu: class %g outside [0, %d)", i,
                           (double)t[1], nc);
        for (int j = 2; j < 6; j++)
            if (!isfinite(t[j]))
                return err_set(YOLOC_ERR_INVALID, "targets row %zu: column %d is not finite", i, j);
        if (t[4] < 0 || t[5] < 0)
            return err_set(YOLOC_ERR_INVALID, "targets row %zu: negative size %g x %g", i,
                           (double)t[4], (double)t[5]);
    }
    L->batch = batch;
    L->nlevels = nlevels;
    L->anchors_total = (size_t)L->a0[nlevels];
    L->ntargets = ntargets;

    /* the scaled gains (train.py) */
    int imgsz = L->cfg.imgsz;
    if (imgsz <= 0) {
        int hh = level_h[0] * strides[0], ww = level_w[0] * strides[0];
        imgsz = hh > ww ? hh : ww;
    }
    double k3 = 3.0 / nlevels;
    L->gains[0] = (double)L->cfg.box * k3;
    L->gains[1] = (double)L->cfg.obj * ((double)imgsz / 640.0) * ((double)imgsz / 640.0) * k3;
    L->gains[2] = (double)L->cfg.cls * (double)nc / 80.0 * k3;

    /* build_targets: per level, offsets x anchors x targets in that order */
    static const float off[5][2] = {{0, 0}, {0.5f, 0}, {0, 0.5f}, {-0.5f, 0}, {0, -0.5f}};
    const float g = 0.5f, at = L->cfg.anchor_t;
    L->nmatch = 0;
    for (int l = 0; l < nlevels; l++) {
        L->level_off[l] = L->nmatch;
        const float nx = (float)level_w[l], ny = (float)level_h[l];
        TRY(reserve_matches(L, L->nmatch + 5 * (size_t)na * ntargets));
        for (int o = 0; o < 5; o++)
            for (int a = 0; a < na; a++) {
                const float aw = anchors[(l * na + a) * 2], ah = anchors[(l * na + a) * 2 + 1];
                for (size_t i = 0; i < ntargets; i++) {
                    const float *t = targets + 6 * i;
                    float gx = t[2] * nx, gy = t[3] * ny, gw = t[4] * nx, gh = t[5] * ny;
                    float rw = gw / aw, rh = gh / ah;
                    float mw = fmaxf(rw, 1.0f / rw), mh = fmaxf(rh, 1.0f / rh);
                    if (!(fmaxf(mw, mh) < at))
                        continue; /* NaN (a zero size) fails too, as in torch */
                    if (o > 0) {
                        float gxi = nx - gx, gyi = ny - gy;
                        int ok = o == 1   ? (rem1(gx) < g && gx > 1.0f)
                                 : o == 2 ? (rem1(gy) < g && gy > 1.0f)
                                 : o == 3 ? (rem1(gxi) < g && gxi > 1.0f)
                                          : (rem1(gyi) < g && gyi > 1.0f);
                        if (!ok) continue;
                    }
                    long gi = (long)(gx - off[o][0]),
                         gj = (long)(gy - off[o][1]); /* .long(): toward zero */
                    if (gi < 0) gi = 0;
                    if (gi > level_w[l] - 1) gi = level_w[l] - 1;
                    if (gj < 0) gj = 0;
                    if (gj > level_h[l] - 1) gj = level_h[l] - 1;
                    v5_match *mt = &L->match[L->nmatch++];
                    mt->level = l;
                    mt->b = (int)t[0];
                    mt->a = a;
                    mt->gj = (int)gj;
                    mt->gi = (int)gi;
                    mt->cls = (int)t[1];
                    mt->row = (size_t)mt->b * L->anchors_total + (size_t)L->a0[l] +
                              ((size_t)a * level_h[l] + (size_t)gj) * level_w[l] + (size_t)gi;
                    mt->tbox[0] = gx - (float)gi;
                    mt->tbox[1] = gy - (float)gj;
                    mt->tbox[2] = gw;
                    mt->tbox[3] = gh;
                    mt->anchor[0] = aw;
                    mt->anchor[1] = ah;
                }
            }
    }
    L->level_off[nlevels] = L->nmatch;
    L->matched = 1;
    return YOLOC_OK;
}

static inline double sigm(double x) {
    return 1.0 / (1.0 + exp(-x));
}
/* BCEWithLogits(x, t) = max(x, 0) - x t + log(1 + exp(-|x|)). */
static inline double bce(double x, double t) {
    return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x)));
}

status v5_loss_compute_matched(v5_loss *L, const float *pred, float terms[3], float *grad) {
    if (!L->matched) return err_set(YOLOC_ERR_INVALID, "v5 loss: compute_matched without a match");
    const int nc = L->cfg.nc, nl = L->nlevels, no = 5 + nc;
    const size_t B = (size_t)L->batch, A = L->anchors_total;
    const double gbox = L->gains[0], gobj = L->gains[1], gcls = L->gains[2];
    const double cp = 1.0 - 0.5 * L->cfg.label_smoothing, cn = 0.5 * L->cfg.label_smoothing;
    const double gr = L->cfg.gr;
    const int hold = L->hold && L->held_ready;

    if (B * A > L->tobj_cap) {
        float *t = realloc(L->tobj, B * A * sizeof *t);
        if (!t)
            return err_set(YOLOC_ERR_NOMEM, "v5 loss: out of memory for %zu objectness targets",
                           B * A);
        L->tobj = t;
        L->tobj_cap = B * A;
    }
    if (B * (size_t)nl > L->sums_cap) {
        double *s = realloc(L->img_sums, B * (size_t)nl * sizeof *s);
        if (!s) return err_set(YOLOC_ERR_NOMEM, "v5 loss: out of memory");
        L->img_sums = s;
        L->sums_cap = B * (size_t)nl;
    }
    memset(L->tobj, 0, B * A * sizeof(float));
    if (grad) memset(grad, 0, B * A * (size_t)no * sizeof(float));

    /* box and class terms of the matches; objectness targets */
    double lbox = 0, lcls = 0;
    for (int l = 0; l < nl; l++) {
        size_t m0 = L->level_off[l], m1 = L->level_off[l + 1], n = m1 - m0;
        if (!n) continue;
        double sbox = 0, scls = 0;
        for (size_t k = m0; k < m1; k++) {
            const v5_match *mt = &L->match[k];
            const float *z = pred + mt->row * no;
            double s[4], p[4];
            for (int j = 0; j < 4; j++) s[j] = sigm(z[j]);
            p[0] = s[0] * 2 - 0.5;
            p[1] = s[1] * 2 - 0.5;
            p[2] = (s[2] * 2) * (s[2] * 2) * mt->anchor[0];
            p[3] = (s[3] * 2) * (s[3] * 2) * mt->anchor[1];
            double pb[4] = {p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2};
            double tb[4] = {(double)mt->tbox[0] - (double)mt->tbox[2] / 2,
                            (double)mt->tbox[1] - (double)mt->tbox[3] / 2,
                            (double)mt->tbox[0] + (double)mt->tbox[2] / 2,
                            (double)mt->tbox[1] + (double)mt->tbox[3] / 2};
            double ga[4] = {0, 0, 0, 0};
            double alpha = hold ? L->alpha[k] : -1.0;
            double iou =
                box_iou_backward_alpha(pb, tb, BOX_CIOU, -gbox / (double)n, ga, NULL, &alpha);
            L->alpha[k] = alpha;
            sbox += 1.0 - iou;
            if (!hold) L->tobj_match[k] = (float)((1.0 - gr) + gr * fmax(iou, 0.0));
            if (grad) {
                float *gz = grad + mt->row * no;
                double dx = ga[0] + ga[2], dy = ga[1] + ga[3], dw = (ga[2] - ga[0]) / 2,
                       dh = (ga[3] - ga[1]) / 2;
                gz[0] += (float)(dx * 2 * s[0] * (1 - s[0]));
                gz[1] += (float)(dy * 2 * s[1] * (1 - s[1]));
                gz[2] += (float)(dw * 8 * s[2] * mt->anchor[0] * s[2] * (1 - s[2]));
                gz[3] += (float)(dh * 8 * s[3] * mt->anchor[1] * s[3] * (1 - s[3]));
            }
            if (nc > 1) {
                double row = 0, gs = gcls / ((double)n * nc);
                for (int c = 0; c < nc; c++) {
                    double x = z[5 + c], t = c == mt->cls ? cp : cn;
                    row += bce(x, t);
                    if (grad) grad[mt->row * no + 5 + c] += (float)(gs * (sigm(x) - t));
                }
                scls += row;
            }
        }
        lbox += sbox / (double)n;
        if (nc > 1) lcls += scls / ((double)n * nc);
        for (size_t k = m0; k < m1; k++)
            L->tobj[L->match[k].row] = L->tobj_match[k]; /* the last write wins */
    }
    L->held_ready = 1;

    /* objectness over every row, per image then in image order */
    const float *tobj = L->tobj;
    double *sums = L->img_sums;
    const int par = B > 1 && B * A >= ((size_t)1 << 12);
#pragma omp parallel for schedule(static) if (par)
    for (size_t b = 0; b < B; b++) {
        for (int l = 0; l < nl; l++) {
            size_t r0 = b * A + (size_t)L->a0[l], r1 = b * A + (size_t)L->a0[l + 1];
            double nrows = (double)B * (double)(L->a0[l + 1] - L->a0[l]);
            double gs = gobj * level_balance(nl, l) / nrows, s = 0;
            for (size_t r = r0; r < r1; r++) {
                double x = pred[r * no + 4], t = tobj[r];
                s += bce(x, t);
                if (grad) grad[r * no + 4] = (float)(gs * (sigm(x) - t));
            }
            sums[b * nl + l] = s;
        }
    }
    double lobj = 0;
    for (int l = 0; l < nl; l++) {
        double s = 0;
        for (size_t b = 0; b < B; b++) s += sums[b * nl + l];
        lobj += level_balance(nl, l) * s / ((double)B * (double)(L->a0[l + 1] - L->a0[l]));
    }

    L->terms64[0] = gbox * lbox;
    L->terms64[1] = gobj * lobj;
    L->terms64[2] = gcls * lcls;
    for (int k = 0; k < 3; k++) terms[k] = (float)L->terms64[k];
    for (int k = 0; k < 3; k++)
        if (!isfinite(L->terms64[k]))
            return err_set(YOLOC_ERR_NUMERIC, "v5 loss: the %s term is not finite (%g)",
                           k == 0   ? "box"
                           : k == 1 ? "obj"
                                    : "cls",
                           L->terms64[k]);
    return YOLOC_OK;
}

status v5_loss_compute(v5_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                       const int *level_w, const int *strides, const float *anchors,
                       const float *targets, size_t ntargets, float terms[3], float *grad) {
    TRY(v5_loss_match(L, batch, nlevels, level_h, level_w, strides, anchors, targets, ntargets));
    return v5_loss_compute_matched(L, pred, terms, grad);
}

status v5_loss_host(void *ctx, v5_loss *L, const float *pred, const ops_head_grid *g, const float *anchors,
                    const float *targets, size_t ntargets, float terms[3], float *grad) {
    (void)ctx;
    return v5_loss_compute(L, pred, g->batch, g->nlevels, g->h, g->w, g->stride, anchors, targets, ntargets, terms,
                           grad);
}
