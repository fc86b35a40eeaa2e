/* YOLOv8 loss (assignment, BCE / CIoU / DFL terms, gradient). Contract and
 * conventions: v8loss.h.
 *
 * Precision: the class term runs in float per element (the bulk of the
 * work, B x A x nc: vectorised exp/log1p from fastmath.h, ~2 ulp) with
 * double sums per anchor row in class order; the box and DFL terms of the
 * few foreground anchors run in double with libm. The assigner's predicted
 * boxes are decoded in float, as Ultralytics decodes them. */
#include "core/cpu.h"
#include "ops/loss/v8loss.h"
#include "core/fastmath.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

v8_loss_cfg v8_loss_cfg_default(int nc) {
    v8_loss_cfg c;
    c.nc = nc;
    c.reg_max = 16;
    c.box = 7.5f;
    c.cls = 0.5f;
    c.dfl = 1.5f;
    c.label_smoothing = 0.0f;
    c.tal = TAL_CFG_V8;
    return c;
}

static int gain_ok(float g) {
    return isfinite(g) && g >= 0;
}

status v8_loss_init(v8_loss *L, const v8_loss_cfg *cfg) {
    memset(L, 0, sizeof *L);
    if (cfg->nc < 1) return err_set(YOLOC_ERR_INVALID, "v8 loss: nc = %d (need >= 1)", cfg->nc);
    if (cfg->reg_max < 2 || cfg->reg_max > 64)
        return err_set(YOLOC_ERR_INVALID, "v8 loss: reg_max = %d (allowed 2..64)", cfg->reg_max);
    if (!gain_ok(cfg->box) || !gain_ok(cfg->cls) || !gain_ok(cfg->dfl))
        return err_set(YOLOC_ERR_INVALID, "v8 loss: gains box=%g cls=%g dfl=%g (need finite >= 0)",
                       cfg->box, cfg->cls, cfg->dfl);
    if (!(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1))
        return err_set(YOLOC_ERR_INVALID, "v8 loss: label_smoothing = %g (allowed [0, 1))",
                       cfg->label_smoothing);
    if (cfg->tal.topk < 1 || !(cfg->tal.alpha >= 0) || !(cfg->tal.beta >= 0) ||
        !(cfg->tal.eps >= 0))
        return err_set(YOLOC_ERR_INVALID, "v8 loss: assigner topk=%d alpha=%g beta=%g eps=%g",
                       cfg->tal.topk, cfg->tal.alpha, cfg->tal.beta, cfg->tal.eps);
    L->cfg = *cfg;
    return YOLOC_OK;
}

void v8_loss_free(v8_loss *L) {
    free(L->work);
    free(L->img);
    memset(L, 0, sizeof *L);
}

static size_t round64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

/* Per-image block: gt_off [B+1], talws_off [B+1], cursor [B+1], img_sums [B*4]. */
static status plan_images(v8_loss *L, size_t B) {
    if (B <= L->img_cap && L->img) return YOLOC_OK;
    size_t bytes = round64(sizeof(size_t) * (B + 1)) * 3 + sizeof(double) * 4 * B;
    void *p = malloc(bytes);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "v8 loss: cannot allocate %zu bytes", bytes);
    free(L->img);
    L->img = p;
    L->img_cap = B;
    return YOLOC_OK;
}

static void point_images(v8_loss *L, size_t B) {
    unsigned char *p = (unsigned char *)L->img;
    L->gt_off = (size_t *)p;
    p += round64(sizeof(size_t) * (B + 1));
    L->talws_off = (size_t *)p;
    p += round64(sizeof(size_t) * (B + 1));
    L->cursor = (size_t *)p;
    p += round64(sizeof(size_t) * (B + 1));
    L->img_sums = (double *)p;
}

/* Main block, in this order: owner, tscore, gt_cls, gt_box, pbox, need,
 * talws. Sizes depend on B*A, N and the per-image assigner workspaces. */
static size_t layout_work(v8_loss *L, size_t BA, size_t N, size_t talws, int point) {
    unsigned char *p = (unsigned char *)L->work;
    size_t off = 0;
#define V8_PART(field, type, count)                                                                \
    do {                                                                                           \
        if (point) L->field = (type *)(p + off);                                                   \
        off += round64(sizeof(type) * (count));                                                    \
    } while (0)
    V8_PART(alpha, double, BA);
    V8_PART(owner, int, BA);
    V8_PART(tscore, float, BA);
    V8_PART(gt_cls, int, N);
    V8_PART(gt_box, float, 4 * N);
    V8_PART(pbox, float, 4 * BA);
    V8_PART(need, unsigned char, BA);
    V8_PART(talws, unsigned char, talws);
#undef V8_PART
    return off;
}

/* Upper bound of the per-image assigner workspaces for B images of A
 * anchors and N targets in all, however the targets are spread: each image
 * with targets needs tal_workspace_size(A, n) <= the A-part + n per-target
 * parts + the rounding of 6 parts, then rounded to 64. Depending only on
 * (B, A, N), it keeps the plan stable from batch to batch. */
static size_t talws_bound(const v8_loss *L, size_t B, size_t A, size_t N) {
    return B * (tal_workspace_size(A, 0, &L->cfg.tal) + 128) +
           N * tal_workspace_size(0, 1, &L->cfg.tal);
}

static status plan_work(v8_loss *L, size_t B, size_t A, size_t N) {
    size_t need = layout_work(L, B * A, N, talws_bound(L, B, A, N), 0);
    if (need > L->work_bytes || !L->work) {
        /* headroom on the target count so that a slowly rising number of
         * targets does not reallocate every step */
        size_t cap_gt = N > L->cap_gt ? N + N / 2 + 16 : L->cap_gt;
        size_t bytes = layout_work(L, B * A, cap_gt, talws_bound(L, B, A, cap_gt), 0);
        void *p = malloc(bytes);
        if (!p) return err_set(YOLOC_ERR_NOMEM, "v8 loss: cannot allocate %zu bytes", bytes);
        free(L->work);
        L->work = p;
        L->work_bytes = bytes;
        L->cap_gt = cap_gt;
        L->cap_ba = B * A;
    }
    layout_work(L, B * A, N, talws_bound(L, B, A, N), 1);
    return YOLOC_OK;
}

static int is_index(float v, long hi) {
    return isfinite(v) && v == floorf(v) && v >= 0 && v < hi;
}

/* Softmax expectation of n <= 64 logits, in float (the assigner's decode
 * of the predicted boxes). The sums run in 8 lanes over a zero-padded copy, then the
 * lanes are added in order: a fixed order whatever the SIMD width. */
YOLOC_HOT static float dfl_expect_f(const float *z, int n) {
    if (n == 1) return z[0];
    float m = z[0], p[64], q[64];
    for (int k = 1; k < n; k++) m = z[k] > m ? z[k] : m;
    int np = (n + 7) & ~7;
#pragma omp simd
    for (int k = 0; k < n; k++) p[k] = fm_exp_neg(z[k] - m);
    for (int k = n; k < np; k++) p[k] = 0.0f;
    for (int k = 0; k < np; k++) q[k] = p[k] * (float)k;
    float ls[8] = {0}, le[8] = {0};
    for (int k = 0; k < np; k += 8)
        for (int j = 0; j < 8; j++) {
            ls[j] += p[k + j];
            le[j] += q[k + j];
        }
    float s = 0, e = 0;
    for (int j = 0; j < 8; j++) {
        s += ls[j];
        e += le[j];
    }
    return e / s;
}

status v8_loss_assign(v8_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                      const int *level_w, const int *strides, const float *targets,
                      size_t ntargets) {
    L->assigned = 0;
    if (L->cfg.nc < 1) return err_set(YOLOC_ERR_INVALID, "v8 loss: not initialised");
    if (batch < 1) return err_set(YOLOC_ERR_INVALID, "v8 loss: batch = %d (need >= 1)", batch);
    TRY(anchor_grid_init(&L->grid, nlevels, level_h, level_w, strides));
    const int nc = L->cfg.nc, R = L->cfg.reg_max;
    const size_t B = (size_t)batch, A = anchor_grid_count(&L->grid);
    const size_t no = 4 * (size_t)R + (size_t)nc;
    const float H = (float)(level_h[0] * strides[0]), W = (float)(level_w[0] * strides[0]);

    /* validate the targets and count per image */
    TRY(plan_images(L, B));
    point_images(L, B);
    for (size_t b = 0; b <= B; b++) L->gt_off[b] = 0;
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
        L->gt_off[(size_t)t[0] + 1]++;
    }
    for (size_t b = 0; b < B; b++) L->gt_off[b + 1] += L->gt_off[b];
    L->talws_off[0] = 0;
    for (size_t b = 0; b < B; b++) {
        size_t ngt = L->gt_off[b + 1] - L->gt_off[b];
        size_t ws = ngt ? round64(tal_workspace_size(A, ngt, &L->cfg.tal)) : 0;
        L->talws_off[b + 1] = L->talws_off[b] + ws;
    }
    YOLOC_ASSERT(L->talws_off[B] <= talws_bound(L, B, A, ntargets));
    TRY(plan_work(L, B, A, ntargets));

    /* group by image, keeping the order of appearance; xywh -> xyxy pixels in
     * float as Ultralytics' preprocess does */
    for (size_t b = 0; b < B; b++) L->cursor[b] = L->gt_off[b];
    for (size_t i = 0; i < ntargets; i++) {
        const float *t = targets + 6 * i;
        size_t b = (size_t)t[0], j = L->cursor[b]++;
        float cx = t[2] * W, cy = t[3] * H, w = t[4] * W, h = t[5] * H;
        float dw = w / 2, dh = h / 2;
        L->gt_cls[j] = (int)t[1];
        L->gt_box[4 * j + 0] = cx - dw;
        L->gt_box[4 * j + 1] = cy - dh;
        L->gt_box[4 * j + 2] = cx + dw;
        L->gt_box[4 * j + 3] = cy + dh;
    }

    const anchor_grid *grid = &L->grid;
    size_t nfg_total = 0;
    const int par = B > 1 && B * A >= ((size_t)1 << 12);
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : nfg_total) if (par)
    for (long bi = 0; bi < (long)B; bi++) {
        size_t b = (size_t)bi;
        size_t g0 = L->gt_off[b], ngt = L->gt_off[b + 1] - g0;
        int *owner = L->owner + b * A;
        float *tscore = L->tscore + b * A;
        const float *pimg = pred + b * A * no;
        if (ngt == 0) {
            for (size_t a = 0; a < A; a++) {
                owner[a] = -1;
                tscore[a] = 0;
            }
            continue;
        }
        unsigned char *need = L->need + b * A;
        float *pbox = L->pbox + b * A * 4;
        memset(need, 0, A);
        tal_need_box(grid, ngt, L->gt_box + 4 * g0, need);
        for (size_t a = 0; a < A; a++) {
            if (!need[a]) continue;
            int l, x, y;
            anchor_grid_locate(grid, a, &l, &x, &y);
            const float *z = pimg + a * no;
            float s = (float)grid->stride[l], ax = (float)x + 0.5f, ay = (float)y + 0.5f;
            pbox[4 * a + 0] = (ax - dfl_expect_f(z, R)) * s;
            pbox[4 * a + 1] = (ay - dfl_expect_f(z + R, R)) * s;
            pbox[4 * a + 2] = (ax + dfl_expect_f(z + 2 * R, R)) * s;
            pbox[4 * a + 3] = (ay + dfl_expect_f(z + 3 * R, R)) * s;
        }
        nfg_total +=
            tal_assign(&L->cfg.tal, grid, pbox, pimg + 4 * (size_t)R, no, ngt, L->gt_box + 4 * g0,
                       L->gt_cls + g0, L->talws + L->talws_off[b], owner, tscore);
    }

    /* tss over the batch, in a fixed order */
    double tss = 0;
    for (size_t b = 0; b < B; b++) {
        double s = 0;
        const float *ts = L->tscore + b * A;
        for (size_t a = 0; a < A; a++) s += ts[a];
        tss += s;
    }
    L->tss_raw = tss;
    L->tss = tss > 1.0 ? tss : 1.0;
    L->hold_alpha = 0;
    L->alpha_ready = 0;
    L->batch = batch;
    L->ntargets = ntargets;
    L->nfg = nfg_total;
    L->assigned = 1;
    return YOLOC_OK;
}

/* BCE with logits over n elements: loss[i] = max(x,0) - x t + log(1 + e^-|x|)
 * and d[i] = sigmoid(x) - t. Branch-free so that it vectorises. */
YOLOC_HOT static void bce_chunk(const float *x, const float *t, int n, float *loss, float *d) {
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float xi = x[i];
        float e = fm_exp_neg(-fabsf(xi));
        float inv = 1.0f / (1.0f + e);
        float sig = fm_select(xi >= 0, inv, e * inv);
        float relu = 0.5f * (xi + fabsf(xi)); /* max(x, 0) exactly */
        loss[i] = relu - xi * t[i] + fm_log1p01(e);
        d[i] = sig - t[i];
    }
}

#define BCE_CHUNK 128

/* Box (CIoU) and DFL terms of one foreground anchor: writes the gradients
 * (already scaled by gains, weight and 1/tss) into g, the anchor's 4*R DFL
 * slots, when g is not NULL, and returns the unweighted box (1 - CIoU) and
 * DFL values in out[2]. alpha: CIoU's detached alpha, in/out (see
 * box_iou_backward_alpha). */
YOLOC_HOT static void fg_anchor(const float *z, int R, double ax, double ay, const double tb[4], double wgt,
                      double gbox, double gdfl, float *g, double *alpha, double out[2]) {
    double p[4][64], dist[4], lse[4];
    for (int s = 0; s < 4; s++) {
        const float *zs = z + s * R;
        double m = zs[0];
        for (int k = 1; k < R; k++) m = zs[k] > m ? zs[k] : m;
        double sum = 0, e = 0;
        for (int k = 0; k < R; k++) {
            p[s][k] = exp((double)zs[k] - m);
            sum += p[s][k];
        }
        for (int k = 0; k < R; k++) {
            p[s][k] /= sum;
            e += p[s][k] * k;
        }
        dist[s] = e;
        lse[s] = m + log(sum);
    }
    double pt[2] = {ax, ay}, pb[4];
    box_from_dist(pt, dist, pb);
    double gpb[4] = {0, 0, 0, 0};
    /* d(gain * (1 - ciou) * w / tss) / d ciou = -gbox * w */
    double ciou =
        box_iou_backward_alpha(pb, tb, BOX_CIOU, -gbox * wgt, g ? gpb : NULL, NULL, alpha);
    double ddist[4] = {-gpb[0], -gpb[1], gpb[2], gpb[3]};
    double tgt[4];
    box_to_dist(pt, tb, (double)R - 1.0 - 0.01, tgt);
    double dfl = 0;
    for (int s = 0; s < 4; s++) {
        const float *zs = z + s * R;
        int tl = (int)tgt[s], tr = tl + 1;
        double wl = (double)tr - tgt[s], wr = 1.0 - wl;
        dfl += ((lse[s] - zs[tl]) * wl + (lse[s] - zs[tr]) * wr) / 4.0;
        if (!g) continue;
        double gd = gdfl * wgt / 4.0;
        for (int k = 0; k < R; k++) {
            double v = gd * p[s][k] + ddist[s] * p[s][k] * ((double)k - dist[s]);
            if (k == tl) v -= gd * wl;
            if (k == tr) v -= gd * wr;
            g[s * R + k] = (float)v;
        }
    }
    out[0] = 1.0 - ciou;
    out[1] = dfl;
}

YOLOC_HOT status v8_loss_compute_assigned(v8_loss *L, const float *pred, float terms[3], float *grad) {
    if (!L->assigned) return err_set(YOLOC_ERR_INVALID, "v8 loss: no assignment held");
    const int nc = L->cfg.nc, R = L->cfg.reg_max;
    const size_t B = (size_t)L->batch, A = anchor_grid_count(&L->grid);
    const size_t no = 4 * (size_t)R + (size_t)nc;
    const double tss = L->tss;
    const double gbox = L->cfg.box / tss, gcls = L->cfg.cls / tss, gdfl = L->cfg.dfl / tss;
    const float ls = L->cfg.label_smoothing;
    const float fgcls = (float)gcls;
    const anchor_grid *grid = &L->grid;
    const int hold = L->hold_alpha && L->alpha_ready; /* alphas exist only after one call */
    const float t_bg = ls > 0 ? 0.5f * ls : 0.0f;     /* smoothed target of t = 0 */
    /* small problems (tests, batch 1) run on one thread: a parallel region
     * costs more than it saves there; the results are the same either way */
    const int par = B > 1 && B * A * (size_t)nc >= ((size_t)1 << 15);

#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (long bi = 0; bi < (long)B; bi++) {
        size_t b = (size_t)bi, g0 = L->gt_off[b];
        const int *owner = L->owner + b * A;
        const float *tscore = L->tscore + b * A;
        double sbox = 0, scls = 0, sdfl = 0;
        for (int l = 0; l < grid->nlevels; l++) {
            const double stride = grid->stride[l];
            for (int y = 0; y < grid->h[l]; y++)
                for (int x = 0; x < grid->w[l]; x++) {
                    size_t a = grid->offset[l] + (size_t)y * (size_t)grid->w[l] + (size_t)x;
                    const float *z = pred + (b * A + a) * no;
                    float *g = grad ? grad + (b * A + a) * no : NULL;
                    int gi = owner[a];
                    int tc = gi >= 0 ? L->gt_cls[g0 + (size_t)gi] : -1;
                    float ts = gi >= 0 ? tscore[a] : 0.0f;
                    /* classification over all classes */
                    const float *zc = z + 4 * R;
                    float *gc = g ? g + 4 * R : NULL;
                    double row = 0;
                    for (int c0 = 0; c0 < nc; c0 += BCE_CHUNK) {
                        int m = nc - c0 < BCE_CHUNK ? nc - c0 : BCE_CHUNK;
                        float tt[BCE_CHUNK], lo[BCE_CHUNK], dd[BCE_CHUNK];
                        for (int i = 0; i < m; i++) tt[i] = t_bg;
                        if (tc >= c0 && tc < c0 + m)
                            tt[tc - c0] = ls > 0 ? ts * (1.0f - ls) + 0.5f * ls : ts;
                        bce_chunk(zc + c0, tt, m, lo, dd);
                        for (int i = 0; i < m; i++) row += lo[i];
                        if (gc)
                            for (int i = 0; i < m; i++) gc[c0 + i] = dd[i] * fgcls;
                    }
                    scls += row;
                    if (g) memset(g, 0, sizeof(float) * 4 * (size_t)R);
                    if (gi < 0 || !(ts > 0)) continue;
                    /* box + DFL in grid units of the level */
                    const float *gb = L->gt_box + 4 * (g0 + (size_t)gi);
                    double tb[4];
                    for (int i = 0; i < 4; i++) tb[i] = (double)(gb[i] / (float)stride);
                    double out[2];
                    double *alpha = L->alpha + b * A + a;
                    if (!hold) *alpha = -1.0;
                    fg_anchor(z, R, x + 0.5, y + 0.5, tb, ts, gbox, gdfl, g, alpha, out);
                    sbox += out[0] * ts;
                    sdfl += out[1] * ts;
                }
        }
        L->img_sums[4 * b + 0] = sbox;
        L->img_sums[4 * b + 1] = scls;
        L->img_sums[4 * b + 2] = sdfl;
    }
    double sbox = 0, scls = 0, sdfl = 0;
    for (size_t b = 0; b < B; b++) {
        sbox += L->img_sums[4 * b + 0];
        scls += L->img_sums[4 * b + 1];
        sdfl += L->img_sums[4 * b + 2];
    }
    L->alpha_ready = 1;
    L->terms64[0] = L->cfg.box * sbox / tss;
    L->terms64[1] = L->cfg.cls * scls / tss;
    L->terms64[2] = L->cfg.dfl * sdfl / tss;
    for (int i = 0; i < 3; i++) terms[i] = (float)L->terms64[i];
    for (int i = 0; i < 3; i++)
        if (!isfinite(terms[i]))
            return err_set(YOLOC_ERR_NUMERIC, "v8 loss: non-finite terms box=%g cls=%g dfl=%g",
                           (double)terms[0], (double)terms[1], (double)terms[2]);
    return YOLOC_OK;
}

status v8_loss_compute(v8_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                       const int *level_w, const int *strides, const float *targets,
                       size_t ntargets, float terms[3], float *grad) {
    TRY(v8_loss_assign(L, pred, batch, nlevels, level_h, level_w, strides, targets, ntargets));
    return v8_loss_compute_assigned(L, pred, terms, grad);
}

status v8_loss_host(void *ctx, v8_loss *L, const float *pred, const ops_head_grid *g, const float *targets,
                    size_t ntargets, float terms[3], float *grad) {
    (void)ctx;
    return v8_loss_compute(L, pred, g->batch, g->nlevels, g->h, g->w, g->stride, targets, ntargets, terms, grad);
}
