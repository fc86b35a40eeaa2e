/* BatchNorm followed by SiLU, reference implementation: literally
 * bn_ref_* then silu_ref_*, the oracle of the fused kernels in
 * ops/cpu/syncbn.c. Backward recomputes the BN output from x and the saved
 * batch statistics (as the fused path does) into the caller's tmp. */
#include "ops/ops.h"

void bnsilu_ref_forward_train(const bn_desc *d, const float *x, const float *gamma, const float *beta, float *y,
                              float *save_mean, float *save_var, float *running_mean, float *running_var) {
    bn_ref_forward_train(d, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
    silu_ref_forward((size_t)d->n * d->h * d->w * d->c, y, y);
}

void bnsilu_ref_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y) {
    bn_ref_forward_eval(d, x, gamma, beta, running_mean, running_var, y);
    silu_ref_forward((size_t)d->n * d->h * d->w * d->c, y, y);
}

void bnsilu_ref_backward(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                         const float *save_mean, const float *save_var, const float *dy, float *dx, float beta_dx,
                         float *dgamma, float *dbeta, float *tmp) {
    size_t n = (size_t)d->n * d->h * d->w * d->c;
    bn_ref_forward_eval(d, x, gamma, beta, save_mean, save_var, tmp); /* the BN output of forward */
    silu_ref_backward(n, tmp, dy, tmp, 0.0f);                           /* gradient at the BN output */
    bn_ref_backward(d, x, gamma, save_mean, save_var, tmp, dx, beta_dx, dgamma, dbeta);
}
