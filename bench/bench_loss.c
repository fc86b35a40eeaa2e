/* Benchmark: YOLOv8 loss (assignment + BCE/CIoU/DFL + gradient) for a batch
 * of 16 at 640 x 640 (8400 anchors, nc 80, reg_max 16) with 10 and 100
 * targets per image. Reports the median over repeats of one
 * v8_loss_compute call with a gradient, and the assignment alone.
 * Usage: bench_loss [repeats=15] [batch=16]. */
#include "core/rng.h"
#include "core/timer.h"
#include "ops/loss/v8loss.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 15, B = argc > 2 ? atoi(argv[2]) : 16;
    if (reps < 1 || reps > 1024 || B < 1) {
        fprintf(stderr, "usage: bench_loss [repeats 1..1024] [batch >= 1]\n");
        return 2;
    }
    int h[3] = {80, 40, 20}, w[3] = {80, 40, 20}, s[3] = {8, 16, 32};
    const int nc = 80, no = 64 + nc;
    const size_t A = 8400, n = (size_t)B * A * (size_t)no;
    float *pred = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    float *tg = malloc((size_t)B * 100 * 6 * sizeof(float));
    if (!pred || !grad || !tg) return 1;
    rng r;
    rng_seed(&r, 1);
    /* logits like an early-training head: DFL spread, class logits near the bias init */
    for (size_t i = 0; i < n; i++)
        pred[i] = (i % (size_t)no) < 64 ? (float)rng_normal(&r) : (float)(-9 + rng_normal(&r));
    printf("bench_loss: batch %d, 640x640, A %zu, nc %d, reg_max 16, %d threads, %d repeats\n", B,
           A, nc, omp_get_max_threads(), reps);
    for (int per = 10; per <= 100; per *= 10) {
        size_t N = (size_t)B * (size_t)per;
        for (size_t i = 0; i < N; i++) {
            float *t = tg + 6 * i;
            t[0] = (float)(i % (size_t)B), t[1] = (float)rng_below(&r, nc);
            t[4] = (float)rng_range(&r, 0.01, 0.6), t[5] = (float)rng_range(&r, 0.01, 0.6);
            t[2] = (float)rng_range(&r, t[4] / 2, 1 - t[4] / 2);
            t[3] = (float)rng_range(&r, t[5] / 2, 1 - t[5] / 2);
        }
        v8_loss_cfg cfg = v8_loss_cfg_default(nc);
        v8_loss L;
        if (v8_loss_init(&L, &cfg) < 0) return 1;
        float terms[3];
        double full[1024], asg[1024];
        for (int k = -1; k < reps; k++) { /* k = -1: warm-up (plans the workspace) */
            double t0 = time_now();
            if (v8_loss_compute(&L, pred, B, 3, h, w, s, tg, N, terms, grad) < 0) return 1;
            double t1 = time_now();
            if (v8_loss_assign(&L, pred, B, 3, h, w, s, tg, N) < 0) return 1;
            double t2 = time_now();
            if (k >= 0) full[k] = t1 - t0, asg[k] = t2 - t1;
        }
        printf("  %3d targets/image: loss+assign+grad %8.2f ms (median), assign alone %7.2f ms; "
               "nfg %zu, terms %.4f %.4f %.4f\n",
               per, 1e3 * time_median(full, reps), 1e3 * time_median(asg, reps), L.nfg,
               (double)terms[0], (double)terms[1], (double)terms[2]);
        v8_loss_free(&L);
    }
    free(pred), free(grad), free(tg);
    return 0;
}
