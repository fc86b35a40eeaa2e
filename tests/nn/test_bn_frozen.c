/* model_set_bn_frozen (the gradient-noise probe): with frozen BatchNorm
 * statistics a training forward leaves the running statistics alone, its
 * output equals the eval forward's, and every image's gradient is its own:
 * the gradient of a batch of 2 is the sum of the two single-image
 * gradients (with batch statistics it is not, which the test also checks,
 * so the property is not vacuous). The reference backend (BatchNorm, then
 * SiLU, unfused) gives the cpu backend's frozen gradients. */
#include "harness.h"
#include "ops/backend.h"
#include "nn/model.h"
#include "nn/spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S 64

static model *make(backend be) {
    model_spec spec;
    if (model_spec_load(&spec, YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml", 2) < 0) {
        fprintf(stderr, "spec: %s\n", yoloc_last_error());
        return NULL;
    }
    model_options opt = {.be = be, .norm = NORM_BN, .gn_groups = 4};
    model *m = NULL;
    status st = model_create(&m, &spec, &opt, 3);
    model_spec_free(&spec);
    if (st < 0) fprintf(stderr, "create: %s\n", yoloc_last_error());
    return m;
}

/* Gradient of sum(out * r) for the images x (batch n) into g. */
static status grad_of(model *m, int n, const float *x, const float *r, float *g) {
    TRY(model_plan(m, n, S, S, 1));
    const float *out;
    TRY(model_forward(m, x, &out));
    size_t no = (size_t)n * model_anchors(m) * model_out_channels(m);
    model_zero_grad(m);
    TRY(model_backward(m, r));
    (void)no;
    memcpy(g, model_grads(m), model_num_params(m) * sizeof(float));
    return YOLOC_OK;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

int main(void) {
    model *m = make(&OPS_BACKEND_CPU);
    CHECK(m != NULL);
    if (!m) return test_finish("bn_frozen");
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    size_t img = (size_t)3 * S * S;
    float *x = malloc(2 * img * sizeof(float));
    srand(1);
    for (size_t i = 0; i < 2 * img; i++) x[i] = (float)rand() / RAND_MAX;
    /* running statistics away from their (0, 1) start: a few batch-statistics forwards */
    CHECK(model_plan(m, 2, S, S, 1) == YOLOC_OK);
    const float *out;
    for (int k = 0; k < 5; k++) CHECK(model_forward(m, x, &out) == YOLOC_OK);
    size_t no1 = (size_t)model_anchors(m) * model_out_channels(m);
    float *r = malloc(2 * no1 * sizeof(float));
    for (size_t i = 0; i < 2 * no1; i++) r[i] = (float)rand() / RAND_MAX - 0.5f;
    float *g2 = malloc(np * 4), *ga = malloc(np * 4), *gb = malloc(np * 4), *bufs = malloc(nb * 4);

    /* batch statistics: the batch's gradient is not the sum of the images' */
    CHECK(grad_of(m, 2, x, r, g2) == YOLOC_OK);
    CHECK(grad_of(m, 1, x, r, ga) == YOLOC_OK);
    CHECK(grad_of(m, 1, x + img, r + no1, gb) == YOLOC_OK);
    for (size_t i = 0; i < np; i++) ga[i] += gb[i];
    double d_batch = rel_diff(ga, g2, np);
    CHECK_MSG(d_batch > 1e-2, "batch statistics: |g(2) - g(1)-g(1)| / |g(2)| = %.3g, expected a coupling", d_batch);

    /* frozen: the sum, to float rounding; running statistics unchanged */
    model_set_bn_frozen(m, 1);
    memcpy(bufs, model_bufs(m), nb * 4);
    CHECK(grad_of(m, 2, x, r, g2) == YOLOC_OK);
    CHECK(memcmp(bufs, model_bufs(m), nb * 4) == 0);
    CHECK(grad_of(m, 1, x, r, ga) == YOLOC_OK);
    CHECK(grad_of(m, 1, x + img, r + no1, gb) == YOLOC_OK);
    for (size_t i = 0; i < np; i++) ga[i] += gb[i];
    double d_frozen = rel_diff(ga, g2, np);
    CHECK_MSG(d_frozen < 1e-5, "frozen statistics: |g(2) - g(1)-g(1)| / |g(2)| = %.3g", d_frozen);
    printf("batch of 2 vs the sum of 2 single images: relative difference %.3g with batch statistics, %.3g frozen\n",
           d_batch, d_frozen);

    /* the frozen training forward is the eval forward */
    CHECK(model_plan(m, 2, S, S, 1) == YOLOC_OK);
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    size_t nout = 2 * no1;
    float *train_out = malloc(nout * 4);
    memcpy(train_out, model_raw_output(m), nout * 4);
    CHECK(model_plan(m, 2, S, S, 0) == YOLOC_OK);
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    double d_eval = rel_diff(train_out, model_raw_output(m), nout);
    CHECK_MSG(d_eval < 1e-5, "frozen training forward vs eval forward: %.3g", d_eval);
    model_free(m);

    /* the reference backend, unfused: the same frozen gradients and
     * running statistics left alone */
    model *mr = make(&OPS_BACKEND_REF), *mc = make(&OPS_BACKEND_CPU);
    CHECK(mr != NULL && mc != NULL);
    if (mr && mc) {
        model_set_bn_frozen(mr, 1);
        model_set_bn_frozen(mc, 1);
        float *gr = malloc(np * sizeof(float)), *gc = malloc(np * sizeof(float));
        float *br0 = malloc(nb * sizeof(float));
        memcpy(br0, model_bufs(mr), nb * sizeof(float));
        CHECK(grad_of(mr, 2, x, r, gr) == YOLOC_OK);
        CHECK(grad_of(mc, 2, x, r, gc) == YOLOC_OK);
        double d_rc = rel_diff(gr, gc, np);
        CHECK_MSG(d_rc < 1e-4, "frozen gradients, ref vs cpu: %.3g", d_rc);
        CHECK_MSG(memcmp(br0, model_bufs(mr), nb * sizeof(float)) == 0, "ref: frozen statistics were updated");
        printf("bn_frozen: ref (unfused) vs cpu (fused) frozen gradients: %.2g\n", d_rc);
        free(gr), free(gc), free(br0);
    }
    model_free(mr);
    model_free(mc);
    free(x), free(r), free(g2), free(ga), free(gb), free(bufs), free(train_out);
    return test_finish("bn_frozen");
}
