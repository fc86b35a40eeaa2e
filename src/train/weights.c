/* safetensors <-> the model's flat buffers (see weights.h). */
#include "train/weights.h"
#include "io/ptfile.h"

#include "io/json.h"
#include "core/kv.h"
#include "core/log.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t weights_tensor_list(model *m, const float *params, const float *bufs, const int64_t *nbt,
                           const char *prefix, st_tensor *ts, char (*names)[WEIGHTS_NAME_CAP]) {
    size_t nt = model_num_tensors(m), k = 0;
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        st_tensor *t = &ts[k];
        snprintf(names[k], WEIGHTS_NAME_CAP, "%s%s", prefix, p->name);
        t->name = names[k++];
        t->dt = DT_F32;
        t->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t->shape[d] = p->shape[d];
        t->data = (p->buffer ? bufs : params) + p->off;
        if (nbt && p->buffer && ends_with(p->name, ".running_var")) {
            snprintf(names[k], WEIGHTS_NAME_CAP, "%s%.*snum_batches_tracked", prefix,
                     (int)(strlen(p->name) - strlen("running_var")), p->name);
            st_tensor *c = &ts[k];
            c->name = names[k++];
            c->dt = DT_I64;
            c->ndim = 0;
            c->data = nbt;
        }
    }
    return k;
}

status weights_save_ex(model *m, const char *path, const char *const *names, int nnames,
                       const weights_extra *x) {
    size_t nt = model_num_tensors(m), nextra = x ? x->ntensors : 0;
    /* one extra I64 entry per BatchNorm (after its running_var) */
    st_tensor *ts = calloc(2 * nt + nextra + 1, sizeof *ts);
    char (*tnames)[WEIGHTS_NAME_CAP] = calloc(2 * nt + 1, sizeof *tnames);
    const char **keys = calloc(8 + (x ? x->nmeta : 0), sizeof *keys);
    const char **vals = calloc(8 + (x ? x->nmeta : 0), sizeof *vals);
    int64_t nbt = x && x->params ? x->bn_batches : model_bn_batches(m);
    sbuf names_json;
    sbuf_init(&names_json);
    status st = YOLOC_OK;
    float *params = NULL, *bufs = NULL; /* host views of the backend's memory */
    int own_p = 0, own_b = 0;
    if (!ts || !tnames || !keys || !vals) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = model_host_view(m, x && x->params ? x->params : model_params(m), model_num_params(m), &params,
                              &own_p)) < 0 ||
        (st = model_host_view(m, x && x->params ? x->bufs : model_bufs(m), model_num_bufs(m), &bufs, &own_b)) < 0)
        goto done;
    size_t k = weights_tensor_list(m, params, bufs, &nbt, "", ts, tnames);
    for (size_t i = 0; i < nextra; i++) ts[k++] = x->tensors[i];
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
    const char *k0[] = {"format", "yoloc_version", "model", "model_yaml", "nc", "names", "scale"};
    const char *v0[] = {"yoloc", yoloc_version(), sp->name, sp->yaml_text ? sp->yaml_text : "", ncs, names_json.buf,
                        scale};
    size_t nmeta = 0;
    for (size_t i = 0; i < sizeof k0 / sizeof k0[0]; i++, nmeta++) {
        keys[nmeta] = k0[i];
        vals[nmeta] = v0[i];
    }
    for (size_t i = 0; x && i < x->nmeta; i++, nmeta++) {
        keys[nmeta] = x->meta_keys[i];
        vals[nmeta] = x->meta_vals[i];
    }
    st = st_write(path, ts, k, keys, vals, nmeta);
done:
    model_host_view_free(params, own_p);
    model_host_view_free(bufs, own_b);
    sbuf_free(&names_json);
    free(ts);
    free(tnames);
    free(keys);
    free(vals);
    return st;
}

status weights_save(model *m, const char *path, const char *const *names, int nnames) {
    return weights_save_ex(m, path, names, nnames, NULL);
}

/* A weights file of either format: safetensors, or a PyTorch .pt
 * (io/ptfile.h: a zip archive, recognised by its first bytes), read into
 * the same in-memory form. */
static status open_weights_file(safetensors *f, const char *path) {
    unsigned char first[4] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(first, 1, sizeof first, fp) : 0;
    if (fp) fclose(fp);
    if (pt_is_zip(first, got)) return pt_open_safetensors(f, path);
    return st_open(f, path);
}

status weights_save_pt(model *m, const char *path) {
    size_t nt = model_num_tensors(m);
    st_tensor *ts = calloc(2 * nt + 1, sizeof *ts);
    char (*tnames)[WEIGHTS_NAME_CAP] = calloc(2 * nt + 1, sizeof *tnames);
    int64_t nbt = model_bn_batches(m);
    float *params = NULL, *bufs = NULL;
    int own_p = 0, own_b = 0;
    status st = YOLOC_OK;
    if (!ts || !tnames) st = err_set(YOLOC_ERR_NOMEM, "out of memory");
    if (st == YOLOC_OK) st = model_host_view(m, model_params(m), model_num_params(m), &params, &own_p);
    if (st == YOLOC_OK) st = model_host_view(m, model_bufs(m), model_num_bufs(m), &bufs, &own_b);
    if (st == YOLOC_OK) {
        size_t k = weights_tensor_list(m, params, bufs, &nbt, "", ts, tnames);
        st = pt_write_state_dict(path, ts, k);
    }
    model_host_view_free(params, own_p);
    model_host_view_free(bufs, own_b);
    free(ts);
    free(tnames);
    return st;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

status weights_load(model *m, const char *path) {
    safetensors f;
    TRY(open_weights_file(&f, path));
    status st = YOLOC_OK;
    size_t nt = model_num_tensors(m);
    int64_t nbt = -1;
    /* Pass 1: check everything before touching the model. */
    for (size_t i = 0; i < f.n; i++) {
        const st_entry *e = &f.entries[i];
        if (strncmp(e->name, WEIGHTS_TRAIN_PREFIX, strlen(WEIGHTS_TRAIN_PREFIX)) == 0) continue;
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
    /* Pass 2: copy, into host views of the backend's memory (the model's
     * own arrays on a host-memory backend), then back. */
    float *hp = NULL, *hb = NULL;
    int own_p = 0, own_b = 0;
    if ((st = model_host_view(m, model_params(m), model_num_params(m), &hp, &own_p)) < 0 ||
        (st = model_host_view(m, model_bufs(m), model_num_bufs(m), &hb, &own_b)) < 0)
        goto views;
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        const st_entry *e = st_find(&f, p->name);
        float *dst = (p->buffer ? hb : hp) + p->off;
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
    if (own_p) st = model_from_host(m, model_params(m), hp, model_num_params(m));
    if (st == YOLOC_OK && own_b) st = model_from_host(m, model_bufs(m), hb, model_num_bufs(m));
views:
    model_host_view_free(hp, own_p);
    model_host_view_free(hb, own_b);
    if (st < 0) goto done;
    if (nbt >= 0) model_set_bn_batches(m, nbt);
done:
    st_close(&f);
    return st;
}

static void report_skip(weights_report *r, const char *fmt, const char *name, const char *detail) {
    if (r->nlisted >= WEIGHTS_REPORT_LIST) return;
    char *dst = r->skipped[r->nlisted++];
    if (snprintf(dst, sizeof r->skipped[0], fmt, name, detail) >= (int)sizeof r->skipped[0])
        memcpy(dst + sizeof r->skipped[0] - 4, "...", 4); /* truncated: say so */
}

status weights_load_partial(model *m, const char *path, weights_report *out) {
    weights_report r;
    memset(&r, 0, sizeof r);
    safetensors f;
    TRY(open_weights_file(&f, path));
    size_t nt = model_num_tensors(m);
    unsigned char *take = calloc(nt ? nt : 1, 1);
    status st = YOLOC_OK;
    if (!take) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t nbt = -1;
    /* Pass 1: decide, tensor by tensor. */
    for (size_t i = 0; i < nt; i++) {
        const param_info *p = model_tensor(m, i);
        r.items++;
        if (!p->buffer) r.params += p->numel;
        const st_entry *e = st_find(&f, p->name);
        char a[64], b[64], detail[160];
        if (!e) {
            r.missing++;
            report_skip(&r, "%s (%s)", p->name, "not in the file");
        } else {
            int same = e->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = e->shape[d] == p->shape[d];
            if (!same) {
                r.shape_mismatch++;
                shape_str(e->ndim, e->shape, a, sizeof a);
                shape_str(p->ndim, p->shape, b, sizeof b);
                snprintf(detail, sizeof detail, "%s in the file, %s in the model", a, b);
                report_skip(&r, "%s (%s)", p->name, detail);
            } else if (e->dt != DT_F32 && e->dt != DT_F16 && e->dt != DT_BF16) {
                r.dtype_mismatch++;
                snprintf(detail, sizeof detail, "%s in the file, a float expected", dtype_name(e->dt));
                report_skip(&r, "%s (%s)", p->name, detail);
            } else {
                take[i] = 1;
                r.items_loaded++;
                if (!p->buffer) r.params_loaded += p->numel;
            }
        }
        if (p->buffer && ends_with(p->name, ".running_var")) { /* this BatchNorm's num_batches_tracked */
            char nm[WEIGHTS_NAME_CAP];
            if (snprintf(nm, sizeof nm, "%.*snum_batches_tracked", (int)(strlen(p->name) - strlen("running_var")),
                         p->name) >= (int)sizeof nm)
                continue; /* cannot be in a file written with these names */
            r.items++;
            const st_entry *c = st_find(&f, nm);
            if (!c) {
                r.missing++;
                report_skip(&r, "%s (%s)", nm, "not in the file");
            } else if (c->ndim > 1 || (c->ndim == 1 && c->shape[0] != 1) || (c->dt != DT_I64 && c->dt != DT_I32)) {
                r.dtype_mismatch++;
                report_skip(&r, "%s (%s)", nm, "not an integer scalar");
            } else {
                r.items_loaded++;
                if (nbt < 0) {
                    int64_t v64 = 0;
                    int32_t v32 = 0;
                    if (c->dt == DT_I64) memcpy(&v64, st_data(&f, c), 8);
                    else {
                        memcpy(&v32, st_data(&f, c), 4);
                        v64 = v32;
                    }
                    nbt = v64;
                }
            }
        }
    }
    for (size_t i = 0; i < f.n; i++) {
        const char *nm = f.entries[i].name;
        if (strncmp(nm, WEIGHTS_TRAIN_PREFIX, strlen(WEIGHTS_TRAIN_PREFIX)) == 0) continue;
        if (ends_with(nm, ".num_batches_tracked")) {
            char rv[WEIGHTS_NAME_CAP];
            if (snprintf(rv, sizeof rv, "%.*srunning_var", (int)(strlen(nm) - strlen("num_batches_tracked")), nm) >=
                    (int)sizeof rv ||
                !model_find(m, rv))
                r.unused++;
        } else if (!model_find(m, nm)) {
            r.unused++;
        }
    }
    if (r.items_loaded == 0) {
        st = err_set(YOLOC_ERR_SHAPE, "%s: no tensor matches model %s by name and shape (weights for another model?)",
                     path, model_get_spec(m)->name);
        goto done;
    }
    /* Pass 2: copy, into host views of the backend's memory (the model's
     * own arrays on a host-memory backend), then back. */
    float *hp = NULL, *hb = NULL;
    int own_p = 0, own_b = 0;
    if ((st = model_host_view(m, model_params(m), model_num_params(m), &hp, &own_p)) < 0 ||
        (st = model_host_view(m, model_bufs(m), model_num_bufs(m), &hb, &own_b)) < 0)
        goto views;
    for (size_t i = 0; i < nt; i++) {
        if (!take[i]) continue;
        const param_info *p = model_tensor(m, i);
        const st_entry *e = st_find(&f, p->name);
        float *dst = (p->buffer ? hb : hp) + p->off;
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
    if (own_p) st = model_from_host(m, model_params(m), hp, model_num_params(m));
    if (st == YOLOC_OK && own_b) st = model_from_host(m, model_bufs(m), hb, model_num_bufs(m));
views:
    model_host_view_free(hp, own_p);
    model_host_view_free(hb, own_b);
    if (st < 0) goto done;
    if (nbt >= 0) model_set_bn_batches(m, nbt);
done:
    if (out) *out = r;
    free(take);
    st_close(&f);
    return st;
}

void weights_report_format(const weights_report *r, const char *path, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "Transferred %zu/%zu items (%zu/%zu parameters) from %s", r->items_loaded,
                                r->items, r->params_loaded, r->params, path);
    size_t skipped = r->missing + r->shape_mismatch + r->dtype_mismatch;
    if (skipped && o < cap)
        o += (size_t)snprintf(buf + o, cap - o,
                              "; re-initialised %zu (%zu missing, %zu of another shape, %zu of another dtype): ",
                              skipped, r->missing, r->shape_mismatch, r->dtype_mismatch);
    for (size_t k = 0; k < r->nlisted && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", k ? ", " : "", r->skipped[k]);
    if (skipped > r->nlisted && o < cap) o += (size_t)snprintf(buf + o, cap - o, ", ...");
    if (r->unused && o < cap) snprintf(buf + o, cap - o, "; %zu file tensors unused", r->unused);
}

/* What a PyTorch checkpoint says about how it was made (its train_args),
 * shown when it is loaded, never applied. */
static void show_provenance(const safetensors *f, const char *path) {
    const char *fmt = st_meta(f, "format"), *args = st_meta(f, "train_args"), *ver = st_meta(f, "version"),
               *date = st_meta(f, "date");
    if (!fmt || strcmp(fmt, "yoloc") == 0) return;
    char line[600];
    size_t o = (size_t)snprintf(line, sizeof line, "%s: %s", path,
                                strcmp(fmt, "ultralytics") == 0 ? "an Ultralytics checkpoint"
                                : strcmp(fmt, "yolov5") == 0    ? "a YOLOv5 checkpoint"
                                                                : "a PyTorch file");
    if (ver && o < sizeof line) o += (size_t)snprintf(line + o, sizeof line - o, " (version %s)", ver);
    if (date && o < sizeof line) o += (size_t)snprintf(line + o, sizeof line - o, " of %.10s", date);
    jdoc d;
    if (args && jdoc_parse(&d, args, strlen(args), path) == YOLOC_OK) {
        static const char *const keys[] = {"model", "data", "epochs", "imgsz", "batch", "optimizer", "lr0", NULL};
        const char *sep = "; trained with ";
        for (int k = 0; keys[k] && o < sizeof line; k++) {
            const jnode *v = jnode_get(d.root, keys[k]);
            if (!v || (v->kind != JSON_STRING && v->kind != JSON_NUMBER)) continue;
            const char *t = v->text, *base = v->kind == JSON_STRING ? strrchr(t, '/') : NULL;
            o += (size_t)snprintf(line + o, sizeof line - o, "%s%s=%s", sep, keys[k], base ? base + 1 : t);
            sep = " ";
        }
        if (o < sizeof line) snprintf(line + o, sizeof line - o, " (shown, not applied)");
        jdoc_free(&d);
    }
    err_clear();
    log_info("%s", line);
}

status weights_read_spec(const char *path, model_spec *spec, char ***names, int *nnames) {
    *names = NULL;
    *nnames = 0;
    safetensors f;
    TRY(open_weights_file(&f, path));
    status st = YOLOC_OK;
    const char *yaml = st_meta(&f, "model_yaml"), *name = st_meta(&f, "model"), *sc = st_meta(&f, "scale"),
               *ncs = st_meta(&f, "nc"), *nm = st_meta(&f, "names");
    if (!yaml || !*yaml) {
        const char *fmt = st_meta(&f, "format");
        st = err_set(YOLOC_ERR_NOT_FOUND, "%s: %s; give model=<yaml> and weights=%s", path,
                     fmt && strcmp(fmt, "yoloc") != 0 ? "a state dict without the model's architecture"
                                                      : "no model YAML in the metadata (not written by yoloc?)",
                     path);
        goto done;
    }
    show_provenance(&f, path);
    long nc = 0;
    if (ncs && parse_long(ncs, &nc) != 0) nc = 0;
    if ((st = model_spec_parse(spec, yaml, strlen(yaml), name && *name ? name : path, sc ? sc[0] : 0, (int)nc)) < 0)
        goto done;
    if (nm) { /* a JSON list of strings */
        jdoc d;
        if (jdoc_parse(&d, nm, strlen(nm), path) == YOLOC_OK) {
            const jnode *r = d.root;
            if (r && r->kind == JSON_ARRAY && r->n > 0) {
                size_t bytes = r->n * sizeof(char *);
                for (size_t i = 0; i < r->n; i++)
                    bytes += (r->items[i]->kind == JSON_STRING ? strlen(r->items[i]->text) : 0) + 1;
                char **out = malloc(bytes);
                if (out) {
                    char *p = (char *)(out + r->n);
                    for (size_t i = 0; i < r->n; i++) {
                        const char *t = r->items[i]->kind == JSON_STRING ? r->items[i]->text : "";
                        size_t len = strlen(t);
                        memcpy(p, t, len + 1);
                        out[i] = p;
                        p += len + 1;
                    }
                    *names = out;
                    *nnames = (int)r->n;
                }
            }
            jdoc_free(&d);
        }
    }
done:
    st_close(&f);
    return st;
}

status weights_model_spec(const char *model_arg, int nc, model_spec *spec) {
    if (!weights_is_file(model_arg)) return model_spec_load(spec, model_arg, nc);
    char **names = NULL;
    int nn = 0;
    TRY(weights_read_spec(model_arg, spec, &names, &nn));
    free(names);
    if (nc > 0 && spec->nc != nc) {
        model_spec_free(spec);
        return err_set(YOLOC_ERR_SHAPE, "model=%s has %d classes, nc=%d was asked for", model_arg, spec->nc, nc);
    }
    return YOLOC_OK;
}

int weights_is_file(const char *model_arg) {
    size_t n = model_arg ? strlen(model_arg) : 0;
    return (n > 12 && strcmp(model_arg + n - 12, ".safetensors") == 0) || (n > 3 && strcmp(model_arg + n - 3, ".pt") == 0);
}

status weights_open_model(const char *model_arg, const char *weights, int nc, const model_options *opt,
                          uint64_t seed, model **out, char ***names, int *nnames) {
    *out = NULL;
    if (names) *names = NULL;
    if (nnames) *nnames = 0;
    model_spec spec;
    char **wn = NULL;
    int nw = 0;
    int from_weights = weights_is_file(model_arg);
    if (from_weights) {
        TRY(weights_read_spec(model_arg, &spec, &wn, &nw));
        if (nc > 0 && spec.nc != nc) {
            status st = err_set(YOLOC_ERR_SHAPE, "model=%s has %d classes, the dataset %d", model_arg, spec.nc, nc);
            model_spec_free(&spec);
            free(wn);
            return st;
        }
    } else {
        TRY(model_spec_load(&spec, model_arg, nc));
    }
    status st = model_create(out, &spec, opt, seed);
    model_spec_free(&spec);
    if (st == YOLOC_OK && from_weights) st = weights_load(*out, model_arg);
    if (st == YOLOC_OK && weights && *weights) {
        char **wn2 = NULL;
        int nw2 = 0;
        model_spec tmp;
        if (weights_read_spec(weights, &tmp, &wn2, &nw2) == YOLOC_OK) { /* names, when the file has them */
            model_spec_free(&tmp);
            free(wn);
            wn = wn2;
            nw = nw2;
        }
        err_clear();
        st = weights_load(*out, weights);
    }
    if (st < 0) {
        model_free(*out);
        *out = NULL;
        free(wn);
        return st;
    }
    if (names) *names = wn;
    else free(wn);
    if (nnames) *nnames = nw;
    return YOLOC_OK;
}
