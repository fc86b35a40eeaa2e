/* Finite-difference gradient checks for tests.
 *
 * The scalar loss is L = sum_i y_i * r_i (r a fixed random projection,
 * computed in double), so dL/dy = r is what the backward pass receives.
 * gradcheck() perturbs up to `points` entries of an input array (chosen
 * deterministically, always including the first and last), takes the
 * central difference (L(x+e) - L(x-e)) / 2e and compares it with the
 * analytic gradient: |num - ana| <= atol + rtol * max(|num|, |ana|).
 * It prints one line per checked array with the worst error. */
#ifndef YOLOC_TEST_GRADCHECK_H
#define YOLOC_TEST_GRADCHECK_H

#include "core/rng.h"
#include "harness.h"

#include <stddef.h>

/* Runs the forward pass for the current inputs and returns the loss. */
typedef double (*gc_loss_fn)(void *ctx);

/* L = sum y*r in double. */
static inline double gc_project(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
    return s;
}

/* Fills a with uniform values in [lo, hi). */
static inline void gc_fill(rng *g, float *a, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) a[i] = (float)rng_range(g, lo, hi);
}

static inline int gradcheck(const char *name, float *x, size_t n, const float *analytic,
                            gc_loss_fn loss, void *ctx, double eps, double rtol, double atol,
                            size_t points) {
    rng g;
    rng_seed_keys(&g, 99, n, points, 0);
    double worst = 0, worst_num = 0, worst_ana = 0;
    size_t worst_i = 0, bad = 0, checked = 0;
    for (size_t k = 0; k < points && k < n; k++) {
        size_t i = (points >= n) ? k : (k == 0 ? 0 : (k == 1 ? n - 1 : rng_below(&g, (uint32_t)n)));
        float keep = x[i];
        x[i] = keep + (float)eps;
        double lp = loss(ctx);
        x[i] = keep - (float)eps;
        double lm = loss(ctx);
        x[i] = keep;
        /* the actual step taken in float */
        double h = (double)(keep + (float)eps) - (double)(keep - (float)eps);
        double num = (lp - lm) / h;
        double ana = analytic[i];
        double err = fabs(num - ana);
        double lim = atol + rtol * fmax(fabs(num), fabs(ana));
        double score = err / lim;
        if (!(err <= lim)) bad++;
        if (score > worst || score != score) {
            worst = score;
            worst_i = i;
            worst_num = num;
            worst_ana = ana;
        }
        checked++;
    }
    test_checks_++;
    if (bad) {
        fprintf(stderr,
                "  gradcheck %-34s FAIL %zu of %zu points; worst at %zu: numeric %.6g analytic %.6g "
                "(rtol %g atol %g)\n",
                name, bad, checked, worst_i, worst_num, worst_ana, rtol, atol);
        test_failures_++;
        return 0;
    }
    if (getenv("YOLOC_TEST_VERBOSE"))
        printf("  gradcheck %-34s ok   %zu points, worst %.2f of tolerance\n", name, checked, worst);
    return 1;
}

/* Directional check of a whole tensor: perturbs x along a unit direction d
 * and compares the central difference with the analytic directional
 * derivative a.d, for d along the analytic gradient (expects |a|) and along
 * a seeded random direction; tolerance atol + rtol * |a|. Far less noisy in
 * float32 than single entries when the function has kinks (max pooling) or
 * normalises over few values (BatchNorm at 2x2). The step is
 * eps * max(|x|, sqrt(n)) for eps in eps_rel x {1, 1/3, 1/10, ..., 1/1000}:
 * float noise favours large steps, curvature small ones (attention's softmax
 * bends steeply), so the check passes when one of them agrees; a wrong
 * backward disagrees at every step. */
static inline int gradcheck_dir(const char *name, float *x, size_t n, const float *analytic,
                                gc_loss_fn loss, void *ctx, double eps_rel, double rtol, double atol) {
    double an = 0, xn = 0;
    for (size_t i = 0; i < n; i++) {
        an += (double)analytic[i] * analytic[i];
        xn += (double)x[i] * x[i];
    }
    an = sqrt(an);
    xn = sqrt(xn);
    enum { NSTEPS = 7 };
    static const double scales[NSTEPS] = {1.0, 1.0 / 3.0, 0.1, 1.0 / 30.0, 0.01, 1.0 / 300.0, 0.001};
    float *keep = malloc(n * sizeof(float));
    double *d = malloc(n * sizeof(double));
    rng g;
    rng_seed_keys(&g, 77, n, 0, 0);
    int ok = 1;
    for (int pass = 0; pass < 2 && keep && d; pass++) {
        double dn = 0, expect = 0;
        for (size_t i = 0; i < n; i++) {
            d[i] = pass == 0 ? analytic[i] : rng_normal(&g);
            dn += d[i] * d[i];
        }
        dn = sqrt(dn);
        if (dn == 0) continue; /* zero gradient: nothing to compare along it */
        for (size_t i = 0; i < n; i++) {
            d[i] /= dn;
            expect += d[i] * analytic[i];
        }
        double nums[NSTEPS];
        int good = 0;
        memcpy(keep, x, n * sizeof(float));
        for (int k = 0; k < NSTEPS && !good; k++) {
            double step = eps_rel * scales[k] * fmax(xn, sqrt((double)n));
            for (size_t i = 0; i < n; i++) x[i] = (float)(keep[i] + step * d[i]);
            double lp = loss(ctx);
            for (size_t i = 0; i < n; i++) x[i] = (float)(keep[i] - step * d[i]);
            double lm = loss(ctx);
            memcpy(x, keep, n * sizeof(float));
            nums[k] = (lp - lm) / (2 * step);
            good = fabs(nums[k] - expect) <= atol + rtol * an;
            if (!good && k == NSTEPS - 1) {
                fprintf(stderr,
                        "  gradcheck_dir %-30s FAIL along %s: numeric %.6g / %.6g / %.6g / %.6g / %.6g / %.6g / %.6g "
                        "(7 steps) analytic %.6g (|grad| %.4g, rtol %g, atol %g)\n",
                        name, pass == 0 ? "the gradient" : "a random direction", nums[0], nums[1], nums[2], nums[3], nums[4],
                        nums[5], nums[6], expect, an, rtol, atol);
            }
        }
        test_checks_++;
        if (!good) {
            test_failures_++;
            ok = 0;
        } else if (getenv("YOLOC_TEST_VERBOSE")) {
            printf("  gradcheck_dir %-30s ok along %s (analytic %.6g)\n", name, pass == 0 ? "gradient" : "random",
                   expect);
        }
    }
    free(keep);
    free(d);
    return ok;
}

#endif
