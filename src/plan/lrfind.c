/* The LR range test (see lrfind.h). */
#include "plan/lrfind.h"

#include "core/kv.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/file.h"
#include "io/plot.h"
#include "train/optim.h"
#include "train/recipe.h"
#include "train/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the sweep and the smoothing ------------------------------------------ */

double lrf_lr_at(double lr_start, double lr_end, long steps, long step) {
    if (steps <= 1 || step <= 0) return lr_start;
    if (step >= steps - 1) return lr_end;
    double t = (double)step / (double)(steps - 1);
    return exp(log(lr_start) + t * (log(lr_end) - log(lr_start)));
}

void lrf_smoother_init(lrf_smoother *s, double beta) {
    memset(s, 0, sizeof *s);
    s->beta = beta;
    s->betan = 1.0;
}

double lrf_smoother_add(lrf_smoother *s, double x) {
    if (!isfinite(x)) return NAN;
    s->avg = s->beta * s->avg + (1.0 - s->beta) * x;
    s->betan *= s->beta;
    s->n++;
    double corr = 1.0 - s->betan;
    return corr > 0 ? s->avg / corr : x;
}

/* ---- the curve ---------------------------------------------------------------- */

status lrf_curve_init(lrf_curve *c, long cap, double beta, double diverge_factor) {
    memset(c, 0, sizeof *c);
    if (cap < 1) return err_set(YOLOC_ERR_INVALID, "lrfind: the sweep needs at least one step, got %ld", cap);
    if (!(beta >= 0 && beta < 1)) return err_set(YOLOC_ERR_INVALID, "lrfind: smoothing beta %g is not in [0, 1)", beta);
    if (!(diverge_factor > 1)) return err_set(YOLOC_ERR_INVALID, "lrfind: divergence factor %g must be > 1", diverge_factor);
    c->lr = malloc((size_t)cap * sizeof(double));
    c->loss = malloc((size_t)cap * sizeof(double));
    c->smooth = malloc((size_t)cap * sizeof(double));
    c->gnorm = malloc((size_t)cap * sizeof(double));
    if (!c->lr || !c->loss || !c->smooth || !c->gnorm) {
        lrf_curve_free(c);
        return err_set(YOLOC_ERR_NOMEM, "lrfind: out of memory for %ld points", cap);
    }
    c->cap = cap;
    lrf_smoother_init(&c->sm, beta);
    c->diverge_factor = diverge_factor;
    c->best = INFINITY;
    c->best_i = -1;
    c->stop = LRF_RUNNING;
    c->stop_i = -1;
    return YOLOC_OK;
}

void lrf_curve_free(lrf_curve *c) {
    free(c->lr);
    free(c->loss);
    free(c->smooth);
    free(c->gnorm);
    c->lr = c->loss = c->smooth = c->gnorm = NULL;
    c->n = c->cap = 0;
}

int lrf_curve_add(lrf_curve *c, double lr, double loss, double gnorm, int nonfinite_step) {
    if (c->stop != LRF_RUNNING || c->n >= c->cap) return 1;
    long i = c->n++;
    c->lr[i] = lr;
    c->loss[i] = loss;
    c->gnorm[i] = gnorm;
    if (nonfinite_step || !isfinite(loss)) {
        c->smooth[i] = NAN;
        c->stop = LRF_NONFINITE;
        c->stop_i = i;
        return 1;
    }
    double s = lrf_smoother_add(&c->sm, loss);
    c->smooth[i] = s;
    if (c->best_i < 0 || s < c->best) {
        c->best = s;
        c->best_i = i;
    }
    if (i > 0 && s > c->diverge_factor * c->best) {
        c->stop = LRF_DIVERGED;
        c->stop_i = i;
        return 1;
    }
    if (c->n >= c->cap) {
        c->stop = LRF_COMPLETED;
        return 1;
    }
    return 0;
}

/* ---- the suggestion ------------------------------------------------------------ */

void lrf_suggest(const double *lr, const double *smooth, long n, double skip_frac, lrf_suggestion *o) {
    memset(o, 0, sizeof *o);
    o->lr = o->lr_steep = o->lr_min = o->lr_min10 = o->loss_min = o->loss_ref = o->slope = o->drop = NAN;
    o->i_steep = o->i_min = -1;
    long u = 0; /* usable prefix */
    while (u < n && isfinite(smooth[u]) && isfinite(lr[u]) && lr[u] > 0 && (u == 0 || lr[u] > lr[u - 1])) u++;
    if (u < LRF_MIN_POINTS) {
        snprintf(o->reason, sizeof o->reason,
                 "no clear suggestion: only %ld usable point%s on the curve (at least %d needed): more lr_steps, or "
                 "a lower lr_start if the loss diverged at once",
                 u, u == 1 ? "" : "s", LRF_MIN_POINTS);
        return;
    }
    long skip = (long)ceil(skip_frac * (double)u);
    if (skip < 1) skip = 1;
    if (skip > u - 3) skip = u - 3;

    /* the minimum of the considered part, and the highest point before it */
    long im = skip;
    for (long i = skip; i < u; i++)
        if (smooth[i] < smooth[im]) im = i;
    double ref = smooth[skip];
    for (long i = skip; i <= im; i++)
        if (smooth[i] > ref) ref = smooth[i];
    o->have_min = 1;
    o->i_min = im;
    o->lr_min = lr[im];
    o->loss_min = smooth[im];
    o->lr_min10 = lr[im] / 10.0;
    o->loss_ref = ref;
    o->drop = (ref - smooth[im]) / (fabs(ref) > 0 ? fabs(ref) : 1.0);
    o->min_at_end = im == u - 1;

    /* the steepest descent on the way down to the minimum (beyond it the
     * loss is unstable: the decay after a spike is no descent), by central
     * differences on log10(lr) */
    double best = 0;
    for (long i = skip > 1 ? skip : 1; i <= im && i <= u - 2; i++) {
        double dx = log10(lr[i + 1]) - log10(lr[i - 1]);
        if (!(dx > 0)) continue;
        double sl = (smooth[i + 1] - smooth[i - 1]) / dx;
        if (sl < best) {
            best = sl;
            o->i_steep = i;
        }
    }
    if (o->i_steep >= 0) {
        o->have_steep = 1;
        o->lr_steep = lr[o->i_steep];
        o->slope = best;
    }

    if (!(o->drop >= LRF_MIN_DROP) || !o->have_steep) {
        int rose = smooth[u - 1] > 1.5 * smooth[im] && im <= skip + 1;
        snprintf(o->reason, sizeof o->reason,
                 "no clear suggestion: the smoothed loss fell only %.1f%% (from %.4g to %.4g) over lr %.3g to %.3g; %s",
                 100 * (o->drop > 0 ? o->drop : 0), ref, smooth[im], lr[skip], lr[u - 1],
                 rose ? "it only rose: lr_start is already too high (lower it)"
                      : "the curve is flat: widen the range (lower lr_start, higher lr_end) or run more lr_steps");
        return;
    }

    const char *why = NULL;
    char buf[200];
    long first = skip > 1 ? skip : 1;
    if (o->i_steep == first) {
        snprintf(buf, sizeof buf,
                 "the steepest descent is at the lower edge of the considered range (lr %.3g): the loss was probably "
                 "falling faster below it (lower lr_start)",
                 o->lr_steep);
        why = buf;
    } else if (log10(o->lr_min) - log10(o->lr_steep) > LRF_FAR) {
        snprintf(buf, sizeof buf,
                 "the steepest descent (lr %.3g) is %.1f decades below the minimum (lr %.3g): a local dip, while the "
                 "loss kept falling far beyond it",
                 o->lr_steep, log10(o->lr_min) - log10(o->lr_steep), o->lr_min);
        why = buf;
    }
    if (why) {
        o->pick = LRF_PICK_MIN10;
        o->lr = o->lr_min10;
        snprintf(o->reason, sizeof o->reason, "min/10, not the steepest descent: %s", why);
    } else {
        o->pick = LRF_PICK_STEEPEST;
        o->lr = o->lr_steep;
        snprintf(o->reason, sizeof o->reason,
                 "steepest descent of the smoothed loss (%.3g per decade of lr, %.0f%% of the way down from %.4g to "
                 "the minimum %.4g)",
                 o->slope, 100 * (ref - smooth[o->i_steep]) / (ref - smooth[im]), ref, smooth[im]);
    }
    if (o->min_at_end) {
        size_t k = strlen(o->reason);
        snprintf(o->reason + k, sizeof o->reason - k,
                 "; the loss was still falling at the end of the range (lr %.3g), so the minimum is only a lower "
                 "bound (raise lr_end)",
                 lr[u - 1]);
    }
}

/* ---- files ------------------------------------------------------------------ */

status lrf_write_csv(const char *path, const lrf_curve *c) {
    afile a;
    TRY(afile_open(&a, path));
    fprintf(a.fp, "step,lr,loss,smoothed_loss,grad_norm\n");
    for (long i = 0; i < c->n; i++)
        fprintf(a.fp, "%ld,%.9g,%.9g,%.9g,%.6g\n", i, c->lr[i], c->loss[i], c->smooth[i], c->gnorm[i]);
    return afile_commit(&a);
}

typedef struct {
    double x, y, w, h;       /* plot area in pixels */
    double xlo, xhi;         /* log10(lr) */
    double ylo, yhi;         /* loss */
} lrf_axes;

static double px_of(const lrf_axes *a, double lr) { return a->x + (log10(lr) - a->xlo) / (a->xhi - a->xlo) * a->w; }
static double py_of(const lrf_axes *a, double v) { return a->y + a->h - (v - a->ylo) / (a->yhi - a->ylo) * a->h; }

static void lrf_curve_line(cairo_t *cr, const lrf_axes *a, const double *lr, const double *y, long n, plot_rgb col,
                           double width) {
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    cairo_set_line_width(cr, width);
    int pen = 0;
    for (long i = 0; i < n; i++) {
        if (!isfinite(y[i]) || !(lr[i] > 0)) {
            pen = 0;
            continue;
        }
        double px = px_of(a, lr[i]), py = py_of(a, y[i]);
        if (pen) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py);
        pen = 1;
    }
    cairo_stroke(cr);
}

static void lrf_vline(cairo_t *cr, const lrf_axes *a, double lr, plot_rgb col, double width) {
    if (!(lr > 0) || !isfinite(lr)) return;
    double px = px_of(a, lr);
    if (px < a->x || px > a->x + a->w) return;
    double dash[2] = {6, 4};
    cairo_save(cr);
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    cairo_set_line_width(cr, width);
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, px, a->y);
    cairo_line_to(cr, px, a->y + a->h);
    cairo_stroke(cr);
    cairo_restore(cr);
}

status lrf_write_png(const char *path, const lrf_curve *c, const lrf_suggestion *s) {
    const int W = 1000, H = 640;
    const double font = 14;
    plot_canvas cv;
    TRY(plot_canvas_init(&cv, W, H));
    cairo_t *cr = cv.cr;
    lrf_axes a = {.x = font * 6, .y = font * 3.5, .w = W - font * 6 - font * 2, .h = H - font * 3.5 - font * 4.5};
    /* ranges: x over every recorded lr, y over the smoothed curve and the raw
     * losses below its top (spikes of the raw loss are clipped) */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    long top_n = c->stop_i > 1 ? c->stop_i : c->n; /* the diverging point itself does not set the scale */
    for (long i = 0; i < c->n; i++) {
        if (!(c->lr[i] > 0) || !isfinite(c->lr[i])) continue;
        xlo = fmin(xlo, log10(c->lr[i]));
        xhi = fmax(xhi, log10(c->lr[i]));
        if (isfinite(c->smooth[i])) {
            ylo = fmin(ylo, c->smooth[i]);
            if (i < top_n) yhi = fmax(yhi, c->smooth[i]);
        }
    }
    for (long i = 0; i < c->n; i++)
        if (isfinite(c->loss[i])) ylo = fmin(ylo, c->loss[i]);
    if (!(xhi >= xlo)) xlo = -7, xhi = 0;
    if (xhi - xlo < 1e-9) xlo -= 0.5, xhi += 0.5;
    if (!(yhi >= ylo)) ylo = 0, yhi = 1;
    if (yhi - ylo < 1e-12) ylo -= 0.5, yhi += 0.5;
    double pad = 0.05 * (yhi - ylo);
    a.xlo = xlo;
    a.xhi = xhi;
    a.ylo = ylo - pad;
    a.yhi = yhi + pad;

    /* grid, ticks and labels */
    double t[64];
    char buf[96];
    cairo_set_line_width(cr, 1);
    int ny = plot_nice_ticks(a.ylo, a.yhi, 6, t);
    for (int i = 0; i < ny; i++) {
        double py = py_of(&a, t[i]);
        if (py < a.y - 0.5 || py > a.y + a.h + 0.5) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, a.x, py);
        cairo_line_to(cr, a.x + a.w, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, "%g", t[i]);
        plot_text(cr, a.x - 5, py + font * 0.35, buf, font, 1, 0);
    }
    int nx = plot_log_ticks(pow(10, a.xlo), pow(10, a.xhi), t, 64);
    for (int i = 0; i < nx; i++) {
        double px = px_of(&a, t[i]);
        if (px < a.x - 0.5 || px > a.x + a.w + 0.5) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, a.y);
        cairo_line_to(cr, px, a.y + a.h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, "%g", t[i]);
        plot_text(cr, px, a.y + a.h + font * 1.3, buf, font, 0, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, a.x, a.y, a.w, a.h);
    cairo_stroke(cr);
    plot_text(cr, a.x + a.w / 2, H - font * 1.2, "learning rate (log scale)", font, 0, 0);
    plot_text(cr, font * 1.3, a.y + a.h / 2, "loss (sum of the terms)", font, 0, M_PI / 2);
    if (s->pick != LRF_PICK_NONE)
        snprintf(buf, sizeof buf, "LR range test: suggested lr %.3g (%s) at the run's batch", s->lr,
                 s->pick == LRF_PICK_STEEPEST ? "steepest descent" : "min/10");
    else
        snprintf(buf, sizeof buf, "LR range test: no clear suggestion");
    plot_text(cr, a.x + a.w / 2, font * 2, buf, font * 1.15, 0, 0);

    /* curves and marks, clipped to the plot area */
    plot_rgb raw = {0.75, 0.75, 0.75}, smooth = plot_series_colour(0), steep = plot_series_colour(1),
             min10 = plot_series_colour(2), div = plot_series_colour(3);
    cairo_save(cr);
    cairo_rectangle(cr, a.x, a.y, a.w, a.h);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    lrf_curve_line(cr, &a, c->lr, c->loss, c->n, raw, 1.0);
    lrf_curve_line(cr, &a, c->lr, c->smooth, c->n, smooth, 2.2);
    if (s->have_steep) lrf_vline(cr, &a, s->lr_steep, steep, s->pick == LRF_PICK_STEEPEST ? 2.5 : 1.2);
    if (s->have_min) lrf_vline(cr, &a, s->lr_min10, min10, s->pick == LRF_PICK_MIN10 ? 2.5 : 1.2);
    if (s->have_steep) {
        cairo_set_source_rgb(cr, steep.r, steep.g, steep.b);
        cairo_arc(cr, px_of(&a, s->lr_steep), py_of(&a, c->smooth[s->i_steep]), 5, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    if (s->have_min) {
        cairo_set_source_rgb(cr, min10.r, min10.g, min10.b);
        cairo_arc(cr, px_of(&a, s->lr_min), py_of(&a, s->loss_min), 5, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    if (c->stop_i >= 0 && c->stop_i < c->n) {
        long i = c->stop_i;
        double y = isfinite(c->smooth[i]) && c->smooth[i] < a.yhi ? c->smooth[i] : a.yhi - pad;
        double px = px_of(&a, c->lr[i]), py = py_of(&a, y), r = 6;
        cairo_set_source_rgb(cr, div.r, div.g, div.b);
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, px - r, py - r);
        cairo_line_to(cr, px + r, py + r);
        cairo_move_to(cr, px - r, py + r);
        cairo_line_to(cr, px + r, py - r);
        cairo_stroke(cr);
    }
    cairo_restore(cr);

    /* legend */
    char e[5][96];
    plot_rgb ec[5];
    int ne = 0;
    snprintf(e[ne], sizeof e[ne], "loss");
    ec[ne++] = raw;
    snprintf(e[ne], sizeof e[ne], "smoothed loss (beta %g)", c->sm.beta);
    ec[ne++] = smooth;
    if (s->have_steep) {
        snprintf(e[ne], sizeof e[ne], "steepest descent: lr %.3g%s", s->lr_steep,
                 s->pick == LRF_PICK_STEEPEST ? " (suggested)" : "");
        ec[ne++] = steep;
    }
    if (s->have_min) {
        snprintf(e[ne], sizeof e[ne], "min %.3g at lr %.3g; min/10: %.3g%s", s->loss_min, s->lr_min, s->lr_min10,
                 s->pick == LRF_PICK_MIN10 ? " (suggested)" : "");
        ec[ne++] = min10;
    }
    if (c->stop_i >= 0 && c->stop_i < c->n) {
        snprintf(e[ne], sizeof e[ne], "%s at lr %.3g", c->stop == LRF_NONFINITE ? "non-finite" : "diverged",
                 c->lr[c->stop_i]);
        ec[ne++] = div;
    }
    double lw = 0;
    for (int k = 0; k < ne; k++) {
        cairo_text_extents_t te;
        cairo_set_font_size(cr, font);
        cairo_text_extents(cr, e[k], &te);
        lw = fmax(lw, te.x_advance);
    }
    double bw = lw + font * 3.5, bh = ne * font * 1.4 + font * 0.6;
    /* bottom left: the range test's curve starts high on the left and falls
     * to the right, so that corner is usually empty */
    double bx = a.x + font * 0.5, by = a.y + a.h - bh - font * 0.5;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int k = 0; k < ne; k++) {
        double ly = by + font * 0.3 + (k + 0.5) * font * 1.4;
        cairo_set_source_rgb(cr, ec[k].r, ec[k].g, ec[k].b);
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, bx + font * 0.5, ly);
        cairo_line_to(cr, bx + font * 2.3, ly);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, bx + font * 2.8, ly + font * 0.35, e[k], font, -1, 0);
    }
    status st = plot_canvas_save(&cv, path);
    plot_canvas_free(&cv);
    return st;
}

/* ---- the test with the trainer ---------------------------------------------- */

static double hook_lr_at(void *ctx, long step) {
    const lrf_result *r = ctx;
    return lrf_lr_at(r->lr_start, r->lr_end, r->lr_steps, step);
}

static int hook_on_step(void *ctx, const train_step_info *s) {
    lrf_result *r = ctx;
    double loss = s->loss[0] + s->loss[1] + s->loss[2];
    return lrf_curve_add(&r->curve, s->lr[1], loss, s->grad_norm, s->skipped || !isfinite(s->grad_norm));
}

static status set_key(config *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static status set_key(config *c, const char *key, const char *fmt, ...) {
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return config_set(c, key, v, "lrfind");
}

/* The training's recipe (train/recipe.h) as the trainer will resolve it:
 * its optimizer (optimizer=auto resolved, and then set in c), effective
 * batch, LR factor, peak, optimizer steps per epoch and in all. */
static status plan_of(config *c, const dist *d, lrf_result *r) {
    if (c->batch < 1 || c->batch != floor(c->batch))
        return err_set(YOLOC_ERR_UNSUPPORTED, "key 'batch': lrfind needs a whole number of images per process, got %g",
                       c->batch);
    /* the training images and classes */
    dataset ds;
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    int classes[256];
    TRY(config_dataset_options(c, "train", classes, 256, &dopt));
    log_level lv = log_get_level();
    if (lv < LOG_WARN) log_set_level(LOG_WARN); /* the trainer prints the summary */
    status st = dataset_open(&ds, c->data, &dopt);
    log_set_level(lv);
    TRY(st);
    recipe_facts rf = {.processes = d->world, .train_images = (long)ds.train.nimages, .nc = ds.nc};
    dataset_close(&ds);
    if (rf.train_images < 1) return err_set(YOLOC_ERR_INVALID, "data=%s: the train split has no usable images", c->data);
    /* the training's recipe; its guard rails are the trainer's to apply
     * (and print) when the range test runs */
    recipe *rc = malloc(sizeof *rc);
    if (!rc) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    st = recipe_resolve(c, &rf, NULL, rc);
    if (st < 0 && rc->lp.refused) {
        err_clear();
        st = YOLOC_OK;
    }
    if (st == YOLOC_OK && rc->optimizer_auto) { /* the range test sweeps the optimizer the training will use */
        printf("lrfind: %s; the range test sweeps %s's LR (momentum %g)\n", rc->optimizer_reason,
               optim_kind_name(rc->optimizer), rc->momentum);
        st = set_key(c, "optimizer", "%s", optim_kind_name(rc->optimizer));
        if (st == YOLOC_OK) st = set_key(c, "momentum", "%.10g", rc->momentum);
        if (st == YOLOC_OK) st = set_key(c, "warmup_bias_lr", "%.10g", rc->warmup_bias_lr);
    }
    if (st == YOLOC_OK) {
        r->optimizer = optim_kind_name(rc->optimizer);
        r->lr_peak = rc->lp.lr_peak;
        r->training_steps = rc->lp.total_steps;
        r->b_eff = rc->lp.b_eff;
        r->nbs = rc->in.nbs;
        r->batch = rc->batch;
        r->processes = rc->processes;
        r->accumulate = rc->lp.accumulate;
        r->rule = rc->in.rule;
        r->lr_factor = rc->lp.lr_factor;
        r->steps_per_epoch = rc->lp.steps_per_epoch;
    }
    free(rc);
    return st;
}

long lrf_auto_steps(long training_steps, char *reason, size_t cap) {
    long want = (long)ceil(LRF_COST_FRAC * (double)training_steps);
    if (want < LRF_AUTO_MIN) {
        snprintf(reason, cap,
                 "%.0f%% of it would be %ld steps, too few for a curve: the minimum %d (raise epochs, or lr_steps=N)",
                 LRF_COST_FRAC * 100, want, LRF_AUTO_MIN);
        return LRF_AUTO_MIN;
    }
    if (want > LRF_AUTO_MAX) {
        snprintf(reason, cap, "%.0f%% of it would be %ld steps; %d are enough for the curve", LRF_COST_FRAC * 100, want,
                 LRF_AUTO_MAX);
        return LRF_AUTO_MAX;
    }
    snprintf(reason, cap, "%.0f%% of the training's steps", LRF_COST_FRAC * 100);
    return want;
}

double lrf_beta(long steps) {
    double b = steps > 0 ? 1.0 - 10.0 / (double)steps : LRF_BETA_MIN;
    return b < LRF_BETA_MIN ? LRF_BETA_MIN : b > LRF_BETA ? LRF_BETA : b;
}

void lrf_result_free(lrf_result *r) { lrf_curve_free(&r->curve); }

status lrf_run(config *c, dist *d, lrf_result *r) {
    memset(r, 0, sizeof *r);
    r->lr0 = r->lr0_steep = r->lr0_min10 = NAN;
    r->sug.lr = NAN;
    r->lr_start = c->lr_start;
    r->lr_end = c->lr_end;
    r->lr_steps = c->lr_steps;
    if (c->lr_steps > 0 && c->lr_steps < 5)
        return err_set(YOLOC_ERR_INVALID, "key 'lr_steps': a range test needs at least 5 steps (0: automatic), got %ld",
                       c->lr_steps);
    int resume = 0;
    if (parse_bool(c->resume, &resume) != 0 || resume)
        return err_set(YOLOC_ERR_INVALID, "key 'resume': a range test starts from the configured weights; resume is "
                                          "for trainings (use weights=... to start from a checkpoint)");
    if (strcmp(c->sched, "ultralytics") == 0)
        return err_set(YOLOC_ERR_INVALID,
                       "key 'sched': lrfind runs with yoloc's per-step loss convention; drop sched=ultralytics (at "
                       "B_eff = nbs the suggested lr0 means the same in both)");
    if (!c->given.project) TRY(set_key(c, "project", "runs/lrfind"));
    if (!c->given.name) TRY(set_key(c, "name", "exp"));
    TRY(plan_of(c, d, r));
    /* the sweep: its length from the training's steps, its range around
     * the training's peak */
    if (c->lr_steps > 0) {
        r->lr_steps = c->lr_steps;
        snprintf(r->steps_reason, sizeof r->steps_reason, "lr_steps=%ld given", c->lr_steps);
    } else {
        r->lr_steps = lrf_auto_steps(r->training_steps, r->steps_reason, sizeof r->steps_reason);
    }
    double peak = r->lr_peak > 0 ? r->lr_peak : 0.01;
    r->lr_start = c->lr_start > 0 ? c->lr_start : peak * LRF_RANGE_BELOW;
    r->lr_end = c->lr_end > 0 ? c->lr_end : peak * LRF_RANGE_ABOVE;
    if (!(r->lr_end > r->lr_start))
        return err_set(YOLOC_ERR_INVALID, "keys 'lr_start', 'lr_end': the range test needs 0 < lr_start < lr_end, got %g and %g",
                       r->lr_start, r->lr_end);
    r->beta = lrf_beta(r->lr_steps);
    /* epochs to cover the sweep, plus one: the trainer always validates
     * after its last epoch, and the hook ends the run before that */
    long spe = r->steps_per_epoch > 0 ? r->steps_per_epoch : 1;
    long epochs = (r->lr_steps + spe - 1) / spe + 1;
    if (epochs > 100000) epochs = 100000;
    r->epochs = (int)epochs;
    TRY(set_key(c, "epochs", "%ld", epochs));
    TRY(set_key(c, "val", "False"));
    TRY(set_key(c, "warmup_epochs", "0"));
    TRY(set_key(c, "close_mosaic", "0"));
    TRY(set_key(c, "patience", "0"));
    long forwards = r->lr_steps * r->accumulate;
    printf("lrfind: cost: %ld optimizer steps x B_eff %ld = %ld images (%ld forward passes of %d per process), %.0f%% "
           "of the %ld-step training it prepares; %s\n",
           r->lr_steps, r->b_eff, r->lr_steps * r->b_eff, forwards, r->batch,
           r->training_steps > 0 ? 100.0 * (double)r->lr_steps / (double)r->training_steps : 0.0, r->training_steps,
           r->steps_reason);
    printf("lrfind: lr %g -> %g (x%.4g per step%s) for every parameter group, no warmup, no validation; smoothing beta "
           "%.3g; %ld steps per epoch -> up to %ld epochs (the LR schedule printed by the trainer is not used)\n",
           r->lr_start, r->lr_end,
           r->lr_steps > 1 ? pow(r->lr_end / r->lr_start, 1.0 / (double)(r->lr_steps - 1)) : 1.0,
           c->lr_start > 0 || c->lr_end > 0 ? "" : "; the training's peak / 1000 to x 100", r->beta, spe, epochs - 1);
    fflush(stdout);

    TRY(lrf_curve_init(&r->curve, r->lr_steps, r->beta, LRF_DIVERGE));
    train_hooks h = {.ctx = r, .lr_at = hook_lr_at, .on_step = hook_on_step, .skip_final_val = 1};
    train_result tr;
    status st = train_run_ex(c, d, &h, &tr);
    snprintf(r->dir, sizeof r->dir, "%s", tr.dir);
    if (st < 0) return st;
    if (c->dry) {
        printf("dry run: the range test replaces that schedule by (every parameter group, momentum %g):\n%8s %12s\n",
               c->momentum, "step", "lr");
        long every = r->lr_steps > 10 ? (r->lr_steps + 9) / 10 : 1;
        for (long k = 0; k < r->lr_steps; k += every)
            printf("%8ld %12.6g\n", k, lrf_lr_at(r->lr_start, r->lr_end, r->lr_steps, k));
        if ((r->lr_steps - 1) % every)
            printf("%8ld %12.6g\n", r->lr_steps - 1, lrf_lr_at(r->lr_start, r->lr_end, r->lr_steps, r->lr_steps - 1));
        return YOLOC_OK;
    }

    lrf_suggest(r->curve.lr, r->curve.smooth, r->curve.n, LRF_SKIP_FRAC, &r->sug);
    if (r->lr_factor > 0) {
        r->lr0 = r->sug.lr / r->lr_factor;
        r->lr0_steep = r->sug.lr_steep / r->lr_factor;
        r->lr0_min10 = r->sug.lr_min10 / r->lr_factor;
    }
    if (d->rank == 0 && r->dir[0]) {
        char path[4200];
        snprintf(path, sizeof path, "%s/lrfind.csv", r->dir);
        TRY(lrf_write_csv(path, &r->curve));
        if (c->plots) {
            snprintf(path, sizeof path, "%s/lrfind.png", r->dir);
            status ps = lrf_write_png(path, &r->curve, &r->sug);
            if (ps < 0) log_warn("plots: %s", yoloc_last_error());
        }
    }
    return YOLOC_OK;
}

/* ---- the report ---------------------------------------------------------------- */

void lrf_print(const lrf_result *r, FILE *f) {
    const lrf_curve *c = &r->curve;
    const lrf_suggestion *s = &r->sug;
    fprintf(f, "\nLR range test: %ld of %ld steps, lr %g -> %g, %s at B_eff %ld (batch %d x %d process%s x accumulate "
               "%d), nbs %d\n",
            c->n, r->lr_steps, r->lr_start, r->lr_end, r->optimizer, r->b_eff, r->batch, r->processes,
            r->processes == 1 ? "" : "es", r->accumulate, r->nbs);
    switch (c->stop) {
    case LRF_DIVERGED:
        fprintf(f, "diverged: at step %ld, lr %.4g: the smoothed loss %.4g rose above %g x its minimum %.4g\n",
                c->stop_i, c->lr[c->stop_i], c->smooth[c->stop_i], c->diverge_factor, c->best);
        break;
    case LRF_NONFINITE:
        fprintf(f, "diverged: at step %ld, lr %.4g: the loss or the gradient is not finite\n", c->stop_i,
                c->lr[c->stop_i]);
        break;
    case LRF_COMPLETED:
        fprintf(f, "diverged: no - the smoothed loss stayed below %g x its minimum up to lr %.4g (gradient clipping, "
                   "max_norm, can keep it from exploding; raise lr_end to see more)\n",
                c->diverge_factor, c->n ? c->lr[c->n - 1] : r->lr_end);
        break;
    default:
        fprintf(f, "diverged: no - the training ended after %ld steps\n", c->n);
        break;
    }
    if (s->have_steep)
        fprintf(f, "steepest descent: lr %.4g (step %ld): d(smoothed loss)/d(log10 lr) = %.4g, smoothed loss %.4g\n",
                s->lr_steep, s->i_steep, s->slope, c->smooth[s->i_steep]);
    if (s->have_min)
        fprintf(f, "minimum: smoothed loss %.4g at lr %.4g (step %ld) -> min/10: lr %.4g\n", s->loss_min, s->lr_min,
                s->i_min, s->lr_min10);
    const char *rn = lr_scale_name(r->rule);
    if (s->have_steep || s->have_min)
        fprintf(f, "candidates as lr0 at nbs %d (lr_scale=%s: lr at B_eff %ld = lr0 x %.4g): steepest descent %.3g, "
                   "min/10 %.3g\n",
                r->nbs, rn, r->b_eff, r->lr_factor, r->lr0_steep, r->lr0_min10);
    if (s->pick == LRF_PICK_NONE) {
        fprintf(f, "suggested lr0: none (%s)\n", s->reason);
        return;
    }
    fprintf(f, "suggested lr: %.4g at B_eff %ld (%s)\n", s->lr, r->b_eff, s->reason);
    fprintf(f, "suggested lr0: %.3g at nbs %d (lr_scale=%s: lr at B_eff %ld = lr0 x %.4g, so lr0 = %.4g / %.4g); "
               "train with lr0=%.3g nbs=%d lr_scale=%s optimizer=%s\n",
            r->lr0, r->nbs, rn, r->b_eff, r->lr_factor, s->lr, r->lr_factor, r->lr0, r->nbs, rn, r->optimizer);
    int sgd = strcmp(r->optimizer, "SGD") == 0;
    double lo = sgd ? 0.008 : 3e-4, hi = sgd ? 0.02 : 1e-3;
    if (r->lr0 < lo || r->lr0 > hi)
        fprintf(f, "note: lr0 %.3g is outside the usual %s band %g-%g at nbs (yoloc train will warn about it; the "
                   "range test measured this model and data)\n",
                r->lr0, r->optimizer, lo, hi);
    if (sgd && s->lr >= 0.1)
        fprintf(f, "note: a peak lr of %.3g with SGD is refused by yoloc train unless force=True\n", s->lr);
}
