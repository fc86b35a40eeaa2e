/* The blocks modules are made of, below the module level: Ultralytics'
 * Bottleneck and the C3 core (see nn.h). */
#include "nn/nn.h"
#include "io/onnx_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

status bottleneck_build(bottleneck *b, model *m, int layer, const char *prefix, int c1, int c2, int shortcut, int g,
                        int k1, int k2, float e) {
    char name[96];
    int c_ = (int)(c2 * e);
    if (c_ < 1) return err_set(YOLOC_ERR_INVALID, "%s: Bottleneck hidden channels are 0", prefix);
    snprintf(name, sizeof name, "%s.cv1", prefix);
    TRY(convblock_build(&b->cv1, m, layer, name, c1, c_, k1, 1, k1 / 2, 1, 1, 1, 1));
    snprintf(name, sizeof name, "%s.cv2", prefix);
    TRY(convblock_build(&b->cv2, m, layer, name, c_, c2, k2, 1, k2 / 2, g, 1, 1, 1));
    b->add = shortcut && c1 == c2;
    return YOLOC_OK;
}

status bottleneck_plan(bottleneck *b, model *m, plan_ctx *pc, int n, int h, int w) {
    TRY(convblock_plan(&b->cv1, m, pc, n, h, w));
    TRY(convblock_plan(&b->cv2, m, pc, n, h, w));
    b->y = b->add ? plan_floats(pc, convblock_out_size(&b->cv2)) : b->cv2.y;
    return YOLOC_OK;
}

status bottleneck_forward(bottleneck *b, model *m, const float *x) {
    TRY(convblock_forward(&b->cv1, m, x));
    TRY(convblock_forward(&b->cv2, m, b->cv1.y));
    if (b->add) add_forward(m->opt.be, convblock_out_size(&b->cv2), b->cv2.y, x, b->y);
    return YOLOC_OK;
}

status bottleneck_backward(bottleneck *b, model *m, const float *x, const float *dy, float *dx, float beta_dx,
                           float *d_mid) {
    TRY(convblock_backward(&b->cv2, m, b->cv1.y, dy, d_mid, 0.0f));
    TRY(convblock_backward(&b->cv1, m, x, d_mid, dx, beta_dx));
    if (b->add && dx) acc(m->opt.be, convblock_out_size(&b->cv2), dy, dx, 1.0f);
    return YOLOC_OK;
}

void bottleneck_release(bottleneck *b) {
    convblock_release(&b->cv1);
    convblock_release(&b->cv2);
}

/* ------------------------------------------------------------------------ */

status csp3_build(csp3 *C, model *m, int layer, const char *prefix, int c1, int c2, int n, int shortcut, int g,
                  float e, int k1) {
    char name[96];
    C->c = (int)(c2 * e);
    C->n = n;
    if (C->c < 1) return err_set(YOLOC_ERR_INVALID, "%s: C3 hidden channels are 0", prefix);
    C->m = calloc((size_t)(n > 0 ? n : 1), sizeof *C->m);
    if (!C->m) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    int c = C->c;
    snprintf(name, sizeof name, "%s.cv1", prefix);
    TRY(convblock_build(&C->cv1, m, layer, name, c1, c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(name, sizeof name, "%s.cv2", prefix);
    TRY(convblock_build(&C->cv2, m, layer, name, c1, c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(name, sizeof name, "%s.cv3", prefix);
    TRY(convblock_build(&C->cv3, m, layer, name, 2 * c, c2, 1, 1, 0, 1, 1, 1, 1));
    for (int j = 0; j < n; j++) {
        snprintf(name, sizeof name, "%s.m.%d", prefix, j);
        TRY(bottleneck_build(&C->m[j], m, layer, name, c, c, shortcut, g, k1, 3, 1.0f));
    }
    return YOLOC_OK;
}

status csp3_plan(csp3 *C, model *m, plan_ctx *pc, int n, int h, int w) {
    int c = C->c;
    TRY(convblock_plan(&C->cv1, m, pc, n, h, w));
    TRY(convblock_plan(&C->cv2, m, pc, n, h, w));
    C->npix = (size_t)n * h * w;
    for (int j = 0; j < C->n; j++) TRY(bottleneck_plan(&C->m[j], m, pc, n, h, w));
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
    return YOLOC_OK;
}

status csp3_forward(csp3 *C, model *m, const float *x) {
    backend be = m->opt.be;
    int c = C->c;
    TRY(convblock_forward(&C->cv1, m, x));
    TRY(convblock_forward(&C->cv2, m, x));
    const float *in = C->cv1.y;
    for (int j = 0; j < C->n; j++) {
        TRY(bottleneck_forward(&C->m[j], m, in));
        in = C->m[j].y;
    }
    chcopy(be, C->npix, c, in, c, 0, C->cat, 2 * c, 0, 0.0f);
    chcopy(be, C->npix, c, C->cv2.y, c, 0, C->cat, 2 * c, c, 0.0f);
    return convblock_forward(&C->cv3, m, C->cat);
}

status csp3_backward(csp3 *C, model *m, const float *x, const float *dy, float *dx, float beta_dx) {
    backend be = m->opt.be;
    int c = C->c, n = C->n;
    TRY(convblock_backward(&C->cv3, m, C->cat, dy, C->d_cat, 0.0f));
    /* the chain: t_0 = cv1's output, t_{j+1} = bottleneck j's output; the
     * gradient of t_{j+1} lives in d_t[(j+1) & 1] */
    chcopy(be, C->npix, c, C->d_cat, 2 * c, 0, C->d_t[n & 1], c, 0, 0.0f);
    for (int j = n - 1; j >= 0; j--) {
        const float *in = j == 0 ? C->cv1.y : C->m[j - 1].y;
        TRY(bottleneck_backward(&C->m[j], m, in, C->d_t[(j + 1) & 1], C->d_t[j & 1], 0.0f, C->d_mid));
    }
    chcopy(be, C->npix, c, C->d_cat, 2 * c, c, C->d_c2, c, 0, 0.0f);
    /* both cv1 and cv2 read the input: the second accumulates */
    TRY(convblock_backward(&C->cv1, m, x, C->d_t[0], dx, beta_dx));
    return convblock_backward(&C->cv2, m, x, C->d_c2, dx, dx ? 1.0f : 0.0f);
}

void csp3_release(csp3 *C) {
    convblock_release(&C->cv1);
    convblock_release(&C->cv2);
    convblock_release(&C->cv3);
    for (int j = 0; j < C->n; j++) bottleneck_release(&C->m[j]);
}

void csp3_destroy(csp3 *C) {
    free(C->m);
    C->m = NULL;
}

/* ------------------------------------------------------------------------ */
/* ONNX export of the blocks (their modules' export functions call these). */

/* Bottleneck (nn/blocks.c) under prefix/scope: cv1 (k1) -> cv2 (k2, g),
 * plus the input when shortcut and c1 == c2. */
status bottleneck_onnx(onnx_exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1,
                             int c2, int shortcut, int g, int k1, int k2, float ex, const char **y) {
    char p[96], sc[96];
    int c_ = (int)(c2 * ex);
    const char *t;
    snprintf(p, sizeof p, "%s.cv1", prefix);
    snprintf(sc, sizeof sc, "%s/cv1", scope);
    TRY(onnx_convblock(e, i, p, sc, x, c1, c_, k1, 1, k1 / 2, 1, 1, 1, &t));
    snprintf(p, sizeof p, "%s.cv2", prefix);
    snprintf(sc, sizeof sc, "%s/cv2", scope);
    TRY(onnx_convblock(e, i, p, sc, t, c_, c2, k2, 1, k2 / 2, g, 1, 1, &t));
    *y = shortcut && c1 == c2 ? onnx_op2(e, "Add", scope, x, t) : t; /* x + cv2(cv1(x)) */
    return YOLOC_OK;
}

/* The C3 core (nn/blocks.c csp3): cv1 -> n Bottlenecks (k1, 3), cv2 ->
 * Concat -> cv3. */
status csp3_onnx(onnx_exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1, int c2,
                       int n, int shortcut, int g, float ex, int k1, const char **y) {
    int c = (int)(c2 * ex);
    char p[96], sc[96];
    const char *t, *y2;
    snprintf(p, sizeof p, "%s.cv1", prefix);
    snprintf(sc, sizeof sc, "%s/cv1", scope);
    TRY(onnx_convblock(e, i, p, sc, x, c1, c, 1, 1, 0, 1, 1, 1, &t));
    snprintf(p, sizeof p, "%s.cv2", prefix);
    snprintf(sc, sizeof sc, "%s/cv2", scope);
    TRY(onnx_convblock(e, i, p, sc, x, c1, c, 1, 1, 0, 1, 1, 1, &y2));
    for (int j = 0; j < n; j++) {
        snprintf(p, sizeof p, "%s.m.%d", prefix, j);
        snprintf(sc, sizeof sc, "%s/m.%d", scope, j);
        TRY(bottleneck_onnx(e, i, p, sc, t, c, c, shortcut, g, k1, 3, 1.0f, &t));
    }
    const char *parts[2] = {t, y2};
    const char *cat = onnx_concat(e, scope, 2, parts, 1);
    snprintf(p, sizeof p, "%s.cv3", prefix);
    snprintf(sc, sizeof sc, "%s/cv3", scope);
    return onnx_convblock(e, i, p, sc, cat, 2 * c, c2, 1, 1, 0, 1, 1, 1, y);
}
