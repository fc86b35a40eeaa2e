/* The parameter-free modules: nn.Upsample (nearest, integer factor) and
 * Concat (along channels). */
#include "nn/nn.h"
#include <string.h>
#include <stdio.h>
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

#include <stdlib.h>

static status none_build(nn_layer *L, model *m, const layer_spec *ls) {
    (void)L;
    (void)m;
    (void)ls;
    return YOLOC_OK;
}
static void none_release(nn_layer *L) { (void)L; }

static status up_plan(nn_layer *L, model *m, plan_ctx *pc) {
    (void)m;
    int f = L->spec->scale;
    L->h = L->in_h[0] * f;
    L->w = L->in_w[0] * f;
    L->c = L->in_c[0];
    L->y = plan_floats(pc, (size_t)L->n * L->h * L->w * L->c);
    return YOLOC_OK;
}

static status up_forward(nn_layer *L, model *m, const float *const *x) {
    upsample_forward(m->opt.be, L->n, L->in_h[0], L->in_w[0], L->c, L->spec->scale, x[0], L->y);
    return YOLOC_OK;
}

static status up_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                          float *const *dx, const float *beta) {
    (void)x;
    if (dx[0])
        upsample_backward(m->opt.be, L->n, L->in_h[0], L->in_w[0], L->c, L->spec->scale, dy, dx[0],
                          beta[0]);
    return YOLOC_OK;
}

static const nn_module_vt NN_VT_UPSAMPLE = {
    .build = none_build,
    .plan = up_plan,
    .forward = up_forward,
    .backward = up_backward,
    .release = none_release,
    .destroy = none_release,
};

static status cat_plan(nn_layer *L, model *m, plan_ctx *pc) {
    (void)m;
    const layer_spec *ls = L->spec;
    int c = 0;
    for (int i = 0; i < ls->nfrom; i++) {
        if (L->in_h[i] != L->in_h[0] || L->in_w[i] != L->in_w[0])
            return err_set(YOLOC_ERR_SHAPE,
                           "layer %d (Concat): inputs of different sizes %dx%d and %dx%d (the image size "
                           "must be a multiple of the model's largest stride)",
                           ls->index, L->in_h[0], L->in_w[0], L->in_h[i], L->in_w[i]);
        c += L->in_c[i];
    }
    L->h = L->in_h[0];
    L->w = L->in_w[0];
    L->c = c;
    L->y = plan_floats(pc, (size_t)L->n * L->h * L->w * c);
    return YOLOC_OK;
}

static status cat_forward(nn_layer *L, model *m, const float *const *x) {
    size_t npix = (size_t)L->n * L->h * L->w;
    int off = 0;
    for (int i = 0; i < L->spec->nfrom; i++) {
        chcopy(m->opt.be, npix, L->in_c[i], x[i], L->in_c[i], 0, L->y, L->c, off, 0.0f);
        off += L->in_c[i];
    }
    return YOLOC_OK;
}

static status cat_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                           float *const *dx, const float *beta) {
    (void)x;
    size_t npix = (size_t)L->n * L->h * L->w;
    int off = 0;
    for (int i = 0; i < L->spec->nfrom; i++) {
        if (dx[i]) chcopy(m->opt.be, npix, L->in_c[i], dy, L->c, off, dx[i], L->in_c[i], 0, beta[i]);
        off += L->in_c[i];
    }
    return YOLOC_OK;
}

static const nn_module_vt NN_VT_CONCAT = {
    .build = none_build,
    .plan = cat_plan,
    .forward = cat_forward,
    .backward = cat_backward,
    .release = none_release,
    .destroy = none_release,
};

/* ------------------------------------------------------------------------ */
/* Parse, export. */

/* nn.Upsample(size=None, scale_factor, mode='nearest') */
static status up_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "nn.Upsample", 1, 3, "[size=None, scale_factor, mode='nearest']"));
    spec_val v;
    TRY(spec_value(a, 0, &v));
    if (v.kind != SPEC_NONE)
        return spec_error(a, spec_arg(a, 0), YOLOC_ERR_UNSUPPORTED,
                          "layer %d: Upsample with a fixed size is not supported (use None)", a->i);
    TRY(spec_int(a, 1, 2, 1, 16, "scale_factor", &L->scale));
    if (a->args->n > 2) {
        TRY(spec_value(a, 2, &v));
        if (v.kind != SPEC_STR || strcmp(v.str, "nearest") != 0)
            return spec_error(a, spec_arg(a, 2), YOLOC_ERR_UNSUPPORTED, "layer %d: only 'nearest' upsampling is supported",
                              a->i);
    }
    L->c2 = L->c1;
    L->up = L->scale;
    snprintf(L->args, sizeof L->args, "[None, %d, 'nearest']", L->scale);
    return YOLOC_OK;
}

/* Concat(dimension=1), inputs of one stride */
static status cat_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "Concat", 0, 1, "[dimension=1]"));
    int dim;
    TRY(spec_int(a, 0, 1, -4, 4, "dimension", &dim));
    if (dim != 1)
        return spec_error(a, NULL, YOLOC_ERR_UNSUPPORTED, "layer %d: Concat only along channels (dimension 1)", a->i);
    int c = 0;
    for (int k = 0; k < a->nf; k++) {
        c += spec_in_channels(a, k);
        if (spec_in_stride(a, k) != spec_in_stride(a, 0))
            return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: Concat inputs have different strides (%d and %d)",
                              a->i, spec_in_stride(a, 0), spec_in_stride(a, k));
    }
    L->c1 = L->c2 = c;
    snprintf(L->args, sizeof L->args, "[1]");
    return YOLOC_OK;
}

/* nn.Upsample(scale, 'nearest') as PyTorch exports it: Resize with scales,
 * asymmetric coordinates, floor rounding (out[y] = in[floor(y / scale)]). */
static status upsample_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    char scope[32], name[64];
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    snprintf(name, sizeof name, "/model.%d/scales", ls->index);
    float sc[4] = {1.0f, 1.0f, (float)ls->scale, (float)ls->scale};
    int64_t four = 4;
    /* inputs X, roi (omitted), scales (float32 also in half exports: the operator's type) */
    const char *in[3] = {x[0], "", onnx_floats32(e, name, 1, &four, sc)};
    onnx_node *n = onnx_node_add(e, "Resize", scope, 3, in, 1, NULL);
    onnx_attr_str(e, n, "coordinate_transformation_mode", "asymmetric");
    onnx_attr_float(e, n, "cubic_coeff_a", -0.75f);
    onnx_attr_str(e, n, "mode", "nearest");
    onnx_attr_str(e, n, "nearest_mode", "floor");
    *onnx_out_slot(e, ls->index) = onnx_node_out(n, 0);
    return YOLOC_OK;
}

static status concat_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    char scope[32];
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    *onnx_out_slot(e, ls->index) = onnx_concat(e, scope, ls->nfrom, x, 1);
    return YOLOC_OK;
}

const nn_module_desc NN_MOD_UPSAMPLE = {.name = "nn.Upsample", .alias = "Upsample", .inputs = 1, .parse = up_parse,
                                        .vt = &NN_VT_UPSAMPLE, .onnx = upsample_onnx};
const nn_module_desc NN_MOD_CONCAT = {.name = "Concat", .alias = "Concat", .parse = cat_parse, .vt = &NN_VT_CONCAT,
                                      .onnx = concat_onnx};
