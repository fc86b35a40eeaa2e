/* Exponential moving average of the model (Ultralytics ModelEMA, RECIPE 2.8).
 *
 * After every optimizer step: updates += 1, d = decay*(1 - exp(-updates/tau))
 * (decay 0.9999, tau 2000 by default), then for every float of the
 * parameter AND BatchNorm running-statistic buffers
 *     ema = d*ema + (1 - d)*model
 * computed in float with d and 1-d rounded to float, as PyTorch does on a
 * float32 state_dict. Frozen parameters are averaged too (Ultralytics
 * averages every floating-point state_dict entry); the integer
 * num_batches_tracked is not this module's business. The padding floats of
 * the flat buffers are averaged as well and stay zero while the model's do.
 *
 * The EMA owns two flat buffers with the model's layout, in the memory of
 * the model's backend; a checkpoint stores them with `updates`. Each update
 * is one element-wise pass per buffer on that backend (ops.h ema_blend), so
 * the result does not depend on the thread count. ema_init_buffers copies
 * host arrays onto the default backend (tests, other owners). */
#ifndef YOLOC_TRAIN_EMA_H
#define YOLOC_TRAIN_EMA_H

#include "core/status.h"
#include "nn/model.h"
#include "ops/ops.h"

#include <stddef.h>

typedef struct {
    backend be;    /* where the averages live and blend (the model's backend) */
    void *bectx;
    float *params; /* nparams floats, the model's parameter layout */
    float *bufs;   /* nbufs floats, the model's buffer layout (NULL when 0) */
    size_t nparams, nbufs;
    long updates; /* optimizer steps averaged so far */
    double decay; /* asymptotic decay (0.9999) */
    double tau;   /* ramp in updates (2000) */
} ema;

/* Copies the model's parameters and buffers (updates = 0). decay <= 0 or
 * tau <= 0 select the defaults 0.9999 and 2000. YOLOC_ERR_INVALID naming
 * ema_decay when decay >= 1; YOLOC_ERR_NOMEM (e is then safe to free). */
status ema_init(ema *e, model *m, double decay, double tau);
/* Same from raw flat buffers (copied). */
status ema_init_buffers(ema *e, const float *params, size_t nparams, const float *bufs,
                        size_t nbufs, double decay, double tau);
void ema_free(ema *e);

/* d(updates) = decay*(1 - exp(-updates/tau)). */
double ema_decay_at(const ema *e, long updates);
/* One update from the model's current buffers (same sizes as at init):
 * updates += 1, then the average with d(updates). */
void ema_update(ema *e, const float *params, const float *bufs);

#endif
