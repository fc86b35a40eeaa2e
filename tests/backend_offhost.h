/* "offhost": a test backend whose memory the host cannot read.
 *
 * It runs the reference backend's kernels, but the pointers it hands out are
 * the real ones moved by 2^62, an address no x86-64 process can touch: code
 * outside the backend that reads or writes the model's parameters,
 * gradients, buffers or activations in place (instead of through the
 * backend's copies and ops) crashes at once, where a GPU backend would read
 * garbage. Its entries translate the pointers back and call the reference.
 * host_memory = 0, so the model stages its input and eval output through
 * copies, as it would for a GPU; the losses run on its memory like every
 * other op.
 *
 * Test-only (not registered): the tests add it to the backends they check. */
#ifndef YOLOC_TESTS_BACKEND_OFFHOST_H
#define YOLOC_TESTS_BACKEND_OFFHOST_H

#include "ops/backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OFFHOST_SHIFT ((uintptr_t)1 << 62)

static inline void *oh_real(const void *p) { return p ? (void *)((uintptr_t)p - OFFHOST_SHIFT) : NULL; }
static inline void *oh_dev(void *p) { return p ? (void *)((uintptr_t)p + OFFHOST_SHIFT) : NULL; }
#define OHF(p) ((float *)oh_real(p))
#define OHD(p) ((double *)oh_real(p))

static const ops_backend *oh_ref(void) { return &OPS_BACKEND_REF; }

static status oh_alloc(void *ctx, size_t bytes, void **out) {
    void *p = NULL;
    status st = oh_ref()->buf_alloc(ctx, bytes, &p);
    *out = oh_dev(p);
    return st;
}
static void oh_free(void *ctx, void *p) { oh_ref()->buf_free(ctx, oh_real(p)); }
static status oh_to_host(void *ctx, void *dst, const void *src, size_t n) {
    (void)ctx;
    if (n) memcpy(dst, oh_real(src), n);
    return YOLOC_OK;
}
static status oh_from_host(void *ctx, void *dst, const void *src, size_t n) {
    (void)ctx;
    if (n) memcpy(oh_real(dst), src, n);
    return YOLOC_OK;
}
static status oh_copy(void *ctx, void *dst, const void *src, size_t n) {
    (void)ctx;
    if (n) memmove(oh_real(dst), oh_real(src), n);
    return YOLOC_OK;
}
static status oh_zero(void *ctx, void *p, size_t n) {
    (void)ctx;
    if (n) memset(oh_real(p), 0, n);
    return YOLOC_OK;
}
static status oh_sync(void *ctx) {
    (void)ctx;
    return YOLOC_OK;
}
static int oh_bf16(void) { return 1; }

static status oh_conv_init(conv2d_op *op, void *ctx, int tr) { return oh_ref()->conv2d_init(op, ctx, tr); }
static status oh_conv_fwd(conv2d_op *op, const float *x, const float *w, const float *b, float *y, int same) {
    return oh_ref()->conv2d_forward(op, OHF(x), OHF(w), OHF(b), OHF(y), same);
}
static status oh_conv_bwd(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx, float bdx, float *dw,
                          float *db) {
    return oh_ref()->conv2d_backward(op, OHF(x), OHF(w), OHF(dy), OHF(dx), bdx, OHF(dw), OHF(db));
}
static void oh_conv_free(conv2d_op *op) { oh_ref()->conv2d_free(op); }

static status oh_bn_init(bn_op *op, void *ctx, int tr) { return oh_ref()->bn_init(op, ctx, tr); }
static status oh_bn_fwd(bn_op *op, const float *x, const float *g, const float *b, float *y, float *sm, float *sv,
                        float *rm, float *rv) {
    return oh_ref()->bn_forward_train(op, OHF(x), OHF(g), OHF(b), OHF(y), OHF(sm), OHF(sv), OHF(rm), OHF(rv));
}
static status oh_bn_eval(bn_op *op, const float *x, const float *g, const float *b, const float *rm, const float *rv,
                         float *y) {
    return oh_ref()->bn_forward_eval(op, OHF(x), OHF(g), OHF(b), OHF(rm), OHF(rv), OHF(y));
}
static status oh_bn_bwd(bn_op *op, const float *x, const float *g, const float *sm, const float *sv, const float *dy,
                        float *dx, float bdx, float *dg, float *db) {
    return oh_ref()->bn_backward(op, OHF(x), OHF(g), OHF(sm), OHF(sv), OHF(dy), OHF(dx), bdx, OHF(dg), OHF(db));
}
static status oh_bn_frozen(bn_op *op, const float *x, const float *g, const float *rm, const float *rv,
                           const float *dy, float *dx, float bdx, float *dg, float *db) {
    return oh_ref()->bn_backward_frozen(op, OHF(x), OHF(g), OHF(rm), OHF(rv), OHF(dy), OHF(dx), bdx, OHF(dg), OHF(db));
}
static void oh_bn_free(bn_op *op) { oh_ref()->bn_free(op); }
static status oh_sbn_fwd(const bn_desc *d, const ops_reducer *r, const float *x, const float *g, const float *b, float *y,
                         float *sm, float *sv, float *rm, float *rv, double *w) {
    return oh_ref()->syncbn_forward_train(d, r, OHF(x), OHF(g), OHF(b), OHF(y), OHF(sm), OHF(sv), OHF(rm), OHF(rv),
                                          OHD(w));
}
static status oh_sbn_bwd(const bn_desc *d, const ops_reducer *r, const float *x, const float *g, const float *sm,
                         const float *sv, const float *dy, float *dx, float bdx, float *dg, float *db, double *w) {
    return oh_ref()->syncbn_backward(d, r, OHF(x), OHF(g), OHF(sm), OHF(sv), OHF(dy), OHF(dx), bdx, OHF(dg), OHF(db),
                                     OHD(w));
}
static status oh_gn_fwd(const gn_desc *d, const float *x, const float *g, const float *b, float *y, float *sm,
                        float *sr) {
    return oh_ref()->gn_forward(d, OHF(x), OHF(g), OHF(b), OHF(y), OHF(sm), OHF(sr));
}
static status oh_gn_bwd(const gn_desc *d, const float *x, const float *g, const float *sm, const float *sr,
                        const float *dy, float *dx, float bdx, float *dg, float *db) {
    return oh_ref()->gn_backward(d, OHF(x), OHF(g), OHF(sm), OHF(sr), OHF(dy), OHF(dx), bdx, OHF(dg), OHF(db));
}
static status oh_silu_init(silu_op *op, void *ctx, int tr) { return oh_ref()->silu_init(op, ctx, tr); }
static status oh_silu_fwd(silu_op *op, const float *x, float *y) { return oh_ref()->silu_forward(op, OHF(x), OHF(y)); }
static status oh_silu_bwd(silu_op *op, const float *x, const float *dy, float *dx, float bdx) {
    return oh_ref()->silu_backward(op, OHF(x), OHF(dy), OHF(dx), bdx);
}
static void oh_silu_free(silu_op *op) { oh_ref()->silu_free(op); }
static status oh_pool_init(maxpool_op *op, void *ctx, int tr) { return oh_ref()->maxpool_init(op, ctx, tr); }
static size_t oh_pool_ws(const maxpool_op *op) { return oh_ref()->maxpool_workspace(op); }
static status oh_pool_fwd(maxpool_op *op, const float *x, float *y, void *ws) {
    return oh_ref()->maxpool_forward(op, OHF(x), OHF(y), oh_real(ws));
}
static status oh_pool_bwd(maxpool_op *op, const float *x, const float *dy, float *dx, float bdx, const void *ws) {
    return oh_ref()->maxpool_backward(op, OHF(x), OHF(dy), OHF(dx), bdx, oh_real(ws));
}
static void oh_pool_free(maxpool_op *op) { oh_ref()->maxpool_free(op); }
static void oh_up_fwd(int n, int h, int w, int c, int f, const float *x, float *y) {
    oh_ref()->upsample_forward(n, h, w, c, f, OHF(x), OHF(y));
}
static void oh_up_bwd(int n, int h, int w, int c, int f, const float *dy, float *dx, float bdx) {
    oh_ref()->upsample_backward(n, h, w, c, f, OHF(dy), OHF(dx), bdx);
}
static void oh_chcopy(size_t np, int c, const float *s, int sct, int soff, float *d, int dct, int doff, float beta) {
    oh_ref()->chcopy(np, c, OHF(s), sct, soff, OHF(d), dct, doff, beta);
}
static void oh_add(size_t n, const float *a, const float *b, float *y) { oh_ref()->add(n, OHF(a), OHF(b), OHF(y)); }
static void oh_acc(size_t n, const float *s, float *d, float beta) { oh_ref()->acc(n, OHF(s), OHF(d), beta); }
static status oh_bmm(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    return oh_ref()->bmm(d, alpha, OHF(A), OHF(B), beta, OHF(C));
}
static void oh_softmax_fwd(size_t rows, int n, const float *x, float *y) {
    oh_ref()->softmax_forward(rows, n, OHF(x), OHF(y));
}
static void oh_softmax_bwd(size_t rows, int n, const float *y, const float *dy, float *dx, float bdx) {
    oh_ref()->softmax_backward(rows, n, OHF(y), OHF(dy), OHF(dx), bdx);
}
static void oh_bf16cvt(size_t n, const float *x, uint16_t *y) { oh_ref()->f32_to_bf16(n, OHF(x), oh_real(y)); }
static void oh_dfl(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out) {
    oh_ref()->dfl_decode(d, OHF(box), OHF(cls), OHF(dfl_w), OHF(out));
}
static void oh_v5dec(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out) {
    oh_ref()->v5_decode(d, OHF(raw), OHF(anchors), OHF(dec), OHF(out));
}
static void oh_fold(int co, size_t per, float eps, const float *w, const float *g, const float *b, const float *rm,
                    const float *rv, float *wf, float *bf) {
    oh_ref()->bn_fold(co, per, eps, OHF(w), OHF(g), OHF(b), OHF(rm), OHF(rv), OHF(wf), OHF(bf));
}
static void oh_sgd(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                   const ops_sgd_hp *hp) {
    oh_ref()->sgd_update(ch, nch, numel, OHF(p), OHF(g), OHF(b), hp);
}
static void oh_adam(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *m, float *v,
                    const ops_adam_hp *hp) {
    oh_ref()->adam_update(ch, nch, numel, OHF(p), OHF(g), OHF(m), OHF(v), hp);
}
static double oh_sumsq(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *part) {
    return oh_ref()->chunk_sumsq(ch, nch, numel, OHF(x), OHD(part));
}
static void oh_scale(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f) {
    oh_ref()->chunk_scale(ch, nch, numel, OHF(x), f);
}
static int oh_finite(const ops_chunk *ch, size_t nch, size_t numel, const float *x) {
    return oh_ref()->chunk_all_finite(ch, nch, numel, OHF(x));
}
static double oh_sqdiff(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev, double *part) {
    return oh_ref()->chunk_sqdiff_copy(ch, nch, numel, OHF(g), OHF(prev), OHD(part));
}
static void oh_ema(size_t n, float *x, const float *y, float d, float omd) {
    oh_ref()->ema_blend(n, OHF(x), OHF(y), d, omd);
}

static status oh_v8_loss(void *ctx, struct v8_loss *L, const float *pred, const ops_head_grid *g, const float *t,
                         size_t nt, float terms[3], float *grad) {
    return oh_ref()->v8_loss(ctx, L, OHF(pred), g, t, nt, terms, OHF(grad));
}
static status oh_v5_loss(void *ctx, struct v5_loss *L, const float *pred, const ops_head_grid *g, const float *anchors,
                         const float *t, size_t nt, float terms[3], float *grad) {
    return oh_ref()->v5_loss(ctx, L, OHF(pred), g, anchors, t, nt, terms, OHF(grad));
}

static const ops_backend OPS_BACKEND_OFFHOST = {
    .name = "offhost",
    .about = "the reference kernels on memory the host cannot touch (tests)",
    .host_memory = 0,
    .gpu = 0,
    .bf16_convs = oh_bf16,
    .buf_alloc = oh_alloc,
    .buf_free = oh_free,
    .copy_to_host = oh_to_host,
    .copy_from_host = oh_from_host,
    .copy = oh_copy,
    .zero = oh_zero,
    .sync = oh_sync,
    .conv2d_init = oh_conv_init,
    .conv2d_forward = oh_conv_fwd,
    .conv2d_backward = oh_conv_bwd,
    .conv2d_free = oh_conv_free,
    .bn_init = oh_bn_init,
    .bn_forward_train = oh_bn_fwd,
    .bn_forward_eval = oh_bn_eval,
    .bn_backward = oh_bn_bwd,
    .bn_backward_frozen = oh_bn_frozen,
    .bn_free = oh_bn_free,
    .syncbn_forward_train = oh_sbn_fwd,
    .syncbn_backward = oh_sbn_bwd,
    .gn_forward = oh_gn_fwd,
    .gn_backward = oh_gn_bwd,
    .silu_init = oh_silu_init,
    .silu_forward = oh_silu_fwd,
    .silu_backward = oh_silu_bwd,
    .silu_free = oh_silu_free,
    .maxpool_init = oh_pool_init,
    .maxpool_workspace = oh_pool_ws,
    .maxpool_forward = oh_pool_fwd,
    .maxpool_backward = oh_pool_bwd,
    .maxpool_free = oh_pool_free,
    .upsample_forward = oh_up_fwd,
    .upsample_backward = oh_up_bwd,
    .chcopy = oh_chcopy,
    .add = oh_add,
    .acc = oh_acc,
    .bmm = oh_bmm,
    .softmax_forward = oh_softmax_fwd,
    .softmax_backward = oh_softmax_bwd,
    .f32_to_bf16 = oh_bf16cvt,
    .dfl_decode = oh_dfl,
    .v5_decode = oh_v5dec,
    .bn_fold = oh_fold,
    .v8_loss = oh_v8_loss,
    .v5_loss = oh_v5_loss,
    .sgd_update = oh_sgd,
    .adam_update = oh_adam,
    .chunk_sumsq = oh_sumsq,
    .chunk_scale = oh_scale,
    .chunk_all_finite = oh_finite,
    .ema_blend = oh_ema,
    .chunk_sqdiff_copy = oh_sqdiff,
};

#endif
