/* The learning-rate / batch-size rules yoloc makes explicit (DESIGN.md):
 * effective batch, accumulation, LR scaling, weight decay, warmup length
 * and the guard rails, as a pure function of the settings, so the trainer,
 * `yoloc train dry=True` and the planner all use (and print) the same
 * decisions.
 *
 * The loss convention that makes the rules work: the objective of one
 * optimizer step is nbs x the loss of all its images (every accumulated
 * batch, every process) taken as ONE batch - the loss sums divided by the
 * step's total target score, as the v8 loss normalises a batch - so a mean
 * over images in effect. Accumulating 2 x 8 images is then exactly one batch
 * of 16 (for models whose normalisation is per image, e.g. GroupNorm). With
 * one batch of B_eff = nbs it is exactly Ultralytics' objective (loss items
 * x batch size), so lr0 values carry over; for other batch sizes the step
 * size is set by the LR rule instead of by how many images were summed:
 *   linear:       lr = lr0 * B_eff / nbs  (what Ultralytics does implicitly)
 *   sqrt:         lr = lr0 * sqrt(B_eff / nbs)
 *   conservative: linear, reduced by lr_scale_margin once B_eff > 2*nbs,
 *                 with warmup raised to >= 3 epochs
 *   none:         lr = lr0
 * Weight decay scales with B_eff/nbs as in Ultralytics, in its effect: the
 * decay applied per step is lr0 * weight_decay * B_eff/nbs at the peak, so
 * the optimizer's coefficient is weight_decay * (B_eff/nbs) * lr0 / lr_peak
 * (= weight_decay under the linear rule). */
#ifndef YOLOC_TRAIN_LRBATCH_H
#define YOLOC_TRAIN_LRBATCH_H

#include "core/status.h"
#include "nn/model.h"
#include "train/config.h"
#include "train/optim.h"

#include <stdio.h>

/* The normalisation a run uses (one rule for the trainer, the planner, the
 * range test and the inference commands): GroupNorm with norm=gn;
 * SyncBatchNorm with several processes when norm=syncbn or norm is not
 * given; BatchNorm otherwise. lrb_norm_key names it (bn, syncbn, gn). */
norm_kind lrb_norm(const config *c, int processes);
const char *lrb_norm_key(norm_kind k);
/* The normalisation to choose when the user did not (`yoloc plan`), for
 * `batch` images per process, `processes`, `accumulate` and whether the
 * model starts from pretrained weights: one process: BatchNorm from
 * LRB_BN_MIN_BATCH images, below it GroupNorm (BatchNorm kept from 2
 * images for pretrained weights, whose statistics GroupNorm would
 * discard); several: SyncBatchNorm when processes x batch >= 
 * LRB_BN_MIN_BATCH, else GroupNorm. `reason` gets the one-line why. */
norm_kind lrb_choose_norm(int batch, int processes, int accumulate, int pretrained, char *reason, size_t cap);

typedef enum { LR_SCALE_LINEAR = 0, LR_SCALE_SQRT, LR_SCALE_CONSERVATIVE, LR_SCALE_NONE } lr_scale_rule;

status lr_scale_parse(const char *name, lr_scale_rule *out);
const char *lr_scale_name(lr_scale_rule r);

typedef struct {
    int batch;              /* images per process per step */
    int processes;          /* >= 1 */
    int accumulate;         /* 0: max(round(nbs / (batch * processes)), 1) */
    int nbs;                /* reference batch (64) */
    optim_kind optimizer;   /* after optimizer=auto is resolved */
    double lr0;             /* at nbs */
    double weight_decay;    /* at nbs */
    double warmup_epochs;
    lr_scale_rule rule;
    double margin;          /* conservative: 0.15 */
    int batchnorm;          /* 1: the model normalises with BatchNorm per process */
    int syncbn;             /* 1: BatchNorm statistics are reduced across processes */
    long images_per_epoch;  /* training images of one process's shard */
    int epochs;
    int force;              /* run what the guard rails refuse */
    long bn_stats;          /* the bn_stats key: -1 auto, 0 never, N images (batchnorm only) */
    int lr0_auto;           /* 1: lr0 came from optimizer=auto, not from the user */
} lrb_input;

/* BatchNorm statistics recomputed for the validated weights (bn_stats=-1,
 * train/bnstats.h): over LRB_BN_STATS_IMAGES training images (whole batches,
 * at least one) when an epoch has fewer forward passes per process than the
 * running average spans (1 / MODEL_BN_MOMENTUM = 33.3): the running
 * statistics then mix the weights of earlier epochs (and the start value),
 * and validation scores them rather than the weights. */
#define LRB_BN_STATS_IMAGES 64

#define LRB_MAX_NOTES 8

typedef struct {
    int accumulate;          /* used */
    int accumulate_derived;  /* 1: derived from nbs */
    long b_eff;              /* batch * processes * accumulate */
    double lr_factor;        /* lr_peak / lr0 */
    double lr_peak;
    double weight_decay;     /* the optimizer's coefficient for conv weights */
    double warmup_epochs;    /* possibly raised by the conservative rule */
    long batches_per_epoch;  /* per process: ceil(images_per_epoch / batch) */
    long steps_per_epoch;    /* ceil(batches_per_epoch / accumulate) */
    long total_steps;
    long warmup_steps;       /* round(warmup_epochs * steps_per_epoch) */
    char rule_reason[256];   /* one line: why this peak */
    long bn_stats_images;    /* BatchNorm statistics recomputed over this many images before each
                                validation (whole batches); 0: not */
    char bn_stats_reason[256];
    int nwarnings;
    char warnings[LRB_MAX_NOTES][320]; /* about the user's own settings */
    int nnotes;
    char notes[LRB_MAX_NOTES][400];    /* where two rules disagree about a value yoloc chose: which one
                                          it follows, why, and the other as key=value */
    int refused;             /* a guard rail refuses (unless force) */
    char refusal[320];
} lrb_plan;

/* The effective batch a training should use when the user did not set it
 * (`yoloc plan`, `yoloc train batch=-1`): chosen for the training, with
 * memory only as a ceiling applied afterwards (batch x accumulate).
 *   1. nbs (64): the batch that lr0, weight_decay and the other defaults
 *      were tuned at;
 *   2. inside the band target_batch_min..max when one is set (0: none);
 *   2b. not above the critical batch when it was measured (`critical` > 0,
 *      the gradient noise scale B_simple of `yoloc plan noise=True`): halved
 *      while above it, down to LRB_BN_MIN_BATCH x processes. Beyond the
 *      critical batch a bigger batch no longer makes a step worth more
 *      images, so at a fixed number of epochs it only takes steps away;
 *   3. enough optimizer steps: while the run would take fewer than
 *      LRB_MIN_STEPS optimizer steps (ceil(images / B) x epochs), halve B,
 *      down to LRB_BN_MIN_BATCH x processes. This rule wins over the band's
 *      lower end: on a small dataset a big batch leaves warmup and decay a
 *      handful of steps each (BCCD's 205 images at batch 88: 3 steps per
 *      epoch), and the model learns less in the same epochs.
 * `reason` gets one line saying which rule decided. */
#define LRB_MIN_STEPS 100
/* Images per forward pass the planner gives one process, at most (memory
 * and the effective batch may make it smaller; accumulation makes up the
 * rest): Ultralytics' default batch, whose BatchNorm statistics over 16
 * images the defaults are tuned with. Bigger forwards normalise over more
 * images and lose that noise: on BCCD (yolov8n, 320, 30 epochs, the same
 * effective batch 64 and 120 steps) batch 64 x 1 reached mAP50-95 0.411
 * where 16 x 4 reached 0.426. */
#define LRB_FORWARD_BATCH 16
/* BatchNorm's images per forward (per process, or over all processes with
 * SyncBatchNorm): from LRB_BN_MIN_BATCH its statistics are reliable (the
 * planner picks GroupNorm below it, the doctor notes it); below
 * LRB_BN_WARN_BATCH the trainer warns; at 1 it refuses. */
#define LRB_BN_MIN_BATCH 8
#define LRB_BN_WARN_BATCH 4

typedef struct {
    long images;        /* training images, all processes */
    int epochs;
    int processes;
    int nbs;
    long band_min, band_max; /* 0, 0: no band */
    double critical;         /* > 0: the measured critical batch (B_simple); else not measured */
} lrb_target_input;

long lrb_target_batch(const lrb_target_input *in, char *reason, size_t cap);

/* A large effective batch: above LRB_LARGE_BATCH x nbs the peak LR is
 * scaled up enough that warmup needs at least LRB_LARGE_BATCH_WARMUP epochs
 * (the conservative rule raises it, linear warns, the planner sets it, the
 * doctor checks it). */
#define LRB_LARGE_BATCH 2
#define LRB_LARGE_BATCH_WARMUP 3.0
int lrb_large_batch(long b_eff, int nbs);

/* The accumulation rule: max(round(b_eff / per_step), 1) batches per
 * optimizer step (Python rounding as Ultralytics, b_eff = nbs there) where
 * per_step = processes x batch. */
int lrb_accumulate_for(long b_eff, long per_step);
/* The key accumulate as a run uses it: the given value when > 0, else the
 * rule above for nbs. */
int lrb_accumulate(int accumulate_key, int nbs, long per_step);
/* lr_peak / lr0 under `rule` at effective batch b_eff (see the top). */
double lrb_lr_factor(lr_scale_rule rule, long b_eff, int nbs, double margin);

/* Computes the plan. YOLOC_ERR_INVALID (naming the key) for impossible
 * inputs; YOLOC_ERR_INVALID with the refusal as message when a guard rail
 * refuses and force is off (the plan is still filled). */
status lrb_compute(const lrb_input *in, lrb_plan *out);

/* The start-up block: batch per process, processes, accumulate, B_eff, the
 * LR each group starts and peaks at, warmup steps, total optimizer steps,
 * then each warning with its reason. warmup_bias_lr and warmup_start_factor
 * give the groups' starting values. */
void lrb_print(const lrb_input *in, const lrb_plan *p, double warmup_bias_lr,
               double warmup_start_factor, double lrf, FILE *f);

#endif
