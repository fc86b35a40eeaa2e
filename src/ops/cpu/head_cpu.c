/* The heads' eval decode and the BatchNorm fold, fast path: the reference's
 * per-row arithmetic (ops/ref/head_ref.c) in parallel blocks of rows, so
 * both give the same bits. */
#include "ops/ops.h"

#define HEAD_BLOCK 256 /* rows per parallel block */

void dfl_decode_cpu(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out) {
    const int total = d->n * d->h * d->w, nblk = (total + HEAD_BLOCK - 1) / HEAD_BLOCK;
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (int k = 0; k < nblk; k++) {
        int i1 = (k + 1) * HEAD_BLOCK < total ? (k + 1) * HEAD_BLOCK : total;
        dfl_decode_range(d, box, cls, dfl_w, out, k * HEAD_BLOCK, i1);
    }
}

void v5_decode_cpu(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out) {
    const int total = d->n * d->na * d->h * d->w, nblk = (total + HEAD_BLOCK - 1) / HEAD_BLOCK;
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (int k = 0; k < nblk; k++) {
        int i1 = (k + 1) * HEAD_BLOCK < total ? (k + 1) * HEAD_BLOCK : total;
        v5_decode_range(d, raw, anchors, dec, out, k * HEAD_BLOCK, i1);
    }
}

void bn_fold_cpu(int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                 const float *running_mean, const float *running_var, float *wf, float *bf) {
#pragma omp parallel for schedule(static) if (per * (size_t)co > 32768)
    for (int o = 0; o < co; o++) bn_fold_range(o, o + 1, per, eps, w, gamma, beta, running_mean, running_var, wf, bf);
}
