/* Batched matrix product and row softmax, fast path: oneDNN's sgemm per
 * matrix of the batch (it threads and picks its kernel for the CPU itself),
 * and the softmax in parallel rows with the vectorisable exp of
 * core/fastmath.h. Checked against ops/ref/matmul_ref.c by
 * tests/ops/test_matmul.c and test_backend_ops. */
#include "core/cpu.h"
#include "core/fastmath.h"
#include "ops/cpu/dnnl_util.h"

#include <math.h>

status bmm_cpu(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    for (int b = 0; b < d->batch; b++) {
        dnnl_status_t s = dnnl_sgemm(d->ta ? 'T' : 'N', d->tb ? 'T' : 'N', d->m, d->n, d->k, alpha,
                                     A + (size_t)b * d->sa, d->lda, B + (size_t)b * d->sb, d->ldb, beta,
                                     C + (size_t)b * d->sc, d->ldc);
        if (s != dnnl_success)
            return err_set(YOLOC_ERR_BACKEND, "oneDNN sgemm (%d x %d x %d) failed: status %d", d->m, d->n, d->k,
                           (int)s);
    }
    return YOLOC_OK;
}

YOLOC_HOT static void softmax_rows(size_t r0, size_t r1, int n, const float *x, float *y) {
    for (size_t r = r0; r < r1; r++) {
        const float *xr = x + r * (size_t)n;
        float *yr = y + r * (size_t)n;
        float mx = xr[0];
#pragma omp simd reduction(max : mx)
        for (int i = 1; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < n; i++) {
            float e = fm_exp_neg(xr[i] - mx);
            yr[i] = e;
            s += e;
        }
        float inv = 1.0f / s;
        for (int i = 0; i < n; i++) yr[i] *= inv;
    }
}

YOLOC_HOT static void softmax_rows_backward(size_t r0, size_t r1, int n, const float *y, const float *dy, float *dx,
                                            float beta_dx) {
    for (size_t r = r0; r < r1; r++) {
        const float *yr = y + r * (size_t)n, *gr = dy + r * (size_t)n;
        float *xr = dx + r * (size_t)n;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < n; i++) dot += gr[i] * yr[i];
        if (beta_dx == 0.0f)
            for (int i = 0; i < n; i++) xr[i] = yr[i] * (gr[i] - dot);
        else
            for (int i = 0; i < n; i++) xr[i] = beta_dx * xr[i] + yr[i] * (gr[i] - dot);
    }
}

#define SOFTMAX_PAR_MIN 16384 /* values below which one thread does it all */

void softmax_cpu_forward(size_t rows, int n, const float *x, float *y) {
    long nr = (long)rows;
#pragma omp parallel for schedule(static) if (rows * (size_t)n > SOFTMAX_PAR_MIN)
    for (long r = 0; r < nr; r++) softmax_rows((size_t)r, (size_t)r + 1, n, x, y);
}

void softmax_cpu_backward(size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx) {
    long nr = (long)rows;
#pragma omp parallel for schedule(static) if (rows * (size_t)n > SOFTMAX_PAR_MIN)
    for (long r = 0; r < nr; r++) softmax_rows_backward((size_t)r, (size_t)r + 1, n, y, dy, dx, beta_dx);
}
