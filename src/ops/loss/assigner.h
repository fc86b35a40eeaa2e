/* Task-aligned assigner (TOOD / YOLOv8), Ultralytics 8.3.x semantics
 * (utils/tal.py: TaskAlignedAssigner as v8DetectionLoss instantiates it:
 * topk 10, alpha 0.5, beta 6.0, eps 1e-9), for one image.
 *
 * For each ground truth g (xyxy pixels, class c_g) and anchor a:
 *  - candidate: the anchor point lies inside g (min of the four distances
 *    > 1e-9, anchor_in_box) and g is valid (x1 + y1 + x2 + y2 > 0, the
 *    padding test mask_gt);
 *  - overlap(g, a) = max(CIoU(g, pred_box_a), 0) and
 *    align(g, a) = sigmoid(logit_a[c_g])^alpha * overlap^beta on candidates,
 *    both 0 elsewhere;
 *  - g selects its top-k anchors by align; an anchor selected by several
 *    ground truths goes to the g with the largest overlap over ALL ground
 *    truths of the image (argmax, first on ties, so possibly a g that did
 *    not select it, as select_highest_overlaps does);
 *  - per g: A_g = max align and O_g = max overlap over its final anchors;
 *    an anchor of g gets the soft class target
 *    t_a = align(g, a) * O_g / (A_g + eps) on class c_g.
 * Ties: torch.topk leaves the order of equal metrics unspecified; here equal
 * metrics are ranked by candidate first (in-box before out-of-box), then by
 * lower anchor index. This matters only when fewer than k candidates have a
 * non-zero metric; out-of-box picks are dropped anyway (mask_in_gts), so a
 * ground truth with fewer than k candidates keeps all of them.
 * Overlaps and metrics are computed in double (torch: float32); the ranking
 * can differ from torch only on values within float rounding of each other.
 * Not here: the 8.4 changes (small boxes enlarged to 16 px for candidate
 * selection, multi-GT resolved by alignment). */
#ifndef YOLOC_LOSS_ASSIGNER_H
#define YOLOC_LOSS_ASSIGNER_H

#include "ops/loss/boxes.h"

#include <math.h>
#include <stddef.h>

typedef struct {
    int topk;
    double alpha, beta, eps;
} tal_cfg;

/* The values v8DetectionLoss uses (not the class defaults 13 / 1.0). */
#define TAL_CFG_V8 ((tal_cfg){10, 0.5, 6.0, 1e-9})

/* Bytes of workspace tal_assign() needs for A anchors and ngt ground truths. */
size_t tal_workspace_size(size_t nanchors, size_t ngt, const tal_cfg *cfg);

/* Assigns one image.
 *   grid      the anchor grid (A anchors); anchor points in pixels are
 *             (x + 0.5) * stride, (y + 0.5) * stride
 *   pd_box    [A, 4] predicted boxes, xyxy pixels. Only rows of anchors
 *             inside some valid ground truth are read (the caller may leave
 *             the others unset; tal_need_box() tells which).
 *   pd_logit  class logits of anchor a at pd_logit + a * logit_stride, nc of them
 *   gt_box    [ngt, 4] xyxy pixels; gt_cls [ngt] in [0, nc)
 *   ws        tal_workspace_size() bytes, 8-byte aligned
 * Outputs: owner [A] (index of the assigned ground truth or -1) and tscore
 * [A] (t_a, 0 for background). Returns the number of foreground anchors.
 * No failure modes: inputs are the caller's validated data. */
size_t tal_assign(const tal_cfg *cfg, const anchor_grid *grid, const float *pd_box,
                  const float *pd_logit, size_t logit_stride, size_t ngt, const float *gt_box,
                  const int *gt_cls, void *ws, int *owner, float *tscore);

/* Marks need[a] = 1 for every anchor inside some valid ground truth (the
 * rows of pd_box tal_assign reads); need is [A], not cleared first. */
void tal_need_box(const anchor_grid *grid, size_t ngt, const float *gt_box, unsigned char *need);

/* The alignment metric score^alpha * overlap^beta. Exponents 0.5 and small
 * integers (YOLOv8's 0.5 and 6) use sqrt / repeated squaring instead of pow
 * (faster; equal to pow within an ulp or two); other exponents use pow. */
static inline double tal_pow(double x, double p) {
    if (p == 0.5) return sqrt(x);
    if (p >= 0 && p <= 64 && p == (double)(int)p) {
        double r = 1.0, b = x;
        for (int e = (int)p; e; e >>= 1) {
            if (e & 1) r *= b;
            b *= b;
        }
        return r;
    }
    return pow(x, p);
}
static inline double tal_align(const tal_cfg *cfg, double score, double overlap) {
    return tal_pow(score, cfg->alpha) * tal_pow(overlap, cfg->beta);
}

/* 1 when gt box (xyxy) takes part (Ultralytics mask_gt: coordinate sum > 0). */
static inline int tal_gt_valid(const float box[4]) {
    return box[0] + box[1] + box[2] + box[3] > 0;
}

#endif
