/* The memory model of one training process: what `yoloc train` holds at its
 * peak for a given (model, batch, imgsz, optimizer), computed without
 * allocating, so that `yoloc plan` and `yoloc train batch=-1` can pick the
 * largest batch that fits before anything is allocated.
 *
 * The peak of a training process is at validation time: the training
 * model's activation arena (planned once, kept between epochs) is still
 * allocated when the validation model plans its own for 2 x batch images,
 * and both loaders' batch buffers are alive. The terms:
 *   activations  model_plan_bytes(training, batch) at imgsz x imgsz +
 *                model_plan_bytes(eval, val_batch = 2 x batch) at the largest
 *                rectangular validation shape (imgsz/stride + 0.5 strides,
 *                rounded up, on both sides: 672 x 672 for 640);
 *   weights      parameter-sized float buffers: the training model's
 *                parameters and gradients, the validation model's
 *                parameters (its gradients are never written, so never
 *                resident), the EMA, the optimizer state
 *                (SGD momentum 1x, Adam/AdamW 2x), the rollback snapshot
 *                taken at every epoch start (parameters, EMA, optimizer
 *                state), the noise-scale copy; BatchNorm buffers likewise;
 *   oneDNN       the convolution primitives' private weight copies (forward,
 *                backward-data and diff-weights layouts for the training
 *                model, forward for the validation model) and the shared
 *                scratch holding one layer input of the batch (the
 *                backward-data temporary);
 *   loss         the loss gradient buffer [batch, anchors, no] (no = 4 x
 *                reg_max + nc, or the v5 layout 5 + nc per anchor row) and
 *                the loss/assigner workspaces of training and validation;
 *   loaders      (prefetch + 1) batch buffers of batch x 3 x imgsz^2 floats
 *                for training and of val_batch images at the validation
 *                shape;
 *   augmentation per loader thread: the mosaic canvas (2 imgsz)^2 x 3 bytes,
 *                a decoded original image, the resized and warped copies
 *                (twice with mixup/cutmix partners);
 *   detections   up to max_det per validation image, kept for the metrics;
 *   base         the process before training: code, libraries, threads,
 *                the dataset index (measured by the caller).
 * Recomputing the BatchNorm statistics before a validation (bn_stats,
 * train/bnstats.h) runs the training model's own plan with its own loader
 * (batch buffers and one parameter copy), all freed before the validation
 * model plans: below the validation peak, so not a term.
 * mem_measure() runs the real thing (one training step and one validation
 * forward) and reads the peak resident set size, to check the model. */
#ifndef YOLOC_PLAN_MEMORY_H
#define YOLOC_PLAN_MEMORY_H

#include "core/status.h"
#include "core/sysmem.h"
#include "data/dataset.h"
#include "nn/model.h"
#include "train/config.h"
#include "train/optim.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
    int batch;              /* images per process per step */
    int imgsz;
    int val_batch;          /* 0: 2 x batch, as the trainer validates */
    int val_imgsz;          /* side of the largest validation batch; 0: the largest rectangular shape,
                               ceil(imgsz / stride + 0.5) x stride (672 for 640), which a batch that
                               mixes landscape and portrait images gets on both sides */
    optim_kind optimizer;
    int workers;            /* loader threads the trainer will use (min(workers, cores)); 0 = none */
    int noise_scale;        /* 1: the trainer keeps one more parameter-sized copy */
    int partners;           /* 1: mixup or cutmix > 0 (a second augmented image per sample) */
    long max_image_pixels;  /* largest original image (w x h) of the training split; 0 = imgsz^2 */
    long val_images;        /* images of the validation split */
    int max_det;            /* detections kept per validation image */
    size_t base;            /* the process before training (code, libraries, dataset index) */
} mem_input;

typedef struct {
    size_t act_train;       /* training activation arena */
    size_t act_val;         /* validation (eval) arena at val_batch */
    size_t weights;         /* parameter- and buffer-sized arrays */
    int weight_copies;      /* how many parameter-sized arrays */
    size_t onednn;          /* primitive weight copies + shared scratch */
    size_t loss;            /* loss gradient + workspaces */
    size_t loaders;         /* batch buffers of both loaders */
    size_t augment;         /* per-thread augmentation images */
    size_t dets;            /* validation detections */
    size_t base;
    size_t total;
    int batch, val_batch, val_imgsz;
} mem_estimate;

/* The side of the largest rectangular validation batch for imgsz. */
int mem_val_imgsz(const model *m, int imgsz);

/* Fills e for model m (spec and parameter counts are read; any activation
 * plan of m is dropped, see model_plan_bytes). */
status mem_predict(model *m, const mem_input *in, mem_estimate *e);

/* One line per term, indented by `indent`. */
void mem_print(const mem_estimate *e, FILE *f, const char *indent);

/* What mem_measure saw. */
typedef struct {
    size_t base;      /* VmRSS just before */
    size_t peak;      /* VmHWM after the step and the validation forward */
    int peak_reset;   /* 1: the peak was reset before (it is the step's own) */
    double seconds;
} mem_measured;

/* Runs what the model describes, for real: the training and validation
 * models (norm, backend from c), the training loader on ds's train split
 * (augmentation of c, `workers` threads), optimizer, EMA, loss, the
 * rollback snapshot, one training step (forward, loss, backward, optimizer
 * step, EMA update) on a real batch of `batch` images at c->imgsz, then the
 * validation loader (2 x batch, letterboxed to the largest rectangular
 * validation shape) and one eval forward with its loss; reads the peak
 * resident set size. Everything is
 * freed before returning. */
status mem_measure(const config *c, const dataset *ds, norm_kind norm, optim_kind kind, int batch, int workers,
                   mem_measured *out);

#endif
