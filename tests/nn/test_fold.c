/* Inference with BatchNorm folded into the convolutions (cpu backend) and
 * model_set_static_weights: the folded eval forward equals the reference
 * backend's unfolded one on the same weights and running statistics; with
 * static weights the fold and the weights reorder are done once (a change
 * to the parameters then stays unseen, as the promise allows) and redone
 * after a new promise or a re-plan; without the promise every forward sees
 * the current parameters. */
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
    if (model_spec_load(&spec, YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml", 2) < 0) return NULL;
    model_options opt = {.be = be, .norm = NORM_BN, .gn_groups = 4};
    model *m = NULL;
    status st = model_create(&m, &spec, &opt, 5);
    model_spec_free(&spec);
    return st < 0 ? NULL : m;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* The raw head output of one eval forward, copied into out. */
static status eval_out(model *m, const float *x, float *out, size_t n) {
    TRY(model_plan(m, 1, S, S, 0));
    const float *o;
    TRY(model_forward(m, x, &o));
    memcpy(out, model_raw_output(m), n * sizeof(float));
    return YOLOC_OK;
}

int main(void) {
    model *mc = make(&OPS_BACKEND_CPU), *mr = make(&OPS_BACKEND_REF);
    CHECK(mc && mr);
    if (!mc || !mr) return test_finish("fold");
    size_t np = model_num_params(mc), nb = model_num_bufs(mc);
    srand(3);
    /* running statistics and BN parameters away from their defaults */
    float *bufs = model_bufs(mc), *params = model_params(mc);
    for (size_t i = 0; i < model_num_tensors(mc); i++) {
        const param_info *p = model_tensor(mc, i);
        float *d = model_tensor_data(mc, p);
        if (strstr(p->name, "running_var"))
            for (size_t k = 0; k < p->numel; k++) d[k] = 0.5f + (float)rand() / RAND_MAX;
        else if (strstr(p->name, "running_mean") || strstr(p->name, ".bn."))
            for (size_t k = 0; k < p->numel; k++) d[k] += 0.2f * ((float)rand() / RAND_MAX - 0.5f);
    }
    memcpy(model_params(mr), params, np * sizeof(float));
    memcpy(model_bufs(mr), bufs, nb * sizeof(float));
    float *x = malloc((size_t)3 * S * S * sizeof(float));
    for (size_t i = 0; i < (size_t)3 * S * S; i++) x[i] = (float)rand() / RAND_MAX;
    CHECK(model_plan(mc, 1, S, S, 0) == YOLOC_OK);
    size_t n = (size_t)model_anchors(mc) * model_out_channels(mc);
    float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);

    CHECK(eval_out(mr, x, a, n) == YOLOC_OK);
    CHECK(eval_out(mc, x, b, n) == YOLOC_OK);
    double d = rel_diff(b, a, n);
    CHECK_MSG(d < 1e-5, "folded (cpu) vs unfolded (ref) eval forward: %.3g", d);

    /* static weights: a change to the BatchNorm scales after the promise
     * stays unseen (they only enter through the fold)... */
    model_set_static_weights(mc, 1);
    CHECK(eval_out(mc, x, b, n) == YOLOC_OK); /* folds and reorders once */
    for (size_t i = 0; i < model_num_tensors(mc); i++) {
        const param_info *p = model_tensor(mc, i);
        if (strstr(p->name, ".bn.weight")) {
            float *w = model_tensor_data(mc, p);
            for (size_t k = 0; k < p->numel; k++) w[k] *= 0.5f;
        }
    }
    CHECK(eval_out(mc, x, c, n) == YOLOC_OK);
    CHECK_MSG(memcmp(b, c, n * 4) == 0, "static weights: the second forward folded again");
    for (size_t i = 0; i < model_num_tensors(mc); i++) { /* undo */
        const param_info *p = model_tensor(mc, i);
        if (strstr(p->name, ".bn.weight")) {
            float *w = model_tensor_data(mc, p);
            for (size_t k = 0; k < p->numel; k++) w[k] *= 2.0f;
        }
    }
    for (size_t i = 0; i < np; i++) params[i] *= 0.9f;
    /* ...until a new promise */
    model_set_static_weights(mc, 1);
    CHECK(eval_out(mc, x, c, n) == YOLOC_OK);
    CHECK(rel_diff(c, b, n) > 1e-3);
    for (size_t i = 0; i < np; i++) model_params(mr)[i] *= 0.9f;
    CHECK(eval_out(mr, x, a, n) == YOLOC_OK);
    d = rel_diff(c, a, n);
    CHECK_MSG(d < 1e-5, "after a new promise: %.3g against the reference", d);
    /* without the promise every forward sees the parameters */
    model_set_static_weights(mc, 0);
    for (size_t i = 0; i < np; i++) params[i] /= 0.9f;
    for (size_t i = 0; i < np; i++) model_params(mr)[i] /= 0.9f;
    CHECK(eval_out(mc, x, b, n) == YOLOC_OK);
    CHECK(eval_out(mr, x, a, n) == YOLOC_OK);
    d = rel_diff(b, a, n);
    CHECK_MSG(d < 1e-5, "no promise: %.3g against the reference", d);
    /* a re-plan (another size, then back) refolds even with the promise */
    model_set_static_weights(mc, 1);
    CHECK(eval_out(mc, x, b, n) == YOLOC_OK);
    for (size_t i = 0; i < np; i++) params[i] *= 0.9f;
    CHECK(model_plan(mc, 2, S, S, 0) == YOLOC_OK);
    CHECK(eval_out(mc, x, c, n) == YOLOC_OK);
    CHECK(rel_diff(c, b, n) > 1e-3);
    printf("folded vs reference eval forward and static weights: ok\n");
    free(x), free(a), free(b), free(c);
    model_free(mc);
    model_free(mr);
    return test_finish("fold");
}
