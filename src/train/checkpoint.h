/* Training checkpoints: everything a run needs to continue bit for bit.
 *
 * A checkpoint is a weights file (weights.h) whose model tensors are the EMA
 * weights - so last.safetensors and best.safetensors work as weights for
 * val/predict/fine-tuning as they are - plus, under the "train." prefix, the
 * raw (non-averaged) weights and BatchNorm statistics and the optimizer
 * state, and in the metadata the counters (epoch, optimizer step, EMA
 * updates, best fitness, ...) and the run's args.yaml. Written atomically:
 * a failed write (full disk, ...) leaves the previous file intact. */
#ifndef YOLOC_TRAIN_CHECKPOINT_H
#define YOLOC_TRAIN_CHECKPOINT_H

#include "core/status.h"
#include "nn/model.h"
#include "train/ema.h"
#include "train/optim.h"

typedef struct {
    int epoch;               /* last completed epoch (0-based) */
    long step;               /* optimizer steps taken */
    long iteration;          /* batches done (all epochs) */
    long last_opt_iter;      /* Ultralytics mode: iteration of the last optimizer step */
    double best_fitness;
    int best_epoch;          /* -1: none */
    double lr_factor;        /* 1, halved by each rollback after non-finite steps */
    long nonfinite_steps;    /* optimizer steps skipped */
    char optimizer[16];      /* optimizer name (after optimizer=auto) */
    const char *args_yaml;   /* save: the run's args.yaml text; load: NULL */
} ckpt_meta;

/* Saves (atomically). names: the dataset's class names. */
status ckpt_save(const char *path, model *m, const ema *e, optim *o, const ckpt_meta *meta,
                 const char *const *names, int nnames);

/* Restores the raw weights and statistics into m, the EMA into e and the
 * optimizer state into o (all built for the same model and optimizer kind),
 * and the counters into meta. Errors name the file and what does not fit
 * (another model, another optimizer, no training state). */
status ckpt_load(const char *path, model *m, ema *e, optim *o, ckpt_meta *meta);

/* Reads only the metadata: meta counters and a malloc'd copy of args.yaml
 * (*args_yaml, free()). */
status ckpt_peek(const char *path, ckpt_meta *meta, char **args_yaml);

#endif
