/* LR / batch rules and guard rails (see lrbatch.h). */
#include "train/lrbatch.h"

#include "nn/model.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define LRB_STR_(x) #x
#define LRB_STR(x) LRB_STR_(x)

static const char *RULE_NAMES[] = {"linear", "sqrt", "conservative", "none"};

status lr_scale_parse(const char *name, lr_scale_rule *out) {
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, RULE_NAMES[i]) == 0) {
            *out = (lr_scale_rule)i;
            return YOLOC_OK;
        }
    return err_set(YOLOC_ERR_INVALID, "key 'lr_scale': '%s' is not one of: linear, sqrt, conservative, none", name);
}

const char *lr_scale_name(lr_scale_rule r) { return (r >= 0 && r <= 3) ? RULE_NAMES[r] : "?"; }

static void warn(lrb_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(lrb_plan *p, const char *fmt, ...) {
    if (p->nwarnings >= LRB_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->warnings[p->nwarnings++], sizeof p->warnings[0], fmt, ap);
    va_end(ap);
}

status lrb_compute(const lrb_input *in, lrb_plan *p) {
    memset(p, 0, sizeof *p);
    if (in->batch < 1) return err_set(YOLOC_ERR_INVALID, "key 'batch': must be >= 1 per process, got %d", in->batch);
    if (in->processes < 1) return err_set(YOLOC_ERR_INVALID, "processes must be >= 1, got %d", in->processes);
    if (in->nbs < 1) return err_set(YOLOC_ERR_INVALID, "key 'nbs': must be >= 1, got %d", in->nbs);
    if (in->accumulate < 0) return err_set(YOLOC_ERR_INVALID, "key 'accumulate': must be >= 0, got %d", in->accumulate);
    if (in->epochs < 1) return err_set(YOLOC_ERR_INVALID, "key 'epochs': must be >= 1, got %d", in->epochs);
    if (!(in->lr0 >= 0) || !(in->weight_decay >= 0) || !(in->warmup_epochs >= 0))
        return err_set(YOLOC_ERR_INVALID, "lr0, weight_decay and warmup_epochs must be >= 0");
    if (in->images_per_epoch < 1)
        return err_set(YOLOC_ERR_INVALID, "the training split of this process has no images");

    long per_step = (long)in->batch * in->processes;
    p->accumulate = lrb_accumulate(in->accumulate, in->nbs, per_step);
    p->accumulate_derived = in->accumulate <= 0;
    p->b_eff = per_step * p->accumulate;
    double ratio = (double)p->b_eff / in->nbs;
    p->warmup_epochs = in->warmup_epochs;
    p->lr_factor = lrb_lr_factor(in->rule, p->b_eff, in->nbs, in->margin);
    switch (in->rule) {
    case LR_SCALE_LINEAR:
        snprintf(p->rule_reason, sizeof p->rule_reason,
                 "lr_scale=linear: lr0 %g is for nbs %d; B_eff %ld -> x%.4g", in->lr0, in->nbs, p->b_eff, ratio);
        break;
    case LR_SCALE_SQRT:
        snprintf(p->rule_reason, sizeof p->rule_reason,
                 "lr_scale=sqrt: lr0 %g is for nbs %d; B_eff %ld -> x sqrt(%.4g) = x%.4g", in->lr0, in->nbs,
                 p->b_eff, ratio, p->lr_factor);
        break;
    case LR_SCALE_CONSERVATIVE:
        if (lrb_large_batch(p->b_eff, in->nbs)) {
            if (p->warmup_epochs < LRB_LARGE_BATCH_WARMUP) p->warmup_epochs = LRB_LARGE_BATCH_WARMUP;
            snprintf(p->rule_reason, sizeof p->rule_reason,
                     "lr_scale=conservative: B_eff %ld > 2 x nbs %d, so linear x%.4g less %.0f%% = x%.4g, warmup "
                     ">= 3 epochs",
                     p->b_eff, in->nbs, ratio, in->margin * 100, p->lr_factor);
        } else {
            snprintf(p->rule_reason, sizeof p->rule_reason,
                     "lr_scale=conservative: B_eff %ld <= 2 x nbs %d, so linear: x%.4g", p->b_eff, in->nbs, ratio);
        }
        break;
    case LR_SCALE_NONE:
        snprintf(p->rule_reason, sizeof p->rule_reason,
                 "lr_scale=none: lr0 %g used as is at B_eff %ld (x%.4g of nbs %d: steps are %s than at nbs)", in->lr0,
                 p->b_eff, ratio, in->nbs, ratio >= 1 ? "relatively smaller" : "relatively larger");
        break;
    }
    p->lr_peak = in->lr0 * p->lr_factor;
    p->weight_decay = p->lr_factor > 0 ? in->weight_decay * ratio / p->lr_factor : in->weight_decay;
    p->batches_per_epoch = (in->images_per_epoch + in->batch - 1) / in->batch;
    p->steps_per_epoch = (p->batches_per_epoch + p->accumulate - 1) / p->accumulate;
    p->total_steps = p->steps_per_epoch * in->epochs;
    p->warmup_steps = (long)nearbyint(p->warmup_epochs * (double)p->steps_per_epoch);

    /* BatchNorm statistics for validation (bnstats.h). */
    p->bn_stats_images = 0;
    p->bn_stats_reason[0] = 0;
    if (in->batchnorm) {
        double window = 1.0 / MODEL_BN_MOMENTUM;
        long want = in->bn_stats > 0 ? in->bn_stats : LRB_BN_STATS_IMAGES;
        long nb = want > in->batch ? (want + in->batch / 2) / in->batch : 1, imgs = nb * in->batch;
        if (in->bn_stats > 0) {
            p->bn_stats_images = imgs;
            snprintf(p->bn_stats_reason, sizeof p->bn_stats_reason, "bn_stats=%ld given", in->bn_stats);
        } else if (in->bn_stats == 0) {
            snprintf(p->bn_stats_reason, sizeof p->bn_stats_reason,
                     "bn_stats=0: validation and checkpoints use the running statistics as they are");
        } else if ((double)p->batches_per_epoch < window) {
            p->bn_stats_images = imgs;
            snprintf(p->bn_stats_reason, sizeof p->bn_stats_reason,
                     "bn_stats=auto: %ld forward passes per epoch, fewer than the %.1f that the running statistics "
                     "average over, so they would mix the weights of earlier epochs",
                     p->batches_per_epoch, window);
        } else {
            snprintf(p->bn_stats_reason, sizeof p->bn_stats_reason,
                     "bn_stats=auto: %ld forward passes per epoch renew the running statistics (they average the "
                     "last %.1f), so they are used as they are",
                     p->batches_per_epoch, window);
        }
    }

    /* Guard rails. */
    int sgd = in->optimizer == OPTIM_SGD;
    if (in->batchnorm && !in->syncbn && in->batch == 1)
        snprintf(p->refusal, sizeof p->refusal,
                 "batch 1 with BatchNorm: each channel would be normalised over a single image, so the "
                 "statistics and gradients are mostly noise and eval-mode running statistics will not match "
                 "training; use batch >= " LRB_STR(LRB_BN_WARN_BATCH) ", norm=gn, or norm=syncbn over several processes (force=True to run "
                 "anyway)");
    else if (sgd && p->lr_peak >= 0.1)
        snprintf(p->refusal, sizeof p->refusal,
                 "SGD with a peak lr of %g (lr0 %g x%.4g): at or above 0.1 a YOLO model diverges in the first "
                 "epochs; use lr0 around 0.01 at nbs %d (force=True to run anyway)",
                 p->lr_peak, in->lr0, p->lr_factor, in->nbs);
    if (p->refusal[0]) p->refused = 1;
    if (in->batchnorm && !in->syncbn && in->batch > 1 && in->batch < LRB_BN_WARN_BATCH)
        warn(p,
             "batch %d per process with BatchNorm: statistics over %d images are noisy and the running "
             "statistics drift from what the weights saw; prefer batch >= " LRB_STR(LRB_BN_WARN_BATCH) " (or norm=gn, or norm=syncbn "
             "across processes)",
             in->batch, in->batch);
    if (in->batchnorm && in->syncbn && (long)in->batch * in->processes < LRB_BN_WARN_BATCH)
        warn(p, "SyncBatchNorm over %ld images in total is still noisy; prefer >= %d", (long)in->batch * in->processes,
             LRB_BN_WARN_BATCH);
    if (!sgd && p->lr_peak >= 0.1)
        warn(p, "%s with a peak lr of %g: above 0.1 adaptive optimizers diverge; the usual band is 3e-4 to 1e-3",
             optim_kind_name(in->optimizer), p->lr_peak);
    int out_of_band = sgd ? in->lr0 < 0.008 || in->lr0 > 0.02 : in->lr0 < 3e-4 || in->lr0 > 1e-3;
    if (out_of_band && in->lr0_auto && !p->refused && p->nnotes < LRB_MAX_NOTES) {
        double edge = sgd ? (in->lr0 < 0.008 ? 0.008 : 0.02) : (in->lr0 < 3e-4 ? 3e-4 : 1e-3);
        snprintf(p->notes[p->nnotes++], sizeof p->notes[0],
                 "lr0 %g from optimizer=auto is %s the usual %s band (%s at nbs %d); yoloc follows optimizer=auto, "
                 "Ultralytics' rule for this dataset size and number of classes, which its users' runs are tuned "
                 "to; the band's choice instead: optimizer=%s lr0=%g",
                 in->lr0, in->lr0 > edge ? "above" : "below", optim_kind_name(in->optimizer),
                 sgd ? "0.008-0.02" : "3e-4 to 1e-3", in->nbs, optim_kind_name(in->optimizer), edge);
        out_of_band = 0;
    }
    if (sgd && out_of_band && !p->refused)
        warn(p,
             "lr0 %g for SGD is outside the usual band 0.008-0.02 at nbs %d: too high oscillates or diverges, "
             "too low stalls mAP",
             in->lr0, in->nbs);
    if (!sgd && out_of_band)
        warn(p,
             "lr0 %g for %s is outside the usual band 3e-4 to 1e-3 at nbs %d: too high oscillates or diverges, "
             "too low stalls mAP",
             in->lr0, optim_kind_name(in->optimizer), in->nbs);
    if (lrb_large_batch(p->b_eff, in->nbs) && in->rule == LR_SCALE_LINEAR && p->warmup_epochs < LRB_LARGE_BATCH_WARMUP)
        warn(p, "B_eff %ld is over twice nbs with linear scaling and %.3g warmup epochs: keep warmup >= 3 epochs "
                "(or lr_scale=conservative)", p->b_eff, p->warmup_epochs);
    if (in->batchnorm && !in->syncbn && p->accumulate > 1 && p->nnotes < LRB_MAX_NOTES)
        snprintf(p->notes[p->nnotes++], sizeof p->notes[0],
                 "accumulate %d with BatchNorm: each forward normalises over its own %d images, so %d x %d is close "
                 "to, but not the same as, one batch of %ld (as in Ultralytics; BatchNorm's noise over %d images is "
                 "part of what the defaults are tuned with); exact instead: norm=gn",
                 p->accumulate, in->batch, p->accumulate, in->batch, p->b_eff, in->batch);
    if (p->total_steps < 50)
        warn(p, "only %ld optimizer steps in the whole run: the schedule has little room (more epochs or a "
                "smaller batch)", p->total_steps);
    if (p->refused && !in->force) return err_set(YOLOC_ERR_INVALID, "refused: %s", p->refusal);
    return YOLOC_OK;
}

void lrb_print(const lrb_input *in, const lrb_plan *p, double warmup_bias_lr, double warmup_start_factor,
               double lrf, FILE *f) {
    fprintf(f, "batch: %d per process x %d process%s x accumulate %d%s = effective batch %ld (nbs %d)\n", in->batch,
            in->processes, in->processes == 1 ? "" : "es", p->accumulate,
            p->accumulate_derived ? " (from nbs)" : "", p->b_eff, in->nbs);
    fprintf(f, "lr: %s; %s -> peak %.6g\n", optim_kind_name(in->optimizer), p->rule_reason, p->lr_peak);
    fprintf(f, "    bias group %.6g -> %.6g, weights %.6g -> %.6g, norm weights %.6g -> %.6g, final %.6g\n",
            p->warmup_steps ? warmup_bias_lr : p->lr_peak, p->lr_peak,
            p->warmup_steps ? warmup_start_factor * p->lr_peak : p->lr_peak, p->lr_peak,
            p->warmup_steps ? warmup_start_factor * p->lr_peak : p->lr_peak, p->lr_peak, p->lr_peak * lrf);
    fprintf(f, "steps: %ld batches per epoch -> %ld optimizer steps per epoch, %ld in total; warmup %ld steps "
               "(%.3g epochs)\n",
            p->batches_per_epoch, p->steps_per_epoch, p->total_steps, p->warmup_steps, p->warmup_epochs);
    fprintf(f, "weight decay: %.6g on conv weights (decay per step at the peak = lr0 x %.6g x B_eff/nbs)\n",
            p->weight_decay, in->weight_decay);
    fprintf(f, "loss: per optimizer step, nbs x the loss of all its %ld images taken as one batch (a mean over "
               "images), so lr0 keeps its Ultralytics meaning at B_eff = nbs\n",
            p->b_eff);
    if (in->batchnorm && p->bn_stats_images > 0)
        fprintf(f, "BatchNorm statistics: recomputed for the EMA weights over %ld training images (%ld batch%s) "
                   "before each validation and checkpoint; %s\n",
                p->bn_stats_images, p->bn_stats_images / in->batch, p->bn_stats_images / in->batch == 1 ? "" : "es",
                p->bn_stats_reason);
    else if (in->batchnorm)
        fprintf(f, "BatchNorm statistics: the running averages; %s\n", p->bn_stats_reason);
    for (int i = 0; i < p->nnotes; i++) fprintf(f, "note: %s\n", p->notes[i]);
    for (int i = 0; i < p->nwarnings; i++) fprintf(f, "warning: %s\n", p->warnings[i]);
    if (p->refused)
        fprintf(f, "%s: %s\n", in->force ? "warning (force=True)" : "refused", p->refusal);
}

static long steps_at(const lrb_target_input *in, long b) { return (in->images + b - 1) / b * (long)in->epochs; }

long lrb_target_batch(const lrb_target_input *in, char *reason, size_t cap) {
    long b = in->nbs > 0 ? in->nbs : 64;
    snprintf(reason, cap, "nbs %d: the batch lr0 and the other defaults are tuned at", in->nbs);
    if (in->band_max > 0 && b > in->band_max) {
        b = in->band_max;
        snprintf(reason, cap, "target_batch_max %ld (nbs %d is above the band)", in->band_max, in->nbs);
    } else if (in->band_min > 0 && b < in->band_min) {
        b = in->band_min;
        snprintf(reason, cap, "target_batch_min %ld (nbs %d is below the band)", in->band_min, in->nbs);
    }
    long floor_b = (long)LRB_BN_MIN_BATCH * (in->processes > 0 ? in->processes : 1);
    if (in->critical > 0 && b > in->critical && b > floor_b) {
        long from = b;
        while (b > in->critical && b / 2 >= floor_b) b /= 2;
        snprintf(reason, cap,
                 "the critical batch: the gradient noise scale B_simple %.0f was measured, and a batch above it no "
                 "longer makes a step worth more images, so %ld halved to %ld%s",
                 in->critical, from, b, b > in->critical ? " (not below BatchNorm's 8 images per process)" : "");
    }
    if (in->images > 0 && in->epochs > 0 && steps_at(in, b) < LRB_MIN_STEPS && b > floor_b) {
        long from = b, from_steps = steps_at(in, b);
        while (b / 2 >= floor_b && steps_at(in, b) < LRB_MIN_STEPS) b /= 2;
        if (b < floor_b) b = floor_b;
        snprintf(reason, cap,
                 "enough optimizer steps: %ld images x %d epochs at %ld per step are %ld steps, fewer than %d, so "
                 "halved to %ld (%ld steps%s)",
                 in->images, in->epochs, from, from_steps, LRB_MIN_STEPS, b, steps_at(in, b),
                 steps_at(in, b) < LRB_MIN_STEPS ? "; not below BatchNorm's 8 images per process" : "");
    }
    return b;
}

norm_kind lrb_norm(const config *c, int processes) {
    if (strcmp(c->norm, "gn") == 0) return NORM_GN;
    int sync = strcmp(c->norm, "syncbn") == 0 || !c->given.norm;
    return sync && processes > 1 ? NORM_SYNCBN : NORM_BN;
}

norm_kind lrb_choose_norm(int b, int P, int acc, int pretrained, char *reason, size_t cap) {
    long per_step = (long)b * P;
    if (P <= 1) {
        if (b >= LRB_BN_MIN_BATCH) {
            snprintf(reason, cap, "batch %d per process: BatchNorm statistics over >= %d images are reliable%s", b,
                     LRB_BN_MIN_BATCH, acc > 1 ? " (accumulation is then close to, not exactly, one big batch)" : "");
            return NORM_BN;
        }
        if (pretrained && b >= 2) {
            snprintf(reason, cap,
                     "batch %d per process is below %d, where GroupNorm would be better, but the pretrained weights "
                     "bring BatchNorm statistics that GroupNorm would discard",
                     b, LRB_BN_MIN_BATCH);
            return NORM_BN;
        }
        snprintf(reason, cap,
                 "batch %d per process is below %d: BatchNorm statistics over so few images are mostly noise (and "
                 "drift from the running statistics used at validation); GroupNorm normalises each image on its own, "
                 "which also makes accumulation exact",
                 b, LRB_BN_MIN_BATCH);
        return NORM_GN;
    }
    if (per_step >= LRB_BN_MIN_BATCH) {
        snprintf(reason, cap,
                 "%d processes x batch %d: SyncBatchNorm computes the statistics over all %ld images of a step instead "
                 "of %d per process",
                 P, b, per_step, b);
        return NORM_SYNCBN;
    }
    snprintf(reason, cap,
             "%d processes x batch %d = %ld images: even SyncBatchNorm would see fewer than %d; GroupNorm normalises "
             "each image on its own",
             P, b, per_step, LRB_BN_MIN_BATCH);
    return NORM_GN;
}

const char *lrb_norm_key(norm_kind k) { return k == NORM_GN ? "gn" : k == NORM_SYNCBN ? "syncbn" : "bn"; }

int lrb_accumulate_for(long b_eff, long per_step) {
    double a = per_step > 0 ? nearbyint((double)b_eff / (double)per_step) : 1; /* half to even, as Python */
    return a < 1 ? 1 : (int)a;
}

int lrb_large_batch(long b_eff, int nbs) { return b_eff > (long)LRB_LARGE_BATCH * nbs; }

int lrb_accumulate(int accumulate_key, int nbs, long per_step) {
    return accumulate_key > 0 ? accumulate_key : lrb_accumulate_for(nbs, per_step); /* Ultralytics: nbs / batch */
}

double lrb_lr_factor(lr_scale_rule rule, long b_eff, int nbs, double margin) {
    double ratio = nbs > 0 && b_eff > 0 ? (double)b_eff / nbs : 1;
    switch (rule) {
    case LR_SCALE_LINEAR: return ratio;
    case LR_SCALE_SQRT: return sqrt(ratio);
    case LR_SCALE_CONSERVATIVE: return lrb_large_batch(b_eff, nbs) ? ratio * (1.0 - margin) : ratio;
    case LR_SCALE_NONE: break;
    }
    return 1.0;
}
