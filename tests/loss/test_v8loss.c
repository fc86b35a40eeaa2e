/* YOLOv8 loss: hand-derived values, finite-difference checks of the
 * gradient w.r.t. every head output with the assignment held fixed (no
 * targets, one target, many targets, tiny box, image-sized box, label
 * smoothing), independence from the thread count, workspace reuse across
 * batches of different sizes, bad targets, and the eval decode. */
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "core/fastmath.h"
#include "ops/loss/v8loss.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NC 3
#define RM 16
#define NO (4 * RM + NC)

/* 64 x 64 input: levels 8x8 (s8), 4x4 (s16), 2x2 (s32): A = 84 */
static const int LH[3] = {8, 4, 2}, LW[3] = {8, 4, 2}, LS[3] = {8, 16, 32};
#define NA 84

/* Hand case. One level 8 x 8, stride 8, nc = 2, one image. Ground truth
 * class 1, (cx, cy, w, h) = (0.1875, 0.1875, 0.0625, 0.0625) of 64 px =
 * (10, 10, 14, 14) px: the only anchor inside is (x=1, y=1), centre
 * (12, 12) px. Its DFL logits are 0 at bins 0 and 1 and -50 elsewhere, so
 * each side's expectation is 0.5 cell = 4 px: predicted box (8, 8, 16, 16).
 * All other logits are 0.
 *  overlap = CIoU(gt, pred) = 16 / 64 = 1/4 (concentric squares: rho = 0, v = 0)
 *  align = sigmoid(0)^0.5 * (1/4)^6 = 0.70710678 * 2.44140625e-4 = 1.7263349e-4
 *  t = align * (1/4) / (align + 1e-9)          (one anchor: it is its own max)
 *  tss = max(t, 1) = 1
 *  L_box = (1 - 1/4) t                         (grid units: (1,1,2,2) vs (1.25,1.25,1.75,1.75))
 *  L_dfl = t * ln 2: target distances 0.25 -> tl = 0 (weight 0.75), tr = 1
 *          (weight 0.25); CE at bins 0 and 1 are both ln(2 + 14 e^-50) = ln 2
 *  L_cls = 64 anchors * 2 classes * BCE(0, any t) = 128 ln 2 (x = 0: -x t = 0)
 * terms = {7.5 L_box, 0.5 L_cls, 1.5 L_dfl}. Gradients: class logit of
 * class 1 at the anchor 0.5 (0.5 - t), every other class logit 0.5 * 0.5. */
static void hand_case(void) {
    int h = 8, w = 8, s = 8;
    const int nc = 2, no = 4 * RM + nc;
    v8_loss_cfg cfg = v8_loss_cfg_default(nc);
    v8_loss L;
    CHECK_EQ_INT(v8_loss_init(&L, &cfg), YOLOC_OK);
    float *pred = calloc(64 * (size_t)no, sizeof(float)),
          *grad = malloc(64 * (size_t)no * sizeof(float));
    float *z = pred + 9 * no;
    for (int side = 0; side < 4; side++)
        for (int k = 2; k < RM; k++) z[side * RM + k] = -50.0f;
    float tg[6] = {0, 1, 0.1875f, 0.1875f, 0.0625f, 0.0625f};
    float terms[3];
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 1, 1, &h, &w, &s, tg, 1, terms, grad), YOLOC_OK);
    double align = sqrt(0.5) * pow(0.25, 6);
    double t = align * 0.25 / (align + 1e-9);
    CHECK_EQ_INT(L.nfg, 1);
    CHECK_EQ_INT(L.owner[9], 0);
    CHECK_NEAR(L.tscore[9], t, 1e-7);
    CHECK_NEAR(L.tss, 1.0, 0);
    CHECK_NEAR(terms[0], 7.5 * 0.75 * t, 1e-6);
    CHECK_NEAR(terms[1], 0.5 * 128 * log(2.0), 1e-4);
    CHECK_NEAR(terms[2], 1.5 * t * log(2.0), 1e-6);
    CHECK_NEAR(grad[9 * no + 4 * RM + 1], 0.5 * (0.5 - t), 1e-7);
    CHECK_NEAR(grad[9 * no + 4 * RM + 0], 0.25, 1e-7);
    CHECK_NEAR(grad[20 * no + 4 * RM + 1], 0.25, 1e-7);
    CHECK_NEAR(grad[20 * no + 3], 0.0, 0); /* background anchors: no DFL gradient */
    /* DFL gradient of side 0 at the anchor: dfl part 1.5 t / 4 (p_k - w_k), with
     * p = (1/2, 1/2, 0...) and weights (0.75, 0.25): bin 0 -> -0.25, bin 1 -> +0.25,
     * plus the box part (checked numerically below) */
    v8_loss_free(&L);
    free(pred), free(grad);
}

/* No targets, all logits 0: L_cls = B A nc ln 2 / 1, box = dfl = 0,
 * every class gradient 0.5 * sigmoid(0) = 0.25, every DFL gradient 0. */
static void no_target_values(void) {
    v8_loss_cfg cfg = v8_loss_cfg_default(NC);
    v8_loss L;
    v8_loss_init(&L, &cfg);
    size_t n = 2 * NA * NO;
    float *pred = calloc(n, sizeof(float)), *grad = malloc(n * sizeof(float));
    float terms[3];
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, NULL, 0, terms, grad), YOLOC_OK);
    CHECK_NEAR(terms[0], 0, 0);
    CHECK_NEAR(terms[2], 0, 0);
    CHECK_NEAR(terms[1], 0.5 * 2 * NA * NC * log(2.0), 1e-3);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = (i % NO) >= 4 * RM ? 0.25f : 0.0f;
        bad += grad[i] != want;
    }
    CHECK_EQ_INT(bad, 0);
    v8_loss_free(&L);
    free(pred), free(grad);
}

/* Predictions near plausible boxes so that overlaps (and the box/DFL terms)
 * are substantial: each side's logits peak at a random distance. */
static void make_pred(rng *r, float *pred, int B) {
    for (size_t i = 0; i < (size_t)B * NA; i++) {
        float *z = pred + i * NO;
        for (int side = 0; side < 4; side++) {
            double d = rng_range(r, 0.3, 3.5), sg = rng_range(r, 0.6, 1.5);
            for (int k = 0; k < RM; k++)
                z[side * RM + k] =
                    (float)(-0.5 * (k - d) * (k - d) / (sg * sg) + 0.3 * rng_normal(r));
        }
        for (int c = 0; c < NC; c++) z[4 * RM + c] = (float)rng_range(r, -3, 1.5);
    }
}

typedef struct {
    v8_loss *L;
    float *pred;
} gc_ctx;

static double loss_fixed(void *p) {
    gc_ctx *c = p;
    float terms[3];
    v8_loss_compute_assigned(c->L, c->pred, terms, NULL);
    return c->L->terms64[0] + c->L->terms64[1] + c->L->terms64[2];
}

/* Checks d(sum of terms)/d pred at every entry, the assignment held fixed:
 * DFL logits with step 1e-3 (kinks of min/max in CIoU stay out of reach),
 * class logits with step 1e-2 (smooth; the float BCE rounding stays small). */
static void grad_case(const char *name, float ls, const float *tg, size_t nt, int B, rng *r,
                      int want_fg, int tiny_anchor) {
    v8_loss_cfg cfg = v8_loss_cfg_default(NC);
    cfg.label_smoothing = ls;
    v8_loss L;
    CHECK_EQ_INT(v8_loss_init(&L, &cfg), YOLOC_OK);
    size_t n = (size_t)B * NA * NO;
    float *pred = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    make_pred(r, pred, B);
    if (tiny_anchor >= 0) {
        /* a sub-pixel prediction: mass at bin 0, distance ~0.02 cells per side */
        float *z = pred + (size_t)tiny_anchor * NO;
        for (int k = 0; k < 4 * RM; k++) z[k] = k % RM == 0 ? 4.0f : (k % RM == 1 ? 0.0f : -4.0f);
    }
    CHECK_EQ_INT(v8_loss_assign(&L, pred, B, 3, LH, LW, LS, tg, nt), YOLOC_OK);
    if (tiny_anchor >= 0)
        CHECK_MSG(L.owner[tiny_anchor] == 0 && L.tscore[tiny_anchor] > 0.05f,
                  "tiny box: anchor %d owner %d score %g", tiny_anchor, L.owner[tiny_anchor],
                  (double)L.tscore[tiny_anchor]);
    float terms[3];
    CHECK_EQ_INT(v8_loss_compute_assigned(&L, pred, terms, grad), YOLOC_OK);
    CHECK_MSG(want_fg ? L.nfg > 0 : L.nfg == 0, "%s: %zu foreground anchors", name, L.nfg);
    L.hold_alpha = 1; /* alpha is detached, like the assignment */
    gc_ctx c = {&L, pred};
    int bad = 0;
    char nm[96];
    for (size_t i = 0; i < (size_t)B * NA; i++) {
        snprintf(nm, sizeof nm, "%s dfl anchor %zu", name, i);
        bad += !gradcheck(nm, pred + i * NO, 4 * RM, grad + i * NO, loss_fixed, &c, 1e-3, 1e-4,
                          1e-7, 4 * RM);
        snprintf(nm, sizeof nm, "%s cls anchor %zu", name, i);
        bad += !gradcheck(nm, pred + i * NO + 4 * RM, NC, grad + i * NO + 4 * RM, loss_fixed, &c,
                          1e-2, 1e-3, 1e-6, NC);
    }
    printf("  %-28s nfg %3zu tss %8.4f terms %.6f %.6f %.6f  bad %d\n", name, L.nfg, L.tss,
           (double)terms[0], (double)terms[1], (double)terms[2], bad);
    v8_loss_free(&L);
    free(pred), free(grad);
}

static void gradients(void) {
    rng r;
    rng_seed(&r, 2024);
    grad_case("no targets", 0, NULL, 0, 2, &r, 0, -1);
    float one[6] = {1, 2, 0.4f, 0.55f, 0.3f, 0.2f};
    grad_case("one target", 0, one, 1, 2, &r, 1, -1);
    enum { MANY = 80 };
    float many[MANY * 6];
    for (int i = 0; i < MANY; i++) {
        float *t = many + 6 * i;
        t[0] = (float)(i % 2), t[1] = (float)rng_below(&r, NC);
        t[2] = (float)rng_range(&r, 0.05, 0.95), t[3] = (float)rng_range(&r, 0.05, 0.95);
        t[4] = (float)rng_range(&r, 0.02, 0.6), t[5] = (float)rng_range(&r, 0.02, 0.6);
    }
    grad_case("many targets (40/image)", 0, many, MANY, 2, &r, 1, -1);
    /* tiny: 0.25 px around the centre (28, 28) of anchor (3, 3) of level 0, and
     * one tiny box that contains no anchor centre */
    float tiny[12] = {0, 0, 0.4375f, 0.4375f, 0.004f, 0.004f, 1, 1, 0.3f, 0.3f, 0.002f, 0.002f};
    grad_case("tiny boxes", 0, tiny, 2, 2, &r, 1, 3 * 8 + 3);
    float big[12] = {0, 0, 0.5f, 0.5f, 1.0f, 1.0f, 1, 2, 0.5f, 0.5f, 0.98f, 0.99f};
    grad_case("image-sized boxes", 0, big, 2, 2, &r, 1, -1);
    grad_case("label smoothing 0.1", 0.1f, many, 20, 2, &r, 1, -1);
    float one_empty[6] = {0, 1, 0.5f, 0.5f, 0.4f, 0.4f};
    grad_case("image 1 without targets", 0, one_empty, 1, 2, &r, 1, -1);
}

/* Results must not depend on the thread count, nor on what an earlier call
 * left in the (reused, grown) workspace. */
static void threads_and_reuse(void) {
    rng r;
    rng_seed(&r, 5);
    const int B = 4;
    size_t n = (size_t)B * NA * NO;
    float *pred = malloc(n * sizeof(float));
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    make_pred(&r, pred, B);
    float tg[60 * 6];
    for (int i = 0; i < 60; i++) {
        float *t = tg + 6 * i;
        t[0] = (float)rng_below(&r, B), t[1] = (float)rng_below(&r, NC);
        t[2] = (float)rng_range(&r, 0.1, 0.9), t[3] = (float)rng_range(&r, 0.1, 0.9);
        t[4] = (float)rng_range(&r, 0.05, 0.5), t[5] = (float)rng_range(&r, 0.05, 0.5);
    }
    v8_loss_cfg cfg = v8_loss_cfg_default(NC);
    v8_loss L, F;
    v8_loss_init(&L, &cfg);
    float t1[3], t2[3];
    int counts[6] = {5, 60, 0, 30, 60, 1};
    int same = 1;
    for (int k = 0; k < 6; k++) {
        omp_set_num_threads(k % 2 ? 1 : 2);
        CHECK_EQ_INT(v8_loss_compute(&L, pred, B, 3, LH, LW, LS, tg, (size_t)counts[k], t1, g1),
                     YOLOC_OK);
        omp_set_num_threads(k % 2 ? 2 : 1);
        v8_loss_init(&F, &cfg);
        CHECK_EQ_INT(v8_loss_compute(&F, pred, B, 3, LH, LW, LS, tg, (size_t)counts[k], t2, g2),
                     YOLOC_OK);
        v8_loss_free(&F);
        same &= memcmp(t1, t2, sizeof t1) == 0 && memcmp(g1, g2, n * sizeof(float)) == 0;
    }
    CHECK_MSG(same, "reused workspace / thread count changed the results");
    /* steady state: a batch with no more targets than before does not reallocate */
    void *work = L.work;
    CHECK_EQ_INT(v8_loss_compute(&L, pred, B, 3, LH, LW, LS, tg, 40, t1, g1), YOLOC_OK);
    CHECK(L.work == work);
    /* a smaller batch reuses it too */
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, tg, 0, t1, g1), YOLOC_OK);
    CHECK(L.work == work);
    omp_set_num_threads(2);
    v8_loss_free(&L);
    free(pred), free(g1), free(g2);
}

static void bad_input(void) {
    v8_loss_cfg cfg = v8_loss_cfg_default(NC);
    v8_loss L;
    v8_loss_init(&L, &cfg);
    float *pred = calloc((size_t)2 * NA * NO, sizeof(float));
    float terms[3];
    float t1[12] = {0, 0, 0.5f, 0.5f, 0.2f, 0.2f, 2, 0, 0.5f, 0.5f, 0.2f, 0.2f};
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t1, 2, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "targets row 1: image index 2");
    float t2[6] = {0, 3, 0.5f, 0.5f, 0.2f, 0.2f};
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t2, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "class 3");
    float t3[6] = {0, 1, NAN, 0.5f, 0.2f, 0.2f};
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t3, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    float t4[6] = {0, 1, 0.5f, 0.5f, -0.2f, 0.2f};
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t4, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    float t5[6] = {0.5f, 1, 0.5f, 0.5f, 0.2f, 0.2f};
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t5, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 0, 3, LH, LW, LS, NULL, 0, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_EQ_INT(v8_loss_compute_assigned(&L, pred, terms, NULL), YOLOC_ERR_INVALID);
    /* NaN predictions: reported, not a crash */
    pred[4 * RM] = NAN;
    CHECK_EQ_INT(v8_loss_compute(&L, pred, 2, 3, LH, LW, LS, t2, 0, terms, NULL),
                 YOLOC_ERR_NUMERIC);
    v8_loss_free(&L);
    v8_loss_cfg badc = cfg;
    badc.nc = 0;
    CHECK_EQ_INT(v8_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    badc = cfg;
    badc.label_smoothing = 1.0f;
    CHECK_EQ_INT(v8_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    badc = cfg;
    badc.reg_max = 1;
    CHECK_EQ_INT(v8_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    free(pred);
}

/* 640 x 640, nc 80, 2 images with 300 targets each (incl. duplicates,
 * image-sized and sub-pixel boxes): runs, terms finite, gradients finite. */
static void large(void) {
    int h[3] = {80, 40, 20}, w[3] = {80, 40, 20}, s[3] = {8, 16, 32};
    const int nc = 80, no = 64 + nc, B = 2, N = 600;
    size_t A = 8400, n = (size_t)B * A * (size_t)no;
    float *pred = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    float *tg = malloc(N * 6 * sizeof(float));
    rng r;
    rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) pred[i] = (float)rng_range(&r, -4, 2);
    for (int i = 0; i < N; i++) {
        float *t = tg + 6 * i;
        t[0] = (float)(i % B), t[1] = (float)rng_below(&r, nc);
        t[2] = (float)rng_uniform(&r), t[3] = (float)rng_uniform(&r);
        t[4] = (float)rng_range(&r, 0.0005, 0.5), t[5] = (float)rng_range(&r, 0.0005, 0.5);
    }
    memcpy(tg + 6 * 10, tg + 6 * 12, 6 * sizeof(float)); /* a duplicate (same image) */
    float whole[6] = {0, 3, 0.5f, 0.5f, 1, 1};
    memcpy(tg, whole, sizeof whole);
    v8_loss_cfg cfg = v8_loss_cfg_default(nc);
    v8_loss L;
    v8_loss_init(&L, &cfg);
    float terms[3];
    CHECK_EQ_INT(v8_loss_compute(&L, pred, B, 3, h, w, s, tg, N, terms, grad), YOLOC_OK);
    int finite = 1;
    for (size_t i = 0; i < n; i++) finite &= isfinite(grad[i]);
    CHECK(finite);
    CHECK(L.nfg > 500);
    CHECK(terms[0] > 0 && terms[1] > 0 && terms[2] > 0);
    printf("  640x640, 600 targets: nfg %zu tss %.3f terms %.4f %.4f %.4f\n", L.nfg, L.tss,
           (double)terms[0], (double)terms[1], (double)terms[2]);
    v8_loss_free(&L);
    free(pred), free(grad), free(tg);
}

/* The vectorisable exp / log1p used by the class term stay within a few
 * float ulps of libm (double reference) over their whole domain. */
static void fast_math(void) {
    double worst_e = 0, worst_l = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = (float)(-87.0 * i / 200000.0);
        double e = fm_exp_neg(x), re = exp((double)x);
        double err = fabs(e - re) / re;
        worst_e = err > worst_e ? err : worst_e;
        float u = (float)(i / 200000.0);
        double l = fm_log1p01(u), rl = log1p((double)u);
        err = u > 0 ? fabs(l - rl) / rl : fabs(l);
        worst_l = err > worst_l ? err : worst_l;
    }
    CHECK_MSG(worst_e < 3e-7, "fm_exp_neg max relative error %g", worst_e);
    CHECK_MSG(worst_l < 3e-7, "fm_log1p01 max relative error %g", worst_l);
    CHECK(fm_exp_neg(-1000.0f) > 0 && fm_exp_neg(-1000.0f) < 1e-37f);
    CHECK(fm_exp_neg(0.0f) == 1.0f);
}

int main(void) {
    fast_math();
    hand_case();
    no_target_values();
    gradients();
    threads_and_reuse();
    bad_input();
    large();
    return test_finish("test_v8loss");
}
