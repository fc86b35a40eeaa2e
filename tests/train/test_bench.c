/* yoloc bench's measurement machinery on the tiny model (one thread, 64x64):
 *  - model profiling (nn/model.h) counts exactly the convolution FLOPs the
 *    model has: the forward's sum is model_flops x batch; each Conv block's
 *    backward does the weight gradient plus the data gradient (2 x its
 *    forward), except layer 0 whose input needs no gradient (1 x); times
 *    nest (kernels inside their layer); profiling changes no output bit;
 *    off again, nothing is counted;
 *  - bench_run: positive medians, images/s = batch / step, the time by kind
 *    adds up to the step (the rest is what no counter saw), the layers are
 *    sorted slowest first, conv GFLOP/s = the FLOPs over the conv time;
 *  - bench_write_json: parses, carries every key with the struct's values;
 *  - bad options are refused with a message. */
#include "core/rng.h"
#include "ops/backend.h"
#include "harness.h"
#include "io/file.h"
#include "io/json.h"
#include "nn/model.h"
#include "train/bench.h"

#include <math.h>
#include <unistd.h>

#define TINY "tests/train/yolov8t.yaml"

static void test_profile_counts(void) {
    model_spec spec;
    CHECK(model_spec_load(&spec, TINY, 0) == YOLOC_OK);
    model *m = NULL;
    model_options mo = {.be = &OPS_BACKEND_CPU, .norm = NORM_BN, .gn_groups = 32};
    CHECK(model_create(&m, &spec, &mo, 1) == YOLOC_OK);
    model_spec_free(&spec);
    if (!m) return;
    const int B = 2, S = 64;
    double flops1;
    CHECK(model_flops(m, S, S, &flops1, NULL) == YOLOC_OK);
    size_t nin = (size_t)B * 3 * S * S;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 3);
    for (size_t i = 0; i < nin; i++) x[i] = (float)rng_uniform(&g);

    /* reference output without profiling (eval plan: no BN statistics change) */
    CHECK(model_plan(m, B, S, S, 0) == YOLOC_OK);
    const float *out;
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    size_t nout = (size_t)B * model_anchors(m) * model_out_channels(m);
    float *ref = malloc(nout * sizeof(float));
    memcpy(ref, out, nout * sizeof(float));
    CHECK(model_profile(m) == NULL);
    CHECK(model_profile_enable(m, 1) == YOLOC_OK);
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    CHECK_MSG(memcmp(ref, out, nout * sizeof(float)) == 0, "profiling changed the eval output");

    /* training forward + backward, profiled */
    CHECK(model_plan(m, B, S, S, 1) == YOLOC_OK);
    model_profile_reset(m);
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    size_t nraw = (size_t)B * model_anchors(m) * model_out_channels(m);
    float *dy = malloc(nraw * sizeof(float));
    for (size_t i = 0; i < nraw; i++) dy[i] = (float)rng_range(&g, -1e-3, 1e-3);
    model_zero_grad(m);
    CHECK(model_backward(m, dy) == YOLOC_OK);
    const layer_prof *p = model_profile(m);
    const model_spec *sp = model_get_spec(m);
    CHECK(p != NULL);
    double fsum = 0;
    int convs = 0;
    for (int i = 0; p && i < sp->nlayers; i++) {
        const layer_prof *q = &p[i];
        CHECK_EQ_INT(q->calls[0], 1);
        CHECK_EQ_INT(q->calls[1], 1); /* every layer of the tiny model feeds the head */
        fsum += q->conv_flops[0];
        double kern_f = q->conv_s[0] + q->norm_s[0] + q->act_s[0], kern_b = q->conv_s[1] + q->norm_s[1] + q->act_s[1];
        CHECK_MSG(q->fwd_s >= 0 && kern_f <= q->fwd_s + 1e-6, "layer %d: kernels %.9f s > forward %.9f s", i, kern_f,
                  q->fwd_s);
        CHECK_MSG(q->bwd_s >= 0 && kern_b <= q->bwd_s + 1e-6, "layer %d: kernels %.9f s > backward %.9f s", i,
                  kern_b, q->bwd_s);
        if (q->conv_flops[0] > 0) {
            convs++;
            double want = (i == 0 ? 1.0 : 2.0) * q->conv_flops[0];
            CHECK_MSG(q->conv_flops[1] == want, "layer %d (%s): backward conv FLOPs %.0f, expected %.0f", i,
                      mod_kind_name(sp->layers[i].kind), q->conv_flops[1], want);
            CHECK_MSG(q->conv_s[0] > 0 && q->conv_s[1] > 0, "layer %d: no convolution time", i);
        }
        if (sp->layers[i].kind == MOD_CONCAT || sp->layers[i].kind == MOD_UPSAMPLE)
            CHECK_MSG(q->conv_flops[0] == 0 && q->conv_s[0] == 0 && q->norm_s[0] == 0,
                      "layer %d: a %s layer has convolution counters", i, mod_kind_name(sp->layers[i].kind));
    }
    CHECK(convs > 10);
    CHECK_MSG(fabs(fsum - flops1 * B) <= 1e-9 * fsum, "forward conv FLOPs %.0f, model_flops x batch %.0f", fsum,
              flops1 * B);
    CHECK(p[0].conv_flops[0] > 0);

    /* off: nothing counted, output unchanged */
    CHECK(model_profile_enable(m, 0) == YOLOC_OK);
    CHECK(model_profile(m) == NULL);
    CHECK(model_plan(m, B, S, S, 0) == YOLOC_OK);
    CHECK(model_forward(m, x, &out) == YOLOC_OK);
    free(dy);
    free(ref);
    free(x);
    model_free(m);
}

static double num(const jnode *root, const char *key) {
    const jnode *n = jnode_get(root, key);
    CHECK_MSG(n && n->kind == JSON_NUMBER, "bench.json: key '%s' missing or not a number", key);
    return n && n->kind == JSON_NUMBER ? n->number : NAN;
}

static bench_options tiny_options(void) {
    bench_options o = {.model = TINY,
                       .imgsz = 64,
                       .batch = 2,
                       .reps = 2,
                       .seed = 0,
                       .mopt = {.be = &OPS_BACKEND_CPU, .norm = NORM_BN, .gn_groups = 32},
                       .optimizer = OPTIM_SGD,
                       .lr = 0.01,
                       .momentum = 0.937,
                       .weight_decay = 5e-4,
                       .max_norm = 10,
                       .nbs = 64,
                       .loss = {.gains = {7.5f, 0.5f, 1.5f}}};
    return o;
}

static void test_bench_run(void) {
    bench_options o = tiny_options();
    bench_result *r = calloc(1, sizeof *r);
    status st = bench_run(&o, r);
    CHECK_MSG(st == YOLOC_OK, "bench_run: %s", yoloc_last_error());
    if (st != YOLOC_OK) {
        free(r);
        return;
    }
    CHECK(r->step_s > 0 && r->fwd_s > 0 && r->bwd_s > 0 && r->loss_s > 0 && r->optim_s > 0 && r->ema_s > 0);
    CHECK(r->eval_s > 0 && r->predict_ms > 0);
    CHECK_NEAR(r->train_img_s, 2 / r->step_s, 1e-9 * r->train_img_s);
    CHECK_NEAR(r->eval_img_s, 2 / r->eval_s, 1e-9 * r->eval_img_s);
    CHECK(r->peak_rss > 0);
    CHECK(r->train_act_bytes > 0);
    CHECK(r->params > 100000);
    CHECK_EQ_INT(r->threads, 1);
    CHECK_EQ_INT(r->bn_folded, 1); /* cpu backend, BatchNorm: folded for eval */
    /* host <-> backend traffic per step: the input batch and the targets
     * (10 boxes per image, 6 floats each) in; the loss's three terms (float)
     * and its normaliser (two doubles) out. The loss runs where the raw head
     * lives: neither the head (64x64: 84 anchors x 66 channels) nor its
     * gradient crosses. */
    CHECK_STR(r->backend_name, "cpu");
    CHECK_EQ_INT(r->host_memory, 1);
    const double targets = 2.0 * 10 * 6 * 4, input = 2.0 * 3 * 64 * 64 * 4;
    CHECK_NEAR(r->to_host_bytes, 3 * 4 + 2 * 8, 0);
    CHECK_NEAR(r->to_backend_bytes, input + targets, 0);
    CHECK_EQ_INT(r->nlayers, 23);
    for (int i = 1; i < r->nlayers; i++)
        CHECK(r->layers[i - 1].fwd_s + r->layers[i - 1].bwd_s >= r->layers[i].fwd_s + r->layers[i].bwd_s);
    /* the time by kind covers the step: its sum is the mean step (rest >= 0 fills the gap) */
    const bench_kinds *k = &r->kinds;
    double sum = k->conv_fwd + k->conv_bwd + k->norm + k->act + k->concat + k->upsample + k->module_other +
                 k->model_other + k->loss + k->optim + k->ema + k->rest;
    /* SiLU runs fused with BatchNorm on the cpu backend (its time is in norm) */
    CHECK(k->rest >= 0 && k->conv_fwd > 0 && k->conv_bwd > 0 && k->norm > 0 && k->act >= 0);
    CHECK_NEAR(sum, r->step_mean_s, 0.02 * r->step_mean_s);
    CHECK_NEAR(r->non_conv_share, 1 - (k->conv_fwd + k->conv_bwd) / r->step_mean_s, 1e-9);
    CHECK(r->non_conv_share > 0 && r->non_conv_share < 1);
    /* conv FLOPs per step: forward = model FLOPs x batch; backward = 2 x forward - layer 0's forward */
    CHECK_NEAR(r->conv_flops_fwd, r->model_gflops * 1e9 * 2, 1e-6 * r->conv_flops_fwd);
    CHECK(r->conv_flops_bwd < 2 * r->conv_flops_fwd && r->conv_flops_bwd > 1.5 * r->conv_flops_fwd);
    CHECK_NEAR(r->conv_gflops, (r->conv_flops_fwd + r->conv_flops_bwd) / (k->conv_fwd + k->conv_bwd) / 1e9,
               1e-9 * r->conv_gflops);

    char path[] = "/tmp/yoloc_test_benchXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK(bench_write_json(r, path) == YOLOC_OK);
    char *text = NULL;
    size_t len = 0;
    CHECK(file_read_all(path, 1 << 20, &text, &len) == YOLOC_OK);
    jdoc doc = {0};
    st = text ? jdoc_parse(&doc, text, len, path) : YOLOC_ERR_IO;
    CHECK_MSG(st == YOLOC_OK, "bench.json does not parse: %s", yoloc_last_error());
    if (st == YOLOC_OK) {
        const jnode *root = doc.root;
        CHECK_NEAR(num(root, "step_s"), r->step_s, 1e-12);
        CHECK_NEAR(num(root, "train_img_s"), r->train_img_s, 1e-9);
        CHECK_NEAR(num(root, "predict_ms"), r->predict_ms, 1e-9);
        CHECK_NEAR(num(root, "peak_rss_mb"), r->peak_rss / 1048576.0, 1e-9);
        CHECK_NEAR(num(root, "conv_gflops"), r->conv_gflops, 1e-9);
        CHECK_NEAR(num(root, "non_conv_share"), r->non_conv_share, 1e-12);
        /* the measured FMA peak (no ordering against conv_gflops: on a loaded
         * machine the two measurements see different loads) */
        CHECK(r->fp32_peak_gflops > 0 && isfinite(r->fp32_peak_gflops) && r->peak_isa);
        CHECK_NEAR(num(root, "fp32_peak_gflops"), r->fp32_peak_gflops, 1e-9);
        CHECK_NEAR(num(root, "conv_peak_share"), r->conv_gflops / r->fp32_peak_gflops, 1e-9);
        CHECK_EQ_INT(num(root, "batch"), 2);
        CHECK_EQ_INT(num(root, "imgsz"), 64);
        const jnode *layers = jnode_get(root, "layers");
        CHECK(layers && layers->kind == JSON_ARRAY && layers->n == 23);
        const jnode *kinds = jnode_get(root, "kinds_s");
        CHECK(kinds && kinds->kind == JSON_OBJECT && kinds->n == 12);
        const jnode *bf = jnode_get(root, "bn_folded");
        CHECK(bf && bf->kind == JSON_BOOL && bf->boolean == 1);
        jdoc_free(&doc);
    }
    free(text);
    unlink(path);
    free(r);
}

static void test_bad_options(void) {
    bench_result *r = calloc(1, sizeof *r);
    bench_options o = tiny_options();
    o.reps = 0;
    CHECK(bench_run(&o, r) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "reps");
    o = tiny_options();
    o.imgsz = 70; /* not a multiple of the stride */
    CHECK(bench_run(&o, r) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "stride");
    o = tiny_options();
    o.model = "no/such/model.yaml";
    CHECK(bench_run(&o, r) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "no/such/model.yaml");
    free(r);
}

int main(void) {
    ops_set_threads(1);
    test_profile_counts();
    test_bench_run();
    test_bad_options();
    return test_finish("bench");
}
