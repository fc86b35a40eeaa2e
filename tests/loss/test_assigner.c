/* Task-aligned assigner: a hand case, and the candidate-driven
 * implementation against a dense reference that follows Ultralytics' tensor
 * algorithm step by step (G x A matrices: mask_in_gts, align metric, top-k,
 * select_highest_overlaps with argmax over all ground truths, normalised
 * targets) on many random images, including multi-claimed anchors,
 * invalid (all-zero) ground truths and a top-k larger than the candidates. */
#include "core/rng.h"
#include "harness.h"
#include "ops/loss/assigner.h"
#include "core/fastmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the assigner's class score: its float sigmoid (torch computes it in float32) */
static double sig(float x) {
    return (double)fm_sigmoid(x);
}

/* Dense reference. Out-of-box anchors rank after in-box ones at equal
 * metric (the documented tie rule), lower index first. */
static void dense_assign(const tal_cfg *cfg, const anchor_grid *grid, const float *pd_box,
                         const float *logit, size_t ls, size_t G, const float *gt, const int *cls,
                         int *owner, float *tscore) {
    size_t A = anchor_grid_count(grid);
    double *ov = calloc(G * A, sizeof(double)), *al = calloc(G * A, sizeof(double));
    int *in = calloc(G * A, sizeof(int)), *pos = calloc(G * A, sizeof(int));
    int *order = malloc(A * sizeof(int));
    for (size_t g = 0; g < G; g++) {
        int valid = tal_gt_valid(gt + 4 * g);
        for (size_t a = 0; a < A; a++) {
            int l, x, y;
            anchor_grid_locate(grid, a, &l, &x, &y);
            float s = (float)grid->stride[l];
            in[g * A + a] = valid && anchor_in_box((x + 0.5f) * s, (y + 0.5f) * s, gt + 4 * g);
            if (!in[g * A + a]) continue;
            double gb[4] = {gt[4 * g], gt[4 * g + 1], gt[4 * g + 2], gt[4 * g + 3]};
            double pb[4] = {pd_box[4 * a], pd_box[4 * a + 1], pd_box[4 * a + 2], pd_box[4 * a + 3]};
            double o = box_iou(gb, pb, BOX_CIOU);
            o = o > 0 ? o : 0;
            ov[g * A + a] = o;
            al[g * A + a] =
                pow(sig(logit[a * ls + (size_t)cls[g]]), cfg->alpha) * pow(o, cfg->beta);
        }
        if (!valid) continue;
        /* top-k by (metric desc, in-box first, index asc): selection sort on k */
        for (size_t a = 0; a < A; a++) order[a] = (int)a;
        size_t k = (size_t)cfg->topk < A ? (size_t)cfg->topk : A;
        for (size_t i = 0; i < k; i++) {
            size_t best = i;
            for (size_t j = i + 1; j < A; j++) {
                size_t p = (size_t)order[j], q = (size_t)order[best];
                double mp = al[g * A + p], mq = al[g * A + q];
                int better = mp > mq || (mp == mq && in[g * A + p] > in[g * A + q]) ||
                             (mp == mq && in[g * A + p] == in[g * A + q] && p < q);
                if (better) best = j;
            }
            int t = order[i];
            order[i] = order[best];
            order[best] = t;
            pos[g * A + (size_t)order[i]] = in[g * A + (size_t)order[i]];
        }
    }
    for (size_t a = 0; a < A; a++) {
        int n = 0;
        for (size_t g = 0; g < G; g++) n += pos[g * A + a];
        if (n > 1) {
            size_t gb = 0;
            for (size_t g = 1; g < G; g++)
                if (ov[g * A + a] > ov[gb * A + a]) gb = g;
            for (size_t g = 0; g < G; g++) pos[g * A + a] = g == gb;
        }
    }
    double *pal = calloc(G, sizeof(double)), *pov = calloc(G, sizeof(double));
    for (size_t g = 0; g < G; g++)
        for (size_t a = 0; a < A; a++)
            if (pos[g * A + a]) {
                if (al[g * A + a] > pal[g]) pal[g] = al[g * A + a];
                if (ov[g * A + a] > pov[g]) pov[g] = ov[g * A + a];
            }
    for (size_t a = 0; a < A; a++) {
        owner[a] = -1;
        tscore[a] = 0;
        for (size_t g = 0; g < G; g++)
            if (pos[g * A + a]) {
                owner[a] = (int)g;
                tscore[a] = (float)(al[g * A + a] * pov[g] / (pal[g] + cfg->eps));
            }
    }
    free(ov), free(al), free(in), free(pos), free(order), free(pal), free(pov);
}

/* One level 8 x 8, stride 8 (64 x 64 image). Ground truth (8, 8, 40, 24),
 * class 1: anchor centres 4, 12, ..., 60; inside are x in {12, 20, 28, 36}
 * (cells 1..4) and y in {12, 20} (cells 1..2): 8 candidates < topk 10, so
 * all 8 are foreground. Anchor (x=2, y=1) predicts the box exactly
 * (overlap ~1, within 1e-7), the others predict (8, 8, 40, 24) shifted by
 * +4 px in x: IoU = (28 * 16) / (2 * 512 - 448) = 448 / 576 = 7/9,
 * rho2 = 16, c2 = 36^2 + 16^2 = 1552 -> CIoU = 7/9 - 16/1552 (same aspect,
 * v = 0). All class-1 logits are 0 (score 1/2), so align = sqrt(1/2) ov^6
 * and t_a = align_a * O / (A_max + 1e-9) with O = 1, A_max = sqrt(1/2):
 * t = 1 for the exact anchor and (7/9 - 16/1552)^6 for the 7 others. */
static void hand_case(void) {
    int h = 8, w = 8, s = 8;
    anchor_grid grid;
    anchor_grid_init(&grid, 1, &h, &w, &s);
    float pd[64 * 4], logit[64 * 3];
    memset(logit, 0, sizeof logit);
    for (int a = 0; a < 64; a++) {
        pd[4 * a] = 12, pd[4 * a + 1] = 8, pd[4 * a + 2] = 44, pd[4 * a + 3] = 24;
    }
    int exact = 1 * 8 + 2;
    pd[4 * exact] = 8, pd[4 * exact + 2] = 40;
    float gt[4] = {8, 8, 40, 24};
    int cls = 1;
    tal_cfg cfg = TAL_CFG_V8;
    void *ws = malloc(tal_workspace_size(64, 1, &cfg));
    int owner[64];
    float ts[64];
    size_t nfg = tal_assign(&cfg, &grid, pd, logit, 3, 1, gt, &cls, ws, owner, ts);
    CHECK_EQ_INT(nfg, 8);
    double other = pow(7.0 / 9.0 - 16.0 / 1552.0, 6);
    int bad = 0;
    for (int a = 0; a < 64; a++) {
        int x = a % 8, y = a / 8, in = x >= 1 && x <= 4 && y >= 1 && y <= 2;
        double want = !in ? 0.0 : (a == exact ? 1.0 : other);
        if (owner[a] != (in ? 0 : -1) || fabs(ts[a] - want) > 2e-6) {
            fprintf(stderr, "  anchor %d: owner %d score %.9g, want %d %.9g\n", a, owner[a],
                    (double)ts[a], in ? 0 : -1, want);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);

    /* top-k: a box covering all 64 anchors keeps exactly 10. Against
     * (0,0,64,64) every predicted box has IoU 512/4096; the shifted ones sit
     * closer to the centre (rho2 272 vs 320), so they all tie above the
     * exact anchor and topk 3 keeps the lowest indices 0, 1, 2. */
    float all[4] = {0, 0, 64, 64};
    nfg = tal_assign(&cfg, &grid, pd, logit, 3, 1, all, &cls, ws, owner, ts);
    CHECK_EQ_INT(nfg, 10);
    tal_cfg k3 = cfg;
    k3.topk = 3;
    nfg = tal_assign(&k3, &grid, pd, logit, 3, 1, all, &cls, ws, owner, ts);
    CHECK_EQ_INT(nfg, 3);
    CHECK(owner[0] == 0 && owner[1] == 0 && owner[2] == 0 && owner[exact] == -1);
    /* invalid ground truth (all zero) is never assigned */
    float zero[4] = {0, 0, 0, 0};
    nfg = tal_assign(&cfg, &grid, pd, logit, 3, 1, zero, &cls, ws, owner, ts);
    CHECK_EQ_INT(nfg, 0);
    free(ws);
}

/* Two ground truths claim the same anchors; the anchor goes to the larger
 * overlap, and with a third ground truth that overlaps an anchor best but
 * did not select it (its top-1 is elsewhere), the anchor still goes to it. */
static void multi_claim(void) {
    int h = 4, w = 4, s = 8; /* 32 x 32, centres 4, 12, 20, 28 */
    anchor_grid grid;
    anchor_grid_init(&grid, 1, &h, &w, &s);
    float pd[16 * 4], logit[16 * 2];
    for (int a = 0; a < 16; a++) { /* every anchor predicts the box (8,8,16,16) around (12,12) */
        int x = a % 4, y = a / 4;
        float cx = x * 8 + 4.0f, cy = y * 8 + 4.0f;
        pd[4 * a] = cx - 4, pd[4 * a + 1] = cy - 4, pd[4 * a + 2] = cx + 4, pd[4 * a + 3] = cy + 4;
        logit[2 * a] = 0, logit[2 * a + 1] = 0;
    }
    /* anchor 5 = (x=1,y=1), centre (12,12), box (8,8,16,16).
     * gt0 (6,6,18,18) overlap IoU 64/144; gt1 (7,7,17,17) IoU 64/100: both top-1 on anchor 5 */
    float gt[12] = {6, 6, 18, 18, 7, 7, 17, 17, 0, 0, 0, 0};
    int cls[3] = {0, 1, 0};
    tal_cfg cfg = TAL_CFG_V8;
    cfg.topk = 1;
    void *ws = malloc(tal_workspace_size(16, 3, &cfg));
    int owner[16], rowner[16];
    float ts[16], rts[16];
    size_t nfg = tal_assign(&cfg, &grid, pd, logit, 2, 2, gt, cls, ws, owner, ts);
    CHECK_EQ_INT(nfg, 1);
    CHECK_EQ_INT(owner[5], 1);
    /* Anchor 6 (centre (20,12)) predicts (16,8,30,16), anchor 7 (centre
     * (28,12)) predicts (17,8,32,16). gt0 (15,7,25,17) and gt1 (14,6,26,18)
     * contain only anchor 6 and both select it (overlaps ~0.51 and ~0.45).
     * gt2 (16,8,32,16) contains anchors 6 and 7; its class-0 logit at anchor 6
     * is -20, so its top-1 is anchor 7 (IoU 15/16 at score 1/2). Anchor 6 is
     * claimed twice and goes to the largest overlap over ALL ground truths:
     * gt2 (IoU 14/16), which did not select it; its target is then tiny
     * (align sqrt(sigmoid(-20)) * 0.87^6 ~ 2e-5, normalised by gt2's 0.45). */
    pd[4 * 6] = 16, pd[4 * 6 + 1] = 8, pd[4 * 6 + 2] = 30, pd[4 * 6 + 3] = 16;
    pd[4 * 7] = 17, pd[4 * 7 + 1] = 8, pd[4 * 7 + 2] = 32, pd[4 * 7 + 3] = 16;
    float gt2[12] = {15, 7, 25, 17, 14, 6, 26, 18, 16, 8, 32, 16};
    int cls2[3] = {1, 1, 0};
    logit[2 * 6 + 0] = -20;
    dense_assign(&cfg, &grid, pd, logit, 2, 3, gt2, cls2, rowner, rts);
    nfg = tal_assign(&cfg, &grid, pd, logit, 2, 3, gt2, cls2, ws, owner, ts);
    int same = 1;
    for (int a = 0; a < 16; a++) same &= owner[a] == rowner[a] && ts[a] == rts[a];
    CHECK(same);
    CHECK_EQ_INT(nfg, 2);
    CHECK_EQ_INT(owner[6], 2);
    CHECK_EQ_INT(owner[7], 2);
    CHECK_MSG(ts[6] > 0 && ts[6] < 1e-4f, "ts[6] = %g", (double)ts[6]);
    CHECK_MSG(ts[7] > 0.8f, "ts[7] = %g", (double)ts[7]);
    free(ws);
}

static void random_cases(void) {
    int h[3] = {8, 4, 2}, w[3] = {8, 4, 2}, s[3] = {8, 16, 32};
    anchor_grid grid;
    anchor_grid_init(&grid, 3, h, w, s);
    size_t A = anchor_grid_count(&grid);
    const int nc = 4;
    rng r;
    rng_seed(&r, 11);
    int mismatches = 0, total_fg = 0;
    for (int t = 0; t < 400; t++) {
        size_t G = rng_below(&r, 12);
        float *pd = malloc(A * 4 * sizeof(float)), *lg = malloc(A * nc * sizeof(float));
        float *gt = malloc((G + 1) * 4 * sizeof(float));
        int *cls = malloc((G + 1) * sizeof(int));
        for (size_t a = 0; a < A; a++) {
            float cx = (float)rng_range(&r, 0, 64), cy = (float)rng_range(&r, 0, 64);
            float bw = (float)rng_range(&r, 1, 40), bh = (float)rng_range(&r, 1, 40);
            pd[4 * a] = cx - bw / 2, pd[4 * a + 1] = cy - bh / 2;
            pd[4 * a + 2] = cx + bw / 2, pd[4 * a + 3] = cy + bh / 2;
            for (int c = 0; c < nc; c++) lg[a * nc + c] = (float)rng_range(&r, -4, 4);
        }
        for (size_t g = 0; g < G; g++) {
            float cx = (float)rng_range(&r, 0, 64), cy = (float)rng_range(&r, 0, 64);
            float bw = (float)rng_range(&r, 0.5, t % 3 ? 30 : 64),
                  bh = (float)rng_range(&r, 0.5, 50);
            gt[4 * g] = cx - bw / 2, gt[4 * g + 1] = cy - bh / 2;
            gt[4 * g + 2] = cx + bw / 2, gt[4 * g + 3] = cy + bh / 2;
            if (rng_below(&r, 15) == 0) memset(gt + 4 * g, 0, 4 * sizeof(float));
            cls[g] = (int)rng_below(&r, nc);
        }
        tal_cfg cfg = TAL_CFG_V8;
        if (t % 5 == 4) cfg.topk = 3;
        void *ws = malloc(tal_workspace_size(A, G, &cfg) + 1);
        int *o1 = malloc(A * sizeof(int)), *o2 = malloc(A * sizeof(int));
        float *t1 = malloc(A * sizeof(float)), *t2 = malloc(A * sizeof(float));
        size_t nfg = tal_assign(&cfg, &grid, pd, lg, nc, G, gt, cls, ws, o1, t1);
        dense_assign(&cfg, &grid, pd, lg, nc, G, gt, cls, o2, t2);
        size_t n2 = 0;
        for (size_t a = 0; a < A; a++) {
            n2 += o2[a] >= 0;
            if (o1[a] != o2[a] || t1[a] != t2[a]) mismatches++;
        }
        if (n2 != nfg) mismatches++;
        total_fg += (int)nfg;
        free(pd), free(lg), free(gt), free(cls), free(ws), free(o1), free(o2), free(t1), free(t2);
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(total_fg > 1000);
}

int main(void) {
    hand_case();
    multi_claim();
    random_cases();
    return test_finish("test_assigner");
}
