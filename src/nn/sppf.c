/* SPPF (spatial pyramid pooling, fast): c_ = c1/2; cv1 = Conv(c1, c_, 1);
 * three chained MaxPool2d(k, 1, k/2); cv2 = Conv(4c_, c2, 1) over the
 * concat [x1, p1, p2, p3]. */
#include "nn/nn.h"
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int c, k;
    convblock cv1, cv2;
    maxpool_op pool[3];
    int have_pools;
    size_t npix;
    float *p[3];   /* pool outputs */
    void *ws[3];   /* pool workspaces (fast backend, training) */
    float *cat, *d_cat, *d_x1, *d_p[3];
} sppf;

static status sppf_build(nn_layer *L, model *m, const layer_spec *ls) {
    sppf *S = calloc(1, sizeof *S);
    if (!S) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = S;
    S->c = ls->c1 / 2;
    S->k = ls->k;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", ls->index);
    TRY(convblock_build(&S->cv1, m, ls->index, prefix, ls->c1, S->c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(prefix, sizeof prefix, "model.%d.cv2", ls->index);
    TRY(convblock_build(&S->cv2, m, ls->index, prefix, 4 * S->c, ls->c2, 1, 1, 0, 1, 1, 1, 1));
    return YOLOC_OK;
}

static void sppf_release(nn_layer *L) {
    sppf *S = L->impl;
    convblock_release(&S->cv1);
    convblock_release(&S->cv2);
    if (S->have_pools)
        for (int i = 0; i < 3; i++) maxpool_op_free(&S->pool[i]);
    S->have_pools = 0;
}

static status sppf_plan(nn_layer *L, model *m, plan_ctx *pc) {
    sppf *S = L->impl;
    sppf_release(L);
    int n = L->n, c = S->c;
    TRY(convblock_plan(&S->cv1, m, pc, n, L->in_h[0], L->in_w[0]));
    int h = S->cv1.oh, w = S->cv1.ow;
    S->npix = (size_t)n * h * w;
    pool_desc pd = {.n = n, .h = h, .w = w, .c = c, .k = S->k, .s = 1, .p = S->k / 2};
    if (!pc->measure) {
        for (int i = 0; i < 3; i++) {
            status st = maxpool_op_init(&S->pool[i], m->bectx, m->opt.be, &pd, pc->training);
            if (st < 0) {
                for (int j = 0; j < i; j++) maxpool_op_free(&S->pool[j]);
                return st;
            }
        }
        S->have_pools = 1;
    }
    for (int i = 0; i < 3; i++) {
        S->p[i] = plan_floats(pc, S->npix * c);
        size_t ws = (!pc->measure && pc->training) ? maxpool_op_workspace_size(&S->pool[i]) : 0;
        if (pc->measure && pc->training) ws = S->npix * c * sizeof(int32_t); /* upper bound */
        S->ws[i] = ws ? arena_alloc(pc->a, ws) : NULL;
    }
    S->cat = plan_floats(pc, S->npix * 4 * c);
    TRY(convblock_plan(&S->cv2, m, pc, n, h, w));
    if (pc->training) {
        S->d_cat = plan_floats(pc, S->npix * 4 * c);
        S->d_x1 = plan_floats(pc, S->npix * c);
        for (int i = 0; i < 3; i++) S->d_p[i] = plan_floats(pc, S->npix * c);
    }
    L->h = h;
    L->w = w;
    L->c = S->cv2.c2;
    L->y = S->cv2.y;
    return YOLOC_OK;
}

static status sppf_forward(nn_layer *L, model *m, const float *const *x) {
    sppf *S = L->impl;
    backend be = m->opt.be;
    int c = S->c;
    TRY(convblock_forward(&S->cv1, m, x[0]));
    chcopy(be, S->npix, c, S->cv1.y, c, 0, S->cat, 4 * c, 0, 0.0f);
    const float *in = S->cv1.y;
    for (int i = 0; i < 3; i++) {
        TRY(maxpool_op_forward(&S->pool[i], in, S->p[i], S->ws[i]));
        chcopy(be, S->npix, c, S->p[i], c, 0, S->cat, 4 * c, (i + 1) * c, 0.0f);
        in = S->p[i];
    }
    return convblock_forward(&S->cv2, m, S->cat);
}

static status sppf_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                            float *const *dx, const float *beta) {
    sppf *S = L->impl;
    backend be = m->opt.be;
    int c = S->c;
    TRY(convblock_backward(&S->cv2, m, S->cat, dy, S->d_cat, 0.0f));
    /* p3 feeds only the concat; p2, p1 and x1 feed the concat and the next pool. */
    chcopy(be, S->npix, c, S->d_cat, 4 * c, 3 * c, S->d_p[2], c, 0, 0.0f);
    for (int i = 2; i >= 0; i--) {
        float *d_in = i == 0 ? S->d_x1 : S->d_p[i - 1];
        const float *in = i == 0 ? S->cv1.y : S->p[i - 1];
        chcopy(be, S->npix, c, S->d_cat, 4 * c, i * c, d_in, c, 0, 0.0f);
        TRY(maxpool_op_backward(&S->pool[i], in, S->d_p[i], d_in, 1.0f, S->ws[i]));
    }
    return convblock_backward(&S->cv1, m, x[0], S->d_x1, dx[0], beta[0]);
}

static void sppf_destroy(nn_layer *L) {
    free(L->impl);
    L->impl = NULL;
}

static const nn_module_vt NN_VT_SPPF = {
    .build = sppf_build,
    .plan = sppf_plan,
    .forward = sppf_forward,
    .backward = sppf_backward,
    .release = sppf_release,
    .destroy = sppf_destroy,
};

/* ------------------------------------------------------------------------ */
/* Parse, memory, export. */

/* SPPF(c1, c2, k=5) */
static status sppf_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "SPPF", 1, 2, "[c2, k=5]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_int(a, 1, 5, 1, 15, "k", &L->k));
    if (L->k % 2 == 0)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: SPPF kernel must be odd, got %d", a->i, L->k);
    if (L->c1 < 2)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: SPPF needs at least 2 input channels", a->i);
    L->c2 = spec_channels(a, c2);
    snprintf(L->args, sizeof L->args, "[%d, %d, %d]", L->c1, L->c2, L->k);
    return YOLOC_OK;
}

/* cv2 takes 4 x c1/2 */
static size_t sppf_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    (void)s;
    size_t g = nn_cells(imgsz, l->stride);
    return (size_t)l->c1 * 2 * g * g;
}

/* SPPF: cv1 -> three chained MaxPool(k, 1, k/2) -> Concat -> cv2. */
static status sppf_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, c = ls->c1 / 2, k = ls->k;
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y[4];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(onnx_convblock(e, i, prefix, scope, x[0], ls->c1, c, 1, 1, 0, 1, 1, 1, &y[0]));
    snprintf(scope, sizeof scope, "/model.%d/m", i);
    for (int j = 0; j < 3; j++) {
        onnx_node *n = onnx_node_add(e, "MaxPool", scope, 1, &y[j], 1, NULL);
        int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2}, st[2] = {1, 1};
        onnx_attr_int(e, n, "ceil_mode", 0);
        onnx_attr_ints(e, n, "kernel_shape", 2, ks);
        onnx_attr_ints(e, n, "pads", 4, pads);
        onnx_attr_ints(e, n, "strides", 2, st);
        y[j + 1] = onnx_node_out(n, 0);
    }
    const char *cat = onnx_concat(e, top, 4, y, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return onnx_convblock(e, i, prefix, scope, cat, 4 * c, ls->c2, 1, 1, 0, 1, 1, 1, onnx_out_slot(e, i));
}

const nn_module_desc NN_MOD_SPPF = {.name = "SPPF", .alias = "SPPF", .inputs = 1, .parse = sppf_parse,
                                    .vt = &NN_VT_SPPF, .conv_input = sppf_conv_input, .onnx = sppf_onnx};
