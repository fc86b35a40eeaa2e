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
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

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

static const nn_module_vt NN_VT_C2F = {
    .build = c2f_build,
    .plan = c2f_plan,
    .forward = c2f_forward,
    .backward = c2f_backward,
    .release = c2f_release,
    .destroy = c2f_destroy,
};

/* ------------------------------------------------------------------------ */
/* Parse, memory, export. */

/* C2f(c1, c2, n, shortcut=False, g=1, e=0.5) */
static status c2f_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "C2f", 1, 4, "[c2, shortcut=False, g=1, e=0.5]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_bool(a, 1, 0, "shortcut", &L->shortcut));
    TRY(spec_int(a, 2, 1, 1, 65536, "g", &L->g));
    TRY(spec_ratio(a, 3, 0.5f, 4.0f, "C2f e", &L->e));
    L->c2 = spec_channels(a, c2);
    L->repeats = (int)a->n;
    if ((int)(L->c2 * L->e) < 1) return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C2f hidden channels are 0", a->i);
    snprintf(L->args, sizeof L->args, "[%d, %d, %d%s]", L->c1, L->c2, L->repeats, L->shortcut ? ", True" : "");
    return YOLOC_OK;
}

/* YOLO11: C3k2(c1, c2, n, c3k=False, e=0.5, g=1, shortcut=True); Ultralytics'
 * parse_model sets c3k for the m, l and x scales */
static status c3k2_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "C3k2", 1, 5, "[c2, c3k=False, e=0.5, g=1, shortcut=True]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_bool(a, 1, 0, "c3k", &L->c3k));
    TRY(spec_ratio(a, 2, 0.5f, 4.0f, "C3k2 e", &L->e));
    TRY(spec_int(a, 3, 1, 1, 65536, "g", &L->g));
    TRY(spec_bool(a, 4, 1, "shortcut", &L->shortcut));
    char sc = a->sp->scale;
    if (sc == 'm' || sc == 'l' || sc == 'x') L->c3k = 1;
    L->c2 = spec_channels(a, c2);
    L->repeats = (int)a->n;
    int c = (int)(L->c2 * L->e), hid = c / 2; /* C3k's c_ and the Bottleneck's (e 0.5) alike */
    if (c < 1 || hid < 1) return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C3k2 hidden channels are 0", a->i);
    if (c % L->g || hid % L->g)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C3k2 groups %d do not divide its hidden channels", a->i,
                          L->g);
    snprintf(L->args, sizeof L->args, "[%d, %d, %d, %s, %g]", L->c1, L->c2, L->repeats, L->c3k ? "True" : "False",
             (double)L->e);
    return YOLOC_OK;
}

/* cv1 takes the input, cv2 the concatenation of 2 + n halves */
static size_t c2f_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    size_t gi = nn_cells(imgsz, nn_input_stride(s, l, 0)), go = nn_cells(imgsz, l->stride);
    size_t h = (size_t)((double)l->c2 * l->e), a = (size_t)l->c1 * gi * gi, b = (2 + (size_t)l->repeats) * h * go * go;
    return a > b ? a : b;
}

/* C2f and C3k2: cv1 -> Split(c, c) -> n inner blocks on the last part
 * (C2f: Bottleneck k (3, 3) e 1; C3k2: Bottleneck e 0.5, or C3k) ->
 * Concat -> cv2. */
static status c2f_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, c = (int)(ls->c2 * ls->e), n = ls->repeats, k2 = ls->kind == MOD_C3K2;
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y1;
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(onnx_convblock(e, i, prefix, scope, x[0], ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, &y1));
    const char **parts = calloc((size_t)n + 2, sizeof *parts);
    if (!parts) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    int64_t sizes[2] = {c, c};
    onnx_split(e, top, y1, 1, 2, sizes, parts);
    status st = YOLOC_OK;
    for (int j = 0; j < n && st == YOLOC_OK; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", i, j);
        snprintf(scope, sizeof scope, "/model.%d/m.%d", i, j);
        if (k2 && ls->c3k)
            st = csp3_onnx(e, i, prefix, scope, parts[j + 1], c, c, 2, ls->shortcut, ls->g, 0.5f, 3, &parts[j + 2]);
        else
            st = bottleneck_onnx(e, i, prefix, scope, parts[j + 1], c, c, ls->shortcut, ls->g, 3, 3,
                                k2 ? 0.5f : 1.0f, &parts[j + 2]);
    }
    const char *cat = st == YOLOC_OK ? onnx_concat(e, top, n + 2, parts, 1) : NULL;
    free(parts);
    TRY(st);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return onnx_convblock(e, i, prefix, scope, cat, (2 + n) * c, ls->c2, 1, 1, 0, 1, 1, 1,
                         onnx_out_slot(e, i));
}

const nn_module_desc NN_MOD_C2F = {.name = "C2f", .alias = "C2f", .repeats = 1, .inputs = 1, .parse = c2f_parse,
                                   .vt = &NN_VT_C2F, .conv_input = c2f_conv_input, .onnx = c2f_onnx};
const nn_module_desc NN_MOD_C3K2 = {.name = "C3k2", .alias = "C3k2", .repeats = 1, .inputs = 1, .v11_head = 1,
                                    .parse = c3k2_parse, .vt = &NN_VT_C2F, .conv_input = c2f_conv_input,
                                    .onnx = c2f_onnx};
