/* Max pooling: hand-derived 4x4 cases (k2 s2 p0, k3 s1 p1, padding that must
 * not win), tie-breaking (the first maximum in window order takes the
 * gradient in both backends), fast (oneDNN with workspace) == reference on
 * many shapes incl. SPPF's k5 s1 p2 and k3 s2 p1, and a finite-difference
 * check of the reference backward on distinct values. Pooling only selects
 * values, so forward outputs must agree exactly; the backward sums the
 * gradients of overlapping windows in a different order (1e-6). */
#include "core/rng.h"
#include "ops/backend.h"
#include "gradcheck.h"
#include "harness.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_OK(expr) CHECK_MSG((expr) == YOLOC_OK, "%s", yoloc_last_error())

static float *alloc_f(size_t n) {
    float *p = malloc((n + 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(2);
    }
    return p;
}

/* Runs forward (+ backward with dy, beta_dx onto dx) on one backend. */
static void pool_run(cpu_ctx *ctx, backend be, const pool_desc *d, int training, const float *x,
                     float *y, const float *dy, float *dx, float beta_dx) {
    maxpool_op op;
    status st = maxpool_op_init(&op, ctx, be, d, training);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st != YOLOC_OK) return;
    size_t wsz = maxpool_op_workspace_size(&op);
    if (be == &OPS_BACKEND_REF || !training) CHECK_EQ_INT(wsz, 0);
    void *ws = wsz ? malloc(wsz) : NULL;
    CHECK(!wsz || ws);
    CHECK_OK(maxpool_op_forward(&op, x, y, ws));
    if (dy) CHECK_OK(maxpool_op_backward(&op, x, dy, dx, beta_dx, ws));
    free(ws);
    maxpool_op_free(&op);
}

/* x (4x4), channel 0:      channel 1 = -x - 1 (all negative, so a
 *   1 5 2 0                 padding value of 0 would win if it counted)
 *   3 4 8 6
 *   7 0 9 1
 *   2 6 3 5 */
static const float pool_x0[16] = {1, 5, 2, 0, 3, 4, 8, 6, 7, 0, 9, 1, 2, 6, 3, 5};

static void test_pool_hand(cpu_ctx *ctx) {
    float x[32];
    for (int i = 0; i < 16; i++) x[2 * i] = pool_x0[i], x[2 * i + 1] = -pool_x0[i] - 1;
    for (int be = 0; be < 2; be++) {
        const char *bn = backend_name(backend_list()[be]);
        char name[64];
        /* k2 s2 p0: maxima 5 8 / 7 9; channel 1: -(min)-1 = -2 -1 / -1 -2.
         * dy = 1 2 3 4 (channel 0), 10 20 30 40 (channel 1) lands on the
         * argmax: 5 at (0,1), 8 at (1,2), 7 at (2,0), 9 at (2,2); channel 1's
         * minima of x: 1 at (0,0), 0 at (0,3), 0 at (2,1), 1 at (2,3). */
        pool_desc d = {1, 4, 4, 2, 2, 2, 0};
        const float y_want[8] = {5, -2, 8, -1, 7, -1, 9, -2};
        const float dy[8] = {1, 10, 2, 20, 3, 30, 4, 40};
        float y[8], dx[32], dx_want[32] = {0};
        dx_want[2 * 1] = 1, dx_want[2 * 6] = 2, dx_want[2 * 8] = 3, dx_want[2 * 10] = 4;
        dx_want[2 * 0 + 1] = 10, dx_want[2 * 3 + 1] = 20, dx_want[2 * 9 + 1] = 30,
                        dx_want[2 * 11 + 1] = 40;
        for (int i = 0; i < 32; i++) dx[i] = NAN;
        pool_run(ctx, backend_list()[be], &d, 1, x, y, dy, dx, 0.0f);
        snprintf(name, sizeof name, "pool k2s2 y %s", bn);
        test_allclose(name, y, y_want, 8, 0, 0);
        snprintf(name, sizeof name, "pool k2s2 dx %s", bn);
        test_allclose(name, dx, dx_want, 32, 0, 0);

        /* k3 s1 p1 (same size): channel 0 maxima of the clipped 3x3
         * neighbourhoods, channel 1 = -(min)-1. With dy = 1, each input
         * receives the number of windows it wins: 5 -> 1, 8 -> 3, 7 -> 3,
         * 9 -> 9; in channel 1 the first minimum in window order wins:
         * the 1 at (0,0) -> 2, the 0 at (0,3) -> 4 (windows (0,2) (0,3)
         * (1,2) (1,3)), the 0 at (2,1) -> 8, the 1 at (2,3) -> 2. */
        pool_desc d3 = {1, 4, 4, 2, 3, 1, 1};
        const float y3_c0[16] = {5, 8, 8, 8, 7, 9, 9, 9, 7, 9, 9, 9, 7, 9, 9, 9};
        const float y3_c1[16] = {-2, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, -1, -2};
        float y3[32], y3_want[32], dy3[32], dx3[32], dx3_want[32] = {0};
        for (int i = 0; i < 16; i++) {
            y3_want[2 * i] = y3_c0[i], y3_want[2 * i + 1] = y3_c1[i];
            dy3[2 * i] = dy3[2 * i + 1] = 1;
        }
        dx3_want[2 * 1] = 1, dx3_want[2 * 6] = 3, dx3_want[2 * 8] = 3, dx3_want[2 * 10] = 9;
        dx3_want[2 * 0 + 1] = 2, dx3_want[2 * 3 + 1] = 4, dx3_want[2 * 9 + 1] = 8,
                         dx3_want[2 * 11 + 1] = 2;
        for (int i = 0; i < 32; i++) dx3[i] = 0.5f; /* beta 1 onto 0.5 */
        for (int i = 0; i < 32; i++) dx3_want[i] += 0.5f;
        pool_run(ctx, backend_list()[be], &d3, 1, x, y3, dy3, dx3, 1.0f);
        snprintf(name, sizeof name, "pool k3s1p1 y %s", bn);
        test_allclose(name, y3, y3_want, 32, 0, 0);
        snprintf(name, sizeof name, "pool k3s1p1 dx beta1 %s", bn);
        test_allclose(name, dx3, dx3_want, 32, 0, 0);
    }
    CHECK_EQ_INT(pool_out_h(&(pool_desc){1, 13, 7, 1, 3, 2, 1}), 7);
    CHECK_EQ_INT(pool_out_w(&(pool_desc){1, 13, 7, 1, 3, 2, 1}), 4);
    CHECK_EQ_INT(pool_out_h(&(pool_desc){1, 20, 20, 1, 5, 1, 2}), 20);

    /* Refused descriptors: padding above k/2, a window larger than the
     * padded input. */
    maxpool_op op;
    const pool_desc bad1 = {1, 8, 8, 4, 3, 1, 2}, bad2 = {1, 2, 8, 4, 5, 1, 1};
    for (int be = 0; be < 2; be++) {
        CHECK(maxpool_op_init(&op, ctx, backend_list()[be], &bad1, 1) == YOLOC_ERR_SHAPE);
        CHECK_CONTAINS(yoloc_last_error(), "p=2");
        CHECK(maxpool_op_init(&op, ctx, backend_list()[be], &bad2, 1) == YOLOC_ERR_SHAPE);
        maxpool_op_free(&op);
    }
}

/* Ties: a constant image; every window's first in-bounds element (window
 * order ky, then kx) takes the gradient: for output (oy, ox) that is input
 * (max(oy*s - p, 0), max(ox*s - p, 0)). */
static void test_pool_ties(cpu_ctx *ctx) {
    static const int cases[][3] = {{3, 1, 1}, {5, 1, 2}, {3, 2, 1}, {2, 2, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        pool_desc d = {2, 7, 5, 3, cases[ci][0], cases[ci][1], cases[ci][2]};
        const int oh = pool_out_h(&d), ow = pool_out_w(&d);
        const size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * oh * ow * d.c;
        float *x = alloc_f(nx), *y = alloc_f(ny), *dy = alloc_f(ny), *dx = alloc_f(nx);
        float *want = alloc_f(nx);
        for (size_t i = 0; i < nx; i++) x[i] = 0.75f, want[i] = 0;
        for (int n = 0; n < d.n; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int k = 0; k < d.c; k++) {
                        size_t o = (((size_t)n * oh + oy) * ow + ox) * d.c + k;
                        dy[o] = (float)(1 + o % 7);
                        int iy = oy * d.s - d.p, ix = ox * d.s - d.p;
                        iy = iy < 0 ? 0 : iy;
                        ix = ix < 0 ? 0 : ix;
                        want[(((size_t)n * d.h + iy) * d.w + ix) * d.c + k] += dy[o];
                    }
        for (int be = 0; be < 2; be++) {
            char name[64];
            pool_run(ctx, backend_list()[be], &d, 1, x, y, dy, dx, 0.0f);
            snprintf(name, sizeof name, "pool ties k%d s%d p%d %s", d.k, d.s, d.p,
                     backend_name(backend_list()[be]));
            test_allclose(name, dx, want, nx, 0, 0);
        }
        free(x), free(y), free(dy), free(dx), free(want);
    }
}

/* fast == reference */
static void test_pool_fast_vs_ref(cpu_ctx *ctx) {
    static const int shapes[][7] = {{1, 7, 5, 3, 5, 1, 2},     {16, 13, 13, 1, 5, 1, 2},
                                    {2, 13, 13, 10, 3, 2, 1},  {1, 7, 5, 17, 3, 2, 1},
                                    {16, 20, 20, 16, 5, 1, 2}, {2, 8, 6, 9, 2, 2, 0},
                                    {1, 1, 1, 4, 1, 1, 0},     {3, 9, 11, 130, 3, 2, 1},
                                    {1, 20, 20, 128, 5, 1, 2}, {16, 7, 5, 24, 3, 1, 1}};
    rng g;
    rng_seed(&g, 31);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int *q = shapes[s];
        pool_desc d = {q[0], q[1], q[2], q[3], q[4], q[5], q[6]};
        const int oh = pool_out_h(&d), ow = pool_out_w(&d);
        const size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * oh * ow * d.c;
        char name[96], shp[64];
        snprintf(shp, sizeof shp, "%dx%dx%dx%d k%d s%d p%d", d.n, d.h, d.w, d.c, d.k, d.s, d.p);
        float *x = alloc_f(nx), *dy = alloc_f(ny), *y0 = alloc_f(ny), *y1 = alloc_f(ny);
        float *dx0 = alloc_f(nx), *dx1 = alloc_f(nx);
        /* Every other shape uses a few integer levels, so ties are common. */
        for (size_t i = 0; i < nx; i++)
            x[i] = (s & 1) ? (float)rng_below(&g, 4) : (float)rng_range(&g, -2, 2);
        gc_fill(&g, dy, ny, -1, 1);
        for (int beta = 0; beta < 2; beta++) {
            if (beta) {
                gc_fill(&g, dx0, nx, -1, 1);
                memcpy(dx1, dx0, nx * sizeof(float));
            } else {
                for (size_t i = 0; i < nx; i++) dx0[i] = dx1[i] = NAN;
            }
            pool_run(ctx, &OPS_BACKEND_REF, &d, 1, x, y0, dy, dx0, (float)beta);
            pool_run(ctx, &OPS_BACKEND_CPU, &d, 1, x, y1, dy, dx1, (float)beta);
            if (!beta) {
                snprintf(name, sizeof name, "pool y %s", shp);
                test_allclose(name, y1, y0, ny, 0, 0);
            }
            snprintf(name, sizeof name, "pool dx beta%d %s", beta, shp);
            test_allclose(name, dx1, dx0, nx, 1e-6, 1e-6);
        }
        /* inference plan: no workspace, same output */
        for (size_t i = 0; i < ny; i++) y1[i] = NAN;
        pool_run(ctx, &OPS_BACKEND_CPU, &d, 0, x, y1, NULL, NULL, 0.0f);
        snprintf(name, sizeof name, "pool y inference %s", shp);
        test_allclose(name, y1, y0, ny, 0, 0);
        free(x), free(dy), free(y0), free(y1), free(dx0), free(dx1);
    }
}

/* Finite differences on distinct values (gaps of 0.1 >> the 1e-3 step, so
 * no argmax changes under the perturbation). */
typedef struct {
    pool_desc d;
    float *x, *y, *r;
    size_t ny;
} pool_gc;

static double pool_gc_loss(void *p) {
    pool_gc *c = p;
    maxpool_ref_forward(&c->d, c->x, c->y);
    return gc_project(c->y, c->r, c->ny);
}

static void test_pool_gradcheck(void) {
    static const int cases[][3] = {{3, 2, 1}, {5, 1, 2}, {2, 2, 0}};
    for (size_t ci = 0; ci < 3; ci++) {
        pool_desc d = {2, 5, 4, 3, cases[ci][0], cases[ci][1], cases[ci][2]};
        const size_t nx = 120, ny = (size_t)d.n * pool_out_h(&d) * pool_out_w(&d) * d.c;
        float x[120], y[120], r[120], dx[120];
        uint32_t perm[120];
        rng g;
        rng_seed(&g, 40 + ci);
        rng_permutation(&g, perm, nx);
        for (size_t i = 0; i < nx; i++) x[i] = 0.1f * (float)perm[i] - 6.0f;
        gc_fill(&g, r, ny, -1, 1);
        pool_gc c = {d, x, y, r, ny};
        maxpool_ref_backward(&d, x, r, dx, 0.0f);
        char name[64];
        snprintf(name, sizeof name, "maxpool_ref dx k%d s%d p%d", d.k, d.s, d.p);
        gradcheck(name, x, nx, dx, pool_gc_loss, &c, 1e-3, 2e-3, 2e-4, nx);
    }
}

int main(void) {
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "cpu_ctx_create: %s\n", yoloc_last_error());
        return 1;
    }
    test_pool_hand(ctx);
    test_pool_ties(ctx);
    test_pool_fast_vs_ref(ctx);
    test_pool_gradcheck();
    cpu_ctx_free(ctx);
    return test_finish("test_pool");
}
