/* Parity with Ultralytics 8.3.253 (PyTorch): the tiny YOLOv8 and YOLO11 of
 * tiny_model.h with yoloc's seed-0 weights, on a fixed input, against the
 * outputs and gradients PyTorch computed for the same weights
 * (tests/nn/fixtures/parity_tiny.json and parity_tiny11.json, made by
 * `tools/parity_torch.py fixture --which v8|yolo11`). Gradient tolerances
 * are relative to each tensor's norm with a floor (the fixture's
 * grad_floor, 1e-5 of the largest gradient): a gradient that is zero in
 * exact arithmetic is rounding noise in both frameworks. Checks the decoded eval output, the raw training head and, per
 * parameter, the gradient norm and sampled entries, for both backends.
 * If the weight initialisation or the RNG changes on purpose, regenerate the
 * fixture with the tool. */
#include "harness.h"
#include "ops/backend.h"
#include "io/json.h"
#include "io/npy.h"
#include "nn/model.h"
#include "tiny_model.h"

#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static float *jfloats(const jnode *arr, size_t *n) {
    *n = arr ? arr->n : 0;
    float *v = malloc((*n ? *n : 1) * sizeof(float));
    for (size_t i = 0; i < *n; i++) v[i] = (float)arr->items[i]->number;
    return v;
}

static void run(backend be, const char *yaml, const char *yname, const jnode *root, const float *x, const float *g) {
    char label[64];
    snprintf(label, sizeof label, "%s %s", yname, backend_name(be));
    model_spec spec;
    CHECK(model_spec_parse(&spec, yaml, strlen(yaml), yname, 0, 0) == YOLOC_OK);
    model_options opt = {.be = be, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    CHECK(model_create(&m, &spec, &opt, 0) == YOLOC_OK);
    model_spec_free(&spec);
    if (!m) return;
    const float *o;
    char name[128];

    /* eval: decoded [B, 4+nc, A] in the fixture; yoloc's is [B, A, 4+nc] */
    CHECK(model_plan(m, 2, 64, 64, 0) == YOLOC_OK);
    CHECK(model_forward(m, x, &o) == YOLOC_OK);
    size_t ne;
    float *te = jfloats(jnode_get(root, "eval"), &ne);
    int A = model_anchors(m), C = model_out_channels(m);
    CHECK_EQ_INT(ne, (size_t)2 * A * C);
    float *ye = malloc(ne * sizeof(float));
    for (int b = 0; b < 2; b++)
        for (int a = 0; a < A; a++)
            for (int c = 0; c < C; c++) ye[((size_t)b * C + c) * A + a] = o[((size_t)b * A + a) * C + c];
    snprintf(name, sizeof name, "%s eval output vs PyTorch", label);
    test_allclose(name, ye, te, ne, 1e-4, 1e-5);

    /* training: raw head sampled */
    CHECK(model_plan(m, 2, 64, 64, 1) == YOLOC_OK);
    CHECK(model_forward(m, x, &o) == YOLOC_OK);
    C = model_out_channels(m);
    const jnode *idx = jnode_get(root, "train_sample_index");
    size_t ns;
    float *ts = jfloats(jnode_get(root, "train_sample"), &ns);
    float *ys = malloc(ns * sizeof(float));
    for (size_t k = 0; k < ns; k++) {
        size_t flat = (size_t)idx->items[k]->number; /* index into [B, C, A] */
        size_t b = flat / ((size_t)C * A), c = flat / A % C, a = flat % A;
        ys[k] = o[(b * A + a) * C + c];
    }
    snprintf(name, sizeof name, "%s training head vs PyTorch", label);
    test_allclose(name, ys, ts, ns, 1e-4, 1e-4);

    /* backward of sum(head * g) */
    size_t nout = (size_t)2 * A * C;
    float *gt = malloc(nout * sizeof(float));
    for (int b = 0; b < 2; b++)
        for (int a = 0; a < A; a++)
            for (int c = 0; c < C; c++) gt[((size_t)b * A + a) * C + c] = g[((size_t)b * C + c) * A + a];
    model_zero_grad(m);
    CHECK(model_backward(m, gt) == YOLOC_OK);
    const jnode *grads = jnode_get(root, "grads"), *fl = jnode_get(root, "grad_floor");
    double floor_ = fl ? fl->number : 0.0;
    CHECK(grads && grads->n > 100);
    size_t bad = 0;
    for (size_t t = 0; grads && t < grads->n; t++) {
        const param_info *p = model_find(m, grads->keys[t]);
        if (!p) {
            fprintf(stderr, "  %s: parameter %s missing in yoloc\n", label, grads->keys[t]);
            bad++;
            continue;
        }
        const float *gy = model_tensor_grad(m, p);
        double norm = 0;
        for (size_t i = 0; i < p->numel; i++) norm += (double)gy[i] * gy[i];
        norm = sqrt(norm);
        const jnode *e = grads->items[t];
        double want = jnode_get(e, "norm")->number, scale = want > floor_ ? want : floor_;
        if (fabs(norm - want) > 1e-3 * scale + 1e-7) {
            fprintf(stderr, "  %s %s: gradient norm %.8g vs PyTorch %.8g\n", label, p->name, norm, want);
            bad++;
        }
        const jnode *ix = jnode_get(e, "index"), *vs = jnode_get(e, "values");
        for (size_t k = 0; k < ix->n; k++) {
            double v = gy[(size_t)ix->items[k]->number], w = vs->items[k]->number;
            if (fabs(v - w) > 2e-3 * scale + 1e-7) {
                fprintf(stderr, "  %s %s[%g]: %.8g vs PyTorch %.8g\n", label, p->name, ix->items[k]->number, v, w);
                bad++;
            }
        }
    }
    test_checks_++;
    if (bad) test_failures_++;
    printf("  %s: %zu parameter gradients compared with PyTorch, %zu mismatches\n", label,
           grads ? grads->n : 0, bad);
    free(te);
    free(ye);
    free(ts);
    free(ys);
    free(gt);
    model_free(m);
}

static void fixture(const char *stem, const char *yaml, const char *yname) {
    const char *dir = YOLOC_SOURCE_DIR "/tests/nn/fixtures";
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, stem);
    size_t len;
    char *text = slurp(path, &len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return;
    jdoc doc;
    CHECK(jdoc_parse(&doc, text, len, path) == YOLOC_OK);
    float *x = NULL, *g = NULL;
    int nd;
    int64_t shape[TENSOR_MAX_DIMS];
    snprintf(path, sizeof path, "%s/%s_x.npy", dir, stem);
    CHECK(npy_read_f32(path, &x, &nd, shape) == YOLOC_OK);
    snprintf(path, sizeof path, "%s/%s_g.npy", dir, stem);
    CHECK(npy_read_f32(path, &g, &nd, shape) == YOLOC_OK);
    if (x && g) {
        run(&OPS_BACKEND_REF, yaml, yname, doc.root, x, g);
        run(&OPS_BACKEND_CPU, yaml, yname, doc.root, x, g);
    }
    free(x);
    free(g);
    jdoc_free(&doc);
    free(text);
}

int main(void) {
    fixture("parity_tiny", TINY_YAML, "yolov8t.yaml");
    fixture("parity_tiny11", TINY11_YAML, "yolo11t.yaml");
    return test_finish("test_parity");
}
