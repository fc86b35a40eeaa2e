/* YOLOv5n with the official v6.1 weights against the official ONNX export
 * (yolov5n.onnx, run with OpenCV DNN by tools/make_v5_fixture.py): on one
 * coco128 image (640x480, so the 640 letterbox only pads), yoloc's
 * letterbox must give the same input (checksums), the raw head (the three
 * Detect convolutions, sampled) and the decoded output [A, 85] (120 rows:
 * the 60 most confident and 60 random) must equal ONNX's to 1e-4
 * (relative, or absolute for values below 1), and the eval rows (box,
 * objectness x class) must follow from the decoded ones.
 * Needs ../shared/data (weights and coco128); skips without it. The
 * fixture: tests/nn/fixtures/v5_onnx.json, v5_onnx_rows.npy, v5_onnx_raw.npy. */
#include "data/augment.h"
#include "ops/backend.h"
#include "harness.h"
#include "io/image.h"
#include "io/json.h"
#include "io/npy.h"
#include "train/weights.h"

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

/* |a - b| <= 1e-4 * max(1, |b|) for every pair; prints the worst. */
static void compare(const char *name, const float *a, const float *b, size_t n,
                    size_t stride_print) {
    double worst = 0, wa = 0, wb = 0;
    size_t bad = 0, wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), lim = 1e-4 * fmax(1.0, fabs((double)b[i]));
        if (!(d <= lim)) bad++;
        if (d / lim > worst || d != d) {
            worst = d / lim;
            wi = i;
            wa = a[i];
            wb = b[i];
        }
    }
    test_checks_++;
    if (bad) test_failures_++;
    printf("  %-36s %6zu values, worst %.3f of the tolerance (entry %zu: %.8g vs ONNX %.8g)%s\n",
           name, n, worst, stride_print ? wi / stride_print : wi, wa, wb, bad ? "  FAIL" : "");
}

int main(void) {
    char wpath[512], ipath[512];
    if (!test_shared_data("weights/yolov5n.safetensors", wpath, sizeof wpath))
        TEST_SKIP("../shared/data/weights/yolov5n.safetensors is absent");
    const char *fix = YOLOC_SOURCE_DIR "/tests/nn/fixtures";
    char path[512];
    snprintf(path, sizeof path, "%s/v5_onnx.json", fix);
    size_t len;
    char *text = slurp(path, &len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return test_finish("test_v5_onnx");
    jdoc doc;
    CHECK(jdoc_parse(&doc, text, len, path) == YOLOC_OK);
    const jnode *r = doc.root;
    const char *img_rel = jnode_get(r, "image")->text;
    if (!test_shared_data(img_rel, ipath, sizeof ipath))
        TEST_SKIP("../shared/data/%s is absent", img_rel);
    int imgsz = (int)jnode_get(r, "imgsz")->number;

    /* the letterbox of yoloc predict */
    image img;
    CHECK(image_load(ipath, &img) == YOLOC_OK);
    aug_sample s;
    memset(&s, 0, sizeof s);
    s.img = img;
    s.orig_w = img.w;
    s.orig_h = img.h;
    s.ratio_w = s.ratio_h = 1;
    CHECK(aug_letterbox(&s, imgsz, imgsz, 1, 0) == YOLOC_OK);
    const jnode *lb = jnode_get(r, "letterbox");
    CHECK_NEAR(s.pad_w, jnode_get(lb, "left")->number, 0);
    CHECK_NEAR(s.pad_h, jnode_get(lb, "top")->number, 0);
    size_t hw = (size_t)imgsz * imgsz;
    double sum = 0, wsum = 0;
    for (size_t i = 0; i < hw * 3; i++) {
        sum += s.img.data[i];
        wsum += (double)s.img.data[i] * (double)(i % 251);
    }
    CHECK_NEAR(sum, jnode_get(r, "input_sum")->number, 0);
    CHECK_NEAR(wsum, jnode_get(r, "input_wsum")->number, 0);
    float *x = malloc(hw * 3 * sizeof(float));
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) x[c * hw + i] = s.img.data[i * 3 + c] / 255.0f;
    aug_sample_free(&s);

    model_options opt = {.be = &OPS_BACKEND_CPU, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    CHECK_MSG(weights_open_model("yolov5n.yaml", wpath, 80, &opt, 0, &m, NULL, NULL) == YOLOC_OK,
              "%s", yoloc_last_error());
    float *rows = NULL, *raw = NULL;
    int nd;
    int64_t rs[TENSOR_MAX_DIMS], ws[TENSOR_MAX_DIMS];
    snprintf(path, sizeof path, "%s/v5_onnx_rows.npy", fix);
    CHECK(npy_read_f32(path, &rows, &nd, rs) == YOLOC_OK);
    snprintf(path, sizeof path, "%s/v5_onnx_raw.npy", fix);
    CHECK(npy_read_f32(path, &raw, &nd, ws) == YOLOC_OK);
    if (m && rows && raw) {
        const float *out;
        CHECK(model_plan(m, 1, imgsz, imgsz, 0) == YOLOC_OK);
        CHECK(model_forward(m, x, &out) == YOLOC_OK);
        int A = model_anchors(m), no = 85;
        CHECK_EQ_INT(A, (int)jnode_get(r, "output0_shape")->items[0]->number);
        const float *dec = model_v5_decoded(m), *hraw = model_raw_output(m);
        size_t R = (size_t)rs[0], K = (size_t)ws[0];
        float *mine = malloc(R * no * sizeof(float)), *want = malloc(R * no * sizeof(float));
        float *e_mine = malloc(R * 84 * sizeof(float)), *e_want = malloc(R * 84 * sizeof(float));
        for (size_t k = 0; k < R; k++) {
            size_t row = (size_t)rows[k * 86];
            memcpy(mine + k * no, dec + row * no, no * sizeof(float));
            memcpy(want + k * no, rows + k * 86 + 1, no * sizeof(float));
            /* eval rows: box, then objectness x class probability */
            const float *w = rows + k * 86 + 1;
            memcpy(e_mine + k * 84, out + row * 84, 84 * sizeof(float));
            for (int j = 0; j < 4; j++) e_want[k * 84 + j] = w[j];
            for (int c = 0; c < 80; c++) e_want[k * 84 + 4 + c] = w[4] * w[5 + c];
        }
        compare("decoded [A, 85] vs ONNX output0", mine, want, R * no, no);
        compare("eval rows (box, obj x cls) vs ONNX", e_mine, e_want, R * 84, 84);
        /* raw: ONNX channel ch = a*85 + k of level l at (y, x) */
        float *rm = malloc(K * sizeof(float)), *rw = malloc(K * sizeof(float));
        for (size_t k = 0; k < K; k++) {
            const float *e = raw + k * 5;
            int l = (int)e[0], ch = (int)e[1], y = (int)e[2], xx = (int)e[3], H, W;
            size_t a0 = 0;
            for (int j = 0; j < l; j++) {
                model_level_shape(m, j, &H, &W);
                a0 += (size_t)3 * H * W;
            }
            model_level_shape(m, l, &H, &W);
            size_t row = a0 + ((size_t)(ch / no) * H + y) * W + xx;
            rm[k] = hraw[row * no + ch % no];
            rw[k] = e[4];
        }
        compare("raw head (sampled) vs ONNX convs", rm, rw, K, 0);
        free(rm);
        free(rw);
        free(mine);
        free(want);
        free(e_mine);
        free(e_want);
    }
    model_free(m);
    free(rows);
    free(raw);
    free(x);
    jdoc_free(&doc);
    free(text);
    return test_finish("test_v5_onnx");
}
