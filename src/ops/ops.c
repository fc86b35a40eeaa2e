/* Thread count, and the dispatchers of every op except conv2d (which lives
 * in conv2d.c): one handle per layer instance, the backend (a table of
 * functions, ops/backend.h) picked once at init, the backend's plan created
 * there. The only place besides conv2d.c that calls a backend's table.
 *
 * The *_op_init functions validate the descriptor (YOLOC_ERR_SHAPE with the
 * sizes in the message) so that the kernels behind them, which take the
 * sizes on trust, only ever see shapes they handle. A failed init leaves the
 * op safe to free. The stateless ops (upsample, chcopy, add, acc, softmax) dispatch
 * on the backend value directly and check nothing: their callers own the
 * shapes. */
#include "ops/backend.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

/* oneDNN is built on the same OpenMP runtime, so this sets its threads too. */
void ops_set_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}

int ops_get_threads(void) {
    return omp_get_max_threads();
}

static status ops_check_backend(backend be, const char *op) {
    if (!be) return err_set(YOLOC_ERR_INVALID, "%s: no backend", op);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* Batch normalisation */

status bn_op_init(bn_op *op, void *ctx, backend be, const bn_desc *d, int training) {
    memset(op, 0, sizeof *op);
    TRY(ops_check_backend(be, "batchnorm"));
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || !(d->eps > 0) ||
        !(d->momentum >= 0 && d->momentum <= 1))
        return err_set(YOLOC_ERR_SHAPE,
                       "batchnorm: bad desc n=%d h=%d w=%d c=%d eps=%g momentum=%g", d->n, d->h,
                       d->w, d->c, (double)d->eps, (double)d->momentum);
    if (training && (size_t)d->n * d->h * d->w < 2)
        return err_set(YOLOC_ERR_SHAPE,
                       "batchnorm: training needs more than 1 value per channel (n=%d h=%d w=%d)",
                       d->n, d->h, d->w);
    op->d = *d;
    op->be = be;
    return be->bn_init(op, ctx, training);
}

status bn_op_forward_train(bn_op *op, const float *x, const float *gamma, const float *beta,
                           float *y, float *save_mean, float *save_var, float *running_mean,
                           float *running_var) {
    return op->be->bn_forward_train(op, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
}

status bn_op_forward_eval(bn_op *op, const float *x, const float *gamma, const float *beta,
                          const float *running_mean, const float *running_var, float *y) {
    return op->be->bn_forward_eval(op, x, gamma, beta, running_mean, running_var, y);
}

status bn_op_backward(bn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_var, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta) {
    return op->be->bn_backward(op, x, gamma, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta);
}

status bn_op_backward_frozen(bn_op *op, const float *x, const float *gamma, const float *running_mean,
                             const float *running_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                             float *dbeta) {
    return op->be->bn_backward_frozen(op, x, gamma, running_mean, running_var, dy, dx, beta_dx, dgamma, dbeta);
}

void bn_op_free(bn_op *op) {
    if (op->be && op->impl) op->be->bn_free(op);
    op->impl = NULL;
}

/* ------------------------------------------------------------------------ */
/* Group normalisation (no plan) */

status gn_op_init(gn_op *op, backend be, const gn_desc *d) {
    memset(op, 0, sizeof *op);
    TRY(ops_check_backend(be, "groupnorm"));
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->groups <= 0 ||
        d->c % d->groups != 0 || !(d->eps > 0))
        return err_set(YOLOC_ERR_SHAPE,
                       "groupnorm: bad desc n=%d h=%d w=%d c=%d groups=%d eps=%g (c must be a "
                       "multiple of groups)",
                       d->n, d->h, d->w, d->c, d->groups, (double)d->eps);
    op->d = *d;
    op->be = be;
    return YOLOC_OK;
}

status gn_op_forward(gn_op *op, const float *x, const float *gamma, const float *beta, float *y,
                     float *save_mean, float *save_rstd) {
    return op->be->gn_forward(&op->d, x, gamma, beta, y, save_mean, save_rstd);
}

status gn_op_backward(gn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_rstd, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta) {
    return op->be->gn_backward(&op->d, x, gamma, save_mean, save_rstd, dy, dx, beta_dx, dgamma, dbeta);
}

/* ------------------------------------------------------------------------ */
/* SiLU */

status silu_op_init(silu_op *op, void *ctx, backend be, size_t n, int training) {
    memset(op, 0, sizeof *op);
    TRY(ops_check_backend(be, "silu"));
    if (n == 0) return err_set(YOLOC_ERR_SHAPE, "silu: zero elements");
    op->n = n;
    op->be = be;
    return be->silu_init(op, ctx, training);
}

status silu_op_forward(silu_op *op, const float *x, float *y) {
    return op->be->silu_forward(op, x, y);
}

status silu_op_backward(silu_op *op, const float *x, const float *dy, float *dx, float beta_dx) {
    return op->be->silu_backward(op, x, dy, dx, beta_dx);
}

void silu_op_free(silu_op *op) {
    if (op->be && op->impl) op->be->silu_free(op);
    op->impl = NULL;
}

/* ------------------------------------------------------------------------ */
/* Max pooling */

status maxpool_op_init(maxpool_op *op, void *ctx, backend be, const pool_desc *d, int training) {
    memset(op, 0, sizeof *op);
    TRY(ops_check_backend(be, "maxpool"));
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->k <= 0 || d->s <= 0 || d->p < 0 ||
        2 * d->p > d->k || d->h + 2 * d->p < d->k || d->w + 2 * d->p < d->k)
        return err_set(YOLOC_ERR_SHAPE,
                       "maxpool: bad desc n=%d h=%d w=%d c=%d k=%d s=%d p=%d (need positive sizes, "
                       "p <= k/2 and a window that fits)",
                       d->n, d->h, d->w, d->c, d->k, d->s, d->p);
    op->d = *d;
    op->be = be;
    return be->maxpool_init(op, ctx, training);
}

size_t maxpool_op_workspace_size(const maxpool_op *op) {
    return op->be ? op->be->maxpool_workspace(op) : 0;
}

status maxpool_op_forward(maxpool_op *op, const float *x, float *y, void *ws) {
    return op->be->maxpool_forward(op, x, y, ws);
}

status maxpool_op_backward(maxpool_op *op, const float *x, const float *dy, float *dx,
                           float beta_dx, const void *ws) {
    return op->be->maxpool_backward(op, x, dy, dx, beta_dx, ws);
}

void maxpool_op_free(maxpool_op *op) {
    if (op->be && op->impl) op->be->maxpool_free(op);
    op->impl = NULL;
}

/* ------------------------------------------------------------------------ */
/* Stateless ops */

void upsample_forward(backend be, int n, int h, int w, int c, int f, const float *x, float *y) {
    be->upsample_forward(n, h, w, c, f, x, y);
}

void upsample_backward(backend be, int n, int h, int w, int c, int f, const float *dy, float *dx,
                       float beta_dx) {
    be->upsample_backward(n, h, w, c, f, dy, dx, beta_dx);
}

void chcopy(backend be, size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
            int dst_ct, int dst_off, float beta) {
    be->chcopy(npix, c, src, src_ct, src_off, dst, dst_ct, dst_off, beta);
}

void add_forward(backend be, size_t n, const float *a, const float *b, float *y) { be->add(n, a, b, y); }

void acc(backend be, size_t n, const float *src, float *dst, float beta) { be->acc(n, src, dst, beta); }

status bmm(backend be, const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    TRY(bmm_check(d));
    return be->bmm(d, alpha, A, B, beta, C);
}

void softmax_forward(backend be, size_t rows, int n, const float *x, float *y) { be->softmax_forward(rows, n, x, y); }

void softmax_backward(backend be, size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx) {
    be->softmax_backward(rows, n, y, dy, dx, beta_dx);
}

void f32_to_bf16_op(backend be, size_t n, const float *x, uint16_t *y) { be->f32_to_bf16(n, x, y); }

void dfl_decode(backend be, const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w,
                float *out) {
    be->dfl_decode(d, box, cls, dfl_w, out);
}

void v5_decode(backend be, const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out) {
    be->v5_decode(d, raw, anchors, dec, out);
}

void bn_fold(backend be, int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
             const float *running_mean, const float *running_var, float *wf, float *bf) {
    be->bn_fold(co, per, eps, w, gamma, beta, running_mean, running_var, wf, bf);
}

/* ------------------------------------------------------------------------ */
/* SyncBatchNorm and the fused BatchNorm + SiLU */

int backend_fuses_bnsilu(backend be) {
    return be && be->bnsilu_forward_train && be->bnsilu_forward_eval && be->bnsilu_backward &&
           be->bnsilu_backward_frozen;
}

static status not_offered(backend be, const char *what) {
    return err_set(YOLOC_ERR_INVALID, "backend %s does not offer %s", backend_name(be), what);
}

status syncbn_op_forward_train(backend be, const bn_desc *d, const ops_reducer *r, const float *x,
                               const float *gamma, const float *beta, float *y, float *save_mean, float *save_var,
                               float *running_mean, float *running_var, double *work) {
    if (!be->syncbn_forward_train) return not_offered(be, "SyncBatchNorm");
    return be->syncbn_forward_train(d, r, x, gamma, beta, y, save_mean, save_var, running_mean, running_var, work);
}

status syncbn_op_backward(backend be, const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                          const float *save_mean, const float *save_var, const float *dy, float *dx, float beta_dx,
                          float *dgamma, float *dbeta, double *work) {
    if (!be->syncbn_backward) return not_offered(be, "SyncBatchNorm");
    return be->syncbn_backward(d, r, x, gamma, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta, work);
}

status bnsilu_op_forward_train(backend be, const bn_desc *d, const ops_reducer *r, const float *x,
                               const float *gamma, const float *beta, float *y, float *save_mean, float *save_var,
                               float *running_mean, float *running_var, double *work) {
    if (!be->bnsilu_forward_train) return not_offered(be, "fused BatchNorm + SiLU");
    return be->bnsilu_forward_train(d, r, x, gamma, beta, y, save_mean, save_var, running_mean, running_var, work);
}

status bnsilu_op_forward_eval(backend be, const bn_desc *d, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, float *y) {
    if (!be->bnsilu_forward_eval) return not_offered(be, "fused BatchNorm + SiLU");
    return be->bnsilu_forward_eval(d, x, gamma, beta, running_mean, running_var, y);
}

status bnsilu_op_backward(backend be, const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                          const float *beta, const float *save_mean, const float *save_var, const float *dy,
                          float *dx, float beta_dx, float *dgamma, float *dbeta, double *work) {
    if (!be->bnsilu_backward) return not_offered(be, "fused BatchNorm + SiLU");
    return be->bnsilu_backward(d, r, x, gamma, beta, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta, work);
}

status bnsilu_op_backward_frozen(backend be, const bn_desc *d, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean, const float *running_var,
                                 const float *dy, float *dx, float beta_dx, float *dgamma, float *dbeta,
                                 double *work) {
    if (!be->bnsilu_backward_frozen) return not_offered(be, "BatchNorm with frozen statistics");
    return be->bnsilu_backward_frozen(d, x, gamma, beta, running_mean, running_var, dy, dx, beta_dx, dgamma, dbeta,
                                      work);
}

int ops_amp_bf16(int amp_requested, char *why, size_t cap) {
    if (why && cap) why[0] = 0;
    if (!amp_requested) return 0;
    switch (ops_bf16_support()) {
    case OPS_BF16_NATIVE: return 1;
    case OPS_BF16_EMULATED:
        if (why)
            snprintf(why, cap,
                     "this CPU has AVX-512 but no bf16 instructions (oneDNN isa %s): bf16 would be emulated, "
                     "slower than fp32",
                     ops_dnnl_isa());
        return 0;
    default:
        if (why) snprintf(why, cap, "this CPU has no bf16 instructions (oneDNN isa %s)", ops_dnnl_isa());
        return 0;
    }
}
