/* NMS: hand cases (suppression threshold, classes, agnostic mode,
 * multi-label, ties, conf strictly greater, max_det), specification checks
 * on random inputs (sorted output; no kept same-class pair above the IoU
 * threshold; every dropped candidate overlaps a better kept box of its
 * class), and the inverse letterbox by hand. */
#include "core/rng.h"
#include "eval/nms.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define NC 3
#define NO (4 + NC)

static size_t run(const nms_cfg *cfg, const float *pred, size_t A, float *out) {
    size_t ws = nms_workspace_size(A, NC, cfg), n = 0;
    void *w = malloc(ws);
    CHECK_EQ_INT(nms_image(cfg, pred, A, NC, w, ws, out, &n), YOLOC_OK);
    free(w);
    return n;
}

static void set(float *p, float cx, float cy, float w, float h, float s0, float s1, float s2) {
    p[0] = cx, p[1] = cy, p[2] = w, p[3] = h, p[4] = s0, p[5] = s1, p[6] = s2;
}

static void hand(void) {
    float pred[6 * NO], out[6 * 300];
    /* a0 and a1: 10 x 10 boxes offset by 1 px in x: IoU 90 / 110 = 0.818 > 0.7
     * a2: offset by 3 px from a0: IoU 70 / 130 = 0.538 (kept)
     * a3: same box as a0 but class 1 (kept unless agnostic)
     * a4: score 0.001 exactly (not > conf 0.001), a5: far away, class 2 */
    set(pred + 0 * NO, 50, 50, 10, 10, 0.9f, 0, 0);
    set(pred + 1 * NO, 51, 50, 10, 10, 0.8f, 0, 0);
    set(pred + 2 * NO, 53, 50, 10, 10, 0.7f, 0, 0);
    set(pred + 3 * NO, 50, 50, 10, 10, 0, 0.6f, 0);
    set(pred + 4 * NO, 10, 10, 4, 4, 0.001f, 0, 0);
    set(pred + 5 * NO, 90, 90, 6, 8, 0, 0, 0.5f);
    nms_cfg cfg = NMS_CFG_VAL;
    size_t n = run(&cfg, pred, 6, out);
    CHECK_EQ_INT(n, 4);
    float want[4][6] = {{45, 45, 55, 55, 0.9f, 0},
                        {48, 45, 58, 55, 0.7f, 0},
                        {45, 45, 55, 55, 0.6f, 1},
                        {87, 86, 93, 94, 0.5f, 2}};
    for (size_t i = 0; i < 4 && i < n; i++)
        test_allclose("nms row", out + 6 * i, want[i], 6, 0, 1e-5);
    /* agnostic: a3 (class 1, same box as a0) is suppressed too */
    cfg.agnostic = 1;
    CHECK_EQ_INT(run(&cfg, pred, 6, out), 3);
    cfg.agnostic = 0;
    /* iou 0.85: a1 (0.818) survives */
    cfg.iou = 0.85f;
    CHECK_EQ_INT(run(&cfg, pred, 6, out), 5);
    cfg.iou = 0.7f;
    /* max_det 2 keeps the two best */
    cfg.max_det = 2;
    CHECK_EQ_INT(run(&cfg, pred, 6, out), 2);
    CHECK_NEAR(out[4], 0.9, 1e-7);
    CHECK_NEAR(out[6 + 4], 0.7, 1e-7);
    cfg.max_det = 300;
    /* multi-label: one anchor with two classes above conf gives two rows;
     * single-label (predict) keeps only the best class, and conf 0.25 */
    set(pred + 0 * NO, 50, 50, 10, 10, 0.9f, 0.4f, 0.1f);
    n = run(&cfg, pred, 1, out);
    CHECK_EQ_INT(n, 3);
    nms_cfg pc = NMS_CFG_PREDICT;
    n = run(&pc, pred, 1, out);
    CHECK_EQ_INT(n, 1);
    CHECK_NEAR(out[5], 0, 0);
    /* ties: equal scores keep the lower anchor index first, and it is the one
     * that suppresses the other */
    set(pred + 0 * NO, 50, 50, 10, 10, 0.5f, 0, 0);
    set(pred + 1 * NO, 51, 50, 10, 10, 0.5f, 0, 0);
    n = run(&cfg, pred, 2, out);
    CHECK_EQ_INT(n, 1);
    CHECK_NEAR(out[0], 45, 0);
    /* nothing above conf */
    set(pred + 0 * NO, 50, 50, 10, 10, 0.0f, 0.0f, 0.0f);
    CHECK_EQ_INT(run(&cfg, pred, 1, out), 0);
    /* bad configuration / workspace */
    size_t nd;
    char small[8];
    CHECK_EQ_INT(nms_image(&cfg, pred, 1, NC, small, sizeof small, out, &nd), YOLOC_ERR_INVALID);
    nms_cfg bad = cfg;
    bad.iou = 1.5f;
    CHECK_EQ_INT(nms_image(&bad, pred, 1, NC, small, sizeof small, out, &nd), YOLOC_ERR_INVALID);
}

static float iou_xyxy(const float *a, const float *b) {
    float w = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]);
    float h = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]);
    if (w <= 0 || h <= 0) return 0;
    float i = w * h;
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

static void random_spec(void) {
    rng r;
    rng_seed(&r, 4);
    const size_t A = 400;
    float *pred = malloc(A * NO * sizeof(float)), *out = malloc(A * NC * 6 * sizeof(float));
    int bad = 0;
    for (int t = 0; t < 40; t++) {
        for (size_t a = 0; a < A; a++) {
            float *p = pred + a * NO;
            p[0] = (float)rng_range(&r, 0, 200), p[1] = (float)rng_range(&r, 0, 200);
            p[2] = (float)rng_range(&r, 5, 60), p[3] = (float)rng_range(&r, 5, 60);
            for (int c = 0; c < NC; c++) /* quantised scores: many ties */
                p[4 + c] = (float)(rng_below(&r, 20) / 20.0);
        }
        nms_cfg cfg = NMS_CFG_VAL;
        cfg.conf = 0.3f;
        cfg.iou = t % 2 ? 0.5f : 0.7f;
        cfg.max_det = (int)(A * NC); /* never reached: every suppression is checked */
        size_t n = run(&cfg, pred, A, out);
        for (size_t i = 1; i < n; i++) bad += out[6 * i + 4] > out[6 * (i - 1) + 4];
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (out[6 * i + 5] == out[6 * j + 5])
                    bad += iou_xyxy(out + 6 * i, out + 6 * j) > cfg.iou + 1e-4f;
        CHECK(n > 50 && n < A * NC);
        /* every candidate not kept overlaps a kept box of its class with at
         * least its score by more than the threshold */
        for (size_t a = 0; a < A; a++)
            for (int c = 0; c < NC; c++) {
                const float *p = pred + a * NO;
                if (!(p[4 + c] > cfg.conf)) continue;
                float box[4] = {p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2};
                int kept = 0, covered = 0;
                for (size_t i = 0; i < n; i++) {
                    if (out[6 * i + 5] != (float)c) continue;
                    if (!memcmp(out + 6 * i, box, sizeof box) && out[6 * i + 4] == p[4 + c])
                        kept = 1;
                    if (out[6 * i + 4] >= p[4 + c] && iou_xyxy(out + 6 * i, box) > cfg.iou - 1e-4f)
                        covered = 1;
                }
                bad += !kept && !covered;
            }
    }
    CHECK_EQ_INT(bad, 0);
    free(pred), free(out);
}

/* scale_boxes: 640 x 480 letterboxed into 640 x 640: gain 1, pad y
 * round(80 - 0.1) = 80; 1280 x 720 into 640 x 640: gain 0.5, pad y
 * round(140 - 0.1) = 140. Coordinates outside are clipped. */
static void scale(void) {
    float b[2 * 6] = {100, 180, 200, 280, 0.9f, 1, -5, 70, 700, 600, 0.5f, 0};
    nms_scale_boxes(b, 2, 6, 640, 640, 640, 480, NULL);
    float want[12] = {100, 100, 200, 200, 0.9f, 1, 0, 0, 640, 480, 0.5f, 0};
    test_allclose("scale 640x480", b, want, 12, 0, 1e-5);
    float c[4] = {10, 150, 20, 160};
    nms_scale_boxes(c, 1, 4, 640, 640, 1280, 720, NULL);
    float want2[4] = {20, 20, 40, 40};
    test_allclose("scale 1280x720", c, want2, 4, 0, 1e-5);
    /* given gain and pad */
    float d[4] = {12, 22, 32, 42};
    double gp[3] = {2.0, 2, 2};
    nms_scale_boxes(d, 1, 4, 640, 640, 320, 320, gp);
    float want3[4] = {5, 10, 15, 20};
    test_allclose("scale given gain/pad", d, want3, 4, 0, 1e-6);
    /* half rounds to even: (641 - 640)/2 - 0.1 = 0.4 -> 0; (643 - 640)/2 - 0.1 = 1.4 -> 1 */
    float e[4] = {1, 1, 11, 11};
    nms_scale_boxes(e, 1, 4, 643, 480, 640, 480, NULL);
    float want4[4] = {0, 1, 10, 11};
    test_allclose("scale odd padding", e, want4, 4, 0, 1e-6);
}

int main(void) {
    hand();
    random_spec();
    scale();
    return test_finish("test_nms");
}
