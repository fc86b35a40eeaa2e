/* Collectives over backend buffers (see bcomm.h). */
#include "train/bcomm.h"

#include <stdlib.h>

int bcomm_staged(const dist *d, backend be) { return d->world > 1 && !be->host_memory; }

status bcomm_broadcast(dist *d, backend be, void *ctx, void *buf, size_t bytes, int root) {
    if (!bcomm_staged(d, be)) return dist_broadcast(d, buf, bytes, root);
    void *h = malloc(bytes ? bytes : 1);
    if (!h) return err_set(YOLOC_ERR_NOMEM, "out of memory (staging a broadcast of %zu bytes)", bytes);
    status st = d->rank == root ? backend_to_host(be, ctx, h, buf, bytes) : YOLOC_OK;
    if (st == YOLOC_OK) st = dist_broadcast(d, h, bytes, root);
    if (st == YOLOC_OK && d->rank != root) st = backend_from_host(be, ctx, buf, h, bytes);
    free(h);
    return st;
}

status bcomm_allreduce_f32(dist *d, backend be, void *ctx, float *x, size_t n) {
    if (!bcomm_staged(d, be)) return dist_allreduce_sum_f32(d, x, n);
    float *h = malloc(n ? n * sizeof(float) : 1);
    if (!h) return err_set(YOLOC_ERR_NOMEM, "out of memory (staging an all-reduce of %zu floats)", n);
    status st = backend_to_host(be, ctx, h, x, n * sizeof(float));
    if (st == YOLOC_OK) st = dist_allreduce_sum_f32(d, h, n);
    if (st == YOLOC_OK) st = backend_from_host(be, ctx, x, h, n * sizeof(float));
    free(h);
    return st;
}

status bcomm_istart(dist *d, backend be, void *ctx, float *x, float *stage, size_t n, dist_req *r) {
    if (!bcomm_staged(d, be)) return dist_iallreduce_sum_f32(d, x, n, r);
    TRY(backend_to_host(be, ctx, stage, x, n * sizeof(float)));
    return dist_iallreduce_sum_f32(d, stage, n, r);
}

status bcomm_iwait(dist *d, backend be, void *ctx, float *x, const float *stage, size_t n, dist_req *r) {
    TRY(dist_wait(d, r));
    if (!bcomm_staged(d, be)) return YOLOC_OK;
    return backend_from_host(be, ctx, x, stage, n * sizeof(float));
}
