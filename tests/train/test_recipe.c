/* recipe_resolve (train/recipe.h): one struct from a configuration and the
 * run's facts.
 *  - the defaults on a BCCD-sized dataset (205 images, 3 classes, 30
 *    epochs): optimizer=auto -> AdamW lr0 0.001429 (Ultralytics' rule),
 *    16 x 4 = 64, 120 steps, warmup 12, the schedule filled with them,
 *    BatchNorm statistics recomputed, notes and no warnings;
 *  - the same batch under sched=ultralytics: no LR rule, the schedule over
 *    batches, Ultralytics' weight-decay scaling;
 *  - a planner's overrides (batch, accumulate, epochs, norm, warmup) win
 *    over the keys; GroupNorm has no BatchNorm statistics;
 *  - without a dataset (bench) optimizer=auto resolves as for a long
 *    training (SGD);
 *  - a guard rail's refusal returns an error and still fills the recipe;
 *  - the derived block names every decided value.
 * ctest-labels: train */
#include "harness.h"
#include "train/recipe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void set(config *c, const char *k, const char *v) { CHECK_EQ_INT(config_set(c, k, v, "test"), YOLOC_OK); }

static void test_defaults(void) {
    config c;
    CHECK_EQ_INT(config_init(&c), YOLOC_OK);
    set(&c, "epochs", "30");
    set(&c, "batch", "16");
    recipe_facts f = {.processes = 1, .train_images = 205, .nc = 3};
    recipe *r = calloc(1, sizeof *r);
    CHECK_EQ_INT(recipe_resolve(&c, &f, NULL, r), YOLOC_OK);
    CHECK(r->optimizer_auto);
    CHECK_EQ_INT(r->optimizer, OPTIM_ADAMW);
    CHECK_NEAR(r->lr0, 0.001429, 1e-12);
    CHECK_NEAR(r->momentum, 0.9, 1e-12);
    CHECK_NEAR(r->warmup_bias_lr, 0.0, 0);
    CHECK_CONTAINS(r->optimizer_reason, "AdamW");
    CHECK_EQ_INT(r->lp.accumulate, 4);
    CHECK_EQ_INT(r->lp.b_eff, 64);
    CHECK_EQ_INT(r->lp.batches_per_epoch, 13);
    CHECK_EQ_INT(r->lp.total_steps, 120);
    CHECK_EQ_INT(r->lp.warmup_steps, 12);
    CHECK_EQ_INT(r->sc.total_steps, 120);
    CHECK_EQ_INT(r->sc.warmup_steps, 12);
    CHECK_NEAR(r->sc.lr_peak[1], 0.001429, 1e-12);
    CHECK_NEAR(r->sc.momentum, 0.9, 1e-12);
    CHECK_NEAR(r->sc.warmup_momentum, 0.9, 1e-12); /* Adam's beta1 stays */
    CHECK_NEAR(r->weight_decay, 0.0005, 1e-15);
    CHECK_EQ_INT(r->norm, NORM_BN);
    CHECK_EQ_INT(r->lp.bn_stats_images, 64);
    CHECK_EQ_INT(r->lp.nwarnings, 0); /* nothing here is the user's own setting */
    CHECK(r->lp.nnotes >= 1);
    /* the derived block names the values */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    recipe_write_yaml(r, m);
    fclose(m);
    CHECK_CONTAINS(buf, "derived:");
    CHECK_CONTAINS(buf, "  optimizer: AdamW\n");
    CHECK_CONTAINS(buf, "  batch: 16\n");
    CHECK_CONTAINS(buf, "  accumulate: 4\n");
    CHECK_CONTAINS(buf, "  b_eff: 64\n");
    CHECK_CONTAINS(buf, "  lr0: 0.001429\n");
    CHECK_CONTAINS(buf, "  lr_peak: 0.001429\n");
    CHECK_CONTAINS(buf, "  total_steps: 120\n");
    CHECK_CONTAINS(buf, "  norm: bn\n");
    free(buf);

    /* sched=ultralytics: the LR unscaled, the schedule over batches */
    set(&c, "sched", "ultralytics");
    set(&c, "optimizer", "SGD");
    set(&c, "batch", "32");
    CHECK_EQ_INT(recipe_resolve(&c, &f, NULL, r), YOLOC_OK);
    CHECK(r->ultra);
    CHECK_EQ_INT(r->in.rule, LR_SCALE_NONE);
    CHECK_EQ_INT(r->lp.accumulate, 2);
    CHECK_EQ_INT(r->sc.steps_per_epoch, 7);
    CHECK_EQ_INT(r->sc.total_steps, 7 * 30);
    CHECK_NEAR(r->weight_decay, 0.0005 * 64 / 64, 1e-15);
    CHECK_NEAR(r->sc.lr_peak[1], 0.01, 1e-15);
    CHECK(r->sc.warmup_sets_momentum);
    free(r);
    config_free(&c);
}

static void test_overrides(void) {
    config c;
    CHECK_EQ_INT(config_init(&c), YOLOC_OK);
    set(&c, "optimizer", "SGD");
    set(&c, "batch", "16");
    recipe_facts f = {.processes = 2, .train_images = 1000, .nc = 80};
    recipe_overrides ov = {.batch = 8, .accumulate = 2, .epochs = 5, .set_norm = 1, .norm = NORM_GN,
                           .set_warmup = 1, .warmup_epochs = 1};
    recipe *r = calloc(1, sizeof *r);
    CHECK_EQ_INT(recipe_resolve(&c, &f, &ov, r), YOLOC_OK);
    CHECK_EQ_INT(r->batch, 8);
    CHECK_EQ_INT(r->processes, 2);
    CHECK_EQ_INT(r->lp.b_eff, 32);
    CHECK_EQ_INT(r->epochs, 5);
    CHECK_EQ_INT(r->norm, NORM_GN);
    CHECK_EQ_INT(r->lp.bn_stats_images, 0);
    CHECK_EQ_INT(r->lp.batches_per_epoch, 63); /* ceil(500 / 8) per process */
    CHECK_EQ_INT(r->lp.steps_per_epoch, 32);
    CHECK_EQ_INT(r->lp.total_steps, 160);
    CHECK_EQ_INT(r->lp.warmup_steps, 32);
    CHECK_NEAR(r->sc.lr_peak[1], 0.01 * 32 / 64, 1e-15); /* linear */

    /* no dataset (bench): optimizer=auto as for a long training */
    set(&c, "optimizer", "auto");
    recipe_facts fb = {.processes = 1, .train_images = 0, .nc = 0};
    CHECK_EQ_INT(recipe_resolve(&c, &fb, NULL, r), YOLOC_OK);
    CHECK_EQ_INT(r->optimizer, OPTIM_SGD);
    CHECK_CONTAINS(r->optimizer_reason, "without a dataset");

    /* a refusal: an error, the recipe still filled */
    set(&c, "optimizer", "SGD");
    set(&c, "lr0", "0.2");
    status st = recipe_resolve(&c, &f, NULL, r);
    CHECK(st < 0);
    CHECK(r->lp.refused);
    CHECK_CONTAINS(yoloc_last_error(), "refused");
    err_clear();
    CHECK_NEAR(r->sc.lr_peak[1], 0.2, 1e-12); /* 16 x 2 x 2 = 64: x1 */
    /* a fractional batch is the command's to resolve */
    set(&c, "lr0", "0.01");
    set(&c, "batch", "0.5");
    CHECK(recipe_resolve(&c, &f, NULL, r) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "key 'batch'");
    err_clear();
    free(r);
    config_free(&c);
}

/* time=: the epochs that fit, re-estimated while the end is more than
 * RECIPE_TIME_FREEZE epochs away; then the plan stays. */
static void test_time_epochs(void) {
    /* 180 s budget, the first epoch took 15 s: 1 + round(165 / 15) = 12 */
    CHECK_EQ_INT(recipe_time_epochs(180, 15, 1, 1, 100), 12);
    /* later: 5 epochs in 55 s (11 s each): 5 + round(125 / 11) = 16 */
    CHECK_EQ_INT(recipe_time_epochs(180, 55, 5, 5, 12), 16);
    /* within RECIPE_TIME_FREEZE (1) of the planned end: the plan stays even if slower */
    CHECK_EQ_INT(recipe_time_epochs(180, 165, 11, 11, 12), 12);
    /* two left but time for one: one more, planned as the last */
    CHECK_EQ_INT(recipe_time_epochs(180, 170, 14, 14, 16), 15);
    /* the budget already used up: stop now */
    CHECK_EQ_INT(recipe_time_epochs(180, 400, 2, 2, 100), 2);
    CHECK_EQ_INT(recipe_time_epochs(180, 181, 11, 11, 12), 11);
    /* resumed: only this process's epochs are measured */
    CHECK_EQ_INT(recipe_time_epochs(100, 20, 12, 2, 50), 12 + 8); /* 10 s each, 80 s left */
}

/* A resized run keeps the optimizer optimizer=auto chose at its start. */
static void test_keeps_optimizer(void) {
    config c;
    CHECK_EQ_INT(config_init(&c), YOLOC_OK);
    set(&c, "epochs", "30");
    set(&c, "batch", "16");
    recipe_facts f = {.processes = 1, .train_images = 205, .nc = 3};
    recipe *r0 = calloc(1, sizeof *r0), *r1 = calloc(1, sizeof *r1);
    CHECK_EQ_INT(recipe_resolve(&c, &f, NULL, r0), YOLOC_OK);
    CHECK_EQ_INT(r0->optimizer, OPTIM_ADAMW);
    set(&c, "epochs", "3000"); /* > 10,000 iterations: auto alone would pick SGD */
    CHECK_EQ_INT(recipe_resolve(&c, &f, NULL, r1), YOLOC_OK);
    CHECK_EQ_INT(r1->optimizer, OPTIM_SGD);
    recipe_overrides ov = {.optimizer_of = r0};
    CHECK_EQ_INT(recipe_resolve(&c, &f, &ov, r1), YOLOC_OK);
    CHECK_EQ_INT(r1->optimizer, OPTIM_ADAMW);
    CHECK_NEAR(r1->lr0, 0.001429, 1e-12);
    CHECK_EQ_INT(r1->lp.total_steps, 4 * 3000);
    CHECK_EQ_INT(r1->sc.total_steps, 4 * 3000);
    free(r0);
    free(r1);
    config_free(&c);
}

int main(void) {
    test_defaults();
    test_overrides();
    test_time_epochs();
    test_keeps_optimizer();
    return test_finish("test_recipe");
}
