/* Validation and prediction: a model in eval mode over a dataset split
 * (letterboxed, optionally in rectangular batches as Ultralytics' validator
 * does), NMS, boxes mapped back to the original images, and the metrics of
 * src/eval; optionally the validation losses from the raw head. */
#ifndef YOLOC_TRAIN_VALIDATE_H
#define YOLOC_TRAIN_VALIDATE_H

#include "core/status.h"
#include "data/dataset.h"
#include "eval/metrics.h"
#include "eval/nms.h"
#include "eval/yolo_eval.h"
#include "train/detloss.h"
#include "nn/model.h"

typedef struct {
    int batch;          /* images per forward (Ultralytics: 2 x the training batch) */
    int imgsz;
    int rect;           /* rectangular batches (default 1) */
    int workers;
    nms_cfg nms;        /* NMS_CFG_VAL */
    eval_metric metric; /* EVAL_METRIC_ULTRALYTICS */
    int compute_loss;   /* also the losses (needs loss_cfg) */
    detloss_cfg loss_cfg;
    int verbose;        /* print the metrics table */
} val_options;

void val_options_default(val_options *o);

typedef struct {
    eval_summary sum;   /* P, R, mAP50, mAP50-95 (all and per class) */
    eval_set set;       /* ground truth and detections (for curves and plots) */
    eval_confusion cm;  /* conf 0.25, IoU 0.45 as Ultralytics' validator */
    double loss[3];     /* mean over images of box, cls, dfl (when compute_loss) */
    size_t images;
    double seconds;     /* wall time */
    double ms_per_image;/* forward + NMS */
} val_result;

/* Runs the model (its weights as they are; this function re-plans it in
 * eval mode for each batch shape) over the split. */
status validate_run(model *m, const dataset *ds, const ds_split *sp, const val_options *o,
                    val_result *r);
void val_result_free(val_result *r);

#endif
