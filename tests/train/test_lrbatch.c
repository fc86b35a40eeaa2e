/* The LR/batch rules of train/lrbatch.h that are not the trainer's
 * schedule (test_trainer checks those end to end):
 *  - lrb_target_batch: nbs; clamped into the band; halved while the run has
 *    fewer than LRB_MIN_STEPS optimizer steps, not below 8 per process; the
 *    reason names the rule that decided; a measured critical batch caps it;
 *  - the BatchNorm-statistics rule: auto recomputes when an epoch has fewer
 *    forward passes than the running average spans, over 64 images in whole
 *    batches; bn_stats=N forces N, 0 never; GroupNorm has none;
 *  - an lr0 outside the usual band is a warning when the user set it and a
 *    note with the alternative as key=value when optimizer=auto chose it;
 *    accumulating BatchNorm batches is a note with the exact alternative.
 * ctest-labels: train */
#include "harness.h"
#include "train/lrbatch.h"

static long target(long images, int epochs, int procs, long bmin, long bmax, char *why, size_t cap) {
    lrb_target_input in = {.images = images, .epochs = epochs, .processes = procs, .nbs = 64,
                           .band_min = bmin, .band_max = bmax};
    return lrb_target_batch(&in, why, cap);
}

static void test_target_critical(void) {
    char why[320];
    lrb_target_input in = {.images = 205, .epochs = 30, .processes = 1, .nbs = 64, .band_min = 32, .band_max = 128,
                           .critical = 30};
    CHECK_EQ_INT(lrb_target_batch(&in, why, sizeof why), 16); /* 64 -> 32 -> 16 <= 30 */
    CHECK_CONTAINS(why, "critical batch");
    CHECK_CONTAINS(why, "B_simple 30");
    in.critical = 100; /* above nbs: nbs stands */
    CHECK_EQ_INT(lrb_target_batch(&in, why, sizeof why), 64);
    CHECK_CONTAINS(why, "nbs 64");
    in.critical = 3; /* not below BatchNorm's floor */
    CHECK_EQ_INT(lrb_target_batch(&in, why, sizeof why), 8);
    CHECK_CONTAINS(why, "not below BatchNorm");
    in.critical = 0; /* not measured */
    CHECK_EQ_INT(lrb_target_batch(&in, why, sizeof why), 64);
}

static void test_choose_norm(void) {
    char why[400];
    CHECK_EQ_INT(lrb_choose_norm(16, 1, 4, 0, why, sizeof why), NORM_BN);
    CHECK_CONTAINS(why, "close to, not exactly");
    CHECK_EQ_INT(lrb_choose_norm(4, 1, 1, 0, why, sizeof why), NORM_GN);
    CHECK_EQ_INT(lrb_choose_norm(4, 1, 1, 1, why, sizeof why), NORM_BN); /* pretrained statistics kept */
    CHECK_CONTAINS(why, "pretrained");
    CHECK_EQ_INT(lrb_choose_norm(1, 1, 1, 1, why, sizeof why), NORM_GN);
    CHECK_EQ_INT(lrb_choose_norm(4, 2, 1, 0, why, sizeof why), NORM_SYNCBN); /* 8 images over 2 processes */
    CHECK_EQ_INT(lrb_choose_norm(2, 2, 1, 0, why, sizeof why), NORM_GN);
    CHECK_CONTAINS(why, "even SyncBatchNorm");
}

static void test_target(void) {
    char why[320];
    /* BCCD: 205 images x 30 epochs at 64 = 4 x 30 = 120 steps: nbs */
    CHECK_EQ_INT(target(205, 30, 1, 32, 128, why, sizeof why), 64);
    CHECK_CONTAINS(why, "nbs 64");
    /* 100 images x 30 epochs: 64 -> 2 x 30 = 60 steps; 32 -> 4 x 30 = 120 */
    CHECK_EQ_INT(target(100, 30, 1, 32, 128, why, sizeof why), 32);
    CHECK_CONTAINS(why, "enough optimizer steps");
    CHECK_CONTAINS(why, "60 steps");
    CHECK_CONTAINS(why, "120 steps");
    /* the steps rule goes below the band's lower end: 40 x 10 at 8 = 50 */
    CHECK_EQ_INT(target(40, 10, 1, 32, 128, why, sizeof why), 8);
    CHECK_CONTAINS(why, "not below BatchNorm");
    /* 8 per process: with 4 processes the floor is 32 */
    CHECK_EQ_INT(target(40, 10, 4, 32, 128, why, sizeof why), 32);
    /* a big dataset: nbs; the band clamps nbs */
    CHECK_EQ_INT(target(118287, 300, 8, 32, 128, why, sizeof why), 64);
    CHECK_EQ_INT(target(118287, 300, 1, 96, 256, why, sizeof why), 96);
    CHECK_CONTAINS(why, "target_batch_min 96");
    CHECK_EQ_INT(target(118287, 300, 1, 8, 32, why, sizeof why), 32);
    CHECK_CONTAINS(why, "target_batch_max 32");
    CHECK_EQ_INT(target(118287, 300, 1, 0, 0, why, sizeof why), 64);
    /* exactly LRB_MIN_STEPS is enough: 64 x 10 images, 10 epochs at 64 */
    CHECK_EQ_INT(target(640, 10, 1, 32, 128, why, sizeof why), 64);
    CHECK_EQ_INT(target(639, 9, 1, 32, 128, why, sizeof why), 32);
}

static lrb_input base(int batch, long images, long bn_stats) {
    lrb_input in = {.batch = batch, .processes = 1, .nbs = 64, .optimizer = OPTIM_SGD, .lr0 = 0.01,
                    .weight_decay = 5e-4, .warmup_epochs = 3, .rule = LR_SCALE_LINEAR, .batchnorm = 1,
                    .images_per_epoch = images, .epochs = 30, .bn_stats = bn_stats};
    return in;
}

static void test_bn_stats(void) {
    lrb_plan p;
    /* 205 images at batch 88: 3 passes per epoch -> on, one batch of 88 */
    lrb_input in = base(88, 205, -1);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 88);
    CHECK_CONTAINS(p.bn_stats_reason, "3 forward passes per epoch");
    /* batch 16: 13 passes -> on, 4 batches of 16 */
    in = base(16, 205, -1);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 64);
    /* 34 passes per epoch renew them (1 / 0.03 = 33.3): off */
    in = base(16, 16 * 34, -1);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 0);
    CHECK_CONTAINS(p.bn_stats_reason, "used as they are");
    in = base(16, 16 * 33, -1);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 64);
    /* given: N images in whole batches (rounded), or never */
    in = base(16, 100000, 200);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 208);
    in = base(16, 205, 0);
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 0);
    CHECK_CONTAINS(p.bn_stats_reason, "bn_stats=0");
    /* GroupNorm: nothing to recompute */
    in = base(16, 205, -1);
    in.batchnorm = 0;
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(p.bn_stats_images, 0);
}

static int notes_with(const lrb_plan *p, const char *what) {
    int n = 0;
    for (int i = 0; i < p->nnotes; i++) n += strstr(p->notes[i], what) != NULL;
    return n;
}

static void test_auto_lr_note(void) {
    lrb_plan p;
    lrb_input in = base(16, 205, -1);
    in.optimizer = OPTIM_ADAMW;
    in.lr0 = 0.001429;
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(notes_with(&p, "optimizer=auto"), 0);
    /* accumulating BatchNorm batches (the defaults' 16 x 4) is a note with
     * the exact alternative, not a warning */
    CHECK_EQ_INT(notes_with(&p, "norm=gn"), 1);
    for (int i = 0; i < p.nwarnings; i++) CHECK(!strstr(p.warnings[i], "accumulate"));
    int banded = 0;
    for (int i = 0; i < p.nwarnings; i++) banded += strstr(p.warnings[i], "outside the usual band") != NULL;
    CHECK_EQ_INT(banded, 1);
    in.lr0_auto = 1;
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(notes_with(&p, "optimizer=auto"), 1);
    CHECK_EQ_INT(notes_with(&p, "optimizer=AdamW lr0=0.001"), 1);
    for (int i = 0; i < p.nwarnings; i++) CHECK(!strstr(p.warnings[i], "usual band"));
    /* inside the band: neither */
    in.lr0 = 0.001;
    CHECK_EQ_INT(lrb_compute(&in, &p), YOLOC_OK);
    CHECK_EQ_INT(notes_with(&p, "usual"), 0);
    for (int i = 0; i < p.nwarnings; i++) CHECK(!strstr(p.warnings[i], "usual band"));
}

int main(void) {
    test_target();
    test_target_critical();
    test_choose_norm();
    test_bn_stats();
    test_auto_lr_note();
    return test_finish("test_lrbatch");
}
