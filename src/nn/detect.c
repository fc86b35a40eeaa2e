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
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

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
static void detect_init_params(nn_layer *L, model *m) {
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

static const nn_module_vt NN_VT_DETECT = {
    .build = detect_build,
    .plan = detect_plan,
    .forward = detect_forward,
    .backward = detect_backward,
    .release = detect_release,
    .destroy = detect_destroy,
    .init_params = detect_init_params,
};

/* ------------------------------------------------------------------------ */
/* Parse, memory, export (shared with YOLOv5's head, nn/detect_v5.c). */

/* The largest convolution input: a level's input map */
size_t detect_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    size_t v = 0;
    for (int k = 0; k < l->nlevels && k < l->nfrom; k++) {
        size_t g = nn_cells(imgsz, nn_input_stride(s, l, k));
        if ((size_t)l->ch[k] * g * g > v) v = (size_t)l->ch[k] * g * g;
    }
    return v;
}

/* Detect(nc, ch): the anchor-free head (YOLO11's after a module whose
 * descriptor says so, as Ultralytics' legacy flag), or with a second
 * argument (anchors) YOLOv5's (nn/detect_v5.c). Inputs by increasing stride. */
static status detect_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "Detect", 1, 2, "[nc] (YOLOv8) or [nc, anchors] (YOLOv5)"));
    if (spec_arg(a, 0)->kind != YNODE_SCALAR)
        return spec_error(a, spec_arg(a, 0), YOLOC_ERR_PARSE, "layer %d: Detect nc must be a number", a->i);
    TRY(spec_int(a, 0, a->sp->nc, 1, 100000, "nc", &L->nc));
    if (a->nf > SPEC_MAX_LEVELS)
        return spec_error(a, a->from, YOLOC_ERR_PARSE, "layer %d: Detect takes at most %d inputs", a->i, SPEC_MAX_LEVELS);
    L->nlevels = a->nf;
    for (int k = 0; k < a->nf; k++) {
        L->ch[k] = spec_in_channels(a, k);
        if (k && spec_in_stride(a, k) <= spec_in_stride(a, k - 1))
            return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: Detect inputs must have increasing strides", a->i);
    }
    L->stride = spec_in_stride(a, a->nf - 1);
    if (a->args->n == 2) return nn_module(MOD_DETECT_V5)->parse(a, L);
    L->reg_max = 16;
    L->c2 = 4 * L->reg_max + L->nc;
    for (int k = 0; k < a->i; k++) L->dw_cls |= nn_module(a->sp->layers[k].kind)->v11_head;
    detect_args_str(L, "");
    return YOLOC_OK;
}

/* `yoloc info`'s arguments: [nc, <what>[ch0, ch1, ...]] */
void detect_args_str(layer_spec *L, const char *what) {
    int len = snprintf(L->args, sizeof L->args, "[%d, %s[", L->nc, what);
    for (int k = 0; k < L->nlevels && len < (int)sizeof L->args; k++)
        len += snprintf(L->args + len, sizeof L->args - (size_t)len, k ? ", %d" : "%d", L->ch[k]);
    if (len < (int)sizeof L->args) snprintf(L->args + len, sizeof L->args - (size_t)len, "]]");
}

/* Anchors (cell centres, x row then y row) and strides of the Detect
 * levels, as Ultralytics' make_anchors(feats, strides, 0.5) transposed.
 * Static: constants for the export size, anchors [B, 2, A] and strides
 * [1, 4, A] (each row repeated). Ultralytics' [1, 2, A] and [1, A] broadcast
 * the same in ONNX Runtime and TensorRT, but OpenCV's DNN (4.6) turns
 * Sub/Add with a constant into an element-wise layer that needs the full
 * shape, and Mul with a constant into a scale layer that broadcasts over the
 * batch only, so these are the shapes all three accept. Dynamic: anchors
 * [1, 2, A] and strides [1, 1, A], computed from each level's feature-map
 * size (exp_cell_grid). */
static void detect_onnx_anchors(onnx_exporter *e, const layer_spec *ls, const char *const *x,
                        const char **anchors, const char **strides) {
    char scope[32], name[96];
    int nl = ls->nlevels;
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    if (!onnx_dynamic(e)) {
        int A = 0, hs[SPEC_MAX_LEVELS], wsz[SPEC_MAX_LEVELS];
        for (int l = 0; l < nl; l++) {
            int st = model_stride(onnx_model(e), l);
            hs[l] = onnx_imgsz_h(e) / st;
            wsz[l] = onnx_imgsz_w(e) / st;
            A += hs[l] * wsz[l];
        }
        /* B x 2 anchor rows, then the 4 stride rows */
        size_t Bn = (size_t)onnx_batch(e);
        float *an = malloc((Bn * 2 + 4) * (size_t)A * sizeof *an);
        if (!an) {
            onnx_fail_nomem(e);
            *anchors = *strides = NULL;
            return;
        }
        float *sv = an + Bn * 2 * (size_t)A;
        int a = 0;
        for (int l = 0; l < nl; l++)
            for (int y = 0; y < hs[l]; y++)
                for (int xx = 0; xx < wsz[l]; xx++, a++) {
                    an[a] = (float)xx + 0.5f;
                    an[A + a] = (float)y + 0.5f;
                    for (int r = 0; r < 4; r++)
                        sv[(size_t)r * A + a] = (float)model_stride(onnx_model(e), l);
                }
        for (size_t n = 1; n < Bn; n++)
            memcpy(an + n * 2 * A, an, (size_t)2 * A * sizeof *an); /* every image */
        int64_t ad[3] = {(int64_t)Bn, 2, A}, sd[3] = {1, 4, A};
        snprintf(name, sizeof name, "%s/anchors", scope);
        *anchors = onnx_floats(e, name, 3, ad, an);
        snprintf(name, sizeof name, "%s/strides", scope);
        *strides = onnx_floats(e, name, 3, sd, sv);
        free(an);
        return;
    }
    int64_t flat[3] = {1, 1, -1};
    onnx_grid gc;
    onnx_grid_consts(e, scope, &gc);
    snprintf(name, sizeof name, "%s/grid/flat", scope);
    const char *flatn = onnx_ints1(e, name, 3, flat);
    snprintf(name, sizeof name, "%s/grid/half", scope);
    const char *halfc = onnx_scalar(e, name, 0.5f);
    snprintf(name, sizeof name, "%s/grid/zero", scope);
    gc.zero = onnx_scalar(e, name, 0.0f);
    const char *al[SPEC_MAX_LEVELS], *sl[SPEC_MAX_LEVELS];
    char gs[48];
    snprintf(gs, sizeof gs, "%s/grid", scope);
    for (int l = 0; l < nl; l++) {
        const char *gx, *gy;
        onnx_cell_grid(e, gs, &gc, x[l], halfc, flatn, &gx, &gy); /* [1, 1, H*W] each */
        const char *xy[2] = {gx, gy};
        al[l] = onnx_concat(e, gs, 2, xy, 1); /* [1, 2, H*W] */
        snprintf(name, sizeof name, "%s/grid/stride%d", scope, l);
        sl[l] = onnx_op2(e, "Add", gs, onnx_op2(e, "Mul", gs, gx, gc.zero),
                       onnx_scalar(e, name, (float)model_stride(onnx_model(e), l)));
    }
    *anchors = onnx_concat(e, gs, nl, al, 2);
    *strides = onnx_concat(e, gs, nl, sl, 2);
}

/* YOLOv8 Detect: per level the box branch (cv2: Conv, Conv, Conv2d(4R)) and
 * the class branch (cv3: Conv, Conv, Conv2d(nc)), concatenated and
 * flattened to [B, no, H*W]; the levels concatenated to [B, no, A]; then
 * Ultralytics' _inference: split box/cls, DFL, dist2bbox (xywh) x stride,
 * sigmoid, concat -> output0 [B, 4 + nc, A]. */
static status detect_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, nl = ls->nlevels, nc = ls->nc, R = ls->reg_max, no = 4 * R + nc,
        ch0 = ls->ch[0];
    /* branch widths as nn/detect.c builds them; exp_tensor checks them against the tensors */
    int c2 = ch0 / 4 > 16 ? ch0 / 4 : 16, c3 = nc < 100 ? nc : 100;
    if (c2 < 4 * R) c2 = 4 * R;
    if (c3 < ch0) c3 = ch0;
    int64_t B = onnx_dynamic(e) ? 0 : onnx_batch(e); /* Reshape: 0 copies the input's batch */
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *lv[SPEC_MAX_LEVELS];
    for (int l = 0; l < nl; l++) {
        const char *br[2];
        for (int k = 0; k < 2; k++) { /* k 0: cv2 (box), 1: cv3 (class) */
            int cv = 2 + k, cm = k ? c3 : c2, co = k ? nc : 4 * R;
            const char *t = x[l];
            for (int j = 0; j < 2; j++) {
                int cin = j ? cm : ls->ch[l];
                if (k && ls->dw_cls) { /* YOLO11: DWConv(cin, cin, 3) -> Conv(cin, cm, 1) */
                    snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.%d.0", i, l, j);
                    snprintf(scope, sizeof scope, "/model.%d/cv3.%d/cv3.%d.%d/cv3.%d.%d.0", i, l, l, j, l, j);
                    TRY(onnx_convblock(e, i, prefix, scope, t, cin, cin, 3, 1, 1, cin, 1, 1, &t));
                    snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.%d.1", i, l, j);
                    snprintf(scope, sizeof scope, "/model.%d/cv3.%d/cv3.%d.%d/cv3.%d.%d.1", i, l, l, j, l, j);
                    TRY(onnx_convblock(e, i, prefix, scope, t, cin, cm, 1, 1, 0, 1, 1, 1, &t));
                    continue;
                }
                snprintf(prefix, sizeof prefix, "model.%d.cv%d.%d.%d", i, cv, l, j);
                snprintf(scope, sizeof scope, "/model.%d/cv%d.%d/cv%d.%d.%d", i, cv, l, cv, l, j);
                TRY(onnx_convblock(e, i, prefix, scope, t, cin, cm, 3, 1, 1, 1, 1, 1, &t));
            }
            snprintf(prefix, sizeof prefix, "model.%d.cv%d.%d.2", i, cv, l);
            snprintf(scope, sizeof scope, "/model.%d/cv%d.%d/cv%d.%d.2", i, cv, l, cv, l);
            TRY(onnx_plainconv(e, prefix, scope, t, cm, co, 1, &br[k]));
        }
        int64_t shp[3] = {B, no, -1};
        lv[l] = onnx_reshape(e, top, onnx_concat(e, top, 2, br, 1), 3, shp);
    }
    const char *xcat = onnx_concat(e, top, nl, lv, 2);
    const char *bc[2] = {onnx_slice(e, top, xcat, 1, 0, 4 * R),
                         onnx_slice(e, top, xcat, 1, 4 * R, no)};

    /* DFL: [B, 4R, A] -> [B, 4, R, A] -> [B, R, 4, A] -> softmax over R ->
     * 1x1 conv with weights 0..R-1 -> [B, 1, 4, A] -> [B, 4, A] */
    snprintf(scope, sizeof scope, "/model.%d/dfl", i);
    int64_t s4[4] = {B, 4, R, -1}, s3[3] = {B, 4, -1}, perm[4] = {0, 2, 1, 3};
    const char *t = onnx_reshape(e, scope, bc[0], 4, s4);
    onnx_node *tr = onnx_node_add(e, "Transpose", scope, 1, &t, 1, NULL);
    onnx_attr_ints(e, tr, "perm", 4, perm);
    t = onnx_node_out(tr, 0);
    onnx_node *sm = onnx_node_add(e, "Softmax", scope, 1, &t, 1, NULL);
    onnx_attr_int(e, sm, "axis", 1);
    t = onnx_node_out(sm, 0);
    const float *dw;
    int64_t dws[4] = {1, R, 1, 1};
    snprintf(prefix, sizeof prefix, "model.%d.dfl.conv.weight", i);
    TRY(onnx_tensor(e, prefix, 4, dws, &dw));
    snprintf(scope, sizeof scope, "/model.%d/dfl/conv", i);
    t = onnx_conv_node(e, scope, t, onnx_floats(e, prefix, 4, dws, dw), NULL, 1, 1, 0, 1, 1);
    snprintf(scope, sizeof scope, "/model.%d/dfl", i);
    const char *dist = onnx_reshape(e, scope, t, 3, s3);

    /* dist2bbox(xywh): x1y1 = anchor - lt, x2y2 = anchor + rb, then
     * ((x1y1 + x2y2) / 2, x2y2 - x1y1) x stride */
    const char *anchors, *strides, *lr[2];
    detect_onnx_anchors(e, ls, x, &anchors, &strides);
    lr[0] = onnx_slice(e, top, dist, 1, 0, 2);
    lr[1] = onnx_slice(e, top, dist, 1, 2, 4);
    const char *x1y1 = onnx_op2(e, "Sub", top, anchors, lr[0]);
    const char *x2y2 = onnx_op2(e, "Add", top, anchors, lr[1]);
    snprintf(prefix, sizeof prefix, "%s/two", top);
    const char *cxy =
        onnx_op2(e, "Div", top, onnx_op2(e, "Add", top, x1y1, x2y2), onnx_scalar(e, prefix, 2.0f));
    const char *wh = onnx_op2(e, "Sub", top, x2y2, x1y1);
    const char *xywh[2] = {cxy, wh};
    const char *dbox = onnx_op2(e, "Mul", top, onnx_concat(e, top, 2, xywh, 1), strides);
    const char *fin[2] = {dbox, onnx_op1(e, "Sigmoid", top, bc[1])}, *outname = "output0";
    onnx_node *cat = onnx_node_add(e, "Concat", top, 2, fin, 1, &outname);
    onnx_attr_int(e, cat, "axis", 1);
    *onnx_out_slot(e, i) = onnx_node_out(cat, 0);
    return YOLOC_OK;
}

const nn_module_desc NN_MOD_DETECT = {.name = "Detect", .alias = "Detect", .list_args = 1, .parse = detect_parse,
                                      .vt = &NN_VT_DETECT, .conv_input = detect_conv_input, .onnx = detect_onnx};
