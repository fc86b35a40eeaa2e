/* The model: build from a spec, flat parameter buffers, planning, forward,
 * backward, and the `yoloc info` table (see model.h). */
#include "nn/nn.h"

#include "core/log.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nn_module_vt *module_vt(mod_kind k) {
    const nn_module_desc *d = nn_module(k);
    return d ? d->vt : NULL;
}

static status add_tensor(model *m, int layer, const char *name, int ndim, const int64_t *shape,
                         int group, int buffer, size_t *out_off) {
    if (m->ntensors == m->tensors_cap) {
        size_t cap = m->tensors_cap ? 2 * m->tensors_cap : 256;
        param_info *t = realloc(m->tensors, cap * sizeof *t);
        if (!t) return err_set(YOLOC_ERR_NOMEM, "out of memory registering parameters");
        m->tensors = t;
        m->tensors_cap = cap;
    }
    param_info *p = &m->tensors[m->ntensors++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->group = p->group0 = group;
    p->buffer = buffer;
    p->layer = layer;
    size_t *count = buffer ? &m->nbuf_floats : &m->nparam_floats;
    /* 16-float (64-byte) alignment of every tensor keeps vector loops aligned */
    p->off = *count;
    *count += (p->numel + 15) & ~(size_t)15;
    *out_off = p->off;
    return YOLOC_OK;
}

status model_add_param(model *m, int layer, const char *name, int ndim, const int64_t *shape,
                       param_group group, size_t *out_off) {
    return add_tensor(m, layer, name, ndim, shape, group, 0, out_off);
}

status model_add_buffer(model *m, int layer, const char *name, int ndim, const int64_t *shape,
                        size_t *out_off) {
    return add_tensor(m, layer, name, ndim, shape, PG_FROZEN, 1, out_off);
}

static void plan_release(model *m) {
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].vt) m->layers[i].vt->release(&m->layers[i]);
    arena_free(&m->act);
    backend_free(m->opt.be, m->bectx, m->act_mem);
    m->act_mem = NULL;
    free(m->input_host);
    free(m->raw_host);
    free(m->out_host);
    m->input_host = m->raw_host = m->out_host = m->head_grad = NULL;
    m->planned = 0;
    m->out = NULL;
}

void model_free(model *m) {
    if (!m) return;
    plan_release(m);
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].vt && m->layers[i].impl) m->layers[i].vt->destroy(&m->layers[i]);
    backend_free(m->opt.be, m->bectx, m->params);
    backend_free(m->opt.be, m->bectx, m->grads);
    backend_free(m->opt.be, m->bectx, m->bufs);
    free(m->tensors);
    free(m->grad_seen);
    free(m->prof);
    model_spec_free(&m->spec);
    backend_ctx_free(m->opt.be, m->bectx);
    free(m);
}

static void init_params_host(model *m, uint64_t seed) {
    memset(m->params, 0, m->nparam_floats * sizeof(float));
    memset(m->bufs, 0, m->nbuf_floats * sizeof(float));
    uint64_t pindex = 0; /* parameters only: BN and GN models draw the same weights */
    for (size_t t = 0; t < m->ntensors; t++) {
        param_info *p = &m->tensors[t];
        float *d = p->buffer ? m->bufs + p->off : m->params + p->off;
        size_t len = strlen(p->name);
        int is_bn = strstr(p->name, ".bn.") != NULL;
        if (!p->buffer) pindex++;
        if (p->buffer) { /* running_mean 0, running_var 1 */
            float v = (len >= 11 && strcmp(p->name + len - 11, "running_var") == 0) ? 1.0f : 0.0f;
            for (size_t i = 0; i < p->numel; i++) d[i] = v;
            continue;
        }
        if (is_bn) { /* BatchNorm/GroupNorm: weight 1, bias 0 */
            float v = p->group0 == PG_NORM ? 1.0f : 0.0f;
            for (size_t i = 0; i < p->numel; i++) d[i] = v;
            continue;
        }
        /* Conv weight and bias: PyTorch's default, U(+-1/sqrt(fan_in)) with
         * fan_in = (c_in/groups) * k * k of the layer's weight. */
        size_t fan_in = 1;
        if (p->group0 == PG_WEIGHT && p->ndim == 4) {
            fan_in = (size_t)(p->shape[1] * p->shape[2] * p->shape[3]);
        } else if (p->group0 == PG_BIAS && t > 0 && m->tensors[t - 1].ndim == 4) {
            const param_info *w = &m->tensors[t - 1];
            fan_in = (size_t)(w->shape[1] * w->shape[2] * w->shape[3]);
        }
        double bound = 1.0 / sqrt((double)fan_in);
        rng r;
        rng_seed_keys(&r, seed, 0x9a7a, pindex - 1, 0);
        for (size_t i = 0; i < p->numel; i++) d[i] = (float)rng_range(&r, -bound, bound);
    }
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].vt->init_params) m->layers[i].vt->init_params(&m->layers[i], m);
    m->bn_batches = 0;
}

/* Initialisation writes on the host: in place on a host-memory backend,
 * else into host arrays (P/B read m->params and m->bufs) then copied over. */
status model_init_params(model *m, uint64_t seed) {
    if (m->opt.be->host_memory) {
        init_params_host(m, seed);
        return YOLOC_OK;
    }
    float *dev_p = m->params, *dev_b = m->bufs;
    float *hp = malloc((m->nparam_floats ? m->nparam_floats : 1) * sizeof(float));
    float *hb = malloc((m->nbuf_floats ? m->nbuf_floats : 1) * sizeof(float));
    status st = hp && hb ? YOLOC_OK : err_set(YOLOC_ERR_NOMEM, "out of memory (initial parameters)");
    if (st == YOLOC_OK) {
        m->params = hp;
        m->bufs = hb;
        init_params_host(m, seed);
        m->params = dev_p;
        m->bufs = dev_b;
        st = model_from_host(m, dev_p, hp, m->nparam_floats);
        if (st == YOLOC_OK) st = model_from_host(m, dev_b, hb, m->nbuf_floats);
    }
    free(hp);
    free(hb);
    return st;
}

status model_create(model **out, const model_spec *spec, const model_options *opt, uint64_t seed) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    status st = YOLOC_OK;
    m->bn_momentum = MODEL_BN_MOMENTUM;
    m->spec = *spec;
    m->spec.yaml_text = NULL;
    if (spec->yaml_text && !(m->spec.yaml_text = strdup(spec->yaml_text))) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (opt) m->opt = *opt;
    else {
        m->opt.norm = NORM_BN;
        m->opt.gn_groups = 32;
    }
    if (!m->opt.be) m->opt.be = backend_default();
    TRY_GOTO(st, backend_ctx_create(m->opt.be, &m->bectx));
    m->nlayers = m->spec.nlayers;
    for (int i = 0; i < m->nlayers; i++) {
        nn_layer *L = &m->layers[i];
        L->spec = &m->spec.layers[i];
        L->vt = module_vt(L->spec->kind);
        YOLOC_ASSERT(L->vt);
        size_t t0 = m->ntensors;
        TRY_GOTO(st, L->vt->build(L, m, L->spec));
        for (size_t t = t0; t < m->ntensors; t++)
            if (!m->tensors[t].buffer) L->nparams += m->tensors[t].numel;
    }
    /* parameters, gradients and buffers live in the backend's memory */
    if (!(m->params = backend_alloc_floats(m->opt.be, m->bectx, m->nparam_floats, &st))) goto fail;
    if (!(m->grads = backend_alloc_floats(m->opt.be, m->bectx, m->nparam_floats, &st))) goto fail;
    if (!(m->bufs = backend_alloc_floats(m->opt.be, m->bectx, m->nbuf_floats, &st))) goto fail;
    m->grad_seen = calloc((size_t)m->nlayers, 1);
    if (!m->grad_seen) {
        st = err_set(YOLOC_ERR_NOMEM, "cannot allocate %zu parameters", m->nparam_floats);
        goto fail;
    }
    const layer_spec *det = &m->spec.layers[m->nlayers - 1];
    m->nc = det->nc;
    m->reg_max = det->reg_max;
    m->na = det->na;
    m->nlevels = det->nlevels;
    for (int l = 0; l < det->nlevels; l++) m->strides[l] = m->spec.layers[det->from[l]].stride;
    TRY_GOTO(st, model_init_params(m, seed));
    *out = m;
    return YOLOC_OK;
fail:
    model_free(m);
    return st;
}

/* One planning pass over all layers (measure or allocate). */
static status plan_pass(model *m, plan_ctx *pc, int n, int h, int w) {
    m->input = plan_floats(pc, (size_t)n * h * w * m->spec.in_ch);
    m->plan_training = pc->training;
    for (int i = 0; i < m->nlayers; i++) {
        nn_layer *L = &m->layers[i];
        const layer_spec *ls = L->spec;
        L->n = n;
        for (int k = 0; k < ls->nfrom; k++) {
            int f = ls->from[k];
            L->in_h[k] = f < 0 ? h : m->layers[f].h;
            L->in_w[k] = f < 0 ? w : m->layers[f].w;
            L->in_c[k] = f < 0 ? m->spec.in_ch : m->layers[f].c;
        }
        status st = L->vt->plan(L, m, pc);
        if (st < 0) return err_prefix(st, "planning layer %d (%s) for input %dx%d", i, mod_kind_name(ls->kind), h, w);
        L->dy = NULL;
        if (pc->training && i < m->nlayers - 1) L->dy = plan_floats(pc, (size_t)n * L->h * L->w * L->c);
    }
    m->scratch_floats = pc->scratch;
    m->scratch[0] = plan_floats(pc, pc->scratch);
    m->scratch[1] = plan_floats(pc, pc->scratch);
    const nn_layer *last = &m->layers[m->nlayers - 1];
    m->out = last->y;
    m->out_channels = last->c;
    return YOLOC_OK;
}

static status check_input(model *m, int n, int h, int w) {
    int smax = m->strides[m->nlevels - 1];
    if (n < 1 || h < smax || w < smax || h % smax || w % smax)
        return err_set(YOLOC_ERR_SHAPE,
                       "input %dx%dx%d: batch must be >= 1 and the image size a multiple of the model's "
                       "largest stride %d",
                       n, h, w, smax);
    return YOLOC_OK;
}

status model_plan_bytes(model *m, int n, int h, int w, int training, size_t *bytes) {
    TRY(check_input(m, n, h, w));
    arena a;
    arena_init_measure(&a);
    plan_ctx pc = {.a = &a, .training = training, .measure = 1};
    int was = m->plan_training;
    status st = plan_pass(m, &pc, n, h, w);
    m->plan_training = was;
    /* the measuring pass clobbered the layer pointers: force a re-plan */
    m->planned = 0;
    arena_free(&m->act);
    *bytes = a.peak;
    return st;
}

status model_flops(model *m, int h, int w, double *flops, double *unfused) {
    TRY(check_input(m, 1, h, w));
    arena a;
    arena_init_measure(&a);
    plan_ctx pc = {.a = &a, .training = 0, .measure = 1};
    plan_release(m);
    status st = plan_pass(m, &pc, 1, h, w);
    *flops = pc.flops;
    /* thop's count of a normalisation layer: 2 per element, twice with the
     * affine transform, as multiply-adds; FLOPs are twice those */
    if (unfused) *unfused = pc.flops + 8.0 * pc.norm_elems;
    m->planned = 0;
    return st;
}

status model_plan(model *m, int n, int h, int w, int training) {
    if (m->planned && m->plan_n == n && m->plan_h == h && m->plan_w == w && m->plan_training == training)
        return YOLOC_OK;
    TRY(check_input(m, n, h, w));
    plan_release(m);
    arena a;
    arena_init_measure(&a);
    plan_ctx pc = {.a = &a, .training = training, .measure = 1};
    TRY(plan_pass(m, &pc, n, h, w));
    /* the activations, in the backend's memory, with the head's gradient
     * in training plans (the loss writes it there) */
    const int staged = !m->opt.be->host_memory;
    size_t raw = (size_t)n * m->anchors * model_raw_channels(m) * sizeof(float);
    size_t cap = a.peak + (training ? arena_round(raw) : 0);
    TRY(backend_alloc(m->opt.be, m->bectx, cap, &m->act_mem));
    arena_init_buffer(&m->act, m->act_mem, cap);
    plan_ctx real = {.a = &m->act, .training = training, .measure = 0};
    status st = plan_pass(m, &real, n, h, w);
    if (st == YOLOC_OK && training) m->head_grad = arena_alloc(&m->act, raw);
    if (st == YOLOC_OK && staged) {
        m->input_host = malloc((size_t)n * h * w * m->spec.in_ch * sizeof(float));
        m->raw_host = malloc(raw);
        m->out_host = malloc((size_t)n * m->anchors * m->out_channels * sizeof(float));
        if (!m->input_host || !m->raw_host || !m->out_host)
            st = err_set(YOLOC_ERR_NOMEM, "out of memory (host staging of the plan)");
    }
    if (st == YOLOC_OK && arena_exhausted(&m->act))
        st = err_set(YOLOC_ERR_INTERNAL, "activation plan grew between passes");
    if (st < 0) {
        plan_release(m);
        return st;
    }
    m->planned = 1;
    m->plan_n = n;
    m->plan_h = h;
    m->plan_w = w;
    m->plan_training = training;
    m->training_forward_done = 0;
    return YOLOC_OK;
}

status model_forward(model *m, const float *input, const float **out) {
    if (!m->planned) return err_set(YOLOC_ERR_INVALID, "model_forward: the model is not planned");
    int n = m->plan_n, h = m->plan_h, w = m->plan_w, c = m->spec.in_ch;
    size_t hw = (size_t)h * w;
    const size_t in_bytes = (size_t)n * hw * c * sizeof(float);
    m->traffic_to_backend += in_bytes;
    /* NCHW -> NHWC: in place on a host-memory backend, else on the host
     * side and copied over */
    float *nhwc = m->input_host ? m->input_host : m->input;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < hw; p++)
            for (int k = 0; k < c; k++)
                nhwc[((size_t)b * hw + p) * c + k] = input[((size_t)b * c + k) * hw + p];
    if (m->input_host) TRY(backend_from_host(m->opt.be, m->bectx, m->input, m->input_host, in_bytes));
    for (int i = 0; i < m->nlayers; i++) {
        nn_layer *L = &m->layers[i];
        const float *xs[SPEC_MAX_FROM];
        for (int k = 0; k < L->spec->nfrom; k++) {
            int f = L->spec->from[k];
            xs[k] = f < 0 ? m->input : m->layers[f].y;
        }
        double t0 = m->prof ? time_now() : 0;
        m->prof_layer = i;
        status st = L->vt->forward(L, m, xs);
        if (st < 0) return err_prefix(st, "forward of layer %d (%s)", i, mod_kind_name(L->spec->kind));
        if (m->prof) {
            m->prof[i].fwd_s += time_now() - t0;
            m->prof[i].calls[0]++;
        }
    }
    if (m->plan_training) {
        m->bn_batches++;
        m->training_forward_done = 1;
    }
    *out = m->out;
    return YOLOC_OK;
}

status model_backward(model *m, const float *dout) {
    if (!m->planned || !m->plan_training || !m->training_forward_done)
        return err_set(YOLOC_ERR_INVALID, "model_backward: needs a training plan and a forward pass first");
    memset(m->grad_seen, 0, (size_t)m->nlayers);
    for (int i = m->nlayers - 1; i >= 0; i--) {
        nn_layer *L = &m->layers[i];
        const float *dy = i == m->nlayers - 1 ? dout : L->dy;
        if (i != m->nlayers - 1 && !m->grad_seen[i]) continue; /* output unused */
        const float *xs[SPEC_MAX_FROM];
        float *dxs[SPEC_MAX_FROM];
        float betas[SPEC_MAX_FROM];
        for (int k = 0; k < L->spec->nfrom; k++) {
            int f = L->spec->from[k];
            xs[k] = f < 0 ? m->input : m->layers[f].y;
            dxs[k] = f < 0 ? NULL : m->layers[f].dy;
            betas[k] = (f >= 0 && m->grad_seen[f]) ? 1.0f : 0.0f;
            if (f >= 0) m->grad_seen[f] = 1;
        }
        double t0 = m->prof ? time_now() : 0;
        m->prof_layer = i;
        status st = L->vt->backward(L, m, xs, dy, dxs, betas);
        if (st < 0) return err_prefix(st, "backward of layer %d (%s)", i, mod_kind_name(L->spec->kind));
        if (m->prof) {
            m->prof[i].bwd_s += time_now() - t0;
            m->prof[i].calls[1]++;
        }
        if (m->bwd_hook) m->bwd_hook(m->bwd_hook_ctx, i);
    }
    return YOLOC_OK;
}

static const nn_layer *head(const model *m) { return &m->layers[m->nlayers - 1]; }

int model_raw_channels(const model *m) { return m->na ? 5 + m->nc : 4 * m->reg_max + m->nc; }

const float *model_raw_output(const model *m) {
    if (!m->planned) return NULL;
    return m->na ? detect_v5_raw_output(head(m)) : detect_raw_output(head(m));
}

const float *model_v5_decoded(const model *m) {
    return m->planned && m->na ? detect_v5_decoded(head(m)) : NULL;
}

const float *model_anchor_sizes(const model *m) { return m->na ? detect_v5_anchors(head(m), m) : NULL; }

status model_anchor_sizes_host(const model *m, float *dst) {
    const float *a = model_anchor_sizes(m);
    if (!a) return err_set(YOLOC_ERR_INVALID, "the model has no anchors (not a YOLOv5 head)");
    return model_to_host(m, dst, a, (size_t)m->nlevels * m->na * 2);
}

int model_na(const model *m) { return m->na; }

size_t model_freeze_layers(model *m, int k) {
    size_t n = 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        param_info *p = &m->tensors[t];
        if (p->buffer || p->layer >= k || p->group == PG_FROZEN) continue;
        p->group = PG_FROZEN;
        n++;
    }
    return n;
}

void model_set_reducer(model *m, ops_reducer r) { m->reducer = r; }
void model_set_bn_frozen(model *m, int on) { m->bn_frozen = on != 0; }
void model_set_bn_momentum(model *m, double momentum) {
    m->bn_momentum = momentum > 0 && momentum <= 1 ? (float)momentum : MODEL_BN_MOMENTUM;
}
double model_bn_momentum(const model *m) { return m->bn_momentum; }
void model_set_static_weights(model *m, int on) { m->static_gen = on ? ++m->gen_counter : 0; }

void model_set_backward_hook(model *m, void (*fn)(void *ctx, int layer), void *ctx) {
    m->bwd_hook = fn;
    m->bwd_hook_ctx = ctx;
}

void model_layer_param_range(const model *m, int layer, size_t *lo, size_t *hi) {
    *lo = (size_t)-1;
    *hi = 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const param_info *p = &m->tensors[t];
        if (p->buffer || p->layer != layer) continue;
        if (p->off < *lo) *lo = p->off;
        size_t end = p->off + ((p->numel + 15) & ~(size_t)15);
        if (end > *hi) *hi = end;
    }
    if (*hi == 0) *lo = 0;
}

status model_profile_enable(model *m, int on) {
    if (!on) {
        free(m->prof);
        m->prof = NULL;
        return YOLOC_OK;
    }
    if (m->prof) return YOLOC_OK;
    m->prof = calloc((size_t)(m->nlayers > 0 ? m->nlayers : 1), sizeof *m->prof);
    if (!m->prof) return err_set(YOLOC_ERR_NOMEM, "out of memory (profile counters)");
    return YOLOC_OK;
}

void model_profile_reset(model *m) {
    if (m->prof) memset(m->prof, 0, (size_t)m->nlayers * sizeof *m->prof);
}

const layer_prof *model_profile(const model *m) { return m->prof; }

status model_zero_grad(model *m) { return backend_zero(m->opt.be, m->bectx, m->grads, m->nparam_floats * sizeof(float)); }

/* ------------------------------------------------------------------------ */
/* Host copies of what lives in the backend's memory. */

status model_to_host(const model *m, float *dst, const float *src, size_t n) {
    return backend_to_host(m->opt.be, m->bectx, dst, src, n * sizeof(float));
}

status model_from_host(const model *m, float *dst, const float *src, size_t n) {
    return backend_from_host(m->opt.be, m->bectx, dst, src, n * sizeof(float));
}

status model_host_view(const model *m, const float *src, size_t n, float **out, int *owned) {
    *owned = 0;
    if (m->opt.be->host_memory) {
        *out = (float *)src;
        return YOLOC_OK;
    }
    float *h = malloc((n ? n : 1) * sizeof(float));
    if (!h) return err_set(YOLOC_ERR_NOMEM, "out of memory (a host copy of %zu floats)", n);
    status st = model_to_host(m, h, src, n);
    if (st < 0) {
        free(h);
        return st;
    }
    *out = h;
    *owned = 1;
    return YOLOC_OK;
}

void model_host_view_free(float *view, int owned) {
    if (owned) free(view);
}

status model_output_host(const model *m, const float **out) {
    *out = NULL;
    if (!m->planned || !m->out) return err_set(YOLOC_ERR_INVALID, "model_output_host: the model is not planned");
    const size_t n = (size_t)m->plan_n * m->anchors * m->out_channels;
    model_note_to_host(m, n * sizeof(float));
    if (!m->out_host) {
        *out = m->out;
        return YOLOC_OK;
    }
    TRY(model_to_host(m, m->out_host, m->out, n));
    *out = m->out_host;
    return YOLOC_OK;
}

float *model_head_grad(model *m) { return m->planned && m->plan_training ? m->head_grad : NULL; }

status model_backward_host(model *m, const float *dout_host) {
    float *g = model_head_grad(m);
    if (!g) return err_set(YOLOC_ERR_INVALID, "model_backward: needs a training plan and a forward pass first");
    const size_t n = (size_t)m->plan_n * m->anchors * model_raw_channels(m);
    m->traffic_to_backend += n * sizeof(float);
    if (dout_host != g) TRY(model_from_host(m, g, dout_host, n));
    return model_backward(m, g);
}

status model_raw_output_host(const model *m, const float **out) {
    *out = NULL;
    const float *raw = model_raw_output(m);
    if (!raw) return err_set(YOLOC_ERR_INVALID, "model_raw_output_host: the model is not planned");
    const size_t n = (size_t)m->plan_n * m->anchors * model_raw_channels(m);
    model_note_to_host(m, n * sizeof(float));
    if (!m->raw_host) { /* host memory: read in place */
        *out = raw;
        return YOLOC_OK;
    }
    TRY(model_to_host(m, m->raw_host, raw, n));
    *out = m->raw_host;
    return YOLOC_OK;
}

const model_spec *model_get_spec(const model *m) { return &m->spec; }
size_t model_num_tensors(const model *m) { return m->ntensors; }
const param_info *model_tensor(const model *m, size_t i) { return i < m->ntensors ? &m->tensors[i] : NULL; }
const param_info *model_find(const model *m, const char *name) {
    for (size_t i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}
float *model_tensor_data(model *m, const param_info *p) { return (p->buffer ? m->bufs : m->params) + p->off; }
float *model_tensor_grad(model *m, const param_info *p) { return p->buffer ? NULL : m->grads + p->off; }
float *model_params(model *m) { return m->params; }
float *model_grads(model *m) { return m->grads; }
float *model_bufs(model *m) { return m->bufs; }
size_t model_num_params(const model *m) { return m->nparam_floats; }
size_t model_num_bufs(const model *m) { return m->nbuf_floats; }
int64_t model_bn_batches(const model *m) { return m->bn_batches; }
void model_set_bn_batches(model *m, int64_t n) { m->bn_batches = n; }
int model_nc(const model *m) { return m->nc; }
int model_reg_max(const model *m) { return m->reg_max; }
int model_nlevels(const model *m) { return m->nlevels; }
int model_stride(const model *m, int level) { return m->strides[level]; }
int model_anchors(const model *m) { return m->anchors; }
void model_level_shape(const model *m, int level, int *h, int *w) {
    *h = m->level_h[level];
    *w = m->level_w[level];
}
int model_out_channels(const model *m) { return m->out_channels; }
int model_planned_batch(const model *m) { return m->plan_n; }
backend model_backend(const model *m) { return m->opt.be; }

void model_traffic_get(const model *m, model_traffic *out) {
    out->to_backend = m->traffic_to_backend;
    out->to_host = m->traffic_to_host;
}
void model_traffic_reset(model *m) { m->traffic_to_backend = m->traffic_to_host = 0; }
/* The counter is bookkeeping, not the model's state: it counts through a
 * const model too (the loss holds one). */
void model_note_to_host(const model *m, size_t bytes) { ((model *)m)->traffic_to_host += bytes; }
void model_note_to_backend(const model *m, size_t bytes) { ((model *)m)->traffic_to_backend += bytes; }
void *model_backend_ctx(const model *m) { return m->bectx; }

static void fmt_thousands(char *buf, size_t cap, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v), o = 0;
    for (int i = 0; i < n && o + 2 < (int)cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

status model_print_info(model *m, FILE *f, int imgsz) {
    double flops, unfused;
    TRY(model_flops(m, imgsz, imgsz, &flops, &unfused));
    fprintf(f, "%4s %18s %3s %10s  %-14s %-28s %s\n", "", "from", "n", "params", "module", "arguments",
            "output");
    size_t total = 0, trainable = 0;
    for (size_t t = 0; t < m->ntensors; t++)
        if (!m->tensors[t].buffer) {
            total += m->tensors[t].numel;
            if (m->tensors[t].group != PG_FROZEN) trainable += m->tensors[t].numel;
        }
    for (int i = 0; i < m->nlayers; i++) {
        const nn_layer *L = &m->layers[i];
        const layer_spec *ls = L->spec;
        char from[64] = "", shape[64], np[32];
        if (ls->nfrom == 1) snprintf(from, sizeof from, "%d", ls->from_raw[0]);
        else {
            int o = snprintf(from, sizeof from, "[");
            for (int k = 0; k < ls->nfrom; k++)
                o += snprintf(from + o, sizeof from - (size_t)o, k ? ", %d" : "%d", ls->from_raw[k]);
            snprintf(from + o, sizeof from - (size_t)o, "]");
        }
        if (mod_is_detect(ls->kind)) snprintf(shape, sizeof shape, "[1, %d, %d]", L->c, L->w);
        else snprintf(shape, sizeof shape, "[1, %d, %d, %d]", L->c, L->h, L->w);
        fmt_thousands(np, sizeof np, L->nparams);
        fprintf(f, "%4d %18s %3d %10s  %-14s %-28s %s\n", i, from, ls->repeats, np, mod_kind_name(ls->kind),
                ls->args, shape);
    }
    char tot[32], tr[32];
    fmt_thousands(tot, sizeof tot, total);
    fmt_thousands(tr, sizeof tr, trainable);
    char sname[128];
    snprintf(sname, sizeof sname, "%s", m->spec.name);
    char *dot = strrchr(sname, '.');
    if (dot) *dot = 0;
    fprintf(f, "%s summary: %d layers, %s parameters, %s gradients, %.1f GFLOPs at %dx%d (%.1f with BatchNorm "
            "folded)\n", sname, m->nlayers, tot, tr, unfused / 1e9, imgsz, imgsz, flops / 1e9);
    return YOLOC_OK;
}
