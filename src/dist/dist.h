/* The communicator between training processes: rank, world size and the
 * few collectives the trainer needs. `single.c` is the one-process
 * implementation (every collective is the identity); an MPI one follows.
 * No other file talks to a transport. */
#ifndef YOLOC_DIST_DIST_H
#define YOLOC_DIST_DIST_H

#include "core/status.h"

#include <stddef.h>

typedef struct dist dist;

typedef struct {
    status (*allreduce_sum_f32)(dist *d, float *x, size_t n);
    status (*allreduce_sum_f64)(dist *d, double *x, size_t n);
    status (*broadcast)(dist *d, void *buf, size_t bytes, int root);
    status (*barrier)(dist *d);
    void (*close)(dist *d);
} dist_vt;

struct dist {
    int rank, world;
    const dist_vt *vt;
    void *impl;
};

/* One process: rank 0 of 1. */
void dist_single(dist *d);

static inline status dist_allreduce_sum_f32(dist *d, float *x, size_t n) { return d->vt->allreduce_sum_f32(d, x, n); }
static inline status dist_allreduce_sum_f64(dist *d, double *x, size_t n) { return d->vt->allreduce_sum_f64(d, x, n); }
static inline status dist_broadcast(dist *d, void *buf, size_t bytes, int root) { return d->vt->broadcast(d, buf, bytes, root); }
static inline status dist_barrier(dist *d) { return d->vt->barrier(d); }
static inline void dist_close(dist *d) {
    if (d->vt && d->vt->close) d->vt->close(d);
}

#endif
