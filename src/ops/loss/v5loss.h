/* The YOLOv5 detection loss (ultralytics/yolov5 v6.1 utils/loss.py:
 * ComputeLoss with build_targets; gains scaled as train.py scales the hyp)
 * with its gradient.
 *
 * Head-output contract (the anchor-based Detect, nn/detect_v5.c): pred is
 * float32 [B, A, no], no = 5 + nc; rows go level by level, anchor by anchor,
 * row-major within an anchor: row = a0[l] + (a*H + y)*W + x with
 * a0[l] = sum over earlier levels of na*H*W. Per row the logits of
 * x, y, w, h, objectness and the nc classes. anchors: [nl, na, 2] anchor
 * sizes (w, h) in grid units of their level.
 * Targets: float [N, 6] rows (image index in the batch, class, cx, cy, w, h),
 * the box normalised to [0, 1] of the (letterboxed) input image.
 *
 * Matching (build_targets, in float as YOLOv5 computes it): per level, the
 * target in grid units (x nx, ny) is kept for anchor a when
 * max(r, 1/r) < anchor_t (4.0) for both ratios r = target wh / anchor wh;
 * each kept pair is assigned to its cell and to the two nearest neighbours
 * (offset g = 0.5: left if x % 1 < 0.5 and x > 1, up likewise, right if
 * (nx - x) % 1 < 0.5 and nx - x > 1, down likewise); cells are
 * trunc(xy - offset) clamped to the grid; the target box is (xy - cell, wh)
 * relative to the (clamped) cell. Matches are kept in YOLOv5's order
 * (offset, then anchor, then target), which decides which match writes
 * the objectness target of a cell claimed twice (the last).
 * The match depends only on the targets and the grid, not on pred.
 *
 * Loss, per level l with n_l matches (s = sigmoid):
 *   pxy = 2 s(txy) - 0.5, pwh = (2 s(twh))^2 * anchor;
 *   lbox += mean over matches (1 - CIoU(pbox, tbox)) (xywh boxes, the
 *           detached CIoU alpha as boxes.h);
 *   tobj = (1 - gr) + gr * max(CIoU, 0), detached (gr = 1.0), at the
 *          matched rows, 0 elsewhere;
 *   lobj += balance[l] * mean over B*na*H*W rows BCEWithLogits(obj, tobj),
 *           balance = {4.0, 1.0, 0.4} (3 levels; else 4.0, 1.0, 0.25, 0.06,
 *           0.02);
 *   lcls += mean over n_l*nc BCEWithLogits(cls, t), t = cp at the target
 *           class and cn elsewhere (smooth_BCE: cp = 1 - eps/2,
 *           cn = eps/2); only when nc > 1.
 * terms = {box' lbox, obj' lobj, cls' lcls} with train.py's scaled gains
 * box' = box * 3/nl, cls' = cls * nc/80 * 3/nl,
 * obj' = obj * (imgsz/640)^2 * 3/nl: YOLOv5's loss items, NOT multiplied
 * by the batch size (YOLOv5 backpropagates their sum x B). The gradient is
 * d(terms[0] + terms[1] + terms[2]) / d pred with the matching, the CIoU
 * alphas and the objectness targets detached.
 *
 * Threads: the objectness term runs per image in parallel (OpenMP), its
 * sums reduced per image and then in image order, so results do not depend
 * on the thread count. Not here: focal loss (fl_gamma), pos_weight != 1,
 * autobalance, sort_obj_iou. */
#ifndef YOLOC_LOSS_V5LOSS_H
#define YOLOC_LOSS_V5LOSS_H

#include "core/status.h"
#include "ops/backend.h"

#include <stddef.h>

#define V5_MAX_LEVELS 5

typedef struct {
    int nc;                /* classes (>= 1) */
    int na;                /* anchors per cell (>= 1) */
    float box, obj, cls;   /* hyp gains before scaling (0.05, 1.0, 0.5) */
    float anchor_t;        /* anchor-multiple threshold (4.0) */
    float label_smoothing; /* eps in [0, 1) (0) */
    float gr;              /* IoU ratio of the objectness target (1.0) */
    int imgsz;             /* training image size of the obj gain scaling;
                              0: the input's larger side */
} v5_loss_cfg;

/* YOLOv5's hyp.scratch-low values for nc classes and na anchors per cell. */
v5_loss_cfg v5_loss_cfg_default(int nc, int na);

/* One target assigned to a cell and an anchor of a level. */
typedef struct {
    int level, b, a, gj, gi, cls;
    size_t row;      /* b*A + a0[level] + (a*H + gj)*W + gi (pred row) */
    float tbox[4];   /* x, y from the cell, w, h (grid units) */
    float anchor[2]; /* w, h (grid units) */
} v5_match;

typedef struct v5_loss {
    v5_loss_cfg cfg;
    /* the last match (read-only for callers) */
    int batch, nlevels;
    int level_h[V5_MAX_LEVELS], level_w[V5_MAX_LEVELS], a0[V5_MAX_LEVELS + 1];
    size_t anchors_total; /* A (rows per image) */
    size_t ntargets;
    v5_match *match; /* [nmatch], level by level */
    size_t nmatch;
    size_t level_off[V5_MAX_LEVELS + 1]; /* first match of each level */
    double gains[3];                     /* the scaled gains box', obj', cls' of the last call */
    double terms64[3];                   /* the last terms in double (finite-difference tests) */
    int matched;
    /* Set to 1 to make v5_loss_compute_matched reuse the CIoU alphas and
     * objectness targets of its previous call (both detached in YOLOv5, so
     * a finite-difference check must hold them). Cleared by v5_loss_match. */
    int hold;
    int held_ready;    /* private: alpha/tobj_match hold the last call's values */
    double *alpha;     /* [nmatch] CIoU alpha of the last call */
    float *tobj_match; /* [nmatch] objectness target of each match */
    /* private: workspace */
    size_t match_cap, tobj_cap, sums_cap;
    float *tobj;      /* [B*A] objectness targets */
    double *img_sums; /* [B*nl] objectness BCE sums per image and level */
} v5_loss;

/* YOLOC_ERR_INVALID naming the field for nc < 1, na < 1, negative or
 * non-finite gains, anchor_t <= 0, label_smoothing outside [0, 1), gr
 * outside [0, 1], imgsz < 0. Allocates nothing until the first compute. */
status v5_loss_init(v5_loss *L, const v5_loss_cfg *cfg);
void v5_loss_free(v5_loss *L);

/* Match then loss: terms[3] = {box, obj, cls} as above and, when grad is
 * not NULL, the gradient [B, A, no] (overwritten). Errors:
 * YOLOC_ERR_INVALID for batch < 1, a bad grid (nlevels outside
 * [1, V5_MAX_LEVELS], sizes or strides < 1), anchors not positive, or a
 * target row with an image index outside [0, batch), a class outside
 * [0, nc), a non-finite value or a negative size (the message names the
 * row); YOLOC_ERR_NOMEM; YOLOC_ERR_NUMERIC when a term is not finite
 * (terms and grad are still written). */
status v5_loss_compute(v5_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                       const int *level_w, const int *strides, const float *anchors,
                       const float *targets, size_t ntargets, float terms[3], float *grad);

/* The two halves of v5_loss_compute: v5_loss_match runs build_targets
 * (same errors; also computes the scaled gains); v5_loss_compute_matched
 * computes the loss and gradient of pred with the held match
 * (YOLOC_ERR_INVALID when nothing is matched). */
status v5_loss_match(v5_loss *L, int batch, int nlevels, const int *level_h, const int *level_w,
                     const int *strides, const float *anchors, const float *targets,
                     size_t ntargets);
status v5_loss_compute_matched(v5_loss *L, const float *pred, float terms[3], float *grad);

/* The backend entry of host-memory backends (ref, cpu: ops/backend.h
 * v5_loss): v5_loss_compute on the grid g; ctx unused. */
status v5_loss_host(void *ctx, v5_loss *L, const float *pred, const ops_head_grid *g, const float *anchors,
                    const float *targets, size_t ntargets, float terms[3], float *grad);

#endif
