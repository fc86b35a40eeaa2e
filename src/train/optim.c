/* Optimizers and gradient utilities over the flat buffers (see optim.h).
 *
 * Scalars of a step (lr, decay factors, bias corrections) are computed once
 * in double and cast to float; the element-wise updates then run in float
 * on the model's backend (its multi-tensor ops, ops.h) like PyTorch's CPU
 * kernels, in the same order of operations as torch.optim
 * 1.13 (so results agree to float rounding, not bit for bit: ATen may fuse
 * multiply-adds where -std=c11 here does not). */
#include "train/optim.h"

#include "ops/backend.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *optim_kind_name(optim_kind kind) {
    switch (kind) {
#define OPTIM_KIND_NAME(e, s)                                                                      \
    case OPTIM_##e:                                                                                \
        return s;
        OPTIM_KIND_MAP(OPTIM_KIND_NAME)
#undef OPTIM_KIND_NAME
    default:
        return "unknown";
    }
}

status optim_kind_parse(const char *name, optim_kind *kind, int *is_auto) {
    static const char *const unsupported[] = {"Adamax", "NAdam", "RAdam", "RMSProp", "MuSGD"};
    *is_auto = 0;
    if (!name) return err_set(YOLOC_ERR_INVALID, "optimizer: missing value");
    if (strcasecmp(name, "auto") == 0) {
        *is_auto = 1;
        return YOLOC_OK;
    }
    for (int k = 0; k < OPTIM_KIND_COUNT; k++)
        if (strcasecmp(name, optim_kind_name((optim_kind)k)) == 0) {
            *kind = (optim_kind)k;
            return YOLOC_OK;
        }
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (strcasecmp(name, unsupported[i]) == 0)
            return err_set(
                YOLOC_ERR_UNSUPPORTED,
                "optimizer=%s is not implemented in yoloc (use SGD, AdamW, Adam or auto)", name);
    return err_set(YOLOC_ERR_INVALID,
                   "optimizer=%s is not an optimizer (expected SGD, AdamW, Adam or auto)", name);
}

/* ------------------------------------------------------------------------ */
/* Layout: trainable tensors -> per-group chunk lists. */

typedef struct {
    size_t off, len;
    int group;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The group Ultralytics' build_optimizer would put a tensor in (for the
 * log counts): frozen tensors keep their place there, by name and rank. */
static int log_group(const param_info *t) {
    if (t->group != PG_FROZEN) return t->group;
    if (strstr(t->name, "bias")) return PG_BIAS;
    return t->ndim == 1 ? PG_NORM : PG_WEIGHT;
}

static status optim_init_on(optim *o, optim_kind kind, backend be, void *bectx, const param_info *tensors,
                            size_t ntensors, size_t nparams) {
    memset(o, 0, sizeof *o);
    o->be = be;
    o->bectx = bectx;
    if ((int)kind < 0 || kind >= OPTIM_KIND_COUNT)
        return err_set(YOLOC_ERR_INVALID, "optimizer: unknown kind %d", (int)kind);
    o->kind = kind;
    o->nesterov = 1;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->nparams = nparams;

    span *sp = malloc((ntensors ? ntensors : 1) * sizeof *sp);
    if (!sp) return err_set(YOLOC_ERR_NOMEM, "optimizer: out of memory");
    size_t ns = 0, nchunks = 0;
    status st = YOLOC_OK;
    for (size_t i = 0; i < ntensors; i++) {
        const param_info *t = &tensors[i];
        if (t->buffer) continue;
        if (t->off > nparams || t->numel > nparams - t->off) {
            st = err_set(YOLOC_ERR_INVALID,
                         "optimizer: tensor %s [%zu, %zu) lies outside the %zu-float buffer",
                         t->name, t->off, t->off + t->numel, nparams);
            goto fail;
        }
        if (t->group < PG_BIAS || t->group > PG_FROZEN) {
            st = err_set(YOLOC_ERR_INVALID, "optimizer: tensor %s has unknown group %d", t->name,
                         t->group);
            goto fail;
        }
        o->log_count[log_group(t)]++;
        if (t->group != PG_FROZEN) {
            o->ntensors[t->group]++;
            o->numel[t->group] += t->numel;
        }
        if (t->numel == 0) continue;
        sp[ns++] = (span){t->off, t->numel, t->group, t->name};
        /* an upper bound: merging runs never needs more chunks */
        if (t->group != PG_FROZEN) nchunks += (t->numel + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
    }
    qsort(sp, ns, sizeof *sp, span_cmp);
    for (size_t i = 1; i < ns; i++)
        if (sp[i].off < sp[i - 1].off + sp[i - 1].len) {
            st = err_set(YOLOC_ERR_INVALID, "optimizer: tensors %s and %s overlap", sp[i - 1].name,
                         sp[i].name);
            goto fail;
        }

    o->chunks = malloc((nchunks ? nchunks : 1) * sizeof *o->chunks);
    if (!o->chunks) {
        st = err_set(YOLOC_ERR_NOMEM, "optimizer: out of memory");
        goto fail;
    }
    void *pa = NULL;
    if ((st = backend_alloc(be, bectx, (nchunks ? nchunks : 1) * sizeof *o->partials, &pa)) < 0) goto fail;
    o->partials = pa;
    if (!(o->m = backend_alloc_floats(be, bectx, nparams, &st))) goto fail;
    if (kind != OPTIM_SGD && !(o->v = backend_alloc_floats(be, bectx, nparams, &st))) goto fail;

    /* Per group, in offset order: runs of tensors that follow each other in
     * memory with no other tensor or padding between them, cut into chunks
     * of at most OPTIM_CHUNK floats. */
    size_t k = 0;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        o->group_start[g] = k;
        size_t run_off = 0, run_len = 0;
        for (size_t i = 0; i <= ns; i++) {
            int in = i < ns && sp[i].group == g;
            if (in && run_len && sp[i - 1].group == g && run_off + run_len == sp[i].off) {
                run_len += sp[i].len;
                continue;
            }
            if (!in && i < ns) continue; /* another group's tensor: ends no run by itself */
            for (size_t c = 0; c < run_len; c += OPTIM_CHUNK) {
                size_t len = run_len - c < OPTIM_CHUNK ? run_len - c : OPTIM_CHUNK;
                o->chunks[k++] = (optim_chunk){run_off + c, len};
            }
            run_off = in ? sp[i].off : 0;
            run_len = in ? sp[i].len : 0;
        }
    }
    o->group_start[OPTIM_NGROUPS] = k;
    YOLOC_ASSERT(k <= nchunks);
    free(sp);
    return YOLOC_OK;
fail:
    free(sp);
    optim_free(o);
    return st;
}

status optim_init_layout(optim *o, optim_kind kind, const param_info *tensors, size_t ntensors,
                         size_t nparams) {
    return optim_init_on(o, kind, backend_default(), NULL, tensors, ntensors, nparams);
}

status optim_init(optim *o, optim_kind kind, const model *m) {
    size_t nt = model_num_tensors(m);
    param_info *ts = malloc((nt ? nt : 1) * sizeof *ts);
    if (!ts) return err_set(YOLOC_ERR_NOMEM, "optimizer: out of memory");
    for (size_t i = 0; i < nt; i++) ts[i] = *model_tensor(m, i);
    status st = optim_init_on(o, kind, model_backend(m), model_backend_ctx(m), ts, nt, model_num_params(m));
    free(ts);
    return st;
}

void optim_free(optim *o) {
    if (!o) return;
    free(o->chunks);
    if (o->be) {
        backend_free(o->be, o->bectx, o->partials);
        backend_free(o->be, o->bectx, o->m);
        backend_free(o->be, o->bectx, o->v);
    }
    memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------------------ */
/* Steps: one parallel pass over a group's chunks. */

static size_t group_nchunks(const optim *o, int g) {
    return o->group_start[g + 1] - o->group_start[g];
}

/* One group's update through the backend: the step's scalars here, in
 * double then cast to float, the element-wise work there. */
static void sgd_group(const optim *o, int g, float *p, const float *gr, float *b, const optim_group_hp *hp) {
    const ops_sgd_hp h = {(float)hp->lr, (float)hp->momentum, (float)hp->weight_decay, o->nesterov};
    backend_sgd_update(o->be, o->chunks + o->group_start[g], group_nchunks(o, g), o->numel[g], p, gr, b, &h);
}

static void adam_group(const optim *o, int g, float *p, const float *gr, float *m, float *v, const optim_group_hp *hp) {
    const double t = (double)o->step;
    const double bc1 = 1.0 - pow(hp->momentum, t), bc2 = 1.0 - pow(o->beta2, t);
    const int decoupled = o->kind == OPTIM_ADAMW;
    /* AdamW: theta *= 1 - lr*wd; Adam: g += wd*theta */
    const ops_adam_hp h = {.shrink = decoupled ? (float)(1.0 - hp->lr * hp->weight_decay) : 1.0f,
                           .l2 = decoupled ? 0.0f : (float)hp->weight_decay,
                           .b1 = (float)hp->momentum,
                           .omb1 = (float)(1.0 - hp->momentum),
                           .b2 = (float)o->beta2,
                           .omb2 = (float)(1.0 - o->beta2),
                           .step_size = (float)(hp->lr / bc1),
                           .bc2_sqrt = (float)sqrt(bc2),
                           .eps = (float)o->eps};
    backend_adam_update(o->be, o->chunks + o->group_start[g], group_nchunks(o, g), o->numel[g], p, gr, m, v, &h);
}

static const char *const GROUP_NAMES[OPTIM_NGROUPS] = {"pg0 (bias)", "pg1 (weight)", "pg2 (norm)"};

status optim_step(optim *o, float *params, const float *grads, const optim_group_hp hp[3]) {
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const optim_group_hp *h = &hp[g];
        if (!isfinite(h->lr) || h->lr < 0)
            return err_set(YOLOC_ERR_INVALID,
                           "optimizer group %s: lr=%g must be finite and >= 0 (check lr0, lrf)",
                           GROUP_NAMES[g], h->lr);
        if (!isfinite(h->weight_decay) || h->weight_decay < 0)
            return err_set(YOLOC_ERR_INVALID,
                           "optimizer group %s: weight_decay=%g must be finite and >= 0",
                           GROUP_NAMES[g], h->weight_decay);
        if (!isfinite(h->momentum) || h->momentum < 0 || (o->kind != OPTIM_SGD && h->momentum >= 1))
            return err_set(YOLOC_ERR_INVALID, "optimizer group %s: momentum=%g must be in [0, 1)%s",
                           GROUP_NAMES[g], h->momentum,
                           o->kind != OPTIM_SGD ? " (it is Adam's beta1)" : "");
    }
    o->step++;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        if (o->kind == OPTIM_SGD)
            sgd_group(o, g, params, grads, o->m, &hp[g]);
        else
            adam_group(o, g, params, grads, o->m, o->v, &hp[g]);
    }
    return YOLOC_OK;
}

int optim_state(optim *o, optim_state_view out[OPTIM_MAX_STATE]) {
    int n = 0;
    out[n++] = (optim_state_view){"optim.m", o->m, o->nparams};
    if (o->v) out[n++] = (optim_state_view){"optim.v", o->v, o->nparams};
    return n;
}

/* ------------------------------------------------------------------------ */
/* Log lines. */

/* x as Python's repr(float) prints it: the shortest digits that read back
 * to x, fixed notation for 1e-4 <= |x| < 1e16 (with ".0" when integral),
 * else d.ddde-XX. */
static void fmt_pyfloat(double x, char *buf, size_t cap) {
    if (isnan(x)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, cap, "%sinf", x < 0 ? "-" : "");
        return;
    }
    if (x == 0) {
        snprintf(buf, cap, "%s0.0", signbit(x) ? "-" : "");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    /* tmp = [-]d[.ddd]e(+|-)XX */
    const char *s = tmp;
    int neg = *s == '-';
    if (neg) s++;
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (isdigit((unsigned char)*s)) digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int e = atoi(s + 1);
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            out[k++] = '0';
            out[k++] = '.';
            for (int i = 0; i < -e - 1; i++) out[k++] = '0';
            for (int i = 0; i < nd; i++) out[k++] = digits[i];
        } else {
            for (int i = 0; i <= e; i++) out[k++] = i < nd ? digits[i] : '0';
            out[k++] = '.';
            if (nd > e + 1)
                for (int i = e + 1; i < nd; i++) out[k++] = digits[i];
            else
                out[k++] = '0';
        }
        out[k] = 0;
    } else {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int i = 1; i < nd; i++) out[k++] = digits[i];
        }
        snprintf(out + k, sizeof out - k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(buf, cap, "%s", out);
}

/* n with thousands separators: 1500 -> "1,500". */
static void fmt_thousands(long n, char *buf, size_t cap) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", n < 0 ? -n : n);
    size_t len = strlen(tmp), k = 0;
    char out[48];
    if (n < 0) out[k++] = '-';
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[k++] = ',';
        out[k++] = tmp[i];
    }
    out[k] = 0;
    snprintf(buf, cap, "%s", out);
}

void optim_describe(const optim *o, double lr, double momentum, double weight_decay, char *buf,
                    size_t cap) {
    char slr[32], smom[32], swd[32];
    fmt_pyfloat(lr, slr, sizeof slr);
    fmt_pyfloat(momentum, smom, sizeof smom);
    fmt_pyfloat(weight_decay, swd, sizeof swd);
    snprintf(buf, cap,
             "%s(lr=%s, momentum=%s%s) with parameter groups %zu weight(decay=0.0), %zu "
             "weight(decay=%s), %zu bias(decay=0.0)",
             optim_kind_name(o->kind), slr, smom,
             o->kind == OPTIM_SGD && o->nesterov ? ", nesterov" : "", o->log_count[PG_NORM],
             o->log_count[PG_WEIGHT], swd, o->log_count[PG_BIAS]);
}

long optim_auto_iterations(long n_images, int batch, int nbs, int epochs) {
    long div = batch > nbs ? batch : nbs;
    if (div < 1) div = 1;
    return (n_images + div - 1) / div * (long)epochs;
}

void optim_auto(int nc, long iterations, optim_auto_choice *out) {
    memset(out, 0, sizeof *out);
    if (nc < 1) nc = 10; /* Ultralytics: self.data.get("nc", 10) */
    /* round(0.002 * 5 / (4 + nc), 6): printf's %.6f rounds the exact binary
     * value half-to-even like Python's round(x, 6) */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.6f", 0.002 * 5 / (4 + nc));
    double lr_fit = strtod(tmp, NULL);
    if (iterations > 10000) {
        out->kind = OPTIM_SGD;
        out->lr = 0.01;
    } else {
        out->kind = OPTIM_ADAMW;
        out->lr = lr_fit;
    }
    out->momentum = 0.9;
    out->warmup_bias_lr = 0.0;
    char sit[32], slr[32];
    fmt_thousands(iterations, sit, sizeof sit);
    fmt_pyfloat(out->lr, slr, sizeof slr);
    snprintf(out->reason, sizeof out->reason,
             "optimizer=auto: %s iterations %s 10,000, so %s(lr=%s, momentum=0.9) as Ultralytics "
             "does; lr0 and momentum are ignored and warmup_bias_lr=0.0",
             sit, iterations > 10000 ? ">" : "<=", optim_kind_name(out->kind), slr);
}

/* ------------------------------------------------------------------------ */
/* Gradient utilities. */

static size_t grad_numel(const optim *o) { return o->numel[0] + o->numel[1] + o->numel[2]; }

double grad_global_norm(const optim *o, const float *grads) {
    return sqrt(backend_chunk_sumsq(o->be, o->chunks, o->group_start[OPTIM_NGROUPS], grad_numel(o), grads,
                                    o->partials));
}

void grad_scale(const optim *o, float *grads, float factor) {
    backend_chunk_scale(o->be, o->chunks, o->group_start[OPTIM_NGROUPS], grad_numel(o), grads, factor);
}

double grad_clip(const optim *o, float *grads, double max_norm) {
    double total = grad_global_norm(o, grads);
    if (!isfinite(total)) return total;
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) grad_scale(o, grads, (float)coef);
    return total;
}

int grad_all_finite(const optim *o, const float *grads) {
    return backend_chunk_all_finite(o->be, o->chunks, o->group_start[OPTIM_NGROUPS], grad_numel(o), grads);
}
