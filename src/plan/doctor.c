/* The run doctor (see doctor.h): checks over step and epoch rows, the
 * findings' evidence and next settings, and the reader of a run directory. */
#include "plan/doctor.h"

#include "core/log.h"
#include "io/file.h"
#include "io/json.h"
#include "io/yaml.h"
#include "train/lrbatch.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------ */
/* Thresholds, each with its reason. */

#define MED_WIN      32   /* running median over the last 32 finite steps: robust to single spikes */
#define MED_MIN_N    8    /* no spike verdicts before 8 steps of history */
#define RISE_MIN_N   16   /* the running-median rise needs a half-full window */
#define SPIKE_LOSS   3.0  /* a step's loss > 3x the running median: a loss spike */
#define SPIKE_GN     10.0 /* gradient norms vary ~5x between healthy steps (mosaic, few targets) */
#define EXPLODE_LOSS 10.0 /* > 10x: the loss is exploding, not a single bad batch */
#define EXPLODE_GN   100.0
#define RISE_FACTOR  3.0  /* the running median of the loss tripling from its lowest: divergence */
#define VAL_HIGH     10.0 /* val loss > 10x the training loss: the EMA / validation model blew up */
#define VAL_LOW      0.01 /* val loss < 1/100 of the training loss: it collapsed (nothing assigned) */
#define BAND_FAR     3.0  /* "far" outside the band: a factor 3 */
#define BAND_ERR     10.0 /* an error at 10x the band's top (or lr0-equivalent >= 0.1) */
#define LR_DIVERGE   0.1  /* at or above 0.1 a YOLO model diverges in the first epochs */
#define WARMUP_MIN   LRB_LARGE_BATCH_WARMUP /* epochs of warmup for a large B_eff (lrbatch.h's rule) */
#define PLATEAU_MIN  100  /* steps in the plateau window, at least: the means of its halves need ~50 steps */
#define PLATEAU_MAX  1000
#define PLATEAU_GAIN 0.01 /* less than 1 % better over the window: not moving ... */
#define PLATEAU_SURE 0.04 /* ... and surely (2 standard errors) less than 4 % */
#define PLATEAU_TAIL 0.5  /* windows with the LR below half its peak are the decay's, not a stall */
#define OSC_WIN      10   /* validated epochs looked at */
#define OSC_MIN_N    5
#define OSC_CHANGES  3
#define OSC_FRAC     0.6
#define OSC_LOSS     0.05 /* typical swing >= 5 % of the val loss */
#define OSC_MAP      0.10 /* ... or >= 10 % of the best mAP50-95 */
#define OSC_MAP_MIN  0.02 /* mAP below this is noise around zero */
#define MAX_EX       4    /* examples kept per finding */

static const char *KIND_NAMES[] = {
#define DOCTOR_KIND_STR(e, s) s,
    DOCTOR_KIND_MAP(DOCTOR_KIND_STR)
#undef DOCTOR_KIND_STR
};

const char *doctor_kind_name(doctor_kind k) {
    return k >= 0 && k < DOCTOR_KIND_COUNT ? KIND_NAMES[k] : "?";
}

const char *doctor_severity_name(doctor_severity s) {
    return s == DOCTOR_ERROR ? "error" : s == DOCTOR_WARNING ? "warning" : "note";
}

/* ------------------------------------------------------------------------ */
/* State. */

/* What one occurrence was (how it is rendered). */
enum {
    EV_LOSS = 1,     /* a step's loss against the running median */
    EV_GN,           /* a step's gradient norm against its running median */
    EV_RISE,         /* the running median of the loss rose */
    EV_TRAIN_NF,     /* an epoch's training loss non-finite */
    EV_VAL_NF,       /* validation loss non-finite */
    EV_VAL_HIGH,     /* validation loss >> training loss */
    EV_VAL_LOW,      /* validation loss << training loss */
    EV_SKIP,         /* a skipped step */
    EV_LR,           /* an LR value */
    EV_STATIC,       /* from the settings */
    EV_WINDOW,       /* a plateau window */
    EV_OSC_LOSS,     /* val loss oscillation */
    EV_OSC_MAP,      /* mAP oscillation */
};

typedef struct {
    int what;
    long step, step2;
    int epoch, epoch2;
    double a, b, c, level; /* values (meaning per `what`) */
    double lr;             /* the weights' LR then */
} event;

typedef struct {
    int active, printed;
    long seq;
    long count;
    int nex;
    event ex[MAX_EX];
    event worst;
    int have_worst;
    char series[2][160]; /* oscillation: the value lists */
    doctor_finding f;
} slot;

struct doctor {
    doctor_run run;
    int band;                 /* the optimizer's band is known */
    double band_lo, band_hi, typical, err_at;
    double to_nbs;            /* lr x to_nbs = lr0-equivalent */
    slot s[DOCTOR_KIND_COUNT];
    long seq;
    /* steps */
    long nsteps, first_step, last_step;
    int last_epoch;
    int started;
    double ring_loss[MED_WIN], ring_gn[MED_WIN];
    int ring_n, ring_i;
    double med_min;
    long med_min_step;
    int rise_seen;
    double max_lrn, max_lr;   /* highest lr0-equivalent / applied weights' LR seen */
    long max_lr_step;
    int lr_low_checked;
    long run_bad, max_run_bad; /* consecutive skipped steps */
    /* plateau window (total loss, step, weights' LR of finite steps) */
    double *pl_loss, *pl_lr;
    long *pl_step;
    int pl_cap, pl_n, pl_i, pl_pushes;
    double pl_sum1, pl_sum2;  /* sums of the window's older and newer halves */
    double pl_sq1, pl_sq2;    /* their sums of squares */
    long pl_last_hit;
    /* epochs */
    int nepochs, nvalidated;
    double ov_loss[OSC_WIN], ov_map[OSC_WIN];
    int ov_epoch[OSC_WIN];
    int ov_n;
    double val_min;
    int val_min_epoch;
};

static void app(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void app(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* A value for a suggestion: two significant digits ("0.01", "0.0005"). */
static void fmt_lr(char *buf, size_t cap, double v) {
    snprintf(buf, cap, "%.2g", v);
    /* %g may write 1e-05: fine for the key=value parser, but spell small
     * values out when it stays short */
    if (strchr(buf, 'e') && v >= 1e-4) snprintf(buf, cap, "%.6f", v);
    if (strchr(buf, '.') && !strchr(buf, 'e')) { /* trailing zeros of %f */
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '0') buf[--n] = 0;
        if (n > 1 && buf[n - 1] == '.') buf[--n] = 0;
    }
}

status doctor_create(doctor **out, const doctor_run *run) {
    *out = NULL;
    doctor *d = calloc(1, sizeof *d);
    if (!d) return err_set(YOLOC_ERR_NOMEM, "out of memory (doctor)");
    if (run) d->run = *run;
    doctor_run *r = &d->run;
    if (!r->have_settings) r->warmup_steps = -1;
    if (strcasecmp(r->optimizer, "SGD") == 0) {
        d->band = 1;
        d->band_lo = 0.008, d->band_hi = 0.02, d->typical = 0.01;
    } else if (strcasecmp(r->optimizer, "AdamW") == 0 || strcasecmp(r->optimizer, "Adam") == 0) {
        d->band = 1;
        d->band_lo = 3e-4, d->band_hi = 1e-3, d->typical = 1e-3;
    }
    d->err_at = fmin(LR_DIVERGE, BAND_ERR * d->band_hi);
    d->to_nbs = r->lr0 > 0 && r->lr_peak > 0 ? r->lr0 / r->lr_peak : 1.0;
    long cap = 2 * r->steps_per_epoch;
    d->pl_cap = (int)(cap < PLATEAU_MIN ? PLATEAU_MIN : cap > PLATEAU_MAX ? PLATEAU_MAX : cap);
    d->pl_loss = malloc((size_t)d->pl_cap * sizeof(double));
    d->pl_lr = malloc((size_t)d->pl_cap * sizeof(double));
    d->pl_step = malloc((size_t)d->pl_cap * sizeof(long));
    if (!d->pl_loss || !d->pl_lr || !d->pl_step) {
        doctor_free(d);
        return err_set(YOLOC_ERR_NOMEM, "out of memory (doctor)");
    }
    d->pl_last_hit = -1;
    d->first_step = d->last_step = -1;
    d->max_lr_step = -1;
    d->val_min = INFINITY;
    *out = d;
    return YOLOC_OK;
}

void doctor_free(doctor *d) {
    if (!d) return;
    free(d->pl_loss);
    free(d->pl_lr);
    free(d->pl_step);
    free(d);
}

const doctor_run *doctor_get_run(const doctor *d) { return &d->run; }

/* ------------------------------------------------------------------------ */
/* Rendering: each kind's evidence, severity and next setting from its
 * events. Called whenever a kind gets a new occurrence. */

static const char *opt_name(const doctor *d) { return d->run.optimizer[0] ? d->run.optimizer : "the optimizer"; }

static void band_text(const doctor *d, char *buf, size_t cap) {
    snprintf(buf, cap, "%s's usual band is %g-%g", opt_name(d), d->band_lo, d->band_hi);
}

/* A lower lr0 for the next run: half the lr0-equivalent where the trouble
 * showed, at most the band's usual value. */
static double lower_lr0(const doctor *d, double lr_applied) {
    double at = lr_applied > 0 ? lr_applied * d->to_nbs : d->max_lrn > 0 ? d->max_lrn : d->run.lr0;
    double v = at > 0 ? 0.5 * at : 0;
    if (d->band && (v <= 0 || v > d->typical)) v = d->typical;
    return v;
}

static void sugg_lower(const doctor *d, double lr_applied, int warmup, char *buf, size_t cap) {
    double v = lower_lr0(d, lr_applied);
    char lv[32];
    fmt_lr(lv, sizeof lv, v);
    buf[0] = 0;
    if (v > 0) app(buf, cap, "lr0=%s", lv);
    if (warmup && d->run.have_settings && d->run.warmup_epochs < WARMUP_MIN)
        app(buf, cap, "%swarmup_epochs=3", buf[0] ? " " : "");
    if (d->run.have_settings && d->run.max_norm <= 0) app(buf, cap, "%smax_norm=10", buf[0] ? " " : "");
    if (!buf[0]) app(buf, cap, "lower lr0 (halve it)");
}

static void ev_text(const event *e, char *buf, size_t cap) {
    switch (e->what) {
    case EV_LOSS:
        app(buf, cap, "step %ld: loss %.4g = %.1fx its running median %.4g (lr %.3g)", e->step, e->a, e->a / e->b,
            e->b, e->lr);
        break;
    case EV_GN:
        app(buf, cap, "step %ld: gradient norm %.4g = %.1fx its running median %.4g (lr %.3g)", e->step, e->a,
            e->a / e->b, e->b, e->lr);
        break;
    case EV_RISE:
        app(buf, cap, "steps %ld-%ld: the running median of the loss rose from %.4g to %.4g (lr %.3g)", e->step2,
            e->step, e->b, e->a, e->lr);
        break;
    case EV_TRAIN_NF:
        app(buf, cap, "epoch %d: mean training loss %g", e->epoch, e->a);
        break;
    case EV_VAL_NF:
        app(buf, cap, "epoch %d: validation loss %g (training loss %.4g, lr %.3g)", e->epoch, e->a, e->b, e->lr);
        break;
    case EV_VAL_HIGH:
        if (e->c > 0)
            app(buf, cap, "epoch %d: validation loss %.4g = %.3gx its lowest %.4g (epoch %d; lr %.3g)", e->epoch,
                e->a, e->a / e->c, e->c, e->epoch2, e->lr);
        else
            app(buf, cap, "epoch %d: validation loss %.4g = %.3gx the training loss %.4g (lr %.3g): the EMA / "
                          "validation model blew up",
                e->epoch, e->a, e->a / e->b, e->b, e->lr);
        break;
    case EV_VAL_LOW:
        app(buf, cap,
            "epoch %d: validation loss %.4g against a training loss of %.4g (lr %.3g): the EMA / validation "
            "model collapsed (its predictions match no target)",
            e->epoch, e->a, e->b, e->lr);
        break;
    case EV_SKIP:
        app(buf, cap, "step %ld (lr %.3g)", e->step, e->lr);
        break;
    default:
        break;
    }
}

static void list_events(const slot *s, char *buf, size_t cap) {
    for (int i = 0; i < s->nex; i++) {
        if (i) app(buf, cap, "; ");
        ev_text(&s->ex[i], buf, cap);
    }
}

static void render(doctor *d, doctor_kind k) {
    slot *s = &d->s[k];
    doctor_finding *f = &s->f;
    const doctor_run *r = &d->run;
    char *ev = f->evidence, *sg = f->suggestion, band[96], lv[32];
    size_t ec = sizeof f->evidence, sc = sizeof f->suggestion;
    ev[0] = sg[0] = 0;
    if (d->band) band_text(d, band, sizeof band);
    else snprintf(band, sizeof band, "the optimizer is not known");
    const event *e0 = &s->ex[0];
    switch (k) {
    case DOCTOR_DIVERGENCE:
        f->severity = DOCTOR_ERROR;
        if (s->count > s->nex) app(ev, ec, "%ld signs; the first: ", s->count);
        list_events(s, ev, ec);
        sugg_lower(d, e0->lr, 1, sg, sc);
        app(sg, sc, " (a lower peak%s keeps the weights and BatchNorm statistics from blowing up)",
            r->have_settings && r->warmup_epochs < WARMUP_MIN ? " reached over a warmup" : "");
        break;
    case DOCTOR_NONFINITE_STEPS:
        /* an error once the trainer rolled back, or when more than 5 % of the steps were lost */
        f->severity = d->max_run_bad >= 3 || (s->count >= 3 && s->count * 20 > d->nsteps) ? DOCTOR_ERROR
                                                                                        : DOCTOR_WARNING;
        app(ev, ec, "%ld optimizer step%s skipped for a non-finite loss or gradient: ", s->count,
            s->count == 1 ? "" : "s");
        list_events(s, ev, ec);
        if (s->count > s->nex) app(ev, ec, ", ...");
        app(ev, ec, "; at most %ld in a row%s", d->max_run_bad,
            d->max_run_bad >= 3 ? " (3 in a row roll back to the start of the epoch and halve the LR)" : "");
        sugg_lower(d, e0->lr, 1, sg, sc);
        app(sg, sc, " (non-finite steps come from steps too large for the loss surface)");
        break;
    case DOCTOR_LR_HIGH: {
        double lrn = s->worst.a * d->to_nbs;
        f->severity = lrn >= d->err_at ? DOCTOR_ERROR : DOCTOR_WARNING;
        if (e0->step >= 0) app(ev, ec, "step %ld: the weights' lr %.4g", e0->step, e0->a);
        else app(ev, ec, "epoch %d (at its end): the weights' lr %.4g", e0->epoch, e0->a);
        if (fabs(d->to_nbs - 1) > 1e-9 || r->b_eff != r->nbs)
            app(ev, ec, " = lr0-equivalent %.4g at nbs %d (B_eff %ld, lr_scale %s)", e0->a * d->to_nbs, r->nbs,
                r->b_eff, r->lr_scale[0] ? r->lr_scale : "?");
        if (s->worst.a > e0->a) {
            if (s->worst.step >= 0) app(ev, ec, ", up to %.4g at step %ld", s->worst.a, s->worst.step);
            else app(ev, ec, ", up to %.4g (epoch %d)", s->worst.a, s->worst.epoch);
        }
        if (s->count > 1)
            app(ev, ec, " (%ld %s above %gx the band's top)", s->count, e0->step >= 0 ? "steps" : "epochs", BAND_FAR);
        app(ev, ec, "; %s at nbs%s", band, lrn >= LR_DIVERGE ? ", and at 0.1 or above YOLO training diverges" : "");
        fmt_lr(lv, sizeof lv, d->typical);
        if (r->lr_scale[0] && strcmp(r->lr_scale, "none") != 0 && r->b_eff > 0 && r->b_eff != r->nbs)
            snprintf(sg, sc, "lr0=%s (inside the band; lr_scale=%s scales it to B_eff %ld)", lv, r->lr_scale, r->b_eff);
        else
            snprintf(sg, sc, "lr0=%s (inside the band)", lv);
        break;
    }
    case DOCTOR_LR_LOW:
        f->severity = DOCTOR_WARNING;
        if (e0->step >= 0)
            app(ev, ec, "the peak: step %ld, the weights' lr %.4g = lr0-equivalent %.4g", e0->step, e0->a,
                e0->a * d->to_nbs);
        else
            app(ev, ec, "lr0 %.4g (the run ended before its peak)", e0->b);
        app(ev, ec, ", %.3gx below the bottom of the band; %s at nbs: progress crawls",
            d->band_lo / (e0->step >= 0 ? e0->a * d->to_nbs : e0->b), band);
        fmt_lr(lv, sizeof lv, d->typical);
        snprintf(sg, sc, "lr0=%s (inside the band)", lv);
        break;
    case DOCTOR_NO_WARMUP:
        f->severity = DOCTOR_WARNING;
        app(ev, ec, "warmup_epochs=%g (%s): ", r->warmup_epochs,
            r->warmup_steps >= 0 ? "no warmup steps" : "no warmup");
        if (e0->step >= 0) app(ev, ec, "step %ld already ran at the weights' lr %.4g", e0->step, e0->a);
        else app(ev, ec, "epoch %d ended at the weights' lr %.4g", e0->epoch, e0->a);
        if (e0->step >= 0 && r->lr_peak > 0 && e0->a >= 0.999 * r->lr_peak) app(ev, ec, ", the peak");
        if (r->b_eff > 0) app(ev, ec, ", with B_eff %ld", r->b_eff);
        if (s->nex > 1) {
            app(ev, ec, "; in the first epoch: ");
            int k2 = 0;
            for (int i = 1; i < s->nex; i++) {
                if (k2++) app(ev, ec, "; ");
                ev_text(&s->ex[i], ev, ec);
            }
        }
        snprintf(sg, sc, "warmup_epochs=3 (a linear ramp over the first 3 epochs of optimizer steps lets momentum "
                         "and BatchNorm statistics settle before the peak)");
        break;
    case DOCTOR_SHORT_WARMUP: {
        f->severity = DOCTOR_WARNING;
        int k2 = 0;
        for (int i = 0; i < s->nex; i++) {
            if (k2++) app(ev, ec, "; ");
            if (s->ex[i].what == EV_STATIC)
                app(ev, ec, "warmup of %ld steps (%g epochs) for B_eff %ld = %.3gx nbs: the scaled lr %.4g is reached "
                            "after %ld steps",
                    r->warmup_steps, r->warmup_epochs, r->b_eff, (double)r->b_eff / (r->nbs ? r->nbs : 1), r->lr_peak,
                    r->warmup_steps);
            else {
                if (k2 == 1 || s->ex[i - 1].what == EV_STATIC)
                    app(ev, ec, "spikes during the %ld-step warmup or the epoch after it: ", r->warmup_steps);
                ev_text(&s->ex[i], ev, ec);
            }
        }
        double w = fmax(WARMUP_MIN, ceil(2 * r->warmup_epochs));
        snprintf(sg, sc, "warmup_epochs=%g (a longer ramp for a large effective batch)", w);
        break;
    }
    case DOCTOR_LOSS_SPIKES:
        f->severity = DOCTOR_WARNING;
        app(ev, ec, "%ld spike%s: ", s->count, s->count == 1 ? "" : "s");
        list_events(s, ev, ec);
        if (s->count > s->nex) app(ev, ec, "; ...");
        sugg_lower(d, e0->lr, 0, sg, sc);
        app(sg, sc, " (spikes at this LR: the steps are too large for the noise of batch %ld)",
            r->b_eff > 0 ? r->b_eff : (long)r->batch);
        break;
    case DOCTOR_PLATEAU:
        f->severity = DOCTOR_WARNING;
        app(ev, ec,
            "steps %ld-%ld: the mean loss of the first and second half went from %.4g to %.4g (%+.2f%% +- %.2f%%) "
            "with the weights' lr at most %.4g "
            "(lr0-equivalent %.4g; the run's highest %.4g); %s at nbs",
            e0->step, e0->step2, e0->a, e0->b, 100 * (e0->b - e0->a) / e0->a, 200 * e0->c, e0->lr,
            e0->lr * d->to_nbs, d->max_lrn,
            band);
        fmt_lr(lv, sizeof lv, d->typical);
        snprintf(sg, sc, "lr0=%s (the LR never reached the band: a stall, not convergence)", lv);
        break;
    case DOCTOR_VAL_OSCILLATION: {
        f->severity = DOCTOR_WARNING;
        int k2 = 0;
        for (int i = 0; i < s->nex; i++) {
            const event *e = &s->ex[i];
            if (e->what != EV_OSC_LOSS && e->what != EV_OSC_MAP) continue;
            if (k2++) app(ev, ec, "; ");
            app(ev, ec, "epochs %d-%d: %s %s: %d changes of direction in %d differences, a typical swing of %.3g "
                        "(%.0f%% of %s)",
                e->epoch2, e->epoch, e->what == EV_OSC_LOSS ? "validation loss" : "mAP50-95",
                s->series[e->what == EV_OSC_MAP], (int)e->a, (int)e->b, e->c, 100 * e->c / e->level,
                e->what == EV_OSC_LOSS ? "its median" : "the best");
            app(ev, ec, " (lr %.3g)", e->lr);
        }
        sugg_lower(d, e0->lr > 0 ? e0->lr : d->max_lr, 0, sg, sc);
        app(sg, sc, " (or a bigger batch: the epochs disagree more than training explains)");
        break;
    }
    case DOCTOR_BN_SMALL_BATCH: {
        int per = r->batch, total = r->batch * (r->processes > 0 ? r->processes : 1);
        int sync = strcmp(r->norm, "syncbn") == 0 && r->processes > 1;
        int n = sync ? total : per;
        f->severity = n < LRB_BN_WARN_BATCH ? DOCTOR_WARNING : DOCTOR_NOTE;
        app(ev, ec, "batch=%d per process x %d process%s with norm=%s: every BatchNorm layer normalises over %d "
                    "image%s",
            per, r->processes > 0 ? r->processes : 1, r->processes > 1 ? "es" : "", r->norm, n, n == 1 ? "" : "s");
        if (r->accumulate > 1) app(ev, ec, " (accumulate %d does not change that)", r->accumulate);
        app(ev, ec, "; statistics over fewer than %d images are noisy and the running statistics drift", LRB_BN_MIN_BATCH);
        if (r->processes > 1 && !sync)
            snprintf(sg, sc, "norm=syncbn (statistics over all %d images of the processes; or norm=gn)", total);
        else
            snprintf(sg, sc, "norm=gn (GroupNorm does not depend on the batch; or batch=%d if memory allows, "
                             "accumulate keeps B_eff)",
                     LRB_BN_MIN_BATCH * 2);
        break;
    }
    default:
        break;
    }
}

/* Records one occurrence of a kind; the first makes it a finding. */
static void add_event(doctor *d, doctor_kind k, const event *e, int worse) {
    slot *s = &d->s[k];
    if (!s->active) {
        s->active = 1;
        s->seq = d->seq++;
        s->f.kind = k;
        s->f.step = e->step;
        s->f.epoch = e->epoch;
    }
    if (s->f.step < 0 && e->step >= 0) s->f.step = e->step;
    if (s->f.epoch <= 0 && e->epoch > 0) s->f.epoch = e->epoch;
    s->count++;
    if (s->nex < MAX_EX) s->ex[s->nex++] = *e;
    if (!s->have_worst || worse) {
        s->worst = *e;
        s->have_worst = 1;
    }
    s->f.count = s->count;
    render(d, k);
}

/* ------------------------------------------------------------------------ */
/* Steps. */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double t[MED_WIN];
    memcpy(t, v, (size_t)n * sizeof(double));
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* At the first row: the checks of the settings alone. */
static void static_checks(doctor *d, long step, int epoch, double lr) {
    const doctor_run *r = &d->run;
    if (!r->have_settings) return;
    event e = {.what = EV_STATIC, .step = step, .step2 = -1, .epoch = epoch, .a = lr, .lr = lr};
    if (r->warmup_steps == 0 || (r->warmup_steps < 0 && r->warmup_epochs <= 0)) add_event(d, DOCTOR_NO_WARMUP, &e, 0);
    else if (r->warmup_steps > 0 && r->warmup_epochs < WARMUP_MIN && r->nbs > 0 && lrb_large_batch(r->b_eff, r->nbs))
        add_event(d, DOCTOR_SHORT_WARMUP, &e, 0);
    int per_process = strcmp(r->norm, "bn") == 0 || (strcmp(r->norm, "syncbn") == 0 && r->processes <= 1);
    int synced = strcmp(r->norm, "syncbn") == 0 && r->processes > 1;
    if (r->batch > 0 && ((per_process && r->batch < LRB_BN_MIN_BATCH) || (synced && (long)r->batch * r->processes < LRB_BN_MIN_BATCH)))
        add_event(d, DOCTOR_BN_SMALL_BATCH, &e, 0);
}

/* A spike in the warmup or the epoch after it also speaks about warmup. */
static void warmup_spike(doctor *d, const event *e) {
    const doctor_run *r = &d->run;
    if (!r->have_settings || r->steps_per_epoch <= 0) return;
    long w = r->warmup_steps > 0 ? r->warmup_steps : 0;
    if (e->step >= w + r->steps_per_epoch) return;
    if (w == 0) {
        if (d->s[DOCTOR_NO_WARMUP].active) add_event(d, DOCTOR_NO_WARMUP, e, 0);
    } else {
        add_event(d, DOCTOR_SHORT_WARMUP, e, 0);
    }
}

/* Adds a finite step to the plateau window, keeping the sums of its two
 * halves (recomputed once per window length against rounding drift). */
static void plateau_push(doctor *d, double loss, double lr, long step) {
    int W = d->pl_cap, h = W / 2;
    if (d->pl_n == W) {
        double old = d->pl_loss[d->pl_i], mid = d->pl_loss[(d->pl_i + h) % W];
        d->pl_sum1 += mid - old;
        d->pl_sum2 += loss - mid;
        d->pl_sq1 += mid * mid - old * old;
        d->pl_sq2 += loss * loss - mid * mid;
    }
    d->pl_loss[d->pl_i] = loss;
    d->pl_lr[d->pl_i] = lr;
    d->pl_step[d->pl_i] = step;
    d->pl_i = (d->pl_i + 1) % W;
    if (d->pl_n < W) d->pl_n++;
    if (d->pl_n == W && (++d->pl_pushes == 1 || d->pl_pushes % W == 0)) {
        d->pl_sum1 = d->pl_sum2 = d->pl_sq1 = d->pl_sq2 = 0;
        for (int j = 0; j < W; j++) {
            double v = d->pl_loss[(d->pl_i + j) % W];
            if (j < h) d->pl_sum1 += v, d->pl_sq1 += v * v;
            else d->pl_sum2 += v, d->pl_sq2 += v * v;
        }
    }
}

static void plateau_check(doctor *d, long step) {
    int W = d->pl_cap;
    if (d->pl_n < W || !d->band || d->max_lrn <= 0 || d->max_lrn >= d->band_lo) return;
    if (d->pl_last_hit >= 0 && step < d->pl_last_hit + W) return; /* one verdict per window */
    int oldest = d->pl_i; /* ring full: the next write position is the oldest */
    long first = d->pl_step[oldest];
    if (d->run.warmup_steps > 0 && first < d->run.warmup_steps) return;
    double n1 = W / 2, n2 = W - W / 2, m1 = d->pl_sum1 / n1, m2 = d->pl_sum2 / n2;
    if (!(m1 > 0) || (m1 - m2) / m1 >= PLATEAU_GAIN) return;
    /* the standard error of the change (noisy step losses: a falling loss
     * may look flat over one window) */
    double v1 = fmax(0, d->pl_sq1 / n1 - m1 * m1), v2 = fmax(0, d->pl_sq2 / n2 - m2 * m2);
    double se = sqrt(v1 / n1 + v2 / n2) / m1;
    if ((m1 - m2) / m1 + 2 * se >= PLATEAU_SURE) return;
    double lrmax = 0, lrmin = INFINITY;
    for (int j = 0; j < W; j++) {
        lrmax = fmax(lrmax, d->pl_lr[j]);
        lrmin = fmin(lrmin, d->pl_lr[j]);
    }
    if (lrmin < PLATEAU_TAIL * d->max_lr) return; /* the schedule's annealing: a flat loss is convergence */
    event e = {.what = EV_WINDOW, .step = first, .step2 = step, .epoch = 0, .a = m1, .b = m2, .c = se, .lr = lrmax};
    d->pl_last_hit = step;
    add_event(d, DOCTOR_PLATEAU, &e, 0);
}

/* The weights' LR at a step (or, without step rows, at an epoch's end)
 * against the band. */
static void lr_check(doctor *d, long step, int epoch, double lr) {
    double lrn = lr * d->to_nbs;
    if (isfinite(lr) && lr > d->max_lr) {
        d->max_lr = lr;
        d->max_lrn = lrn;
        d->max_lr_step = step;
    }
    if (d->band && isfinite(lrn) && lrn > BAND_FAR * d->band_hi) {
        event e = {.what = EV_LR, .step = step, .epoch = epoch, .a = lr, .lr = lr};
        const slot *sl = &d->s[DOCTOR_LR_HIGH];
        add_event(d, DOCTOR_LR_HIGH, &e, !sl->have_worst || lr > sl->worst.a);
    }
}

void doctor_add_step(doctor *d, const doctor_step *s) {
    const doctor_run *r = &d->run;
    if (!d->started) {
        d->started = 1;
        d->first_step = s->step;
        static_checks(d, s->step, s->epoch, s->lr[1]);
    }
    d->nsteps++;
    d->last_step = s->step;
    d->last_epoch = s->epoch;
    double lr = s->lr[1];
    double tot = s->loss[0] + s->loss[1] + s->loss[2];
    lr_check(d, s->step, s->epoch, lr);
    if (!d->lr_low_checked && r->have_settings && r->warmup_steps >= 0 && s->step >= r->warmup_steps) {
        d->lr_low_checked = 1; /* the peak is reached at the end of warmup */
        if (d->band && d->max_lrn > 0 && d->max_lrn * BAND_FAR <= d->band_lo) {
            event e = {.what = EV_LR, .step = d->max_lr_step, .epoch = s->epoch, .a = d->max_lr, .lr = d->max_lr};
            add_event(d, DOCTOR_LR_LOW, &e, 0);
        }
    }
    /* skipped steps */
    int bad = s->skipped || !isfinite(tot) || !isfinite(s->grad_norm);
    if (bad) {
        d->run_bad++;
        if (d->run_bad > d->max_run_bad) d->max_run_bad = d->run_bad;
        event e = {.what = EV_SKIP, .step = s->step, .epoch = s->epoch, .a = s->grad_norm, .lr = lr};
        add_event(d, DOCTOR_NONFINITE_STEPS, &e, 0);
        return;
    }
    d->run_bad = 0;
    /* spikes and explosions against the running medians */
    if (d->ring_n >= MED_MIN_N) {
        double med = median(d->ring_loss, d->ring_n), gmed = median(d->ring_gn, d->ring_n);
        event e = {.step = s->step, .step2 = -1, .epoch = s->epoch, .lr = lr};
        if (med > 0 && tot > SPIKE_LOSS * med) {
            e.what = EV_LOSS, e.a = tot, e.b = med;
            if (tot > EXPLODE_LOSS * med) add_event(d, DOCTOR_DIVERGENCE, &e, 0);
            else {
                add_event(d, DOCTOR_LOSS_SPIKES, &e, 0);
                warmup_spike(d, &e);
            }
        }
        if (gmed > 0 && s->grad_norm > SPIKE_GN * gmed) {
            e.what = EV_GN, e.a = s->grad_norm, e.b = gmed;
            if (s->grad_norm > EXPLODE_GN * gmed) add_event(d, DOCTOR_DIVERGENCE, &e, 0);
            else {
                add_event(d, DOCTOR_LOSS_SPIKES, &e, 0);
                warmup_spike(d, &e);
            }
        }
    }
    d->ring_loss[d->ring_i] = tot;
    d->ring_gn[d->ring_i] = s->grad_norm;
    d->ring_i = (d->ring_i + 1) % MED_WIN;
    if (d->ring_n < MED_WIN) d->ring_n++;
    /* a sustained rise of the loss */
    if (d->ring_n >= RISE_MIN_N) {
        double med = median(d->ring_loss, d->ring_n);
        if (d->med_min <= 0 || med < d->med_min) {
            d->med_min = med;
            d->med_min_step = s->step;
        } else if (!d->rise_seen && med > RISE_FACTOR * d->med_min) {
            d->rise_seen = 1;
            event e = {.what = EV_RISE, .step = s->step, .step2 = d->med_min_step, .epoch = s->epoch, .a = med,
                       .b = d->med_min, .lr = lr};
            add_event(d, DOCTOR_DIVERGENCE, &e, 0);
        }
    }
    plateau_push(d, tot, lr, s->step);
    plateau_check(d, s->step);
}

/* ------------------------------------------------------------------------ */
/* Epochs. */

/* Changes of direction in x[0..n): returns 1 when the series oscillates
 * (enough changes, in enough of the differences, with a typical swing of
 * at least min_swing). */
static int oscillates(const double *x, int n, double min_swing, int *changes, int *ndiff, double *swing) {
    double absd[OSC_WIN];
    int nd = 0, ch = 0, prev = 0;
    for (int i = 1; i < n; i++) {
        double dx = x[i] - x[i - 1];
        absd[nd++] = fabs(dx);
        int sg = dx > 0 ? 1 : dx < 0 ? -1 : 0;
        if (sg && prev && sg != prev) ch++;
        if (sg) prev = sg;
    }
    *changes = ch;
    *ndiff = nd;
    *swing = nd ? median(absd, nd) : 0;
    return n >= OSC_MIN_N && ch >= OSC_CHANGES && ch >= OSC_FRAC * (nd - 1) && *swing >= min_swing;
}

static void series_text(char *buf, size_t cap, const double *x, int n) {
    buf[0] = 0;
    for (int i = 0; i < n; i++) app(buf, cap, "%s%.3g", i ? ", " : "", x[i]);
}

/* Over the window of validated epochs: the val loss (finite, not blown up)
 * and mAP50-95, each reported once, at the epoch it is first seen. */
static void oscillation_check(doctor *d, double lr) {
    slot *s = &d->s[DOCTOR_VAL_OSCILLATION];
    int n = d->ov_n;
    if (n < OSC_MIN_N) return;
    double x[2][OSC_WIN], best = 0;
    int ep[2][OSC_WIN], m[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (isfinite(d->ov_loss[i])) ep[0][m[0]] = d->ov_epoch[i], x[0][m[0]++] = d->ov_loss[i];
        ep[1][m[1]] = d->ov_epoch[i], x[1][m[1]++] = d->ov_map[i];
        best = fmax(best, d->ov_map[i]);
    }
    for (int which = 0; which < 2; which++) {
        int what = which ? EV_OSC_MAP : EV_OSC_LOSS, seen = 0;
        for (int i = 0; i < s->nex; i++) seen |= s->ex[i].what == what;
        if (seen || m[which] < OSC_MIN_N) continue;
        double level, sorted[OSC_WIN], sw;
        if (which == 0) { /* the median val loss */
            memcpy(sorted, x[0], (size_t)m[0] * sizeof(double));
            qsort(sorted, (size_t)m[0], sizeof(double), cmp_double);
            level = sorted[m[0] / 2];
        } else {
            level = best >= OSC_MAP_MIN ? best : 0; /* below: noise around zero */
        }
        int ch, nd;
        if (!(level > 0) || !oscillates(x[which], m[which], (which ? OSC_MAP : OSC_LOSS) * level, &ch, &nd, &sw))
            continue;
        event e = {.what = what, .step = -1, .step2 = -1, .epoch = ep[which][m[which] - 1], .epoch2 = ep[which][0],
                   .a = ch, .b = nd, .c = sw, .level = level, .lr = lr};
        series_text(s->series[which], sizeof s->series[which], x[which], m[which]);
        add_event(d, DOCTOR_VAL_OSCILLATION, &e, 0);
    }
}

void doctor_add_epoch(doctor *d, const doctor_epoch *ep) {
    d->nepochs++;
    if (!d->started) { /* no step rows (e.g. an Ultralytics run): the settings and LR from the epochs */
        d->started = 1;
        static_checks(d, -1, ep->epoch, ep->lr);
    }
    if (d->nsteps == 0) lr_check(d, -1, ep->epoch, ep->lr);
    d->last_epoch = ep->epoch > d->last_epoch ? ep->epoch : d->last_epoch;
    double tr = ep->loss[0] + ep->loss[1] + ep->loss[2];
    event e = {.step = -1, .step2 = -1, .epoch = ep->epoch, .b = tr, .lr = ep->lr};
    if (!isfinite(tr)) {
        e.what = EV_TRAIN_NF, e.a = tr;
        add_event(d, DOCTOR_DIVERGENCE, &e, 0);
    }
    if (!ep->validated) return;
    d->nvalidated++;
    double v = ep->val_loss[0] + ep->val_loss[1] + ep->val_loss[2];
    int sick = 1;
    e.a = v;
    if (!isfinite(v)) e.what = EV_VAL_NF;
    else if (isfinite(tr) && tr > 0 && v > VAL_HIGH * tr) e.what = EV_VAL_HIGH;
    else if (isfinite(tr) && tr > 0 && v < VAL_LOW * tr) e.what = EV_VAL_LOW;
    else if (isfinite(d->val_min) && d->val_min > 0 && v > VAL_HIGH * d->val_min) {
        e.what = EV_VAL_HIGH, e.c = d->val_min, e.epoch2 = d->val_min_epoch;
    } else sick = 0;
    if (sick) add_event(d, DOCTOR_DIVERGENCE, &e, 0);
    else if (v < d->val_min) {
        d->val_min = v;
        d->val_min_epoch = ep->epoch;
    }
    /* the window of validated epochs */
    if (d->ov_n == OSC_WIN) {
        memmove(d->ov_loss, d->ov_loss + 1, (OSC_WIN - 1) * sizeof(double));
        memmove(d->ov_map, d->ov_map + 1, (OSC_WIN - 1) * sizeof(double));
        memmove(d->ov_epoch, d->ov_epoch + 1, (OSC_WIN - 1) * sizeof(int));
        d->ov_n--;
    }
    d->ov_loss[d->ov_n] = sick ? NAN : v; /* a blown-up value is divergence, not oscillation */
    d->ov_map[d->ov_n] = isfinite(ep->map5095) ? ep->map5095 : 0;
    d->ov_epoch[d->ov_n] = ep->epoch;
    d->ov_n++;
    oscillation_check(d, ep->lr);
}

void doctor_finish(doctor *d) {
    const doctor_run *r = &d->run;
    if (!d->lr_low_checked && d->band && r->have_settings) {
        d->lr_low_checked = 1;
        double lr0 = r->lr0 > 0 ? r->lr0 : d->max_lrn;
        if (lr0 > 0 && lr0 * BAND_FAR <= d->band_lo) {
            event e = {.what = EV_LR, .step = -1, .epoch = d->last_epoch, .a = d->max_lr, .b = lr0, .lr = d->max_lr};
            add_event(d, DOCTOR_LR_LOW, &e, 0);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Findings and reports. */

/* Report order: most severe first, then by appearance. */
static int order(const doctor *d, int idx[DOCTOR_KIND_COUNT]) {
    int n = 0;
    for (int k = 0; k < DOCTOR_KIND_COUNT; k++)
        if (d->s[k].active) idx[n++] = k;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            const slot *a = &d->s[idx[j - 1]], *b = &d->s[idx[j]];
            if (a->f.severity > b->f.severity || (a->f.severity == b->f.severity && a->seq < b->seq)) break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return n;
}

size_t doctor_count(const doctor *d) {
    size_t n = 0;
    for (int k = 0; k < DOCTOR_KIND_COUNT; k++) n += d->s[k].active != 0;
    return n;
}

const doctor_finding *doctor_get(const doctor *d, size_t i) {
    int idx[DOCTOR_KIND_COUNT];
    int n = order(d, idx);
    return i < (size_t)n ? &d->s[idx[i]].f : NULL;
}

const doctor_finding *doctor_find(const doctor *d, doctor_kind k) {
    return k >= 0 && k < DOCTOR_KIND_COUNT && d->s[k].active ? &d->s[k].f : NULL;
}

void doctor_tally(const doctor *d, int *notes, int *warnings, int *errors) {
    int c[3] = {0, 0, 0};
    for (int k = 0; k < DOCTOR_KIND_COUNT; k++)
        if (d->s[k].active) c[d->s[k].f.severity]++;
    if (notes) *notes = c[DOCTOR_NOTE];
    if (warnings) *warnings = c[DOCTOR_WARNING];
    if (errors) *errors = c[DOCTOR_ERROR];
}

int doctor_print_new(doctor *d, FILE *f, const char *prefix) {
    int printed = 0;
    for (;;) { /* in order of appearance */
        slot *next = NULL;
        for (int k = 0; k < DOCTOR_KIND_COUNT; k++) {
            slot *s = &d->s[k];
            if (s->active && !s->printed && (!next || s->seq < next->seq)) next = s;
        }
        if (!next) break;
        next->printed = 1;
        fprintf(f, "%s%s %s: %s -> next: %s\n", prefix ? prefix : "", doctor_severity_name(next->f.severity),
                doctor_kind_name(next->f.kind), next->f.evidence, next->f.suggestion);
        printed++;
    }
    if (printed) fflush(f);
    return printed;
}

void doctor_next_settings(const doctor *d, char *buf, size_t cap) {
    int idx[DOCTOR_KIND_COUNT];
    int n = order(d, idx);
    buf[0] = 0;
    char keys[16][32];
    int nk = 0;
    for (int i = 0; i < n; i++) {
        const char *p = d->s[idx[i]].f.suggestion;
        for (;;) { /* leading key=value tokens */
            while (*p == ' ') p++;
            size_t len = strcspn(p, " ");
            const char *eq = memchr(p, '=', len);
            if (!len || !eq || eq == p) break;
            size_t kl = (size_t)(eq - p);
            int seen = 0;
            for (int j = 0; j < nk; j++) seen |= strlen(keys[j]) == kl && strncmp(keys[j], p, kl) == 0;
            if (!seen && nk < 16 && kl < sizeof keys[0]) {
                memcpy(keys[nk], p, kl);
                keys[nk++][kl] = 0;
                app(buf, cap, "%s%.*s", buf[0] ? " " : "", (int)len, p);
            }
            p += len;
        }
    }
}

static void settings_line(const doctor *d, char *buf, size_t cap) {
    const doctor_run *r = &d->run;
    buf[0] = 0;
    if (!r->have_settings) {
        snprintf(buf, cap, "unknown (no args.yaml): the checks that need them are off");
        return;
    }
    app(buf, cap, "%s lr0 %g", r->optimizer[0] ? r->optimizer : "optimizer ?", r->lr0);
    if (r->lr_peak > 0) app(buf, cap, " (peak %g)", r->lr_peak);
    app(buf, cap, ", B_eff %ld = batch %d x %d process%s x accumulate %d (nbs %d, lr_scale %s), norm=%s", r->b_eff,
        r->batch, r->processes, r->processes == 1 ? "" : "es", r->accumulate, r->nbs,
        r->lr_scale[0] ? r->lr_scale : "?", r->norm[0] ? r->norm : "?");
    if (r->warmup_steps >= 0) app(buf, cap, ", warmup %ld steps (%g epochs)", r->warmup_steps, r->warmup_epochs);
    else app(buf, cap, ", warmup %g epochs", r->warmup_epochs);
    if (r->total_steps > 0) app(buf, cap, ", %ld steps (%ld per epoch)", r->total_steps, r->steps_per_epoch);
}

void doctor_print_report(const doctor *d, const char *run_dir, FILE *f) {
    char line[1024];
    if (run_dir) fprintf(f, "run: %s\n", run_dir);
    settings_line(d, line, sizeof line);
    fprintf(f, "settings: %s\n", line);
    fprintf(f, "checked: %ld optimizer steps", d->nsteps);
    if (d->nsteps) fprintf(f, " (%ld-%ld)", d->first_step, d->last_step);
    fprintf(f, ", %d epochs (%d validated)\n", d->nepochs, d->nvalidated);
    int idx[DOCTOR_KIND_COUNT];
    int n = order(d, idx);
    for (int i = 0; i < n; i++) {
        const doctor_finding *x = &d->s[idx[i]].f;
        fprintf(f, "%-7s %s: %s\n        next: %s\n", doctor_severity_name(x->severity), doctor_kind_name(x->kind),
                x->evidence, x->suggestion);
    }
    int notes, warnings, errors;
    doctor_tally(d, &notes, &warnings, &errors);
    char next[512];
    doctor_next_settings(d, next, sizeof next);
    if (errors + warnings == 0) {
        fprintf(f, "no LR/batch problems found");
        if (notes) fprintf(f, " (%d note%s above)", notes, notes == 1 ? "" : "s");
        fprintf(f, "\n");
        return;
    }
    if (next[0]) fprintf(f, "next run: %s\n", next);
    fprintf(f, "%d finding%s: %d error%s, %d warning%s, %d note%s\n", n, n == 1 ? "" : "s", errors,
            errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", notes, notes == 1 ? "" : "s");
}

status doctor_write_json(const doctor *d, const char *run_dir, const char *path) {
    sbuf b;
    sbuf_init(&b);
    char line[1024], next[512];
    settings_line(d, line, sizeof line);
    doctor_next_settings(d, next, sizeof next);
    sbuf_printf(&b, "{\n\"run\": ");
    sbuf_json_string(&b, run_dir ? run_dir : "");
    sbuf_printf(&b, ",\n\"settings\": ");
    sbuf_json_string(&b, line);
    sbuf_printf(&b, ",\n\"steps_checked\": %ld,\n\"epochs_checked\": %d,\n\"findings\": [", d->nsteps, d->nepochs);
    int idx[DOCTOR_KIND_COUNT];
    int n = order(d, idx);
    for (int i = 0; i < n; i++) {
        const doctor_finding *x = &d->s[idx[i]].f;
        sbuf_printf(&b, "%s\n{\"kind\": \"%s\", \"severity\": \"%s\", \"step\": %ld, \"epoch\": %d, \"count\": %ld, "
                        "\"evidence\": ",
                    i ? "," : "", doctor_kind_name(x->kind), doctor_severity_name(x->severity), x->step, x->epoch,
                    x->count);
        sbuf_json_string(&b, x->evidence);
        sbuf_printf(&b, ", \"suggestion\": ");
        sbuf_json_string(&b, x->suggestion);
        sbuf_printf(&b, "}");
    }
    sbuf_printf(&b, "%s],\n\"next\": ", n ? "\n" : "");
    sbuf_json_string(&b, next);
    sbuf_printf(&b, "\n}\n");
    if (b.failed) {
        sbuf_free(&b);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    }
    status st = file_write_atomic(path, b.buf, b.len);
    sbuf_free(&b);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Reading a run directory. */

static void copy_str(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

static status y_double(const ydoc *doc, const ynode *map, const char *key, double *out) {
    const ynode *n = ynode_get(map, key);
    if (!n || ynode_is_null(n)) return YOLOC_OK;
    return ynode_double(doc, n, key, out);
}

static const char *y_str(const ynode *map, const char *key) {
    const ynode *n = ynode_get(map, key);
    return n && n->kind == YNODE_SCALAR ? n->str : NULL;
}

status doctor_read_args(const char *path, doctor_run *r) {
    memset(r, 0, sizeof *r);
    ydoc doc;
    TRY(ydoc_load_file(&doc, path));
    status st = YOLOC_OK;
    const ynode *m = doc.root;
    if (!m || m->kind != YNODE_MAP) {
        st = err_set(YOLOC_ERR_PARSE, "%s: expected a mapping of key: value (a run's args.yaml)", path);
        goto done;
    }
    const ynode *dv = ynode_get(m, "derived");
    if (dv && dv->kind != YNODE_MAP) dv = NULL;
    double lr0 = 0, nbs = 64, batch = 0, wep = 3, epochs = 0, max_norm = 10, margin = 0.15;
    double procs = 1, acc = 0, beff = 0, peak = 0, dwep = -1, wsteps = -1, spe = 0, total = 0, dlr0 = 0;
    double dbatch = 0, dfactor = 0;
    TRY_GOTO(st, y_double(&doc, m, "lr0", &lr0));
    TRY_GOTO(st, y_double(&doc, m, "nbs", &nbs));
    TRY_GOTO(st, y_double(&doc, m, "batch", &batch));
    TRY_GOTO(st, y_double(&doc, m, "warmup_epochs", &wep));
    TRY_GOTO(st, y_double(&doc, m, "epochs", &epochs));
    TRY_GOTO(st, y_double(&doc, m, "max_norm", &max_norm));
    TRY_GOTO(st, y_double(&doc, m, "lr_scale_margin", &margin));
    const char *opt_key = y_str(m, "optimizer"), *opt = opt_key, *norm = y_str(m, "norm");
    const char *rule = y_str(m, "lr_scale"), *sched = y_str(m, "sched");
    int was_auto = opt_key && strcasecmp(opt_key, "auto") == 0;
    if (dv) {
        TRY_GOTO(st, y_double(&doc, dv, "processes", &procs));
        TRY_GOTO(st, y_double(&doc, dv, "accumulate", &acc));
        TRY_GOTO(st, y_double(&doc, dv, "b_eff", &beff));
        TRY_GOTO(st, y_double(&doc, dv, "lr_peak", &peak));
        TRY_GOTO(st, y_double(&doc, dv, "lr0", &dlr0));
        TRY_GOTO(st, y_double(&doc, dv, "warmup_epochs", &dwep));
        TRY_GOTO(st, y_double(&doc, dv, "warmup_steps", &wsteps));
        TRY_GOTO(st, y_double(&doc, dv, "steps_per_epoch", &spe));
        TRY_GOTO(st, y_double(&doc, dv, "total_steps", &total));
        TRY_GOTO(st, y_double(&doc, dv, "batch", &dbatch));
        TRY_GOTO(st, y_double(&doc, dv, "lr_factor", &dfactor));
        if (y_str(dv, "optimizer")) opt = y_str(dv, "optimizer");
        if (y_str(dv, "norm")) norm = y_str(dv, "norm");
    }
    if (nbs < 1) nbs = 64;
    if (procs < 1) procs = 1;
    if (acc < 1) { /* no derived block (e.g. Ultralytics): its rule */
        double per = batch >= 1 ? batch * procs : 0;
        acc = lrb_accumulate_for((long)nbs, (long)per);
    }
    if (dbatch >= 1) batch = dbatch; /* the recipe's */
    else if (!(batch >= 1) || batch != floor(batch)) /* automatic batch (older runs): from the effective one */
        batch = beff > 0 ? beff / (procs * acc) : 0;
    if (beff <= 0) beff = batch * procs * acc;
    /* the scaling factor of the rule (lrbatch.h), for lr0 <-> peak */
    double factor = dfactor;
    if (sched && strcasecmp(sched, "ultralytics") == 0) rule = "none"; /* scaled through the summed loss */
    if (dv && y_str(dv, "lr_scale")) rule = y_str(dv, "lr_scale");
    lr_scale_rule lr_rule;
    if (factor > 0) {
        /* the recipe's factor (args.yaml's derived block) */
    } else if (rule && lr_scale_parse(rule, &lr_rule) == YOLOC_OK) { /* no recipe (Ultralytics, older runs): the rule */
        factor = lrb_lr_factor(lr_rule, (long)beff, (int)nbs, margin);
    } else {
        err_clear(); /* without lr_scale (Ultralytics) the LR is lr0 as is */
        factor = 1;
    }
    if (dlr0 > 0) lr0 = dlr0;
    else if (was_auto && peak > 0 && factor > 0) lr0 = peak / factor; /* optimizer=auto chose its own lr0 */
    if (peak <= 0) peak = lr0 * factor;
    r->have_settings = 1;
    copy_str(r->optimizer, sizeof r->optimizer, opt && strcasecmp(opt, "auto") != 0 ? opt : "");
    copy_str(r->lr_scale, sizeof r->lr_scale, rule ? rule : "none");
    copy_str(r->norm, sizeof r->norm, norm ? norm : "bn"); /* Ultralytics: BatchNorm */
    r->lr0 = lr0;
    r->lr_peak = peak;
    r->nbs = (int)nbs;
    r->batch = (int)batch;
    r->processes = (int)procs;
    r->accumulate = (int)acc;
    r->b_eff = (long)beff;
    r->warmup_epochs = dwep >= 0 ? dwep : wep;
    r->warmup_steps = (long)wsteps;
    r->steps_per_epoch = (long)spe;
    r->total_steps = (long)total;
    r->epochs = (int)epochs;
    r->max_norm = max_norm;
done:
fail:
    ydoc_free(&doc);
    return st;
}

/* A CSV file as a header and rows of numbers. A last line without its
 * newline (a run still writing it) is left out. */
typedef struct {
    char *text;
    int ncols;
    char *names[64];
    long nrows;
    double *v; /* nrows x ncols */
} csv;

static void csv_free(csv *c) {
    free(c->text);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static status csv_read(const char *path, csv *c) {
    memset(c, 0, sizeof *c);
    size_t len;
    TRY(file_read_all(path, (size_t)1 << 31, &c->text, &len));
    char *p = c->text, *nl = strchr(p, '\n');
    if (!nl) {
        csv_free(c);
        return err_set(YOLOC_ERR_PARSE, "%s: no header line", path);
    }
    *nl = 0;
    for (char *tok = p, *comma;; tok = comma + 1) {
        comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (c->ncols == 64) {
            csv_free(c);
            return err_set(YOLOC_ERR_PARSE, "%s:1: more than 64 columns", path);
        }
        c->names[c->ncols++] = trim(tok);
        if (!comma) break;
    }
    long rows = 0;
    for (char *q = nl + 1; *q; q++) rows += *q == '\n';
    c->v = malloc(((size_t)rows * (size_t)c->ncols + 1) * sizeof(double));
    if (!c->v) {
        csv_free(c);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    }
    long line = 1;
    for (char *row = nl + 1; *row; row = nl + 1) {
        line++;
        nl = strchr(row, '\n');
        if (!nl) break; /* still being written */
        *nl = 0;
        if (!*trim(row)) continue;
        int k = 0;
        for (char *tok = row, *comma;; tok = comma + 1, k++) {
            comma = strchr(tok, ',');
            if (comma) *comma = 0;
            if (k >= c->ncols) {
                status st = err_set(YOLOC_ERR_PARSE, "%s:%ld: more fields than the %d columns of the header", path,
                                    line, c->ncols);
                csv_free(c);
                return st;
            }
            char *t = trim(tok), *end;
            double x = strtod(t, &end);
            if (!*t || *end) {
                status st = err_set(YOLOC_ERR_PARSE, "%s:%ld: column '%s': '%s' is not a number", path, line,
                                    c->names[k], t);
                csv_free(c);
                return st;
            }
            c->v[c->nrows * c->ncols + k] = x;
            if (!comma) break;
        }
        if (k + 1 != c->ncols) {
            status st =
                err_set(YOLOC_ERR_PARSE, "%s:%ld: %d fields, the header has %d columns", path, line, k + 1, c->ncols);
            csv_free(c);
            return st;
        }
        c->nrows++;
    }
    return YOLOC_OK;
}

static int csv_col(const csv *c, const char *name) {
    for (int k = 0; k < c->ncols; k++)
        if (strcmp(c->names[k], name) == 0) return k;
    return -1;
}

/* The first three columns whose names start with `prefix` and end in _loss. */
static int csv_loss_cols(const csv *c, const char *prefix, int out[3]) {
    int n = 0;
    size_t pl = strlen(prefix);
    for (int k = 0; k < c->ncols && n < 3; k++) {
        size_t l = strlen(c->names[k]);
        if (l > 5 && strncmp(c->names[k], prefix, pl) == 0 && strcmp(c->names[k] + l - 5, "_loss") == 0 &&
            (pl || !strchr(c->names[k], '/')))
            out[n++] = k;
    }
    for (int k = n; k < 3; k++) out[k] = -1;
    return n;
}

static double cell(const csv *c, long r, int k) { return k >= 0 ? c->v[r * c->ncols + k] : 0; }

static int file_exists(const char *p) {
    FILE *f = fopen(p, "r");
    if (f) fclose(f);
    return f != NULL;
}

status doctor_read_run(const char *dir, doctor **out, char *notes, size_t cap) {
    *out = NULL;
    if (notes && cap) notes[0] = 0;
    char path[4200];
    doctor_run run;
    memset(&run, 0, sizeof run);
    snprintf(path, sizeof path, "%s/args.yaml", dir);
    if (file_exists(path)) TRY(doctor_read_args(path, &run));
    else if (notes) app(notes, cap, "%sno args.yaml: the checks that need the settings are off", notes[0] ? "; " : "");
    char sp[4200], rp[4200];
    snprintf(sp, sizeof sp, "%s/steps.csv", dir);
    snprintf(rp, sizeof rp, "%s/results.csv", dir);
    int have_s = file_exists(sp), have_r = file_exists(rp);
    if (!have_s && !have_r)
        return err_set(YOLOC_ERR_NOT_FOUND, "%s: neither steps.csv nor results.csv found (is it a run directory?)",
                       dir);
    if (!have_s && notes) app(notes, cap, "%sno steps.csv: the per-step checks are off", notes[0] ? "; " : "");
    if (!have_r && notes) app(notes, cap, "%sno results.csv: the per-epoch checks are off", notes[0] ? "; " : "");
    doctor *d;
    TRY(doctor_create(&d, &run));
    csv s = {0}, r = {0};
    status st = YOLOC_OK;
    if (have_s) {
        TRY_GOTO(st, csv_read(sp, &s));
        int cs = csv_col(&s, "step"), ce = csv_col(&s, "epoch"), cg = csv_col(&s, "grad_norm"), lr[3], lo[3];
        for (int k = 0; k < 3; k++) {
            char nm[16];
            snprintf(nm, sizeof nm, "lr/pg%d", k);
            lr[k] = csv_col(&s, nm);
        }
        int nl = csv_loss_cols(&s, "", lo);
        if (cs < 0 || lr[1] < 0 || cg < 0 || nl == 0) {
            st = err_set(YOLOC_ERR_PARSE, "%s:1: expected the columns step, lr/pg1, *_loss and grad_norm", sp);
            goto fail;
        }
        for (long i = 0; i < s.nrows; i++) {
            doctor_step row = {.step = (long)cell(&s, i, cs), .epoch = (int)cell(&s, i, ce),
                               .grad_norm = cell(&s, i, cg)};
            double sum = 0;
            for (int k = 0; k < 3; k++) {
                row.lr[k] = lr[k] >= 0 ? cell(&s, i, lr[k]) : cell(&s, i, lr[1]);
                row.loss[k] = cell(&s, i, lo[k]);
                sum += row.loss[k];
            }
            /* a step whose only batch had a non-finite loss is logged as zeros */
            row.skipped = !isfinite(sum) || !isfinite(row.grad_norm) || (row.grad_norm == 0 && sum == 0);
            doctor_add_step(d, &row);
        }
    }
    if (have_r) {
        TRY_GOTO(st, csv_read(rp, &r));
        int ce = csv_col(&r, "epoch"), tl[3], vl[3], cm = csv_col(&r, "metrics/mAP50-95(B)"),
            cm5 = csv_col(&r, "metrics/mAP50(B)"), clr = csv_col(&r, "lr/pg1");
        int ntl = csv_loss_cols(&r, "train/", tl), nvl = csv_loss_cols(&r, "val/", vl);
        if (ce < 0 || ntl == 0) {
            st = err_set(YOLOC_ERR_PARSE, "%s:1: expected the columns epoch and train/*_loss", rp);
            goto fail;
        }
        for (long i = 0; i < r.nrows; i++) {
            doctor_epoch row = {.epoch = (int)cell(&r, i, ce), .map50 = cell(&r, i, cm5),
                                .map5095 = cell(&r, i, cm), .lr = cell(&r, i, clr)};
            int any = row.map50 != 0 || row.map5095 != 0;
            for (int k = 0; k < 3; k++) {
                row.loss[k] = cell(&r, i, tl[k]);
                row.val_loss[k] = cell(&r, i, vl[k]);
                any |= row.val_loss[k] != 0; /* unvalidated epochs are logged as zeros */
            }
            row.validated = nvl > 0 && any;
            doctor_add_epoch(d, &row);
        }
    }
    doctor_finish(d);
    csv_free(&s);
    csv_free(&r);
    *out = d;
    return YOLOC_OK;
fail:
    csv_free(&s);
    csv_free(&r);
    doctor_free(d);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Live checks through the trainer's hooks. */

static void live_start(void *ctx, const train_start_info *s) {
    doctor_live *L = ctx;
    if (!s->lead) return;
    doctor_run r = {.have_settings = 1, .lr0 = s->lr0, .lr_peak = s->lr_peak, .nbs = s->nbs, .batch = s->batch,
                    .processes = s->processes, .accumulate = s->accumulate, .b_eff = s->b_eff,
                    .warmup_epochs = s->warmup_epochs, .warmup_steps = s->warmup_steps,
                    .steps_per_epoch = s->steps_per_epoch, .total_steps = s->total_steps, .epochs = s->epochs,
                    .max_norm = s->max_norm};
    snprintf(r.optimizer, sizeof r.optimizer, "%s", s->optimizer);
    snprintf(r.lr_scale, sizeof r.lr_scale, "%s", s->lr_scale);
    snprintf(r.norm, sizeof r.norm, "%s", s->norm);
    L->tty = s->tty;
    if (doctor_create(&L->doc, &r) < 0) {
        log_warn("doctor: live checks off: %s", yoloc_last_error());
        L->doc = NULL;
    }
}

static int live_step(void *ctx, const train_step_info *s) {
    doctor_live *L = ctx;
    if (!L->doc) return 0;
    doctor_step d = {.step = s->step, .epoch = s->epoch + 1, .grad_norm = s->grad_norm, .skipped = s->skipped};
    for (int k = 0; k < 3; k++) {
        d.lr[k] = s->lr[k];
        d.loss[k] = s->loss[k];
    }
    doctor_add_step(L->doc, &d);
    doctor_print_new(L->doc, stdout, L->tty ? "\ndoctor: " : "doctor: ");
    return 0;
}

static int live_epoch(void *ctx, const train_epoch_info *e) {
    doctor_live *L = ctx;
    if (!L->doc) return 0;
    doctor_epoch d = {.epoch = e->epoch + 1, .validated = e->validated, .map50 = e->map50, .map5095 = e->map5095,
                      .lr = e->lr[1]};
    for (int k = 0; k < 3; k++) {
        d.loss[k] = e->loss[k];
        d.val_loss[k] = e->val_loss[k];
    }
    doctor_add_epoch(L->doc, &d);
    doctor_print_new(L->doc, stdout, "doctor: ");
    return 0;
}

void doctor_live_hooks(doctor_live *L, train_hooks *h) {
    memset(L, 0, sizeof *L);
    memset(h, 0, sizeof *h);
    h->ctx = L;
    h->on_start = live_start;
    h->on_step = live_step;
    h->on_epoch = live_epoch;
}

void doctor_live_free(doctor_live *L) {
    doctor_free(L->doc);
    L->doc = NULL;
}
