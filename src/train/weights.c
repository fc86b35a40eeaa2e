/* safetensors <-> the model's flat buffers (see weights.h). */
#include "train/weights.h"

#include "io/json.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

status weights_save(model *m, const char *path, const char *const *names, int nnames) {
    size_t nt = model_num_tensors(m);
    /* one extra I64 entry per BatchNorm (after its running_var) */
    st_tensor *ts = calloc(2 * nt + 1, sizeof *ts);
    char (*nbt_names)[112] = calloc(nt + 1, sizeof *nbt_names);
    int64_t nbt = model_bn_batches(m);
    sbuf names_json;
    sbuf_init(&names_json);
    status st = YOLOC_OK;
    if (!ts || !nbt_names) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t k = 0, nb = 0;
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        st_tensor *t = &ts[k++];
        t->name = p->name;
        t->dt = DT_F32;
        t->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t->shape[d] = p->shape[d];
        t->data = model_tensor_data(m, p);
        if (p->buffer && ends_with(p->name, ".running_var")) {
            snprintf(nbt_names[nb], sizeof nbt_names[nb], "%.*snum_batches_tracked",
                     (int)(strlen(p->name) - strlen("running_var")), p->name);
            st_tensor *c = &ts[k++];
            c->name = nbt_names[nb++];
            c->dt = DT_I64;
            c->ndim = 0;
            c->data = &nbt;
        }
    }
    const model_spec *sp = model_get_spec(m);
    int nc = model_nc(m);
    sbuf_append(&names_json, "[", 1);
    for (int c = 0; c < nc; c++) {
        char tmp[32];
        const char *nm = (names && c < nnames && names[c]) ? names[c] : (snprintf(tmp, sizeof tmp, "class%d", c), tmp);
        if (c) sbuf_append(&names_json, ", ", 2);
        sbuf_json_string(&names_json, nm);
    }
    sbuf_append(&names_json, "]", 1);
    if (names_json.failed) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto done;
    }
    char ncs[32], scale[2] = {sp->scale, 0};
    snprintf(ncs, sizeof ncs, "%d", nc);
    const char *keys[] = {"format", "yoloc_version", "model", "model_yaml", "nc", "names", "scale"};
    const char *vals[] = {"yoloc", yoloc_version(), sp->name, sp->yaml_text ? sp->yaml_text : "", ncs,
                          names_json.buf, scale};
    st = st_write(path, ts, k, keys, vals, sizeof keys / sizeof keys[0]);
done:
    sbuf_free(&names_json);
    free(ts);
    free(nbt_names);
    return st;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

status weights_load(model *m, const char *path) {
    safetensors f;
    TRY(st_open(&f, path));
    status st = YOLOC_OK;
    size_t nt = model_num_tensors(m);
    int64_t nbt = -1;
    /* Pass 1: check everything before touching the model. */
    for (size_t i = 0; i < f.n; i++) {
        const st_entry *e = &f.entries[i];
        if (ends_with(e->name, ".num_batches_tracked")) {
            if (e->ndim > 1 || (e->ndim == 1 && e->shape[0] != 1) || (e->dt != DT_I64 && e->dt != DT_I32)) {
                st = err_set(YOLOC_ERR_SHAPE, "%s: tensor '%s': expected an integer scalar", path, e->name);
                goto done;
            }
            if (nbt < 0) {
                const void *d = st_data(&f, e);
                if (e->dt == DT_I64) {
                    int64_t v;
                    memcpy(&v, d, 8);
                    nbt = v;
                } else {
                    int32_t v;
                    memcpy(&v, d, 4);
                    nbt = v;
                }
            }
            continue;
        }
        if (!model_find(m, e->name)) {
            st = err_set(YOLOC_ERR_SHAPE,
                         "%s: tensor '%s' is not in model %s (weights for another model? nc=%d)", path,
                         e->name, model_get_spec(m)->name, model_nc(m));
            goto done;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        const st_entry *e = st_find(&f, p->name);
        if (!e) {
            st = err_set(YOLOC_ERR_NOT_FOUND, "%s: missing tensor '%s' of model %s", path, p->name,
                         model_get_spec(m)->name);
            goto done;
        }
        int same = e->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = e->shape[d] == p->shape[d];
        if (!same) {
            char a[96], b[96];
            shape_str(e->ndim, e->shape, a, sizeof a);
            shape_str(p->ndim, p->shape, b, sizeof b);
            st = err_set(YOLOC_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model %s needs %s", path,
                         p->name, a, model_get_spec(m)->name, b);
            goto done;
        }
        if (e->dt != DT_F32 && e->dt != DT_F16 && e->dt != DT_BF16) {
            st = err_set(YOLOC_ERR_SHAPE, "%s: tensor '%s' is %s, expected F32 (or F16/BF16)", path, p->name,
                         dtype_name(e->dt));
            goto done;
        }
    }
    /* Pass 2: copy. */
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        const st_entry *e = st_find(&f, p->name);
        float *dst = model_tensor_data(m, p);
        const unsigned char *src = st_data(&f, e);
        if (e->dt == DT_F32) {
            memcpy(dst, src, p->numel * sizeof(float));
        } else {
            for (size_t j = 0; j < p->numel; j++) {
                uint16_t h;
                memcpy(&h, src + 2 * j, 2);
                dst[j] = e->dt == DT_F16 ? f16_to_f32(h) : bf16_to_f32(h);
            }
        }
    }
    if (nbt >= 0) model_set_bn_batches(m, nbt);
done:
    st_close(&f);
    return st;
}
