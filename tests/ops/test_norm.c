/* Batch and group normalisation: hand-derived cases, fast path (oneDNN /
 * OpenMP C) against the reference on many shapes, and finite-difference
 * checks of the reference backward.
 *
 * Tolerances: outputs and statistics 1e-4 relative (the fast path's
 * statistics are float sums in a different order than the double
 * reference), gradients 1e-4 relative with a small absolute floor for values
 * near zero. */
#include "core/rng.h"
#include "ops/backend.h"
#include "gradcheck.h"
#include "harness.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *alloc_f(size_t n) {
    float *p = malloc((n + 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* BN by hand: n=2, h=1, w=2, c=2, so m = 4 values per channel.
 *   channel 0: 1, 2, 3, 4   mean 2.5, biased var 1.25, unbiased 5/3
 *   channel 1: -1, 0, 1, 4  mean 1,   deviations -2,-1,0,3 -> sum sq 14,
 *                           biased var 3.5, unbiased 14/3
 * Running stats from (0, 1) with momentum 0.03:
 *   mean: 0.03*2.5 = 0.075, 0.03*1 = 0.03
 *   var:  0.97 + 0.03*5/3 = 1.02, 0.97 + 0.03*14/3 = 1.11 */
static void test_bn_hand(cpu_ctx *ctx) {
    const bn_desc d = {2, 1, 2, 2, 1e-3f, 0.03f};
    const float x[8] = {1, -1, 2, 0, 3, 1, 4, 4};
    const float gamma[2] = {2.0f, 0.5f}, beta[2] = {0.1f, -1.0f};
    const double mean[2] = {2.5, 1.0}, var[2] = {1.25, 3.5};
    const double rm_want[2] = {0.075, 0.03}, rv_want[2] = {1.02, 1.11};
    for (int be = 0; be < 2; be++) {
        bn_op op;
        status st = bn_op_init(&op, ctx, backend_list()[be], &d, 1);
        CHECK_MSG(st == YOLOC_OK, "%s: %s", backend_name(backend_list()[be]), yoloc_last_error());
        if (st != YOLOC_OK) continue;
        float y[8], sm[2], sv[2], rm[2] = {0, 0}, rv[2] = {1, 1};
        CHECK(bn_op_forward_train(&op, x, gamma, beta, y, sm, sv, rm, rv) == YOLOC_OK);
        for (int p = 0; p < 4; p++)
            for (int k = 0; k < 2; k++) {
                double want = gamma[k] * (x[p * 2 + k] - mean[k]) / sqrt(var[k] + 1e-3) + beta[k];
                CHECK_NEAR(y[p * 2 + k], want, 1e-5);
            }
        for (int k = 0; k < 2; k++) {
            CHECK_NEAR(sm[k], mean[k], 1e-6);
            CHECK_NEAR(sv[k], var[k], 1e-6);
            CHECK_NEAR(rm[k], rm_want[k], 1e-6);
            CHECK_NEAR(rv[k], rv_want[k], 1e-6);
        }

        /* Eval with the running stats just computed. */
        float ye[8];
        CHECK(bn_op_forward_eval(&op, x, gamma, beta, rm, rv, ye) == YOLOC_OK);
        for (int p = 0; p < 4; p++)
            for (int k = 0; k < 2; k++) {
                double want =
                    gamma[k] * (x[p * 2 + k] - rm_want[k]) / sqrt(rv_want[k] + 1e-3) + beta[k];
                CHECK_NEAR(ye[p * 2 + k], want, 1e-5);
            }

        /* Backward, dy = 0.5 everywhere: the mean is removed, so dx = 0,
         * dbeta += 4*0.5 = 2, dgamma += 0.5*sum(xhat) = 0 (onto 1). */
        float dy[8], dx[8], dg[2] = {1, 1}, db[2] = {1, 1};
        for (int i = 0; i < 8; i++) dy[i] = 0.5f;
        CHECK(bn_op_backward(&op, x, gamma, sm, sv, dy, dx, 0.0f, dg, db) == YOLOC_OK);
        for (int i = 0; i < 8; i++) CHECK_NEAR(dx[i], 0.0, 1e-6);
        for (int k = 0; k < 2; k++) {
            CHECK_NEAR(db[k], 3.0, 1e-6);
            CHECK_NEAR(dg[k], 1.0, 1e-5);
        }
        /* dy = xhat: dgamma = sum xhat^2 = m*var/(var+eps), and
         * dx = gamma*rstd*(xhat - xhat*var/(var+eps)) = gamma*rstd*xhat*eps/(var+eps).
         * With beta 1 onto dx = 1. */
        for (int p = 0; p < 4; p++)
            for (int k = 0; k < 2; k++)
                dy[p * 2 + k] = (float)((x[p * 2 + k] - mean[k]) / sqrt(var[k] + 1e-3));
        for (int i = 0; i < 8; i++) dx[i] = 1.0f;
        dg[0] = dg[1] = 0;
        CHECK(bn_op_backward(&op, x, gamma, sm, sv, dy, dx, 1.0f, dg, NULL) == YOLOC_OK);
        for (int k = 0; k < 2; k++) {
            double rstd = 1 / sqrt(var[k] + 1e-3);
            CHECK_NEAR(dg[k], 4 * var[k] / (var[k] + 1e-3), 1e-5);
            for (int p = 0; p < 4; p++) {
                double xh = (x[p * 2 + k] - mean[k]) * rstd;
                CHECK_NEAR(dx[p * 2 + k], 1.0 + gamma[k] * rstd * xh * 1e-3 / (var[k] + 1e-3),
                           1e-5);
            }
        }
        bn_op_free(&op);
    }
    /* Training with one value per channel is refused (PyTorch does too). */
    bn_op op;
    const bn_desc one = {1, 1, 1, 4, 1e-3f, 0.03f};
    CHECK(bn_op_init(&op, ctx, &OPS_BACKEND_REF, &one, 1) == YOLOC_ERR_SHAPE);
    CHECK(bn_op_init(&op, ctx, &OPS_BACKEND_CPU, &one, 1) == YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "more than 1 value");
    /* ... but eval with it is fine. */
    CHECK(bn_op_init(&op, ctx, &OPS_BACKEND_CPU, &one, 0) == YOLOC_OK);
    bn_op_free(&op);
}

/* ------------------------------------------------------------------------ */
/* BN: fast == reference. */
static void test_bn_fast_vs_ref(cpu_ctx *ctx) {
    static const int shapes[][4] = {{1, 7, 5, 3},    {16, 13, 13, 1}, {2, 13, 13, 10},
                                    {16, 7, 5, 24},  {1, 1, 2, 17},   {3, 9, 11, 33},
                                    {4, 20, 20, 64}, {1, 13, 13, 1}};
    rng g;
    rng_seed(&g, 11);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        bn_desc d = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], 1e-3f, 0.03f};
        const size_t c = (size_t)d.c, n = (size_t)d.n * d.h * d.w * c;
        char name[96];
        float *x = alloc_f(n), *dy = alloc_f(n), *y0 = alloc_f(n), *y1 = alloc_f(n);
        float *dx0 = alloc_f(n), *dx1 = alloc_f(n);
        float gamma[64], beta[64], sm0[64], sv0[64], sm1[64], sv1[64], rm0[64], rv0[64], rm1[64],
            rv1[64], dg0[64], db0[64], dg1[64], db1[64];
        /* An offset mean makes the statistics non-trivial. */
        for (size_t i = 0; i < n; i++) x[i] = (float)(1.5 + 2.0 * rng_normal(&g));
        gc_fill(&g, dy, n, -1, 1);
        gc_fill(&g, gamma, c, 0.5, 1.5);
        gc_fill(&g, beta, c, -0.5, 0.5);
        gc_fill(&g, rm0, c, -0.2, 0.2);
        gc_fill(&g, rv0, c, 0.5, 2.0);
        memcpy(rm1, rm0, c * sizeof(float));
        memcpy(rv1, rv0, c * sizeof(float));

        bn_op ref, cpu;
        CHECK(bn_op_init(&ref, ctx, &OPS_BACKEND_REF, &d, 1) == YOLOC_OK);
        status st = bn_op_init(&cpu, ctx, &OPS_BACKEND_CPU, &d, 1);
        CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
        if (st != YOLOC_OK) goto next;

        snprintf(name, sizeof name, "bn train y %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        CHECK(bn_op_forward_train(&ref, x, gamma, beta, y0, sm0, sv0, rm0, rv0) == YOLOC_OK);
        CHECK(bn_op_forward_train(&cpu, x, gamma, beta, y1, sm1, sv1, rm1, rv1) == YOLOC_OK);
        test_allclose(name, y1, y0, n, 1e-4, 1e-4);
        snprintf(name, sizeof name, "bn save_mean %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, sm1, sm0, c, 1e-4, 1e-5);
        snprintf(name, sizeof name, "bn save_var %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, sv1, sv0, c, 1e-4, 1e-5);
        snprintf(name, sizeof name, "bn running_mean %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, rm1, rm0, c, 1e-4, 1e-6);
        snprintf(name, sizeof name, "bn running_var %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, rv1, rv0, c, 1e-4, 1e-6);

        snprintf(name, sizeof name, "bn eval y %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        CHECK(bn_op_forward_eval(&ref, x, gamma, beta, rm0, rv0, y0) == YOLOC_OK);
        CHECK(bn_op_forward_eval(&cpu, x, gamma, beta, rm0, rv0, y1) == YOLOC_OK);
        test_allclose(name, y1, y0, n, 1e-5, 1e-5);

        /* Backward from the same saved statistics; beta 0 onto garbage. */
        for (size_t i = 0; i < n; i++) dx0[i] = dx1[i] = NAN;
        for (size_t k = 0; k < c; k++) {
            dg0[k] = dg1[k] = 0.25f * (float)k;
            db0[k] = db1[k] = -0.5f;
        }
        CHECK(bn_op_backward(&ref, x, gamma, sm0, sv0, dy, dx0, 0.0f, dg0, db0) == YOLOC_OK);
        CHECK(bn_op_backward(&cpu, x, gamma, sm0, sv0, dy, dx1, 0.0f, dg1, db1) == YOLOC_OK);
        snprintf(name, sizeof name, "bn dx beta0 %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, dx1, dx0, n, 1e-4, 1e-5);
        snprintf(name, sizeof name, "bn dgamma += %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, dg1, dg0, c, 1e-4, 1e-4);
        snprintf(name, sizeof name, "bn dbeta += %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, db1, db0, c, 1e-4, 1e-4);

        /* beta 1 onto non-zero dx, no parameter gradients. */
        gc_fill(&g, dx0, n, -1, 1);
        memcpy(dx1, dx0, n * sizeof(float));
        CHECK(bn_op_backward(&ref, x, gamma, sm0, sv0, dy, dx0, 1.0f, NULL, NULL) == YOLOC_OK);
        CHECK(bn_op_backward(&cpu, x, gamma, sm0, sv0, dy, dx1, 1.0f, NULL, NULL) == YOLOC_OK);
        snprintf(name, sizeof name, "bn dx beta1 %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, dx1, dx0, n, 1e-4, 1e-5);

        /* Parameter gradients only (dx NULL) accumulate a second time. */
        CHECK(bn_op_backward(&ref, x, gamma, sm0, sv0, dy, NULL, 0.0f, dg0, db0) == YOLOC_OK);
        CHECK(bn_op_backward(&cpu, x, gamma, sm0, sv0, dy, NULL, 0.0f, dg1, db1) == YOLOC_OK);
        snprintf(name, sizeof name, "bn dgamma twice %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, dg1, dg0, c, 1e-4, 1e-4);
        snprintf(name, sizeof name, "bn dbeta twice %dx%dx%dx%d", d.n, d.h, d.w, d.c);
        test_allclose(name, db1, db0, c, 1e-4, 1e-4);
        bn_op_free(&cpu);
    next:
        bn_op_free(&ref);
        free(x), free(dy), free(y0), free(y1), free(dx0), free(dx1);
    }

    /* An inference plan runs eval and refuses training. */
    bn_desc d = {2, 5, 3, 7, 1e-3f, 0.03f};
    bn_op op;
    CHECK(bn_op_init(&op, ctx, &OPS_BACKEND_CPU, &d, 0) == YOLOC_OK);
    float x[210], y[210], y0[210], gm[7], bt[7], rm[7], rv[7], sm[7], sv[7];
    gc_fill(&g, x, 210, -2, 2);
    gc_fill(&g, gm, 7, 0.5, 1.5);
    gc_fill(&g, bt, 7, -1, 1);
    gc_fill(&g, rm, 7, -1, 1);
    gc_fill(&g, rv, 7, 0.5, 2);
    CHECK(bn_op_forward_eval(&op, x, gm, bt, rm, rv, y) == YOLOC_OK);
    bn_ref_forward_eval(&d, x, gm, bt, rm, rv, y0);
    test_allclose("bn eval (inference plan)", y, y0, 210, 1e-5, 1e-5);
    CHECK(bn_op_forward_train(&op, x, gm, bt, y, sm, sv, NULL, NULL) == YOLOC_ERR_INVALID);
    bn_op_free(&op);
}

/* ------------------------------------------------------------------------ */
/* BN reference backward against finite differences (x, gamma, beta). */
typedef struct {
    bn_desc d;
    float *x, *gamma, *beta, *y, *r, sm[8], sv[8];
} bn_gc;

static double bn_gc_loss(void *p) {
    bn_gc *c = p;
    bn_ref_forward_train(&c->d, c->x, c->gamma, c->beta, c->y, c->sm, c->sv, NULL, NULL);
    return gc_project(c->y, c->r, (size_t)c->d.n * c->d.h * c->d.w * c->d.c);
}

static void test_bn_gradcheck(void) {
    bn_gc c = {.d = {2, 3, 2, 3, 1e-3f, 0.03f}};
    const size_t n = 36, k = 3;
    rng g;
    rng_seed(&g, 5);
    float x[36], gamma[3], beta[3], y[36], r[36], dx[36], dg[3] = {0}, db[3] = {0};
    gc_fill(&g, x, n, -2, 2);
    gc_fill(&g, gamma, k, 0.5, 1.5);
    gc_fill(&g, beta, k, -1, 1);
    gc_fill(&g, r, n, -1, 1);
    c.x = x, c.gamma = gamma, c.beta = beta, c.y = y, c.r = r;
    bn_gc_loss(&c);
    bn_ref_backward(&c.d, x, gamma, c.sm, c.sv, r, dx, 0.0f, dg, db);
    gradcheck("bn_ref dx", x, n, dx, bn_gc_loss, &c, 1e-2, 2e-3, 2e-4, n);
    gradcheck("bn_ref dgamma", gamma, k, dg, bn_gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
    gradcheck("bn_ref dbeta", beta, k, db, bn_gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
}

/* ------------------------------------------------------------------------ */
/* GN by hand: c=4 in 2 groups of 2 channels, h=1, w=2, so 4 values per
 * (image, group).
 *   image 0, group 0 (channels 0,1): 1, 2, 3, 6       mean 3,  sum sq dev 14   -> var 3.5
 *   image 0, group 1 (channels 2,3): 10, 20, 30, -20  mean 10, sum sq dev 1400 -> var 350
 *   image 1 = 2 * image 0 + 1: means 7 and 21, variances 14 and 1400. */
static void test_gn_hand(void) {
    const gn_desc d = {2, 1, 2, 4, 2, 1e-5f};
    float x[16] = {1, 2, 10, 20, 3, 6, 30, -20};
    for (int i = 0; i < 8; i++) x[8 + i] = 2 * x[i] + 1;
    const float gamma[4] = {1, 2, 0.5f, -1}, beta[4] = {0, 0.5f, 1, -1};
    const double mean[4] = {3, 10, 7, 21}, var[4] = {3.5, 350, 14, 1400}; /* [image][group] */
    for (int be = 0; be < 2; be++) {
        gn_op op;
        CHECK(gn_op_init(&op, backend_list()[be], &d) == YOLOC_OK);
        float y[16], sm[4], sr[4];
        CHECK(gn_op_forward(&op, x, gamma, beta, y, sm, sr) == YOLOC_OK);
        for (int i = 0; i < 2; i++)
            for (int p = 0; p < 2; p++)
                for (int k = 0; k < 4; k++) {
                    int o = (i * 2 + p) * 4 + k, gi = i * 2 + k / 2;
                    double want = (x[o] - mean[gi]) / sqrt(var[gi] + 1e-5) * gamma[k] + beta[k];
                    CHECK_NEAR(y[o], want, 1e-5);
                }
        for (int gi = 0; gi < 4; gi++) {
            CHECK_NEAR(sm[gi], mean[gi], 1e-5);
            CHECK_NEAR(sr[gi], 1 / sqrt(var[gi] + 1e-5), 1e-6);
        }
        /* dy = 1: dbeta[k] += 4 (2 images x 2 pixels), dgamma[k] += sum of
         * xhat over the channel; dx = rstd*(gamma - mean_group(gamma) - 0)
         * since sum(gamma*xhat) over a group = gamma_a*sum_a xhat + gamma_b*sum_b xhat. */
        float dy[16], dx[16], dg[4] = {0}, db[4] = {0};
        for (int i = 0; i < 16; i++) dy[i] = 1;
        CHECK(gn_op_backward(&op, x, gamma, sm, sr, dy, dx, 0.0f, dg, db) == YOLOC_OK);
        for (int k = 0; k < 4; k++) {
            double sx = 0;
            for (int i = 0; i < 2; i++)
                for (int p = 0; p < 2; p++) {
                    int gi = i * 2 + k / 2;
                    sx += (x[(i * 2 + p) * 4 + k] - mean[gi]) / sqrt(var[gi] + 1e-5);
                }
            CHECK_NEAR(db[k], 4.0, 1e-6);
            CHECK_NEAR(dg[k], sx, 1e-5);
        }
        /* Group 0 of image 0 holds xhat (-2,-1,0,3)/s, channels 0,1 with
         * gamma 1,2: mean(gamma*dy) = 1.5, mean(gamma*xhat) =
         * (1*(-2+0) + 2*(-1+3))/(4s) = 0.5/s, so
         * dx = rstd*(gamma - 1.5 - xhat*0.5/s) with s = sqrt(3.5+eps). */
        {
            const double s = sqrt(3.5 + 1e-5), rs = 1 / s;
            const double xh[4] = {-2 / s, -1 / s, 0, 3 / s}; /* p0c0, p0c1, p1c0, p1c1 */
            const int idx[4] = {0, 1, 4, 5};
            for (int j = 0; j < 4; j++) {
                double gm = gamma[idx[j] % 4];
                CHECK_NEAR(dx[idx[j]], rs * (gm - 1.5 - xh[j] * 0.5 / s), 1e-5);
            }
        }
    }
    gn_op op;
    const gn_desc bad = {1, 2, 2, 6, 4, 1e-5f};
    CHECK(gn_op_init(&op, &OPS_BACKEND_CPU, &bad) == YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "groups=4");
}

/* ------------------------------------------------------------------------ */
/* GN: fast == reference. */
static void test_gn_fast_vs_ref(void) {
    static const int shapes[][5] = {{1, 7, 5, 4, 2},   {16, 13, 13, 8, 4}, {2, 13, 13, 32, 32},
                                    {3, 7, 5, 12, 1},  {1, 1, 1, 6, 3},    {4, 20, 20, 64, 32},
                                    {2, 9, 11, 36, 4}, {1, 5, 3, 130, 2},  {16, 7, 5, 1, 1}};
    rng g;
    rng_seed(&g, 12);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        gn_desc d = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4], 1e-5f};
        const size_t c = (size_t)d.c, n = (size_t)d.n * d.h * d.w * c;
        const size_t ng = (size_t)d.n * d.groups;
        char name[96], shp[48];
        snprintf(shp, sizeof shp, "%dx%dx%dx%d g%d", d.n, d.h, d.w, d.c, d.groups);
        float *x = alloc_f(n), *dy = alloc_f(n), *y0 = alloc_f(n), *y1 = alloc_f(n);
        float *dx0 = alloc_f(n), *dx1 = alloc_f(n), *gamma = alloc_f(c), *beta = alloc_f(c);
        float *sm0 = alloc_f(ng), *sr0 = alloc_f(ng), *sm1 = alloc_f(ng), *sr1 = alloc_f(ng);
        float *dg0 = alloc_f(c), *db0 = alloc_f(c), *dg1 = alloc_f(c), *db1 = alloc_f(c);
        for (size_t i = 0; i < n; i++) x[i] = (float)(-1.0 + 3.0 * rng_normal(&g));
        gc_fill(&g, dy, n, -1, 1);
        gc_fill(&g, gamma, c, 0.5, 1.5);
        gc_fill(&g, beta, c, -0.5, 0.5);
        gn_op ref, cpu;
        CHECK(gn_op_init(&ref, &OPS_BACKEND_REF, &d) == YOLOC_OK);
        CHECK(gn_op_init(&cpu, &OPS_BACKEND_CPU, &d) == YOLOC_OK);
        CHECK(gn_op_forward(&ref, x, gamma, beta, y0, sm0, sr0) == YOLOC_OK);
        CHECK(gn_op_forward(&cpu, x, gamma, beta, y1, sm1, sr1) == YOLOC_OK);
        snprintf(name, sizeof name, "gn y %s", shp);
        test_allclose(name, y1, y0, n, 1e-4, 1e-4);
        snprintf(name, sizeof name, "gn mean %s", shp);
        test_allclose(name, sm1, sm0, ng, 1e-4, 1e-5);
        snprintf(name, sizeof name, "gn rstd %s", shp);
        test_allclose(name, sr1, sr0, ng, 1e-4, 1e-5);

        for (size_t i = 0; i < n; i++) dx0[i] = dx1[i] = NAN;
        for (size_t k = 0; k < c; k++) {
            dg0[k] = dg1[k] = 0.5f;
            db0[k] = db1[k] = -0.125f * (float)k;
        }
        CHECK(gn_op_backward(&ref, x, gamma, sm0, sr0, dy, dx0, 0.0f, dg0, db0) == YOLOC_OK);
        CHECK(gn_op_backward(&cpu, x, gamma, sm0, sr0, dy, dx1, 0.0f, dg1, db1) == YOLOC_OK);
        snprintf(name, sizeof name, "gn dx beta0 %s", shp);
        test_allclose(name, dx1, dx0, n, 1e-4, 1e-5);
        snprintf(name, sizeof name, "gn dgamma += %s", shp);
        test_allclose(name, dg1, dg0, c, 1e-4, 1e-4);
        snprintf(name, sizeof name, "gn dbeta += %s", shp);
        test_allclose(name, db1, db0, c, 1e-4, 1e-4);

        gc_fill(&g, dx0, n, -1, 1);
        memcpy(dx1, dx0, n * sizeof(float));
        CHECK(gn_op_backward(&ref, x, gamma, sm0, sr0, dy, dx0, 1.0f, NULL, NULL) == YOLOC_OK);
        CHECK(gn_op_backward(&cpu, x, gamma, sm0, sr0, dy, dx1, 1.0f, NULL, NULL) == YOLOC_OK);
        snprintf(name, sizeof name, "gn dx beta1 %s", shp);
        test_allclose(name, dx1, dx0, n, 1e-4, 1e-5);

        CHECK(gn_op_backward(&ref, x, gamma, sm0, sr0, dy, NULL, 0.0f, dg0, NULL) == YOLOC_OK);
        CHECK(gn_op_backward(&cpu, x, gamma, sm0, sr0, dy, NULL, 0.0f, dg1, NULL) == YOLOC_OK);
        snprintf(name, sizeof name, "gn dgamma twice %s", shp);
        test_allclose(name, dg1, dg0, c, 1e-4, 1e-4);

        free(x), free(dy), free(y0), free(y1), free(dx0), free(dx1), free(gamma), free(beta);
        free(sm0), free(sr0), free(sm1), free(sr1), free(dg0), free(db0), free(dg1), free(db1);
    }
}

/* ------------------------------------------------------------------------ */
/* GN reference backward against finite differences. */
typedef struct {
    gn_desc d;
    float *x, *gamma, *beta, *y, *r, sm[16], sr[16];
} gn_gc;

static double gn_gc_loss(void *p) {
    gn_gc *c = p;
    gn_ref_forward(&c->d, c->x, c->gamma, c->beta, c->y, c->sm, c->sr);
    return gc_project(c->y, c->r, (size_t)c->d.n * c->d.h * c->d.w * c->d.c);
}

static void test_gn_gradcheck(void) {
    gn_gc c = {.d = {2, 3, 2, 6, 3, 1e-5f}};
    const size_t n = 72, k = 6;
    rng g;
    rng_seed(&g, 6);
    float x[72], gamma[6], beta[6], y[72], r[72], dx[72], dg[6] = {0}, db[6] = {0};
    gc_fill(&g, x, n, -2, 2);
    gc_fill(&g, gamma, k, 0.5, 1.5);
    gc_fill(&g, beta, k, -1, 1);
    gc_fill(&g, r, n, -1, 1);
    c.x = x, c.gamma = gamma, c.beta = beta, c.y = y, c.r = r;
    gn_gc_loss(&c);
    gn_ref_backward(&c.d, x, gamma, c.sm, c.sr, r, dx, 0.0f, dg, db);
    gradcheck("gn_ref dx", x, n, dx, gn_gc_loss, &c, 1e-2, 2e-3, 2e-4, n);
    gradcheck("gn_ref dgamma", gamma, k, dg, gn_gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
    gradcheck("gn_ref dbeta", beta, k, db, gn_gc_loss, &c, 1e-2, 2e-3, 2e-4, k);
}

int main(void) {
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "cpu_ctx_create: %s\n", yoloc_last_error());
        return 1;
    }
    test_bn_hand(ctx);
    test_bn_fast_vs_ref(ctx);
    test_bn_gradcheck();
    test_gn_hand();
    test_gn_fast_vs_ref();
    test_gn_gradcheck();
    cpu_ctx_free(ctx);
    return test_finish("test_norm");
}
