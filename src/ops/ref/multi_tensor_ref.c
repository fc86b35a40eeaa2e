/* Multi-tensor ops, reference implementation (see ops.h): plain loops over
 * the chunks, one element after another, in the order of operations the
 * header states. */
#include "ops/ops.h"

#include <float.h>
#include <math.h>

void sgd_update_ref(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                    const ops_sgd_hp *hp) {
    (void)numel;
    for (size_t c = 0; c < nch; c++)
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++) {
            float gi = g[i] + hp->wd * p[i];
            if (hp->mu == 0.0f) {
                p[i] -= hp->lr * gi;
                continue;
            }
            float bi = hp->mu * b[i] + gi;
            b[i] = bi;
            p[i] -= hp->nesterov ? hp->lr * (gi + hp->mu * bi) : hp->lr * bi;
        }
}

void adam_update_ref(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *m, float *v,
                     const ops_adam_hp *hp) {
    (void)numel;
    for (size_t c = 0; c < nch; c++)
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++) {
            float th = p[i] * hp->shrink;
            float gi = g[i] + hp->l2 * th;
            float mi = m[i] * hp->b1 + hp->omb1 * gi;
            float vi = v[i] * hp->b2 + hp->omb2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            float den = sqrtf(vi) / hp->bc2_sqrt + hp->eps;
            p[i] = th - hp->step_size * (mi / den);
        }
}

double chunk_sumsq_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials) {
    (void)numel;
    double total = 0;
    for (size_t c = 0; c < nch; c++) {
        double s = 0;
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++) s += (double)x[i] * (double)x[i];
        partials[c] = s;
        total += s;
    }
    return total;
}

void chunk_scale_ref(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f) {
    (void)numel;
    for (size_t c = 0; c < nch; c++)
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++) x[i] *= f;
}

int chunk_all_finite_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *x) {
    (void)numel;
    for (size_t c = 0; c < nch; c++)
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++)
            if (!isfinite(x[i])) return 0;
    return 1;
}

void ema_blend_ref(size_t n, float *x, const float *y, float d, float omd) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] * d + omd * y[i];
}

double chunk_sqdiff_copy_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev,
                             double *partials) {
    (void)numel;
    double total = 0;
    for (size_t c = 0; c < nch; c++) {
        double s = 0;
        for (size_t i = ch[c].off; i < ch[c].off + ch[c].len; i++) {
            double d = (double)g[i] - prev[i];
            s += d * d;
            prev[i] = g[i];
        }
        partials[c] = s;
        total += s;
    }
    return total;
}
