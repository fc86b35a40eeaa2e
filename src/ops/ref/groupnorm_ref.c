/* Group normalisation, reference implementation (the oracle for gn_cpu_*).
 *
 * PyTorch GroupNorm: the c channels split into `groups` groups of
 * cg = c/groups consecutive channels; mean and biased variance per
 * (image, group) over h*w*cg values; per-channel affine. Plain
 * single-threaded C over NHWC, statistics in double, two passes. */
#include "ops/ops.h"

#include <math.h>

void gn_ref_forward(const gn_desc *d, const float *x, const float *gamma, const float *beta,
                    float *y, float *save_mean, float *save_rstd) {
    const size_t hw = (size_t)d->h * d->w, c = (size_t)d->c;
    const size_t cg = c / (size_t)d->groups;
    const double m = (double)(hw * cg);
    for (int i = 0; i < d->n; i++) {
        const float *xi = x + (size_t)i * hw * c;
        float *yi = y + (size_t)i * hw * c;
        for (int g = 0; g < d->groups; g++) {
            const size_t c0 = (size_t)g * cg;
            double s = 0;
            for (size_t p = 0; p < hw; p++)
                for (size_t j = 0; j < cg; j++) s += xi[p * c + c0 + j];
            const double mean = s / m;
            double q = 0;
            for (size_t p = 0; p < hw; p++)
                for (size_t j = 0; j < cg; j++) {
                    double t = xi[p * c + c0 + j] - mean;
                    q += t * t;
                }
            const double rstd = 1.0 / sqrt(q / m + (double)d->eps);
            for (size_t p = 0; p < hw; p++)
                for (size_t j = 0; j < cg; j++) {
                    size_t o = p * c + c0 + j;
                    yi[o] = (float)((xi[o] - mean) * rstd * gamma[c0 + j] + beta[c0 + j]);
                }
            save_mean[(size_t)i * d->groups + g] = (float)mean;
            save_rstd[(size_t)i * d->groups + g] = (float)rstd;
        }
    }
}

/* Per (image, group) with xhat = (x - mean) * rstd and the group's M values:
 *   dx = rstd * (gamma*dy - mean(gamma*dy) - xhat * mean(gamma*dy*xhat));
 * per channel: dgamma += sum dy*xhat, dbeta += sum dy over images and pixels. */
void gn_ref_backward(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_rstd, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta) {
    const size_t hw = (size_t)d->h * d->w, c = (size_t)d->c;
    const size_t cg = c / (size_t)d->groups;
    const double m = (double)(hw * cg);
    for (int i = 0; i < d->n; i++) {
        const size_t base = (size_t)i * hw * c;
        for (int g = 0; g < d->groups; g++) {
            const size_t c0 = (size_t)g * cg;
            const double mean = save_mean[(size_t)i * d->groups + g];
            const double rstd = save_rstd[(size_t)i * d->groups + g];
            double a = 0, b = 0; /* sums of gamma*dy and gamma*dy*xhat */
            for (size_t p = 0; p < hw; p++)
                for (size_t j = 0; j < cg; j++) {
                    size_t o = base + p * c + c0 + j;
                    double xh = (x[o] - mean) * rstd;
                    double gd = (double)gamma[c0 + j] * dy[o];
                    a += gd;
                    b += gd * xh;
                }
            if (!dx) continue;
            const double ma = a / m, mb = b / m;
            for (size_t p = 0; p < hw; p++)
                for (size_t j = 0; j < cg; j++) {
                    size_t o = base + p * c + c0 + j;
                    double xh = (x[o] - mean) * rstd;
                    double v = rstd * ((double)gamma[c0 + j] * dy[o] - ma - xh * mb);
                    dx[o] = beta_dx == 0.0f ? (float)v : (float)(beta_dx * (double)dx[o] + v);
                }
        }
    }
    if (!dgamma && !dbeta) return;
    for (size_t k = 0; k < c; k++) {
        const size_t g = k / cg;
        double sg = 0, sb = 0;
        for (int i = 0; i < d->n; i++) {
            const double mean = save_mean[(size_t)i * d->groups + g];
            const double rstd = save_rstd[(size_t)i * d->groups + g];
            for (size_t p = 0; p < hw; p++) {
                size_t o = ((size_t)i * hw + p) * c + k;
                sg += dy[o] * (x[o] - mean) * rstd;
                sb += dy[o];
            }
        }
        if (dgamma) dgamma[k] += (float)sg;
        if (dbeta) dbeta[k] += (float)sb;
    }
}
