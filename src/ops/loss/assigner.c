/* Task-aligned assigner for one image (semantics, tie rules and what is
 * left out: see assigner.h).
 *
 * Work is proportional to the candidates (anchors inside boxes), not to
 * ngt x A: each ground truth visits only the grid cells its box covers, keeps
 * a sorted top-k list, and the multi-claim resolution revisits the ground
 * truths only for the few anchors selected more than once. */
#include "ops/loss/assigner.h"
#include "core/fastmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    double metric, overlap;
    int32_t anchor;
} tal_top;

typedef struct {
    double align, overlap;
    int32_t anchor, gt;
} tal_fg;

/* Workspace layout, in this order (each part 8-byte aligned): claim[A] int32,
 * atan[A] (aspect atan of each predicted box, NaN until computed), ntop[ngt]
 * int32, top[ngt*k], fg[ngt*k], pos_align[ngt], pos_overlap[ngt]. */
typedef struct {
    int32_t *claim, *ntop;
    double *atan;
    tal_top *top;
    tal_fg *fg;
    double *pos_align, *pos_overlap;
} tal_ws;

static size_t round8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

static size_t ws_layout(size_t A, size_t ngt, int k, unsigned char *base, tal_ws *w) {
    size_t off = 0, kk = (size_t)(k > 0 ? k : 0);
#define TAL_PART(field, type, count)                                                               \
    do {                                                                                           \
        if (w) w->field = (type *)(base + off);                                                    \
        off += round8(sizeof(type) * (count));                                                     \
    } while (0)
    TAL_PART(claim, int32_t, A);
    TAL_PART(atan, double, A);
    TAL_PART(ntop, int32_t, ngt);
    TAL_PART(top, tal_top, ngt * kk);
    TAL_PART(fg, tal_fg, ngt * kk);
    TAL_PART(pos_align, double, ngt);
    TAL_PART(pos_overlap, double, ngt);
#undef TAL_PART
    return off;
}

size_t tal_workspace_size(size_t nanchors, size_t ngt, const tal_cfg *cfg) {
    return ws_layout(nanchors, ngt, cfg->topk, NULL, NULL);
}

void tal_need_box(const anchor_grid *grid, size_t ngt, const float *gt_box, unsigned char *need) {
    for (size_t g = 0; g < ngt; g++) {
        const float *box = gt_box + 4 * g;
        if (!tal_gt_valid(box)) continue;
        for (int l = 0; l < grid->nlevels; l++) {
            int x0, x1, y0, y1;
            float s = (float)grid->stride[l];
            anchor_grid_cover(grid, l, box, &x0, &x1, &y0, &y1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (anchor_in_box(((float)x + 0.5f) * s, ((float)y + 0.5f) * s, box))
                        need[grid->offset[l] + (size_t)y * (size_t)grid->w[l] + (size_t)x] = 1;
        }
    }
}

/* Class score: sigmoid in float, as Ultralytics feeds pd_scores.sigmoid(). */
static double sigmoid(float x) {
    return (double)fm_sigmoid(x);
}

/* overlap = max(CIoU(gt, pred), 0) (iou_calculation; gt is box1), with the
 * aspect atans cached: gt_at for the ground truth, at[a] per anchor. */
static double pair_overlap(const float *gt, double gt_at, const float *pd, double *at) {
    double g[4] = {gt[0], gt[1], gt[2], gt[3]}, p[4] = {pd[0], pd[1], pd[2], pd[3]};
    if (isnan(*at)) *at = box_aspect_atan(p);
    double v = box_ciou_pre(g, p, gt_at, *at);
    return v > 0 ? v : 0; /* also maps NaN (a non-finite prediction) to 0 */
}

static double gt_atan(const float *gt) {
    double g[4] = {gt[0], gt[1], gt[2], gt[3]};
    return box_aspect_atan(g);
}

/* Inserts (metric, anchor) into the descending list top[0..*n) of capacity k.
 * Candidates arrive in ascending anchor order, so "strictly greater moves
 * ahead" ranks equal metrics by lower anchor index. */
static void top_insert(tal_top *top, int32_t *n, int k, double metric, double overlap,
                       int32_t anchor) {
    int m = *n;
    if (m == k && !(metric > top[k - 1].metric)) return;
    int pos = m < k ? m : k - 1;
    while (pos > 0 && metric > top[pos - 1].metric) {
        top[pos] = top[pos - 1];
        pos--;
    }
    top[pos] = (tal_top){metric, overlap, anchor};
    if (m < k) *n = m + 1;
}

size_t tal_assign(const tal_cfg *cfg, const anchor_grid *grid, const float *pd_box,
                  const float *pd_logit, size_t logit_stride, size_t ngt, const float *gt_box,
                  const int *gt_cls, void *ws, int *owner, float *tscore) {
    size_t A = anchor_grid_count(grid);
    int k = cfg->topk;
    for (size_t a = 0; a < A; a++) {
        owner[a] = -1;
        tscore[a] = 0.0f;
    }
    if (ngt == 0 || k < 1) return 0;
    tal_ws w;
    ws_layout(A, ngt, k, (unsigned char *)ws, &w);
    memset(w.claim, 0, sizeof(int32_t) * A);
    for (size_t a = 0; a < A; a++) w.atan[a] = NAN;

    /* 1. candidates and the top-k of each ground truth */
    for (size_t g = 0; g < ngt; g++) {
        const float *box = gt_box + 4 * g;
        tal_top *top = w.top + g * (size_t)k;
        w.ntop[g] = 0;
        if (!tal_gt_valid(box)) continue;
        double gat = gt_atan(box);
        for (int l = 0; l < grid->nlevels; l++) {
            int x0, x1, y0, y1;
            float s = (float)grid->stride[l];
            anchor_grid_cover(grid, l, box, &x0, &x1, &y0, &y1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    if (!anchor_in_box(((float)x + 0.5f) * s, ((float)y + 0.5f) * s, box)) continue;
                    size_t a = grid->offset[l] + (size_t)y * (size_t)grid->w[l] + (size_t)x;
                    double ov = pair_overlap(box, gat, pd_box + 4 * a, &w.atan[a]);
                    double sc = sigmoid(pd_logit[a * logit_stride + (size_t)gt_cls[g]]);
                    top_insert(top, &w.ntop[g], k, tal_align(cfg, sc, ov), ov, (int32_t)a);
                }
        }
    }

    /* 2. claims; owner[] temporarily holds the fg entry of each claimed anchor */
    size_t nfg = 0;
    for (size_t g = 0; g < ngt; g++) {
        const tal_top *top = w.top + g * (size_t)k;
        for (int i = 0; i < w.ntop[g]; i++) {
            int32_t a = top[i].anchor;
            if (w.claim[a]++ == 0) {
                owner[a] = (int)nfg;
                w.fg[nfg++] = (tal_fg){top[i].metric, top[i].overlap, a, (int32_t)g};
            }
        }
    }

    /* 3. anchors claimed more than once: the ground truth of largest overlap */
    for (size_t e = 0; e < nfg; e++) {
        tal_fg *f = &w.fg[e];
        if (w.claim[f->anchor] < 2) continue;
        int l, x, y;
        anchor_grid_locate(grid, (size_t)f->anchor, &l, &x, &y);
        float s = (float)grid->stride[l];
        float px = ((float)x + 0.5f) * s, py = ((float)y + 0.5f) * s;
        const float *pd = pd_box + 4 * (size_t)f->anchor;
        double best = -1.0;
        size_t bg = 0;
        int inside = 0;
        for (size_t g = 0; g < ngt; g++) {
            const float *box = gt_box + 4 * g;
            int in = tal_gt_valid(box) && anchor_in_box(px, py, box);
            double ov = in ? pair_overlap(box, gt_atan(box), pd, &w.atan[f->anchor]) : 0.0;
            if (ov > best) {
                best = ov;
                bg = g;
                inside = in;
            }
        }
        f->gt = (int32_t)bg;
        f->overlap = best;
        f->align = 0.0;
        if (inside) {
            double sc = sigmoid(pd_logit[(size_t)f->anchor * logit_stride + (size_t)gt_cls[bg]]);
            f->align = tal_align(cfg, sc, best);
        }
    }

    /* 4. normalisation per ground truth, then the soft targets */
    for (size_t g = 0; g < ngt; g++) w.pos_align[g] = w.pos_overlap[g] = 0.0;
    for (size_t e = 0; e < nfg; e++) {
        const tal_fg *f = &w.fg[e];
        if (f->align > w.pos_align[f->gt]) w.pos_align[f->gt] = f->align;
        if (f->overlap > w.pos_overlap[f->gt]) w.pos_overlap[f->gt] = f->overlap;
    }
    for (size_t e = 0; e < nfg; e++) {
        const tal_fg *f = &w.fg[e];
        owner[f->anchor] = f->gt;
        tscore[f->anchor] =
            (float)(f->align * w.pos_overlap[f->gt] / (w.pos_align[f->gt] + cfg->eps));
    }
    return nfg;
}
