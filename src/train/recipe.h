/* The LR/batch recipe of one training, resolved once.
 *
 * recipe_resolve turns a configuration plus the facts of the run (how many
 * processes, how many training images, how many classes) into everything
 * the trainer needs to know about the learning rate and the batch, in one
 * struct: the batch per process, processes, accumulate and effective batch;
 * the optimizer with optimizer=auto resolved (and why); lr0 at nbs; the
 * scaling rule, its factor and the peak LR; the optimizer's weight-decay
 * coefficient; the normalisation; warmup and total optimizer steps; the
 * filled schedule; BatchNorm statistics; every guard-rail finding, note and
 * refusal, each with its one-line reason.
 *
 * Every command that trains or plans a training uses it (`train`, `plan`,
 * `lrfind`, `tune`, `bench`); the trainer receives its result and decides
 * nothing about LR or batch itself. args.yaml's `derived:` block is
 * recipe_write_yaml's output, and `yoloc doctor` reads that block back.
 *
 * The rules themselves live where they always did and are only called from
 * here: the scaling, accumulation, warmup and guard rails in lrbatch.h,
 * optimizer=auto in optim.h, the schedule in sched.h, the normalisation in
 * lrb_norm. A planner that decides some of the inputs itself (the batch,
 * accumulate, the normalisation, warmup, the epochs that fit a time budget)
 * passes them as overrides instead of writing them into the configuration. */
#ifndef YOLOC_TRAIN_RECIPE_H
#define YOLOC_TRAIN_RECIPE_H

#include "core/status.h"
#include "nn/model.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/optim.h"
#include "train/sched.h"

#include <stdio.h>

typedef struct {
    int processes;      /* >= 1 */
    long train_images;  /* training images over all processes; 0: no dataset (yoloc bench) */
    int nc;             /* classes, for optimizer=auto (< 1: Ultralytics' fallback 10) */
} recipe_facts;

/* Values a caller decided itself; zero-initialised = none. */
typedef struct {
    int batch;              /* > 0: images per process instead of the key batch */
    int accumulate;         /* > 0: instead of the key accumulate */
    int epochs;             /* > 0: instead of the key epochs (time=: the epochs that fit the budget) */
    int set_norm;           /* 1: `norm` instead of lrb_norm(config, processes) */
    norm_kind norm;
    int set_warmup;         /* 1: `warmup_epochs` instead of the key */
    double warmup_epochs;
    const struct recipe *optimizer_of; /* non-NULL: its optimizer, lr0, momentum and warmup_bias_lr (a running
                                          training keeps what optimizer=auto chose at its start) */
} recipe_overrides;

typedef struct recipe {
    int batch, processes, epochs;
    optim_kind optimizer;
    int optimizer_auto;            /* 1: optimizer=auto chose the optimizer, lr0, momentum and warmup_bias_lr */
    char optimizer_reason[320];    /* optimizer=auto's line; "" when given */
    double lr0;                    /* at nbs, after optimizer=auto */
    double momentum, warmup_bias_lr;
    norm_kind norm;
    int ultra;                     /* sched=ultralytics: the LR scales through the summed loss (rule none),
                                      per-iteration warmup, per-epoch decay */
    double weight_decay;           /* the optimizer's coefficient for conv weights */
    double warmup_epochs;          /* after the rules (the conservative rule may raise it) */
    lrb_input in;                  /* the inputs of the LR/batch rules ... */
    lrb_plan lp;                   /* ... and their result (accumulate, B_eff, peak, steps, findings) */
    sched_config sc;               /* the filled schedule */
} recipe;

/* Resolves the recipe. YOLOC_ERR_INVALID naming the key for impossible
 * settings; YOLOC_ERR_INVALID with the refusal as message when a guard rail
 * refuses and force is off (the recipe is still filled, lp.refused set). */
status recipe_resolve(const config *c, const recipe_facts *f, const recipe_overrides *ov, recipe *r);

/* time= (hours, as Ultralytics): the epochs that fit a budget of
 * `budget_s` seconds once `done` epochs are complete, of which `measured`
 * ran in this process in `elapsed_s`: done + round(remaining / the mean
 * epoch time), at least one more epoch while time is left, and `done`
 * (stop now) once it is up. While the run is planned to end within
 * RECIPE_TIME_FREEZE epochs (`planned` - done) the plan stays. So the run
 * always ends with an epoch that the schedule planned as its last, and the
 * LR ends at its final value (unless the time ran out first); the estimate
 * is renewed after every epoch, so the first epoch's start-up costs wash
 * out. The trainer then re-resolves the recipe with these epochs (its
 * warmup and decay span the real run). */
#define RECIPE_TIME_FREEZE 1
int recipe_time_epochs(double budget_s, double elapsed_s, int done, int measured, int planned);

/* The start-up block (lrbatch.h's lrb_print), after optimizer=auto's line
 * when it decided. */
void recipe_print(const recipe *r, const config *c, FILE *f);

/* args.yaml's `derived:` block (indented key: value lines after the
 * header); the trainer appends what is not LR/batch (dtype). */
void recipe_write_yaml(const recipe *r, FILE *f);

#endif
