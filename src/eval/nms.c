/* NMS and inverse letterbox (semantics in nms.h). */
#include "eval/nms.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float score;
    uint32_t anchor, cls;
} nms_cand;

static size_t round8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

static size_t max_cands(size_t A, int nc, const nms_cfg *cfg) {
    return cfg->multi_label ? A * (size_t)(nc > 0 ? nc : 1) : A;
}

size_t nms_workspace_size(size_t nanchors, int nc, const nms_cfg *cfg) {
    size_t n = max_cands(nanchors, nc, cfg), k = (size_t)(cfg->max_nms > 0 ? cfg->max_nms : 0);
    if (k > n) k = n;
    /* candidates, then for the kept-for-NMS ones: shifted boxes + areas, flags */
    return round8(sizeof(nms_cand) * (n ? n : 1)) + round8(sizeof(float) * 5 * (k ? k : 1)) +
           round8(k ? k : 1);
}

/* Score descending, ties by candidate order. */
static int cmp_cand(const void *a, const void *b) {
    const nms_cand *p = a, *q = b;
    if (p->score != q->score) return p->score < q->score ? 1 : -1;
    if (p->anchor != q->anchor) return p->anchor < q->anchor ? -1 : 1;
    return (p->cls > q->cls) - (p->cls < q->cls);
}

/* classes=: a candidate's class must be listed (no list: every class) */
static int class_kept(const nms_cfg *cfg, int c) {
    if (!cfg->classes || cfg->nclasses <= 0) return 1;
    for (int k = 0; k < cfg->nclasses; k++)
        if (cfg->classes[k] == c) return 1;
    return 0;
}

status nms_image(const nms_cfg *cfg, const float *pred, size_t nanchors, int nc, void *ws,
                 size_t ws_bytes, float *out, size_t *ndet) {
    *ndet = 0;
    if (nc < 1 || cfg->max_det < 1 || cfg->max_nms < 1 || !(cfg->conf >= 0 && cfg->conf <= 1) ||
        !(cfg->iou >= 0 && cfg->iou <= 1))
        return err_set(YOLOC_ERR_INVALID, "nms: nc=%d max_det=%d max_nms=%d conf=%g iou=%g", nc,
                       cfg->max_det, cfg->max_nms, (double)cfg->conf, (double)cfg->iou);
    if (ws_bytes < nms_workspace_size(nanchors, nc, cfg))
        return err_set(YOLOC_ERR_INVALID, "nms: workspace of %zu bytes, need %zu", ws_bytes,
                       nms_workspace_size(nanchors, nc, cfg));
    const size_t no = 4 + (size_t)nc;
    size_t cap = max_cands(nanchors, nc, cfg), kmax = (size_t)cfg->max_nms;
    if (kmax > cap) kmax = cap;
    unsigned char *base = ws;
    nms_cand *cand = (nms_cand *)base;
    float *bx = (float *)(base + round8(sizeof(nms_cand) * (cap ? cap : 1)));
    unsigned char *dead = (unsigned char *)bx + round8(sizeof(float) * 5 * (kmax ? kmax : 1));

    size_t n = 0;
    for (size_t a = 0; a < nanchors; a++) {
        const float *s = pred + a * no + 4;
        if (cfg->multi_label) {
            for (int c = 0; c < nc; c++)
                if (s[c] > cfg->conf && class_kept(cfg, c)) cand[n++] = (nms_cand){s[c], (uint32_t)a, (uint32_t)c};
        } else {
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (s[c] > s[best]) best = c;
            if (s[best] > cfg->conf && class_kept(cfg, best)) /* the best class, then the filter */
                cand[n++] = (nms_cand){s[best], (uint32_t)a, (uint32_t)best};
        }
    }
    if (!n) return YOLOC_OK;
    qsort(cand, n, sizeof *cand, cmp_cand);
    if (n > kmax) n = kmax;

    /* xywh -> xyxy (Ultralytics xywh2xyxy), shifted by class * max_wh */
    for (size_t i = 0; i < n; i++) {
        const float *p = pred + (size_t)cand[i].anchor * no;
        float dw = p[2] / 2, dh = p[3] / 2;
        float off = cfg->agnostic ? 0.0f : (float)cand[i].cls * cfg->max_wh;
        float *b = bx + 5 * i;
        b[0] = (p[0] - dw) + off;
        b[1] = (p[1] - dh) + off;
        b[2] = (p[0] + dw) + off;
        b[3] = (p[1] + dh) + off;
        b[4] = (b[2] - b[0]) * (b[3] - b[1]);
        dead[i] = 0;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < (size_t)cfg->max_det; i++) {
        if (dead[i]) continue;
        const float *bi = bx + 5 * i;
        const float *p = pred + (size_t)cand[i].anchor * no;
        float dw = p[2] / 2, dh = p[3] / 2;
        float *o = out + 6 * kept++;
        o[0] = p[0] - dw;
        o[1] = p[1] - dh;
        o[2] = p[0] + dw;
        o[3] = p[1] + dh;
        o[4] = cand[i].score;
        o[5] = (float)cand[i].cls;
        for (size_t j = i + 1; j < n; j++) {
            if (dead[j]) continue;
            const float *bj = bx + 5 * j;
            float xx1 = bi[0] > bj[0] ? bi[0] : bj[0], yy1 = bi[1] > bj[1] ? bi[1] : bj[1];
            float xx2 = bi[2] < bj[2] ? bi[2] : bj[2], yy2 = bi[3] < bj[3] ? bi[3] : bj[3];
            float w = xx2 - xx1, h = yy2 - yy1;
            w = w > 0 ? w : 0;
            h = h > 0 ? h : 0;
            float inter = w * h;
            float ovr = inter / (bi[4] + bj[4] - inter);
            if (ovr > cfg->iou) dead[j] = 1;
        }
    }
    *ndet = kept;
    return YOLOC_OK;
}

void nms_scale_boxes(float *boxes, size_t n, size_t stride, int in_w, int in_h, int orig_w,
                     int orig_h, const double gain_pad[3]) {
    double gain, px, py;
    if (gain_pad) {
        gain = gain_pad[0], px = gain_pad[1], py = gain_pad[2];
    } else {
        double gh = (double)in_h / orig_h, gw = (double)in_w / orig_w;
        gain = gh < gw ? gh : gw;
        px = nearbyint((in_w - orig_w * gain) / 2 - 0.1);
        py = nearbyint((in_h - orig_h * gain) / 2 - 0.1);
    }
    float g = (float)gain, fx = (float)px, fy = (float)py;
    for (size_t i = 0; i < n; i++) {
        float *b = boxes + i * stride;
        b[0] = (b[0] - fx) / g;
        b[1] = (b[1] - fy) / g;
        b[2] = (b[2] - fx) / g;
        b[3] = (b[3] - fy) / g;
        for (int k = 0; k < 4; k += 2) {
            b[k] = b[k] < 0 ? 0 : (b[k] > (float)orig_w ? (float)orig_w : b[k]);
            b[k + 1] = b[k + 1] < 0 ? 0 : (b[k + 1] > (float)orig_h ? (float)orig_h : b[k + 1]);
        }
    }
}
