/* Precise BatchNorm statistics: the running means and variances that a set
 * of weights should be evaluated with, recomputed for those weights.
 *
 * During training the running statistics are an exponential average
 * (momentum 0.03 per training forward, MODEL_BN_MOMENTUM) of batch
 * statistics taken while the weights moved. They describe the weights of
 * the last ~1/momentum = 33 forward passes, and the start value (mean 0,
 * variance 1) still weighs (1 - momentum)^passes. With few forward passes
 * (a big batch on a small dataset: 3 passes per epoch at batch 88 on 205
 * images) they are neither converged nor the statistics of the weights that
 * are validated and saved, and the validation score then measures the
 * statistics rather than the weights.
 *
 * bnstats_recompute runs training forwards (batch statistics, no backward)
 * of the given weights over a fixed, evenly spaced selection of training
 * images and sets each running value to the mean over those batches of the
 * batch statistic (the variance unbiased, as the running update takes it):
 * the k-th batch (from 0) is folded in with momentum 1/(k+1). The batch
 * statistics are sums about the running mean as a shift (ops/ops.h), whose
 * float rounding grows with (mean - shift)^2 / variance; the weights'
 * running means may be far from their batch means (that is why this
 * exists), so the first batch runs once more before, setting the means the
 * following sums are taken about. The selection
 * and the images are the same on every process and at every call (no random
 * state is drawn from the training loader), so results do not depend on the
 * number of processes' timing and resume stays exact. SyncBatchNorm layers
 * reduce over processes as in training (every process must call this at
 * the same point). GroupNorm layers have no running statistics; a model
 * without BatchNorm is left as it is. */
#ifndef YOLOC_TRAIN_BNSTATS_H
#define YOLOC_TRAIN_BNSTATS_H

#include "core/status.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "nn/model.h"

#include <stdint.h>

typedef struct {
    int images;      /* images to average over: rounded to whole batches, at least one */
    int batch;       /* images per forward: the model's planned training batch */
    int imgsz;       /* square input size (the training plan's) */
    int workers;     /* loader threads */
    int augment;     /* 0: letterboxed as for validation; 1: the training pipeline of `aug` */
    aug_params aug;  /* augment = 1: strengths (mosaic, ...), drawn from `seed` */
    uint64_t seed;
} bnstats_options;

typedef struct {
    int batches, images; /* forwards run and images in them */
    double seconds;
} bnstats_result;

/* m: a model planned for training at (o->batch, o->imgsz, o->imgsz), or
 * plannable so. Runs its training forward with `params` (the model's
 * parameter layout, e.g. the EMA's) and writes the recomputed running
 * statistics into `bufs` (the model's buffer layout; entries of GroupNorm
 * models untouched). The model's own parameters, buffers, BatchNorm
 * counter and momentum are restored before returning, whatever happens.
 * Errors: the loader's (naming the image), YOLOC_ERR_NOMEM. */
status bnstats_recompute(model *m, const float *params, float *bufs, const dataset *ds, const ds_split *sp,
                         const bnstats_options *o, bnstats_result *r);

/* The augmentation seed of the recomputation for a run seeded `seed`:
 * apart from the training loader's, the same at every call. */
static inline uint64_t bnstats_seed(uint64_t seed) { return seed ^ 0xb57a75ull; }

/* 1 when the model has BatchNorm layers with running statistics. */
int bnstats_model_has_bn(const model *m);

#endif
