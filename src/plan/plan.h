/* `yoloc plan`: the batch and learning-rate recommendation for a training,
 * every decision with one line of reason, written as a plan.yaml that
 * `yoloc train cfg=plan.yaml` loads.
 *
 * The decisions, in order:
 *   target       the effective batch the training needs, memory aside
 *                (train/lrbatch.h, lrb_target_batch): nbs, inside the band
 *                target_batch_min..max, halved while the run would take
 *                fewer than 100 optimizer steps.
 *   batch        per process. batch=-1 (fraction 0.6) or a fraction f in
 *                (0, 1): the target's share of one process
 *                (target / processes) on the grid 1, 2, 4, 8, 16, 24, 32,
 *                ... (powers of 2 below 16, multiples of 8 from 16), no
 *                larger than 16 (LRB_FORWARD_BATCH: BatchNorm's batch in
 *                the defaults) nor the training images of one process, and
 *                lowered to the largest grid batch whose predicted peak
 *                memory (plan/memory.h) is within f of the memory available
 *                to this process (mem= GiB, else the cgroup limit, else
 *                MemAvailable, shared by the processes of one machine:
 *                processes / nodes of them); accumulation makes up the
 *                rest. Memory is a ceiling, not a target. batch=N: N, refused when
 *                its predicted memory exceeds what is available (the
 *                message gives the prediction and the largest batch that
 *                fits) unless force=True.
 *   optimizer    optimizer=auto resolved as the trainer resolves it
 *                (Ultralytics' rule), with lr0, momentum, warmup_bias_lr.
 *   accumulate   given: kept. Else max(round(target / (processes x
 *                batch)), 1).
 *   norm         given: kept. One process: BatchNorm from 8 images per
 *                process, GroupNorm below (BatchNorm statistics over fewer
 *                images are noise; GroupNorm is per image, which also makes
 *                accumulation exact), unless weights= are given (their
 *                BatchNorm statistics are kept) and batch >= 2. Several
 *                processes: SyncBatchNorm when processes x batch >= 8, else
 *                GroupNorm.
 *   warmup       warmup_epochs >= 3 when B_eff > 2 x nbs (the scaled peak
 *                LR needs a gentle start); else as given (default 3).
 *   LR           the trainer's own rules (train/lrbatch.h: lrb_compute,
 *                lrb_print): the scaling rule, the peak LR per group, weight
 *                decay, the guard rails' warnings and refusals.
 *   regularise   B_eff > target_batch_max (128 when the band is off):
 *                label_smoothing 0.1 and cutmix 0.1 unless given (large
 *                batches take fewer, bigger steps and generalise worse).
 * Optional: a real training step at the planned batch to check the memory
 * model (check=True), and a short training that measures the gradient
 * noise scale B_simple, the critical batch size (noise=True). */
#ifndef YOLOC_PLAN_PLAN_H
#define YOLOC_PLAN_PLAN_H

#include "core/status.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "plan/memory.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/recipe.h"

#include <stdio.h>

#define PLAN_DEFAULT_FRACTION 0.6 /* batch=-1 */
#define PLAN_REG_LABEL_SMOOTHING 0.1
#define PLAN_REG_CUTMIX 0.1

typedef struct {
    char key[32];     /* the train key it sets, or a name in brackets for a remark ("[memory]") */
    char value[96];
    char reason[1024];
    int written;      /* 1: a key of plan.yaml */
} plan_decision;

#define PLAN_MAX_DECISIONS 32
/* Optimizer steps with batch statistics before the noise probe freezes a
 * BatchNorm model's statistics (running statistics settle in ~30 forwards). */
#define PLAN_NOISE_WARM 20
/* Small batches per optimizer step of the noise probe, at least. |G|^2 is
 * estimated from the k(k-1) cross products of a step's k small-batch
 * gradients, so its noise falls as 1/k per step and as 1/sqrt(k) for the
 * same number of images: with k = 8 the estimate at a trained point of the
 * tiny test model spread 3.5x across seeds (249..880). */
#define PLAN_NOISE_ACC 16

typedef struct {
    config c;                 /* the recommended settings: every key plan.yaml holds is set (given) here */
    unsigned char user_given[sizeof(((config *)0)->given)]; /* which keys the user gave (config.given) */
    dataset ds;
    int have_ds;
    char model_name[256], data_name[1024];
    long train_images, val_images;
    int nc;
    /* memory */
    int processes, nodes, per_machine;
    size_t avail;             /* one machine */
    char avail_src[320];
    double fraction;          /* of the process's share the batch may use */
    size_t budget;            /* fraction x avail / per_machine */
    int auto_batch;
    double critical;          /* > 0: the measured critical batch the effective batch respects */
    long target_batch;        /* the effective batch the training needs (lrb_target_batch) */
    char target_reason[320];
    int batch;
    int largest_fit;          /* largest grid batch within the budget (auto) or within avail (given); 0: none */
    size_t largest_fit_bytes;
    size_t next_bytes;        /* prediction for the next grid batch above the choice (0: not computed) */
    int next_batch;
    mem_input mi;
    mem_estimate mem;         /* at batch */
    /* optimizer, LR, batch */
    optim_kind optimizer;
    double lr0, momentum, warmup_bias_lr;
    norm_kind norm;
    recipe r;                 /* the training's recipe of the decided settings (train/recipe.h) */
    int b_reg;                /* 1: regularisation recommended */
    /* decisions and the refusal */
    int ndec;
    plan_decision dec[PLAN_MAX_DECISIONS];
    int refused;
    char refusal[1200];
    /* the memory check (plan_check) */
    int checked;
    int check_batch;
    mem_estimate check_pred;
    mem_measured check;
    /* the noise scale (plan_noise) */
    int noise_done;
    double b_simple;
    long noise_steps;
    char noise_dir[4096];
} plan;

/* Makes the plan for the settings in `in` (train keys plus the plan keys
 * processes, nodes, mem, target_batch_min/max). Opens the dataset and
 * builds the model (weights are not read). A refusal (memory, or a guard
 * rail of lrbatch.h) returns YOLOC_ERR_INVALID with its message, p filled
 * and p->refused set; force=True turns refusals into warnings. plan_free
 * releases p in every case. */
status plan_make(const config *in, plan *p);
/* The same with the critical batch measured by plan_noise (> 0: it caps
 * the effective batch, lrbatch.h's lrb_target_batch). */
status plan_make_ex(const config *in, double critical, plan *p);
void plan_free(plan *p);

/* Prints the plan: the memory estimate, every decision with its reason, the
 * LR/batch block as the trainer prints it, the check and noise results. */
void plan_print(const plan *p, FILE *f);

/* Writes plan.yaml: `key: value` lines of every set key with the reasons
 * as comments; `yoloc train cfg=PATH` loads it. Atomic. */
status plan_write_yaml(const plan *p, const char *path);

/* Runs one real training step and validation forward at `batch` (0: the
 * plan's) and records the measured peak next to the prediction. Refuses a
 * batch whose prediction exceeds the memory available. */
status plan_check(plan *p, int batch);

/* Measures the gradient noise scale: a short training (`steps` optimizer
 * steps, accumulate >= 4, a small constant LR: a tenth of the planned peak,
 * noise_scale=True) of the planned settings in project/name (the run
 * directory is kept: its steps.csv has the per-step estimates). Records
 * B_simple (NAN when the noise dominates at these batch sizes). */
status plan_noise(plan *p, long steps, const char *project, const char *name);

/* `yoloc train batch=-1` or a fraction: chooses the batch from the memory
 * model as `yoloc plan` does (with several processes, the smallest choice
 * of all ranks; processes per machine from OMPI_COMM_WORLD_LOCAL_SIZE),
 * sets c->batch and prints the choice and its reason to f. */
status plan_trainer_batch(config *c, dist *d, FILE *f);

#endif
