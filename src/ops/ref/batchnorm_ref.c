/* Batch normalisation, reference implementation (the oracle for ops/cpu/).
 *
 * Plain single-threaded C over NHWC, one channel at a time; statistics are
 * accumulated in double with two passes (mean, then centred squares).
 * PyTorch BatchNorm2d semantics: the batch is normalised with the biased
 * variance, the running variance is updated with the unbiased one
 * (var * m/(m-1), m = n*h*w). For m == 1 (which PyTorch refuses in training
 * and bn_op_init rejects) the biased variance is used, so nothing divides by
 * zero. Leaves out: affine-free BN (gamma and beta are always given). */
#include "ops/ops.h"

#include <math.h>

void bn_ref_forward_train(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                          float *y, float *save_mean, float *save_var, float *running_mean,
                          float *running_var) {
    const size_t m = (size_t)d->n * d->h * d->w;
    const size_t c = (size_t)d->c;
    const double mom = d->momentum;
    for (size_t k = 0; k < c; k++) {
        double s = 0;
        for (size_t p = 0; p < m; p++) s += x[p * c + k];
        const double mean = s / (double)m;
        double q = 0;
        for (size_t p = 0; p < m; p++) {
            double t = x[p * c + k] - mean;
            q += t * t;
        }
        const double var = q / (double)m;
        const double rstd = 1.0 / sqrt(var + (double)d->eps);
        for (size_t p = 0; p < m; p++)
            y[p * c + k] = (float)((x[p * c + k] - mean) * rstd * gamma[k] + beta[k]);
        save_mean[k] = (float)mean;
        save_var[k] = (float)var;
        if (running_mean) running_mean[k] = (float)((1.0 - mom) * running_mean[k] + mom * mean);
        if (running_var) {
            double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
            running_var[k] = (float)((1.0 - mom) * running_var[k] + mom * unbiased);
        }
    }
}

void bn_ref_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                         const float *running_mean, const float *running_var, float *y) {
    const size_t m = (size_t)d->n * d->h * d->w;
    const size_t c = (size_t)d->c;
    for (size_t k = 0; k < c; k++) {
        const double rstd = 1.0 / sqrt((double)running_var[k] + (double)d->eps);
        for (size_t p = 0; p < m; p++)
            y[p * c + k] =
                (float)((x[p * c + k] - (double)running_mean[k]) * rstd * gamma[k] + beta[k]);
    }
}

/* With xhat = (x - mean) * rstd over the m values of a channel:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * rstd * (dy - dbeta/m - xhat * dgamma/m). */
void bn_ref_backward(const bn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_var, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta) {
    const size_t m = (size_t)d->n * d->h * d->w;
    const size_t c = (size_t)d->c;
    for (size_t k = 0; k < c; k++) {
        const double mean = save_mean[k];
        const double rstd = 1.0 / sqrt((double)save_var[k] + (double)d->eps);
        double sdy = 0, sdyx = 0;
        for (size_t p = 0; p < m; p++) {
            double xh = (x[p * c + k] - mean) * rstd;
            sdy += dy[p * c + k];
            sdyx += dy[p * c + k] * xh;
        }
        if (dgamma) dgamma[k] += (float)sdyx;
        if (dbeta) dbeta[k] += (float)sdy;
        if (!dx) continue;
        const double a = gamma[k] * rstd, mdy = sdy / (double)m, mdyx = sdyx / (double)m;
        for (size_t p = 0; p < m; p++) {
            double xh = (x[p * c + k] - mean) * rstd;
            double g = a * (dy[p * c + k] - mdy - xh * mdyx);
            float *o = &dx[p * c + k];
            *o = beta_dx == 0.0f ? (float)g : (float)(beta_dx * (double)*o + g);
        }
    }
}

void bn_ref_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *running_mean,
                            const float *running_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                            float *dbeta) {
    const size_t m = (size_t)d->n * d->h * d->w;
    const size_t c = (size_t)d->c;
    for (size_t k = 0; k < c; k++) {
        const double mean = running_mean[k];
        const double rstd = 1.0 / sqrt((double)running_var[k] + (double)d->eps);
        double sdy = 0, sdyx = 0;
        for (size_t p = 0; p < m; p++) {
            sdy += dy[p * c + k];
            sdyx += dy[p * c + k] * ((x[p * c + k] - mean) * rstd);
        }
        if (dgamma) dgamma[k] += (float)sdyx;
        if (dbeta) dbeta[k] += (float)sdy;
        if (!dx) continue;
        const double a = gamma[k] * rstd;
        for (size_t p = 0; p < m; p++) {
            float *o = &dx[p * c + k];
            *o = beta_dx == 0.0f ? (float)(a * dy[p * c + k]) : (float)(beta_dx * (double)*o + a * dy[p * c + k]);
        }
    }
}
