/* C3 (CSP bottleneck with three convolutions, YOLOv5) and its Bottleneck.
 *
 * C3(c1, c2, n, shortcut=True, g=1, e=0.5): c_ = int(c2*e);
 * cv1 = Conv(c1, c_, 1), cv2 = Conv(c1, c_, 1), m = n Bottleneck(c_, c_,
 * shortcut, g, e=1.0) chained on cv1's output, cv3 = Conv(2c_, c2, 1) over
 * cat(m(cv1(x)), cv2(x)) (the bottleneck branch first). YOLOv5's
 * Bottleneck(c1, c2, shortcut, g, e): c_ = int(c2*e), cv1 = Conv(c1, c_, 1)
 * (1x1, unlike C2f's 3x3), cv2 = Conv(c_, c2, 3, g), plus the input when
 * shortcut and c1 == c2 (always inside C3).
 * State_dict names: model.i.cv1/cv2/cv3, model.i.m.j.cv1/cv2.
 * NHWC channel slices are not views for oneDNN, so the concat and its
 * gradient split are channel copies (chcopy). */
#include "nn/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    convblock cv1, cv2;
    int add;
    float *y; /* output: cv2.y, or its own buffer when add */
} bottleneck_v5;

typedef struct {
    int c, n;
    convblock cv1, cv2, cv3;
    bottleneck_v5 *m;
    /* plan */
    size_t npix;
    float *cat;    /* [npix, 2c]: m's output, then cv2's */
    float *d_cat;  /* gradient of cat */
    float *d_c2;   /* contiguous gradient of cv2's output */
    float *d_mid;  /* gradient of a bottleneck's inner activation */
    float *d_t[2]; /* ping-pong: gradients of the chain's activations */
} c3;

static status c3_build(nn_layer *L, model *m, const layer_spec *ls) {
    c3 *C = calloc(1, sizeof *C);
    if (!C) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = C;
    C->c = (int)(ls->c2 * ls->e);
    C->n = ls->repeats;
    C->m = calloc((size_t)C->n, sizeof *C->m);
    if (!C->m) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char prefix[64];
    int i = ls->index, c = C->c;
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    TRY(convblock_build(&C->cv1, m, i, prefix, ls->c1, c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    TRY(convblock_build(&C->cv2, m, i, prefix, ls->c1, c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(prefix, sizeof prefix, "model.%d.cv3", i);
    TRY(convblock_build(&C->cv3, m, i, prefix, 2 * c, ls->c2, 1, 1, 0, 1, 1, 1, 1));
    for (int j = 0; j < C->n; j++) {
        bottleneck_v5 *b = &C->m[j];
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv1", i, j);
        TRY(convblock_build(&b->cv1, m, i, prefix, c, c, 1, 1, 0, 1, 1, 1, 1));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv2", i, j);
        TRY(convblock_build(&b->cv2, m, i, prefix, c, c, 3, 1, 1, ls->g, 1, 1, 1));
        b->add = ls->shortcut;
    }
    return YOLOC_OK;
}

static status c3_plan(nn_layer *L, model *m, plan_ctx *pc) {
    c3 *C = L->impl;
    int n = L->n, h = L->in_h[0], w = L->in_w[0], c = C->c;
    TRY(convblock_plan(&C->cv1, m, pc, n, h, w));
    TRY(convblock_plan(&C->cv2, m, pc, n, h, w));
    C->npix = (size_t)n * h * w;
    for (int j = 0; j < C->n; j++) {
        bottleneck_v5 *b = &C->m[j];
        TRY(convblock_plan(&b->cv1, m, pc, n, h, w));
        TRY(convblock_plan(&b->cv2, m, pc, n, h, w));
        b->y = b->add ? plan_floats(pc, C->npix * c) : b->cv2.y;
    }
    C->cat = plan_floats(pc, C->npix * 2 * c);
    TRY(convblock_plan(&C->cv3, m, pc, n, h, w));
    C->d_cat = C->d_c2 = C->d_mid = C->d_t[0] = C->d_t[1] = NULL;
    if (pc->training) {
        C->d_cat = plan_floats(pc, C->npix * 2 * c);
        C->d_c2 = plan_floats(pc, C->npix * c);
        C->d_mid = plan_floats(pc, C->npix * c);
        C->d_t[0] = plan_floats(pc, C->npix * c);
        C->d_t[1] = plan_floats(pc, C->npix * c);
    }
    L->h = h;
    L->w = w;
    L->c = C->cv3.c2;
    L->y = C->cv3.y;
    return YOLOC_OK;
}

static status c3_forward(nn_layer *L, model *m, const float *const *x) {
    c3 *C = L->impl;
    backend be = m->opt.be;
    int c = C->c;
    TRY(convblock_forward(&C->cv1, m, x[0]));
    TRY(convblock_forward(&C->cv2, m, x[0]));
    const float *in = C->cv1.y;
    for (int j = 0; j < C->n; j++) {
        bottleneck_v5 *b = &C->m[j];
        TRY(convblock_forward(&b->cv1, m, in));
        TRY(convblock_forward(&b->cv2, m, b->cv1.y));
        if (b->add) add_forward(be, C->npix * c, b->cv2.y, in, b->y);
        in = b->y;
    }
    chcopy(be, C->npix, c, in, c, 0, C->cat, 2 * c, 0, 0.0f);
    chcopy(be, C->npix, c, C->cv2.y, c, 0, C->cat, 2 * c, c, 0.0f);
    return convblock_forward(&C->cv3, m, C->cat);
}

static status c3_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                          float *const *dx, const float *beta) {
    c3 *C = L->impl;
    backend be = m->opt.be;
    int c = C->c, n = C->n;
    TRY(convblock_backward(&C->cv3, m, C->cat, dy, C->d_cat, 0.0f));
    /* the chain: t_0 = cv1's output, t_{j+1} = bottleneck j's output; the
     * gradient of t_{j+1} lives in d_t[(j+1) & 1] */
    chcopy(be, C->npix, c, C->d_cat, 2 * c, 0, C->d_t[n & 1], c, 0, 0.0f);
    for (int j = n - 1; j >= 0; j--) {
        bottleneck_v5 *b = &C->m[j];
        const float *in = j == 0 ? C->cv1.y : C->m[j - 1].y;
        const float *dyb = C->d_t[(j + 1) & 1];
        float *dxb = C->d_t[j & 1];
        TRY(convblock_backward(&b->cv2, m, b->cv1.y, dyb, C->d_mid, 0.0f));
        TRY(convblock_backward(&b->cv1, m, in, C->d_mid, dxb, 0.0f));
        if (b->add) acc(be, C->npix * c, dyb, dxb, 1.0f);
    }
    chcopy(be, C->npix, c, C->d_cat, 2 * c, c, C->d_c2, c, 0, 0.0f);
    /* both cv1 and cv2 read the input: the second accumulates */
    TRY(convblock_backward(&C->cv1, m, x[0], C->d_t[0], dx[0], beta[0]));
    return convblock_backward(&C->cv2, m, x[0], C->d_c2, dx[0], dx[0] ? 1.0f : 0.0f);
}

static void c3_release(nn_layer *L) {
    c3 *C = L->impl;
    convblock_release(&C->cv1);
    convblock_release(&C->cv2);
    convblock_release(&C->cv3);
    for (int j = 0; j < C->n; j++) {
        convblock_release(&C->m[j].cv1);
        convblock_release(&C->m[j].cv2);
    }
}

static void c3_destroy(nn_layer *L) {
    c3 *C = L->impl;
    if (!C) return;
    free(C->m);
    free(C);
    L->impl = NULL;
}

const nn_module_vt NN_VT_C3 = {c3_build, c3_plan, c3_forward, c3_backward, c3_release, c3_destroy};
