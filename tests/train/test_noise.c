/* The gradient noise scale estimator (train/noise.h) on a problem whose
 * noise scale is known: linear regression y = x.w* + eps, x ~ N(0, I_d),
 * eps ~ N(0, s^2), loss (x.w - y)^2 / 2 at a point w = w* + delta. The
 * per-example gradient is x (x.delta - eps), so G = delta and
 *   tr(Sigma) = E|x|^2 (x.delta - eps)^2 - |delta|^2 = (d+1)|delta|^2 + d s^2,
 *   B_simple  = (d + 1) + d s^2 / |delta|^2.
 * Each measurement draws a big batch, splits it into small ones (as the
 * trainer does with accumulated batches); the estimate must be within 20 %
 * of the truth for several noise levels and batch sizes, with plain and
 * exponential averaging; a noise-free problem gives d + 1. */
#include "core/rng.h"
#include "harness.h"
#include "train/noise.h"

#define D 20

static double estimate(double sigma, double dnorm, int bs, int k, long meas, double decay, uint64_t seed) {
    rng r;
    rng_seed(&r, seed);
    double delta[D];
    double n2 = 0;
    for (int j = 0; j < D; j++) {
        delta[j] = rng_normal(&r);
        n2 += delta[j] * delta[j];
    }
    for (int j = 0; j < D; j++) delta[j] *= dnorm / sqrt(n2);
    noise_est e;
    noise_est_init(&e, decay);
    int bb = bs * k;
    for (long m = 0; m < meas; m++) {
        double big[D] = {0}, gs2 = 0;
        for (int c = 0; c < k; c++) {
            double small[D] = {0};
            for (int i = 0; i < bs; i++) {
                double x[D], xd = 0;
                for (int j = 0; j < D; j++) {
                    x[j] = rng_normal(&r);
                    xd += x[j] * delta[j];
                }
                double res = xd - sigma * rng_normal(&r);
                for (int j = 0; j < D; j++) small[j] += x[j] * res;
            }
            double s2 = 0;
            for (int j = 0; j < D; j++) {
                big[j] += small[j];
                small[j] /= bs;
                s2 += small[j] * small[j];
            }
            gs2 += s2 / k;
        }
        double b2 = 0;
        for (int j = 0; j < D; j++) b2 += (big[j] / bb) * (big[j] / bb);
        noise_est_add(&e, bs, gs2, bb, b2);
    }
    return noise_est_value(&e);
}

int main(void) {
    struct {
        double sigma, dnorm;
        int bs, k;
        double decay;
    } cases[] = {
        {0.0, 1.0, 4, 4, 0},     /* no label noise: B = d + 1 = 21 */
        {3.0, 1.0, 8, 8, 0},     /* B = 21 + 180 = 201, batches 8 and 64 (noise-dominated) */
        {3.0, 1.0, 32, 4, 0},    /* the same from batches 32 and 128 */
        {1.0, 2.0, 8, 4, 0},     /* B = 21 + 5 = 26 */
        {3.0, 1.0, 8, 8, 0.999}, /* exponential averaging */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double truth = (D + 1) + D * cases[c].sigma * cases[c].sigma / (cases[c].dnorm * cases[c].dnorm);
        double est = estimate(cases[c].sigma, cases[c].dnorm, cases[c].bs, cases[c].k, 4000, cases[c].decay, 7 + c);
        printf("  sigma %.1f |delta| %.1f batches %d/%d decay %g: B_simple %.1f, true %.1f (%+.1f%%)\n", cases[c].sigma,
               cases[c].dnorm, cases[c].bs, cases[c].bs * cases[c].k, cases[c].decay, est, truth,
               100 * (est / truth - 1));
        CHECK_MSG(fabs(est / truth - 1) < 0.2, "case %zu: %g vs %g", c, est, truth);
    }
    /* undefined before any measurement, and when the big batch is not bigger */
    noise_est e;
    noise_est_init(&e, 0);
    CHECK(isnan(noise_est_value(&e)));
    noise_est_add(&e, 8, 1.0, 8, 0.5);
    CHECK(isnan(noise_est_value(&e)));
    CHECK(e.count == 0);
    /* pure noise (|G_b|^2 = |G_s|^2 x B_s/B_b exactly): |G|^2 = 0, value undefined */
    noise_est_add(&e, 8, 1.0, 32, 0.25);
    CHECK(isnan(noise_est_value(&e)));
    CHECK(fabs(noise_est_trace(&e) - 8.0) < 1e-12);
    return test_finish("test_noise");
}
