/* `yoloc train`: the training loop with the LR/batch rules made explicit.
 *
 * One optimizer step = `accumulate` batches (per process) whose gradients
 * are summed with the loss convention of lrbatch.h (nbs x the mean over the
 * step's images), then: non-finite check, global-norm clipping (max_norm),
 * the optimizer at the schedule's lr/momentum for this step, EMA update.
 * A partial group at the end of an epoch is stepped with its true image
 * count. sched=ultralytics instead reproduces Ultralytics 8.3.x exactly
 * (summed loss x batch, per-epoch LambdaLR, per-iteration warmup with the
 * accumulation ramp, leftover gradients carried into the next epoch).
 *
 * The run directory (project/name, name2, ...) gets args.yaml, steps.csv
 * (one row per optimizer step), results.csv (one row per epoch, the
 * Ultralytics columns), weights/last.safetensors and best.safetensors
 * (checkpoints: resume=True continues bit for bit), lr.png, results.png,
 * and after the final validation PR_curve.png and confusion_matrix.png.
 *
 * Test hook: $YOLOC_FAULT_NONFINITE="3,4,5" makes the gradients of those
 * optimizer steps non-finite, to exercise the skip / rollback path. */
#ifndef YOLOC_TRAIN_TRAINER_H
#define YOLOC_TRAIN_TRAINER_H

#include "core/status.h"
#include "dist/dist.h"
#include "train/config.h"

/* Runs a training as configured, as rank d->rank of d->world processes
 * (rank 0 alone writes the run directory). The run directory is returned
 * in out_dir (may be NULL). */
status train_run(config *c, dist *d, char *out_dir, size_t cap);

#endif
