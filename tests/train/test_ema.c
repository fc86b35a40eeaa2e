/* EMA tests: the decay ramp d(u) = decay*(1 - exp(-u/tau)) in closed form;
 * params AND buffers after n updates towards a constant model against the
 * closed form x + (e0 - x)*prod d_k; the first update with the defaults;
 * padding stays zero; a checkpoint round trip continues bit for bit; 1 vs 2
 * threads give the same bits; ema_init copies a real model (yolov8n). */
#include "harness.h"
#include "ops/backend.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "train/ema.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void test_decay(void) {
    ema e;
    float p[1] = {0};
    CHECK(ema_init_buffers(&e, p, 1, NULL, 0, 0, 0) == YOLOC_OK);
    CHECK(e.decay == 0.9999 && e.tau == 2000.0 && e.updates == 0);
    /* d(1) = 0.9999*(1 - exp(-1/2000)); d(2000) = 0.9999*(1 - 1/e) */
    CHECK_NEAR(ema_decay_at(&e, 1), 0.9999 * -expm1(-0.0005), 1e-12 * 5e-4);
    CHECK_NEAR(ema_decay_at(&e, 2000), 0.9999 * (1 - exp(-1.0)), 1e-12);
    CHECK_NEAR(ema_decay_at(&e, 2000), 0.6320573467726748, 1e-12);
    CHECK_NEAR(ema_decay_at(&e, 1000000), 0.9999, 1e-12);
    CHECK(ema_decay_at(&e, 0) == 0.0);
    ema_free(&e);
    CHECK(ema_init_buffers(&e, p, 1, NULL, 0, 1.5, 0) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "ema_decay");
    ema_free(&e);
}

/* Constant model x: after n updates ema = x + (e0 - x) * prod_{k=1..n} d_k. */
static void test_closed_form(void) {
    enum { NP = 48, NB = 32 };
    float e0p[NP] = {0}, e0b[NB] = {0}, xp[NP] = {0}, xb[NB] = {0};
    /* two "tensors" per buffer with padding between them (floats 10-15,
     * 26-31 of params; 5-15 of bufs) */
    for (int i = 0; i < NP; i++) {
        int pad = (i >= 10 && i < 16) || (i >= 26 && i < 32);
        e0p[i] = pad ? 0 : 1.0f + 0.25f * (float)(i % 5);
        xp[i] = pad ? 0 : -2.0f + 0.5f * (float)(i % 3);
    }
    for (int i = 0; i < NB; i++) {
        int pad = i >= 5 && i < 16;
        e0b[i] = pad ? 0 : 0.5f * (float)i; /* e.g. running means */
        xb[i] = pad ? 0 : 1.0f;             /* e.g. running vars */
    }
    ema e;
    CHECK(ema_init_buffers(&e, e0p, NP, e0b, NB, 0.9, 2.0) == YOLOC_OK);
    double prod = 1;
    for (int n = 1; n <= 8; n++) {
        ema_update(&e, xp, xb);
        prod *= 0.9 * (1 - exp(-n / 2.0));
        CHECK_EQ_INT(e.updates, n);
        double worst = 0;
        for (int i = 0; i < NP; i++) {
            double want = xp[i] + ((double)e0p[i] - xp[i]) * prod;
            double d = fabs(e.params[i] - want);
            if (d > worst) worst = d;
            CHECK_NEAR(e.params[i], want, 1e-6 * fabs(want) + 1e-7);
        }
        for (int i = 0; i < NB; i++) {
            double want = xb[i] + ((double)e0b[i] - xb[i]) * prod;
            double d = fabs(e.bufs[i] - want);
            if (d > worst) worst = d;
            CHECK_NEAR(e.bufs[i], want, 1e-6 * fabs(want) + 1e-7);
        }
        printf("  update %d: prod d = %.9g, max|ema - closed form| %.3g (tol 1e-6 rel + 1e-7)\n", n,
               prod, worst);
    }
    for (int i = 10; i < 16; i++) CHECK(e.params[i] == 0.0f);
    for (int i = 5; i < 16; i++) CHECK(e.bufs[i] == 0.0f);

    /* checkpoint: copy (params, bufs, updates) and continue both */
    ema r;
    CHECK(ema_init_buffers(&r, e.params, NP, e.bufs, NB, 0.9, 2.0) == YOLOC_OK);
    r.updates = e.updates;
    float yp[NP], yb[NB];
    for (int i = 0; i < NP; i++) yp[i] = e0p[i] * 0.5f;
    for (int i = 0; i < NB; i++) yb[i] = e0b[i] * 3.0f;
    ema_update(&e, yp, yb);
    ema_update(&r, yp, yb);
    CHECK(memcmp(e.params, r.params, sizeof yp) == 0);
    CHECK(memcmp(e.bufs, r.bufs, sizeof yb) == 0);
    ema_free(&r);
    ema_free(&e);
}

/* Defaults: the first update has d(1) = 0.9999*(1 - exp(-1/2000)) ~ 5e-4,
 * so the EMA jumps almost to the model. */
static void test_first_update(void) {
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    ema e;
    CHECK(ema_init_buffers(&e, a, 4, NULL, 0, 0, 0) == YOLOC_OK);
    ema_update(&e, b, NULL);
    double d = 0.9999 * (1 - exp(-1 / 2000.0));
    for (int i = 0; i < 4; i++) CHECK_NEAR(e.params[i], d * a[i] + (1 - d) * b[i], 1e-6 * b[i]);
    CHECK_NEAR(e.params[0], 4.99800075, 1e-6 * 5); /* 5 - 4*d */
    ema_free(&e);
}

static void test_threads(void) {
    const size_t n = 1 << 20, nb = 100000;
    float *p = malloc(n * sizeof *p), *x = malloc(n * sizeof *x);
    float *bb = malloc(nb * sizeof *bb), *xb = malloc(nb * sizeof *xb);
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        x[i] = (float)((i * 40503u) % 777) * 1e-2f;
    }
    for (size_t i = 0; i < nb; i++) {
        bb[i] = (float)(i % 13);
        xb[i] = (float)(i % 7);
    }
    ema e1, e2;
    CHECK(ema_init_buffers(&e1, p, n, bb, nb, 0, 0) == YOLOC_OK);
    CHECK(ema_init_buffers(&e2, p, n, bb, nb, 0, 0) == YOLOC_OK);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    for (int k = 0; k < 3; k++) ema_update(&e1, x, xb);
    omp_set_num_threads(2);
    for (int k = 0; k < 3; k++) ema_update(&e2, x, xb);
    omp_set_num_threads(saved);
    CHECK_MSG(memcmp(e1.params, e2.params, n * sizeof(float)) == 0,
              "EMA params depend on the thread count");
    CHECK_MSG(memcmp(e1.bufs, e2.bufs, nb * sizeof(float)) == 0,
              "EMA bufs depend on the thread count");
    ema_free(&e1);
    ema_free(&e2);
    free(p);
    free(x);
    free(bb);
    free(xb);
}

static void test_model(void) {
    model_spec spec;
    status st = model_spec_load(&spec, "yolov8n.yaml", 80);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) return;
    model_options mo = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    st = model_create(&m, &spec, &mo, 3);
    model_spec_free(&spec);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) return;
    ema e;
    CHECK(ema_init(&e, m, 0, 0) == YOLOC_OK);
    CHECK_EQ_INT(e.nparams, model_num_params(m));
    CHECK_EQ_INT(e.nbufs, model_num_bufs(m));
    CHECK(memcmp(e.params, model_params(m), e.nparams * sizeof(float)) == 0);
    CHECK(memcmp(e.bufs, model_bufs(m), e.nbufs * sizeof(float)) == 0);
    /* a BatchNorm running_var moves towards the model's value */
    const param_info *rv = model_find(m, "model.0.bn.running_var");
    CHECK(rv != NULL);
    if (rv) {
        model_bufs(m)[rv->off] = 3.0f; /* was 1 */
        ema_update(&e, model_params(m), model_bufs(m));
        double d = ema_decay_at(&e, 1);
        CHECK_NEAR(e.bufs[rv->off], d * 1.0 + (1 - d) * 3.0, 1e-6);
    }
    ema_free(&e);
    model_free(m);
}

int main(void) {
    test_decay();
    test_closed_form();
    test_first_update();
    test_threads();
    test_model();
    return test_finish("test_ema");
}
