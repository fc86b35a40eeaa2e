/* Vectorisable float exp / log1p for hot loops (the loss, the fused
 * BatchNorm+SiLU). The compiler turns loops over these into SIMD code without
 * -ffast-math; every element is computed the same way whatever the vector
 * width, so results do not depend on the target ISA.
 *
 * fm_exp_neg(x):  exp(x) for x <= 0 (Cephes expf: range reduction by ln 2 in
 *                 two parts, degree-5 polynomial); x < -87 and NaN give
 *                 exp(-87); x > 0 is outside the contract.
 *                 Max relative error ~2 ulp against libm.
 * fm_log1p01(e):  log(1 + e) for e in [0, 1] via 2 atanh(e / (2 + e)), odd
 *                 series to s^13 (s <= 1/3); max relative error ~2 ulp.
 * Not general-purpose: no NaN/inf handling beyond propagation. */
#ifndef YOLOC_CORE_FASTMATH_H
#define YOLOC_CORE_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* c ? a : b as a bit select (a ?: in these loops gets jump-threaded by GCC
 * and blocks vectorisation). */
static inline float fm_select(int c, float a, float b) {
    int32_t ai, bi, m = -(int32_t)(c != 0);
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ai = (ai & m) | (bi & ~m);
    memcpy(&a, &ai, sizeof a);
    return a;
}

static inline float fm_exp_neg(float x) {
    x = fm_select(x >= -87.0f, x, -87.0f); /* NaN too: the int conversion stays defined */
    /* x <= 0: truncation of v - 0.5 is ceil(v - 0.5), a nearest integer to
     * v = x log2(e) (|v - n| <= 0.5), without a floorf call that blocks SIMD */
    int32_t ni = (int32_t)(x * 1.44269504088896341f - 0.5f);
    float n = (float)ni;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    int32_t bits = (ni + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

static inline float fm_log1p01(float e) {
    float s = e / (2.0f + e);
    float s2 = s * s;
    float p = 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* sigmoid(x) in float from fm_exp_neg (as torch computes it in float32). */
static inline float fm_sigmoid(float x) {
    float e = fm_exp_neg(-fabsf(x));
    float inv = 1.0f / (1.0f + e);
    return fm_select(x >= 0, inv, e * inv);
}

#endif
