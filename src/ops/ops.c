/* Backend names, thread count, and the dispatchers of every op except
 * conv2d (which lives in conv2d.c): one handle per layer instance, the
 * backend picked once at init, plans for the cpu backend created there.
 *
 * The *_op_init functions validate the descriptor (YOLOC_ERR_SHAPE with the
 * sizes in the message) so that the kernels behind them, which take the
 * sizes on trust, only ever see shapes they handle. A failed init leaves the
 * op safe to free. The stateless ops (upsample, chcopy, add, acc) dispatch
 * on the backend value directly and check nothing: their callers own the
 * shapes. */
#include "ops/ops.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

const char *backend_name(backend be) {
    switch (be) {
    case BACKEND_REF:
        return "ref";
    case BACKEND_CPU:
        return "cpu";
    }
    return "unknown";
}

int backend_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "ref") == 0) return BACKEND_REF;
    if (strcmp(name, "cpu") == 0 || strcmp(name, "onednn") == 0) return BACKEND_CPU;
    return -1;
}

/* oneDNN is built on the same OpenMP runtime, so this sets its threads too. */
void ops_set_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
}

int ops_get_threads(void) {
    return omp_get_max_threads();
}

static status ops_check_backend(backend be, const char *op) {
    if (be != BACKEND_REF && be != BACKEND_CPU)
        return err_set(YOLOC_ERR_INVALID, "%s: unknown backend %d", op, (int)be);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* Batch normalisation */

status bn_op_init(bn_op *op, cpu_ctx *ctx, backend be, const bn_desc *d, int training) {
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
    if (be == BACKEND_CPU) TRY(bn_cpu_create(&op->cpu, ctx, d, training));
    return YOLOC_OK;
}

status bn_op_forward_train(bn_op *op, const float *x, const float *gamma, const float *beta,
                           float *y, float *save_mean, float *save_var, float *running_mean,
                           float *running_var) {
    if (op->be == BACKEND_CPU)
        return bn_cpu_forward_train(op->cpu, x, gamma, beta, y, save_mean, save_var, running_mean,
                                    running_var);
    bn_ref_forward_train(&op->d, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
    return YOLOC_OK;
}

status bn_op_forward_eval(bn_op *op, const float *x, const float *gamma, const float *beta,
                          const float *running_mean, const float *running_var, float *y) {
    if (op->be == BACKEND_CPU)
        return bn_cpu_forward_eval(op->cpu, x, gamma, beta, running_mean, running_var, y);
    bn_ref_forward_eval(&op->d, x, gamma, beta, running_mean, running_var, y);
    return YOLOC_OK;
}

status bn_op_backward(bn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_var, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta) {
    if (op->be == BACKEND_CPU)
        return bn_cpu_backward(op->cpu, x, gamma, save_mean, save_var, dy, dx, beta_dx, dgamma,
                               dbeta);
    bn_ref_backward(&op->d, x, gamma, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta);
    return YOLOC_OK;
}

void bn_op_free(bn_op *op) {
    bn_cpu_free(op->cpu);
    op->cpu = NULL;
}

/* ------------------------------------------------------------------------ */
/* Group normalisation (no plan: both backends are plain functions) */

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
    if (op->be == BACKEND_CPU)
        gn_cpu_forward(&op->d, x, gamma, beta, y, save_mean, save_rstd);
    else
        gn_ref_forward(&op->d, x, gamma, beta, y, save_mean, save_rstd);
    return YOLOC_OK;
}

status gn_op_backward(gn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_rstd, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta) {
    if (op->be == BACKEND_CPU)
        gn_cpu_backward(&op->d, x, gamma, save_mean, save_rstd, dy, dx, beta_dx, dgamma, dbeta);
    else
        gn_ref_backward(&op->d, x, gamma, save_mean, save_rstd, dy, dx, beta_dx, dgamma, dbeta);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* SiLU */

status silu_op_init(silu_op *op, cpu_ctx *ctx, backend be, size_t n, int training) {
    memset(op, 0, sizeof *op);
    TRY(ops_check_backend(be, "silu"));
    if (n == 0) return err_set(YOLOC_ERR_SHAPE, "silu: zero elements");
    op->n = n;
    op->be = be;
    if (be == BACKEND_CPU) TRY(silu_cpu_create(&op->cpu, ctx, n, training));
    return YOLOC_OK;
}

status silu_op_forward(silu_op *op, const float *x, float *y) {
    if (op->be == BACKEND_CPU) return silu_cpu_forward(op->cpu, x, y);
    silu_ref_forward(op->n, x, y);
    return YOLOC_OK;
}

status silu_op_backward(silu_op *op, const float *x, const float *dy, float *dx, float beta_dx) {
    if (op->be == BACKEND_CPU) return silu_cpu_backward(op->cpu, x, dy, dx, beta_dx);
    if (dx) silu_ref_backward(op->n, x, dy, dx, beta_dx);
    return YOLOC_OK;
}

void silu_op_free(silu_op *op) {
    silu_cpu_free(op->cpu);
    op->cpu = NULL;
}

/* ------------------------------------------------------------------------ */
/* Max pooling */

status maxpool_op_init(maxpool_op *op, cpu_ctx *ctx, backend be, const pool_desc *d, int training) {
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
    if (be == BACKEND_CPU) TRY(maxpool_cpu_create(&op->cpu, ctx, d, training));
    return YOLOC_OK;
}

size_t maxpool_op_workspace_size(const maxpool_op *op) {
    return op->be == BACKEND_CPU ? maxpool_cpu_workspace_size(op->cpu) : 0;
}

status maxpool_op_forward(maxpool_op *op, const float *x, float *y, void *ws) {
    if (op->be == BACKEND_CPU) return maxpool_cpu_forward(op->cpu, x, y, ws);
    maxpool_ref_forward(&op->d, x, y);
    return YOLOC_OK;
}

status maxpool_op_backward(maxpool_op *op, const float *x, const float *dy, float *dx,
                           float beta_dx, const void *ws) {
    if (op->be == BACKEND_CPU) return maxpool_cpu_backward(op->cpu, dy, dx, beta_dx, ws);
    if (dx) maxpool_ref_backward(&op->d, x, dy, dx, beta_dx);
    return YOLOC_OK;
}

void maxpool_op_free(maxpool_op *op) {
    maxpool_cpu_free(op->cpu);
    op->cpu = NULL;
}

/* ------------------------------------------------------------------------ */
/* Stateless ops */

void upsample_forward(backend be, int n, int h, int w, int c, int f, const float *x, float *y) {
    if (be == BACKEND_CPU)
        upsample_cpu_forward(n, h, w, c, f, x, y);
    else
        upsample_ref_forward(n, h, w, c, f, x, y);
}

void upsample_backward(backend be, int n, int h, int w, int c, int f, const float *dy, float *dx,
                       float beta_dx) {
    if (be == BACKEND_CPU)
        upsample_cpu_backward(n, h, w, c, f, dy, dx, beta_dx);
    else
        upsample_ref_backward(n, h, w, c, f, dy, dx, beta_dx);
}

void chcopy(backend be, size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
            int dst_ct, int dst_off, float beta) {
    if (be == BACKEND_CPU)
        chcopy_cpu(npix, c, src, src_ct, src_off, dst, dst_ct, dst_off, beta);
    else
        chcopy_ref(npix, c, src, src_ct, src_off, dst, dst_ct, dst_off, beta);
}

void add_forward(backend be, size_t n, const float *a, const float *b, float *y) {
    if (be == BACKEND_CPU)
        add_cpu_forward(n, a, b, y);
    else
        add_ref_forward(n, a, b, y);
}

void acc(backend be, size_t n, const float *src, float *dst, float beta) {
    if (be == BACKEND_CPU)
        acc_cpu(n, src, dst, beta);
    else
        acc_ref(n, src, dst, beta);
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
