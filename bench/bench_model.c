/* Benchmark: yolov8n forward (eval) and forward+backward (train) at a given
 * batch and image size, for the reference and the oneDNN backends.
 * Prints the median over repeats (after one warm-up) and the ratio.
 * Not a test: run it on a quiet machine and record the figures in
 * bench/RESULTS.md.
 *
 * usage: bench_model [model=yolov8n.yaml] [batch=16] [imgsz=640,320]
 *                    [reps=5] [ref_reps=1] [backends=cpu,ref] [threads=0] */
#include "core/kv.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/model.h"
#include "ops/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double fwd, train;
} timing;

static int run(const char *mname, backend be, int batch, int imgsz, int reps, timing *t, size_t *mem) {
    model_spec spec;
    if (model_spec_load(&spec, mname, 80) < 0) return -1;
    model_options opt = {.be = be, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    if (model_create(&m, &spec, &opt, 0) < 0) return -1;
    model_spec_free(&spec);
    size_t nin = (size_t)batch * 3 * imgsz * imgsz;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 1);
    for (size_t i = 0; i < nin; i++) x[i] = (float)rng_uniform(&g);
    double tf[64], tt[64];
    const float *o;
    /* eval forward */
    if (model_plan(m, batch, imgsz, imgsz, 0) < 0) return -1;
    model_forward(m, x, &o); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = time_now();
        model_forward(m, x, &o);
        tf[r] = time_now() - t0;
    }
    /* training forward + backward (gradient of a fixed projection) */
    if (model_plan_bytes(m, batch, imgsz, imgsz, 1, mem) < 0) return -1;
    if (model_plan(m, batch, imgsz, imgsz, 1) < 0) return -1;
    size_t nout = (size_t)batch * model_anchors(m) * model_out_channels(m);
    float *dy = malloc(nout * sizeof(float));
    for (size_t i = 0; i < nout; i++) dy[i] = (float)rng_range(&g, -1e-3, 1e-3);
    model_forward(m, x, &o);
    model_backward(m, dy);
    for (int r = 0; r < reps; r++) {
        double t0 = time_now();
        model_zero_grad(m);
        model_forward(m, x, &o);
        model_backward(m, dy);
        tt[r] = time_now() - t0;
    }
    t->fwd = time_median(tf, reps);
    t->train = time_median(tt, reps);
    free(dy);
    free(x);
    model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    kv_args a;
    const char *mname = "yolov8n.yaml", *sizes = "640,320", *backends = "cpu,ref";
    long batch = 16, reps = 5, ref_reps = 1, threads = 0;
    if (kv_parse(&a, argc - 1, argv + 1) < 0 || kv_str(&a, "model", NULL, &mname) < 0 ||
        kv_int(&a, "batch", 1, 1024, &batch) < 0 || kv_str(&a, "imgsz", NULL, &sizes) < 0 ||
        kv_int(&a, "reps", 1, 64, &reps) < 0 || kv_int(&a, "ref_reps", 1, 64, &ref_reps) < 0 ||
        kv_str(&a, "backends", NULL, &backends) < 0 || kv_int(&a, "threads", 0, 1024, &threads) < 0) {
        fprintf(stderr, "error: %s\n", yoloc_last_error());
        return 2;
    }
    if (threads > 0) ops_set_threads((int)threads);
    printf("model %s, batch %ld, %d threads\n", mname, batch, ops_get_threads());
    printf("%-6s %-5s %12s %12s %10s %12s %14s\n", "imgsz", "path", "forward s", "fwd+bwd s", "img/s",
           "fwd GFLOP/s", "train act MiB");
    char buf[64];
    snprintf(buf, sizeof buf, "%s", sizes);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int imgsz = atoi(tok);
        timing base = {0, 0};
        for (int k = 0; k < 2; k++) {
            backend be = backend_find(k == 0 ? "cpu" : "ref");
            if (!strstr(backends, backend_name(be))) continue;
            timing t;
            size_t mem = 0;
            if (run(mname, be, (int)batch, imgsz, k == 1 ? (int)ref_reps : (int)reps, &t, &mem) < 0) {
                fprintf(stderr, "error: %s\n", yoloc_last_error());
                return 1;
            }
            double gf = 8.743e9 * ((double)imgsz / 640) * ((double)imgsz / 640) * batch / t.fwd / 1e9;
            printf("%-6d %-5s %12.3f %12.3f %10.2f %12.1f %14.0f\n", imgsz, backend_name(be), t.fwd, t.train,
                   batch / t.train, gf, mem / 1048576.0);
            if (k == 0) base = t;
            else if (base.fwd > 0)
                printf("%-6d ratio ref/cpu: forward %.1fx, fwd+bwd %.1fx\n", imgsz, t.fwd / base.fwd,
                       t.train / base.train);
            fflush(stdout);
        }
    }
    return 0;
}
