/* C3 (CSP bottleneck with three convolutions, YOLOv5): the C3 core of
 * nn/blocks.c (csp3) with YOLOv5's Bottleneck, cv1 1x1 then cv2 3x3:
 * C3(c1, c2, n, shortcut=True, g=1, e=0.5). State_dict names:
 * model.i.cv1/cv2/cv3, model.i.m.j.cv1/cv2. */
#include "nn/nn.h"

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

const nn_module_vt NN_VT_C3 = {c3_build, c3_plan, c3_forward, c3_backward, c3_release, c3_destroy};
