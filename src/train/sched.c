/* LR and momentum schedules (see sched.h). */
#include "train/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sched_kind_name(sched_kind kind) {
    switch (kind) {
#define SCHED_KIND_NAME(e, s)                                                                      \
    case SCHED_##e:                                                                                \
        return s;
        SCHED_KIND_MAP(SCHED_KIND_NAME)
#undef SCHED_KIND_NAME
    default:
        return "unknown";
    }
}

status sched_kind_parse(const char *name, sched_kind *kind) {
    for (int k = 0; name && k < SCHED_KIND_COUNT; k++)
        if (strcasecmp(name, sched_kind_name((sched_kind)k)) == 0) {
            *kind = (sched_kind)k;
            return YOLOC_OK;
        }
    return err_set(YOLOC_ERR_INVALID, "sched=%s: expected cos, linear, step, const or ultralytics",
                   name ? name : "(null)");
}

void sched_config_default(sched_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = SCHED_COS; /* yoloc's default (sched=cos in options.def) */
    for (int g = 0; g < 3; g++) c->lr_peak[g] = 0.01;
    c->lrf = 0.01;
    c->warmup_start_factor = 0.0;
    c->warmup_bias_lr = 0.1;
    c->warmup_momentum = 0.8;
    c->momentum = 0.937;
    c->warmup_steps = 0;
    c->total_steps = 1;
    c->steps_per_epoch = 1;
    c->n_milestones = 2;
    c->milestones[0] = 0.8;
    c->milestones[1] = 0.9;
    c->epochs = 100;
    c->warmup_epochs = 3.0;
    c->cos_lr = 0;
    c->warmup_sets_momentum = 1;
    c->optim_momentum = 0.937;
    c->nbs = 64;
    c->batch = 16;
}

static int in_range(double x, double lo, double hi) {
    return isfinite(x) && x >= lo && x <= hi;
}

status sched_validate(const sched_config *c) {
    if ((int)c->kind < 0 || c->kind >= SCHED_KIND_COUNT)
        return err_set(YOLOC_ERR_INVALID, "sched: unknown kind %d", (int)c->kind);
    for (int g = 0; g < 3; g++)
        if (!in_range(c->lr_peak[g], 0, INFINITY))
            return err_set(YOLOC_ERR_INVALID, "lr0: group pg%d peak lr %g must be finite and >= 0",
                           g, c->lr_peak[g]);
    if (!in_range(c->lrf, 0, INFINITY))
        return err_set(YOLOC_ERR_INVALID, "lrf=%g must be finite and >= 0", c->lrf);
    if (!in_range(c->momentum, 0, INFINITY))
        return err_set(YOLOC_ERR_INVALID, "momentum=%g must be finite and >= 0", c->momentum);
    if (!in_range(c->warmup_momentum, 0, INFINITY))
        return err_set(YOLOC_ERR_INVALID, "warmup_momentum=%g must be finite and >= 0",
                       c->warmup_momentum);
    if (!in_range(c->warmup_bias_lr, 0, INFINITY))
        return err_set(YOLOC_ERR_INVALID, "warmup_bias_lr=%g must be finite and >= 0",
                       c->warmup_bias_lr);
    if (!in_range(c->warmup_start_factor, 0, 1))
        return err_set(YOLOC_ERR_INVALID, "warmup_start_factor=%g must be in [0, 1]",
                       c->warmup_start_factor);
    if (c->steps_per_epoch < 1)
        return err_set(YOLOC_ERR_INVALID, "steps_per_epoch=%ld must be >= 1", c->steps_per_epoch);
    if (c->kind == SCHED_ULTRALYTICS) {
        if (c->epochs < 1) return err_set(YOLOC_ERR_INVALID, "epochs=%d must be >= 1", c->epochs);
        if (!in_range(c->warmup_epochs, 0, INFINITY))
            return err_set(YOLOC_ERR_INVALID, "warmup_epochs=%g must be finite and >= 0",
                           c->warmup_epochs);
        if (!in_range(c->optim_momentum, 0, INFINITY))
            return err_set(YOLOC_ERR_INVALID, "momentum: optimizer momentum %g must be >= 0",
                           c->optim_momentum);
        if (c->nbs < 1) return err_set(YOLOC_ERR_INVALID, "nbs=%d must be >= 1", c->nbs);
        if (c->batch < 1) return err_set(YOLOC_ERR_INVALID, "batch=%d must be >= 1", c->batch);
        return YOLOC_OK;
    }
    if (c->total_steps < 1)
        return err_set(YOLOC_ERR_INVALID, "total_steps=%ld must be >= 1 (epochs x steps per epoch)",
                       c->total_steps);
    if (c->warmup_steps < 0)
        return err_set(YOLOC_ERR_INVALID, "warmup_steps=%ld must be >= 0", c->warmup_steps);
    if (c->kind == SCHED_STEP) {
        if (c->n_milestones < 1 || c->n_milestones > SCHED_MAX_MILESTONES)
            return err_set(YOLOC_ERR_INVALID, "milestones: %d given, expected 1 to %d",
                           c->n_milestones, SCHED_MAX_MILESTONES);
        for (int i = 0; i < c->n_milestones; i++)
            if (!(c->milestones[i] > 0 && c->milestones[i] <= 1) ||
                (i > 0 && !(c->milestones[i] > c->milestones[i - 1])))
                return err_set(YOLOC_ERR_INVALID,
                               "milestones: %g (number %d) must be in (0, 1] and increasing",
                               c->milestones[i], i + 1);
    }
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* yoloc kinds. */

static void yoloc_at(const sched_config *c, long t, sched_point *out) {
    const long T = c->total_steps;
    const long W = c->warmup_steps < T - 1 ? c->warmup_steps : T - 1;
    if (t < 0) t = 0;
    if (t > T - 1) t = T - 1;
    if (t < W) {
        const double f = (double)t / (double)W;
        const double s = c->warmup_start_factor;
        out->lr[0] = c->warmup_bias_lr + (c->lr_peak[0] - c->warmup_bias_lr) * f;
        for (int g = 1; g < 3; g++) out->lr[g] = c->lr_peak[g] * (s + (1 - s) * f);
        out->momentum = c->warmup_momentum + (c->momentum - c->warmup_momentum) * f;
        return;
    }
    const long span = T - 1 - W;
    const double p = span > 0 ? (double)(t - W) / (double)span : 1.0;
    double factor = 1.0;
    switch (c->kind) {
    case SCHED_COS:
        factor = c->lrf + (1 - c->lrf) * (1 + cos(M_PI * p)) / 2;
        break;
    case SCHED_LINEAR:
        factor = (1 - p) + c->lrf * p;
        break;
    case SCHED_STEP: {
        int n = 0;
        for (int i = 0; i < c->n_milestones; i++) n += p >= c->milestones[i];
        factor = n == c->n_milestones ? c->lrf : pow(c->lrf, (double)n / c->n_milestones);
        break;
    }
    case SCHED_CONST:
    default:
        factor = 1.0;
        break;
    }
    for (int g = 0; g < 3; g++) out->lr[g] = c->lr_peak[g] * factor;
    out->momentum = c->momentum;
}

/* ------------------------------------------------------------------------ */
/* Ultralytics 8.3. */

/* np.interp(x, [0, x1], [y0, y1]) for x1 > 0: clamped, y1 exactly at x1,
 * else slope*(x - 0) + y0 with slope = (y1 - y0)/(x1 - 0), as numpy computes. */
static double np_interp(double x, double x1, double y0, double y1) {
    if (x <= 0) return y0;
    if (x >= x1) return y1;
    return (y1 - y0) / (x1 - 0.0) * (x - 0.0) + y0;
}

static double ultra_lf(const sched_config *c, int epoch) {
    const double x = epoch, n = c->epochs;
    if (c->cos_lr) { /* one_cycle(1, lrf, epochs) */
        double h = (1 - cos(x * M_PI / n)) / 2;
        return (h > 0 ? h : 0) * (c->lrf - 1) + 1;
    }
    double r = 1 - x / n;
    return (r > 0 ? r : 0) * (1.0 - c->lrf) + c->lrf;
}

long sched_ultralytics_warmup_iters(const sched_config *c, long nb) {
    if (!(c->warmup_epochs > 0)) return -1;
    long nw = (long)nearbyint(c->warmup_epochs * (double)nb);
    return nw > 100 ? nw : 100;
}

void sched_ultralytics_at(const sched_config *c, long ni, int epoch, long nb, sched_point *out) {
    const long nw = sched_ultralytics_warmup_iters(c, nb);
    const double lf = ultra_lf(c, epoch);
    if (ni <= nw) {
        for (int g = 0; g < 3; g++)
            out->lr[g] = np_interp((double)ni, (double)nw, g == 0 ? c->warmup_bias_lr : 0.0,
                                   c->lr_peak[g] * lf);
        out->momentum = c->warmup_sets_momentum
                            ? np_interp((double)ni, (double)nw, c->warmup_momentum, c->momentum)
                            : c->optim_momentum;
        return;
    }
    for (int g = 0; g < 3; g++) out->lr[g] = c->lr_peak[g] * lf;
    out->momentum = c->warmup_sets_momentum && nw >= 0 ? c->momentum : c->optim_momentum;
}

int sched_ultralytics_accumulate(const sched_config *c, long ni, long nb) {
    const long nw = sched_ultralytics_warmup_iters(c, nb);
    const double ratio = (double)c->nbs / (double)c->batch;
    double a =
        ni <= nw ? nearbyint(np_interp((double)ni, (double)nw, 1.0, ratio)) : nearbyint(ratio);
    return a > 1 ? (int)a : 1;
}

void sched_at(const sched_config *c, long step, sched_point *out) {
    if (c->kind == SCHED_ULTRALYTICS) {
        if (step < 0) step = 0;
        sched_ultralytics_at(c, step, (int)(step / c->steps_per_epoch), c->steps_per_epoch, out);
        return;
    }
    yoloc_at(c, step, out);
}

/* ------------------------------------------------------------------------ */
/* Printing. */

static long sched_total(const sched_config *c) {
    return c->kind == SCHED_ULTRALYTICS ? (long)c->epochs * c->steps_per_epoch : c->total_steps;
}

static long sched_warmup(const sched_config *c) {
    if (c->kind == SCHED_ULTRALYTICS)
        return sched_ultralytics_warmup_iters(c, c->steps_per_epoch) + 1;
    return c->warmup_steps < c->total_steps - 1 ? c->warmup_steps : c->total_steps - 1;
}

static int long_cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

void sched_print(const sched_config *c, FILE *f) {
    const long T = sched_total(c), W = sched_warmup(c);
    const int ultra = c->kind == SCHED_ULTRALYTICS;
    long rows[16 + 2 * SCHED_MAX_MILESTONES];
    int n = 0;
    rows[n++] = 0;
    rows[n++] = 1;
    if (W > 0) {
        rows[n++] = W / 2;
        rows[n++] = W - 1;
        rows[n++] = W;
    }
    for (int q = 1; q < 4; q++) rows[n++] = T * q / 4;
    rows[n++] = T - 1;
    if (c->kind == SCHED_STEP)
        for (int i = 0; i < c->n_milestones; i++) { /* around each drop */
            long t = W + (long)ceil(c->milestones[i] * (double)(T - 1 - W));
            rows[n++] = t - 1;
            rows[n++] = t;
        }
    qsort(rows, (size_t)n, sizeof rows[0], long_cmp);
    if (ultra && W > 0)
        fprintf(f,
                "schedule ultralytics: %ld batches (%d epochs x %ld), warmup while batch <= %ld\n",
                T, c->epochs, c->steps_per_epoch, W - 1);
    else if (ultra)
        fprintf(f, "schedule ultralytics: %ld batches (%d epochs x %ld), no warmup\n", T, c->epochs,
                c->steps_per_epoch);
    else
        fprintf(f, "schedule %s: %ld optimizer steps, warmup %ld\n", sched_kind_name(c->kind), T,
                W);
    fprintf(f, "%10s %7s %12s %12s %12s %9s%s\n", ultra ? "batch" : "step", "epoch", "lr/pg0",
            "lr/pg1", "lr/pg2", "momentum", ultra ? " accumulate" : "");
    long last = -1;
    for (int i = 0; i < n; i++) {
        long t = rows[i];
        if (t < 0 || t >= T || t == last) continue;
        last = t;
        sched_point p;
        sched_at(c, t, &p);
        fprintf(f, "%10ld %7ld %12.6g %12.6g %12.6g %9.6g", t, t / c->steps_per_epoch, p.lr[0],
                p.lr[1], p.lr[2], p.momentum);
        if (ultra) fprintf(f, " %10d", sched_ultralytics_accumulate(c, t, c->steps_per_epoch));
        fputc('\n', f);
    }
}

status sched_write_csv(const sched_config *c, const char *path, long max_rows) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot write the schedule CSV", path);
    const long T = sched_total(c);
    const int ultra = c->kind == SCHED_ULTRALYTICS;
    const long stride = max_rows > 0 && T > max_rows ? (T + max_rows - 1) / max_rows : 1;
    fprintf(f, "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum%s\n", ultra ? ",accumulate" : "");
    for (long t = 0; t < T; t += stride) {
        for (int k = 0; k < 2; k++) {
            /* k = 1: the last step, when the stride skipped it */
            long s = k == 0 ? t : T - 1;
            if (k == 1 && !(t + stride >= T && s != t)) break;
            sched_point p;
            sched_at(c, s, &p);
            fprintf(f, "%ld,%ld,%.9g,%.9g,%.9g,%.9g", s, s / c->steps_per_epoch, p.lr[0], p.lr[1],
                    p.lr[2], p.momentum);
            if (ultra) fprintf(f, ",%d", sched_ultralytics_accumulate(c, s, c->steps_per_epoch));
            fputc('\n', f);
        }
    }
    if (ferror(f) | fclose(f))
        return err_set(YOLOC_ERR_IO, "%s: error writing the schedule CSV", path);
    return YOLOC_OK;
}
