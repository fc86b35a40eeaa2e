/* The reference backend: plain single-threaded C on host memory, the oracle
 * every other backend is tested against (tests/ops/test_backend_ops.c). It
 * keeps no plans (its op handles' impl stay NULL) and offers no fused ops,
 * so a model on it runs BatchNorm, then SiLU, as separate steps. */
#include "ops/backend.h"
#include "ops/loss/v5loss.h"
#include "ops/loss/v8loss.h"

/* Buffers: host memory (ops/host_mem.c). */

/* ---- convolution: bf16 operands are rounded in C, anywhere */
static int ref_bf16_convs(void) { return 1; }

static status ref_conv2d_init(conv2d_op *op, void *ctx, int training) {
    (void)op;
    (void)ctx;
    (void)training;
    return YOLOC_OK;
}
static status ref_conv2d_forward(conv2d_op *op, const float *x, const float *w, const float *b, float *y,
                                 int weights_unchanged) {
    (void)weights_unchanged;
    conv2d_ref_forward(&op->d, x, w, b, y);
    if (op->d.act) silu_ref_forward((size_t)op->d.n * conv2d_out_h(&op->d) * conv2d_out_w(&op->d) * op->d.co, y, y);
    return YOLOC_OK;
}
static status ref_conv2d_backward(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx,
                                  float beta_dx, float *dw, float *db) {
    conv2d_ref_backward(&op->d, x, w, dy, dx, beta_dx, dw, db);
    return YOLOC_OK;
}
static void ref_conv2d_free(conv2d_op *op) { (void)op; }

static status ref_bmm(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    bmm_ref(d, alpha, A, B, beta, C);
    return YOLOC_OK;
}

/* ---- batch normalisation */
static status ref_bn_init(bn_op *op, void *ctx, int training) {
    (void)op;
    (void)ctx;
    (void)training;
    return YOLOC_OK;
}
static status ref_bn_forward_train(bn_op *op, const float *x, const float *gamma, const float *beta, float *y,
                                   float *save_mean, float *save_var, float *running_mean, float *running_var) {
    bn_ref_forward_train(&op->d, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
    return YOLOC_OK;
}
static status ref_bn_forward_eval(bn_op *op, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, float *y) {
    bn_ref_forward_eval(&op->d, x, gamma, beta, running_mean, running_var, y);
    return YOLOC_OK;
}
static status ref_bn_backward(bn_op *op, const float *x, const float *gamma, const float *save_mean,
                              const float *save_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                              float *dbeta) {
    bn_ref_backward(&op->d, x, gamma, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta);
    return YOLOC_OK;
}
static status ref_bn_backward_frozen(bn_op *op, const float *x, const float *gamma, const float *rm, const float *rv,
                                     const float *dy, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    bn_ref_backward_frozen(&op->d, x, gamma, rm, rv, dy, dx, beta_dx, dgamma, dbeta);
    return YOLOC_OK;
}
static void ref_bn_free(bn_op *op) { (void)op; }

/* ---- group normalisation */
static status ref_gn_forward(const gn_desc *d, const float *x, const float *gamma, const float *beta, float *y,
                             float *save_mean, float *save_rstd) {
    gn_ref_forward(d, x, gamma, beta, y, save_mean, save_rstd);
    return YOLOC_OK;
}
static status ref_gn_backward(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                              const float *save_rstd, const float *dy, float *dx, float beta_dx, float *dgamma,
                              float *dbeta) {
    gn_ref_backward(d, x, gamma, save_mean, save_rstd, dy, dx, beta_dx, dgamma, dbeta);
    return YOLOC_OK;
}

/* ---- SiLU */
static status ref_silu_init(silu_op *op, void *ctx, int training) {
    (void)op;
    (void)ctx;
    (void)training;
    return YOLOC_OK;
}
static status ref_silu_forward(silu_op *op, const float *x, float *y) {
    silu_ref_forward(op->n, x, y);
    return YOLOC_OK;
}
static status ref_silu_backward(silu_op *op, const float *x, const float *dy, float *dx, float beta_dx) {
    if (dx) silu_ref_backward(op->n, x, dy, dx, beta_dx);
    return YOLOC_OK;
}
static void ref_silu_free(silu_op *op) { (void)op; }

/* ---- max pooling: backward recomputes the argmax from x */
static status ref_maxpool_init(maxpool_op *op, void *ctx, int training) {
    (void)op;
    (void)ctx;
    (void)training;
    return YOLOC_OK;
}
static size_t ref_maxpool_workspace(const maxpool_op *op) {
    (void)op;
    return 0;
}
static status ref_maxpool_forward(maxpool_op *op, const float *x, float *y, void *ws) {
    (void)ws;
    maxpool_ref_forward(&op->d, x, y);
    return YOLOC_OK;
}
static status ref_maxpool_backward(maxpool_op *op, const float *x, const float *dy, float *dx, float beta_dx,
                                   const void *ws) {
    (void)ws;
    if (dx) maxpool_ref_backward(&op->d, x, dy, dx, beta_dx);
    return YOLOC_OK;
}
static void ref_maxpool_free(maxpool_op *op) { (void)op; }

const ops_backend OPS_BACKEND_REF = {
    .name = "ref",
    .about = "plain single-threaded C, the oracle",
    .host_memory = 1,
    .gpu = 0,
    .bf16_convs = ref_bf16_convs,
    .ctx_create = NULL, /* no context */
    .ctx_free = NULL,
    .buf_alloc = ops_host_alloc,
    .buf_free = ops_host_free,
    .copy_to_host = ops_host_copy,
    .copy_from_host = ops_host_copy,
    .copy = ops_host_copy,
    .zero = ops_host_zero,
    .sync = ops_host_sync,
    .conv2d_init = ref_conv2d_init,
    .conv2d_forward = ref_conv2d_forward,
    .conv2d_backward = ref_conv2d_backward,
    .conv2d_free = ref_conv2d_free,
    .bn_init = ref_bn_init,
    .bn_forward_train = ref_bn_forward_train,
    .bn_forward_eval = ref_bn_forward_eval,
    .bn_backward = ref_bn_backward,
    .bn_backward_frozen = ref_bn_backward_frozen,
    .bn_free = ref_bn_free,
    .syncbn_forward_train = syncbn_ref_forward_train,
    .syncbn_backward = syncbn_ref_backward,
    /* no fused BN + SiLU */
    .gn_forward = ref_gn_forward,
    .gn_backward = ref_gn_backward,
    .silu_init = ref_silu_init,
    .silu_forward = ref_silu_forward,
    .silu_backward = ref_silu_backward,
    .silu_free = ref_silu_free,
    .maxpool_init = ref_maxpool_init,
    .maxpool_workspace = ref_maxpool_workspace,
    .maxpool_forward = ref_maxpool_forward,
    .maxpool_backward = ref_maxpool_backward,
    .maxpool_free = ref_maxpool_free,
    .upsample_forward = upsample_ref_forward,
    .upsample_backward = upsample_ref_backward,
    .chcopy = chcopy_ref,
    .add = add_ref_forward,
    .acc = acc_ref,
    .bmm = ref_bmm,
    .softmax_forward = softmax_ref_forward,
    .softmax_backward = softmax_ref_backward,
    .f32_to_bf16 = f32_to_bf16_ref,
    .dfl_decode = dfl_decode_ref,
    .v5_decode = v5_decode_ref,
    .v8_loss = v8_loss_host,
    .v5_loss = v5_loss_host,
    .bn_fold = bn_fold_ref,
    .sgd_update = sgd_update_ref,
    .adam_update = adam_update_ref,
    .chunk_sumsq = chunk_sumsq_ref,
    .chunk_scale = chunk_scale_ref,
    .chunk_all_finite = chunk_all_finite_ref,
    .ema_blend = ema_blend_ref,
    .chunk_sqdiff_copy = chunk_sqdiff_copy_ref,
};
