/* The run doctor (plan/doctor.h) on synthetic step and epoch series: a
 * healthy run (warmup, cosine decay, noisy but falling loss, val loss
 * tracking the training loss, rising mAP) gives no finding; each defect
 * planted into it gives its finding, with the step / epoch and value in the
 * evidence and a key=value next setting; the settings checks (LR band,
 * warmup, BatchNorm batch) fire on their thresholds and not below them;
 * live printing prints a finding once; the JSON is valid; and the
 * run-directory reader handles yoloc's files, an Ultralytics-style
 * results.csv, non-finite values and malformed rows (file:line). */
#include "core/rng.h"
#include "harness.h"
#include "io/file.h"
#include "io/json.h"
#include "plan/doctor.h"
#include "train/recipe.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* A synthetic run. */

typedef struct sim sim;
struct sim {
    const char *optimizer;
    double lr0;         /* = the peak (B_eff = nbs) */
    int batch, nbs, processes;
    const char *norm;
    double warmup_epochs;
    long spe;           /* steps per epoch */
    int epochs;
    double noise;       /* relative noise of the step loss */
    int flat;           /* 1: the loss does not fall */
    /* defects: change a step or an epoch row */
    void (*step_mod)(const sim *o, doctor_step *s);
    void (*epoch_mod)(const sim *o, doctor_epoch *e);
    long at;            /* where the defect goes */
    int warmup_bad;     /* 1: a non-zero warmup_epochs with no warmup steps (kept 0 by run()) */
};

static doctor_run sim_settings(const sim *o) {
    doctor_run r = {.have_settings = 1, .lr0 = o->lr0, .lr_peak = o->lr0, .nbs = o->nbs, .batch = o->batch,
                    .processes = o->processes, .accumulate = 1, .warmup_epochs = o->warmup_epochs,
                    .steps_per_epoch = o->spe, .epochs = o->epochs, .max_norm = 10};
    long per = (long)o->batch * o->processes;
    r.accumulate = per >= o->nbs ? 1 : (int)((o->nbs + per / 2) / per);
    r.b_eff = per * r.accumulate;
    r.lr_peak = o->lr0 * (double)r.b_eff / o->nbs;
    r.warmup_steps = (long)nearbyint(o->warmup_epochs * (double)o->spe);
    r.total_steps = o->spe * o->epochs;
    snprintf(r.optimizer, sizeof r.optimizer, "%s", o->optimizer);
    snprintf(r.lr_scale, sizeof r.lr_scale, "linear");
    snprintf(r.norm, sizeof r.norm, "%s", o->norm);
    return r;
}

static double sched_lr(const doctor_run *r, long step) {
    if (step < r->warmup_steps) return r->lr_peak * (0.1 + 0.9 * (double)step / (double)r->warmup_steps);
    double t = (double)(step - r->warmup_steps) / (double)(r->total_steps - r->warmup_steps);
    return r->lr_peak * (0.01 + 0.99 * 0.5 * (1 + cos(M_PI * t)));
}

/* Feeds the whole run; returns the doctor (caller frees). */
static doctor *run(const sim *o) {
    doctor_run r = sim_settings(o);
    doctor *d = NULL;
    if (doctor_create(&d, &r) < 0) return NULL;
    rng g;
    rng_seed(&g, 7);
    long step = 0;
    for (int ep = 1; ep <= o->epochs; ep++) {
        double sum[3] = {0, 0, 0};
        for (long i = 0; i < o->spe; i++, step++) {
            double base = o->flat ? 10.0 : 6.0 + 9.0 * exp(-(double)step / 250.0);
            double l = base * (1 + o->noise * rng_normal(&g));
            doctor_step s = {.step = step, .epoch = ep, .grad_norm = 60 * exp(0.4 * rng_normal(&g))};
            double lr = sched_lr(&r, step);
            for (int k = 0; k < 3; k++) {
                s.lr[k] = lr;
                s.loss[k] = l * (k == 0 ? 0.45 : k == 1 ? 0.3 : 0.25);
            }
            if (o->step_mod) o->step_mod(o, &s);
            for (int k = 0; k < 3; k++) sum[k] += isfinite(s.loss[k]) ? s.loss[k] : 0;
            doctor_add_step(d, &s);
        }
        doctor_epoch e = {.epoch = ep, .validated = 1, .lr = sched_lr(&r, step - 1)};
        for (int k = 0; k < 3; k++) {
            e.loss[k] = sum[k] / (double)o->spe;
            e.val_loss[k] = e.loss[k] * (1.02 + 0.01 * rng_normal(&g));
        }
        e.map5095 = 0.5 * (1 - exp(-ep / 8.0)) + 0.003 * rng_normal(&g);
        e.map50 = 1.5 * e.map5095;
        if (o->epoch_mod) o->epoch_mod(o, &e);
        doctor_add_epoch(d, &e);
    }
    doctor_finish(d);
    return d;
}

static sim healthy(void) {
    return (sim){.optimizer = "SGD", .lr0 = 0.01, .batch = 16, .nbs = 64, .processes = 1, .norm = "bn",
                 .warmup_epochs = 3, .spe = 20, .epochs = 30, .noise = 0.08};
}

static void dump(const char *name, const doctor *d) {
    printf("--- %s\n", name);
    doctor_print_report(d, NULL, stdout);
}

/* Checks that a finding of kind k exists with the severity, evidence
 * fragments and a key=value next setting. */
static const doctor_finding *expect(const doctor *d, doctor_kind k, doctor_severity sev, const char *frag1,
                                    const char *frag2) {
    const doctor_finding *f = doctor_find(d, k);
    CHECK_MSG(f != NULL, "no %s finding", doctor_kind_name(k));
    if (!f) return NULL;
    CHECK_MSG(f->severity == sev, "%s: severity %s, expected %s", doctor_kind_name(k),
              doctor_severity_name(f->severity),
              doctor_severity_name(sev));
    if (frag1) CHECK_CONTAINS(f->evidence, frag1);
    if (frag2) CHECK_CONTAINS(f->evidence, frag2);
    const char *sp = strchr(f->suggestion, ' ');
    const char *eq = strchr(f->suggestion, '=');
    CHECK_MSG(eq && (!sp || eq < sp), "%s: the suggestion does not start with key=value: '%s'", doctor_kind_name(k),
              f->suggestion);
    return f;
}

static int only(const doctor *d, doctor_kind k) {
    return doctor_count(d) == 1 && doctor_find(d, k) != NULL;
}

/* ------------------------------------------------------------------------ */
/* Defects. */

static void spike_loss(const sim *o, doctor_step *s) {
    if (s->step == o->at)
        for (int k = 0; k < 3; k++) s->loss[k] *= 4;
}
static void spike_gn(const sim *o, doctor_step *s) {
    if (s->step == o->at) s->grad_norm *= 30;
}
static void explode_loss(const sim *o, doctor_step *s) {
    if (s->step == o->at)
        for (int k = 0; k < 3; k++) s->loss[k] *= 25;
}
static void explode_gn(const sim *o, doctor_step *s) {
    if (s->step == o->at) s->grad_norm *= 1000;
}
static void rising(const sim *o, doctor_step *s) { /* from `at` on the loss grows 2 % a step */
    if (s->step > o->at)
        for (int k = 0; k < 3; k++) s->loss[k] *= pow(1.02, (double)(s->step - o->at));
}
static void nan_one(const sim *o, doctor_step *s) {
    if (s->step == o->at) {
        s->grad_norm = NAN;
        s->skipped = 1;
    }
}
static void nan_three(const sim *o, doctor_step *s) {
    if (s->step >= o->at && s->step < o->at + 3) {
        s->grad_norm = INFINITY;
        s->skipped = 1;
    }
}
static void val_nan(const sim *o, doctor_epoch *e) {
    if (e->epoch == o->at) e->val_loss[1] = NAN;
}
static void val_high(const sim *o, doctor_epoch *e) {
    if (e->epoch == o->at) e->val_loss[1] = 1e9;
}
static void val_collapse(const sim *o, doctor_epoch *e) {
    if (e->epoch == o->at)
        for (int k = 0; k < 3; k++) e->val_loss[k] = 1e-12;
}
static void val_zigzag(const sim *o, doctor_epoch *e) { /* +-20 % from epoch `at` on */
    if (e->epoch >= o->at)
        for (int k = 0; k < 3; k++) e->val_loss[k] *= e->epoch % 2 ? 1.2 : 0.8;
}
static void map_zigzag(const sim *o, doctor_epoch *e) {
    if (e->epoch >= o->at) e->map5095 *= e->epoch % 2 ? 1.3 : 0.7;
}
static void val_small_wiggle(const sim *o, doctor_epoch *e) { /* +-1 %: below the swing threshold */
    if (e->epoch >= o->at)
        for (int k = 0; k < 3; k++) e->val_loss[k] *= e->epoch % 2 ? 1.01 : 0.99;
}

/* ------------------------------------------------------------------------ */

static void test_healthy(void) {
    sim o = healthy();
    doctor *d = run(&o);
    dump("healthy SGD", d);
    CHECK_EQ_INT(doctor_count(d), 0);
    char next[256];
    doctor_next_settings(d, next, sizeof next);
    CHECK_STR(next, "");
    doctor_free(d);
    /* healthy AdamW, 4 processes with SyncBatchNorm, a flat-ish tail */
    o.optimizer = "AdamW";
    o.lr0 = 0.001;
    o.processes = 4;
    o.batch = 4;
    o.norm = "syncbn";
    d = run(&o);
    dump("healthy AdamW, 4 processes, syncbn", d);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
    /* a small val wiggle is not an oscillation */
    o = healthy();
    o.epoch_mod = val_small_wiggle;
    o.at = 10;
    d = run(&o);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
}

static void test_lr_band(void) {
    sim o = healthy();
    o.lr0 = 0.2;
    doctor *d = run(&o);
    dump("SGD lr0=0.2", d);
    /* the warmup ramp 0.02 -> 0.2 crosses 3 x 0.02 at step 14 */
    const doctor_finding *f =
        expect(d, DOCTOR_LR_HIGH, DOCTOR_ERROR, "step 14: the weights' lr 0.062", "up to 0.2 at step 60");
    if (f) {
        CHECK_CONTAINS(f->suggestion, "lr0=0.01");
        CHECK_EQ_INT(f->step, 14);
    }
    doctor_free(d);
    /* far above, not an error: SGD 0.07 (the warmup starts at 0.007, so the
     * first step above 3 x 0.02 comes later) */
    o.lr0 = 0.07;
    d = run(&o);
    f = expect(d, DOCTOR_LR_HIGH, DOCTOR_WARNING, "step ", "0.06");
    if (f) CHECK(f->step > 0 && f->step < 60);
    CHECK(only(d, DOCTOR_LR_HIGH));
    doctor_free(d);
    /* inside 3x the band: nothing (0.05 < 0.06) */
    o.lr0 = 0.05;
    d = run(&o);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
    /* AdamW: 0.01 is 10x the band's top, an error; 0.002 passes */
    o = healthy();
    o.optimizer = "AdamW";
    o.lr0 = 0.01;
    d = run(&o);
    expect(d, DOCTOR_LR_HIGH, DOCTOR_ERROR, "AdamW's usual band is 0.0003-0.001", NULL);
    doctor_free(d);
    o.lr0 = 0.002;
    d = run(&o);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
    /* the lr0-equivalent: B_eff 256 at nbs 64 runs 0.04 for lr0 0.01 - fine */
    o = healthy();
    o.batch = 64;
    o.processes = 4;
    d = run(&o);
    CHECK(doctor_find(d, DOCTOR_LR_HIGH) == NULL);
    doctor_free(d);
    /* far below: lr0 0.0005 for SGD -> lr_low (at the peak, the end of warmup) */
    o = healthy();
    o.lr0 = 0.0005;
    d = run(&o);
    dump("SGD lr0=0.0005", d);
    f = expect(d, DOCTOR_LR_LOW, DOCTOR_WARNING, "step 60", "0.0005");
    if (f) CHECK_CONTAINS(f->suggestion, "lr0=0.01");
    doctor_free(d);
    /* just below the band (0.005 > 0.008/3): no lr_low */
    o.lr0 = 0.005;
    d = run(&o);
    CHECK(doctor_find(d, DOCTOR_LR_LOW) == NULL);
    doctor_free(d);
}

static void test_warmup(void) {
    sim o = healthy();
    o.warmup_epochs = 0;
    doctor *d = run(&o);
    dump("no warmup", d);
    const doctor_finding *f = expect(d, DOCTOR_NO_WARMUP, DOCTOR_WARNING, "step 0", "warmup_epochs=0");
    if (f) CHECK_CONTAINS(f->suggestion, "warmup_epochs=3");
    CHECK(only(d, DOCTOR_NO_WARMUP));
    doctor_free(d);
    /* no warmup and a spike in the first epoch: both findings, the spike
     * in the warmup evidence too */
    o.step_mod = spike_loss;
    o.at = 12;
    d = run(&o);
    expect(d, DOCTOR_NO_WARMUP, DOCTOR_WARNING, "step 0", "step 12: loss");
    expect(d, DOCTOR_LOSS_SPIKES, DOCTOR_WARNING, "step 12", NULL);
    doctor_free(d);
    /* a short warmup for a large B_eff: 1 epoch at B_eff 256 = 4 x nbs */
    o = healthy();
    o.batch = 64;
    o.processes = 4;
    o.warmup_epochs = 1;
    d = run(&o);
    dump("1 warmup epoch at B_eff 256", d);
    f = expect(d, DOCTOR_SHORT_WARMUP, DOCTOR_WARNING, "warmup of 20 steps (1 epochs) for B_eff 256", NULL);
    if (f) CHECK_CONTAINS(f->suggestion, "warmup_epochs=3");
    CHECK(only(d, DOCTOR_SHORT_WARMUP));
    doctor_free(d);
    /* ... the same warmup at B_eff = nbs is fine */
    o = healthy();
    o.warmup_epochs = 1;
    d = run(&o);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
    /* spikes right after a 3-epoch warmup: short_warmup from the spikes */
    o = healthy();
    o.step_mod = spike_gn;
    o.at = 70;
    d = run(&o);
    dump("spike after warmup", d);
    f = expect(d, DOCTOR_SHORT_WARMUP, DOCTOR_WARNING, "60-step warmup", "step 70: gradient norm");
    if (f) CHECK_CONTAINS(f->suggestion, "warmup_epochs=6");
    expect(d, DOCTOR_LOSS_SPIKES, DOCTOR_WARNING, "step 70: gradient norm", NULL);
    doctor_free(d);
}

static void test_divergence(void) {
    sim o = healthy();
    o.step_mod = explode_loss;
    o.at = 300;
    doctor *d = run(&o);
    dump("exploding loss", d);
    const doctor_finding *f = expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "step 300: loss", "running median");
    if (f) CHECK_EQ_INT(f->step, 300);
    CHECK(doctor_find(d, DOCTOR_LOSS_SPIKES) == NULL);
    doctor_free(d);
    o.step_mod = explode_gn;
    d = run(&o);
    expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "step 300: gradient norm", NULL);
    doctor_free(d);
    o.step_mod = rising;
    o.at = 200;
    d = run(&o);
    dump("rising loss", d);
    expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "running median of the loss rose", NULL);
    doctor_free(d);
    o = healthy();
    o.epoch_mod = val_nan;
    o.at = 5;
    d = run(&o);
    f = expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "epoch 5: validation loss nan", NULL);
    if (f) CHECK_EQ_INT(f->epoch, 5);
    doctor_free(d);
    o.epoch_mod = val_high;
    d = run(&o);
    dump("val loss 1e9", d);
    expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "epoch 5: validation loss 1e+09", "blew up");
    CHECK(only(d, DOCTOR_DIVERGENCE)); /* a blown-up epoch is not an oscillation */
    doctor_free(d);
    o.epoch_mod = val_collapse;
    d = run(&o);
    expect(d, DOCTOR_DIVERGENCE, DOCTOR_ERROR, "epoch 5: validation loss 3e-12", "collapsed");
    doctor_free(d);
}

static void test_spikes_and_nonfinite(void) {
    sim o = healthy();
    o.step_mod = spike_loss;
    o.at = 300;
    doctor *d = run(&o);
    dump("one loss spike", d);
    const doctor_finding *f = expect(d, DOCTOR_LOSS_SPIKES, DOCTOR_WARNING, "step 300: loss", "x its running median");
    if (f) {
        CHECK_EQ_INT(f->count, 1);
        CHECK_CONTAINS(f->suggestion, "lr0=0.00"); /* half the LR at the spike */
    }
    CHECK(only(d, DOCTOR_LOSS_SPIKES));
    doctor_free(d);
    o.step_mod = nan_one;
    d = run(&o);
    dump("one non-finite step", d);
    f = expect(d, DOCTOR_NONFINITE_STEPS, DOCTOR_WARNING, "1 optimizer step skipped", "step 300");
    CHECK(only(d, DOCTOR_NONFINITE_STEPS));
    doctor_free(d);
    o.step_mod = nan_three;
    d = run(&o);
    f = expect(d, DOCTOR_NONFINITE_STEPS, DOCTOR_ERROR, "step 300", "3 in a row");
    if (f) CHECK_EQ_INT(f->count, 3);
    doctor_free(d);
}

static void test_plateau(void) {
    sim o = healthy();
    o.lr0 = 0.005; /* below the band, not far: only the stall says something */
    o.flat = 1;
    doctor *d = run(&o);
    dump("flat loss at lr0=0.005", d);
    const doctor_finding *f = expect(d, DOCTOR_PLATEAU, DOCTOR_WARNING, "steps ", "mean loss");
    if (f) {
        CHECK(f->step >= 60 && f->step < 200); /* after warmup, before the decay */
        CHECK_CONTAINS(f->suggestion, "lr0=0.01");
    }
    CHECK(only(d, DOCTOR_PLATEAU));
    doctor_free(d);
    /* the same LR with a falling loss (flat only in the decay's tail): no plateau */
    o.flat = 0;
    d = run(&o);
    dump("falling loss at lr0=0.005", d);
    CHECK_EQ_INT(doctor_count(d), 0);
    doctor_free(d);
    /* a flat loss with the LR in the band: not the LR's fault (no plateau) */
    o = healthy();
    o.flat = 1;
    d = run(&o);
    CHECK(doctor_find(d, DOCTOR_PLATEAU) == NULL);
    doctor_free(d);
}

static void test_oscillation(void) {
    sim o = healthy();
    o.epoch_mod = val_zigzag;
    o.at = 10;
    doctor *d = run(&o);
    dump("zig-zag val loss", d);
    const doctor_finding *f =
        expect(d, DOCTOR_VAL_OSCILLATION, DOCTOR_WARNING, "validation loss", "changes of direction");
    if (f) CHECK(f->epoch > 10 && f->epoch <= 16); /* seen a few epochs into the zig-zag */
    CHECK(only(d, DOCTOR_VAL_OSCILLATION));
    doctor_free(d);
    o.epoch_mod = map_zigzag;
    d = run(&o);
    dump("zig-zag mAP", d);
    expect(d, DOCTOR_VAL_OSCILLATION, DOCTOR_WARNING, "mAP50-95", "changes of direction");
    doctor_free(d);
}

static void test_bn(void) {
    sim o = healthy();
    o.batch = 2;
    doctor *d = run(&o);
    dump("batch 2 with BatchNorm", d);
    const doctor_finding *f = expect(d, DOCTOR_BN_SMALL_BATCH, DOCTOR_WARNING, "batch=2 per process", "over 2 images");
    if (f) CHECK_CONTAINS(f->suggestion, "norm=gn");
    CHECK(only(d, DOCTOR_BN_SMALL_BATCH));
    doctor_free(d);
    /* 6 images: a note, and the run counts as without problems */
    o.batch = 6;
    d = run(&o);
    expect(d, DOCTOR_BN_SMALL_BATCH, DOCTOR_NOTE, "over 6 images", NULL);
    int notes, warnings, errors;
    doctor_tally(d, &notes, &warnings, &errors);
    CHECK(notes == 1 && warnings == 0 && errors == 0);
    doctor_free(d);
    /* per-process BatchNorm in 2 processes: SyncBatchNorm is the fix */
    o.batch = 4;
    o.processes = 2;
    d = run(&o);
    f = expect(d, DOCTOR_BN_SMALL_BATCH, DOCTOR_NOTE, "x 2 processes with norm=bn", NULL);
    if (f) CHECK_CONTAINS(f->suggestion, "norm=syncbn");
    doctor_free(d);
    /* batch 8 with BatchNorm, GroupNorm at batch 2, SyncBatchNorm over 2 x 4: fine */
    const struct {
        int batch, processes;
        const char *norm;
    } ok[] = {{8, 1, "bn"}, {2, 1, "gn"}, {4, 2, "syncbn"}};
    for (int i = 0; i < 3; i++) {
        o = healthy();
        o.batch = ok[i].batch;
        o.processes = ok[i].processes;
        o.norm = ok[i].norm;
        d = run(&o);
        CHECK_MSG(doctor_find(d, DOCTOR_BN_SMALL_BATCH) == NULL, "batch %d x %d with %s", ok[i].batch,
                  ok[i].processes, ok[i].norm);
        doctor_free(d);
    }
}

/* Live use: each finding printed once, when it appears; the merged next
 * settings; JSON. */
static void test_live_and_outputs(const char *tmp) {
    sim o = healthy();
    o.lr0 = 0.2;
    o.warmup_epochs = 0;
    doctor_run r = sim_settings(&o);
    doctor *d;
    CHECK(doctor_create(&d, &r) == YOLOC_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/live.txt", tmp);
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    if (!f) return;
    doctor_step s = {.step = 0, .epoch = 1, .lr = {0.2, 0.2, 0.2}, .loss = {5, 3, 2}, .grad_norm = 50};
    doctor_add_step(d, &s);
    CHECK_EQ_INT(doctor_print_new(d, f, "doctor: "), 2); /* lr_high and no_warmup at step 0 */
    s.step = 1;
    doctor_add_step(d, &s);
    CHECK_EQ_INT(doctor_print_new(d, f, "doctor: "), 0); /* nothing new */
    doctor_epoch e = {.epoch = 1, .loss = {5, 3, 2}, .validated = 1, .val_loss = {1e6, 3, 2}, .lr = 0.2};
    doctor_add_epoch(d, &e);
    CHECK_EQ_INT(doctor_print_new(d, f, "doctor: "), 1); /* divergence */
    rewind(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    printf("--- live lines\n%s", text);
    CHECK_CONTAINS(text, "doctor: warning no_warmup: warmup_epochs=0");
    CHECK_CONTAINS(text, "doctor: error lr_high: step 0: the weights' lr 0.2");
    CHECK_CONTAINS(text, "doctor: error divergence: epoch 1: validation loss 1e+06");
    CHECK_CONTAINS(text, "-> next: lr0=0.01");
    char next[256];
    doctor_next_settings(d, next, sizeof next);
    CHECK_STR(next, "lr0=0.01 warmup_epochs=3");
    /* the report order: errors first */
    CHECK(doctor_get(d, 0)->severity == DOCTOR_ERROR && doctor_get(d, 2)->severity == DOCTOR_WARNING);
    CHECK(doctor_get(d, 3) == NULL);
    snprintf(path, sizeof path, "%s/findings.json", tmp);
    CHECK(doctor_write_json(d, "runs/train/exp", path) == YOLOC_OK);
    char *json;
    size_t len;
    if (file_read_all(path, 1 << 20, &json, &len) == YOLOC_OK) {
        jdoc doc;
        CHECK(jdoc_parse(&doc, json, len, path) == YOLOC_OK);
        const jnode *fs = jnode_get(doc.root, "findings");
        CHECK(fs && fs->kind == JSON_ARRAY && fs->n == 3);
        if (fs && fs->n == 3) {
            CHECK_STR(jnode_get(fs->items[0], "severity")->text, "error");
            const jnode *st = jnode_get(fs->items[0], "step");
            CHECK(st && st->kind == JSON_NUMBER);
        }
        CHECK_STR(jnode_get(doc.root, "next")->text, "lr0=0.01 warmup_epochs=3");
        jdoc_free(&doc);
        free(json);
    } else {
        CHECK_MSG(0, "%s not written", path);
    }
    doctor_free(d);
}

/* ------------------------------------------------------------------------ */
/* Run directories. */

static void write_file(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_read_run(const char *tmp) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/exp", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    write_file(dir, "args.yaml",
               "model: yolov8n.yaml\noptimizer: auto\nlr0: 0.01\nbatch: 4\nnbs: 64\nnorm: bn\nwarmup_epochs: 0.0\n"
               "epochs: 2\nmax_norm: 10.0\nlr_scale: linear\nlr_scale_margin: 0.15\n"
               "derived: # resolved by yoloc at start-up (not options)\n  optimizer: AdamW\n  processes: 1\n"
               "  accumulate: 16\n  b_eff: 64\n  lr_peak: 0.0015\n  lr_final: 1.5e-05\n  weight_decay: 0.0005\n"
               "  warmup_epochs: 0\n  warmup_steps: 0\n  steps_per_epoch: 4\n  total_steps: 8\n");
    char steps[2048] = "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum,box_loss,cls_loss,dfl_loss,grad_norm,img_s,wait_ms,"
                       "noise_scale\n";
    for (int i = 0; i < 8; i++) {
        char row[200];
        snprintf(row, sizeof row, "%d,%d,0.0015,0.0015,0.0015,0.9,5,3,2,%s,10,1,nan\n", i, i / 4 + 1,
                 i == 5 ? "nan" : "40");
        strcat(steps, row);
    }
    strcat(steps, "8,3,0.0015,0.0"); /* a row still being written: left out */
    write_file(dir, "steps.csv", steps);
    write_file(dir, "results.csv",
               "epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
               "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n"
               "1,5,3,2,0.1,0.1,0.05,0.02,5.1,3.1,2.1,0.0015,0.0015,0.0015\n"
               "2,5,3,2,0,0,0,0,0,0,0,0.0015,0.0015,0.0015\n");
    doctor *d = NULL;
    char notes[256];
    status st = doctor_read_run(dir, &d, notes, sizeof notes);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (d) {
        dump("run directory", d);
        const doctor_run *r = doctor_get_run(d);
        CHECK_STR(r->optimizer, "AdamW"); /* optimizer=auto resolved in the derived block */
        CHECK_NEAR(r->lr0, 0.0015, 1e-12); /* lr_peak / (B_eff / nbs) */
        CHECK_EQ_INT(r->b_eff, 64);
        CHECK_EQ_INT(r->accumulate, 16);
        CHECK_STR(notes, "");
        expect(d, DOCTOR_NONFINITE_STEPS, DOCTOR_WARNING, "step 5", NULL);
        expect(d, DOCTOR_BN_SMALL_BATCH, DOCTOR_NOTE, "accumulate 16 does not change that", NULL);
        expect(d, DOCTOR_NO_WARMUP, DOCTOR_WARNING, "step 0", NULL);
        CHECK_EQ_INT(doctor_count(d), 3); /* the unvalidated epoch 2 (zeros) is no collapse */
        doctor_free(d);
    }
    /* malformed rows name file:line */
    write_file(dir, "results.csv", "epoch,train/box_loss,train/cls_loss,train/dfl_loss\n1,5,3,2\n2,5,x,2\n");
    st = doctor_read_run(dir, &d, NULL, 0);
    CHECK(st == YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "results.csv:3: column 'train/cls_loss': 'x' is not a number");
    write_file(dir, "results.csv", "epoch,train/box_loss,train/cls_loss,train/dfl_loss\n1,5,3\n");
    st = doctor_read_run(dir, &d, NULL, 0);
    CHECK(st == YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "results.csv:2: 3 fields, the header has 4 columns");
    /* an Ultralytics run: padded headers, no steps.csv, no derived block */
    char ul[512];
    snprintf(ul, sizeof ul, "%s/ul", tmp);
    CHECK(mkdir(ul, 0755) == 0);
    write_file(ul, "args.yaml", "task: detect\noptimizer: SGD\nlr0: 0.15\nbatch: 16\nnbs: 64\nwarmup_epochs: 3.0\n");
    char res[4096] = "                  epoch,      train/box_loss,      train/cls_loss,      train/dfl_loss,   "
                     "metrics/precision(B),      metrics/recall(B),       metrics/mAP50(B),    metrics/mAP50-95(B),"
                     "        val/box_loss,        val/cls_loss,        val/dfl_loss,               lr/pg0,"
                     "               lr/pg1,               lr/pg2\n";
    const double vl[] = {4.0, 3.0, 4.1, 2.9, 4.2, 2.8};
    for (int e = 0; e < 6; e++) {
        char row[400];
        snprintf(row, sizeof row, "%23d,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g,%20g\n", e + 1, 1.5,
                 1.5, 1.2, 0.5, 0.5, 0.5, 0.3, vl[e] / 3, vl[e] / 3, vl[e] / 3, 0.1, 0.15, 0.15);
        strcat(res, row);
    }
    write_file(ul, "results.csv", res);
    st = doctor_read_run(ul, &d, notes, sizeof notes);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (d) {
        dump("Ultralytics run", d);
        CHECK_CONTAINS(notes, "no steps.csv");
        CHECK_EQ_INT(doctor_get_run(d)->accumulate, 4); /* Ultralytics' round(nbs / batch) */
        expect(d, DOCTOR_VAL_OSCILLATION, DOCTOR_WARNING, "epochs 1-5: validation loss 4, 3, 4.1, 2.9, 4.2", NULL);
        expect(d, DOCTOR_LR_HIGH, DOCTOR_ERROR, "epoch 1 (at its end): the weights' lr 0.15", NULL);
        CHECK_EQ_INT(doctor_count(d), 2);
        doctor_free(d);
    }
    /* not a run directory */
    st = doctor_read_run(tmp, &d, NULL, 0);
    CHECK(st == YOLOC_ERR_NOT_FOUND);
    CHECK_CONTAINS(yoloc_last_error(), "neither steps.csv nor results.csv");
    CHECK(d == NULL);
}

/* The doctor reads the run's recipe back (args.yaml's derived block, as
 * the trainer writes it) instead of re-deriving it from the keys. The keys
 * here say batch -1 and lr_scale sqrt: a re-derivation would get other
 * values than the recipe's. */
static void test_reads_recipe(const char *dir) {
    config c;
    CHECK_EQ_INT(config_init(&c), YOLOC_OK);
    CHECK_EQ_INT(config_set(&c, "epochs", "30", "test"), YOLOC_OK);
    CHECK_EQ_INT(config_set(&c, "batch", "16", "test"), YOLOC_OK);
    recipe_facts f = {.processes = 1, .train_images = 205, .nc = 3};
    recipe r;
    CHECK_EQ_INT(recipe_resolve(&c, &f, NULL, &r), YOLOC_OK);
    CHECK_EQ_INT(config_set(&c, "batch", "-1", "test"), YOLOC_OK);
    CHECK_EQ_INT(config_set(&c, "lr_scale", "sqrt", "test"), YOLOC_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/recipe_args.yaml", dir);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (!fp) return;
    config_write_yaml(&c, fp);
    recipe_write_yaml(&r, fp);
    fclose(fp);
    doctor_run run;
    CHECK_EQ_INT(doctor_read_args(path, &run), YOLOC_OK);
    CHECK_STR(run.optimizer, "AdamW");
    CHECK_NEAR(run.lr0, 0.001429, 1e-12);
    CHECK_NEAR(run.lr_peak, r.lp.lr_peak, 1e-12);
    CHECK_STR(run.lr_scale, "linear");
    CHECK_EQ_INT(run.batch, 16);
    CHECK_EQ_INT(run.accumulate, 4);
    CHECK_EQ_INT(run.b_eff, 64);
    CHECK_EQ_INT(run.total_steps, 120);
    CHECK_EQ_INT(run.warmup_steps, 12);
    CHECK_STR(run.norm, "bn");
    config_free(&c);
}

int main(void) {
    char tmp[] = "/tmp/yoloc_doctor_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_healthy();
    test_lr_band();
    test_warmup();
    test_divergence();
    test_spikes_and_nonfinite();
    test_plateau();
    test_oscillation();
    test_bn();
    test_live_and_outputs(tmp);
    test_read_run(tmp);
    test_reads_recipe(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("test_doctor");
}
