/* Gradient noise scale estimator (see noise.h). */
#include "train/noise.h"

#include <math.h>
#include <string.h>

void noise_est_init(noise_est *e, double decay) {
    memset(e, 0, sizeof *e);
    e->decay = decay;
}

void noise_est_add(noise_est *e, double bs, double gs2, double bb, double gb2) {
    if (!(bb > bs) || !(bs > 0) || !isfinite(gs2) || !isfinite(gb2)) return;
    double g2 = (bb * gb2 - bs * gs2) / (bb - bs);
    double tr = (gs2 - gb2) / (1.0 / bs - 1.0 / bb);
    double w = e->decay > 0 ? 1.0 - e->decay : 1.0;
    double keep = e->decay > 0 ? e->decay : 1.0;
    e->g2 = keep * e->g2 + w * g2;
    e->tr = keep * e->tr + w * tr;
    e->wsum = keep * e->wsum + w;
    e->count++;
}

double noise_est_g2(const noise_est *e) { return e->wsum > 0 ? e->g2 / e->wsum : NAN; }
double noise_est_trace(const noise_est *e) { return e->wsum > 0 ? e->tr / e->wsum : NAN; }

double noise_est_value(const noise_est *e) {
    if (e->count == 0 || !(e->g2 > 0) || !(e->tr > 0)) return NAN;
    return e->tr / e->g2; /* the bias corrections cancel */
}
