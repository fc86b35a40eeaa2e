/* The attention's ops: batched matrix product (bmm) and row softmax.
 * Hand-derived values; the fast path (cpu) against the reference on the
 * shapes YOLO11's C2PSA uses and odd ones, every transpose combination,
 * padded leading dimensions and batch strides, beta 0 onto NaN and beta 1;
 * the descriptor check; finite-difference checks of the softmax backward
 * and of a whole attention (S = a Q K^T, P = softmax(S), O = P V) whose
 * backward is made of these ops, as nn/c2psa.c makes it.
 *
 * Tolerances: bmm fast vs ref 1e-4 relative + 1e-5 x sqrt(k) absolute
 * (oneDNN accumulates in fp32 in its own order, the reference in double);
 * softmax 1e-5 relative + 1e-7 absolute (core/fastmath.h's exp is ~2 ulp). */
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "ops/backend.h"
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

static void test_hand(void) {
    /* A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: AB = [[19, 22], [43, 50]],
     * A^T B = [[26, 30], [38, 44]], A B^T = [[17, 23], [39, 53]] */
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float C[4];
    bmm_desc d = {.batch = 1, .m = 2, .n = 2, .k = 2, .lda = 2, .ldb = 2, .ldc = 2};
    const float want[3][4] = {{19, 22, 43, 50}, {26, 30, 38, 44}, {17, 23, 39, 53}};
    for (int v = 0; v < 3; v++) {
        d.ta = v == 1;
        d.tb = v == 2;
        for (const ops_backend *const *be = backend_list(); *be; be++) {
            CHECK_OK(bmm(*be, &d, 1.0f, A, B, 0.0f, C));
            for (int i = 0; i < 4; i++) CHECK_NEAR(C[i], want[v][i], 1e-5);
        }
    }
    /* alpha and beta: C = 0.5 AB + 2 C */
    for (const ops_backend *const *be = backend_list(); *be; be++) {
        float C2[4] = {1, 1, 1, 1};
        d.ta = d.tb = 0;
        CHECK_OK(bmm(*be, &d, 0.5f, A, B, 2.0f, C2));
        CHECK_NEAR(C2[0], 11.5, 1e-5);
        CHECK_NEAR(C2[3], 27.0, 1e-5);
    }
    /* softmax of (0, ln 2, ln 3) is (1/6, 2/6, 3/6); backward of dy = e_0 */
    float x[3] = {0.0f, logf(2.0f), logf(3.0f)}, y[3], dy[3] = {1, 0, 0}, dx[3];
    for (const ops_backend *const *be = backend_list(); *be; be++) {
        softmax_forward(*be, 1, 3, x, y);
        CHECK_NEAR(y[0], 1.0 / 6, 1e-6);
        CHECK_NEAR(y[1], 2.0 / 6, 1e-6);
        CHECK_NEAR(y[2], 3.0 / 6, 1e-6);
        softmax_backward(*be, 1, 3, y, dy, dx, 0.0f);
        CHECK_NEAR(dx[0], (1.0 / 6) * (1 - 1.0 / 6), 1e-6); /* y0 (1 - y0) */
        CHECK_NEAR(dx[1], -(2.0 / 6) * (1.0 / 6), 1e-6);    /* -y1 y0 */
    }
}

static void test_check(void) {
    bmm_desc d = {.batch = 1, .m = 4, .n = 5, .k = 3, .lda = 3, .ldb = 5, .ldc = 5};
    CHECK_OK(bmm_check(&d));
    bmm_desc b = d;
    b.k = 0;
    CHECK_EQ_INT(bmm_check(&b), YOLOC_ERR_INVALID);
    CHECK(strstr(yoloc_last_error(), "sizes must be >= 1"));
    b = d;
    b.ldc = 4;
    CHECK_EQ_INT(bmm_check(&b), YOLOC_ERR_INVALID);
    CHECK(strstr(yoloc_last_error(), "leading dimensions"));
    b = d;
    b.ta = 1; /* A stored k x m needs lda >= m = 4 */
    CHECK_EQ_INT(bmm_check(&b), YOLOC_ERR_INVALID);
    b.lda = 4;
    CHECK_OK(bmm_check(&b));
    float z[64] = {0};
    b = d;
    b.batch = 0;
    CHECK_EQ_INT(bmm(&OPS_BACKEND_CPU, &b, 1.0f, z, z, 0.0f, z), YOLOC_ERR_INVALID);
}

/* fast vs ref on one shape: every transpose combination, leading dimensions
 * padded by `pad`, batch strides with a gap, beta 0 onto NaN and beta 1 */
static void bmm_case(rng *g, int batch, int m, int n, int k, int pad) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            bmm_desc d = {.batch = batch, .m = m, .n = n, .k = k, .ta = ta, .tb = tb};
            int arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
            d.lda = acols + pad;
            d.ldb = bcols + pad;
            d.ldc = n + pad;
            d.sa = (size_t)arows * d.lda + 7;
            d.sb = (size_t)brows * d.ldb + 3;
            d.sc = (size_t)m * d.ldc + 5;
            size_t na = d.sa * batch, nb = d.sb * batch, ncc = d.sc * batch;
            float *A = alloc_f(na), *B = alloc_f(nb), *C0 = alloc_f(ncc), *C1 = alloc_f(ncc);
            gc_fill(g, A, na, -1, 1);
            gc_fill(g, B, nb, -1, 1);
            char name[96];
            for (int pass = 0; pass < 2; pass++) {
                float beta = pass ? 1.0f : 0.0f, alpha = pass ? 0.125f : 1.0f;
                if (pass) {
                    gc_fill(g, C0, ncc, -1, 1);
                    memcpy(C1, C0, ncc * sizeof *C0);
                } else {
                    for (size_t i = 0; i < ncc; i++) C0[i] = C1[i] = NAN;
                }
                CHECK_OK(bmm(&OPS_BACKEND_REF, &d, alpha, A, B, beta, C0));
                CHECK_OK(bmm(&OPS_BACKEND_CPU, &d, alpha, A, B, beta, C1));
                /* compare the matrices only (the gaps stay as they were) */
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < m; i++) {
                        size_t o = (size_t)b * d.sc + (size_t)i * d.ldc;
                        snprintf(name, sizeof name, "bmm %dx%dx%dx%d t%d%d pad %d beta %g", batch, m, n, k, ta, tb,
                                 pad, beta);
                        if (!test_allclose(name, C1 + o, C0 + o, (size_t)n, 1e-4, 1e-5 * sqrt((double)k))) {
                            b = batch;
                            break;
                        }
                    }
            }
            free(A);
            free(B);
            free(C0);
            free(C1);
        }
}

static void test_bmm_fast(void) {
    rng g;
    rng_seed_keys(&g, 11, 0, 0, 0);
    bmm_case(&g, 1, 1, 1, 1, 0);
    bmm_case(&g, 3, 5, 7, 9, 2);
    bmm_case(&g, 2, 17, 33, 65, 1);
    /* YOLO11n's attention at 320 (10 x 10 cells, 2 heads, key 32, head 64) */
    bmm_case(&g, 2, 100, 100, 32, 0);
    bmm_case(&g, 2, 100, 64, 100, 0);
    /* at 640 (20 x 20 cells) */
    bmm_case(&g, 2, 400, 400, 32, 0);
}

static void softmax_case(rng *g, size_t rows, int n, double spread) {
    size_t N = rows * (size_t)n;
    float *x = alloc_f(N), *y0 = alloc_f(N), *y1 = alloc_f(N), *dy = alloc_f(N), *d0 = alloc_f(N),
          *d1 = alloc_f(N);
    gc_fill(g, x, N, -spread, spread);
    gc_fill(g, dy, N, -1, 1);
    char name[96];
    softmax_forward(&OPS_BACKEND_REF, rows, n, x, y0);
    softmax_forward(&OPS_BACKEND_CPU, rows, n, x, y1);
    snprintf(name, sizeof name, "softmax %zux%d spread %g", rows, n, spread);
    test_allclose(name, y1, y0, N, 1e-5, 1e-7);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (pass) {
            gc_fill(g, d0, N, -1, 1);
            memcpy(d1, d0, N * sizeof *d0);
        } else {
            for (size_t i = 0; i < N; i++) d0[i] = d1[i] = NAN;
        }
        softmax_backward(&OPS_BACKEND_REF, rows, n, y0, dy, d0, beta);
        softmax_backward(&OPS_BACKEND_CPU, rows, n, y0, dy, d1, beta);
        snprintf(name, sizeof name, "softmax backward %zux%d beta %g", rows, n, beta);
        test_allclose(name, d1, d0, N, 1e-5, 1e-7);
    }
    /* in place: y over x, dx over dy */
    memcpy(y1, x, N * sizeof *x);
    softmax_forward(&OPS_BACKEND_CPU, rows, n, y1, y1);
    snprintf(name, sizeof name, "softmax in place %zux%d", rows, n);
    test_allclose(name, y1, y0, N, 1e-5, 1e-7);
    softmax_backward(&OPS_BACKEND_REF, rows, n, y0, dy, d0, 0.0f);
    memcpy(d1, dy, N * sizeof *dy);
    softmax_backward(&OPS_BACKEND_CPU, rows, n, y0, d1, d1, 0.0f);
    snprintf(name, sizeof name, "softmax backward in place %zux%d", rows, n);
    test_allclose(name, d1, d0, N, 1e-5, 1e-7);
    free(x);
    free(y0);
    free(y1);
    free(dy);
    free(d0);
    free(d1);
}

static void test_softmax_fast(void) {
    rng g;
    rng_seed_keys(&g, 12, 0, 0, 0);
    softmax_case(&g, 1, 1, 1);
    softmax_case(&g, 3, 7, 3);
    softmax_case(&g, 100, 100, 10);
    softmax_case(&g, 800, 400, 30);  /* YOLO11n at 640: 2 heads x 400 rows of 400 */
    softmax_case(&g, 5, 1000, 200);  /* most of each row underflows */
}

/* ---- finite differences */

typedef struct {
    size_t rows;
    int n;
    float *x, *y, *r;
} sm_ctx;

static double sm_loss(void *p) {
    sm_ctx *c = p;
    softmax_forward(&OPS_BACKEND_REF, c->rows, c->n, c->x, c->y);
    return gc_project(c->y, c->r, c->rows * (size_t)c->n);
}

static void test_softmax_fd(void) {
    rng g;
    rng_seed_keys(&g, 13, 0, 0, 0);
    sm_ctx c = {.rows = 4, .n = 9};
    size_t N = c.rows * (size_t)c.n;
    c.x = alloc_f(N);
    c.y = alloc_f(N);
    c.r = alloc_f(N);
    float *dx = alloc_f(N);
    gc_fill(&g, c.x, N, -3, 3);
    gc_fill(&g, c.r, N, -1, 1);
    sm_loss(&c);
    softmax_backward(&OPS_BACKEND_REF, c.rows, c.n, c.y, c.r, dx, 0.0f);
    gradcheck("softmax", c.x, N, dx, sm_loss, &c, 1e-3, 1e-2, 1e-4, N);
    free(c.x);
    free(c.y);
    free(c.r);
    free(dx);
}

/* One head of attention over N positions in an interleaved qkv buffer (as
 * C2PSA's: per position, q [kd], k [kd], v [hd] side by side, row stride
 * ct): S = scale Q K^T [N, N], P = softmax(S), O = P V [N, hd]. */
typedef struct {
    backend be;
    int N, kd, hd, ct;
    float scale;
    float *qkv, *S, *O, *r;
} at_ctx;

static void at_forward(at_ctx *c) {
    bmm_desc s = {.batch = 1, .m = c->N, .n = c->N, .k = c->kd, .tb = 1, .lda = c->ct, .ldb = c->ct, .ldc = c->N};
    CHECK_OK(bmm(c->be, &s, c->scale, c->qkv, c->qkv + c->kd, 0.0f, c->S));
    softmax_forward(c->be, (size_t)c->N, c->N, c->S, c->S);
    bmm_desc o = {.batch = 1, .m = c->N, .n = c->hd, .k = c->N, .lda = c->N, .ldb = c->ct, .ldc = c->hd};
    CHECK_OK(bmm(c->be, &o, 1.0f, c->S, c->qkv + 2 * c->kd, 0.0f, c->O));
}

static double at_loss(void *p) {
    at_ctx *c = p;
    at_forward(c);
    return gc_project(c->O, c->r, (size_t)c->N * c->hd);
}

/* dq, dk, dv of the loss sum(O * dO) into dqkv (interleaved like qkv) */
static void at_backward(at_ctx *c, const float *dO, float *dqkv, float *dP) {
    int N = c->N, kd = c->kd, hd = c->hd, ct = c->ct;
    at_forward(c); /* c->S holds P */
    /* dP = dO V^T; dV = P^T dO */
    bmm_desc a = {.batch = 1, .m = N, .n = N, .k = hd, .tb = 1, .lda = hd, .ldb = ct, .ldc = N};
    CHECK_OK(bmm(c->be, &a, 1.0f, dO, c->qkv + 2 * kd, 0.0f, dP));
    bmm_desc b = {.batch = 1, .m = N, .n = hd, .k = N, .ta = 1, .lda = N, .ldb = hd, .ldc = ct};
    CHECK_OK(bmm(c->be, &b, 1.0f, c->S, dO, 0.0f, dqkv + 2 * kd));
    softmax_backward(c->be, (size_t)N, N, c->S, dP, dP, 0.0f); /* dS */
    /* dQ = scale dS K; dK = scale dS^T Q */
    bmm_desc q = {.batch = 1, .m = N, .n = kd, .k = N, .lda = N, .ldb = ct, .ldc = ct};
    CHECK_OK(bmm(c->be, &q, c->scale, dP, c->qkv + kd, 0.0f, dqkv));
    bmm_desc k = {.batch = 1, .m = N, .n = kd, .k = N, .ta = 1, .lda = N, .ldb = ct, .ldc = ct};
    CHECK_OK(bmm(c->be, &k, c->scale, dP, c->qkv, 0.0f, dqkv + kd));
}

static void test_attention_fd(void) {
    rng g;
    rng_seed_keys(&g, 14, 0, 0, 0);
    at_ctx c = {.be = &OPS_BACKEND_REF, .N = 6, .kd = 2, .hd = 4};
    c.ct = 2 * c.kd + c.hd;
    c.scale = 1.0f / sqrtf((float)c.kd);
    size_t nq = (size_t)c.N * c.ct;
    c.qkv = alloc_f(nq);
    c.S = alloc_f((size_t)c.N * c.N);
    c.O = alloc_f((size_t)c.N * c.hd);
    c.r = alloc_f((size_t)c.N * c.hd);
    float *dq0 = alloc_f(nq), *dq1 = alloc_f(nq), *dP = alloc_f((size_t)c.N * c.N);
    gc_fill(&g, c.qkv, nq, -1.5, 1.5);
    gc_fill(&g, c.r, (size_t)c.N * c.hd, -1, 1);
    at_backward(&c, c.r, dq0, dP);
    gradcheck("attention q, k, v", c.qkv, nq, dq0, at_loss, &c, 1e-3, 1e-2, 1e-4, nq);
    c.be = &OPS_BACKEND_CPU; /* the same backward on the fast path */
    at_backward(&c, c.r, dq1, dP);
    test_allclose("attention backward cpu vs ref", dq1, dq0, nq, 1e-4, 1e-6);
    free(c.qkv);
    free(c.S);
    free(c.O);
    free(c.r);
    free(dq0);
    free(dq1);
    free(dP);
}

int main(void) {
    test_hand();
    test_check();
    test_bmm_fast();
    test_softmax_fast();
    test_softmax_fd();
    test_attention_fd();
    return test_finish("test_matmul");
}
