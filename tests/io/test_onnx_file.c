/* io/onnx_export.c without Python: the exported file parses back with
 * protobuf-c and holds what the exporter promises.
 *  - float16 conversion: every finite half survives half -> float -> half,
 *    midpoints round to even, overflow, underflow, NaN;
 *  - yolov8n: the node count of every operator type (derived from the spec
 *    and, for yolov8n, the fixed numbers), topological order (every input
 *    made before it is read), only TensorRT's operators, no BatchNorm left;
 *  - the tiny YOLOv8 with random BatchNorm statistics: folded initializers
 *    reproduce bn(conv(x; w)) as conv(x; w') + b' on small inputs (a strided
 *    3x3 and a 1x1 layer), Detect's plain convolutions and the DFL weights
 *    stored unchanged, graph interface and metadata (names as Python
 *    literals, quotes escaped), the same bytes on a second export;
 *  - half: float16 weights and I/O, Resize scales kept float32; dynamic:
 *    symbolic dimensions;
 *  - bad input: opset 12 and 18, an image size off the stride, batch 0, a
 *    GroupNorm model, a missing folder, a write cut off by the file size
 *    limit: each a clear error, no file or PATH.tmp left, an existing file
 *    unchanged. */
#include "harness.h"
#include "ops/backend.h"
#include "io/file.h"
#include "io/onnx_export.h"
#include "nn/model.h"
#include "nn/tiny_model.h"
#include "onnx.pb-c.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int file_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static float half_to_float(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static void test_f16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) { /* every finite half round-trips */
        if (((h >> 10) & 0x1f) == 31) continue;
        if (onnx_f32_to_f16(half_to_float((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) { /* midpoints between neighbours go to the even one */
        double mid = 0.5 * ((double)half_to_float((uint16_t)h) + half_to_float((uint16_t)(h + 1)));
        uint16_t want = (uint16_t)((h & 1) ? h + 1 : h);
        if (onnx_f32_to_f16((float)mid) != want) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(onnx_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(onnx_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(onnx_f32_to_f16(0.1f), 0x2e66);
    CHECK_EQ_INT(onnx_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(onnx_f32_to_f16(65520.0f), 0x7c00); /* rounds up to infinity */
    CHECK_EQ_INT(onnx_f32_to_f16(1e6f), 0x7c00);
    CHECK_EQ_INT(onnx_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(onnx_f32_to_f16(1e-8f), 0x0000); /* under half the smallest subnormal */
    CHECK_EQ_INT(onnx_f32_to_f16(-1e-8f), 0x8000);
    CHECK_EQ_INT(onnx_f32_to_f16(3.0e-8f), 0x0001); /* just over half of 2^-24 */
    uint16_t n = onnx_f32_to_f16(NAN);
    CHECK(((n >> 10) & 0x1f) == 31 && (n & 0x3ff) != 0);
}

/* ---- reading the file back ---- */

static Onnx__ModelProto *load(const char *path) {
    char *data;
    size_t len;
    if (file_read_all(path, (size_t)1 << 30, &data, &len) < 0) return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, (const uint8_t *)data);
    free(data);
    return mp;
}

static size_t count_op(const Onnx__GraphProto *g, const char *op) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_node; i++) n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0) return g->initializer[i];
    return NULL;
}

static const char *meta(const Onnx__ModelProto *mp, const char *key) {
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (strcmp(mp->metadata_props[i]->key, key) == 0) return mp->metadata_props[i]->value;
    return NULL;
}

/* Float32 values of an initializer (little-endian raw data), or float16
 * widened; malloc'd. */
static float *init_floats(const Onnx__TensorProto *t, size_t *n) {
    int half = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    size_t es = half ? 2 : 4, cnt = t->raw_data.len / es;
    float *v = malloc((cnt ? cnt : 1) * sizeof *v);
    for (size_t i = 0; i < cnt; i++) {
        const uint8_t *p = t->raw_data.data + i * es;
        if (half)
            v[i] = half_to_float((uint16_t)(p[0] | p[1] << 8));
        else {
            uint32_t u =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&v[i], &u, 4);
        }
    }
    *n = cnt;
    return v;
}

/* Every node input is the graph input, an initializer, "" or an earlier
 * node's output; outputs are never written twice. */
static int graph_is_ordered(const Onnx__GraphProto *g) {
    size_t cap = g->n_initializer + 4;
    for (size_t i = 0; i < g->n_node; i++) cap += g->node[i]->n_output;
    const char **known = malloc(cap * sizeof *known);
    size_t nk = 0;
    int ok = 1;
    known[nk++] = "images";
    known[nk++] = "";
    for (size_t i = 0; i < g->n_initializer; i++) known[nk++] = g->initializer[i]->name;
    for (size_t i = 0; i < g->n_node && ok; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input && ok; k++) {
            int found = 0;
            for (size_t j = 0; j < nk && !found; j++) found = strcmp(known[j], n->input[k]) == 0;
            if (!found) {
                fprintf(stderr, "node %s reads '%s' before it is made\n", n->name, n->input[k]);
                ok = 0;
            }
        }
        for (size_t k = 0; k < n->n_output && ok; k++) {
            for (size_t j = 0; j < nk; j++)
                if (strcmp(known[j], n->output[k]) == 0) {
                    fprintf(stderr, "'%s' written twice\n", n->output[k]);
                    ok = 0;
                }
            known[nk++] = n->output[k];
        }
    }
    free(known);
    return ok;
}

static model *make_model(const char *yaml, const char *name, int nc, norm_kind norm) {
    model_spec spec;
    status st = yaml ? model_spec_parse(&spec, yaml, strlen(yaml), name, 0, nc)
                     : model_spec_load(&spec, name, nc);
    CHECK_EQ_INT(st, YOLOC_OK);
    if (st < 0) return NULL;
    model_options opt = {.be = &OPS_BACKEND_REF, .norm = norm, .gn_groups = 32};
    model *m = NULL;
    CHECK_EQ_INT(model_create(&m, &spec, &opt, 0), YOLOC_OK);
    model_spec_free(&spec);
    return m;
}

static onnx_export_options opts(int imgsz) {
    onnx_export_options o = {.imgsz_h = imgsz, .imgsz_w = imgsz, .batch = 1, .opset = 13};
    return o;
}

/* ---- yolov8n: node counts ---- */

static void test_counts(void) {
    model *m = make_model(NULL, "yolov8n.yaml", 0, NORM_BN);
    if (!m) return;
    char path[512];
    snprintf(path, sizeof path, "%s/v8n.onnx", tmpdir);
    onnx_export_options o = opts(640);
    CHECK_EQ_INT(onnx_export(m, &o, path), YOLOC_OK);
    Onnx__ModelProto *mp = load(path);
    CHECK(mp != NULL);
    if (!mp) {
        model_free(m);
        return;
    }
    const Onnx__GraphProto *g = mp->graph;
    /* expected counts from the spec */
    const model_spec *sp = model_get_spec(m);
    size_t conv = 0, concat = 0, c2f = 0, sppf = 0, up = 0, adds = 0, nl = 0;
    for (int i = 0; i < sp->nlayers; i++) {
        const layer_spec *ls = &sp->layers[i];
        switch (ls->kind) {
        case MOD_CONV:
            conv += 1;
            break;
        case MOD_C2F:
            conv += 2 + 2 * (size_t)ls->repeats;
            c2f++;
            if (ls->shortcut) adds += (size_t)ls->repeats;
            break;
        case MOD_SPPF:
            conv += 2, sppf++;
            break;
        case MOD_UPSAMPLE:
            up++;
            break;
        case MOD_CONCAT:
            concat++;
            break;
        case MOD_DETECT:
            nl = (size_t)ls->nlevels, conv += 6 * nl + 1;
            break;
        default:
            CHECK_MSG(0, "layer %d: unexpected module", i);
        }
    }
    size_t silu = conv - 2 * nl - 1; /* all but Detect's plain convolutions and the DFL */
    struct {
        const char *op;
        size_t spec, v8n;
    } want[] = {
        {"Conv", conv, 64},
        {"Sigmoid", silu + 1, 58},
        {"Mul", silu + 1, 58},
        {"Add", adds + 2, 8},
        {"Split", c2f, 8},
        {"Concat", concat + c2f + sppf + nl + 3, 19},
        {"MaxPool", 3 * sppf, 3},
        {"Resize", up, 2},
        {"Reshape", nl + 2, 5},
        {"Slice", 4, 4},
        {"Sub", 2, 2},
        {"Div", 1, 1},
        {"Transpose", 1, 1},
        {"Softmax", 1, 1},
    };
    size_t total = 0;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        size_t got = count_op(g, want[k].op);
        CHECK_MSG(got == want[k].spec && got == want[k].v8n,
                  "%s: %zu nodes, expected %zu (spec) and %zu (yolov8n)", want[k].op, got,
                  want[k].spec, want[k].v8n);
        total += got;
    }
    CHECK_EQ_INT(g->n_node, total); /* no other operator */
    CHECK(graph_is_ordered(g));
    int bn_left = 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        bn_left += strstr(g->initializer[i]->name, ".bn.") != NULL;
    CHECK_EQ_INT(bn_left, 0);
    CHECK_EQ_INT(mp->ir_version, 7);
    CHECK_EQ_INT(mp->n_opset_import, 1);
    if (mp->n_opset_import == 1) CHECK_EQ_INT(mp->opset_import[0]->version, 13);
    CHECK_STR(meta(mp, "stride"), "32");
    CHECK_STR(meta(mp, "imgsz"), "[640, 640]");
    CHECK_EQ_INT(g->n_output, 1);
    const Onnx__TensorShapeProto *os = g->output[0]->type->tensor_type->shape;
    CHECK_EQ_INT(os->n_dim, 3);
    if (os->n_dim == 3) {
        CHECK_EQ_INT(os->dim[1]->dim_value, 84);
        CHECK_EQ_INT(os->dim[2]->dim_value, 8400);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    model_free(m);
}

/* ---- the tiny model: folded values, metadata, determinism ---- */

static uint64_t lcg = 12345;
static float urand(void) { /* uniform [0, 1) */
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg >> 40) / 16777216.0);
}

static float *tensor(model *m, const char *name) {
    const param_info *p = model_find(m, name);
    CHECK_MSG(p != NULL, "no tensor %s", name);
    return p ? model_tensor_data(m, p) : NULL;
}

/* Random BatchNorm statistics and affine parameters everywhere: with the
 * initial ones (mean 0, var 1, weight 1, bias 0) folding changes little. */
static void randomise_bn(model *m) {
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        float *d = model_tensor_data(m, p);
        if (!strstr(p->name, ".bn.")) continue;
        for (size_t k = 0; k < p->numel; k++) {
            if (strstr(p->name, "running_var"))
                d[k] = 0.3f + 2.0f * urand();
            else if (strstr(p->name, "bn.weight"))
                d[k] = 0.5f + urand();
            else
                d[k] = urand() - 0.5f;
        }
    }
}

/* bn(conv(x; w)) in double vs conv(x; w') + b' from the file, x [1, c1, h, w]. */
static void check_fold(model *m, const Onnx__GraphProto *g, const char *prefix, int k, int s, int p,
                       double tol) {
    char name[128];
    snprintf(name, sizeof name, "%s.conv.weight", prefix);
    const param_info *pi = model_find(m, name);
    const Onnx__TensorProto *tw = find_init(g, name);
    snprintf(name, sizeof name, "%s.conv.bias", prefix);
    const Onnx__TensorProto *tb = find_init(g, name);
    CHECK_MSG(pi && tw && tb, "%s: weight or folded bias missing", prefix);
    if (!pi || !tw || !tb) return;
    int c2 = (int)pi->shape[0], c1 = (int)pi->shape[1], h = 9, w = 7;
    CHECK_EQ_INT(tw->n_dims, 4);
    CHECK_EQ_INT(tw->dims[0], c2);
    CHECK_EQ_INT(tw->dims[1], c1);
    CHECK_EQ_INT(tw->dims[2], k);
    const float *W = model_tensor_data(m, pi);
    snprintf(name, sizeof name, "%s.bn.weight", prefix);
    const float *gm = tensor(m, name);
    snprintf(name, sizeof name, "%s.bn.bias", prefix);
    const float *bt = tensor(m, name);
    snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
    const float *mu = tensor(m, name);
    snprintf(name, sizeof name, "%s.bn.running_var", prefix);
    const float *var = tensor(m, name);
    if (!gm || !bt || !mu || !var) return;
    size_t nw, nb;
    float *Wf = init_floats(tw, &nw), *bf = init_floats(tb, &nb);
    CHECK_EQ_INT(nw, (size_t)c2 * c1 * k * k);
    CHECK_EQ_INT(nb, (size_t)c2);
    float *x = malloc((size_t)c1 * h * w * sizeof *x);
    for (int i = 0; i < c1 * h * w; i++) x[i] = 2.0f * urand() - 1.0f;
    int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    size_t no = (size_t)c2 * oh * ow;
    float *ref = malloc(no * sizeof *ref), *got = malloc(no * sizeof *got);
    for (int o = 0; o < c2; o++)
        for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
                double a = 0, f = 0;
                for (int c = 0; c < c1; c++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = y * s - p + ky, ix = xx * s - p + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            size_t wi = (((size_t)o * c1 + c) * k + ky) * k + kx;
                            double xv = x[((size_t)c * h + iy) * w + ix];
                            a += W[wi] * xv;
                            f += Wf[wi] * xv;
                        }
                size_t oi = ((size_t)o * oh + y) * ow + xx;
                ref[oi] = (float)((a - mu[o]) / sqrt((double)var[o] + 1e-3) * gm[o] + bt[o]);
                got[oi] = (float)(f + bf[o]);
            }
    snprintf(name, sizeof name, "fold %s", prefix);
    CHECK(test_allclose(name, got, ref, no, tol, tol));
    free(Wf);
    free(bf);
    free(x);
    free(ref);
    free(got);
}

static void test_tiny(void) {
    model *m = make_model(TINY_YAML, "yolov8t.yaml", 0, NORM_BN);
    if (!m) return;
    randomise_bn(m);
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/tiny.onnx", tmpdir);
    snprintf(path2, sizeof path2, "%s/tiny2.onnx", tmpdir);
    static const char *const names[] = {"person", "it's", "back\\slash"};
    onnx_export_options o = opts(64);
    o.names = names;
    o.nnames = 3;
    CHECK_EQ_INT(onnx_export(m, &o, path), YOLOC_OK);
    CHECK_EQ_INT(onnx_export(m, &o, path2), YOLOC_OK);
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    CHECK_EQ_INT(file_read_all(path, (size_t)1 << 30, &a, &la), YOLOC_OK);
    CHECK_EQ_INT(file_read_all(path2, (size_t)1 << 30, &b, &lb), YOLOC_OK);
    CHECK_MSG(a && b && la == lb && memcmp(a, b, la) == 0, "two exports of one model differ");
    free(a);
    free(b);
    CHECK(!file_exists(strcat(strcpy((char[600]){0}, path), ".tmp")));

    Onnx__ModelProto *mp = load(path);
    CHECK(mp != NULL);
    if (!mp) {
        model_free(m);
        return;
    }
    const Onnx__GraphProto *g = mp->graph;
    CHECK(graph_is_ordered(g));
    CHECK_STR(mp->producer_name, "yoloc");
    /* interface */
    CHECK_EQ_INT(g->n_input, 1);
    CHECK_STR(g->input[0]->name, "images");
    const Onnx__TypeProto__Tensor *it = g->input[0]->type->tensor_type;
    CHECK_EQ_INT(it->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    CHECK_EQ_INT(it->shape->n_dim, 4);
    int64_t wantin[4] = {1, 3, 64, 64};
    for (size_t d = 0; d < 4 && d < it->shape->n_dim; d++)
        CHECK_EQ_INT(it->shape->dim[d]->dim_value, wantin[d]);
    CHECK_STR(g->output[0]->name, "output0");
    const Onnx__TensorShapeProto *os = g->output[0]->type->tensor_type->shape;
    CHECK_EQ_INT(os->dim[1]->dim_value, 4 + 3);
    CHECK_EQ_INT(os->dim[2]->dim_value, 8 * 8 + 4 * 4 + 2 * 2);
    /* folded convolutions: the stem (3x3 stride 2, 3 input channels), a C2f
     * 1x1 and a bottleneck 3x3 */
    check_fold(m, g, "model.0", 3, 2, 1, 1e-5);
    check_fold(m, g, "model.2.cv1", 1, 1, 0, 1e-5);
    check_fold(m, g, "model.4.m.1.cv2", 3, 1, 1, 1e-5);
    /* plain convolutions and the DFL: stored as they are */
    const char *plain[] = {"model.22.cv2.0.2.weight", "model.22.cv3.2.2.bias",
                           "model.22.dfl.conv.weight"};
    for (size_t k = 0; k < 3; k++) {
        const param_info *pi = model_find(m, plain[k]);
        const Onnx__TensorProto *t = find_init(g, plain[k]);
        CHECK_MSG(pi && t, "%s missing", plain[k]);
        if (!pi || !t) continue;
        size_t n;
        float *v = init_floats(t, &n);
        CHECK_EQ_INT(n, pi->numel);
        CHECK_MSG(n == pi->numel && memcmp(v, model_tensor_data(m, pi), n * sizeof *v) == 0,
                  "%s changed", plain[k]);
        if (k == 2)
            for (size_t r = 0; r < n; r++) CHECK_NEAR(v[r], (double)r, 0);
        free(v);
    }
    /* metadata */
    CHECK_STR(meta(mp, "names"), "{0: 'person', 1: \"it's\", 2: 'back\\\\slash'}");
    CHECK_STR(meta(mp, "task"), "detect");
    CHECK_STR(meta(mp, "batch"), "1");
    CHECK_STR(meta(mp, "imgsz"), "[64, 64]");
    CHECK_STR(meta(mp, "stride"), "32");
    CHECK_STR(meta(mp, "channels"), "3");
    CHECK_STR(meta(mp, "yoloc_version"), yoloc_version());
    CHECK_STR(meta(mp, "args"),
              "{'batch': 1, 'dynamic': False, 'half': False, 'opset': 13, 'nms': False}");
    onnx__model_proto__free_unpacked(mp, NULL);

    /* half: float16 weights and I/O; Resize's scales stay float32 */
    o.half = 1;
    o.opset = 17;
    CHECK_EQ_INT(onnx_export(m, &o, path), YOLOC_OK);
    mp = load(path);
    CHECK(mp != NULL);
    if (mp) {
        g = mp->graph;
        CHECK_EQ_INT(mp->ir_version, 8);
        CHECK_EQ_INT(g->input[0]->type->tensor_type->elem_type,
                     ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16);
        CHECK_EQ_INT(g->output[0]->type->tensor_type->elem_type,
                     ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16);
        int f32 = 0, f16 = 0;
        for (size_t i = 0; i < g->n_initializer; i++) {
            int dt = g->initializer[i]->data_type;
            f16 += dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                f32++;
                CHECK_CONTAINS(g->initializer[i]->name, "/scales");
            }
        }
        CHECK_EQ_INT(f32, 2); /* the two Resize scales */
        CHECK(f16 > 100);
        check_fold(m, g, "model.0", 3, 2, 1, 2e-2); /* float16 weights: ~1e-3 relative each */
        CHECK_STR(meta(mp, "args"),
                  "{'batch': 1, 'dynamic': False, 'half': True, 'opset': 17, 'nms': False}");
        onnx__model_proto__free_unpacked(mp, NULL);
    }

    /* dynamic: symbolic batch, height, width and anchors */
    o.half = 0;
    o.dynamic = 1;
    CHECK_EQ_INT(onnx_export(m, &o, path), YOLOC_OK);
    mp = load(path);
    CHECK(mp != NULL);
    if (mp) {
        g = mp->graph;
        CHECK(graph_is_ordered(g));
        const Onnx__TensorShapeProto *is = g->input[0]->type->tensor_type->shape;
        CHECK_STR(is->dim[0]->dim_param, "batch");
        CHECK_EQ_INT(is->dim[1]->dim_value, 3);
        CHECK_STR(is->dim[2]->dim_param, "height");
        CHECK_STR(is->dim[3]->dim_param, "width");
        os = g->output[0]->type->tensor_type->shape;
        CHECK_STR(os->dim[0]->dim_param, "batch");
        CHECK_STR(os->dim[2]->dim_param, "anchors");
        CHECK_EQ_INT(count_op(g, "Range"), 2 * 3);
        CHECK_EQ_INT(count_op(g, "Shape"), 3);
        CHECK(find_init(g, "/model.22/anchors") == NULL); /* computed, not constant */
        onnx__model_proto__free_unpacked(mp, NULL);
    }
    model_free(m);
}

/* ---- errors ---- */

static void expect_fail(model *m, const onnx_export_options *o, const char *path, status want,
                        const char *needle) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    status st = onnx_export(m, o, path);
    CHECK_EQ_INT(st, want);
    CHECK_CONTAINS(yoloc_last_error(), needle);
    CHECK_MSG(!file_exists(tmp), "%s left behind", tmp);
}

static void test_errors(void) {
    model *m = make_model(TINY_YAML, "yolov8t.yaml", 0, NORM_BN);
    if (!m) return;
    char path[512];
    snprintf(path, sizeof path, "%s/keep.onnx", tmpdir);
    CHECK_EQ_INT(file_write_atomic(path, "precious", 8), YOLOC_OK);
    onnx_export_options o = opts(64);
    o.opset = 12;
    expect_fail(m, &o, path, YOLOC_ERR_INVALID, "opset");
    o.opset = 18;
    expect_fail(m, &o, path, YOLOC_ERR_INVALID, "13 to 17");
    o = opts(48);
    expect_fail(m, &o, path, YOLOC_ERR_INVALID, "imgsz");
    o = opts(64);
    o.batch = 0;
    expect_fail(m, &o, path, YOLOC_ERR_INVALID, "batch");
    char *got = NULL;
    size_t len = 0;
    CHECK_EQ_INT(file_read_all(path, 100, &got, &len), YOLOC_OK);
    CHECK_MSG(got && len == 8 && memcmp(got, "precious", 8) == 0,
              "an existing file changed after failed exports");
    free(got);

    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.onnx", tmpdir);
    o = opts(64);
    expect_fail(m, &o, missing, YOLOC_ERR_IO, "no/such/dir/x.onnx");

    /* a write cut off by the file size limit: IO error, nothing left */
    char cut[512];
    snprintf(cut, sizeof cut, "%s/cut.onnx", tmpdir);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        status st = onnx_export(m, &o, cut);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK_EQ_INT(st, YOLOC_ERR_IO);
        CHECK_CONTAINS(yoloc_last_error(), "cut.onnx");
        CHECK(!file_exists(cut));
        CHECK(!file_exists(strcat(strcpy((char[600]){0}, cut), ".tmp")));
    } else {
        printf("note: setrlimit failed, mid-write failure not tested\n");
    }
    model_free(m);

    /* GroupNorm: nothing to fold */
    m = make_model(TINY_YAML, "yolov8t.yaml", 0, NORM_GN);
    if (m) {
        o = opts(64);
        expect_fail(m, &o, path, YOLOC_ERR_UNSUPPORTED, "GroupNorm");
        model_free(m);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/yoloc_onnx_XXXXXX");
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");
    test_f16();
    test_counts();
    test_tiny();
    test_errors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish("test_onnx_file");
}
