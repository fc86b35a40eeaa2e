/* Nearest-neighbour upsampling by an integer factor f, reference
 * implementation: y[n, oy, ox, c] = x[n, oy/f, ox/f, c] with y of size
 * (h*f) x (w*f); backward sums the f*f gradients of each input pixel. */
#include "ops/ops.h"

void upsample_ref_forward(int n, int h, int w, int c, int f, const float *x, float *y) {
    const int oh = h * f, ow = w * f;
    for (int i = 0; i < n; i++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < c; k++)
                    y[(((size_t)i * oh + oy) * ow + ox) * c + k] =
                        x[(((size_t)i * h + oy / f) * w + ox / f) * c + k];
}

void upsample_ref_backward(int n, int h, int w, int c, int f, const float *dy, float *dx,
                           float beta_dx) {
    const int oh = h * f, ow = w * f;
    for (int i = 0; i < n; i++)
        for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < w; ix++)
                for (int k = 0; k < c; k++) {
                    double s = 0;
                    for (int a = 0; a < f; a++)
                        for (int b = 0; b < f; b++)
                            s += dy[(((size_t)i * oh + iy * f + a) * ow + ix * f + b) * c + k];
                    float *o = &dx[(((size_t)i * h + iy) * w + ix) * c + k];
                    *o = beta_dx == 0.0f ? (float)s : (float)(beta_dx * (double)*o + s);
                }
}
