/* The simple gradient noise scale (McCandlish et al., "An Empirical Model of
 * Large-Batch Training", 2018, appendix A): B_simple = tr(Sigma) / |G|^2,
 * where G is the true gradient and Sigma the per-example gradient
 * covariance. From the squared norms of a small-batch gradient (B_s
 * examples) and a big-batch gradient (B_b examples) measured at the same
 * point,
 *   |G|^2     ~ (B_b |G_b|^2 - B_s |G_s|^2) / (B_b - B_s)
 *   tr(Sigma) ~ (|G_s|^2 - |G_b|^2) / (1/B_s - 1/B_b)
 * are unbiased; each is averaged over many measurements before the ratio
 * is taken (the ratio of single measurements is far too noisy). Averages
 * are exponential with the start-up bias removed (decay 0: plain means). */
#ifndef YOLOC_TRAIN_NOISE_H
#define YOLOC_TRAIN_NOISE_H

typedef struct {
    double decay;   /* 0: plain mean over every measurement; else e.g. 0.98 */
    double g2, tr;  /* running (biased) averages */
    double wsum;    /* sum of weights (bias correction) */
    long count;
} noise_est;

void noise_est_init(noise_est *e, double decay);
/* One measurement: mean squared norm gs2 of small-batch gradients of bs
 * examples, squared norm gb2 of the big-batch gradient of bb > bs examples
 * (gradients as means over examples). Ignored when not finite or bb <= bs. */
void noise_est_add(noise_est *e, double bs, double gs2, double bb, double gb2);
/* B_simple; NAN until |G|^2 and tr(Sigma) averages are both positive (a
 * non-positive |G|^2 means the noise dominates: B_simple is beyond what
 * these batch sizes resolve). */
double noise_est_value(const noise_est *e);
double noise_est_g2(const noise_est *e);
double noise_est_trace(const noise_est *e);

#endif
