/* SyncBatchNorm and the fused BatchNorm+SiLU (see ops.h): OpenMP over fixed
 * pixel chunks; per-chunk sums in double are combined in chunk order,
 * reduced across processes (SyncBN; nothing to reduce for plain BN), then
 * applied. With SiLU fused, forward writes only SiLU's output and backward
 * recomputes the BN output from x and the saved statistics, so a training
 * plan keeps two tensors per Conv block instead of three, and neither pass
 * writes an intermediate. The references they are tested against are
 * bn_ref_* (one process) and bnsilu_ref_* (bn_ref then silu_ref). */
#include "core/cpu.h"
#include "core/fastmath.h"
#include "ops/ops.h"

#include <math.h>
#include <string.h>

#define SBN_CHUNKS 64 /* fixed: results do not depend on the thread count */
#define SBN_MAXC 4096

size_t syncbn_workspace(const bn_desc *d) { return (size_t)(2 * d->c + 1) + (size_t)SBN_CHUNKS * 2 * d->c; }

/* SiLU of n and its derivative, vectorisable (core/fastmath.h). */
static inline float silu_f(float n) { return n * fm_sigmoid(n); }
static inline float silu_grad_f(float n) {
    float s = fm_sigmoid(n);
    return s * (1.0f + n * (1.0f - s));
}

enum { SUMS_X, SUMS_DY, SUMS_DY_SILU };

#define SBN_BLOCK 64 /* pixels summed in float before they go into the chunk's double sums */

/* Per-channel sums over all pixels, chunked, into out[2c]:
 *   SUMS_X:       sum (x - K), sum (x - K)^2              (K = shift)
 *   SUMS_DY:      sum dy, sum dy (x - K)
 *   SUMS_DY_SILU: the same with dy replaced by dy * silu'(x a + b), the
 *                 gradient at the BN output (a, b: BN's scale and shift).
 * Each chunk sums blocks of SBN_BLOCK pixels in float (vectorised over the
 * channels), then adds each block into its double sums: fixed blocks in
 * fixed chunks, so the result does not depend on the thread count. */
YOLOC_HOT static void chunk_sums(size_t npix, int c, double *part, double *out, int kind, const float *x, const float *dy,
                       const float *shift, const float *a, const float *b, float *ds_out) {
    memset(part, 0, sizeof(double) * SBN_CHUNKS * 2 * (size_t)c);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < SBN_CHUNKS; k++) {
        size_t p0 = npix * (size_t)k / SBN_CHUNKS, p1 = npix * (size_t)(k + 1) / SBN_CHUNKS;
        double *s1 = part + (size_t)k * 2 * c, *s2 = s1 + c;
        float f1[SBN_MAXC], f2[SBN_MAXC];
        for (size_t b0 = p0; b0 < p1; b0 += SBN_BLOCK) {
            size_t b1 = b0 + SBN_BLOCK < p1 ? b0 + SBN_BLOCK : p1;
            memset(f1, 0, sizeof(float) * (size_t)c);
            memset(f2, 0, sizeof(float) * (size_t)c);
            if (kind == SUMS_X) {
                for (size_t p = b0; p < b1; p++) {
                    const float *xp = x + p * (size_t)c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        float v = xp[j] - shift[j];
                        f1[j] += v;
                        f2[j] += v * v;
                    }
                }
            } else if (kind == SUMS_DY) {
                for (size_t p = b0; p < b1; p++) {
                    const float *xp = x + p * (size_t)c, *g = dy + p * (size_t)c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        f1[j] += g[j];
                        f2[j] += g[j] * (xp[j] - shift[j]);
                    }
                }
            } else if (ds_out) { /* keeps ds for the second pass */
                for (size_t p = b0; p < b1; p++) {
                    const float *xp = x + p * (size_t)c, *g = dy + p * (size_t)c;
                    float *o = ds_out + p * (size_t)c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        float ds = g[j] * silu_grad_f(xp[j] * a[j] + b[j]);
                        o[j] = ds;
                        f1[j] += ds;
                        f2[j] += ds * (xp[j] - shift[j]);
                    }
                }
            } else {
                for (size_t p = b0; p < b1; p++) {
                    const float *xp = x + p * (size_t)c, *g = dy + p * (size_t)c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        float ds = g[j] * silu_grad_f(xp[j] * a[j] + b[j]);
                        f1[j] += ds;
                        f2[j] += ds * (xp[j] - shift[j]);
                    }
                }
            }
            for (int j = 0; j < c; j++) {
                s1[j] += f1[j];
                s2[j] += f2[j];
            }
        }
    }
    memset(out, 0, sizeof(double) * 2 * (size_t)c);
    for (int k = 0; k < SBN_CHUNKS; k++)
        for (int j = 0; j < 2 * c; j++) out[j] += part[(size_t)k * 2 * c + (size_t)j];
}

/* y = act(x * scale + bias) per channel. */
YOLOC_HOT static void apply(size_t npix, int c, int act, const float *x, const float *scale, const float *bias, float *y) {
    if (act) {
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < npix; p++) {
            const float *xp = x + p * (size_t)c;
            float *yp = y + p * (size_t)c;
#pragma omp simd
            for (int j = 0; j < c; j++) yp[j] = silu_f(xp[j] * scale[j] + bias[j]);
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < npix; p++) {
            const float *xp = x + p * (size_t)c;
            float *yp = y + p * (size_t)c;
#pragma omp simd
            for (int j = 0; j < c; j++) yp[j] = xp[j] * scale[j] + bias[j];
        }
    }
}

YOLOC_HOT static status bn_forward(const bn_desc *d, const ops_reducer *r, int act, const float *x, const float *gamma,
                         const float *beta, float *y, float *save_mean, float *save_var, float *running_mean,
                         float *running_var, double *work) {
    const int c = d->c;
    const size_t npix = (size_t)d->n * d->h * d->w;
    double *sums = work, *part = work + 2 * c + 1;
    YOLOC_ASSERT(c <= SBN_MAXC);
    /* shift: the running mean, identical on every process; without running
     * statistics, zeros (save_mean serves as the zero array until written) */
    const float *shift = running_mean;
    if (!shift) {
        memset(save_mean, 0, sizeof(float) * (size_t)c);
        shift = save_mean;
    }
    chunk_sums(npix, c, part, sums, SUMS_X, x, NULL, shift, NULL, NULL, NULL);
    sums[2 * c] = (double)npix;
    if (r && r->fn) TRY(r->fn(r->ctx, sums, (size_t)(2 * c + 1)));
    double M = sums[2 * c];
    if (M < 1) return err_set(YOLOC_ERR_SHAPE, "syncbn: no values to normalise");
    float mean_f[SBN_MAXC];
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
    float scale[SBN_MAXC], bias[SBN_MAXC];
    for (int j = 0; j < c; j++) {
        float rstd = (float)(1.0 / sqrt((double)save_var[j] + d->eps));
        scale[j] = gamma[j] * rstd;
        bias[j] = beta[j] - save_mean[j] * scale[j];
    }
    apply(npix, c, act, x, scale, bias, y);
    return YOLOC_OK;
}

/* frozen: save_mean/save_var are the running statistics, constants of the
 * forward (no mean(dy) terms, nothing to reduce). */
YOLOC_HOT static status bn_backward(const bn_desc *d, const ops_reducer *r, int act, int frozen, const float *x,
                          const float *gamma,
                          const float *beta, const float *save_mean, const float *save_var, const float *dy,
                          float *dx, float beta_dx, float *dgamma, float *dbeta, double *work) {
    const int c = d->c;
    const size_t npix = (size_t)d->n * d->h * d->w;
    double *sums = work, *part = work + 2 * c + 1;
    YOLOC_ASSERT(c > 0 && c <= SBN_MAXC);
    float rstd[SBN_MAXC], a[SBN_MAXC], b[SBN_MAXC], k[SBN_MAXC], fa[SBN_MAXC], fb[SBN_MAXC];
    for (int j = 0; j < c; j++) {
        rstd[j] = (float)(1.0 / sqrt((double)save_var[j] + d->eps));
        fa[j] = gamma[j] * rstd[j]; /* the BN output is x fa + fb */
        fb[j] = act ? beta[j] - save_mean[j] * fa[j] : 0.0f;
    }
    /* with SiLU and dx overwritten, the first pass keeps dy silu' in dx and
     * the second reads it there instead of computing the sigmoid again */
    int keep_ds = act && dx && beta_dx == 0.0f;
    chunk_sums(npix, c, part, sums, act ? SUMS_DY_SILU : SUMS_DY, x, dy, save_mean, act ? fa : NULL,
               act ? fb : NULL, keep_ds ? dx : NULL);
    for (int j = 0; j < c; j++) {
        if (dbeta) dbeta[j] += (float)sums[j];                   /* this process's own sums */
        if (dgamma) dgamma[j] += (float)(sums[c + j] * rstd[j]); /* sum dy * xhat */
    }
    if (!dx) return YOLOC_OK;
    sums[2 * c] = (double)npix;
    if (!frozen && r && r->fn) TRY(r->fn(r->ctx, sums, (size_t)(2 * c + 1)));
    double M = sums[2 * c];
    for (int j = 0; j < c; j++) {
        /* dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)); frozen: g rstd dy */
        double mdy = sums[j] / M, mdyx = sums[c + j] / M * rstd[j];
        a[j] = fa[j];
        b[j] = frozen ? 0.0f : (float)mdy;
        k[j] = frozen ? 0.0f : (float)(mdyx * rstd[j]); /* times (x - mean) gives xhat * mean(dy xhat) */
    }
    const float keep = beta_dx; /* dx = keep dx + v; keep 0 overwrites (dx may hold NaN) */
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < npix; p++) {
        const float *xp = x + p * (size_t)c, *g = dy + p * (size_t)c;
        float *o = dx + p * (size_t)c;
        if (keep_ds) { /* o holds dy silu' from the first pass */
#pragma omp simd
            for (int j = 0; j < c; j++) o[j] = a[j] * (o[j] - b[j] - (xp[j] - save_mean[j]) * k[j]);
        } else if (act) {
#pragma omp simd
            for (int j = 0; j < c; j++)
                o[j] = keep * o[j] +
                       a[j] * (g[j] * silu_grad_f(xp[j] * fa[j] + fb[j]) - b[j] - (xp[j] - save_mean[j]) * k[j]);
        } else if (keep == 0.0f) {
#pragma omp simd
            for (int j = 0; j < c; j++) o[j] = a[j] * (g[j] - b[j] - (xp[j] - save_mean[j]) * k[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < c; j++) o[j] = keep * o[j] + a[j] * (g[j] - b[j] - (xp[j] - save_mean[j]) * k[j]);
        }
    }
    return YOLOC_OK;
}

status syncbn_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                            const float *beta, float *y, float *save_mean, float *save_var,
                            float *running_mean, float *running_var, double *work) {
    return bn_forward(d, r, 0, x, gamma, beta, y, save_mean, save_var, running_mean, running_var, work);
}

status syncbn_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                       const float *save_mean, const float *save_var, const float *dy, float *dx,
                       float beta_dx, float *dgamma, float *dbeta, double *work) {
    return bn_backward(d, r, 0, 0, x, gamma, NULL, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta, work);
}

status bnsilu_cpu_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                const float *beta, float *y, float *save_mean, float *save_var,
                                float *running_mean, float *running_var, double *work) {
    return bn_forward(d, r, 1, x, gamma, beta, y, save_mean, save_var, running_mean, running_var, work);
}

status bnsilu_cpu_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                           const float *beta, const float *save_mean, const float *save_var, const float *dy,
                           float *dx, float beta_dx, float *dgamma, float *dbeta, double *work) {
    return bn_backward(d, r, 1, 0, x, gamma, beta, save_mean, save_var, dy, dx, beta_dx, dgamma, dbeta, work);
}

status bnsilu_cpu_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, const float *dy, float *dx,
                                  float beta_dx, float *dgamma, float *dbeta, double *work) {
    return bn_backward(d, NULL, 1, 1, x, gamma, beta, running_mean, running_var, dy, dx, beta_dx, dgamma, dbeta,
                       work);
}

YOLOC_HOT void bnsilu_cpu_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y) {
    const int c = d->c;
    YOLOC_ASSERT(c <= SBN_MAXC);
    float scale[SBN_MAXC], bias[SBN_MAXC];
    for (int j = 0; j < c; j++) {
        float rstd = (float)(1.0 / sqrt((double)running_var[j] + d->eps));
        scale[j] = gamma[j] * rstd;
        bias[j] = beta[j] - running_mean[j] * scale[j];
    }
    apply((size_t)d->n * d->h * d->w, c, 1, x, scale, bias, y);
}
