/* Validation and prediction: a model in eval mode over a dataset split
 * (letterboxed, optionally in rectangular batches as Ultralytics' validator
 * does), NMS, boxes mapped back to the original images, and the metrics of
 * src/eval; optionally the validation losses from the raw head. */
#ifndef YOLOC_TRAIN_VALIDATE_H
#define YOLOC_TRAIN_VALIDATE_H

#include "core/status.h"
#include "data/dataset.h"
#include "dist/dist.h"
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
    int shard_rank, shard_world; /* validate images shard_rank, +shard_world, ... of the split (0, 1) */
} val_options;

void val_options_default(val_options *o);
/* The configuration's validation keys into o (after val_options_default):
 * conf, iou, max_det, metric, and Ultralytics' class-agnostic NMS with
 * agnostic_nms or single_cls. */
struct config_s;
void val_options_from_config(val_options *o, const struct config_s *c);

/* The validation batch of a training at `batch` images per process: 2 x
 * batch, as Ultralytics' trainer validates (no backward, so twice the
 * images fit). The trainer, the memory model and the plan's check use this. */
static inline int val_batch_of_training(int batch) { return 2 * batch; }

typedef struct {
    eval_summary sum;   /* P, R, mAP50, mAP50-95 (all and per class) */
    eval_set set;       /* ground truth and detections (for curves and plots) */
    eval_confusion cm;  /* conf 0.25, IoU 0.45 as Ultralytics' validator */
    double loss[3];     /* mean over batches of the three loss terms (when compute_loss) */
    size_t nbatches;
    size_t images;
    double seconds;     /* wall time */
    double ms_per_image;/* forward + NMS */
} val_result;

/* Runs the model (its weights as they are; this function re-plans it in
 * eval mode for each batch shape) over the split, or over its shard (image
 * ids are then the shard's indices; an empty shard gives an empty result). */
status validate_run(model *m, const dataset *ds, const ds_split *sp, const val_options *o,
                    val_result *r);
void val_result_free(val_result *r);

/* Several processes: each validated its shard of the split (shard k of w
 * holds the split's images k, k+w, k+2w, ...); this gathers the ground
 * truth and detections to rank 0, which computes the metrics of the whole
 * split (r->sum, r->set there); the confusion matrix and the losses are
 * reduced on every rank. A rank whose shard is empty passes an r that was
 * zeroed (and its eval_set/confusion initialised). Identity for one process. */
status validate_gather(val_result *r, dist *d, const char *const *names, eval_metric metric);

#endif
