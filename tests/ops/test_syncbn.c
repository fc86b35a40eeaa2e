/* SyncBatchNorm: with one process it equals BatchNorm (bn_ref) in forward,
 * running statistics and backward; two "processes" (two threads whose
 * reducer sums their buffers) each holding half a batch compute exactly
 * what BatchNorm computes over the whole batch; the same for SyncBN fused
 * with SiLU (bnsilu_cpu_*) against bn_ref then silu_ref, and for the
 * reference SyncBN (syncbn_ref_*, the ref backend's). */
#include "gradcheck.h"
#include "harness.h"
#include "ops/ops.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void test_one_process(int n, int h, int w, int c) {
    bn_desc d = {n, h, w, c, 1e-3f, 0.03f};
    size_t N = (size_t)n * h * w * c;
    float *x = malloc(N * 4), *y1 = malloc(N * 4), *y2 = malloc(N * 4), *dy = malloc(N * 4);
    float *dx1 = malloc(N * 4), *dx2 = malloc(N * 4);
    float g[64], b[64], m1[64], v1[64], m2[64], v2[64], rm1[64], rv1[64], rm2[64], rv2[64];
    float dg1[64] = {0}, db1[64] = {0}, dg2[64] = {0}, db2[64] = {0};
    rng r;
    rng_seed_keys(&r, 3, n, h, c);
    gc_fill(&r, x, N, -2, 3);
    gc_fill(&r, dy, N, -1, 1);
    for (int j = 0; j < c; j++) {
        g[j] = (float)rng_range(&r, 0.5, 1.5);
        b[j] = (float)rng_range(&r, -0.5, 0.5);
        rm1[j] = rm2[j] = (float)rng_range(&r, -0.2, 0.2);
        rv1[j] = rv2[j] = (float)rng_range(&r, 0.5, 2);
    }
    double *work = malloc(syncbn_workspace(&d) * sizeof(double));
    bn_ref_forward_train(&d, x, g, b, y1, m1, v1, rm1, rv1);
    CHECK(syncbn_forward_train(&d, NULL, x, g, b, y2, m2, v2, rm2, rv2, work) == YOLOC_OK);
    test_allclose("syncbn y vs bn", y2, y1, N, 1e-5, 1e-5);
    test_allclose("syncbn mean", m2, m1, (size_t)c, 1e-5, 1e-6);
    test_allclose("syncbn var", v2, v1, (size_t)c, 1e-5, 1e-6);
    test_allclose("syncbn running mean", rm2, rm1, (size_t)c, 1e-5, 1e-6);
    test_allclose("syncbn running var", rv2, rv1, (size_t)c, 1e-5, 1e-6);
    bn_ref_backward(&d, x, g, m1, v1, dy, dx1, 0.0f, dg1, db1);
    CHECK(syncbn_backward(&d, NULL, x, g, m2, v2, dy, dx2, 0.0f, dg2, db2, work) == YOLOC_OK);
    test_allclose("syncbn dx", dx2, dx1, N, 1e-4, 1e-5);
    test_allclose("syncbn dgamma", dg2, dg1, (size_t)c, 1e-4, 1e-4);
    test_allclose("syncbn dbeta", db2, db1, (size_t)c, 1e-4, 1e-4);
    /* beta_dx = 1 accumulates */
    for (size_t i = 0; i < N; i++) dx2[i] = 1.0f;
    CHECK(syncbn_backward(&d, NULL, x, g, m2, v2, dy, dx2, 1.0f, NULL, NULL, work) == YOLOC_OK);
    for (size_t i = 0; i < N; i++) dx2[i] -= 1.0f;
    test_allclose("syncbn dx beta 1", dx2, dx1, N, 1e-4, 1e-4);
    /* the reference SyncBN: the same with one process */
    float y3[4096], m3[64], v3[64], rm3[64], rv3[64], dx3[4096], dg3[64] = {0}, db3[64] = {0};
    if (N <= 4096) {
        /* both start from the running statistics syncbn left */
        memcpy(rm3, rm2, sizeof(float) * (size_t)c);
        memcpy(rv3, rv2, sizeof(float) * (size_t)c);
        memcpy(rm1, rm2, sizeof(float) * (size_t)c);
        memcpy(rv1, rv2, sizeof(float) * (size_t)c);
        bn_ref_forward_train(&d, x, g, b, y1, m1, v1, rm1, rv1);
        CHECK(syncbn_ref_forward_train(&d, NULL, x, g, b, y3, m3, v3, rm3, rv3, work) == YOLOC_OK);
        test_allclose("syncbn_ref y vs bn", y3, y1, N, 1e-5, 1e-5);
        test_allclose("syncbn_ref mean", m3, m1, (size_t)c, 1e-5, 1e-6);
        test_allclose("syncbn_ref var", v3, v1, (size_t)c, 1e-5, 1e-6);
        test_allclose("syncbn_ref running mean", rm3, rm1, (size_t)c, 1e-5, 1e-6);
        test_allclose("syncbn_ref running var", rv3, rv1, (size_t)c, 1e-5, 1e-6);
        memset(dg1, 0, sizeof dg1), memset(db1, 0, sizeof db1);
        bn_ref_backward(&d, x, g, m1, v1, dy, dx1, 0.0f, dg1, db1);
        CHECK(syncbn_ref_backward(&d, NULL, x, g, m3, v3, dy, dx3, 0.0f, dg3, db3, work) == YOLOC_OK);
        test_allclose("syncbn_ref dx", dx3, dx1, N, 1e-4, 1e-5);
        test_allclose("syncbn_ref dgamma", dg3, dg1, (size_t)c, 1e-4, 1e-4);
        test_allclose("syncbn_ref dbeta", db3, db1, (size_t)c, 1e-4, 1e-4);
    }
    free(x), free(y1), free(y2), free(dy), free(dx1), free(dx2), free(work);
}

/* Two threads as two processes: the reducer sums both buffers in place. */
typedef struct {
    pthread_barrier_t bar;
    double *buf[2];
} pair;

typedef struct {
    pair *p;
    int rank;
} peer;

static status pair_reduce(void *ctx, double *x, size_t n) {
    peer *me = ctx;
    me->p->buf[me->rank] = x;
    pthread_barrier_wait(&me->p->bar);
    static double tmp[2][8192];
    memcpy(tmp[me->rank], x, n * sizeof(double));
    pthread_barrier_wait(&me->p->bar);
    for (size_t i = 0; i < n; i++) x[i] = tmp[0][i] + tmp[1][i];
    pthread_barrier_wait(&me->p->bar);
    return YOLOC_OK;
}

typedef struct {
    peer pe;
    bn_desc d;
    const float *x, *dy, *g, *b;
    float *y, *dx, *mean, *var, *rm, *rv, *dg, *db;
    int act; /* 1: SyncBN fused with SiLU (bnsilu_cpu_*); 2: the reference SyncBN (syncbn_ref_*) */
} job;

static void *run_half(void *arg) {
    job *j = arg;
    ops_reducer r = {pair_reduce, &j->pe};
    double *work = malloc(syncbn_workspace(&j->d) * sizeof(double));
    if (j->act == 2) {
        syncbn_ref_forward_train(&j->d, &r, j->x, j->g, j->b, j->y, j->mean, j->var, j->rm, j->rv, work);
        syncbn_ref_backward(&j->d, &r, j->x, j->g, j->mean, j->var, j->dy, j->dx, 0.0f, j->dg, j->db, work);
    } else if (j->act) {
        bnsilu_cpu_forward_train(&j->d, &r, j->x, j->g, j->b, j->y, j->mean, j->var, j->rm, j->rv, work);
        bnsilu_cpu_backward(&j->d, &r, j->x, j->g, j->b, j->mean, j->var, j->dy, j->dx, 0.0f, j->dg, j->db, work);
    } else {
        syncbn_forward_train(&j->d, &r, j->x, j->g, j->b, j->y, j->mean, j->var, j->rm, j->rv, work);
        syncbn_backward(&j->d, &r, j->x, j->g, j->mean, j->var, j->dy, j->dx, 0.0f, j->dg, j->db, work);
    }
    free(work);
    return NULL;
}

/* act = 1: the same for the fused SyncBN+SiLU against bn_ref then silu_ref. */
static void test_two_processes(int act) {
    int n = 4, h = 5, w = 3, c = 7;
    bn_desc d = {n, h, w, c, 1e-3f, 0.03f}, half = {n / 2, h, w, c, 1e-3f, 0.03f};
    size_t N = (size_t)n * h * w * c, H = N / 2;
    float *x = malloc(N * 4), *dy = malloc(N * 4), *y = malloc(N * 4), *dx = malloc(N * 4);
    float *ys = malloc(N * 4), *dxs = malloc(N * 4);
    float g[7], b[7], m[7], v[7], rm[7], rv[7], dg[7] = {0}, db[7] = {0};
    float ms[2][7], vs[2][7], rms[2][7], rvs[2][7], dgs[2][7] = {{0}}, dbs[2][7] = {{0}};
    rng r;
    rng_seed(&r, 21);
    gc_fill(&r, x, N, -1, 2);
    gc_fill(&r, dy, N, -1, 1);
    for (int j = 0; j < c; j++) {
        g[j] = (float)rng_range(&r, 0.5, 1.5), b[j] = (float)rng_range(&r, -1, 1);
        rm[j] = rms[0][j] = rms[1][j] = 0.1f, rv[j] = rvs[0][j] = rvs[1][j] = 1.0f;
    }
    if (act == 1) {
        float *tmp = malloc(N * 4);
        bnsilu_ref_forward_train(&d, x, g, b, y, m, v, rm, rv);
        bnsilu_ref_backward(&d, x, g, b, m, v, dy, dx, 0.0f, dg, db, tmp);
        free(tmp);
    } else {
        bn_ref_forward_train(&d, x, g, b, y, m, v, rm, rv);
        bn_ref_backward(&d, x, g, m, v, dy, dx, 0.0f, dg, db);
    }
    pair p;
    pthread_barrier_init(&p.bar, NULL, 2);
    job jobs[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        jobs[k] = (job){{&p, k}, half, x + k * H, dy + k * H, g, b, ys + k * H, dxs + k * H, ms[k], vs[k], rms[k],
                        rvs[k], dgs[k], dbs[k], act};
        pthread_create(&th[k], NULL, run_half, &jobs[k]);
    }
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&p.bar);
    test_allclose("2 processes: y == BN over the whole batch", ys, y, N, 1e-5, 1e-5);
    test_allclose("2 processes: dx == BN backward", dxs, dx, N, 1e-4, 1e-5);
    for (int k = 0; k < 2; k++) {
        test_allclose("2 processes: running mean", rms[k], rm, 7, 1e-5, 1e-6);
        test_allclose("2 processes: running var", rvs[k], rv, 7, 1e-5, 1e-6);
    }
    float dgsum[7], dbsum[7];
    for (int j = 0; j < 7; j++) dgsum[j] = dgs[0][j] + dgs[1][j], dbsum[j] = dbs[0][j] + dbs[1][j];
    test_allclose("2 processes: dgamma summed == BN", dgsum, dg, 7, 1e-4, 1e-5);
    test_allclose("2 processes: dbeta summed == BN", dbsum, db, 7, 1e-4, 1e-5);
    free(x), free(dy), free(y), free(dx), free(ys), free(dxs);
}

int main(void) {
    test_one_process(2, 5, 7, 3);
    test_one_process(16, 4, 4, 33);
    test_one_process(1, 13, 11, 64);
    test_two_processes(0);
    test_two_processes(1);
    test_two_processes(2);
    return test_finish("test_syncbn");
}
