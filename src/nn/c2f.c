/* C2f (CSP bottleneck with two convolutions, YOLOv8) and its Bottleneck.
 *
 * C2f(c1, c2, n, shortcut, g, e): c = int(c2*e); cv1 = Conv(c1, 2c, 1);
 * the second half of cv1's output feeds n Bottleneck(c, c, shortcut, g,
 * k=(3,3), e=1.0) in a chain; cv2 = Conv((2+n)c, c2, 1) over the concat of
 * cv1's output and every bottleneck output. Bottleneck: cv1 = Conv(c1, c_,
 * 3), cv2 = Conv(c_, c2, 3, g), plus the input when shortcut and c1 == c2.
 * NHWC channel slices are not views for oneDNN, so the chunk and the concat
 * are channel copies (chcopy). */
#include "nn/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    convblock cv1, cv2;
    int add;
    float *y; /* output: cv2.y, or its own buffer when add */
} bottleneck;

typedef struct {
    int c, n;
    convblock cv1, cv2;
    bottleneck *m;
    /* plan */
    size_t npix;
    float *t0;      /* contiguous copy of cv1's second half (input of m[0]) */
    float *cat;     /* (2+n)c channels */
    float *d_cat, *d_y1, *d_mid;
    float **d_t;    /* n+1 buffers of c channels: gradients of t_0..t_n */
} c2f;

static status c2f_build(nn_layer *L, model *m, const layer_spec *ls) {
    c2f *C = calloc(1, sizeof *C);
    if (!C) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = C;
    C->c = (int)(ls->c2 * ls->e);
    C->n = ls->repeats;
    C->m = calloc((size_t)C->n, sizeof *C->m);
    C->d_t = calloc((size_t)C->n + 1, sizeof *C->d_t);
    if (!C->m || !C->d_t) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char prefix[64];
    int i = ls->index, c = C->c;
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    TRY(convblock_build(&C->cv1, m, i, prefix, ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    TRY(convblock_build(&C->cv2, m, i, prefix, (2 + C->n) * c, ls->c2, 1, 1, 0, 1, 1, 1, 1));
    for (int j = 0; j < C->n; j++) {
        bottleneck *b = &C->m[j];
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv1", i, j);
        TRY(convblock_build(&b->cv1, m, i, prefix, c, c, 3, 1, 1, 1, 1, 1, 1));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv2", i, j);
        TRY(convblock_build(&b->cv2, m, i, prefix, c, c, 3, 1, 1, ls->g, 1, 1, 1));
        b->add = ls->shortcut; /* c1 == c2 == c inside C2f */
    }
    return YOLOC_OK;
}

static status c2f_plan(nn_layer *L, model *m, plan_ctx *pc) {
    c2f *C = L->impl;
    int n = L->n, h = L->in_h[0], w = L->in_w[0], c = C->c;
    TRY(convblock_plan(&C->cv1, m, pc, n, h, w));
    h = C->cv1.oh;
    w = C->cv1.ow;
    C->npix = (size_t)n * h * w;
    C->t0 = plan_floats(pc, C->npix * c);
    for (int j = 0; j < C->n; j++) {
        bottleneck *b = &C->m[j];
        TRY(convblock_plan(&b->cv1, m, pc, n, h, w));
        TRY(convblock_plan(&b->cv2, m, pc, n, h, w));
        b->y = b->add ? plan_floats(pc, C->npix * c) : b->cv2.y;
    }
    C->cat = plan_floats(pc, C->npix * (size_t)(2 + C->n) * c);
    TRY(convblock_plan(&C->cv2, m, pc, n, h, w));
    C->d_cat = C->d_y1 = C->d_mid = NULL;
    if (pc->training) {
        C->d_cat = plan_floats(pc, C->npix * (size_t)(2 + C->n) * c);
        C->d_y1 = plan_floats(pc, C->npix * 2 * c);
        C->d_mid = plan_floats(pc, C->npix * c);
        for (int j = 0; j <= C->n; j++) C->d_t[j] = plan_floats(pc, C->npix * c);
    }
    L->h = h;
    L->w = w;
    L->c = C->cv2.c2;
    L->y = C->cv2.y;
    return YOLOC_OK;
}

static status c2f_forward(nn_layer *L, model *m, const float *const *x) {
    c2f *C = L->impl;
    backend be = m->opt.be;
    int c = C->c, ct = (2 + C->n) * c;
    TRY(convblock_forward(&C->cv1, m, x[0]));
    chcopy(be, C->npix, c, C->cv1.y, 2 * c, c, C->t0, c, 0, 0.0f);
    chcopy(be, C->npix, 2 * c, C->cv1.y, 2 * c, 0, C->cat, ct, 0, 0.0f);
    const float *in = C->t0;
    for (int j = 0; j < C->n; j++) {
        bottleneck *b = &C->m[j];
        TRY(convblock_forward(&b->cv1, m, in));
        TRY(convblock_forward(&b->cv2, m, b->cv1.y));
        if (b->add) add_forward(be, C->npix * c, b->cv2.y, in, b->y);
        chcopy(be, C->npix, c, b->y, c, 0, C->cat, ct, (2 + j) * c, 0.0f);
        in = b->y;
    }
    return convblock_forward(&C->cv2, m, C->cat);
}

static status c2f_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                           float *const *dx, const float *beta) {
    c2f *C = L->impl;
    backend be = m->opt.be;
    int c = C->c, n = C->n, ct = (2 + n) * c;
    TRY(convblock_backward(&C->cv2, m, C->cat, dy, C->d_cat, 0.0f));
    /* t_j (j >= 1) is bottleneck j-1's output: consumed by the concat and by
     * bottleneck j. Walk the chain backwards. */
    chcopy(be, C->npix, c, C->d_cat, ct, (1 + n) * c, C->d_t[n], c, 0, 0.0f);
    for (int j = n - 1; j >= 0; j--) {
        bottleneck *b = &C->m[j];
        const float *in = j == 0 ? C->t0 : C->m[j - 1].y;
        float beta_in = 0.0f;
        if (j >= 1) { /* t_j's concat slice first, then the bottleneck adds */
            chcopy(be, C->npix, c, C->d_cat, ct, (1 + j) * c, C->d_t[j], c, 0, 0.0f);
            beta_in = 1.0f;
        }
        const float *dyb = C->d_t[j + 1];
        TRY(convblock_backward(&b->cv2, m, b->cv1.y, dyb, C->d_mid, 0.0f));
        TRY(convblock_backward(&b->cv1, m, in, C->d_mid, C->d_t[j], beta_in));
        if (b->add) acc(be, C->npix * c, dyb, C->d_t[j], 1.0f);
    }
    chcopy(be, C->npix, 2 * c, C->d_cat, ct, 0, C->d_y1, 2 * c, 0, 0.0f);
    if (n > 0) chcopy(be, C->npix, c, C->d_t[0], c, 0, C->d_y1, 2 * c, c, 1.0f);
    return convblock_backward(&C->cv1, m, x[0], C->d_y1, dx[0], beta[0]);
}

static void c2f_release(nn_layer *L) {
    c2f *C = L->impl;
    convblock_release(&C->cv1);
    convblock_release(&C->cv2);
    for (int j = 0; j < C->n; j++) {
        convblock_release(&C->m[j].cv1);
        convblock_release(&C->m[j].cv2);
    }
}

static void c2f_destroy(nn_layer *L) {
    c2f *C = L->impl;
    if (!C) return;
    free(C->m);
    free(C->d_t);
    free(C);
    L->impl = NULL;
}

const nn_module_vt NN_VT_C2F = {c2f_build, c2f_plan, c2f_forward, c2f_backward, c2f_release,
                                c2f_destroy};
