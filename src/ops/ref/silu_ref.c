/* SiLU, reference implementation: y = x * s, s = sigmoid(x), computed in
 * double; dy/dx = s * (1 + x * (1 - s)). */
#include "ops/ops.h"

#include <math.h>

void silu_ref_forward(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) {
        double s = 1.0 / (1.0 + exp(-(double)x[i]));
        y[i] = (float)(x[i] * s);
    }
}

void silu_ref_backward(size_t n, const float *x, const float *dy, float *dx, float beta_dx) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double s = 1.0 / (1.0 + exp(-v));
        double g = dy[i] * s * (1.0 + v * (1.0 - s));
        dx[i] = beta_dx == 0.0f ? (float)g : (float)(beta_dx * (double)dx[i] + g);
    }
}
