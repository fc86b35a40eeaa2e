/* conv2d tests:
 *   1. hand-computed tiny cases (values derived in the comments), both
 *      backends, forward and backward;
 *   2. oneDNN == reference on a table of shapes (kernel 1/3/5/6, stride 1/2,
 *      padding 0, k/2 and more, dilation, odd sizes, 1 and 3 input channels,
 *      groups incl. depthwise, with/without bias, batch 1/2/16): forward,
 *      forward determinism (two runs bit-identical), dx with beta 0 (over
 *      NaN garbage) and beta 1, dw and db accumulated onto non-zero values,
 *      and partial requests (NULL gradients);
 *   3. finite-difference gradient check of the reference backward (x, w, b);
 *   4. an inference plan refuses backward;
 *   5. conv2d_desc_check refuses bad descriptors with a message.
 * YOLOC_TEST_VERBOSE=1 prints one line per compared tensor. */
#include "core/rng.h"
#include "ops/backend.h"
#include "gradcheck.h"
#include "harness.h"
#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int verbose(void) {
    return getenv("YOLOC_TEST_VERBOSE") != NULL;
}

static size_t conv_nx(const conv2d_desc *d) {
    return (size_t)d->n * d->h * d->w * d->ci;
}
static size_t conv_ny(const conv2d_desc *d) {
    return (size_t)d->n * conv2d_out_h(d) * conv2d_out_w(d) * d->co;
}
static size_t conv_nw(const conv2d_desc *d) {
    return (size_t)d->co * (d->ci / d->groups) * d->kh * d->kw;
}

static conv2d_desc conv_make(int n, int h, int w, int ci, int co, int k, int s, int p, int dil,
                             int groups, int bias) {
    conv2d_desc d = {.n = n,
                     .h = h,
                     .w = w,
                     .ci = ci,
                     .co = co,
                     .kh = k,
                     .kw = k,
                     .sh = s,
                     .sw = s,
                     .ph = p,
                     .pw = p,
                     .dh = dil,
                     .dw = dil,
                     .groups = groups,
                     .bias = bias};
    return d;
}

static float *conv_alloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* 1. Hand-computed cases. */

/* Runs one backend on a small case; y, dx (beta 0), dw and db (from zero)
 * out. dy is all ones. */
static void conv_run_backend(cpu_ctx *ctx, backend be, const conv2d_desc *d, const float *x,
                             const float *w, const float *b, float *y, float *dx, float *dw,
                             float *db) {
    conv2d_op op;
    status st = conv2d_op_init(&op, ctx, be, d, 1);
    CHECK_MSG(st == YOLOC_OK, "conv2d_op_init: %s", yoloc_last_error());
    if (st != YOLOC_OK) return;
    size_t ny = conv_ny(d);
    float *dy = conv_alloc(ny);
    for (size_t i = 0; i < ny; i++) dy[i] = 1.0f;
    memset(dw, 0, conv_nw(d) * sizeof *dw);
    if (db) memset(db, 0, (size_t)d->co * sizeof *db);
    CHECK(conv2d_op_forward(&op, x, w, b, y) == YOLOC_OK);
    CHECK(conv2d_op_backward(&op, x, w, dy, dx, 0.0f, dw, db) == YOLOC_OK);
    free(dy);
    conv2d_op_free(&op);
}

static void test_hand(cpu_ctx *ctx) {
    /* x: 1x3x3x1 = 1..9 (row-major), w: 1x1x2x2 = [[1,2],[3,4]], b = 0.5. */
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float w[4] = {1, 2, 3, 4};
    const float b[1] = {0.5f};
    for (int be = 0; be < 2; be++) {
        const char *bn = be ? "cpu" : "ref";
        char name[64];
        float y[4], dx[9], dw[4], db[1];

        /* Stride 1, no padding: 2x2 output.
         * y00 = 1*1+2*2+4*3+5*4 = 37, y01 = 2+6+15+24 = 47,
         * y10 = 4+10+21+32 = 67, y11 = 5+12+24+36 = 77, each + 0.5.
         * dy = 1: dx[i] = sum of the taps that touch pixel i:
         *   [[1, 1+2, 2], [1+3, 1+2+3+4, 2+4], [3, 3+4, 4]];
         * dw[ky][kx] = sum of the 2x2 window of x starting at (ky, kx):
         *   1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28; db = 4. */
        conv2d_desc d = conv_make(1, 3, 3, 1, 1, 2, 1, 0, 1, 1, 1);
        CHECK_EQ_INT(conv2d_out_h(&d), 2);
        CHECK_EQ_INT(conv2d_out_w(&d), 2);
        conv_run_backend(ctx, backend_list()[be], &d, x, w, b, y, dx, dw, db);
        const float y_e[4] = {37.5f, 47.5f, 67.5f, 77.5f};
        const float dx_e[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
        const float dw_e[4] = {12, 16, 24, 28};
        snprintf(name, sizeof name, "hand s1 p0 y (%s)", bn);
        test_allclose(name, y, y_e, 4, 0, 1e-5);
        snprintf(name, sizeof name, "hand s1 p0 dx (%s)", bn);
        test_allclose(name, dx, dx_e, 9, 0, 1e-5);
        snprintf(name, sizeof name, "hand s1 p0 dw (%s)", bn);
        test_allclose(name, dw, dw_e, 4, 0, 1e-5);
        CHECK_NEAR(db[0], 4.0, 1e-6);

        /* Stride 2, padding 1, no bias: output (3+2-2)/2+1 = 2 per side.
         * y00 sees rows/cols {-1,0}: only x(0,0)*w11 = 1*4 = 4;
         * y01 rows {-1,0} cols {1,2}: x(0,1)*w10 + x(0,2)*w11 = 2*3+3*4 = 18;
         * y10 rows {1,2} cols {-1,0}: x(1,0)*w01 + x(2,0)*w11 = 4*2+7*4 = 36;
         * y11 rows {1,2} cols {1,2}: 5*1+6*2+8*3+9*4 = 77.
         * Each input pixel is touched by exactly one tap: dx(0,0) = w11 = 4,
         * dx(0,1) = w10 = 3, dx(0,2) = w11 = 4, dx(1,0) = w01 = 2,
         * dx(1,1) = w00 = 1, dx(1,2) = w01 = 2, dx(2,0) = 4, dx(2,1) = 3,
         * dx(2,2) = 4. dw00 = x(1,1) = 5, dw01 = x(1,0)+x(1,2) = 10,
         * dw10 = x(0,1)+x(2,1) = 10, dw11 = 1+3+7+9 = 20. */
        d = conv_make(1, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0);
        conv_run_backend(ctx, backend_list()[be], &d, x, w, NULL, y, dx, dw, NULL);
        const float y2_e[4] = {4, 18, 36, 77};
        const float dx2_e[9] = {4, 3, 4, 2, 1, 2, 4, 3, 4};
        const float dw2_e[4] = {5, 10, 10, 20};
        snprintf(name, sizeof name, "hand s2 p1 y (%s)", bn);
        test_allclose(name, y, y2_e, 4, 0, 1e-5);
        snprintf(name, sizeof name, "hand s2 p1 dx (%s)", bn);
        test_allclose(name, dx, dx2_e, 9, 0, 1e-5);
        snprintf(name, sizeof name, "hand s2 p1 dw (%s)", bn);
        test_allclose(name, dw, dw2_e, 4, 0, 1e-5);

        /* Dilation 2: the 2x2 kernel spans 3x3, one output:
         * 1*1 + 3*2 + 7*3 + 9*4 = 64 (+0.5). dx = w on the corners, 0
         * elsewhere; dw = the corners of x. */
        d = conv_make(1, 3, 3, 1, 1, 2, 1, 0, 2, 1, 1);
        conv_run_backend(ctx, backend_list()[be], &d, x, w, b, y, dx, dw, db);
        const float dx3_e[9] = {1, 0, 2, 0, 0, 0, 3, 0, 4};
        const float dw3_e[4] = {1, 3, 7, 9};
        CHECK_NEAR(y[0], 64.5, 1e-5);
        snprintf(name, sizeof name, "hand dilation dx (%s)", bn);
        test_allclose(name, dx, dx3_e, 9, 0, 1e-5);
        snprintf(name, sizeof name, "hand dilation dw (%s)", bn);
        test_allclose(name, dw, dw3_e, 4, 0, 1e-5);
        CHECK_NEAR(db[0], 1.0, 1e-6);

        /* Two channels, 1x1 kernel, groups 2 (each output channel sees only
         * its own input channel), 1x2 image of pixels (1,2) and (3,4),
         * w = [10, 100], b = [1, -1]: y = (11, 199), (31, 399). */
        const float xg[4] = {1, 2, 3, 4}, wg[2] = {10, 100}, bg[2] = {1, -1};
        float yg[4], dxg[4], dwg[2], dbg[2];
        d = conv_make(1, 1, 2, 2, 2, 1, 1, 0, 1, 2, 1);
        conv_run_backend(ctx, backend_list()[be], &d, xg, wg, bg, yg, dxg, dwg, dbg);
        const float yg_e[4] = {11, 199, 31, 399}, dxg_e[4] = {10, 100, 10, 100};
        const float dwg_e[2] = {4, 6}, dbg_e[2] = {2, 2};
        snprintf(name, sizeof name, "hand groups y (%s)", bn);
        test_allclose(name, yg, yg_e, 4, 0, 1e-5);
        snprintf(name, sizeof name, "hand groups dx (%s)", bn);
        test_allclose(name, dxg, dxg_e, 4, 0, 1e-5);
        snprintf(name, sizeof name, "hand groups dw (%s)", bn);
        test_allclose(name, dwg, dwg_e, 2, 0, 1e-5);
        snprintf(name, sizeof name, "hand groups db (%s)", bn);
        test_allclose(name, dbg, dbg_e, 2, 0, 1e-5);
    }
}

/* ------------------------------------------------------------------------ */
/* 2. oneDNN against the reference. */

typedef struct {
    const char *name;
    int n, h, w, ci, co, k, s, p, dil, groups, bias;
} conv_case;

static const conv_case cases[] = {
    {"1x1 7x5 8->16", 2, 7, 5, 8, 16, 1, 1, 0, 1, 1, 1},
    {"1x1 s2 8x6 16->8 nobias", 1, 8, 6, 16, 8, 1, 2, 0, 1, 1, 0},
    {"1x1 p1 (padding > k/2)", 1, 5, 5, 8, 8, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 p1 13x13 16->16", 2, 13, 13, 16, 16, 3, 1, 1, 1, 1, 0},
    {"3x3 s2 p1 13x13 16->32", 2, 13, 13, 16, 32, 3, 2, 1, 1, 1, 1},
    {"3x3 s1 p0 7x5 8->8", 1, 7, 5, 8, 8, 3, 1, 0, 1, 1, 1},
    {"3x3 s2 p0 8x8 (floor)", 1, 8, 8, 8, 16, 3, 2, 0, 1, 1, 1},
    {"3x3 s2 p2 9x7", 1, 9, 7, 8, 8, 3, 2, 2, 1, 1, 0},
    {"3x3 ci1 9x9 1->8", 2, 9, 9, 1, 8, 3, 1, 1, 1, 1, 1},
    {"3x3 s2 ci3 17x17 3->16 (first)", 2, 17, 17, 3, 16, 3, 2, 1, 1, 1, 0},
    {"3x3 odd channels 24->40", 1, 9, 11, 24, 40, 3, 1, 1, 1, 1, 1},
    {"3x3 dil2 p2 11x9", 1, 11, 9, 8, 8, 3, 1, 2, 2, 1, 1},
    {"5x5 s1 p2 9x9 8->8", 1, 9, 9, 8, 8, 5, 1, 2, 1, 1, 1},
    {"5x5 s2 p0 13x11", 1, 13, 11, 4, 8, 5, 2, 0, 1, 1, 0},
    {"6x6 s2 p2 16x16 3->16 (v5 first)", 2, 16, 16, 3, 16, 6, 2, 2, 1, 1, 1},
    {"6x6 s1 p3 7x7", 1, 7, 7, 4, 4, 6, 1, 3, 1, 1, 0},
    {"groups2 3x3 8->12", 1, 9, 7, 8, 12, 3, 1, 1, 1, 2, 1},
    {"groups4 1x1 8->16", 2, 5, 5, 8, 16, 1, 1, 0, 1, 4, 0},
    {"depthwise 3x3 s1 16", 2, 9, 9, 16, 16, 3, 1, 1, 1, 16, 1},
    {"depthwise 3x3 s2 8", 1, 13, 13, 8, 8, 3, 2, 1, 1, 8, 0},
    {"depthwise 5x5 s1 8", 1, 9, 7, 8, 8, 5, 1, 2, 1, 8, 1},
    {"depthwise x2 3x3 8->16", 1, 7, 7, 8, 16, 3, 1, 1, 1, 8, 1},
    {"batch16 3x3 8x8 16->16", 16, 8, 8, 16, 16, 3, 1, 1, 1, 1, 1},
    {"batch16 3x3 s2 3->16", 16, 16, 16, 3, 16, 3, 2, 1, 1, 1, 0},
    {"batch16 1x1 64->32", 16, 5, 5, 64, 32, 1, 1, 0, 1, 1, 1},
    {"3x3 s1 64->64 6x6", 1, 6, 6, 64, 64, 3, 1, 1, 1, 1, 0},
};

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* Compares with rtol 1e-4 and an atol of 1e-5 relative to the largest
 * reference value: both sides sum in float in different orders, so
 * cancellation leaves absolute errors of a few ulp of the largest terms. */
static void conv_compare(const char *shape, const char *what, const float *got, const float *want,
                         size_t n) {
    char name[160];
    snprintf(name, sizeof name, "%s: %s", shape, what);
    double scale = max_abs(want, n);
    test_allclose(name, got, want, n, 1e-4, 1e-5 * (scale > 1 ? scale : 1));
}

static void fill(rng *g, float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (float)rng_range(g, -1.0, 1.0);
}

/* bf16: the oneDNN bf16 plan against the reference's bf16 (the fp32 sums
 * of the same rounded operands: products of two bf16 values are exact in
 * float, so only the order of the sums differs and the fp32 tolerances
 * hold), and against the fp32 reference with bf16's tolerance. */
static void test_case_vs_ref(cpu_ctx *ctx, const conv_case *c, uint64_t seed, int bf16) {
    conv2d_desc d =
        conv_make(c->n, c->h, c->w, c->ci, c->co, c->k, c->s, c->p, c->dil, c->groups, c->bias);
    d.bf16 = bf16;
    char label[96];
    snprintf(label, sizeof label, "%s%s", c->name, bf16 ? " [bf16]" : "");
    status st = conv2d_desc_check(&d);
    CHECK_MSG(st == YOLOC_OK, "%s: %s", label, yoloc_last_error());
    if (st != YOLOC_OK) return;
    const size_t nx = conv_nx(&d), ny = conv_ny(&d), nw = conv_nw(&d), nb = (size_t)d.co;
    float *x = conv_alloc(nx), *w = conv_alloc(nw), *b = conv_alloc(nb), *dy = conv_alloc(ny);
    float *y_ref = conv_alloc(ny), *y_cpu = conv_alloc(ny), *y_cpu2 = conv_alloc(ny);
    float *dx_ref = conv_alloc(nx), *dx_cpu = conv_alloc(nx), *dx0 = conv_alloc(nx);
    float *dw_ref = conv_alloc(nw), *dw_cpu = conv_alloc(nw), *dw0 = conv_alloc(nw);
    float *db_ref = conv_alloc(nb), *db_cpu = conv_alloc(nb), *db0 = conv_alloc(nb);
    rng g;
    rng_seed_keys(&g, seed, 1, 0, 0);
    fill(&g, x, nx);
    fill(&g, w, nw);
    fill(&g, b, nb);
    fill(&g, dy, ny);
    fill(&g, dx0, nx);
    fill(&g, dw0, nw);
    fill(&g, db0, nb);

    conv2d_cpu *p = NULL;
    st = conv2d_cpu_create(&p, ctx, &d, 1);
    CHECK_MSG(st == YOLOC_OK, "%s: conv2d_cpu_create: %s", label, yoloc_last_error());
    if (st != YOLOC_OK) goto done;
    if (verbose()) printf("%s\n", label);

    /* Forward, and determinism: a second run gives the same bits. */
    const float *bp = d.bias ? b : NULL;
    conv2d_ref_forward(&d, x, w, bp, y_ref);
    CHECK(conv2d_cpu_forward(p, x, w, bp, y_cpu) == YOLOC_OK);
    conv_compare(label, "y", y_cpu, y_ref, ny);
    if (bf16) { /* against fp32: relative error of bf16 operands, 2^-8 each */
        conv2d_desc d32 = d;
        d32.bf16 = 0;
        conv2d_ref_forward(&d32, x, w, bp, y_cpu2);
        char name[160];
        snprintf(name, sizeof name, "%s: y against fp32", label);
        double scale = max_abs(y_cpu2, ny);
        test_allclose(name, y_cpu, y_cpu2, ny, 2e-2, 1e-2 * (scale > 1 ? scale : 1));
    }
    CHECK(conv2d_cpu_forward(p, x, w, bp, y_cpu2) == YOLOC_OK);
    CHECK_MSG(memcmp(y_cpu, y_cpu2, ny * sizeof *y_cpu) == 0, "%s: two forward runs differ",
              label);

    /* New weights in the same array (as after an optimizer step) must be
     * picked up: the plan reorders them at every call, never caches them. */
    float *w_keep = conv_alloc(nw);
    memcpy(w_keep, w, nw * sizeof *w);
    fill(&g, w, nw);
    conv2d_ref_forward(&d, x, w, bp, y_ref);
    CHECK(conv2d_cpu_forward(p, x, w, bp, y_cpu2) == YOLOC_OK);
    conv_compare(label, "y (weights changed in place)", y_cpu2, y_ref, ny);
    memcpy(w, w_keep, nw * sizeof *w);
    free(w_keep);

    /* dx with beta 0 over NaN garbage, dw and db accumulated onto dw0, db0. */
    for (size_t i = 0; i < nx; i++) dx_ref[i] = dx_cpu[i] = NAN;
    memcpy(dw_ref, dw0, nw * sizeof *dw0);
    memcpy(dw_cpu, dw0, nw * sizeof *dw0);
    memcpy(db_ref, db0, nb * sizeof *db0);
    memcpy(db_cpu, db0, nb * sizeof *db0);
    conv2d_ref_backward(&d, x, w, dy, dx_ref, 0.0f, dw_ref, db_ref);
    CHECK(conv2d_cpu_backward(p, x, w, dy, dx_cpu, 0.0f, dw_cpu, db_cpu) == YOLOC_OK);
    conv_compare(label, "dx (beta 0)", dx_cpu, dx_ref, nx);
    conv_compare(label, "dw (+=)", dw_cpu, dw_ref, nw);
    if (d.bias) conv_compare(label, "db (+=)", db_cpu, db_ref, nb);

    /* dx with beta 1 onto dx0; parameter gradients not requested. */
    memcpy(dx_ref, dx0, nx * sizeof *dx0);
    memcpy(dx_cpu, dx0, nx * sizeof *dx0);
    conv2d_ref_backward(&d, x, w, dy, dx_ref, 1.0f, NULL, NULL);
    CHECK(conv2d_cpu_backward(p, x, w, dy, dx_cpu, 1.0f, NULL, NULL) == YOLOC_OK);
    conv_compare(label, "dx (beta 1)", dx_cpu, dx_ref, nx);

    /* dw alone (dx NULL), then db alone (x and dw NULL): accumulate again
     * onto the previous results, which must stay as they were otherwise. */
    conv2d_ref_backward(&d, x, NULL, dy, NULL, 0.0f, dw_ref, NULL);
    CHECK(conv2d_cpu_backward(p, x, NULL, dy, NULL, 0.0f, dw_cpu, NULL) == YOLOC_OK);
    conv_compare(label, "dw (second +=)", dw_cpu, dw_ref, nw);
    if (d.bias) {
        conv2d_ref_backward(&d, NULL, NULL, dy, NULL, 0.0f, NULL, db_ref);
        CHECK(conv2d_cpu_backward(p, NULL, NULL, dy, NULL, 0.0f, NULL, db_cpu) == YOLOC_OK);
        conv_compare(label, "db (second +=)", db_cpu, db_ref, nb);
    }

    /* The dispatcher sends &OPS_BACKEND_CPU to the same plan type. */
    conv2d_op op;
    st = conv2d_op_init(&op, ctx, &OPS_BACKEND_CPU, &d, 0);
    CHECK_MSG(st == YOLOC_OK, "%s: conv2d_op_init: %s", label, yoloc_last_error());
    if (st == YOLOC_OK) {
        CHECK(conv2d_op_forward(&op, x, w, bp, y_cpu2) == YOLOC_OK);
        CHECK_MSG(memcmp(y_cpu, y_cpu2, ny * sizeof *y_cpu) == 0,
                  "%s: inference plan differs from training plan", label);
        conv2d_op_free(&op);
    }

done:
    conv2d_cpu_free(p);
    free(x), free(w), free(b), free(dy), free(y_ref), free(y_cpu), free(y_cpu2);
    free(dx_ref), free(dx_cpu), free(dx0), free(dw_ref), free(dw_cpu), free(dw0);
    free(db_ref), free(db_cpu), free(db0);
}

/* ------------------------------------------------------------------------ */
/* 3. Finite differences on the reference backward. */

typedef struct {
    conv2d_desc d;
    float *x, *w, *b, *y, *r;
} gc_conv;

static double gc_conv_loss(void *vctx) {
    gc_conv *c = vctx;
    conv2d_ref_forward(&c->d, c->x, c->w, c->d.bias ? c->b : NULL, c->y);
    return gc_project(c->y, c->r, conv_ny(&c->d));
}

static void test_gradcheck(void) {
    const conv_case gcases[] = {
        {"gc 3x3 s2 p1 7x5 3->4", 2, 7, 5, 3, 4, 3, 2, 1, 1, 1, 1},
        {"gc 3x3 groups2 s1 5x6 4->6", 1, 5, 6, 4, 6, 3, 1, 1, 1, 2, 1},
        {"gc depthwise 3x3 s2 7x7", 1, 7, 7, 4, 4, 3, 2, 1, 1, 4, 0},
        {"gc 5x5 dil2 p3 9x8 2->3", 1, 9, 8, 2, 3, 5, 1, 3, 2, 1, 1},
        {"gc 1x1 s2 6x5 5->3", 2, 6, 5, 5, 3, 1, 2, 0, 1, 1, 1},
        {"gc 6x6 s2 p2 10x9 1->2", 1, 10, 9, 1, 2, 6, 2, 2, 1, 1, 1},
    };
    for (size_t k = 0; k < sizeof gcases / sizeof gcases[0]; k++) {
        const conv_case *cc = &gcases[k];
        gc_conv c = {.d = conv_make(cc->n, cc->h, cc->w, cc->ci, cc->co, cc->k, cc->s, cc->p,
                                    cc->dil, cc->groups, cc->bias)};
        CHECK_MSG(conv2d_desc_check(&c.d) == YOLOC_OK, "%s: %s", cc->name, yoloc_last_error());
        const size_t nx = conv_nx(&c.d), ny = conv_ny(&c.d), nw = conv_nw(&c.d);
        const size_t nb = (size_t)c.d.co;
        c.x = conv_alloc(nx), c.w = conv_alloc(nw), c.b = conv_alloc(nb);
        c.y = conv_alloc(ny), c.r = conv_alloc(ny);
        float *dx = conv_alloc(nx), *dw = conv_alloc(nw), *db = conv_alloc(nb);
        rng g;
        rng_seed_keys(&g, 7, k, 0, 0);
        gc_fill(&g, c.x, nx, -1, 1);
        gc_fill(&g, c.w, nw, -1, 1);
        gc_fill(&g, c.b, nb, -1, 1);
        gc_fill(&g, c.r, ny, -1, 1);
        memset(dw, 0, nw * sizeof *dw);
        memset(db, 0, nb * sizeof *db);
        conv2d_ref_backward(&c.d, c.x, c.w, c.r, dx, 0.0f, dw, db);
        char name[128];
        /* The loss is linear in each input, so the central difference is
         * exact but for float rounding of y: eps 0.05 keeps that small. */
        snprintf(name, sizeof name, "%s dx", cc->name);
        gradcheck(name, c.x, nx, dx, gc_conv_loss, &c, 0.05, 1e-3, 1e-3, 64);
        snprintf(name, sizeof name, "%s dw", cc->name);
        gradcheck(name, c.w, nw, dw, gc_conv_loss, &c, 0.05, 1e-3, 1e-3, 64);
        if (c.d.bias) {
            snprintf(name, sizeof name, "%s db", cc->name);
            gradcheck(name, c.b, nb, db, gc_conv_loss, &c, 0.05, 1e-3, 1e-3, 64);
        }
        free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db);
    }
}

/* ------------------------------------------------------------------------ */
/* 4. An inference plan has no backward. */

static void test_inference_rejects_backward(cpu_ctx *ctx) {
    conv2d_desc d = conv_make(1, 5, 5, 4, 4, 3, 1, 1, 1, 1, 1);
    float x[100], w[144], b[4], y[100], dy[100], dx[100], dw[144], db[4];
    memset(x, 0, sizeof x), memset(w, 0, sizeof w), memset(b, 0, sizeof b);
    memset(dy, 0, sizeof dy), memset(dw, 0, sizeof dw), memset(db, 0, sizeof db);
    conv2d_cpu *p = NULL;
    status st = conv2d_cpu_create(&p, ctx, &d, 0);
    CHECK_MSG(st == YOLOC_OK, "conv2d_cpu_create: %s", yoloc_last_error());
    if (st != YOLOC_OK) return;
    CHECK(conv2d_cpu_forward(p, x, w, b, y) == YOLOC_OK);
    err_clear();
    CHECK_EQ_INT(conv2d_cpu_backward(p, x, w, dy, dx, 0.0f, dw, db), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "inference");
    conv2d_cpu_free(p);

    conv2d_op op;
    st = conv2d_op_init(&op, ctx, &OPS_BACKEND_CPU, &d, 0);
    CHECK(st == YOLOC_OK);
    if (st == YOLOC_OK) {
        CHECK_EQ_INT(conv2d_op_backward(&op, x, w, dy, dx, 0.0f, dw, db), YOLOC_ERR_INVALID);
        conv2d_op_free(&op);
    }
}

/* ------------------------------------------------------------------------ */
/* 5. Descriptor validation, sizes and FLOPs. */

static void expect_bad(cpu_ctx *ctx, conv2d_desc d, const char *needle) {
    err_clear();
    CHECK_EQ_INT(conv2d_desc_check(&d), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), needle);
    conv2d_cpu *p = NULL;
    CHECK_EQ_INT(conv2d_cpu_create(&p, ctx, &d, 1), YOLOC_ERR_SHAPE);
    CHECK(p == NULL);
    conv2d_op op;
    CHECK_EQ_INT(conv2d_op_init(&op, ctx, &OPS_BACKEND_REF, &d, 1), YOLOC_ERR_SHAPE);
    if (verbose()) printf("  rejected: %s\n", yoloc_last_error());
}

static void test_desc_check(cpu_ctx *ctx) {
    const conv2d_desc good = conv_make(2, 8, 8, 4, 8, 3, 1, 1, 1, 1, 1);
    CHECK_EQ_INT(conv2d_desc_check(&good), YOLOC_OK);
    conv2d_desc d;
    d = good, d.n = 0;
    expect_bad(ctx, d, "n must be positive");
    d = good, d.h = -3;
    expect_bad(ctx, d, "h must be positive");
    d = good, d.ci = 0;
    expect_bad(ctx, d, "ci must be positive");
    d = good, d.co = 0;
    expect_bad(ctx, d, "co must be positive");
    d = good, d.kw = 0;
    expect_bad(ctx, d, "kw must be positive");
    d = good, d.sh = 0;
    expect_bad(ctx, d, "sh must be positive");
    d = good, d.dw = 0;
    expect_bad(ctx, d, "dw must be positive");
    d = good, d.groups = 0;
    expect_bad(ctx, d, "groups must be positive");
    d = good, d.pw = -1;
    expect_bad(ctx, d, "padding");
    d = good, d.bias = 2;
    expect_bad(ctx, d, "bias");
    d = good, d.groups = 3, d.ci = 4, d.co = 6;
    expect_bad(ctx, d, "does not divide input channels ci 4");
    d = good, d.groups = 2, d.ci = 4, d.co = 5;
    expect_bad(ctx, d, "does not divide output channels co 5");
    d = good, d.h = 2, d.kh = 5, d.ph = 1; /* 2 + 2 - 5 < 0 */
    expect_bad(ctx, d, "empty output");
    d = good, d.w = 3, d.kw = 2, d.dw = 3, d.pw = 0; /* dilated extent 4 > 3 */
    expect_bad(ctx, d, "empty output");

    /* Output sizes: floor((in + 2p - ((k-1)d + 1)) / s) + 1. */
    d = conv_make(1, 640, 640, 3, 16, 3, 2, 1, 1, 1, 0);
    CHECK_EQ_INT(conv2d_out_h(&d), 320);
    d = conv_make(1, 640, 640, 3, 16, 6, 2, 2, 1, 1, 0);
    CHECK_EQ_INT(conv2d_out_w(&d), 320);
    d = conv_make(1, 8, 7, 3, 16, 3, 2, 0, 1, 1, 0);
    CHECK_EQ_INT(conv2d_out_h(&d), 3);
    CHECK_EQ_INT(conv2d_out_w(&d), 3);
    d = conv_make(1, 9, 9, 3, 16, 3, 1, 2, 2, 1, 0);
    CHECK_EQ_INT(conv2d_out_h(&d), 9);
    /* FLOPs: 2 * n*oh*ow*co * (ci/g)*kh*kw. */
    d = conv_make(16, 80, 80, 64, 64, 3, 1, 1, 1, 1, 1);
    CHECK_NEAR(conv2d_flops(&d), 2.0 * 16 * 80 * 80 * 64 * 64 * 9, 1);
    d = conv_make(2, 8, 8, 16, 16, 3, 2, 1, 1, 16, 0);
    CHECK_NEAR(conv2d_flops(&d), 2.0 * 2 * 4 * 4 * 16 * 1 * 9, 1e-9);
}

int main(void) {
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "cpu_ctx_create: %s\n", yoloc_last_error());
        return 1;
    }
    test_hand(ctx);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_case_vs_ref(ctx, &cases[i], 1000 + i, 0);
    if (ops_bf16_support() == OPS_BF16_NONE) {
        printf("test_conv2d: bf16 cases skipped: oneDNN has no bf16 convolutions on this CPU (isa %s, no AVX-512)\n",
               ops_dnnl_isa());
    } else {
        printf("test_conv2d: bf16 cases on oneDNN isa %s (%s)\n", ops_dnnl_isa(),
               ops_bf16_support() == OPS_BF16_NATIVE ? "native bf16" : "emulated bf16");
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            test_case_vs_ref(ctx, &cases[i], 1000 + i, 1);
    }
    test_gradcheck();
    test_inference_rejects_backward(ctx);
    test_desc_check(ctx);
    cpu_ctx_free(ctx);
    return test_finish("test_conv2d");
}
