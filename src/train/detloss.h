/* The detection loss of a model, whatever its head: the trainer and the
 * validator call this, which dispatches to the loss of the model's Detect
 * head (loss/v8loss for the anchor-free YOLOv8 head; a YOLOv5 anchor-based
 * loss plugs in here too).
 *
 * Normalisation contract (what makes accumulation exact, see lrbatch.h):
 * after detloss_compute, `norm` is the factor the head's loss divided its
 * sums by for this batch, and `norm_raw` is the additive quantity behind it
 * (v8: max(sum of target scores, 1) and the sum itself). The trainer
 * multiplies the gradient back by `norm`, sums `norm_raw` over the step's
 * batches and divides the step's gradient by max(sum, 1). A loss whose
 * normaliser is not additive uses norm = norm_raw = the batch's images
 * (the step is then nbs x the image-weighted mean of its batches). */
#ifndef YOLOC_TRAIN_DETLOSS_H
#define YOLOC_TRAIN_DETLOSS_H

#include "core/status.h"
#include "loss/v8loss.h"
#include "nn/model.h"

typedef enum { DETLOSS_V8 = 0 } detloss_kind;

typedef struct {
    float gains[3];        /* v8: box, cls, dfl (7.5, 0.5, 1.5) */
    float label_smoothing;
} detloss_cfg;

typedef struct {
    detloss_kind kind;
    const char *names[3];  /* the three terms: "box", "cls", "dfl" (results.csv: train/<name>_loss) */
    double norm, norm_raw; /* of the last batch (see above) */
    v8_loss v8;
} detloss;

/* For the model's head; gains in cfg (NULL: the head's defaults). */
status detloss_init(detloss *L, const model *m, const detloss_cfg *cfg);
void detloss_free(detloss *L);
/* The loss of the model's last forward (training or eval plan) for the
 * batch's targets [N, 6]; terms[3] (the loss items as Ultralytics logs
 * them) and, when grad != NULL, d(terms sum)/d(raw head) [B, A, no].
 * YOLOC_ERR_NUMERIC when a term is not finite. */
status detloss_compute(detloss *L, const model *m, const float *targets, size_t ntargets, float terms[3],
                       float *grad);

#endif
