/* Point-wise and copy ops: SiLU, add/acc, chcopy (concat/split), nearest
 * upsample, and the backend names. Hand-derived values, fast path against
 * the reference on many sizes (forward, backward with beta 0 onto garbage
 * and beta 1 onto non-zero values), and finite-difference checks of the
 * reference backward.
 *
 * Tolerances: SiLU fast vs ref 1e-5 relative plus 1e-6 absolute (oneDNN's
 * exp is a polynomial; for x < -87 both are ~0); the copy ops must match
 * exactly, the upsample backward sums f*f values in float (fast) or double (ref): 1e-5
 * relative, 1e-6 absolute. */
#include "core/rng.h"
#include "ops/backend.h"
#include "core/tensor.h"
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

static void test_backend_names(void) {
    CHECK_STR(backend_name(&OPS_BACKEND_REF), "ref");
    CHECK_STR(backend_name(&OPS_BACKEND_CPU), "cpu");
    CHECK(backend_find("ref") == &OPS_BACKEND_REF);
    CHECK(backend_find("cpu") == &OPS_BACKEND_CPU);
    CHECK(backend_find("onednn") == &OPS_BACKEND_CPU);
    CHECK(backend_find("nosuch") == NULL);
    CHECK(backend_find(NULL) == NULL);
    CHECK(backend_list()[0] == &OPS_BACKEND_REF); /* the oracle comes first */
    CHECK(backend_default() == &OPS_BACKEND_CPU);
    CHECK_STR(backend_names(), "ref, cpu");
    /* device= and backend= together */
    backend be = NULL;
    CHECK_OK(backend_select("cpu", "ref", &be));
    CHECK(be == &OPS_BACKEND_REF);
    CHECK_OK(backend_select("CPU", NULL, &be));
    CHECK(be == &OPS_BACKEND_CPU);
    CHECK_OK(backend_select(NULL, "", &be));
    CHECK(be == &OPS_BACKEND_CPU);
    const char *gpus[] = {"0", "0,1", "cuda", "cuda:0", "cuda:0,1"};
    for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++) {
        int have_gpu = 0;
        for (const ops_backend *const *b = backend_list(); *b; b++) have_gpu |= (*b)->gpu;
        status st = backend_select(gpus[i], "cpu", &be);
        if (have_gpu) {
            CHECK_OK(st);
            CHECK(be && be->gpu);
        } else { /* the error names what this build has */
            CHECK_EQ_INT(st, YOLOC_ERR_INVALID);
            CHECK(strstr(yoloc_last_error(), "no GPU backend") && strstr(yoloc_last_error(), "ref, cpu"));
        }
    }
    const char *bad[] = {"gpu", "0,", ",0", "cuda:", "cuda:x", "-1", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(backend_select(bad[i], "cpu", &be), YOLOC_ERR_INVALID);
        CHECK(strstr(yoloc_last_error(), "is not a device"));
    }
    CHECK_EQ_INT(backend_select("cpu", "nosuch", &be), YOLOC_ERR_INVALID);
    CHECK(strstr(yoloc_last_error(), "not a backend built in (built in: ref, cpu)"));
    int t = ops_get_threads();
    CHECK(t >= 1);
    ops_set_threads(1);
    CHECK_EQ_INT(ops_get_threads(), 1);
    ops_set_threads(0); /* leaves it */
    CHECK_EQ_INT(ops_get_threads(), 1);
    ops_set_threads(t);
}

/* ------------------------------------------------------------------------ */
/* SiLU by hand, with sigma(1) = e/(1+e) = 0.7310585786, sigma(2) =
 * 0.8807970780, sigma(-20) = 2.0611536e-9:
 *   y = x*sigma(x); y' = sigma*(1 + x*(1 - sigma)). */
static void test_silu_hand(cpu_ctx *ctx) {
    const double s1 = 0.7310585786300049, s2 = 0.8807970779778823, s20 = 2.0611536181902037e-09;
    const float x[6] = {0, 1, -1, 2, -20, 20};
    const double y_want[6] = {0, s1, -(1 - s1), 2 * s2, -20 * s20, 20 * (1 - s20)};
    const double d_want[6] = {0.5,
                              s1 * (1 + (1 - s1)),
                              (1 - s1) * (1 - s1),
                              s2 * (1 + 2 * (1 - s2)),
                              s20 * (1 - 20 * (1 - s20)),
                              (1 - s20) * (1 + 20 * s20)};
    for (int be = 0; be < 2; be++) {
        silu_op op;
        status st = silu_op_init(&op, ctx, backend_list()[be], 6, 1);
        CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
        if (st != YOLOC_OK) continue;
        float y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        CHECK_OK(silu_op_forward(&op, x, y));
        for (int i = 0; i < 6; i++) CHECK_NEAR(y[i], y_want[i], 1e-6 * (1 + fabs(y_want[i])));
        CHECK_OK(silu_op_backward(&op, x, dy, dx, 0.0f));
        for (int i = 0; i < 6; i++) CHECK_NEAR(dx[i], d_want[i], 2e-6);
        /* beta 1 onto 0.25, with dy = 2 */
        for (int i = 0; i < 6; i++) dx[i] = 0.25f, dy[i] = 2;
        CHECK_OK(silu_op_backward(&op, x, dy, dx, 1.0f));
        for (int i = 0; i < 6; i++) CHECK_NEAR(dx[i], 0.25 + 2 * d_want[i], 4e-6);
        silu_op_free(&op);
    }
}

static void test_silu_fast_vs_ref(cpu_ctx *ctx) {
    static const size_t sizes[] = {1, 7, 8, 33, 1000, 12345, 16 * 20 * 20 * 16};
    static const float extremes[] = {-1e4f, -100,  -88, -87, -50, -17, -1e-8f,
                                     0,     1e-8f, 17,  50,  88,  100, 1e4f};
    const size_t ne = sizeof extremes / sizeof *extremes;
    rng g;
    rng_seed(&g, 21);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        const size_t n = sizes[s] + ne;
        char name[64];
        float *x = alloc_f(n), *dy = alloc_f(n), *y0 = alloc_f(n), *y1 = alloc_f(n);
        float *dx0 = alloc_f(n), *dx1 = alloc_f(n);
        gc_fill(&g, x, n, -10, 10);
        float *tail = x + (n - ne); /* the last ne elements take the extremes */
        for (size_t i = 0; i < ne; i++) tail[i] = extremes[i];
        gc_fill(&g, dy, n, -1, 1);
        silu_op ref, cpu;
        CHECK_OK(silu_op_init(&ref, ctx, &OPS_BACKEND_REF, n, 1));
        status st = silu_op_init(&cpu, ctx, &OPS_BACKEND_CPU, n, 1);
        CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
        if (st == YOLOC_OK) {
            CHECK_OK(silu_op_forward(&ref, x, y0));
            CHECK_OK(silu_op_forward(&cpu, x, y1));
            snprintf(name, sizeof name, "silu y n=%zu", n);
            test_allclose(name, y1, y0, n, 1e-5, 1e-6);
            for (size_t i = 0; i < n; i++) dx0[i] = dx1[i] = NAN;
            CHECK_OK(silu_op_backward(&ref, x, dy, dx0, 0.0f));
            CHECK_OK(silu_op_backward(&cpu, x, dy, dx1, 0.0f));
            snprintf(name, sizeof name, "silu dx beta0 n=%zu", n);
            test_allclose(name, dx1, dx0, n, 1e-5, 1e-6);
            gc_fill(&g, dx0, n, -1, 1);
            memcpy(dx1, dx0, n * sizeof(float));
            CHECK_OK(silu_op_backward(&ref, x, dy, dx0, 1.0f));
            CHECK_OK(silu_op_backward(&cpu, x, dy, dx1, 1.0f));
            snprintf(name, sizeof name, "silu dx beta1 n=%zu", n);
            test_allclose(name, dx1, dx0, n, 1e-5, 1e-6);
            silu_op_free(&cpu);
        }
        silu_op_free(&ref);
        free(x), free(dy), free(y0), free(y1), free(dx0), free(dx1);
    }
    /* An inference plan: forward works, backward is refused. */
    silu_op op;
    float x[5] = {-2, -1, 0, 1, 2}, y[5], y0[5], dx[5];
    CHECK_OK(silu_op_init(&op, ctx, &OPS_BACKEND_CPU, 5, 0));
    CHECK_OK(silu_op_forward(&op, x, y));
    silu_ref_forward(5, x, y0);
    test_allclose("silu y (inference plan)", y, y0, 5, 1e-5, 1e-6);
    CHECK(silu_op_backward(&op, x, y, dx, 0.0f) == YOLOC_ERR_INVALID);
    silu_op_free(&op);
}

typedef struct {
    size_t n;
    float *x, *y, *r;
} silu_gc;

static double silu_gc_loss(void *p) {
    silu_gc *c = p;
    silu_ref_forward(c->n, c->x, c->y);
    return gc_project(c->y, c->r, c->n);
}

static void test_silu_gradcheck(void) {
    enum { N = 40 };
    float x[N], y[N], r[N], dx[N];
    rng g;
    rng_seed(&g, 22);
    gc_fill(&g, x, N, -6, 6);
    gc_fill(&g, r, N, -1, 1);
    silu_gc c = {N, x, y, r};
    silu_ref_backward(N, x, r, dx, 0.0f);
    gradcheck("silu_ref dx", x, N, dx, silu_gc_loss, &c, 1e-2, 2e-3, 2e-4, N);
}

/* ------------------------------------------------------------------------ */
/* add and acc */
static void test_add_acc(void) {
    const float a[3] = {1, 2, 3}, b[3] = {10, 20, -30};
    for (int be = 0; be < 2; be++) {
        float y[3], d[3] = {NAN, NAN, NAN};
        add_forward(backend_list()[be], 3, a, b, y);
        CHECK_NEAR(y[0], 11, 0);
        CHECK_NEAR(y[1], 22, 0);
        CHECK_NEAR(y[2], -27, 0);
        acc(backend_list()[be], 3, a, d, 0.0f); /* overwrite: the NaN must not survive */
        for (int i = 0; i < 3; i++) CHECK_NEAR(d[i], a[i], 0);
        acc(backend_list()[be], 3, b, d, 1.0f);
        for (int i = 0; i < 3; i++) CHECK_NEAR(d[i], a[i] + b[i], 0);
        acc(backend_list()[be], 3, a, d, 0.5f);
        for (int i = 0; i < 3; i++) CHECK_NEAR(d[i], 0.5f * (a[i] + b[i]) + a[i], 1e-6);
    }
    rng g;
    rng_seed(&g, 23);
    static const size_t sizes[] = {1, 17, 100003};
    for (size_t s = 0; s < 3; s++) {
        const size_t n = sizes[s];
        char name[64];
        float *p = alloc_f(n), *q = alloc_f(n), *y0 = alloc_f(n), *y1 = alloc_f(n);
        gc_fill(&g, p, n, -1, 1);
        gc_fill(&g, q, n, -1, 1);
        add_forward(&OPS_BACKEND_REF, n, p, q, y0);
        add_forward(&OPS_BACKEND_CPU, n, p, q, y1);
        snprintf(name, sizeof name, "add n=%zu", n);
        test_allclose(name, y1, y0, n, 0, 0);
        acc(&OPS_BACKEND_REF, n, p, y0, 1.0f);
        acc(&OPS_BACKEND_CPU, n, p, y1, 1.0f);
        snprintf(name, sizeof name, "acc beta1 n=%zu", n);
        test_allclose(name, y1, y0, n, 0, 0);
        free(p), free(q), free(y0), free(y1);
    }
}

/* ------------------------------------------------------------------------ */
/* chcopy: concat three tensors of 3, 5 and 1 channels into 9, check each
 * element by its index, split back, and accumulate with beta 1. */
static void test_chcopy(void) {
    enum { NPIX = 2 * 7 * 5 };
    static const int cs[3] = {3, 5, 1}, offs[3] = {0, 3, 8};
    const int ct = 9;
    float *in[3], *back[3], *cat[2];
    for (int i = 0; i < 3; i++) {
        in[i] = alloc_f((size_t)NPIX * cs[i]);
        back[i] = alloc_f((size_t)NPIX * cs[i]);
        for (int p = 0; p < NPIX; p++)
            for (int j = 0; j < cs[i]; j++) in[i][p * cs[i] + j] = (float)(1000 * i + 10 * p + j);
    }
    for (int be = 0; be < 2; be++) {
        const char *bn = backend_name(backend_list()[be]);
        char name[64];
        cat[be] = alloc_f((size_t)NPIX * ct);
        for (int i = 0; i < NPIX * ct; i++) cat[be][i] = NAN;
        for (int i = 0; i < 3; i++)
            chcopy(backend_list()[be], NPIX, cs[i], in[i], cs[i], 0, cat[be], ct, offs[i], 0.0f);
        int bad = 0;
        for (int p = 0; p < NPIX; p++)
            for (int k = 0; k < ct; k++) {
                int i = k < 3 ? 0 : (k < 8 ? 1 : 2), j = k - offs[i];
                if (cat[be][p * ct + k] != (float)(1000 * i + 10 * p + j)) bad++;
            }
        CHECK_MSG(bad == 0, "%s: concat has %d wrong elements", bn, bad);
        /* split back (beta 0 onto garbage) gives the inputs exactly */
        for (int i = 0; i < 3; i++) {
            for (int e = 0; e < NPIX * cs[i]; e++) back[i][e] = NAN;
            chcopy(backend_list()[be], NPIX, cs[i], cat[be], ct, offs[i], back[i], cs[i], 0, 0.0f);
            snprintf(name, sizeof name, "split %d %s", i, bn);
            test_allclose(name, back[i], in[i], (size_t)NPIX * cs[i], 0, 0);
        }
        /* beta 1: the backward of a tensor read twice accumulates */
        chcopy(backend_list()[be], NPIX, cs[1], cat[be], ct, offs[1], back[1], cs[1], 0, 1.0f);
        int bad2 = 0;
        for (int e = 0; e < NPIX * cs[1]; e++)
            if (back[1][e] != 2 * in[1][e]) bad2++;
        CHECK_MSG(bad2 == 0, "%s: split with beta 1 has %d wrong elements", bn, bad2);
    }
    /* fast == ref on a random strided case with beta 1 and a dense case */
    rng g;
    rng_seed(&g, 24);
    const size_t np = 16 * 13 * 13;
    float *src = alloc_f(np * 40), *d0 = alloc_f(np * 70), *d1 = alloc_f(np * 70);
    gc_fill(&g, src, np * 40, -1, 1);
    gc_fill(&g, d0, np * 70, -1, 1);
    memcpy(d1, d0, np * 70 * sizeof(float));
    chcopy_ref(np, 33, src, 40, 5, d0, 70, 17, 1.0f);
    chcopy_cpu(np, 33, src, 40, 5, d1, 70, 17, 1.0f);
    test_allclose("chcopy strided beta1", d1, d0, np * 70, 0, 0);
    chcopy_ref(np, 33, src, 40, 5, d0, 70, 37, 0.0f);
    chcopy_cpu(np, 33, src, 40, 5, d1, 70, 37, 0.0f);
    test_allclose("chcopy strided beta0", d1, d0, np * 70, 0, 0);
    chcopy_ref(np, 40, src, 40, 0, d0, 40, 0, 1.0f);
    chcopy_cpu(np, 40, src, 40, 0, d1, 40, 0, 1.0f);
    test_allclose("chcopy dense beta1", d1, d0, np * 40, 0, 0);
    free(src), free(d0), free(d1);
    for (int i = 0; i < 3; i++) free(in[i]), free(back[i]);
    free(cat[0]), free(cat[1]);
}

/* chcopy as concat: y = [a | b] over 6 pixels (a: 2 channels, b: 3); the
 * gradient of sum(y*r) with respect to a is r's slice, copied out. */
typedef struct {
    float *a, *b, *y, *r;
} cat_gc;

static double cat_gc_loss(void *p) {
    cat_gc *c = p;
    chcopy_ref(6, 2, c->a, 2, 0, c->y, 5, 0, 0.0f);
    chcopy_ref(6, 3, c->b, 3, 0, c->y, 5, 2, 0.0f);
    return gc_project(c->y, c->r, 30);
}

static void test_chcopy_gradcheck(void) {
    float a[12], b[18], y[30], r[30], da[12], db[18];
    rng g;
    rng_seed(&g, 25);
    gc_fill(&g, a, 12, -1, 1);
    gc_fill(&g, b, 18, -1, 1);
    gc_fill(&g, r, 30, -1, 1);
    cat_gc c = {a, b, y, r};
    chcopy_ref(6, 2, r, 5, 0, da, 2, 0, 0.0f);
    chcopy_ref(6, 3, r, 5, 2, db, 3, 0, 0.0f);
    gradcheck("concat (chcopy_ref) da", a, 12, da, cat_gc_loss, &c, 1e-2, 2e-3, 2e-4, 12);
    gradcheck("concat (chcopy_ref) db", b, 18, db, cat_gc_loss, &c, 1e-2, 2e-3, 2e-4, 18);
}

/* ------------------------------------------------------------------------ */
/* Upsample by hand: a 2x2 image (one channel) 1 2 / 3 4, factor 2. */
static void test_upsample_hand(void) {
    const float x[4] = {1, 2, 3, 4};
    const float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int be = 0; be < 2; be++) {
        float y[16], dx[4] = {NAN, NAN, NAN, NAN}, dy[16];
        upsample_forward(backend_list()[be], 1, 2, 2, 1, 2, x, y);
        test_allclose(be ? "upsample hand cpu" : "upsample hand ref", y, want, 16, 0, 0);
        /* dy = index: dx(0,0) = 0+1+4+5 = 10, (0,1) = 2+3+6+7 = 18,
         * (1,0) = 8+9+12+13 = 42, (1,1) = 10+11+14+15 = 50 */
        for (int i = 0; i < 16; i++) dy[i] = (float)i;
        upsample_backward(backend_list()[be], 1, 2, 2, 1, 2, dy, dx, 0.0f);
        const float dwant[4] = {10, 18, 42, 50};
        test_allclose(be ? "upsample bwd hand cpu" : "upsample bwd hand ref", dx, dwant, 4, 0, 0);
        upsample_backward(backend_list()[be], 1, 2, 2, 1, 2, dy, dx, 1.0f);
        const float dwant2[4] = {20, 36, 84, 100};
        test_allclose(be ? "upsample bwd beta1 cpu" : "upsample bwd beta1 ref", dx, dwant2, 4, 0,
                      0);
    }
}

static void test_upsample_fast_vs_ref(void) {
    static const int shapes[][5] = {{1, 7, 5, 3, 2},  {16, 13, 13, 1, 2}, {2, 5, 3, 10, 3},
                                    {1, 1, 1, 17, 2}, {4, 20, 20, 64, 2}, {3, 4, 6, 5, 1}};
    rng g;
    rng_seed(&g, 26);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int n = shapes[s][0], h = shapes[s][1], w = shapes[s][2], c = shapes[s][3],
                  f = shapes[s][4];
        const size_t nx = (size_t)n * h * w * c, ny = nx * f * f;
        char name[80];
        float *x = alloc_f(nx), *y0 = alloc_f(ny), *y1 = alloc_f(ny), *dy = alloc_f(ny);
        float *dx0 = alloc_f(nx), *dx1 = alloc_f(nx);
        gc_fill(&g, x, nx, -1, 1);
        gc_fill(&g, dy, ny, -1, 1);
        for (size_t i = 0; i < ny; i++) y0[i] = y1[i] = NAN;
        upsample_forward(&OPS_BACKEND_REF, n, h, w, c, f, x, y0);
        upsample_forward(&OPS_BACKEND_CPU, n, h, w, c, f, x, y1);
        snprintf(name, sizeof name, "upsample y %dx%dx%dx%d f%d", n, h, w, c, f);
        test_allclose(name, y1, y0, ny, 0, 0);
        for (size_t i = 0; i < nx; i++) dx0[i] = dx1[i] = NAN;
        upsample_backward(&OPS_BACKEND_REF, n, h, w, c, f, dy, dx0, 0.0f);
        upsample_backward(&OPS_BACKEND_CPU, n, h, w, c, f, dy, dx1, 0.0f);
        snprintf(name, sizeof name, "upsample dx beta0 %dx%dx%dx%d f%d", n, h, w, c, f);
        test_allclose(name, dx1, dx0, nx, 1e-5, 1e-6);
        gc_fill(&g, dx0, nx, -1, 1);
        memcpy(dx1, dx0, nx * sizeof(float));
        upsample_backward(&OPS_BACKEND_REF, n, h, w, c, f, dy, dx0, 1.0f);
        upsample_backward(&OPS_BACKEND_CPU, n, h, w, c, f, dy, dx1, 1.0f);
        snprintf(name, sizeof name, "upsample dx beta1 %dx%dx%dx%d f%d", n, h, w, c, f);
        test_allclose(name, dx1, dx0, nx, 1e-5, 1e-6);
        free(x), free(y0), free(y1), free(dy), free(dx0), free(dx1);
    }
}

typedef struct {
    float *x, *y, *r;
} up_gc;

static double up_gc_loss(void *p) {
    up_gc *c = p;
    upsample_ref_forward(2, 3, 2, 3, 2, c->x, c->y);
    return gc_project(c->y, c->r, 144);
}

static void test_upsample_gradcheck(void) {
    float x[36], y[144], r[144], dx[36];
    rng g;
    rng_seed(&g, 27);
    gc_fill(&g, x, 36, -1, 1);
    gc_fill(&g, r, 144, -1, 1);
    up_gc c = {x, y, r};
    upsample_ref_backward(2, 3, 2, 3, 2, r, dx, 0.0f);
    gradcheck("upsample_ref dx", x, 36, dx, up_gc_loss, &c, 1e-2, 2e-3, 2e-4, 36);
}

/* fp32 -> bf16: the fast conversion gives the reference's bits on random
 * values of every magnitude, on ties (round to even, both directions), on
 * the largest finite values (rounding up to infinity), on denormals, signed
 * zeros, infinities and NaNs (kept quiet NaNs), at sizes around the vector
 * widths and the threading threshold. */
static void test_f32_to_bf16(void) {
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
                                       0xffc00001u, 0x7f800001u, 0x7f7fffffu, 0xff7fffffu, 0x00000001u,
                                       0x807fffffu, 0x3f808000u, 0x3f818000u, 0x3f80c000u, 0x3f807fffu,
                                       0xbf808000u, 0xbf818000u, 0x3f7fffffu, 0x477fffffu, 0x00008000u};
    const size_t ns = sizeof special / sizeof *special;
    static const size_t sizes[] = {1, 15, 16, 17, 31, 33, 1000, 40000, 123457};
    rng g;
    rng_seed(&g, 5);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        const size_t n = sizes[s] + ns;
        float *x = alloc_f(n);
        uint16_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        if (!a || !b) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        for (size_t i = 0; i < sizes[s]; i++) {
            uint32_t u = (uint32_t)(rng_u64(&g) >> 32); /* any bits: every exponent, NaNs included */
            memcpy(&x[i], &u, sizeof u);
        }
        for (size_t i = 0; i < ns; i++) memcpy(&x[sizes[s] + i], &special[i], sizeof special[i]);
        f32_to_bf16_ref(n, x, a);
        f32_to_bf16_cpu(n, x, b);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += a[i] != b[i];
        CHECK_MSG(bad == 0, "f32_to_bf16 n=%zu: %zu values differ from the reference", n, bad);
        free(x), free(a), free(b);
    }
    /* the reference itself on hand-checked values */
    CHECK_EQ_INT(f32_to_bf16(1.0f), 0x3f80);
    float v;
    uint32_t u = 0x3f808000u; /* 1 + 2^-8: a tie, rounds to even (down) */
    memcpy(&v, &u, 4);
    CHECK_EQ_INT(f32_to_bf16(v), 0x3f80);
    u = 0x3f818000u; /* 1 + 3 * 2^-8: a tie, rounds to even (up) */
    memcpy(&v, &u, 4);
    CHECK_EQ_INT(f32_to_bf16(v), 0x3f82);
    u = 0x7f7fffffu; /* the largest float rounds to infinity */
    memcpy(&v, &u, 4);
    CHECK_EQ_INT(f32_to_bf16(v), 0x7f80);
    CHECK(bf16_round(1.00390625f) == 1.0f && bf16_round(1.01171875f) == 1.015625f);
}

int main(void) {
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "cpu_ctx_create: %s\n", yoloc_last_error());
        return 1;
    }
    test_backend_names();
    test_silu_hand(ctx);
    test_silu_fast_vs_ref(ctx);
    test_silu_gradcheck();
    test_add_acc();
    test_chcopy();
    test_chcopy_gradcheck();
    test_upsample_hand();
    test_upsample_fast_vs_ref();
    test_upsample_gradcheck();
    test_f32_to_bf16();
    cpu_ctx_free(ctx);
    return test_finish("test_pointwise");
}
