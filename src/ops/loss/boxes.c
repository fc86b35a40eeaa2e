/* Anchor grid, box <-> distance conversion and the IoU family with its
 * gradient (see boxes.h for the conventions and what is left out). */
#include "ops/loss/boxes.h"

#include <math.h>

status anchor_grid_init(anchor_grid *g, int nlevels, const int *h, const int *w,
                        const int *stride) {
    if (nlevels < 1 || nlevels > ANCHOR_MAX_LEVELS)
        return err_set(YOLOC_ERR_INVALID, "anchor grid: %d levels (allowed 1..%d)", nlevels,
                       ANCHOR_MAX_LEVELS);
    g->nlevels = nlevels;
    g->offset[0] = 0;
    for (int l = 0; l < nlevels; l++) {
        if (h[l] < 1 || w[l] < 1 || stride[l] < 1)
            return err_set(YOLOC_ERR_INVALID, "anchor grid level %d: %dx%d cells, stride %d", l,
                           h[l], w[l], stride[l]);
        g->h[l] = h[l];
        g->w[l] = w[l];
        g->stride[l] = stride[l];
        g->offset[l + 1] = g->offset[l] + (size_t)h[l] * (size_t)w[l];
    }
    return YOLOC_OK;
}

void anchor_grid_locate(const anchor_grid *g, size_t a, int *level, int *x, int *y) {
    int l = 0;
    while (l + 1 < g->nlevels && a >= g->offset[l + 1]) l++;
    size_t r = a - g->offset[l];
    *level = l;
    *y = (int)(r / (size_t)g->w[l]);
    *x = (int)(r % (size_t)g->w[l]);
}

void anchor_grid_points(const anchor_grid *g, float *points, float *strides) {
    size_t a = 0;
    for (int l = 0; l < g->nlevels; l++)
        for (int y = 0; y < g->h[l]; y++)
            for (int x = 0; x < g->w[l]; x++, a++) {
                points[2 * a] = (float)x + 0.5f;
                points[2 * a + 1] = (float)y + 0.5f;
                if (strides) strides[a] = (float)g->stride[l];
            }
}

/* Cells i with (i + 0.5) s possibly in (lo, hi): floor(lo/s - 0.5) .. ceil(hi/s - 0.5),
 * clamped to [0, n). Works in double and clamps before converting so that
 * huge or NaN coordinates give an empty or full range, never overflow. */
static void cover_1d(double lo, double hi, int s, int n, int *c0, int *c1) {
    double a = floor(lo / s - 0.5), b = ceil(hi / s - 0.5) + 1.0;
    if (!(a >= 0)) a = 0; /* also NaN */
    if (!(b <= n)) b = n;
    if (a > n) a = n;
    if (b < a) b = a;
    *c0 = (int)a;
    *c1 = (int)b;
}

void anchor_grid_cover(const anchor_grid *g, int l, const float box[4], int *x0, int *x1, int *y0,
                       int *y1) {
    cover_1d(box[0], box[2], g->stride[l], g->w[l], x0, x1);
    cover_1d(box[1], box[3], g->stride[l], g->h[l], y0, y1);
}

int anchor_in_box(float px, float py, const float box[4]) {
    float d = px - box[0];
    float t = py - box[1];
    if (t < d) d = t;
    t = box[2] - px;
    if (t < d) d = t;
    t = box[3] - py;
    if (t < d) d = t;
    return d > 1e-9f;
}

void box_to_dist(const double p[2], const double xyxy[4], double max, double ltrb[4]) {
    double d[4] = {p[0] - xyxy[0], p[1] - xyxy[1], xyxy[2] - p[0], xyxy[3] - p[1]};
    for (int i = 0; i < 4; i++) ltrb[i] = d[i] < 0 ? 0 : (d[i] > max ? max : d[i]);
}

double box_iou(const double a[4], const double b[4], box_iou_kind kind) {
    return box_iou_backward_alpha(a, b, kind, 0.0, NULL, NULL, NULL);
}

double box_iou_backward(const double a[4], const double b[4], box_iou_kind kind, double gy,
                        double ga[4], double gb[4]) {
    return box_iou_backward_alpha(a, b, kind, gy, ga, gb, NULL);
}

double box_ciou_pre(const double a[4], const double b[4], double atan_a, double atan_b) {
    const double eps = BOX_EPS;
    double w1 = a[2] - a[0], h1 = a[3] - a[1] + eps;
    double w2 = b[2] - b[0], h2 = b[3] - b[1] + eps;
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double iw = ix > 0 ? ix : 0, ih = iy > 0 ? iy : 0;
    double inter = iw * ih;
    double uni = w1 * h1 + w2 * h2 - inter + eps;
    double iou = inter / uni;
    double cw = fmax(a[2], b[2]) - fmin(a[0], b[0]);
    double ch = fmax(a[3], b[3]) - fmin(a[1], b[1]);
    double c2 = cw * cw + ch * ch + eps;
    double dx = b[0] + b[2] - a[0] - a[2];
    double dy = b[1] + b[3] - a[1] - a[3];
    double rho2 = (dx * dx + dy * dy) / 4.0;
    double val = iou - rho2 / c2;
    const double k4pi2 = 4.0 / (M_PI * M_PI);
    double v = k4pi2 * (atan_b - atan_a) * (atan_b - atan_a);
    double alpha = v / (v - iou + (1.0 + eps));
    return val - v * alpha;
}

/* Gradient split of min(u, v) / max(u, v): the chosen input gets it all,
 * equal inputs half each (PyTorch's rule for minimum/maximum). */
static void split_min(double u, double v, double g, double *gu, double *gv) {
    if (u < v)
        *gu += g;
    else if (v < u)
        *gv += g;
    else {
        *gu += 0.5 * g;
        *gv += 0.5 * g;
    }
}
static void split_max(double u, double v, double g, double *gu, double *gv) {
    split_min(-u, -v, g, gu, gv);
}

double box_iou_backward_alpha(const double a[4], const double b[4], box_iou_kind kind, double gy,
                              double ga[4], double gb[4], double *alpha_io) {
    const double eps = BOX_EPS;
    double w1 = a[2] - a[0], h1 = a[3] - a[1] + eps;
    double w2 = b[2] - b[0], h2 = b[3] - b[1] + eps;
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double iw = ix > 0 ? ix : 0, ih = iy > 0 ? iy : 0;
    double inter = iw * ih;
    double uni = w1 * h1 + w2 * h2 - inter + eps;
    double iou = inter / uni;
    double val = iou;
    double cw = 0, ch = 0, carea = 0, c2 = 0, rho2 = 0, dx = 0, dy = 0;
    double v = 0, alpha = 0, at1 = 0, at2 = 0;
    const double k4pi2 = 4.0 / (M_PI * M_PI);
    if (kind != BOX_IOU) {
        cw = fmax(a[2], b[2]) - fmin(a[0], b[0]);
        ch = fmax(a[3], b[3]) - fmin(a[1], b[1]);
        if (kind == BOX_GIOU) {
            carea = cw * ch + eps;
            val = iou - (carea - uni) / carea;
        } else {
            c2 = cw * cw + ch * ch + eps;
            dx = b[0] + b[2] - a[0] - a[2];
            dy = b[1] + b[3] - a[1] - a[3];
            rho2 = (dx * dx + dy * dy) / 4.0;
            val = iou - rho2 / c2;
            if (kind == BOX_CIOU) {
                at1 = atan(w1 / h1);
                at2 = atan(w2 / h2);
                v = k4pi2 * (at2 - at1) * (at2 - at1);
                if (alpha_io && *alpha_io >= 0)
                    alpha = *alpha_io;
                else
                    alpha = v / (v - iou + (1.0 + eps));
                if (alpha_io) *alpha_io = alpha;
                val -= v * alpha;
            }
        }
    }
    if (!ga && !gb) return val;

    double da[4] = {0, 0, 0, 0}, db[4] = {0, 0, 0, 0};
    double d_iou = gy, d_uni = 0, d_cw = 0, d_ch = 0;
    double d_w1 = 0, d_h1 = 0, d_w2 = 0, d_h2 = 0;
    if (kind == BOX_GIOU) {
        /* val = iou - 1 + uni / carea */
        d_uni += gy / carea;
        double d_carea = -gy * uni / (carea * carea);
        d_cw = d_carea * ch;
        d_ch = d_carea * cw;
    } else if (kind == BOX_DIOU || kind == BOX_CIOU) {
        double d_rho2 = -gy / c2, d_c2 = gy * rho2 / (c2 * c2);
        d_cw = d_c2 * 2.0 * cw;
        d_ch = d_c2 * 2.0 * ch;
        double ddx = d_rho2 * dx / 2.0, ddy = d_rho2 * dy / 2.0;
        da[0] -= ddx, da[2] -= ddx, db[0] += ddx, db[2] += ddx;
        da[1] -= ddy, da[3] -= ddy, db[1] += ddy, db[3] += ddy;
        if (kind == BOX_CIOU) {
            /* d(-alpha v) with alpha constant */
            double d_at =
                -gy * alpha * k4pi2 * 2.0 * (at2 - at1); /* wrt at2; at1 gets the negative */
            double r2 = w2 * w2 + h2 * h2, r1 = w1 * w1 + h1 * h1;
            d_w2 += d_at * h2 / r2;
            d_h2 -= d_at * w2 / r2;
            d_w1 -= d_at * h1 / r1;
            d_h1 += d_at * w1 / r1;
        }
    }
    /* iou = inter / uni */
    double d_inter = d_iou / uni;
    d_uni -= d_iou * iou / uni;
    /* uni = w1 h1 + w2 h2 - inter + eps */
    d_w1 += d_uni * h1, d_h1 += d_uni * w1;
    d_w2 += d_uni * h2, d_h2 += d_uni * w2;
    d_inter -= d_uni;
    /* inter = iw ih, iw = clamp(ix, 0) */
    double d_ix = ix >= 0 ? d_inter * ih : 0, d_iy = iy >= 0 ? d_inter * iw : 0;
    split_min(a[2], b[2], d_ix, &da[2], &db[2]);
    split_max(a[0], b[0], -d_ix, &da[0], &db[0]);
    split_min(a[3], b[3], d_iy, &da[3], &db[3]);
    split_max(a[1], b[1], -d_iy, &da[1], &db[1]);
    /* enclosing box */
    if (d_cw != 0 || d_ch != 0) {
        split_max(a[2], b[2], d_cw, &da[2], &db[2]);
        split_min(a[0], b[0], -d_cw, &da[0], &db[0]);
        split_max(a[3], b[3], d_ch, &da[3], &db[3]);
        split_min(a[1], b[1], -d_ch, &da[1], &db[1]);
    }
    /* sizes */
    da[2] += d_w1, da[0] -= d_w1, da[3] += d_h1, da[1] -= d_h1;
    db[2] += d_w2, db[0] -= d_w2, db[3] += d_h2, db[1] -= d_h2;
    for (int i = 0; i < 4; i++) {
        if (ga) ga[i] += da[i];
        if (gb) gb[i] += db[i];
    }
    return val;
}
