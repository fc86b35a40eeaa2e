/* The run doctor: names what went wrong with a training's learning-rate /
 * batch-size settings, from the rows the trainer logs.
 *
 * One `doctor` state is fed the optimizer steps (the steps.csv rows) and the
 * epochs (the results.csv rows) in order, and keeps a list of findings, at
 * most one per kind. Each finding carries a severity, the evidence (step or
 * epoch numbers and values) and a next setting ("lr0=0.01 warmup_epochs=3").
 * The same code serves `yoloc doctor RUN_DIR` (doctor_read_run feeds the
 * files of a finished or running run) and the trainer's live checks (the
 * trainer feeds each row as it writes it and prints the new findings once).
 *
 * The checks (thresholds in doctor.c, each with its reason):
 *   lr_high / lr_low  the weights' LR, taken back to the reference batch nbs
 *                     (lr x lr0/lr_peak, so "lr0-equivalent"), far outside
 *                     the optimizer's usual band (SGD 0.008-0.02, Adam/AdamW
 *                     3e-4-1e-3): >= 3x the top (an error at >= 0.1, or 10x
 *                     the top), or the peak <= 1/3 of the bottom
 *   no_warmup         warmup_epochs=0: the first step runs at the peak
 *   short_warmup      warmup under 3 epochs with B_eff >= 2 x nbs, or loss
 *                     spikes during the warmup or the epoch after it
 *   divergence        a step's loss > 10x its running median or gradient
 *                     norm > 100x, the running median of the loss tripling,
 *                     a non-finite epoch loss, or the validation loss
 *                     non-finite, > 10x or < 1/100 of the training loss
 *                     (the EMA / validation model blew up or collapsed)
 *   nonfinite_steps   optimizer steps skipped for a non-finite loss or
 *                     gradient (three in a row make the trainer roll back)
 *   loss_spikes       a step's loss > 3x the running median of the last 32
 *                     finite steps, or its gradient norm > 10x
 *   plateau           the loss not improving by 1 % (and, within two standard
 *                     errors, by less than 4 %) between the halves of a window
 *                     of max(100, 2 epochs) steps (at most 1000) after warmup,
 *                     before the LR decays below half its peak, while the LR
 *                     never reached the optimizer's band
 *   val_oscillation   over the last (up to 10) validated epochs the val loss
 *                     or mAP50-95 changes direction at least 3 times, in >=
 *                     60 % of the differences, by a typical swing >= 5 % of
 *                     the loss (10 % of the best mAP, when it is >= 0.02)
 *   bn_small_batch    BatchNorm statistics from < 8 images (per process, or
 *                     over all processes with SyncBatchNorm)
 * What a row cannot show is left out: a step skipped because one of its
 * accumulated batches had a non-finite loss is seen offline only when the
 * logged values say so (non-finite, or loss and gradient norm both 0). */
#ifndef YOLOC_PLAN_DOCTOR_H
#define YOLOC_PLAN_DOCTOR_H

#include "core/status.h"
#include "train/trainer.h"

#include <stddef.h>
#include <stdio.h>

/* X(enum suffix, name in reports and JSON) */
#define DOCTOR_KIND_MAP(X)                                                                         \
    X(DIVERGENCE, "divergence")                                                                    \
    X(NONFINITE_STEPS, "nonfinite_steps")                                                          \
    X(LR_HIGH, "lr_high")                                                                          \
    X(NO_WARMUP, "no_warmup")                                                                      \
    X(SHORT_WARMUP, "short_warmup")                                                                \
    X(LOSS_SPIKES, "loss_spikes")                                                                  \
    X(VAL_OSCILLATION, "val_oscillation")                                                          \
    X(PLATEAU, "plateau")                                                                          \
    X(LR_LOW, "lr_low")                                                                            \
    X(BN_SMALL_BATCH, "bn_small_batch")

typedef enum {
#define DOCTOR_KIND_ENUM(e, s) DOCTOR_##e,
    DOCTOR_KIND_MAP(DOCTOR_KIND_ENUM)
#undef DOCTOR_KIND_ENUM
        DOCTOR_KIND_COUNT
} doctor_kind;

typedef enum { DOCTOR_NOTE = 0, DOCTOR_WARNING, DOCTOR_ERROR } doctor_severity;

const char *doctor_kind_name(doctor_kind k);
const char *doctor_severity_name(doctor_severity s);

/* The run's settings as the trainer resolved them (args.yaml and its
 * derived block). Unknown numbers are 0, unknown strings "". */
typedef struct {
    int have_settings;     /* 0: nothing is known (no args.yaml): the checks that need settings are off */
    char optimizer[16];    /* resolved: SGD, AdamW or Adam ("" or auto: the band checks are off) */
    double lr0;            /* at nbs, resolved (optimizer=auto picks its own) */
    double lr_peak;        /* the schedule's peak for B_eff (lr0 x the scaling rule) */
    char lr_scale[16];     /* linear, sqrt, conservative, none */
    int nbs;
    int batch;             /* images per process per forward */
    int processes;
    int accumulate;
    long b_eff;
    char norm[16];         /* bn (per process), syncbn (across processes) or gn */
    double warmup_epochs;
    long warmup_steps;     /* -1: unknown (then warmup_epochs decides) */
    long steps_per_epoch;  /* 0: unknown */
    long total_steps;
    int epochs;
    double max_norm;       /* gradient clipping (0: off) */
} doctor_run;

/* One optimizer step (a steps.csv row). */
typedef struct {
    long step;             /* from 0 */
    int epoch;             /* from 1 */
    double lr[3];          /* biases, weights, norm weights (pg0..pg2) */
    double loss[3];        /* the step's losses (box, cls, dfl) */
    double grad_norm;      /* before clipping; may be inf/nan */
    int skipped;           /* no update (non-finite loss or gradient) */
} doctor_step;

/* One epoch (a results.csv row). */
typedef struct {
    int epoch;             /* from 1 */
    double loss[3];        /* mean training losses */
    int validated;         /* 0: no validation this epoch (the fields below are ignored) */
    double map50, map5095;
    double val_loss[3];
    double lr;             /* weights' LR at the end of the epoch (lr/pg1) */
} doctor_epoch;

typedef struct {
    doctor_kind kind;
    doctor_severity severity;
    long step;             /* first step where it showed; -1: none */
    int epoch;             /* first epoch (from 1); 0: none */
    long count;            /* occurrences (steps, epochs, windows) */
    char evidence[768];    /* what was seen, naming steps / epochs and values */
    char suggestion[256];  /* key=value settings for the next run, then an explanation in () */
} doctor_finding;

typedef struct doctor doctor;

/* A doctor for a run with these settings (copied). YOLOC_ERR_NOMEM. */
status doctor_create(doctor **out, const doctor_run *run);
void doctor_free(doctor *d);
const doctor_run *doctor_get_run(const doctor *d);

/* Feed the rows in order. Never fail; a row that cannot be judged (e.g. no
 * history yet) only updates the state. */
void doctor_add_step(doctor *d, const doctor_step *s);
void doctor_add_epoch(doctor *d, const doctor_epoch *e);
/* After the last row (offline): checks that wait for the end of the run. */
void doctor_finish(doctor *d);

/* The findings so far, most severe first, then in order of appearance. */
size_t doctor_count(const doctor *d);
const doctor_finding *doctor_get(const doctor *d, size_t i);
/* The finding of one kind, or NULL. */
const doctor_finding *doctor_find(const doctor *d, doctor_kind k);
/* Counts by severity (any pointer may be NULL). */
void doctor_tally(const doctor *d, int *notes, int *warnings, int *errors);

/* Prints "<prefix><severity> <kind>: <evidence> -> next: <suggestion>" for
 * each finding that appeared since the last call (the live trainer's
 * "doctor: ..." lines). Returns how many it printed. */
int doctor_print_new(doctor *d, FILE *f, const char *prefix);
/* The full report: settings line, each finding with evidence and next
 * setting, the merged next settings, a tally (or "no LR/batch problems
 * found"). */
void doctor_print_report(const doctor *d, const char *run_dir, FILE *f);
/* The key=value settings of all findings merged (the most severe finding's
 * value wins for a key), e.g. "lr0=0.01 warmup_epochs=3"; "" when none. */
void doctor_next_settings(const doctor *d, char *buf, size_t cap);
/* The findings as JSON (written atomically): run, settings, findings
 * [{kind, severity, step, epoch, count, evidence, suggestion}], next. */
status doctor_write_json(const doctor *d, const char *run_dir, const char *path);

/* Reads RUN_DIR/args.yaml (settings, the derived block; an Ultralytics
 * args.yaml works with what it holds) into run. YOLOC_ERR_IO / _PARSE
 * naming the file and line. */
status doctor_read_args(const char *path, doctor_run *run);
/* A doctor fed with a run directory: args.yaml (optional: without it the
 * checks that need the settings are off), steps.csv and results.csv (at
 * least one of the two; columns found by their header names, so an
 * Ultralytics results.csv works too), then doctor_finish. Malformed rows
 * are errors naming file:line. `notes` (may be NULL) receives what was
 * missing, e.g. "no steps.csv: the per-step checks are off". */
status doctor_read_run(const char *dir, doctor **out, char *notes, size_t cap);

/* The live checks of `yoloc train doctor=True`: trainer hooks (rank 0) that
 * feed a doctor with the run's resolved settings, every optimizer step and
 * every epoch, and print each new finding as a "doctor: ..." line while the
 * run trains. They only read: findings never change the training. The
 * command attaches them (train/ knows nothing of the doctor). */
typedef struct {
    doctor *doc;  /* NULL until the run starts on rank 0 (or when it could not be created) */
    int tty;
} doctor_live;
/* Fills h with L's callbacks (h->ctx = L); L starts empty. */
void doctor_live_hooks(doctor_live *L, train_hooks *h);
void doctor_live_free(doctor_live *L);

#endif
