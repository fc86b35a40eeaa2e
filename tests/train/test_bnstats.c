/* Precise BatchNorm statistics (train/bnstats.h):
 *  - the recomputed running mean and variance of every BatchNorm layer are
 *    the mean over the selected batches of each batch's statistics (each
 *    batch's taken on its own with momentum 1, averaged in double);
 *  - the model's own parameters, buffers, BatchNorm counter and momentum
 *    come back bit for bit; the result may be written into the model's own
 *    buffers;
 *  - the training pipeline (augment=1) is deterministic: two calls agree
 *    bit for bit, and differ from the letterboxed images;
 *  - a GroupNorm model has nothing to recompute; bad options fail, naming
 *    what is wrong.
 * ctest-labels: train */
#include "harness.h"
#include "ops/backend.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "nn/model.h"
#include "train/bnstats.h"
#include "train/weights.h"

#include <stdlib.h>
#include <string.h>

static const char *TINY = YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml";
enum { BATCH = 8, IMGSZ = 64, NIMG = 24 };

static model *tiny(norm_kind nk) {
    model_options mo = {.be = &OPS_BACKEND_CPU, .norm = nk, .gn_groups = 4};
    model *m = NULL;
    status st = weights_open_model(TINY, NULL, 2, &mo, 7, &m, NULL, NULL);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (m) CHECK_EQ_INT(model_plan(m, BATCH, IMGSZ, IMGSZ, 1), YOLOC_OK);
    return m;
}

/* One training step's worth of parameter change, so the weights are not
 * those the running statistics started from. */
static void perturb(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] *= 1.0f + 0.05f * (float)((int)((i * 2654435761u) % 7) - 3) / 3.0f;
}

static int bn_tensor(const param_info *p) {
    return p->buffer && (strstr(p->name, "running_mean") || strstr(p->name, "running_var"));
}

static void test_mean_of_batches(const dataset *ds) {
    model *m = tiny(NORM_BN);
    if (!m) return;
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    float *w = malloc(np * sizeof(float)), *out = malloc(nb * sizeof(float));
    float *p0 = malloc(np * sizeof(float)), *b0 = malloc(nb * sizeof(float));
    double *want = calloc(nb, sizeof(double));
    memcpy(w, model_params(m), np * sizeof(float));
    perturb(w, np);
    for (size_t i = 0; i < nb; i++) out[i] = -7.0f; /* BN entries get overwritten */
    model_set_bn_batches(m, 5);
    memcpy(p0, model_params(m), np * sizeof(float));
    memcpy(b0, model_bufs(m), nb * sizeof(float));

    /* all 24 images in order: 3 batches of 8, letterboxed */
    bnstats_options o = {.images = NIMG, .batch = BATCH, .imgsz = IMGSZ, .workers = 2};
    bnstats_result r;
    status st = bnstats_recompute(m, w, out, ds, &ds->train, &o, &r);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK_EQ_INT(r.batches, 3);
    CHECK_EQ_INT(r.images, NIMG);
    CHECK(memcmp(p0, model_params(m), np * sizeof(float)) == 0);
    CHECK(memcmp(b0, model_bufs(m), nb * sizeof(float)) == 0);
    CHECK_EQ_INT(model_bn_batches(m), 5);
    CHECK(model_bn_momentum(m) == MODEL_BN_MOMENTUM);

    /* the oracle: each batch alone with momentum 1 (running := the batch's
     * statistic), averaged */
    memcpy(model_params(m), w, np * sizeof(float));
    model_set_bn_momentum(m, 1.0);
    loader_options lo;
    loader_options_default(&lo);
    lo.batch = BATCH;
    lo.workers = 0;
    lo.shuffle = 0;
    lo.augment = 0;
    lo.rect = 0;
    lo.aug.imgsz = IMGSZ;
    aug_source src;
    aug_source_from_split(&src, ds, &ds->train);
    loader *L = NULL;
    CHECK_EQ_INT(loader_open(&L, &src, &lo), YOLOC_OK);
    CHECK_EQ_INT(loader_start_epoch(L, 0), YOLOC_OK);
    int k = 0;
    for (const loader_batch *b; L && loader_next(L, &b) == YOLOC_OK && b; k++) {
        const float *y;
        CHECK_EQ_INT(model_forward(m, b->images, &y), YOLOC_OK);
        for (size_t i = 0; i < nb; i++) want[i] += model_bufs(m)[i] / 3.0;
    }
    loader_close(L);
    CHECK_EQ_INT(k, 3);
    double worst = 0;
    size_t nbn = 0, untouched_ok = 1;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (!p->buffer) continue;
        for (size_t i = p->off; i < p->off + p->numel; i++) {
            if (!bn_tensor(p)) {
                untouched_ok &= out[i] == -7.0f;
                continue;
            }
            nbn++;
            double e = fabs(out[i] - want[i]) / (fabs(want[i]) + 1e-2);
            if (e > worst) worst = e;
        }
    }
    CHECK(nbn > 100);
    CHECK(untouched_ok);
    CHECK_MSG(worst < 1e-4, "worst relative difference %g", worst);
    /* and not what the model started with (the check can fail) */
    double moved = 0;
    for (size_t i = 0; i < nb; i++) moved = fmax(moved, fabs(out[i] - b0[i]));
    CHECK_MSG(moved > 1e-2, "moved %g", moved);

    /* into the model's own buffers (the batch statistics are summed about
     * the running mean as a shift, which differs here: rounding only) */
    memcpy(model_params(m), p0, np * sizeof(float));
    model_set_bn_momentum(m, 0);
    CHECK_EQ_INT(bnstats_recompute(m, w, model_bufs(m), ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK(memcmp(p0, model_params(m), np * sizeof(float)) == 0);
    worst = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (bn_tensor(p))
            for (size_t i = p->off; i < p->off + p->numel; i++)
                worst = fmax(worst, fabs(model_bufs(m)[i] - out[i]) / (fabs(out[i]) + 1e-2));
    }
    CHECK_MSG(worst < 1e-4, "in place differs by %g", worst);

    /* rounding to whole batches; a selection larger than the split repeats it */
    o.images = 30;
    CHECK_EQ_INT(bnstats_recompute(m, w, out, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK_EQ_INT(r.batches, 4);
    o.images = 1;
    CHECK_EQ_INT(bnstats_recompute(m, w, out, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK_EQ_INT(r.batches, 1);
    o.images = 90;
    CHECK_EQ_INT(bnstats_recompute(m, w, out, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK_EQ_INT(r.images, 88);

    /* the training pipeline: deterministic, and not the letterboxed images */
    float *a1 = malloc(nb * sizeof(float)), *a2 = malloc(nb * sizeof(float));
    o.images = 16;
    CHECK_EQ_INT(bnstats_recompute(m, w, out, ds, &ds->train, &o, &r), YOLOC_OK);
    o.augment = 1;
    aug_params_default(&o.aug);
    o.seed = 3;
    memcpy(a1, out, nb * sizeof(float));
    memcpy(a2, out, nb * sizeof(float));
    CHECK_EQ_INT(bnstats_recompute(m, w, a1, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK_EQ_INT(bnstats_recompute(m, w, a2, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK(memcmp(a1, a2, nb * sizeof(float)) == 0);
    CHECK(memcmp(a1, out, nb * sizeof(float)) != 0);

    /* bad options */
    o.batch = 0;
    CHECK_EQ_INT(bnstats_recompute(m, w, out, ds, &ds->train, &o, &r), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "batch");
    free(a1);
    free(a2);
    free(w);
    free(out);
    free(p0);
    free(b0);
    free(want);
    model_free(m);
}

static void test_groupnorm(const dataset *ds) {
    model *m = tiny(NORM_GN);
    if (!m) return;
    CHECK(!bnstats_model_has_bn(m));
    size_t nb = model_num_bufs(m);
    float *b = calloc(nb ? nb : 1, sizeof(float));
    bnstats_options o = {.images = 16, .batch = BATCH, .imgsz = IMGSZ};
    bnstats_result r;
    CHECK_EQ_INT(bnstats_recompute(m, model_params(m), b, ds, &ds->train, &o, &r), YOLOC_OK);
    CHECK_EQ_INT(r.batches, 0);
    free(b);
    model_free(m);
}

int main(void) {
    dataset ds;
    dataset_options dopt = {.use_cache = 0, .quiet = 1};
    CHECK_EQ_INT(dataset_open(&ds, "synth:classes=2,images=24,val=4,imgsz=64,seed=5", &dopt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.nimages, NIMG);
    test_mean_of_batches(&ds);
    test_groupnorm(&ds);
    dataset_close(&ds);
    return test_finish("test_bnstats");
}
