/* Model builder and model tests: parameter counts and GFLOPs of the stock
 * scales, spec errors naming file:line, finite-difference gradient checks
 * through every module and a whole tiny model (BatchNorm and GroupNorm),
 * the oneDNN backend against the reference backend, and determinism. */
#include "gradcheck.h"
#include "ops/backend.h"
#include "harness.h"
#include "nn/model.h"
#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tiny_model.h"

static model *make_model_bf16(const char *yaml, backend be, norm_kind nk, uint64_t seed, int bf16) {
    model_spec spec;
    status st = model_spec_parse(&spec, yaml, strlen(yaml), "tiny.yaml", 0, 0);
    if (st < 0) {
        fprintf(stderr, "spec: %s\n", yoloc_last_error());
        return NULL;
    }
    model_options opt = {.be = be, .norm = nk, .gn_groups = 4, .bf16 = bf16};
    model *m = NULL;
    st = model_create(&m, &spec, &opt, seed);
    model_spec_free(&spec);
    if (st < 0) fprintf(stderr, "create: %s\n", yoloc_last_error());
    return m;
}

static model *make_model(const char *yaml, backend be, norm_kind nk, uint64_t seed) {
    return make_model_bf16(yaml, be, nk, seed, 0);
}

static void test_param_counts(void) {
    static const struct {
        const char *name;
        size_t params;
    } want[] = {{"yolov8n.yaml", 3157200}, {"yolov8s.yaml", 11166560}, {"yolov8m.yaml", 25902640},
                {"yolov8l.yaml", 43691520}, {"yolov8x.yaml", 68229648}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        model_spec spec;
        status st = model_spec_load(&spec, want[i].name, 80);
        CHECK_MSG(st == YOLOC_OK, "%s: %s", want[i].name, yoloc_last_error());
        if (st < 0) continue;
        model_options opt = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 32};
        model *m = NULL;
        st = model_create(&m, &spec, &opt, 0);
        model_spec_free(&spec);
        CHECK(st == YOLOC_OK);
        if (st < 0) continue;
        size_t total = 0;
        for (size_t t = 0; t < model_num_tensors(m); t++)
            if (!model_tensor(m, t)->buffer) total += model_tensor(m, t)->numel;
        CHECK_EQ_INT(total, want[i].params);
        if (i == 0) {
            double flops;
            CHECK(model_flops(m, 640, 640, &flops, NULL) == YOLOC_OK);
            printf("  yolov8n: %zu parameters, %.3f GFLOPs at 640\n", total, flops / 1e9);
            CHECK_NEAR(flops / 1e9, 8.7, 8.7 * 0.03);
            /* names follow the PyTorch state_dict */
            CHECK(model_find(m, "model.0.conv.weight") != NULL);
            CHECK(model_find(m, "model.0.bn.running_var") != NULL);
            CHECK(model_find(m, "model.4.m.1.cv2.bn.bias") != NULL);
            CHECK(model_find(m, "model.22.cv3.2.2.bias") != NULL);
            CHECK(model_find(m, "model.22.dfl.conv.weight") != NULL);
            const param_info *b = model_find(m, "model.22.cv3.0.2.bias");
            CHECK(b && fabsf(model_tensor_data(m, b)[0] - (-11.537f)) < 1e-3f);
            CHECK_EQ_INT(model_stride(m, 0), 8);
            CHECK_EQ_INT(model_stride(m, 2), 32);
        }
        model_free(m);
    }
}

static void expect_spec_error(const char *yaml, const char *needle) {
    model_spec spec;
    status st = model_spec_parse(&spec, yaml, strlen(yaml), "bad.yaml", 0, 0);
    CHECK_MSG(st < 0, "expected an error containing '%s'", needle);
    if (st < 0) CHECK_CONTAINS(yoloc_last_error(), needle);
    else model_spec_free(&spec);
}

static void test_spec_errors(void) {
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conf, [8, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n",
                      "bad.yaml:3:");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conf, [8, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n",
                      "unknown module 'Conf'");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\n  - [-5, 1, Conv, [8, 3, 2]]\nhead:\n"
                      "  - [[1], 1, Detect, [nc]]\n",
                      "bad.yaml:4:");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\n  - [-5, 1, Conv, [8, 3, 2]]\nhead:\n"
                      "  - [[1], 1, Detect, [nc]]\n",
                      "bad 'from' index");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2, 1, 1, 1, True, 9]]\nhead:\n"
                      "  - [[0], 1, Detect, [nc]]\n",
                      "Conv takes");
    expect_spec_error("backbone:\n  - [-1, 1, Conv, [8, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n",
                      "missing key 'nc'");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\n", "missing key 'head'");
    expect_spec_error("nc: 3\nbackbone: [[-1, 1, Conv, [8, 3, 2]]\nhead: [\n", "bad.yaml:");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\n  - [-1, 1, Conv, [8, 3, 2]]\n"
                      "  - [[-1, 0], 1, Concat, [1]]\nhead:\n  - [[2], 1, Detect, [nc]]\n",
                      "different strides");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 2, Conv, [8, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n",
                      "not supported");
    /* YOLO11's modules */
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [128, 3, 2]]\n  - [-1, 1, C2PSA, [64]]\nhead:\n"
                      "  - [[1], 1, Detect, [nc]]\n",
                      "C2PSA keeps its channels: input 128, output 64");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, C2PSA, [64]]\nhead:\n"
                      "  - [[1], 1, Detect, [nc]]\n",
                      "at least 64 hidden channels");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, C3k2, [64, False, 9]]\nhead:\n"
                      "  - [[1], 1, Detect, [nc]]\n",
                      "C3k2 e must be");
    expect_spec_error("nc: 3\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, C3k2, [64, False, 0.5, 1, True, 1]]\n"
                      "head:\n  - [[1], 1, Detect, [nc]]\n",
                      "C3k2 takes");
    model_spec spec;
    CHECK(model_spec_load(&spec, "yolov9q.yaml", 0) == YOLOC_ERR_NOT_FOUND);
    CHECK_CONTAINS(yoloc_last_error(), "yolov9q.yaml");
}

typedef struct {
    model *m;
    const float *x;
    const float *r;
    size_t nout;
} gc_ctx;

static double model_loss(void *p) {
    gc_ctx *c = p;
    const float *o;
    if (model_forward(c->m, c->x, &o) < 0) return NAN;
    return gc_project(o, c->r, c->nout);
}

/* Directional checks of every parameter tensor (all modules of the model).
 * Absolute tolerance: 1e-5 of the largest tensor gradient norm (at least
 * 1e-4). Some gradients are zero in exact arithmetic (YOLO11's PSA block: a
 * BatchNorm bias without activation whose every path ends in a
 * training-mode BatchNorm), and float noise in the loss is all finite
 * differences see there. */
static void gradcheck_model(const char *label, model *m, int n, int hw) {
    CHECK(model_plan(m, n, hw, hw, 1) == YOLOC_OK);
    size_t nin = (size_t)n * 3 * hw * hw;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 5);
    gc_fill(&g, x, nin, 0, 1);
    const float *o;
    CHECK(model_forward(m, x, &o) == YOLOC_OK);
    size_t nout = (size_t)n * model_anchors(m) * model_out_channels(m);
    float *r = malloc(nout * sizeof(float));
    gc_fill(&g, r, nout, -1, 1);
    model_zero_grad(m);
    CHECK(model_backward(m, r) == YOLOC_OK);
    gc_ctx c = {m, x, r, nout};
    size_t np = model_num_params(m);
    float *ana = malloc(np * sizeof(float));
    memcpy(ana, model_grads(m), np * sizeof(float));
    double gmax = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (p->buffer || p->group == PG_FROZEN) continue;
        double s2 = 0;
        for (size_t i = 0; i < p->numel; i++) s2 += (double)ana[p->off + i] * ana[p->off + i];
        gmax = fmax(gmax, sqrt(s2));
    }
    double atol = fmax(1e-4, 1e-5 * gmax);
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (p->buffer || p->group == PG_FROZEN) continue;
        char name[160];
        snprintf(name, sizeof name, "%s %s", label, p->name);
        gradcheck_dir(name, model_tensor_data(m, p), p->numel, ana + p->off, model_loss, &c, 1e-3, 2e-2, atol);
    }
    free(ana);
    free(r);
    free(x);
}

static void test_gradcheck_tiny(void) {
    model *m = make_model(TINY_YAML, &OPS_BACKEND_REF, NORM_BN, 1);
    CHECK(m != NULL);
    if (!m) return;
    gradcheck_model("bn", m, 2, 128);
    model_free(m);
    m = make_model(TINY_YAML, &OPS_BACKEND_REF, NORM_GN, 2);
    CHECK(m != NULL);
    if (!m) return;
    gradcheck_model("gn", m, 1, 64);
    model_free(m);
    /* YOLO11: C3k2 with and without C3k, C2PSA's attention (4 x 4 cells at
     * 128), the depthwise class branch */
    m = make_model(TINY11_YAML, &OPS_BACKEND_REF, NORM_BN, 4);
    CHECK(m != NULL);
    if (!m) return;
    gradcheck_model("yolo11 bn", m, 2, 128);
    model_free(m);
}

/* oneDNN backend == reference backend: outputs (train and eval) and every
 * parameter gradient. */
static void test_backends_agree(const char *yaml) {
    model *a = make_model(yaml, &OPS_BACKEND_REF, NORM_BN, 3);
    model *b = make_model(yaml, &OPS_BACKEND_CPU, NORM_BN, 3);
    CHECK(a && b);
    if (!a || !b) return;
    int n = 3, hw = 96;
    size_t nin = (size_t)n * 3 * hw * hw;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 7);
    gc_fill(&g, x, nin, 0, 1);
    for (int train = 1; train >= 0; train--) {
        CHECK(model_plan(a, n, hw, hw, train) == YOLOC_OK);
        CHECK(model_plan(b, n, hw, hw, train) == YOLOC_OK);
        const float *oa, *ob;
        CHECK(model_forward(a, x, &oa) == YOLOC_OK);
        CHECK(model_forward(b, x, &ob) == YOLOC_OK);
        size_t nout = (size_t)n * model_anchors(a) * model_out_channels(a);
        test_allclose(train ? "train output cpu vs ref" : "eval output cpu vs ref", ob, oa, nout, 1e-3, 1e-3);
        if (train) {
            float *r = malloc(nout * sizeof(float));
            gc_fill(&g, r, nout, -1, 1);
            model_zero_grad(a);
            model_zero_grad(b);
            CHECK(model_backward(a, r) == YOLOC_OK);
            CHECK(model_backward(b, r) == YOLOC_OK);
            size_t worst = 0;
            int bad = 0;
            /* each tensor against its largest entry, with a floor of 1e-5 of
             * the model's largest (gradients zero in exact arithmetic are
             * rounding noise on both backends) */
            double gfloor = 0;
            for (size_t i = 0; i < model_num_params(a); i++) gfloor = fmax(gfloor, 1e-5 * fabs(model_grads(a)[i]));
            for (size_t t = 0; t < model_num_tensors(a); t++) {
                const param_info *p = model_tensor(a, t);
                if (p->buffer) continue;
                float *ga = model_tensor_grad(a, p), *gb = model_tensor_grad(b, model_find(b, p->name));
                double scale = gfloor;
                for (size_t i = 0; i < p->numel; i++) scale = fmax(scale, fabs(ga[i]));
                for (size_t i = 0; i < p->numel; i++)
                    if (fabs(ga[i] - gb[i]) > 2e-3 * scale + 1e-6) {
                        if (!bad) fprintf(stderr, "  grad mismatch %s[%zu]: %g vs %g\n", p->name, i, gb[i], ga[i]);
                        bad++;
                        worst = t;
                    }
            }
            (void)worst;
            CHECK_EQ_INT(bad, 0);
            /* BN running statistics updated the same way */
            test_allclose("running stats cpu vs ref", model_bufs(b), model_bufs(a), model_num_bufs(a), 1e-4, 1e-5);
            free(r);
        }
    }
    free(x);
    model_free(a);
    model_free(b);
}

static void test_determinism(void) {
    model *a = make_model(TINY_YAML, &OPS_BACKEND_CPU, NORM_BN, 11);
    model *b = make_model(TINY_YAML, &OPS_BACKEND_CPU, NORM_BN, 11);
    CHECK(a && b);
    if (!a || !b) return;
    CHECK(memcmp(model_params(a), model_params(b), model_num_params(a) * sizeof(float)) == 0);
    int n = 2, hw = 64;
    size_t nin = (size_t)n * 3 * hw * hw;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 8);
    gc_fill(&g, x, nin, 0, 1);
    CHECK(model_plan(a, n, hw, hw, 0) == YOLOC_OK);
    CHECK(model_plan(b, n, hw, hw, 0) == YOLOC_OK);
    const float *oa, *ob;
    CHECK(model_forward(a, x, &oa) == YOLOC_OK);
    CHECK(model_forward(b, x, &ob) == YOLOC_OK);
    size_t nout = (size_t)n * model_anchors(a) * model_out_channels(a);
    CHECK(memcmp(oa, ob, nout * sizeof(float)) == 0);
    /* a re-plan and a second forward of the same model give the same bits */
    float *keep = malloc(nout * sizeof(float));
    memcpy(keep, oa, nout * sizeof(float));
    CHECK(model_plan(a, n, hw, hw, 1) == YOLOC_OK);
    CHECK(model_plan(a, n, hw, hw, 0) == YOLOC_OK);
    CHECK(model_forward(a, x, &oa) == YOLOC_OK);
    CHECK(memcmp(oa, keep, nout * sizeof(float)) == 0);
    /* a different seed gives different weights */
    model *c = make_model(TINY_YAML, &OPS_BACKEND_CPU, NORM_BN, 12);
    CHECK(c && memcmp(model_params(a), model_params(c), model_num_params(a) * sizeof(float)) != 0);
    /* bad input sizes are errors, not crashes */
    CHECK(model_plan(a, 1, 65, 64, 0) == YOLOC_ERR_SHAPE);
    free(keep);
    free(x);
    model_free(a);
    model_free(b);
    model_free(c);
}

/* ||a - b|| / ||b|| over n values. */
static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* amp: a whole tiny model with bf16 convolutions against the same model in
 * fp32: outputs and every parameter gradient. A YOLO model at its random
 * initialisation under a random projection is ill-conditioned: perturbing
 * the fp32 model's input by bf16's relative step (2^-8, uniform) already
 * moves its gradients by 10-25 %. So the tolerance is that floor, measured
 * here: bf16's gradients must stay within 4x of it (bf16 rounds every
 * convolution's inputs, not only the image), and the bf16 output within 3x
 * of the perturbed output's distance. The cpu backend's bf16 (where oneDNN
 * has it) must agree with the reference's bf16, which rounds the same
 * operands, far more closely (a quarter of the floor). On a CPU without
 * bf16 convolutions the reference's bf16 is checked against fp32. */
static void test_bf16_model(void) {
    const int n = 2, hw = 64;
    size_t nin = (size_t)n * 3 * hw * hw;
    float *x = malloc(nin * sizeof(float)), *xp = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 13);
    gc_fill(&g, x, nin, 0, 1);
    for (size_t i = 0; i < nin; i++) xp[i] = x[i] * (1.0f + (float)rng_range(&g, -1.0, 1.0) / 256.0f);
    const int have_cpu = ops_bf16_support() != OPS_BF16_NONE;
    const backend be = have_cpu ? &OPS_BACKEND_CPU : &OPS_BACKEND_REF;
    if (!have_cpu)
        printf("test_model: bf16 on the cpu backend skipped: oneDNN has no bf16 convolutions on this CPU (isa %s, no "
               "AVX-512); the reference's bf16 is checked\n",
               ops_dnnl_isa());
    model *base = make_model_bf16(TINY_YAML, be, NORM_BN, 21, 0);
    model *pert = make_model_bf16(TINY_YAML, be, NORM_BN, 21, 0);
    model *bf = make_model_bf16(TINY_YAML, be, NORM_BN, 21, 1);
    model *rb = have_cpu ? make_model_bf16(TINY_YAML, &OPS_BACKEND_REF, NORM_BN, 21, 1) : NULL;
    model *ms[4] = {base, pert, bf, rb};
    const float *xs[4] = {x, xp, x, x};
    CHECK(base && pert && bf && (rb || !have_cpu));
    if (!base || !pert || !bf || (have_cpu && !rb)) goto done;
    const float *o[4] = {0};
    for (int k = 0; k < 4; k++) {
        if (!ms[k]) continue;
        CHECK(model_plan(ms[k], n, hw, hw, 1) == YOLOC_OK);
        CHECK(model_forward(ms[k], xs[k], &o[k]) == YOLOC_OK);
    }
    size_t nout = (size_t)n * model_anchors(base) * model_out_channels(base);
    double eo_floor = rel_l2(o[1], o[0], nout), eo = rel_l2(o[2], o[0], nout);
    printf("  bf16 train output vs fp32: %.2e (input perturbed by 2^-8: %.2e)", eo, eo_floor);
    CHECK_MSG(eo > 0 && eo < 3 * eo_floor, "bf16 output vs fp32: %g, floor %g", eo, eo_floor);
    if (rb) {
        double e = rel_l2(o[2], o[3], nout);
        printf("; cpu bf16 vs ref bf16 %.2e", e);
        CHECK_MSG(e < 0.25 * eo_floor, "output: bf16 cpu vs bf16 ref: %g", e);
    }
    printf("\n");
    float *r = malloc(nout * sizeof(float));
    gc_fill(&g, r, nout, -1, 1);
    for (int k = 0; k < 4; k++)
        if (ms[k]) {
            model_zero_grad(ms[k]);
            CHECK(model_backward(ms[k], r) == YOLOC_OK);
        }
    const size_t np = model_num_params(base);
    double floor_g = rel_l2(model_grads(pert), model_grads(base), np);
    double eg = rel_l2(model_grads(bf), model_grads(base), np);
    printf("  bf16 gradients vs fp32: %.2e (input perturbed by 2^-8: %.2e)", eg, floor_g);
    CHECK_MSG(eg > 0 && eg < 4 * floor_g, "bf16 gradients vs fp32: %g, floor %g", eg, floor_g);
    if (rb) {
        double worst = 0;
        const char *wname = "";
        for (size_t t = 0; t < model_num_tensors(base); t++) {
            const param_info *p = model_tensor(base, t);
            if (p->buffer) continue;
            double e = rel_l2(model_tensor_grad(bf, model_find(bf, p->name)),
                              model_tensor_grad(rb, model_find(rb, p->name)), p->numel);
            if (e > worst) worst = e, wname = p->name;
        }
        printf("; cpu bf16 vs ref bf16: all %.2e, worst tensor %.2e (%s)",
               rel_l2(model_grads(bf), model_grads(rb), np), worst, wname);
        CHECK_MSG(worst < 0.25 * floor_g, "gradients: bf16 cpu vs bf16 ref: worst tensor %s %g", wname, worst);
    }
    printf("\n");
    /* BatchNorm running statistics: updated from bf16 convolutions' outputs */
    double es = rel_l2(model_bufs(bf), model_bufs(base), model_num_bufs(base));
    CHECK_MSG(es < 3e-2, "BatchNorm running statistics: bf16 vs fp32: %g", es);
    free(r);
done:
    for (int k = 0; k < 4; k++) model_free(ms[k]);
    free(x);
    free(xp);
}

int main(void) {
    test_param_counts();
    test_spec_errors();
    test_determinism();
    test_backends_agree(TINY_YAML);
    test_backends_agree(TINY11_YAML);
    test_gradcheck_tiny();
    test_bf16_model();
    return test_finish("test_model");
}
