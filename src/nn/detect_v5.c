/* Detect (YOLOv5 v6.1 anchor-based head): per level l a 1x1 Conv2d with
 * bias, ch[l] -> na*(5+nc) (state_dict model.i.m.l.weight/bias; channel
 * a*(5+nc) + k is anchor a's output k), and the buffer model.i.anchors
 * [nl, na, 2]: anchor sizes in grid units of their level (pixels / stride,
 * as YOLOv5 stores them after building the model).
 *
 * Output rows (see model.h): level by level, anchor by anchor, row-major;
 * row = a0[l] + (a*H + y)*W + x, no = 5 + nc per row.
 *   raw     [B, A, no]: the convolution outputs (logits), training output
 *           and the loss's input in both plans;
 *   decoded [B, A, 5+nc] (eval): s = sigmoid(raw),
 *           cx = (2 s0 - 0.5 + x) * stride, cy = (2 s1 - 0.5 + y) * stride,
 *           w = (2 s2)^2 * anchor_w * stride, h = (2 s3)^2 * anchor_h * stride,
 *           then s4 (objectness) and s5.. (class probabilities), as
 *           YOLOv5's Detect.forward and its ONNX export compute it;
 *   eval output [B, A, 4+nc]: the box and s4 * s5.. (the v8-style rows the
 *           shared NMS and validation read).
 * Initialisation (YOLOv5's _initialize_biases, added to PyTorch's default
 * uniform bias): objectness += log(8 / (640/s)^2), classes +=
 * log(0.6 / (nc - 0.99999)).
 * Not here: AutoAnchor (anchors are given), YOLOv5's inplace=False branch
 * (same values), segmentation heads. */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int nl, nc, na, no;
    convblock m[SPEC_MAX_LEVELS];
    size_t anchors_off; /* in bufs: [nl, na, 2] grid units */
    /* plan */
    int lh[SPEC_MAX_LEVELS], lw[SPEC_MAX_LEVELS], a0[SPEC_MAX_LEVELS];
    int anchors;  /* output rows A */
    float *out;   /* [B, A, no] raw (training) or [B, A, 4+nc] (eval) */
    float *raw;   /* [B, A, no] (== out in training plans) */
    float *dec;   /* [B, A, 5+nc] (eval plans) */
    float *d_out; /* training: gradient of the largest level's conv output */
} detect_v5;

static status detect_v5_build(nn_layer *L, model *m, const layer_spec *ls) {
    detect_v5 *D = calloc(1, sizeof *D);
    if (!D) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = D;
    D->nl = ls->nlevels;
    D->nc = ls->nc;
    D->na = ls->na;
    D->no = 5 + ls->nc;
    int i = ls->index;
    char name[64];
    /* state_dict order: the module's own buffer, then its children */
    int64_t ashape[3] = {D->nl, D->na, 2};
    snprintf(name, sizeof name, "model.%d.anchors", i);
    TRY(model_add_buffer(m, i, name, 3, ashape, &D->anchors_off));
    for (int l = 0; l < D->nl; l++) {
        snprintf(name, sizeof name, "model.%d.m.%d", i, l);
        TRY(convblock_build(&D->m[l], m, i, name, ls->ch[l], D->na * D->no, 1, 1, 0, 1, 1, 0, 0));
    }
    return YOLOC_OK;
}

static void detect_v5_release(nn_layer *L) {
    detect_v5 *D = L->impl;
    for (int l = 0; l < D->nl; l++) convblock_release(&D->m[l]);
}

static status detect_v5_plan(nn_layer *L, model *m, plan_ctx *pc) {
    detect_v5 *D = L->impl;
    int n = L->n;
    size_t max_out = 0;
    D->anchors = 0;
    for (int l = 0; l < D->nl; l++) {
        TRY(convblock_plan(&D->m[l], m, pc, n, L->in_h[l], L->in_w[l]));
        D->lh[l] = D->m[l].oh;
        D->lw[l] = D->m[l].ow;
        D->a0[l] = D->anchors;
        D->anchors += D->na * D->lh[l] * D->lw[l];
        size_t sz = convblock_out_size(&D->m[l]);
        if (sz > max_out) max_out = sz;
    }
    int out_c = pc->training ? D->no : 4 + D->nc;
    D->out = plan_floats(pc, (size_t)n * D->anchors * out_c);
    D->raw = pc->training ? D->out : plan_floats(pc, (size_t)n * D->anchors * D->no);
    D->dec = pc->training ? NULL : plan_floats(pc, (size_t)n * D->anchors * D->no);
    D->d_out = pc->training ? plan_floats(pc, max_out) : NULL;
    L->h = 1;
    L->w = D->anchors;
    L->c = out_c;
    L->y = D->out;
    m->nc = D->nc;
    m->reg_max = 0;
    m->na = D->na;
    m->nlevels = D->nl;
    m->anchors = D->anchors;
    for (int l = 0; l < D->nl; l++) {
        m->level_h[l] = D->lh[l];
        m->level_w[l] = D->lw[l];
    }
    return YOLOC_OK;
}

static status detect_v5_forward(nn_layer *L, model *m, const float *const *x) {
    detect_v5 *D = L->impl;
    int n = L->n, na = D->na, no = D->no;
    for (int l = 0; l < D->nl; l++) {
        TRY(convblock_forward(&D->m[l], m, x[l]));
        const float *y = D->m[l].y; /* [B, H, W, na*no] */
        size_t hw = (size_t)D->lh[l] * D->lw[l];
        for (int b = 0; b < n; b++)
            for (int a = 0; a < na; a++)
                chcopy(m->opt.be, hw, no, y + (size_t)b * hw * na * no, na * no, a * no,
                       D->raw + ((size_t)b * D->anchors + D->a0[l] + a * hw) * no, no, 0, 0.0f);
        if (!m->plan_training)
            v5_decode(m->opt.be,
                      &(v5_decode_desc){.n = n, .h = D->lh[l], .w = D->lw[l], .na = D->na, .nc = D->nc,
                                        .stride = m->strides[l], .anchors = D->anchors, .a0 = D->a0[l]},
                      D->raw, B(m, D->anchors_off) + (size_t)l * D->na * 2, D->dec, D->out);
    }
    return YOLOC_OK;
}

static status detect_v5_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                                 float *const *dx, const float *beta) {
    detect_v5 *D = L->impl;
    int n = L->n, na = D->na, no = D->no;
    for (int l = 0; l < D->nl; l++) {
        size_t hw = (size_t)D->lh[l] * D->lw[l];
        for (int b = 0; b < n; b++)
            for (int a = 0; a < na; a++)
                chcopy(m->opt.be, hw, no, dy + ((size_t)b * D->anchors + D->a0[l] + a * hw) * no,
                       no, 0, D->d_out + (size_t)b * hw * na * no, na * no, a * no, 0.0f);
        TRY(convblock_backward(&D->m[l], m, x[l], D->d_out, dx[l], dx[l] ? beta[l] : 0.0f));
    }
    return YOLOC_OK;
}

static void detect_v5_destroy(nn_layer *L) {
    free(L->impl);
    L->impl = NULL;
}

const float *detect_v5_raw_output(const nn_layer *L) {
    return ((const detect_v5 *)L->impl)->raw;
}
const float *detect_v5_decoded(const nn_layer *L) {
    return ((const detect_v5 *)L->impl)->dec;
}
const float *detect_v5_anchors(const nn_layer *L, const model *m) {
    return m->bufs + ((const detect_v5 *)L->impl)->anchors_off;
}

void detect_v5_init_params(nn_layer *L, model *m) {
    detect_v5 *D = L->impl;
    float *anc = B(m, D->anchors_off);
    for (int l = 0; l < D->nl; l++) {
        double s = m->strides[l];
        for (int a = 0; a < D->na; a++)
            for (int k = 0; k < 2; k++)
                anc[(l * D->na + a) * 2 + k] = (float)(m->spec.anchors[l][a][k] / s);
        float *b = P(m, D->m[l].b_off);
        float bo = (float)log(8.0 / ((640.0 / s) * (640.0 / s)));
        float bc = (float)log(0.6 / (D->nc - 0.99999));
        for (int a = 0; a < D->na; a++) {
            b[a * D->no + 4] += bo;
            for (int c = 0; c < D->nc; c++) b[a * D->no + 5 + c] += bc;
        }
    }
}

const nn_module_vt NN_VT_DETECT_V5 = {detect_v5_build,    detect_v5_plan,    detect_v5_forward,
                                      detect_v5_backward, detect_v5_release, detect_v5_destroy};
