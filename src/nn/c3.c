/* C3 (CSP bottleneck with three convolutions, YOLOv5): the C3 core of
 * nn/blocks.c (csp3) with YOLOv5's Bottleneck, cv1 1x1 then cv2 3x3:
 * C3(c1, c2, n, shortcut=True, g=1, e=0.5). State_dict names:
 * model.i.cv1/cv2/cv3, model.i.m.j.cv1/cv2. */
#include "nn/nn.h"
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

#include <stdio.h>
#include <stdlib.h>

static status c3_build(nn_layer *L, model *m, const layer_spec *ls) {
    csp3 *C = calloc(1, sizeof *C);
    if (!C) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = C;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    return csp3_build(C, m, ls->index, prefix, ls->c1, ls->c2, ls->repeats, ls->shortcut, ls->g, ls->e, 1);
}

static status c3_plan(nn_layer *L, model *m, plan_ctx *pc) {
    csp3 *C = L->impl;
    TRY(csp3_plan(C, m, pc, L->n, L->in_h[0], L->in_w[0]));
    L->h = C->cv3.oh;
    L->w = C->cv3.ow;
    L->c = C->cv3.c2;
    L->y = C->cv3.y;
    return YOLOC_OK;
}

static status c3_forward(nn_layer *L, model *m, const float *const *x) { return csp3_forward(L->impl, m, x[0]); }

static status c3_backward(nn_layer *L, model *m, const float *const *x, const float *dy, float *const *dx,
                          const float *beta) {
    return csp3_backward(L->impl, m, x[0], dy, dx[0], beta[0]);
}

static void c3_release(nn_layer *L) { csp3_release(L->impl); }

static void c3_destroy(nn_layer *L) {
    if (!L->impl) return;
    csp3_destroy(L->impl);
    free(L->impl);
    L->impl = NULL;
}

static const nn_module_vt NN_VT_C3 = {
    .build = c3_build,
    .plan = c3_plan,
    .forward = c3_forward,
    .backward = c3_backward,
    .release = c3_release,
    .destroy = c3_destroy,
};

/* C3(c1, c2, n, shortcut=True, g=1, e=0.5) */
static status c3_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "C3", 1, 4, "[c2, shortcut=True, g=1, e=0.5]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_bool(a, 1, 1, "shortcut", &L->shortcut));
    TRY(spec_int(a, 2, 1, 1, 65536, "g", &L->g));
    TRY(spec_ratio(a, 3, 0.5f, 4.0f, "C3 e", &L->e));
    L->c2 = spec_channels(a, c2);
    L->repeats = (int)a->n;
    int c_ = (int)(L->c2 * L->e);
    if (c_ < 1) return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C3 hidden channels are 0", a->i);
    if (c_ % L->g)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C3 groups %d do not divide its hidden channels %d", a->i,
                          L->g, c_);
    snprintf(L->args, sizeof L->args, "[%d, %d, %d%s]", L->c1, L->c2, L->repeats, L->shortcut ? "" : ", False");
    return YOLOC_OK;
}

/* cv1/cv2 take the input, cv3 the concatenation of two halves */
static size_t c3_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    size_t gi = nn_cells(imgsz, nn_input_stride(s, l, 0)), go = nn_cells(imgsz, l->stride);
    size_t h = (size_t)((double)l->c2 * l->e), a = (size_t)l->c1 * gi * gi, b = 2 * h * go * go;
    return a > b ? a : b;
}

static status c3_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    char prefix[32], scope[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    return csp3_onnx(e, ls->index, prefix, scope, x[0], ls->c1, ls->c2, ls->repeats, ls->shortcut, ls->g, ls->e, 1,
                    onnx_out_slot(e, ls->index));
}

const nn_module_desc NN_MOD_C3 = {.name = "C3", .alias = "C3", .repeats = 1, .inputs = 1, .parse = c3_parse,
                                  .vt = &NN_VT_C3, .conv_input = c3_conv_input, .onnx = c3_onnx};
