/* `yoloc lrfind`: the LR range test.
 *
 * The model trains from its configured start (fresh or weights=...) with the
 * real trainer and data loader, while the learning rate of every parameter
 * group grows exponentially per optimizer step from lr_start to lr_end over
 * lr_steps steps (no warmup, no schedule, no validation). After each step
 * the sum of the three loss terms is smoothed (an exponential moving average
 * with bias correction, beta 0.98); the test stops early when the smoothed
 * loss exceeds 4 x its minimum so far, or when a loss or gradient is not
 * finite (divergence).
 *
 * Its length and range by default (lr_steps=0, lr_start=0, lr_end=0) follow
 * the training it prepares, resolved first with the training's own recipe
 * (train/recipe.h: the same optimizer, optimizer=auto included, effective
 * batch and accumulate; the test runs at that B_eff):
 *   steps (lrf_auto_steps): LRF_COST_FRAC (5 %) of the training's optimizer
 *     steps, at least LRF_AUTO_MIN (40: fewer points make no curve) and at
 *     most LRF_AUTO_MAX (100); its cost (steps, images, forward passes, the
 *     share of the training) is printed before it starts, with the reason
 *     when the minimum decides;
 *   range: the recipe's peak LR x LRF_RANGE_BELOW (1e-3) to x LRF_RANGE_ABOVE
 *     (100): five decades around where trainings of this optimizer work,
 *     rather than seven from 1e-7 of which the first ones teach nothing;
 *   smoothing (lrf_beta): beta = 1 - 10 / steps within [0.8, 0.98], a window
 *     of about a tenth of the sweep (0.98 over 40 steps would be a running
 *     mean of the whole curve and lag it by a decade).
 *
 * From the smoothed curve come two candidate learning rates:
 *   steepest: where d(smoothed loss)/d(log lr) is most negative on the way
 *             down to the minimum (beyond it the decay after a loss spike
 *             would count as descent), ignoring the first 10 % of the points
 *             (the smoothing's start-up and a fresh model's first jumps), by
 *             central differences;
 *   min/10:   the LR at the minimum of the smoothed loss, divided by 10.
 * The suggestion is the steepest one unless it is implausible (it lies at
 * the lower edge of the considered range, or more than LRF_FAR decades below
 * the minimum), then min/10, with the reason; a curve that never falls by
 * LRF_MIN_DROP of its level gets no suggestion.
 *
 * The learning rates of the test are the ones applied at the run's
 * effective batch B_eff; the suggestion is turned into lr0 at the reference
 * batch nbs with the run's LR rule (train/lrbatch.h: lr0 = lr / lr_factor),
 * so `yoloc train lr0=<that> nbs=<same>` reproduces it.
 *
 * Files in the run directory (project/name, default runs/lrfind/exp):
 * lrfind.csv (step, lr, loss = the sum of the step's loss terms,
 * smoothed_loss, grad_norm before clipping), lrfind.png (the smoothed and
 * raw loss against the LR on a log axis, the candidates marked), plus what
 * the trainer writes (args.yaml, steps.csv, weights). */
#ifndef YOLOC_PLAN_LRFIND_H
#define YOLOC_PLAN_LRFIND_H

#include "core/status.h"
#include "dist/dist.h"
#include "train/config.h"
#include "train/lrbatch.h"

#include <stdio.h>

#define LRF_BETA 0.98        /* smoothing of the loss: the most (long sweeps) */
#define LRF_BETA_MIN 0.8     /* and the least (short sweeps) */
#define LRF_COST_FRAC 0.05   /* the automatic sweep: this share of the training's optimizer steps, */
#define LRF_AUTO_MIN 40      /* at least this many steps, */
#define LRF_AUTO_MAX 100     /* at most this many */
#define LRF_RANGE_BELOW 1e-3 /* the automatic range: the recipe's peak LR x this ... */
#define LRF_RANGE_ABOVE 100.0 /* ... to x this */
#define LRF_DIVERGE 4.0      /* stop once smoothed > this x its minimum */
#define LRF_SKIP_FRAC 0.10   /* points ignored at the start for the steepest descent */
#define LRF_MIN_DROP 0.05    /* below this relative fall the curve is flat: no suggestion */
#define LRF_FAR 3.0          /* steepest more than this many decades below the minimum: implausible */
#define LRF_MIN_POINTS 8     /* fewer usable points: no suggestion */

/* ---- pure parts ----------------------------------------------------------- */

/* The LR of optimizer step `step` (from 0) of a sweep of `steps` steps:
 * lr_start * (lr_end / lr_start)^(step / (steps - 1)); lr_start for steps
 * <= 1 or step <= 0, lr_end for step >= steps - 1. */
double lrf_lr_at(double lr_start, double lr_end, long steps, long step);

/* The automatic sweep length for a training of `training_steps` optimizer
 * steps (see the top); `reason` gets one line saying which rule decided. */
long lrf_auto_steps(long training_steps, char *reason, size_t cap);
/* The smoothing of a sweep of `steps` steps: 1 - 10/steps within
 * [LRF_BETA_MIN, LRF_BETA]. */
double lrf_beta(long steps);

/* Exponential smoothing with bias correction:
 *   avg_n = beta avg_{n-1} + (1 - beta) x_n,   value_n = avg_n / (1 - beta^n). */
typedef struct {
    double beta, avg, betan; /* betan = beta^n */
    long n;
} lrf_smoother;

void lrf_smoother_init(lrf_smoother *s, double beta);
/* Adds x and returns the bias-corrected average; a non-finite x returns
 * NAN and leaves the average as it was. */
double lrf_smoother_add(lrf_smoother *s, double x);

/* The recorded curve of a range test. */
typedef enum { LRF_RUNNING = 0, LRF_DIVERGED, LRF_NONFINITE, LRF_COMPLETED } lrf_stop;

typedef struct {
    long n, cap;
    double *lr, *loss, *smooth, *gnorm; /* n points each */
    lrf_smoother sm;
    double diverge_factor;
    double best;     /* minimum of the smoothed loss so far */
    long best_i;     /* its point, -1 before the first finite one */
    lrf_stop stop;   /* why the curve ended (LRF_RUNNING while it goes on) */
    long stop_i;     /* the point where it diverged (-1: not) */
} lrf_curve;

/* cap: the most points (the sweep's steps). */
status lrf_curve_init(lrf_curve *c, long cap, double beta, double diverge_factor);
void lrf_curve_free(lrf_curve *c);
/* Appends one step (lr applied, the sum of the loss terms, the gradient
 * norm; nonfinite_step: the trainer skipped the step as non-finite).
 * Returns 1 when the test should stop here: the point diverged (non-finite,
 * or smoothed > diverge_factor x the minimum), or the curve is full (stop
 * becomes LRF_COMPLETED). */
int lrf_curve_add(lrf_curve *c, double lr, double loss, double gnorm, int nonfinite_step);

typedef enum { LRF_PICK_NONE = 0, LRF_PICK_STEEPEST, LRF_PICK_MIN10 } lrf_pick;

typedef struct {
    int have_steep;       /* a steepest-descent point was found */
    long i_steep;
    double lr_steep;
    double slope;         /* d smoothed / d log10(lr) there (negative) */
    int have_min;
    long i_min;
    double lr_min, loss_min, lr_min10;
    double loss_ref;      /* the smoothed loss at the first considered point */
    double drop;          /* (loss_ref - loss_min) / loss_ref */
    int min_at_end;       /* the minimum is the last usable point: the loss was still falling */
    lrf_pick pick;
    double lr;            /* the suggestion at B_eff; NAN with LRF_PICK_NONE */
    char reason[384];     /* why this pick (or why none) */
} lrf_suggestion;

/* The suggestion from a smoothed curve of n points (lr increasing; points
 * with a non-finite smoothed value or lr <= 0 end the usable part).
 * skip_frac: the first ceil(skip_frac * usable) points are not considered
 * for the steepest descent. */
void lrf_suggest(const double *lr, const double *smooth, long n, double skip_frac, lrf_suggestion *out);

/* ---- files ------------------------------------------------------------------ */

/* lrfind.csv: step,lr,loss,smoothed_loss,grad_norm (atomically). */
status lrf_write_csv(const char *path, const lrf_curve *c);
/* lrfind.png: smoothed (and raw) loss against the LR on a log axis, the
 * steepest point, min/10 and the divergence marked (atomically). */
status lrf_write_png(const char *path, const lrf_curve *c, const lrf_suggestion *s);

/* ---- the test with the trainer ---------------------------------------------- */

typedef struct {
    char dir[4096];        /* run directory */
    double lr_start, lr_end;
    long lr_steps;
    lrf_curve curve;       /* what was recorded */
    lrf_suggestion sug;
    /* the run's LR/batch rule */
    const char *optimizer;
    long b_eff;
    int nbs, batch, processes, accumulate;
    lr_scale_rule rule;
    double lr_factor;      /* lr at B_eff = lr0 x lr_factor */
    double lr0;            /* the suggestion at nbs (NAN without one) */
    double lr0_steep, lr0_min10; /* both candidates at nbs */
    long steps_per_epoch;
    int epochs;            /* what the trainer was given */
    double beta;           /* the smoothing used */
    double lr_peak;        /* the training's planned peak at B_eff (its recipe) */
    long training_steps;   /* the training's optimizer steps (its recipe) */
    char steps_reason[256];
} lrf_result;

/* Runs the range test on config c (its lr_start, lr_end, lr_steps keys, 0
 * = automatic, and every train key; the command's default project
 * runs/lrfind). Changes c: optimizer (and momentum, warmup_bias_lr) to what
 * optimizer=auto resolves to for the training, epochs (enough to cover the
 * sweep), val=False, warmup_epochs=0, close_mosaic=0, patience=0. Every rank
 * records the same curve; rank 0 writes the files. Errors: the trainer's,
 * and settings a range test cannot use (resume, sched=ultralytics, a range
 * with lr_end <= lr_start). */
status lrf_run(config *c, dist *d, lrf_result *r);
void lrf_result_free(lrf_result *r);

/* The report: the sweep, where the loss diverged, both candidates, the
 * suggestion with its reason, and lr0 at nbs with the rule. */
void lrf_print(const lrf_result *r, FILE *f);

#endif
