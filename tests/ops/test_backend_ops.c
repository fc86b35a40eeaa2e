/* Every op of every backend built in against the reference backend, forward
 * and backward, through the backend interface (ops/backend.h): inputs are
 * copied into the backend's buffers, results copied back. Shapes come from
 * the real models (yolov8n/yolov5n layers at a small input) plus odd sizes.
 * A new backend passes this before anything else.
 *
 * The test can fail: each backend is also run with one op broken on purpose
 * (a copy of its table whose op perturbs one output value by 1 % of the
 * tensor's largest magnitude), and every such run must be caught.
 *
 * Tolerances are relative to the largest magnitude of the reference result:
 * 1e-4 in fp32 (summation order differs), 2e-3 for bf16 convolutions (the
 * products are exact in fp32 on both sides; accumulation order differs over
 * long sums). */
#include "core/rng.h"
#include "core/tensor.h"
#include "gradcheck.h"
#include "backend_offhost.h"
#include "harness.h"
#include "ops/backend.h"
#include "ops/loss/v5loss.h"
#include "ops/loss/v8loss.h"
#include "ops/ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_OK(expr) CHECK_MSG((expr) == YOLOC_OK, "%s", yoloc_last_error())

#define TOL 1e-4
#define TOL_BF16 2e-3

static const ops_backend *REF;
static int g_expect_fail; /* 1: a broken table runs; mismatches are counted, not reported */
static int g_mismatches;

/* ------------------------------------------------------------------------ */
/* Host arrays and the backend's buffers. */

static float *hnew(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static float *hrand(rng *r, size_t n, double lo, double hi) {
    float *p = hnew(n);
    gc_fill(r, p, n, lo, hi);
    return p;
}

static float *hcopy(const float *a, size_t n) {
    float *p = hnew(n);
    memcpy(p, a, n * sizeof(float));
    return p;
}

typedef struct {
    backend be;
    void *ctx;
} bk;

/* A backend buffer holding a copy of host (or zeros when host is NULL). */
static float *dnew(const bk *b, const float *host, size_t n) {
    void *p = NULL;
    status st = b->be->buf_alloc(b->ctx, n * sizeof(float), &p);
    CHECK_MSG(st == YOLOC_OK && p, "%s buf_alloc: %s", b->be->name, yoloc_last_error());
    if (!p) exit(2);
    if (host) CHECK(b->be->copy_from_host(b->ctx, p, host, n * sizeof(float)) == YOLOC_OK);
    return p;
}

static float *dget(const bk *b, const float *dev, size_t n) {
    float *h = hnew(n);
    CHECK(b->be->sync(b->ctx) == YOLOC_OK);
    CHECK(b->be->copy_to_host(b->ctx, h, dev, n * sizeof(float)) == YOLOC_OK);
    return h;
}

static void dfree(const bk *b, void *p) { b->be->buf_free(b->ctx, p); }

/* Compares a backend result come back to the host with the reference. */
static void cmp_host(const bk *b, const char *op, const char *what, const char *cs, const float *got,
                     const float *want, size_t n, double tol) {
    double mx = 1e-6, err = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        double e = isfinite(got[i]) ? fabs((double)got[i] - want[i]) : INFINITY;
        if (!(e <= err)) err = e, at = i;
    }
    double rel = err / mx;
    if (!(rel <= tol)) {
        g_mismatches++;
        if (!g_expect_fail) {
            test_failures_++;
            fprintf(stderr, "FAIL %s %s %s (%s): max error %.3g of max |ref| %.3g (rel %.3g > %.3g) at %zu: %.9g vs %.9g\n",
                    b->be->name, op, what, cs, err, mx, rel, tol, at, got[at], want[at]);
        }
    }
    test_checks_++;
}

/* Compares a backend result (in its memory) with the reference (host). */
static void cmp(const bk *b, const char *op, const char *what, const char *cs, const float *dev, const float *want,
                size_t n, double tol) {
    float *got = dget(b, dev, n);
    cmp_host(b, op, what, cs, got, want, n, tol);
    free(got);
}

/* ------------------------------------------------------------------------ */
/* conv2d */

typedef struct {
    const char *name;
    conv2d_desc d;
} conv_case;

#define CV(nm, N, H, W, CI, CO, K, S, P, DIL, G, BIAS) \
    {nm, {.n = N, .h = H, .w = W, .ci = CI, .co = CO, .kh = K, .kw = K, .sh = S, .sw = S, .ph = P, .pw = P, .dh = DIL, .dw = DIL, .groups = G, .bias = BIAS}}

static const conv_case CONVS[] = {
    CV("v8n stem 3->16 k3 s2", 2, 32, 32, 3, 16, 3, 2, 1, 1, 1, 0),
    CV("v5n stem 3->16 k6 s2 p2", 2, 32, 32, 3, 16, 6, 2, 2, 1, 1, 0),
    CV("c2f bottleneck 16->16 k3", 2, 16, 16, 16, 16, 3, 1, 1, 1, 1, 0),
    CV("down 32->64 k3 s2", 2, 16, 16, 32, 64, 3, 2, 1, 1, 1, 0),
    CV("c2f cv2 96->64 k1", 2, 8, 8, 96, 64, 1, 1, 0, 1, 1, 0),
    CV("detect cls 64->80 k1 bias", 2, 4, 4, 64, 80, 1, 1, 0, 1, 1, 1),
    CV("detect box 64->64 k1 bias", 1, 8, 8, 64, 64, 1, 1, 0, 1, 1, 1),
    CV("odd 5->7 k3 s2 13x7 bias", 3, 13, 7, 5, 7, 3, 2, 1, 1, 1, 1),
    CV("grouped 8->12 g4 dil2 9x11", 2, 9, 11, 8, 12, 3, 1, 2, 2, 4, 0),
    CV("k5 3->5 7x5", 1, 7, 5, 3, 5, 5, 1, 2, 1, 1, 1),
};

static void op_conv(const bk *b, const conv_case *cc, int bf16, int act) {
    conv2d_desc d = cc->d;
    d.bf16 = bf16;
    d.act = act;
    char cs[160];
    snprintf(cs, sizeof cs, "%s%s%s", cc->name, bf16 ? ", bf16" : "", act ? ", SiLU post-op" : "");
    const double tol = bf16 ? TOL_BF16 : TOL;
    const int training = !act;
    size_t nx = (size_t)d.n * d.h * d.w * d.ci, ny = (size_t)d.n * conv2d_out_h(&d) * conv2d_out_w(&d) * d.co;
    size_t nw = (size_t)d.co * (d.ci / d.groups) * d.kh * d.kw;
    rng r;
    rng_seed_keys(&r, 41, d.ci, d.co, d.h);
    float *x = hrand(&r, nx, -1, 1), *w = hrand(&r, nw, -0.5, 0.5), *bias = hrand(&r, (size_t)d.co, -0.5, 0.5);
    float *dy = hrand(&r, ny, -1, 1), *dx0 = hrand(&r, nx, -1, 1), *dw0 = hrand(&r, nw, -1, 1);
    float *db0 = hrand(&r, (size_t)d.co, -1, 1);
    /* reference */
    conv2d_op ro;
    CHECK_OK(conv2d_op_init(&ro, NULL, REF, &d, training));
    float *y = hnew(ny), *dx = hcopy(dx0, nx), *dw = hcopy(dw0, nw), *db = hcopy(db0, (size_t)d.co);
    float *dxa = hcopy(dx0, nx);
    CHECK_OK(conv2d_op_forward(&ro, x, w, d.bias ? bias : NULL, y));
    if (training) {
        CHECK_OK(conv2d_op_backward(&ro, x, w, dy, dx, 0.0f, dw, d.bias ? db : NULL));
        CHECK_OK(conv2d_op_backward(&ro, x, w, dy, dxa, 1.0f, NULL, NULL));
    }
    conv2d_op_free(&ro);
    /* backend */
    conv2d_op bo;
    status st = conv2d_op_init(&bo, b->ctx, b->be, &d, training);
    CHECK_MSG(st == YOLOC_OK, "%s conv2d init (%s): %s", b->be->name, cs, yoloc_last_error());
    if (st == YOLOC_OK) {
        float *X = dnew(b, x, nx), *Wt = dnew(b, w, nw), *Bi = dnew(b, bias, (size_t)d.co), *Y = dnew(b, NULL, ny);
        float *DY = dnew(b, dy, ny), *DX = dnew(b, dx0, nx), *DW = dnew(b, dw0, nw), *DB = dnew(b, db0, (size_t)d.co);
        float *DXA = dnew(b, dx0, nx);
        CHECK_OK(conv2d_op_forward(&bo, X, Wt, d.bias ? Bi : NULL, Y));
        cmp(b, "conv2d", "y", cs, Y, y, ny, tol);
        /* the same weights again, promised unchanged: the same result */
        CHECK_OK(conv2d_op_forward_ex(&bo, X, Wt, d.bias ? Bi : NULL, Y, 1));
        cmp(b, "conv2d", "y (weights unchanged)", cs, Y, y, ny, tol);
        if (training) {
            CHECK_OK(conv2d_op_backward(&bo, X, Wt, DY, DX, 0.0f, DW, d.bias ? DB : NULL));
            cmp(b, "conv2d", "dx", cs, DX, dx, nx, tol);
            cmp(b, "conv2d", "dw (accumulated)", cs, DW, dw, nw, tol);
            if (d.bias) cmp(b, "conv2d", "db (accumulated)", cs, DB, db, (size_t)d.co, tol);
            CHECK_OK(conv2d_op_backward(&bo, X, Wt, DY, DXA, 1.0f, NULL, NULL));
            cmp(b, "conv2d", "dx (beta_dx 1)", cs, DXA, dxa, nx, tol);
        }
        dfree(b, X), dfree(b, Wt), dfree(b, Bi), dfree(b, Y), dfree(b, DY), dfree(b, DX), dfree(b, DW), dfree(b, DB);
        dfree(b, DXA);
    }
    conv2d_op_free(&bo);
    free(x), free(w), free(bias), free(dy), free(dx0), free(dw0), free(db0), free(y), free(dx), free(dw), free(db);
    free(dxa);
}

/* ------------------------------------------------------------------------ */
/* BatchNorm, SyncBN (one process), fused BN + SiLU */

typedef struct {
    const char *name;
    int n, h, w, c;
} nc_case;

static const nc_case NORMS[] = {
    {"v8n 16 channels", 2, 16, 16, 16},
    {"v8n 64 channels", 2, 4, 4, 64},
    {"odd 7 channels 5x3", 3, 5, 3, 7},
    {"2 values per channel, 33 channels", 1, 2, 1, 33},
};

typedef struct {
    size_t N, C;
    float *x, *g, *beta, *rm, *rv, *dy, *dx0, *dg0, *db0;
} norm_in;

static norm_in norm_inputs(const nc_case *nc, uint64_t seed) {
    norm_in in;
    in.N = (size_t)nc->n * nc->h * nc->w * nc->c;
    in.C = (size_t)nc->c;
    rng r;
    rng_seed_keys(&r, seed, nc->c, nc->h, nc->n);
    in.x = hrand(&r, in.N, -2, 3);
    in.g = hrand(&r, in.C, 0.5, 1.5);
    in.beta = hrand(&r, in.C, -0.5, 0.5);
    in.rm = hrand(&r, in.C, -0.2, 0.2);
    in.rv = hrand(&r, in.C, 0.5, 2);
    in.dy = hrand(&r, in.N, -1, 1);
    in.dx0 = hrand(&r, in.N, -1, 1);
    in.dg0 = hrand(&r, in.C, -1, 1);
    in.db0 = hrand(&r, in.C, -1, 1);
    return in;
}

static void norm_free(norm_in *in) {
    free(in->x), free(in->g), free(in->beta), free(in->rm), free(in->rv), free(in->dy), free(in->dx0);
    free(in->dg0), free(in->db0);
}

/* The outputs of one BN-like op run; host or backend memory. */
typedef struct {
    float *y, *sm, *sv, *rm, *rv, *dx, *dg, *db;
} norm_out;

static norm_out norm_out_new(const bk *b, const norm_in *in) {
    norm_out o;
    if (!b) {
        o.y = hnew(in->N), o.sm = hnew(in->C), o.sv = hnew(in->C), o.rm = hcopy(in->rm, in->C);
        o.rv = hcopy(in->rv, in->C), o.dx = hcopy(in->dx0, in->N), o.dg = hcopy(in->dg0, in->C);
        o.db = hcopy(in->db0, in->C);
    } else {
        o.y = dnew(b, NULL, in->N), o.sm = dnew(b, NULL, in->C), o.sv = dnew(b, NULL, in->C);
        o.rm = dnew(b, in->rm, in->C), o.rv = dnew(b, in->rv, in->C), o.dx = dnew(b, in->dx0, in->N);
        o.dg = dnew(b, in->dg0, in->C), o.db = dnew(b, in->db0, in->C);
    }
    return o;
}

static void norm_out_free(const bk *b, norm_out *o) {
    float *p[] = {o->y, o->sm, o->sv, o->rm, o->rv, o->dx, o->dg, o->db};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) b ? dfree(b, p[i]) : free(p[i]);
}

static void norm_cmp(const bk *b, const char *op, const char *cs, const norm_out *got, const norm_out *want,
                     const norm_in *in, int stats) {
    cmp(b, op, "y", cs, got->y, want->y, in->N, TOL);
    if (stats) {
        cmp(b, op, "batch mean", cs, got->sm, want->sm, in->C, TOL);
        cmp(b, op, "batch var", cs, got->sv, want->sv, in->C, TOL);
        cmp(b, op, "running mean", cs, got->rm, want->rm, in->C, TOL);
        cmp(b, op, "running var", cs, got->rv, want->rv, in->C, TOL);
    }
    cmp(b, op, "dx", cs, got->dx, want->dx, in->N, TOL);
    cmp(b, op, "dgamma (accumulated)", cs, got->dg, want->dg, in->C, TOL);
    cmp(b, op, "dbeta (accumulated)", cs, got->db, want->db, in->C, TOL);
}

/* Device copies of the inputs. */
typedef struct {
    float *x, *g, *beta, *rm, *rv, *dy;
} norm_dev;

static norm_dev norm_dev_new(const bk *b, const norm_in *in) {
    norm_dev d = {dnew(b, in->x, in->N), dnew(b, in->g, in->C), dnew(b, in->beta, in->C),
                  dnew(b, in->rm, in->C), dnew(b, in->rv, in->C), dnew(b, in->dy, in->N)};
    return d;
}

static void norm_dev_free(const bk *b, norm_dev *d) {
    dfree(b, d->x), dfree(b, d->g), dfree(b, d->beta), dfree(b, d->rm), dfree(b, d->rv), dfree(b, d->dy);
}

static void op_bn(const bk *b, const nc_case *nc) {
    bn_desc d = {nc->n, nc->h, nc->w, nc->c, 1e-3f, 0.03f};
    norm_in in = norm_inputs(nc, 5);
    norm_out want = norm_out_new(NULL, &in), got = norm_out_new(b, &in);
    norm_dev dv = norm_dev_new(b, &in);
    bn_op ro, bo;
    /* training: forward updates the running statistics, backward with beta_dx 1 */
    CHECK_OK(bn_op_init(&ro, NULL, REF, &d, 1));
    CHECK_OK(bn_op_forward_train(&ro, in.x, in.g, in.beta, want.y, want.sm, want.sv, want.rm, want.rv));
    CHECK_OK(bn_op_backward(&ro, in.x, in.g, want.sm, want.sv, in.dy, want.dx, 1.0f, want.dg, want.db));
    status st = bn_op_init(&bo, b->ctx, b->be, &d, 1);
    CHECK_MSG(st == YOLOC_OK, "%s bn init: %s", b->be->name, yoloc_last_error());
    if (st == YOLOC_OK) {
        CHECK_OK(bn_op_forward_train(&bo, dv.x, dv.g, dv.beta, got.y, got.sm, got.sv, got.rm, got.rv));
        CHECK_OK(bn_op_backward(&bo, dv.x, dv.g, got.sm, got.sv, dv.dy, got.dx, 1.0f, got.dg, got.db));
        norm_cmp(b, "batchnorm", nc->name, &got, &want, &in, 1);
        /* eval: the running statistics */
        float *ye = hnew(in.N), *YE = dnew(b, NULL, in.N);
        CHECK_OK(bn_op_forward_eval(&ro, in.x, in.g, in.beta, in.rm, in.rv, ye));
        CHECK_OK(bn_op_forward_eval(&bo, dv.x, dv.g, dv.beta, dv.rm, dv.rv, YE));
        cmp(b, "batchnorm", "y (eval)", nc->name, YE, ye, in.N, TOL);
        /* frozen statistics: the running ones are constants of the backward */
        float *dxf = hcopy(in.dx0, in.N), *dgf = hcopy(in.dg0, in.C), *dbf = hcopy(in.db0, in.C);
        float *DXF = dnew(b, in.dx0, in.N), *DGF = dnew(b, in.dg0, in.C), *DBF = dnew(b, in.db0, in.C);
        CHECK_OK(bn_op_backward_frozen(&ro, in.x, in.g, in.rm, in.rv, in.dy, dxf, 1.0f, dgf, dbf));
        CHECK_OK(bn_op_backward_frozen(&bo, dv.x, dv.g, dv.rm, dv.rv, dv.dy, DXF, 1.0f, DGF, DBF));
        cmp(b, "batchnorm frozen", "dx (beta_dx 1)", nc->name, DXF, dxf, in.N, TOL);
        cmp(b, "batchnorm frozen", "dgamma", nc->name, DGF, dgf, in.C, TOL);
        cmp(b, "batchnorm frozen", "dbeta", nc->name, DBF, dbf, in.C, TOL);
        free(dxf), free(dgf), free(dbf), dfree(b, DXF), dfree(b, DGF), dfree(b, DBF);
        free(ye), dfree(b, YE);
    }
    bn_op_free(&ro), bn_op_free(&bo);
    norm_out_free(NULL, &want), norm_out_free(b, &got), norm_dev_free(b, &dv), norm_free(&in);
}

/* SyncBN with one process (no reducer) against the reference backend's. */
static void op_syncbn(const bk *b, const nc_case *nc) {
    bn_desc d = {nc->n, nc->h, nc->w, nc->c, 1e-3f, 0.03f};
    norm_in in = norm_inputs(nc, 6);
    norm_out want = norm_out_new(NULL, &in), got = norm_out_new(b, &in);
    norm_dev dv = norm_dev_new(b, &in);
    size_t nw = syncbn_workspace(&d);
    double *work = calloc(nw, sizeof(double));
    void *WORK = NULL;
    CHECK_OK(b->be->buf_alloc(b->ctx, nw * sizeof(double), &WORK));
    CHECK_OK(syncbn_op_forward_train(REF, &d, NULL, in.x, in.g, in.beta, want.y, want.sm, want.sv, want.rm, want.rv,
                                     work));
    CHECK_OK(syncbn_op_backward(REF, &d, NULL, in.x, in.g, want.sm, want.sv, in.dy, want.dx, 0.0f, want.dg, want.db,
                                work));
    status st = syncbn_op_forward_train(b->be, &d, NULL, dv.x, dv.g, dv.beta, got.y, got.sm, got.sv, got.rm, got.rv,
                                        WORK);
    CHECK_MSG(st == YOLOC_OK, "%s syncbn: %s", b->be->name, yoloc_last_error());
    CHECK_OK(syncbn_op_backward(b->be, &d, NULL, dv.x, dv.g, got.sm, got.sv, dv.dy, got.dx, 0.0f, got.dg, got.db,
                                WORK));
    norm_cmp(b, "syncbn", nc->name, &got, &want, &in, 1);
    free(work), dfree(b, WORK);
    norm_out_free(NULL, &want), norm_out_free(b, &got), norm_dev_free(b, &dv), norm_free(&in);
}

/* Fused BN + SiLU where offered, against bn_ref then silu_ref (bnsilu_ref_*):
 * training forward and backward, eval, and the frozen-statistics backward. */
static void op_bnsilu(const bk *b, const nc_case *nc) {
    if (!backend_fuses_bnsilu(b->be)) return;
    bn_desc d = {nc->n, nc->h, nc->w, nc->c, 1e-3f, 0.03f};
    norm_in in = norm_inputs(nc, 7);
    norm_out want = norm_out_new(NULL, &in), got = norm_out_new(b, &in);
    norm_dev dv = norm_dev_new(b, &in);
    size_t nw = syncbn_workspace(&d);
    void *WORK = NULL;
    CHECK_OK(b->be->buf_alloc(b->ctx, nw * sizeof(double), &WORK));
    float *tmp = hnew(in.N);
    bnsilu_ref_forward_train(&d, in.x, in.g, in.beta, want.y, want.sm, want.sv, want.rm, want.rv);
    bnsilu_ref_backward(&d, in.x, in.g, in.beta, want.sm, want.sv, in.dy, want.dx, 1.0f, want.dg, want.db, tmp);
    CHECK_OK(bnsilu_op_forward_train(b->be, &d, NULL, dv.x, dv.g, dv.beta, got.y, got.sm, got.sv, got.rm, got.rv,
                                     WORK));
    CHECK_OK(bnsilu_op_backward(b->be, &d, NULL, dv.x, dv.g, dv.beta, got.sm, got.sv, dv.dy, got.dx, 1.0f, got.dg,
                                got.db, WORK));
    norm_cmp(b, "bnsilu", nc->name, &got, &want, &in, 1);
    float *ye = hnew(in.N), *YE = dnew(b, NULL, in.N);
    bnsilu_ref_forward_eval(&d, in.x, in.g, in.beta, in.rm, in.rv, ye);
    CHECK_OK(bnsilu_op_forward_eval(b->be, &d, dv.x, dv.g, dv.beta, dv.rm, dv.rv, YE));
    cmp(b, "bnsilu", "y (eval)", nc->name, YE, ye, in.N, TOL);
    {
        float *dxf = hnew(in.N), *dgf = hcopy(in.dg0, in.C), *dbf = hcopy(in.db0, in.C);
        float *DXF = dnew(b, NULL, in.N), *DGF = dnew(b, in.dg0, in.C), *DBF = dnew(b, in.db0, in.C);
        bnsilu_ref_backward_frozen(&d, in.x, in.g, in.beta, in.rm, in.rv, in.dy, dxf, 0.0f, dgf, dbf, tmp);
        CHECK_OK(bnsilu_op_backward_frozen(b->be, &d, dv.x, dv.g, dv.beta, dv.rm, dv.rv, dv.dy, DXF, 0.0f, DGF, DBF,
                                           WORK));
        cmp(b, "bnsilu frozen", "dx", nc->name, DXF, dxf, in.N, TOL);
        cmp(b, "bnsilu frozen", "dgamma", nc->name, DGF, dgf, in.C, TOL);
        cmp(b, "bnsilu frozen", "dbeta", nc->name, DBF, dbf, in.C, TOL);
        free(dxf), free(dgf), free(dbf), dfree(b, DXF), dfree(b, DGF), dfree(b, DBF);
    }
    free(tmp), free(ye), dfree(b, YE), dfree(b, WORK);
    norm_out_free(NULL, &want), norm_out_free(b, &got), norm_dev_free(b, &dv), norm_free(&in);
}

/* ------------------------------------------------------------------------ */
/* GroupNorm */

static void op_gn(const bk *b, const nc_case *nc, int groups) {
    gn_desc d = {nc->n, nc->h, nc->w, nc->c, groups, 1e-5f};
    char cs[96];
    snprintf(cs, sizeof cs, "%s, %d groups", nc->name, groups);
    norm_in in = norm_inputs(nc, 8);
    size_t ns = (size_t)nc->n * groups;
    float *y = hnew(in.N), *sm = hnew(ns), *sr = hnew(ns), *dx = hcopy(in.dx0, in.N);
    float *dg = hcopy(in.dg0, in.C), *db = hcopy(in.db0, in.C);
    norm_dev dv = norm_dev_new(b, &in);
    float *Y = dnew(b, NULL, in.N), *SM = dnew(b, NULL, ns), *SR = dnew(b, NULL, ns), *DX = dnew(b, in.dx0, in.N);
    float *DG = dnew(b, in.dg0, in.C), *DB = dnew(b, in.db0, in.C);
    gn_op ro, bo;
    CHECK_OK(gn_op_init(&ro, REF, &d));
    CHECK_OK(gn_op_init(&bo, b->be, &d));
    CHECK_OK(gn_op_forward(&ro, in.x, in.g, in.beta, y, sm, sr));
    CHECK_OK(gn_op_backward(&ro, in.x, in.g, sm, sr, in.dy, dx, 1.0f, dg, db));
    CHECK_OK(gn_op_forward(&bo, dv.x, dv.g, dv.beta, Y, SM, SR));
    CHECK_OK(gn_op_backward(&bo, dv.x, dv.g, SM, SR, dv.dy, DX, 1.0f, DG, DB));
    cmp(b, "groupnorm", "y", cs, Y, y, in.N, TOL);
    cmp(b, "groupnorm", "mean", cs, SM, sm, ns, TOL);
    cmp(b, "groupnorm", "rstd", cs, SR, sr, ns, TOL);
    cmp(b, "groupnorm", "dx (beta_dx 1)", cs, DX, dx, in.N, TOL);
    cmp(b, "groupnorm", "dgamma", cs, DG, dg, in.C, TOL);
    cmp(b, "groupnorm", "dbeta", cs, DB, db, in.C, TOL);
    free(y), free(sm), free(sr), free(dx), free(dg), free(db);
    dfree(b, Y), dfree(b, SM), dfree(b, SR), dfree(b, DX), dfree(b, DG), dfree(b, DB);
    norm_dev_free(b, &dv), norm_free(&in);
}

/* ------------------------------------------------------------------------ */
/* SiLU, max-pool, upsample, channel copy, add/acc, bf16 conversion */

static void op_silu(const bk *b, size_t n) {
    char cs[32];
    snprintf(cs, sizeof cs, "%zu values", n);
    rng r;
    rng_seed_keys(&r, 9, n, 0, 0);
    float *x = hrand(&r, n, -8, 8), *dy = hrand(&r, n, -1, 1), *dx0 = hrand(&r, n, -1, 1);
    float *y = hnew(n), *dx = hcopy(dx0, n), *dxb = hnew(n);
    silu_op ro, bo;
    CHECK_OK(silu_op_init(&ro, NULL, REF, n, 1));
    CHECK_OK(silu_op_forward(&ro, x, y));
    CHECK_OK(silu_op_backward(&ro, x, dy, dx, 1.0f));
    CHECK_OK(silu_op_backward(&ro, x, dy, dxb, 0.0f));
    status st = silu_op_init(&bo, b->ctx, b->be, n, 1);
    CHECK_MSG(st == YOLOC_OK, "%s silu init: %s", b->be->name, yoloc_last_error());
    if (st == YOLOC_OK) {
        float *X = dnew(b, x, n), *DY = dnew(b, dy, n), *Y = dnew(b, NULL, n), *DX = dnew(b, dx0, n);
        float *DXB = dnew(b, NULL, n);
        CHECK_OK(silu_op_forward(&bo, X, Y));
        CHECK_OK(silu_op_backward(&bo, X, DY, DX, 1.0f));
        CHECK_OK(silu_op_backward(&bo, X, DY, DXB, 0.0f));
        cmp(b, "silu", "y", cs, Y, y, n, TOL);
        cmp(b, "silu", "dx (beta_dx 1)", cs, DX, dx, n, TOL);
        cmp(b, "silu", "dx", cs, DXB, dxb, n, TOL);
        dfree(b, X), dfree(b, DY), dfree(b, Y), dfree(b, DX), dfree(b, DXB);
    }
    silu_op_free(&ro), silu_op_free(&bo);
    free(x), free(dy), free(dx0), free(y), free(dx), free(dxb);
}

static void op_maxpool(const bk *b, const char *name, pool_desc d) {
    size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * pool_out_h(&d) * pool_out_w(&d) * d.c;
    rng r;
    rng_seed_keys(&r, 10, d.h, d.c, d.k);
    float *x = hrand(&r, nx, -3, 3), *dy = hrand(&r, ny, -1, 1), *dx0 = hrand(&r, nx, -1, 1);
    float *y = hnew(ny), *dx = hcopy(dx0, nx);
    maxpool_op ro, bo;
    CHECK_OK(maxpool_op_init(&ro, NULL, REF, &d, 1));
    CHECK_OK(maxpool_op_forward(&ro, x, y, NULL));
    CHECK_OK(maxpool_op_backward(&ro, x, dy, dx, 1.0f, NULL));
    status st = maxpool_op_init(&bo, b->ctx, b->be, &d, 1);
    CHECK_MSG(st == YOLOC_OK, "%s maxpool init: %s", b->be->name, yoloc_last_error());
    if (st == YOLOC_OK) {
        size_t wsb = maxpool_op_workspace_size(&bo);
        void *WS = NULL;
        if (wsb) CHECK_OK(b->be->buf_alloc(b->ctx, wsb, &WS));
        float *X = dnew(b, x, nx), *DY = dnew(b, dy, ny), *Y = dnew(b, NULL, ny), *DX = dnew(b, dx0, nx);
        CHECK_OK(maxpool_op_forward(&bo, X, Y, WS));
        CHECK_OK(maxpool_op_backward(&bo, X, DY, DX, 1.0f, WS));
        cmp(b, "maxpool", "y", name, Y, y, ny, TOL);
        cmp(b, "maxpool", "dx (beta_dx 1)", name, DX, dx, nx, TOL);
        dfree(b, X), dfree(b, DY), dfree(b, Y), dfree(b, DX);
        if (WS) dfree(b, WS);
    }
    maxpool_op_free(&ro), maxpool_op_free(&bo);
    free(x), free(dy), free(dx0), free(y), free(dx);
}

static void op_upsample(const bk *b, int n, int h, int w, int c, int f) {
    char cs[64];
    snprintf(cs, sizeof cs, "%dx%dx%dx%d x%d", n, h, w, c, f);
    size_t nx = (size_t)n * h * w * c, ny = nx * f * f;
    rng r;
    rng_seed_keys(&r, 11, h, w, c);
    float *x = hrand(&r, nx, -1, 1), *dy = hrand(&r, ny, -1, 1), *dx0 = hrand(&r, nx, -1, 1);
    float *y = hnew(ny), *dx = hcopy(dx0, nx);
    upsample_forward(REF, n, h, w, c, f, x, y);
    upsample_backward(REF, n, h, w, c, f, dy, dx, 1.0f);
    float *X = dnew(b, x, nx), *DY = dnew(b, dy, ny), *Y = dnew(b, NULL, ny), *DX = dnew(b, dx0, nx);
    upsample_forward(b->be, n, h, w, c, f, X, Y);
    upsample_backward(b->be, n, h, w, c, f, DY, DX, 1.0f);
    cmp(b, "upsample", "y", cs, Y, y, ny, TOL);
    cmp(b, "upsample", "dx (beta_dx 1)", cs, DX, dx, nx, TOL);
    dfree(b, X), dfree(b, DY), dfree(b, Y), dfree(b, DX);
    free(x), free(dy), free(dx0), free(y), free(dx);
}

/* Concat's pattern: a slice of c channels at an offset of a wider tensor,
 * overwritten (beta 0) and accumulated (beta 1). */
static void op_chcopy(const bk *b, size_t npix, int c, int src_ct, int src_off, int dst_ct, int dst_off, float beta) {
    char cs[96];
    snprintf(cs, sizeof cs, "%zu pixels, %d of %d at %d -> %d at %d, beta %g", npix, c, src_ct, src_off, dst_ct,
             dst_off, (double)beta);
    size_t ns = npix * src_ct, nd = npix * dst_ct;
    rng r;
    rng_seed_keys(&r, 12, npix, c, dst_off);
    float *s = hrand(&r, ns, -1, 1), *d0 = hrand(&r, nd, -1, 1), *d = hcopy(d0, nd);
    chcopy(REF, npix, c, s, src_ct, src_off, d, dst_ct, dst_off, beta);
    float *S = dnew(b, s, ns), *D = dnew(b, d0, nd);
    chcopy(b->be, npix, c, S, src_ct, src_off, D, dst_ct, dst_off, beta);
    cmp(b, "chcopy", "dst", cs, D, d, nd, 0.0);
    dfree(b, S), dfree(b, D);
    free(s), free(d0), free(d);
}

static void op_add_acc(const bk *b, size_t n) {
    char cs[32];
    snprintf(cs, sizeof cs, "%zu values", n);
    rng r;
    rng_seed_keys(&r, 13, n, 0, 0);
    float *a = hrand(&r, n, -1, 1), *c = hrand(&r, n, -1, 1), *y = hnew(n), *d = hrand(&r, n, -1, 1);
    float *A = dnew(b, a, n), *C = dnew(b, c, n), *Y = dnew(b, NULL, n), *D = dnew(b, d, n);
    add_forward(REF, n, a, c, y);
    add_forward(b->be, n, A, C, Y);
    cmp(b, "add", "y", cs, Y, y, n, 0.0);
    const float betas[] = {1.0f, 0.5f, 0.0f};
    for (int k = 0; k < 3; k++) {
        acc(REF, n, a, d, betas[k]);
        acc(b->be, n, A, D, betas[k]);
        cmp(b, "acc", betas[k] == 1.0f ? "dst (beta 1)" : betas[k] == 0.0f ? "dst (beta 0)" : "dst (beta 0.5)", cs, D,
            d, n, 1e-7);
    }
    dfree(b, A), dfree(b, C), dfree(b, Y), dfree(b, D);
    free(a), free(c), free(y), free(d);
}

/* the attention's batched product (a C2PSA-like strided case) and softmax */
static void op_bmm(const bk *b, int batch, int m, int n, int k, int ta, int tb, float beta) {
    char cs[96];
    snprintf(cs, sizeof cs, "%dx%dx%dx%d t%d%d beta %g", batch, m, n, k, ta, tb, (double)beta);
    bmm_desc d = {.batch = batch, .m = m, .n = n, .k = k, .ta = ta, .tb = tb};
    d.lda = (ta ? m : k) + 3;
    d.ldb = (tb ? k : n) + 1;
    d.ldc = n + 2;
    d.sa = (size_t)(ta ? k : m) * d.lda;
    d.sb = (size_t)(tb ? n : k) * d.ldb;
    d.sc = (size_t)m * d.ldc;
    size_t na = d.sa * batch, nb = d.sb * batch, nc = d.sc * batch;
    rng r;
    rng_seed_keys(&r, 17, (uint64_t)m * n, (uint64_t)k, (uint64_t)(ta * 2 + tb));
    float *a = hrand(&r, na, -1, 1), *bb = hrand(&r, nb, -1, 1), *c0 = hrand(&r, nc, -1, 1), *c = hcopy(c0, nc);
    CHECK_OK(bmm(REF, &d, 0.25f, a, bb, beta, c));
    float *A = dnew(b, a, na), *B = dnew(b, bb, nb), *C = dnew(b, c0, nc);
    CHECK_OK(bmm(b->be, &d, 0.25f, A, B, beta, C));
    cmp(b, "bmm", "C", cs, C, c, nc, 1e-5);
    dfree(b, A), dfree(b, B), dfree(b, C);
    free(a), free(bb), free(c0), free(c);
}

static void op_softmax(const bk *b, size_t rows, int n) {
    char cs[48];
    snprintf(cs, sizeof cs, "%zu rows of %d", rows, n);
    size_t N = rows * (size_t)n;
    rng r;
    rng_seed_keys(&r, 18, rows, (uint64_t)n, 0);
    float *x = hrand(&r, N, -8, 8), *y = hnew(N), *dy = hrand(&r, N, -1, 1), *d0 = hrand(&r, N, -1, 1),
          *dx = hcopy(d0, N);
    softmax_forward(REF, rows, n, x, y);
    softmax_backward(REF, rows, n, y, dy, dx, 1.0f);
    float *X = dnew(b, x, N), *Y = dnew(b, NULL, N), *DY = dnew(b, dy, N), *DX = dnew(b, d0, N);
    softmax_forward(b->be, rows, n, X, Y);
    cmp(b, "softmax", "y", cs, Y, y, N, 1e-6);
    float *yh = dget(b, Y, N); /* the backward from each backend's own output */
    softmax_backward(REF, rows, n, yh, dy, d0, 1.0f);
    softmax_backward(b->be, rows, n, Y, DY, DX, 1.0f);
    cmp(b, "softmax backward", "dx (beta 1)", cs, DX, d0, N, 1e-6);
    cmp_host(b, "softmax backward", "dx vs ref's y", cs, d0, dx, N, 1e-5);
    dfree(b, X), dfree(b, Y), dfree(b, DY), dfree(b, DX);
    free(x), free(y), free(dy), free(d0), free(dx), free(yh);
}

static void op_bf16(const bk *b, size_t n) {
    rng r;
    rng_seed_keys(&r, 14, n, 0, 0);
    float *x = hnew(n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = rng_u32(&r);
        memcpy(&x[i], &u, 4);
    }
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f + 1.0f / 256, 3.4e38f, 1e-40f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0] && i < n; i++) x[i] = specials[i];
    uint16_t *want = calloc(n, 2), *got = calloc(n, 2);
    f32_to_bf16_op(REF, n, x, want);
    float *X = dnew(b, x, n);
    void *Y = NULL;
    CHECK_OK(b->be->buf_alloc(b->ctx, n * 2, &Y));
    f32_to_bf16_op(b->be, n, X, Y);
    CHECK_OK(b->be->sync(b->ctx));
    CHECK_OK(b->be->copy_to_host(b->ctx, got, Y, n * 2));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != want[i];
    test_checks_++;
    if (bad) {
        g_mismatches++;
        if (!g_expect_fail) {
            test_failures_++;
            fprintf(stderr, "FAIL %s f32_to_bf16: %zu of %zu values differ from the reference\n", b->be->name, bad, n);
        }
    }
    dfree(b, X), dfree(b, Y);
    free(x), free(want), free(got);
}

/* The heads' eval decode (yolov8n's and yolov5n's level shapes, batch 2,
 * 80 classes, written into rows of a 3-level output) and the BatchNorm
 * fold. */
static void op_heads(const bk *b) {
    rng r;
    rng_seed_keys(&r, 16, 0, 0, 0);
    /* v8: level 1 (stride 16) of a 64x64 input: 4x4 cells; 84 rows per image */
    const dfl_decode_desc dd = {.n = 2, .h = 4, .w = 4, .reg_max = 16, .nc = 80, .stride = 16, .anchors = 84, .a0 = 64};
    size_t nbox = 2 * 16 * 64, ncls = 2 * 16 * 80, nout = 2 * 84 * 84;
    float *box = hrand(&r, nbox, -4, 4), *cls = hrand(&r, ncls, -6, 6), dflw[16];
    for (int k = 0; k < 16; k++) dflw[k] = (float)k;
    float *out = hnew(nout);
    dfl_decode(REF, &dd, box, cls, dflw, out);
    float *BOX = dnew(b, box, nbox), *CLS = dnew(b, cls, ncls), *DW = dnew(b, dflw, 16), *OUT = dnew(b, NULL, nout);
    dfl_decode(b->be, &dd, BOX, CLS, DW, OUT);
    cmp(b, "dfl_decode", "out", "v8 level 4x4, 80 classes, rows 64..79", OUT, out, nout, 1e-6);
    dfree(b, BOX), dfree(b, CLS), dfree(b, DW), dfree(b, OUT);
    free(box), free(cls), free(out);
    /* v5: level 2 (stride 32) of a 96x64 input: 3x2 cells, 3 anchors; 252 rows per image */
    const v5_decode_desc vd = {.n = 2, .h = 3, .w = 2, .na = 3, .nc = 80, .stride = 32, .anchors = 252, .a0 = 234};
    size_t nraw = 2 * 252 * 85, nv = 2 * 252 * 84;
    float *raw = hrand(&r, nraw, -5, 5), anc[6] = {3.625f, 2.8125f, 4.875f, 6.1875f, 11.65625f, 10.1875f};
    float *dec = hnew(nraw), *o5 = hnew(nv);
    v5_decode(REF, &vd, raw, anc, dec, o5);
    float *RAW = dnew(b, raw, nraw), *ANC = dnew(b, anc, 6), *DEC = dnew(b, NULL, nraw), *O5 = dnew(b, NULL, nv);
    v5_decode(b->be, &vd, RAW, ANC, DEC, O5);
    cmp(b, "v5_decode", "decoded", "v5 level 3x2, 3 anchors, 80 classes", DEC, dec, nraw, 1e-6);
    cmp(b, "v5_decode", "out", "v5 level 3x2, 3 anchors, 80 classes", O5, o5, nv, 1e-6);
    dfree(b, RAW), dfree(b, ANC), dfree(b, DEC), dfree(b, O5);
    free(raw), free(dec), free(o5);
    /* the fold: 64 output channels of 3x3x32 weights */
    const int co = 64;
    const size_t per = 32 * 9, nw = co * per;
    float *w = hrand(&r, nw, -0.5, 0.5), *g = hrand(&r, co, 0.5, 1.5), *be_ = hrand(&r, co, -0.5, 0.5);
    float *rm = hrand(&r, co, -0.3, 0.3), *rv = hrand(&r, co, 0.2, 2), *wf = hnew(nw), *bf = hnew(co);
    bn_fold(REF, co, per, 1e-3f, w, g, be_, rm, rv, wf, bf);
    float *W = dnew(b, w, nw), *G = dnew(b, g, co), *BE = dnew(b, be_, co), *RM = dnew(b, rm, co), *RV = dnew(b, rv, co);
    float *WF = dnew(b, NULL, nw), *BF = dnew(b, NULL, co);
    bn_fold(b->be, co, per, 1e-3f, W, G, BE, RM, RV, WF, BF);
    cmp(b, "bn_fold", "weights", "64 x 3x3x32", WF, wf, nw, 1e-7);
    cmp(b, "bn_fold", "bias", "64 x 3x3x32", BF, bf, co, 1e-7);
    dfree(b, W), dfree(b, G), dfree(b, BE), dfree(b, RM), dfree(b, RV), dfree(b, WF), dfree(b, BF);
    free(w), free(g), free(be_), free(rm), free(rv), free(wf), free(bf);
}

/* The detection losses on a raw head in the backend's memory: yolov8's
 * (64x64 input, levels 8x8, 4x4, 2x2; reg_max 16, 5 classes) and yolov5's
 * (96x64, 3 anchors per cell, 5 classes), batch 3 with an image without
 * targets; the terms, the normaliser and the gradient against ref. */
static void op_losses(const bk *b) {
    rng r;
    rng_seed_keys(&r, 17, 0, 0, 0);
    /* image 1 has none; image 2 has two of one class in the same corner */
    const float targets[] = {0, 1, 0.30f, 0.40f, 0.25f, 0.30f, 0, 4, 0.70f, 0.60f, 0.50f, 0.45f,
                             2, 0, 0.52f, 0.48f, 0.90f, 0.80f, 2, 3, 0.12f, 0.85f, 0.08f, 0.10f,
                             2, 3, 0.16f, 0.80f, 0.10f, 0.12f};
    const size_t nt = 5;
    const char *cs8 = "v8 64x64, 5 classes, batch 3", *cs5 = "v5 96x64, 3 anchors, 5 classes, batch 3";
    {
        const ops_head_grid g = {.batch = 3, .nlevels = 3, .h = {8, 4, 2}, .w = {8, 4, 2}, .stride = {8, 16, 32}};
        v8_loss_cfg cfg = v8_loss_cfg_default(5);
        cfg.label_smoothing = 0.1f;
        v8_loss L0, L1;
        CHECK_OK(v8_loss_init(&L0, &cfg));
        CHECK_OK(v8_loss_init(&L1, &cfg));
        const size_t n = 3 * 84 * (64 + 5);
        float *pred = hrand(&r, n, -4, 4), *want = hnew(n), t0[5], t1[5];
        CHECK_OK(backend_v8_loss(REF, NULL, &L0, pred, &g, targets, nt, t0, want));
        float *P = dnew(b, pred, n), *G = dnew(b, NULL, n);
        CHECK_OK(backend_v8_loss(b->be, b->ctx, &L1, P, &g, targets, nt, t1, G));
        cmp(b, "v8_loss", "gradient", cs8, G, want, n, 1e-6);
        t0[3] = (float)L0.tss_raw, t0[4] = (float)L0.nfg;
        t1[3] = (float)L1.tss_raw, t1[4] = (float)L1.nfg;
        cmp_host(b, "v8_loss", "terms, target-score sum, foreground", cs8, t1, t0, 5, 1e-6);
        CHECK(L0.nfg > 0 && L0.tss_raw > 0);
        /* the validation loss: no gradient */
        CHECK_OK(backend_v8_loss(b->be, b->ctx, &L1, P, &g, targets, nt, t1, NULL));
        cmp_host(b, "v8_loss", "terms without a gradient", cs8, t1, t0, 3, 1e-6);
        dfree(b, P), dfree(b, G);
        free(pred), free(want);
        v8_loss_free(&L0), v8_loss_free(&L1);
    }
    {
        const ops_head_grid g = {.batch = 3, .nlevels = 3, .h = {12, 6, 3}, .w = {8, 4, 2}, .stride = {8, 16, 32}};
        const float anchors[18] = {1.25f, 1.625f, 2.0f,  3.75f,  4.125f, 2.875f, 1.875f, 3.8125f,  3.875f,
                                   2.8125f, 3.6875f, 7.4375f, 3.625f, 2.8125f, 4.875f, 6.1875f, 11.65625f, 10.1875f};
        v5_loss_cfg cfg = v5_loss_cfg_default(5, 3);
        v5_loss L0, L1;
        CHECK_OK(v5_loss_init(&L0, &cfg));
        CHECK_OK(v5_loss_init(&L1, &cfg));
        const size_t n = 3 * (size_t)(3 * (96 + 24 + 6)) * (5 + 5);
        float *pred = hrand(&r, n, -3, 3), *want = hnew(n), t0[3], t1[3];
        CHECK_OK(backend_v5_loss(REF, NULL, &L0, pred, &g, anchors, targets, nt, t0, want));
        float *P = dnew(b, pred, n), *G = dnew(b, NULL, n);
        CHECK_OK(backend_v5_loss(b->be, b->ctx, &L1, P, &g, anchors, targets, nt, t1, G));
        cmp(b, "v5_loss", "gradient", cs5, G, want, n, 1e-6);
        cmp_host(b, "v5_loss", "terms", cs5, t1, t0, 3, 1e-6);
        CHECK(L0.nmatch > 0);
        dfree(b, P), dfree(b, G);
        free(pred), free(want);
        v5_loss_free(&L0), v5_loss_free(&L1);
    }
}

/* The multi-tensor ops over a chunk list with gaps (padding and frozen
 * tensors are never touched): SGD (momentum 0, Nesterov, plain), Adam(W),
 * the sum of squares, scale, the finite check and the EMA blend. */
static void op_multi_tensor(const bk *b) {
    const size_t n = 70000; /* more than one thread's threshold */
    const ops_chunk ch[] = {{0, 16384}, {16384, 100}, {20000, 16384}, {36400, 3}, {40000, 29999}};
    const size_t nch = sizeof ch / sizeof ch[0];
    size_t numel = 0;
    for (size_t c = 0; c < nch; c++) numel += ch[c].len;
    rng r;
    rng_seed_keys(&r, 15, n, 0, 0);
    float *p = hrand(&r, n, -1, 1), *g = hrand(&r, n, -0.1, 0.1), *m0 = hrand(&r, n, -0.01, 0.01);
    float *v0 = hrand(&r, n, 0, 0.001);
    const char *cs = "5 chunks over 70000 floats";
    const ops_sgd_hp sgd[] = {{0.01f, 0.0f, 5e-4f, 1}, {0.01f, 0.937f, 5e-4f, 1}, {0.02f, 0.9f, 0.0f, 0}};
    for (int k = 0; k < 3; k++) {
        float *pr = hcopy(p, n), *br = hcopy(m0, n);
        float *P = dnew(b, p, n), *G = dnew(b, g, n), *Bf = dnew(b, m0, n);
        backend_sgd_update(REF, ch, nch, numel, pr, g, br, &sgd[k]);
        backend_sgd_update(b->be, ch, nch, numel, P, G, Bf, &sgd[k]);
        const char *what[] = {"p (momentum 0)", "p (Nesterov)", "p (momentum)"};
        cmp(b, "sgd_update", what[k], cs, P, pr, n, 1e-6);
        cmp(b, "sgd_update", "momentum buffer", cs, Bf, br, n, 1e-6);
        free(pr), free(br), dfree(b, P), dfree(b, G), dfree(b, Bf);
    }
    const ops_adam_hp adam[] = {{1.0f - 0.001f * 0.01f, 0.0f, 0.9f, 0.1f, 0.999f, 0.001f, 0.001f / 0.19f, 0.0447f, 1e-8f},
                                {1.0f, 5e-4f, 0.937f, 0.063f, 0.999f, 0.001f, 0.01f, 0.5f, 1e-8f}};
    for (int k = 0; k < 2; k++) {
        float *pr = hcopy(p, n), *mr = hcopy(m0, n), *vr = hcopy(v0, n);
        float *P = dnew(b, p, n), *G = dnew(b, g, n), *M = dnew(b, m0, n), *V = dnew(b, v0, n);
        backend_adam_update(REF, ch, nch, numel, pr, g, mr, vr, &adam[k]);
        backend_adam_update(b->be, ch, nch, numel, P, G, M, V, &adam[k]);
        cmp(b, "adam_update", k ? "p (Adam)" : "p (AdamW)", cs, P, pr, n, 1e-6);
        cmp(b, "adam_update", "m", cs, M, mr, n, 1e-6);
        cmp(b, "adam_update", "v", cs, V, vr, n, 1e-6);
        free(pr), free(mr), free(vr), dfree(b, P), dfree(b, G), dfree(b, M), dfree(b, V);
    }
    /* sum of squares: one scalar out */
    double part[8]; /* the reference's partials (host) */
    void *PART = NULL;
    CHECK_OK(b->be->buf_alloc(b->ctx, nch * sizeof(double), &PART));
    float *G = dnew(b, g, n);
    double want = backend_chunk_sumsq(REF, ch, nch, numel, g, part);
    double got = backend_chunk_sumsq(b->be, ch, nch, numel, G, PART);
    float fw = (float)want, fg = (float)got, *FG = dnew(b, &fg, 1); /* the scalar, compared as float */
    cmp(b, "chunk_sumsq", "total", cs, FG, &fw, 1, 2e-7);
    dfree(b, FG);
    /* scale, then the finite check before and after a NaN in a gap and in a chunk */
    float *gr = hcopy(g, n);
    backend_chunk_scale(REF, ch, nch, numel, gr, 0.37f);
    backend_chunk_scale(b->be, ch, nch, numel, G, 0.37f);
    cmp(b, "chunk_scale", "x", cs, G, gr, n, 0.0);
    const float nan = NAN;
    int f0 = backend_chunk_all_finite(b->be, ch, nch, numel, G);
    CHECK_OK(b->be->copy_from_host(b->ctx, G + 19999, &nan, sizeof nan)); /* in a gap: not looked at */
    int f1 = backend_chunk_all_finite(b->be, ch, nch, numel, G);
    CHECK_OK(b->be->copy_from_host(b->ctx, G + 40000 + 29998, &nan, sizeof nan)); /* the last float of a chunk */
    int f2 = backend_chunk_all_finite(b->be, ch, nch, numel, G);
    float fin[3] = {(float)f0, (float)f1, (float)f2}, fin_want[3] = {1, 1, 0};
    float *FIN = dnew(b, fin, 3);
    cmp(b, "chunk_all_finite", "finite, NaN in a gap, NaN in a chunk", cs, FIN, fin_want, 3, 0.0);
    dfree(b, FIN);
    /* the noise probe's squared difference, then prev = g */
    float *pv = hrand(&r, n, -0.1, 0.1), *PV = dnew(b, pv, n), *G2 = dnew(b, g, n);
    double dw = backend_chunk_sqdiff_copy(REF, ch, nch, numel, g, pv, part);
    double dg = backend_chunk_sqdiff_copy(b->be, ch, nch, numel, G2, PV, PART);
    float fdw = (float)dw, fdg = (float)dg, *FD = dnew(b, &fdg, 1);
    cmp(b, "chunk_sqdiff_copy", "total", cs, FD, &fdw, 1, 2e-7);
    cmp(b, "chunk_sqdiff_copy", "prev", cs, PV, pv, n, 0.0);
    dfree(b, FD), dfree(b, PV), dfree(b, G2);
    free(pv);
    /* EMA blend */
    float *er = hcopy(p, n), *E = dnew(b, p, n), *Y = dnew(b, g, n);
    backend_ema_blend(REF, n, er, g, 0.9999f * 0.3f, 1.0f - 0.9999f * 0.3f);
    backend_ema_blend(b->be, n, E, Y, 0.9999f * 0.3f, 1.0f - 0.9999f * 0.3f);
    cmp(b, "ema_blend", "x", "70000 floats", E, er, n, 1e-7);
    dfree(b, E), dfree(b, Y), dfree(b, G), dfree(b, PART);
    free(er), free(gr), free(p), free(g), free(m0), free(v0);
}

/* Buffers: zeroed at allocation, copies both ways and within the backend. */
static void op_buffers(const bk *b) {
    const size_t n = 1000;
    float *z = hnew(n), *h = hnew(n);
    for (size_t i = 0; i < n; i++) h[i] = (float)i * 0.5f - 7.0f;
    float *A = dnew(b, NULL, n), *B = dnew(b, NULL, n);
    cmp(b, "buffers", "zeroed at allocation", "1000 floats", A, z, n, 0.0);
    CHECK_OK(b->be->copy_from_host(b->ctx, A, h, n * sizeof(float)));
    CHECK_OK(b->be->copy(b->ctx, B, A, n * sizeof(float)));
    cmp(b, "buffers", "host -> backend -> backend -> host", "1000 floats", B, h, n, 0.0);
    dfree(b, A), dfree(b, B);
    free(z), free(h);
}

/* ------------------------------------------------------------------------ */

static void run_all(const bk *b, int quick) {
    op_buffers(b);
    const size_t nconv = sizeof CONVS / sizeof CONVS[0];
    int bf16 = b->be->bf16_convs && b->be->bf16_convs() && REF->bf16_convs();
    for (size_t i = 0; i < nconv; i++) {
        if (quick && i % 3) continue;
        op_conv(b, &CONVS[i], 0, 0);
        if (bf16) op_conv(b, &CONVS[i], 1, 0);
        if (CONVS[i].d.bias) op_conv(b, &CONVS[i], 0, 1); /* inference with the SiLU post-op */
    }
    for (size_t i = 0; i < sizeof NORMS / sizeof NORMS[0]; i++) {
        if (quick && i) continue;
        op_bn(b, &NORMS[i]);
        op_syncbn(b, &NORMS[i]);
        op_bnsilu(b, &NORMS[i]);
    }
    op_gn(b, &NORMS[0], 16);
    op_gn(b, &NORMS[2], 7);
    op_gn(b, &NORMS[1], 1);
    op_silu(b, 4096);
    op_silu(b, 7);
    op_maxpool(b, "SPPF k5 s1 p2", (pool_desc){2, 10, 10, 32, 5, 1, 2});
    op_maxpool(b, "odd k3 s2 p1 7x5", (pool_desc){1, 7, 5, 3, 3, 2, 1});
    op_upsample(b, 2, 5, 7, 3, 2);
    op_upsample(b, 1, 4, 4, 64, 2);
    op_chcopy(b, 37, 5, 5, 0, 13, 3, 0.0f);
    op_chcopy(b, 37, 5, 13, 3, 5, 0, 1.0f);
    op_chcopy(b, 400, 64, 128, 64, 192, 128, 0.0f);
    op_add_acc(b, 1001);
    op_bmm(b, 2, 100, 100, 32, 0, 1, 0.0f);
    op_bmm(b, 2, 100, 64, 100, 0, 0, 0.0f);
    op_bmm(b, 3, 7, 5, 9, 1, 0, 1.0f);
    op_bmm(b, 1, 6, 11, 4, 1, 1, 1.0f);
    op_softmax(b, 200, 100);
    op_softmax(b, 3, 7);
    op_bf16(b, 4099);
    op_multi_tensor(b);
    op_heads(b);
    op_losses(b);
    if (!quick) {
        const char *why = bf16 ? "" : " (bf16 convolutions: not on this machine)";
        printf("test_backend_ops: %s checked against ref%s\n", b->be->name, why);
    }
}

/* ------------------------------------------------------------------------ */
/* Broken on purpose: a copy of a backend's table with one op perturbed. */

static const ops_backend *g_orig;

static void perturb(float *p, size_t n) {
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(p[i]) > mx) mx = fabsf(p[i]);
    p[n / 2] += 0.01f * (mx > 0 ? mx : 1.0f);
}

static status broken_conv_fwd(conv2d_op *op, const float *x, const float *w, const float *b, float *y, int same) {
    TRY(g_orig->conv2d_forward(op, x, w, b, y, same));
    perturb(y, (size_t)op->d.n * conv2d_out_h(&op->d) * conv2d_out_w(&op->d) * op->d.co);
    return YOLOC_OK;
}
static status broken_conv_bwd(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx, float bdx,
                              float *dw, float *db) {
    TRY(g_orig->conv2d_backward(op, x, w, dy, dx, bdx, dw, db));
    if (dw) perturb(dw, (size_t)op->d.co * (op->d.ci / op->d.groups) * op->d.kh * op->d.kw);
    return YOLOC_OK;
}
static status broken_bn_bwd(bn_op *op, const float *x, const float *g, const float *sm, const float *sv, const float *dy,
                            float *dx, float bdx, float *dg, float *db) {
    TRY(g_orig->bn_backward(op, x, g, sm, sv, dy, dx, bdx, dg, db));
    if (dx) perturb(dx, (size_t)op->d.n * op->d.h * op->d.w * op->d.c);
    return YOLOC_OK;
}
static status broken_silu_fwd(silu_op *op, const float *x, float *y) {
    TRY(g_orig->silu_forward(op, x, y));
    perturb(y, op->n);
    return YOLOC_OK;
}
static status broken_gn_fwd(const gn_desc *d, const float *x, const float *g, const float *b, float *y, float *sm,
                            float *sr) {
    TRY(g_orig->gn_forward(d, x, g, b, y, sm, sr));
    perturb(y, (size_t)d->n * d->h * d->w * d->c);
    return YOLOC_OK;
}
static status broken_pool_bwd(maxpool_op *op, const float *x, const float *dy, float *dx, float bdx, const void *ws) {
    TRY(g_orig->maxpool_backward(op, x, dy, dx, bdx, ws));
    perturb(dx, (size_t)op->d.n * op->d.h * op->d.w * op->d.c);
    return YOLOC_OK;
}
static void broken_chcopy(size_t npix, int c, const float *src, int sct, int soff, float *dst, int dct, int doff,
                          float beta) {
    g_orig->chcopy(npix, c, src, sct, soff, dst, dct, doff, beta);
    dst[(npix / 2) * (size_t)dct + (size_t)doff] += 1.0f;
}
static status broken_syncbn_fwd(const bn_desc *d, const ops_reducer *r, const float *x, const float *g,
                                const float *b, float *y, float *sm, float *sv, float *rm, float *rv, double *w) {
    TRY(g_orig->syncbn_forward_train(d, r, x, g, b, y, sm, sv, rm, rv, w));
    perturb(sv, (size_t)d->c);
    return YOLOC_OK;
}
static status broken_bnsilu_bwd(const bn_desc *d, const ops_reducer *r, const float *x, const float *g,
                                const float *b, const float *sm, const float *sv, const float *dy, float *dx, float bdx,
                                float *dg, float *db, double *w) {
    TRY(g_orig->bnsilu_backward(d, r, x, g, b, sm, sv, dy, dx, bdx, dg, db, w));
    perturb(dg, (size_t)d->c);
    return YOLOC_OK;
}
static void broken_sgd(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                       const ops_sgd_hp *hp) {
    g_orig->sgd_update(ch, nch, numel, p, g, b, hp);
    p[ch[nch - 1].off] += 1e-3f;
}
static void broken_ema(size_t n, float *x, const float *y, float d, float omd) {
    g_orig->ema_blend(n, x, y, d, omd);
    x[n - 1] += 1e-3f;
}
static double broken_sumsq(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials) {
    return g_orig->chunk_sumsq(ch, nch, numel, x, partials) * (1 + 1e-6); /* a chunk summed twice would do more */
}
static void broken_dfl(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out) {
    g_orig->dfl_decode(d, box, cls, dfl_w, out);
    out[((size_t)d->anchors + d->a0) * (4 + d->nc)] += 0.5f; /* image 1's first box centre */
}
static status broken_bmm(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C) {
    TRY(g_orig->bmm(d, alpha, A, B, beta, C));
    perturb(C, (size_t)d->n);
    return YOLOC_OK;
}
static void broken_softmax_bwd(size_t rows, int n, const float *y, const float *dy, float *dx, float bdx) {
    g_orig->softmax_backward(rows, n, y, dy, dx, bdx);
    perturb(dx, rows * (size_t)n);
}
static void broken_bf16(size_t n, const float *x, uint16_t *y) {
    g_orig->f32_to_bf16(n, x, y);
    y[n / 2] ^= 1;
}

static status broken_v8_loss(void *ctx, struct v8_loss *L, const float *pred, const ops_head_grid *g, const float *t,
                             size_t nt, float terms[3], float *grad) {
    TRY(g_orig->v8_loss(ctx, L, pred, g, t, nt, terms, grad));
    if (grad) perturb(grad, (size_t)g->batch * anchor_grid_count(&L->grid) * (4 * (size_t)L->cfg.reg_max + L->cfg.nc));
    return YOLOC_OK;
}
static status broken_v5_loss(void *ctx, struct v5_loss *L, const float *pred, const ops_head_grid *g,
                             const float *anchors, const float *t, size_t nt, float terms[3], float *grad) {
    TRY(g_orig->v5_loss(ctx, L, pred, g, anchors, t, nt, terms, grad));
    terms[1] *= 1.001f; /* the objectness term */
    return YOLOC_OK;
}

static void test_breakage_is_caught(const bk *b) {
    if (!b->be->host_memory) return; /* the perturbations write host memory */
    g_orig = b->be;
    ops_backend t;
    const char *names[] = {"conv2d forward", "conv2d backward (dw)", "batchnorm backward (dx)", "silu forward",
                           "groupnorm forward", "maxpool backward", "chcopy", "syncbn forward (var)",
                           "bnsilu backward (dgamma)", "f32_to_bf16", "sgd update", "ema blend", "sum of squares", "dfl decode",
                           "v8 loss (gradient)", "v5 loss (objectness term)", "bmm", "softmax backward"};
    for (int k = 0; k < 18; k++) {
        t = *b->be;
        switch (k) {
        case 0: t.conv2d_forward = broken_conv_fwd; break;
        case 1: t.conv2d_backward = broken_conv_bwd; break;
        case 2: t.bn_backward = broken_bn_bwd; break;
        case 3: t.silu_forward = broken_silu_fwd; break;
        case 4: t.gn_forward = broken_gn_fwd; break;
        case 5: t.maxpool_backward = broken_pool_bwd; break;
        case 6: t.chcopy = broken_chcopy; break;
        case 7:
            if (!t.syncbn_forward_train) continue;
            t.syncbn_forward_train = broken_syncbn_fwd;
            break;
        case 8:
            if (!t.bnsilu_backward) continue;
            t.bnsilu_backward = broken_bnsilu_bwd;
            break;
        case 9: t.f32_to_bf16 = broken_bf16; break;
        case 10: t.sgd_update = broken_sgd; break;
        case 11: t.ema_blend = broken_ema; break;
        case 12: t.chunk_sumsq = broken_sumsq; break;
        case 13: t.dfl_decode = broken_dfl; break;
        case 14: t.v8_loss = broken_v8_loss; break;
        case 15: t.v5_loss = broken_v5_loss; break;
        case 16: t.bmm = broken_bmm; break;
        case 17: t.softmax_backward = broken_softmax_bwd; break;
        }
        bk tb = {&t, b->ctx};
        g_expect_fail = 1;
        g_mismatches = 0;
        run_all(&tb, 1);
        g_expect_fail = 0;
        CHECK_MSG(g_mismatches > 0, "%s with %s broken on purpose: no check failed", b->be->name, names[k]);
        if (g_mismatches > 0)
            printf("test_backend_ops: %s with %s broken on purpose: %d checks failed, as they must\n", b->be->name,
                   names[k], g_mismatches);
    }
}

int main(void) {
    REF = backend_list()[0];
    CHECK_STR(REF->name, "ref");
    for (const ops_backend *const *p = backend_list(); *p; p++) {
        bk b = {*p, NULL};
        /* every entry of the table is there (the fused ops may be absent) */
        CHECK_MSG(b.be->buf_alloc && b.be->buf_free && b.be->copy_to_host && b.be->copy_from_host && b.be->copy &&
                      b.be->sync && b.be->conv2d_init && b.be->conv2d_forward && b.be->conv2d_backward &&
                      b.be->conv2d_free && b.be->bn_init && b.be->bn_forward_train && b.be->bn_forward_eval && b.be->bn_backward_frozen &&
                      b.be->bn_backward && b.be->bn_free && b.be->syncbn_forward_train && b.be->syncbn_backward &&
                      b.be->gn_forward && b.be->gn_backward && b.be->silu_init && b.be->silu_forward &&
                      b.be->silu_backward && b.be->silu_free && b.be->maxpool_init && b.be->maxpool_workspace &&
                      b.be->maxpool_forward && b.be->maxpool_backward && b.be->maxpool_free &&
                      b.be->upsample_forward && b.be->upsample_backward && b.be->chcopy && b.be->add && b.be->acc &&
                      b.be->f32_to_bf16 && b.be->bf16_convs && b.be->sgd_update && b.be->adam_update &&
                      b.be->chunk_sumsq && b.be->chunk_scale && b.be->chunk_all_finite && b.be->ema_blend &&
                      b.be->dfl_decode && b.be->v5_decode && b.be->bn_fold && b.be->zero && b.be->chunk_sqdiff_copy && b.be->v8_loss && b.be->v5_loss &&
                      b.be->bmm && b.be->softmax_forward && b.be->softmax_backward,
                  "backend %s: its table misses a required entry", b.be->name);
        CHECK_OK(backend_ctx_create(b.be, &b.ctx));
        run_all(&b, 0);
        test_breakage_is_caught(&b);
        backend_ctx_free(b.be, b.ctx);
    }
    /* the reference behind memory the host cannot touch (tests/backend_offhost.h):
     * the test itself reaches backend memory through copies only */
    bk oh = {&OPS_BACKEND_OFFHOST, NULL};
    run_all(&oh, 0);
    return test_finish("test_backend_ops");
}
