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
#include "data/augment.h"
#include "dist/dist.h"
#include "train/config.h"

/* Runs a training as configured, as rank d->rank of d->world processes
 * (rank 0 alone writes the run directory). The run directory is returned
 * in out_dir (may be NULL). */
status train_run(config *c, dist *d, char *out_dir, size_t cap);

/* What the trainer reports after each optimizer step (the steps.csv row). */
typedef struct {
    long step;            /* optimizer step, from 0 */
    int epoch;            /* from 0 */
    double lr[3];         /* applied, per parameter group (bias, weights, norm) */
    double momentum;
    double loss[3];       /* the step's losses, as logged */
    double grad_norm;     /* global norm before clipping (may be inf/nan) */
    int skipped;          /* 1: non-finite, no update */
    double img_s, wait_ms;
    double noise_scale;   /* B_simple so far (noise_scale=True), else NAN */
} train_step_info;

/* What the trainer reports after each epoch (the results.csv row). */
typedef struct {
    int epoch;            /* from 0 */
    double loss[3];       /* mean training losses of the epoch */
    int validated;        /* 0: val=False and not the last epoch (the fields below are 0) */
    double precision, recall, map50, map5095;
    double val_loss[3];
    double fitness;       /* mAP50-95 when validated, else -(sum of the training losses) */
    double lr[3];         /* at the end of the epoch */
} train_epoch_info;

/* The resolved LR/batch recipe a training starts with (the start-up block
 * and args.yaml's derived: say the same). */
typedef struct {
    const char *optimizer; /* resolved: SGD, AdamW, Adam */
    const char *lr_scale;  /* linear, sqrt, conservative, none */
    const char *norm;      /* bn, syncbn, gn */
    double lr0;            /* at nbs, after optimizer=auto */
    double lr_peak;
    int nbs, batch, processes, accumulate, epochs;
    long b_eff;
    double warmup_epochs;
    long warmup_steps, steps_per_epoch, total_steps;
    double max_norm;
    int lead;              /* 1: rank 0, which speaks for the job */
    int tty;               /* stdout is a terminal holding a live progress line */
} train_start_info;

/* Callers that drive trainings (lrfind, tune, the doctor's live checks)
 * plug in here. Every field may be NULL / 0. */
typedef struct {
    void *ctx;
    /* Once, after set-up and before the first step (every rank). */
    void (*on_start)(void *ctx, const train_start_info *s);
    /* >= 0: the learning rate of every parameter group at this optimizer
     * step instead of the schedule's (momentum stays at the configured
     * value; 0 leaves the weights where they are); < 0 or NaN: the
     * schedule's. */
    double (*lr_at)(void *ctx, long step);
    /* After each optimizer step (every rank, the same values): non-zero
     * ends the training after this step, as if it had reached its last
     * epoch (checkpoints stay as they were at the last epoch end). */
    int (*on_step)(void *ctx, const train_step_info *s);
    /* After each epoch (and its validation): non-zero ends the training. */
    int (*on_epoch)(void *ctx, const train_epoch_info *e);
    int skip_final_val; /* no validation of best.safetensors at the end, no plots */
} train_hooks;

typedef struct {
    char dir[4096];       /* run directory */
    int epochs_done;      /* completed epochs (this run, resume included) */
    long steps;           /* optimizer steps */
    int stopped;          /* 1: a hook ended the run, 2: patience */
    double best_fitness;  /* of the best epoch (see train_epoch_info.fitness) */
    int best_epoch;       /* from 0; -1 when no epoch completed */
    train_epoch_info last;/* the last completed epoch */
    double noise_scale;   /* the final B_simple estimate (NAN without one) */
} train_result;

/* The loader's augmentation settings from the config's keys (hsv_*, degrees,
 * translate, scale, shear, perspective, flips, mosaic, mixup, cutmix). */
void train_aug_params(const config *c, aug_params *a);

/* train_run with hooks; res (may be NULL) receives the outcome. */
status train_run_ex(config *c, dist *d, const train_hooks *h, train_result *res);

#endif
