/* Detection-loss dispatch (see detloss.h). */
#include "train/detloss.h"
#include "ops/backend.h"

#include <string.h>

void detloss_default_gains(const model *m, float gains[3]) {
    if (model_na(m)) {
        v5_loss_cfg c = v5_loss_cfg_default(model_nc(m), model_na(m));
        gains[0] = c.box;
        gains[1] = c.cls;
        gains[2] = 0.0f;
        return;
    }
    v8_loss_cfg c = v8_loss_cfg_default(model_nc(m));
    gains[0] = c.box;
    gains[1] = c.cls;
    gains[2] = c.dfl;
}

status detloss_init(detloss *L, const model *m, const detloss_cfg *cfg) {
    memset(L, 0, sizeof *L);
    if (model_na(m)) {
        L->kind = DETLOSS_V5;
        L->names[0] = "box";
        L->names[1] = "obj";
        L->names[2] = "cls";
        v5_loss_cfg lc = v5_loss_cfg_default(model_nc(m), model_na(m));
        if (cfg) {
            lc.box = cfg->gains[0];
            lc.cls = cfg->gains[1];
            lc.label_smoothing = cfg->label_smoothing;
        }
        return v5_loss_init(&L->v5, &lc);
    }
    L->kind = DETLOSS_V8;
    L->names[0] = "box";
    L->names[1] = "cls";
    L->names[2] = "dfl";
    v8_loss_cfg lc = v8_loss_cfg_default(model_nc(m));
    lc.reg_max = model_reg_max(m);
    if (cfg) {
        lc.box = cfg->gains[0];
        lc.cls = cfg->gains[1];
        lc.dfl = cfg->gains[2];
        lc.label_smoothing = cfg->label_smoothing;
    }
    return v8_loss_init(&L->v8, &lc);
}

void detloss_free(detloss *L) {
    if (L->kind == DETLOSS_V8) v8_loss_free(&L->v8);
    if (L->kind == DETLOSS_V5) v5_loss_free(&L->v5);
    memset(L, 0, sizeof *L);
}

status detloss_compute(detloss *L, const model *m, const float *targets, size_t ntargets,
                       float terms[3], float *grad) {
    const float *raw = model_raw_output(m);
    if (!raw) return err_set(YOLOC_ERR_INVALID, "detloss: the model is not planned");
    ops_head_grid g = {.batch = model_planned_batch(m), .nlevels = model_nlevels(m)};
    for (int l = 0; l < g.nlevels; l++) {
        model_level_shape(m, l, &g.h[l], &g.w[l]);
        g.stride[l] = model_stride(m, l);
    }
    /* the loss runs on the backend: the targets go in, the terms and the
     * normaliser come out */
    backend be = model_backend(m);
    void *ctx = model_backend_ctx(m);
    model_note_to_backend(m, ntargets * 6 * sizeof(float));
    model_note_to_host(m, 3 * sizeof(float) + 2 * sizeof(double));
    if (L->kind == DETLOSS_V5) {
        float anchors[SPEC_MAX_LEVELS * SPEC_MAX_ANCHORS * 2];
        TRY(model_anchor_sizes_host(m, anchors));
        status st = backend_v5_loss(be, ctx, &L->v5, raw, &g, anchors, targets, ntargets, terms, grad);
        L->norm = L->norm_raw = g.batch; /* a mean per component: images (see detloss.h) */
        return st;
    }
    status st = backend_v8_loss(be, ctx, &L->v8, raw, &g, targets, ntargets, terms, grad);
    L->norm = L->v8.tss;
    L->norm_raw = L->v8.tss_raw;
    return st;
}
