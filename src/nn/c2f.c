/* C2f (CSP bottleneck with two convolutions, YOLOv8) and YOLO11's C3k2, a
 * C2f whose inner blocks differ.
 *
 * C2f(c1, c2, n, shortcut, g, e): c = int(c2*e); cv1 = Conv(c1, 2c, 1);
 * the second half of cv1's output feeds n inner blocks in a chain;
 * cv2 = Conv((2+n)c, c2, 1) over the concat of cv1's output and every
 * inner block's output. The inner blocks (nn/blocks.c):
 *   C2f:              Bottleneck(c, c, shortcut, g, k=(3, 3), e=1.0);
 *   C3k2, c3k False:  Bottleneck(c, c, shortcut, g) (k (3, 3), e 0.5);
 *   C3k2, c3k True:   C3k(c, c, 2, shortcut, g) = the C3 core with
 *                     Bottleneck(c_, c_, shortcut, g, k=(3, 3), e=1.0).
 * C3k2(c1, c2, n, c3k=False, e=0.5, g=1, shortcut=True); Ultralytics sets
 * c3k for the m, l and x scales whatever the YAML says (the spec does).
 * NHWC channel slices are not views for oneDNN, so the chunk and the concat
 * are channel copies (chcopy). */
#include "nn/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bottleneck b;
    csp3 k; /* C3k2 with c3k */
} inner;

typedef struct {
    int c, n, c3k;
    convblock cv1, cv2;
    inner *m;
    /* plan */
    size_t npix;
    float *t0;      /* contiguous copy of cv1's second half (input of m[0]) */
    float *cat;     /* (2+n)c channels */
    float *d_cat, *d_y1, *d_mid;
    float **d_t;    /* n+1 buffers of c channels: gradients of t_0..t_n */
} c2f;

static const float *inner_y(const c2f *C, int j) { return C->c3k ? C->m[j].k.cv3.y : C->m[j].b.y; }

static status c2f_build(nn_layer *L, model *m, const layer_spec *ls) {
    c2f *C = calloc(1, sizeof *C);
    if (!C) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = C;
    C->c = (int)(ls->c2 * ls->e);
    C->n = ls->repeats;
    C->c3k = ls->kind == MOD_C3K2 && ls->c3k;
    C->m = calloc((size_t)C->n + 1, sizeof *C->m);
    C->d_t = calloc((size_t)C->n + 1, sizeof *C->d_t);
    if (!C->m || !C->d_t) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char prefix[64];
    int i = ls->index, c = C->c;
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    TRY(convblock_build(&C->cv1, m, i, prefix, ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    TRY(convblock_build(&C->cv2, m, i, prefix, (2 + C->n) * c, ls->c2, 1, 1, 0, 1, 1, 1, 1));
    for (int j = 0; j < C->n; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", i, j);
        if (C->c3k)
            TRY(csp3_build(&C->m[j].k, m, i, prefix, c, c, 2, ls->shortcut, ls->g, 0.5f, 3));
        else
            TRY(bottleneck_build(&C->m[j].b, m, i, prefix, c, c, ls->shortcut, ls->g, 3, 3,
                                 ls->kind == MOD_C3K2 ? 0.5f : 1.0f));
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
        if (C->c3k)
            TRY(csp3_plan(&C->m[j].k, m, pc, n, h, w));
        else
            TRY(bottleneck_plan(&C->m[j].b, m, pc, n, h, w));
    }
    C->cat = plan_floats(pc, C->npix * (size_t)(2 + C->n) * c);
    TRY(convblock_plan(&C->cv2, m, pc, n, h, w));
    C->d_cat = C->d_y1 = C->d_mid = NULL;
    if (pc->training) {
        C->d_cat = plan_floats(pc, C->npix * (size_t)(2 + C->n) * c);
        C->d_y1 = plan_floats(pc, C->npix * 2 * c);
        C->d_mid = C->c3k ? NULL : plan_floats(pc, C->npix * c);
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
        if (C->c3k)
            TRY(csp3_forward(&C->m[j].k, m, in));
        else
            TRY(bottleneck_forward(&C->m[j].b, m, in));
        in = inner_y(C, j);
        chcopy(be, C->npix, c, in, c, 0, C->cat, ct, (2 + j) * c, 0.0f);
    }
    return convblock_forward(&C->cv2, m, C->cat);
}

static status c2f_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                           float *const *dx, const float *beta) {
    c2f *C = L->impl;
    backend be = m->opt.be;
    int c = C->c, n = C->n, ct = (2 + n) * c;
    TRY(convblock_backward(&C->cv2, m, C->cat, dy, C->d_cat, 0.0f));
    /* t_j (j >= 1) is inner block j-1's output: consumed by the concat and
     * by block j. Walk the chain backwards. */
    chcopy(be, C->npix, c, C->d_cat, ct, (1 + n) * c, C->d_t[n], c, 0, 0.0f);
    for (int j = n - 1; j >= 0; j--) {
        const float *in = j == 0 ? C->t0 : inner_y(C, j - 1);
        float beta_in = 0.0f;
        if (j >= 1) { /* t_j's concat slice first, then the block adds */
            chcopy(be, C->npix, c, C->d_cat, ct, (1 + j) * c, C->d_t[j], c, 0, 0.0f);
            beta_in = 1.0f;
        }
        if (C->c3k)
            TRY(csp3_backward(&C->m[j].k, m, in, C->d_t[j + 1], C->d_t[j], beta_in));
        else
            TRY(bottleneck_backward(&C->m[j].b, m, in, C->d_t[j + 1], C->d_t[j], beta_in, C->d_mid));
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
        if (C->c3k)
            csp3_release(&C->m[j].k);
        else
            bottleneck_release(&C->m[j].b);
    }
}

static void c2f_destroy(nn_layer *L) {
    c2f *C = L->impl;
    if (!C) return;
    if (C->m && C->c3k)
        for (int j = 0; j < C->n; j++) csp3_destroy(&C->m[j].k);
    free(C->m);
    free(C->d_t);
    free(C);
    L->impl = NULL;
}

const nn_module_vt NN_VT_C2F = {c2f_build, c2f_plan, c2f_forward, c2f_backward, c2f_release,
                                c2f_destroy};
