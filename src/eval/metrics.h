/* Detection metrics: the evaluation set (ground truth + detections per
 * image), Ultralytics 8.3.x validation metrics and the confusion matrix.
 *
 * Boxes are COCO-style (x, y, w, h): top-left corner and size in pixels of
 * the original image. The COCO evaluation (coco.h) works on the same set.
 *
 * Ultralytics method (DetectionValidator + utils/metrics.py):
 *  - per image, detections in descending confidence (a stable sort of the
 *    given order; NMS output already is), IoU matrix labels x detections in
 *    float32 (box_iou, eps 1e-7), zero across classes; for each threshold
 *    of 0.50:0.05:0.95 (match_predictions): every pair with IoU >= t, sorted
 *    by IoU descending (ties: the later pair in row-major (label, detection)
 *    order first, as a reversed argsort gives), each detection keeps its
 *    first pair, then each label goes to the lowest-index detection left;
 *  - ap_per_class: all detections by descending confidence (stable), per
 *    class with at least one label: recall = TP / (n_l + 1e-16),
 *    precision = TP / (TP + FP); AP = trapezoid over 101 points of
 *    interp(linspace(0,1,101), [0, recall, 1], envelope([1, precision, 0]));
 *    P, R, F1 per class at the index maximising the smoothed (box filter,
 *    101 points of 1000) mean F1 curve; mP, mR, mAP50, mAP50-95 are means over
 *    the classes with labels. Crowd ground truths (COCO input only) are left
 *    out of this method.
 * Confusion matrix (ConfusionMatrix.process_batch, conf 0.25, IoU 0.45):
 *  (nc+1) x (nc+1), indexed [predicted][true], row/column nc = background.
 * Not here: the COCO method (coco.h), plots. */
#ifndef YOLOC_EVAL_METRICS_H
#define YOLOC_EVAL_METRICS_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

#define EVAL_NIOU 10 /* IoU thresholds 0.50:0.05:0.95 */

typedef struct {
    double x, y, w, h; /* pixels: top-left corner and size */
    double area;       /* COCO "area" (w * h for YOLO labels) */
    int cls;           /* class index in [0, nc) */
    int crowd;         /* COCO iscrowd */
} eval_gt;

typedef struct {
    double x, y, w, h;
    double score;
    int cls;
} eval_det;

typedef struct {
    int64_t id;        /* image id (COCO image_id) */
    int width, height; /* pixels */
    size_t gt0, ngt;   /* its ground truths: gts[gt0 .. gt0+ngt) */
    size_t det0, ndet; /* its detections */
} eval_image;

/* Ground truth and detections of a set of images, copied in. */
typedef struct {
    int nc;
    int64_t *cat_ids; /* [nc] COCO category id of each class (default class + 1) */
    size_t nimages, cap_images;
    eval_image *images;
    size_t ngts, cap_gts;
    eval_gt *gts;
    size_t ndets, cap_dets;
    eval_det *dets;
} eval_set;

/* YOLOC_ERR_INVALID for nc < 1; YOLOC_ERR_NOMEM. */
status eval_set_init(eval_set *s, int nc);
void eval_set_free(eval_set *s);
/* Appends one image (boxes copied). YOLOC_ERR_INVALID naming the image id
 * when a class is outside [0, nc) or a value is not finite; YOLOC_ERR_NOMEM. */
status eval_set_add_image(eval_set *s, int64_t id, int width, int height, const eval_gt *gt,
                          size_t ngt, const eval_det *det, size_t ndet);

/* Ultralytics validation metrics. Arrays over "AP classes": the classes with
 * at least one (non-crowd) label, ascending. */
typedef struct {
    int nc;
    size_t nimages;                /* images seen */
    size_t *nt_per_class;          /* [nc] labels of each class */
    size_t *nt_per_image;          /* [nc] images containing the class */
    size_t nap;                    /* AP classes */
    int *ap_class;                 /* [nap] class index */
    double *p, *r, *f1;            /* [nap] at the chosen confidence */
    double *ap;                    /* [nap * EVAL_NIOU] AP per IoU threshold */
    double *ap50, *ap5095;         /* [nap] AP at 0.5 and the mean over thresholds */
    double mp, mr, map50, map5095; /* means over AP classes (0 when nap = 0) */
    double conf_at;                /* the confidence (x of the F1 curve) chosen */
    double *pr_curve;              /* [nap * 1000] precision at recall linspace(0, 1, 1000), IoU 0.5
                                      (the envelope Ultralytics plots in PR_curve.png) */
} ul_metrics;

/* YOLOC_ERR_NOMEM; otherwise always succeeds (an empty set gives zeros). */
status eval_ultralytics(const eval_set *s, ul_metrics *m);
void ul_metrics_free(ul_metrics *m);

/* The per-image matching of match_predictions, exposed for tests: correct
 * [ndet * EVAL_NIOU] (1 = true positive at that threshold) for one image's
 * detections in the given order against its non-crowd labels.
 * YOLOC_ERR_NOMEM. */
status eval_match_image(const eval_gt *gt, size_t ngt, const eval_det *det, size_t ndet,
                        unsigned char *correct);

/* ConfusionMatrix defaults of the Ultralytics validator. */
#define EVAL_CONFUSION_CONF 0.25
#define EVAL_CONFUSION_IOU  0.45

typedef struct {
    int nc;
    double conf, iou; /* EVAL_CONFUSION_CONF, EVAL_CONFUSION_IOU */
    uint64_t *m;      /* [(nc+1) * (nc+1)], m[pred * (nc+1) + true] */
} eval_confusion;

status eval_confusion_init(eval_confusion *c, int nc, double conf, double iou);
void eval_confusion_free(eval_confusion *c);
/* Adds one image (Ultralytics process_batch; crowd labels are skipped). */
status eval_confusion_add(eval_confusion *c, const eval_gt *gt, size_t ngt, const eval_det *det,
                          size_t ndet);

#endif
