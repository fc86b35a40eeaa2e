/* Detection-loss dispatch (see detloss.h). */
#include "train/detloss.h"

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
    int nl = model_nlevels(m), lh[SPEC_MAX_LEVELS], lw[SPEC_MAX_LEVELS], strides[SPEC_MAX_LEVELS];
    for (int l = 0; l < nl; l++) {
        model_level_shape(m, l, &lh[l], &lw[l]);
        strides[l] = model_stride(m, l);
    }
    int B = model_planned_batch(m);
    /* the loss runs on the host: it reads the raw head */
    const float *raw;
    TRY(model_raw_output_host(m, &raw));
    if (L->kind == DETLOSS_V5) {
        float anchors[SPEC_MAX_LEVELS * SPEC_MAX_ANCHORS * 2];
        TRY(model_anchor_sizes_host(m, anchors));
        status st = v5_loss_compute(&L->v5, raw, B, nl, lh, lw, strides, anchors, targets, ntargets, terms, grad);
        L->norm = L->norm_raw = B; /* a mean per component: images (see detloss.h) */
        return st;
    }
    status st = v8_loss_compute(&L->v8, raw, B, nl, lh, lw, strides, targets,
                                ntargets, terms, grad);
    L->norm = L->v8.tss;
    L->norm_raw = L->v8.tss_raw;
    return st;
}
