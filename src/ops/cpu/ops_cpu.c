/* Fast path for the ops oneDNN does not cover well: group normalisation,
 * nearest upsampling, channel copy, add and accumulate. OpenMP over
 * independent rows, inner loops over contiguous channels written so the
 * compiler vectorises them (`omp simd` where a reduction is involved).
 *
 * Work is split the same way whatever the thread count, and every
 * reduction runs in a fixed order inside one task, so results do not depend
 * on the number of threads. Small problems run single-threaded (the `if`
 * clauses): a parallel region costs a few microseconds.
 *
 * Upsampling stays in C rather than oneDNN's resampling primitive: nearest
 * upsampling is pure copying, which memcpy of channel rows does at memory
 * speed, and the C version needs no plan. */
#include "core/cpu.h"
#include "core/tensor.h"
#include "ops/ops.h"

#include <math.h>
#include <string.h>

/* Below this many floats a kernel runs on one thread. */
#define CPU_PAR_MIN 32768

/* ------------------------------------------------------------------------ */
/* Group normalisation. Tasks are (image, group); statistics in double in one
 * pass (sum and sum of squares): with double accumulators the cancellation
 * of E[x^2] - mean^2 stays far below float resolution for activations. */

YOLOC_HOT void gn_cpu_forward(const gn_desc *d, const float *x, const float *gamma, const float *beta,
                    float *y, float *save_mean, float *save_rstd) {
    const size_t hw = (size_t)d->h * d->w, c = (size_t)d->c;
    const int groups = d->groups;
    const size_t cg = c / (size_t)groups;
    const double m = (double)(hw * cg);
    const size_t total = (size_t)d->n * hw * c;

#pragma omp parallel for collapse(2) schedule(static) if (total > CPU_PAR_MIN)
    for (int i = 0; i < d->n; i++)
        for (int g = 0; g < groups; g++) {
            const float *xg = x + (size_t)i * hw * c + (size_t)g * cg;
            double s = 0, q = 0;
            for (size_t p = 0; p < hw; p++) {
                const float *xp = xg + p * c;
#pragma omp simd reduction(+ : s, q)
                for (size_t j = 0; j < cg; j++) {
                    double v = xp[j];
                    s += v;
                    q += v * v;
                }
            }
            double mean = s / m;
            double var = q / m - mean * mean;
            if (var < 0) var = 0;
            save_mean[(size_t)i * groups + g] = (float)mean;
            save_rstd[(size_t)i * groups + g] = (float)(1.0 / sqrt(var + (double)d->eps));
        }

    const size_t rows = (size_t)d->n * hw;
#pragma omp parallel for schedule(static) if (total > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const size_t i = r / hw;
        const float *xp = x + r * c;
        float *yp = y + r * c;
        for (int g = 0; g < groups; g++) {
            const float mean = save_mean[i * groups + g], rstd = save_rstd[i * groups + g];
            const size_t c0 = (size_t)g * cg;
            for (size_t j = c0; j < c0 + cg; j++)
                yp[j] = (xp[j] - mean) * (rstd * gamma[j]) + beta[j];
        }
    }
}

/* Channel block for the dgamma/dbeta reduction (double accumulators on the
 * stack). */
#define GN_CBLK 64

YOLOC_HOT void gn_cpu_backward(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_rstd, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta) {
    const size_t hw = (size_t)d->h * d->w, c = (size_t)d->c;
    const int groups = d->groups;
    const size_t cg = c / (size_t)groups;
    const double m = (double)(hw * cg);
    const size_t total = (size_t)d->n * hw * c;

    /* dgamma/dbeta: per channel over images and pixels; tasks are channel
     * blocks, each summing in the same order as a single thread would. */
    if (dgamma || dbeta) {
        const size_t nblk = (c + GN_CBLK - 1) / GN_CBLK;
#pragma omp parallel for schedule(static) if (total > CPU_PAR_MIN)
        for (size_t b = 0; b < nblk; b++) {
            const size_t k0 = b * GN_CBLK, kn = c - k0 < GN_CBLK ? c - k0 : GN_CBLK;
            double sg[GN_CBLK] = {0}, sb[GN_CBLK] = {0};
            float mu[GN_CBLK], rs[GN_CBLK];
            for (int i = 0; i < d->n; i++) {
                for (size_t j = 0; j < kn; j++) {
                    size_t g = (k0 + j) / cg;
                    mu[j] = save_mean[(size_t)i * groups + g];
                    rs[j] = save_rstd[(size_t)i * groups + g];
                }
                for (size_t p = 0; p < hw; p++) {
                    const size_t o = ((size_t)i * hw + p) * c + k0;
#pragma omp simd
                    for (size_t j = 0; j < kn; j++) {
                        double v = dy[o + j];
                        sg[j] += v * (double)((x[o + j] - mu[j]) * rs[j]);
                        sb[j] += v;
                    }
                }
            }
            for (size_t j = 0; j < kn; j++) {
                if (dgamma) dgamma[k0 + j] += (float)sg[j];
                if (dbeta) dbeta[k0 + j] += (float)sb[j];
            }
        }
    }
    if (!dx) return;

        /* dx, per (image, group): two sums, then the element-wise formula. */
#pragma omp parallel for collapse(2) schedule(static) if (total > CPU_PAR_MIN)
    for (int i = 0; i < d->n; i++)
        for (int g = 0; g < groups; g++) {
            const size_t off = (size_t)i * hw * c + (size_t)g * cg;
            const float *gg = gamma + (size_t)g * cg;
            const float mean = save_mean[(size_t)i * groups + g];
            const float rstd = save_rstd[(size_t)i * groups + g];
            double a = 0, bsum = 0;
            for (size_t p = 0; p < hw; p++) {
                const float *xp = x + off + p * c, *dp = dy + off + p * c;
#pragma omp simd reduction(+ : a, bsum)
                for (size_t j = 0; j < cg; j++) {
                    float gd = gg[j] * dp[j];
                    a += gd;
                    bsum += (double)gd * (double)((xp[j] - mean) * rstd);
                }
            }
            const float ma = (float)(a / m), mb = (float)(bsum / m);
            for (size_t p = 0; p < hw; p++) {
                const float *xp = x + off + p * c, *dp = dy + off + p * c;
                float *op = dx + off + p * c;
                if (beta_dx == 0.0f) {
                    for (size_t j = 0; j < cg; j++)
                        op[j] = rstd * (gg[j] * dp[j] - ma - (xp[j] - mean) * rstd * mb);
                } else {
                    for (size_t j = 0; j < cg; j++)
                        op[j] = beta_dx * op[j] +
                                rstd * (gg[j] * dp[j] - ma - (xp[j] - mean) * rstd * mb);
                }
            }
        }
}

/* ------------------------------------------------------------------------ */
/* Nearest upsampling: each output row is built once (input pixels repeated
 * f times with memcpy) and then copied f-1 times. */

YOLOC_HOT void upsample_cpu_forward(int n, int h, int w, int c, int f, const float *x, float *y) {
    const size_t ow = (size_t)w * f, cs = (size_t)c, rowlen = ow * cs;
    const size_t rows = (size_t)n * h;
#pragma omp parallel for schedule(static) if (rows * rowlen * f > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)w * cs;
        float *yr = y + r * f * rowlen; /* first of the f output rows */
        for (int ix = 0; ix < w; ix++)
            for (int b = 0; b < f; b++)
                memcpy(yr + ((size_t)ix * f + b) * cs, xr + (size_t)ix * cs, cs * sizeof(float));
        for (int a = 1; a < f; a++) memcpy(yr + a * rowlen, yr, rowlen * sizeof(float));
    }
}

YOLOC_HOT void upsample_cpu_backward(int n, int h, int w, int c, int f, const float *dy, float *dx,
                           float beta_dx) {
    const size_t ow = (size_t)w * f, cs = (size_t)c, rowlen = ow * cs;
    const size_t rows = (size_t)n * h;
#pragma omp parallel for schedule(static) if (rows * rowlen * f > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * f * rowlen;
        float *dxr = dx + r * (size_t)w * cs;
        for (int ix = 0; ix < w; ix++) {
            float *o = dxr + (size_t)ix * cs;
            const float *src0 = dyr + (size_t)ix * f * cs;
            /* Sum in the reference's order (a, then b), starting from the
             * first of the f*f values. */
            if (beta_dx == 0.0f) {
                for (size_t k = 0; k < cs; k++) o[k] = 0.0f;
            } else if (beta_dx != 1.0f) {
                for (size_t k = 0; k < cs; k++) o[k] *= beta_dx;
            }
            for (int a = 0; a < f; a++)
                for (int b = 0; b < f; b++) {
                    const float *s = src0 + a * rowlen + (size_t)b * cs;
                    for (size_t k = 0; k < cs; k++) o[k] += s[k];
                }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Channel copy: one contiguous block when both sides are dense, else one
 * row of c floats per pixel (memcpy when overwriting). */

YOLOC_HOT void chcopy_cpu(size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
                int dst_ct, int dst_off, float beta) {
    const size_t cs = (size_t)c, sct = (size_t)src_ct, dct = (size_t)dst_ct;
    if (c == src_ct && c == dst_ct) {
        acc_cpu(npix * cs, src + src_off, dst + dst_off, beta);
        return;
    }
    src += src_off;
    dst += dst_off;
    if (beta == 0.0f) {
#pragma omp parallel for schedule(static) if (npix * cs > CPU_PAR_MIN)
        for (size_t p = 0; p < npix; p++) memcpy(dst + p * dct, src + p * sct, cs * sizeof(float));
    } else if (beta == 1.0f) {
#pragma omp parallel for schedule(static) if (npix * cs > CPU_PAR_MIN)
        for (size_t p = 0; p < npix; p++) {
            float *o = dst + p * dct;
            const float *s = src + p * sct;
            for (size_t j = 0; j < cs; j++) o[j] += s[j];
        }
    } else {
#pragma omp parallel for schedule(static) if (npix * cs > CPU_PAR_MIN)
        for (size_t p = 0; p < npix; p++) {
            float *o = dst + p * dct;
            const float *s = src + p * sct;
            for (size_t j = 0; j < cs; j++) o[j] = beta * o[j] + s[j];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Element-wise add and accumulate. */

YOLOC_HOT void add_cpu_forward(size_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

YOLOC_HOT void acc_cpu(size_t n, const float *src, float *dst, float beta) {
    if (beta == 0.0f) {
        if (dst != src) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
            for (size_t i = 0; i < n; i++) dst[i] = src[i];
        }
    } else if (beta == 1.0f) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dst[i] += src[i];
    } else {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dst[i] = beta * dst[i] + src[i];
    }
}

/* f32_to_bf16 (core/tensor.h) over threads and vector lanes. */
YOLOC_HOT void f32_to_bf16_cpu(size_t n, const float *x, uint16_t *y) {
    const long long nn = (long long)n;
#pragma omp parallel for simd schedule(static) if (nn > CPU_PAR_MIN)
    for (long long i = 0; i < nn; i++) y[i] = f32_to_bf16(x[i]);
}
