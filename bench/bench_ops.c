/* Times the fast path (oneDNN / OpenMP C) against the reference for the ops
 * on YOLOv8's hot path: BatchNorm + SiLU on 16x80x80x64 (the first C2f of a
 * 640 image at batch 16) and SPPF's max pool k5 s1 p2 on 16x20x20x128.
 * Prints the median of a few repeats per kernel; asserts nothing.
 * Usage: bench_ops [repeats] (default 5). */
#include "core/rng.h"
#include "core/timer.h"
#include "ops/backend.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_REP = 64 };

static float *bench_alloc(size_t n, rng *g) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_range(g, -2, 2);
    return p;
}

static void bench_report(const char *what, const double *t, int reps, double bytes) {
    double med = time_median(t, reps);
    printf("  %-34s %9.2f ms  %6.1f GB/s\n", what, 1e3 * med, bytes / med * 1e-9);
}

#define BENCH_TIME(label, bytes, stmt)                                                             \
    do {                                                                                           \
        double t_[MAX_REP];                                                                        \
        for (int r_ = 0; r_ < reps; r_++) {                                                        \
            double t0_ = time_now();                                                               \
            stmt;                                                                                  \
            t_[r_] = time_now() - t0_;                                                             \
        }                                                                                          \
        bench_report(label, t_, reps, bytes);                                                      \
    } while (0)

static int bench_bn_silu(cpu_ctx *ctx, int reps) {
    const bn_desc d = {16, 80, 80, 64, 1e-3f, 0.03f};
    const size_t n = (size_t)d.n * d.h * d.w * d.c, c = (size_t)d.c;
    rng g;
    rng_seed(&g, 1);
    float *x = bench_alloc(n, &g), *y = bench_alloc(n, &g), *dy = bench_alloc(n, &g),
          *dx = bench_alloc(n, &g);
    float gm[64], bt[64], sm[64], sv[64], rm[64], rv[64], dgm[64] = {0}, dbt[64] = {0};
    for (size_t k = 0; k < c; k++) gm[k] = 1, bt[k] = 0, rm[k] = 0, rv[k] = 1;
    const double nb = (double)n * sizeof(float);
    printf("BatchNorm + SiLU, %dx%dx%dx%d (%.1f MiB per tensor)\n", d.n, d.h, d.w, d.c,
           nb / (1 << 20));
    for (int be = 0; be < 2; be++) {
        bn_op bn;
        silu_op act;
        if (bn_op_init(&bn, ctx, backend_list()[be], &d, 1) != YOLOC_OK ||
            silu_op_init(&act, ctx, backend_list()[be], n, 1) != YOLOC_OK) {
            fprintf(stderr, "init: %s\n", yoloc_last_error());
            return 1;
        }
        printf(" %s\n", backend_name(backend_list()[be]));
        BENCH_TIME("bn forward train", 2 * nb,
                   bn_op_forward_train(&bn, x, gm, bt, y, sm, sv, rm, rv));
        BENCH_TIME("bn forward eval", 2 * nb, bn_op_forward_eval(&bn, x, gm, bt, rm, rv, y));
        BENCH_TIME("bn backward (beta 0)", 3 * nb,
                   bn_op_backward(&bn, x, gm, sm, sv, dy, dx, 0.0f, dgm, dbt));
        BENCH_TIME("silu forward", 2 * nb, silu_op_forward(&act, x, y));
        BENCH_TIME("silu backward (beta 0)", 3 * nb, silu_op_backward(&act, x, dy, dx, 0.0f));
        BENCH_TIME("silu backward (beta 1)", 4 * nb, silu_op_backward(&act, x, dy, dx, 1.0f));
        silu_op_free(&act);
        bn_op_free(&bn);
    }
    free(x), free(y), free(dy), free(dx);
    return 0;
}

static int bench_pool(cpu_ctx *ctx, int reps) {
    const pool_desc d = {16, 20, 20, 128, 5, 1, 2};
    const size_t n = (size_t)d.n * d.h * d.w * d.c; /* output is the same size */
    rng g;
    rng_seed(&g, 2);
    float *x = bench_alloc(n, &g), *y = bench_alloc(n, &g), *dy = bench_alloc(n, &g),
          *dx = bench_alloc(n, &g);
    const double nb = (double)n * sizeof(float);
    printf("MaxPool k%d s%d p%d, %dx%dx%dx%d\n", d.k, d.s, d.p, d.n, d.h, d.w, d.c);
    for (int be = 0; be < 2; be++) {
        maxpool_op op;
        if (maxpool_op_init(&op, ctx, backend_list()[be], &d, 1) != YOLOC_OK) {
            fprintf(stderr, "init: %s\n", yoloc_last_error());
            return 1;
        }
        size_t wsz = maxpool_op_workspace_size(&op);
        void *ws = wsz ? malloc(wsz) : NULL;
        if (wsz && !ws) return 1;
        printf(" %s\n", backend_name(backend_list()[be]));
        BENCH_TIME("maxpool forward", 2 * nb, maxpool_op_forward(&op, x, y, ws));
        BENCH_TIME("maxpool backward (beta 0)", 2 * nb,
                   maxpool_op_backward(&op, x, dy, dx, 0.0f, ws));
        free(ws);
        maxpool_op_free(&op);
    }
    free(x), free(y), free(dy), free(dx);
    return 0;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > MAX_REP) reps = 5;
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "cpu_ctx_create: %s\n", yoloc_last_error());
        return 1;
    }
    printf("threads: %d, repeats: %d (median)\n", ops_get_threads(), reps);
    int rc = bench_bn_silu(ctx, reps) || bench_pool(ctx, reps);
    cpu_ctx_free(ctx);
    return rc;
}
