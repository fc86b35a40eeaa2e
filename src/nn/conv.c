/* The Conv block (conv2d -> BatchNorm/GroupNorm -> SiLU, or a plain conv2d
 * with bias) and the Conv module (one block as a model layer).
 *
 * Training plans keep the conv output and the norm output for backward
 * (only the conv output with BN+SiLU fused on the cpu backend);
 * eval plans run the intermediates through the model's two shared scratch
 * buffers. Backward runs SiLU' into scratch[0], the norm backward into
 * scratch[1], then the convolution backward into the caller's dx. */
#include "nn/nn.h"
#include "nn/spec_args.h"
#include "io/onnx_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float *plan_floats(plan_ctx *pc, size_t n) { return arena_floats(pc->a, n); }

static int gn_groups_for(int c, int want) {
    for (int g = want < c ? want : c; g > 1; g--)
        if (c % g == 0) return g;
    return 1;
}

status convblock_build(convblock *cb, model *m, int layer, const char *prefix, int c1, int c2,
                       int k, int s, int p, int g, int d, int norm, int act) {
    memset(cb, 0, sizeof *cb);
    cb->c1 = c1;
    cb->c2 = c2;
    cb->k = k;
    cb->s = s;
    cb->p = p;
    cb->g = g;
    cb->d = d;
    cb->norm = norm;
    cb->act = act;
    cb->nk = m->opt.norm;
    cb->gn_groups = gn_groups_for(c2, m->opt.gn_groups > 0 ? m->opt.gn_groups : 32);
    char name[96];
    int64_t wshape[4] = {c2, c1 / g, k, k}, cshape[1] = {c2};
    if (norm) {
        snprintf(name, sizeof name, "%s.conv.weight", prefix);
        TRY(model_add_param(m, layer, name, 4, wshape, PG_WEIGHT, &cb->w_off));
        snprintf(name, sizeof name, "%s.bn.weight", prefix);
        TRY(model_add_param(m, layer, name, 1, cshape, PG_NORM, &cb->gamma_off));
        snprintf(name, sizeof name, "%s.bn.bias", prefix);
        TRY(model_add_param(m, layer, name, 1, cshape, PG_BIAS, &cb->beta_off));
        if (cb->nk != NORM_GN) { /* BN and SyncBN keep running statistics */
            snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
            TRY(model_add_buffer(m, layer, name, 1, cshape, &cb->rm_off));
            snprintf(name, sizeof name, "%s.bn.running_var", prefix);
            TRY(model_add_buffer(m, layer, name, 1, cshape, &cb->rv_off));
        }
    } else {
        snprintf(name, sizeof name, "%s.weight", prefix);
        TRY(model_add_param(m, layer, name, 4, wshape, PG_WEIGHT, &cb->w_off));
        snprintf(name, sizeof name, "%s.bias", prefix);
        TRY(model_add_param(m, layer, name, 1, cshape, PG_BIAS, &cb->b_off));
    }
    return YOLOC_OK;
}

void convblock_release(convblock *cb) {
    if (!cb->have_ops) return;
    conv2d_op_free(&cb->conv);
    if (cb->norm && cb->nk != NORM_GN) bn_op_free(&cb->bn);
    if (cb->act && !cb->fused) silu_op_free(&cb->silu);
    cb->have_ops = 0;
}

status convblock_plan(convblock *cb, model *m, plan_ctx *pc, int n, int h, int w) {
    convblock_release(cb);
    /* BN (or SyncBN) + SiLU run fused where the backend offers it (ops.h
     * bnsilu_*): no BN output is kept for backward; eval plans fold the BN
     * into the convolution's weights and bias and run the SiLU as its
     * post-op */
    cb->fused = cb->norm && cb->act && cb->nk != NORM_GN && backend_fuses_bnsilu(m->opt.be);
    cb->folded = cb->fused && !pc->training;
    conv2d_desc d = {.n = n, .h = h, .w = w, .ci = cb->c1, .co = cb->c2, .kh = cb->k, .kw = cb->k,
                     .sh = cb->s, .sw = cb->s, .ph = cb->p, .pw = cb->p, .dh = cb->d, .dw = cb->d,
                     .groups = cb->g, .bias = !cb->norm || cb->folded, .act = cb->folded,
                     .bf16 = m->opt.bf16};
    TRY(conv2d_desc_check(&d));
    cb->n = n;
    cb->h = h;
    cb->w = w;
    cb->oh = conv2d_out_h(&d);
    cb->ow = conv2d_out_w(&d);
    cb->flops = conv2d_flops(&d);
    pc->flops += cb->flops;
    size_t out = convblock_out_size(cb);
    if (cb->norm) pc->norm_elems += (double)out;
    if (out > pc->scratch) pc->scratch = out;
    int mid = cb->norm || cb->act; /* anything after the conv */
    cb->wf = NULL;
    cb->wgen = 0;
    if (cb->folded) cb->wf = plan_floats(pc, (size_t)cb->c2 * (cb->c1 / cb->g) * cb->k * cb->k + (size_t)cb->c2);
    cb->conv_out = cb->norm_out = NULL;
    if (pc->training && mid) cb->conv_out = plan_floats(pc, out);
    if (pc->training && cb->norm && cb->act && !cb->fused) cb->norm_out = plan_floats(pc, out);
    cb->y = plan_floats(pc, out);
    cb->mean = cb->var = NULL;
    cb->sync_work = NULL;
    if (cb->norm) {
        size_t stats = cb->nk != NORM_GN ? (size_t)cb->c2 : (size_t)n * cb->gn_groups;
        cb->mean = plan_floats(pc, stats);
        cb->var = plan_floats(pc, stats);
        if ((cb->nk == NORM_SYNCBN || cb->fused) && pc->training) {
            bn_desc sd = {.n = n, .h = cb->oh, .w = cb->ow, .c = cb->c2};
            cb->sync_work = arena_alloc(pc->a, syncbn_workspace(&sd) * sizeof(double));
        }
    }
    if (pc->measure) return YOLOC_OK;

    backend be = m->opt.be;
    TRY(conv2d_op_init(&cb->conv, m->bectx, be, &d, pc->training));
    status st = YOLOC_OK;
    if (cb->norm && cb->nk != NORM_GN) { /* SyncBN: the BN op serves eval plans */
        bn_desc bd = {.n = n, .h = cb->oh, .w = cb->ow, .c = cb->c2, .eps = 1e-3f, .momentum = m->bn_momentum};
        if (cb->fused) { /* only the shape: the fused kernels need no primitive */
            memset(&cb->bn, 0, sizeof cb->bn);
            cb->bn.d = bd;
            cb->bn.be = be;
        } else {
            st = bn_op_init(&cb->bn, m->bectx, be, &bd, pc->training);
        }
        if (st < 0) {
            conv2d_op_free(&cb->conv);
            return st;
        }
    } else if (cb->norm) {
        gn_desc gd = {.n = n, .h = cb->oh, .w = cb->ow, .c = cb->c2, .groups = cb->gn_groups, .eps = 1e-5f};
        st = gn_op_init(&cb->gn, be, &gd);
        if (st < 0) {
            conv2d_op_free(&cb->conv);
            return st;
        }
    }
    if (cb->act && !cb->fused) {
        st = silu_op_init(&cb->silu, m->bectx, be, out, pc->training);
        if (st < 0) {
            conv2d_op_free(&cb->conv);
            if (cb->norm && cb->nk != NORM_GN) bn_op_free(&cb->bn);
            return st;
        }
    }
    cb->have_ops = 1;
    return YOLOC_OK;
}

static status norm_forward(convblock *cb, model *m, const float *x, float *y, int training) {
    const float *gamma = P(m, cb->gamma_off), *beta = P(m, cb->beta_off);
    if (cb->nk == NORM_GN) return gn_op_forward(&cb->gn, x, gamma, beta, y, cb->mean, cb->var);
    if (m->bn_frozen) training = 0; /* frozen statistics: the running ones, not updated (bn_op_backward_frozen) */
    if (cb->nk == NORM_SYNCBN && training)
        return syncbn_op_forward_train(cb->bn.be, &cb->bn.d, &m->reducer, x, gamma, beta, y, cb->mean, cb->var, B(m, cb->rm_off),
                                    B(m, cb->rv_off), cb->sync_work);
    if (training)
        return bn_op_forward_train(&cb->bn, x, gamma, beta, y, cb->mean, cb->var, B(m, cb->rm_off),
                                   B(m, cb->rv_off));
    return bn_op_forward_eval(&cb->bn, x, gamma, beta, B(m, cb->rm_off), B(m, cb->rv_off), y);
}

/* BatchNorm folded into the convolution (eval plans): per output channel
 * s = gamma / sqrt(running_var + eps), w' = w s, b' = beta - running_mean s.
 * Recomputed at every forward (the parameters may have changed since the
 * plan; it costs one pass over the block's weights) unless the model's
 * weights are static (model_set_static_weights). */
static void convblock_fold(convblock *cb, model *m, float *wf, float *bf) {
    bn_fold(m->opt.be, cb->c2, (size_t)(cb->c1 / cb->g) * cb->k * cb->k, cb->bn.d.eps, P(m, cb->w_off),
            P(m, cb->gamma_off), P(m, cb->beta_off), B(m, cb->rm_off), B(m, cb->rv_off), wf, bf);
}

status convblock_forward(convblock *cb, model *m, const float *x) {
    int training = m->plan_training;
    layer_prof *lp = nn_prof(m);
    double t = lp ? time_now() : 0;
    /* weights known not to have changed since this block's last forward */
    int same = !training && m->static_gen && cb->wgen == m->static_gen;
    cb->wgen = training ? 0 : m->static_gen;
    if (cb->folded) {
        float *bf = cb->wf + (size_t)cb->c2 * (cb->c1 / cb->g) * cb->k * cb->k;
        if (!same) convblock_fold(cb, m, cb->wf, bf);
        TRY(conv2d_op_forward_ex(&cb->conv, x, cb->wf, bf, cb->y, same));
        NN_PROF_LAP(lp, conv_s[0], t);
        if (lp) lp->conv_flops[0] += cb->flops;
        return YOLOC_OK;
    }
    const float *w = P(m, cb->w_off), *b = cb->norm ? NULL : P(m, cb->b_off);
    int mid = cb->norm || cb->act;
    float *c_out = !mid ? cb->y : training ? cb->conv_out : m->scratch[0];
    TRY(conv2d_op_forward_ex(&cb->conv, x, w, b, c_out, same));
    NN_PROF_LAP(lp, conv_s[0], t);
    if (lp) lp->conv_flops[0] += cb->flops;
    if (cb->norm && cb->nk != NORM_GN) cb->bn.d.momentum = m->bn_momentum; /* model_set_bn_momentum */
    if (cb->fused) {
        const float *gamma = P(m, cb->gamma_off), *beta = P(m, cb->beta_off);
        if (training && !m->bn_frozen)
            TRY(bnsilu_op_forward_train(cb->bn.be, &cb->bn.d, cb->nk == NORM_SYNCBN ? &m->reducer : NULL, c_out, gamma, beta,
                                         cb->y, cb->mean, cb->var, B(m, cb->rm_off), B(m, cb->rv_off),
                                         cb->sync_work));
        else
            TRY(bnsilu_op_forward_eval(cb->bn.be, &cb->bn.d, c_out, gamma, beta, B(m, cb->rm_off), B(m, cb->rv_off),
                                       cb->y));
        NN_PROF_LAP(lp, norm_s[0], t);
        return YOLOC_OK;
    }
    const float *a_in = c_out;
    if (cb->norm) {
        float *n_out = cb->act ? (training ? cb->norm_out : m->scratch[1]) : cb->y;
        TRY(norm_forward(cb, m, c_out, n_out, training));
        NN_PROF_LAP(lp, norm_s[0], t);
        a_in = n_out;
    }
    if (cb->act) {
        TRY(silu_op_forward(&cb->silu, a_in, cb->y));
        NN_PROF_LAP(lp, act_s[0], t);
    }
    return YOLOC_OK;
}

status convblock_backward(convblock *cb, model *m, const float *x, const float *dy, float *dx,
                          float beta_dx) {
    YOLOC_ASSERT(m->plan_training);
    layer_prof *lp = nn_prof(m);
    double t = lp ? time_now() : 0;
    const float *dcur = dy;
    if (cb->fused && m->bn_frozen) {
        TRY(bnsilu_op_backward_frozen(cb->bn.be, &cb->bn.d, cb->conv_out, P(m, cb->gamma_off), P(m, cb->beta_off),
                                       B(m, cb->rm_off), B(m, cb->rv_off), dy, m->scratch[1], 0.0f,
                                       G(m, cb->gamma_off), G(m, cb->beta_off), cb->sync_work));
        NN_PROF_LAP(lp, norm_s[1], t);
        dcur = m->scratch[1];
    } else if (cb->fused) {
        TRY(bnsilu_op_backward(cb->bn.be, &cb->bn.d, cb->nk == NORM_SYNCBN ? &m->reducer : NULL, cb->conv_out,
                                P(m, cb->gamma_off), P(m, cb->beta_off), cb->mean, cb->var, dy, m->scratch[1], 0.0f,
                                G(m, cb->gamma_off), G(m, cb->beta_off), cb->sync_work));
        NN_PROF_LAP(lp, norm_s[1], t);
        dcur = m->scratch[1];
    } else if (cb->act) {
        const float *a_in = cb->norm ? cb->norm_out : cb->conv_out; /* SiLU's input */
        TRY(silu_op_backward(&cb->silu, a_in, dcur, m->scratch[0], 0.0f));
        NN_PROF_LAP(lp, act_s[1], t);
        dcur = m->scratch[0];
    }
    if (cb->norm && !cb->fused) {
        const float *gamma = P(m, cb->gamma_off);
        float *dgamma = G(m, cb->gamma_off), *dbeta = G(m, cb->beta_off);
        if (cb->nk != NORM_GN && m->bn_frozen)
            TRY(bn_op_backward_frozen(&cb->bn, cb->conv_out, gamma, B(m, cb->rm_off), B(m, cb->rv_off), dcur,
                                      m->scratch[1], 0.0f, dgamma, dbeta));
        else if (cb->nk == NORM_BN)
            TRY(bn_op_backward(&cb->bn, cb->conv_out, gamma, cb->mean, cb->var, dcur, m->scratch[1], 0.0f,
                               dgamma, dbeta));
        else if (cb->nk == NORM_SYNCBN)
            TRY(syncbn_op_backward(cb->bn.be, &cb->bn.d, &m->reducer, cb->conv_out, gamma, cb->mean, cb->var, dcur, m->scratch[1],
                                0.0f, dgamma, dbeta, cb->sync_work));
        else
            TRY(gn_op_backward(&cb->gn, cb->conv_out, gamma, cb->mean, cb->var, dcur, m->scratch[1], 0.0f,
                               dgamma, dbeta));
        NN_PROF_LAP(lp, norm_s[1], t);
        dcur = m->scratch[1];
    }
    TRY(conv2d_op_backward(&cb->conv, x, P(m, cb->w_off), dcur, dx, beta_dx, G(m, cb->w_off),
                           cb->norm ? NULL : G(m, cb->b_off)));
    NN_PROF_LAP(lp, conv_s[1], t);
    if (lp) lp->conv_flops[1] += cb->flops * (dx ? 2 : 1); /* weight gradient (+ data gradient) */
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* The Conv module. */
static status conv_build(nn_layer *L, model *m, const layer_spec *ls) {
    convblock *cb = calloc(1, sizeof *cb);
    if (!cb) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    L->impl = cb;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    return convblock_build(cb, m, ls->index, prefix, ls->c1, ls->c2, ls->k, ls->s, ls->p, ls->g, ls->d,
                           1, ls->act);
}

static status conv_plan(nn_layer *L, model *m, plan_ctx *pc) {
    convblock *cb = L->impl;
    TRY(convblock_plan(cb, m, pc, L->n, L->in_h[0], L->in_w[0]));
    L->h = cb->oh;
    L->w = cb->ow;
    L->c = cb->c2;
    L->y = cb->y;
    return YOLOC_OK;
}

static status conv_forward(nn_layer *L, model *m, const float *const *x) {
    return convblock_forward(L->impl, m, x[0]);
}

static status conv_backward(nn_layer *L, model *m, const float *const *x, const float *dy,
                            float *const *dx, const float *beta) {
    return convblock_backward(L->impl, m, x[0], dy, dx[0], beta[0]);
}

static void conv_release(nn_layer *L) { convblock_release(L->impl); }
static void conv_destroy(nn_layer *L) {
    free(L->impl);
    L->impl = NULL;
}

static const nn_module_vt NN_VT_CONV = {
    .build = conv_build,
    .plan = conv_plan,
    .forward = conv_forward,
    .backward = conv_backward,
    .release = conv_release,
    .destroy = conv_destroy,
};

/* ------------------------------------------------------------------------ */
/* Parse, memory, export. */

/* Conv(c1, c2, k=1, s=1, p=None (autopad), g=1, d=1, act=True) */
static status conv_parse(spec_args *a, layer_spec *L) {
    TRY(spec_argc(a, "Conv", 1, 7, "[c2, k=1, s=1, p=None, g=1, d=1, act=True]"));
    int c2;
    TRY(spec_int(a, 0, 0, 1, 65536, "c2", &c2));
    TRY(spec_int(a, 1, 1, 1, 15, "k", &L->k));
    TRY(spec_int(a, 2, 1, 1, 8, "s", &L->s));
    TRY(spec_int(a, 4, 1, 1, 65536, "g", &L->g));
    TRY(spec_int(a, 5, 1, 1, 8, "d", &L->d));
    TRY(spec_int(a, 3, L->d * (L->k - 1) / 2, 0, 16, "p", &L->p));
    TRY(spec_bool(a, 6, 1, "act", &L->act));
    L->c2 = spec_channels(a, c2);
    if (L->c1 % L->g || L->c2 % L->g)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "layer %d: groups %d do not divide channels %d -> %d", a->i, L->g,
                          L->c1, L->c2);
    L->down = L->s;
    snprintf(L->args, sizeof L->args, "[%d, %d, %d, %d]", L->c1, L->c2, L->k, L->s);
    return YOLOC_OK;
}

static size_t conv_conv_input(const model_spec *s, const layer_spec *l, int imgsz) {
    size_t g = nn_cells(imgsz, nn_input_stride(s, l, 0));
    return (size_t)l->c1 * g * g;
}

static status conv_onnx(onnx_exporter *e, const layer_spec *ls, const char *const *x) {
    char prefix[32], scope[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    return onnx_convblock(e, ls->index, prefix, scope, x[0], ls->c1, ls->c2, ls->k, ls->s, ls->p,
                         ls->g, ls->d, ls->act, onnx_out_slot(e, ls->index));
}

const nn_module_desc NN_MOD_CONV = {.name = "Conv", .alias = "Conv", .inputs = 1, .parse = conv_parse,
                                    .vt = &NN_VT_CONV, .conv_input = conv_conv_input, .onnx = conv_onnx};
