/* Detect (YOLOv8 anchor-free head): per level l, a box branch
 * cv2[l] = Conv(ch, c2, 3) -> Conv(c2, c2, 3) -> Conv2d(c2, 4*reg_max, 1)
 * and a class branch cv3[l] = Conv(ch, c3, 3) -> Conv(c3, c3, 3) ->
 * Conv2d(c3, nc, 1), with c2 = max(16, ch0/4, 4*reg_max), c3 = max(ch0,
 * min(nc, 100)); a frozen DFL 1x1 convolution (weights 0..reg_max-1).
 * YOLO11's head (dw_cls) has the class branch
 * cv3[l] = DWConv(ch, ch, 3) -> Conv(ch, c3, 1) -> DWConv(c3, c3, 3) ->
 * Conv(c3, c3, 1) -> Conv2d(c3, nc, 1) (state_dict cv3.l.0.0, cv3.l.0.1,
 * cv3.l.1.0, cv3.l.1.1, cv3.l.2).
 *
 * Training output: raw [B, A, 4*reg_max + nc] (anchor-major, levels in
 * order, row-major within a level). Eval output: decoded [B, A, 4 + nc]:
 * softmax-expectation per side (weighted by the DFL weights), box
 * x1y1 = anchor - lt, x2y2 = anchor + rb, as (cx, cy, w, h) times the
 * stride, anchors at cell centres (offset 0.5); class scores sigmoid.
 * Bias initialisation as Ultralytics' Detect.bias_init: box 1.0, class
 * log(5 / nc / (640 / stride)^2). */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DET_MAX_BRANCH 5 /* convolutions in a branch */

typedef struct {
    int nl, nc, reg_max, c2, c3;
    int nb[2]; /* convolutions in the box and the class branch */
    convblock br[2][SPEC_MAX_LEVELS][DET_MAX_BRANCH]; /* [0]: box (cv2), [1]: class (cv3); the last is the plain conv */
    size_t dfl_off;
    /* plan */
    int lh[SPEC_MAX_LEVELS], lw[SPEC_MAX_LEVELS], a0[SPEC_MAX_LEVELS];
    int anchors;
    float *out;          /* [B, A, no] raw (training) or [B, A, 4+nc] (eval) */
    float *raw;          /* [B, A, no] raw head (== out in training plans) */
    float *d_out, *d_a, *d_b; /* backward scratch: branch output grad, mid grads */
} detect;

static status detect_build(nn_layer *L, model *m, const layer_spec *ls) {
    detect *D = calloc(1, sizeof *D);
    if (!D) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = D;
    D->nl = ls->nlevels;
    D->nc = ls->nc;
    D->reg_max = ls->reg_max;
    int ch0 = ls->ch[0];
    D->c2 = ch0 / 4 > 16 ? ch0 / 4 : 16;
    if (D->c2 < 4 * D->reg_max) D->c2 = 4 * D->reg_max;
    D->c3 = D->nc < 100 ? D->nc : 100;
    if (D->c3 < ch0) D->c3 = ch0;
    int i = ls->index;
    char prefix[64];
    D->nb[0] = 3;
    D->nb[1] = ls->dw_cls ? 5 : 3;
    for (int l = 0; l < D->nl; l++) {
        int ch = ls->ch[l];
        convblock *b = D->br[0][l];
        snprintf(prefix, sizeof prefix, "model.%d.cv2.%d.0", i, l);
        TRY(convblock_build(&b[0], m, i, prefix, ch, D->c2, 3, 1, 1, 1, 1, 1, 1));
        snprintf(prefix, sizeof prefix, "model.%d.cv2.%d.1", i, l);
        TRY(convblock_build(&b[1], m, i, prefix, D->c2, D->c2, 3, 1, 1, 1, 1, 1, 1));
        snprintf(prefix, sizeof prefix, "model.%d.cv2.%d.2", i, l);
        TRY(convblock_build(&b[2], m, i, prefix, D->c2, 4 * D->reg_max, 1, 1, 0, 1, 1, 0, 0));
    }
    for (int l = 0; l < D->nl; l++) {
        int ch = ls->ch[l];
        convblock *b = D->br[1][l];
        if (ls->dw_cls) {
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.0.0", i, l);
            TRY(convblock_build(&b[0], m, i, prefix, ch, ch, 3, 1, 1, ch, 1, 1, 1));
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.0.1", i, l);
            TRY(convblock_build(&b[1], m, i, prefix, ch, D->c3, 1, 1, 0, 1, 1, 1, 1));
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.1.0", i, l);
            TRY(convblock_build(&b[2], m, i, prefix, D->c3, D->c3, 3, 1, 1, D->c3, 1, 1, 1));
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.1.1", i, l);
            TRY(convblock_build(&b[3], m, i, prefix, D->c3, D->c3, 1, 1, 0, 1, 1, 1, 1));
        } else {
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.0", i, l);
            TRY(convblock_build(&b[0], m, i, prefix, ch, D->c3, 3, 1, 1, 1, 1, 1, 1));
            snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.1", i, l);
            TRY(convblock_build(&b[1], m, i, prefix, D->c3, D->c3, 3, 1, 1, 1, 1, 1, 1));
        }
        snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.2", i, l);
        TRY(convblock_build(&b[D->nb[1] - 1], m, i, prefix, D->c3, D->nc, 1, 1, 0, 1, 1, 0, 0));
    }
    int64_t dshape[4] = {1, D->reg_max, 1, 1};
    snprintf(prefix, sizeof prefix, "model.%d.dfl.conv.weight", i);
    TRY(model_add_param(m, i, prefix, 4, dshape, PG_FROZEN, &D->dfl_off));
    return YOLOC_OK;
}

static void detect_release(nn_layer *L) {
    detect *D = L->impl;
    for (int b = 0; b < 2; b++)
        for (int l = 0; l < D->nl; l++)
            for (int k = 0; k < D->nb[b]; k++) convblock_release(&D->br[b][l][k]);
}

static status detect_plan(nn_layer *L, model *m, plan_ctx *pc) {
    detect *D = L->impl;
    int n = L->n, no = 4 * D->reg_max + D->nc;
    size_t max_mid = 0, max_out = 0;
    D->anchors = 0;
    for (int l = 0; l < D->nl; l++) {
        for (int b = 0; b < 2; b++) {
            int h = L->in_h[l], w = L->in_w[l], last = D->nb[b] - 1;
            for (int k = 0; k <= last; k++) {
                convblock *cb = &D->br[b][l][k];
                TRY(convblock_plan(cb, m, pc, n, h, w));
                h = cb->oh;
                w = cb->ow;
                size_t sz = convblock_out_size(cb);
                if (k < last && sz > max_mid) max_mid = sz;
                if (k == last && sz > max_out) max_out = sz;
            }
        }
        D->lh[l] = D->br[0][l][2].oh;
        D->lw[l] = D->br[0][l][2].ow;
        D->a0[l] = D->anchors;
        D->anchors += D->lh[l] * D->lw[l];
    }
    int out_c = pc->training ? no : 4 + D->nc;
    D->out = plan_floats(pc, (size_t)n * D->anchors * out_c);
    D->raw = pc->training ? D->out : plan_floats(pc, (size_t)n * D->anchors * no);
    D->d_out = D->d_a = D->d_b = NULL;
    if (pc->training) {
        D->d_out = plan_floats(pc, max_out);
        D->d_a = plan_floats(pc, max_mid);
        D->d_b = plan_floats(pc, max_mid);
    }
    L->h = 1;
    L->w = D->anchors;
    L->c = out_c;
    L->y = D->out;
    m->nc = D->nc;
    m->reg_max = D->reg_max;
    m->nlevels = D->nl;
    m->anchors = D->anchors;
    for (int l = 0; l < D->nl; l++) {
        m->level_h[l] = D->lh[l];
        m->level_w[l] = D->lw[l];
    }
    return YOLOC_OK;
}

static status detect_forward(nn_layer *L, model *m, const float *const *x) {
    detect *D = L->impl;
    int n = L->n, R4 = 4 * D->reg_max, no = R4 + D->nc;
    for (int l = 0; l < D->nl; l++) {
        for (int b = 0; b < 2; b++) {
            const float *in = x[l];
            for (int k = 0; k < D->nb[b]; k++) {
                TRY(convblock_forward(&D->br[b][l][k], m, in));
                in = D->br[b][l][k].y;
            }
        }
        const float *box = D->br[0][l][2].y, *cls = D->br[1][l][D->nb[1] - 1].y;
        size_t hw = (size_t)D->lh[l] * D->lw[l];
        for (int b = 0; b < n; b++) { /* the raw head, in training and eval */
            float *o = D->raw + ((size_t)b * D->anchors + D->a0[l]) * no;
            chcopy(m->opt.be, hw, R4, box + b * hw * R4, R4, 0, o, no, 0, 0.0f);
            chcopy(m->opt.be, hw, D->nc, cls + b * hw * D->nc, D->nc, 0, o, no, R4, 0.0f);
        }
        if (!m->plan_training) { /* the eval output, on the backend */
            const dfl_decode_desc dd = {.n = n, .h = D->lh[l], .w = D->lw[l], .reg_max = D->reg_max, .nc = D->nc,
                                        .stride = m->strides[l], .anchors = D->anchors, .a0 = D->a0[l]};
            dfl_decode(m->opt.be, &dd, box, cls, P(m, D->dfl_off), D->out);
        }
    }
    return YOLOC_OK;
}

static status detect_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                              float *const *dx, const float *beta) {
    detect *D = L->impl;
    int n = L->n, R4 = 4 * D->reg_max, no = R4 + D->nc;
    for (int l = 0; l < D->nl; l++) {
        size_t hw = (size_t)D->lh[l] * D->lw[l];
        int cout[2] = {R4, D->nc}, coff[2] = {0, R4};
        for (int b = 0; b < 2; b++) {
            convblock *br = D->br[b][l];
            for (int i = 0; i < n; i++) {
                const float *g = dy + ((size_t)i * D->anchors + D->a0[l]) * no;
                chcopy(m->opt.be, hw, cout[b], g, no, coff[b], D->d_out + i * hw * cout[b], cout[b], 0, 0.0f);
            }
            /* down the branch: the gradient of conv k's output in g, of its input in d */
            const float *g = D->d_out;
            for (int k = D->nb[b] - 1; k >= 1; k--) {
                float *d = g == D->d_a ? D->d_b : D->d_a;
                TRY(convblock_backward(&br[k], m, br[k - 1].y, g, d, 0.0f));
                g = d;
            }
            /* both branches read the level's input: the second accumulates */
            float bt = b == 0 ? beta[l] : 1.0f;
            TRY(convblock_backward(&br[0], m, x[l], g, dx[l], dx[l] ? bt : 0.0f));
        }
    }
    return YOLOC_OK;
}

static void detect_destroy(nn_layer *L) {
    free(L->impl);
    L->impl = NULL;
}

/* The raw head [B, A, 4*reg_max + nc] of the last forward (model.c). */
const float *detect_raw_output(const nn_layer *L);
const float *detect_raw_output(const nn_layer *L) { return ((const detect *)L->impl)->raw; }

/* Called by the model after parameters are allocated (and on re-init). */
void detect_init_params(nn_layer *L, model *m);
void detect_init_params(nn_layer *L, model *m) {
    detect *D = L->impl;
    float *dfl = P(m, D->dfl_off);
    for (int r = 0; r < D->reg_max; r++) dfl[r] = (float)r;
    for (int l = 0; l < D->nl; l++) {
        float *bb = P(m, D->br[0][l][2].b_off);
        for (int k = 0; k < 4 * D->reg_max; k++) bb[k] = 1.0f;
        float *cb = P(m, D->br[1][l][D->nb[1] - 1].b_off);
        double s = m->strides[l];
        float v = (float)log(5.0 / D->nc / ((640.0 / s) * (640.0 / s)));
        for (int k = 0; k < D->nc; k++) cb[k] = v;
    }
}

const nn_module_vt NN_VT_DETECT = {detect_build, detect_plan, detect_forward, detect_backward,
                                   detect_release, detect_destroy};
