/* The detection loss of a model, whatever its head: the trainer and the
 * validator call this, which dispatches to the loss of the model's Detect
 * head (ops/loss/v8loss for the anchor-free YOLOv8 head, ops/loss/v5loss for the
 * anchor-based YOLOv5 head).
 *
 * Normalisation contract (what makes accumulation exact, see lrbatch.h):
 * after detloss_compute, `norm` is the factor the head's loss divided its
 * sums by for this batch, and `norm_raw` is the additive quantity behind it
 * (v8: max(sum of target scores, 1) and the sum itself). The trainer
 * multiplies the gradient back by `norm`, sums `norm_raw` over the step's
 * batches and divides the step's gradient by max(sum, 1). A loss whose
 * normaliser is not additive uses norm = norm_raw = the batch's images
 * (the step is then nbs x the image-weighted mean of its batches): the v5
 * loss, a mean per component, does so. */
#ifndef YOLOC_TRAIN_DETLOSS_H
#define YOLOC_TRAIN_DETLOSS_H

#include "core/status.h"
#include "ops/loss/v5loss.h"
#include "ops/loss/v8loss.h"
#include "nn/model.h"

typedef enum { DETLOSS_V8 = 0, DETLOSS_V5 = 1 } detloss_kind;

/* The v5 head takes gains[0] as box and gains[1] as cls (YOLOv5's hyp
 * values, scaled inside the loss as train.py scales them); its objectness
 * gain is YOLOv5's 1.0, scaled by (imgsz/640)^2 with imgsz the larger input
 * side of each batch (the training size for square training batches; a
 * rect validation batch can be larger, which changes val/obj_loss only). */
typedef struct {
    float gains[3]; /* the box, cls and dfl options: v8 box, cls, dfl (7.5, 0.5, 1.5);
                       v5 box, cls (0.05, 0.5; dfl unused) */
    float label_smoothing;
} detloss_cfg;

/* The head's default gains as the box, cls and dfl options would give them
 * (v8: 7.5, 0.5, 1.5; v5: 0.05, 0.5, 0). */
void detloss_default_gains(const model *m, float gains[3]);

typedef struct {
    detloss_kind kind;
    const char *names[3];  /* the three terms: v8 "box", "cls", "dfl"; v5 "box", "obj", "cls"
                              (results.csv: train/<name>_loss) */
    double norm, norm_raw; /* of the last batch (see above) */
    v8_loss v8;
    v5_loss v5;
} detloss;

/* For the model's head; gains in cfg (NULL: the head's defaults). */
status detloss_init(detloss *L, const model *m, const detloss_cfg *cfg);
void detloss_free(detloss *L);
/* The loss of the model's last forward (training or eval plan) for the
 * batch's targets [N, 6] (host memory), run by the model's backend on the
 * raw head where it lives; terms[3] (the loss items as Ultralytics / YOLOv5
 * log them) and, when grad != NULL, d(terms sum)/d(raw head) [B, A, no]
 * into grad, a buffer of the model's backend (model_head_grad's).
 * YOLOC_ERR_NUMERIC when a term is not finite. */
status detloss_compute(detloss *L, const model *m, const float *targets, size_t ntargets,
                       float terms[3], float *grad);

#endif
