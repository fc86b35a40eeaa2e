/* `yoloc tune`: a small-range hyper-parameter search with successive
 * halving.
 *
 * The search space is a YAML file of train keys (`space=tune.yaml`):
 *   lr0: [0.003, 0.03]          # [lo, hi]: log-uniform for lr0, weight_decay
 *   momentum: [0.85, 0.98]      # uniform otherwise (integers for INT keys)
 *   batch: [8, 16, 32]          # 3+ items, or any list for batch/accumulate,
 *   optimizer: [SGD, AdamW]     #   text values, True/False: choices
 *   warmup_epochs: {min: 1, max: 5, log: False}   # the explicit forms
 *   accumulate: {choices: [1, 2, 4]}
 * Without space= a default space is taken around the configured values
 * (tune_space_default).
 *
 * Trial 0 is always the configured values; trial k >= 1 is point k-1 of a
 * scrambled Halton sequence (one prime base per dimension, every digit
 * position of every dimension permuted by a permutation drawn from the
 * seed), so any b1^m1 x b2^m2 first points of two dimensions fall one in
 * each cell of the b1^m1 x b2^m2 grid, and a handful of trials covers the
 * space evenly. Sampled numbers are rounded to 4 significant digits, and
 * that text is what the trial trains with and what results.csv and
 * best.yaml hold.
 *
 * Successive halving (asynchronous, ASHA-style): every trial is scheduled
 * for `epochs` epochs; the rungs are at epochs/eta^k (k >= 1, rounded down,
 * at least 1, none before min_epochs) and at epochs. min_epochs defaults to
 * the configured warmup_epochs rounded up: while the learning rate still
 * ramps, trials differ mostly by their warmup and their validation scores
 * sit at the noise level (measured: every trial's mAP50-95 within
 * 2.7e-5..3.7e-5 after 1 epoch, while 15 epochs separated them 20x). A trial that reaches a rung goes on only when
 * its score there (the best epoch so far) ranks within the top
 * max(1, floor(n / eta)) of the n trials that have reached that rung so far,
 * itself included; otherwise it stops there. The first trial at a rung
 * always goes on, so trial 0 always trains to the end and the best trial is
 * never worse than the configured values on the same budget.
 *
 * A score is the trainer's fitness (mAP50-95 of the validation) with ties
 * broken by the lower validation loss (box + cls + dfl), so that short runs
 * whose mAP is still 0 are ranked too. Trials are ranked by the epochs they
 * trained (most first), then by score, then by trial number.
 *
 * The tune folder (project/name, runs/tune/exp by default) holds
 * tune_args.yaml and space.yaml (the search's settings), one run directory
 * per trial (trial0, trial1, ...), and, rewritten atomically after every
 * trial: results.csv (one row per finished trial), tune.png (fitness
 * against lr0 on a log axis and against the effective batch) and best.yaml
 * (the best trial's train keys: `yoloc train cfg=best.yaml`). Running the
 * same command again, or `resume=True`, continues the search: finished
 * trials are read back from results.csv and kept, the unfinished one is
 * trained again from its start (a run is a pure function of its settings).
 *
 * Trials in parallel (group=N under mpirun): the processes split into
 * groups of N (dist_split); group g trains trials g, g + G, ... with its own
 * communicator. A trial reaching a rung decides with the scores there of
 * every earlier trial, waiting for those another group still trains (the
 * groups publish rung scores and finished records as files in the tune
 * folder: trial<i>/tune_rung<k>, trial<i>/tune_record.bin), so every
 * decision and record is that of the trials run one after another. Rank 0
 * writes the outputs for the finished prefix of trials after each of its
 * own, and for all of them at the end.
 *
 * Test hook: $YOLOC_TUNE_INTERRUPT="T:E" ends the search with an error
 * after epoch E of trial T, as an interruption would (the trial's row is
 * not written). */
#ifndef YOLOC_PLAN_TUNE_H
#define YOLOC_PLAN_TUNE_H

#include "core/status.h"
#include "dist/dist.h"
#include "train/config.h"

#include <stdint.h>
#include <stdio.h>

#define TUNE_MAX_DIMS 16
#define TUNE_MAX_CHOICES 16
#define TUNE_MAX_RUNGS 16
#define TUNE_MAX_TRIALS 1000
#define TUNE_VALUE_LEN 48

/* ---- the search space ---------------------------------------------------- */

typedef enum { TUNE_UNIFORM = 0, TUNE_LOG, TUNE_INT, TUNE_CHOICE } tune_kind;

typedef struct {
    char key[32];     /* a train option */
    tune_kind kind;
    double lo, hi;    /* UNIFORM, LOG (lo > 0), INT: inclusive */
    int nchoices;     /* CHOICE */
    char choices[TUNE_MAX_CHOICES][TUNE_VALUE_LEN]; /* canonical text of each value */
} tune_dim;

typedef struct {
    int ndims;
    tune_dim dims[TUNE_MAX_DIMS];
} tune_space;

/* Parses a space from YAML text; `name` is used in messages
 * ("tune.yaml:3:8: key 'lr0': ..."). Every key must be a numeric, choice or
 * boolean train option other than epochs and the search's own keys, every
 * value valid for it. */
status tune_space_parse(tune_space *s, const char *text, size_t len, const char *name);
status tune_space_load(tune_space *s, const char *path);
/* The default space around c's values (after optimizer=auto is resolved),
 * for `processes` processes: lr0 x [0.3, 3] (log), warmup_epochs [1, 5]
 * (at most half the epochs), momentum [0.85, 0.98], weight_decay x [0.3, 3]
 * (log; left out when 0), and accumulate one of {a/2, a, 2a} around the
 * configured or derived a (left out when batch is not a whole number). */
void tune_space_default(tune_space *s, const config *c, int processes);
/* Writes the space as YAML that tune_space_parse reads back to the same
 * space (the explicit forms). */
void tune_space_write(const tune_space *s, FILE *f);
/* The index of key in s, or -1. */
int tune_space_find(const tune_space *s, const char *key);

/* ---- the sampler ----------------------------------------------------------- */

/* Point `index` (from 0) of the scrambled Halton sequence in [0, 1)^ndims
 * for this seed (ndims <= TUNE_MAX_DIMS). */
void tune_halton(uint64_t seed, long index, int ndims, double *u);
/* The value of dimension d at unit coordinate u in [0, 1), as text. */
void tune_dim_value(const tune_dim *d, double u, char *buf, size_t cap);
/* The values of trial `trial` (0: base's values, as text; k >= 1: Halton
 * point k-1 for seed), one per dimension. */
void tune_trial_values(const tune_space *s, uint64_t seed, int trial, const config *base,
                       char values[][TUNE_VALUE_LEN]);

/* ---- successive halving ---------------------------------------------------- */

/* The rung epochs, ascending, the last one `epochs`; returns their count
 * (<= TUNE_MAX_RUNGS). eta >= 2. Rungs before min_epochs are left out
 * (ASHA's grace period: no trial stops earlier). */
int tune_rungs(int epochs, int eta, int min_epochs, int *rungs);

typedef struct {
    double fitness;  /* higher is better */
    double val_loss; /* lower is better; breaks exact ties of fitness */
} tune_score;

/* 1 when a is strictly better than b. NaN fitness is worse than any number. */
int tune_score_better(tune_score a, tune_score b);
/* The promotion decision at a rung: 1 when `mine` is within the top
 * max(1, floor((n_others + 1) / eta)) of itself and the n_others scores of
 * the trials that reached the rung before (ties keep going on). */
int tune_promote(const tune_score *others, int n_others, tune_score mine, int eta);

/* ---- the record of a trial (a row of results.csv) -------------------------- */

typedef enum { TRIAL_DONE = 0, TRIAL_STOPPED, TRIAL_PATIENCE, TRIAL_FAILED } trial_status;

typedef struct {
    int trial;
    char values[TUNE_MAX_DIMS][TUNE_VALUE_LEN];
    long b_eff;             /* effective batch (0 when unknown) */
    int epochs;             /* epochs trained */
    tune_score best;        /* the best epoch's score */
    double map50, map5095;  /* at the best epoch */
    tune_score rung[TUNE_MAX_RUNGS]; /* score at rung k (NaN fitness: not reached) */
    trial_status status;
    char note[160];         /* why a trial failed (no commas) */
} tune_record;

const char *tune_status_name(trial_status s);

/* Orders records best first (see above; failed trials last) into order[n]. */
void tune_rank(const tune_record *r, int n, int *order);

/* results.csv: trial, every dimension's key, b_eff, epochs, best_fitness,
 * mAP50, mAP50-95, val_loss, fitness@R and val_loss@R for every rung R,
 * rank, status, note. Written atomically. */
status tune_results_write(const char *path, const tune_space *s, const int *rungs, int nrungs,
                          const tune_record *r, int n);
/* Reads results.csv back (for resuming): the header must have the columns
 * of this space and these rungs, the rows must be trials 0, 1, ... in order.
 * *n receives the count (<= cap). Errors name path:line. */
status tune_results_read(const char *path, const tune_space *s, const int *rungs, int nrungs,
                         tune_record *r, int cap, int *n);

/* ---- the search -------------------------------------------------------------- */

typedef struct {
    char dir[4096];    /* the tune folder */
    int trials;        /* finished trials (read back ones included) */
    int best;          /* trial number of the best, -1 when none */
    tune_record best_record, default_record; /* the best and trial 0 */
} tune_result;

/* Runs (or continues) the search configured by c (space, budget, eta,
 * epochs, seed, project, name, resume and every train key for all
 * trials) as rank d->rank of d->world processes; every trial uses all of
 * them, rank 0 writes. res may be NULL. c may be changed (resume loads the
 * search's stored settings into it). */
status tune_run(config *c, dist *d, tune_result *res);

#endif
