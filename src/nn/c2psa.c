/* C2PSA (YOLO11): a C2f-like split around position-sensitive attention.
 *
 * C2PSA(c1, c2 = c1, n, e=0.5): c = int(c1*e); cv1 = Conv(c1, 2c, 1); the
 * second half of cv1's output goes through n PSABlock(c, attn_ratio 0.5,
 * heads c/64) in a chain; cv2 = Conv(2c, c1, 1) over cat(first half, chain
 * output).
 *
 * PSABlock(c): x1 = x + Attention(x); y = x1 + ffn(x1), ffn = Conv(c, 2c, 1)
 * then Conv(2c, c, 1) without activation.
 *
 * Attention(c, heads): head dim hd = c/heads, key dim kd = int(hd/2),
 * scale = kd^-0.5; qkv = Conv(c, c + 2 kd heads, 1, no activation), its
 * channels per head h: q [kd], k [kd], v [hd] side by side (Ultralytics'
 * view(B, heads, 2kd + hd, N)); per image and head over the N = H*W
 * positions: P = softmax(scale Q K^T) [N, N], O = P V [N, hd] into
 * channels h*hd..; out = proj(O + pe(V)) with pe a depthwise 3x3 Conv and
 * proj a 1x1 Conv, both without activation; V gathered per head into c
 * contiguous channels (Ultralytics' v.reshape(B, C, H, W)).
 *
 * The products and the softmax are the backend's bmm and softmax ops. A
 * training plan keeps every image's P for the backward ([n, heads, N, N]);
 * an eval plan keeps one image's. State_dict names: model.i.cv1/cv2,
 * model.i.m.j.attn.qkv/proj/pe, model.i.m.j.ffn.0/1. */
#include "nn/nn.h"
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    convblock qkv, proj, pe, ffn0, ffn1;
    /* plan */
    float *v;  /* [npix, c] V gathered */
    float *a;  /* [npix, c] O + pe(V): proj's input */
    float *x1; /* [npix, c] x + attention */
    float *y;  /* [npix, c] output */
    float *P;  /* attention weights: [n, heads, N, N] (training) or [heads, N, N] */
} psablock;

typedef struct {
    int c, n, heads, kd, hd, ct;
    float scale;
    convblock cv1, cv2;
    psablock *m;
    /* plan */
    int nimg, N;
    size_t npix;
    float *t0, *cat;
    float *d_cat, *d_y1, *d_t[2], *d_f, *d_x1, *d_a, *d_v, *d_qkv, *dP;
} c2psa;

static status c2psa_build(nn_layer *L, model *m, const layer_spec *ls) {
    c2psa *C = calloc(1, sizeof *C);
    if (!C) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = C;
    C->c = (int)(ls->c1 * ls->e);
    C->n = ls->repeats;
    C->heads = C->c / 64;
    if (C->heads < 1)
        return err_set(YOLOC_ERR_INVALID, "layer %d: C2PSA needs at least 64 hidden channels (one head), got %d",
                       ls->index, C->c);
    C->hd = C->c / C->heads;
    C->kd = C->hd / 2;
    C->ct = C->c + 2 * C->kd * C->heads;
    C->scale = (float)pow((double)C->kd, -0.5);
    C->m = calloc((size_t)C->n + 1, sizeof *C->m);
    if (!C->m) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char p[96];
    int i = ls->index, c = C->c;
    snprintf(p, sizeof p, "model.%d.cv1", i);
    TRY(convblock_build(&C->cv1, m, i, p, ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, 1));
    snprintf(p, sizeof p, "model.%d.cv2", i);
    TRY(convblock_build(&C->cv2, m, i, p, 2 * c, ls->c2, 1, 1, 0, 1, 1, 1, 1));
    for (int j = 0; j < C->n; j++) {
        psablock *B = &C->m[j];
        snprintf(p, sizeof p, "model.%d.m.%d.attn.qkv", i, j);
        TRY(convblock_build(&B->qkv, m, i, p, c, C->ct, 1, 1, 0, 1, 1, 1, 0));
        snprintf(p, sizeof p, "model.%d.m.%d.attn.proj", i, j);
        TRY(convblock_build(&B->proj, m, i, p, c, c, 1, 1, 0, 1, 1, 1, 0));
        snprintf(p, sizeof p, "model.%d.m.%d.attn.pe", i, j);
        TRY(convblock_build(&B->pe, m, i, p, c, c, 3, 1, 1, c, 1, 1, 0));
        snprintf(p, sizeof p, "model.%d.m.%d.ffn.0", i, j);
        TRY(convblock_build(&B->ffn0, m, i, p, c, 2 * c, 1, 1, 0, 1, 1, 1, 1));
        snprintf(p, sizeof p, "model.%d.m.%d.ffn.1", i, j);
        TRY(convblock_build(&B->ffn1, m, i, p, 2 * c, c, 1, 1, 0, 1, 1, 1, 0));
    }
    return YOLOC_OK;
}

static status c2psa_plan(nn_layer *L, model *m, plan_ctx *pc) {
    c2psa *C = L->impl;
    int n = L->n, h = L->in_h[0], w = L->in_w[0], c = C->c;
    TRY(convblock_plan(&C->cv1, m, pc, n, h, w));
    C->nimg = n;
    C->N = h * w;
    C->npix = (size_t)n * h * w;
    size_t np = C->npix, nn2 = (size_t)C->N * C->N * C->heads;
    C->t0 = plan_floats(pc, np * c);
    for (int j = 0; j < C->n; j++) {
        psablock *B = &C->m[j];
        TRY(convblock_plan(&B->qkv, m, pc, n, h, w));
        B->v = plan_floats(pc, np * c);
        TRY(convblock_plan(&B->pe, m, pc, n, h, w));
        B->P = plan_floats(pc, nn2 * (pc->training ? (size_t)n : 1));
        B->a = plan_floats(pc, np * c);
        TRY(convblock_plan(&B->proj, m, pc, n, h, w));
        B->x1 = plan_floats(pc, np * c);
        TRY(convblock_plan(&B->ffn0, m, pc, n, h, w));
        TRY(convblock_plan(&B->ffn1, m, pc, n, h, w));
        B->y = plan_floats(pc, np * c);
    }
    C->cat = plan_floats(pc, np * 2 * c);
    TRY(convblock_plan(&C->cv2, m, pc, n, h, w));
    C->d_cat = C->d_y1 = C->d_t[0] = C->d_t[1] = C->d_f = C->d_x1 = C->d_a = C->d_v = C->d_qkv = C->dP = NULL;
    if (pc->training) {
        C->d_cat = plan_floats(pc, np * 2 * c);
        C->d_y1 = plan_floats(pc, np * 2 * c);
        C->d_t[0] = plan_floats(pc, np * c);
        C->d_t[1] = plan_floats(pc, np * c);
        C->d_f = plan_floats(pc, np * 2 * c);
        C->d_x1 = plan_floats(pc, np * c);
        C->d_a = plan_floats(pc, np * c);
        C->d_v = plan_floats(pc, np * c);
        C->d_qkv = plan_floats(pc, np * C->ct);
        C->dP = plan_floats(pc, nn2);
    }
    L->h = h;
    L->w = w;
    L->c = C->cv2.c2;
    L->y = C->cv2.y;
    return YOLOC_OK;
}

/* The descriptor of one image's per-head products: C_h = op(A_h) op(B_h)
 * over the heads, with the heads' offsets as batch strides. */
static bmm_desc heads_desc(const c2psa *C, int m_, int n_, int k_, int ta, int tb, int lda, size_t sa, int ldb,
                           size_t sb, int ldc, size_t sc) {
    bmm_desc d = {.batch = C->heads, .m = m_, .n = n_, .k = k_, .ta = ta, .tb = tb,
                  .lda = lda, .ldb = ldb, .ldc = ldc, .sa = sa, .sb = sb, .sc = sc};
    return d;
}

static status psablock_forward(c2psa *C, psablock *B, model *m, const float *x, int training) {
    backend be = m->opt.be;
    int c = C->c, N = C->N, ct = C->ct, kd = C->kd, hd = C->hd, hs = 2 * kd + hd;
    size_t np = C->npix, nn2 = (size_t)N * N;
    TRY(convblock_forward(&B->qkv, m, x));
    const float *qkv = B->qkv.y;
    for (int h = 0; h < C->heads; h++) chcopy(be, np, hd, qkv, ct, h * hs + 2 * kd, B->v, c, h * hd, 0.0f);
    TRY(convblock_forward(&B->pe, m, B->v));
    bmm_desc s = heads_desc(C, N, N, kd, 0, 1, ct, (size_t)hs, ct, (size_t)hs, N, nn2);
    bmm_desc o = heads_desc(C, N, hd, N, 0, 0, N, nn2, ct, (size_t)hs, c, (size_t)hd);
    for (int i = 0; i < C->nimg; i++) {
        const float *q = qkv + (size_t)i * N * ct;
        float *P = B->P + (training ? (size_t)i * C->heads * nn2 : 0);
        TRY(bmm(be, &s, C->scale, q, q + kd, 0.0f, P));
        softmax_forward(be, (size_t)C->heads * N, N, P, P);
        TRY(bmm(be, &o, 1.0f, P, q + 2 * kd, 0.0f, B->a + (size_t)i * N * c));
    }
    acc(be, np * c, B->pe.y, B->a, 1.0f);
    TRY(convblock_forward(&B->proj, m, B->a));
    add_forward(be, np * c, x, B->proj.y, B->x1);
    TRY(convblock_forward(&B->ffn0, m, B->x1));
    TRY(convblock_forward(&B->ffn1, m, B->ffn0.y));
    add_forward(be, np * c, B->x1, B->ffn1.y, B->y);
    return YOLOC_OK;
}

/* dx = beta_dx*dx + the gradient of the block's input; dy, dx are not the
 * module's scratch */
static status psablock_backward(c2psa *C, psablock *B, model *m, const float *x, const float *dy, float *dx,
                                float beta_dx) {
    backend be = m->opt.be;
    int c = C->c, N = C->N, ct = C->ct, kd = C->kd, hd = C->hd, hs = 2 * kd + hd;
    size_t np = C->npix, nn2 = (size_t)N * N;
    /* y = x1 + ffn(x1) */
    TRY(convblock_backward(&B->ffn1, m, B->ffn0.y, dy, C->d_f, 0.0f));
    TRY(convblock_backward(&B->ffn0, m, B->x1, C->d_f, C->d_x1, 0.0f));
    acc(be, np * c, dy, C->d_x1, 1.0f);
    /* x1 = x + proj(O + pe(V)) */
    TRY(convblock_backward(&B->proj, m, B->a, C->d_x1, C->d_a, 0.0f));
    TRY(convblock_backward(&B->pe, m, B->v, C->d_a, C->d_v, 0.0f));
    const float *qkv = B->qkv.y;
    bmm_desc dp = heads_desc(C, N, N, hd, 0, 1, c, (size_t)hd, ct, (size_t)hs, N, nn2);       /* dO V^T */
    bmm_desc dv = heads_desc(C, N, hd, N, 1, 0, N, nn2, c, (size_t)hd, c, (size_t)hd);        /* P^T dO */
    bmm_desc dq = heads_desc(C, N, kd, N, 0, 0, N, nn2, ct, (size_t)hs, ct, (size_t)hs);      /* dS K */
    bmm_desc dk = heads_desc(C, N, kd, N, 1, 0, N, nn2, ct, (size_t)hs, ct, (size_t)hs);      /* dS^T Q */
    for (int i = 0; i < C->nimg; i++) {
        const float *q = qkv + (size_t)i * N * ct, *dO = C->d_a + (size_t)i * N * c;
        const float *P = B->P + (size_t)i * C->heads * nn2;
        float *dqkv = C->d_qkv + (size_t)i * N * ct;
        TRY(bmm(be, &dp, 1.0f, dO, q + 2 * kd, 0.0f, C->dP));
        TRY(bmm(be, &dv, 1.0f, P, dO, 1.0f, C->d_v + (size_t)i * N * c));
        softmax_backward(be, (size_t)C->heads * N, N, P, C->dP, C->dP, 0.0f);
        TRY(bmm(be, &dq, C->scale, C->dP, q + kd, 0.0f, dqkv));
        TRY(bmm(be, &dk, C->scale, C->dP, q, 0.0f, dqkv + kd));
    }
    for (int h = 0; h < C->heads; h++) chcopy(be, np, hd, C->d_v, c, h * hd, C->d_qkv, ct, h * hs + 2 * kd, 0.0f);
    TRY(convblock_backward(&B->qkv, m, x, C->d_qkv, dx, beta_dx));
    acc(be, np * c, C->d_x1, dx, 1.0f);
    return YOLOC_OK;
}

static status c2psa_forward(nn_layer *L, model *m, const float *const *x) {
    c2psa *C = L->impl;
    backend be = m->opt.be;
    int c = C->c;
    TRY(convblock_forward(&C->cv1, m, x[0]));
    chcopy(be, C->npix, c, C->cv1.y, 2 * c, c, C->t0, c, 0, 0.0f);
    const float *in = C->t0;
    for (int j = 0; j < C->n; j++) {
        TRY(psablock_forward(C, &C->m[j], m, in, m->plan_training));
        in = C->m[j].y;
    }
    chcopy(be, C->npix, c, C->cv1.y, 2 * c, 0, C->cat, 2 * c, 0, 0.0f);
    chcopy(be, C->npix, c, in, c, 0, C->cat, 2 * c, c, 0.0f);
    return convblock_forward(&C->cv2, m, C->cat);
}

static status c2psa_backward(nn_layer *L, model *m, const float *const *x, const float *dy, float *const *dx,
                             const float *beta) {
    c2psa *C = L->impl;
    backend be = m->opt.be;
    int c = C->c, n = C->n;
    TRY(convblock_backward(&C->cv2, m, C->cat, dy, C->d_cat, 0.0f));
    /* t_0 = cv1's second half, t_{j+1} = block j's output; the gradient of
     * t_j lives in d_t[j & 1] */
    chcopy(be, C->npix, c, C->d_cat, 2 * c, c, C->d_t[n & 1], c, 0, 0.0f);
    for (int j = n - 1; j >= 0; j--) {
        const float *in = j == 0 ? C->t0 : C->m[j - 1].y;
        TRY(psablock_backward(C, &C->m[j], m, in, C->d_t[(j + 1) & 1], C->d_t[j & 1], 0.0f));
    }
    chcopy(be, C->npix, c, C->d_cat, 2 * c, 0, C->d_y1, 2 * c, 0, 0.0f);
    chcopy(be, C->npix, c, C->d_t[0], c, 0, C->d_y1, 2 * c, c, 0.0f);
    return convblock_backward(&C->cv1, m, x[0], C->d_y1, dx[0], beta[0]);
}

static void c2psa_release(nn_layer *L) {
    c2psa *C = L->impl;
    convblock_release(&C->cv1);
    convblock_release(&C->cv2);
    for (int j = 0; j < C->n; j++) {
        psablock *B = &C->m[j];
        convblock_release(&B->qkv);
        convblock_release(&B->proj);
        convblock_release(&B->pe);
        convblock_release(&B->ffn0);
        convblock_release(&B->ffn1);
    }
}

static void c2psa_destroy(nn_layer *L) {
    c2psa *C = L->impl;
    if (!C) return;
    free(C->m);
    free(C);
    L->impl = NULL;
}

static const nn_module_vt NN_VT_C2PSA = {
    .build = c2psa_build,
    .plan = c2psa_plan,
    .forward = c2psa_forward,
    .backward = c2psa_backward,
    .release = c2psa_release,
    .destroy = c2psa_destroy,
};

/* ------------------------------------------------------------------------ */
/* Parse, memory, export. */

/* YOLO11: C2PSA(c1, c2, n, e=0.5) with c2 == c1 and at least one head of 64 */
static status c2psa_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "C2PSA", 1, 2, "[c2, e=0.5]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_ratio(a, 1, 0.5f, 4.0f, "C2PSA e", &L->e));
    L->c2 = spec_channels(a, c2);
    L->repeats = (int)a->n;
    if (L->c2 != L->c1)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: C2PSA keeps its channels: input %d, output %d", a->i,
                          L->c1, L->c2);
    if ((int)(L->c1 * L->e) < 64)
        return spec_error(a, NULL, YOLOC_ERR_PARSE,
                          "layer %d: C2PSA needs at least 64 hidden channels (one attention head of 64), got %d", a->i,
                          (int)(L->c1 * L->e));
    snprintf(L->args, sizeof L->args, "[%d, %d, %d]", L->c1, L->c2, L->repeats);
    return YOLOC_OK;
}

/* cv1 takes the input; ffn.1 and cv2 take 2 x c1*e */
static size_t c2psa_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    size_t g = nn_cells(imgsz, nn_input_stride(s, l, 0)), c2x = 2 * (size_t)((double)l->c1 * l->e);
    return ((size_t)l->c1 > c2x ? (size_t)l->c1 : c2x) * g * g;
}

/* C2PSA (nn/c2psa.c) as Ultralytics exports it: cv1 -> Split(c, c); on the
 * second part n PSABlocks; Concat -> cv2. A PSABlock's attention:
 * qkv -> Reshape [B, heads, 2kd + hd, H*W] -> Slice q, k, v ->
 * MatMul(q^T, k) x scale -> Softmax(-1) -> MatMul(v, attn^T) -> Reshape to
 * the input's shape, plus pe(v reshaped) -> proj; then x + attn, and
 * x + ffn(x). The reshapes back take the block input's Shape, so the graph
 * holds for dynamic sizes too. */
static status c2psa_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, c = (int)(ls->c1 * ls->e), n = ls->repeats;
    int heads = c / 64, hd = c / heads, kd = hd / 2, hs = 2 * kd + hd, ct = c + 2 * kd * heads;
    float scale = (float)pow((double)kd, -0.5);
    int64_t B = onnx_dynamic(e) ? 0 : onnx_batch(e);
    char prefix[96], scope[96], top[32], name[128];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y1, *parts[2];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(onnx_convblock(e, i, prefix, scope, x[0], ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, &y1));
    int64_t sizes[2] = {c, c};
    onnx_split(e, top, y1, 1, 2, sizes, parts);
    const char *t = parts[1];
    for (int j = 0; j < n; j++) {
        char bs[64], as[80];
        snprintf(bs, sizeof bs, "/model.%d/m/m.%d", i, j);
        snprintf(as, sizeof as, "%s/attn", bs);
        const char *qkv, *pe, *pr, *f;
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.qkv", i, j);
        snprintf(scope, sizeof scope, "%s/qkv", as);
        TRY(onnx_convblock(e, i, prefix, scope, t, c, ct, 1, 1, 0, 1, 1, 0, &qkv));
        int64_t s4[4] = {B, heads, hs, -1}, perm[4] = {0, 1, 3, 2};
        const char *r = onnx_reshape(e, as, qkv, 4, s4);
        const char *q = onnx_slice(e, as, r, 2, 0, kd), *k = onnx_slice(e, as, r, 2, kd, 2 * kd),
                   *v = onnx_slice(e, as, r, 2, 2 * kd, hs);
        onnx_node *qt = onnx_node_add(e, "Transpose", as, 1, &q, 1, NULL);
        onnx_attr_ints(e, qt, "perm", 4, perm);
        const char *att = onnx_op2(e, "MatMul", as, onnx_node_out(qt, 0), k);
        snprintf(name, sizeof name, "%s/scale", as);
        att = onnx_op2(e, "Mul", as, att, onnx_scalar(e, name, scale));
        onnx_node *sm = onnx_node_add(e, "Softmax", as, 1, &att, 1, NULL);
        onnx_attr_int(e, sm, "axis", -1);
        att = onnx_node_out(sm, 0);
        onnx_node *at = onnx_node_add(e, "Transpose", as, 1, &att, 1, NULL);
        onnx_attr_ints(e, at, "perm", 4, perm);
        const char *o = onnx_op2(e, "MatMul", as, v, onnx_node_out(at, 0)); /* [B, heads, hd, N] */
        const char *shp = onnx_op1(e, "Shape", as, t);                /* [B, c, H, W] */
        o = onnx_op2(e, "Reshape", as, o, shp);
        const char *vr = onnx_op2(e, "Reshape", as, v, shp);
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.pe", i, j);
        snprintf(scope, sizeof scope, "%s/pe", as);
        TRY(onnx_convblock(e, i, prefix, scope, vr, c, c, 3, 1, 1, c, 1, 0, &pe));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.proj", i, j);
        snprintf(scope, sizeof scope, "%s/proj", as);
        TRY(onnx_convblock(e, i, prefix, scope, onnx_op2(e, "Add", as, o, pe), c, c, 1, 1, 0, 1, 1, 0, &pr));
        t = onnx_op2(e, "Add", bs, t, pr);
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.ffn.0", i, j);
        snprintf(scope, sizeof scope, "%s/ffn/ffn.0", bs);
        TRY(onnx_convblock(e, i, prefix, scope, t, c, 2 * c, 1, 1, 0, 1, 1, 1, &f));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.ffn.1", i, j);
        snprintf(scope, sizeof scope, "%s/ffn/ffn.1", bs);
        TRY(onnx_convblock(e, i, prefix, scope, f, 2 * c, c, 1, 1, 0, 1, 1, 0, &f));
        t = onnx_op2(e, "Add", bs, t, f);
    }
    const char *cp[2] = {parts[0], t};
    const char *cat = onnx_concat(e, top, 2, cp, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return onnx_convblock(e, i, prefix, scope, cat, 2 * c, ls->c2, 1, 1, 0, 1, 1, 1, onnx_out_slot(e, i));
}

const nn_module_desc NN_MOD_C2PSA = {.name = "C2PSA", .alias = "C2PSA", .repeats = 1, .inputs = 1,
                                     .parse = c2psa_parse, .vt = &NN_VT_C2PSA, .conv_input = c2psa_conv_input,
                                     .onnx = c2psa_onnx};
