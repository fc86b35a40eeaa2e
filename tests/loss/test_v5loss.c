/* YOLOv5 loss: hand-derived matches (neighbour cells, the anchor-ratio
 * filter, clamping at the border), hand-derived values (no targets, a
 * perfectly predicted box, class terms at zero logits, nc = 1), the loss
 * items and every gradient entry against a PyTorch re-implementation of
 * YOLOv5's ComputeLoss (tests/loss/fixtures/v5loss.*, made by
 * tools/make_v5loss_fixture.py), finite-difference checks of the gradient
 * with the matching, CIoU alphas and objectness targets held fixed,
 * independence from the thread count, and bad targets. */
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "io/json.h"
#include "io/npy.h"
#include "ops/loss/v5loss.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* 64 x 64 input: levels 8x8 (s8), 4x4 (s16), 2x2 (s32), 3 anchors: A = 252 */
static const int LH[3] = {8, 4, 2}, LW[3] = {8, 4, 2}, LS[3] = {8, 16, 32};
#define NA     3
#define A_ROWS 252
/* YOLOv5's default anchors in grid units of each level */
static const float ANCH[3 * NA * 2] = {1.25f,  1.625f,  2.0f,   3.75f,   4.125f,    2.875f,
                                       1.875f, 3.8125f, 3.875f, 2.8125f, 3.6875f,   7.4375f,
                                       3.625f, 2.8125f, 4.875f, 6.1875f, 11.65625f, 10.1875f};

/* One level 8x8 (stride 8), one target (cx, cy, w, h) = (0.3, 0.7, 0.2,
 * 0.25): in grid units (2.4, 5.6, 1.6, 2.0). Ratios to the three anchors
 * (1.28, 1.23), (0.8, 0.53), (0.39, 0.70): max(r, 1/r) < 4 for all three.
 * x % 1 = 0.4 < 0.5 and x > 1: the left cell too; y % 1 = 0.6: not the cell
 * above; (8 - x) % 1 = 0.6: not the right; (8 - y) % 1 = 0.4: the cell below.
 * So 9 matches, in the order (offset, anchor): cells (2,5) x 3 anchors,
 * (1,5) x 3, (2,6) x 3, target boxes (0.4, 0.6), (1.4, 0.6), (0.4, -0.4). */
static void match_hand(void) {
    v5_loss_cfg cfg = v5_loss_cfg_default(2, NA);
    v5_loss L;
    CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
    float tg[6] = {0, 1, 0.3f, 0.7f, 0.2f, 0.25f};
    CHECK_EQ_INT(v5_loss_match(&L, 1, 1, LH, LW, LS, ANCH, tg, 1), YOLOC_OK);
    CHECK_EQ_INT(L.nmatch, 9);
    static const int gi[3] = {2, 1, 2}, gj[3] = {5, 5, 6};
    static const float tx[3] = {0.4f, 1.4f, 0.4f}, ty[3] = {0.6f, 0.6f, -0.4f};
    for (size_t k = 0; k < L.nmatch && k < 9; k++) {
        const v5_match *m = &L.match[k];
        int o = (int)k / 3, a = (int)k % 3;
        CHECK_EQ_INT(m->a, a);
        CHECK_EQ_INT(m->gi, gi[o]);
        CHECK_EQ_INT(m->gj, gj[o]);
        CHECK_EQ_INT(m->cls, 1);
        CHECK_NEAR(m->tbox[0], tx[o], 1e-6);
        CHECK_NEAR(m->tbox[1], ty[o], 1e-6);
        CHECK_NEAR(m->tbox[2], 1.6, 1e-6);
        CHECK_NEAR(m->tbox[3], 2.0, 1e-6);
        CHECK_EQ_INT(m->row, (size_t)(a * 64 + gj[o] * 8 + gi[o]));
    }
    /* a large target (7.2 x 7.2 cells): anchor 0 fails the ratio (5.76 > 4) */
    float big[6] = {0, 0, 0.5f, 0.5f, 0.9f, 0.9f};
    CHECK_EQ_INT(v5_loss_match(&L, 1, 1, LH, LW, LS, ANCH, big, 1), YOLOC_OK);
    int a0 = 0;
    for (size_t k = 0; k < L.nmatch; k++) a0 += L.match[k].a == 0;
    CHECK_EQ_INT(a0, 0);
    /* its centre (4.0, 4.0) satisfies all four neighbour tests (remainders 0),
     * so each of the 2 anchors gets 5 matches; the "right" one is
     * trunc(4 + 0.5) = 4, the own cell again, as in YOLOv5 */
    CHECK_EQ_INT(L.nmatch, 2 * 5);
    CHECK_EQ_INT(L.match[2 * 3].gi, 4); /* offset 3 (right), anchor 1 */
    /* at the border: x = 1.0 of the image, y = 0: own cell clamped to 7 and 0 */
    float edge[6] = {0, 0, 1.0f, 0.0f, 0.2f, 0.25f};
    CHECK_EQ_INT(v5_loss_match(&L, 1, 1, LH, LW, LS, ANCH, edge, 1), YOLOC_OK);
    CHECK(L.nmatch >= 3);
    for (size_t k = 0; k < L.nmatch; k++) {
        CHECK(L.match[k].gi >= 0 && L.match[k].gi <= 7);
        CHECK(L.match[k].gj >= 0 && L.match[k].gj <= 7);
    }
    CHECK_EQ_INT(L.match[0].gi, 7);
    CHECK_EQ_INT(L.match[0].gj, 0);
    CHECK_NEAR(L.match[0].tbox[0], 1.0, 1e-6); /* 8 - 7: relative to the clamped cell */
    v5_loss_free(&L);
}

/* Hand values. With every logit 0 and no targets: lobj = sum over levels of
 * balance * BCE(0, 0) = (4 + 1 + 0.4) ln 2; box and cls are 0. The obj gain
 * is 1 * (640/640)^2 * 3/3 = 1 when cfg.imgsz = 640. Gradient of an
 * objectness logit of level l: balance_l * 0.5 / (B * na * H * W). */
static void values_hand(void) {
    v5_loss_cfg cfg = v5_loss_cfg_default(2, NA);
    cfg.imgsz = 640;
    v5_loss L;
    CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
    const int no = 7, B = 2;
    float *pred = calloc((size_t)B * A_ROWS * no, sizeof(float)),
          *grad = malloc((size_t)B * A_ROWS * no * sizeof(float));
    float terms[3];
    CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, ANCH, NULL, 0, terms, grad), YOLOC_OK);
    CHECK_NEAR(terms[0], 0, 0);
    CHECK_NEAR(L.terms64[1], 5.4 * log(2.0), 1e-12);
    CHECK_NEAR(terms[2], 0, 0);
    CHECK_NEAR(grad[4], 4.0 * 0.5 / (B * 3 * 64), 1e-9);                          /* level 0 */
    CHECK_NEAR(grad[(size_t)(192 + 5) * no + 4], 1.0 * 0.5 / (B * 3 * 16), 1e-9); /* level 1 */
    CHECK_NEAR(grad[(size_t)(A_ROWS - 1) * no + 4], 0.4 * 0.5 / (B * 3 * 4), 1e-9);
    CHECK_NEAR(grad[0], 0, 0);
    CHECK_NEAR(grad[5], 0, 0);

    /* One target, class 1 of 2, x = 2.5, y = 4.5 cells (no neighbour: both
     * remainders are 0.5), size 1 x 1 cell with anchors (1, 1), (5, 5),
     * (25, 25): only anchor 0 passes (ratio 5 > 4), on level 0 only (the
     * other levels' cells are 2 and 4 px... the same anchors there fail or
     * pass by their own grid: set them huge). The logits decode exactly to
     * the target: s_x = (0.5 + 0.5) / 2, s_w = sqrt(1 / 1) / 2, so CIoU = 1,
     * lbox = 0 and the objectness target of that row is 1. */
    float anc[3 * NA * 2];
    for (int k = 0; k < 3 * NA * 2; k++) anc[k] = 1000.0f;
    anc[0] = anc[1] = 1.0f;
    anc[2] = anc[3] = 5.0f;
    anc[4] = anc[5] = 25.0f;
    memset(pred, 0, (size_t)B * A_ROWS * no * sizeof(float));
    size_t row = (size_t)(4 * 8 + 2); /* image 0, anchor 0, y = 4, x = 2 */
    float *z = pred + row * no;
    z[0] = z[1] = (float)log(0.5 / 0.5); /* s = 0.5: 2s - 0.5 = 0.5 */
    z[2] = z[3] = 0.0f;                  /* (2 * 0.5)^2 * 1 = 1 */
    float tg[6] = {0, 1, 2.5f / 8, 4.5f / 8, 1.0f / 8, 1.0f / 8};
    CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, anc, tg, 1, terms, grad), YOLOC_OK);
    CHECK_EQ_INT(L.nmatch, 1);
    CHECK_EQ_INT(L.match[0].row, row);
    CHECK_NEAR(L.terms64[0], 0, 1e-7); /* CIoU's eps terms */
    CHECK_NEAR(L.tobj_match[0], 1.0, 1e-6);
    /* objectness target 1 at the row: gradient 4 (0.5 - 1) / 384 */
    CHECK_NEAR(grad[row * no + 4], 4.0 * (0.5 - 1.0) / (B * 3 * 64), 1e-8);
    /* class term at zero logits: BCE(0, t) = ln 2 whatever t; cls gain 0.5 * 2/80 */
    CHECK_NEAR(L.terms64[2], 0.5 * 2.0 / 80.0 * log(2.0), 1e-12);
    CHECK_NEAR(grad[row * no + 5], 0.5 * 2.0 / 80.0 * (0.5 - 0.0) / 2, 1e-9);
    CHECK_NEAR(grad[row * no + 6], 0.5 * 2.0 / 80.0 * (0.5 - 1.0) / 2, 1e-9);
    /* nc = 1: no class term */
    v5_loss_cfg c1 = v5_loss_cfg_default(1, NA);
    v5_loss L1;
    CHECK_EQ_INT(v5_loss_init(&L1, &c1), YOLOC_OK);
    float tg1[6] = {0, 0, 2.5f / 8, 4.5f / 8, 1.0f / 8, 1.0f / 8};
    float *p1 = calloc((size_t)B * A_ROWS * 6, sizeof(float)),
          *g1 = malloc((size_t)B * A_ROWS * 6 * sizeof(float));
    CHECK_EQ_INT(v5_loss_compute(&L1, p1, B, 3, LH, LW, LS, anc, tg1, 1, terms, g1), YOLOC_OK);
    CHECK_NEAR(terms[2], 0, 0);
    CHECK_NEAR(g1[row * 6 + 5], 0, 0);
    v5_loss_free(&L1);
    free(p1);
    free(g1);
    v5_loss_free(&L);
    free(pred);
    free(grad);
}

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

/* The PyTorch reference (autograd through YOLOv5's tensor code). */
static void torch_reference(void) {
    const char *dir = YOLOC_SOURCE_DIR "/tests/loss/fixtures";
    char path[512];
    snprintf(path, sizeof path, "%s/v5loss.json", dir);
    size_t len;
    char *text = slurp(path, &len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return;
    jdoc doc;
    CHECK_EQ_INT(jdoc_parse(&doc, text, len, path), YOLOC_OK);
    const jnode *r = doc.root;
    int B = (int)jnode_get(r, "batch")->number, nc = (int)jnode_get(r, "nc")->number;
    const jnode *hyp = jnode_get(r, "hyp"), *jt = jnode_get(r, "targets"),
                *ja = jnode_get(r, "anchors");
    const jnode *jterms = jnode_get(r, "terms"), *jm = jnode_get(r, "matches_per_level");
    v5_loss_cfg cfg = v5_loss_cfg_default(nc, NA);
    cfg.label_smoothing = (float)jnode_get(hyp, "label_smoothing")->number;
    cfg.imgsz = (int)jnode_get(r, "imgsz")->number;
    float anc[3 * NA * 2], *tg = malloc(jt->n * sizeof(float));
    for (size_t k = 0; k < ja->n && k < 3 * NA * 2; k++) anc[k] = (float)ja->items[k]->number;
    for (size_t k = 0; k < jt->n; k++) tg[k] = (float)jt->items[k]->number;
    float *pred = NULL, *want = NULL;
    int nd;
    int64_t shape[TENSOR_MAX_DIMS];
    snprintf(path, sizeof path, "%s/v5loss_pred.npy", dir);
    CHECK_EQ_INT(npy_read_f32(path, &pred, &nd, shape), YOLOC_OK);
    snprintf(path, sizeof path, "%s/v5loss_grad.npy", dir);
    CHECK_EQ_INT(npy_read_f32(path, &want, &nd, shape), YOLOC_OK);
    if (pred && want) {
        v5_loss L;
        CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
        size_t n = (size_t)B * A_ROWS * (5 + nc);
        float *grad = malloc(n * sizeof(float)), terms[3];
        CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, anc, tg, jt->n / 6, terms, grad),
                     YOLOC_OK);
        for (int l = 0; l < 3; l++)
            CHECK_EQ_INT(L.level_off[l + 1] - L.level_off[l], (size_t)jm->items[l]->number);
        for (int k = 0; k < 3; k++) {
            double w = jterms->items[k]->number;
            CHECK_NEAR(L.terms64[k], w,
                       1e-7 * fabs(w) + 1e-12); /* the cfg gains are float (0.05f) */
        }
        printf("  terms box %.9g obj %.9g cls %.9g (PyTorch %.9g %.9g %.9g), %zu matches\n",
               L.terms64[0], L.terms64[1], L.terms64[2], jterms->items[0]->number,
               jterms->items[1]->number, jterms->items[2]->number, L.nmatch);
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
        test_allclose("v5 loss gradient vs PyTorch autograd", grad, want, n, 1e-5, 1e-6 * scale);
        v5_loss_free(&L);
        free(grad);
    }
    free(pred);
    free(want);
    free(tg);
    jdoc_free(&doc);
    free(text);
}

typedef struct {
    v5_loss *L;
    float *pred;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    float terms[3];
    c->L->hold = 1;
    v5_loss_compute_matched(c->L, c->pred, terms, NULL);
    return c->L->terms64[0] + c->L->terms64[1] + c->L->terms64[2];
}

/* Finite differences, entry by entry, of every output of the matched rows
 * (where the box and class terms live) and a sample of the others, plus
 * directional checks over the whole head. */
static void fd_case(const char *name, int nc, float eps_ls, const float *tg, size_t nt,
                    uint64_t seed) {
    const int B = 2, no = 5 + nc;
    size_t n = (size_t)B * A_ROWS * no;
    v5_loss_cfg cfg = v5_loss_cfg_default(nc, NA);
    cfg.label_smoothing = eps_ls;
    cfg.imgsz = 64;
    v5_loss L;
    CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
    float *pred = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float)), terms[3];
    rng g;
    rng_seed(&g, seed);
    gc_fill(&g, pred, n, -2, 2);
    CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, ANCH, tg, nt, terms, grad), YOLOC_OK);
    fd_ctx c = {&L, pred};
    size_t bad = 0, checked = 0;
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
    unsigned char *seen = calloc((size_t)B * A_ROWS, 1);
    for (size_t k = 0; k < L.nmatch; k++) {
        size_t row = L.match[k].row;
        if (seen[row]) continue;
        seen[row] = 1;
        for (int j = 0; j < no; j++) {
            float *x = &pred[row * no + j], keep = *x;
            double h = 1e-3;
            *x = (float)(keep + h);
            double lp = fd_loss(&c);
            *x = (float)(keep - h);
            double lm = fd_loss(&c);
            *x = keep;
            double num = (lp - lm) / ((double)(float)(keep + h) - (double)(float)(keep - h));
            checked++;
            if (fabs(num - grad[row * no + j]) > 2e-3 * fabs(num) + 1e-4 * gmax) {
                if (bad < 5)
                    fprintf(stderr, "  %s: row %zu output %d: numeric %.8g analytic %.8g\n", name,
                            row, j, num, grad[row * no + j]);
                bad++;
            }
        }
    }
    test_checks_++;
    if (bad) test_failures_++;
    printf("  %s: %zu matches, %zu matched outputs checked by finite differences, %zu bad\n", name,
           L.nmatch, checked, bad);
    char label[96];
    snprintf(label, sizeof label, "%s (whole head)", name);
    gradcheck_dir(label, pred, n, grad, fd_loss, &c, 1e-3, 1e-3, 1e-7);
    snprintf(label, sizeof label, "%s (entries)", name);
    gradcheck(label, pred, n, grad, fd_loss, &c, 1e-2, 2e-3, 1e-4 * gmax, 200);
    free(seen);
    free(pred);
    free(grad);
    v5_loss_free(&L);
}

static void fd_cases(void) {
    float none[1] = {0};
    fd_case("no targets", 3, 0, none, 0, 1);
    float one[6] = {0, 1, 0.3f, 0.7f, 0.2f, 0.25f};
    fd_case("one target", 3, 0, one, 1, 2);
    float many[6 * 7] = {0, 0, 0.30f, 0.70f, 0.20f, 0.25f, 0, 2, 0.56f, 0.56f, 0.10f, 0.08f,
                         0, 2, 0.57f, 0.55f, 0.12f, 0.09f, 1, 1, 0.50f, 0.50f, 0.95f, 0.90f,
                         1, 0, 0.10f, 0.80f, 0.02f, 0.03f, 1, 3, 0.99f, 0.01f, 0.05f, 0.04f,
                         0, 1, 0.5f,  0.5f,  0.5f,  0.3f};
    /* (seed 3 puts a predicted box within 1e-4 of touching a target box: the
     * clamp(0) kink of the intersection, where a central difference averages
     * the two sides) */
    fd_case("many targets, smoothing", 4, 0.1f, many, 7, 4);
}

/* Same terms and gradient bits with 1 and 2 threads. */
static void threads(void) {
    const int B = 4, nc = 3, no = 8;
    size_t n = (size_t)B * A_ROWS * no;
    float *pred = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float)),
          *g2 = malloc(n * sizeof(float));
    rng g;
    rng_seed(&g, 9);
    gc_fill(&g, pred, n, -3, 3);
    float tg[12] = {0, 1, 0.3f, 0.7f, 0.2f, 0.25f, 3, 2, 0.6f, 0.2f, 0.4f, 0.3f};
    v5_loss_cfg cfg = v5_loss_cfg_default(nc, NA);
    v5_loss L;
    CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
    float t1[3], t2[3];
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, ANCH, tg, 2, t1, g1), YOLOC_OK);
    omp_set_num_threads(2);
    CHECK_EQ_INT(v5_loss_compute(&L, pred, B, 3, LH, LW, LS, ANCH, tg, 2, t2, g2), YOLOC_OK);
    omp_set_num_threads(keep);
    CHECK(memcmp(t1, t2, sizeof t1) == 0);
    CHECK(memcmp(g1, g2, n * sizeof(float)) == 0);
    v5_loss_free(&L);
    free(pred);
    free(g1);
    free(g2);
}

static void bad_input(void) {
    v5_loss_cfg cfg = v5_loss_cfg_default(3, NA);
    v5_loss L;
    CHECK_EQ_INT(v5_loss_init(&L, &cfg), YOLOC_OK);
    float *pred = calloc((size_t)A_ROWS * 8, sizeof(float)), terms[3];
    float bad_img[6] = {1, 0, 0.5f, 0.5f, 0.1f, 0.1f};
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, bad_img, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "targets row 0: image index 1");
    float bad_cls[12] = {0, 0, 0.5f, 0.5f, 0.1f, 0.1f, 0, 3, 0.5f, 0.5f, 0.1f, 0.1f};
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, bad_cls, 2, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "targets row 1: class 3");
    float nan_box[6] = {0, 0, NAN, 0.5f, 0.1f, 0.1f};
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, nan_box, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    float neg[6] = {0, 0, 0.5f, 0.5f, -0.1f, 0.1f};
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, neg, 1, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 0, 3, LH, LW, LS, ANCH, NULL, 0, terms, NULL),
                 YOLOC_ERR_INVALID);
    float zero_anc[3 * NA * 2];
    memcpy(zero_anc, ANCH, sizeof zero_anc);
    zero_anc[7] = 0;
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, zero_anc, NULL, 0, terms, NULL),
                 YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "anchor 0 of level 1");
    CHECK_EQ_INT(v5_loss_compute_matched(&L, pred, terms, NULL),
                 YOLOC_ERR_INVALID); /* nothing matched */
    /* a non-finite logit: a NUMERIC error with the terms still written */
    pred[4] = INFINITY;
    pred[12] = -INFINITY;
    float tg[6] = {0, 0, 0.5f, 0.5f, 0.1f, 0.1f};
    status st = v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, tg, 1, terms, NULL);
    CHECK(st == YOLOC_OK || st == YOLOC_ERR_NUMERIC);
    pred[4] = NAN;
    CHECK_EQ_INT(v5_loss_compute(&L, pred, 1, 3, LH, LW, LS, ANCH, tg, 1, terms, NULL),
                 YOLOC_ERR_NUMERIC);
    v5_loss_free(&L); /* init below starts from scratch (it does not free) */
    v5_loss_cfg badc = cfg;
    badc.anchor_t = 0;
    CHECK_EQ_INT(v5_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    badc = cfg;
    badc.label_smoothing = 1;
    CHECK_EQ_INT(v5_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    badc = cfg;
    badc.na = 0;
    CHECK_EQ_INT(v5_loss_init(&L, &badc), YOLOC_ERR_INVALID);
    v5_loss_free(&L);
    free(pred);
}

int main(void) {
    match_hand();
    values_hand();
    torch_reference();
    fd_cases();
    threads();
    bad_input();
    return test_finish("test_v5loss");
}
