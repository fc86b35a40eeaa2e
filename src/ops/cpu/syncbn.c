/* SyncBatchNorm (see ops.h): OpenMP over fixed pixel chunks; per-chunk sums
 * in double are combined in chunk order, reduced across processes, then
 * applied. The reference it is tested against is bn_ref_* (one process). */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

#define SBN_CHUNKS 64 /* fixed: results do not depend on the thread count */

size_t syncbn_workspace(const bn_desc *d) { return (size_t)(2 * d->c + 1) + (size_t)SBN_CHUNKS * 2 * d->c; }

/* Per-channel sums of a(x) and b(x) over all pixels, chunked. */
static void chunk_sums(size_t npix, int c, double *part, double *out, int kind, const float *x, const float *dy,
                       const float *shift) {
    memset(part, 0, sizeof(double) * SBN_CHUNKS * 2 * (size_t)c);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < SBN_CHUNKS; k++) {
        size_t p0 = npix * (size_t)k / SBN_CHUNKS, p1 = npix * (size_t)(k + 1) / SBN_CHUNKS;
        double *s1 = part + (size_t)k * 2 * c, *s2 = s1 + c;
        for (size_t p = p0; p < p1; p++) {
            const float *xp = x + p * (size_t)c;
            if (kind == 0) { /* sum (x - K), sum (x - K)^2 */
                for (int j = 0; j < c; j++) {
                    double v = (double)xp[j] - shift[j];
                    s1[j] += v;
                    s2[j] += v * v;
                }
            } else { /* sum dy, sum dy (x - mean) */
                const float *g = dy + p * (size_t)c;
                for (int j = 0; j < c; j++) {
                    s1[j] += g[j];
                    s2[j] += (double)g[j] * ((double)xp[j] - shift[j]);
                }
            }
        }
    }
    memset(out, 0, sizeof(double) * 2 * (size_t)c);
    for (int k = 0; k < SBN_CHUNKS; k++)
        for (int j = 0; j < 2 * c; j++) out[j] += part[(size_t)k * 2 * c + (size_t)j];
}

status syncbn_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                            const float *beta, float *y, float *save_mean, float *save_var,
                            float *running_mean, float *running_var, double *work) {
    const int c = d->c;
    const size_t npix = (size_t)d->n * d->h * d->w;
    double *sums = work, *part = work + 2 * c + 1;
    /* shift: the running mean, identical on every process; without running
     * statistics, zeros (save_mean serves as the zero array until written) */
    const float *shift = running_mean;
    if (!shift) {
        memset(save_mean, 0, sizeof(float) * (size_t)c);
        shift = save_mean;
    }
    chunk_sums(npix, c, part, sums, 0, x, NULL, shift);
    sums[2 * c] = (double)npix;
    if (r && r->fn) TRY(r->fn(r->ctx, sums, (size_t)(2 * c + 1)));
    double M = sums[2 * c];
    if (M < 1) return err_set(YOLOC_ERR_SHAPE, "syncbn: no values to normalise");
    float mean_f[4096];
    YOLOC_ASSERT(c <= 4096);
    for (int j = 0; j < c; j++) {
        double m1 = sums[j] / M, var = sums[c + j] / M - m1 * m1;
        if (var < 0) var = 0;
        mean_f[j] = (float)(shift[j] + m1);
        save_var[j] = (float)var;
        if (running_mean) {
            double unbiased = M > 1 ? var * M / (M - 1) : var;
            running_var[j] = (float)((1 - d->momentum) * running_var[j] + d->momentum * unbiased);
        }
    }
    for (int j = 0; j < c; j++) save_mean[j] = mean_f[j];
    if (running_mean)
        for (int j = 0; j < c; j++)
            running_mean[j] = (float)((1 - d->momentum) * running_mean[j] + d->momentum * mean_f[j]);
    float scale[4096], bias[4096];
    for (int j = 0; j < c; j++) {
        float rstd = (float)(1.0 / sqrt((double)save_var[j] + d->eps));
        scale[j] = gamma[j] * rstd;
        bias[j] = beta[j] - save_mean[j] * scale[j];
    }
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < npix; p++) {
        const float *xp = x + p * (size_t)c;
        float *yp = y + p * (size_t)c;
        for (int j = 0; j < c; j++) yp[j] = xp[j] * scale[j] + bias[j];
    }
    return YOLOC_OK;
}

status syncbn_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                       const float *save_mean, const float *save_var, const float *dy, float *dx,
                       float beta_dx, float *dgamma, float *dbeta, double *work) {
    const int c = d->c;
    const size_t npix = (size_t)d->n * d->h * d->w;
    double *sums = work, *part = work + 2 * c + 1;
    YOLOC_ASSERT(c <= 4096);
    chunk_sums(npix, c, part, sums, 1, x, dy, save_mean);
    float rstd[4096];
    for (int j = 0; j < c; j++) {
        rstd[j] = (float)(1.0 / sqrt((double)save_var[j] + d->eps));
        if (dbeta) dbeta[j] += (float)sums[j];                   /* this process's own sums */
        if (dgamma) dgamma[j] += (float)(sums[c + j] * rstd[j]); /* sum dy * xhat */
    }
    if (!dx) return YOLOC_OK;
    sums[2 * c] = (double)npix;
    if (r && r->fn) TRY(r->fn(r->ctx, sums, (size_t)(2 * c + 1)));
    double M = sums[2 * c];
    float a[4096], b[4096], k[4096];
    for (int j = 0; j < c; j++) {
        /* dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)) */
        double mdy = sums[j] / M, mdyx = sums[c + j] / M * rstd[j];
        a[j] = gamma[j] * rstd[j];
        b[j] = (float)mdy;
        k[j] = (float)(mdyx * rstd[j]); /* times (x - mean) gives xhat * mean(dy xhat) */
    }
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < npix; p++) {
        const float *xp = x + p * (size_t)c, *g = dy + p * (size_t)c;
        float *o = dx + p * (size_t)c;
        for (int j = 0; j < c; j++) {
            float v = a[j] * (g[j] - b[j] - (xp[j] - save_mean[j]) * k[j]);
            o[j] = beta_dx == 0.0f ? v : beta_dx * o[j] + v;
        }
    }
    return YOLOC_OK;
}
