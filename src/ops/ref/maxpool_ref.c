/* Max pooling, reference implementation, and the output-size helpers.
 *
 * Square window k, stride s, zero-size padding p on every side that never
 * wins (PyTorch MaxPool2d, which requires p <= k/2 so that every window
 * holds at least one input value; maxpool_op_init checks that). The argmax
 * is the FIRST maximum in window order (ky, then kx): a later value must be
 * strictly greater to replace it. Backward recomputes that argmax from x and
 * scatters dy into it. Leaves out dilation and ceil_mode. */
#include "ops/ops.h"

#include <string.h>

int pool_out_h(const pool_desc *d) {
    return (d->h + 2 * d->p - d->k) / d->s + 1;
}
int pool_out_w(const pool_desc *d) {
    return (d->w + 2 * d->p - d->k) / d->s + 1;
}

/* Index (iy*w + ix) of the first maximum of channel k in the window of
 * output (oy, ox) of one image xi; -1 when the window holds no input. */
static long maxpool_ref_argmax(const pool_desc *d, const float *xi, int oy, int ox, int k) {
    long best_i = -1;
    float best = 0;
    for (int ky = 0; ky < d->k; ky++) {
        int iy = oy * d->s - d->p + ky;
        if (iy < 0 || iy >= d->h) continue;
        for (int kx = 0; kx < d->k; kx++) {
            int ix = ox * d->s - d->p + kx;
            if (ix < 0 || ix >= d->w) continue;
            long i = (long)iy * d->w + ix;
            float v = xi[(size_t)i * d->c + k];
            if (best_i < 0 || v > best) {
                best = v;
                best_i = i;
            }
        }
    }
    return best_i;
}

void maxpool_ref_forward(const pool_desc *d, const float *x, float *y) {
    const int oh = pool_out_h(d), ow = pool_out_w(d);
    const size_t c = (size_t)d->c;
    for (int n = 0; n < d->n; n++) {
        const float *xi = x + (size_t)n * d->h * d->w * c;
        float *yi = y + (size_t)n * oh * ow * c;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < d->c; k++) {
                    long a = maxpool_ref_argmax(d, xi, oy, ox, k);
                    yi[((size_t)oy * ow + ox) * c + k] = a < 0 ? 0.0f : xi[(size_t)a * c + k];
                }
    }
}

void maxpool_ref_backward(const pool_desc *d, const float *x, const float *dy, float *dx,
                          float beta_dx) {
    const int oh = pool_out_h(d), ow = pool_out_w(d);
    const size_t c = (size_t)d->c, nx = (size_t)d->n * d->h * d->w * c;
    if (beta_dx == 0.0f)
        memset(dx, 0, nx * sizeof *dx);
    else if (beta_dx != 1.0f)
        for (size_t i = 0; i < nx; i++) dx[i] *= beta_dx;
    for (int n = 0; n < d->n; n++) {
        const float *xi = x + (size_t)n * d->h * d->w * c;
        const float *dyi = dy + (size_t)n * oh * ow * c;
        float *dxi = dx + (size_t)n * d->h * d->w * c;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < d->c; k++) {
                    long a = maxpool_ref_argmax(d, xi, oy, ox, k);
                    if (a >= 0) dxi[(size_t)a * c + k] += dyi[((size_t)oy * ow + ox) * c + k];
                }
    }
}
