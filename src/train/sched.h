/* Learning-rate and momentum schedules: pure functions of the step, no state.
 *
 * yoloc kinds (SCHED_COS, SCHED_LINEAR, SCHED_STEP, SCHED_CONST) are
 * functions of the optimizer step t = 0 .. T-1 (T = total_steps):
 *   warmup, t < W (W = warmup_steps, capped at T-1), with f = t/W:
 *     lr pg1, pg2 = peak * (s + (1 - s) f)              s = warmup_start_factor
 *     lr pg0      = warmup_bias_lr + (peak0 - warmup_bias_lr) f   (0.1 falls to peak)
 *     momentum    = warmup_momentum + (momentum - warmup_momentum) f
 *   main, t >= W, with p = (t - W)/(T-1 - W) (p = 1 when T-1 = W):
 *     cos    peak * (lrf + (1 - lrf) (1 + cos(pi p))/2)
 *     linear peak * ((1 - p) + lrf p)
 *     step   peak * lrf^(n/k), n = milestones f_i with p >= f_i, k = milestones
 *     const  peak
 *     momentum = momentum.
 * So the main schedule starts at peak at t = W and the last step t = T-1
 * uses exactly peak*lrf (const: peak). W >= T is capped at T-1 so that the
 * final step still reaches peak*lrf; with T = 1 the only step is that final
 * step (peak*lrf). Steps past T-1 keep the final value; negative steps
 * count as 0. The warmup ramps every group, momentum included, whatever the
 * optimizer: a trainer that wants Adam's beta1 fixed sets
 * warmup_momentum = momentum.
 *
 * SCHED_ULTRALYTICS reproduces Ultralytics 8.3.x (RECIPE 2.3-2.4): a function
 * of the batch index ni over the whole run (not the optimizer step), the
 * epoch and nb = batches per epoch:
 *   nw = max(round(warmup_epochs*nb), 100) if warmup_epochs > 0 else -1;
 *   lf(e) = max(1 - e/epochs, 0)*(1 - lrf) + lrf, or with cos_lr
 *           max((1 - cos(e*pi/epochs))/2, 0)*(lrf - 1) + 1 (one_cycle);
 *   ni <= nw: lr g = interp(ni, [0, nw], [start_g, peak_g*lf(epoch)]),
 *             start = warmup_bias_lr for pg0, 0 for pg1/pg2;
 *             momentum = interp(ni, [0, nw], [warmup_momentum, momentum]) when
 *             warmup_sets_momentum (SGD: its groups have a 'momentum' key);
 *   ni > nw:  lr g = peak_g*lf(epoch) (constant within an epoch);
 *             momentum keeps its last warmup value, which is `momentum`.
 * Without warmup (nw = -1), and always for the Adam family
 * (warmup_sets_momentum = 0, their beta1 is never touched), momentum is the
 * optimizer's construction value optim_momentum (0.9 under
 * optimizer=auto). Rounding is Python's (halves to even) and np.interp's
 * arithmetic is followed, so values match Ultralytics to the last bit where
 * libm's cos agrees. lrf is never reached (the last epoch is epochs-1). */
#ifndef YOLOC_TRAIN_SCHED_H
#define YOLOC_TRAIN_SCHED_H

#include "core/status.h"

#include <stdio.h>

#define SCHED_KIND_MAP(X)                                                                          \
    X(COS, "cos")                                                                                  \
    X(LINEAR, "linear")                                                                            \
    X(STEP, "step")                                                                                \
    X(CONST, "const")                                                                              \
    X(ULTRALYTICS, "ultralytics")

typedef enum {
#define SCHED_KIND_ENUM(e, s) SCHED_##e,
    SCHED_KIND_MAP(SCHED_KIND_ENUM)
#undef SCHED_KIND_ENUM
        SCHED_KIND_COUNT
} sched_kind;

#define SCHED_MAX_MILESTONES 8

typedef struct {
    sched_kind kind;
    double lr_peak[3];          /* per group pg0 (bias), pg1 (weight), pg2 (norm) */
    double lrf;                 /* final lr = peak*lrf (0.01) */
    double warmup_start_factor; /* pg1/pg2 warmup start as a fraction of peak (0) */
    double warmup_bias_lr;      /* pg0 warmup start (0.1) */
    double warmup_momentum;     /* 0.8 */
    double momentum;            /* 0.937 */
    /* yoloc kinds, in optimizer steps */
    long warmup_steps; /* W (0: no warmup) */
    long total_steps;  /* T >= 1 (SCHED_ULTRALYTICS: epochs*steps_per_epoch) */
    /* Steps per epoch, for the epoch column of sched_print/sched_write_csv
     * (optimizer steps; for SCHED_ULTRALYTICS the batches per epoch nb, and
     * sched_at's epoch). */
    long steps_per_epoch;
    /* SCHED_STEP: fractions of the post-warmup span, increasing in (0, 1];
     * each multiplies the lr by lrf^(1/n_milestones). Default {0.8, 0.9}. */
    int n_milestones;
    double milestones[SCHED_MAX_MILESTONES];
    /* SCHED_ULTRALYTICS */
    int epochs;               /* 100 */
    double warmup_epochs;     /* 3.0 */
    int cos_lr;               /* 0: linear lf; 1: one_cycle */
    int warmup_sets_momentum; /* 1 for SGD, 0 for the Adam family */
    double optim_momentum;    /* momentum the optimizer was built with */
    int nbs;                  /* 64: accumulation ramps to nbs/batch */
    int batch;                /* total batch size (16) */
} sched_config;

/* lr per group and momentum for one step. */
typedef struct {
    double lr[3];
    double momentum;
} sched_point;

/* Name ("cos", ...) and parse (YOLOC_ERR_INVALID naming the key "sched"). */
const char *sched_kind_name(sched_kind kind);
status sched_kind_parse(const char *name, sched_kind *kind);

/* SCHED_COS (yoloc's default kind) with Ultralytics' defaults (RECIPE 1): peaks 0.01, lrf 0.01,
 * warmup_start_factor 0, warmup_bias_lr 0.1, warmup_momentum 0.8, momentum
 * and optim_momentum 0.937, milestones {0.8, 0.9}, epochs 100, warmup_epochs
 * 3, warmup_sets_momentum 1, nbs 64, batch 16; warmup_steps 0, total_steps 1,
 * steps_per_epoch 1 (the trainer sets these). */
void sched_config_default(sched_config *c);
/* Checks the ranges; the message names the key (lr0, lrf, momentum,
 * warmup_momentum, warmup_bias_lr, warmup_start_factor, warmup_steps,
 * total_steps, milestones, epochs, warmup_epochs, nbs, batch). */
status sched_validate(const sched_config *c);

/* The schedule at step t. For SCHED_ULTRALYTICS t is the batch index ni and
 * the epoch is t / steps_per_epoch. The config must be valid. */
void sched_at(const sched_config *c, long step, sched_point *out);

/* Ultralytics' warmup iterations: max(round(warmup_epochs*nb), 100), or -1
 * without warmup. */
long sched_ultralytics_warmup_iters(const sched_config *c, long nb);
/* SCHED_ULTRALYTICS at batch ni of epoch `epoch`, nb batches per epoch (uses
 * the Ultralytics fields of c whatever c->kind). */
void sched_ultralytics_at(const sched_config *c, long ni, int epoch, long nb, sched_point *out);
/* Batches per optimizer step at batch ni: during warmup
 * max(1, round(interp(ni, [0, nw], [1, nbs/batch]))), after it (and without
 * warmup) max(round(nbs/batch), 1); round halves to even. */
int sched_ultralytics_accumulate(const sched_config *c, long ni, long nb);

/* A table of the schedule at a few steps (0, 1, the warmup's middle, end and
 * first main step, quarters of the run, the last step, both sides of each
 * SCHED_STEP milestone): step, epoch, lr
 * pg0/pg1/pg2, momentum (and accumulate for SCHED_ULTRALYTICS), for
 * `yoloc train dry=True`. */
void sched_print(const sched_config *c, FILE *f);
/* CSV "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum[,accumulate]" of every step
 * 0 .. T-1, or, when max_rows > 0 and T > max_rows, every
 * ceil(T/max_rows)-th step plus the last one (a long run has millions of
 * steps). YOLOC_ERR_IO naming the path when it cannot be written. */
status sched_write_csv(const sched_config *c, const char *path, long max_rows);

#endif
