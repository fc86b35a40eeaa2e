/* Times conv2d forward, backward-data and backward-weights on a few
 * YOLOv8n-like shapes for both backends and prints GFLOP/s (median of the
 * repeats; every pass counts 2 FLOPs per multiply-add, like conv2d_flops).
 *
 *   bench_conv [batch] [repeats] [ref_batch]
 *
 * defaults 16, 5, 1: the reference path is ~100x slower, so it runs on its
 * own (small) batch and once per pass; its GFLOP/s hardly depends on the
 * batch. Set OMP_NUM_THREADS to choose the oneDNN thread count. Build with
 * `cmake --build build --target bench_conv`. */
#include "core/rng.h"
#include "core/timer.h"
#include "ops/backend.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int h, w, ci, co, k, s, p;
} bench_shape;

static const bench_shape shapes[] = {
    {"64->64 3x3 s1 80x80", 80, 80, 64, 64, 3, 1, 1},
    {"32->64 3x3 s2 160x160", 160, 160, 32, 64, 3, 2, 1},
    {"192->64 1x1 80x80", 80, 80, 192, 64, 1, 1, 0},
    {"3->16 3x3 s2 640x640", 640, 640, 3, 16, 3, 2, 1},
};

static float *bench_alloc(size_t n, rng *g) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_range(g, -1.0, 1.0);
    return p;
}

enum { PASS_FWD, PASS_BWD_DATA, PASS_BWD_WEIGHTS, PASS_COUNT };
static const char *pass_names[PASS_COUNT] = {"forward", "bwd-data", "bwd-weights"};

static status bench_pass(conv2d_op *op, int pass, const float *x, const float *w, const float *dy,
                         float *y, float *dx, float *dw) {
    switch (pass) {
    case PASS_FWD: return conv2d_op_forward(op, x, w, NULL, y);
    case PASS_BWD_DATA: return conv2d_op_backward(op, x, w, dy, dx, 0.0f, NULL, NULL);
    default: return conv2d_op_backward(op, x, w, dy, NULL, 0.0f, dw, NULL);
    }
}

static int bench_one(cpu_ctx *ctx, const bench_shape *s, backend be, int batch, int reps) {
    conv2d_desc d = {.n = batch, .h = s->h, .w = s->w, .ci = s->ci, .co = s->co, .kh = s->k,
                     .kw = s->k, .sh = s->s, .sw = s->s, .ph = s->p, .pw = s->p, .dh = 1, .dw = 1,
                     .groups = 1, .bias = 0};
    conv2d_op op;
    if (conv2d_op_init(&op, ctx, be, &d, 1) != YOLOC_OK) {
        fprintf(stderr, "bench_conv: %s\n", yoloc_last_error());
        return 1;
    }
    size_t nx = (size_t)d.n * d.h * d.w * d.ci;
    size_t ny = (size_t)d.n * conv2d_out_h(&d) * conv2d_out_w(&d) * d.co;
    size_t nw = (size_t)d.co * d.ci * d.kh * d.kw;
    rng g;
    rng_seed(&g, 1);
    float *x = bench_alloc(nx, &g), *dx = bench_alloc(nx, &g), *y = bench_alloc(ny, &g);
    float *dy = bench_alloc(ny, &g), *w = bench_alloc(nw, &g), *dw = bench_alloc(nw, &g);
    double gflop = conv2d_flops(&d) * 1e-9;
    for (int pass = 0; pass < PASS_COUNT; pass++) {
        double t[64];
        int n = reps < 64 ? reps : 64;
        /* One untimed warm-up run on the fast path (first-touch, caches). */
        if (be != backend_list()[0] && bench_pass(&op, pass, x, w, dy, y, dx, dw) != YOLOC_OK) goto fail;
        for (int r = 0; r < n; r++) {
            double t0 = time_now();
            if (bench_pass(&op, pass, x, w, dy, y, dx, dw) != YOLOC_OK) goto fail;
            t[r] = time_now() - t0;
        }
        double med = time_median(t, n);
        printf("%-24s %-4s n=%-3d %-12s %9.2f ms %8.2f GFLOP/s\n", s->name, backend_name(be),
               batch, pass_names[pass], med * 1e3, gflop / med);
        fflush(stdout);
    }
    free(x), free(dx), free(y), free(dy), free(w), free(dw);
    conv2d_op_free(&op);
    return 0;
fail:
    fprintf(stderr, "bench_conv: %s\n", yoloc_last_error());
    free(x), free(dx), free(y), free(dy), free(w), free(dw);
    conv2d_op_free(&op);
    return 1;
}

int main(int argc, char **argv) {
    int batch = argc > 1 ? atoi(argv[1]) : 16;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    int ref_batch = argc > 3 ? atoi(argv[3]) : 1;
    if (batch < 1 || reps < 1 || ref_batch < 0) {
        fprintf(stderr, "usage: bench_conv [batch>=1] [repeats>=1] [ref_batch>=0, 0 = skip]\n");
        return 2;
    }
    cpu_ctx *ctx = NULL;
    if (cpu_ctx_create(&ctx) != YOLOC_OK) {
        fprintf(stderr, "bench_conv: %s\n", yoloc_last_error());
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && !rc; i++) {
        rc |= bench_one(ctx, &shapes[i], backend_find("cpu"), batch, reps);
        if (ref_batch > 0 && !rc) rc |= bench_one(ctx, &shapes[i], backend_find("ref"), ref_batch, 1);
    }
    cpu_ctx_free(ctx);
    return rc;
}
