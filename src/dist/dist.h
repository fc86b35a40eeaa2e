/* The communicator between training processes: rank, world size and the
 * few collectives the trainer needs. `single.c` is the one-process
 * implementation (every collective is the identity), `mpi.c` the OpenMPI
 * one. No other file talks to a transport.
 *
 * Every collective waits at most the communicator's timeout: when another
 * process died or hangs, it returns YOLOC_ERR_BACKEND naming the operation
 * instead of hanging, and dist_close(d, 1) then stops the whole job. */
#ifndef YOLOC_DIST_DIST_H
#define YOLOC_DIST_DIST_H

#include "core/status.h"

#include <stddef.h>

typedef struct dist dist;

/* A non-blocking collective in flight. */
typedef struct {
    unsigned char h[16]; /* the transport's handle */
    int active;
} dist_req;

typedef struct {
    status (*allreduce_sum_f32)(dist *d, float *x, size_t n);
    status (*allreduce_sum_f64)(dist *d, double *x, size_t n);
    status (*broadcast)(dist *d, void *buf, size_t bytes, int root);
    status (*barrier)(dist *d);
    /* Non-blocking sum in place: start, poll (1 when done), wait. */
    status (*iallreduce_sum_f32)(dist *d, float *x, size_t n, dist_req *r);
    int (*test)(dist *d, dist_req *r);
    status (*wait)(dist *d, dist_req *r);
    /* Gathers n bytes from every rank to root: at root *out (malloc'd)
     * holds them rank after rank and sizes[world] their sizes. */
    status (*gather)(dist *d, const void *buf, size_t n, int root, void **out, size_t *sizes);
    void (*close)(dist *d, int failed);
    /* A sub-communicator of the ranks that pass the same color, ordered
     * by key (collective over d). */
    status (*split)(dist *d, int color, int key, dist *out);
} dist_vt;

struct dist {
    int rank, world;
    double timeout_s;  /* collective timeout */
    double comm_s;     /* time spent waiting in collectives (for logs) */
    size_t comm_bytes; /* bytes reduced or broadcast by this rank */
    const dist_vt *vt;
    void *impl;
};

/* One process: rank 0 of 1. */
void dist_single(dist *d);
/* MPI when the process was started by mpirun (OMPI_COMM_WORLD_SIZE or
 * PMIX_RANK set), else one process. timeout_s > 0. */
status dist_open(dist *d, double timeout_s);
/* Ends the communicator; failed = 1 stops every process of the job (a
 * sub-communicator's too). */
void dist_close(dist *d, int failed);
/* Splits d into groups: the ranks with the same color form one
 * communicator `out`, ranked by key (then by their rank in d); every rank
 * of d must call it. Close `out` with dist_close before d. */
static inline status dist_split(dist *d, int color, int key, dist *out) { return d->vt->split(d, color, key, out); }

static inline status dist_allreduce_sum_f32(dist *d, float *x, size_t n) { return d->vt->allreduce_sum_f32(d, x, n); }
static inline status dist_allreduce_sum_f64(dist *d, double *x, size_t n) { return d->vt->allreduce_sum_f64(d, x, n); }
static inline status dist_broadcast(dist *d, void *buf, size_t bytes, int root) { return d->vt->broadcast(d, buf, bytes, root); }
static inline status dist_barrier(dist *d) { return d->vt->barrier(d); }
static inline status dist_iallreduce_sum_f32(dist *d, float *x, size_t n, dist_req *r) {
    return d->vt->iallreduce_sum_f32(d, x, n, r);
}
static inline int dist_test(dist *d, dist_req *r) { return d->vt->test(d, r); }
static inline status dist_wait(dist *d, dist_req *r) { return d->vt->wait(d, r); }
static inline status dist_gather(dist *d, const void *buf, size_t n, int root, void **out, size_t *sizes) {
    return d->vt->gather(d, buf, n, root, out, sizes);
}

#endif
