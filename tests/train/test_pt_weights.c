/* An Ultralytics checkpoint, made by Ultralytics 8.3 itself
 * (tools/make_ultralytics_ckpt.py: best.pt of a short training of the
 * tiny YOLOv8 on BCCD), loaded as model=X.pt: the architecture from the
 * checkpoint's own YAML dict (parameter count as Ultralytics reports it),
 * the class names, every tensor's values (fp16 as stored, to float: the
 * float64 sum and sum of squares Ultralytics' state dict gives), and the
 * eval forward on a fixed input against Ultralytics' output. The same for
 * a YOLOv5-repository checkpoint pickled by ultralytics/yolov5's own code
 * (tools/make_yolov5_ckpt.py: its Model class, anchors buffer), and for a
 * YOLO11 checkpoint of Ultralytics (the tiny YOLO11 on BCCD). Also: the
 * same file as weights= into a model built from a YAML, and a plain
 * state dict (tests/io/fixtures/pt/module.pt's kind) refused as model=
 * with a message saying why. */
#include "harness.h"
#include "io/file.h"
#include "io/json.h"
#include "nn/model.h"
#include "ops/backend.h"
#include "train/weights.h"

#include <math.h>
#include <string.h>

#define PT YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolov8t_bccd.pt"
#define JS YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolov8t_bccd.json"
#define PT11 YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolo11t_bccd.pt"
#define JS11 YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolo11t_bccd.json"
#define PT5 YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolov5t_repo.pt"
#define JS5 YOLOC_SOURCE_DIR "/tests/train/fixtures/pt/yolov5t_repo.json"

static double jnum(const jnode *o, const char *k) {
    const jnode *n = jnode_get(o, k);
    return n && n->kind == JSON_NUMBER ? n->number : NAN;
}

static void check_tensors(model *m, const jnode *tensors) {
    int checked = 0;
    for (size_t i = 0; i < tensors->n; i++) {
        const char *name = tensors->keys[i];
        const jnode *t = tensors->items[i];
        const param_info *p = model_find(m, name);
        size_t nl = strlen(name);
        if (!p && nl > 20 && strcmp(name + nl - 20, ".num_batches_tracked") == 0) continue; /* a counter */
        CHECK_MSG(p != NULL, "the model lacks %s", name);
        if (!p) continue;
        const jnode *shape = jnode_get(t, "shape");
        CHECK_MSG(shape && (int)shape->n == p->ndim, "%s: rank", name);
        for (int d = 0; shape && d < p->ndim && d < (int)shape->n; d++)
            CHECK_MSG((int64_t)shape->items[d]->number == p->shape[d], "%s: dim %d", name, d);
        float *v;
        int owned;
        if (model_host_view(m, model_tensor_data(m, p), p->numel, &v, &owned) != YOLOC_OK) {
            CHECK(0);
            continue;
        }
        double s = 0, s2 = 0;
        for (size_t k = 0; k < p->numel; k++) s += v[k], s2 += (double)v[k] * v[k];
        model_host_view_free(v, owned);
        double ws = jnum(t, "sum"), ws2 = jnum(t, "sumsq");
        CHECK_MSG(fabs(s - ws) <= 1e-9 * (fabs(ws) + sqrt(ws2) + 1e-30) && fabs(s2 - ws2) <= 1e-9 * (ws2 + 1e-30),
                  "%s: sum %.17g vs %.17g, sum of squares %.17g vs %.17g", name, s, ws, s2, ws2);
        checked++;
    }
    CHECK(checked > 100);
    printf("test_pt_weights: %d tensors equal the checkpoint's state dict in PyTorch (float64 sums)\n", checked);
}

/* x[c, y, x] = ((7c + 13y + 29x) mod 97) / 96: the scripts' input.
 * v8: Ultralytics' [1, 4+nc, A] against yoloc's [1, A, 4+nc]; v5: the
 * decoded [1, A, 5+nc] of both. */
static void check_forward(model *m, const jnode *fw, const char *what) {
    const int S = 160;
    float *x = malloc(sizeof(float) * 3 * S * S);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int xx = 0; xx < S; xx++) x[(c * S + y) * S + xx] = (float)((7 * c + 13 * y + 29 * xx) % 97) / 96.0f;
    const float *out;
    CHECK(model_plan(m, 1, S, S, 0) == YOLOC_OK && model_forward(m, x, &out) == YOLOC_OK);
    CHECK(model_output_host(m, &out) == YOLOC_OK);
    free(x);
    const jnode *shape = jnode_get(fw, "shape"), *first = jnode_get(fw, "first");
    CHECK(shape && shape->n == 3 && first && first->n == 64);
    if (!shape || shape->n != 3 || !first) return;
    const int v5 = model_na(m) > 0;
    float *dec = NULL;
    int no = (int)shape->items[1]->number, A = (int)shape->items[2]->number;
    if (v5) { /* [1, A, 5+nc]: as if channel-major with one "channel" per row */
        A = (int)shape->items[1]->number, no = (int)shape->items[2]->number;
        CHECK_EQ_INT(no, 5 + model_nc(m));
        dec = malloc(sizeof(float) * (size_t)A * (size_t)no);
        CHECK(model_to_host(m, dec, model_v5_decoded(m), (size_t)A * (size_t)no) == YOLOC_OK);
        out = dec;
    } else {
        CHECK_EQ_INT(no, model_out_channels(m));
    }
    CHECK_EQ_INT(A, model_anchors(m));
    /* Ultralytics [1, 4+nc, A] (channel-major) vs yoloc [1, A, 4+nc] */
    double mx = 0, err = 0, asum = 0;
    for (size_t k = 0; k < first->n; k++) {
        size_t c = k / (size_t)A, a = k % (size_t)A;
        double want = first->items[k]->number, got = v5 ? out[k] : out[a * (size_t)no + c];
        if (fabs(want) > mx) mx = fabs(want);
        if (fabs(got - want) > err) err = fabs(got - want);
    }
    for (size_t i = 0; i < (size_t)A * (size_t)no; i++) asum += fabs(out[i]);
    double wsum = jnum(fw, "abs_sum");
    CHECK_MSG(err <= 1e-4 * mx, "forward: first values differ by %g (max %g)", err, mx);
    CHECK_MSG(fabs(asum - wsum) <= 1e-5 * wsum, "forward: sum of |output| %.9g vs Ultralytics %.9g", asum, wsum);
    printf("test_pt_weights: %s eval forward equals PyTorch's (first 64 values within %.2g of %.3g; |sum| rel %.2g)\n",
           what, err, mx, fabs(asum - wsum) / wsum);
    free(dec);
}

int main(void) {
    char *text = NULL;
    size_t len = 0;
    jdoc d;
    if (file_read_all(JS, 1 << 22, &text, &len) != YOLOC_OK || jdoc_parse(&d, text, len, JS) != YOLOC_OK) {
        fprintf(stderr, "%s: %s\n", JS, yoloc_last_error());
        return 1;
    }
    model_options mo = {.be = backend_default(), .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    char **names = NULL;
    int nn = 0;
    status st = weights_open_model(PT, NULL, 0, &mo, 0, &m, &names, &nn);
    CHECK_MSG(st == YOLOC_OK, "model=%s: %s", PT, yoloc_last_error());
    if (st == YOLOC_OK) {
        CHECK_EQ_INT(model_nc(m), 3);
        CHECK_EQ_INT(nn, 3);
        if (nn == 3) {
            CHECK_STR(names[0], "RBC");
            CHECK_STR(names[1], "WBC");
            CHECK_STR(names[2], "Platelets");
        }
        CHECK_EQ_INT((int)model_num_params(m) >= 355121, 1);
        check_tensors(m, jnode_get(d.root, "tensors"));
        check_forward(m, jnode_get(d.root, "forward"), "YOLOv8");
        model_free(m);
        free(names);
    }
    /* a YOLOv5-repository checkpoint (models.yolo.DetectionModel, anchors in grid units) */
    jdoc d5;
    char *t5 = NULL;
    if (file_read_all(JS5, 1 << 22, &t5, &len) == YOLOC_OK && jdoc_parse(&d5, t5, len, JS5) == YOLOC_OK) {
        m = NULL;
        names = NULL;
        st = weights_open_model(PT5, NULL, 0, &mo, 0, &m, &names, &nn);
        CHECK_MSG(st == YOLOC_OK, "model=%s: %s", PT5, yoloc_last_error());
        if (st == YOLOC_OK) {
            CHECK_EQ_INT(model_nc(m), 3);
            CHECK_EQ_INT(model_na(m), 3);
            CHECK(nn == 3 && strcmp(names[2], "Platelets") == 0);
            check_tensors(m, jnode_get(d5.root, "tensors"));
            check_forward(m, jnode_get(d5.root, "forward"), "YOLOv5");
            model_free(m);
            free(names);
        }
        jdoc_free(&d5);
    } else {
        CHECK_MSG(0, "%s: %s", JS5, yoloc_last_error());
    }
    free(t5);
    /* a YOLO11 checkpoint of Ultralytics: C3k2, C2PSA, YOLO11's head */
    jdoc d11;
    char *t11 = NULL;
    if (file_read_all(JS11, 1 << 22, &t11, &len) == YOLOC_OK && jdoc_parse(&d11, t11, len, JS11) == YOLOC_OK) {
        m = NULL;
        names = NULL;
        st = weights_open_model(PT11, NULL, 0, &mo, 0, &m, &names, &nn);
        CHECK_MSG(st == YOLOC_OK, "model=%s: %s", PT11, yoloc_last_error());
        if (st == YOLOC_OK) {
            CHECK_EQ_INT(model_nc(m), 3);
            CHECK(nn == 3 && strcmp(names[1], "WBC") == 0);
            size_t np = 0; /* trainable + frozen parameters, as PyTorch counts them */
            for (size_t t = 0; t < model_num_tensors(m); t++)
                if (!model_tensor(m, t)->buffer) np += model_tensor(m, t)->numel;
            CHECK_MSG(np == (size_t)jnum(d11.root, "parameters"), "YOLO11: %zu parameters, Ultralytics %g", np,
                      jnum(d11.root, "parameters"));
            check_tensors(m, jnode_get(d11.root, "tensors"));
            check_forward(m, jnode_get(d11.root, "forward"), "YOLO11");
            model_free(m);
            free(names);
        }
        m = NULL; /* weights= into the architecture from its YAML */
        st = weights_open_model(YOLOC_SOURCE_DIR "/tests/train/yolo11t.yaml", PT11, 3, &mo, 0, &m, NULL, NULL);
        CHECK_MSG(st == YOLOC_OK, "weights=%s: %s", PT11, yoloc_last_error());
        if (st == YOLOC_OK) check_tensors(m, jnode_get(d11.root, "tensors"));
        model_free(m);
        jdoc_free(&d11);
    } else {
        CHECK_MSG(0, "%s: %s", JS11, yoloc_last_error());
    }
    free(t11);
    /* weights= into the same architecture from its YAML */
    m = NULL;
    st = weights_open_model(YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml", PT, 3, &mo, 0, &m, NULL, NULL);
    CHECK_MSG(st == YOLOC_OK, "weights=%s: %s", PT, yoloc_last_error());
    if (st == YOLOC_OK) check_tensors(m, jnode_get(d.root, "tensors"));
    model_free(m);
    /* a state dict has no architecture: model= refuses it, naming the way out */
    m = NULL;
    st = weights_open_model(YOLOC_SOURCE_DIR "/tests/io/fixtures/pt/state_dict.pt", NULL, 0, &mo, 0, &m, NULL, NULL);
    CHECK(st < 0 && m == NULL);
    CHECK_CONTAINS(yoloc_last_error(), "model=<yaml>");
    jdoc_free(&d);
    free(text);
    return test_finish("test_pt_weights");
}
