/* YOLOv5 in the model builder: parameter counts and GFLOPs of the five
 * scales (YOLOv5 v6.1's model summaries), a YOLOv5-format YAML
 * (depth_multiple/width_multiple/anchors) building the same model as the
 * built-in scales form, state_dict names, the anchors buffer and the head's
 * bias initialisation, spec errors of the anchor-based Detect, the anchor
 * order check, finite-difference gradient checks of a whole tiny YOLOv5
 * (C3 and the v5 Detect; BatchNorm and GroupNorm), the oneDNN backend
 * against the reference, the three outputs of the head (raw, decoded,
 * eval rows) against each other, and freezing. */
#include "gradcheck.h"
#include "ops/backend.h"
#include "harness.h"
#include "nn/model.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
/* ultralytics/yolov5 v6.1 models/yolov5n.yaml (comments dropped) */
static const char *const V5N_YAML =
    "nc: 80\n"
    "depth_multiple: 0.33\n"
    "width_multiple: 0.25\n"
    "anchors:\n"
    "  - [10,13, 16,30, 33,23]\n"
    "  - [30,61, 62,45, 59,119]\n"
    "  - [116,90, 156,198, 373,326]\n"
    "backbone:\n"
    "  [[-1, 1, Conv, [64, 6, 2, 2]],\n"
    "   [-1, 1, Conv, [128, 3, 2]],\n"
    "   [-1, 3, C3, [128]],\n"
    "   [-1, 1, Conv, [256, 3, 2]],\n"
    "   [-1, 6, C3, [256]],\n"
    "   [-1, 1, Conv, [512, 3, 2]],\n"
    "   [-1, 9, C3, [512]],\n"
    "   [-1, 1, Conv, [1024, 3, 2]],\n"
    "   [-1, 3, C3, [1024]],\n"
    "   [-1, 1, SPPF, [1024, 5]],\n"
    "  ]\n"
    "head:\n"
    "  [[-1, 1, Conv, [512, 1, 1]],\n"
    "   [-1, 1, nn.Upsample, [None, 2, 'nearest']],\n"
    "   [[-1, 6], 1, Concat, [1]],\n"
    "   [-1, 3, C3, [512, False]],\n"
    "   [-1, 1, Conv, [256, 1, 1]],\n"
    "   [-1, 1, nn.Upsample, [None, 2, 'nearest']],\n"
    "   [[-1, 4], 1, Concat, [1]],\n"
    "   [-1, 3, C3, [256, False]],\n"
    "   [-1, 1, Conv, [256, 3, 2]],\n"
    "   [[-1, 14], 1, Concat, [1]],\n"
    "   [-1, 3, C3, [512, False]],\n"
    "   [-1, 1, Conv, [512, 3, 2]],\n"
    "   [[-1, 10], 1, Concat, [1]],\n"
    "   [-1, 3, C3, [1024, False]],\n"
    "   [[17, 20, 23], 1, Detect, [nc, anchors]],\n"
    "  ]\n";

/* yolov5 at width 1/16 (channels 8..64), 3 classes: small enough to check
 * the gradients of a whole model at 64x64. */
static const char *const TINY_V5 =
    "nc: 3\n"
    "depth_multiple: 0.33\n"
    "width_multiple: 0.0625\n"
    "anchors:\n"
    "  - [10, 13, 16, 30, 33, 23]\n"
    "  - [30, 61, 62, 45, 59, 119]\n"
    "  - [116, 90, 156, 198, 373, 326]\n"
    "backbone:\n"
    "  - [-1, 1, Conv, [64, 6, 2, 2]]\n"
    "  - [-1, 1, Conv, [128, 3, 2]]\n"
    "  - [-1, 3, C3, [128]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [-1, 6, C3, [256]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [-1, 9, C3, [512]]\n"
    "  - [-1, 1, Conv, [1024, 3, 2]]\n"
    "  - [-1, 3, C3, [1024]]\n"
    "  - [-1, 1, SPPF, [1024, 5]]\n"
    "head:\n"
    "  - [-1, 1, Conv, [512, 1, 1]]\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 6], 1, Concat, [1]]\n"
    "  - [-1, 3, C3, [512, False]]\n"
    "  - [-1, 1, Conv, [256, 1, 1]]\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 4], 1, Concat, [1]]\n"
    "  - [-1, 3, C3, [256, False]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [[-1, 14], 1, Concat, [1]]\n"
    "  - [-1, 3, C3, [512, False]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [[-1, 10], 1, Concat, [1]]\n"
    "  - [-1, 3, C3, [1024, False]]\n"
    "  - [[17, 20, 23], 1, Detect, [nc, anchors]]\n";
/* clang-format on */

static model *make_model(const char *yaml, backend be, norm_kind nk, uint64_t seed) {
    model_spec spec;
    status st = model_spec_parse(&spec, yaml, strlen(yaml), "v5.yaml", 0, 0);
    if (st < 0) {
        fprintf(stderr, "spec: %s\n", yoloc_last_error());
        return NULL;
    }
    model_options opt = {.be = be, .norm = nk, .gn_groups = 4};
    model *m = NULL;
    st = model_create(&m, &spec, &opt, seed);
    model_spec_free(&spec);
    if (st < 0) fprintf(stderr, "create: %s\n", yoloc_last_error());
    return m;
}

static size_t count_params(const model *m) {
    size_t total = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++)
        if (!model_tensor(m, t)->buffer) total += model_tensor(m, t)->numel;
    return total;
}

/* Parameter counts as YOLOv5 v6.1 prints them (unfused); GFLOPs of n. */
static void test_param_counts(void) {
    static const struct {
        const char *name;
        size_t params;
    } want[] = {{"yolov5n.yaml", 1872157},
                {"yolov5s.yaml", 7235389},
                {"yolov5m.yaml", 21190557},
                {"yolov5l.yaml", 46563709},
                {"yolov5x.yaml", 86749405}};
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
        CHECK_EQ_INT(count_params(m), want[i].params);
        CHECK_EQ_INT(model_na(m), 3);
        CHECK_EQ_INT(model_reg_max(m), 0);
        if (i == 0) {
            double flops;
            CHECK(model_flops(m, 640, 640, &flops, NULL) == YOLOC_OK);
            printf("  yolov5n: %zu parameters, %.3f GFLOPs at 640\n", count_params(m), flops / 1e9);
            CHECK_NEAR(flops / 1e9, 4.5, 4.5 * 0.03);
            CHECK_EQ_INT(model_anchors(m),
                         25200); /* 3 x (80^2 + 40^2 + 20^2) after the flops plan */
            CHECK_EQ_INT(model_num_tensors(m),
                         292); /* + 57 num_batches_tracked = the 349 of yolov5n.pt */
            CHECK(model_find(m, "model.2.m.0.cv1.conv.weight") != NULL);
            CHECK(model_find(m, "model.2.cv3.bn.running_var") != NULL);
            CHECK(model_find(m, "model.24.m.2.bias") != NULL);
            const param_info *w0 = model_find(m, "model.0.conv.weight");
            CHECK(w0 && w0->shape[0] == 16 && w0->shape[2] == 6);
            const param_info *bw =
                model_find(m, "model.2.m.0.cv1.conv.weight"); /* the 1x1 of v5's Bottleneck */
            CHECK(bw && bw->shape[2] == 1 && bw->shape[3] == 1);
            const param_info *a = model_find(m, "model.24.anchors");
            CHECK(a && a->buffer && a->ndim == 3 && a->shape[0] == 3 && a->shape[1] == 3 &&
                  a->shape[2] == 2);
            /* anchors in grid units as YOLOv5 stores them */
            const float *ad = model_anchor_sizes(m);
            CHECK(ad == model_tensor_data(m, a));
            CHECK_NEAR(ad[0], 1.25, 0);
            CHECK_NEAR(ad[1], 1.625, 0);
            CHECK_NEAR(ad[2 * 3], 30.0 / 16, 0);
            CHECK_NEAR(ad[17], 326.0 / 32, 0);
            /* bias init: PyTorch's uniform bias + log(8 / (640/s)^2) on objectness */
            const param_info *b = model_find(m, "model.24.m.0.bias");
            const float *bd = model_tensor_data(m, b);
            double bound = 1.0 / sqrt(64.0);
            CHECK(fabs(bd[4] - log(8.0 / 6400.0)) <= bound);
            CHECK(fabs(bd[85 + 5] - log(0.6 / (80 - 0.99999))) <= bound);
            CHECK(fabs(bd[0]) <= bound);
        }
        model_free(m);
    }
}

/* The v6.1 yolov5n.yaml (depth_multiple/width_multiple) builds the model of
 * the built-in scales form: same tensors, same shapes, same seeded values. */
static void test_v5_format(void) {
    model *a = make_model(V5N_YAML, &OPS_BACKEND_REF, NORM_BN, 4);
    model_spec spec;
    CHECK(model_spec_load(&spec, "yolov5n.yaml", 0) == YOLOC_OK);
    model_options opt = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 4};
    model *b = NULL;
    CHECK(model_create(&b, &spec, &opt, 4) == YOLOC_OK);
    model_spec_free(&spec);
    CHECK(a && b);
    if (!a || !b) return;
    CHECK_EQ_INT(model_num_tensors(a), model_num_tensors(b));
    size_t diff = 0;
    for (size_t t = 0; t < model_num_tensors(a) && t < model_num_tensors(b); t++) {
        const param_info *p = model_tensor(a, t), *q = model_tensor(b, t);
        int same = strcmp(p->name, q->name) == 0 && p->ndim == q->ndim && p->numel == q->numel;
        for (int d = 0; same && d < p->ndim; d++) same = p->shape[d] == q->shape[d];
        if (same)
            same = memcmp(model_tensor_data(a, p), model_tensor_data(b, q),
                          p->numel * sizeof(float)) == 0;
        if (!same && diff++ < 3) fprintf(stderr, "  differs: %s vs %s\n", p->name, q->name);
    }
    CHECK_EQ_INT(diff, 0);
    model_free(a);
    model_free(b);
}

static void expect_spec_error(const char *yaml, const char *needle) {
    model_spec spec;
    status st = model_spec_parse(&spec, yaml, strlen(yaml), "bad.yaml", 0, 0);
    CHECK_MSG(st < 0, "expected an error containing '%s'", needle);
    if (st < 0)
        CHECK_CONTAINS(yoloc_last_error(), needle);
    else
        model_spec_free(&spec);
}

#define MINI_BODY                                                                                  \
    "backbone:\n  - [-1, 1, Conv, [8, 3, 2]]\n  - [-1, 1, Conv, [8, 3, 2]]\n  - [-1, 1, Conv, "    \
    "[8, 3, 2]]\n"                                                                                 \
    "head:\n"

static void test_spec_errors(void) {
    expect_spec_error("nc: 3\nanchors: 3\n" MINI_BODY "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "bad.yaml:2:");
    expect_spec_error("nc: 3\nanchors: 3\n" MINI_BODY "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "must be a list of 2 per-level lists");
    expect_spec_error("nc: 3\n" MINI_BODY "  - [[1, 2], 1, Detect, [nc, 3]]\n", "AutoAnchor");
    expect_spec_error("nc: 3\n" MINI_BODY "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "no top-level anchors");
    expect_spec_error("nc: 3\nanchors:\n  - [10, 13, 16, 30]\n  - [30, 61]\n" MINI_BODY
                      "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "level 1 has 1 anchors, level 0 has 2");
    expect_spec_error("nc: 3\nanchors:\n  - [10, 13, 16]\n  - [30, 61, 3, 4]\n" MINI_BODY
                      "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "anchors of level 0 must be a list");
    expect_spec_error("nc: 3\nanchors:\n  - [10, -13]\n  - [30, 61]\n" MINI_BODY
                      "  - [[1, 2], 1, Detect, [nc, anchors]]\n",
                      "positive pixels");
    expect_spec_error("nc: 3\nanchors:\n  - [10, 13]\n  - [30, 61]\n" MINI_BODY
                      "  - [[1, 2], 1, Detect, [nc, anchorz]]\n",
                      "must be 'anchors'");
    expect_spec_error("nc: 3\n" MINI_BODY "  - [[1, 2], 1, Detect, [nc, anchors, 5]]\n",
                      "Detect takes");
    expect_spec_error("nc: 3\n" MINI_BODY "  - [-1, 0, C3, [8]]\n  - [[1, 3], 1, Detect, [nc]]\n",
                      "repeats");
    expect_spec_error("nc: 3\n" MINI_BODY
                      "  - [-1, 1, C3, [8, True, 3]]\n  - [[1, 3], 1, Detect, [nc]]\n",
                      "C3 groups 3");
    /* an inline list works, and so does a v5 head and C3 repeated */
    model_spec spec;
    const char *ok = "nc: 3\n" MINI_BODY
                     "  - [-1, 2, C3, [16]]\n  - [[1, 3], 1, Detect, [nc, [[4, 5], [20, 30]]]]\n";
    CHECK_MSG(model_spec_parse(&spec, ok, strlen(ok), "ok.yaml", 0, 0) == YOLOC_OK, "%s",
              yoloc_last_error());
    CHECK_EQ_INT(spec.layers[4].kind, MOD_DETECT_V5);
    CHECK_EQ_INT(spec.layers[3].repeats, 2);
    CHECK_EQ_INT(spec.na, 1);
    CHECK_NEAR(spec.anchors[1][0][1], 30, 0);
    model_spec_free(&spec);
    /* check_anchor_order: areas decreasing with the stride are reversed */
    const char *rev = "nc: 3\nanchors:\n  - [116, 90, 156, 198]\n  - [10, 13, 16, 30]\n" MINI_BODY
                      "  - [[1, 2], 1, Detect, [nc, anchors]]\n";
    CHECK(model_spec_parse(&spec, rev, strlen(rev), "rev.yaml", 0, 0) == YOLOC_OK);
    CHECK_NEAR(spec.anchors[0][0][0], 10, 0);
    CHECK_NEAR(spec.anchors[1][1][1], 198, 0);
    model_spec_free(&spec);
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

/* Directional checks of every parameter tensor: C3 (bottleneck chain,
 * shortcut and not), SPPF, the v5 Detect's three 1x1 convolutions through
 * the raw head's row order. */
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
    size_t np = model_num_params(m), checked = 0;
    float *ana = malloc(np * sizeof(float));
    memcpy(ana, model_grads(m), np * sizeof(float));
    int ok = 1;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (p->buffer || p->group == PG_FROZEN) continue;
        char name[160];
        snprintf(name, sizeof name, "%s %s", label, p->name);
        ok &= gradcheck_dir(name, model_tensor_data(m, p), p->numel, ana + p->off, model_loss, &c,
                            1e-3, 2e-2, 1e-4);
        checked++;
    }
    printf("  %s: %zu parameter tensors checked by finite differences%s\n", label, checked,
           ok ? "" : " (FAILURES)");
    free(ana);
    free(r);
    free(x);
}

static void test_gradcheck_tiny(void) {
    model *m = make_model(TINY_V5, &OPS_BACKEND_REF, NORM_BN, 1);
    CHECK(m != NULL);
    if (!m) return;
    CHECK_EQ_INT(model_out_channels(m), 0); /* not planned yet */
    gradcheck_model("v5 bn", m, 2,
                    128); /* BatchNorm over 2x2 maps (64 px) is too curved for the steps */
    CHECK_EQ_INT(model_out_channels(m), 8); /* raw: 5 + nc */
    CHECK_EQ_INT(model_anchors(m), 3 * (256 + 64 + 16));
    model_free(m);
    m = make_model(TINY_V5, &OPS_BACKEND_REF, NORM_GN, 2);
    CHECK(m != NULL);
    if (!m) return;
    gradcheck_model("v5 gn", m, 1, 64);
    model_free(m);
}

static float sigmoidf_(float v) {
    return 1.0f / (1.0f + expf(-v));
}

/* oneDNN backend == reference backend (train and eval outputs, gradients);
 * the eval outputs against the raw head decoded here. */
static void test_backends_and_decode(void) {
    model *a = make_model(TINY_V5, &OPS_BACKEND_REF, NORM_BN, 3);
    model *b = make_model(TINY_V5, &OPS_BACKEND_CPU, NORM_BN, 3);
    CHECK(a && b);
    if (!a || !b) return;
    int n = 2, hw = 96;
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
        int A = model_anchors(a), C = model_out_channels(a);
        size_t nout = (size_t)n * A * C;
        test_allclose(train ? "v5 train output cpu vs ref" : "v5 eval output cpu vs ref", ob, oa,
                      nout, 1e-3, 1e-3);
        if (train) {
            CHECK(model_v5_decoded(a) == NULL);
            float *r = malloc(nout * sizeof(float));
            gc_fill(&g, r, nout, -1, 1);
            model_zero_grad(a);
            model_zero_grad(b);
            CHECK(model_backward(a, r) == YOLOC_OK);
            CHECK(model_backward(b, r) == YOLOC_OK);
            size_t bad = 0;
            for (size_t t = 0; t < model_num_tensors(a); t++) {
                const param_info *p = model_tensor(a, t);
                if (p->buffer) continue;
                float *ga = model_tensor_grad(a, p),
                      *gb = model_tensor_grad(b, model_find(b, p->name));
                double scale = 0;
                for (size_t i = 0; i < p->numel; i++) scale = fmax(scale, fabs(ga[i]));
                for (size_t i = 0; i < p->numel; i++)
                    if (fabs(ga[i] - gb[i]) > 2e-3 * scale + 1e-6) {
                        if (!bad)
                            fprintf(stderr, "  grad mismatch %s[%zu]: %g vs %g\n", p->name, i,
                                    gb[i], ga[i]);
                        bad++;
                    }
            }
            CHECK_EQ_INT(bad, 0);
            free(r);
        } else {
            /* decoded rows from the raw head by hand: row = a0 + (a*H + y)*W + x */
            CHECK_EQ_INT(C, 4 + 3);
            const float *raw = model_raw_output(a), *dec = model_v5_decoded(a),
                        *anc = model_anchor_sizes(a);
            CHECK(raw && dec && anc);
            size_t bad = 0, row0 = 0;
            for (int l = 0; l < 3 && raw && dec && anc; l++) {
                int H, W, s = model_stride(a, l);
                model_level_shape(a, l, &H, &W);
                for (int bi = 0; bi < n; bi++)
                    for (int an = 0; an < 3; an++)
                        for (int y = 0; y < H; y++)
                            for (int xx = 0; xx < W; xx++) {
                                size_t row = (size_t)bi * A + row0 + ((size_t)an * H + y) * W + xx;
                                const float *z = raw + row * 8, *d = dec + row * 8,
                                            *e = oa + row * 7;
                                float want[8];
                                want[0] = (2 * sigmoidf_(z[0]) - 0.5f + xx) * s;
                                want[1] = (2 * sigmoidf_(z[1]) - 0.5f + y) * s;
                                want[2] = powf(2 * sigmoidf_(z[2]), 2) * anc[(l * 3 + an) * 2] * s;
                                want[3] =
                                    powf(2 * sigmoidf_(z[3]), 2) * anc[(l * 3 + an) * 2 + 1] * s;
                                for (int k = 4; k < 8; k++) want[k] = sigmoidf_(z[k]);
                                for (int k = 0; k < 8; k++)
                                    if (fabsf(d[k] - want[k]) > 1e-5f * (1 + fabsf(want[k]))) bad++;
                                for (int k = 0; k < 4; k++)
                                    if (e[k] != d[k]) bad++;
                                for (int k = 0; k < 3; k++)
                                    if (fabsf(e[4 + k] - d[4] * d[5 + k]) > 1e-7f) bad++;
                            }
                row0 += (size_t)3 * H * W;
            }
            CHECK_EQ_INT(bad, 0);
        }
    }
    free(x);
    model_free(a);
    model_free(b);
}

/* freeze=k marks the parameters of layers < k frozen (the optimizer skips
 * PG_FROZEN); re-initialising a frozen model keeps the initialisation. */
static void test_freeze(void) {
    model *m = make_model(TINY_V5, &OPS_BACKEND_REF, NORM_BN, 5);
    model *ref = make_model(TINY_V5, &OPS_BACKEND_REF, NORM_BN, 5);
    CHECK(m && ref);
    if (!m || !ref) return;
    size_t want = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (!p->buffer && p->layer < 10) want++;
    }
    CHECK_EQ_INT(model_freeze_layers(m, 10), want);
    CHECK_EQ_INT(model_freeze_layers(m, 10), 0); /* already frozen */
    size_t bad = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (p->buffer) continue;
        if ((p->layer < 10) != (p->group == PG_FROZEN)) bad++;
        if (p->group0 == PG_FROZEN) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    model_init_params(m, 5);
    CHECK(memcmp(model_params(m), model_params(ref), model_num_params(m) * sizeof(float)) == 0);
    model_free(m);
    model_free(ref);
}

int main(void) {
    test_param_counts();
    test_v5_format();
    test_spec_errors();
    test_freeze();
    test_backends_and_decode();
    test_gradcheck_tiny();
    return test_finish("test_yolov5");
}
