/* Non-maximum suppression for one image's decoded head output, and the
 * inverse letterbox (Ultralytics 8.3.x utils/ops: non_max_suppression,
 * scale_boxes, clip_boxes).
 *
 * NMS, on pred [A, 4 + nc] (cx, cy, w, h in input pixels, sigmoid scores;
 * the model's eval output for one image):
 *  1. candidates: every (anchor, class) with score > conf in multi-label
 *     mode (validation), else the best class of each anchor (first on ties)
 *     when its score > conf;
 *  2. candidates sorted by score descending, ties by candidate order
 *     (anchor, then class) - deterministic where torch's sort is not - and
 *     cut to max_nms;
 *  3. greedy suppression in that order on boxes shifted by class * max_wh
 *     (not in agnostic mode), in float32 as torchvision computes
 *     IoU = inter / (area_i + area_j - inter); a box is suppressed when its
 *     IoU with a kept box is > iou; stops after max_det kept boxes.
 * Output rows (x1, y1, x2, y2, conf, cls) in input pixels, by descending
 * confidence. Not here: per-class filters, masks/keypoints, rotated boxes,
 * the batched wrapper (call per image). */
#ifndef YOLOC_EVAL_NMS_H
#define YOLOC_EVAL_NMS_H

#include "core/status.h"

#include <stddef.h>

typedef struct {
    float conf;      /* keep scores > conf */
    float iou;       /* suppress IoU > iou */
    int max_det;     /* boxes kept per image */
    int max_nms;     /* candidates entering suppression */
    int multi_label; /* every (box, class) above conf is a candidate */
    int agnostic;    /* suppress across classes */
    float max_wh;    /* class offset (7680) */
    const int *classes; /* only these classes (Ultralytics' classes=); NULL: all */
    int nclasses;
} nms_cfg;

/* Validation (DetectionValidator: multi-label) and prediction defaults. */
#define NMS_CFG_VAL     ((nms_cfg){0.001f, 0.7f, 300, 30000, 1, 0, 7680.0f, NULL, 0})
#define NMS_CFG_PREDICT ((nms_cfg){0.25f, 0.7f, 300, 30000, 0, 0, 7680.0f, NULL, 0})

/* Bytes of workspace nms_image needs for A anchors and nc classes. */
size_t nms_workspace_size(size_t nanchors, int nc, const nms_cfg *cfg);

/* Runs NMS on one image. out must hold cfg->max_det rows of 6 floats;
 * *ndet receives the rows written. ws: nms_workspace_size() bytes (8-byte
 * aligned). YOLOC_ERR_INVALID for nc < 1, max_det < 1, max_nms < 1, a
 * threshold outside [0, 1] or a workspace too small. */
status nms_image(const nms_cfg *cfg, const float *pred, size_t nanchors, int nc, void *ws,
                 size_t ws_bytes, float *out, size_t *ndet);

/* scale_boxes: boxes (x1, y1, x2, y2 at the start of each row of `stride`
 * floats) from the letterboxed input (in_w x in_h) back to the original
 * image (orig_w x orig_h), then clipped to [0, orig_w] x [0, orig_h].
 * gain_pad NULL: gain = min(in_h / orig_h, in_w / orig_w) and the centred
 * padding round((in - orig * gain) / 2 - 0.1) (round half to even), as
 * Ultralytics computes them; else {gain, pad_x, pad_y} as the letterbox
 * recorded them. */
void nms_scale_boxes(float *boxes, size_t n, size_t stride, int in_w, int in_h, int orig_w,
                     int orig_h, const double gain_pad[3]);

#endif
