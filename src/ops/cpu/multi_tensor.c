/* Multi-tensor ops, fast path (see ops.h): one OpenMP-parallel pass over the
 * chunks, each chunk a vectorised loop. Element-wise updates run in float
 * in the order of operations of the reference (ops/ref/multi_tensor_ref.c);
 * the sum of squares keeps one double per chunk and adds them in chunk
 * order, so no result depends on the thread count. */
#include "core/cpu.h"
#include "ops/ops.h"

#include <float.h>
#include <math.h>

/* Below this many floats a pass runs on one thread (a parallel region costs
 * a few microseconds). Only the speed depends on it, never the result. */
#define MT_PAR_MIN 32768

YOLOC_HOT void sgd_update_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *restrict p,
                              const float *restrict g, float *restrict b, const ops_sgd_hp *hp) {
    const float lr = hp->lr, mu = hp->mu, wd = hp->wd;
    const int nesterov = hp->nesterov;
#pragma omp parallel for schedule(static) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        float *restrict pc = p + ch[c].off;
        const float *restrict gc = g + ch[c].off;
        float *restrict bc = b + ch[c].off;
        const size_t n = ch[c].len;
        if (mu == 0.0f) {
            /* PyTorch: no momentum -> the buffer is neither created nor used */
#pragma omp simd
            for (size_t i = 0; i < n; i++) pc[i] -= lr * (gc[i] + wd * pc[i]);
        } else if (nesterov) {
#pragma omp simd
            for (size_t i = 0; i < n; i++) {
                float gi = gc[i] + wd * pc[i];
                float bi = mu * bc[i] + gi; /* b = g at the first step: b starts at 0 */
                bc[i] = bi;
                pc[i] -= lr * (gi + mu * bi);
            }
        } else {
#pragma omp simd
            for (size_t i = 0; i < n; i++) {
                float gi = gc[i] + wd * pc[i];
                float bi = mu * bc[i] + gi;
                bc[i] = bi;
                pc[i] -= lr * bi;
            }
        }
    }
}

YOLOC_HOT void adam_update_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *restrict p,
                               const float *restrict g, float *restrict m, float *restrict v, const ops_adam_hp *hp) {
    const float shrink = hp->shrink, l2 = hp->l2, b1 = hp->b1, omb1 = hp->omb1, b2 = hp->b2, omb2 = hp->omb2;
    const float step_size = hp->step_size, bc2_sqrt = hp->bc2_sqrt, eps = hp->eps;
#pragma omp parallel for schedule(static) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        float *restrict pc = p + ch[c].off;
        const float *restrict gc = g + ch[c].off;
        float *restrict mc = m + ch[c].off;
        float *restrict vc = v + ch[c].off;
        const size_t n = ch[c].len;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float th = pc[i] * shrink;
            float gi = gc[i] + l2 * th;
            float mi = mc[i] * b1 + omb1 * gi;
            float vi = vc[i] * b2 + omb2 * gi * gi;
            mc[i] = mi;
            vc[i] = vi;
            float den = sqrtf(vi) / bc2_sqrt + eps;
            pc[i] = th - step_size * (mi / den);
        }
    }
}

YOLOC_HOT double chunk_sumsq_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials) {
#pragma omp parallel for schedule(static) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        const float *xc = x + ch[c].off;
        const size_t n = ch[c].len;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += (double)xc[i] * (double)xc[i];
        partials[c] = s;
    }
    double total = 0;
    for (size_t c = 0; c < nch; c++) total += partials[c];
    return total;
}

YOLOC_HOT void chunk_scale_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f) {
#pragma omp parallel for schedule(static) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        float *xc = x + ch[c].off;
        const size_t n = ch[c].len;
#pragma omp simd
        for (size_t i = 0; i < n; i++) xc[i] *= f;
    }
}

YOLOC_HOT int chunk_all_finite_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *x) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        const float *xc = x + ch[c].off;
        const size_t n = ch[c].len;
        int b = 0;
#pragma omp simd reduction(| : b)
        for (size_t i = 0; i < n; i++) b |= !(fabsf(xc[i]) <= FLT_MAX);
        bad |= b;
    }
    return !bad;
}

YOLOC_HOT double chunk_sqdiff_copy_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev,
                                       double *partials) {
#pragma omp parallel for schedule(static) if (numel > MT_PAR_MIN)
    for (size_t c = 0; c < nch; c++) {
        const float *gc = g + ch[c].off;
        float *pc = prev + ch[c].off;
        const size_t n = ch[c].len;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) {
            double d = (double)gc[i] - pc[i];
            s += d * d;
            pc[i] = gc[i];
        }
        partials[c] = s;
    }
    double total = 0;
    for (size_t c = 0; c < nch; c++) total += partials[c];
    return total;
}

/* x = d*x + (1-d)*y over n floats, in PyTorch's order: (x*d) + ((1-d)*y). */
YOLOC_HOT void ema_blend_cpu(size_t n, float *restrict x, const float *restrict y, float d, float omd) {
#pragma omp parallel for simd schedule(static) if (n > MT_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = x[i] * d + omd * y[i];
}
