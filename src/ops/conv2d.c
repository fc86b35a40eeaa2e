/* conv2d descriptor helpers (output size, validation, FLOPs) and the
 * per-layer dispatcher conv2d_op that sends each call to its backend's
 * table (ops/backend.h).
 *
 * Leaves out: the kernels themselves. */
#include "ops/backend.h"

#include <limits.h>
#include <string.h>

/* Output size along one axis: floor((in + 2p - ((k-1)*d + 1)) / s) + 1, or
 * 0 when the dilated kernel does not fit in the padded input or a size is
 * out of range (so callers never divide by zero or see a negative size). */
static int conv2d_out_dim(int in, int k, int s, int p, int dil) {
    if (in <= 0 || k <= 0 || s <= 0 || p < 0 || dil <= 0) return 0;
    long long ext = (long long)(k - 1) * dil + 1;
    long long span = (long long)in + 2LL * p - ext;
    if (span < 0) return 0;
    long long out = span / s + 1;
    return out > INT_MAX ? 0 : (int)out;
}

int conv2d_out_h(const conv2d_desc *d) {
    return conv2d_out_dim(d->h, d->kh, d->sh, d->ph, d->dh);
}
int conv2d_out_w(const conv2d_desc *d) {
    return conv2d_out_dim(d->w, d->kw, d->sw, d->pw, d->dw);
}

status conv2d_desc_check(const conv2d_desc *d) {
    if (!d) return err_set(YOLOC_ERR_INVALID, "conv2d: no descriptor");
    const struct {
        const char *name;
        int v;
    } pos[] = {{"n", d->n},   {"h", d->h},   {"w", d->w},   {"ci", d->ci},
               {"co", d->co}, {"kh", d->kh}, {"kw", d->kw}, {"sh", d->sh},
               {"sw", d->sw}, {"dh", d->dh}, {"dw", d->dw}, {"groups", d->groups}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0)
            return err_set(YOLOC_ERR_SHAPE, "conv2d: %s must be positive, got %d", pos[i].name,
                           pos[i].v);
    if (d->ph < 0 || d->pw < 0)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: padding must be >= 0, got ph %d pw %d", d->ph,
                       d->pw);
    if (d->bias != 0 && d->bias != 1)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: bias must be 0 or 1, got %d", d->bias);
    if (d->act != 0 && d->act != 1)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: act must be 0 (none) or 1 (SiLU), got %d", d->act);
    if (d->ci % d->groups != 0)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: groups %d does not divide input channels ci %d",
                       d->groups, d->ci);
    if (d->co % d->groups != 0)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: groups %d does not divide output channels co %d",
                       d->groups, d->co);
    /* Positions are computed in int by the kernels: the padded input and
     * the dilated kernel must fit. */
    if ((long long)d->h + 2LL * d->ph > INT_MAX || (long long)d->w + 2LL * d->pw > INT_MAX ||
        (long long)(d->kh - 1) * d->dh + 1 > INT_MAX ||
        (long long)(d->kw - 1) * d->dw + 1 > INT_MAX)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: padded input or dilated kernel too large");
    const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
    if (oh < 1 || ow < 1)
        return err_set(YOLOC_ERR_SHAPE,
                       "conv2d: empty output: input %dx%d, kernel %dx%d, stride %dx%d, padding "
                       "%dx%d, dilation %dx%d give %dx%d",
                       d->h, d->w, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw, d->dh, d->dw, oh, ow);
    /* Element counts are indexed with size_t everywhere, but oneDNN and the
     * callers' arenas take them as signed 64-bit; refuse absurd sizes. */
    const double big = 9.0e18;
    if ((double)d->n * d->h * d->w * d->ci > big || (double)d->n * oh * ow * d->co > big ||
        (double)d->co * (d->ci / d->groups) * d->kh * d->kw > big)
        return err_set(YOLOC_ERR_SHAPE, "conv2d: tensor sizes overflow");
    return YOLOC_OK;
}

double conv2d_flops(const conv2d_desc *d) {
    return 2.0 * d->n * conv2d_out_h(d) * conv2d_out_w(d) * d->co * (double)(d->ci / d->groups) *
           d->kh * d->kw;
}

status conv2d_op_init(conv2d_op *op, void *ctx, backend be, const conv2d_desc *d, int training) {
    memset(op, 0, sizeof *op);
    TRY(conv2d_desc_check(d));
    if (!be) return err_set(YOLOC_ERR_INVALID, "conv2d: no backend");
    if (d->act && training)
        return err_set(YOLOC_ERR_INVALID, "conv2d: a fused SiLU is for inference plans only (no backward)");
    op->d = *d;
    op->be = be;
    return be->conv2d_init(op, ctx, training);
}

status conv2d_op_forward(conv2d_op *op, const float *x, const float *w, const float *b, float *y) {
    return conv2d_op_forward_ex(op, x, w, b, y, 0);
}

status conv2d_op_forward_ex(conv2d_op *op, const float *x, const float *w, const float *b, float *y,
                            int weights_unchanged) {
    return op->be->conv2d_forward(op, x, w, b, y, weights_unchanged);
}

status conv2d_op_backward(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx,
                          float beta_dx, float *dw, float *db) {
    return op->be->conv2d_backward(op, x, w, dy, dx, beta_dx, dw, db);
}

void conv2d_op_free(conv2d_op *op) {
    if (!op) return;
    if (op->be && op->impl) op->be->conv2d_free(op);
    op->impl = NULL;
}
