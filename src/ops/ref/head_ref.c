/* The heads' eval decode and the BatchNorm fold, reference implementation
 * (see ops.h): one element after another. The *_range functions do rows
 * [i0, i1) (channels for the fold), so the fast path threads the same
 * per-row arithmetic (ops/cpu/head_cpu.c). */
#include "ops/ops.h"

#include <math.h>

static void dfl_decode_one(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w,
                           float *out, int idx) {
    const int h = d->h, w = d->w, R = d->reg_max, nc = d->nc, oc = 4 + nc;
    int b = idx / (h * w), pix = idx % (h * w), y = pix / w, x = pix % w;
    const float *bl = box + (size_t)idx * 4 * R;
    const float *cl = cls + (size_t)idx * nc;
    float *o = out + ((size_t)b * d->anchors + d->a0 + pix) * oc;
    float dist[4];
    for (int s = 0; s < 4; s++) {
        const float *z = bl + s * R;
        float mx = z[0];
        for (int r = 1; r < R; r++) mx = z[r] > mx ? z[r] : mx;
        double se = 0, acc = 0;
        for (int r = 0; r < R; r++) {
            double e = exp((double)z[r] - mx);
            se += e;
            acc += e * dfl_w[r];
        }
        dist[s] = (float)(acc / se);
    }
    float ax = x + 0.5f, ay = y + 0.5f;
    float x1 = ax - dist[0], y1 = ay - dist[1], x2 = ax + dist[2], y2 = ay + dist[3];
    o[0] = (x1 + x2) * 0.5f * d->stride;
    o[1] = (y1 + y2) * 0.5f * d->stride;
    o[2] = (x2 - x1) * d->stride;
    o[3] = (y2 - y1) * d->stride;
    for (int c = 0; c < nc; c++) o[4 + c] = 1.0f / (1.0f + expf(-cl[c]));
}

void dfl_decode_range(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out,
                      int i0, int i1) {
    for (int idx = i0; idx < i1; idx++) dfl_decode_one(d, box, cls, dfl_w, out, idx);
}

void dfl_decode_ref(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out) {
    dfl_decode_range(d, box, cls, dfl_w, out, 0, d->n * d->h * d->w);
}

static inline float sigmoidf_(float v) { return 1.0f / (1.0f + expf(-v)); }

void v5_decode_range(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out, int i0,
                     int i1) {
    const int h = d->h, w = d->w, na = d->na, nc = d->nc, no = 5 + nc;
    const int per_img = na * h * w;
    const float s = (float)d->stride;
    for (int idx = i0; idx < i1; idx++) {
        int b = idx / per_img, r = idx % per_img, a = r / (h * w), pix = r % (h * w);
        int y = pix / w, x = pix % w;
        size_t row = (size_t)b * d->anchors + d->a0 + r;
        const float *z = raw + row * no;
        float *dc = dec + row * no, *o = out + row * (4 + nc);
        float aw = anchors[a * 2] * s, ah = anchors[a * 2 + 1] * s; /* anchor_grid */
        float sx = sigmoidf_(z[0]), sy = sigmoidf_(z[1]), sw = sigmoidf_(z[2]) * 2.0f, sh = sigmoidf_(z[3]) * 2.0f;
        dc[0] = (sx * 2.0f + ((float)x - 0.5f)) * s;
        dc[1] = (sy * 2.0f + ((float)y - 0.5f)) * s;
        dc[2] = sw * sw * aw;
        dc[3] = sh * sh * ah;
        float obj = sigmoidf_(z[4]);
        dc[4] = obj;
        for (int k = 0; k < 4; k++) o[k] = dc[k];
        for (int c = 0; c < nc; c++) {
            float p = sigmoidf_(z[5 + c]);
            dc[5 + c] = p;
            o[4 + c] = p * obj;
        }
    }
}

void v5_decode_ref(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out) {
    v5_decode_range(d, raw, anchors, dec, out, 0, d->n * d->na * d->h * d->w);
}

void bn_fold_range(int o0, int o1, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                   const float *running_mean, const float *running_var, float *wf, float *bf) {
    for (int o = o0; o < o1; o++) {
        float s = (float)(gamma[o] / sqrt((double)running_var[o] + eps));
        for (size_t i = 0; i < per; i++) wf[(size_t)o * per + i] = w[(size_t)o * per + i] * s;
        bf[o] = beta[o] - running_mean[o] * s;
    }
}

void bn_fold_ref(int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                 const float *running_mean, const float *running_var, float *wf, float *bf) {
    bn_fold_range(0, co, per, eps, w, gamma, beta, running_mean, running_var, wf, bf);
}
