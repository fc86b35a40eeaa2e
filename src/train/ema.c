/* Model EMA over the flat buffers (see ema.h). */
#include "core/cpu.h"
#include "train/ema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many floats a pass runs on one thread. */
#define EMA_PAR_MIN 32768

status ema_init_buffers(ema *e, const float *params, size_t nparams, const float *bufs,
                        size_t nbufs, double decay, double tau) {
    memset(e, 0, sizeof *e);
    e->decay = decay > 0 ? decay : 0.9999;
    e->tau = tau > 0 ? tau : 2000.0;
    if (!(e->decay < 1) || !isfinite(e->tau))
        return err_set(YOLOC_ERR_INVALID, "ema_decay=%g must be in (0, 1) and tau=%g finite",
                       e->decay, e->tau);
    e->nparams = nparams;
    e->nbufs = nbufs;
    e->params = malloc((nparams ? nparams : 1) * sizeof *e->params);
    if (nbufs) e->bufs = malloc(nbufs * sizeof *e->bufs);
    if (!e->params || (nbufs && !e->bufs)) {
        ema_free(e);
        return err_set(YOLOC_ERR_NOMEM, "ema: out of memory for %zu floats", nparams + nbufs);
    }
    if (nparams) memcpy(e->params, params, nparams * sizeof *e->params);
    if (nbufs) memcpy(e->bufs, bufs, nbufs * sizeof *e->bufs);
    return YOLOC_OK;
}

status ema_init(ema *e, model *m, double decay, double tau) {
    return ema_init_buffers(e, model_params(m), model_num_params(m), model_bufs(m),
                            model_num_bufs(m), decay, tau);
}

void ema_free(ema *e) {
    if (!e) return;
    free(e->params);
    free(e->bufs);
    memset(e, 0, sizeof *e);
}

double ema_decay_at(const ema *e, long updates) {
    return e->decay * (1.0 - exp(-(double)updates / e->tau));
}

/* x = d*x + (1-d)*y over n floats, in PyTorch's order: (x*d) + ((1-d)*y). */
YOLOC_HOT static void ema_blend(float *restrict x, const float *restrict y, size_t n, float d, float omd) {
#pragma omp parallel for simd schedule(static) if (n > EMA_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = x[i] * d + omd * y[i];
}

void ema_update(ema *e, const float *params, const float *bufs) {
    e->updates++;
    const double d = ema_decay_at(e, e->updates);
    const float df = (float)d, omd = (float)(1.0 - d);
    ema_blend(e->params, params, e->nparams, df, omd);
    if (e->nbufs) ema_blend(e->bufs, bufs, e->nbufs, df, omd);
}
