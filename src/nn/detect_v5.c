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
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

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

static void detect_v5_init_params(nn_layer *L, model *m) {
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

static const nn_module_vt NN_VT_DETECT_V5 = {
    .build = detect_v5_build,
    .plan = detect_v5_plan,
    .forward = detect_v5_forward,
    .backward = detect_v5_backward,
    .release = detect_v5_release,
    .destroy = detect_v5_destroy,
    .init_params = detect_v5_init_params,
};

/* ------------------------------------------------------------------------ */
/* Parse (from Detect's, nn/detect.c, when a second argument names the
 * anchors), export. */

static status detect_v5_parse(spec_args *a, layer_spec *L) {
    model_spec *sp = a->sp;
    L->kind = MOD_DETECT_V5;
    TRY(spec_anchors(a, spec_arg(a, 1), L->nlevels));
    L->na = sp->na;
    L->c2 = 5 + L->nc; /* per level na*(5+nc) outputs */
    char what[32];
    snprintf(what, sizeof what, "%d anchors, ", L->na);
    detect_args_str(L, what);
    /* YOLOv5's check_anchor_order: the mean anchor area must grow with the
     * stride, else the levels' anchors are reversed. */
    if (L->nlevels > 1) {
        double a0 = 0, a1 = 0;
        for (int k = 0; k < sp->na; k++) {
            a0 += (double)sp->anchors[0][k][0] * sp->anchors[0][k][1];
            a1 += (double)sp->anchors[L->nlevels - 1][k][0] * sp->anchors[L->nlevels - 1][k][1];
        }
        if ((a1 - a0 > 0) != (L->stride - spec_in_stride(a, 0) > 0))
            for (int l = 0; l < L->nlevels / 2; l++)
                for (int k = 0; k < sp->na; k++)
                    for (int d = 0; d < 2; d++) {
                        float t = sp->anchors[l][k][d];
                        sp->anchors[l][k][d] = sp->anchors[L->nlevels - 1 - l][k][d];
                        sp->anchors[L->nlevels - 1 - l][k][d] = t;
                    }
    }
    return YOLOC_OK;
}

/* YOLOv5 Detect (nn/detect_v5.c; YOLOv5's Detect.forward as its exporter
 * writes it), per level l with H x W cells and na anchors:
 *   1x1 Conv (bias) -> [B, na*no, H, W] -> Reshape [B, na, no, H*W] ->
 *   Transpose [B, no, na, H*W] -> Sigmoid s; xy = (2 s - 0.5 + cell) * stride,
 *   wh = (2 s)^2 * anchor (pixels: the model.N.anchors buffer, in grid units,
 *   times the stride), then objectness and class probabilities as they are
 *   -> Concat -> Reshape [B, no, na*H*W];
 * the levels concatenated to [B, no, A] and transposed to output0
 * [B, A, 5 + nc] (rows level by level, anchor by anchor, then y, x: the
 * order of YOLOv5's output and of `yoloc forward`). The decode works in a
 * channel-first layout with the per-level constants in the shapes OpenCV's
 * DNN (4.6) accepts (see exp_anchors): static, the cell offsets (Add) are
 * [B, 2, na, H*W] and the anchor sizes (Mul) [1, 2, na, H*W]; dynamic, the
 * cell offsets [1, 2, 1, H*W] come from the feature map's shape
 * (exp_cell_grid) and the anchor sizes are [1, 2, na, 1]. Multiplying 2 s
 * by itself instead of Pow keeps to the operators the v8 graph uses. */
static status detect_v5_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, nl = ls->nlevels, nc = ls->nc, na = ls->na, no = 5 + nc;
    int dyn = onnx_dynamic(e);
    int64_t B = dyn ? 0 : onnx_batch(e); /* Reshape: 0 copies the input's batch */
    char prefix[64], scope[64], top[32], name[96];
    snprintf(top, sizeof top, "/model.%d", i);
    const float *anc;
    int64_t ashape[3] = {nl, na, 2};
    snprintf(name, sizeof name, "model.%d.anchors", i);
    TRY(onnx_tensor(e, name, 3, ashape, &anc));

    onnx_grid gc;
    const char *flatn = NULL, *offc = NULL;
    if (dyn) {
        int64_t flat[4] = {1, 1, 1, -1};
        onnx_grid_consts(e, top, &gc);
        snprintf(name, sizeof name, "%s/grid/flat", top);
        flatn = onnx_ints1(e, name, 4, flat);
        snprintf(name, sizeof name, "%s/grid/offset", top);
        offc = onnx_scalar(e, name, -0.5f);
        snprintf(name, sizeof name, "%s/grid/zero", top);
        gc.zero = onnx_scalar(e, name, 0.0f);
    }
    snprintf(name, sizeof name, "%s/two", top);
    const char *twoc = onnx_scalar(e, name, 2.0f);
    const char *lv[SPEC_MAX_LEVELS];
    for (int l = 0; l < nl; l++) {
        int st = model_stride(onnx_model(e), l);
        const char *t;
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", i, l);
        snprintf(scope, sizeof scope, "/model.%d/m.%d", i, l);
        TRY(onnx_plainconv(e, prefix, scope, x[l], ls->ch[l], na * no, 1, &t));
        int64_t s4[4] = {B, na, no, -1}, perm[4] = {0, 2, 1, 3};
        t = onnx_reshape(e, top, t, 4, s4);
        onnx_node *tr = onnx_node_add(e, "Transpose", top, 1, &t, 1, NULL);
        onnx_attr_ints(e, tr, "perm", 4, perm);
        t = onnx_op1(e, "Sigmoid", top, onnx_node_out(tr, 0)); /* [B, no, na, H*W] */

        /* the cell offsets (x - 0.5, y - 0.5) and the anchor sizes in pixels */
        const char *cell, *anchor;
        if (!dyn) {
            int h = onnx_imgsz_h(e) / st, w = onnx_imgsz_w(e) / st;
            size_t hw = (size_t)h * w, Bn = (size_t)onnx_batch(e), per = 2 * (size_t)na * hw;
            float *cv = malloc((Bn + 1) * per * sizeof *cv);
            if (!cv) return err_set(YOLOC_ERR_NOMEM, "out of memory");
            float *av = cv + Bn * per;
            for (int a = 0; a < na; a++)
                for (size_t p = 0; p < hw; p++) {
                    size_t o = (size_t)a * hw + p, o2 = (size_t)na * hw + o;
                    cv[o] = (float)(int)(p % (size_t)w) - 0.5f;
                    cv[o2] = (float)(int)(p / (size_t)w) - 0.5f;
                    av[o] = anc[(l * na + a) * 2] * (float)st; /* YOLOv5's anchor_grid */
                    av[o2] = anc[(l * na + a) * 2 + 1] * (float)st;
                }
            for (size_t n = 1; n < Bn; n++) memcpy(cv + n * per, cv, per * sizeof *cv);
            int64_t cd[4] = {(int64_t)Bn, 2, na, (int64_t)hw}, ad[4] = {1, 2, na, (int64_t)hw};
            snprintf(name, sizeof name, "%s/grid%d", top, l);
            cell = onnx_floats(e, name, 4, cd, cv);
            snprintf(name, sizeof name, "%s/anchor_grid%d", top, l);
            anchor = onnx_floats(e, name, 4, ad, av);
            free(cv);
        } else {
            const char *gx, *gy;
            char gs[48];
            snprintf(gs, sizeof gs, "%s/grid", top);
            onnx_cell_grid(e, gs, &gc, x[l], offc, flatn, &gx, &gy); /* [1, 1, 1, H*W] each */
            const char *xy[2] = {gx, gy};
            cell = onnx_concat(e, gs, 2, xy, 1); /* [1, 2, 1, H*W] */
            float av[2 * SPEC_MAX_ANCHORS];
            for (int a = 0; a < na; a++) {
                av[a] = anc[(l * na + a) * 2] * (float)st;
                av[na + a] = anc[(l * na + a) * 2 + 1] * (float)st;
            }
            int64_t ad[4] = {1, 2, na, 1};
            snprintf(name, sizeof name, "%s/anchor_grid%d", top, l);
            anchor = onnx_floats(e, name, 4, ad, av);
        }
        snprintf(name, sizeof name, "%s/stride%d", top, l);
        const char *stc = onnx_scalar(e, name, (float)st);
        const char *xy = onnx_slice(e, top, t, 1, 0, 2), *wh = onnx_slice(e, top, t, 1, 2, 4),
                   *rest = onnx_slice(e, top, t, 1, 4, no);
        xy = onnx_op2(e, "Mul", top, onnx_op2(e, "Add", top, onnx_op2(e, "Mul", top, xy, twoc), cell),
                    stc);
        wh = onnx_op2(e, "Mul", top, wh, twoc);
        wh = onnx_op2(e, "Mul", top, onnx_op2(e, "Mul", top, wh, wh), anchor);
        const char *parts[3] = {xy, wh, rest};
        int64_t s3[3] = {B, no, -1};
        lv[l] = onnx_reshape(e, top, onnx_concat(e, top, 3, parts, 1), 3, s3);
    }
    const char *all = onnx_concat(e, top, nl, lv, 2), *outname = "output0";
    int64_t perm[3] = {0, 2, 1};
    onnx_node *tr = onnx_node_add(e, "Transpose", top, 1, &all, 1, &outname);
    onnx_attr_ints(e, tr, "perm", 3, perm);
    *onnx_out_slot(e, i) = onnx_node_out(tr, 0);
    return YOLOC_OK;
}

const nn_module_desc NN_MOD_DETECT_V5 = {.name = "Detect", .alias = "Detect", .list_args = 1,
                                         .parse = detect_v5_parse, .vt = &NN_VT_DETECT_V5,
                                         .conv_input = detect_conv_input, .onnx = detect_v5_onnx};
