/* SyncBatchNorm, reference implementation (the oracle for ops/cpu/syncbn.c):
 * plain single-threaded C over NHWC. Per channel, the sums the processes
 * share (sum (x - K), sum (x - K)^2 with K the running mean, and the pixel
 * count; in backward sum dy, sum dy (x - mean)) are taken in double, one
 * pixel after another, reduced through `r` in the layout ops.h states
 * (2c + 1 doubles), then applied. One process (r NULL or an identity
 * reducer) computes what bn_ref_* compute. */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

status syncbn_ref_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                const float *beta, float *y, float *save_mean, float *save_var,
                                float *running_mean, float *running_var, double *work) {
    const size_t m = (size_t)d->n * d->h * d->w, c = (size_t)d->c;
    double *sums = work;
    for (size_t k = 0; k < c; k++) {
        const double shift = running_mean ? running_mean[k] : 0.0;
        double s1 = 0, s2 = 0;
        for (size_t p = 0; p < m; p++) {
            double v = (double)x[p * c + k] - shift;
            s1 += v;
            s2 += v * v;
        }
        sums[k] = s1;
        sums[c + k] = s2;
    }
    sums[2 * c] = (double)m;
    if (r && r->fn) TRY(r->fn(r->ctx, sums, 2 * c + 1));
    const double M = sums[2 * c];
    if (M < 1) return err_set(YOLOC_ERR_SHAPE, "syncbn: no values to normalise");
    const double mom = d->momentum;
    for (size_t k = 0; k < c; k++) {
        const double shift = running_mean ? running_mean[k] : 0.0;
        const double m1 = sums[k] / M;
        double var = sums[c + k] / M - m1 * m1;
        if (var < 0) var = 0;
        const double mean = shift + m1;
        const double rstd = 1.0 / sqrt(var + (double)d->eps);
        for (size_t p = 0; p < m; p++)
            y[p * c + k] = (float)(((double)x[p * c + k] - mean) * rstd * gamma[k] + beta[k]);
        save_mean[k] = (float)mean;
        save_var[k] = (float)var;
        if (running_mean) {
            const double unbiased = M > 1 ? var * M / (M - 1) : var;
            running_mean[k] = (float)((1 - mom) * running_mean[k] + mom * mean);
            running_var[k] = (float)((1 - mom) * running_var[k] + mom * unbiased);
        }
    }
    return YOLOC_OK;
}

/* dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)), the means over every
 * process's pixels; dgamma and dbeta are this process's own sums. */
status syncbn_ref_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                           const float *save_mean, const float *save_var, const float *dy, float *dx,
                           float beta_dx, float *dgamma, float *dbeta, double *work) {
    const size_t m = (size_t)d->n * d->h * d->w, c = (size_t)d->c;
    double *sums = work;
    for (size_t k = 0; k < c; k++) {
        double s1 = 0, s2 = 0;
        for (size_t p = 0; p < m; p++) {
            s1 += dy[p * c + k];
            s2 += (double)dy[p * c + k] * ((double)x[p * c + k] - save_mean[k]);
        }
        sums[k] = s1;
        sums[c + k] = s2;
        const double rstd = 1.0 / sqrt((double)save_var[k] + (double)d->eps);
        if (dbeta) dbeta[k] += (float)s1;
        if (dgamma) dgamma[k] += (float)(s2 * rstd);
    }
    if (!dx) return YOLOC_OK;
    sums[2 * c] = (double)m;
    if (r && r->fn) TRY(r->fn(r->ctx, sums, 2 * c + 1));
    const double M = sums[2 * c];
    for (size_t k = 0; k < c; k++) {
        const double rstd = 1.0 / sqrt((double)save_var[k] + (double)d->eps);
        const double a = gamma[k] * rstd, mdy = sums[k] / M, mdyx = sums[c + k] / M * rstd;
        for (size_t p = 0; p < m; p++) {
            const double xh = ((double)x[p * c + k] - save_mean[k]) * rstd;
            const double g = a * (dy[p * c + k] - mdy - xh * mdyx);
            float *o = &dx[p * c + k];
            *o = beta_dx == 0.0f ? (float)g : (float)(beta_dx * (double)*o + g);
        }
    }
    return YOLOC_OK;
}
