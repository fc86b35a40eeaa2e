/* The resolved LR/batch recipe (see recipe.h). */
#include "train/recipe.h"

#include "core/log.h"
#include "data/loader.h"

#include <math.h>
#include <string.h>

status recipe_resolve(const config *c, const recipe_facts *f, const recipe_overrides *ov, recipe *r) {
    static const recipe_overrides none;
    if (!ov) ov = &none;
    memset(r, 0, sizeof *r);
    double batch = ov->batch > 0 ? ov->batch : c->batch;
    if (batch < 1 || batch != floor(batch))
        return err_set(YOLOC_ERR_INVALID,
                       "key 'batch': %g: the recipe needs a whole number of images per process (the automatic batch, "
                       "-1 or a fraction, is chosen by the command first)",
                       batch);
    if (f->processes < 1) return err_set(YOLOC_ERR_INVALID, "processes must be >= 1, got %d", f->processes);
    r->batch = (int)batch;
    r->processes = f->processes;
    r->epochs = ov->epochs > 0 ? ov->epochs : (int)c->epochs;

    /* the optimizer: optimizer=auto is Ultralytics' rule over the run's
     * length; without a dataset (bench) it resolves as for a long training */
    int is_auto = 0;
    TRY(optim_kind_parse(c->optimizer, &r->optimizer, &is_auto));
    r->lr0 = c->lr0;
    r->momentum = c->momentum;
    r->warmup_bias_lr = c->warmup_bias_lr;
    if (ov->optimizer_of) {
        const recipe *o = ov->optimizer_of;
        r->optimizer = o->optimizer;
        r->lr0 = o->lr0;
        r->momentum = o->momentum;
        r->warmup_bias_lr = o->warmup_bias_lr;
        r->optimizer_auto = o->optimizer_auto;
        is_auto = o->optimizer_auto;
        snprintf(r->optimizer_reason, sizeof r->optimizer_reason, "%s", o->optimizer_reason);
    } else if (is_auto) {
        optim_auto_choice ch;
        long iters = f->train_images > 0 ? optim_auto_iterations(f->train_images, r->batch, (int)c->nbs, r->epochs)
                                         : 1000000;
        optim_auto(f->nc, iters, &ch);
        r->optimizer = ch.kind;
        r->lr0 = ch.lr;
        r->momentum = ch.momentum;
        r->warmup_bias_lr = ch.warmup_bias_lr;
        r->optimizer_auto = 1;
        if (f->train_images > 0)
            snprintf(r->optimizer_reason, sizeof r->optimizer_reason, "%s", ch.reason);
        else
            snprintf(r->optimizer_reason, sizeof r->optimizer_reason,
                     "optimizer=auto without a dataset: as for a long training, %s", ch.reason);
    }
    r->norm = ov->set_norm ? ov->norm : lrb_norm(c, f->processes);
    r->ultra = strcmp(c->sched, "ultralytics") == 0;

    /* the LR / batch rules */
    lrb_input *li = &r->in;
    li->batch = r->batch;
    li->processes = f->processes;
    li->accumulate = ov->accumulate > 0 ? ov->accumulate : (int)c->accumulate;
    li->nbs = (int)c->nbs;
    li->optimizer = r->optimizer;
    li->lr0 = r->lr0;
    li->weight_decay = c->weight_decay;
    li->warmup_epochs = ov->set_warmup ? ov->warmup_epochs : c->warmup_epochs;
    TRY(lr_scale_parse(c->lr_scale, &li->rule));
    if (r->ultra) li->rule = LR_SCALE_NONE; /* Ultralytics scales through the summed loss */
    li->margin = c->lr_scale_margin;
    li->batchnorm = r->norm != NORM_GN;
    li->syncbn = r->norm == NORM_SYNCBN;
    li->images_per_epoch = f->train_images > 0 ? (long)loader_shard_len((size_t)f->train_images, f->processes)
                                               : r->batch; /* bench: one batch */
    li->epochs = r->epochs;
    li->force = c->force;
    li->bn_stats = c->bn_stats;
    li->lr0_auto = is_auto;
    status plan_st = lrb_compute(li, &r->lp);
    if (plan_st < 0 && !r->lp.refused) return plan_st;
    r->warmup_epochs = r->ultra ? li->warmup_epochs : r->lp.warmup_epochs;

    /* the schedule */
    sched_config *sc = &r->sc;
    sched_config_default(sc);
    const char *sk = c->sched;
    if (c->given.cos_lr && !c->given.sched) sk = c->cos_lr ? "cos" : "linear"; /* the Ultralytics switch */
    TRY(sched_kind_parse(sk, &sc->kind));
    for (int g = 0; g < 3; g++) sc->lr_peak[g] = r->lp.lr_peak;
    sc->lrf = c->lrf;
    sc->warmup_start_factor = c->warmup_start_factor;
    sc->warmup_bias_lr = r->warmup_bias_lr;
    sc->warmup_momentum = c->warmup_momentum;
    sc->momentum = r->momentum;
    sc->warmup_steps = r->lp.warmup_steps;
    sc->total_steps = r->lp.total_steps;
    sc->steps_per_epoch = r->lp.steps_per_epoch;
    sc->epochs = r->epochs;
    sc->warmup_epochs = li->warmup_epochs;
    sc->cos_lr = c->cos_lr;
    sc->warmup_sets_momentum = r->optimizer == OPTIM_SGD;
    sc->optim_momentum = r->momentum;
    sc->nbs = (int)c->nbs;
    sc->batch = r->batch * f->processes;
    if (r->ultra) { /* per-iteration warmup and per-epoch decay over the batches */
        sc->total_steps = r->lp.batches_per_epoch * r->epochs;
        sc->steps_per_epoch = r->lp.batches_per_epoch;
        /* Ultralytics: weight_decay * batch * accumulate / nbs, lr unscaled */
        r->weight_decay = c->weight_decay * (double)r->lp.b_eff / (double)c->nbs;
    } else {
        r->weight_decay = r->lp.weight_decay;
        if (r->optimizer != OPTIM_SGD) sc->warmup_momentum = r->momentum; /* Adam's beta1 stays */
    }
    TRY(sched_validate(sc));
    return plan_st;
}

int recipe_time_epochs(double budget_s, double elapsed_s, int done, int measured, int planned) {
    if (elapsed_s >= budget_s) return done; /* the time is up */
    if (planned - done <= RECIPE_TIME_FREEZE) return planned > done ? planned : done;
    if (measured < 1 || !(elapsed_s > 0)) return planned;
    double per_epoch = elapsed_s / measured;
    double more = nearbyint((budget_s - elapsed_s) / per_epoch);
    if (more < 1) more = 1; /* time is left: the schedule ends with an epoch planned as the last */
    if (more > 100000 - done) more = 100000 - done;
    return done + (int)more;
}

void recipe_print(const recipe *r, const config *c, FILE *f) {
    if (r->optimizer_auto) log_info("%s", r->optimizer_reason);
    lrb_print(&r->in, &r->lp, r->warmup_bias_lr, c->warmup_start_factor, c->lrf, f);
}

void recipe_write_yaml(const recipe *r, FILE *f) {
    fprintf(f, "derived: # resolved by yoloc at start-up (not options)\n");
    fprintf(f, "  optimizer: %s\n", optim_kind_name(r->optimizer));
    fprintf(f, "  processes: %d\n", r->processes);
    fprintf(f, "  batch: %d\n", r->batch);
    fprintf(f, "  accumulate: %d\n", r->lp.accumulate);
    fprintf(f, "  b_eff: %ld\n", r->lp.b_eff);
    fprintf(f, "  lr0: %.10g\n", r->lr0); /* at nbs, after optimizer=auto */
    fprintf(f, "  lr_scale: %s\n", lr_scale_name(r->in.rule));
    fprintf(f, "  lr_factor: %.10g\n", r->lp.lr_factor);
    fprintf(f, "  lr_peak: %.10g\n", r->sc.lr_peak[1]);
    fprintf(f, "  lr_final: %.10g\n", r->sc.lr_peak[1] * r->sc.lrf);
    fprintf(f, "  momentum: %.10g\n", r->momentum);
    fprintf(f, "  weight_decay: %.10g\n", r->weight_decay);
    fprintf(f, "  epochs: %d\n", r->epochs);
    fprintf(f, "  warmup_epochs: %.10g\n", r->warmup_epochs);
    fprintf(f, "  warmup_steps: %ld\n", r->sc.warmup_steps);
    fprintf(f, "  steps_per_epoch: %ld\n", r->lp.steps_per_epoch);
    fprintf(f, "  total_steps: %ld\n", r->lp.total_steps);
    fprintf(f, "  norm: %s\n", lrb_norm_key(r->norm));
    fprintf(f, "  bn_stats_images: %ld\n", r->lp.bn_stats_images);
}
