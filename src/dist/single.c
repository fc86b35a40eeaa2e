/* The one-process communicator: collectives are the identity. */
#include "dist/dist.h"

#include <stdlib.h>
#include <string.h>

static status single_allreduce_f32(dist *d, float *x, size_t n) {
    (void)d, (void)x, (void)n;
    return YOLOC_OK;
}
static status single_allreduce_f64(dist *d, double *x, size_t n) {
    (void)d, (void)x, (void)n;
    return YOLOC_OK;
}
static status single_broadcast(dist *d, void *buf, size_t bytes, int root) {
    (void)d, (void)buf, (void)bytes, (void)root;
    return YOLOC_OK;
}
static status single_barrier(dist *d) {
    (void)d;
    return YOLOC_OK;
}
static status single_iallreduce(dist *d, float *x, size_t n, dist_req *r) {
    (void)d, (void)x, (void)n;
    r->active = 0;
    return YOLOC_OK;
}
static int single_test(dist *d, dist_req *r) {
    (void)d, (void)r;
    return 1;
}
static status single_wait(dist *d, dist_req *r) {
    (void)d;
    r->active = 0;
    return YOLOC_OK;
}
static status single_gather(dist *d, const void *buf, size_t n, int root, void **out, size_t *sizes) {
    (void)d, (void)root;
    *out = malloc(n ? n : 1);
    if (!*out) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    if (n) memcpy(*out, buf, n);
    sizes[0] = n;
    return YOLOC_OK;
}
static void single_close(dist *d, int failed) { (void)d, (void)failed; }
static status single_split(dist *d, int color, int key, dist *out) {
    (void)color, (void)key;
    double timeout = d->timeout_s;
    dist_single(out);
    out->timeout_s = timeout;
    return YOLOC_OK;
}

static const dist_vt SINGLE_VT = {single_allreduce_f32, single_allreduce_f64, single_broadcast, single_barrier,
                                  single_iallreduce,    single_test,          single_wait,      single_gather,
                                  single_close,         single_split};

void dist_single(dist *d) {
    memset(d, 0, sizeof *d);
    d->rank = 0;
    d->world = 1;
    d->timeout_s = 1e9;
    d->vt = &SINGLE_VT;
}

void dist_close(dist *d, int failed) {
    if (d->vt && d->vt->close) d->vt->close(d, failed);
    d->vt = NULL;
}
