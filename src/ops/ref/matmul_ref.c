/* Batched matrix product and row softmax, reference implementations (the
 * oracle of ops.h's bmm and softmax): plain loops, double accumulation. */
#include "ops/ops.h"

#include <math.h>
#include <stdint.h>

status bmm_check(const bmm_desc *d) {
    if (d->batch < 1 || d->m < 1 || d->n < 1 || d->k < 1)
        return err_set(YOLOC_ERR_INVALID, "bmm: sizes must be >= 1 (batch %d, m %d, n %d, k %d)", d->batch, d->m,
                       d->n, d->k);
    int acols = d->ta ? d->m : d->k, bcols = d->tb ? d->k : d->n;
    if (d->lda < acols || d->ldb < bcols || d->ldc < d->n)
        return err_set(YOLOC_ERR_INVALID, "bmm: leading dimensions %d/%d/%d shorter than rows of %d/%d/%d", d->lda,
                       d->ldb, d->ldc, acols, bcols, d->n);
    return YOLOC_OK;
}

void bmm_ref(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    for (int b = 0; b < d->batch; b++) {
        const float *a = A + (size_t)b * d->sa, *bb = B + (size_t)b * d->sb;
        float *c = C + (size_t)b * d->sc;
        for (int i = 0; i < d->m; i++)
            for (int j = 0; j < d->n; j++) {
                double s = 0.0;
                for (int p = 0; p < d->k; p++) {
                    double av = d->ta ? a[(size_t)p * d->lda + i] : a[(size_t)i * d->lda + p];
                    double bv = d->tb ? bb[(size_t)j * d->ldb + p] : bb[(size_t)p * d->ldb + j];
                    s += av * bv;
                }
                float *o = &c[(size_t)i * d->ldc + j];
                *o = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *o);
            }
    }
}

void softmax_ref_forward(size_t rows, int n, const float *x, float *y) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)n;
        float *yr = y + r * (size_t)n;
        float mx = xr[0];
        for (int i = 1; i < n; i++)
            if (xr[i] > mx) mx = xr[i];
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            float e = expf(xr[i] - mx);
            yr[i] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int i = 0; i < n; i++) yr[i] *= inv;
    }
}

void softmax_ref_backward(size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx) {
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * (size_t)n, *gr = dy + r * (size_t)n;
        float *xr = dx + r * (size_t)n;
        double dot = 0.0;
        for (int i = 0; i < n; i++) dot += (double)gr[i] * yr[i];
        for (int i = 0; i < n; i++) {
            float g = (float)((double)yr[i] * ((double)gr[i] - dot));
            xr[i] = beta_dx == 0.0f ? g : beta_dx * xr[i] + g;
        }
    }
}
