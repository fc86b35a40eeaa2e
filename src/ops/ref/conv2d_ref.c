/* conv2d reference kernels: plain single-threaded C, the oracle that the
 * oneDNN path is tested against (see ops.h for layouts and conventions).
 *
 * Any kernel size, stride, zero padding, dilation, groups, optional bias.
 * Sums run in float in a fixed order (bias first, then ky, kx, input
 * channel), so results are reproducible but may differ from oneDNN in the
 * last bits. Every loop nest walks output (or input) pixels in the outer
 * loops and keeps the innermost loop on a contiguous run of NHWC channels
 * as an axpy (no reduction in the inner loop), which the compiler turns
 * into independent multiply-adds: fast enough (>= 1 GFLOP/s) to run a
 * whole yolov8n through the reference path.
 *
 * bf16 (desc.bf16): every x, w and dy value is rounded to bf16 where it is
 * read, and the products are summed in float as above: the oracle of
 * oneDNN's bf16 convolutions up to the order of the sums.
 *
 * Leaves out: threading, blocking, any weight reordering (no allocation:
 * the OIHW weights are read with a stride instead). */
#include "core/tensor.h"
#include "ops/ops.h"

#include <string.h>

/* v rounded to bf16 when on: the bf16 convolution is the fp32 one on
 * rounded operands (ops.h). */
static inline float conv2d_q(float v, int on) { return on ? bf16_round(v) : v; }

/* Input row iy (or column) touched by output oy and kernel tap ky. */
static inline int conv2d_in_pos(int o, int s, int p, int k, int dil) {
    return o * s - p + k * dil;
}

void conv2d_ref_forward(const conv2d_desc *d, const float *x, const float *w, const float *b,
                        float *y) {
    YOLOC_ASSERT(d && x && w && y && (!d->bias || b));
    const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
    const int cig = d->ci / d->groups, cog = d->co / d->groups;
    const size_t khw = (size_t)d->kh * d->kw;
    const size_t wco = (size_t)cig * khw; /* stride between output channels in w */
    const int q = d->bf16;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *yp = y + (((size_t)n * oh + oy) * ow + ox) * d->co;
                for (int o = 0; o < d->co; o++) yp[o] = d->bias ? b[o] : 0.0f;
                for (int ky = 0; ky < d->kh; ky++) {
                    const int iy = conv2d_in_pos(oy, d->sh, d->ph, ky, d->dh);
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        const int ix = conv2d_in_pos(ox, d->sw, d->pw, kx, d->dw);
                        if (ix < 0 || ix >= d->w) continue;
                        const float *xp = x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                        const size_t tap = (size_t)ky * d->kw + kx;
                        for (int g = 0; g < d->groups; g++) {
                            float *yg = yp + (size_t)g * cog;
                            for (int c = 0; c < cig; c++) {
                                const float xv = conv2d_q(xp[(size_t)g * cig + c], q);
                                const float *wp = w + (size_t)g * cog * wco + (size_t)c * khw + tap;
                                for (int o = 0; o < cog; o++) yg[o] += xv * conv2d_q(wp[(size_t)o * wco], q);
                            }
                        }
                    }
                }
            }
}

/* dx[n,iy,ix,g*cig+c] += sum dy[n,oy,ox,g*cog+o] * w[g*cog+o, c, ky, kx]. */
static void conv2d_ref_backward_data(const conv2d_desc *d, const float *w, const float *dy,
                                     float *dx) {
    const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
    const int cig = d->ci / d->groups, cog = d->co / d->groups;
    const size_t khw = (size_t)d->kh * d->kw;
    const size_t wco = (size_t)cig * khw;
    const int q = d->bf16;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *dyp = dy + (((size_t)n * oh + oy) * ow + ox) * d->co;
                for (int ky = 0; ky < d->kh; ky++) {
                    const int iy = conv2d_in_pos(oy, d->sh, d->ph, ky, d->dh);
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        const int ix = conv2d_in_pos(ox, d->sw, d->pw, kx, d->dw);
                        if (ix < 0 || ix >= d->w) continue;
                        float *dxp = dx + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                        const size_t tap = (size_t)ky * d->kw + kx;
                        for (int g = 0; g < d->groups; g++) {
                            float *dxg = dxp + (size_t)g * cig;
                            for (int o = 0; o < cog; o++) {
                                const float dv = conv2d_q(dyp[(size_t)g * cog + o], q);
                                const float *wp = w + ((size_t)g * cog + o) * wco + tap;
                                for (int c = 0; c < cig; c++) dxg[c] += dv * conv2d_q(wp[(size_t)c * khw], q);
                            }
                        }
                    }
                }
            }
}

/* dw[g*cog+o, c, ky, kx] += sum dy[n,oy,ox,g*cog+o] * x[n,iy,ix,g*cig+c]. */
static void conv2d_ref_backward_weights(const conv2d_desc *d, const float *x, const float *dy,
                                        float *dw) {
    const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
    const int cig = d->ci / d->groups, cog = d->co / d->groups;
    const size_t khw = (size_t)d->kh * d->kw;
    const size_t wco = (size_t)cig * khw;
    const int q = d->bf16;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *dyp = dy + (((size_t)n * oh + oy) * ow + ox) * d->co;
                for (int ky = 0; ky < d->kh; ky++) {
                    const int iy = conv2d_in_pos(oy, d->sh, d->ph, ky, d->dh);
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        const int ix = conv2d_in_pos(ox, d->sw, d->pw, kx, d->dw);
                        if (ix < 0 || ix >= d->w) continue;
                        const float *xp = x + (((size_t)n * d->h + iy) * d->w + ix) * d->ci;
                        const size_t tap = (size_t)ky * d->kw + kx;
                        for (int g = 0; g < d->groups; g++) {
                            const float *xg = xp + (size_t)g * cig;
                            for (int o = 0; o < cog; o++) {
                                const float dv = conv2d_q(dyp[(size_t)g * cog + o], q);
                                float *dwp = dw + ((size_t)g * cog + o) * wco + tap;
                                for (int c = 0; c < cig; c++) dwp[(size_t)c * khw] += dv * conv2d_q(xg[c], q);
                            }
                        }
                    }
                }
            }
}

/* Shapes: x [n,h,w,ci], w [co,ci/groups,kh,kw], dy [n,oh,ow,co], dx like x,
 * dw like w, db [co]. dx = beta_dx*dx + grad (beta 0 overwrites, so dx may
 * hold anything, NaN included); dw and db accumulate; a NULL pointer skips
 * that gradient; db is ignored when the conv has no bias. x may be NULL when
 * dw is NULL, w may be NULL when dx is NULL. */
void conv2d_ref_backward(const conv2d_desc *d, const float *x, const float *w, const float *dy,
                         float *dx, float beta_dx, float *dw, float *db) {
    YOLOC_ASSERT(d && dy && (!dx || w) && (!dw || x));
    if (dx) {
        const size_t nx = (size_t)d->n * d->h * d->w * d->ci;
        if (beta_dx == 0.0f)
            memset(dx, 0, nx * sizeof *dx);
        else if (beta_dx != 1.0f)
            for (size_t i = 0; i < nx; i++) dx[i] *= beta_dx;
        conv2d_ref_backward_data(d, w, dy, dx);
    }
    if (dw) conv2d_ref_backward_weights(d, x, dy, dw);
    if (db && d->bias) {
        const size_t npix = (size_t)d->n * conv2d_out_h(d) * conv2d_out_w(d);
        for (size_t p = 0; p < npix; p++) {
            const float *dyp = dy + p * d->co;
            for (int o = 0; o < d->co; o++) db[o] += conv2d_q(dyp[o], d->bf16);
        }
    }
}
