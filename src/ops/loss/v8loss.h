/* The YOLOv8 detection loss (Ultralytics 8.3.x v8DetectionLoss, BboxLoss,
 * DFLoss) with its gradient. (The eval-mode decode is the model's: nn/detect.c.)
 *
 * Head-output contract: pred is float32 [B, A, no], anchor-major,
 * no = 4 * reg_max + nc. Anchors go level by level (the order of the level
 * arrays, strides 8, 16, 32 for YOLOv8), row-major within a level. Per
 * anchor: the DFL logits at side * reg_max + bin, sides left, top, right,
 * bottom (distances from the anchor point, in grid units of the level), then
 * the nc class logits. The input image is level_h[0]*strides[0] pixels high
 * and level_w[0]*strides[0] wide.
 * Targets: float [N, 6] rows (image index in the batch, class, cx, cy, w, h),
 * the box normalised to [0, 1] of the (letterboxed) input image.
 *
 * What is computed, per batch (tss = max(sum of all target scores, 1)):
 *   L_cls = sum over all images, anchors, classes of BCEWithLogits(x, t) / tss
 *   L_box = sum over fg anchors of (1 - CIoU(pred box, target box)) w / tss
 *   L_dfl = sum over fg anchors of w * mean over the 4 sides of
 *           CE(logits, tl) (tl + 1 - d) + CE(logits, tl + 1) (d - tl) / tss
 * where t are the assigner's soft class targets (assigner.h), w the target
 * score of the anchor, the box in grid units, d the target distance clamped
 * to [0, reg_max - 1.01] and tl = floor(d). terms = {box * L_box,
 * cls * L_cls, dfl * L_dfl} (gains 7.5, 0.5, 1.5 by default): exactly
 * Ultralytics' loss_items, NOT multiplied by the batch size (Ultralytics
 * backpropagates loss_items.sum() * B; yoloc's trainer scales). The gradient
 * is d(terms[0] + terms[1] + terms[2]) / d pred; the assignment is computed
 * from the predictions but detached (no gradient through it).
 *
 * Label smoothing (a yoloc extension; 8.3 v8DetectionLoss has none): with
 * eps > 0 every BCE target becomes t (1 - eps) + eps / 2 (YOLOv5's
 * smooth_BCE: positives 1 - eps/2, negatives eps/2, generalised to soft
 * targets); box/dfl weights and tss use the unsmoothed scores.
 *
 * Threads: images are processed in parallel (OpenMP); every sum is reduced
 * per image and then over images in order, so results do not depend on the
 * thread count. Workspace: one block planned at the first call and grown
 * only when a batch needs more (more anchors x images or more targets).
 * Not here: the 8.4 assigner changes, segmentation/pose/OBB losses. */
#ifndef YOLOC_LOSS_V8LOSS_H
#define YOLOC_LOSS_V8LOSS_H

#include "ops/loss/assigner.h"
#include "ops/backend.h"
#include "ops/loss/boxes.h"

#include <stddef.h>

typedef struct {
    int nc;                /* classes (>= 1) */
    int reg_max;           /* DFL bins per side (16; >= 2) */
    float box, cls, dfl;   /* gains (7.5, 0.5, 1.5) */
    float label_smoothing; /* eps in [0, 1) (0) */
    tal_cfg tal;           /* assigner (TAL_CFG_V8) */
} v8_loss_cfg;

/* The Ultralytics defaults for nc classes. */
v8_loss_cfg v8_loss_cfg_default(int nc);

typedef struct v8_loss {
    v8_loss_cfg cfg;
    /* the last assignment (read-only for callers) */
    int batch;         /* images */
    anchor_grid grid;  /* anchors A = anchor_grid_count(&grid) */
    size_t ntargets;   /* ground truths (rows of targets) */
    size_t nfg;        /* foreground anchors over the batch */
    double tss;        /* max(sum of target scores, 1) */
    double tss_raw;    /* the sum itself (the trainer normalises several batches as one) */
    double terms64[3]; /* the last terms in double (for finite-difference tests) */
    int *owner;        /* [B*A] ground truth index within its image, or -1 */
    float *tscore;     /* [B*A] soft target score (0 for background) */
    int *gt_cls;       /* [N] grouped by image (gt_off) */
    float *gt_box;     /* [N, 4] xyxy input pixels */
    size_t *gt_off;    /* [B+1] first ground truth of each image */
    int assigned;      /* an assignment is held */
    /* Set to 1 to make v8_loss_compute_assigned reuse the CIoU alphas of its
     * previous call instead of recomputing them: Ultralytics detaches alpha
     * (torch.no_grad), so the analytic gradient treats it as a constant and a
     * finite-difference check must hold it too. Cleared by v8_loss_assign;
     * without a previous call the alphas are computed. */
    int hold_alpha;
    int alpha_ready; /* private: alpha[] holds the last call's values */
    double *alpha;   /* [B*A] CIoU alpha of each foreground anchor (last call) */
    /* private: workspace */
    void *work;
    size_t work_bytes;
    void *img;
    size_t img_cap; /* images img can hold */
    size_t cap_ba, cap_gt;
    float *pbox;          /* [B*A*4] decoded boxes for the assigner */
    unsigned char *need;  /* [B*A] */
    unsigned char *talws; /* per image tal workspaces */
    size_t *talws_off;    /* [B+1] */
    size_t *cursor;       /* [B+1] */
    double *img_sums;     /* [B*4]: box, cls, dfl, target score sums */
} v8_loss;

/* YOLOC_ERR_INVALID naming the field for nc < 1, reg_max outside [2, 64],
 * negative or non-finite gains, label_smoothing outside [0, 1), topk < 1,
 * alpha/beta < 0. Allocates nothing until the first compute. */
status v8_loss_init(v8_loss *L, const v8_loss_cfg *cfg);
void v8_loss_free(v8_loss *L);

/* Assignment then loss: terms[3] as above and, when grad is not NULL, the
 * gradient [B, A, no] (overwritten). Errors: YOLOC_ERR_INVALID for a bad
 * grid, batch < 1, or a target row with an image index outside [0, batch),
 * a class outside [0, nc), a non-finite value or a negative size (the
 * message names the row); YOLOC_ERR_NOMEM; YOLOC_ERR_NUMERIC when a term is
 * not finite (terms and grad are still written). */
status v8_loss_compute(v8_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                       const int *level_w, const int *strides, const float *targets,
                       size_t ntargets, float terms[3], float *grad);

/* The two halves of v8_loss_compute, for tests and for callers that hold
 * the assignment fixed (finite-difference checks): v8_loss_assign runs the
 * assigner on pred (same errors); v8_loss_compute_assigned computes the loss
 * and gradient of pred with the held assignment (pred must have the shape of
 * the assigned one; YOLOC_ERR_INVALID when nothing is assigned). */
status v8_loss_assign(v8_loss *L, const float *pred, int batch, int nlevels, const int *level_h,
                      const int *level_w, const int *strides, const float *targets,
                      size_t ntargets);
status v8_loss_compute_assigned(v8_loss *L, const float *pred, float terms[3], float *grad);

/* The backend entry of host-memory backends (ref, cpu: ops/backend.h
 * v8_loss): v8_loss_compute on the grid g; ctx unused. */
status v8_loss_host(void *ctx, v8_loss *L, const float *pred, const ops_head_grid *g, const float *targets,
                    size_t ntargets, float terms[3], float *grad);

#endif
