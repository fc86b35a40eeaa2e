/* BatchNorm followed by SiLU, reference implementation: literally
 * bn_ref_* then silu_ref_*, the oracle of the fused kernels in
 * ops/cpu/syncbn.c. Backward recomputes the BN output from x and the saved
 * batch statistics (as the fused path does) into the caller's tmp. */
#include "ops/ops.h"

#include <math.h>

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

void bnsilu_ref_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, const float *dy, float *dx,
                                float beta_dx, float *dgamma, float *dbeta, float *tmp) {
    const size_t m = (size_t)d->n * d->h * d->w, c = (size_t)d->c;
    bn_ref_forward_eval(d, x, gamma, beta, running_mean, running_var, tmp);
    silu_ref_backward(m * c, tmp, dy, tmp, 0.0f); /* gradient at the BN output */
    for (size_t k = 0; k < c; k++) {
        const double rstd = 1.0 / sqrt((double)running_var[k] + (double)d->eps);
        double sg = 0, sb = 0;
        for (size_t p = 0; p < m; p++) {
            double g = tmp[p * c + k];
            sb += g;
            sg += g * (x[p * c + k] - (double)running_mean[k]) * rstd;
            if (dx) {
                double v = g * gamma[k] * rstd;
                dx[p * c + k] = beta_dx == 0.0f ? (float)v : (float)(beta_dx * (double)dx[p * c + k] + v);
            }
        }
        if (dgamma) dgamma[k] += (float)sg;
        if (dbeta) dbeta[k] += (float)sb;
    }
}

void bnsilu_ref_backward(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                         const float *save_mean, const float *save_var, const float *dy, float *dx, float beta_dx,
                         float *dgamma, float *dbeta, float *tmp) {
    size_t n = (size_t)d->n * d->h * d->w * d->c;
    bn_ref_forward_eval(d, x, gamma, beta, save_mean, save_var, tmp); /* the BN output of forward */
    silu_ref_backward(n, tmp, dy, tmp, 0.0f);                           /* gradient at the BN output */
    bn_ref_backward(d, x, gamma, save_mean, save_var, tmp, dx, beta_dx, dgamma, dbeta);
}
