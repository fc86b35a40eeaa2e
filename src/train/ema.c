/* Model EMA over the flat buffers (see ema.h). */
#include "train/ema.h"

#include "ops/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static status ema_init_on(ema *e, backend be, void *bectx, const float *params, size_t nparams, const float *bufs,
                          size_t nbufs, double decay, double tau) {
    memset(e, 0, sizeof *e);
    e->be = be;
    e->bectx = bectx;
    e->decay = decay > 0 ? decay : 0.9999;
    e->tau = tau > 0 ? tau : 2000.0;
    if (!(e->decay < 1) || !isfinite(e->tau))
        return err_set(YOLOC_ERR_INVALID, "ema_decay=%g must be in (0, 1) and tau=%g finite",
                       e->decay, e->tau);
    e->nparams = nparams;
    e->nbufs = nbufs;
    status st = YOLOC_OK;
    if (!(e->params = backend_alloc_floats(be, bectx, nparams, &st)) ||
        (nbufs && !(e->bufs = backend_alloc_floats(be, bectx, nbufs, &st)))) {
        ema_free(e);
        return err_prefix(st, "ema: %zu floats", nparams + nbufs);
    }
    /* params and bufs are on the same backend (the model's), or host arrays
     * for the default (host) backend */
    if (nparams) st = backend_copy(be, bectx, e->params, params, nparams * sizeof *e->params);
    if (st == YOLOC_OK && nbufs) st = backend_copy(be, bectx, e->bufs, bufs, nbufs * sizeof *e->bufs);
    if (st < 0) ema_free(e);
    return st;
}

status ema_init_buffers(ema *e, const float *params, size_t nparams, const float *bufs, size_t nbufs, double decay,
                        double tau) {
    return ema_init_on(e, backend_default(), NULL, params, nparams, bufs, nbufs, decay, tau);
}

status ema_init(ema *e, model *m, double decay, double tau) {
    return ema_init_on(e, model_backend(m), model_backend_ctx(m), model_params(m), model_num_params(m), model_bufs(m),
                       model_num_bufs(m), decay, tau);
}

void ema_free(ema *e) {
    if (!e) return;
    if (e->be) {
        backend_free(e->be, e->bectx, e->params);
        backend_free(e->be, e->bectx, e->bufs);
    }
    memset(e, 0, sizeof *e);
}

double ema_decay_at(const ema *e, long updates) {
    return e->decay * (1.0 - exp(-(double)updates / e->tau));
}

void ema_update(ema *e, const float *params, const float *bufs) {
    e->updates++;
    const double d = ema_decay_at(e, e->updates);
    const float df = (float)d, omd = (float)(1.0 - d);
    backend_ema_blend(e->be, e->nparams, e->params, params, df, omd);
    if (e->nbufs) backend_ema_blend(e->be, e->nbufs, e->bufs, bufs, df, omd);
}
