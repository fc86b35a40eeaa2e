/* Collectives over buffers in a backend's memory: the gradient buckets,
 * rank 0's state broadcast at the start, the best weights at the end.
 *
 * The one rule: the communicator (dist/, MPI on host memory) is handed a
 * backend buffer directly when the backend's memory is the host's (ref,
 * cpu); otherwise the buffer is staged, copied to a host buffer, reduced or
 * broadcast there, and copied back, so a backend with its own memory trains
 * on several processes with the same numbers. (A device-aware transport,
 * NCCL for a GPU backend, would take the buffer directly; this is where
 * that decision lives.) The SyncBN reducer exchanges its few per-channel
 * sums in host memory (ops.h ops_reducer). */
#ifndef YOLOC_TRAIN_BCOMM_H
#define YOLOC_TRAIN_BCOMM_H

#include "dist/dist.h"
#include "ops/backend.h"

/* 1 when collectives over be's buffers go through host staging. */
int bcomm_staged(const dist *d, backend be);

/* dist_broadcast of `bytes` at buf, a buffer of be (ctx its context). */
status bcomm_broadcast(dist *d, backend be, void *ctx, void *buf, size_t bytes, int root);
/* dist_allreduce_sum_f32 of n floats at x, a buffer of be. */
status bcomm_allreduce_f32(dist *d, backend be, void *ctx, float *x, size_t n);

/* A non-blocking sum in place of n floats at x (a buffer of be) through
 * stage, a host buffer of n floats used only when bcomm_staged (NULL
 * otherwise): bcomm_istart copies x into stage and starts the reduction;
 * bcomm_iwait waits for it and copies the sums back into x. */
status bcomm_istart(dist *d, backend be, void *ctx, float *x, float *stage, size_t n, dist_req *r);
status bcomm_iwait(dist *d, backend be, void *ctx, float *x, const float *stage, size_t n, dist_req *r);

#endif
