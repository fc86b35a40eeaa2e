/* Whole models across backends: yolov8n and yolov5n (the built-in YAMLs, 80
 * classes) on the same weights and the same batch, on every backend built in
 * against the reference backend: the training forward (raw head), the
 * detection loss of that forward (each backend's own output through the
 * loss, assigner included), the backward of that loss into every parameter
 * gradient, the BatchNorm running statistics it updated, and the eval
 * forward. In fp32, and in bf16 (amp) where the backend runs bf16
 * convolutions.
 *
 * fp32: errors relative to each tensor's largest magnitude, 1e-3 (a deep
 * network; summation orders differ; measured about 1e-4).
 * bf16: both sides round operands to 8 bits of mantissa, but once their fp32
 * values differ in the last bits, roundings differ, and through the layers
 * that noise grows to the size of bf16's own error. So the yardstick is
 * bf16's own error on the reference backend (ref bf16 against ref fp32, in
 * relative L2 norm): the backend's bf16 must stay within twice that of the
 * reference's bf16. An op broken in bf16 lands far outside. */
#include "core/rng.h"
#include "gradcheck.h"
#include "backend_offhost.h"
#include "harness.h"
#include "nn/model.h"
#include "ops/backend.h"
#include "train/checkpoint.h"
#include "train/detloss.h"
#include "train/ema.h"
#include "train/optim.h"
#include "train/weights.h"

#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2
#define S 128

static model *make(const char *yaml, backend be, int bf16) {
    model_spec spec;
    if (model_spec_load(&spec, yaml, 80) < 0) {
        fprintf(stderr, "%s: %s\n", yaml, yoloc_last_error());
        return NULL;
    }
    model_options mo = {.be = be, .norm = NORM_BN, .gn_groups = 32, .bf16 = bf16};
    model *m = NULL;
    status st = model_create(&m, &spec, &mo, 17);
    model_spec_free(&spec);
    CHECK_MSG(st == YOLOC_OK, "%s on %s: %s", yaml, backend_name(be), yoloc_last_error());
    return m;
}

/* max |a - b| / max |b| (NaN counts as infinitely wrong). */
static double rel_err(const float *a, const float *b, size_t n) {
    double mx = 1e-12, err = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        double e = isfinite(a[i]) ? fabs((double)a[i] - b[i]) : INFINITY;
        if (!(e <= err)) err = e;
    }
    return err / mx;
}

typedef struct {
    float terms[3];
    float *raw, *eval, *bufs, *grads, *stepped, *ema;
    size_t nraw, neval;
    float gnorm;
} run_out;

/* One training step's numbers and the eval forward, copied out through the
 * model's copies (the backend's memory may not be the host's). eval = 0
 * skips the eval forward. */
static int run(model *m, const float *x, const float *targets, size_t nt, run_out *o, int eval) {
    memset(o, 0, sizeof *o);
    detloss L;
    if (model_plan(m, N, S, S, 1) < 0 || detloss_init(&L, m, NULL) < 0) {
        fprintf(stderr, "plan: %s\n", yoloc_last_error());
        return -1;
    }
    const float *out, *raw = NULL;
    int ok = model_forward(m, x, &out) == YOLOC_OK;
    o->nraw = (size_t)N * model_anchors(m) * model_raw_channels(m);
    o->raw = malloc(o->nraw * sizeof(float));
    ok = ok && model_raw_output_host(m, &raw) == YOLOC_OK;
    if (ok) memcpy(o->raw, raw, o->nraw * sizeof(float));
    /* the loss on the backend, into the head-gradient buffer the backward reads */
    float *grad = model_head_grad(m);
    ok = ok && grad && detloss_compute(&L, m, targets, nt, o->terms, grad) == YOLOC_OK;
    ok = ok && model_zero_grad(m) == YOLOC_OK;
    ok = ok && model_backward(m, grad) == YOLOC_OK;
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    o->grads = malloc(np * sizeof(float));
    o->bufs = malloc(nb * sizeof(float));
    ok = ok && model_to_host(m, o->grads, model_grads(m), np) == YOLOC_OK &&
         model_to_host(m, o->bufs, model_bufs(m), nb) == YOLOC_OK;
    /* the trainer's step on the backend: scale, norm, clip, SGD (Nesterov),
     * EMA. SGD: linear in the gradient, so its differences stay those of the
     * gradients (Adam's first step is sign-like; the op test checks it) */
    optim op;
    ema e;
    memset(&op, 0, sizeof op), memset(&e, 0, sizeof e);
    o->stepped = malloc(np * sizeof(float));
    o->ema = malloc(np * sizeof(float));
    ok = ok && optim_init(&op, OPTIM_SGD, m) == YOLOC_OK && ema_init(&e, m, 0, 0) == YOLOC_OK;
    if (ok) {
        const optim_group_hp hp[3] = {{0.1, 0.937, 0}, {0.01, 0.937, 5e-4}, {0.01, 0.937, 0}};
        grad_scale(&op, model_grads(m), 64.0f / 2);
        o->gnorm = (float)grad_global_norm(&op, model_grads(m));
        grad_clip(&op, model_grads(m), 10.0);
        ok = grad_all_finite(&op, model_grads(m)) && optim_step(&op, model_params(m), model_grads(m), hp) == YOLOC_OK;
        ema_update(&e, model_params(m), model_bufs(m));
        ok = ok && model_to_host(m, o->stepped, model_params(m), np) == YOLOC_OK &&
             model_to_host(m, o->ema, e.params, np) == YOLOC_OK;
    }
    optim_free(&op);
    ema_free(&e);
    if (ok && eval) {
        ok = model_plan(m, N, S, S, 0) == YOLOC_OK && model_forward(m, x, &out) == YOLOC_OK;
        o->neval = (size_t)N * model_anchors(m) * model_out_channels(m);
        o->eval = malloc(o->neval * sizeof(float));
        ok = ok && model_to_host(m, o->eval, out, o->neval) == YOLOC_OK;
    }
    detloss_free(&L);
    CHECK_MSG(ok, "%s on %s: %s", "step", backend_name(model_backend(m)), yoloc_last_error());
    return ok ? 0 : -1;
}

static void run_free(run_out *o) {
    free(o->raw), free(o->eval), free(o->bufs), free(o->grads), free(o->stepped), free(o->ema);
}

/* ||a - b|| / ||b||. */
static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, r = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        d += isfinite(e) ? e * e : INFINITY;
        r += (double)b[i] * b[i];
    }
    return sqrt(d / r);
}

static void compare(const char *yaml, backend be, int bf16) {
    /* offhost runs the reference's own kernels: the same bits */
    const double tol = be == &OPS_BACKEND_OFFHOST ? 0 : 1e-3;
    model *a = make(yaml, backend_list()[0], bf16), *b = make(yaml, be, bf16);
    model *f = bf16 ? make(yaml, backend_list()[0], 0) : NULL; /* bf16's yardstick: ref in fp32 */
    if (!a || !b || (bf16 && !f)) {
        model_free(a), model_free(b), model_free(f);
        return;
    }
    /* an image with structure (smooth gradients and edges) and four boxes */
    size_t nin = (size_t)N * 3 * S * S;
    float *x = malloc(nin * sizeof(float));
    rng g;
    rng_seed(&g, 5);
    for (size_t i = 0; i < nin; i++) {
        size_t p = i % ((size_t)S * S), yy = p / S, xx = p % S;
        x[i] = (float)(0.5 + 0.3 * sin(0.07 * (double)xx * (1 + (double)(i / ((size_t)S * S)) * 0.3)) +
                       0.2 * ((xx / 16 + yy / 16) % 2) + 0.05 * rng_range(&g, -1, 1));
    }
    const float targets[] = {0, 3, 0.30f, 0.40f, 0.25f, 0.30f, 0, 17, 0.70f, 0.65f, 0.40f, 0.35f,
                             1, 0, 0.50f, 0.50f, 0.60f, 0.70f, 1, 41, 0.20f, 0.80f, 0.15f, 0.12f};
    run_out ra, rb, rf;
    memset(&rf, 0, sizeof rf);
    const int eval = 1;
    int ok = run(a, x, targets, 4, &ra, eval) == 0 && run(b, x, targets, 4, &rb, eval) == 0 &&
             (!bf16 || run(f, x, targets, 4, &rf, eval) == 0);
    char what[160];
    snprintf(what, sizeof what, "%s %s vs ref%s", yaml, backend_name(be), bf16 ? " (bf16)" : "");
    if (ok && bf16) {
        size_t np = model_num_params(a);
        const struct {
            const char *name;
            const float *got, *want, *fp32;
            size_t n;
        } parts[] = {{"training forward", rb.raw, ra.raw, rf.raw, ra.nraw},
                     {"loss", rb.terms, ra.terms, rf.terms, 3},
                     {"gradients", rb.grads, ra.grads, rf.grads, np},
                     {"running statistics", rb.bufs, ra.bufs, rf.bufs, model_num_bufs(a)},
                     {"parameters after the step", rb.stepped, ra.stepped, rf.stepped, np},
                     {"EMA after the step", rb.ema, ra.ema, rf.ema, np},
                     {"eval forward", rb.eval, ra.eval, rf.eval, ra.neval}};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            if (!parts[k].n) continue; /* the eval forward where it is skipped */
            double e = rel_l2(parts[k].got, parts[k].want, parts[k].n);
            double own = rel_l2(parts[k].want, parts[k].fp32, parts[k].n); /* bf16's own error on ref */
            printf("test_backend_model: %s: %s %.2g (bf16's own error on ref: %.2g)\n", what, parts[k].name, e, own);
            if (tol == 0) CHECK_MSG(e == 0, "%s: %s differs from the reference's by %.3g", what, parts[k].name, e);
            CHECK_MSG(e <= 2 * own + 1e-5, "%s: %s off by %.3g, more than twice bf16's own error %.3g", what,
                      parts[k].name, e, own);
        }
    }
    if (ok && !bf16) {
        double e_raw = rel_err(rb.raw, ra.raw, ra.nraw);
        double e_eval = rel_err(rb.eval, ra.eval, ra.neval);
        double e_bufs = rel_err(rb.bufs, ra.bufs, model_num_bufs(a));
        double e_terms = rel_err(rb.terms, ra.terms, 3);
        double e_step = rel_err(rb.stepped, ra.stepped, model_num_params(a));
        double e_ema = rel_err(rb.ema, ra.ema, model_num_params(a));
        double e_gnorm = fabs(rb.gnorm - ra.gnorm) / ra.gnorm;
        /* gradients per tensor, each against its own scale */
        double e_grad = 0;
        const char *worst = "";
        for (size_t t = 0; t < model_num_tensors(a); t++) {
            const param_info *p = model_tensor(a, t);
            if (p->buffer) continue;
            double e = rel_err(rb.grads + p->off, ra.grads + p->off, p->numel);
            if (e > e_grad) e_grad = e, worst = p->name;
        }
        char ev[32];
        snprintf(ev, sizeof ev, ra.neval ? "%.2g" : "skipped (host decode)", e_eval);
        printf("test_backend_model: %s: raw %.2g, loss %.2g (%.5g %.5g %.5g vs %.5g %.5g %.5g), gradients %.2g "
               "(worst %s), running stats %.2g, gradient norm %.2g, parameters after an SGD step %.2g, EMA %.2g, "
               "eval %s\n",
               what, e_raw, e_terms, rb.terms[0], rb.terms[1], rb.terms[2], ra.terms[0], ra.terms[1], ra.terms[2],
               e_grad, worst, e_bufs, e_gnorm, e_step, e_ema, ev);
        CHECK_MSG(e_gnorm <= tol, "%s: gradient norm off by %.3g", what, e_gnorm);
        CHECK_MSG(e_step <= tol, "%s: parameters after the step off by %.3g", what, e_step);
        CHECK_MSG(e_ema <= tol, "%s: EMA after the step off by %.3g", what, e_ema);
        CHECK_MSG(e_raw <= tol, "%s: training forward off by %.3g", what, e_raw);
        CHECK_MSG(e_terms <= tol, "%s: loss off by %.3g", what, e_terms);
        CHECK_MSG(e_grad <= 2 * tol, "%s: gradient of %s off by %.3g", what, worst, e_grad);
        CHECK_MSG(e_bufs <= tol, "%s: running statistics off by %.3g", what, e_bufs);
        CHECK_MSG(e_eval <= tol, "%s: eval forward off by %.3g", what, e_eval);
        CHECK_MSG(ra.terms[0] > 0 && ra.terms[1] > 0, "%s: the loss has no box or class term", what);
    }
    run_free(&ra), run_free(&rb), run_free(&rf);
    free(x);
    model_free(a), model_free(b), model_free(f);
}

/* Weight files through the backend: a model on `be` (seeded differently from
 * the reference) saved, loaded into a reference model and into another
 * model on `be` (partially: by name and shape); all three hold the same
 * numbers. */
static void weights_roundtrip(const char *yaml, backend be) {
    model_spec spec;
    if (model_spec_load(&spec, yaml, 80) < 0) return;
    model_options mo = {.be = be, .norm = NORM_BN, .gn_groups = 32};
    model_options mr = {.be = backend_list()[0], .norm = NORM_BN, .gn_groups = 32};
    model *a = NULL, *b = NULL, *c = NULL;
    status st = model_create(&a, &spec, &mo, 31);
    if (st == YOLOC_OK) st = model_create(&b, &spec, &mr, 32);
    if (st == YOLOC_OK) st = model_create(&c, &spec, &mo, 33);
    model_spec_free(&spec);
    char path[64];
    snprintf(path, sizeof path, "/tmp/yoloc_backend_weights_%d.safetensors", (int)getpid());
    weights_report rep;
    if (st == YOLOC_OK) st = weights_save(a, path, NULL, 0);
    if (st == YOLOC_OK) st = weights_load(b, path);
    if (st == YOLOC_OK) st = weights_load_partial(c, path, &rep);
    CHECK_MSG(st == YOLOC_OK, "%s on %s: weights: %s", yaml, backend_name(be), yoloc_last_error());
    if (st == YOLOC_OK) {
        size_t np = model_num_params(a), nb = model_num_bufs(a);
        float *pa = malloc(np * 4), *pb = malloc(np * 4), *pc = malloc(np * 4), *ba = malloc(nb * 4), *bc = malloc(nb * 4);
        CHECK(model_to_host(a, pa, model_params(a), np) == YOLOC_OK && model_to_host(b, pb, model_params(b), np) == YOLOC_OK &&
              model_to_host(c, pc, model_params(c), np) == YOLOC_OK && model_to_host(a, ba, model_bufs(a), nb) == YOLOC_OK &&
              model_to_host(c, bc, model_bufs(c), nb) == YOLOC_OK);
        CHECK_MSG(memcmp(pa, pb, np * 4) == 0, "%s: %s's weights differ once loaded on ref", yaml, backend_name(be));
        CHECK_MSG(memcmp(pa, pc, np * 4) == 0 && memcmp(ba, bc, nb * 4) == 0,
                  "%s: %s's weights differ once loaded on %s", yaml, backend_name(be), backend_name(be));
        printf("test_backend_model: %s: weights saved from %s, loaded on ref and on %s: the same numbers\n", yaml,
               backend_name(be), backend_name(be));
        free(pa), free(pb), free(pc), free(ba), free(bc);
    }
    unlink(path);
    /* a checkpoint: the raw model, the EMA and the optimizer's state (AdamW:
     * m and v) saved from a and loaded into c, both on `be` */
    optim oa, oc;
    ema ea, ec;
    memset(&oa, 0, sizeof oa), memset(&oc, 0, sizeof oc), memset(&ea, 0, sizeof ea), memset(&ec, 0, sizeof ec);
    if (st == YOLOC_OK) st = optim_init(&oa, OPTIM_ADAMW, a);
    if (st == YOLOC_OK) st = optim_init(&oc, OPTIM_ADAMW, c);
    if (st == YOLOC_OK) st = ema_init(&ea, a, 0, 0);
    if (st == YOLOC_OK) st = ema_init(&ec, c, 0, 0);
    size_t np = a ? model_num_params(a) : 0;
    float *h = malloc((np ? np : 1) * 4), *g = malloc((np ? np : 1) * 4);
    rng r;
    rng_seed(&r, 9);
    memset(h, 0, (np ? np : 1) * 4); /* the tensors' floats; the padding between them stays zero */
    for (size_t t = 0; a && t < model_num_tensors(a); t++) {
        const param_info *p = model_tensor(a, t);
        if (!p->buffer) gc_fill(&r, h + p->off, p->numel, -1, 1);
    }
    if (st == YOLOC_OK) st = model_from_host(a, oa.m, h, np); /* some state to carry */
    if (st == YOLOC_OK) st = model_from_host(a, oa.v, h, np);
    if (st == YOLOC_OK) st = model_from_host(a, ea.params, h, np);
    oa.step = 7;
    ea.updates = 7;
    ckpt_meta meta = {.epoch = 2, .step = 7, .best_epoch = -1, .lr_factor = 1}, back;
    if (st == YOLOC_OK) st = ckpt_save(path, a, &ea, &oa, &meta, NULL, 0);
    if (st == YOLOC_OK) st = ckpt_load(path, c, &ec, &oc, &back);
    CHECK_MSG(st == YOLOC_OK, "%s on %s: checkpoint: %s", yaml, backend_name(be), yoloc_last_error());
    if (st == YOLOC_OK) {
        const float *pairs[4][2] = {{model_params(a), model_params(c)}, {oa.m, oc.m}, {oa.v, oc.v}, {ea.params, ec.params}};
        int same = oc.step == 7 && ec.updates == 7;
        for (int k = 0; k < 4; k++) {
            CHECK(model_to_host(a, h, pairs[k][0], np) == YOLOC_OK && model_to_host(c, g, pairs[k][1], np) == YOLOC_OK);
            same &= memcmp(h, g, np * 4) == 0;
        }
        CHECK_MSG(same, "%s on %s: the checkpoint did not come back as saved", yaml, backend_name(be));
        if (same)
            printf("test_backend_model: %s: a checkpoint saved and loaded on %s: model, EMA and AdamW state as saved\n", yaml,
               backend_name(be));
    }
    unlink(path);
    free(h), free(g);
    optim_free(&oa), optim_free(&oc), ema_free(&ea), ema_free(&ec);
    model_free(a), model_free(b), model_free(c);
}

int main(void) {
    ops_set_threads(0);
    /* the backends built in after the reference, then the reference behind
     * memory the host cannot touch (tests/backend_offhost.h): the model's
     * training step must reach backend memory through the backend only */
    const ops_backend *list[16];
    int nb = 0;
    for (const ops_backend *const *p = backend_list() + 1; *p && nb < 15; p++) list[nb++] = *p;
    list[nb++] = &OPS_BACKEND_OFFHOST;
    for (int i = 0; i < nb; i++) {
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            if (bf16 && !(list[i]->bf16_convs && list[i]->bf16_convs())) {
                printf("test_backend_model: %s: bf16 skipped, its bf16 convolutions do not run on this machine\n",
                       list[i]->name);
                continue;
            }
            compare("yolov8n.yaml", list[i], bf16);
            compare("yolov5n.yaml", list[i], bf16);
        }
        weights_roundtrip("yolov8n.yaml", list[i]);
        weights_roundtrip("yolov5n.yaml", list[i]);
    }
    return test_finish("test_backend_model");
}
