/* The memory model of a training process (see memory.h). */
#include "plan/memory.h"

#include "core/timer.h"
#include "data/loader.h"
#include "eval/nms.h"
#include "nn/module.h"
#include "ops/loss/assigner.h"
#include "ops/backend.h"
#include "train/detloss.h"
#include "train/ema.h"
#include "train/precision.h"
#include "train/validate.h"
#include "train/weights.h"
#include "train/trainer.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DET_BYTES 64      /* one kept validation detection with its matches */
#define LOADER_PREFETCH 2 /* loader_options_default's prefetch: prefetch + 1 batch buffers */
#define RECT_PAD 0.5      /* loader_options_default's rect_pad: the validation shapes' padding in strides */

int mem_val_imgsz(const model *m, int imgsz) {
    int stride = model_stride(m, model_nlevels(m) - 1);
    return (int)ceil((double)imgsz / stride + RECT_PAD) * stride;
}

/* Anchors (rows of the raw head) for an imgsz x imgsz input. */
static size_t anchors_at(const model *m, int imgsz) {
    size_t a = 0;
    int na = model_na(m) > 0 ? model_na(m) : 1;
    for (int l = 0; l < model_nlevels(m); l++) {
        size_t g = (size_t)(imgsz / model_stride(m, l));
        a += g * g * (size_t)na;
    }
    return a;
}

/* Channels of the training head per anchor row. */
static size_t head_channels(const model *m) {
    return model_na(m) > 0 ? (size_t)(5 + model_nc(m)) : (size_t)(4 * model_reg_max(m) + model_nc(m));
}

/* The largest convolution input of one image in floats: the backward-data
 * temporary of oneDNN's shared scratch holds one of these per image. */
static size_t max_conv_input(const model_spec *s, int imgsz) {
    size_t best = 0;
    for (int i = 0; i < s->nlayers; i++) {
        const nn_module_desc *d = nn_module(s->layers[i].kind);
        size_t v = d && d->conv_input ? d->conv_input(s, &s->layers[i], imgsz) : 0;
        if (v > best) best = v;
    }
    return best;
}

/* Loss and assigner workspace of one forward of n images (v8loss's plan:
 * per anchor alpha, owner, score, predicted box and a flag, the per-image
 * assigner workspace; targets are few and counted generously). */
static size_t loss_workspace(const model *m, size_t n, size_t A) {
    tal_cfg tc = TAL_CFG_V8;
    size_t per_anchor = sizeof(double) + sizeof(int) + sizeof(float) + 4 * sizeof(float) + 1;
    size_t targets = n * 256;
    (void)m;
    return n * A * per_anchor + n * (tal_workspace_size(A, 0, &tc) + 128) + targets * tal_workspace_size(0, 1, &tc);
}

status mem_predict(model *m, const mem_input *in, mem_estimate *e) {
    memset(e, 0, sizeof *e);
    if (in->batch < 1) return err_set(YOLOC_ERR_INVALID, "key 'batch': must be >= 1 image per process, got %d", in->batch);
    const int S = in->imgsz, b = in->batch, vb = in->val_batch > 0 ? in->val_batch : val_batch_of_training(in->batch);
    const int V = in->val_imgsz > 0 ? in->val_imgsz : mem_val_imgsz(m, S);
    e->batch = b;
    e->val_batch = vb;
    e->val_imgsz = V;
    TRY(model_plan_bytes(m, b, S, S, 1, &e->act_train));
    TRY(model_plan_bytes(m, vb, V, V, 0, &e->act_val));

    /* parameter-sized arrays: model params + grads, validation model params
     * (its gradient buffer is allocated but never written, so it never
     * becomes resident), EMA, optimizer state, the snapshot of params, EMA
     * and optimizer state, the noise-scale copy */
    int nstate = in->optimizer == OPTIM_SGD ? 1 : 2;
    int copies = 4 + nstate + 2 + nstate + (in->noise_scale ? 1 : 0);
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    e->weight_copies = copies;
    e->weights = (size_t)copies * np * sizeof(float) + 5 * nb * sizeof(float); /* bufs: model, val model, EMA, snapshot x2 */

    /* oneDNN: convolution weights in the primitives' layouts (training:
     * forward, backward data, diff weights; validation: forward), and the
     * shared scratch of the training model (one layer input per image) */
    size_t conv = 0;
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (!p->buffer && p->ndim == 4) conv += p->numel;
    }
    e->onednn = 4 * conv * sizeof(float) + (size_t)b * max_conv_input(model_get_spec(m), S) * sizeof(float);

    /* loss: gradient [b, A, no], workspaces of the training and validation
     * batches, NMS workspace */
    size_t A = anchors_at(m, S), AV = anchors_at(m, V);
    nms_cfg nc = NMS_CFG_VAL;
    e->loss = (size_t)b * A * head_channels(m) * sizeof(float) + loss_workspace(m, (size_t)b, A) +
              loss_workspace(m, (size_t)vb, AV) + nms_workspace_size(AV, model_nc(m), &nc);

    /* loaders: (prefetch + 1) batch buffers each */
    e->loaders = (LOADER_PREFETCH + 1) * 3 * sizeof(float) * ((size_t)b * S * S + (size_t)vb * V * V);

    /* augmentation, per thread (training threads and validation threads are
     * not busy at the same time): decoded original (RGB bytes), the resize
     * temporary (original height x imgsz floats x 3), the mosaic canvas
     * (2 imgsz)^2, the resized and warped images (imgsz^2 each); twice with
     * mixup/cutmix partners */
    size_t px = in->max_image_pixels > 0 ? (size_t)in->max_image_pixels : (size_t)S * S;
    size_t oh = (size_t)sqrt((double)px) + 1;
    size_t per_thread = 3 * px + 12 * oh * (size_t)S + 3 * 4 * (size_t)S * S + 2 * 3 * (size_t)S * S;
    if (in->partners) per_thread += 3 * 4 * (size_t)S * S + 2 * 3 * (size_t)S * S;
    e->augment = (size_t)(in->workers > 0 ? in->workers : 1) * per_thread;

    e->dets = (size_t)(in->val_images > 0 ? in->val_images : 0) * (size_t)(in->max_det > 0 ? in->max_det : 300) * DET_BYTES;
    e->base = in->base;
    e->total = e->act_train + e->act_val + e->weights + e->onednn + e->loss + e->loaders + e->augment + e->dets + e->base;
    return YOLOC_OK;
}

void mem_print(const mem_estimate *e, FILE *f, const char *indent) {
    char a[32];
    fprintf(f, "%sactivations, training (batch %d):     %s\n", indent, e->batch, sys_fmt_bytes(e->act_train, a, sizeof a));
    fprintf(f, "%sactivations, validation (batch %d, up to %dx%d): %s\n", indent, e->val_batch, e->val_imgsz,
            e->val_imgsz, sys_fmt_bytes(e->act_val, a, sizeof a));
    fprintf(f, "%sweights, gradients, EMA, optimizer state, validation copy, rollback snapshot (%d x parameters): %s\n",
            indent, e->weight_copies, sys_fmt_bytes(e->weights, a, sizeof a));
    fprintf(f, "%soneDNN weight layouts and scratch:    %s\n", indent, sys_fmt_bytes(e->onednn, a, sizeof a));
    fprintf(f, "%sloss gradient and workspaces:         %s\n", indent, sys_fmt_bytes(e->loss, a, sizeof a));
    fprintf(f, "%sloader batch buffers (train + val):   %s\n", indent, sys_fmt_bytes(e->loaders, a, sizeof a));
    fprintf(f, "%saugmentation images per thread:       %s\n", indent, sys_fmt_bytes(e->augment, a, sizeof a));
    fprintf(f, "%svalidation detections:                %s\n", indent, sys_fmt_bytes(e->dets, a, sizeof a));
    fprintf(f, "%sprocess base (code, libraries, data index): %s\n", indent, sys_fmt_bytes(e->base, a, sizeof a));
}

/* ------------------------------------------------------------------------ */
/* The real thing. */


status mem_measure(const config *c, const dataset *ds, norm_kind norm, optim_kind kind, int batch, int workers,
                   mem_measured *out) {
    memset(out, 0, sizeof *out);
    if (batch < 1) return err_set(YOLOC_ERR_INVALID, "memory check: batch must be >= 1, got %d", batch);
    model *m = NULL, *vm = NULL;
    loader *L = NULL, *VL = NULL;
    optim o;
    ema e;
    detloss loss, vloss;
    int have_o = 0, have_e = 0, have_l = 0, have_vl = 0;
    float *snap[2 + OPTIM_MAX_STATE] = {0}, *snap_b[2] = {0};
    void *nms_ws = NULL;
    status st = YOLOC_OK;
    out->base = sys_rss_now();
    out->peak_reset = sys_reset_rss_peak();
    double t0 = time_now();

    backend be;
    TRY(config_backend(c, &be));
    model_options mo = {.be = be, .norm = norm, .gn_groups = (int)c->gn_groups,
                        .bf16 = precision_resolve(c->amp, 0, NULL)};
    TRY_GOTO(st, weights_open_model(c->model, NULL, ds->nc, &mo, (uint64_t)c->seed, &m, NULL, NULL));
    model_spec spec = *model_get_spec(m);
    TRY_GOTO(st, model_create(&vm, &spec, &mo, (uint64_t)c->seed));
    TRY_GOTO(st, optim_init(&o, kind, m));
    have_o = 1;
    TRY_GOTO(st, ema_init(&e, m, 0, 0));
    have_e = 1;
    detloss_cfg lc = {.gains = {(float)c->box, (float)c->cls, (float)c->dfl}, .label_smoothing = (float)c->label_smoothing};
    TRY_GOTO(st, detloss_init(&loss, m, &lc));
    have_l = 1;
    TRY_GOTO(st, detloss_init(&vloss, vm, &lc));
    have_vl = 1;

    /* the rollback snapshot the trainer takes at each epoch start */
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    optim_state_view v[OPTIM_MAX_STATE];
    int nv = optim_state(&o, v);
    be = model_backend(m);
    void *bx = model_backend_ctx(m);
    for (int i = 0; i < 2 + nv; i++) {
        if (!(snap[i] = backend_alloc_floats(be, bx, np, &st))) goto fail;
        TRY_GOTO(st, backend_copy(be, bx, snap[i], i == 0 ? model_params(m) : i == 1 ? e.params : v[i - 2].data,
                                  np * sizeof(float)));
    }
    for (int i = 0; i < 2 && nb; i++) {
        if (!(snap_b[i] = backend_alloc_floats(be, bx, nb, &st))) goto fail;
        TRY_GOTO(st, backend_copy(be, bx, snap_b[i], model_bufs(m), nb * sizeof(float)));
    }

    /* one training step on a real batch */
    aug_source src;
    aug_source_from_split(&src, ds, &ds->train);
    loader_options lo;
    loader_options_default(&lo);
    lo.batch = batch;
    lo.workers = workers;
    lo.seed = (uint64_t)c->seed;
    lo.shuffle = 1;
    lo.augment = 1;
    lo.stride = model_stride(m, model_nlevels(m) - 1);
    train_aug_params(c, &lo.aug);
    if (lo.workers > 0) lo.aug.threads = 1;
    TRY_GOTO(st, loader_open(&L, &src, &lo));
    TRY_GOTO(st, loader_start_epoch(L, 0));
    const loader_batch *bt;
    TRY_GOTO(st, loader_next(L, &bt));
    if (!bt) {
        st = err_set(YOLOC_ERR_INVALID, "memory check: the training split gave no batch");
        goto fail;
    }
    TRY_GOTO(st, model_plan(m, bt->n, bt->h, bt->w, 1));
    const float *y;
    TRY_GOTO(st, model_forward(m, bt->images, &y));
    float *grad = model_head_grad(m);
    float terms[3];
    st = detloss_compute(&loss, m, bt->targets, bt->ntargets, terms, grad);
    if (st < 0 && st != YOLOC_ERR_NUMERIC) goto fail;
    st = YOLOC_OK;
    TRY_GOTO(st, model_zero_grad(m));
    TRY_GOTO(st, model_backward(m, grad));
    optim_group_hp hp[3];
    for (int g = 0; g < 3; g++) hp[g] = (optim_group_hp){.lr = 1e-4, .momentum = 0.9, .weight_decay = g == 1 ? 5e-4 : 0};
    TRY_GOTO(st, optim_step(&o, model_params(m), model_grads(m), hp));
    ema_update(&e, model_params(m), model_bufs(m));

    /* validation: a 2 x batch eval forward at imgsz x imgsz with its loss */
    aug_source vsrc;
    aug_source_from_split(&vsrc, ds, ds->val.nimages ? &ds->val : &ds->train);
    loader_options vlo;
    loader_options_default(&vlo);
    vlo.batch = val_batch_of_training(batch);
    vlo.workers = workers;
    vlo.shuffle = 0;
    vlo.augment = 0;
    vlo.rect = 0;
    vlo.stride = lo.stride;
    vlo.aug.imgsz = mem_val_imgsz(m, (int)c->imgsz); /* the largest rectangular validation shape, square */
    TRY_GOTO(st, loader_open(&VL, &vsrc, &vlo));
    TRY_GOTO(st, loader_start_epoch(VL, 0));
    TRY_GOTO(st, loader_next(VL, &bt));
    if (!bt) {
        st = err_set(YOLOC_ERR_INVALID, "memory check: the validation split gave no batch");
        goto fail;
    }
    TRY_GOTO(st, backend_copy(model_backend(m), model_backend_ctx(m), model_params(vm), e.params, np * sizeof(float)));
    TRY_GOTO(st, backend_copy(model_backend(m), model_backend_ctx(m), model_bufs(vm), e.bufs, nb * sizeof(float)));
    TRY_GOTO(st, model_plan(vm, bt->n, bt->h, bt->w, 0));
    TRY_GOTO(st, model_forward(vm, bt->images, &y));
    nms_cfg ncfg = NMS_CFG_VAL;
    if (!(nms_ws = malloc(nms_workspace_size((size_t)model_anchors(vm), model_nc(vm), &ncfg)))) {
        st = err_set(YOLOC_ERR_NOMEM, "memory check: out of memory (NMS workspace)");
        goto fail;
    }
    st = detloss_compute(&vloss, vm, bt->targets, bt->ntargets, terms, NULL);
    if (st < 0 && st != YOLOC_ERR_NUMERIC) goto fail;
    st = YOLOC_OK;
    out->peak = sys_rss_peak();
    out->seconds = time_now() - t0;
fail:
    free(nms_ws);
    loader_close(VL);
    loader_close(L);
    if (m) { /* the snapshots live on the model's backend */
        for (int i = 0; i < 2 + OPTIM_MAX_STATE; i++) backend_free(model_backend(m), model_backend_ctx(m), snap[i]);
        for (int i = 0; i < 2; i++) backend_free(model_backend(m), model_backend_ctx(m), snap_b[i]);
    }
    if (have_vl) detloss_free(&vloss);
    if (have_l) detloss_free(&loss);
    if (have_e) ema_free(&e);
    if (have_o) optim_free(&o);
    model_free(vm);
    model_free(m);
    return st;
}
