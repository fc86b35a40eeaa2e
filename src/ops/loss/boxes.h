/* Box maths of the YOLOv8 head: the anchor grid, distance <-> box conversion
 * and the IoU family (IoU, GIoU, DIoU, CIoU) with gradients.
 *
 * Conventions (Ultralytics 8.3.x, utils/tal.py and utils/metrics.py):
 *  - Anchors are grid-cell centres, offset 0.5, level by level (strides
 *    ascending as given), within a level row-major (y then x). An anchor's
 *    point is (x + 0.5, y + 0.5) in grid units of its level, times the
 *    level's stride in input pixels.
 *  - Boxes are xyxy (x1, y1, x2, y2). dist2bbox: x1y1 = anchor - lt,
 *    x2y2 = anchor + rb; bbox2dist is its inverse, clamped to [0, max].
 *  - bbox_iou(xywh=False): w = x2 - x1, h = y2 - y1 + eps (eps = 1e-7 added
 *    to heights only, as 8.3.x does), intersection clamped at 0,
 *    union = w1 h1 + w2 h2 - inter + eps. GIoU = iou - (C - union) / C with
 *    C = cw ch + eps; DIoU = iou - rho2 / c2 with c2 = cw^2 + ch^2 + eps and
 *    rho2 the squared centre distance; CIoU = DIoU - alpha v with
 *    v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 and alpha = v / (v - iou + 1 + eps)
 *    treated as a constant in the gradient (torch.no_grad in Ultralytics).
 *  - Gradients follow PyTorch autograd's choices at kinks: clamp(min=0)
 *    passes the gradient where its input is >= 0; min/max of two equal
 *    values split the gradient in half.
 * Everything here is a pure function on caller memory; nothing allocates.
 * Not here: batched/vectorised IoU matrices (eval/ has its own float IoU as
 * the validators compute it), rotated boxes. */
#ifndef YOLOC_LOSS_BOXES_H
#define YOLOC_LOSS_BOXES_H

#include "core/status.h"

#include <math.h>
#include <stddef.h>

#define BOX_EPS           1e-7
#define ANCHOR_MAX_LEVELS 8

/* The detection grid: level l has h[l] x w[l] cells of stride[l] pixels. */
typedef struct {
    int nlevels;
    int h[ANCHOR_MAX_LEVELS], w[ANCHOR_MAX_LEVELS], stride[ANCHOR_MAX_LEVELS];
    size_t
        offset[ANCHOR_MAX_LEVELS + 1]; /* first anchor index of each level; offset[nlevels] = A */
} anchor_grid;

/* Fills g from per-level arrays. YOLOC_ERR_INVALID (naming the level) when
 * nlevels is not in [1, ANCHOR_MAX_LEVELS] or a size/stride is < 1. */
status anchor_grid_init(anchor_grid *g, int nlevels, const int *h, const int *w, const int *stride);
/* Total number of anchors A. */
static inline size_t anchor_grid_count(const anchor_grid *g) {
    return g->offset[g->nlevels];
}
/* Level, column and row of anchor a (a < A). */
void anchor_grid_locate(const anchor_grid *g, size_t a, int *level, int *x, int *y);
/* Writes [A, 2] anchor points in grid units of their level (x + 0.5, y + 0.5)
 * and, when strides is not NULL, [A] strides (make_anchors). */
void anchor_grid_points(const anchor_grid *g, float *points, float *strides);

/* Anchors of level l whose centre may lie inside box (pixels, xyxy): cells
 * [x0, x1) x [y0, y1), possibly empty. A superset of the exact test
 * anchor_in_box(); callers test each cell with it. */
void anchor_grid_cover(const anchor_grid *g, int l, const float box[4], int *x0, int *x1, int *y0,
                       int *y1);
/* The assigner's candidate test (select_candidates_in_gts), in float as
 * Ultralytics computes it: min(px - x1, py - y1, x2 - px, y2 - py) > 1e-9. */
int anchor_in_box(float px, float py, const float box[4]);

/* dist2bbox: ltrb distances from point p -> xyxy. */
static inline void box_from_dist(const double p[2], const double ltrb[4], double xyxy[4]) {
    xyxy[0] = p[0] - ltrb[0];
    xyxy[1] = p[1] - ltrb[1];
    xyxy[2] = p[0] + ltrb[2];
    xyxy[3] = p[1] + ltrb[3];
}
/* bbox2dist: xyxy -> ltrb distances from p, each clamped to [0, max]. */
void box_to_dist(const double p[2], const double xyxy[4], double max, double ltrb[4]);

typedef enum { BOX_IOU = 0, BOX_GIOU, BOX_DIOU, BOX_CIOU } box_iou_kind;

/* The overlap of boxes a and b (xyxy) of the given kind, in double. */
double box_iou(const double a[4], const double b[4], box_iou_kind kind);
/* Same value, and accumulates gy * d(value)/da into ga and gy * d/db into gb
 * (either may be NULL). alpha of CIoU is held constant. */
double box_iou_backward(const double a[4], const double b[4], box_iou_kind kind, double gy,
                        double ga[4], double gb[4]);
/* box_iou_backward with CIoU's detached alpha exposed: when alpha is not
 * NULL and *alpha >= 0 on entry, that value is used instead of
 * v / (v - iou + 1 + eps) (so finite differences can hold it as autograd
 * does); on return *alpha holds the value used. */
double box_iou_backward_alpha(const double a[4], const double b[4], box_iou_kind kind, double gy,
                              double ga[4], double gb[4], double *alpha);

/* atan(w / h) of a box as CIoU uses it (h with eps). */
static inline double box_aspect_atan(const double b[4]) {
    return atan((b[2] - b[0]) / (b[3] - b[1] + BOX_EPS));
}
/* CIoU value with the aspect atans supplied (box_aspect_atan of a and b),
 * for callers comparing one box with many; the same operations in the same
 * order as box_iou(a, b, BOX_CIOU), hence the same value bit for bit. */
double box_ciou_pre(const double a[4], const double b[4], double atan_a, double atan_b);

#endif
