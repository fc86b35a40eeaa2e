/* Optimizers (SGD with momentum/Nesterov, AdamW, Adam) and gradient
 * utilities over the model's flat parameter and gradient buffers.
 *
 * Semantics are PyTorch's torch.optim (RECIPE 10) as Ultralytics 8.3 builds
 * them (RECIPE 2.5):
 *   SGD   g <- grad + wd*theta;  b <- mu*b + g (b = g at the first step with
 *         mu != 0);  Nesterov: g <- g + mu*b, else g <- b;  theta -= lr*g.
 *         With mu = 0 the buffer is left alone and g is used as is.
 *   AdamW theta *= 1 - lr*wd (decoupled decay); then Adam without decay.
 *   Adam  g <- grad + wd*theta (L2); m <- b1*m + (1-b1)*g;
 *         v <- b2*v + (1-b2)*g^2;  theta -= lr/(1-b1^t) * m/(sqrt(v)/sqrt(1-b2^t) + eps)
 *         with b1 = this step's `momentum` (Ultralytics passes
 *         betas=(momentum, 0.999)), b2 = 0.999, eps = 1e-8, t = steps taken.
 * Dampening, amsgrad, maximize and the other Ultralytics optimizers
 * (Adamax, NAdam, RAdam, RMSProp) are left out.
 *
 * Parameter groups are the model's: pg0 = biases (no decay), pg1 = weights
 * (decay), pg2 = norm weights (no decay); PG_FROZEN tensors and the padding
 * floats between tensors are never read nor written. Every step takes each
 * group's lr, momentum and weight decay afresh (the schedule changes them
 * every step). The state (SGD momentum buffer, or Adam's m and v) lives in
 * flat arrays of the parameter layout, so a checkpoint stores them like
 * parameters.
 *
 * The element-wise work runs on the model's backend (ops/backend.h
 * multi-tensor ops), where the state lives. Kernels run over a precomputed
 * list of chunks (at most OPTIM_CHUNK floats
 * of one tensor run of one group), one OpenMP-parallel pass per group.
 * Element-wise updates do not depend on the thread count; reductions (the
 * gradient norm) sum per-chunk partials in double, in chunk order, so they do
 * not either. */
#ifndef YOLOC_TRAIN_OPTIM_H
#define YOLOC_TRAIN_OPTIM_H

#include "core/status.h"
#include "nn/model.h"
#include "ops/ops.h"

#include <stddef.h>

/* X(enum suffix, name as Ultralytics spells it) */
#define OPTIM_KIND_MAP(X)                                                                          \
    X(SGD, "SGD")                                                                                  \
    X(ADAMW, "AdamW")                                                                              \
    X(ADAM, "Adam")

typedef enum {
#define OPTIM_KIND_ENUM(e, s) OPTIM_##e,
    OPTIM_KIND_MAP(OPTIM_KIND_ENUM)
#undef OPTIM_KIND_ENUM
        OPTIM_KIND_COUNT
} optim_kind;

#define OPTIM_NGROUPS 3
/* Floats per chunk: a unit of parallel work and of the norm's partial sums. */
#define OPTIM_CHUNK     16384
#define OPTIM_MAX_STATE 2

/* One group's hyperparameters for one step. */
typedef struct {
    double lr;           /* >= 0 */
    double momentum;     /* SGD momentum mu (>= 0) / Adam beta1 (in [0, 1)) */
    double weight_decay; /* >= 0; SGD/Adam: L2 added to the gradient; AdamW: decoupled */
} optim_group_hp;

/* A run of floats [off, off + len) of one group (the backend's multi-tensor
 * ops take lists of them). */
typedef ops_chunk optim_chunk;

typedef struct {
    backend be;        /* where the state lives and the updates run (the model's) */
    void *bectx;
    optim_kind kind;
    int nesterov;      /* SGD only; 1 (Ultralytics' choice) after optim_init */
    double beta2, eps; /* Adam family: 0.999 and 1e-8 after optim_init */
    size_t nparams;    /* floats in the params/grads buffers (padding included) */
    /* Chunks of group g: chunks[group_start[g] .. group_start[g+1]). */
    optim_chunk *chunks;
    size_t group_start[OPTIM_NGROUPS + 1];
    double *partials;               /* one per chunk: scratch of the reductions (backend memory) */
    size_t ntensors[OPTIM_NGROUPS]; /* trainable tensors per group */
    size_t numel[OPTIM_NGROUPS];    /* trainable floats per group */
    /* Tensors per group as Ultralytics counts them for its log line: frozen
     * tensors included ("bias" in the name -> pg0, 1-d -> pg2, else pg1). */
    size_t log_count[OPTIM_NGROUPS];
    /* State in backend memory, nparams floats each, zero at init: m is the
     * SGD momentum buffer or Adam's first moment; v is Adam's second moment
     * (NULL for SGD). */
    float *m, *v;
    long step; /* optimizer steps taken (Adam's bias correction) */
} optim;

/* Name of a kind ("SGD", "AdamW", "Adam"). */
const char *optim_kind_name(optim_kind kind);
/* Parses the `optimizer` key, case-insensitive as Ultralytics: "SGD",
 * "AdamW", "Adam", or "auto" (then *is_auto = 1 and *kind is untouched; call
 * optim_auto). Other Ultralytics optimizers are YOLOC_ERR_UNSUPPORTED,
 * anything else YOLOC_ERR_INVALID; both messages name the key. */
status optim_kind_parse(const char *name, optim_kind *kind, int *is_auto);

/* Builds an optimizer for a model's parameters: group membership from each
 * tensor's param_info, state buffers allocated (zero) on the model's
 * backend, step = 0. The model is only read here; it is not kept. Returns
 * YOLOC_ERR_NOMEM on allocation failure (o is then safe to free). */
status optim_init(optim *o, optim_kind kind, const model *m);
/* Same over an explicit layout (tests, other owners of flat buffers) on the
 * default backend (host memory): tensors with buffer = 1 are skipped; every
 * other tensor must lie inside [0, nparams) and not overlap another
 * (YOLOC_ERR_INVALID naming it). */
status optim_init_layout(optim *o, optim_kind kind, const param_info *tensors, size_t ntensors,
                         size_t nparams);
void optim_free(optim *o);

/* One optimizer step: updates params (nparams floats) in place from grads
 * (same layout, read only) with hp[g] for group g = 0, 1, 2, and increments
 * o->step first (so Adam's t is 1 at the first step). Only trainable tensor
 * floats are touched. An hp outside its range (negative or non-finite lr or
 * weight decay; momentum < 0, or >= 1 for the Adam family) is
 * YOLOC_ERR_INVALID naming the group and key; nothing is changed then. */
status optim_step(optim *o, float *params, const float *grads, const optim_group_hp hp[3]);

/* Checkpoint state: views of the state arrays ("optim.m", and "optim.v" for
 * the Adam family), each nparams floats in the parameter layout, written to
 * out[]; returns how many. Restoring = copying into the views and setting
 * o->step ("optim.step"). */
typedef struct {
    const char *name;
    float *data;
    size_t n;
} optim_state_view;
int optim_state(optim *o, optim_state_view out[OPTIM_MAX_STATE]);

/* The start-up log line, Ultralytics' wording plus ", nesterov" for SGD:
 * "SGD(lr=0.01, momentum=0.937, nesterov) with parameter groups 57
 * weight(decay=0.0), 64 weight(decay=0.0005), 63 bias(decay=0.0)". lr and
 * momentum are the construction values, weight_decay the (scaled) decay of
 * pg1; numbers print as Python's repr. Counts are log_count (frozen tensors
 * counted like Ultralytics does). Truncated to cap. */
void optim_describe(const optim *o, double lr, double momentum, double weight_decay, char *buf,
                    size_t cap);

/* Ultralytics' optimizer=auto (classic 8.3, RECIPE 2.5). */
typedef struct {
    optim_kind kind;       /* SGD if iterations > 10000, else AdamW */
    double lr;             /* 0.01, or round(0.002*5/(4+nc), 6) for AdamW */
    double momentum;       /* 0.9 */
    double warmup_bias_lr; /* 0.0: auto always overrides warmup_bias_lr */
    char reason[256];      /* one line for the log, see optim_auto */
} optim_auto_choice;

/* Iterations as Ultralytics counts them for the auto rule:
 * ceil(n_images / max(batch, nbs)) * epochs. */
long optim_auto_iterations(long n_images, int batch, int nbs, int epochs);
/* Fills out for nc classes and `iterations`; reason reads e.g.
 * "optimizer=auto: 1,500 iterations <= 10,000, so AdamW(lr=0.000714,
 * momentum=0.9) as Ultralytics does; lr0 and momentum are ignored and
 * warmup_bias_lr=0.0". nc < 1 uses Ultralytics' fallback 10. */
void optim_auto(int nc, long iterations, optim_auto_choice *out);

/* Gradient utilities over the trainable floats of the optimizer's layout
 * (groups 0-2; frozen tensors and padding ignored). They use o->partials as
 * scratch, so one optim must not run two of them at once. */

/* L2 norm of all trainable gradients, accumulated in double; the same value
 * for any thread count. */
double grad_global_norm(const optim *o, const float *grads);
/* torch.nn.utils.clip_grad_norm_: total = grad_global_norm; coef =
 * max_norm/(total + 1e-6); if coef < 1 every gradient is multiplied by
 * (float)coef (i.e. it clips when total > max_norm - 1e-6). A non-finite
 * total leaves the gradients alone (the trainer skips such a step).
 * Returns the total norm before clipping. */
double grad_clip(const optim *o, float *grads, double max_norm);
/* 1 when every trainable gradient is finite. */
int grad_all_finite(const optim *o, const float *grads);
/* Multiplies every trainable gradient by factor (e.g. 1/accumulate). */
void grad_scale(const optim *o, float *grads, float factor);

#endif
