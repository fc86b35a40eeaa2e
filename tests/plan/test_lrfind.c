/* The pure parts of the LR range test (plan/lrfind.h): the exponential LR
 * sequence, the bias-corrected smoothing (against the explicit weighted
 * mean), the divergence stop, and the suggestion on constructed curves: a
 * known steepest point, curves that diverge (after a fall, and from the
 * start), a flat curve (no clear suggestion), the implausible cases that
 * fall back to min/10, too few points; and the two files.
 * ctest-labels: plan */
#include "harness.h"
#include "plan/lrfind.h"

#include <unistd.h>

#define N 200

/* x = log10(lr) of point i of a sweep from 1e-6 to 1 in N points */
static double xs(long i) { return -6.0 + 6.0 * (double)i / (N - 1); }

static void test_sequence(void) {
    const long steps = 300;
    double ratio = pow(1.0 / 1e-7, 1.0 / (steps - 1));
    CHECK_NEAR(lrf_lr_at(1e-7, 1.0, steps, 0), 1e-7, 1e-20);
    CHECK_NEAR(lrf_lr_at(1e-7, 1.0, steps, steps - 1), 1.0, 1e-15);
    CHECK_NEAR(lrf_lr_at(1e-7, 1.0, steps, steps + 50), 1.0, 1e-15); /* clamped */
    CHECK_NEAR(lrf_lr_at(1e-7, 1.0, steps, -3), 1e-7, 1e-20);
    int geometric = 1;
    for (long i = 0; i + 1 < steps; i++) {
        double a = lrf_lr_at(1e-7, 1.0, steps, i), b = lrf_lr_at(1e-7, 1.0, steps, i + 1);
        if (!(fabs(b / a - ratio) < 1e-9 * ratio)) geometric = 0;
    }
    CHECK_MSG(geometric, "consecutive LRs must differ by the constant factor %.9g", ratio);
    /* the middle step of an odd count is the geometric mean of the ends */
    CHECK_NEAR(lrf_lr_at(1e-6, 1e-2, 101, 50), 1e-4, 1e-12);
    CHECK_NEAR(lrf_lr_at(0.5, 2.0, 1, 0), 0.5, 0);
}

static void test_smoothing(void) {
    lrf_smoother s;
    lrf_smoother_init(&s, 0.98);
    /* a constant comes out unchanged from the first value on (bias correction) */
    for (int i = 0; i < 5; i++) CHECK_NEAR(lrf_smoother_add(&s, 7.5), 7.5, 1e-12);
    /* against the explicit weighted mean sum beta^(n-k) x_k / sum beta^(n-k) */
    double x[40];
    for (int i = 0; i < 40; i++) x[i] = 10.0 / (1 + i) + (i % 3) * 0.7;
    const double betas[3] = {0.98, 0.9, 0.0};
    for (int b = 0; b < 3; b++) {
        lrf_smoother_init(&s, betas[b]);
        double maxd = 0;
        for (int n = 0; n < 40; n++) {
            double v = lrf_smoother_add(&s, x[n]), num = 0, den = 0;
            for (int k = 0; k <= n; k++) {
                double w = pow(betas[b], n - k);
                num += w * x[k];
                den += w;
            }
            maxd = fmax(maxd, fabs(v - num / den));
        }
        CHECK_MSG(maxd < 1e-10, "beta %g: max deviation from the weighted mean %.3g", betas[b], maxd);
    }
    /* two values by hand: (0.98 * 1 + 2) / 1.98 */
    lrf_smoother_init(&s, 0.98);
    lrf_smoother_add(&s, 1.0);
    CHECK_NEAR(lrf_smoother_add(&s, 2.0), 2.98 / 1.98, 1e-12);
    /* a non-finite value is reported and leaves the average alone */
    CHECK(isnan(lrf_smoother_add(&s, NAN)));
    CHECK(isnan(lrf_smoother_add(&s, INFINITY)));
    CHECK_EQ_INT(s.n, 2);
    CHECK_NEAR(lrf_smoother_add(&s, 2.0), (0.98 * 0.98 * 1 + 0.98 * 2 + 2) / (0.98 * 0.98 + 0.98 + 1), 1e-12);
}

/* A curve that falls like a tanh step centred at x0 (width w, depth d)
 * and rises steeply near lr 1 (the divergence). */
static double fall_rise(double x, double x0, double w, double d) {
    return 10.0 - d * tanh((x - x0) / w) + 40.0 * exp(4.0 * x);
}

static void test_known_steepest(void) {
    double lr[N], sm[N];
    const double x0 = -2.5, w = 0.5, d = 3.0;
    for (long i = 0; i < N; i++) {
        lr[i] = pow(10, xs(i));
        sm[i] = fall_rise(xs(i), x0, w, d);
    }
    /* where the slope is most negative, on a fine grid */
    double xbest = 0, best = 0;
    for (double x = -5.4; x < -0.01; x += 1e-4) {
        double sl = (fall_rise(x + 1e-5, x0, w, d) - fall_rise(x - 1e-5, x0, w, d)) / 2e-5;
        if (sl < best) best = sl, xbest = x;
    }
    lrf_suggestion s;
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_STEEPEST);
    CHECK(s.have_steep && s.have_min);
    double dx = 6.0 / (N - 1);
    CHECK_MSG(fabs(log10(s.lr_steep) - xbest) <= 0.5 * dx + 1e-9, "steepest at lr %.4g, expected 10^%.4f = %.4g", s.lr_steep, xbest,
              pow(10, xbest));
    CHECK_NEAR(s.lr, s.lr_steep, 0);
    CHECK_NEAR(s.slope, best, 0.02 * fabs(best));
    /* the minimum: on the grid, where the rise takes over */
    long im = 0;
    for (long i = 1; i < N; i++)
        if (sm[i] < sm[im]) im = i;
    CHECK_EQ_INT(s.i_min, im);
    CHECK_NEAR(s.lr_min10, lr[im] / 10, 1e-15);
    CHECK(s.drop > 0.4);
    CHECK_CONTAINS(s.reason, "steepest descent");

    /* the same fall shifted a decade higher moves the suggestion with it */
    for (long i = 0; i < N; i++) sm[i] = fall_rise(xs(i), x0 + 1, w, d);
    lrf_suggestion s2;
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s2);
    CHECK_EQ_INT(s2.pick, LRF_PICK_STEEPEST);
    CHECK_MSG(fabs(log10(s2.lr_steep) - log10(s.lr_steep) - 1) <= 2 * dx, "shifted: %.4g vs %.4g", s2.lr_steep,
              s.lr_steep);
}

/* Raw losses that fall, then explode: lrf_curve_add stops exactly where
 * the smoothed loss first exceeds 4 x its running minimum. */
static void test_divergence(void) {
    lrf_curve c;
    CHECK_EQ_INT(lrf_curve_init(&c, N, LRF_BETA, LRF_DIVERGE), YOLOC_OK);
    double raw[N];
    for (long i = 0; i < N; i++) {
        double x = xs(i);
        raw[i] = 10.0 - 4.0 * tanh((x + 3) / 0.6) + (x > -1 ? pow(10, 3 * (x + 1)) : 0) + 0.3 * sin(7.0 * i);
    }
    /* the expected stop from the explicit weighted means */
    long expect = -1;
    double mn = INFINITY;
    for (long n = 0; n < N && expect < 0; n++) {
        double num = 0, den = 0;
        for (long k = 0; k <= n; k++) {
            double wgt = pow(LRF_BETA, (double)(n - k));
            num += wgt * raw[k];
            den += wgt;
        }
        double v = num / den;
        if (v < mn) mn = v;
        if (n > 0 && v > LRF_DIVERGE * mn) expect = n;
    }
    CHECK_MSG(expect > 0 && expect < N - 1, "the constructed curve must diverge inside the sweep (at %ld)", expect);
    long stopped = -1;
    for (long i = 0; i < N; i++) {
        int stop = lrf_curve_add(&c, pow(10, xs(i)), raw[i], 1.0, 0);
        if (stop) {
            stopped = i;
            break;
        }
    }
    CHECK_EQ_INT(stopped, expect);
    CHECK_EQ_INT(c.stop, LRF_DIVERGED);
    CHECK_EQ_INT(c.stop_i, expect);
    CHECK_EQ_INT(c.n, expect + 1);
    CHECK(c.smooth[expect] > LRF_DIVERGE * c.best);
    CHECK(lrf_curve_add(&c, 1.0, 1.0, 1.0, 0) == 1 && c.n == expect + 1); /* nothing after the stop */
    /* the suggestion from what was recorded: the fall is at 1e-3, and the
     * smoothing's lag puts its steepest point somewhat above it, well
     * below the divergence */
    lrf_suggestion s;
    lrf_suggest(c.lr, c.smooth, c.n, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_STEEPEST);
    CHECK_MSG(s.lr > 1e-3 && s.lr < 3e-2, "suggested %.4g", s.lr);
    CHECK(s.lr < s.lr_min);
    lrf_curve_free(&c);

    /* a non-finite loss (or a step the trainer skipped) stops at once */
    CHECK_EQ_INT(lrf_curve_init(&c, 10, LRF_BETA, LRF_DIVERGE), YOLOC_OK);
    CHECK_EQ_INT(lrf_curve_add(&c, 1e-3, 5.0, 1.0, 0), 0);
    CHECK_EQ_INT(lrf_curve_add(&c, 2e-3, NAN, NAN, 0), 1);
    CHECK_EQ_INT(c.stop, LRF_NONFINITE);
    CHECK_EQ_INT(c.stop_i, 1);
    lrf_curve_free(&c);
    CHECK_EQ_INT(lrf_curve_init(&c, 10, LRF_BETA, LRF_DIVERGE), YOLOC_OK);
    CHECK_EQ_INT(lrf_curve_add(&c, 1e-3, 5.0, INFINITY, 1), 1);
    CHECK_EQ_INT(c.stop, LRF_NONFINITE);
    lrf_curve_free(&c);
    /* a full curve completes */
    CHECK_EQ_INT(lrf_curve_init(&c, 3, LRF_BETA, LRF_DIVERGE), YOLOC_OK);
    CHECK_EQ_INT(lrf_curve_add(&c, 1e-3, 5.0, 1.0, 0), 0);
    CHECK_EQ_INT(lrf_curve_add(&c, 2e-3, 5.0, 1.0, 0), 0);
    CHECK_EQ_INT(lrf_curve_add(&c, 3e-3, 5.0, 1.0, 0), 1);
    CHECK_EQ_INT(c.stop, LRF_COMPLETED);
    CHECK_EQ_INT(c.stop_i, -1);
    lrf_curve_free(&c);
    CHECK(lrf_curve_init(&c, 0, LRF_BETA, LRF_DIVERGE) < 0);
    CHECK(lrf_curve_init(&c, 5, 1.0, LRF_DIVERGE) < 0);
}

static void test_no_suggestion(void) {
    double lr[N], sm[N];
    lrf_suggestion s;
    /* flat with wiggles of 1 % */
    for (long i = 0; i < N; i++) {
        lr[i] = pow(10, xs(i));
        sm[i] = 12.0 + 0.12 * sin(0.3 * i);
    }
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_NONE);
    CHECK(isnan(s.lr));
    CHECK_CONTAINS(s.reason, "no clear suggestion");
    CHECK_CONTAINS(s.reason, "flat");
    /* a curve that only rises: lr_start too high */
    for (long i = 0; i < N; i++) sm[i] = 5.0 + 20.0 * (double)i / N;
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_NONE);
    CHECK_CONTAINS(s.reason, "lr_start");
    /* too few points (e.g. diverged at once) */
    lrf_suggest(lr, sm, LRF_MIN_POINTS - 1, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_NONE);
    CHECK_CONTAINS(s.reason, "usable point");
    /* a non-finite value ends the usable part */
    for (long i = 0; i < N; i++) sm[i] = fall_rise(xs(i), -2.5, 0.5, 3.0);
    sm[5] = NAN;
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_NONE);
}

static void test_implausible(void) {
    double lr[N], sm[N];
    lrf_suggestion s;
    for (long i = 0; i < N; i++) lr[i] = pow(10, xs(i));
    /* falling fastest at the start of the range, slower and slower down to a
     * minimum: the steepest point is the lower edge -> min/10 */
    for (long i = 0; i < N; i++) {
        double x = xs(i);
        sm[i] = 4.0 + 8.0 * exp(-(x + 6) / 1.2) + 40.0 * exp(4.0 * x);
    }
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_MIN10);
    CHECK_NEAR(s.lr, s.lr_min / 10, 1e-15);
    CHECK_CONTAINS(s.reason, "lower edge");
    /* a sharp small dip 4 decades below a long gentle fall to the minimum */
    for (long i = 0; i < N; i++) {
        double x = xs(i);
        sm[i] = 10.0 - 0.6 * tanh((x + 4.5) / 0.03) - 0.8 * (x + 6) + 40.0 * exp(6.0 * (x - 0.3));
    }
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_MIN10);
    CHECK_CONTAINS(s.reason, "decades below the minimum");
    CHECK(log10(s.lr_min) - log10(s.lr_steep) > LRF_FAR);
    /* a deep minimum at 1e-4, then a steeper fall at 3e-2 that stays above
     * it (as the decay after a loss spike does): only the way down to the
     * minimum counts, so the steepest point is on the gaussian's flank at
     * x = -4 - 0.4/sqrt(2) */
    for (long i = 0; i < N; i++) {
        double x = xs(i), g = (x + 4) / 0.4;
        sm[i] = 10.0 - 5.0 * exp(-g * g) - 1.5 * tanh((x + 1.5) / 0.05) + 40.0 * exp(6.0 * (x - 0.3));
    }
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_STEEPEST);
    CHECK(s.lr_steep < s.lr_min);
    CHECK_MSG(fabs(log10(s.lr_steep) - (-4 - 0.4 / sqrt(2.0))) <= 6.0 / (N - 1), "steepest at %.4g", s.lr_steep);
    CHECK_MSG(fabs(log10(s.lr_min) + 4) < 0.05, "minimum at %.4g, expected 1e-4", s.lr_min);
    /* still falling at the end of the range: a steepest point, with a note */
    for (long i = 0; i < N; i++) sm[i] = 10.0 - 3.0 * tanh((xs(i) + 2) / 0.5) - 0.2 * xs(i);
    lrf_suggest(lr, sm, N, LRF_SKIP_FRAC, &s);
    CHECK_EQ_INT(s.pick, LRF_PICK_STEEPEST);
    CHECK(s.min_at_end);
    CHECK_CONTAINS(s.reason, "raise lr_end");
}

static void test_files(void) {
    char dir[] = "/tmp/yoloc_lrfind_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    lrf_curve c;
    CHECK_EQ_INT(lrf_curve_init(&c, N, LRF_BETA, LRF_DIVERGE), YOLOC_OK);
    long i = 0;
    while (!lrf_curve_add(&c, pow(10, xs(i)), fall_rise(xs(i), -2.5, 0.5, 3.0) + 0.2 * sin(3.0 * i), 2.0 + i, 0)) i++;
    lrf_suggestion s;
    lrf_suggest(c.lr, c.smooth, c.n, LRF_SKIP_FRAC, &s);
    char csv[256], png[256];
    snprintf(csv, sizeof csv, "%s/lrfind.csv", dir);
    snprintf(png, sizeof png, "%s/lrfind.png", dir);
    CHECK_EQ_INT(lrf_write_csv(csv, &c), YOLOC_OK);
    CHECK_EQ_INT(lrf_write_png(png, &c, &s), YOLOC_OK);
    FILE *f = fopen(csv, "r");
    CHECK(f != NULL);
    if (f) {
        char line[512];
        long rows = 0, step = -1;
        double lr = 0, loss = 0, sm = 0, g = 0;
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK_STR(line, "step,lr,loss,smoothed_loss,grad_norm\n");
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "%ld,%lf,%lf,%lf,%lf", &step, &lr, &loss, &sm, &g) == 5 && step == rows &&
                fabs(lr - c.lr[rows]) <= 1e-8 * c.lr[rows] && fabs(sm - c.smooth[rows]) <= 1e-7 * fabs(sm))
                rows++;
        }
        fclose(f);
        CHECK_EQ_INT(rows, c.n);
    }
    f = fopen(png, "rb");
    unsigned char sig[8] = {0};
    CHECK(f && fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
    if (f) fclose(f);
    lrf_curve_free(&c);
    unlink(csv);
    unlink(png);
    rmdir(dir);
}

/* The automatic sweep: 5 % of the training's steps within 40-100, each
 * bound with its reason; the smoothing window a tenth of the sweep. */
static void test_auto_sweep(void) {
    char why[256];
    CHECK_EQ_INT(lrf_auto_steps(120, why, sizeof why), LRF_AUTO_MIN); /* BCCD, 30 epochs: 6 -> 40 */
    CHECK_CONTAINS(why, "too few");
    CHECK_EQ_INT(lrf_auto_steps(1200, why, sizeof why), 60);
    CHECK_CONTAINS(why, "5%");
    CHECK_EQ_INT(lrf_auto_steps(1000000, why, sizeof why), LRF_AUTO_MAX);
    CHECK_CONTAINS(why, "enough");
    CHECK_NEAR(lrf_beta(16), LRF_BETA_MIN, 0);
    CHECK_NEAR(lrf_beta(40), LRF_BETA_MIN, 0);
    CHECK_NEAR(lrf_beta(100), 0.9, 1e-15);
    CHECK_NEAR(lrf_beta(300), 1 - 10.0 / 300, 1e-15);
    CHECK_NEAR(lrf_beta(100000), LRF_BETA, 0);
}

int main(void) {
    test_sequence();
    test_auto_sweep();
    test_smoothing();
    test_known_steepest();
    test_divergence();
    test_no_suggestion();
    test_implausible();
    test_files();
    return test_finish("test_lrfind");
}
