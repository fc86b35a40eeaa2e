/* Training checkpoints (see checkpoint.h). */
#include "train/checkpoint.h"

#include "core/kv.h"
#include "io/safetensors.h"
#include "train/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

status ckpt_save(const char *path, model *m, const ema *e, optim *o, const ckpt_meta *meta,
                 const char *const *names, int nnames) {
    size_t nt = model_num_tensors(m);
    st_tensor *ts = calloc(2 * nt + OPTIM_MAX_STATE + 1, sizeof *ts);
    char (*tnames)[WEIGHTS_NAME_CAP] = calloc(2 * nt + OPTIM_MAX_STATE + 1, sizeof *tnames);
    /* host views of what lives in the backend's memory: the raw model and
     * the optimizer's state (the EMA: weights_save_ex) */
    float *hv[2 + OPTIM_MAX_STATE] = {0};
    int own[2 + OPTIM_MAX_STATE] = {0};
    status st = YOLOC_OK;
    if (!ts || !tnames) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t nbt = model_bn_batches(m);
    optim_state_view views[OPTIM_MAX_STATE];
    int nv = optim_state(o, views);
    if ((st = model_host_view(m, model_params(m), model_num_params(m), &hv[0], &own[0])) < 0 ||
        (st = model_host_view(m, model_bufs(m), model_num_bufs(m), &hv[1], &own[1])) < 0)
        goto done;
    for (int i = 0; i < nv; i++)
        if ((st = model_host_view(m, views[i].data, views[i].n, &hv[2 + i], &own[2 + i])) < 0) goto done;
    size_t k = weights_tensor_list(m, hv[0], hv[1], &nbt, WEIGHTS_TRAIN_PREFIX, ts, tnames);
    for (int i = 0; i < nv; i++) {
        snprintf(tnames[k], WEIGHTS_NAME_CAP, "%s%s", WEIGHTS_TRAIN_PREFIX, views[i].name);
        ts[k].name = tnames[k];
        ts[k].dt = DT_F32;
        ts[k].ndim = 1;
        ts[k].shape[0] = (int64_t)views[i].n;
        ts[k].data = hv[2 + i];
        k++;
    }
    char v[10][64];
    snprintf(v[0], 64, "%d", meta->epoch);
    snprintf(v[1], 64, "%ld", meta->step);
    snprintf(v[2], 64, "%ld", meta->iteration);
    snprintf(v[3], 64, "%ld", meta->last_opt_iter);
    snprintf(v[4], 64, "%.17g", meta->best_fitness);
    snprintf(v[5], 64, "%d", meta->best_epoch);
    snprintf(v[6], 64, "%.17g", meta->lr_factor);
    snprintf(v[7], 64, "%ld", meta->nonfinite_steps);
    snprintf(v[8], 64, "%ld", e->updates);
    snprintf(v[9], 64, "%ld", o->step);
    const char *keys[] = {"checkpoint", "epoch", "step", "iteration", "last_opt_iter", "best_fitness",
                          "best_epoch", "lr_factor", "nonfinite_steps", "ema_updates", "optim_step", "optimizer",
                          "args_yaml"};
    const char *vals[] = {"1",  v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], optim_kind_name(o->kind),
                          meta->args_yaml ? meta->args_yaml : ""};
    weights_extra x = {.params = e->params,
                       .bufs = e->bufs,
                       .bn_batches = nbt,
                       .tensors = ts,
                       .ntensors = k,
                       .meta_keys = keys,
                       .meta_vals = vals,
                       .nmeta = sizeof keys / sizeof keys[0]};
    st = weights_save_ex(m, path, names, nnames, &x);
done:
    for (int i = 0; i < 2 + OPTIM_MAX_STATE; i++) model_host_view_free(hv[i], own[i]);
    free(ts);
    free(tnames);
    return st;
}

static status meta_long(const safetensors *f, const char *key, long *out) {
    const char *s = st_meta(f, key);
    if (!s || parse_long(s, out) != 0)
        return err_set(YOLOC_ERR_PARSE, "%s: checkpoint metadata '%s' missing or not an integer", f->path, key);
    return YOLOC_OK;
}

static status meta_double(const safetensors *f, const char *key, double *out) {
    const char *s = st_meta(f, key);
    if (!s || parse_double(s, out) != 0)
        return err_set(YOLOC_ERR_PARSE, "%s: checkpoint metadata '%s' missing or not a number", f->path, key);
    return YOLOC_OK;
}

static status read_meta(const safetensors *f, ckpt_meta *meta) {
    memset(meta, 0, sizeof *meta);
    if (!st_meta(f, "checkpoint"))
        return err_set(YOLOC_ERR_NOT_FOUND, "%s: weights without training state (not a yoloc checkpoint)", f->path);
    long v;
    TRY(meta_long(f, "epoch", &v));
    meta->epoch = (int)v;
    TRY(meta_long(f, "step", &meta->step));
    TRY(meta_long(f, "iteration", &meta->iteration));
    TRY(meta_long(f, "last_opt_iter", &meta->last_opt_iter));
    TRY(meta_double(f, "best_fitness", &meta->best_fitness));
    TRY(meta_long(f, "best_epoch", &v));
    meta->best_epoch = (int)v;
    TRY(meta_double(f, "lr_factor", &meta->lr_factor));
    TRY(meta_long(f, "nonfinite_steps", &meta->nonfinite_steps));
    const char *opt = st_meta(f, "optimizer");
    snprintf(meta->optimizer, sizeof meta->optimizer, "%s", opt ? opt : "");
    return YOLOC_OK;
}

status ckpt_peek(const char *path, ckpt_meta *meta, char **args_yaml) {
    *args_yaml = NULL;
    safetensors f;
    TRY(st_open(&f, path));
    status st = read_meta(&f, meta);
    const char *a = st_meta(&f, "args_yaml");
    if (st == YOLOC_OK && a && !(*args_yaml = strdup(a))) st = err_set(YOLOC_ERR_NOMEM, "out of memory");
    st_close(&f);
    return st;
}

/* Copies one tensor of the file into dst (numel floats), checking it. */
static status take(const safetensors *f, const char *name, float *dst, size_t numel) {
    const st_entry *e = st_find(f, name);
    if (!e) return err_set(YOLOC_ERR_NOT_FOUND, "%s: checkpoint lacks tensor '%s'", f->path, name);
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    if (e->dt != DT_F32 || n != numel)
        return err_set(YOLOC_ERR_SHAPE, "%s: tensor '%s' has %zu %s values, expected %zu F32 (another model?)",
                       f->path, name, n, dtype_name(e->dt), numel);
    memcpy(dst, st_data(f, e), numel * sizeof(float));
    return YOLOC_OK;
}

status ckpt_load(const char *path, model *m, ema *e, optim *o, ckpt_meta *meta) {
    safetensors f;
    TRY(st_open(&f, path));
    status st = read_meta(&f, meta);
    if (st < 0) goto done;
    const char *opt = st_meta(&f, "optimizer");
    if (!opt || strcmp(opt, optim_kind_name(o->kind)) != 0) {
        st = err_set(YOLOC_ERR_INVALID, "%s: the checkpoint's optimizer is %s, this run uses %s", path,
                     opt ? opt : "unknown", optim_kind_name(o->kind));
        goto done;
    }
    /* Check every tensor before changing anything: copy into scratch first. */
    size_t np = model_num_params(m), nb = model_num_bufs(m);
    float *raw_p = malloc(np * sizeof(float)), *raw_b = malloc((nb ? nb : 1) * sizeof(float));
    float *ema_p = malloc(np * sizeof(float)), *ema_b = malloc((nb ? nb : 1) * sizeof(float));
    optim_state_view views[OPTIM_MAX_STATE];
    int nv = optim_state(o, views);
    float *ostate[OPTIM_MAX_STATE] = {0};
    if (!raw_p || !raw_b || !ema_p || !ema_b) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto free_all;
    }
    memset(raw_p, 0, np * sizeof(float));
    memset(ema_p, 0, np * sizeof(float));
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        char name[WEIGHTS_NAME_CAP];
        snprintf(name, sizeof name, "%s%s", WEIGHTS_TRAIN_PREFIX, p->name);
        if ((st = take(&f, name, (p->buffer ? raw_b : raw_p) + p->off, p->numel)) < 0) goto free_all;
        if ((st = take(&f, p->name, (p->buffer ? ema_b : ema_p) + p->off, p->numel)) < 0) goto free_all;
    }
    for (int i = 0; i < nv; i++) {
        char name[WEIGHTS_NAME_CAP];
        snprintf(name, sizeof name, "%s%s", WEIGHTS_TRAIN_PREFIX, views[i].name);
        if (!(ostate[i] = malloc(views[i].n * sizeof(float)))) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto free_all;
        }
        if ((st = take(&f, name, ostate[i], views[i].n)) < 0) goto free_all;
    }
    long ema_updates, optim_step, nbt_v = 0;
    if ((st = meta_long(&f, "ema_updates", &ema_updates)) < 0 || (st = meta_long(&f, "optim_step", &optim_step)) < 0)
        goto free_all;
    /* All present: commit. */
    /* into the backend's memory */
    if ((st = model_from_host(m, model_params(m), raw_p, np)) < 0 || (st = model_from_host(m, model_bufs(m), raw_b, nb)) < 0 ||
        (st = model_from_host(m, e->params, ema_p, np)) < 0 || (st = model_from_host(m, e->bufs, ema_b, nb)) < 0)
        goto free_all;
    e->updates = ema_updates;
    for (int i = 0; i < nv; i++)
        if ((st = model_from_host(m, views[i].data, ostate[i], views[i].n)) < 0) goto free_all;
    o->step = optim_step;
    for (size_t i = 0; i < f.n; i++) { /* the raw model's num_batches_tracked */
        const st_entry *en = &f.entries[i];
        static const char suffix[] = "num_batches_tracked";
        size_t pl = strlen(WEIGHTS_TRAIN_PREFIX), nl = strlen(en->name), sl = sizeof suffix - 1;
        if (strncmp(en->name, WEIGHTS_TRAIN_PREFIX, pl) == 0 && nl > sl &&
            strcmp(en->name + nl - sl, suffix) == 0 && en->dt == DT_I64) {
            int64_t v;
            memcpy(&v, st_data(&f, en), 8);
            nbt_v = (long)v;
            break;
        }
    }
    model_set_bn_batches(m, nbt_v);
free_all:
    free(raw_p);
    free(raw_b);
    free(ema_p);
    free(ema_b);
    for (int i = 0; i < nv; i++) free(ostate[i]);
done:
    st_close(&f);
    return st;
}
