/* The fused BatchNorm+SiLU (ops.h bnsilu_*): the fast kernels against the
 * reference (bn_ref then silu_ref) on many shapes (SyncBN across two
 * "processes" is in test_syncbn.c); frozen statistics; the same results
 * with 1 and 2 threads; the reference backward against finite
 * differences.
 *
 * Tolerances: y and statistics 1e-5 relative (the fast sigmoid is ~2 ulp
 * off libm's), gradients 1e-4 relative with an absolute floor of 1e-5 (two
 * passes of sums in another order). */
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "ops/ops.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t n;
    int c;
    float *x, *dy, *g, *b, *rm, *rv;
} case_in;

static void case_make(case_in *ci, const bn_desc *d, unsigned seed) {
    ci->n = (size_t)d->n * d->h * d->w * d->c;
    ci->c = d->c;
    ci->x = malloc(ci->n * 4);
    ci->dy = malloc(ci->n * 4);
    ci->g = malloc((size_t)d->c * 16);
    ci->b = ci->g + d->c, ci->rm = ci->b + d->c, ci->rv = ci->rm + d->c;
    rng r;
    rng_seed_keys(&r, seed, d->n, d->h, d->c);
    gc_fill(&r, ci->x, ci->n, -3, 4); /* BN inputs with a mean away from 0 */
    gc_fill(&r, ci->dy, ci->n, -1, 1);
    for (int j = 0; j < d->c; j++) {
        ci->g[j] = (float)rng_range(&r, -1.5, 1.5); /* negative scales occur in trained models */
        ci->b[j] = (float)rng_range(&r, -1, 1);
        ci->rm[j] = (float)rng_range(&r, -0.2, 0.2);
        ci->rv[j] = (float)rng_range(&r, 0.5, 2);
    }
}

static void case_free(case_in *ci) {
    free(ci->x);
    free(ci->dy);
    free(ci->g);
}

/* Fast vs reference: forward (training and eval), running statistics,
 * backward with beta_dx 0 and 1, dgamma/dbeta accumulation. */
static void test_fast_vs_ref(int n, int h, int w, int c) {
    bn_desc d = {n, h, w, c, 1e-3f, 0.03f};
    case_in ci;
    case_make(&ci, &d, 11);
    size_t N = ci.n;
    float *y1 = malloc(N * 4), *y2 = malloc(N * 4), *dx1 = malloc(N * 4), *dx2 = malloc(N * 4), *tmp = malloc(N * 4);
    float *v = calloc((size_t)c * 12, 4);
    float *m1 = v, *v1 = m1 + c, *m2 = v1 + c, *v2 = m2 + c, *rm1 = v2 + c, *rv1 = rm1 + c, *rm2 = rv1 + c,
          *rv2 = rm2 + c, *dg1 = rv2 + c, *db1 = dg1 + c, *dg2 = db1 + c, *db2 = dg2 + c;
    memcpy(rm1, ci.rm, (size_t)c * 4), memcpy(rm2, ci.rm, (size_t)c * 4);
    memcpy(rv1, ci.rv, (size_t)c * 4), memcpy(rv2, ci.rv, (size_t)c * 4);
    double *work = malloc(syncbn_workspace(&d) * sizeof(double));
    char name[96];

    bnsilu_ref_forward_train(&d, ci.x, ci.g, ci.b, y1, m1, v1, rm1, rv1);
    CHECK(bnsilu_cpu_forward_train(&d, NULL, ci.x, ci.g, ci.b, y2, m2, v2, rm2, rv2, work) == YOLOC_OK);
    snprintf(name, sizeof name, "bnsilu y %dx%dx%dx%d", n, h, w, c);
    test_allclose(name, y2, y1, N, 1e-5, 1e-5);
    test_allclose("bnsilu mean", m2, m1, (size_t)c, 1e-5, 1e-6);
    test_allclose("bnsilu var", v2, v1, (size_t)c, 1e-5, 1e-6);
    test_allclose("bnsilu running mean", rm2, rm1, (size_t)c, 1e-5, 1e-6);
    test_allclose("bnsilu running var", rv2, rv1, (size_t)c, 1e-5, 1e-6);

    bnsilu_ref_backward(&d, ci.x, ci.g, ci.b, m1, v1, ci.dy, dx1, 0.0f, dg1, db1, tmp);
    CHECK(bnsilu_cpu_backward(&d, NULL, ci.x, ci.g, ci.b, m2, v2, ci.dy, dx2, 0.0f, dg2, db2, work) == YOLOC_OK);
    snprintf(name, sizeof name, "bnsilu dx %dx%dx%dx%d", n, h, w, c);
    test_allclose(name, dx2, dx1, N, 1e-4, 1e-5);
    test_allclose("bnsilu dgamma", dg2, dg1, (size_t)c, 1e-4, 1e-5);
    test_allclose("bnsilu dbeta", db2, db1, (size_t)c, 1e-4, 1e-5);
    /* accumulating: dx += ..., dgamma/dbeta += ... (twice the first) */
    bnsilu_ref_backward(&d, ci.x, ci.g, ci.b, m1, v1, ci.dy, dx1, 1.0f, dg1, db1, tmp);
    CHECK(bnsilu_cpu_backward(&d, NULL, ci.x, ci.g, ci.b, m2, v2, ci.dy, dx2, 1.0f, dg2, db2, work) == YOLOC_OK);
    test_allclose("bnsilu dx (beta_dx 1)", dx2, dx1, N, 1e-4, 1e-5);
    test_allclose("bnsilu dgamma (accumulated)", dg2, dg1, (size_t)c, 1e-4, 1e-5);
    /* no input gradient: dgamma/dbeta only */
    memset(dg2, 0, (size_t)c * 8);
    CHECK(bnsilu_cpu_backward(&d, NULL, ci.x, ci.g, ci.b, m2, v2, ci.dy, NULL, 0.0f, dg2, db2, work) == YOLOC_OK);
    for (int j = 0; j < c; j++) dg1[j] *= 0.5f, db1[j] *= 0.5f;
    test_allclose("bnsilu dgamma (dx NULL)", dg2, dg1, (size_t)c, 1e-4, 1e-5);
    test_allclose("bnsilu dbeta (dx NULL)", db2, db1, (size_t)c, 1e-4, 1e-5);

    bnsilu_ref_forward_eval(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, y1);
    bnsilu_cpu_forward_eval(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, y2);
    test_allclose("bnsilu eval y", y2, y1, N, 1e-5, 1e-5);

    /* without running statistics */
    bnsilu_ref_forward_train(&d, ci.x, ci.g, ci.b, y1, m1, v1, NULL, NULL);
    CHECK(bnsilu_cpu_forward_train(&d, NULL, ci.x, ci.g, ci.b, y2, m2, v2, NULL, NULL, work) == YOLOC_OK);
    test_allclose("bnsilu y (no running stats)", y2, y1, N, 1e-5, 1e-5);
    free(y1), free(y2), free(dx1), free(dx2), free(tmp), free(v), free(work);
    case_free(&ci);
}

/* Frozen statistics: fast vs reference backward, and the reference against
 * finite differences of the eval forward (statistics held constant). */
static void test_frozen(int n, int h, int w, int c) {
    bn_desc d = {n, h, w, c, 1e-3f, 0.03f};
    case_in ci;
    case_make(&ci, &d, 21);
    size_t N = ci.n;
    float *dx1 = malloc(N * 4), *dx2 = malloc(N * 4), *tmp = malloc(N * 4);
    float *v = calloc((size_t)c * 4, 4), *dg1 = v, *db1 = v + c, *dg2 = v + 2 * c, *db2 = v + 3 * c;
    double *work = malloc(syncbn_workspace(&d) * sizeof(double));
    bnsilu_ref_backward_frozen(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, ci.dy, dx1, 0.0f, dg1, db1, tmp);
    CHECK(bnsilu_cpu_backward_frozen(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, ci.dy, dx2, 0.0f, dg2, db2, work) ==
          YOLOC_OK);
    test_allclose("bnsilu frozen dx", dx2, dx1, N, 1e-4, 1e-5);
    test_allclose("bnsilu frozen dgamma", dg2, dg1, (size_t)c, 1e-4, 1e-5);
    test_allclose("bnsilu frozen dbeta", db2, db1, (size_t)c, 1e-4, 1e-5);
    bnsilu_ref_backward_frozen(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, ci.dy, dx1, 1.0f, dg1, db1, tmp);
    CHECK(bnsilu_cpu_backward_frozen(&d, ci.x, ci.g, ci.b, ci.rm, ci.rv, ci.dy, dx2, 1.0f, dg2, db2, work) ==
          YOLOC_OK);
    test_allclose("bnsilu frozen dx (beta_dx 1)", dx2, dx1, N, 1e-4, 1e-5);
    test_allclose("bnsilu frozen dgamma (accumulated)", dg2, dg1, (size_t)c, 1e-4, 1e-5);
    free(dx1), free(dx2), free(tmp), free(v), free(work);
    case_free(&ci);
}

/* Bit-identical results with 1 and 2 threads (fixed chunks). */
static void test_threads(void) {
    bn_desc d = {3, 17, 13, 24, 1e-3f, 0.03f};
    case_in ci;
    case_make(&ci, &d, 5);
    size_t N = ci.n;
    float *y[2], *dx[2], st[2][4][64];
    double *work = malloc(syncbn_workspace(&d) * sizeof(double));
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        y[t] = malloc(N * 4), dx[t] = malloc(N * 4);
        memset(st[t], 0, sizeof st[t]);
        CHECK(bnsilu_cpu_forward_train(&d, NULL, ci.x, ci.g, ci.b, y[t], st[t][0], st[t][1], NULL, NULL, work) ==
              YOLOC_OK);
        CHECK(bnsilu_cpu_backward(&d, NULL, ci.x, ci.g, ci.b, st[t][0], st[t][1], ci.dy, dx[t], 0.0f, st[t][2],
                                  st[t][3], work) == YOLOC_OK);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(y[0], y[1], N * 4) == 0);
    CHECK(memcmp(dx[0], dx[1], N * 4) == 0);
    CHECK(memcmp(st[0], st[1], sizeof st[0]) == 0);
    for (int t = 0; t < 2; t++) free(y[t]), free(dx[t]);
    free(work);
    case_free(&ci);
}

/* The reference backwards against finite differences (x, gamma, beta): with
 * batch statistics, and frozen (the loss is then the eval forward's). */
typedef struct {
    bn_desc d;
    int frozen;
    float *x, *gamma, *beta, *y, *r, sm[8], sv[8], rm[8], rv[8];
} gc_ctx;

static double gc_loss(void *p) {
    gc_ctx *c = p;
    if (c->frozen)
        bnsilu_ref_forward_eval(&c->d, c->x, c->gamma, c->beta, c->rm, c->rv, c->y);
    else
        bnsilu_ref_forward_train(&c->d, c->x, c->gamma, c->beta, c->y, c->sm, c->sv, NULL, NULL);
    return gc_project(c->y, c->r, (size_t)c->d.n * c->d.h * c->d.w * c->d.c);
}

static void test_gradcheck(int frozen) {
    gc_ctx c = {.d = {2, 3, 2, 3, 1e-3f, 0.03f}, .frozen = frozen, .rm = {0.3f, -0.2f, 0.1f}, .rv = {0.8f, 1.7f, 1.1f}};
    enum { n = 36, k = 3 };
    rng g;
    rng_seed(&g, frozen ? 9 : 7);
    float x[n], gamma[k], beta[k], y[n], r[n], dx[n], tmp[n], dg[k] = {0}, db[k] = {0};
    gc_fill(&g, x, n, -2, 2);
    gc_fill(&g, gamma, k, 0.5, 1.5);
    gc_fill(&g, beta, k, -1, 1);
    gc_fill(&g, r, n, -1, 1);
    c.x = x, c.gamma = gamma, c.beta = beta, c.y = y, c.r = r;
    gc_loss(&c);
    if (frozen)
        bnsilu_ref_backward_frozen(&c.d, x, gamma, beta, c.rm, c.rv, r, dx, 0.0f, dg, db, tmp);
    else
        bnsilu_ref_backward(&c.d, x, gamma, beta, c.sm, c.sv, r, dx, 0.0f, dg, db, tmp);
    const char *what = frozen ? "bnsilu_ref frozen" : "bnsilu_ref";
    char name[64];
    snprintf(name, sizeof name, "%s dx", what);
    gradcheck(name, x, n, dx, gc_loss, &c, 1e-2, 2e-3, 2e-4, n);
    snprintf(name, sizeof name, "%s dgamma", what);
    gradcheck(name, gamma, k, dg, gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
    snprintf(name, sizeof name, "%s dbeta", what);
    gradcheck(name, beta, k, db, gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
}

int main(void) {
    test_fast_vs_ref(2, 3, 2, 3);
    test_fast_vs_ref(1, 1, 2, 1);
    test_fast_vs_ref(4, 9, 11, 16);
    test_fast_vs_ref(2, 20, 20, 64);
    test_fast_vs_ref(3, 7, 5, 40); /* a channel count that is not a vector multiple */
    test_frozen(4, 9, 11, 16);
    test_frozen(3, 7, 5, 40);
    test_threads();
    test_gradcheck(0);
    test_gradcheck(1);
    return test_finish("bnsilu");
}
