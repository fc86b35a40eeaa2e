/* `yoloc bench` (see bench.h). */
#include "train/bench.h"

#include "core/cpu.h"
#include "core/rng.h"
#include "core/sysmem.h"
#include "core/timer.h"
#include "io/file.h"
#include "io/json.h"
#include "ops/backend.h"
#include "train/ema.h"
#include "train/precision.h"
#include "train/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_MAX_REPS 1024 /* time_median's limit */

/* Random boxes: BENCH_TARGETS_PER_IMAGE per image, rows of (image, class,
 * cx, cy, w, h) normalised, sides in [0.05, 0.4], inside the image. */
static void fill_targets(float *t, int batch, int nc, rng *g) {
    size_t k = 0;
    for (int b = 0; b < batch; b++)
        for (int j = 0; j < BENCH_TARGETS_PER_IMAGE; j++, k++) {
            float w = (float)rng_range(g, 0.05, 0.4), h = (float)rng_range(g, 0.05, 0.4);
            float *r = t + 6 * k;
            r[0] = (float)b;
            r[1] = (float)rng_below(g, (uint32_t)nc);
            r[2] = (float)rng_range(g, w / 2, 1 - w / 2);
            r[3] = (float)rng_range(g, h / 2, 1 - h / 2);
            r[4] = w;
            r[5] = h;
        }
}

static int cmp_layer(const void *a, const void *b) {
    const bench_layer *x = a, *y = b;
    double tx = x->fwd_s + x->bwd_s, ty = y->fwd_s + y->bwd_s;
    if (tx != ty) return tx < ty ? 1 : -1;
    return x->index - y->index;
}

/* Per-layer means and the time by kind from the profile of `reps` steps. */
static void collect_profile(const model *m, int reps, double fwd_total, double bwd_total, bench_result *r) {
    const layer_prof *pf = model_profile(m);
    const model_spec *sp = model_get_spec(m);
    double n = reps;
    bench_kinds *k = &r->kinds;
    double sum_fwd = 0, sum_bwd = 0, conv_fwd_s = 0, conv_bwd_s = 0;
    r->nlayers = sp->nlayers;
    for (int i = 0; i < sp->nlayers; i++) {
        const layer_prof *p = &pf[i];
        bench_layer *L = &r->layers[i];
        mod_kind kind = sp->layers[i].kind;
        L->index = i;
        L->module = mod_kind_name(kind);
        L->fwd_s = p->fwd_s / n;
        L->bwd_s = p->bwd_s / n;
        L->conv_s = (p->conv_s[0] + p->conv_s[1]) / n;
        L->conv_flops = (p->conv_flops[0] + p->conv_flops[1]) / n;
        sum_fwd += L->fwd_s;
        sum_bwd += L->bwd_s;
        conv_fwd_s += p->conv_s[0] / n;
        conv_bwd_s += p->conv_s[1] / n;
        r->conv_flops_fwd += p->conv_flops[0] / n;
        r->conv_flops_bwd += p->conv_flops[1] / n;
        k->norm += (p->norm_s[0] + p->norm_s[1]) / n;
        k->act += (p->act_s[0] + p->act_s[1]) / n;
        double inner = (p->conv_s[0] + p->conv_s[1] + p->norm_s[0] + p->norm_s[1] + p->act_s[0] + p->act_s[1]) / n;
        double other = L->fwd_s + L->bwd_s - inner;
        if (other < 0) other = 0;
        if (kind == MOD_CONCAT) k->concat += other;
        else if (kind == MOD_UPSAMPLE) k->upsample += other;
        else k->module_other += other;
    }
    k->conv_fwd = conv_fwd_s;
    k->conv_bwd = conv_bwd_s;
    k->model_other = (fwd_total - sum_fwd) + (bwd_total - sum_bwd);
    if (k->model_other < 0) k->model_other = 0;
    double conv_s = conv_fwd_s + conv_bwd_s;
    r->conv_gflops = conv_s > 0 ? (r->conv_flops_fwd + r->conv_flops_bwd) / conv_s / 1e9 : 0;
    r->conv_fwd_gflops = conv_fwd_s > 0 ? r->conv_flops_fwd / conv_fwd_s / 1e9 : 0;
    r->conv_bwd_gflops = conv_bwd_s > 0 ? r->conv_flops_bwd / conv_bwd_s / 1e9 : 0;
    r->non_conv_share = r->step_mean_s > 0 ? 1.0 - conv_s / r->step_mean_s : 0;
    r->conv_peak_share = r->fp32_peak_gflops > 0 ? r->conv_gflops / r->fp32_peak_gflops : 0;
    if (r->non_conv_share < 0) r->non_conv_share = 0;
    qsort(r->layers, (size_t)r->nlayers, sizeof r->layers[0], cmp_layer);
}

/* Median over reps of forward passes of the current (eval) plan, after one warm-up. */
static status time_forward(model *m, const float *x, int reps, double *median) {
    double t[BENCH_MAX_REPS];
    const float *out;
    TRY(model_forward(m, x, &out));
    for (int i = 0; i < reps; i++) {
        double t0 = time_now();
        TRY(model_forward(m, x, &out));
        t[i] = time_now() - t0;
    }
    *median = time_median(t, reps);
    return YOLOC_OK;
}

status bench_run(const bench_options *o, bench_result *r) {
    memset(r, 0, sizeof *r);
    if (o->batch < 1 || o->reps < 1 || o->reps > BENCH_MAX_REPS)
        return err_set(YOLOC_ERR_INVALID, "bench: batch must be >= 1 and reps in [1, %d] (got batch %d, reps %d)",
                       BENCH_MAX_REPS, o->batch, o->reps);
    model *m = NULL;
    float *x = NULL, *targets = NULL;
    optim opt;
    ema e;
    detloss L;
    int have_opt = 0, have_ema = 0, have_loss = 0;
    memset(&opt, 0, sizeof opt);
    memset(&e, 0, sizeof e);
    status st = YOLOC_OK;
    int B = o->batch, S = o->imgsz, reps = o->reps;

    snprintf(r->model, sizeof r->model, "%s", o->model);
    r->imgsz = S;
    r->batch = B;
    r->reps = reps;
    r->threads = ops_get_threads();
    r->amp_requested = o->amp_requested;
    r->dtype = precision_dtype(o->mopt.bf16);
    precision_describe(o->mopt.bf16, r->cpu_line, sizeof r->cpu_line);
    r->bn_folded = backend_fuses_bnsilu(o->mopt.be ? o->mopt.be : backend_default()) &&
                   o->mopt.norm != NORM_GN; /* nn/conv.c folds in eval plans */
    r->fp32_peak_gflops = ops_fp32_peak_gflops(r->threads, 1.0, &r->peak_isa);

    TRY_GOTO(st, weights_open_model(o->model, o->weights, 0, &o->mopt, o->seed, &m, NULL, NULL));
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (!p->buffer) r->params += p->numel;
    }
    double flops;
    if ((st = model_flops(m, S, S, &flops, NULL)) < 0) {
        err_prefix(st, "imgsz=%d", S);
        goto fail;
    }
    r->model_gflops = flops / 1e9;
    TRY_GOTO(st, model_plan_bytes(m, B, S, S, 1, &r->train_act_bytes));

    /* the synthetic batch */
    size_t nin = (size_t)B * 3 * S * S, nt = (size_t)B * BENCH_TARGETS_PER_IMAGE;
    x = malloc(nin * sizeof(float));
    targets = malloc(nt * 6 * sizeof(float));
    if (!x || !targets) {
        st = err_set(YOLOC_ERR_NOMEM, "bench: out of memory for a batch of %d images at %d", B, S);
        goto fail;
    }
    rng g;
    rng_seed_keys(&g, o->seed, 0xbe7c, 0, 0);
    for (size_t i = 0; i < nin; i++) x[i] = (float)rng_uniform(&g);
    fill_targets(targets, B, model_nc(m), &g);

    /* the training step's parts, as the trainer builds them */
    TRY_GOTO(st, model_plan(m, B, S, S, 1));
    TRY_GOTO(st, optim_init(&opt, o->optimizer, m));
    have_opt = 1;
    TRY_GOTO(st, ema_init(&e, m, 0, 0));
    have_ema = 1;
    detloss_cfg lc = o->loss;
    if (model_na(m)) { /* YOLOv5 head: its own gains unless given (the keys' defaults are v8's) */
        float dg[3];
        detloss_default_gains(m, dg);
        if (!o->box_given) lc.gains[0] = dg[0];
        if (!o->cls_given) lc.gains[1] = dg[1];
    }
    TRY_GOTO(st, detloss_init(&L, m, &lc));
    have_loss = 1;
    optim_describe(&opt, o->lr, o->momentum, o->weight_decay, r->optimizer, sizeof r->optimizer);
    const ops_chunk hchunk = {0, (size_t)B * model_anchors(m) * model_raw_channels(m)};
    optim_group_hp hp[3] = {{o->lr, o->momentum, 0}, {o->lr, o->momentum, o->weight_decay}, {o->lr, o->momentum, 0}};

    TRY_GOTO(st, model_profile_enable(m, 1));
    double ts[6][BENCH_MAX_REPS], fwd_sum = 0, bwd_sum = 0, step_sum = 0, sums[6] = {0};
    for (int rep = -1; rep < reps; rep++) { /* rep -1: the warm-up */
        if (rep == 0) {
            model_profile_reset(m);
            model_traffic_reset(m);
        }
        double t0 = time_now();
        TRY_GOTO(st, model_plan(m, B, S, S, 1));
        TRY_GOTO(st, model_zero_grad(m));
        const float *out;
        double t1 = time_now();
        TRY_GOTO(st, model_forward(m, x, &out));
        double t2 = time_now();
        float terms[3];
        float *grad = model_head_grad(m); /* the loss writes it where the backward reads it */
        st = detloss_compute(&L, m, targets, nt, terms, grad);
        if (st < 0) {
            err_prefix(st, "bench: loss of the synthetic batch");
            goto fail;
        }
        /* the trainer's convention: the batch's sums, normalised at the step */
        float scale = (float)L.norm;
        backend_chunk_scale(model_backend(m), &hchunk, 1, hchunk.len, grad, scale);
        double t3 = time_now();
        TRY_GOTO(st, model_backward(m, grad));
        double t4 = time_now();
        float *gr = model_grads(m);
        double norm = L.norm_raw > 1.0 ? L.norm_raw : 1.0;
        grad_scale(&opt, gr, (float)(o->nbs / norm));
        double gnorm = grad_global_norm(&opt, gr);
        if (!isfinite(gnorm)) {
            st = err_set(YOLOC_ERR_NUMERIC, "bench: non-finite gradient norm at repeat %d", rep + 1);
            goto fail;
        }
        if (o->max_norm > 0) grad_clip(&opt, gr, o->max_norm);
        TRY_GOTO(st, optim_step(&opt, model_params(m), gr, hp));
        double t5 = time_now();
        ema_update(&e, model_params(m), model_bufs(m));
        double t6 = time_now();
        if (rep < 0) continue;
        double part[6] = {t6 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5};
        for (int k = 0; k < 6; k++) {
            ts[k][rep] = part[k];
            sums[k] += part[k];
        }
        fwd_sum += t2 - t1;
        bwd_sum += t4 - t3;
        step_sum += t6 - t0;
    }
    model_traffic tr;
    model_traffic_get(m, &tr);
    r->to_backend_bytes = (double)tr.to_backend / reps;
    r->to_host_bytes = (double)tr.to_host / reps;
    r->host_memory = model_backend(m)->host_memory;
    r->backend_name = backend_name(model_backend(m));
    r->step_s = time_median(ts[0], reps);
    r->fwd_s = time_median(ts[1], reps);
    r->loss_s = time_median(ts[2], reps);
    r->bwd_s = time_median(ts[3], reps);
    r->optim_s = time_median(ts[4], reps);
    r->ema_s = time_median(ts[5], reps);
    r->train_img_s = r->step_s > 0 ? B / r->step_s : 0;
    r->step_mean_s = step_sum / reps;
    r->kinds.loss = sums[2] / reps;
    r->kinds.optim = sums[4] / reps;
    r->kinds.ema = sums[5] / reps;
    collect_profile(m, reps, fwd_sum / reps, bwd_sum / reps, r);
    {
        const bench_kinds *k = &r->kinds;
        double known = k->conv_fwd + k->conv_bwd + k->norm + k->act + k->concat + k->upsample + k->module_other +
                       k->model_other + k->loss + k->optim + k->ema;
        r->kinds.rest = r->step_mean_s - known > 0 ? r->step_mean_s - known : 0;
    }
    TRY_GOTO(st, model_profile_enable(m, 0));

    /* eval forward at the batch, then the predict latency (batch 1), as
     * yoloc predict runs them (static weights: folded and reordered once) */
    model_set_static_weights(m, 1);
    TRY_GOTO(st, model_plan(m, B, S, S, 0));
    TRY_GOTO(st, time_forward(m, x, reps, &r->eval_s));
    r->eval_img_s = r->eval_s > 0 ? B / r->eval_s : 0;
    r->eval_gflops = r->eval_s > 0 ? r->model_gflops * B / r->eval_s : 0;
    TRY_GOTO(st, model_plan(m, 1, S, S, 0));
    double pred_s;
    TRY_GOTO(st, time_forward(m, x, reps < 10 ? 10 : reps, &pred_s));
    r->predict_ms = pred_s * 1e3;
    r->peak_rss = sys_rss_peak();
fail:
    if (have_loss) detloss_free(&L);
    if (have_ema) ema_free(&e);
    if (have_opt) optim_free(&opt);
    free(targets);
    free(x);
    model_free(m);
    return st;
}

static double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }

void bench_print(const bench_result *r, FILE *f, int top) {
    char rss[32], act[32];
    fprintf(f, "yoloc bench: %s (%.2fM parameters, %.3g GFLOPs per image at %d), batch %d, imgsz %d, %d thread%s, %s\n",
            r->model, r->params / 1e6, r->model_gflops, r->imgsz, r->batch, r->imgsz, r->threads,
            r->threads == 1 ? "" : "s", r->dtype);
    fprintf(f, "%s\n", r->cpu_line);
    fprintf(f, "synthetic batch: %d random images, %d random boxes each; %s; medians of %d repeats after a warm-up\n",
            r->batch, BENCH_TARGETS_PER_IMAGE, r->optimizer, r->reps);
    fprintf(f, "%s\n\n", r->bn_folded ? "eval forward and predict: BatchNorm folded into the convolutions, SiLU as "
                                       "their post-op; training: BatchNorm+SiLU fused"
                                     : "eval forward: normalisation and SiLU as their own kernels (no folding with "
                                       "this backend or GroupNorm)");
    fprintf(f, "%-38s %10.3f s   %8.2f images/s\n", "training step (accumulate=1)", r->step_s, r->train_img_s);
    fprintf(f, "  %-36s %10.3f s\n", "forward (training)", r->fwd_s);
    fprintf(f, "  %-36s %10.3f s\n", "loss + gradient (assignment incl.)", r->loss_s);
    fprintf(f, "  %-36s %10.3f s\n", "backward", r->bwd_s);
    fprintf(f, "  %-36s %10.3f s\n", "optimizer (scale, norm, clip, step)", r->optim_s);
    fprintf(f, "  %-36s %10.3f s\n", "EMA", r->ema_s);
    char lbl[64];
    snprintf(lbl, sizeof lbl, "eval forward, batch %d", r->batch);
    fprintf(f, "%-38s %10.3f s   %8.2f images/s  %6.1f GFLOP/s\n", lbl, r->eval_s, r->eval_img_s, r->eval_gflops);
    fprintf(f, "%-38s %10.2f ms\n", "predict latency, batch 1 (forward)", r->predict_ms);
    fprintf(f, "%-38s %10s      (training activations %s)\n", "peak RSS (VmHWM)",
            r->peak_rss ? sys_fmt_bytes(r->peak_rss, rss, sizeof rss) : "unknown", sys_fmt_bytes(r->train_act_bytes, act, sizeof act));
    char tb[32], th[32];
    fprintf(f, "%-38s %10s in, %s out per step (backend %s: %s)\n", "host <-> backend traffic",
            sys_fmt_bytes((size_t)r->to_backend_bytes, tb, sizeof tb), sys_fmt_bytes((size_t)r->to_host_bytes, th, sizeof th),
            r->backend_name,
            r->host_memory ? "host memory, read and written in place; in: the input batch and the targets, "
                             "out: the loss's scalars"
                           : "copies");

    double step = r->step_mean_s;
    int n = top < r->nlayers ? top : r->nlayers;
    fprintf(f, "\nslowest layers of the training step (means of %d repeats; step %.3f s):\n", r->reps, step);
    fprintf(f, "  %5s %-12s %9s %9s %9s %8s %9s %7s %7s\n", "layer", "module", "fwd ms", "bwd ms", "total ms",
            "GFLOP", "GFLOP/s", "conv %", "step %");
    for (int i = 0; i < n; i++) {
        const bench_layer *L = &r->layers[i];
        double t = L->fwd_s + L->bwd_s;
        fprintf(f, "  %5d %-12s %9.1f %9.1f %9.1f %8.2f %9.1f %7.1f %7.1f\n", L->index, L->module, L->fwd_s * 1e3,
                L->bwd_s * 1e3, t * 1e3, L->conv_flops / 1e9, t > 0 ? L->conv_flops / t / 1e9 : 0, pct(L->conv_s, t),
                pct(t, step));
    }
    if (r->nlayers > n) {
        double rest = 0;
        for (int i = n; i < r->nlayers; i++) rest += r->layers[i].fwd_s + r->layers[i].bwd_s;
        fprintf(f, "  %5s %-12s %9s %9s %9.1f %8s %9s %7s %7.1f\n", "", "(other layers)", "", "", rest * 1e3, "", "",
                "", pct(rest, step));
    }

    const bench_kinds *k = &r->kinds;
    fprintf(f, "\ntraining step by kind (means):\n");
    struct {
        const char *name;
        double s;
    } rows[] = {
        {"convolutions, forward", k->conv_fwd},
        {"convolutions, backward", k->conv_bwd},
        {"normalisation (BatchNorm/GroupNorm; + SiLU when fused), fwd + bwd", k->norm},
        {"activation (SiLU, where not fused), fwd + bwd", k->act},
        {"Concat layers", k->concat},
        {"Upsample layers", k->upsample},
        {"other in modules (split/concat copies, max-pool, adds, Detect output)", k->module_other},
        {"outside the layers (input NCHW -> NHWC)", k->model_other},
        {"loss + gradient", k->loss},
        {"optimizer (scale, norm, clip, step)", k->optim},
        {"EMA", k->ema},
        {"rest (zeroing gradients, ...)", k->rest},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fprintf(f, "  %-70s %9.1f ms %6.1f %%", rows[i].name, rows[i].s * 1e3, pct(rows[i].s, step));
        if (i == 0) fprintf(f, "  %6.1f GFLOP/s", r->conv_fwd_gflops);
        if (i == 1) fprintf(f, "  %6.1f GFLOP/s", r->conv_bwd_gflops);
        fputc('\n', f);
    }
    fprintf(f, "convolutions: %.1f GFLOP/s (forward and backward, FLOP-weighted: %.1f + %.1f GFLOP per step); "
               "outside convolutions: %.1f %% of the step\n",
            r->conv_gflops, r->conv_flops_fwd / 1e9, r->conv_flops_bwd / 1e9, 100.0 * r->non_conv_share);
    fprintf(f, "FP32 FMA peak, measured (%s, %d thread%s): %.1f GFLOP/s; the convolutions run at %.1f %% of it\n",
            r->peak_isa ? r->peak_isa : "?", r->threads, r->threads == 1 ? "" : "s", r->fp32_peak_gflops,
            100.0 * r->conv_peak_share);
}

status bench_write_json(const bench_result *r, const char *path) {
    sbuf s;
    sbuf_init(&s);
#define NUM(key, v)                                                                                                    \
    do {                                                                                                               \
        sbuf_printf(&s, ",\n  \"%s\": ", key);                                                                         \
        sbuf_json_number(&s, (double)(v));                                                                             \
    } while (0)
    sbuf_printf(&s, "{\n  \"tool\": \"yoloc\",\n  \"model\": ");
    sbuf_json_string(&s, r->model);
    NUM("imgsz", r->imgsz);
    NUM("batch", r->batch);
    NUM("threads", r->threads);
    NUM("reps", r->reps);
    sbuf_printf(&s, ",\n  \"dtype\": ");
    sbuf_json_string(&s, r->dtype);
    sbuf_printf(&s, ",\n  \"amp_requested\": %s", r->amp_requested ? "true" : "false");
    sbuf_printf(&s, ",\n  \"isa\": ");
    sbuf_json_string(&s, ops_dnnl_isa());
    sbuf_printf(&s, ",\n  \"kernel_isa\": ");
    sbuf_json_string(&s, cpu_kernel_isa_short());
    sbuf_printf(&s, ",\n  \"cpu\": ");
    sbuf_json_string(&s, cpu_model_name());
    sbuf_printf(&s, ",\n  \"backend\": ");
    sbuf_json_string(&s, r->backend_name ? r->backend_name : "");
    sbuf_printf(&s, ",\n  \"bn_folded\": %s", r->bn_folded ? "true" : "false");
    sbuf_printf(&s, ",\n  \"optimizer\": ");
    sbuf_json_string(&s, r->optimizer);
    NUM("params", r->params);
    NUM("model_gflops", r->model_gflops);
    NUM("targets_per_image", BENCH_TARGETS_PER_IMAGE);
    NUM("step_s", r->step_s);
    NUM("train_img_s", r->train_img_s);
    NUM("fwd_s", r->fwd_s);
    NUM("loss_s", r->loss_s);
    NUM("bwd_s", r->bwd_s);
    NUM("optim_s", r->optim_s);
    NUM("ema_s", r->ema_s);
    NUM("eval_s", r->eval_s);
    NUM("eval_img_s", r->eval_img_s);
    NUM("predict_ms", r->predict_ms);
    NUM("peak_rss_mb", r->peak_rss / 1048576.0);
    NUM("train_act_mb", r->train_act_bytes / 1048576.0);
    NUM("to_backend_mb_per_step", r->to_backend_bytes / 1048576.0);
    NUM("to_host_mb_per_step", r->to_host_bytes / 1048576.0);
    NUM("conv_gflops", r->conv_gflops);
    NUM("conv_fwd_gflops", r->conv_fwd_gflops);
    NUM("conv_bwd_gflops", r->conv_bwd_gflops);
    NUM("non_conv_share", r->non_conv_share);
    NUM("fp32_peak_gflops", r->fp32_peak_gflops);
    NUM("conv_peak_share", r->conv_peak_share);
    NUM("step_mean_s", r->step_mean_s);
    const bench_kinds *k = &r->kinds;
    sbuf_printf(&s, ",\n  \"kinds_s\": {\"conv_fwd\": ");
    sbuf_json_number(&s, k->conv_fwd);
    const char *names[] = {"conv_bwd", "norm", "act", "concat", "upsample", "module_other",
                           "model_other", "loss", "optim", "ema", "rest"};
    const double vals[] = {k->conv_bwd, k->norm, k->act, k->concat, k->upsample, k->module_other,
                           k->model_other, k->loss, k->optim, k->ema, k->rest};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        sbuf_printf(&s, ", \"%s\": ", names[i]);
        sbuf_json_number(&s, vals[i]);
    }
    sbuf_printf(&s, "},\n  \"layers\": [");
    for (int i = 0; i < r->nlayers; i++) {
        const bench_layer *L = &r->layers[i];
        sbuf_printf(&s, "%s\n    {\"layer\": %d, \"module\": ", i ? "," : "", L->index);
        sbuf_json_string(&s, L->module);
        sbuf_printf(&s, ", \"fwd_s\": ");
        sbuf_json_number(&s, L->fwd_s);
        sbuf_printf(&s, ", \"bwd_s\": ");
        sbuf_json_number(&s, L->bwd_s);
        sbuf_printf(&s, ", \"conv_s\": ");
        sbuf_json_number(&s, L->conv_s);
        sbuf_printf(&s, ", \"conv_gflop\": ");
        sbuf_json_number(&s, L->conv_flops / 1e9);
        sbuf_printf(&s, "}");
    }
    sbuf_printf(&s, "\n  ]\n}\n");
#undef NUM
    status st = s.failed ? err_set(YOLOC_ERR_NOMEM, "%s: out of memory writing the JSON", path)
                         : file_write_atomic(path, s.buf, s.len);
    sbuf_free(&s);
    return st;
}
