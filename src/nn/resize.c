/* The parameter-free modules: nn.Upsample (nearest, integer factor) and
 * Concat (along channels). */
#include "nn/nn.h"

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

const nn_module_vt NN_VT_UPSAMPLE = {none_build, up_plan, up_forward, up_backward, none_release,
                                     none_release};

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

const nn_module_vt NN_VT_CONCAT = {none_build, cat_plan, cat_forward, cat_backward, none_release,
                                   none_release};
